/**
 * A power cut: the service SIGKILLed mid-take, then started again on the same data dir. The
 * interrupted take must be repaired from its file (all but the last flush interval kept) and
 * transcribed, every earlier take kept, and the engine child must not outlive its parent.
 */
import { sleep } from '../../../src/util/sleep.js';
import { waitFor } from '../../../test/helpers/scout-process.js';
import { awaitRecovery, childPids, missingTakes, processAlive, restartRealService, startRealService, startTake, transcribed, wavAudioMs, type RealService } from '../harness.js';
import { finish, repeated, type Scenario } from '../scenario.js';

export const powerCut: Scenario = {
  name: 'power-cut',
  summary: 'SIGKILL of the service 2.5 s into a take, then a restart on the same data dir',
  run: (ctx, repeats, report) => {
    let real: RealService | null = null;
    return repeated<RealService>(
      repeats,
      report,
      async () => (real = await startRealService(ctx, 'power-cut')),
      async (r) => {
        const s = r.service;
        const { id, pressedAtMs } = await startTake(s);
        await sleep(2500);
        const engines = await childPids(s.child.pid ?? -1, 'whisper-server');
        const killedAtMs = performance.now();
        s.child.kill('SIGKILL');
        await s.exited();
        const notes: string[] = [];
        try {
          await waitFor(() => Promise.resolve(engines.every((pid) => !processAlive(pid))), 5000, 20);
        } catch {
          notes.push('whisper-server outlived the killed service');
          for (const pid of engines) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
        }
        const since = performance.now();
        const t = await restartRealService(r);
        const recovery = await awaitRecovery(t, r.baseline, since, async (remainingMs) => (await transcribed(t, id, remainingMs)) !== null);
        const expectedMs = killedAtMs - pressedAtMs;
        const keptMs = await wavAudioMs(r.dataDir, id).catch(() => 0);
        notes.push(`interrupted take: ${Math.round(keptMs)} ms kept of >= ${Math.round(expectedMs)} ms recorded`);
        r.known.push(id);
        if (recovery.proofId !== null) r.known.push(recovery.proofId);
        const missing = await missingTakes(t, r.known);
        return finish({ recovery, lostAudioMs: expectedMs - keptMs, lostRows: missing.length, notes }, t);
      },
      async () => {
        await real?.service.stop();
      },
    );
  },
};
