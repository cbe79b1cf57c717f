import { requireAllOrSkip } from '../helpers/capability.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseWavHeader, WAV_HEADER_BYTES } from '../../src/audio/wav.js';
import { repairWav } from '../../src/audio/wav-repair.js';
import { WavWriter, type WavWriterOptions } from '../../src/audio/wav-writer.js';
import { silentLogger } from '../../src/log.js';
import { FallocateReserver, noSpaceReservation, type SpaceReserver } from '../../src/util/fallocate.js';

let dir: string;
const writers: WavWriter[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-wavw-'));
});

afterEach(async () => {
  for (const w of writers.splice(0)) await w.abort();
  rmSync(dir, { recursive: true, force: true });
});

function makeWriter(name: string, options: Partial<WavWriterOptions> = {}): WavWriter {
  const writer = new WavWriter({
    path: join(dir, name),
    sampleRateHz: 16000,
    logger: silentLogger(),
    reserver: noSpaceReservation,
    ...options,
  });
  writers.push(writer);
  return writer;
}

/** A sample pattern that makes any lost, repeated or misplaced sample visible. */
function patternAt(index: number): number {
  return ((index * 7919) % 65536) - 32768;
}

/** Chunk of `count` pattern samples starting at global sample `first` (test-side allocation only). */
function chunkAt(first: number, count: number): Int16Array {
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = patternAt(first + i);
  return out;
}

function expectPattern(data: Buffer, firstSample = 0): void {
  const samples = new Int16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  let mismatches = 0;
  for (let i = 0; i < samples.length; i++) if (samples[i] !== patternAt(firstSample + i)) mismatches++;
  expect(mismatches).toBe(0);
}

function soxiSamples(path: string): number {
  return Number(execFileSync('soxi', ['-s', path], { encoding: 'utf8' }).trim());
}

