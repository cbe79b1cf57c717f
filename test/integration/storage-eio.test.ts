/**
 * The card's writes fail with EIO mid-take, as a dying SD card's do: a real ext4 on a loop device
 * over nbdkit's memory disk, whose error filter fails every write from the moment the test says
 * so (test/helpers/eio-card.ts). The kernel gives the service EIO at its next fdatasync, then
 * aborts the journal and turns the file system read-only.
 *
 * The take stops at once and the service says "I/O error" (not "read-only": the first error is
 * the one that counts); /healthz and the refused next press say why, capture goes on, nothing
 * crashes. After fsck and a remount, the take is there with a valid WAV holding at least
 * everything up to the last flush before the error. Needs root, /dev/fuse, nbdkit and nbdfuse.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWavHeader, WAV_HEADER_BYTES } from '../../src/audio/wav.js';
import type { Recording } from '../../src/domain/recording.js';
import type { RecordingPage } from '../../src/store/recordings.js';
import { missingCapability } from '../helpers/capability.js';
import { makeEioCard } from '../helpers/eio-card.js';
import { mountOptions } from '../helpers/ext4-loop.js';
import { startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';
import { expectNoCrash, expectStorageFault, firstStart, type State } from '../helpers/storage.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const FLUSH_MS = 500;
const card = makeEioCard('eio');
const skip = missingCapability('a card that fails writes with EIO (root, /dev/fuse, nbdkit, nbdfuse)', card.problem);

const config = {
  recorder: { minFreeMb: 1, stopReserveMb: 0, flushIntervalMs: FLUSH_MS },
  ops: { storageCheckMs: 200, healthCacheMs: 0 },
  degradation: { diskFreeMinMbDefer: 2 },
  transcription: { enabled: false },
};

describe.skipIf(skip)('the card fails writes with EIO mid-take', () => {
  const dataDir = join(card.mountPoint, 'data');
  let scout: ScoutProcess | null = null;

  beforeAll(async () => {
    mkdirSync(dataDir, { recursive: true });
    await firstStart({ dataDir, config });
  }, 90_000);

  afterAll(async () => {
    await scout?.stop();
    card.dispose();
  });

  it('stops the take at once on EIO and names the I/O error; after fsck and a remount the take is there up to its last flush', async () => {
    scout = await startScout({ dataDir, config });
    const s = scout;
    await waitFor(async () => (await s.api<{ audio: { state: string } }>('/api/state')).body.audio.state === 'running', 10_000);
    expect(await s.button('toggle')).toBe(202);
    const id = await waitFor(async () => {
      const body = (await s.api<State>('/api/state')).body;
      return body.appliance.phase === 'recording' ? body.appliance.recordingId : null;
    }, 5000);
    const recordingFromMs = Date.now();
    await sleep(2500);

    card.breakWrites();
    const failedAtMs = Date.now();

    // Stopped at once: the next flush's fdatasync meets EIO.
    await waitFor(async () => (await s.api<State>('/api/state')).body.appliance.phase === 'idle', 5000, 50);
    expect(Date.now() - failedAtMs).toBeLessThan(FLUSH_MS + 1500);
    const { unhealthy, state } = await expectStorageFault(s);
    expect(unhealthy).toContain('storage');
    expect(state.appliance.faults.join(' ')).toMatch(/I\/O error/);
    // The kernel has turned the card read-only after the failed writes, as it does on a Pi.
    await waitFor(() => Promise.resolve(/(^|,)ro(,|$)|emergency_ro/.test(mountOptions(card.mountPoint))), 10_000);
    // The next press is refused with the reason; capture itself goes on (expectStorageFault saw audio healthy).
    expect(await s.button('toggle')).toBe(202);
    await waitFor(async () => /not recording/.test((await s.api<State>('/api/state')).body.appliance.lastEvent ?? ''), 5000);
    expectNoCrash(s);
    await s.stop();
    scout = null;

    // What a person does with such a card once it takes writes again: check it, mount it again.
    expect([0, 1]).toContain(card.repair());

    scout = await startScout({ dataDir, config });
    const again = scout;
    const row = await waitFor(async () => (await again.api<RecordingPage>('/api/recordings?limit=50')).body.items.find((r: Recording) => r.id === id && r.status !== 'recording'), 10_000);
    // Everything up to the last flush before the error, at least (minus the HTTP round trips).
    expect(row.durationMs).toBeGreaterThanOrEqual(failedAtMs - recordingFromMs - FLUSH_MS - 500);
    expect(row.error).toMatch(/^truncated: /);
    const wav = readFileSync(join(dataDir, 'recordings', row.audioPath));
    const header = parseWavHeader(wav);
    expect(header.declaredDataBytes).toBe(wav.length - WAV_HEADER_BYTES);
    await waitFor(async () => (await again.api('/healthz')).status === 200, 10_000);
    expectNoCrash(again);
  }, 120_000);
});
