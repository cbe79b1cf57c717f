/**
 * The current audio level in one shared slot.
 *
 * The capture path writes the peak and RMS of each chunk here; anything else (HTTP state, the
 * Prometheus gauge, a worker thread) reads it without calling into the capture path and without a
 * lock. The slot lives in a SharedArrayBuffer so a worker can map the same memory
 * (`LevelSlot.attach(slot.shared)`); a small sequence counter (a seqlock) keeps a reader on another
 * thread from seeing the peak of one chunk with the RMS of another.
 */

/** What silence reads as. Never -Infinity or NaN: the value goes into JSON and Prometheus. */
export const LEVEL_FLOOR_DBFS = -120;


// Float32 slot layout.
const PEAK_DBFS = 0;
const RMS_DBFS = 1;
const PEAK_LINEAR = 2;
const RMS_LINEAR = 3;
const FLOAT_SLOTS = 4;
// Int32 words after the floats: the sequence counter (odd while a write is in progress).
const SEQ_WORD = FLOAT_SLOTS;
const BYTES = (FLOAT_SLOTS + 1) * 4;

export interface LevelReading {
  readonly peakDbfs: number;
  readonly rmsDbfs: number;
  /** 0..1 of full scale (32768). */
  readonly peakLinear: number;
  readonly rmsLinear: number;
}

export function linearToDbfs(linear: number): number {
  // Also maps NaN to the floor: a bad value must never reach JSON or Prometheus.
  // Literals (10^(-120/20) and -120), not LEVEL_FLOOR_DBFS: an exported binding is read through a
  // cell as a tagged value, which made V8 box every result in a new HeapNumber (32 bytes per chunk,
  // measured with bench/dsp.bench.ts). The unit tests check the literals match the constant.
  return linear > 1e-6 ? 20 * Math.log10(linear) : -120;
}

export class LevelSlot {
  /** The shared memory; hand it to a worker and `LevelSlot.attach` it there. */
  readonly shared: SharedArrayBuffer;
  private readonly values: Float32Array;
  private readonly words: Int32Array;

  constructor(shared: SharedArrayBuffer = new SharedArrayBuffer(BYTES)) {
    this.shared = shared;
    this.values = new Float32Array(shared, 0, FLOAT_SLOTS);
    this.words = new Int32Array(shared, 0, FLOAT_SLOTS + 1);
    // A fresh slot reads as silence, not as 0 dBFS (zeroed memory would mean full scale in dB).
    if (Atomics.load(this.words, SEQ_WORD) === 0) {
      this.values[PEAK_DBFS] = LEVEL_FLOOR_DBFS;
      this.values[RMS_DBFS] = LEVEL_FLOOR_DBFS;
    }
  }

  /** A second view of an existing slot (for example inside a worker thread). */
  static attach(shared: SharedArrayBuffer): LevelSlot {
    if (shared.byteLength < BYTES) throw new Error(`LevelSlot needs ${BYTES} bytes, got ${shared.byteLength}`);
    return new LevelSlot(shared);
  }

  /**
   * Store the level of one chunk, as fractions of full scale. Called by the capture path for every
   * chunk, so it allocates nothing.
   */
  writeLinear(peakLinear: number, rmsLinear: number): void {
    const words = this.words;
    Atomics.add(words, SEQ_WORD, 1);
    this.values[PEAK_LINEAR] = peakLinear;
    this.values[RMS_LINEAR] = rmsLinear;
    this.values[PEAK_DBFS] = linearToDbfs(peakLinear);
    this.values[RMS_DBFS] = linearToDbfs(rmsLinear);
    Atomics.add(words, SEQ_WORD, 1);
  }

  /** The level of the last processed chunk; silence reads as LEVEL_FLOOR_DBFS. */
  read(): LevelReading {
    const words = this.words;
    const values = this.values;
    // Seqlock read: retry while a write is in progress or happened during the copy. The writer does
    // a handful of stores, so this loops at most a few times even against a busy writer.
    for (let attempt = 0; ; attempt++) {
      const before = Atomics.load(words, SEQ_WORD);
      const peakDbfs = values[PEAK_DBFS] ?? LEVEL_FLOOR_DBFS;
      const rmsDbfs = values[RMS_DBFS] ?? LEVEL_FLOOR_DBFS;
      const peakLinear = values[PEAK_LINEAR] ?? 0;
      const rmsLinear = values[RMS_LINEAR] ?? 0;
      const after = Atomics.load(words, SEQ_WORD);
      if ((before === after && (before & 1) === 0) || attempt > 1000) {
        return { peakDbfs, rmsDbfs, peakLinear, rmsLinear };
      }
    }
  }

  /** How many chunks have been written (wraps at 2^30; for "is the level still moving" checks). */
  get updates(): number {
    return (Atomics.load(this.words, SEQ_WORD) >>> 1) & 0x3fffffff;
  }
}
