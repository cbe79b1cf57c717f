/**
 * Downloads a real Whisper model from whisper.cpp's published models (Hugging Face
 * ggerganov/whisper.cpp) into the models folder, verified against a pinned sha256 and size.
 *   npm run model:fetch -- [--model tiny.en-q8_0|tiny.en-q5_1|tiny.en] [--dir data/models]
 * Writes to "<name>.partial" while downloading (hashing as it goes) and renames only after the
 * checks pass, so a power cut never leaves a half model under the real name. Never run by tests.
 *
 * Pins: ggml-tiny.en.bin sha256 921e4cf8...0b1f, 77,704,715 bytes, and its sha1 c78c86eb...9df as
 * listed in whisper.cpp's models/README.md (in the pinned 1.9.1 tree); the sha256 and the q8_0 pin
 * agree across many independent projects that download these files.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { sha256OfFile } from '../src/transcribe/model-file.js';

interface PinnedModel {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly sha1?: string;
}

const BASE_URL = 'https://huggingface.co/ggerganov/whisper.cpp/resolve/main';
const MODELS: Readonly<Record<string, PinnedModel>> = {
  'tiny.en': {
    file: 'ggml-tiny.en.bin',
    bytes: 77_704_715,
    sha256: '921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f',
    sha1: 'c78c86eb1a8faa21b369bcd33207cc90d64ae9df',
  },
  'tiny.en-q8_0': {
    file: 'ggml-tiny.en-q8_0.bin',
    bytes: 43_550_795,
    sha256: '5bc2b3860aa151a4c6e7bb095e1fcce7cf12c7b020ca08dcec0c6d018bb7dd94',
  },
  // The constrained tier: the smallest English model whisper.cpp publishes.
  'tiny.en-q5_1': {
    file: 'ggml-tiny.en-q5_1.bin',
    bytes: 32_166_155,
    sha256: 'c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b',
  },
};

function progress(doneBytes: number, totalBytes: number): void {
  const percent = totalBytes > 0 ? ((doneBytes / totalBytes) * 100).toFixed(0) : '?';
  process.stderr.write(`\r  ${(doneBytes / 1e6).toFixed(1)} / ${(totalBytes / 1e6).toFixed(1)} MB (${percent}%)`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      // The default model tier of the config (transcription.normalModel).
      model: { type: 'string', default: 'tiny.en-q8_0' },
      dir: { type: 'string', default: process.env['SCOUT_MODELS_DIR'] ?? 'data/models' },
    },
  });
  const pinned = MODELS[values.model];
  if (!pinned) throw new Error(`unknown model '${values.model}'; known: ${Object.keys(MODELS).join(', ')}`);
  const dir = resolve(values.dir);
  const target = join(dir, pinned.file);
  await mkdir(dir, { recursive: true });

  const existing = await stat(target).catch(() => null);
  if (existing?.size === pinned.bytes && (await sha256OfFile(target)) === pinned.sha256) {
    process.stderr.write(`${target} is already present and verified\n`);
    process.stdout.write(`${target}\n`);
    return;
  }

  const url = `${BASE_URL}/${pinned.file}`;
  const partial = `${target}.partial`;
  process.stderr.write(`downloading ${url}\n`);
  const response = await fetch(url, { redirect: 'follow' });
  if (!response.ok || !response.body) throw new Error(`download failed: HTTP ${response.status}`);
  const totalBytes = Number(response.headers.get('content-length') ?? pinned.bytes);

  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  let doneBytes = 0;
  let lastReportMs = 0;
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    sha256.update(chunk);
    sha1.update(chunk);
    doneBytes += chunk.length;
    const nowMs = Date.now();
    if (nowMs - lastReportMs > 500) {
      lastReportMs = nowMs;
      progress(doneBytes, totalBytes);
    }
  });
  try {
    await pipeline(body, createWriteStream(partial));
    progress(doneBytes, totalBytes);
    process.stderr.write('\n');
    const gotSha256 = sha256.digest('hex');
    const gotSha1 = sha1.digest('hex');
    if (doneBytes !== pinned.bytes) throw new Error(`size ${doneBytes} != pinned ${pinned.bytes}`);
    if (gotSha256 !== pinned.sha256) throw new Error(`sha256 ${gotSha256} != pinned ${pinned.sha256}`);
    if (pinned.sha1 && gotSha1 !== pinned.sha1) throw new Error(`sha1 ${gotSha1} != pinned ${pinned.sha1}`);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  process.stderr.write(`verified and installed ${target}\n`);
  process.stdout.write(`${target}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`\nmodel:fetch failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
