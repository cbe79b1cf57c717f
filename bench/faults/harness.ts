/**
 * What every fault scenario does to the service from outside: start the compiled service
 * (`node --max-semi-space-size=2 dist/src/main.js`, the way systemd runs it) with a config file,
 * make takes over HTTP, read /healthz, /api/state and /metrics, find its children, and judge
 * recovery and loss by what the API and the files on disk say, never by sleeping.
 */
import { copyFile, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseWavHeader } from '../../src/audio/wav.js';
import type { Recording } from '../../src/domain/recording.js';
import { sleep } from '../../src/util/sleep.js';
import { PROJECT_ROOT, startScout, waitFor, type ScoutProcess } from '../../test/helpers/scout-process.js';
import type { EnsuredModel } from '../../test/helpers/whisper.js';
import { RECOVERY_LIMIT_MS } from './verdict.js';

export const DIST_MAIN = join(PROJECT_ROOT, 'dist/src/main.js');
export const NORMAL_MODEL = 'ggml-tiny.en-q8_0.bin';
export const RATE_HZ = 16_000;
export const FLUSH_INTERVAL_MS = 1000;
/** Capture chunks, the writer's batching and HTTP round trips on a loaded 2-core box. */
export const LOSS_TOLERANCE_MS = 250;
export const TAKE_HOLD_MS = 2000;

/** What every scenario is given: built once per run. */
export interface RunContext {
  /** A temp dir of the run's own (removed at the end). */
  readonly work: string;
  readonly whisperServer: string;
  readonly model: EnsuredModel;
  /** The simulator mic's clip (16 kHz mono speech-like). */
  readonly clipPath: string;
  /** A spoken English WAV at 48 kHz stereo for the PulseAudio fake mic. */
  readonly speech48kPath: string;
  log(message: string): void;
}

export interface HealthBody {
  readonly status: string;
  readonly checks: Readonly<Record<string, { readonly status: string; readonly message: string }>>;
}
export interface StateBody {
  readonly appliance: { readonly phase: string; readonly recordingId: string | null; readonly faults: readonly string[]; readonly lastEvent: string | null; readonly savesInFlight: number };
  readonly audio: { readonly state: string; readonly restarts: number };
  readonly transcription?: {
    readonly queue: { readonly queueSize: number; readonly breaker: string };
    readonly engine: { readonly state: string; readonly restarts: number; readonly lastError: string | null };
  };
}
export type RecordingBody = Recording & { readonly transcript?: { readonly state: string; readonly text?: string } };

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `base` with `over` laid on top, objects merged key by key. */
export function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? merge(current, value) : value;
  }
  return out;
}

/** The settings every scenario shares: quick checks, a quick breaker, attempts enough never to fail a job during a fault. */
export function baseConfig(ctx: RunContext, over: Json = {}): Json {
  return merge(
    {
      audio: { backend: 'fake', sampleRateHz: 16000, channels: 1, periodMs: 20, simAudioPath: ctx.clipPath },
      recorder: { preRollMs: 200, flushIntervalMs: FLUSH_INTERVAL_MS },
      ops: { resourceSampleMs: 250, healthCacheMs: 0, storageCheckMs: 200 },
      transcription: {
        serverPath: ctx.whisperServer,
        threads: 1,
        adaptive: false,
        catchUp: false,
        placeholderModel: false,
        minSpeechMs: 1000,
        maxWindowMs: 5000,
        requestTimeoutMs: 10_000,
        readyTimeoutMs: 10_000,
        breakerFailures: 2,
        breakerResetMs: 1500,
        maxAttempts: 20,
        retryInitialMs: 10,
        retryMaxMs: 500,
      },
    },
    over,
  );
}

/** The generated model installed as the normal tier of a data dir. */
export async function installModel(dataDir: string, model: EnsuredModel): Promise<string> {
  const dir = join(dataDir, 'models');
  await mkdir(dir, { recursive: true });
  const path = join(dir, NORMAL_MODEL);
  await copyFile(model.path, `${path}.tmp`);
  await rename(`${path}.tmp`, path);
  return path;
}

export interface ServiceOptions {
  readonly dataDir: string;
  readonly config: Json;
  /** Where the config file goes: outside the data dir (it may be read-only or full). */
  readonly configPath: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Node options before the script (e.g. `--import <preload>`). */
  readonly preload?: readonly string[];
}

/** The compiled service, as systemd runs it, with its config file. */
export async function startService(options: ServiceOptions): Promise<ScoutProcess> {
  await writeFile(options.configPath, JSON.stringify(options.config));
  return startScout({
    dataDir: options.dataDir,
    env: { ...options.env, SCOUT_CONFIG: options.configPath },
    // SCOUT_FAULTS_FROM_SOURCE=1 runs src/ through tsx instead (checking a fix without a build).
    nodeArgs: [...(options.preload ?? []), '--max-semi-space-size=2', ...(process.env['SCOUT_FAULTS_FROM_SOURCE'] === '1' ? ['--import', 'tsx', join(PROJECT_ROOT, 'src/main.ts')] : [DIST_MAIN])],
    startTimeoutMs: 60_000,
  });
}

