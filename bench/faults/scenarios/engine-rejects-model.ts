/**
 * A model file whisper.cpp refuses (right magic and size, so the service's own check passes,
 * but whisper-server exits with "failed to initialize whisper context"): the real whisper-server
 * is restarted onto it and fails again and again; a take meanwhile waits in the queue. A good
 * model under the same name (swapped in whole) must bring it back by itself.
 */
import { rename, writeFile } from 'node:fs/promises';
import { GGML_MAGIC } from '../../../src/transcribe/model-file.js';
import { waitFor } from '../../../test/helpers/scout-process.js';
import { awaitRecovery, childPids, health, installModel, missingTakes, startRealService, take, transcribed, type RealService } from '../harness.js';
import { failed, finish, repeated, type Scenario } from '../scenario.js';

export const engineRejectsModel: Scenario = {
  name: 'engine-rejects-model',
  summary: 'the model file becomes one whisper-server cannot load and the engine restarts onto it; then a good model comes back',
  run: (ctx, repeats, report) => {
    let real: RealService | null = null;
    return repeated<RealService>(
      repeats,
      report,
      async () => (real = await startRealService(ctx, 'engine-rejects-model')),
      async (r) => {
        const s = r.service;
        const corrupt = Buffer.alloc(2 * 1024 * 1024);
        corrupt.writeUInt32LE(GGML_MAGIC, 0);
        await writeFile(`${r.modelPath}.bad`, corrupt);
        await rename(`${r.modelPath}.bad`, r.modelPath);
        // The running server has the good model in memory: restart it onto the bad file.
        for (const pid of await childPids(s.child.pid ?? -1, 'whisper-server')) process.kill(pid, 'SIGKILL');
        try {
          await waitFor(async () => {
            const check = (await health(s)).body.checks['engine'];
            return check !== undefined && check.status !== 'healthy' && /failed to initialize whisper context/.test(check.message);
            // The restart backoff doubles across repeats (1 s, 2 s, 4 s, ... jittered).
          }, 60_000, 50);
        } catch {
          await installModel(r.dataDir, ctx.model);
          return failed('the engine never reported the refused model');
        }
        const id = await take(s);
        await installModel(r.dataDir, ctx.model);
        const since = performance.now();
        const recovery = await awaitRecovery(s, r.baseline, since, async (remainingMs) => (await transcribed(s, id, remainingMs)) !== null);
        r.known.push(id);
        if (recovery.proofId !== null) r.known.push(recovery.proofId);
        const missing = await missingTakes(s, r.known);
        return finish({ recovery, lostRows: missing.length }, s);
      },
      async () => {
        await real?.service.stop();
      },
    );
  },
};
