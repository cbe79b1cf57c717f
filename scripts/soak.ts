/**
 * The soak: the compiled service under the project's unit in a real systemd as PID 1 (or, with
 * --direct, as the soak's own child), real arecord on a real-time PulseAudio fake
 * mic, real whisper-server with the generated tiny.en-shaped q8_0 model, N press/speak/release
 * cycles of mixed length while API and SSE clients poll. Reports crashes, restarts, overruns,
 * lost and unfinished takes, the summed RSS of service + engine and release-to-transcript latency;
 * exits non-zero on any loss or crash, a peak over the budget or an upward RSS trend.
 *
 *   npm run soak -- --recordings 200 [--mix silence=25,2=50,30=20,120=5] [--seed 1]
 *                   [--budget-mb 215] [--max-slope-mb 2] [--json PATH] [--engine-nice 0] [--direct]
 *
 * How it runs and what each figure means: docs/RELIABILITY.md ("Soak").
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep } from '../src/util/sleep.js';
import { buildApp, parseMetrics } from '../bench/lib/app.js';
import { q8Model } from '../bench/lib/models.js';
import { loadAverage } from '../bench/lib/proc.js';
import { clipKey, makeClips } from '../bench/soak/clips.js';
import { defaultMix, describePlan, parseMix, planCycles, plannedSeconds, type PlannedCycle } from '../bench/soak/mix.js';
import { ApiClients, RssSampler } from '../bench/soak/monitor.js';
import { formatDuration, Progress } from '../bench/soak/progress.js';
import { loadedModel, startService, type LoadedModel, type Service } from '../bench/soak/service.js';
import { judgeTrend, linearTrend, percentiles, secondHalf } from '../bench/soak/stats.js';
import { checkTake, drain, type CycleRecord, type TakeCheck } from '../bench/soak/takes.js';
import { startSystemdService } from '../bench/soak/systemd-service.js';
import { startPulseFakeMic, type PulseFakeMic } from '../test/helpers/fake-alsa.js';
import { systemdNsUnavailableReason } from '../test/helpers/systemd-ns.js';
import { ensureModel, ensureWhisperBuilt, repoDir } from '../test/helpers/whisper.js';

const { values: args } = parseArgs({
  options: {
    recordings: { type: 'string', default: '200' },
    mix: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'budget-mb': { type: 'string', default: '215' },
    'max-slope-mb': { type: 'string', default: '2' },
    'min-trend-cycles': { type: 'string', default: '50' },
    'drain-timeout-s': { type: 'string', default: '600' },
    'engine-nice': { type: 'string', default: '0' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    direct: { type: 'boolean', default: false },
  },
  strict: true,
});

const log = (line: string): void => console.log(line);
const number = (name: string, value: string | undefined): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a number: ${value}`);
  return n;
};

const METRICS = {
  captureRestarts: 'scout_audio_capture_restarts_total',
  engineRestarts: 'scout_transcription_engine_restarts_total',
  overruns: 'scout_audio_buffer_overruns_total',
  fatalErrors: 'scout_process_fatal_errors_total',
  sseDropped: 'scout_events_clients_dropped_total',
} as const;
type MetricName = keyof typeof METRICS;

/** Sums every series of each counter (fatal errors are labelled by kind). */
async function counters(service: Service): Promise<Record<MetricName, number> | null> {
  try {
    const response = await service.api<string>('/metrics');
    const parsed = parseMetrics(response.body);
    const out = {} as Record<MetricName, number>;
    for (const [key, name] of Object.entries(METRICS) as [MetricName, string][]) {
      let sum = 0;
      for (const [series, value] of parsed) if (series === name || series.startsWith(`${name}{`)) sum += value;
      out[key] = sum;
    }
    return out;
  } catch {
    return null;
  }
}

interface State {
  readonly appliance: { readonly phase: string; readonly recordingId: string | null };
}

