/**
 * What audio reaches Whisper. The engine is the real WhisperEngine (supervisor, client, multipart
 * upload), but the child it spawns is the witness (test/helpers/fixtures/witness-server.mjs): it
 * answers each clip with a description of its samples (count, sha256, first and last sample) and
 * logs every request. So per window we can prove that exactly the samples [startSample, endSample)
 * of the WAV on disk were sent, that the windows tile the recording (pre-roll first, tail last)
 * and that each window's answer is stored against that window.
 */
import { speechLike } from '../helpers/signal.js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Recorder } from '../../src/audio/recorder.js';
import { PcmRing } from '../../src/audio/ring-buffer.js';
import { encodeWav } from '../../src/audio/wav.js';
import type { Recording } from '../../src/domain/recording.js';
import type { WindowResult } from '../../src/domain/transcript.js';
import { vocabularyPrompt } from '../../src/domain/vocabulary.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { newRecordingId } from '../../src/store/ids.js';
import { createStore } from '../../src/store/store.js';
import { audioCtxFor, WhisperEngine } from '../../src/transcribe/engine.js';
import { Transcriber, type TranscriberConfig } from '../../src/transcribe/transcriber.js';
import { sleep } from '../../src/util/sleep.js';
import { startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';
import { makeWitness, sampleSlice, sha256Hex, wavDataBytes, witnessText, type Witness, type WitnessInference } from '../helpers/witness.js';

const RATE_HZ = 16000;
const samplesOf = (ms: number): number => Math.round((ms * RATE_HZ) / 1000);

/** Polls a synchronous condition every 20 ms, for at most 20 s. */
async function until(condition: () => boolean): Promise<void> {
  await waitFor(() => Promise.resolve(condition()), 20_000, 20);
}

function pcmBytes(pcm: Int16Array): Buffer {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

interface WindowRow {
  readonly seq: number;
  readonly startSample: number;
  readonly endSample: number;
  readonly final: boolean;
  readonly state: string;
  readonly result: WindowResult | null;
}

/**
 * The proof, for one recording: windows in seq order tile [0, data length) with no gap and no
 * overlap, the last one is the tail and ends at the last sample; every window with speech reached
 * the witness exactly once with exactly its slice of the file, its stored answer is the witness's
 * description of that slice; silent windows never reached it; and walking the witness's own
 * sample counts in seq order rebuilds the file's data (each hash matching the slice at the cursor).
 */
function expectWindowsAreTheFile(data: Buffer, windows: readonly WindowRow[], inferences: readonly WitnessInference[]): { sent: number; texts: string[] } {
  const totalSamples = data.length / 2;
  const ordered = [...windows].sort((a, b) => a.seq - b.seq);
  expect(ordered.map((w) => w.seq)).toEqual(ordered.map((_, index) => index));
  expect(ordered[0]?.startSample).toBe(0);
  for (let i = 1; i < ordered.length; i++) expect(ordered[i]?.startSample, `window ${i} starts where ${i - 1} ended`).toBe(ordered[i - 1]?.endSample);
  expect(ordered.map((w) => w.final)).toEqual(ordered.map((_, index) => index === ordered.length - 1));
  expect(ordered.at(-1)?.endSample).toBe(totalSamples);

  const unclaimed = [...inferences];
  const texts: string[] = [];
  let cursor = 0;
  let sent = 0;
  for (const window of ordered) {
    expect(window.state, `window ${window.seq}`).toBe('done');
    const slice = sampleSlice(data, window.startSample, window.endSample);
    const hash = sha256Hex(slice);
    const matches = unclaimed.filter((request) => request.sha256 === hash);
    if (window.result?.noSpeech === true) {
      // The silence gate kept it from the engine.
      expect(matches, `silent window ${window.seq} was not sent`).toHaveLength(0);
      cursor += window.endSample - window.startSample;
      continue;
    }
    expect(matches, `window ${window.seq} [${window.startSample}, ${window.endSample}) reached the witness once`).toHaveLength(1);
    const request = matches[0] as WitnessInference;
    unclaimed.splice(unclaimed.indexOf(request), 1);
    sent++;
    expect(request).toMatchObject({
      samples: window.endSample - window.startSample,
      first: slice.readInt16LE(0),
      last: slice.readInt16LE(slice.length - 2),
      trailingBytes: 0,
      declaredDataBytes: slice.length,
      response_format: 'verbose_json',
    });
    // Rebuilt from the witness's side: its count moves the cursor, its hash is the file's there.
    expect(sha256Hex(sampleSlice(data, cursor, cursor + request.samples))).toBe(request.sha256);
    cursor += request.samples;
    // The answer is stored against the window it describes.
    const text = witnessText(slice);
    expect(window.result?.segments).toEqual([{ startMs: 0, endMs: Math.round(((window.endSample - window.startSample) / RATE_HZ) * 1000), text }]);
    texts.push(text);
  }
  expect(cursor).toBe(totalSamples);
  expect(unclaimed, 'no request the windows do not account for').toEqual([]);
  return { sent, texts };
}

describe('the witness engine under the Transcriber (live windows, real Recorder and WAV)', () => {
  let dir: string;
  let witness: Witness;
  let db: Database;
  let engine: WhisperEngine | null = null;
  let transcriber: Transcriber | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scout-witness-'));
    witness = await makeWitness(dir);
    db = openDatabase(join(dir, 'scout.db'), silentLogger());
  });

  afterEach(async () => {
    await transcriber?.stop();
    await engine?.stop();
    transcriber = null;
    engine = null;
  });

  afterAll(async () => {
    closeDatabase(db);
    await rm(dir, { recursive: true, force: true });
  });

  it('every window sends exactly its slice of the WAV; the windows tile the take from the pre-roll to the last sample', async () => {
    const config: TranscriberConfig = {
      minSpeechMs: 1500,
      maxWindowMs: 5000,
      maxAttempts: 2,
      retry: { initialMs: 50, maxMs: 200 },
      breaker: { failureThreshold: 3, resetTimeoutMs: 1000, timeoutMs: 10_000 },
      beamSize: 1,
    };
    engine = new WhisperEngine({
      serverPath: witness.serverPath,
      modelPath: witness.modelPath,
      threads: 1,
      flashAttention: true,
      restart: { initialMs: 50, maxMs: 500 },
      readyTimeoutMs: 10_000,
      requestTimeoutMs: 10_000,
      logger: silentLogger(),
    });
    await engine.start();
    const store = createStore(db);
    const vocabulary = ['Scout', 'Kaiser window'];
    transcriber = new Transcriber({ store, recordingsDir: dir, engine, config, logger: silentLogger(), vocabulary: () => vocabulary });
    await transcriber.start();

    // What the mic hears: 1.2 s before the press (the pre-roll comes from its end), then pauses
    // after enough speech (pause cuts), 7 s without a pause (cut at its quietest point before 5 s), and a tail
    // that ends in speech.
    const beforePress = speechLike([700, 200, 300], 1);
    const takePattern = [900, 400, 900, 500, 1000, 450, 800, 400, 1200, 600, 7000, 500, 1100, 300, 700];
    const take = speechLike(takePattern, 2);
    const preRollMs = 500;
    const ring = new PcmRing(RATE_HZ * 16);
    const recorder = new Recorder({ ring, sampleRateHz: RATE_HZ, recordingsDir: dir, preRollMs, flushIntervalMs: 200, logger: silentLogger() });
    const chunk = samplesOf(50);
    const play = async (pcm: Int16Array, pace: boolean): Promise<void> => {
      for (let start = 0; start < pcm.length; start += chunk) {
        ring.write(pcm.subarray(start, Math.min(pcm.length, start + chunk)));
        recorder.onCaptureChunk();
        // 10x real time: windows are sent while the take is still being written.
        if (pace) await sleep(5);
      }
    };
    await play(beforePress, false);

    // As the appliance does it: live handle, recorder with the tap, row, file.
    const id = newRecordingId();
    const pressedAt = recorder.position();
    const live = transcriber.beginRecording(id);
    const begun = recorder.begin(id, pressedAt, (samples, start, end) => live.feed(samples, start, end));
    expect(begun.preRollMs).toBe(preRollMs);
    store.recordings.create({ id, startedAtMs: Date.now(), audioPath: begun.audioPath, sampleRateHz: RATE_HZ, preRollMs: begun.preRollMs });
    await recorder.open();
    await play(take, true);
    // Windows are transcribed while the take is still open (the tail is all that is left at the end).
    await until(() => (transcriber?.partial(id).windowsDone ?? 0) >= 3);
    expect(store.recordings.get(id)?.status).toBe('recording');
    const sentWhileRecording = (await witness.inferences()).length;
    const saved = await recorder.end();
    store.recordings.finish(id, { endedAtMs: Date.now(), durationMs: saved.durationMs, bytes: saved.bytes });
    live.end(saved.bytes / 2);
    await until(() => store.recordings.get(id)?.status === 'transcribed');

    // The file is the pre-roll (the last 500 ms before the press) followed by the take.
    const data = await wavDataBytes(join(dir, begun.audioPath));
    const preRoll = beforePress.subarray(beforePress.length - samplesOf(preRollMs));
    expect(data.equals(Buffer.concat([pcmBytes(preRoll), pcmBytes(take)]))).toBe(true);
    expect(saved.bytes).toBe(data.length);

    const windows: WindowRow[] = transcriber.jobs.forRecording(id);
    const inferences = await witness.inferences();
    const { sent, texts } = expectWindowsAreTheFile(data, windows, inferences);
    // Pause cuts, a forced cut, the tail; all of them hold speech here, so all were sent.
    expect(windows.length).toBeGreaterThanOrEqual(5);
    expect(sent).toBe(windows.length);
    expect(sentWhileRecording).toBeGreaterThanOrEqual(3);
    // The first window holds the pre-roll: it starts with the audio from before the press.
    const first = inferences.find((request) => request.sha256 === sha256Hex(sampleSlice(data, windows[0]?.startSample ?? 0, windows[0]?.endSample ?? 0)));
    expect(first?.first).toBe(preRoll[0]);
    // The tail window ends at the take's last sample.
    // Found by its samples, not by its place in the log: under load a timed-out window is retried
    // and logged again after the tail.
    const tailWindow = windows.at(-1);
    const tail = inferences.find((request) => request.sha256 === sha256Hex(sampleSlice(data, tailWindow?.startSample ?? 0, tailWindow?.endSample ?? 0)));
    expect(tail?.last).toBe(take[take.length - 1]);
    expect(tail?.samples).toBe((tailWindow?.endSample ?? 0) - (tailWindow?.startSample ?? 0));
    // Every window is at most maxWindowMs, and 7 s without a pause were cut inside (a forced cut).
    for (const window of windows) expect(window.endSample - window.startSample).toBeLessThanOrEqual(samplesOf(config.maxWindowMs));
    const unbrokenFrom = samplesOf(preRollMs + takePattern.slice(0, takePattern.indexOf(7000)).reduce((a, b) => a + b, 0));
    const unbrokenTo = unbrokenFrom + samplesOf(7000);
    expect(windows.some((w) => w.endSample > unbrokenFrom + samplesOf(500) && w.endSample < unbrokenTo - samplesOf(500))).toBe(true);

    // What else each request carried: the encoder context cut to the window, greedy, the vocabulary.
    for (const window of windows) {
      const request = inferences.find((r) => r.sha256 === sha256Hex(sampleSlice(data, window.startSample, window.endSample)));
      expect(request).toMatchObject({
        audio_ctx: audioCtxFor(((window.endSample - window.startSample) / RATE_HZ) * 1000, 64),
        beam_size: 1,
        prompt: vocabularyPrompt(vocabulary),
        language: 'en',
        model: witness.modelPath,
        threads: 1,
      });
      expect(window.result?.audioCtx).toBe(request?.audio_ctx);
    }
    // The stitched transcript is the windows' answers in order.
    expect(transcriber.transcript(id)?.text).toBe(texts.join(' '));
    // One child served them all, started with whisper-server's flags.
    const starts = (await witness.events()).filter((event) => event['event'] === 'start');
    expect(starts).toMatchObject([{ model: witness.modelPath, host: '127.0.0.1', threads: 1, flashAttention: true, flags: ['-nlp'] }]);
    expect(new Set(inferences.map((r) => r.pid))).toEqual(new Set([engine.status().pid]));
  }, 60_000);
});

