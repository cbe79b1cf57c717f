/**
 * Engine faults under the REAL service (simulator mic, the button over HTTP): an inference that
 * hangs, a garbage answer and a 5xx from a stand-in whisper-server (the witness, its faults
 * switched at run time through its fault file), then a model the real whisper-server rejects at
 * start (a crash loop). For each: the errors are counted in /metrics, the breaker opens, the take
 * waits in the queue (never failed), /healthz and the status LED say degraded and why; once the
 * fault clears everything recovers within a bounded time and every take made is transcribed.
 */
import { speechLike } from '../helpers/signal.js';
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LED_PATTERNS } from '../../src/ops/led-language.js';
import { encodeWav } from '../../src/audio/wav.js';
import type { Recording } from '../../src/domain/recording.js';
import { GGML_MAGIC } from '../../src/transcribe/model-file.js';
import { sleep } from '../../src/util/sleep.js';
import { startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';
import { ensureModel, ensureWhisperBuilt } from '../helpers/whisper.js';
import { makeWitness, type Witness, type WitnessFault } from '../helpers/witness.js';

const RATE_HZ = 16000;
const NORMAL_MODEL = 'ggml-tiny.en-q8_0.bin';
/** Faults are short here: the breaker probes every 1.5 s, so recovery is bounded by a few seconds. */
const RECOVERY_MS = 15_000;

interface CheckReport {
  readonly status: string;
  readonly message: string;
}
interface HealthBody {
  readonly status: string;
  readonly checks: Readonly<Record<string, CheckReport>>;
}
interface StateBody {
  readonly appliance: { readonly phase: string; readonly recordingId: string | null; readonly leds: Readonly<Record<string, unknown>> };
  readonly transcription: {
    readonly queue: { readonly queueSize: number; readonly breaker: string };
    readonly engine: { readonly state: string; readonly restarts: number; readonly lastError: string | null };
  };
}
type RecordingBody = Recording & { readonly transcript: { readonly state: string; readonly text?: string; readonly windowsDone?: number } };

/** One sample of a metric from the Prometheus text (0 when absent). */
async function metric(scout: ScoutProcess, name: string, labels = ''): Promise<number> {
  const { body } = await scout.api<string>('/metrics');
  const line = body.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

async function state(scout: ScoutProcess): Promise<StateBody> {
  return (await scout.api<StateBody>('/api/state')).body;
}

async function health(scout: ScoutProcess): Promise<{ status: number; body: HealthBody }> {
  return scout.api<HealthBody>('/healthz');
}

async function recording(scout: ScoutProcess, id: string): Promise<RecordingBody> {
  return (await scout.api<RecordingBody>(`/api/recordings/${id}`)).body;
}

/** A take with the button: press, `holdMs`, press again. Returns its id once it is saved. */
async function take(scout: ScoutProcess, holdMs: number): Promise<string> {
  expect(await scout.button('toggle')).toBe(202);
  const id = await waitFor(async () => (await state(scout)).appliance.recordingId, 5000, 20);
  await sleep(holdMs);
  expect(await scout.button('toggle')).toBe(202);
  await waitFor(async () => (await recording(scout, id)).status !== 'recording', 10_000, 50);
  return id;
}

/** While the engine is faulted: the take waits (queued, not failed, no transcript), the breaker is open, health and LED say degraded. */
async function expectTakeWaits(scout: ScoutProcess, id: string, problem: RegExp): Promise<void> {
  await waitFor(async () => (await state(scout)).transcription.queue.breaker === 'open', 20_000, 25);
  expect([1, 2]).toContain(await metric(scout, 'scout_transcription_breaker_state'));
  const queued = await state(scout);
  expect(queued.transcription.queue.queueSize).toBeGreaterThan(0);
  const waiting = await recording(scout, id);
  expect(waiting.status).toBe('transcribing');
  expect(waiting.transcript).toMatchObject({ state: 'partial', windowsDone: 0 });
  const report = await health(scout);
  // Degraded, not down: the box still records.
  expect(report.status).toBe(200);
  expect(report.body.status).toBe('degraded');
  expect(report.body.checks['transcription']?.status).toBe('degraded');
  expect(report.body.checks['transcription']?.message).toMatch(/breaker (open|halfOpen)/);
  // ...and names what went wrong.
  expect(report.body.checks['transcription']?.message).toMatch(problem);
  // The fault review runs every ops.resourceSampleMs; the LED follows the fault: code 5, engine down.
  await waitFor(async () => JSON.stringify((await state(scout)).appliance.leds['status']) === JSON.stringify(LED_PATTERNS.engineDown), 5000, 25);
}

/** After the fault: the take is transcribed, the breaker closed, the queue empty, health and LED back. */
async function expectRecovered(scout: ScoutProcess, id: string, baselineHealth: string): Promise<RecordingBody> {
  const done = await waitFor(async () => {
    const body = await recording(scout, id);
    return body.status === 'transcribed' ? body : null;
  }, RECOVERY_MS, 50);
  expect(done.transcript.state).toBe('done');
  expect(done.transcript.text?.length).toBeGreaterThan(0);
  await waitFor(async () => {
    const now = await state(scout);
    return now.transcription.queue.breaker === 'closed' && now.transcription.queue.queueSize === 0;
  }, RECOVERY_MS, 50);
  expect(await metric(scout, 'scout_transcription_breaker_state')).toBe(0);
  await waitFor(async () => {
    const report = await health(scout);
    return report.body.checks['transcription']?.status === 'healthy' && report.body.status === baselineHealth;
  }, RECOVERY_MS, 50);
  await waitFor(async () => JSON.stringify((await state(scout)).appliance.leds['status']) === JSON.stringify(LED_PATTERNS.on), 5000, 25);
  return done;
}

/** The config both services share: short timeouts, a quick breaker, attempts enough never to fail a job during a fault. */
function serviceConfig(clipPath: string, transcription: Record<string, unknown>): Record<string, unknown> {
  return {
    audio: { backend: 'fake', sampleRateHz: 16000, channels: 1, periodMs: 20, simAudioPath: clipPath },
    recorder: { preRollMs: 200, flushIntervalMs: 200 },
    ops: { resourceSampleMs: 250, healthCacheMs: 0 },
    transcription: {
      threads: 1,
      adaptive: false,
      catchUp: false,
      placeholderModel: false,
      minSpeechMs: 1000,
      maxWindowMs: 5000,
      requestTimeoutMs: 1000,
      breakerFailures: 2,
      breakerResetMs: 1500,
      maxAttempts: 20,
      retryInitialMs: 10,
      retryMaxMs: 200,
      ...transcription,
    },
  };
}

describe('a stand-in engine that hangs, answers garbage or fails with 5xx', () => {
  let work: string;
  let witness: Witness;
  let scout: ScoutProcess | null = null;
  let baselineHealth = 'healthy';
  const takes: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'scout-engine-faults-'));
    const dataDir = join(work, 'data');
    await mkdir(join(dataDir, 'models'), { recursive: true });
    // Installed as the normal tier (the catalog wants 1 MiB at least).
    witness = await makeWitness(work, { modelPath: join(dataDir, 'models', NORMAL_MODEL), modelBytes: 2 * 1024 * 1024 });
    const clipPath = join(work, 'clip.wav');
    await writeFile(clipPath, encodeWav(speechLike([900, 450, 800, 500, 1000, 400, 700, 450], 7), RATE_HZ));
    scout = await startScout({ dataDir, config: serviceConfig(clipPath, { serverPath: witness.serverPath, readyTimeoutMs: 5000 }) });
    const service = scout;
    await waitFor(async () => {
      const now = await state(service);
      return now.transcription.engine.state === 'ready' && (await service.api<{ audio: { state: string } }>('/api/state')).body.audio.state === 'running';
    }, 15_000);
    const report = await health(service);
    expect(report.body.checks['engine']?.status).toBe('healthy');
    expect(report.body.checks['transcription']?.status).toBe('healthy');
    // Whatever the temp dir's disk says, it is the same before and after each fault.
    baselineHealth = report.body.status;
  }, 60_000);

  afterAll(async () => {
    await scout?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const cases: readonly { readonly fault: NonNullable<WitnessFault['inference']>; readonly kind: 'timeout' | 'engine'; readonly problem: RegExp }[] = [
    { fault: 'hang', kind: 'timeout', problem: /exceeded 1000 ms/ },
    { fault: 'garbage', kind: 'engine', problem: /unreadable whisper-server answer/ },
    { fault: 'http500', kind: 'engine', problem: /HTTP 500.*failed to process audio/ },
  ];
  for (const { fault, kind, problem } of cases) {
    it(`inference ${fault}: counted as ${kind}, the breaker opens, the take waits, health and LED say degraded; all recovers once it clears`, async () => {
      if (scout === null) throw new Error('scout did not start');
      const service = scout;
      const errorsBefore = await metric(service, 'scout_transcription_errors_total', `{kind="${kind}"}`);
      await witness.setFault({ inference: fault });
      const id = await take(service, 2500);
      takes.push(id);
      await waitFor(async () => (await metric(service, 'scout_transcription_errors_total', `{kind="${kind}"}`)) >= errorsBefore + 2, 20_000, 50);
      await expectTakeWaits(service, id, problem);
      // The fault reached the engine, and no window was answered meanwhile.
      const faulted = (await witness.events()).filter((event) => event['event'] === 'fault' && event['mode'] === fault);
      expect(faulted.length).toBeGreaterThanOrEqual(2);

      await witness.setFault({});
      await expectRecovered(service, id, baselineHealth);
      // A fault of the engine is never blamed on the audio, and no job ran out of attempts.
      expect(await metric(service, 'scout_transcription_errors_total', '{kind="bad_audio"}')).toBe(0);
      expect(await metric(service, 'scout_transcription_errors_total', '{kind="job_failed"}')).toBe(0);
    }, 45_000);
  }

  it('nothing was lost: every take made is transcribed, from the witness answers', async () => {
    if (scout === null) throw new Error('scout did not start');
    expect(takes).toHaveLength(cases.length);
    for (const id of takes) {
      const body = await recording(scout, id);
      expect(body.status).toBe('transcribed');
      expect(body.transcript.text).toMatch(/^samples=\d+ sha256=[0-9a-f]{16}/);
    }
    const list = (await scout.api<{ items: Recording[]; total: number }>('/api/recordings?limit=50')).body;
    expect(list.total).toBe(takes.length);
    expect(list.items.every((item) => item.status === 'transcribed')).toBe(true);
  });
});

