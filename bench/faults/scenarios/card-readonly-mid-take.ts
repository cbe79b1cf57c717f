/**
 * The card goes bad during a take: the kernel turns the data file system read-only (a real ext4
 * on a loop device, `errors=remount-ro`, its own error hook). The take must stop at once with
 * /healthz saying so; after what a person does (fsck, mount again, restart the service) the take
 * must be back up to its last flush and transcribed, every earlier take kept.
 */
import { join } from 'node:path';
import { sleep } from '../../../src/util/sleep.js';
import { mountExt4Loop, type Ext4Loop } from '../../../test/helpers/ext4-loop.js';
import { waitFor } from '../../../test/helpers/scout-process.js';
import { awaitRecovery, health, missingTakes, recording, restartRealService, startRealService, startTake, state, transcribed, wavAudioMs, type RealService } from '../harness.js';
import { failed, finish, repeated, type Scenario } from '../scenario.js';
import { TMPFS_CONFIG } from './tmpfs-service.js';

interface OnCard {
  readonly real: RealService;
  readonly card: Ext4Loop;
}

export const cardReadonlyMidTake: Scenario = {
  name: 'card-readonly-mid-take',
  summary: 'the data file system (ext4 on a loop device) turns read-only 1.5 s into a take; fsck, remount, restart',
  run: (ctx, repeats, report) => {
    let env: OnCard | null = null;
    return repeated<OnCard>(
      repeats,
      report,
      async () => {
        const card = mountExt4Loop(`card-ro-${Date.now()}`, 96);
        if (card.problem !== null) throw new Error(`needs a loop-mounted ext4 (root): ${card.problem}`);
        try {
          env = { real: await startRealService(ctx, 'card-readonly-mid-take', { dataDir: join(card.mountPoint, 'data'), config: TMPFS_CONFIG }), card };
          return env;
        } catch (error) {
          card.dispose();
          throw error;
        }
      },
      async ({ real, card }) => {
        const s = real.service;
        const { id, pressedAtMs } = await startTake(s);
        await sleep(1500);
        const failedAtMs = performance.now();
        card.fail();
        try {
          await waitFor(async () => (await state(s)).appliance.phase === 'idle' && (await health(s)).status === 503, 10_000, 50);
        } catch {
          return failed('the take did not stop, or health did not say so, when the card turned read-only');
        }
        const stoppedAfterMs = performance.now() - failedAtMs;
        await s.stop();
        const fsck = card.repair();
        const since = performance.now();
        const t = await restartRealService(real);
        const recovery = await awaitRecovery(t, real.baseline, since, async (remainingMs) => (await transcribed(t, id, remainingMs)) !== null);
        const keptMs = await wavAudioMs(real.dataDir, id).catch(() => 0);
        const expectedMs = failedAtMs - pressedAtMs;
        const row = await recording(t, id);
        real.known.push(id);
        if (recovery.proofId !== null) real.known.push(recovery.proofId);
        const missing = await missingTakes(t, real.known);
        return finish(
          {
            recovery,
            lostAudioMs: expectedMs - keptMs,
            lostRows: missing.length,
            notes: [`take stopped ${Math.round(stoppedAfterMs)} ms after the card failed; fsck exit ${fsck}; ${Math.round(keptMs)} ms kept of ${Math.round(expectedMs)} ms recorded before it; row ${row?.status ?? 'missing'}, error ${JSON.stringify(row?.error ?? null)}`],
          },
          t,
        );
      },
      async () => {
        await env?.real.service.stop();
        env?.card.dispose();
      },
    );
  },
};