async function waitForState(service: Service, predicate: (s: State) => boolean, timeoutMs: number): Promise<State | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && service.exitInfo() === null) {
    try {
      const state = await service.api<State>('/api/state');
      if (state.status === 200 && predicate(state.body)) return state.body;
    } catch {
      // retried until the deadline
    }
    await sleep(50);
  }
  return null;
}

async function toggle(service: Service): Promise<number> {
  const response = await service.api('/api/button', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'toggle' }) });
  return response.status;
}

/** One press / speak / release (toggle mode: the release is the second short press). */
async function runCycle(service: Service, mic: PulseFakeMic, cycle: PlannedCycle, clips: Map<string, string>): Promise<CycleRecord> {
  const base = { index: cycle.index, kind: cycle.kind.label, speech: cycle.kind.speech };
  const pressAtMs = Date.now();
  const pressed = await toggle(service);
  const started = pressed === 202 ? await waitForState(service, (s) => s.appliance.recordingId !== null, 10_000) : null;
  const id = started?.appliance.recordingId ?? null;
  if (id === null) return { ...base, id: null, pressAtMs, releaseAtMs: null, heldMs: null, problem: pressed === 202 ? 'no take started within 10 s of the press' : `press: HTTP ${pressed}` };
  const holdUntil = pressAtMs + cycle.kind.seconds * 1000;
  if (cycle.kind.speech) {
    const clip = clips.get(clipKey(cycle.kind, cycle.variant));
    if (clip === undefined) throw new Error(`no clip for ${cycle.kind.label} #${cycle.variant}`);
    await mic.play(clip);
  }
  await sleep(holdUntil - Date.now());
  const releaseAtMs = Date.now();
  const released = await toggle(service);
  const ended = released === 202 ? await waitForState(service, (s) => s.appliance.recordingId !== id, 15_000) : null;
  const problem = released !== 202 ? `release: HTTP ${released}` : ended === null ? 'the take did not end within 15 s of the release' : null;
  return { ...base, id, pressAtMs, releaseAtMs, heldMs: releaseAtMs - pressAtMs, problem };
}

function mbOf(kb: number): number {
  return Math.round((kb / 1024) * 10) / 10;
}

async function main(): Promise<number> {
  const wallStart = Date.now();
  const recordings = Math.round(number('recordings', args.recordings));
  if (recordings < 1) throw new Error('--recordings: at least 1');
  const seed = Math.round(number('seed', args.seed));
  const budgetMb = number('budget-mb', args['budget-mb']);
  const maxSlope = number('max-slope-mb', args['max-slope-mb']);
  const minTrendCycles = Math.round(number('min-trend-cycles', args['min-trend-cycles']));
  const mixSpec = args.mix ?? defaultMix(recordings);
  const mix = parseMix(mixSpec);
  const plan = planCycles(mix, recordings, seed);
  log(`soak: ${recordings} cycles, mix ${mixSpec} (seed ${seed}): ${describePlan(mix, plan)}`);
  log(`soak: the button is held ${formatDuration(plannedSeconds(plan) * 1000)} in total (gaps included); load average ${loadAverage()}`);

  const binDir = await ensureWhisperBuilt();
  void binDir;
  const f16 = await ensureModel('tiny', { decodeTokens: 64 });
  const q8 = await q8Model(f16.path);
  if (q8 === null) {
    console.error('soak: whisper-quantize is not built, so there is no q8_0 model: refusing to run (npm run whisper:build)');
    return 1;
  }
  const work = await mkdtemp(join(tmpdir(), 'scout-soak-'));
  const dataDir = join(work, 'data');
  mkdirSync(dataDir);
  const logPath = join(work, 'service.log');
  log(`soak: work dir ${work} (service log: ${logPath})`);
  log('soak: speech clips (espeak-ng + sox) ...');
  const clips = await makeClips(mix.map((e) => e.kind), work);
  // Its own build per run, so two soaks (or a soak and a benchmark) never compile into each other.
  const buildName = `soak-${process.pid}`;
  log(`soak: building the service (tsc -> .cache/bench/${buildName}/dist) ...`);
  const mainJs = await buildApp(buildName, log);
  const underSystemd = !args.direct && (await canUseSystemd());
  if (underSystemd === null) return 1;
  const mic = await startPulseFakeMic({ sampleRateHz: 48_000, channels: 1 }, { openToAll: underSystemd });
  const unitPath = join(repoDir, 'systemd', 'scout.service');
  const engineNiceness = Math.round(number('engine-nice', args['engine-nice']));
  let service: Service | null = null;
  try {
    service = underSystemd
      ? await startSystemdService({ mainJs, unitPath, modelPath: q8, pulseDir: mic.dir, workDir: work, engineNiceness, log })
      : await startService({
          mainJs,
          unitPath,
          dataDir,
          modelPath: q8,
          micEnv: { XDG_RUNTIME_DIR: mic.env['XDG_RUNTIME_DIR'], PULSE_SERVER: mic.env['PULSE_SERVER'], HOME: mic.env['HOME'] },
          engineNiceness,
          logPath,
        });
    return await soak(service, mic, plan, clips, { recordings, seed, mixSpec, budgetMb, maxSlope, minTrendCycles, wallStart, work, q8 });
  } finally {
    await service?.stop();
    await mic.stop();
    if (!args.keep) {
      await rm(dataDir, { recursive: true, force: true });
      await rm(dirname(dirname(dirname(mainJs))), { recursive: true, force: true });
    }
  }
}

