/**
 * The transcription pipeline on the REAL engine: whisper-server built from the pinned source,
 * the generated mini model (and the tiny-shaped one where a request must last long enough to be
 * killed), espeak-ng speech written as recordings, real SQLite and the real WAV writer.
 */
import { SPEECH_RATE_HZ } from '../../src/domain/transcript.js';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeWav, parseWavHeader } from '../../src/audio/wav.js';
import { WavWriter } from '../../src/audio/wav-writer.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { createStore } from '../../src/store/store.js';
import { newRecordingId } from '../../src/store/ids.js';
import { RecordingsRepo } from '../../src/store/recordings.js';
import { WhisperEngine, type EngineRequestRecord } from '../../src/transcribe/engine.js';
import { Transcriber, type TranscriberConfig } from '../../src/transcribe/transcriber.js';
import { sleep } from '../../src/util/sleep.js';
import { ensureModel, ensureWhisperBuilt, speechWav, type EnsuredModel } from '../helpers/whisper.js';

const run = promisify(execFile);
const RATE_HZ = 16000;

let dir: string;
let serverPath: string;
let mini: EnsuredModel;
let tiny: EnsuredModel;
let speech: Int16Array;
let longSpeech: Int16Array;
let sentences: Int16Array;

let db: Database;
let recordings: RecordingsRepo;
let engine: WhisperEngine | null = null;
let transcriber: Transcriber | null = null;
let requests: EngineRequestRecord[] = [];

async function readPcm(path: string): Promise<Int16Array> {
  const file = await readFile(path);
  const header = parseWavHeader(file);
  const data = file.subarray(header.dataOffset, header.dataOffset + header.declaredDataBytes);
  return new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scout-transcriber-'));
  serverPath = join(await ensureWhisperBuilt(), 'whisper-server');
  mini = await ensureModel('mini', { decodeTokens: 8 });
  tiny = await ensureModel('tiny', { decodeTokens: 64 });
  speech = await readPcm(await speechWav('Hello Scout. Please remember to buy milk and call the plumber tomorrow.', join(dir, 'speech.wav')));
  longSpeech = await readPcm(await speechWav('This is a longer recording for the interruption test.', join(dir, 'long.wav'), 22));
  // Several sentences with pauses between them: a long recording cut into windows at the pauses.
  const parts: string[] = [];
  const lines = [
    'Good morning. This is the first part of a long dictation about the garden and the shed.',
    'The second part is about the shopping list: apples, bread, coffee, and a new light bulb for the hall.',
    'In the third part we talk about the appointment with the dentist next Tuesday at nine.',
    'The fourth part reminds me to water the tomatoes and to call the plumber about the leaking tap.',
    'And this is the end.',
  ];
  for (const [index, line] of lines.entries()) parts.push(await speechWav(line, join(dir, `part${index}.wav`), 0.8));
  // The case: a 90 s recording (the five parts, four times over, cut at 90 s).
  await run('sox', [...parts, ...parts, ...parts, ...parts, join(dir, 'sentences.wav'), 'trim', '0', '90']);
  sentences = await readPcm(join(dir, 'sentences.wav'));
}, 20 * 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  db = openDatabase(join(dir, `scout-${newRecordingId()}.db`), silentLogger());
  recordings = new RecordingsRepo(db);
  requests = [];
});

afterEach(async () => {
  await transcriber?.stop();
  await engine?.stop();
  transcriber = null;
  engine = null;
  closeDatabase(db);
});

const config: TranscriberConfig = {
  minSpeechMs: 4000,
  maxWindowMs: 30_000,
  maxAttempts: 4,
  retry: { initialMs: 50, maxMs: 500 },
  breaker: { failureThreshold: 3, resetTimeoutMs: 1000, timeoutMs: 60_000 },
  beamSize: 1,
};

