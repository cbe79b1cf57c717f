import { describe, expect, it } from 'vitest';
import {
  CaptureDsp,
  PASSBAND_EDGE_HZ,
  STOPBAND_ATTENUATION_DB,
  STOPBAND_EDGE_HZ,
  SUPPORTED_INPUT_RATES_HZ,
} from '../../src/audio/dsp.js';
import { designLowPass, responseDb } from '../../src/audio/fir.js';
import { LEVEL_FLOOR_DBFS, LevelSlot } from '../../src/audio/level.js';
import { dominantFrequencyHz, rmsDbfs, s16FromBuffer, sineS16, toneLevelDb } from '../helpers/signal.js';

/** Run a whole buffer through a fresh DSP in chunks of `chunkFrames`, concatenating the output. */
function runAll(pcm: Buffer, inputRateHz: number, channels: number, chunkFrames = 1024, level = new LevelSlot()): Int16Array {
  const dsp = new CaptureDsp({ inputRateHz, channels, maxChunkFrames: chunkFrames, level });
  const frameBytes = channels * 2;
  const out: number[] = [];
  for (let offset = 0; offset < pcm.length; offset += chunkFrames * frameBytes) {
    const chunk = pcm.subarray(offset, Math.min(offset + chunkFrames * frameBytes, pcm.length));
    for (const s of dsp.process(chunk)) out.push(s);
  }
  return Int16Array.from(out);
}

/** The output after the filter has settled (its start-up transient is a few dozen samples). */
function settled(samples: Int16Array): Int16Array {
  return samples.subarray(400);
}

// A tone at 0.5 of full scale reads -6.02 dBFS.
const HALF_SCALE_DB = 20 * Math.log10(0.5);

describe('CaptureDsp: tones keep their frequency and level', () => {
  for (const inputRateHz of SUPPORTED_INPUT_RATES_HZ) {
    for (const freqHz of [440, 3000]) {
      it(`${freqHz} Hz at ${inputRateHz} Hz stereo comes out at ${freqHz} Hz, level within 0.1 dB`, () => {
        const pcm = sineS16({ rateHz: inputRateHz, channels: 2, durationS: 1, freqHz, amplitude: 0.5 });
        const out = settled(runAll(pcm, inputRateHz, 2));
        expect(Math.abs(dominantFrequencyHz(out, 16_000) - freqHz)).toBeLessThan(1);
        expect(toneLevelDb(out, freqHz, 16_000)).toBeCloseTo(HALF_SCALE_DB, 1);
      });
    }
  }

  it('one second of input gives one second of 16 kHz output, whatever the input rate', () => {
    for (const inputRateHz of SUPPORTED_INPUT_RATES_HZ) {
      const pcm = sineS16({ rateHz: inputRateHz, channels: 2, durationS: 1, freqHz: 440 });
      expect(runAll(pcm, inputRateHz, 2, 1000).length).toBe(16_000);
    }
  });
});

describe('anti-aliasing filter design', () => {
  for (const inputRateHz of SUPPORTED_INPUT_RATES_HZ.filter((r) => r > 16_000)) {
    it(`${inputRateHz} Hz: flat to ${PASSBAND_EDGE_HZ} Hz, ${STOPBAND_ATTENUATION_DB} dB down from ${STOPBAND_EDGE_HZ} Hz to Nyquist`, () => {
      const { taps, delayInputSamples } = designLowPass({
        sampleRateHz: inputRateHz,
        passbandEdgeHz: PASSBAND_EDGE_HZ,
        stopbandEdgeHz: STOPBAND_EDGE_HZ,
        stopbandAttenuationDb: STOPBAND_ATTENUATION_DB,
        tapMultiple: inputRateHz / 16_000,
      });
      expect(delayInputSamples % (inputRateHz / 16_000)).toBe(0);
      for (let i = 0; i < taps.length; i++) expect(taps[i]).toBeCloseTo(taps[taps.length - 1 - i] ?? NaN, 15);
      for (let f = 0; f <= PASSBAND_EDGE_HZ; f += 50) expect(Math.abs(responseDb(taps, f, inputRateHz))).toBeLessThan(0.01);
      for (let f = STOPBAND_EDGE_HZ; f <= inputRateHz / 2; f += 50) {
        expect(responseDb(taps, f, inputRateHz)).toBeLessThan(-STOPBAND_ATTENUATION_DB);
      }
    });
  }
});