/**
 * Whether the service can run under systemd here. Without root or namespaces the soak runs it as
 * its own child and says so, except in CI (SCOUT_REQUIRE_ALL=1), where that would hide a layer:
 * null means refuse.
 */
async function canUseSystemd(): Promise<boolean | null> {
  const reason = await systemdNsUnavailableReason();
  if (reason === null) return true;
  if (process.env['SCOUT_REQUIRE_ALL'] === '1') {
    console.error(`soak: cannot run the service under systemd (${reason}) and SCOUT_REQUIRE_ALL=1: refusing to run it any other way`);
    return null;
  }
  log(`soak: cannot run the service under systemd here (${reason}): running it as a direct child instead (--direct)`);
  return false;
}

interface SoakSettings {
  readonly recordings: number;
  readonly seed: number;
  readonly mixSpec: string;
  readonly budgetMb: number;
  readonly maxSlope: number;
  readonly minTrendCycles: number;
  readonly wallStart: number;
  readonly work: string;
  readonly q8: string;
}

function describeModel(model: LoadedModel): string {
  const types = Object.entries(model.tensorTypes)
    .map(([t, n]) => `${n} ${t}`)
    .join(', ');
  return `${basename(model.engineFile)} (state: ${model.statePath}${model.placeholder ? ', PLACEHOLDER' : ''}; tensors: ${types}; ftype ${model.ftype})`;
}

