import { encodeWav } from '../../src/audio/wav.js';
import { SPEECH_RATE_HZ } from '../../src/domain/transcript.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerTranscriptRoutes, transcriptView } from '../../src/http/transcript-routes.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { createStore } from '../../src/store/store.js';
import { newRecordingId } from '../../src/store/ids.js';
import { RecordingsRepo } from '../../src/store/recordings.js';
import { type TranscribeRequest } from '../../src/transcribe/engine.js';
import { Transcriber } from '../../src/transcribe/transcriber.js';
import type { EngineTranscription, TranscriptionEngine } from '../../src/transcribe/window-job.js';
import { sleep } from '../../src/util/sleep.js';

const RATE_HZ = 16000;

/** Answers every request with two segments; `gate` holds answers back until opened. */
class FakeEngine implements TranscriptionEngine {
  calls = 0;
  private release: (() => void) | null = null;
  private held = false;
  status(): { model: string; threads: number } {
    return { model: 'ggml-test.bin', threads: 1 };
  }
  hold(): void {
    this.held = true;
  }
  open(): void {
    this.held = false;
    this.release?.();
  }
  async transcribe(request: TranscribeRequest): Promise<EngineTranscription> {
    this.calls++;
    if (this.held) await new Promise<void>((resolve) => (this.release = resolve));
    const ms = Math.round(((request.pcm?.length ?? 0) / RATE_HZ) * 1000);
    return { text: 'Hello there. General Kenobi.', segments: [{ startMs: 0, endMs: 1000, text: 'Hello there.' }, { startMs: 1000, endMs: ms, text: 'General Kenobi.' }], processingMs: 40, threads: 1 };
  }
}

function buzz(seconds: number): Int16Array {
  const out = new Int16Array(seconds * RATE_HZ);
  for (let i = 0; i < out.length; i++) {
    const t = i / RATE_HZ;
    out[i] = Math.round(3000 * (0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t)) * Math.sin(2 * Math.PI * 200 * t));
  }
  return out;
}

let dir: string;
let db: Database;
let recordings: RecordingsRepo;
let engine: FakeEngine;
let transcriber: Transcriber;
// Built the way the HTTP server builds its instance (a pino logger instance), so the types match.
function makeApp() {
  return Fastify({ loggerInstance: silentLogger() });
}
let app: ReturnType<typeof makeApp>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scout-routes-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  recordings = new RecordingsRepo(db);
  engine = new FakeEngine();
  transcriber = new Transcriber({
    store: createStore(db),
    recordingsDir: dir,
    engine,
    logger: silentLogger(),
    config: { minSpeechMs: 4000, maxWindowMs: 30_000, maxAttempts: 3, retry: { initialMs: 10, maxMs: 50 }, breaker: { failureThreshold: 3, resetTimeoutMs: 500, timeoutMs: 5000 } },
  });
  await transcriber.start();
  app = makeApp();
  registerTranscriptRoutes(app, { recordings, transcriber });
  await app.ready();
});