describe('CaptureDsp: anti-aliasing', () => {
  // Each tone would fold onto an audible frequency if the decimator only dropped samples.
  const cases = [
    { inputRateHz: 48_000, toneHz: 12_000, aliasHz: 4_000 },
    { inputRateHz: 32_000, toneHz: 10_000, aliasHz: 6_000 },
    { inputRateHz: 96_000, toneHz: 20_000, aliasHz: 4_000 },
    { inputRateHz: 48_000, toneHz: 9_500, aliasHz: 6_500 },
  ];
  for (const { inputRateHz, toneHz, aliasHz } of cases) {
    it(`${toneHz} Hz at ${inputRateHz} Hz is at least 60 dB down at its alias (${aliasHz} Hz)`, () => {
      const pcm = sineS16({ rateHz: inputRateHz, channels: 2, durationS: 1, freqHz: toneHz, amplitude: 0.5 });
      const out = settled(runAll(pcm, inputRateHz, 2));
      const aliasDb = toneLevelDb(out, aliasHz, 16_000);
      expect(HALF_SCALE_DB - aliasDb).toBeGreaterThanOrEqual(60);

      // The measurement itself sees the alias when there is no filter: plain sample dropping.
      const mono = s16FromBuffer(pcm).filter((_, i) => i % 2 === 0);
      const factor = inputRateHz / 16_000;
      const dropped = mono.filter((_, i) => i % factor === 0);
      expect(toneLevelDb(settled(dropped), aliasHz, 16_000)).toBeCloseTo(HALF_SCALE_DB, 0);
    });
  }

  it('speech-band and alias tones mixed: the speech tone is kept, the alias removed', () => {
    const pcm = sineS16({
      rateHz: 48_000,
      channels: 2,
      durationS: 1,
      tones: [
        { freqHz: 1_000, amplitude: 0.3 },
        { freqHz: 12_000, amplitude: 0.3 },
      ],
    });
    const out = settled(runAll(pcm, 48_000, 2));
    expect(toneLevelDb(out, 1_000, 16_000)).toBeCloseTo(20 * Math.log10(0.3), 1);
    expect(toneLevelDb(out, 4_000, 16_000)).toBeLessThan(20 * Math.log10(0.3) - 60);
  });
});

describe('CaptureDsp: chunking does not change the output', () => {
  for (const inputRateHz of SUPPORTED_INPUT_RATES_HZ) {
    it(`${inputRateHz} Hz: one big chunk and odd-sized chunks from an odd byte offset give identical samples`, () => {
      const frames = inputRateHz;
      const pcm = sineS16({
        rateHz: inputRateHz,
        channels: 2,
        frames,
        channelTones: [[{ freqHz: 440, amplitude: 0.4 }, { freqHz: 12_345, amplitude: 0.2 }], [{ freqHz: 2_999, amplitude: 0.6 }]],
      });
      const whole = runAll(pcm, inputRateHz, 2, frames);

      // A Buffer at an odd byteOffset, as a pipe can hand over.
      const backing = Buffer.alloc(pcm.length + 1);
      pcm.copy(backing, 1);
      const odd = backing.subarray(1);
      expect(odd.byteOffset % 2).toBe(1);

      const dsp = new CaptureDsp({ inputRateHz, channels: 2, maxChunkFrames: 4096, level: new LevelSlot() });
      const sizes = [1, 2, 3, 4096, 7, 1021, 5, 333, 2048, 1, 13, 24, 25];
      const pieces: number[] = [];
      let frame = 0;
      for (let k = 0; frame < frames; k++) {
        const n = Math.min(sizes[k % sizes.length] ?? 1, frames - frame);
        for (const s of dsp.process(odd.subarray(frame * 4, (frame + n) * 4))) pieces.push(s);
        frame += n;
      }
      expect(pieces.length).toBe(whole.length);
      expect(Int16Array.from(pieces)).toEqual(whole);
    });
  }

  it('a zero-length chunk is accepted and produces nothing', () => {
    const dsp = new CaptureDsp({ inputRateHz: 48_000, channels: 2, maxChunkFrames: 16, level: new LevelSlot() });
    expect(dsp.process(Buffer.alloc(0)).length).toBe(0);
  });
});

