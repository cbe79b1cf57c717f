/**
 * The microphone gone (the sound server killed: arecord dies as it does when a USB mic is
 * unplugged, and cannot open the device again) for 2 s during a take, then back. Capture must
 * come back by itself, the take be kept and transcribed, and recording work again.
 */
import { sleep } from '../../../src/util/sleep.js';
import { waitFor } from '../../../test/helpers/scout-process.js';
import { awaitRecovery, endTake, missingTakes, startTake, state, transcribed, wavAudioMs } from '../harness.js';
import { failed, finish, repeated, type Scenario } from '../scenario.js';
import { startOnPulse, stopOnPulse, type PulseService } from './pulse-service.js';

export const deviceGone: Scenario = {
  name: 'device-gone',
  summary: 'the capture device disappears (PulseAudio killed) 1 s into a take and comes back 2 s later',
  run: (ctx, repeats, report) => {
    let env: PulseService | null = null;
    return repeated<PulseService>(
      repeats,
      report,
      async () => (env = await startOnPulse(ctx, 'device-gone')),
      async (e) => {
        const s = e.real.service;
        const { id, pressedAtMs } = await startTake(s);
        await sleep(1000);
        await e.mic.kill();
        try {
          await waitFor(async () => (await state(s)).audio.state !== 'running', 15_000, 50);
        } catch {
          await e.mic.revive();
          return failed('capture never noticed the device was gone');
        }
        await sleep(2000);
        await e.mic.revive();
        const since = performance.now();
        await waitFor(async () => (await state(s)).audio.state === 'running', 30_000, 50);
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
            notes: [`take ${endedByService ? 'ended by the service' : 'kept recording'}: ${Math.round(keptMs)} ms of audio over ${Math.round(heldMs)} ms held`],
          },
          s,
        );
      },
      () => stopOnPulse(env),
    );
  },
};
