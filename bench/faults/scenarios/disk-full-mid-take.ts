/**
 * The card fills during a take: the take must stop at once with a valid WAV up to its last
 * flush, be saved ('truncated: disk full') and, once space is freed, transcribed; recording works
 * again without a restart.
 */
import { sleep } from '../../../src/util/sleep.js';
import { waitFor } from '../../../test/helpers/scout-process.js';
import { fillToTheLastBlock } from '../../../test/helpers/tmpfs.js';
import { awaitRecovery, health, missingTakes, recording, startTake, state, transcribed, wavAudioMs } from '../harness.js';
import { failed, finish, repeated, type Scenario } from '../scenario.js';
import { freeSpace, startOnTmpfs, stopOnTmpfs, type TmpfsService } from './tmpfs-service.js';

export const diskFullMidTake: Scenario = {
  name: 'disk-full-mid-take',
  summary: 'the data dir (a 64 MB tmpfs) fills 1.5 s into a take; then space is freed',
  run: (ctx, repeats, report) => {
    let env: TmpfsService | null = null;
    return repeated<TmpfsService>(
      repeats,
      report,
      async () => (env = await startOnTmpfs(ctx, 'disk-full-mid-take')),
      async (e) => {
        const s = e.real.service;
        const { id, pressedAtMs } = await startTake(s);
        await sleep(1500);
        const fillStartMs = performance.now();
        const fillers = fillToTheLastBlock(e.mountPoint);
        try {
          await waitFor(async () => {
            const now = await state(s);
            return now.appliance.phase === 'idle' && now.appliance.savesInFlight === 0 && (await health(s)).status === 503;
          }, 10_000, 50);
        } catch {
          freeSpace(fillers);
          return failed('the take did not stop, or health did not say so, on a full disk');
        }
        const keptMs = await wavAudioMs(e.real.dataDir, id);
        // Audio before the disk began to fill was flushed at the latest one flush interval later.
        const expectedMs = fillStartMs - pressedAtMs;
        freeSpace(fillers);
        const since = performance.now();
        const recovery = await awaitRecovery(s, e.real.baseline, since, async (remainingMs) => (await transcribed(s, id, remainingMs)) !== null);
        const row = await recording(s, id);
        e.real.known.push(id);
        if (recovery.proofId !== null) e.real.known.push(recovery.proofId);
        const missing = await missingTakes(s, e.real.known);
        return finish(
          {
            recovery,
            lostAudioMs: expectedMs - keptMs,
            lostRows: missing.length,
            notes: [`interrupted take: ${Math.round(keptMs)} ms kept of ${Math.round(expectedMs)} ms recorded before the fill; row ${row?.status ?? 'missing'}, error ${JSON.stringify(row?.error ?? null)}, transcript ${row?.transcript?.state ?? 'none'}`],
          },
          s,
        );
      },
      () => stopOnTmpfs(env),
    );
  },
};