async function startPipeline(modelPath: string, overrides: Partial<TranscriberConfig> = {}, readyTimeoutMs = 15_000): Promise<Transcriber> {
  engine = new WhisperEngine({
    serverPath,
    modelPath,
    // one thread: ggml's thread barriers crawl on a CI box shared by other jobs
    threads: 1,
    flashAttention: true,
    restart: { initialMs: 50, maxMs: 500 },
    readyTimeoutMs,
    requestTimeoutMs: 60_000,
    logger: silentLogger(),
  });
  engine.onRequest((record) => requests.push(record));
  // A missing model makes start() reject while supervision keeps retrying: that case is tested.
  await engine.start().catch(() => undefined);
  transcriber = new Transcriber({ store: createStore(db), recordingsDir: dir, engine, config: { ...config, ...overrides }, logger: silentLogger() });
  await transcriber.start();
  return transcriber;
}

async function addRecording(pcm: Int16Array): Promise<string> {
  const id = newRecordingId();
  await writeFile(join(dir, `${id}.wav`), encodeWav(pcm, SPEECH_RATE_HZ));
  recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: RATE_HZ, preRollMs: 0 });
  recordings.finish(id, { endedAtMs: Date.now(), durationMs: (pcm.length / RATE_HZ) * 1000, bytes: pcm.length * 2 });
  return id;
}

async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not reached in time');
    await sleep(20);
  }
}

