import { describe, expect, it } from 'vitest';
import { stitchWindows } from '../../src/transcribe/stitch.js';

describe('stitchWindows', () => {
  it('shifts each window by its offset and joins with single spaces', () => {
    const stitched = stitchWindows([
      { offsetMs: 0, durationMs: 5000, segments: [{ startMs: 0, endMs: 2000, text: ' Hello there. ' }, { startMs: 2000, endMs: 4800, text: 'How are  you?' }] },
      { offsetMs: 5000, durationMs: 6000, segments: [{ startMs: 300, endMs: 5200, text: '\nFine, thanks.' }] },
    ]);
    expect(stitched.text).toBe('Hello there. How are you? Fine, thanks.');
    expect(stitched.segments).toEqual([
      { startMs: 0, endMs: 2000, text: 'Hello there.' },
      { startMs: 2000, endMs: 4800, text: 'How are you?' },
      { startMs: 5300, endMs: 10200, text: 'Fine, thanks.' },
    ]);
  });

  it('orders windows by offset whatever order they come in, and skips empty ones', () => {
    const stitched = stitchWindows([
      { offsetMs: 10_000, durationMs: 3000, segments: [{ startMs: 0, endMs: 1000, text: 'third' }] },
      { offsetMs: 0, durationMs: 4000, segments: [{ startMs: 100, endMs: 900, text: 'first' }] },
      { offsetMs: 4000, durationMs: 6000, segments: [{ startMs: 0, endMs: 0, text: '   ' }] },
    ]);
    expect(stitched.text).toBe('first third');
    expect(stitched.segments.map((s) => s.startMs)).toEqual([100, 10_000]);
  });

  it('clamps segment times that run past their window', () => {
    const stitched = stitchWindows([{ offsetMs: 2000, durationMs: 3000, segments: [{ startMs: 1000, endMs: 30_000, text: 'runs long' }] }]);
    expect(stitched.segments).toEqual([{ startMs: 3000, endMs: 5000, text: 'runs long' }]);
  });

  it('drops words repeated across a window boundary when the times overlap', () => {
    const stitched = stitchWindows([
      { offsetMs: 0, durationMs: 8000, segments: [{ startMs: 0, endMs: 8000, text: 'we will meet at the station' }] },
      { offsetMs: 7500, durationMs: 5000, segments: [{ startMs: 0, endMs: 3000, text: 'at the station, at noon.' }] },
    ]);
    expect(stitched.text).toBe('we will meet at the station at noon.');
  });

  it('drops a duplicated boundary segment but keeps genuine repetition without overlap', () => {
    const duplicated = stitchWindows([
      { offsetMs: 0, durationMs: 6000, segments: [{ startMs: 4000, endMs: 6000, text: 'Thank you.' }] },
      { offsetMs: 5000, durationMs: 4000, segments: [{ startMs: 0, endMs: 1500, text: 'thank you' }] },
    ]);
    expect(duplicated.text).toBe('Thank you.');
    const genuine = stitchWindows([
      { offsetMs: 0, durationMs: 5000, segments: [{ startMs: 0, endMs: 4000, text: 'go go' }] },
      { offsetMs: 5000, durationMs: 5000, segments: [{ startMs: 200, endMs: 1000, text: 'go go' }] },
    ]);
    expect(genuine.text).toBe('go go go go');
  });
});
