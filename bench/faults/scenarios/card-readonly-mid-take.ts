/**
 * The card goes bad during a take, two ways a real ext4 on a loop device (`errors=remount-ro`)
 * can show it:
 * - card-readonly-mid-take: the kernel turns the data file system read-only (ext4's own error hook);
 * - card-eio-mid-take: every write to the card fails with EIO (nbdkit's error filter under the
 *   loop device), and the kernel then turns it read-only itself.
 * The take must stop at once with /healthz saying so; after what a person does (fsck, mount again,
 * restart the service) the take must be back up to its last flush and transcribed, every earlier
 * take kept.
 */
import { join } from 'node:path';
import { sleep } from '../../../src/util/sleep.js';
import { makeEioCard } from '../../../test/helpers/eio-card.js';
import { mountExt4Loop, type FailingCard } from '../../../test/helpers/ext4-loop.js';
import { waitFor } from '../../../test/helpers/scout-process.js';
import { awaitRecovery, health, missingTakes, recording, restartRealService, startRealService, startTake, state, transcribed, wavAudioMs, type RealService } from '../harness.js';
import { failed, finish, repeated, type Scenario } from '../scenario.js';
import { TMPFS_CONFIG } from './tmpfs-service.js';

interface OnCard {
  readonly real: RealService;
  readonly card: FailingCard;
}

export const cardReadonlyMidTake = cardFailsMidTake({
  name: 'card-readonly-mid-take',
  summary: 'the data file system (ext4 on a loop device) turns read-only 1.5 s into a take; fsck, remount, restart',
  failure: 'the card turned read-only',
  needs: 'a loop-mounted ext4 (root)',
  make: (name) => mountExt4Loop(name, 96),
});

export const cardEioMidTake = cardFailsMidTake({
  name: 'card-eio-mid-take',
  summary: "every write to the card fails with EIO 1.5 s into a take (nbdkit's error filter under ext4 on a loop device); fsck, remount, restart",
  failure: 'its writes failed with EIO',
  needs: 'a card that fails writes with EIO (root, /dev/fuse, nbdkit, nbdfuse)',
  make: (name) => makeEioCard(name, 96),
});

function cardFailsMidTake(kind: { name: string; summary: string; failure: string; needs: string; make: (name: string) => FailingCard }): Scenario {
  return {
    name: kind.name,
    summary: kind.summary,
    run: (ctx, repeats, report) => {
      let env: OnCard | null = null;
      return repeated<OnCard>(
        repeats,
        report,
        async () => {
          const card = kind.make(`${kind.name}-${Date.now()}`);
          if (card.problem !== null) throw new Error(`needs ${kind.needs}: ${card.problem}`);
          try {
            env = { real: await startRealService(ctx, kind.name, { dataDir: join(card.mountPoint, 'data'), config: TMPFS_CONFIG }), card };
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
            return failed(`the take did not stop, or health did not say so, when ${kind.failure}`);
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
}