describe('WavWriter', () => {
  it('streams small chunks into an exact, playable WAV and batches them into few writes', async () => {
    const writer = makeWriter('a.wav');
    await writer.open();
    const chunkSamples = 320; // 20 ms at 16 kHz, what the recorder hands over
    const chunks = 150; // 3 s
    for (let c = 0; c < chunks; c++) {
      expect(writer.append(chunkAt(c * chunkSamples, chunkSamples))).toBe(true);
      // Let the pump run between chunks as it would between capture callbacks.
      if (c % 10 === 0) await delay(0);
    }
    const result = await writer.finish();
    const totalSamples = chunks * chunkSamples;
    expect(result).toEqual({ bytes: totalSamples * 2, durationMs: 3000 });
    expect(writer.state).toBe('finished');

    const path = join(dir, 'a.wav');
    const file = readFileSync(path);
    expect(file.length).toBe(WAV_HEADER_BYTES + totalSamples * 2);
    const header = parseWavHeader(file);
    expect(header.format).toMatchObject({ sampleRateHz: 16000, channels: 1, bitsPerSample: 16 });
    expect(header.declaredDataBytes).toBe(totalSamples * 2);
    expectPattern(file.subarray(WAV_HEADER_BYTES));
    expect(soxiSamples(path)).toBe(totalSamples);
    // 96000 bytes in 8 KiB batches: about a dozen writes, not 150.
    expect(writer.stats.writes).toBeLessThanOrEqual(15);
    expect(writer.stats.droppedSamples).toBe(0);
    // A finished file needs no repair.
    expect((await repairWav(path)).repaired).toBe(false);
  });

  it('takes sample ranges of a larger array (a ring buffer reader needs no subarray)', async () => {
    const writer = makeWriter('r.wav', { sampleRateHz: 8000, channels: 2 });
    await writer.open();
    const big = chunkAt(0, 1000);
    expect(writer.append(big, 0, 400)).toBe(true);
    expect(writer.append(big, 400, 1000)).toBe(true);
    expect(() => writer.append(big, 0, 3)).toThrow(/whole number of frames/);
    const result = await writer.finish();
    expect(result).toEqual({ bytes: 2000, durationMs: 63 });
    const path = join(dir, 'r.wav');
    expect(parseWavHeader(readFileSync(path)).format).toMatchObject({ channels: 2, sampleRateHz: 8000, blockAlign: 4 });
    expectPattern(readFileSync(path).subarray(WAV_HEADER_BYTES));
    expect(execFileSync('soxi', ['-c', path], { encoding: 'utf8' }).trim()).toBe('2');
  });

  it('rewrites the header and syncs every flush interval, so the file is playable mid-recording', async () => {
    const flushes: number[] = [];
    const writer = makeWriter('live.wav', { flushIntervalMs: 200, onFlush: ({ dataBytes }) => flushes.push(dataBytes) });
    await writer.open();
    const path = join(dir, 'live.wav');
    // Real-time pacing: 20 ms chunks for 700 ms.
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < 700) {
      writer.append(chunkAt(sent, 320));
      sent += 320;
      await delay(20);
    }
    // 700 ms at a 200 ms interval: at least three periodic flushes without anyone asking.
    expect(flushes.length).toBeGreaterThanOrEqual(3);
    expect(flushes).toEqual([...flushes].sort((a, b) => a - b));

    const lastFlushed = writer.stats.flushedBytes;
    const snapshot = readFileSync(path);
    const header = parseWavHeader(snapshot);
    // The header covers at least the flushed audio, and the file really holds that much.
    expect(header.declaredDataBytes).toBeGreaterThanOrEqual(lastFlushed);
    expect(header.declaredDataBytes).toBeGreaterThan(0);
    expect(snapshot.length).toBeGreaterThanOrEqual(WAV_HEADER_BYTES + header.declaredDataBytes);
    expect(header.declaredRiffBytes).toBe(36 + header.declaredDataBytes);
    expectPattern(snapshot.subarray(WAV_HEADER_BYTES, WAV_HEADER_BYTES + header.declaredDataBytes));
    // Audio not yet covered by a header is at most one interval plus one batch behind.
    expect(sent * 2 - header.declaredDataBytes).toBeLessThanOrEqual(16000 * 2 * 0.2 + 8192 + 640);
    // sox reads the live file as it stands.
    const copy = join(dir, 'snapshot.wav');
    writeFileSync(copy, snapshot);
    expect(soxiSamples(copy)).toBe(header.declaredDataBytes / 2);

    const result = await writer.finish();
    expect(result.bytes).toBe(sent * 2);
  });

  it('flush() makes everything appended so far durable at once', async () => {
    const writer = makeWriter('f.wav', { flushIntervalMs: 60_000 });
    await writer.open();
    writer.append(chunkAt(0, 100));
    await writer.flush();
    expect(writer.stats).toMatchObject({ writtenBytes: 200, flushedBytes: 200, stagedBytes: 0 });
    expect(parseWavHeader(readFileSync(join(dir, 'f.wav'))).declaredDataBytes).toBe(200);
    await writer.finish();
  });

  it('reserves space ahead with fallocate --keep-size without changing the size, and releases it on finish', async () => {
    const path = join(dir, 'res.wav');
    const writer = makeWriter('res.wav', { reserver: new FallocateReserver(), reserveAheadBytes: 1024 * 1024 });
    await writer.open();
    writer.append(chunkAt(0, 16000));
    await writer.flush();
    // The reservation is not awaited by the data path; give the child process a moment.
    for (let i = 0; i < 100 && writer.stats.reservations === 0; i++) await delay(20);
    expect(writer.stats.reservations).toBe(1);
    const during = statSync(path);
    expect(during.size).toBe(WAV_HEADER_BYTES + 32000);
    expect(during.blocks * 512).toBeGreaterThanOrEqual(1024 * 1024);

    await writer.finish();
    const after = statSync(path);
    expect(after.size).toBe(WAV_HEADER_BYTES + 32000);
    // Only the blocks holding data remain (32 KiB + header, in 4 KiB blocks).
    expect(after.blocks * 512).toBeLessThan(64 * 1024);
    expectPattern(readFileSync(path).subarray(WAV_HEADER_BYTES));
  });

  it('finish() waits for a reservation in flight, so no reserved blocks outlive the recording', async () => {
    const path = join(dir, 'slow.wav');
    const real = new FallocateReserver();
    // A card that is slow to allocate: the reservation lands after the audio is all written.
    const slow: SpaceReserver = {
      reserve: async (p, offsetBytes, lengthBytes) => {
        await delay(300);
        return real.reserve(p, offsetBytes, lengthBytes);
      },
    };
    const writer = makeWriter('slow.wav', { reserver: slow, reserveAheadBytes: 2 * 1024 * 1024 });
    await writer.open();
    writer.append(chunkAt(0, 1600));
    await writer.finish();
    expect(writer.stats.reservations).toBe(1);
    expect(statSync(path).size).toBe(WAV_HEADER_BYTES + 3200);
    expect(statSync(path).blocks * 512).toBeLessThan(64 * 1024);
  });

  it('keeps recording when space reservation fails, counting the failure', async () => {
    const writer = makeWriter('nofa.wav', {
      reserver: new FallocateReserver({ command: join(dir, 'no-such-fallocate') }),
      reserveAheadBytes: 4096,
    });
    await writer.open();
    for (let i = 0; i < 10; i++) {
      writer.append(chunkAt(i * 1600, 1600));
      await writer.flush();
    }
    for (let i = 0; i < 100 && writer.stats.reservationFailures < 2; i++) await delay(20);
    expect(writer.stats.reservationFailures).toBeGreaterThanOrEqual(2);
    expect(writer.stats.reservations).toBe(0);
    const result = await writer.finish();
    expect(result.bytes).toBe(32000);
    expectPattern(readFileSync(join(dir, 'nofa.wav')).subarray(WAV_HEADER_BYTES));
  });

  it('refuses whole chunks when the staging ring is full, and counts them, instead of growing', async () => {
    const writer = makeWriter('full.wav', { stagingBytes: 1000, writeBatchBytes: 1000 });
    await writer.open();
    // Synchronous appends: no write can complete in between, as with a stalled card.
    expect(writer.append(chunkAt(0, 300))).toBe(true);
    expect(writer.append(chunkAt(300, 200))).toBe(true);
    expect(writer.append(chunkAt(500, 10))).toBe(false);
    expect(writer.stats.droppedSamples).toBe(10);
    await writer.flush();
    // Once the disk caught up, appends are taken again, continuing the file without a hole.
    expect(writer.append(chunkAt(500, 300))).toBe(true);
    const result = await writer.finish();
    expect(result.bytes).toBe(1600);
    expectPattern(readFileSync(join(dir, 'full.wav')).subarray(WAV_HEADER_BYTES));
  });

  it('never overwrites an existing file (O_EXCL), and its abort leaves that file alone', async () => {
    const path = join(dir, 'taken.wav');
    writeFileSync(path, 'someone else');
    const writer = makeWriter('taken.wav');
    await expect(writer.open()).rejects.toMatchObject({ code: 'EEXIST' });
    expect(writer.state).toBe('failed');
    await writer.abort();
    expect(readFileSync(path, 'utf8')).toBe('someone else');
  });

  it('abort() removes the file, is idempotent, and appends after it are refused', async () => {
    const writer = makeWriter('cancel.wav');
    await writer.open();
    writer.append(chunkAt(0, 8000));
    const first = writer.abort();
    const second = writer.abort();
    await Promise.all([first, second]);
    expect(existsSync(join(dir, 'cancel.wav'))).toBe(false);
    expect(writer.state).toBe('aborted');
    expect(writer.append(chunkAt(0, 10))).toBe(false);
    await expect(writer.finish()).rejects.toThrow(/state aborted/);
  });

  it('refuses appends before open(), and a throwing onFlush listener does not fail the recording', async () => {
    const writer = makeWriter('listener.wav', {
      onFlush: () => {
        throw new Error('listener bug');
      },
    });
    expect(writer.append(chunkAt(0, 10))).toBe(false);
    await writer.open();
    expect(writer.append(chunkAt(0, 160))).toBe(true);
    await writer.flush();
    expect(writer.state).toBe('open');
    expect(await writer.finish()).toEqual({ bytes: 320, durationMs: 10 });
  });

  it('finish() is idempotent and returns the same result twice', async () => {
    const writer = makeWriter('twice.wav');
    await writer.open();
    writer.append(chunkAt(0, 160));
    const [a, b] = await Promise.all([writer.finish(), writer.finish()]);
    expect(a).toEqual({ bytes: 320, durationMs: 10 });
    expect(b).toBe(a);
    // A defensive abort() on a shutdown path must not delete a finished recording.
    await writer.abort();
    expect(existsSync(join(dir, 'twice.wav'))).toBe(true);
  });
});

