/**
 * The card fails mid-take, the two ways SD cards do, each on a real ext4 on a loop device mounted
 * `errors=remount-ro` as a Pi's root is:
 * - it turns read-only: the kernel finds an error (raised through ext4's own test hook,
 *   `/sys/fs/ext4/<dev>/trigger_fs_error`) and remounts it; every write, fsync and commit then
 *   fails with EROFS (test/helpers/ext4-loop.ts);
 * - its writes fail with EIO: nbdkit's memory disk behind its error filter is the loop device's
 *   file (nbdfuse), and fails every write from the moment the test says so; the service meets EIO
 *   at its next fdatasync, then the kernel aborts the journal and remounts read-only
 *   (test/helpers/eio-card.ts).
 *
 * Either way the take stops at once; /healthz, the faults (naming the first error: "read-only" or
 * "I/O error") and the refused next press say why; capture goes on and nothing crashes. After
 * what a person does (writes work again, fsck, mount), the service starts and the take is there
 * with a valid WAV holding at least everything up to the last flush before the failure. Needs root
 * (losetup, mount); the EIO card also /dev/fuse, nbdkit and nbdfuse.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWavHeader, WAV_HEADER_BYTES } from '../../src/audio/wav.js';
import type { Recording } from '../../src/domain/recording.js';
import type { RecordingPage } from '../../src/store/recordings.js';
import { missingCapability } from '../helpers/capability.js';
import { makeEioCard } from '../helpers/eio-card.js';
import { mountExt4Loop, mountOptions, type FailingCard } from '../helpers/ext4-loop.js';
import { startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';
import { expectNoCrash, expectStorageFault, firstStart, type State } from '../helpers/storage.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const FLUSH_MS = 500;

const config = {
  recorder: { minFreeMb: 1, stopReserveMb: 0, flushIntervalMs: FLUSH_MS },
  ops: { storageCheckMs: 200, healthCacheMs: 0 },
  degradation: { diskFreeMinMbDefer: 2 },
  transcription: { enabled: false },
};

const readOnly = mountExt4Loop('ro-remount');
const eio = makeEioCard('eio');
const cards: { readonly how: string; readonly needs: string; readonly card: FailingCard; readonly fault: RegExp }[] = [
  { how: 'turns read-only (ext4 errors=remount-ro)', needs: 'a loop-mounted ext4 (root)', card: readOnly, fault: /read-only/ },
  {
    how: 'fails its writes with EIO',
    needs: 'a card that fails writes with EIO (root, /dev/fuse, nbdkit, nbdfuse)',
    card: eio,
    fault: /I\/O error/,
  },
];

for (const { how, needs, card, fault } of cards) {
  describe.skipIf(missingCapability(needs, card.problem))(`the card ${how} mid-take`, () => {
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

    it('stops the take at once and says why; after fsck and a remount the take is there up to its last flush', async () => {
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

      card.fail();
      const failedAtMs = Date.now();

      // Stopped at once: the next write or flush meets the error.
      await waitFor(async () => (await s.api<State>('/api/state')).body.appliance.phase === 'idle', 5000, 50);
      expect(Date.now() - failedAtMs).toBeLessThan(FLUSH_MS + 1500);
      const { unhealthy, state } = await expectStorageFault(s);
      expect(unhealthy).toContain('storage');
      expect(state.appliance.faults.join(' ')).toMatch(fault);
      // Read-only now either way: at once, or once the kernel has met the failed writes.
      await waitFor(() => Promise.resolve(/(^|,)ro(,|$)|emergency_ro/.test(mountOptions(card.mountPoint))), 10_000);
      // The next press is refused with the reason; capture itself goes on (expectStorageFault saw audio healthy).
      expect(await s.button('toggle')).toBe(202);
      await waitFor(async () => /not recording/.test((await s.api<State>('/api/state')).body.appliance.lastEvent ?? ''), 5000);
      expectNoCrash(s);
      await s.stop();
      scout = null;

      // What a person does with such a card: check it and mount it again.
      // 0: clean; 1: errors corrected. Anything else and the card is beyond this test.
      expect([0, 1]).toContain(card.repair());

      scout = await startScout({ dataDir, config });
      const again = scout;
      const row = await waitFor(async () => (await again.api<RecordingPage>('/api/recordings?limit=50')).body.items.find((r: Recording) => r.id === id && r.status !== 'recording'), 10_000);
      // Everything up to the last flush before the failure, at least (minus the HTTP round trips).
      expect(row.durationMs).toBeGreaterThanOrEqual(failedAtMs - recordingFromMs - FLUSH_MS - 500);
      expect(row.error).toMatch(/^truncated: interrupted/);
      const wav = readFileSync(join(dataDir, 'recordings', row.audioPath));
      const header = parseWavHeader(wav);
      expect(header.declaredDataBytes).toBe(wav.length - WAV_HEADER_BYTES);
      // Healthy again.
      await waitFor(async () => (await again.api('/healthz')).status === 200, 10_000);
      expectNoCrash(again);
    }, 120_000);
  });
}
