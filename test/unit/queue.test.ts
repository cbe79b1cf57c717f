/**
 * The transcription queue end to end with a scripted engine: real SQLite, real WAV files (and the
 * real WavWriter for the live path), real timers; only the whisper engine is a stand-in.
 */
import { speechLike } from '../helpers/signal.js';
import { encodeWav } from '../../src/audio/wav.js';
import { SPEECH_RATE_HZ } from '../../src/domain/transcript.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WavWriter } from '../../src/audio/wav-writer.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { createStore } from '../../src/store/store.js';
import { newRecordingId } from '../../src/store/ids.js';
import { RecordingsRepo } from '../../src/store/recordings.js';
import {
  audioCtxFor,
  EngineAbortedError,
  EngineRequestError,
  EngineUnavailableError,
  type TranscribeRequest,
} from '../../src/transcribe/engine.js';
import { RecordingInProgressError, UnknownRecordingError } from '../../src/transcribe/recording-errors.js';
import { Transcriber, type TranscriberConfig } from '../../src/transcribe/transcriber.js';
import type { EngineTranscription, TranscriptionEngine } from '../../src/transcribe/window-job.js';
import { sleep } from '../../src/util/sleep.js';

const RATE_HZ = 16000;
type Step = 'ok' | 'unavailable' | 'hang' | 'bad' | 'server500' | 'failWhenReleased';

interface Call {
  readonly samples: number;
  readonly audioCtx: number | undefined;
  readonly beamSize: number | undefined;
  readonly prompt: string | undefined;
  readonly atMs: number;
}

/** A stand-in engine following a script of outcomes; `fallback` once the script is used up. */
class ScriptedEngine implements TranscriptionEngine {
  readonly calls: Call[] = [];
  aborted = 0;
  release: (() => void) | null = null;
  script: Step[] = [];
  fallback: Step = 'ok';
  /** Threads of the process that answers; status() reports the (larger) configured maximum. */
  threads = 2;

  status(): { model: string; threads: number } {
    return { model: '/models/ggml-test.bin', threads: 4 };
  }

  async transcribe(request: TranscribeRequest): Promise<EngineTranscription> {
    const samples = request.pcm?.length ?? 0;
    this.calls.push({ samples, audioCtx: request.audioCtx, beamSize: request.beamSize, prompt: request.prompt, atMs: performance.now() });
    const step = this.script.shift() ?? this.fallback;
    const n = this.calls.length;
    switch (step) {
      case 'ok': {
        const durationMs = Math.round((samples / RATE_HZ) * 1000);
        return { text: `words ${n}`, segments: [{ startMs: 0, endMs: durationMs, text: `words ${n}` }], processingMs: 50, threads: this.threads };
      }
      case 'unavailable':
        throw new EngineUnavailableError('engine died');
      case 'server500':
        throw new EngineRequestError('whisper-server answered HTTP 500', 500);
      case 'bad':
        throw new EngineRequestError('whisper-server answered HTTP 400: bad wav', 400);
      case 'failWhenReleased':
        await new Promise<void>((resolve) => (this.release = resolve));
        throw new EngineUnavailableError('engine died late');
      case 'hang':
        return new Promise((_, reject) => {
          const signal = request.signal;
          signal?.addEventListener('abort', () => {
            this.aborted++;
            reject(new EngineAbortedError('aborted', 'aborted'));
          });
        });
    }
  }
}

let dir: string;
let db: Database;
let recordings: RecordingsRepo;
let engine: ScriptedEngine;
let transcriber: Transcriber | null;
const transcribed: { durationS: number; rtf: number }[] = [];
const errors: string[] = [];
const queueSizes: number[] = [];

const baseConfig: TranscriberConfig = {
  minSpeechMs: 4000,
  maxWindowMs: 30_000,
  maxAttempts: 4,
  retry: { initialMs: 20, maxMs: 80 },
  breaker: { failureThreshold: 10, resetTimeoutMs: 200, timeoutMs: 5000 },
  beamSize: 1,
};

function makeTranscriber(config: Partial<TranscriberConfig> = {}, paused?: () => boolean, vocabulary?: () => readonly string[]): Transcriber {
  transcriber = new Transcriber({
    ...(paused ? { paused } : {}),
    ...(vocabulary ? { vocabulary } : {}),
    store: createStore(db),
    recordingsDir: dir,
    engine,
    config: { ...baseConfig, ...config },
    logger: silentLogger(),
    hooks: {
      onTranscribed: (durationS, rtf) => transcribed.push({ durationS, rtf }),
      onError: (kind) => errors.push(kind),
      queueSize: (size) => queueSizes.push(size),
    },
  });
  return transcriber;
}