afterEach(async () => {
  engine.open();
  await app.close();
  await transcriber.stop();
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

function addRecording(seconds: number, finished = true): string {
  const id = newRecordingId();
  writeFileSync(join(dir, `${id}.wav`), encodeWav(buzz(seconds), SPEECH_RATE_HZ));
  recordings.create({ id, startedAtMs: Date.now(), audioPath: `${id}.wav`, sampleRateHz: RATE_HZ, preRollMs: 0 });
  if (finished) recordings.finish(id, { endedAtMs: Date.now(), durationMs: seconds * 1000, bytes: seconds * RATE_HZ * 2 });
  return id;
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}

describe('transcript routes', () => {
  it('404 for an unknown recording, on both routes', async () => {
    const id = newRecordingId();
    expect((await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: `/api/recordings/${id}/transcribe` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/api/recordings/not-an-id/transcript' })).statusCode).toBe(404);
  });

  it('POST queues a recording (202), GET answers 409 with the partial while transcribing, then 200 in every format', async () => {
    engine.hold();
    const id = addRecording(3);
    expect((await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript` })).json()).toMatchObject({ error: 'no_transcript', status: 'recorded' });
    const queued = await app.inject({ method: 'POST', url: `/api/recordings/${id}/transcribe` });
    expect(queued.statusCode).toBe(202);
    expect(queued.json()).toEqual({ queued: true, id, windows: 1 });
    const busy = await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript` });
    expect(busy.statusCode).toBe(409);
    expect(busy.json()).toMatchObject({ status: 'transcribing', partial: { text: '', windowsDone: 0, windowsPending: 1, complete: false } });
    expect(transcriptView({ recordings, transcriber }, { id, status: 'transcribing' })).toMatchObject({ state: 'partial', windowsPending: 1 });

    engine.open();
    await until(() => recordings.get(id)?.status === 'transcribed');
    const json = await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript` });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toMatchObject({ recordingId: id, text: 'Hello there. General Kenobi.', audioDurationMs: 3000, tier: 'normal', degraded: false });
    const txt = await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript?format=txt` });
    expect(txt.headers['content-type']).toMatch(/^text\/plain/);
    expect(txt.body).toBe('Hello there. General Kenobi.\n');
    const srt = await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript?format=srt` });
    expect(srt.body).toBe('1\n00:00:00,000 --> 00:00:01,000\nHello there.\n\n2\n00:00:01,000 --> 00:00:03,000\nGeneral Kenobi.\n');
    const vtt = await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript?format=vtt` });
    expect(vtt.body.startsWith('WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello there.')).toBe(true);
    expect((await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript?format=doc` })).statusCode).toBe(400);
    const recording = recordings.get(id);
    if (!recording) throw new Error('gone');
    expect(transcriptView({ recordings, transcriber }, recording)).toMatchObject({ state: 'done', text: 'Hello there. General Kenobi.' });

    // A second POST transcribes it again.
    expect((await app.inject({ method: 'POST', url: `/api/recordings/${id}/transcribe` })).statusCode).toBe(202);
    await until(() => recordings.get(id)?.status === 'transcribed');
    expect(engine.calls).toBe(2);
    // The replaced transcript is kept.
    expect(transcriber.history(id)).toMatchObject([{ reason: 'retranscribe', transcript: { text: 'Hello there. General Kenobi.' } }]);
  });

  it('GET /transcripts: the current transcript and the replaced ones, newest first, each with its tier', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/recordings/0000000000000000000000000z/transcripts' })).statusCode).toBe(404);
    const id = addRecording(3);
    expect((await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcripts` })).json()).toEqual({ current: null, history: [] });
    await transcriber.enqueueRecording(id);
    await until(() => recordings.get(id)?.status === 'transcribed');
    const store = createStore(db);
    const first = store.transcripts.get(id);
    if (!first) throw new Error('no transcript');
    // As catch-up does it: the old one to the history and the new one current, in one transaction.
    store.transaction(() => {
      store.transcripts.archive(id, 'catch-up', 1000);
      store.transcripts.save({ ...first, text: 'second', tier: 'normal', degraded: false, createdAtMs: 1500 });
    });
    store.transaction(() => {
      store.transcripts.archive(id, 'catch-up', 2000);
      store.transcripts.save({ ...first, text: 'third', tier: 'normal', degraded: false, createdAtMs: 2500 });
    });
    const response = await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcripts` });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ current: { text: string; tier: string }; history: { text: string; tier: string; replacedAtMs: number; reason: string }[] }>();
    expect(body.current).toMatchObject({ text: 'third', tier: 'normal' });
    expect(body.history.map((entry) => [entry.text, entry.replacedAtMs, entry.reason])).toEqual([
      ['second', 2000, 'catch-up'],
      ['Hello there. General Kenobi.', 1000, 'catch-up'],
    ]);
    expect(body.history[1]?.tier).toBe('normal');
    // The single-transcript route shows the current one.
    expect((await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript` })).json()).toMatchObject({ text: 'third', tier: 'normal' });
  });

  it('409 on POST while the recording is still being recorded; GET gives the partial', async () => {
    const id = addRecording(2, false);
    const post = await app.inject({ method: 'POST', url: `/api/recordings/${id}/transcribe` });
    expect(post.statusCode).toBe(409);
    const get = await app.inject({ method: 'GET', url: `/api/recordings/${id}/transcript` });
    expect(get.statusCode).toBe(409);
    expect(get.json()).toMatchObject({ status: 'recording', partial: { windowsDone: 0 } });
    expect(transcriptView({ recordings, transcriber }, { id, status: 'recorded' })).toEqual({ state: 'none' });
  });
});
