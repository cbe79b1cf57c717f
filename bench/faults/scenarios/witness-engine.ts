/**
 * Engine faults that need HTTP misbehaviour: the witness stand-in for whisper-server
 * (test/helpers/fixtures/witness-server.mjs) hangs, answers garbage or fails with a 500, switched
 * at run time through its fault file. A take made during the fault must wait in the queue and be
 * transcribed once the fault clears; hang, garbage and 5xx differ only in the witness's mode.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor, type ScoutProcess } from '../../../test/helpers/scout-process.js';
import { makeWitness, type Witness, type WitnessFault } from '../../../test/helpers/witness.js';
import { awaitRecovery, baseConfig, healthyChecks, metric, missingTakes, NORMAL_MODEL, startService, state, take, transcribed, type RunContext } from '../harness.js';
import { failed, finish, repeated, type Scenario } from '../scenario.js';

interface Env {
  readonly service: ScoutProcess;
  readonly witness: Witness;
  readonly baseline: ReadonlySet<string>;
  readonly known: string[];
}

export function witnessEngineScenario(name: string, mode: NonNullable<WitnessFault['inference']>, errorKind: 'timeout' | 'engine', summary: string): Scenario {
  return {
    name,
    summary,
    run: (ctx: RunContext, repeats, report) => {
      let service: ScoutProcess | null = null;
      return repeated<Env>(
        repeats,
        report,
        async () => {
          const dir = join(ctx.work, name);
          const dataDir = join(dir, 'data');
          await mkdir(join(dataDir, 'models'), { recursive: true });
          // Installed as the normal tier (the catalog wants 1 MiB at least).
          const witness = await makeWitness(dir, { modelPath: join(dataDir, 'models', NORMAL_MODEL), modelBytes: 2 * 1024 * 1024 });
          const config = baseConfig(ctx, { transcription: { serverPath: witness.serverPath, requestTimeoutMs: 1000, readyTimeoutMs: 5000 } });
          service = await startService({ dataDir, config, configPath: join(dir, 'scout.json') });
          const s = service;
          await waitFor(async () => {
            const now = await state(s);
            return now.transcription?.engine.state === 'ready' && now.audio.state === 'running';
          }, 60_000);
          const first = await take(s);
          if ((await transcribed(s, first, 20_000)) === null) throw new Error('the first take was not transcribed before any fault');
          return { service: s, witness, baseline: await healthyChecks(s), known: [first] };
        },
        async (env) => {
          const s = env.service;
          const label = `{kind="${errorKind}"}`;
          const errorsBefore = await metric(s, 'scout_transcription_errors_total', label);
          await env.witness.setFault({ inference: mode });
          const id = await take(s, 2500);
          try {
            // The fault reached the service: errors counted and the breaker open.
            await waitFor(async () => (await metric(s, 'scout_transcription_errors_total', label)) >= errorsBefore + 2 && (await state(s)).transcription?.queue.breaker === 'open', 20_000, 50);
          } catch {
            await env.witness.setFault({});
            return failed(`the ${mode} fault was never seen (no ${errorKind} errors, breaker not open)`);
          }
          const queued = (await state(s)).transcription?.queue.queueSize ?? 0;
          await env.witness.setFault({});
          const since = performance.now();
          const recovery = await awaitRecovery(s, env.baseline, since, async (remainingMs) => (await transcribed(s, id, remainingMs)) !== null);
          env.known.push(id);
          if (recovery.proofId !== null) env.known.push(recovery.proofId);
          const missing = await missingTakes(s, env.known);
          const jobFailed = await metric(s, 'scout_transcription_errors_total', '{kind="job_failed"}');
          return finish({
            recovery,
            lostRows: missing.length + jobFailed,
            notes: [`${queued} job(s) queued while faulted`, ...(jobFailed > 0 ? [`${jobFailed} job(s) ran out of attempts`] : [])],
          }, s);
        },
        async () => {
          await service?.stop();
        },
      );
    },
  };
}
