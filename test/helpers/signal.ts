import { mulberry32 } from '../../src/util/prng.js';
/**
 * Test signals and measurements for audio tests: tone generation as S16_LE interleaved frames,
 * the level of one frequency (Goertzel) and the dominant frequency (windowed FFT) of a signal.
 * Levels are in dBFS against 32768 full scale: a full-scale sine has amplitude 0 dBFS.
 */

export interface Tone {
  readonly freqHz: number;
  /** Peak amplitude as a fraction of full scale (0..1). Default 0.5. */
  readonly amplitude?: number;
  /** Starting phase in radians. */
  readonly phaseRad?: number;
}

export interface SineOptions {
  readonly rateHz: number;
  /** Default 1. Every channel carries the same signal unless `channelTones` is given. */
  readonly channels?: number;
  /** Length: give `frames` or `durationS`. */
  readonly frames?: number;
  readonly durationS?: number;
  /** One tone (shorthand)... */
  readonly freqHz?: number;
  readonly amplitude?: number;
  /** ...or several, summed. */
  readonly tones?: readonly Tone[];
  /** Per-channel tones (overrides `tones`/`freqHz`); a channel without an entry is silent. */
  readonly channelTones?: readonly (readonly Tone[])[];
}

/** Interleaved S16_LE frames of the given tones; samples are rounded and clipped to 16 bits. */
export function sineS16(opts: SineOptions): Buffer {
  const channels = opts.channels ?? 1;
  const frames = opts.frames ?? Math.round((opts.durationS ?? 1) * opts.rateHz);
  const shared: readonly Tone[] =
    opts.tones ?? (opts.freqHz !== undefined ? [{ freqHz: opts.freqHz, amplitude: opts.amplitude ?? 0.5 }] : []);
  const perChannel: (readonly Tone[])[] = [];
  for (let c = 0; c < channels; c++) perChannel.push(opts.channelTones ? (opts.channelTones[c] ?? []) : shared);
  const buf = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      let v = 0;
      for (const tone of perChannel[c] ?? []) {
        v += (tone.amplitude ?? 0.5) * Math.sin((2 * Math.PI * tone.freqHz * i) / opts.rateHz + (tone.phaseRad ?? 0));
      }
      const s = Math.round(v * 32767);
      buf.writeInt16LE(s > 32767 ? 32767 : s < -32768 ? -32768 : s, (i * channels + c) * 2);
    }
  }
  return buf;
}

/** S16_LE bytes as samples (copies, so any byteOffset works). */
export function s16FromBuffer(buf: Buffer): Int16Array {
  const out = new Int16Array(buf.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = buf.readInt16LE(i * 2);
  return out;
}

function blackmanHarris(n: number, length: number): number {
  const x = (2 * Math.PI * n) / (length - 1);
  return 0.35875 - 0.48829 * Math.cos(x) + 0.14128 * Math.cos(2 * x) - 0.01168 * Math.cos(3 * x);
}

/**
 * Amplitude of the `freqHz` component in dBFS (0 dBFS = a full-scale sine), by Goertzel at exactly
 * that frequency over a Blackman-Harris window (sidelobes below -92 dB, so a strong tone elsewhere
 * does not leak into the reading). Give it at least a few hundred cycles of signal; skip filter
 * start-up transients by passing a subarray.
 */
export function toneLevelDb(samples: Int16Array, freqHz: number, rateHz: number): number {
  const n = samples.length;
  const w = (2 * Math.PI * freqHz) / rateHz;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let windowSum = 0;
  for (let i = 0; i < n; i++) {
    const win = blackmanHarris(i, n);
    windowSum += win;
    const s0 = (samples[i] ?? 0) * win + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const re = s1 - s2 * Math.cos(w);
  const im = s2 * Math.sin(w);
  const amplitude = (2 * Math.hypot(re, im)) / windowSum / 32768;
  return 20 * Math.log10(Math.max(amplitude, 1e-12));
}

/** RMS of the samples in dBFS (a full-scale sine reads -3.01). */
export function rmsDbfs(samples: Int16Array): number {
  let sumSq = 0;
  for (const s of samples) sumSq += s * s;
  const rms = Math.sqrt(sumSq / Math.max(samples.length, 1)) / 32768;
  return 20 * Math.log10(Math.max(rms, 1e-12));
}

/** In-place radix-2 FFT. */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const tr = re[i] ?? 0;
      re[i] = re[j] ?? 0;
      re[j] = tr;
      const ti = im[i] ?? 0;
      im[i] = im[j] ?? 0;
      im[j] = ti;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(ang * k);
        const wi = Math.sin(ang * k);
        const a = i + k;
        const b = a + len / 2;
        const xr = (re[b] ?? 0) * wr - (im[b] ?? 0) * wi;
        const xi = (re[b] ?? 0) * wi + (im[b] ?? 0) * wr;
        re[b] = (re[a] ?? 0) - xr;
        im[b] = (im[a] ?? 0) - xi;
        re[a] = (re[a] ?? 0) + xr;
        im[a] = (im[a] ?? 0) + xi;
      }
    }
  }
}

/**
 * The strongest frequency above `minHz` (default 20 Hz, to ignore DC), from a Hann-windowed FFT of
 * the last power-of-two samples (up to 65536), refined by parabolic interpolation between bins:
 * accurate to a small fraction of `rateHz / N`.
 */
export function dominantFrequencyHz(samples: Int16Array, rateHz: number, minHz = 20): number {
  let n = 1;
  while (n * 2 <= samples.length && n < 65536) n *= 2;
  if (n < 64) throw new Error(`dominantFrequencyHz: need at least 64 samples, got ${samples.length}`);
  const offset = samples.length - n;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) re[i] = (samples[offset + i] ?? 0) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  fft(re, im);
  const mag = (k: number): number => Math.log(Math.hypot(re[k] ?? 0, im[k] ?? 0) + 1e-9);
  let best = Math.max(1, Math.ceil((minHz * n) / rateHz));
  for (let k = best + 1; k < n / 2; k++) if (mag(k) > mag(best)) best = k;
  const a = mag(best - 1);
  const b = mag(best);
  const c = mag(best + 1);
  const denom = a - 2 * b + c;
  const shift = denom === 0 ? 0 : (0.5 * (a - c)) / denom;
  return ((best + shift) * rateHz) / n;
}

/**
 * Speech-like 16 kHz audio for the window cutter and the silence gate: a buzz with a syllable
 * rhythm for the even entries of `pattern` (ms), silence for the odd ones. With a seed, low
 * seeded hiss goes under everything, so no two windows can hold the same samples by chance.
 */
export function speechLike(pattern: readonly number[], seed?: number): Int16Array {
  const rateHz = 16_000;
  const samplesOf = (ms: number): number => Math.round((ms * rateHz) / 1000);
  const random = seed === undefined ? null : mulberry32(seed);
  const out = new Int16Array(samplesOf(pattern.reduce((sum, ms) => sum + ms, 0)));
  let position = 0;
  pattern.forEach((lengthMs, index) => {
    const length = samplesOf(lengthMs);
    for (let i = 0; i < length; i++) {
      const t = i / rateHz;
      const hiss = random === null ? 0 : Math.round((random() - 0.5) * 30);
      const voice = index % 2 === 0 ? 3000 * (0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t)) * (Math.sin(2 * Math.PI * 180 * t) + 0.5 * Math.sin(2 * Math.PI * 900 * t)) : 0;
      out[position + i] = Math.round(voice) + hiss;
    }
    position += length;
  });
  return out;
}
