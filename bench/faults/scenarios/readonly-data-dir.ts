/**
 * The data dir read-only (a read-only bind mount, the way the kernel remounts a failing card):
 * the service comes up and says so; then the mount is made read-write again. It counts as
 * recovered only if the service records and transcribes again WITHOUT a restart, within the
 * limit (a read-only start runs on an in-memory copy of the database, which
 * src/store/live-database.ts swaps for the real file once the card takes writes); when it does
 * not, the repeat fails and notes what a restart then brings back.
 * A read-only remount during a take cannot be made here: the kernel refuses it (EBUSY) while the
 * service holds files open for writing.
 */
import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor, type ScoutProcess } from '../../../test/helpers/scout-process.js';
import { awaitRecovery, health, missingTakes, restartRealService, startRealService, type RealService } from '../harness.js';
import { failed, finish, repeated, type Scenario } from '../scenario.js';

function mount(...args: string[]): void {
  const result = spawnSync('mount', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`mount ${args.join(' ')} failed: ${result.stderr.trim() || String(result.error ?? result.status)}`);
}

interface Env {
  readonly real: RealService;
  readonly dataDir: string;
}

export const readonlyDataDir: Scenario = {
  name: 'readonly-data-dir',
  summary: 'the data dir is read-only when the service starts (bind mount); then read-write again, no restart',
  run: (ctx, repeats, report) => {
    let env: Env | null = null;
    let bound: string | null = null;
    return repeated<Env>(
      repeats,
      report,
      async () => {
        const dataDir = join(ctx.work, 'readonly-data-dir', 'data');
        await mkdir(dataDir, { recursive: true });
        mount('--bind', dataDir, dataDir);
        bound = dataDir;
        env = { real: await startRealService(ctx, 'readonly-data-dir', { dataDir }), dataDir };
        return env;
      },
      async (e) => {
        await e.real.service.stop();
        mount('-o', 'remount,bind,ro', e.dataDir);
        let s: ScoutProcess;
        try {
          s = await restartRealService(e.real);
          const started = s;
          await waitFor(async () => {
            const report = await health(started);
            return report.status === 503 && /read-?only/.test(report.body.checks['storage']?.message ?? '');
          }, 15_000, 50);
        } catch (error) {
          mount('-o', 'remount,bind,rw', e.dataDir);
          return failed(`the service did not say read-only: ${String(error)}`);
        }
        mount('-o', 'remount,bind,rw', e.dataDir);
        const since = performance.now();
        const recovery = await awaitRecovery(s, e.real.baseline, since);
        const notes: string[] = [];
        if (!recovery.recovered) {
          await s.stop();
          const restartedAt = performance.now();
          const t = await restartRealService(e.real);
          const after = await awaitRecovery(t, e.real.baseline, restartedAt);
          notes.push(after.recovered ? `after a restart it recovered in ${Math.round(after.recoveryMs ?? 0)} ms` : `not even after a restart: ${after.why ?? ''}`);
          if (after.proofId !== null) e.real.known.push(after.proofId);
        } else if (recovery.proofId !== null) {
          e.real.known.push(recovery.proofId);
        }
        const missing = await missingTakes(e.real.service, e.real.known);
        return finish({ recovery, lostRows: missing.length, notes }, e.real.service);
      },
      async () => {
        await env?.real.service.stop();
        if (bound !== null) {
          spawnSync('mount', ['-o', 'remount,bind,rw', bound]);
          spawnSync('umount', ['-l', bound]);
        }
      },
    );
  },
};
