import { describe, expect, it } from 'vitest';
import { PcmRing } from '../../src/audio/ring-buffer.js';

/** Samples whose value is their absolute position (mod 2^15), so a read shows where it came from. */
function ramp(from: number, count: number): Int16Array {
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = (from + i) % 32_768;
  return out;
}

describe('PcmRing', () => {
  it('rounds the capacity up to a power of two', () => {
    expect(new PcmRing(1).capacitySamples).toBe(1);
    expect(new PcmRing(1000).capacitySamples).toBe(1024);
    expect(new PcmRing(1024).capacitySamples).toBe(1024);
    expect(new PcmRing(1025).capacitySamples).toBe(2048);
    expect(() => new PcmRing(0)).toThrow(RangeError);
    expect(() => new PcmRing(1.5)).toThrow(RangeError);
  });

  it('reads back what was written, in order, across many wrap-arounds', () => {
    const ring = new PcmRing(8);
    const cursor = ring.cursorAt(0);
    const out = new Int16Array(5);
    let next = 0;
    for (let round = 0; round < 50; round++) {
      const n = 1 + (round % 7);
      ring.write(ramp(ring.writtenTotal, n));
      let got = ring.read(cursor, out);
      while (got > 0) {
        for (let i = 0; i < got; i++) expect(out[i]).toBe(next++);
        got = ring.read(cursor, out);
      }
    }
    expect(ring.writtenTotal).toBe(next);
    expect(cursor.position).toBe(next);
    expect(ring.overwrites).toEqual({ events: 0, samples: 0 });
  });

  it('reads at most out.length samples and returns 0 when caught up or ahead', () => {
    const ring = new PcmRing(16);
    ring.write(ramp(0, 10));
    const cursor = ring.cursorAt(0);
    const out = new Int16Array(4);
    expect(ring.available(cursor)).toBe(10);
    expect(ring.read(cursor, out)).toBe(4);
    expect(Array.from(out)).toEqual([0, 1, 2, 3]);
    expect(ring.read(cursor, new Int16Array(100))).toBe(6);
    expect(ring.read(cursor, out)).toBe(0);
    const future = ring.cursorAt(12);
    expect(ring.read(future, out)).toBe(0);
    ring.write(ramp(10, 4));
    expect(ring.read(future, out)).toBe(2);
    expect(Array.from(out.subarray(0, 2))).toEqual([12, 13]);
  });

  it('pre-roll: cursorBack starts that many samples before now, clamped to what the ring still holds', () => {
    const ring = new PcmRing(1024);
    expect(ring.cursorBack(500).position).toBe(0);
    ring.write(ramp(0, 100));
    const short = ring.cursorBack(500);
    expect(short.position).toBe(0);
    expect(ring.available(short)).toBe(100);

    ring.write(ramp(100, 9_900));
    const preRoll = ring.cursorBack(500);
    expect(preRoll.position).toBe(9_500);
    const out = new Int16Array(2_000);
    expect(ring.read(preRoll, out)).toBe(500);
    expect(out[0]).toBe(9_500);
    expect(out[499]).toBe(9_999);

    const tooLong = ring.cursorBack(5_000);
    expect(tooLong.position).toBe(10_000 - 1024);
    expect(ring.read(tooLong, out)).toBe(1024);
    expect(out[0]).toBe(10_000 - 1024);
    // Clamping is not data loss: nothing is counted.
    expect(tooLong.overwrittenSamples).toBe(0);
    expect(ring.overwrites).toEqual({ events: 0, samples: 0 });
  });

  it('a reader that falls more than a capacity behind skips to the oldest sample and the loss is counted', () => {
    const ring = new PcmRing(1024);
    const slow = ring.cursorAt(0);
    const fast = ring.cursorAt(0);
    const out = new Int16Array(4096);
    for (let k = 0; k < 6; k++) {
      ring.write(ramp(k * 500, 500));
      expect(ring.read(fast, out)).toBe(500);
    }
    // 3000 written, the ring holds 1024: the slow reader lost 1976.
    expect(ring.read(slow, out)).toBe(1024);
    expect(out[0]).toBe(1976);
    expect(out[1023]).toBe(2999);
    expect(slow.overwrittenSamples).toBe(1976);
    expect(slow.overwriteEvents).toBe(1);
    expect(fast.overwrittenSamples).toBe(0);
    expect(ring.overwrites).toEqual({ events: 1, samples: 1976 });

    // Exactly a capacity behind is not a loss.
    ring.write(ramp(3000, 1024));
    expect(ring.read(slow, out)).toBe(1024);
    expect(out[0]).toBe(3000);
    expect(ring.overwrites).toEqual({ events: 1, samples: 1976 });

    // A second loss adds to both counters.
    ring.write(ramp(4024, 1500));
    expect(ring.read(slow, out)).toBe(1024);
    expect(ring.overwrites).toEqual({ events: 2, samples: 1976 + 476 });
    expect(slow.overwriteEvents).toBe(2);
  });

  it('a single write larger than the ring keeps its newest samples', () => {
    const ring = new PcmRing(8);
    ring.write(ramp(0, 21));
    expect(ring.writtenTotal).toBe(21);
    expect(ring.oldestPosition).toBe(13);
    const cursor = ring.cursorBack(100);
    const out = new Int16Array(8);
    expect(ring.read(cursor, out)).toBe(8);
    expect(Array.from(out)).toEqual([13, 14, 15, 16, 17, 18, 19, 20]);
  });

  it('memory never grows: the backing store stays the same size however much is written', () => {
    const ring = new PcmRing(4096);
    const chunk = ramp(0, 1000);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 10_000; i++) ring.write(chunk);
    expect(ring.writtenTotal).toBe(10_000_000);
    // Not a byte-exact check (other tests share the process); any growth would be megabytes.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1_000_000);
  });
});
