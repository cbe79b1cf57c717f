/**
 * The capture DSP path: S16_LE interleaved frames at the device's rate in, 16 kHz mono Int16 out.
 *
 * Downmix (average of the channels), anti-aliasing low-pass and decimation by an integer factor in
 * one pass, plus the peak and RMS level of each chunk into a shared LevelSlot. Every buffer is
 * allocated at construction from `maxChunkFrames`; `process` allocates nothing in steady state, so
 * capture never feeds the garbage collector (see bench/dsp.bench.ts for the measurement).
 *
 * Rates that are not an integer multiple of 16 kHz (44.1 kHz, 22.05 kHz) are left to ALSA's plug
 * layer (`plughw:`), which resamples before the data reaches us.
 */
import { endianness } from 'node:os';
import { designLowPass } from './fir.js';
import type { LevelSlot } from './level.js';
import { SPEECH_RATE_HZ } from '../domain/transcript.js';

/** What Whisper wants and what recordings store (the domain owns the number). */
export const OUTPUT_RATE_HZ = SPEECH_RATE_HZ;

/** Input rates with an integer decimation factor to 16 kHz. */
export const SUPPORTED_INPUT_RATES_HZ: readonly number[] = Object.freeze([16_000, 32_000, 48_000, 96_000]);

// The filter keeps speech up to 6.5 kHz flat and is at least 70 dB down from 9.5 kHz. Input
// between 8 and 9.5 kHz folds onto 6.5-8 kHz, the top of the band where speech carries little and
// Whisper's mel bands are widest. Every extra kHz of transition band saves taps: at 48 kHz this is
// 73 taps (36 multiplies per output sample with the symmetric fold), which keeps the path above
// 1000x real time on one core here (bench/dsp.bench.ts); 7-9 kHz would need 109 taps.
export const PASSBAND_EDGE_HZ = 6_500;
export const STOPBAND_EDGE_HZ = 9_500;
export const STOPBAND_ATTENUATION_DB = 70;

const FULL_SCALE = 32_768;

export interface CaptureDspOptions {
  readonly inputRateHz: number;
  readonly channels: number;
  /**
   * Largest chunk `process` will be given, in frames. Sizes every buffer. A child's stdout is read
   * in pieces of up to 64 KiB, so for arecord use at least `65536 / (channels * 2)`.
   */
  readonly maxChunkFrames: number;
  readonly level: LevelSlot;
}

export class CaptureDsp {
  readonly inputRateHz: number;
  readonly channels: number;
  readonly maxChunkFrames: number;
  readonly outputRateHz = OUTPUT_RATE_HZ;
  /** Input samples per output sample. */
  readonly decimationFactor: number;
  /** FIR taps at the input rate (1 when there is no filter: 16 kHz input). */
  readonly tapCount: number;
  /**
   * Group delay of the low-pass in output (16 kHz) samples: a sound reaches the output this many
   * samples after it entered. Exact, because the tap count is chosen to make it a whole number.
   */
  readonly delaySamples: number;
  /** Most output samples one `process` call can return. */
  readonly maxOutputSamples: number;

  private readonly level: LevelSlot;
  private readonly frameBytes: number;
  private readonly taps: Float64Array;
  /** Taps on each side of the centre tap (the filter is symmetric). */
  private readonly halfTaps: number;
  /** Samples of history kept from the previous chunk: tapCount - 1. */
  private readonly historyLength: number;
  /**
   * [history | this chunk's mono samples]. Float32 holds every 1- or 2-channel average of 16-bit
   * samples exactly and keeps the working set in L1 cache.
   */
  private readonly mono: Float32Array;
  /** Aligned copy of the input: a Buffer from a pipe may start at an odd byte offset. */
  private readonly scratchBytes: Buffer;
  private readonly scratch: Int16Array;
  private readonly out: Int16Array;
  /**
   * `out.subarray(0, n)` for each n seen so far. A chunk size repeats (arecord writes whole
   * periods), so after the first chunks every call returns a cached view instead of allocating one.
   */
  private readonly views: (Int16Array | undefined)[];
  /** Index, in the next chunk, of the input sample that produces the next output sample. */
  private nextOutputAt = 0;
  /**
   * [peak |sample|, sum of squares] of the last downmix. A typed array rather than returned numbers:
   * a double returned from a call that is not inlined is boxed in a new HeapNumber.
   */
  private readonly stats = new Float64Array(2);