async function soak(service: Service, mic: PulseFakeMic, plan: readonly PlannedCycle[], clips: Map<string, string>, settings: SoakSettings): Promise<number> {
  log(`soak: service pid ${service.pid}: ${service.how}; config ${JSON.stringify(service.config)}`);
  const firstEngine = service.enginePid();
  const model = firstEngine === undefined ? null : await loadedModel(service, firstEngine);
  if (!model?.isQ8) {
    console.error(`soak: the engine did not load the q8_0 model (${model ? describeModel(model) : 'no whisper-server'}): refusing to report`);
    return 1;
  }
  log(`soak: the engine (whisper-server pid ${firstEngine}) loaded ${describeModel(model)}`);
  const before = await counters(service);
  const startedAtMs = Date.now();
  const sampler = new RssSampler(service, startedAtMs);
  const clients = new ApiClients(service);
  await clients.start();
  sampler.start(1000);
  const progress = new Progress(plan.length);
  const cycles: CycleRecord[] = [];
  const idleSamples: { x: number; y: number }[] = [];
  // The service's own view at the same idle point: a JS leak shows in the V8 heap in use; RSS
  // rising with a flat heap is the allocator or V8 keeping freed pages, not lost objects.
  const heapSamples: { x: number; heapUsedMb: number; heapTotalMb: number; externalMb: number; spacesMb: Record<string, number> }[] = [];
  const heapSample = async (x: number): Promise<void> => {
    try {
      const metrics = parseMetrics((await service.api<string>('/metrics')).body);
      const mb = (name: string): number => (metrics.get(name) ?? Number.NaN) / 1_048_576;
      // Which of V8's spaces holds the capacity (old, code, large objects, ...), for the JSON.
      const spacesMb: Record<string, number> = {};
      for (const [series, value] of metrics) {
        const space = /^nodejs_heap_space_size_total_bytes\{space="([^"]+)"\}$/.exec(series)?.[1];
        if (space !== undefined) spacesMb[space] = value / 1_048_576;
      }
      heapSamples.push({ x, heapUsedMb: mb('nodejs_heap_size_used_bytes'), heapTotalMb: mb('nodejs_heap_size_total_bytes'), externalMb: mb('nodejs_external_memory_bytes'), spacesMb });
    } catch {
      // A missed sample only thins the series.
    }
  };
  const heldTotal = plannedSeconds(plan) * 1000;
  let heldSoFar = 0;
  const latencySoFar = (): number[] =>
    cycles.flatMap((c) => {
      const seen = c.id === null ? undefined : clients.finalSeenAtMs.get(c.id);
      return seen && c.releaseAtMs !== null && seen.status === 'transcribed' ? [seen.atMs - c.releaseAtMs] : [];
    });
  const note = (): string => {
    const last = sampler.samples.at(-1);
    const p = percentiles(latencySoFar());
    return `rss ${last ? mbOf(last.serviceKb + last.engineKb) : '-'} MB, release->transcript p50 ${Number.isFinite(p.p50) ? (p.p50 / 1000).toFixed(1) : '-'} s`;
  };
  progress.update(0, 0, heldTotal, note());
  let crashedAt: number | null = null;
  for (const cycle of plan) {
    if (service.exitInfo() !== null) {
      crashedAt = cycle.index;
      break;
    }
    sampler.cycle = cycle.index;
    // Idle, just before the press: the same point of every cycle, for the trend.
    const idle = sampler.take();
    if (idle) idleSamples.push({ x: cycle.index, y: (idle.serviceKb + idle.engineKb) / 1024 });
    await heapSample(cycle.index);
    cycles.push(await runCycle(service, mic, cycle, clips));
    await sleep(cycle.gapMs);
    heldSoFar += cycle.kind.seconds * 1000 + cycle.gapMs;
    const elapsed = Date.now() - startedAtMs;
    progress.update(cycle.index + 1, elapsed, Math.max(0, (heldTotal - heldSoFar) * (elapsed / Math.max(1, heldSoFar))), `${cycle.kind.label}; ${note()}`);
  }
  progress.done();
  const cyclesDoneAtMs = Date.now();
  const ids = cycles.flatMap((c) => (c.id === null ? [] : [c.id]));
  const drainTimeoutMs = number('drain-timeout-s', args['drain-timeout-s']) * 1000;
  let lastOpen = -1;
  const stillOpen = await drain(service, ids, drainTimeoutMs, (open) => {
    if (open !== lastOpen && open > 0) process.stderr.write(`soak: waiting for ${open} take(s) to be transcribed\n`);
    lastOpen = open;
  });
  // Let the last transcript's memory settle the way it does between takes.
  await sleep(2000);
  sampler.stop();
  const exit = service.exitInfo();
  const crashed = exit !== null;
  const checks: TakeCheck[] = [];
  if (!crashed) for (const cycle of cycles) checks.push(await checkTake(service, cycle));
  const summary = crashed ? null : await service.api<{ recordings: { count: number } }>('/api/summary').then((r) => r.body.recordings.count).catch(() => null);
  const after = crashed ? null : await counters(service);
  const unitRestarts = await service.restarts().catch(() => Number.NaN);
  const cgroup = service.cgroupMemory();
  const lastEngine = service.enginePid();
  const finalModel = lastEngine === undefined ? null : await loadedModel(service, lastEngine);
  clients.stop();

  const delta = (key: MetricName): number | null => (before && after ? after[key] - before[key] : null);
  const byVerdict = (v: TakeCheck['verdict']): TakeCheck[] => checks.filter((c) => c.verdict === v);
  const lost = crashed ? cycles.length : byVerdict('lost').length + byVerdict('truncated').length;
  const unfinished = byVerdict('unfinished').length;
  const cycleProblems = cycles.filter((c) => c.problem !== null);
  const sums = sampler.samples.map((s) => ({ x: s.atMs, y: (s.serviceKb + s.engineKb) / 1024, s }));
  const peak = sums.reduce((best, p) => (p.y > best.y ? p : best), { x: 0, y: 0, s: sampler.samples[0] });
  const peakAnonMb = mbOf(sampler.samples.reduce((m, s) => Math.max(m, s.anonKb), 0));
  const timeTrend = linearTrend(secondHalf(sums.filter((p) => p.x <= cyclesDoneAtMs - startedAtMs)).map((p) => ({ x: p.x / 3_600_000, y: p.y })));
  const cycleTrend = linearTrend(secondHalf(idleSamples).map((p) => ({ x: p.x / 100, y: p.y })));
  const trend = judgeTrend(cycleTrend, settings.maxSlope, settings.minTrendCycles);
  const heapTrend = (pick: (h: (typeof heapSamples)[number]) => number): ReturnType<typeof linearTrend> => linearTrend(secondHalf(heapSamples.filter((h) => Number.isFinite(pick(h)))).map((h) => ({ x: h.x / 100, y: pick(h) })));
  const heapUsedTrend = heapTrend((h) => h.heapUsedMb);
  const heapTotalTrend = heapTrend((h) => h.heapTotalMb);
  const externalTrend = heapTrend((h) => h.externalMb);
  const latency = percentiles(latencySoFar());
  const latencyByKind = new Map<string, number[]>();
  for (const c of cycles) {
    const seen = c.id === null ? undefined : clients.finalSeenAtMs.get(c.id);
    if (!seen || c.releaseAtMs === null || seen.status !== 'transcribed') continue;
    latencyByKind.set(c.kind, [...(latencyByKind.get(c.kind) ?? []), seen.atMs - c.releaseAtMs]);
  }
  const viaPoll = cycles.filter((c) => c.id !== null && clients.finalSeenAtMs.get(c.id)?.via === 'poll').length;
  const emptySpeech = checks.filter((c) => c.verdict === 'ok' && c.kind !== 'silence' && (c.transcriptChars ?? 0) === 0).length;
  const api = clients.totals();
  const engineRestarts = delta('engineRestarts');
  const fatal = delta('fatalErrors');
  const crashes = (crashed ? 1 : 0) + (fatal ?? 0) + (engineRestarts ?? 0) + (Number.isFinite(unitRestarts) ? unitRestarts : 0);
  const peakMb = Math.round(peak.y * 10) / 10;
  const modelOk = finalModel?.isQ8 === true;
  const failures: string[] = [];
  if (crashed) failures.push(`the service exited (code ${exit.code}, signal ${exit.signal}) at cycle ${crashedAt ?? cycles.length}`);
  if (fatal !== null && fatal > 0) failures.push(`${fatal} fatal error(s) counted`);
  if (engineRestarts !== null && engineRestarts > 0) failures.push(`whisper-server restarted ${engineRestarts} time(s)`);
  if (!Number.isFinite(unitRestarts) || unitRestarts > 0) failures.push(`systemd restarted the service ${unitRestarts} time(s)`);
  if (lost > 0) failures.push(`${lost} take(s) lost or truncated`);
  if (unfinished > 0) failures.push(`${unfinished} take(s) unfinished after ${drainTimeoutMs / 1000} s`);
  if (cycleProblems.length > 0) failures.push(`${cycleProblems.length} cycle(s) with a problem`);
  if (summary !== null && summary !== ids.length) failures.push(`the service holds ${summary} recordings, ${ids.length} were pressed`);
  if (peakMb > settings.budgetMb) failures.push(`summed peak RSS ${peakMb} MB > ${settings.budgetMb} MB`);
  if (trend.verdict === 'upward') failures.push(`RSS trends upward in the second half: ${trend.reason}`);
  if (!modelOk) failures.push('the engine no longer runs the q8_0 model at the end');

  const wallMs = Date.now() - settings.wallStart;
  const fmt = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '-');
  log('');
  log(`## Soak: ${cycles.length}/${plan.length} cycles, mix ${settings.mixSpec}, seed ${settings.seed}`);
  log('');
  log(`- model the engine loaded: ${finalModel ? describeModel(finalModel) : '(no engine)'}`);
  log(`- service: ${service.how}; capture: arecord -D pulse (PulseAudio null-sink monitor, real time), speech by paplay`);
  log(`- wall time ${formatDuration(wallMs)} (cycles ${formatDuration(cyclesDoneAtMs - startedAtMs)}); load average at the end ${loadAverage()}`);
  log(`- crashes: ${crashes} (service exits ${crashed ? 1 : 0}, systemd restarts ${unitRestarts}, fatal errors ${fatal ?? '?'}, whisper-server restarts ${engineRestarts ?? '?'}; engine pids seen ${sampler.enginePids.size})`);
  log(`- restarts: capture (arecord) ${delta('captureRestarts') ?? '?'}, engine ${engineRestarts ?? '?'}; overruns ${delta('overruns') ?? '?'}; SSE clients dropped ${delta('sseDropped') ?? '?'}, SSE reconnects ${clients.sseReconnects}`);
  log(`- takes: ${ids.length} started, ${byVerdict('ok').length} transcribed, ${byVerdict('failed-with-reason').length} failed with a reason, ${lost} lost/truncated, ${unfinished} unfinished, ${stillOpen.length} open at the drain deadline; the service lists ${summary ?? '?'}`);
  log(`- speech takes transcribed to empty text: ${emptySpeech} (the generated model's text is not real words; silence is gated)`);
  log(`- summed RSS (service + whisper-server, VmRSS every 1 s, ${sums.length} samples): peak ${peakMb} MB (service ${mbOf(peak.s?.serviceKb ?? 0)} + engine ${mbOf(peak.s?.engineKb ?? 0)}) at cycle ${peak.s?.cycle ?? '-'}, budget ${settings.budgetMb} MB; peak anonymous (RssAnon) sum ${peakAnonMb} MB`);
  log(`- RSS trend over the second half: ${cycleTrend.slope.toFixed(2)} ± ${cycleTrend.slopeStdError.toFixed(2)} MB per 100 cycles (idle samples before each press, n=${cycleTrend.n}); ${timeTrend.slope.toFixed(1)} MB/hour (all samples); verdict ${trend.verdict} (${trend.reason})`);
  if (cgroup) {
    const mib = (b: number | null): string => (b === null ? 'none' : `${(b / 1_048_576).toFixed(1)} MB`);
    log(`- the unit's memory cgroup (v${cgroup.version} ${cgroup.path}): limit ${mib(cgroup.limitBytes)}, peak charge ${mib(cgroup.peakBytes)} (every process in the unit plus the page cache it touched; reclaimable), limit reached ${cgroup.limitHits} time(s)`);
  }
  const lastHeap = heapSamples.at(-1);
  const perHundred = (t: ReturnType<typeof linearTrend>): string => `${t.slope.toFixed(2)} ± ${t.slopeStdError.toFixed(2)}`;
  log(
    `- the service's V8 heap at the same points (MB per 100 cycles, second half, n=${heapUsedTrend.n}): used ${perHundred(heapUsedTrend)}, total ${perHundred(heapTotalTrend)}, external ${perHundred(externalTrend)}` +
      (lastHeap ? `; at the end used ${lastHeap.heapUsedMb.toFixed(1)} MB of ${lastHeap.heapTotalMb.toFixed(1)} MB, external ${lastHeap.externalMb.toFixed(1)} MB` : ''),
  );
  log(`- release -> transcript (SSE or list poll, ${viaPoll} via poll): p50 ${fmt(latency.p50)}, p95 ${fmt(latency.p95)}, max ${fmt(latency.max)} (n=${latency.n})`);
  for (const [kind, values] of latencyByKind) {
    const p = percentiles(values);
    log(`  - ${kind}: p50 ${fmt(p.p50)}, p95 ${fmt(p.p95)}, max ${fmt(p.max)} (n=${p.n})`);
  }
  log(`- API clients: ${api.requests} requests, ${api.failures} failed, /healthz unhealthy ${api.unhealthy}; SSE events ${clients.sseEvents}`);
  const problems = [...service.problems.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  log(`- service log warnings/errors: ${problems.length === 0 ? 'none' : problems.map(([m, n]) => `${n} x "${m}"`).join('; ')}`);
  for (const c of checks.filter((c) => c.verdict !== 'ok').slice(0, 10)) log(`  - cycle ${c.index} (${c.kind}) ${c.id ?? ''}: ${c.verdict}: ${c.detail}`);
  for (const c of cycleProblems.slice(0, 10)) log(`  - cycle ${c.index} (${c.kind}): ${c.problem}`);
  log('');
  log(failures.length === 0 ? 'soak: PASS' : `soak: FAIL: ${failures.join('; ')}`);

  if (args.json !== undefined) {
    mkdirSync(dirname(args.json), { recursive: true });
    const figures = {
      soak: 'scout',
      at: new Date().toISOString(),
      node: process.version,
      settings: { recordings: settings.recordings, mix: settings.mixSpec, seed: settings.seed, budgetMb: settings.budgetMb, maxSlopeMbPer100Cycles: settings.maxSlope, minTrendCycles: settings.minTrendCycles, nodeFlags: service.flags, config: service.config },
      model: finalModel,
      wallMs,
      cyclesMs: cyclesDoneAtMs - startedAtMs,
      crashes,
      service: service.how,
      unitRestarts,
      cgroup,
      serviceExit: exit,
      counters: { before, after },
      takes: { started: ids.length, listed: summary, ok: byVerdict('ok').length, failedWithReason: byVerdict('failed-with-reason').length, lost, unfinished, emptySpeech },
      rss: { peakMb, peakAnonMb, peakServiceMb: mbOf(peak.s?.serviceKb ?? 0), peakEngineMb: mbOf(peak.s?.engineKb ?? 0), budgetMb: settings.budgetMb, slopeMbPer100Cycles: cycleTrend, slopeMbPerHour: timeTrend, trend, heap: { usedMbPer100Cycles: heapUsedTrend, totalMbPer100Cycles: heapTotalTrend, externalMbPer100Cycles: externalTrend, samples: heapSamples } },
      latencyMs: { all: latency, byKind: Object.fromEntries([...latencyByKind].map(([k, v]) => [k, percentiles(v)])) },
      api: { ...api, perClient: Object.fromEntries(clients.counts), sseEvents: clients.sseEvents, sseReconnects: clients.sseReconnects },
      failures,
      cycles,
      checks,
      samples: sampler.samples,
    };
    writeFileSync(args.json, JSON.stringify(figures, null, 1) + '\n');
    log(`wrote ${args.json}`);
  }
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
