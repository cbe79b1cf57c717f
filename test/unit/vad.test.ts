import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWavHeader } from '../../src/audio/wav.js';
import { detectSpeech } from '../../src/transcribe/vad.js';
import { speechWav } from '../helpers/whisper.js';

const RATE_HZ = 16000;
let dir: string;
let speech: Int16Array;

function readWav(path: string): Int16Array {
  const file = readFileSync(path);
  const header = parseWavHeader(file);
  const data = file.subarray(header.dataOffset, header.dataOffset + header.declaredDataBytes);
  return new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
}

/** Scales to an RMS level in dBFS (over the whole clip). */
function atLevel(samples: Int16Array, rmsDb: number): Int16Array {
  let sumSq = 0;
  for (const s of samples) sumSq += s * s;
  const rms = Math.sqrt(sumSq / samples.length);
  const gain = (32768 * 10 ** (rmsDb / 20)) / rms;
  return Int16Array.from(samples, (s) => Math.max(-32768, Math.min(32767, Math.round(s * gain))));
}

/** Deterministic white noise at an RMS level. */
function whiteNoise(seconds: number, rmsDb: number, seed = 7): Int16Array {
  let state = seed;
  const random = (): number => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const out = new Float64Array(seconds * RATE_HZ);
  // Sum of uniforms: close to Gaussian, unit variance after scaling.
  for (let i = 0; i < out.length; i++) out[i] = (random() + random() + random() - 1.5) * 2;
  const amplitude = 32768 * 10 ** (rmsDb / 20);
  return Int16Array.from(out, (v) => Math.round(v * amplitude));
}

/** 50 Hz mains hum with its 2nd and 3rd harmonics. */
function hum(seconds: number, peakDb: number): Int16Array {
  const amplitude = 32768 * 10 ** (peakDb / 20);
  const out = new Int16Array(seconds * RATE_HZ);
  for (let i = 0; i < out.length; i++) {
    const t = i / RATE_HZ;
    out[i] = Math.round(amplitude * (0.7 * Math.sin(2 * Math.PI * 50 * t) + 0.2 * Math.sin(2 * Math.PI * 100 * t) + 0.1 * Math.sin(2 * Math.PI * 150 * t)));
  }
  return out;
}

function mix(a: Int16Array, b: Int16Array): Int16Array {
  return Int16Array.from(a, (s, i) => Math.max(-32768, Math.min(32767, s + (b[i] ?? 0))));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scout-vad-'));
  speech = readWav(await speechWav('Please remember to buy milk and bread on the way home tonight.', join(dir, 'speech.wav')));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('silence gate', () => {
  it('hears espeak-ng speech at a normal level', () => {
    const result = detectSpeech(atLevel(speech, -20), { sampleRateHz: RATE_HZ });
    expect(result.speech).toBe(true);
    expect(result.speechMs).toBeGreaterThan(1000);
  });

  it('hears quiet speech (-30 dBFS RMS)', () => {
    const result = detectSpeech(atLevel(speech, -30), { sampleRateHz: RATE_HZ });
    expect(result.speech).toBe(true);
  });

  it('hears speech over low hiss and over mains hum', () => {
    const quiet = atLevel(speech, -30);
    expect(detectSpeech(mix(quiet, whiteNoise(10, -60)), { sampleRateHz: RATE_HZ }).speech).toBe(true);
    expect(detectSpeech(mix(quiet, hum(10, -40)), { sampleRateHz: RATE_HZ }).speech).toBe(true);
  });

  it('hears a short word padded with a lot of silence', () => {
    const padded = new Int16Array(RATE_HZ * 20);
    const word = atLevel(speech, -25).subarray(0, RATE_HZ); // the first second: "please re..."
    padded.set(word, RATE_HZ * 10);
    expect(detectSpeech(padded, { sampleRateHz: RATE_HZ }).speech).toBe(true);
  });

  it('says no speech for digital silence', () => {
    const result = detectSpeech(new Int16Array(RATE_HZ * 5), { sampleRateHz: RATE_HZ });
    expect(result).toMatchObject({ speech: false, speechMs: 0, reason: 'no speech' });
  });

  it('says no speech for low hiss (white noise at -60 dBFS)', () => {
    expect(detectSpeech(whiteNoise(5, -60), { sampleRateHz: RATE_HZ }).speech).toBe(false);
  });

  it('says no speech for loud hiss (white noise at -30 dBFS): too many zero crossings', () => {
    expect(detectSpeech(whiteNoise(5, -30), { sampleRateHz: RATE_HZ }).speech).toBe(false);
  });

  it('says no speech for mains hum, quiet or loud', () => {
    expect(detectSpeech(hum(5, -40), { sampleRateHz: RATE_HZ }).speech).toBe(false);
    expect(detectSpeech(hum(5, -12), { sampleRateHz: RATE_HZ }).speech).toBe(false);
  });

  it('says no speech for an empty clip and for a click', () => {
    expect(detectSpeech(new Int16Array(0), { sampleRateHz: RATE_HZ }).speech).toBe(false);
    const click = new Int16Array(RATE_HZ * 2);
    for (let i = 0; i < 160; i++) click[RATE_HZ + i] = i % 2 === 0 ? 20000 : -20000;
    expect(detectSpeech(click, { sampleRateHz: RATE_HZ }).speech).toBe(false);
  });
});
