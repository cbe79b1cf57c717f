import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Recording } from '../../src/domain/recording.js';
import { LED_PATTERNS } from '../../src/ops/led-language.js';
import { makeSpeechWav, startPulseFakeMic, type PulseFakeMic } from '../helpers/fake-alsa.js';
import { makeDataDir, removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';
import { ensureModel, ensureWhisperBuilt, wavDurationMs, type EnsuredModel } from '../helpers/whisper.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface RecordingWithTranscript extends Recording {
  transcript?: { state: string; text?: string; segments?: { startMs: number; endMs: number; text: string }[] };
}
interface State {
  appliance: { phase: string; faults: string[]; leds: Record<string, { mode: string }>; recordingId: string | null };
  transcription: { queue: { queueSize: number } } | null;
}

/**
 * The whole product on real parts: arecord capturing real-time speech (espeak-ng played into a
 * PulseAudio null sink), the recorder, the queue and whisper.cpp built from source running a
 * generated model, all inside the real service driven over HTTP.
 */
describe('press, speak, press: a transcript from the device', () => {
  const format = { sampleRateHz: 48_000, channels: 1 } as const;
  let mic: PulseFakeMic;
  let scout: ScoutProcess;
  let model: EnsuredModel;
  let work: string;
  let speechPath: string;

  beforeAll(async () => {
    await ensureWhisperBuilt();
    model = await ensureModel('mini', { decodeTokens: 8 });
    work = await mkdtemp(join(tmpdir(), 'scout-e2e-'));
    speechPath = await makeSpeechWav('Remember to buy milk and call the plumber tomorrow morning.', { rateHz: 48_000, channels: 1, dir: work });
    mic = await startPulseFakeMic(format);
    const dataDir = await makeDataDir();
    await mkdir(join(dataDir, 'models'), { recursive: true });
    await copyFile(model.path, join(dataDir, 'models', 'ggml-tiny.en-q8_0.bin'));
    scout = await startScout({
      dataDir,
      env: { XDG_RUNTIME_DIR: mic.env.XDG_RUNTIME_DIR, PULSE_SERVER: mic.env.PULSE_SERVER, HOME: mic.env.HOME },
      config: {
        audio: { backend: 'alsa', device: 'pulse', sampleRateHz: 48_000, channels: 1, periodMs: 20, bufferMs: 400 },
        transcription: { threads: 1, adaptive: false },
      },
    });
    await waitFor(async () => (await scout.api<{ audio: { state: string } }>('/api/state')).body.audio.state === 'running', 15_000);
  }, 15 * 60_000);

  afterAll(async () => {
    await scout?.stop();
    await mic?.stop();
    if (scout) await removeDataDir(scout.dataDir);
    await rm(work, { recursive: true, force: true });
  });

  it('a transcript row with the engine text and segment times inside the audio', async () => {
    const speechMs = await wavDurationMs(speechPath);
    await scout.button('toggle');
    await waitFor(async () => (await scout.api<State>('/api/state')).body.appliance.recordingId);
    await mic.play(speechPath);
    await sleep(300);
    await scout.button('toggle');

    const done = await waitFor(async () => {
      const page = (await scout.api<{ items: Recording[] }>('/api/recordings')).body;
      return page.items.find((r) => r.status === 'transcribed');
    }, 30_000);
    const recording = (await scout.api<RecordingWithTranscript>(`/api/recordings/${done.id}`)).body;
    expect(recording.durationMs).toBeGreaterThanOrEqual(speechMs);
    expect(recording.transcript?.state).toBe('done');
    expect(recording.transcript?.text).toBe(model.expectedText.trim());
    expect(recording.transcript?.segments?.length).toBeGreaterThan(0);
    for (const segment of recording.transcript?.segments ?? []) {
      expect(segment.startMs).toBeGreaterThanOrEqual(0);
      expect(segment.endMs).toBeLessThanOrEqual(recording.durationMs ?? 0);
      expect(segment.text.length).toBeGreaterThan(0);
    }
    const srt = await scout.api<string>(`/api/recordings/${done.id}/transcript?format=srt`);
    expect(srt.status).toBe(200);
    expect(srt.body).toMatch(/^1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n/);

    const metrics = (await scout.api<string>('/metrics')).body;
    expect(metrics).toMatch(/^scout_transcription_duration_seconds_count 1$/m);
    expect(metrics).toMatch(/^scout_recordings_total\{outcome="completed"\} 1$/m);
  }, 60_000);
});

describe('no usable model', () => {
  let scout: ScoutProcess;
  let model: EnsuredModel;

  beforeAll(async () => {
    await ensureWhisperBuilt();
    model = await ensureModel('mini', { decodeTokens: 8 });
    scout = await startScout({
      config: { transcription: { placeholderModel: false, threads: 1, adaptive: false, breakerResetMs: 1000, retryInitialMs: 100, retryMaxMs: 500 } },
    });
  }, 15 * 60_000);

  afterAll(async () => {
    await scout?.stop();
    if (scout) await removeDataDir(scout.dataDir);
  });

  it('says so in health and on the LEDs, keeps recording and queueing, and drains once a model is installed', async () => {
    const health = await waitFor(async () => {
      const report = await scout.api<{ status: string; checks: Record<string, { status: string; message: string }> }>('/healthz');
      return report.body.checks.model?.status === 'unhealthy' ? report : null;
    });
    expect(health.status).toBe(503);
    expect(health.body.checks.model?.message).toMatch(/ggml-tiny\.en-q8_0\.bin/);
    const state = (await scout.api<State>('/api/state')).body;
    expect(state.appliance.faults.join(' ')).toMatch(/no usable model/);
    // Code 4, no model, on the green LED.
    expect(state.appliance.leds.status).toEqual(LED_PATTERNS.noModel);

    // Recording still works, and the work waits in the queue.
    await sleep(600);
    await scout.button('toggle');
    await sleep(1500);
    await scout.button('toggle');
    const queued = await waitFor(async () => {
      const page = (await scout.api<{ items: Recording[] }>('/api/recordings')).body;
      return page.items.find((r) => r.status === 'transcribing');
    });
    const during = (await scout.api<State>('/api/state')).body;
    expect(during.transcription?.queue.queueSize).toBeGreaterThan(0);

    await copyFile(model.path, join(scout.dataDir, 'models', 'ggml-tiny.en-q8_0.bin'));
    const done = await waitFor(async () => {
      const recording = (await scout.api<Recording>(`/api/recordings/${queued.id}`)).body;
      return recording.status === 'transcribed' ? recording : null;
    }, 60_000);
    expect(done.status).toBe('transcribed');
    await waitFor(async () => (await scout.api<State>('/api/state')).body.appliance.faults.length === 0, 15_000);
  }, 120_000);
});