  constructor(options: CaptureDspOptions) {
    const { inputRateHz, channels, maxChunkFrames, level } = options;
    if (!SUPPORTED_INPUT_RATES_HZ.includes(inputRateHz)) {
      throw new Error(
        `CaptureDsp: input rate ${inputRateHz} Hz is not supported (supported: ${SUPPORTED_INPUT_RATES_HZ.join(', ')} Hz); ` +
          'capture through an ALSA plug device (plughw:...) at one of these rates',
      );
    }
    if (!Number.isInteger(channels) || channels < 1 || channels > 32) {
      throw new Error(`CaptureDsp: channels must be an integer from 1 to 32, got ${channels}`);
    }
    if (!Number.isInteger(maxChunkFrames) || maxChunkFrames < 1) {
      throw new Error(`CaptureDsp: maxChunkFrames must be a positive integer, got ${maxChunkFrames}`);
    }
    // Int16Array reads the platform's byte order; the Pi and every dev machine are little-endian.
    if (endianness() !== 'LE') throw new Error('CaptureDsp: needs a little-endian CPU');

    this.inputRateHz = inputRateHz;
    this.channels = channels;
    this.maxChunkFrames = maxChunkFrames;
    this.level = level;
    this.frameBytes = channels * 2;
    const factor = inputRateHz / OUTPUT_RATE_HZ;
    this.decimationFactor = factor;
    if (factor === 1) {
      this.taps = new Float64Array([1]);
    } else {
      this.taps = designLowPass({
        sampleRateHz: inputRateHz,
        passbandEdgeHz: PASSBAND_EDGE_HZ,
        stopbandEdgeHz: STOPBAND_EDGE_HZ,
        stopbandAttenuationDb: STOPBAND_ATTENUATION_DB,
        tapMultiple: factor,
      }).taps;
    }
    this.tapCount = this.taps.length;
    this.halfTaps = (this.tapCount - 1) / 2;
    this.delaySamples = this.halfTaps / factor;
    this.historyLength = this.tapCount - 1;
    this.mono = new Float32Array(this.historyLength + maxChunkFrames);
    const scratchBuffer = new ArrayBuffer(maxChunkFrames * this.frameBytes);
    this.scratchBytes = Buffer.from(scratchBuffer);
    this.scratch = new Int16Array(scratchBuffer);
    this.maxOutputSamples = Math.ceil(maxChunkFrames / factor);
    this.out = new Int16Array(this.maxOutputSamples);
    this.views = new Array<Int16Array | undefined>(this.maxOutputSamples + 1).fill(undefined);
  }

  /**
   * Convert one chunk of S16_LE interleaved frames. Returns a view of an internal buffer that is
   * valid until the next call: copy it (the ring buffer does) before calling again. The output is
   * the same whatever the chunking, because the filter state and the decimation phase carry over.
   */
  process(pcm: Buffer): Int16Array {
    const byteLength = pcm.length;
    const frameBytes = this.frameBytes;
    if (byteLength % frameBytes !== 0 || byteLength > this.maxChunkFrames * frameBytes) {
      throw new RangeError(
        `CaptureDsp: chunk of ${byteLength} bytes is not a whole number of ${frameBytes}-byte frames up to ${this.maxChunkFrames} frames`,
      );
    }
    const frames = byteLength / frameBytes;
    // memcpy into aligned memory: works for any byteOffset and creates no object.
    pcm.copy(this.scratchBytes, 0, 0, byteLength);

    this.downmix(frames);
    const stats = this.stats;
    // The level of what the mic delivered (mono, before the low-pass), so clipping shows as 0 dBFS.
    this.level.writeLinear(stats[0]! / FULL_SCALE, frames > 0 ? Math.sqrt(stats[1]! / frames) / FULL_SCALE : 0);

    const produced = this.decimate(frames);
    const views = this.views;
    let view = views[produced];
    if (view === undefined) {
      view = this.out.subarray(0, produced);
      views[produced] = view;
    }
    return view;
  }

