/**
 * arecord SIGKILLed during a take (real arecord on the PulseAudio fake mic): capture must be
 * restarted by its supervisor, the take kept and transcribed. The audio arecord did not deliver
 * while it was down is a gap, not a loss of anything recorded: it is reported as a note.
 */
import { sleep } from '../../../src/util/sleep.js';
import { waitFor } from '../../../test/helpers/scout-process.js';
import { awaitRecovery, childPids, endTake, missingTakes, startTake, state, transcribed, waitChild, wavAudioMs } from '../harness.js';
import { finish, repeated, type Scenario } from '../scenario.js';
import { startOnPulse, stopOnPulse, type PulseService } from './pulse-service.js';

export const arecordKilled: Scenario = {
  name: 'arecord-killed',
  summary: 'SIGKILL of the arecord child 1.5 s into a take (real arecord, PulseAudio fake mic)',
  run: (ctx, repeats, report) => {
    let env: PulseService | null = null;
    return repeated<PulseService>(
      repeats,
      report,
      async () => (env = await startOnPulse(ctx, 'arecord-killed')),
      async (e) => {
        const s = e.real.service;
        const parent = s.child.pid ?? -1;
        const { id, pressedAtMs } = await startTake(s);
        await sleep(1500);
        const [pid] = await childPids(parent, 'arecord');
        if (pid === undefined) throw new Error('no arecord child to kill');
        process.kill(pid, 'SIGKILL');
        const since = performance.now();
        await waitChild(parent, 'arecord', pid, 20_000);
        await waitFor(async () => (await state(s)).audio.state === 'running', 20_000, 50);
        await sleep(1000);
        const { endedByService } = await endTake(s, id);
        const heldMs = performance.now() - pressedAtMs;
        const recovery = await awaitRecovery(s, e.real.baseline, since, async (remainingMs) => (await transcribed(s, id, remainingMs)) !== null);
        const keptMs = await wavAudioMs(e.real.dataDir, id).catch(() => 0);
        e.real.known.push(id);
        if (recovery.proofId !== null) e.real.known.push(recovery.proofId);
        const missing = await missingTakes(s, e.real.known);
        return finish(
          {
            recovery,
            lostRows: missing.length,
            notes: [`take ${endedByService ? 'ended by the service' : 'kept recording through the restart'}: ${Math.round(keptMs)} ms of audio over ${Math.round(heldMs)} ms held (gap while arecord was down)`],
          },
          s,
        );
      },
      () => stopOnPulse(env),
    );
  },
};