describe('Transcriber on the real engine', () => {
  it('espeak-ng speech: a transcript row with text from the engine and segment times inside the audio', async () => {
    const t = await startPipeline(mini.path);
    const id = await addRecording(speech);
    await t.enqueueRecording(id);
    await until(() => recordings.get(id)?.status === 'transcribed');
    const durationMs = (speech.length / RATE_HZ) * 1000;
    const transcript = t.transcript(id);
    expect(transcript?.text).toBe(mini.expectedText.trim());
    expect(transcript?.text.length).toBeGreaterThan(0);
    expect(transcript?.segments.length).toBeGreaterThan(0);
    for (const segment of transcript?.segments ?? []) {
      expect(segment.startMs).toBeGreaterThanOrEqual(0);
      expect(segment.endMs).toBeGreaterThanOrEqual(segment.startMs);
      expect(segment.endMs).toBeLessThanOrEqual(durationMs);
    }
    expect(transcript).toMatchObject({ noSpeechReason: null, windows: 1, threads: 1, model: mini.path.split('/').pop() });
    expect(transcript?.processingMs).toBeGreaterThan(0);
    expect(requests).toHaveLength(1);
    // The encoder context was cut to the clip.
    expect(requests[0]?.audioCtx).toBe(transcript?.audioCtx);
    expect(requests[0]?.audioCtx).toBeLessThan(1500);
    expect(requests[0]?.beamSize).toBe(1);
  }, 120_000);

  it('a silent recording never reaches the engine: empty transcript with the reason "no speech"', async () => {
    const t = await startPipeline(mini.path);
    const id = await addRecording(new Int16Array(RATE_HZ * 6));
    await t.enqueueRecording(id);
    await until(() => recordings.get(id)?.status === 'transcribed');
    expect(requests).toHaveLength(0);
    expect(t.transcript(id)).toMatchObject({ text: '', segments: [], noSpeechReason: 'no speech', audioDurationMs: 6000 });
  }, 120_000);

  it('the engine SIGKILLed mid-job: the job is retried on the respawned engine and the transcript is produced', async () => {
    const t = await startPipeline(tiny.path);
    const id = await addRecording(longSpeech);
    const firstPid = engine?.status().pid ?? 0;
    await t.enqueueRecording(id);
    await until(() => engine?.status().state === 'busy');
    await sleep(200);
    process.kill(firstPid, 'SIGKILL');
    await until(() => recordings.get(id)?.status === 'transcribed', 120_000);
    expect(requests.map((r) => r.outcome)).toEqual(['unavailable', 'ok']);
    expect(engine?.status().restarts).toBe(1);
    expect(t.transcript(id)?.text).toBe(tiny.expectedText.trim());
    expect(t.jobs.forRecording(id)[0]).toMatchObject({ state: 'done', attempts: 1 });
  }, 180_000);

  it('a 90 s recording is transcribed in windows while it is recorded; after the end only the tail is sent', async () => {
    const t = await startPipeline(mini.path);
    const id = newRecordingId();
    recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: RATE_HZ, preRollMs: 0 });
    const writer = new WavWriter({ path: join(dir, `${id}.wav`), sampleRateHz: RATE_HZ, flushIntervalMs: 200, logger: silentLogger() });
    await writer.open();
    const live = t.beginRecording(id);
    // 8x real time, in 100 ms chunks, like the recorder's tap.
    const chunk = RATE_HZ / 10;
    for (let start = 0; start < sentences.length; start += chunk) {
      const end = Math.min(sentences.length, start + chunk);
      writer.append(sentences, start, end);
      live.feed(sentences, start, end);
      await sleep(12);
    }
    await until(() => t.partial(id).windowsDone >= 2 && t.status().queueSize === 0);
    const beforeEnd = requests.length;
    // 90 s of speech with a pause every few seconds: many windows, each at most 30 s.
    expect(beforeEnd).toBeGreaterThanOrEqual(6);
    expect(t.partial(id).text.length).toBeGreaterThan(0);

    const result = await writer.finish();
    recordings.finish(id, { endedAtMs: Date.now(), durationMs: result.durationMs, bytes: result.bytes });
    live.end(sentences.length);
    await until(() => recordings.get(id)?.status === 'transcribed');
    const afterEnd = requests.slice(beforeEnd);
    expect(afterEnd.length).toBeLessThanOrEqual(1);
    for (const request of afterEnd) expect(request.audioMs).toBeLessThan(10_000);
    for (const request of requests) expect(request.audioMs).toBeLessThanOrEqual(30_000);
    const transcript = t.transcript(id);
    const durationMs = (sentences.length / RATE_HZ) * 1000;
    expect(transcript?.windows).toBe(t.jobs.forRecording(id).length);
    expect(transcript?.text.length).toBeGreaterThan(0);
    for (const segment of transcript?.segments ?? []) expect(segment.endMs).toBeLessThanOrEqual(durationMs);
    // Segments of later windows carry absolute times.
    expect(Math.max(...(transcript?.segments ?? []).map((s) => s.startMs))).toBeGreaterThan(60_000);
  }, 180_000);

  it('no model yet: the breaker opens, recordings wait in the queue, the service says degraded; once the model is there the queue drains', async () => {
    const modelPath = join(dir, `late-model-${newRecordingId()}.bin`);
    const t = await startPipeline(modelPath, { breaker: { failureThreshold: 2, resetTimeoutMs: 500, timeoutMs: 60_000 } }, 1000);
    const ids = [await addRecording(speech), await addRecording(speech)];
    for (const id of ids) await t.enqueueRecording(id);
    await until(() => t.status().breaker === 'open');
    expect(t.health().status).toBe('degraded');
    expect(t.status().queueSize).toBe(2);
    expect(ids.map((id) => recordings.get(id)?.status)).toEqual(['transcribing', 'transcribing']);

    await copyFile(mini.path, modelPath);
    await until(() => ids.every((id) => recordings.get(id)?.status === 'transcribed'), 60_000);
    expect(ids.map((id) => t.transcript(id)?.text)).toEqual([mini.expectedText.trim(), mini.expectedText.trim()]);
    expect(t.status()).toMatchObject({ breaker: 'closed', queueSize: 0 });
    // Only the failures that opened the breaker counted as attempts; failed probes did not.
    for (const id of ids) expect(t.jobs.forRecording(id)[0]?.attempts).toBeLessThanOrEqual(1);
  }, 120_000);
});