export async function state(s: ScoutProcess): Promise<StateBody> {
  return (await s.api<StateBody>('/api/state')).body;
}

export async function health(s: ScoutProcess): Promise<{ status: number; body: HealthBody }> {
  return s.api<HealthBody>('/healthz');
}

export async function recording(s: ScoutProcess, id: string): Promise<RecordingBody | null> {
  const answer = await s.api<RecordingBody>(`/api/recordings/${id}`);
  return answer.status === 200 ? answer.body : null;
}

/** One sample of a metric from the Prometheus text (0 when absent). */
export async function metric(s: ScoutProcess, name: string, labels = ''): Promise<number> {
  const { body } = await s.api<string>('/metrics');
  const line = body.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** The checks healthy now: after a fault, these must be healthy again. */
export async function healthyChecks(s: ScoutProcess): Promise<Set<string>> {
  const report = await health(s);
  return new Set(Object.entries(report.body.checks).filter(([, c]) => c.status === 'healthy').map(([name]) => name));
}

/** Health is ok: HTTP 200 and every check healthy at the baseline is healthy again. */
export async function healthOk(s: ScoutProcess, baseline: ReadonlySet<string>): Promise<boolean> {
  const report = await health(s);
  if (report.status !== 200) return false;
  return [...baseline].every((name) => report.body.checks[name]?.status === 'healthy');
}

export interface StartedTake {
  readonly id: string;
  /** performance.now() when the press was answered: the take's audio runs at least from here. */
  readonly pressedAtMs: number;
}

/** Press and wait until the appliance records; the id of the take. */
export async function startTake(s: ScoutProcess, timeoutMs = 5000): Promise<StartedTake> {
  const status = await s.button('toggle');
  if (status !== 202) throw new Error(`the button answered ${status}`);
  const pressedAtMs = performance.now();
  const id = await waitFor(async () => {
    const now = await state(s);
    return now.appliance.phase === 'recording' ? now.appliance.recordingId : null;
  }, timeoutMs, 20);
  return { id, pressedAtMs };
}

/** Press again and wait until the take is saved (its row no longer 'recording'). */
export async function stopTake(s: ScoutProcess, id: string, timeoutMs = 15_000): Promise<RecordingBody> {
  const status = await s.button('toggle');
  if (status !== 202) throw new Error(`the button answered ${status}`);
  return waitFor(async () => {
    const body = await recording(s, id);
    return body !== null && body.status !== 'recording' ? body : null;
  }, timeoutMs, 50);
}

/** A whole take: press, hold, press; saved. */
export async function take(s: ScoutProcess, holdMs = TAKE_HOLD_MS): Promise<string> {
  const { id } = await startTake(s);
  await sleep(holdMs);
  await stopTake(s, id);
  return id;
}

/**
 * The take is transcribed (its transcript done), or null after the timeout. The text may be
 * empty: a take cut short can hold only a pause of the clip, which the silence gate answers with
 * no text.
 */
export async function transcribed(s: ScoutProcess, id: string, timeoutMs: number): Promise<RecordingBody | null> {
  try {
    return await waitFor(async () => {
      const body = await recording(s, id);
      return body?.status === 'transcribed' && body.transcript?.state === 'done' && typeof body.transcript.text === 'string' ? body : null;
    }, timeoutMs, 100);
  } catch {
    return null;
  }
}

export interface Recovery {
  readonly recovered: boolean;
  readonly recoveryMs: number | null;
  /** The take made to prove it, when one was made. */
  readonly proofId: string | null;
  readonly why: string | null;
}

/**
 * From `sinceMs` (performance.now() when the fault cleared or was injected): health ok again,
 * then a new take recorded and transcribed, all before `sinceMs + limitMs`. `extra` is awaited
 * too (e.g. the takes made during the fault transcribed) and must say true.
 */
export async function awaitRecovery(
  s: ScoutProcess,
  baseline: ReadonlySet<string>,
  sinceMs: number,
  extra: (remainingMs: number) => Promise<boolean> = () => Promise.resolve(true),
  limitMs = RECOVERY_LIMIT_MS,
): Promise<Recovery> {
  const deadline = sinceMs + limitMs;
  const remaining = (): number => Math.max(0, deadline - performance.now());
  try {
    await waitFor(() => healthOk(s, baseline), remaining(), 50);
  } catch {
    const report = await health(s).catch(() => null);
    const bad = report ? Object.entries(report.body.checks).filter(([, c]) => c.status !== 'healthy').map(([n, c]) => `${n}: ${c.message}`) : [];
    return { recovered: false, recoveryMs: null, proofId: null, why: `health not ok within ${limitMs} ms (${report?.status ?? 'no answer'}; ${bad.join('; ')})` };
  }
  if (!(await extra(remaining()))) return { recovered: false, recoveryMs: null, proofId: null, why: `the takes made during the fault were not transcribed within ${limitMs} ms` };
  let proofId: string | null = null;
  try {
    proofId = await take(s, 1500);
  } catch (error) {
    return { recovered: false, recoveryMs: null, proofId: null, why: `a new take failed: ${String(error)}` };
  }
  const done = await transcribed(s, proofId, remaining());
  if (done === null) return { recovered: false, recoveryMs: null, proofId, why: `a new take was not transcribed within ${limitMs} ms` };
  // 1.5 s of the clip always holds speech: an empty transcript here would mean a broken engine.
  if ((done.transcript?.text ?? '').trim() === '') return { recovered: false, recoveryMs: null, proofId, why: 'a new take was transcribed to nothing' };
  return { recovered: true, recoveryMs: performance.now() - sinceMs, proofId, why: null };
}

/** Takes the API no longer shows as transcribed (or at all): lost rows. Waits up to `timeoutMs` for pending transcripts. */
export async function missingTakes(s: ScoutProcess, ids: readonly string[], timeoutMs = 20_000): Promise<string[]> {
  const deadline = performance.now() + timeoutMs;
  const missing: string[] = [];
  for (const id of ids) {
    const done = await transcribed(s, id, Math.max(500, deadline - performance.now()));
    if (done === null) missing.push(id);
  }
  return missing;
}

/** Audio held by a recording's WAV (by its header), in ms. */
export async function wavAudioMs(dataDir: string, id: string): Promise<number> {
  const bytes = await readFile(join(dataDir, 'recordings', `${id}.wav`));
  const header = parseWavHeader(bytes);
  const data = Math.min(header.declaredDataBytes, bytes.length - header.dataOffset);
  return (data / 2 / header.format.sampleRateHz / header.format.channels) * 1000;
}

/** The service broke in a way no fault excuses: it exited, or an uncaught error or fatal line reached its output. */
export function crashProblem(s: ScoutProcess): string | null {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return `the service exited (${s.child.exitCode ?? s.child.signalCode})`;
  if (/uncaught|unhandled/i.test(s.stderr())) return `stderr: ${s.stderr().slice(-300)}`;
  const fatal = s.logLines.find((line) => line.level === 'fatal' || line.level === 60);
  return fatal ? `fatal log line: ${String(fatal.msg)}` : null;
}

/** Direct children of a process with this command name (from /proc), newest last. */
export async function childPids(parentPid: number, comm: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parentPid && name === comm.slice(0, 15)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found.sort((a, b) => a - b);
}

export async function waitChild(parentPid: number, comm: string, notPid: number | null, timeoutMs = 30_000): Promise<number> {
  return waitFor(async () => (await childPids(parentPid, comm)).find((pid) => pid !== notPid) ?? null, timeoutMs, 50);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A service with the real whisper-server and the generated model, one take made and transcribed (the data at risk). */
export interface RealService {
  service: ScoutProcess;
  readonly dir: string;
  readonly dataDir: string;
  readonly configPath: string;
  readonly modelPath: string;
  readonly config: Json;
  readonly baseline: ReadonlySet<string>;
  /** Takes seen saved and transcribed: each must stay so. */
  readonly known: string[];
}

export interface RealServiceOptions {
  readonly config?: Json;
  readonly env?: NodeJS.ProcessEnv;
  readonly preload?: readonly string[];
  /** Where the data dir goes (default <work>/<name>/data). */
  readonly dataDir?: string;
}

export async function startRealService(ctx: RunContext, name: string, options: RealServiceOptions = {}): Promise<RealService> {
  const dir = join(ctx.work, name);
  const dataDir = options.dataDir ?? join(dir, 'data');
  await mkdir(dir, { recursive: true });
  await mkdir(dataDir, { recursive: true });
  const modelPath = await installModel(dataDir, ctx.model);
  const config = baseConfig(ctx, options.config ?? {});
  const configPath = join(dir, 'scout.json');
  const service = await startService({ dataDir, config, configPath, ...(options.env ? { env: options.env } : {}), ...(options.preload ? { preload: options.preload } : {}) });
  await waitFor(async () => {
    const now = await state(service);
    return now.transcription?.engine.state === 'ready' && now.audio.state === 'running';
  }, 30_000);
  const first = await take(service);
  if ((await transcribed(service, first, 30_000)) === null) throw new Error('the first take was not transcribed before any fault');
  return { service, dir, dataDir, configPath, modelPath, config, baseline: await healthyChecks(service), known: [first] };
}

/** The same service again on the same data dir (after a stop or a kill). */
export async function restartRealService(real: RealService, options: RealServiceOptions = {}): Promise<ScoutProcess> {
  real.service = await startService({ dataDir: real.dataDir, config: real.config, configPath: real.configPath, ...(options.env ? { env: options.env } : {}), ...(options.preload ? { preload: options.preload } : {}) });
  return real.service;
}

/** Ends a take the service may have ended itself (a fault that stops recording): presses only while it still records this one. */
export async function endTake(s: ScoutProcess, id: string): Promise<{ body: RecordingBody; endedByService: boolean }> {
  const now = await state(s);
  if (now.appliance.phase === 'recording' && now.appliance.recordingId === id) return { body: await stopTake(s, id), endedByService: false };
  const body = await waitFor(async () => {
    const row = await recording(s, id);
    return row !== null && row.status !== 'recording' ? row : null;
  }, 15_000, 50);
  return { body, endedByService: true };
}