/** A finished recording on disk and in the database. */
function addRecording(pcm: Int16Array): string {
  const id = newRecordingId();
  writeFileSync(join(dir, `${id}.wav`), encodeWav(pcm, SPEECH_RATE_HZ));
  recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: RATE_HZ, preRollMs: 0 });
  recordings.finish(id, { endedAtMs: Date.now(), durationMs: (pcm.length / RATE_HZ) * 1000, bytes: pcm.length * 2 });
  return id;
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('timed out waiting');
    await sleep(10);
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-queue-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  recordings = new RecordingsRepo(db);
  engine = new ScriptedEngine();
  transcriber = null;
  transcribed.length = 0;
  errors.length = 0;
  queueSizes.length = 0;
});

afterEach(async () => {
  await transcriber?.stop();
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

describe('Transcriber queue', () => {
  it('transcribes a short clip in one request with the audio context cut to the clip, greedy', async () => {
    const t = makeTranscriber();
    await t.start();
    const pcm = speechLike([2500, 500]);
    const id = addRecording(pcm);
    expect(await t.enqueueRecording(id)).toBe(1);
    expect(recordings.get(id)?.status).toBe('transcribing');
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls).toHaveLength(1);
    expect(engine.calls[0]).toMatchObject({ samples: pcm.length, audioCtx: audioCtxFor(3000), beamSize: 1 });
    const transcript = t.transcript(id);
    expect(transcript).toMatchObject({ text: 'words 1', model: 'ggml-test.bin', threads: 2, audioCtx: audioCtxFor(3000), audioDurationMs: 3000, processingMs: 50, noSpeechReason: null, windows: 1 });
    expect(transcript?.segments).toEqual([{ startMs: 0, endMs: 3000, text: 'words 1' }]);
    expect(transcribed).toEqual([{ durationS: 0.05, rtf: 50 / 3000 }]);
    expect(queueSizes).toContain(1);
    expect(queueSizes[queueSizes.length - 1]).toBe(0);
  });

  it('sends the stored vocabulary as the prompt with every window and records it with the windows and the transcript', async () => {
    createStore(db).vocabulary.set(['Zoë Okafor', 'Kubernetes']);
    const t = makeTranscriber();
    await t.start();
    // ~20 s of sentences with pauses: re-cut into several windows.
    const sentence = [900, 120, 900, 120, 900, 120, 900, 120, 900, 700];
    const id = addRecording(speechLike([...sentence, ...sentence, ...sentence, ...sentence]));
    expect(await t.enqueueRecording(id)).toBeGreaterThan(1);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls.length).toBeGreaterThan(1);
    for (const call of engine.calls) expect(call.prompt).toBe('Zoë Okafor, Kubernetes');
    // A window the silence gate kept from the engine sent no prompt and records none.
    const sent = t.jobs.forRecording(id).filter((job) => job.result?.noSpeech === false);
    expect(sent).toHaveLength(engine.calls.length);
    for (const job of sent) expect(job.result?.vocabulary).toEqual(['Zoë Okafor', 'Kubernetes']);
    expect(t.transcript(id)?.vocabulary).toEqual(['Zoë Okafor', 'Kubernetes']);
  });

  it('without a vocabulary no prompt is sent and the transcript records an empty one', async () => {
    const t = makeTranscriber();
    await t.start();
    const id = addRecording(speechLike([1500, 300]));
    await t.enqueueRecording(id);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls[0]?.prompt).toBeUndefined();
    expect(t.transcript(id)?.vocabulary).toEqual([]);
  });

  it('a vocabulary edited mid-recording reaches the next window; the transcript records the last window\'s list', async () => {
    // The list is read per window: the edit lands after the first window was sent.
    let reads = 0;
    const t = makeTranscriber({}, undefined, () => (reads++ === 0 ? ['Scout'] : ['Scout', 'Kenobi']));
    await t.start();
    const sentence = [900, 120, 900, 120, 900, 120, 900, 120, 900, 700];
    const id = addRecording(speechLike([...sentence, ...sentence, ...sentence]));
    await t.enqueueRecording(id);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls.length).toBeGreaterThan(1);
    expect(engine.calls.map((call) => call.prompt)).toEqual(['Scout', ...engine.calls.slice(1).map(() => 'Scout, Kenobi')]);
    const sent = t.jobs.forRecording(id).filter((job) => job.result?.noSpeech === false);
    expect(sent.map((job) => job.result?.vocabulary)).toEqual([['Scout'], ...sent.slice(1).map(() => ['Scout', 'Kenobi'])]);
    expect(t.transcript(id)?.vocabulary).toEqual(['Scout', 'Kenobi']);
  });

  it('never sends a silent recording to the engine: empty transcript with the reason "no speech"', async () => {
    const t = makeTranscriber();
    await t.start();
    const id = addRecording(new Int16Array(RATE_HZ * 4));
    await t.enqueueRecording(id);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls).toHaveLength(0);
    // threads 0: no engine process ran.
    expect(t.transcript(id)).toMatchObject({ text: '', segments: [], noSpeechReason: 'no speech', audioDurationMs: 4000, processingMs: 0, threads: 0, vocabulary: [] });
  });

  it('retries a failing engine with growing backoff and then succeeds', async () => {
    const t = makeTranscriber({ retry: { initialMs: 40, maxMs: 400 } });
    engine.script = ['unavailable', 'server500', 'unavailable'];
    await t.start();
    const id = addRecording(speechLike([1500, 300]));
    await t.enqueueRecording(id);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls).toHaveLength(4);
    const gaps = engine.calls.slice(1).map((call, index) => call.atMs - (engine.calls[index]?.atMs ?? 0));
    // Backoff with jitter 0.5: attempt n waits in [initial*2^n/2, initial*2^n].
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
    expect(gaps[2]).toBeGreaterThanOrEqual(78);
    expect(t.transcript(id)?.text).toBe('words 4');
    expect(errors.filter((kind) => kind === 'engine')).toHaveLength(3);
    expect(t.jobs.forRecording(id)[0]).toMatchObject({ state: 'done', attempts: 3 });
  });

  it('fails the recording after the last attempt, keeps its audio, and a re-queue works', async () => {
    const t = makeTranscriber({ maxAttempts: 3 });
    engine.fallback = 'unavailable';
    await t.start();
    const id = addRecording(speechLike([1500, 300]));
    await t.enqueueRecording(id);
    await waitFor(() => recordings.get(id)?.status === 'failed');
    expect(engine.calls).toHaveLength(3);
    expect(recordings.get(id)?.error).toMatch(/transcription failed: EngineUnavailableError: engine died/);
    expect(existsSync(join(dir, `${id}.wav`))).toBe(true);
    expect(errors).toContain('job_failed');
    expect(t.transcript(id)).toBeUndefined();

    engine.fallback = 'ok';
    await t.enqueueRecording(id);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(recordings.get(id)?.error).toBeNull();
    expect(t.transcript(id)?.text).toBe('words 4');
  });

  it('a re-queue while a job is failing its last attempt is not undone by that failure', async () => {
    const t = makeTranscriber({ maxAttempts: 1 });
    engine.script = ['failWhenReleased'];
    await t.start();
    const id = addRecording(speechLike([1500, 300]));
    await t.enqueueRecording(id);
    await waitFor(() => engine.release !== null);
    await t.enqueueRecording(id);
    engine.release?.();
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls).toHaveLength(2);
    expect(recordings.get(id)?.error).toBeNull();
  });

  it('while paused (severe resource pressure) jobs wait in the queue; wake() resumes them', async () => {
    let paused = true;
    const t = makeTranscriber({}, () => paused);
    await t.start();
    const id = addRecording(speechLike([1500, 300]));
    await t.enqueueRecording(id);
    await sleep(200);
    expect(engine.calls).toHaveLength(0);
    expect(t.status()).toMatchObject({ queueSize: 1, paused: true });
    paused = false;
    t.wake();
    await waitFor(() => recordings.get(id)?.status === 'transcribed', 1000);
  });

  it('a bad-audio answer (4xx) fails the job at once without touching the breaker', async () => {
    const t = makeTranscriber({ breaker: { failureThreshold: 1, resetTimeoutMs: 10_000, timeoutMs: 5000 } });
    engine.script = ['bad'];
    await t.start();
    const id = addRecording(speechLike([1500, 300]));
    await t.enqueueRecording(id);
    await waitFor(() => recordings.get(id)?.status === 'failed');
    expect(engine.calls).toHaveLength(1);
    expect(t.status().breaker).toBe('closed');
    expect(errors).toContain('bad_audio');
  });

  it('breaker: opens after N engine failures, jobs stay queued without attempts, a probe closes it and the queue drains', async () => {
    const t = makeTranscriber({ maxAttempts: 3, breaker: { failureThreshold: 2, resetTimeoutMs: 300, timeoutMs: 5000 }, retry: { initialMs: 10, maxMs: 20 } });
    engine.fallback = 'unavailable';
    await t.start();
    const ids = [addRecording(speechLike([1500, 300])), addRecording(speechLike([1200, 300])), addRecording(speechLike([1000, 300]))];
    for (const id of ids) await t.enqueueRecording(id);
    await waitFor(() => t.status().breaker === 'open');
    expect(engine.calls).toHaveLength(2);
    // While open: nothing is sent, nothing is dropped.
    await sleep(150);
    expect(engine.calls).toHaveLength(2);
    expect(t.status()).toMatchObject({ queueSize: 3, breaker: 'open', busy: true });
    expect(t.health()).toMatchObject({ status: 'degraded', details: { queueSize: 3, breaker: 'open' } });
    // Half-open probes keep failing: it opens again, and no job is failed by them.
    await waitFor(() => engine.calls.length >= 4, 3000);
    expect(ids.map((id) => recordings.get(id)?.status)).toEqual(['transcribing', 'transcribing', 'transcribing']);
    expect(Math.max(...t.jobs.forRecording(ids[0] ?? '').map((job) => job.attempts))).toBeLessThan(3);

    engine.fallback = 'ok';
    await waitFor(() => ids.every((id) => recordings.get(id)?.status === 'transcribed'), 3000);
    expect(t.status()).toMatchObject({ queueSize: 0, breaker: 'closed', busy: false, running: null });
    expect(t.health().status).toBe('healthy');
  });

  it('a hanging engine call is aborted at the breaker timeout and retried', async () => {
    const t = makeTranscriber({ breaker: { failureThreshold: 5, resetTimeoutMs: 1000, timeoutMs: 200 } });
    engine.script = ['hang'];
    await t.start();
    const id = addRecording(speechLike([1500, 300]));
    await t.enqueueRecording(id);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.aborted).toBe(1);
    expect(engine.calls).toHaveLength(2);
    expect(errors).toContain('timeout');
  });

  it('resumes queued and interrupted jobs after a restart (database closed and reopened)', async () => {
    const first = makeTranscriber();
    engine.fallback = 'hang';
    await first.start();
    const a = addRecording(speechLike([1500, 300]));
    const b = addRecording(speechLike([1500, 300]));
    await first.enqueueRecording(a);
    await first.enqueueRecording(b);
    await waitFor(() => engine.calls.length === 1);
    await first.stop();
    expect(engine.aborted).toBe(1);
    closeDatabase(db);

    db = openDatabase(join(dir, 'scout.db'), silentLogger());
    recordings = new RecordingsRepo(db);
    // A crash would have left a job `running`: make it so.
    db.prepare(`UPDATE jobs SET state = 'running' WHERE recording_id = ?`).run(a);
    engine = new ScriptedEngine();
    const second = makeTranscriber();
    await second.start();
    await waitFor(() => recordings.get(a)?.status === 'transcribed' && recordings.get(b)?.status === 'transcribed');
    expect(engine.calls).toHaveLength(2);
    // Stopping is not a failed attempt.
    expect(second.jobs.forRecording(a)[0]?.attempts).toBe(0);
  });

  it('picks up at start a recording that was stored but never queued', async () => {
    const id = addRecording(speechLike([1500, 300]));
    const t = makeTranscriber();
    await t.start();
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls).toHaveLength(1);
  });

  it('refuses to queue an unknown recording or one still being recorded', async () => {
    const t = makeTranscriber();
    await t.start();
    await expect(t.enqueueRecording('0000000000000000000000000z')).rejects.toBeInstanceOf(UnknownRecordingError);
    const id = newRecordingId();
    recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: RATE_HZ, preRollMs: 0 });
    await expect(t.enqueueRecording(id)).rejects.toBeInstanceOf(RecordingInProgressError);
  });

  it('live short clip: end() queues the one window and moves the recording to transcribing at once', async () => {
    const t = makeTranscriber();
    await t.start();
    const pcm = speechLike([2000, 400]);
    const id = newRecordingId();
    await writeFile(join(dir, `${id}.wav`), encodeWav(pcm, SPEECH_RATE_HZ));
    recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: RATE_HZ, preRollMs: 0 });
    const live = t.beginRecording(id);
    live.feed(pcm);
    recordings.finish(id, { endedAtMs: Date.now(), durationMs: 2400, bytes: pcm.length * 2 });
    live.end(pcm.length);
    // No polling of the row: the status changed inside end().
    expect(recordings.get(id)?.status).toBe('transcribing');
    expect(t.jobs.forRecording(id)).toMatchObject([{ seq: 0, final: true, startSample: 0, endSample: pcm.length }]);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls[0]).toMatchObject({ samples: pcm.length, audioCtx: audioCtxFor(2400) });
    expect(t.transcript(id)?.windows).toBe(1);
  });

  it('live: end() before the row is recorded queues nothing and leaves the row alone; a restart transcribes it', async () => {
    const t = makeTranscriber();
    await t.start();
    const pcm = speechLike([2000, 400]);
    const id = newRecordingId();
    await writeFile(join(dir, `${id}.wav`), encodeWav(pcm, SPEECH_RATE_HZ));
    recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: RATE_HZ, preRollMs: 0 });
    const live = t.beginRecording(id);
    live.feed(pcm);
    expect(() => live.end(pcm.length)).not.toThrow();
    expect(recordings.get(id)?.status).toBe('recording');
    expect(t.jobs.forRecording(id)).toEqual([]);
    recordings.finish(id, { endedAtMs: Date.now(), durationMs: 2400, bytes: pcm.length * 2 });
    await t.stop();
    const restarted = makeTranscriber();
    await restarted.start();
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(restarted.transcript(id)?.windows).toBe(1);
  });

  it('stores the thread count the engine ran with, not the configured maximum', async () => {
    // The engine reports 4 in status() (the configured maximum); degradation restarted it with 1.
    engine.threads = 1;
    const t = makeTranscriber();
    await t.start();
    const id = addRecording(speechLike([2500, 500]));
    await t.enqueueRecording(id);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(t.jobs.forRecording(id)[0]?.result?.threads).toBe(1);
    expect(t.transcript(id)?.threads).toBe(1);
  });

  it('live: windows are transcribed while recording; at the end only the tail is sent', async () => {
    const t = makeTranscriber();
    const busy: boolean[] = [];
    t.onBusyChange((value) => busy.push(value));
    await t.start();
    // ~26 s: sentences of ~5 s of speech separated by 700 ms pauses.
    const sentence = [900, 120, 900, 120, 900, 120, 900, 120, 900, 700];
    const pcm = speechLike([...sentence, ...sentence, ...sentence, ...sentence, 900, 120, 900, 400]);
    const id = newRecordingId();
    recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: RATE_HZ, preRollMs: 0 });
    const writer = new WavWriter({ path: join(dir, `${id}.wav`), sampleRateHz: RATE_HZ, flushIntervalMs: 100, logger: silentLogger() });
    await writer.open();
    const live = t.beginRecording(id);
    // Faster than real time (10x), in 100 ms chunks, through the real WAV writer.
    const chunk = RATE_HZ / 10;
    for (let start = 0; start < pcm.length; start += chunk) {
      const end = Math.min(pcm.length, start + chunk);
      writer.append(pcm, start, end);
      live.feed(pcm, start, end);
      await sleep(10);
    }
    await waitFor(() => engine.calls.length >= 4, 3000);
    const beforeEnd = engine.calls.length;
    expect(recordings.get(id)?.status).toBe('recording');
    const partial = t.partial(id);
    expect(partial.windowsDone).toBe(4);
    expect(partial.complete).toBe(false);
    expect(partial.text).toBe('words 1 words 2 words 3 words 4');

    const result = await writer.finish();
    recordings.finish(id, { endedAtMs: Date.now(), durationMs: result.durationMs, bytes: result.bytes });
    live.end(pcm.length);
    await waitFor(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls).toHaveLength(beforeEnd + 1);
    const tail = engine.calls[engine.calls.length - 1];
    expect(tail?.samples).toBeLessThan(RATE_HZ * 3);
    for (const call of engine.calls) expect(call.samples).toBeLessThanOrEqual(RATE_HZ * 30);
    const transcript = t.transcript(id);
    expect(transcript?.windows).toBe(5);
    expect(transcript?.text).toBe('words 1 words 2 words 3 words 4 words 5');
    expect(transcript?.audioDurationMs).toBeCloseTo((pcm.length / RATE_HZ) * 1000, 0);
    // Segment times are absolute: the windows follow each other.
    const starts = transcript?.segments.map((segment) => segment.startMs) ?? [];
    expect(starts[0]).toBe(0);
    for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeGreaterThan(starts[i - 1] ?? 0);
    expect(t.partial(id)).toMatchObject({ complete: true, windowsDone: 5, windowsPending: 0 });
    expect(busy).toContain(true);
    expect(busy[busy.length - 1]).toBe(false);
  });
});
