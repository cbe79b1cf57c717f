/**
 * One preallocated ring of 16 kHz mono PCM that capture fills all the time.
 *
 * There is one writer (the capture path) and any number of readers, each with its own cursor (an
 * absolute sample position). A recording starts its cursor some samples back from "now" - that is
 * the pre-roll - and then reads forward as capture writes. The ring never grows: a reader that falls
 * more than a capacity behind loses the oldest samples, and the loss is counted on the cursor and on
 * the ring so it shows up in metrics instead of silently shortening a recording.
 *
 * Positions are JS numbers counted from the first sample ever written; they stay exact up to 2^53
 * samples (about 17 800 years at 16 kHz). Indexing uses `position & mask`: ToInt32 keeps the low 32
 * bits of any integer below 2^53 exactly, and the mask is below 2^31.
 */

/** Largest capacity: 2^30 samples (about 18.6 hours at 16 kHz, 2 GiB), far past any sane pre-roll. */
const MAX_CAPACITY_SAMPLES = 2 ** 30;

/** A reader's position in a PcmRing. Create with `cursorAt`/`cursorBack`; reading mutates it in place. */
export class RingCursor {
  /** Absolute position of the next sample this cursor will read. */
  position: number;
  /** Samples this cursor lost because the ring overwrote them before they were read. */
  overwrittenSamples = 0;
  /** Times this cursor lost samples (one per read that had to skip). */
  overwriteEvents = 0;

  constructor(position: number) {
    this.position = position;
  }
}

export interface RingOverwrites {
  readonly events: number;
  readonly samples: number;
}

export class PcmRing {
  readonly capacitySamples: number;
  private readonly mask: number;
  private readonly data: Int16Array;
  private written = 0;
  private overwriteEventCount = 0;
  private overwrittenSampleCount = 0;

  /** Capacity is `minCapacitySamples` rounded up to a power of two. */
  constructor(minCapacitySamples: number) {
    if (!Number.isInteger(minCapacitySamples) || minCapacitySamples < 1 || minCapacitySamples > MAX_CAPACITY_SAMPLES) {
      throw new RangeError(`PcmRing: capacity must be an integer from 1 to ${MAX_CAPACITY_SAMPLES}, got ${minCapacitySamples}`);
    }
    let capacity = 1;
    while (capacity < minCapacitySamples) capacity *= 2;
    this.capacitySamples = capacity;
    this.mask = capacity - 1;
    this.data = new Int16Array(capacity);
  }

  /** Samples written since construction (monotonic). "Now", as a position. */
  get writtenTotal(): number {
    return this.written;
  }

  /** The oldest position still held in the ring. */
  get oldestPosition(): number {
    return this.written > this.capacitySamples ? this.written - this.capacitySamples : 0;
  }

  /** Data lost to readers that fell behind, summed over all cursors of this ring. */
  get overwrites(): RingOverwrites {
    return { events: this.overwriteEventCount, samples: this.overwrittenSampleCount };
  }

  /** Append samples; the oldest are overwritten when the ring is full. Allocates nothing. */
  write(samples: Int16Array): void {
    const n = samples.length;
    const data = this.data;
    const mask = this.mask;
    // A write longer than the ring only leaves its last `capacity` samples.
    const skip = n > this.capacitySamples ? n - this.capacitySamples : 0;
    let index = (this.written + skip) & mask;
    for (let i = skip; i < n; i++) {
      data[index] = samples[i] ?? 0;
      index = (index + 1) & mask;
    }
    this.written += n;
  }

  /**
   * A cursor at an absolute position. A position already overwritten is not clamped here: the first
   * read skips forward and counts the loss, because the caller asked for data that is gone.
   */
  cursorAt(position: number): RingCursor {
    if (!Number.isInteger(position) || position < 0) throw new RangeError(`PcmRing: bad position ${position}`);
    return new RingCursor(position);
  }

  /**
   * A cursor `samples` before now, clamped to the oldest sample still in the ring (and to the
   * first sample ever written). This is how a recording gets its pre-roll.
   */
  cursorBack(samples: number): RingCursor {
    if (!(samples >= 0)) throw new RangeError(`PcmRing: bad pre-roll ${samples}`);
    const wanted = this.written - Math.floor(samples);
    return new RingCursor(Math.max(wanted, this.oldestPosition));
  }

  /** Samples the cursor can read now (after any skip over overwritten data). */
  available(cursor: RingCursor): number {
    const behind = this.written - cursor.position;
    return behind <= 0 ? 0 : behind > this.capacitySamples ? this.capacitySamples : behind;
  }

  /**
   * Copy up to `out.length` available samples into `out` from its start and advance the cursor.
   * Returns the number copied (0 when the cursor has caught up). Allocates nothing.
   */
  read(cursor: RingCursor, out: Int16Array): number {
    let behind = this.written - cursor.position;
    if (behind > this.capacitySamples) {
      const lost = behind - this.capacitySamples;
      cursor.position += lost;
      cursor.overwrittenSamples += lost;
      cursor.overwriteEvents++;
      this.overwrittenSampleCount += lost;
      this.overwriteEventCount++;
      behind = this.capacitySamples;
    }
    if (behind <= 0) return 0;
    const n = behind < out.length ? behind : out.length;
    const data = this.data;
    const mask = this.mask;
    let index = cursor.position & mask;
    for (let i = 0; i < n; i++) {
      out[i] = data[index] ?? 0;
      index = (index + 1) & mask;
    }
    cursor.position += n;
    return n;
  }
}
