/**
 * The wall clock jumps (+1 h, then -1 h: an NTP step on a box without an RTC) during takes. The
 * takes' durations and audio must follow the monotonic clock, not the jump; the take started
 * before a jump keeps its start time; jobs, health and recording go on. The jump is made for the
 * service only, by clock-preload.mjs.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../../../src/util/sleep.js';
import { awaitRecovery, FLUSH_INTERVAL_MS, missingTakes, recording, startRealService, startTake, stopTake, transcribed, wavAudioMs, type RealService, type Recovery } from '../harness.js';
import { finish, repeated, type Scenario } from '../scenario.js';

const PRELOAD = join(import.meta.dirname, '../clock-preload.mjs');
const HOUR_MS = 3_600_000;
const PRE_ROLL_MS = 200;

interface Env {
  readonly real: RealService;
  readonly clockFile: string;
  offsetMs: number;
}

export const clockJump: Scenario = {
  name: 'clock-jump',
  summary: 'the wall clock jumps +1 h during a take, then -1 h during the next (faked for the service only)',
  run: (ctx, repeats, report) => {
    let env: Env | null = null;
    return repeated<Env>(
      repeats,
      report,
      async () => {
        const clockFile = join(ctx.work, 'clock-offset-ms');
        await writeFile(clockFile, '0');
        const real = await startRealService(ctx, 'clock-jump', { env: { SCOUT_FAULT_CLOCK_FILE: clockFile }, preload: ['--import', PRELOAD] });
        env = { real, clockFile, offsetMs: 0 };
        return env;
      },
      async (e) => {
        const s = e.real.service;
        const notes: string[] = [];
        let lostAudioMs = 0;
        let broken: string | null = null;
        let recovery: Recovery | null = null;
        for (const jumpMs of [HOUR_MS, -HOUR_MS]) {
          const wallBefore = Date.now() + e.offsetMs;
          const { id, pressedAtMs } = await startTake(s);
          await sleep(1000);
          e.offsetMs += jumpMs;
          await writeFile(e.clockFile, String(e.offsetMs));
          const since = performance.now();
          // The preload re-reads the offset every 50 ms.
          await sleep(1500);
          const saved = await stopTake(s, id);
          const heldMs = performance.now() - pressedAtMs;
          const keptMs = await wavAudioMs(e.real.dataDir, id);
          lostAudioMs = Math.max(lostAudioMs, heldMs - keptMs);
          const durationOffMs = (saved.durationMs ?? 0) - (heldMs + PRE_ROLL_MS);
          notes.push(`jump ${jumpMs > 0 ? '+' : '-'}1 h: held ${Math.round(heldMs)} ms, durationMs ${saved.durationMs}, WAV ${Math.round(keptMs)} ms, startedAt off by ${Math.round((saved.startedAtMs - wallBefore) / 1000)} s`);
          if (Math.abs(durationOffMs) > FLUSH_INTERVAL_MS) broken ??= `the take's durationMs (${saved.durationMs}) is off by ${Math.round(durationOffMs)} ms after a ${jumpMs / HOUR_MS} h jump`;
          if (Math.abs(saved.startedAtMs - wallBefore) > 60_000) broken ??= `the take's start time moved with the jump (${saved.startedAtMs - wallBefore} ms)`;
          recovery = await awaitRecovery(s, e.real.baseline, since, async (remainingMs) => (await transcribed(s, id, remainingMs)) !== null);
          e.real.known.push(id);
          if (recovery.proofId !== null) e.real.known.push(recovery.proofId);
          if (!recovery.recovered) {
            const row = await recording(s, id);
            notes.push(`after the ${jumpMs / HOUR_MS} h jump: take ${row?.status ?? 'missing'}, transcript ${row?.transcript?.state ?? 'none'}`);
            break;
          }
        }
        const missing = await missingTakes(s, e.real.known);
        const result = finish({ recovery: recovery ?? { recovered: false, recoveryMs: null, proofId: null, why: 'no jump made' }, lostAudioMs, lostRows: missing.length, notes }, s);
        return broken === null ? result : { ...result, error: broken };
      },
      async () => {
        await env?.real.service.stop();
      },
    );
  },
};
