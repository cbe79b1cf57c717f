import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseWavHeader } from '../../src/audio/wav.js';
import { WindowCutter, type CutWindow } from '../../src/transcribe/windows.js';
import { speechWav } from '../helpers/whisper.js';

const RATE_HZ = 16000;
const ms = (value: number): number => Math.round((value * RATE_HZ) / 1000);

/** Speech-like: a 180 Hz buzz with 4 Hz syllable modulation at about -20 dBFS. */
function burst(out: Int16Array, from: number, length: number): void {
  for (let i = 0; i < length; i++) {
    const t = i / RATE_HZ;
    const envelope = 0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t);
    out[from + i] = Math.round(3300 * envelope * (Math.sin(2 * Math.PI * 180 * t) + 0.5 * Math.sin(2 * Math.PI * 720 * t)));
  }
}

/** Low background noise everywhere (-70 dBFS), deterministic. */
function addNoise(out: Int16Array): void {
  let state = 1;
  for (let i = 0; i < out.length; i++) {
    state = (state * 1664525 + 1013904223) >>> 0;
    out[i] = (out[i] ?? 0) + Math.round((state / 2 ** 32 - 0.5) * 20);
  }
}

interface Layout {
  readonly samples: Int16Array;
  /** [start, end) sample ranges of the pauses. */
  readonly pauses: [number, number][];
}

/** Alternating speech and silence: `pattern` in ms, speech first. */
function layout(pattern: number[]): Layout {
  const total = ms(pattern.reduce((a, b) => a + b, 0));
  const samples = new Int16Array(total);
  const pauses: [number, number][] = [];
  let position = 0;
  pattern.forEach((lengthMs, index) => {
    const length = ms(lengthMs);
    if (index % 2 === 0) burst(samples, position, length);
    else pauses.push([position, position + length]);
    position += length;
  });
  addNoise(samples);
  return { samples, pauses };
}

function cut(samples: Int16Array, chunk: number, options: { minSpeechMs?: number; maxWindowMs?: number } = {}): CutWindow[] {
  const windows: CutWindow[] = [];
  const cutter = new WindowCutter({ sampleRateHz: RATE_HZ, minSpeechMs: options.minSpeechMs ?? 4000, maxWindowMs: options.maxWindowMs ?? 30_000 }, (w) => windows.push(w));
  for (let start = 0; start < samples.length; start += chunk) cutter.feed(samples, start, Math.min(samples.length, start + chunk));
  windows.push(cutter.finish(samples.length));
  return windows;
}

function expectContiguous(windows: CutWindow[], total: number): void {
  expect(windows[0]?.startSample).toBe(0);
  windows.forEach((window, index) => {
    expect(window.seq).toBe(index);
    expect(window.endSample).toBeGreaterThanOrEqual(window.startSample);
    const next = windows[index + 1];
    if (next) expect(next.startSample).toBe(window.endSample);
  });
  expect(windows[windows.length - 1]?.endSample).toBe(total);
}

