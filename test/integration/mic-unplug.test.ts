import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordingPage } from '../../src/store/recordings.js';
import type { Recording } from '../../src/domain/recording.js';
import { LED_PATTERNS } from '../../src/ops/led-language.js';
import { PULSE_MIC_AUDIO_CONFIG, startPulseFakeMic, type PulseFakeMic } from '../helpers/fake-alsa.js';
import { removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface State {
  appliance: { phase: string; faults: string[]; leds: Record<string, { mode: string }> };
  audio: { state: string; restarts: number };
}

/**
 * The real service capturing through real arecord from a real-time ALSA device (PulseAudio's
 * ALSA plugin over a null sink). Killing the sound server is the unplug: arecord dies as it does
 * when a USB mic goes away. Starting it again is the replug.
 */
describe('microphone unplugged and plugged back', () => {
  const format = { sampleRateHz: 48_000, channels: 2 } as const;
  let mic: PulseFakeMic;
  let scout: ScoutProcess;

  beforeAll(async () => {
    mic = await startPulseFakeMic(format);
    scout = await startScout({
      env: { XDG_RUNTIME_DIR: mic.env.XDG_RUNTIME_DIR, PULSE_SERVER: mic.env.PULSE_SERVER, HOME: mic.env.HOME },
      config: {
        // Transcription (no model here) would make health degraded for reasons of its own.
        transcription: { enabled: false },
        audio: PULSE_MIC_AUDIO_CONFIG,
      },
    });
  }, 60_000);

  afterAll(async () => {
    await scout?.stop();
    await mic?.stop();
    if (scout) await removeDataDir(scout.dataDir);
  });

  it('restarts capture with backoff, shows degraded, and records again once the mic is back', async () => {
    await waitFor(async () => (await scout.api<State>('/api/state')).body.audio.state === 'running', 15_000);
    const healthy = await scout.api<{ status: string }>('/healthz');
    expect(healthy.body.status).toBe('healthy');

    await mic.kill();
    const unplugged = await waitFor(async () => {
      const state = (await scout.api<State>('/api/state')).body;
      return state.audio.state === 'restarting' && state.audio.restarts >= 2 ? state : null;
    }, 15_000);
    expect(unplugged.appliance.faults.join(' ')).toMatch(/microphone/);
    // Cannot record: the green LED blinks code 2 (no microphone); the red one is dark.
    expect(unplugged.appliance.leds.status).toEqual(LED_PATTERNS.noMicrophone);
    expect(unplugged.appliance.leds.record?.mode).toBe('off');
    // The health cache is short; wait it out rather than read a stale report.
    const degraded = await waitFor(async () => {
      const health = await scout.api<{ status: string; checks: Record<string, { status: string; message: string }> }>('/healthz');
      return health.body.checks.audio?.status !== 'healthy' ? health : null;
    }, 10_000);
    expect(degraded.status).toBe(200);
    expect(degraded.body.status).toBe('degraded');
    const metrics = await scout.api<string>('/metrics');
    const restarts = /^scout_audio_capture_restarts_total (\d+)/m.exec(metrics.body);
    expect(Number(restarts?.[1])).toBeGreaterThanOrEqual(2);

    await mic.revive();
    await waitFor(async () => (await scout.api<State>('/api/state')).body.audio.state === 'running', 20_000);
    await waitFor(async () => (await scout.api<State>('/api/state')).body.appliance.faults.length === 0, 5000);

    // Recording works again.
    await scout.button('toggle');
    await sleep(1500);
    await scout.button('toggle');
    const saved = await waitFor(async () => {
      const page = (await scout.api<RecordingPage>('/api/recordings')).body;
      return page.items.find((r: Recording) => r.status === 'recorded');
    });
    expect(saved.durationMs).toBeGreaterThan(1000);
    expect(scout.child.exitCode).toBeNull();
  }, 90_000);
});
