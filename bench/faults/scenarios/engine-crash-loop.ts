/**
 * The real whisper-server killed again and again (SIGKILL each new one, four in a row) while a
 * take is recorded: the supervisor respawns it with backoff, the take waits, and once the
 * killing stops everything is transcribed.
 */
import { sleep } from '../../../src/util/sleep.js';
import { awaitRecovery, endTake, metric, missingTakes, startRealService, startTake, transcribed, waitChild, type RealService } from '../harness.js';
import { finish, repeated, type Scenario } from '../scenario.js';

const KILLS = 4;

export const engineCrashLoop: Scenario = {
  name: 'engine-crash-loop',
  summary: `the real whisper-server is SIGKILLed ${KILLS} times in a row, each new one as soon as it is up, during a take`,
  run: (ctx, repeats, report) => {
    let real: RealService | null = null;
    return repeated<RealService>(
      repeats,
      report,
      async () => (real = await startRealService(ctx, 'engine-crash-loop')),
      async (r) => {
        const s = r.service;
        const restartsBefore = await metric(s, 'scout_transcription_engine_restarts_total');
        const { id } = await startTake(s);
        let last: number | null = null;
        for (let k = 0; k < KILLS; k += 1) {
          const pid = await waitChild(s.child.pid ?? -1, 'whisper-server', last);
          // Let it get as far as loading the model, then cut it down.
          await sleep(200);
          process.kill(pid, 'SIGKILL');
          last = pid;
        }
        const since = performance.now();
        await endTake(s, id);
        const recovery = await awaitRecovery(s, r.baseline, since, async (remainingMs) => (await transcribed(s, id, remainingMs)) !== null);
        r.known.push(id);
        if (recovery.proofId !== null) r.known.push(recovery.proofId);
        const missing = await missingTakes(s, r.known);
        const restarts = (await metric(s, 'scout_transcription_engine_restarts_total')) - restartsBefore;
        return finish({ recovery, lostRows: missing.length, notes: [`${restarts} engine restart(s) counted`] }, s);
      },
      async () => {
        await real?.service.stop();
      },
    );
  },
};
