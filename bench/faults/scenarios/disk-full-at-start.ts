/**
 * The card is full when the service starts: it must come up, say so (503, the storage checks)
 * and, once space is freed, record and transcribe again without a restart.
 */
import { waitFor } from '../../../test/helpers/scout-process.js';
import { fillToTheLastBlock } from '../../../test/helpers/tmpfs.js';
import { awaitRecovery, health, missingTakes, restartRealService } from '../harness.js';
import { failed, finish, repeated, type Scenario } from '../scenario.js';
import { freeSpace, startOnTmpfs, stopOnTmpfs, type TmpfsService } from './tmpfs-service.js';

export const diskFullAtStart: Scenario = {
  name: 'disk-full-at-start',
  summary: 'the data dir (a 64 MB tmpfs) is full before the service starts; then space is freed',
  run: (ctx, repeats, report) => {
    let env: TmpfsService | null = null;
    return repeated<TmpfsService>(
      repeats,
      report,
      async () => (env = await startOnTmpfs(ctx, 'disk-full-at-start')),
      async (e) => {
        await e.real.service.stop();
        const fillers = fillToTheLastBlock(e.mountPoint);
        const s = await restartRealService(e.real);
        try {
          await waitFor(async () => (await health(s)).status === 503, 15_000, 50);
        } catch {
          freeSpace(fillers);
          return failed('the service never said the disk was full (no 503)');
        }
        const said = Object.entries((await health(s)).body.checks).filter(([, c]) => c.status === 'unhealthy').map(([n]) => n);
        freeSpace(fillers);
        const since = performance.now();
        const recovery = await awaitRecovery(s, e.real.baseline, since);
        if (recovery.proofId !== null) e.real.known.push(recovery.proofId);
        const missing = await missingTakes(s, e.real.known);
        return finish({ recovery, lostRows: missing.length, notes: [`unhealthy while full: ${said.join(', ')}`] }, s);
      },
      () => stopOnTmpfs(env),
    );
  },
};