describe('the real whisper-server rejects the model at start: a crash loop', () => {
  let work: string;
  let modelPath: string;
  let scout: ScoutProcess | null = null;
  let serverPath: string;

  beforeAll(async () => {
    serverPath = join(await ensureWhisperBuilt(), 'whisper-server');
    work = await mkdtemp(join(tmpdir(), 'scout-engine-crash-'));
    const dataDir = join(work, 'data');
    await mkdir(join(dataDir, 'models'), { recursive: true });
    // Passes the service's own check (magic, size) but whisper.cpp cannot load it: it exits at start.
    modelPath = join(dataDir, 'models', NORMAL_MODEL);
    const corrupt = Buffer.alloc(2 * 1024 * 1024);
    corrupt.writeUInt32LE(GGML_MAGIC, 0);
    await writeFile(modelPath, corrupt);
    const clipPath = join(work, 'clip.wav');
    await writeFile(clipPath, encodeWav(speechLike([900, 450, 800, 500, 1000, 400], 11), RATE_HZ));
    scout = await startScout({ dataDir, config: serviceConfig(clipPath, { serverPath, readyTimeoutMs: 2000 }) });
  }, 120_000);

  afterAll(async () => {
    await scout?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('the engine fails to start again and again through the backoff; the service records, queues and says why; a good model under the same name drains the queue', async () => {
    if (scout === null) throw new Error('scout did not start');
    const service = scout;
    const startedAt = performance.now();
    // Health names the cause: whisper-server's own words.
    const engineCheck = await waitFor(async () => {
      const check = (await health(service)).body.checks['engine'];
      return check?.status === 'degraded' && /failed to initialize whisper context/.test(check.message) ? check : null;
    }, 15_000, 50);
    expect(engineCheck.message).toContain(NORMAL_MODEL);

    // Recording goes on: the take is kept and queued.
    const id = await take(service, 2000);
    await waitFor(async () => (await metric(service, 'scout_transcription_errors_total', '{kind="engine"}')) >= 2, 20_000, 50);
    await expectTakeWaits(service, id, /failed to initialize whisper context/);
    expect((await health(service)).body.checks['engine']?.message).toMatch(/restarting.*failed to initialize whisper context/);

    // The restarts go through the backoff (1 s, doubling, jittered): a handful, not hundreds.
    const elapsedS = (performance.now() - startedAt) / 1000;
    const restarts = await metric(service, 'scout_transcription_engine_restarts_total');
    expect(restarts).toBeGreaterThanOrEqual(2);
    expect(restarts).toBeLessThanOrEqual(Math.ceil(Math.log2(elapsedS + 2)) + 3);
    expect(service.child.exitCode).toBeNull();

    // A good model under the same name (swapped in whole): the next start loads it.
    const good = await ensureModel('mini', { decodeTokens: 8 });
    await copyFile(good.path, `${modelPath}.tmp`);
    await rename(`${modelPath}.tmp`, modelPath);
    const done = await waitFor(async () => {
      const body = await recording(service, id);
      return body.status === 'transcribed' ? body : null;
    }, 40_000, 100);
    expect(done.transcript.text).toContain(good.expectedText.trim());
    const recovered = await state(service);
    expect(recovered.transcription.engine.state).toMatch(/ready|busy/);
    await waitFor(async () => {
      const now = await state(service);
      return now.transcription.queue.breaker === 'closed' && now.transcription.queue.queueSize === 0;
    }, RECOVERY_MS, 50);
    const report = await health(service);
    expect(report.body.checks['engine']?.status).toBe('healthy');
    expect(report.body.checks['transcription']?.status).toBe('healthy');
    await waitFor(async () => JSON.stringify((await state(service)).appliance.leds['status']) === JSON.stringify(LED_PATTERNS.on), 5000, 25);
    // The service itself never went down.
    expect(service.child.exitCode).toBeNull();
    expect(await metric(service, 'scout_transcription_errors_total', '{kind="job_failed"}')).toBe(0);
  }, 90_000);
});