describe('WavWriter on a full disk', () => {
  // A 64 KiB tmpfs is a real ENOSPC. Needs root and mount(2); skipped where that is not allowed.
  const mountPoint = join(tmpdir(), `scout-enospc-${process.pid}`);
  let mounted = false;

  beforeEach(() => {
    mkdirSync(mountPoint, { recursive: true });
    mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint]).status === 0;
  });

  afterEach(() => {
    if (mounted) spawnSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('reports ENOSPC as an error state and a rejected finish(), and the file up to the last flush is repairable', async (ctx) => {
    if (!mounted) requireAllOrSkip(() => ctx.skip(), 'a tmpfs mount (root)', 'mount -t tmpfs failed');
    const errors: Error[] = [];
    const path = join(mountPoint, 'full.wav');
    const writer = new WavWriter({
      path,
      sampleRateHz: 16000,
      logger: silentLogger(),
      reserver: noSpaceReservation,
      flushIntervalMs: 50,
      onError: (error) => errors.push(error),
    });
    await writer.open();
    let sent = 0;
    // 64 KiB holds about 2 s; offer 4 s in 100 ms chunks, flushing as we go.
    for (let i = 0; i < 40 && writer.state === 'open'; i++) {
      writer.append(chunkAt(sent, 1600));
      sent += 1600;
      await writer.flush().catch(() => undefined);
    }
    expect(writer.state).toBe('failed');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'ENOSPC' });
    expect(writer.append(chunkAt(sent, 10))).toBe(false);
    await expect(writer.finish()).rejects.toMatchObject({ code: 'ENOSPC' });

    const flushed = writer.stats.flushedBytes;
    expect(flushed).toBeGreaterThan(0);
    const repaired = await repairWav(path);
    expect(repaired.dataBytes).toBeGreaterThanOrEqual(flushed);
    expect(repaired.dataBytes % 2).toBe(0);
    const data = readFileSync(path).subarray(WAV_HEADER_BYTES);
    expect(data.length).toBe(repaired.dataBytes);
    expectPattern(data);
    expect(soxiSamples(path)).toBe(repaired.dataBytes / 2);
  });
});
