import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseWavHeader, WAV_HEADER_BYTES } from '../../src/audio/wav.js';
import { repairWav } from '../../src/audio/wav-repair.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SAMPLE_RATE_HZ = 16000;
const CHUNK_SAMPLES = 320; // 20 ms
const FLUSH_INTERVAL_MS = 1000;

/** Same pattern as the child writes: every sample is a function of its position in the recording. */
function patternAt(index: number): number {
  return ((index * 7919) % 65536) - 32768;
}

// The child is a real recording process: WavWriter with its default real fallocate reservation,
// fed 20 ms chunks paced by a timer like a capture callback. It reports on stdout what it has
// appended and what each flush made durable, so the parent knows what must survive a kill.
const CHILD_SOURCE = `
import { WavWriter } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/audio/wav-writer.ts')).href)};
import { silentLogger } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/log.ts')).href)};

const [path, flushIntervalMs] = process.argv.slice(2);
let appended = 0;
const writer = new WavWriter({
  path,
  sampleRateHz: ${SAMPLE_RATE_HZ},
  flushIntervalMs: Number(flushIntervalMs),
  logger: silentLogger(),
  onFlush: ({ dataBytes }) => process.stdout.write('flushed ' + dataBytes + '\\n'),
  onError: (error) => process.stdout.write('error ' + error.message + '\\n'),
});
await writer.open();
const chunk = new Int16Array(${CHUNK_SAMPLES});
setInterval(() => {
  for (let i = 0; i < chunk.length; i++) chunk[i] = ((appended + i) * 7919) % 65536 - 32768;
  if (writer.append(chunk)) appended += chunk.length;
  process.stdout.write('appended ' + appended + '\\n');
}, 20);
`;

let dir: string;
let child: ChildProcess | null = null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-crash-'));
});

afterEach(() => {
  if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = null;
  rmSync(dir, { recursive: true, force: true });
});

describe('a recording process killed with SIGKILL', () => {
  it('leaves a WAV that plays as is, and after repairWav holds all audio up to the last flush (<= 1 s lost)', async () => {
    const script = join(dir, 'child.mts');
    writeFileSync(script, CHILD_SOURCE);
    const wavPath = join(dir, 'rec.wav');
    const proc = spawn(process.execPath, ['--import', 'tsx', script, wavPath, String(FLUSH_INTERVAL_MS)], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = proc;
    const exited = new Promise<NodeJS.Signals | null>((resolveExit) => proc.once('exit', (_code, signal) => resolveExit(signal)));

    let lastFlushedBytes = 0;
    let lastAppendedSamples = 0;
    let flushesSeen = 0;
    const errors: string[] = [];
    // Kill 600 ms after the flush that covers >= 2 s: mid-interval, with unflushed audio written
    // and more staged, which is the case the repair exists for.
    const killed = new Promise<void>((resolveKill, rejectKill) => {
      const lines = createInterface({ input: proc.stdout });
      let armed = false;
      lines.on('line', (line) => {
        const [kind, value] = line.split(' ');
        if (kind === 'appended') lastAppendedSamples = Number(value);
        else if (kind === 'flushed') {
          lastFlushedBytes = Number(value);
          flushesSeen++;
          if (!armed && lastFlushedBytes >= 2 * SAMPLE_RATE_HZ * 2) {
            armed = true;
            setTimeout(() => {
              proc.kill('SIGKILL');
              resolveKill();
            }, 600);
          }
        } else if (kind === 'error') errors.push(line);
      });
      proc.once('exit', () => {
        if (!armed) rejectKill(new Error('child exited before the kill'));
      });
    });
    await killed;
    expect(await exited).toBe('SIGKILL');
    expect(errors).toEqual([]);
    expect(flushesSeen).toBeGreaterThanOrEqual(2);

    // As the kill left it: the header is valid and covers at least the last flush, so any player
    // can already play it; the file is longer than the header says (audio written since).
    const before = readFileSync(wavPath);
    const beforeHeader = parseWavHeader(before);
    expect(beforeHeader.declaredDataBytes).toBeGreaterThanOrEqual(lastFlushedBytes);
    expect(before.length).toBeGreaterThan(WAV_HEADER_BYTES + beforeHeader.declaredDataBytes);
    expect(Number(execFileSync('soxi', ['-s', wavPath], { encoding: 'utf8' }).trim())).toBe(
      beforeHeader.declaredDataBytes / 2,
    );
    // The writer had reserved space ahead (keep-size): allocated, but not in the size.
    expect(statSync(wavPath).blocks * 512).toBeGreaterThan(before.length + 256 * 1024);

    const repaired = await repairWav(wavPath);
    expect(repaired.repaired).toBe(true);
    expect(repaired.releasedReservation).toBe(true);
    expect(repaired.dataBytes).toBeGreaterThanOrEqual(lastFlushedBytes);
    const lostSamples = lastAppendedSamples - repaired.dataBytes / 2;
    // Lost: what was staged but not written when the kill landed; never more than a flush interval.
    expect(lostSamples).toBeLessThanOrEqual(SAMPLE_RATE_HZ * (FLUSH_INTERVAL_MS / 1000));

    const after = readFileSync(wavPath);
    expect(after.length).toBe(WAV_HEADER_BYTES + repaired.dataBytes);
    const samples = new Int16Array(after.buffer, after.byteOffset + WAV_HEADER_BYTES, repaired.dataBytes / 2);
    let mismatches = 0;
    for (let i = 0; i < samples.length; i++) if (samples[i] !== patternAt(i)) mismatches++;
    expect(mismatches).toBe(0);
    expect(statSync(wavPath).blocks * 512).toBeLessThan(after.length + 64 * 1024);

    // sox decodes the whole repaired file.
    expect(Number(execFileSync('soxi', ['-s', wavPath], { encoding: 'utf8' }).trim())).toBe(repaired.dataBytes / 2);
    const decode = spawnSync('sox', [wavPath, '-n', 'stat'], { encoding: 'utf8' });
    expect(decode.status).toBe(0);
    expect(decode.stderr).toMatch(/Samples read:\s+(\d+)/);
    expect(Number(/Samples read:\s+(\d+)/.exec(decode.stderr)?.[1])).toBe(repaired.dataBytes / 2);
  }, 30_000);
});