  /** Forget the filter history (after a capture restart: old samples must not bleed into new ones). */
  reset(): void {
    this.mono.fill(0);
    this.nextOutputAt = 0;
  }

  /** Mono samples into `mono` after the history; peak |sample| and sum of squares into `stats`. */
  private downmix(frames: number): void {
    const src = this.scratch;
    const mono = this.mono;
    const base = this.historyLength;
    const channels = this.channels;
    let peak = 0;
    let sumSq = 0;
    if (channels === 1) {
      for (let i = 0; i < frames; i++) {
        const s = src[i] ?? 0;
        mono[base + i] = s;
        const a = s < 0 ? -s : s;
        if (a > peak) peak = a;
        sumSq += s * s;
      }
    } else if (channels === 2) {
      for (let i = 0, j = 0; i < frames; i++, j += 2) {
        const s = ((src[j] ?? 0) + (src[j + 1] ?? 0)) * 0.5;
        mono[base + i] = s;
        const a = s < 0 ? -s : s;
        if (a > peak) peak = a;
        sumSq += s * s;
      }
    } else {
      const scale = 1 / channels;
      for (let i = 0, j = 0; i < frames; i++) {
        let sum = 0;
        for (let c = 0; c < channels; c++, j++) sum += src[j] ?? 0;
        const s = sum * scale;
        mono[base + i] = s;
        const a = s < 0 ? -s : s;
        if (a > peak) peak = a;
        sumSq += s * s;
      }
    }
    this.stats[0] = peak;
    this.stats[1] = sumSq;
  }

  /**
   * The decimating FIR. Only every `decimationFactor`-th output of the full-rate filter is computed
   * (the polyphase identity: each input sample costs tapCount / factor multiply-adds), and the
   * symmetric taps are folded so each pair of samples costs one multiply.
   */
  private decimate(frames: number): number {
    const mono = this.mono;
    const out = this.out;
    const taps = this.taps;
    const half = this.halfTaps;
    const last = this.tapCount - 1;
    const factor = this.decimationFactor;
    let produced = 0;
    let i = this.nextOutputAt;
    // Output for input sample i uses mono[i .. i + last]: the history holds the previous tapCount - 1.
    // Four outputs per pass (windows at i, i + factor, ...) share each tap load and give the CPU
    // four independent chains of additions.
    const step = factor;
    for (; i + 3 * step < frames; i += 4 * step) {
      const centre = taps[half]!;
      let a = centre * mono[i + half]!;
      let b = centre * mono[i + step + half]!;
      let c = centre * mono[i + 2 * step + half]!;
      let d = centre * mono[i + 3 * step + half]!;
      for (let j = 0, lo = i, hi = i + last; j < half; j++, lo++, hi--) {
        const t = taps[j]!;
        a += t * (mono[lo]! + mono[hi]!);
        b += t * (mono[lo + step]! + mono[hi + step]!);
        c += t * (mono[lo + 2 * step]! + mono[hi + 2 * step]!);
        d += t * (mono[lo + 3 * step]! + mono[hi + 3 * step]!);
      }
      const ya = Math.round(a);
      out[produced++] = ya > 32767 ? 32767 : ya < -32768 ? -32768 : ya;
      const yb = Math.round(b);
      out[produced++] = yb > 32767 ? 32767 : yb < -32768 ? -32768 : yb;
      const yc = Math.round(c);
      out[produced++] = yc > 32767 ? 32767 : yc < -32768 ? -32768 : yc;
      const yd = Math.round(d);
      out[produced++] = yd > 32767 ? 32767 : yd < -32768 ? -32768 : yd;
    }
    // The last outputs of the chunk, fewer than four.
    for (; i < frames; i += factor) {
      let a0 = taps[half]! * mono[i + half]!;
      for (let j = 0; j < half; j++) a0 += taps[j]! * (mono[i + j]! + mono[i + last - j]!);
      const y = Math.round(a0);
      out[produced++] = y > 32767 ? 32767 : y < -32768 ? -32768 : y;
    }
    this.nextOutputAt = i - frames;
    // Keep the newest tapCount - 1 samples as the next chunk's history (memmove, no allocation).
    mono.copyWithin(0, frames, frames + this.historyLength);
    return produced;
  }
}
