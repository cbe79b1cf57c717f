/**
 * Per-window quality records and catch-up at the normal tier, end to end with a scripted engine
 * whose loaded model changes (as the degradation policy swaps it): real SQLite, real WAV files,
 * real timers.
 */
import { speechLike } from '../helpers/signal.js';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/audio/wav.js';
import { SPEECH_RATE_HZ } from '../../src/domain/transcript.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { newRecordingId } from '../../src/store/ids.js';
import { createStore, type Store } from '../../src/store/store.js';
import { audioCtxFor, type TranscribeRequest } from '../../src/transcribe/engine.js';
import { CatchUp } from '../../src/transcribe/catch-up.js';
import { Transcriber } from '../../src/transcribe/transcriber.js';
import type { CurrentModel, EngineTranscription, TranscriptionEngine } from '../../src/transcribe/window-job.js';
import { sleep } from '../../src/util/sleep.js';

const RATE_HZ = 16000;
const TINY = '/models/ggml-tiny.en-q8_0.bin';
const BASE = '/models/ggml-base.en.bin';

/** Answers with the model it has loaded; `afterCall` may swap the model between requests. */
class ModelSwappingEngine implements TranscriptionEngine {
  modelPath = BASE;
  threads = 3;
  calls = 0;
  /** Models to load after each call, in order (the policy swapping between windows). */
  swaps: string[] = [];
  private held: (() => void) | null = null;
  private holdNext = false;

  status(): { model: string; threads: number } {
    return { model: this.modelPath, threads: 4 };
  }

  hold(): void {
    this.holdNext = true;
  }

  get holding(): boolean {
    return this.held !== null;
  }

  release(): void {
    const held = this.held;
    this.held = null;
    held?.();
  }

  async transcribe(request: TranscribeRequest): Promise<EngineTranscription> {
    this.calls++;
    if (this.holdNext) {
      this.holdNext = false;
      await new Promise<void>((resolve) => (this.held = resolve));
    }
    const model = this.modelPath;
    const tag = model === TINY ? 'tiny' : 'base';
    const durationMs = Math.round(((request.pcm?.length ?? 0) / RATE_HZ) * 1000);
    const swap = this.swaps.shift();
    if (swap !== undefined) this.modelPath = swap;
    const processingMs = model === TINY ? durationMs / 10 : durationMs / 4;
    return { text: `${tag} ${this.calls}`, segments: [{ startMs: 0, endMs: durationMs, text: `${tag} ${this.calls}` }], processingMs, threads: model === TINY ? 1 : this.threads, model };
  }
}

function currentModelOf(engine: ModelSwappingEngine): () => CurrentModel {
  return () => ({ path: engine.modelPath, tier: engine.modelPath === TINY ? 'constrained' : 'normal' });
}

// ~15 s of sentences with pauses: cut into several windows.
const SENTENCE = [900, 120, 900, 120, 900, 120, 900, 120, 900, 700];
const LONG = [...SENTENCE, ...SENTENCE, ...SENTENCE];

let dir: string;
let db: Database;
let store: Store;
let engine: ModelSwappingEngine;
let transcriber: Transcriber;
let catchUp: CatchUp | null;
let level: number;
let recording: boolean;

function addRecording(pcm: Int16Array): string {
  const id = newRecordingId();
  writeFileSync(join(dir, `${id}.wav`), encodeWav(pcm, SPEECH_RATE_HZ));
  store.recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: RATE_HZ, preRollMs: 0 });
  store.recordings.finish(id, { endedAtMs: Date.now(), durationMs: (pcm.length / RATE_HZ) * 1000, bytes: pcm.length * 2 });
  return id;
}

function makeCatchUp(enabled = true): CatchUp {
  catchUp = new CatchUp({
    enabled,
    transcriber,
    transcripts: store.transcripts,
    recordings: store.recordings,
    recordingsDir: dir,
    level: () => level,
    isRecording: () => recording,
    currentModel: currentModelOf(engine),
    checkEveryMs: 30,
    logger: silentLogger(),
  });
  return catchUp;
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('timed out waiting');
    await sleep(10);
  }
}