describe('CaptureDsp: downmix, delay, reset, errors', () => {
  it('stereo is averaged: a tone on the left only comes out 6 dB lower; opposite channels cancel', () => {
    const leftOnly = sineS16({ rateHz: 48_000, channels: 2, durationS: 1, channelTones: [[{ freqHz: 440, amplitude: 0.8 }], []] });
    expect(toneLevelDb(settled(runAll(leftOnly, 48_000, 2)), 440, 16_000)).toBeCloseTo(20 * Math.log10(0.4), 1);

    const opposite = sineS16({
      rateHz: 48_000,
      channels: 2,
      durationS: 1,
      channelTones: [[{ freqHz: 440, amplitude: 0.5 }], [{ freqHz: 440, amplitude: 0.5, phaseRad: Math.PI }]],
    });
    expect(rmsDbfs(settled(runAll(opposite, 48_000, 2)))).toBeLessThan(-80);
  });

  it('four channels are averaged too', () => {
    const pcm = sineS16({ rateHz: 32_000, channels: 4, durationS: 1, channelTones: [[{ freqHz: 3_000, amplitude: 0.8 }]] });
    expect(toneLevelDb(settled(runAll(pcm, 32_000, 4)), 3_000, 16_000)).toBeCloseTo(20 * Math.log10(0.2), 1);
  });

  it('an impulse comes out delaySamples later', () => {
    for (const inputRateHz of SUPPORTED_INPUT_RATES_HZ) {
      const frames = inputRateHz / 10;
      const pcm = Buffer.alloc(frames * 2);
      pcm.writeInt16LE(30_000, 0);
      const dsp = new CaptureDsp({ inputRateHz, channels: 1, maxChunkFrames: frames, level: new LevelSlot() });
      const out = dsp.process(pcm);
      let argMax = 0;
      for (let i = 1; i < out.length; i++) if ((out[i] ?? 0) > (out[argMax] ?? 0)) argMax = i;
      expect(argMax).toBe(dsp.delaySamples);
      expect(dsp.delaySamples).toBeLessThanOrEqual(16);
    }
  });

  it('reset() forgets the filter history: silence after a reset is silent', () => {
    const level = new LevelSlot();
    const dsp = new CaptureDsp({ inputRateHz: 48_000, channels: 2, maxChunkFrames: 2048, level });
    const loud = sineS16({ rateHz: 48_000, channels: 2, frames: 2048, freqHz: 1_000, amplitude: 0.9 });
    const silence = Buffer.alloc(2048 * 4);
    dsp.process(loud);
    // Without a reset the tail of the tone bleeds into the next chunk.
    expect(Array.from(dsp.process(silence)).some((s) => s !== 0)).toBe(true);
    dsp.process(loud);
    dsp.reset();
    expect(Array.from(dsp.process(silence)).every((s) => s === 0)).toBe(true);
  });

  it('returns the same preallocated view for repeated chunk sizes (no per-chunk allocation)', () => {
    const dsp = new CaptureDsp({ inputRateHz: 48_000, channels: 2, maxChunkFrames: 1024, level: new LevelSlot() });
    const chunk = sineS16({ rateHz: 48_000, channels: 2, frames: 960, freqHz: 440 });
    const first = dsp.process(chunk);
    const second = dsp.process(chunk);
    expect(second).toBe(first);
    expect(second.buffer).toBe(first.buffer);
  });

  it('rejects unsupported rates, bad channel counts and malformed chunks with clear errors', () => {
    const level = new LevelSlot();
    expect(() => new CaptureDsp({ inputRateHz: 44_100, channels: 2, maxChunkFrames: 1024, level })).toThrow(/44100 Hz is not supported.*48000/);
    expect(() => new CaptureDsp({ inputRateHz: 48_000, channels: 0, maxChunkFrames: 1024, level })).toThrow(/channels/);
    const dsp = new CaptureDsp({ inputRateHz: 48_000, channels: 2, maxChunkFrames: 1024, level });
    expect(() => dsp.process(Buffer.alloc(6))).toThrow(/whole number/);
    expect(() => dsp.process(Buffer.alloc(1025 * 4))).toThrow(/1024 frames/);
  });
});

describe('LevelSlot', () => {
  it('a full-scale sine reads about -3 dBFS RMS and 0 dBFS peak', () => {
    const level = new LevelSlot();
    const dsp = new CaptureDsp({ inputRateHz: 48_000, channels: 2, maxChunkFrames: 4800, level });
    dsp.process(sineS16({ rateHz: 48_000, channels: 2, frames: 4800, freqHz: 1_000, amplitude: 1 }));
    const reading = level.read();
    expect(reading.rmsDbfs).toBeCloseTo(-3.01, 1);
    expect(reading.peakDbfs).toBeCloseTo(0, 2);
    expect(reading.rmsLinear).toBeCloseTo(Math.SQRT1_2, 3);
  });

  it('reads the last chunk only, and silence reads as the floor, never -Infinity or NaN', () => {
    const level = new LevelSlot();
    expect(level.read().rmsDbfs).toBe(LEVEL_FLOOR_DBFS);
    expect(level.read().peakDbfs).toBe(LEVEL_FLOOR_DBFS);
    const dsp = new CaptureDsp({ inputRateHz: 16_000, channels: 1, maxChunkFrames: 1600, level });
    dsp.process(sineS16({ rateHz: 16_000, frames: 1600, freqHz: 440, amplitude: 0.1 }));
    expect(level.read().rmsDbfs).toBeCloseTo(-23.01, 1);
    dsp.process(Buffer.alloc(1600 * 2));
    const silent = level.read();
    expect(silent).toEqual({ peakDbfs: LEVEL_FLOOR_DBFS, rmsDbfs: LEVEL_FLOOR_DBFS, peakLinear: 0, rmsLinear: 0 });
    expect(JSON.parse(JSON.stringify(silent))).toEqual(silent);
    expect(level.updates).toBe(2);
  });

  it('another view of the same shared memory (as a worker would have) sees the writes', () => {
    const level = new LevelSlot();
    const other = LevelSlot.attach(level.shared);
    level.writeLinear(0.5, 0.25);
    expect(other.read().peakDbfs).toBeCloseTo(-6.02, 2);
    expect(other.read().rmsDbfs).toBeCloseTo(-12.04, 2);
  });
});
