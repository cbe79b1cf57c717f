/**
 * The vocabulary's `prompt` field against the REAL whisper-server 1.9.1 and a generated model.
 *
 * The generated model's text does not follow the prompt, so the witness that the server really
 * used it is its own accounting: whisper.cpp counts the tokens of every decoder batch of 16 or
 * more as "prompt" tokens and prints the count at exit (whisper_print_timings, on SIGTERM). A
 * request without a prompt decodes only SOT + task tokens (batches < 16: "/ 1 runs", the
 * printed minimum); one with our prompt adds its tokens (the generated vocab is byte-level, so
 * about one token per byte).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { vocabularyPrompt } from '../../src/domain/vocabulary.js';
import { silentLogger } from '../../src/log.js';
import { WhisperEngine, audioCtxFor } from '../../src/transcribe/engine.js';
import { WhisperClient } from '../../src/transcribe/whisper-client.js';
import { ensureModel, ensureWhisperBuilt, speechWav, wavDurationMs, type EnsuredModel } from '../helpers/whisper.js';

const TERMS = ['Zoë Okafor', 'Kubernetes', 'Scout appliance', 'Raspberry Pi'];

let dir: string;
let serverPath: string;
let mini: EnsuredModel;
let speech: Buffer;
let speechMs: number;
const children: ChildProcess[] = [];
const engines: WhisperEngine[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scout-vocab-'));
  serverPath = join(await ensureWhisperBuilt(), 'whisper-server');
  mini = await ensureModel('mini', { decodeTokens: 8 });
  const path = await speechWav('Hello Scout. Zoe Okafor runs Kubernetes on a Raspberry Pi.', join(dir, 'speech.wav'));
  speech = await readFile(path);
  speechMs = await wavDurationMs(path);
}, 20 * 60_000);

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(engines.splice(0).map((engine) => engine.stop()));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** whisper-server as the engine runs it, with its stderr kept, for one or more requests. */
async function startServer(): Promise<{ client: WhisperClient; stopAndReadStderr: () => Promise<string> }> {
  const port = await freePort();
  const child = spawn(serverPath, ['-m', mini.path, '--host', '127.0.0.1', '--port', String(port), '-t', '1', '-fa', '-nlp'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));
  const client = new WhisperClient(`http://127.0.0.1:${port}`);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ready = await client.health({ timeoutMs: 1000 }).catch(() => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`whisper-server not ready: ${stderr.slice(-500)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    client,
    stopAndReadStderr: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      return stderr;
    },
  };
}

/** The token count of `prompt time = ... / N runs` that whisper-server prints at exit. */
function promptTokens(stderr: string): number {
  const match = /prompt time =\s*[\d.]+ ms \/\s*(\d+) runs/.exec(stderr);
  if (!match) throw new Error(`no timings in whisper-server's stderr: ${stderr.slice(-800)}`);
  return Number(match[1]);
}

const request = (prompt?: string) => ({ wav: speech, audioCtx: audioCtxFor(speechMs), beamSize: 1, language: 'en', ...(prompt === undefined ? {} : { prompt }) });

describe('the vocabulary prompt on the real whisper-server', () => {
  it('is accepted, and the server decodes its tokens (its own prompt-token count says so)', async () => {
    const prompt = vocabularyPrompt(TERMS);

    const without = await startServer();
    const plain = await without.client.inference(request(), { timeoutMs: 30_000 });
    expect(plain.text).toBe(mini.expectedText.trim());
    const tokensWithout = promptTokens(await without.stopAndReadStderr());

    const withPrompt = await startServer();
    const prompted = await withPrompt.client.inference(request(prompt), { timeoutMs: 30_000 });
    expect(typeof prompted.text).toBe('string');
    const tokensWith = promptTokens(await withPrompt.stopAndReadStderr());

    // No prompt: nothing but the few start tokens, below the 16-token batch that counts.
    expect(tokensWithout).toBe(1);
    // The prompt's tokens reached the decoder as one batch of 16 or more (here ~one token per byte
    // of the prompt, times the temperature fallbacks that decode the window, and the prompt, again).
    expect(tokensWith).toBeGreaterThanOrEqual(16);
  }, 90_000);

  it('goes through WhisperEngine with the longest prompt the bounds allow', async () => {
    const engine = new WhisperEngine({
      serverPath,
      modelPath: mini.path,
      threads: 1,
      flashAttention: true,
      restart: { initialMs: 50, maxMs: 500 },
      readyTimeoutMs: 15_000,
      requestTimeoutMs: 30_000,
      logger: silentLogger(),
    });
    engines.push(engine);
    await engine.start();
    // 600 characters (the bound): ~600 byte-level tokens here, well above whisper's 224; it keeps
    // the last 224 and the request still succeeds.
    const longest = vocabularyPrompt(Array.from({ length: 20 }, (_, i) => `Term${i}`.padEnd(i < 2 ? 29 : 28, 'x')));
    expect(longest).toHaveLength(600);
    const result = await engine.transcribe({ wav: speech, audioCtx: audioCtxFor(speechMs), prompt: longest });
    expect(typeof result.text).toBe('string');
    expect(engine.status()).toMatchObject({ state: 'ready', restarts: 0 });
  }, 60_000);
});