/** A recording transcribed while the engine ran the constrained model. */
async function constrainedTranscript(pattern = LONG): Promise<string> {
  engine.modelPath = TINY;
  const id = addRecording(speechLike(pattern));
  await transcriber.enqueueRecording(id);
  await waitFor(() => store.recordings.get(id)?.status === 'transcribed');
  expect(transcriber.transcript(id)?.tier).toBe('constrained');
  engine.modelPath = BASE;
  return id;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scout-catchup-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  store = createStore(db);
  engine = new ModelSwappingEngine();
  level = 0;
  recording = false;
  catchUp = null;
  transcriber = new Transcriber({
    store,
    recordingsDir: dir,
    engine,
    currentModel: currentModelOf(engine),
    logger: silentLogger(),
    config: { minSpeechMs: 4000, maxWindowMs: 30_000, maxAttempts: 3, retry: { initialMs: 10, maxMs: 50 }, breaker: { failureThreshold: 5, resetTimeoutMs: 200, timeoutMs: 5000 }, beamSize: 2 },
  });
  await transcriber.start();
});

afterEach(async () => {
  engine.release();
  await catchUp?.stop();
  await transcriber.stop();
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

describe('per-window quality records', () => {
  it('each window stores the model, tier, threads, audio context, beam, engine time and RTF it ran with; the transcript takes the worst tier', async () => {
    // The first window runs on the constrained model; the policy swaps back to normal after it.
    engine.modelPath = TINY;
    engine.swaps = [BASE];
    const id = addRecording(speechLike(LONG));
    expect(await transcriber.enqueueRecording(id)).toBeGreaterThan(1);
    await waitFor(() => store.recordings.get(id)?.status === 'transcribed');
    const results = store.jobs.forRecording(id).flatMap((job) => (job.result && !job.result.noSpeech ? [{ job, result: job.result }] : []));
    expect(results.length).toBeGreaterThan(1);
    const [first, ...rest] = results;
    expect(first?.result).toMatchObject({ model: 'ggml-tiny.en-q8_0.bin', tier: 'constrained', threads: 1, beamSize: 2 });
    for (const { result } of rest) expect(result).toMatchObject({ model: 'ggml-base.en.bin', tier: 'normal', threads: 3, beamSize: 2 });
    for (const { job, result } of results) {
      const windowMs = ((job.endSample - job.startSample) / RATE_HZ) * 1000;
      expect(result.audioCtx).toBe(audioCtxFor(windowMs));
      expect(result.processingMs).toBeGreaterThan(0);
      expect(result.realTimeFactor).toBeCloseTo(result.processingMs / windowMs, 6);
    }
    expect(transcriber.transcript(id)).toMatchObject({ tier: 'constrained', degraded: true, threads: 1 });
  });

  it('an all-normal transcript is tier normal and not degraded; an all-silent one has no tier', async () => {
    const id = addRecording(speechLike([2500, 500]));
    await transcriber.enqueueRecording(id);
    await waitFor(() => store.recordings.get(id)?.status === 'transcribed');
    expect(transcriber.transcript(id)).toMatchObject({ tier: 'normal', degraded: false });

    engine.modelPath = TINY;
    const silent = addRecording(new Int16Array(RATE_HZ * 3));
    await transcriber.enqueueRecording(silent);
    await waitFor(() => store.recordings.get(silent)?.status === 'transcribed');
    expect(transcriber.transcript(silent)).toMatchObject({ tier: null, degraded: false, noSpeechReason: 'no speech' });
  });
});

describe('catch-up', () => {
  it('redoes a constrained transcript at the normal tier once calm and idle; the old one goes to the history; the text never disappears', async () => {
    const id = await constrainedTranscript();
    const old = transcriber.transcript(id);
    expect(old?.text).toMatch(/^tiny/);
    const seen: { status: string | undefined; text: string | undefined }[] = [];
    const watch = setInterval(() => seen.push({ status: store.recordings.get(id)?.status, text: transcriber.transcript(id)?.text }), 2);
    try {
      await makeCatchUp().start();
      await waitFor(() => transcriber.transcript(id)?.tier === 'normal');
    } finally {
      clearInterval(watch);
    }
    expect(seen.length).toBeGreaterThan(0);
    for (const sample of seen) {
      expect(sample.status).toBe('transcribed');
      expect(sample.text).toMatch(/^(tiny|base)/);
    }
    const current = transcriber.transcript(id);
    expect(current).toMatchObject({ tier: 'normal', degraded: false, model: 'ggml-base.en.bin', windows: old?.windows });
    expect(current?.text).toMatch(/^base/);
    expect(store.recordings.get(id)?.status).toBe('transcribed');
    const history = transcriber.history(id);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ reason: 'catch-up', transcript: { text: old?.text, tier: 'constrained' } });
    // Done: nothing more to redo, the queue stays idle.
    await sleep(100);
    expect(transcriber.catchUpPending()).toBe(0);
    expect(transcriber.history(id)).toHaveLength(1);
  });

  it('waits while the level is above normal, while recording, and while other jobs are pending', async () => {
    const id = await constrainedTranscript([2500, 500]);
    const callsBefore = engine.calls;
    level = 1;
    await makeCatchUp().start();
    await sleep(150);
    expect(engine.calls).toBe(callsBefore);

    level = 0;
    recording = true;
    catchUp?.wake();
    await sleep(150);
    expect(engine.calls).toBe(callsBefore);

    // Another recording's job pending (held in the engine): catch-up does not pick anything. It is
    // queued before the recording flag drops, so no wake-up in between can see an idle queue.
    engine.hold();
    const other = addRecording(speechLike([2000, 400]));
    await transcriber.enqueueRecording(other);
    await waitFor(() => engine.holding);
    recording = false;
    catchUp?.wake();
    await sleep(100);
    expect(transcriber.catchUpPending()).toBe(0);
    engine.release();
    await waitFor(() => transcriber.transcript(id)?.tier === 'normal');
    expect(store.recordings.get(other)?.status).toBe('transcribed');
  });

  it('a catch-up job in the queue waits while a recording is made and runs after it', async () => {
    const id = await constrainedTranscript();
    engine.hold();
    await makeCatchUp().start();
    // The first catch-up window is in the engine: a recording starts.
    await waitFor(() => engine.holding);
    recording = true;
    const callsAtStart = engine.calls;
    engine.release();
    await sleep(150);
    // The running window finished; no other catch-up window was taken while recording.
    expect(engine.calls).toBe(callsAtStart);
    expect(transcriber.catchUpPending()).toBeGreaterThan(0);
    expect(transcriber.transcript(id)?.tier).toBe('constrained');
    recording = false;
    catchUp?.wake();
    await waitFor(() => transcriber.transcript(id)?.tier === 'normal');
  });

  it("a new recording's windows run before the remaining catch-up windows", async () => {
    const id = await constrainedTranscript();
    const order: string[] = [];
    transcriber.onProgress((progress) => {
      if (progress.kind === 'running') order.push(progress.job.recordingId);
    });
    engine.hold();
    await makeCatchUp().start();
    await waitFor(() => engine.holding);
    const fresh = addRecording(speechLike([...SENTENCE, ...SENTENCE]));
    const freshWindows = await transcriber.enqueueRecording(fresh);
    engine.release();
    await waitFor(() => transcriber.transcript(id)?.tier === 'normal' && store.recordings.get(fresh)?.status === 'transcribed');
    // One catch-up window was running; then every window of the new recording; then the rest.
    expect(order[0]).toBe(id);
    expect(order.slice(1, 1 + freshWindows)).toEqual(Array.from({ length: freshWindows }, () => fresh));
    expect(order.slice(1 + freshWindows).every((recordingId) => recordingId === id)).toBe(true);
  });

  it('disabled (config, or the placeholder model): never redoes anything', async () => {
    const id = await constrainedTranscript([2500, 500]);
    const callsBefore = engine.calls;
    await makeCatchUp(false).start();
    catchUp?.wake();
    await sleep(200);
    expect(engine.calls).toBe(callsBefore);
    expect(transcriber.transcript(id)?.tier).toBe('constrained');
    expect(catchUp?.status()).toMatchObject({ enabled: false, allowed: false, pending: 0 });
  });

  it('never while the engine runs the constrained model (level 0 but only that model installed)', async () => {
    const id = await constrainedTranscript([2500, 500]);
    engine.modelPath = TINY;
    const callsBefore = engine.calls;
    await makeCatchUp().start();
    await sleep(150);
    expect(engine.calls).toBe(callsBefore);
    expect(transcriber.transcript(id)?.tier).toBe('constrained');
  });

  it('skips a transcript whose audio is gone and redoes the next one', async () => {
    const gone = await constrainedTranscript([2500, 500]);
    const kept = await constrainedTranscript([2000, 500]);
    const recordingGone = store.recordings.get(gone);
    if (recordingGone) unlinkSync(join(dir, recordingGone.audioPath));
    await makeCatchUp().start();
    await waitFor(() => transcriber.transcript(kept)?.tier === 'normal');
    expect(transcriber.transcript(gone)?.tier).toBe('constrained');
    expect(transcriber.history(gone)).toEqual([]);
  });
});
