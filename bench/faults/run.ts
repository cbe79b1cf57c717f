/**
 * `npm run faults [-- --repeat N] [--only name,...] [--json PATH]`: every fault of issue 9 against
 * the compiled service, each repeated (5 times by default), with whether it recovered, how long
 * that took and what was lost. Exits 1 when any fault failed or took longer than 60 s.
 * Needs root (tmpfs and bind mounts), whisper.cpp built (npm run setup), pulseaudio, espeak-ng, sox.
 */
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWav } from '../../src/audio/wav.js';
import { makeSpeechWav } from '../../test/helpers/fake-alsa.js';
import { speechLike } from '../../test/helpers/signal.js';
import { ensureModel, ensureWhisperBuilt } from '../../test/helpers/whisper.js';
import { DIST_MAIN, RATE_HZ, type RunContext } from './harness.js';
import { jsonReport, repeatLine, summaryTable } from './report.js';
import type { Scenario } from './scenario.js';
import { arecordKilled } from './scenarios/arecord-killed.js';
import { cardEioMidTake, cardReadonlyMidTake } from './scenarios/card-readonly-mid-take.js';
import { clockJump } from './scenarios/clock-jump.js';
import { dbLocked } from './scenarios/db-locked.js';
import { deviceGone } from './scenarios/device-gone.js';
import { diskFullAtStart } from './scenarios/disk-full-at-start.js';
import { diskFullMidTake } from './scenarios/disk-full-mid-take.js';
import { engine5xx } from './scenarios/engine-5xx.js';
import { engineCrashLoop } from './scenarios/engine-crash-loop.js';
import { engineGarbage } from './scenarios/engine-garbage.js';
import { engineHang } from './scenarios/engine-hang.js';
import { engineRejectsModel } from './scenarios/engine-rejects-model.js';
import { powerCut } from './scenarios/power-cut.js';
import { readonlyDataDir } from './scenarios/readonly-data-dir.js';
import { exitCode, judge, parseArgs, repeatProblem, type RepeatResult } from './verdict.js';

const SCENARIOS: readonly Scenario[] = [
  diskFullAtStart,
  diskFullMidTake,
  cardReadonlyMidTake,
  cardEioMidTake,
  readonlyDataDir,
  engineHang,
  engineGarbage,
  engine5xx,
  engineRejectsModel,
  engineCrashLoop,
  powerCut,
  arecordKilled,
  deviceGone,
  clockJump,
  dbLocked,
];

async function prepare(): Promise<RunContext> {
  try {
    await access(DIST_MAIN);
  } catch {
    throw new Error(`${DIST_MAIN} is missing: npm run build first (npm run faults does)`);
  }
  const work = await mkdtemp(join(tmpdir(), 'scout-faults-'));
  const whisperServer = join(await ensureWhisperBuilt(), 'whisper-server');
  const model = await ensureModel('mini', { decodeTokens: 8 });
  const clipPath = join(work, 'clip.wav');
  await writeFile(clipPath, encodeWav(speechLike([900, 450, 800, 500, 1000, 400, 700, 450], 7), RATE_HZ));
  const speech48kPath = await makeSpeechWav('The quick brown fox jumps over the lazy dog, then records another note for the box.', { rateHz: 48_000, channels: 2, dir: work });
  return { work, whisperServer, model, clipPath, speech48kPath, log: (message) => console.log(message) };
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2), SCENARIOS.map((s) => s.name));
  const chosen = options.only === null ? SCENARIOS : SCENARIOS.filter((s) => options.only?.includes(s.name));
  const startedAt = performance.now();
  const ctx = await prepare();
  const results = new Map<string, RepeatResult[]>();
  try {
    for (const scenario of chosen) {
      console.log(`${scenario.name}: ${scenario.summary} (x${options.repeat})`);
      const list: RepeatResult[] = [];
      results.set(scenario.name, list);
      const scenarioStart = performance.now();
      await scenario.run(ctx, options.repeat, (result) => {
        console.log(repeatLine(scenario.name, list.length, result, repeatProblem(result)));
        list.push(result);
      });
      console.log(`  (${((performance.now() - scenarioStart) / 1000).toFixed(0)} s)`);
    }
  } finally {
    await rm(ctx.work, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }
  const verdicts = chosen.map((s) => judge(s.name, results.get(s.name) ?? []));
  const wallMs = performance.now() - startedAt;
  console.log(`\n${summaryTable(verdicts, wallMs)}`);
  if (options.jsonPath !== null) await writeFile(options.jsonPath, jsonReport(verdicts, results, wallMs));
  return exitCode(verdicts);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 2;
  },
);