/**
 * The whole service: the simulator mic plays a clip in real time into the ring, the button makes a
 * take, and whisper-server is the witness (config `transcription.serverPath`).
 */
describe('the witness engine under the service (simulator mic, button)', () => {
  let work: string;
  let witness: Witness;
  let scout: ScoutProcess | null = null;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'scout-witness-e2e-'));
    const dataDir = join(work, 'data');
    await mkdir(join(dataDir, 'models'), { recursive: true });
    // Installed as the normal tier (the catalog wants 1 MiB at least): no placeholder generated.
    witness = await makeWitness(work, { modelPath: join(dataDir, 'models', 'ggml-tiny.en-q8_0.bin'), modelBytes: 2 * 1024 * 1024 });
    const clipPath = join(work, 'clip.wav');
    await writeFile(clipPath, encodeWav(speechLike([900, 450, 800, 500, 1000, 400, 700, 450, 1100, 500], 3), RATE_HZ));
    scout = await startScout({
      dataDir,
      config: {
        audio: { backend: 'fake', sampleRateHz: 16000, channels: 1, periodMs: 20, simAudioPath: clipPath },
        recorder: { preRollMs: 500, flushIntervalMs: 200 },
        transcription: { serverPath: witness.serverPath, threads: 1, adaptive: false, catchUp: false, minSpeechMs: 1000, maxWindowMs: 5000 },
      },
    });
    await waitFor(async () => (await scout?.api<{ audio: { state: string } }>('/api/state'))?.body.audio.state === 'running', 15_000);
    // The ring holds more than the pre-roll before the press.
    await sleep(1500);
  }, 120_000);

  afterAll(async () => {
    await scout?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('the first window starts at the first pre-roll sample, and the windows sent are the stored WAV, in order', async () => {
    if (scout === null) throw new Error('scout did not start');
    const service = scout;
    const t0 = performance.now();
    expect(await service.button('toggle')).toBeLessThan(300);
    const t1 = performance.now();
    const id = await waitFor(async () => (await service.api<{ appliance: { recordingId: string | null } }>('/api/state')).body.appliance.recordingId, 5000, 20);
    await sleep(6000);
    const t2 = performance.now();
    await service.button('toggle');
    const t3 = performance.now();
    const recording = await waitFor(async () => {
      const { body } = await service.api<Recording & { transcript?: { text?: string } }>(`/api/recordings/${id}`);
      return body.status === 'transcribed' ? body : null;
    }, 30_000, 50);

    // The take began 500 ms before the press: the file is longer than the button was held by that much.
    expect(recording.preRollMs).toBe(500);
    const slackMs = 150;
    expect(recording.durationMs).toBeGreaterThanOrEqual(t2 - t1 + 500 - slackMs);
    expect(recording.durationMs).toBeLessThanOrEqual(t3 - t0 + 500 + slackMs);

    const data = await wavDataBytes(join(service.dataDir, 'recordings', recording.audioPath));
    expect(recording.bytes).toBe(data.length);
    const sqlite = new BetterSqlite3(join(service.dataDir, 'scout.db'), { readonly: true, fileMustExist: true });
    let windows: WindowRow[];
    try {
      const rows = sqlite
        .prepare('SELECT seq, start_sample, end_sample, final, state, result_json FROM jobs WHERE recording_id = ? ORDER BY seq')
        .all(id) as { seq: number; start_sample: number; end_sample: number; final: number; state: string; result_json: string | null }[];
      windows = rows.map((row) => ({
        seq: row.seq,
        startSample: row.start_sample,
        endSample: row.end_sample,
        final: row.final === 1,
        state: row.state,
        result: row.result_json === null ? null : (JSON.parse(row.result_json) as WindowResult),
      }));
    } finally {
      sqlite.close();
    }
    const inferences = await witness.inferences();
    const { sent, texts } = expectWindowsAreTheFile(data, windows, inferences);
    expect(windows.length).toBeGreaterThanOrEqual(2);
    expect(sent).toBeGreaterThanOrEqual(2);

    // The first window starts at sample 0 of the file, which is the pre-roll: 500 ms of audio from
    // before the press, sent in that window as its first samples.
    expect(windows[0]?.startSample).toBe(0);
    expect(windows[0]?.result?.noSpeech).toBe(false);
    expect((windows[0]?.endSample ?? 0) - (windows[0]?.startSample ?? 0)).toBeGreaterThan(samplesOf(500));
    const first = inferences.find((request) => request.sha256 === sha256Hex(sampleSlice(data, 0, windows[0]?.endSample ?? 0)));
    expect(first?.first).toBe(data.readInt16LE(0));
    for (const request of inferences) {
      expect(request).toMatchObject({ beam_size: 1, prompt: null, response_format: 'verbose_json', language: 'en', model: witness.modelPath });
      expect(request.audio_ctx).toBeGreaterThanOrEqual(Math.ceil((request.samples / RATE_HZ) * 50));
    }
    // The transcript the service serves is the witness's answers, window by window.
    expect(recording.transcript?.text).toBe(texts.join(' '));
  }, 60_000);
});
