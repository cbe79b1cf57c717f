import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturePipeline } from '../../src/audio/capture.js';
import { SPEECH_RATE_HZ } from '../../src/domain/transcript.js';
import { LevelSlot } from '../../src/audio/level.js';
import { Recorder } from '../../src/audio/recorder.js';
import { parseWavHeader } from '../../src/audio/wav.js';
import { ArecordSource } from '../../src/hardware/alsa.js';
import { silentLogger } from '../../src/log.js';
import { createFakeAlsa, type FakeAlsa } from '../helpers/fake-alsa.js';
import { dominantFrequencyHz, s16FromBuffer, sineS16, toneLevelDb } from '../helpers/signal.js';

/**
 * The whole capture path on real parts: arecord reading a 48 kHz stereo ALSA device (the `file`
 * plugin), our DSP and ring, and a recording streamed to a WAV file on disk.
 */
const FORMAT = { sampleRateHz: 48_000, channels: 2 } as const;
const SEGMENT_S = 1.5;
const AMPLITUDE = 0.5;
const INPUT_LEVEL_DB = 20 * Math.log10(AMPLITUDE);
const TONES_HZ = [440, 3000, 12_000] as const;

describe('capture path on a real ALSA device', () => {
  let alsa: FakeAlsa;
  let dir: string;
  let wav: { samples: Int16Array; dataBytes: number; sampleRateHz: number; channels: number };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scout-capture-'));
    alsa = await createFakeAlsa(FORMAT);
    // What the mic hears: three tones one after another, the same on both channels.
    await alsa.writeInfile(Buffer.concat(TONES_HZ.map((freqHz) => sineS16({ rateHz: FORMAT.sampleRateHz, channels: 2, durationS: SEGMENT_S, freqHz, amplitude: AMPLITUDE }))));
    const durationS = TONES_HZ.length * SEGMENT_S;

    const source = new ArecordSource({
      device: alsa.device,
      env: alsa.env,
      format: FORMAT,
      periodMs: 20,
      bufferMs: 200,
      stallTimeoutMs: 5000,
      // arecord ends after exactly `durationS` (the file plugin is not paced); no restart within the test.
      durationLimitSeconds: durationS,
      restart: { initialMs: 60_000, maxMs: 60_000 },
      logger: silentLogger(),
    });
    const capture = new CapturePipeline({ source, ringSeconds: 30, maxChunkFrames: 16_384, level: new LevelSlot(), logger: silentLogger() });
    const recorder = new Recorder({ ring: capture.ring, sampleRateHz: SPEECH_RATE_HZ, recordingsDir: dir, preRollMs: 0, flushIntervalMs: 1000, logger: silentLogger() });
    recorder.begin('take');
    await recorder.open();
    const expectedSamples = durationS * SPEECH_RATE_HZ;
    const allIn = new Promise<void>((resolve) => {
      capture.onChunk((written) => {
        recorder.onCaptureChunk();
        if (written >= expectedSamples) resolve();
      });
    });
    await capture.start();
    await allIn;
    await recorder.end();
    await capture.stop();

    const bytes = await readFile(join(dir, 'take.wav'));
    const header = parseWavHeader(bytes);
    wav = {
      samples: s16FromBuffer(bytes.subarray(header.dataOffset, header.dataOffset + header.declaredDataBytes)),
      dataBytes: header.declaredDataBytes,
      sampleRateHz: header.format.sampleRateHz,
      channels: header.format.channels,
    };
  }, 60_000);

  afterAll(async () => {
    await alsa.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores 16 kHz mono with the duration that was captured (within 1 %)', () => {
    expect(wav.sampleRateHz).toBe(16_000);
    expect(wav.channels).toBe(1);
    const durationS = wav.samples.length / 16_000;
    expect(Math.abs(durationS - TONES_HZ.length * SEGMENT_S) / (TONES_HZ.length * SEGMENT_S)).toBeLessThan(0.01);
  });

  // Measure the middle of each segment, away from the transitions and the filter's delay.
  const segment = (index: number): Int16Array => {
    const start = Math.round((index * SEGMENT_S + 0.25) * 16_000);
    return wav.samples.subarray(start, start + Math.round((SEGMENT_S - 0.5) * 16_000));
  };

  it('keeps a 440 Hz tone at its frequency and level (within 1 dB)', () => {
    expect(Math.abs(dominantFrequencyHz(segment(0), 16_000) - 440)).toBeLessThan(5);
    expect(Math.abs(toneLevelDb(segment(0), 440, 16_000) - INPUT_LEVEL_DB)).toBeLessThan(1);
  });

  it('keeps a 3 kHz tone at its frequency and level (within 1 dB)', () => {
    expect(Math.abs(dominantFrequencyHz(segment(1), 16_000) - 3000)).toBeLessThan(10);
    expect(Math.abs(toneLevelDb(segment(1), 3000, 16_000) - INPUT_LEVEL_DB)).toBeLessThan(1);
  });

  it('suppresses a 12 kHz tone that would alias to 4 kHz by at least 40 dB', () => {
    const aliasLevelDb = toneLevelDb(segment(2), 4000, 16_000);
    expect(aliasLevelDb).toBeLessThan(INPUT_LEVEL_DB - 40);
  });
});