describe('WindowCutter', () => {
  it('cuts in the middle of a pause once a window holds enough speech, never in short word gaps', () => {
    // Words of 900 ms with 150 ms gaps; a 600 ms pause after ~5.1 s of speech, another after ~4.5 s more.
    const pattern = [900, 150, 900, 150, 900, 150, 900, 150, 900, 150, 600, 600, 900, 150, 900, 150, 900, 150, 900, 150, 900, 700, 1500];
    const { samples, pauses } = layout(pattern);
    const windows = cut(samples, 800);
    expectContiguous(windows, samples.length);
    const cuts = windows.slice(0, -1).map((window) => window.endSample);
    expect(cuts).toHaveLength(2);
    const longPauses = pauses.filter(([from, to]) => to - from >= ms(300));
    expect(longPauses).toHaveLength(2);
    cuts.forEach((point, index) => {
      const [from, to] = longPauses[index] ?? [0, 0];
      // Inside the pause, and not at its very edge (no word clipped).
      expect(point).toBeGreaterThan(from + ms(60));
      expect(point).toBeLessThan(to - ms(60));
    });
    expect(windows.slice(0, -1).every((window) => window.reason === 'pause')).toBe(true);
    expect(windows[windows.length - 1]?.reason).toBe('end');
  });

  it('does not cut at a pause before minSpeechMs of speech', () => {
    const { samples } = layout([1500, 800, 1500, 800, 1500]);
    const windows = cut(samples, 1024);
    expect(windows).toHaveLength(1);
    expect(windows[0]).toMatchObject({ startSample: 0, endSample: samples.length, reason: 'end' });
  });

  it('forces cuts of at most maxWindowMs in continuous speech, at its quietest point', () => {
    // 95 s of speech with no pause, but a brief 60 ms dip every 2.5 s: the forced cut should land in a dip.
    const total = ms(95_000);
    const samples = new Int16Array(total);
    burst(samples, 0, total);
    const dips: [number, number][] = [];
    for (let at = ms(2500); at < total; at += ms(2500)) {
      samples.fill(0, at, at + ms(60));
      dips.push([at, at + ms(60)]);
    }
    addNoise(samples);
    const windows = cut(samples, 320 * 3 + 17);
    expectContiguous(windows, total);
    expect(windows.length).toBeGreaterThanOrEqual(4);
    for (const window of windows) expect(window.endSample - window.startSample).toBeLessThanOrEqual(ms(30_000));
    for (const window of windows.slice(0, -1)) {
      expect(window.reason).toBe('forced');
      // Within the last 3 s of the window, inside a dip.
      expect(window.endSample - window.startSample).toBeGreaterThan(ms(27_000));
      expect(dips.some(([from, to]) => window.endSample >= from && window.endSample <= to)).toBe(true);
    }
  });

  it('cuts a silent recording only at the length limit', () => {
    const samples = new Int16Array(ms(65_000));
    addNoise(samples);
    const windows = cut(samples, 4096);
    expectContiguous(windows, samples.length);
    expect(windows).toHaveLength(3);
    for (const window of windows) expect(window.endSample - window.startSample).toBeLessThanOrEqual(ms(30_000));
  });

  it('gives the same cuts whatever the chunk sizes', () => {
    const { samples } = layout([900, 150, 900, 150, 900, 150, 900, 150, 900, 500, 900, 150, 900, 150, 900, 150, 900, 150, 900, 400, 2000]);
    const a = cut(samples, 160);
    const b = cut(samples, 4801);
    const c = cut(samples, samples.length);
    expect(a.length).toBeGreaterThan(1);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('a short clip is a single tail window; a tail past the last cut may be empty', () => {
    const { samples } = layout([2000, 300]);
    expect(cut(samples, 512)).toEqual([{ seq: 0, startSample: 0, endSample: samples.length, reason: 'end' }]);
    const cutter = new WindowCutter({ sampleRateHz: RATE_HZ, minSpeechMs: 4000, maxWindowMs: 30_000 }, () => undefined);
    expect(cutter.finish(0)).toEqual({ seq: 0, startSample: 0, endSample: 0, reason: 'end' });
    expect(() => cutter.feed(samples)).toThrow(/after finish/);
  });

  it('cuts real espeak-ng speech only where it is quiet', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scout-windows-'));
    try {
      const lines = [
        'Good morning. This is the first part of a long dictation about the garden and the shed.',
        'The second part is about the shopping list: apples, bread, coffee, and a new light bulb.',
        'In the third part we talk about the appointment with the dentist next Tuesday at nine.',
        'The fourth part reminds me to water the tomatoes and to call the plumber.',
      ];
      const parts: string[] = [];
      for (const [index, line] of lines.entries()) parts.push(await speechWav(line, join(dir, `part${index}.wav`), 0.6));
      await promisify(execFile)('sox', [...parts, join(dir, 'all.wav')]);
      const file = await readFile(join(dir, 'all.wav'));
      const header = parseWavHeader(file);
      const data = file.subarray(header.dataOffset, header.dataOffset + header.declaredDataBytes);
      const samples = new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
      const windows = cut(samples, 1600);
      expectContiguous(windows, samples.length);
      expect(windows.length).toBeGreaterThanOrEqual(2);
      const rmsAround = (at: number, halfMs: number): number => {
        let sumSq = 0;
        const from = Math.max(0, at - ms(halfMs));
        const to = Math.min(samples.length, at + ms(halfMs));
        for (let i = from; i < to; i++) sumSq += (samples[i] ?? 0) ** 2;
        return Math.sqrt(sumSq / Math.max(1, to - from));
      };
      for (const window of windows.slice(0, -1)) {
        expect(window.reason).toBe('pause');
        // 100 ms either side of the cut is (near) silent: no word was split.
        expect(rmsAround(window.endSample, 100)).toBeLessThan(30);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
