import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWavHeader, WAV_HEADER_BYTES } from '../../src/audio/wav.js';
import type { Recording } from '../../src/domain/recording.js';
import { LED_PATTERNS } from '../../src/ops/led-language.js';
import type { RecordingPage } from '../../src/store/recordings.js';
import { missingCapability } from '../helpers/capability.js';
import { startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';
import { expectStorageFault, fillToTheLastBlock, firstStart, mountTmpfs, unmountTmpfs, type Health, type State } from '../helpers/storage.js';

/**
 * The real service on a small tmpfs that fills up: it starts on a full disk and says so, it
 * resumes by itself when space comes back, and a take that fills the disk stops at once with a
 * valid, truncated file. Needs root (mount -t tmpfs).
 */

const { mountPoint, problem: mountProblem } = mountTmpfs('full');

const skip = missingCapability('a tmpfs mount (root)', mountProblem);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Small thresholds for a 48 MB file system: healthy with a few MB free, unhealthy when full. */
const config = {
  // No reservation and no reserve stop: the next write after the fill meets ENOSPC itself.
  recorder: { minFreeMb: 1, stopReserveMb: 0, reserveAheadMb: 0 },
  ops: { storageCheckMs: 200, healthCacheMs: 0 },
  // Health says degraded (transcription waits) below 2 MB, unhealthy (takes refused) below minFreeMb.
  degradation: { diskFreeMinMbDefer: 2 },
  transcription: { enabled: false },
};



describe.skipIf(skip)('the service on a full disk (tmpfs)', () => {
  const dataDir = join(mountPoint, 'data');
  let scout: ScoutProcess | null = null;

  beforeAll(async () => {
    mkdirSync(dataDir, { recursive: true });
    await firstStart({ dataDir, config });
  }, 90_000);

  afterAll(async () => {
    await scout?.stop();
    unmountTmpfs(mountPoint);
  });

  async function recordings(s: ScoutProcess): Promise<Recording[]> {
    return (await s.api<RecordingPage>('/api/recordings?limit=200')).body.items;
  }

  it('starts on a full disk, says so, and recovers by itself when space comes back', async () => {
    const filler = fillToTheLastBlock(mountPoint);
    scout = await startScout({ dataDir, config });
    const s = scout;

    const { unhealthy, state } = await expectStorageFault(s);
    expect(unhealthy.some((name) => name === 'disk' || name === 'database' || name === 'storage')).toBe(true);
    expect(state.appliance.faults.join(' ')).toMatch(/disk|storage/);

    // A press is refused with the reason, and nothing crashes.
    expect(await s.button('toggle')).toBe(202);
    await waitFor(async () => /not recording/.test((await s.api<State>('/api/state')).body.appliance.lastEvent ?? ''), 5000);

    for (const path of filler) rmSync(path, { force: true });
    const back = await waitFor(async () => {
      const report = await s.api<Health>('/healthz');
      return report.status === 200 ? report : null;
    }, 10_000);
    expect(['healthy', 'degraded']).toContain(back.body.status);
    await waitFor(async () => (await s.api<State>('/api/state')).body.appliance.faults.length === 0, 5000);

    // A take works again, without a restart.
    expect(await s.button('toggle')).toBe(202);
    await waitFor(async () => (await s.api<State>('/api/state')).body.appliance.phase === 'recording', 5000);
    await sleep(1200);
    expect(await s.button('toggle')).toBe(202);
    const saved = await waitFor(async () => (await recordings(s)).find((r) => r.status === 'recorded'), 10_000);
    expect(saved.durationMs).toBeGreaterThan(1000);
    expect(s.child.exitCode).toBeNull();
    expect(s.stderr()).not.toMatch(/uncaught|unhandled/i);
    expect(s.logLines.filter((line) => line.level === 'fatal' || line.level === 60)).toEqual([]);
    expect((await s.stop()).code).toBe(0);
    scout = null;
  }, 90_000);

  it('a take that fills the disk stops at once, keeps a valid WAV up to the last flush and is marked truncated', async () => {
    scout = await startScout({ dataDir, config });
    const s = scout;
    expect(await s.button('toggle')).toBe(202);
    const id = await waitFor(async () => {
      const body = (await s.api<State & { appliance: { recordingId: string | null } }>('/api/state')).body;
      return body.appliance.phase === 'recording' ? body.appliance.recordingId : null;
    }, 5000);
    await sleep(1500);
    const filler = fillToTheLastBlock(mountPoint);
    // From the moment the disk is full (the fill itself is slow on a loaded machine).
    const filledAt = Date.now();
    const stopped = await waitFor(async () => {
      const body = (await s.api<State>('/api/state')).body;
      return body.appliance.phase === 'idle' ? body : null;
    }, 5000, 50);
    expect(Date.now() - filledAt).toBeLessThan(2000);
    // Saved (the file cut back to its last flush) once no save is in flight.
    await waitFor(async () => (await s.api<{ appliance: { savesInFlight: number } }>('/api/state')).body.appliance.savesInFlight === 0, 5000, 50);
    // The LEDs (code 3 on the green one; the red one dark, nothing is kept) and health say so at once.
    expect(stopped.appliance.leds.status).toEqual(LED_PATTERNS.storage);
    expect(stopped.appliance.leds.record?.mode).toBe('off');
    expect(stopped.appliance.faults.join(' ')).toMatch(/disk full|storage/);
    expect((await s.api<Health>('/healthz')).status).toBe(503);

    // The file: a valid header covering exactly what is on disk.
    const wav = readFileSync(join(dataDir, 'recordings', `${id}.wav`));
    const header = parseWavHeader(wav);
    expect(header.declaredDataBytes).toBe(wav.length - WAV_HEADER_BYTES);
    expect(header.declaredDataBytes).toBeGreaterThan(16000 * 2);

    // The row: at once if the database still had room, else once space is back.
    for (const path of filler) rmSync(path, { force: true });
    const row = await waitFor(async () => (await recordings(s)).find((r) => r.id === id && r.status === 'recorded'), 10_000);
    expect(row.error).toBe('truncated: disk full');
    expect(row.bytes).toBe(header.declaredDataBytes);
    expect(s.child.exitCode).toBeNull();
    expect(s.stderr()).not.toMatch(/uncaught|unhandled/i);
    expect(s.logLines.filter((line) => line.level === 'fatal' || line.level === 60)).toEqual([]);
    expect((await s.stop()).code).toBe(0);
    scout = null;
  }, 90_000);
});
