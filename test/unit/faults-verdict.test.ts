import { describe, expect, it } from 'vitest';
import { exitCode, figures, judge, parseArgs, repeatProblem, RECOVERY_LIMIT_MS, type RepeatResult } from '../../bench/faults/verdict.js';

const ok = (recoveryMs: number, extra: Partial<RepeatResult> = {}): RepeatResult => ({
  recovered: true,
  recoveryMs,
  lostAudioMs: 0,
  allowedLossMs: 1250,
  lostRows: 0,
  notes: [],
  ...extra,
});

describe('fault run figures', () => {
  it('gives min, median and max of the recovery times, the median of an even count being the mean of the middle two', () => {
    expect(figures([3, 1, 2])).toEqual({ min: 1, median: 2, max: 3 });
    expect(figures([4, 1, 3, 2])).toEqual({ min: 1, median: 2.5, max: 4 });
    expect(figures([7])).toEqual({ min: 7, median: 7, max: 7 });
    expect(figures([])).toBeNull();
  });
});

describe('fault run verdict', () => {
  it('passes a repeat that recovered in time with nothing lost beyond the flush interval', () => {
    expect(repeatProblem(ok(12_000, { lostAudioMs: 1250 }))).toBeNull();
  });

  it('fails a repeat that did not recover, took longer than 60 s, lost rows, lost more audio than allowed, or crashed', () => {
    expect(repeatProblem(ok(1000, { recovered: false, recoveryMs: null }))).toBe('not recovered');
    expect(repeatProblem(ok(RECOVERY_LIMIT_MS + 1))).toMatch(/recovery took 60001 ms \(limit 60000 ms\)/);
    expect(repeatProblem(ok(1000, { lostRows: 2 }))).toMatch(/2 committed row/);
    expect(repeatProblem(ok(1000, { lostAudioMs: 1251 }))).toMatch(/1251 ms of audio lost \(allowed 1250 ms\)/);
    expect(repeatProblem(ok(1000, { error: 'the service exited (1)' }))).toBe('the service exited (1)');
  });

  it('judges a fault by all its repeats: one bad repeat fails it, and the figures cover only recovered repeats', () => {
    const verdict = judge('power-cut', [ok(3000), ok(1000, { recovered: false, recoveryMs: null }), ok(5000, { lostAudioMs: 300 })]);
    expect(verdict).toMatchObject({ name: 'power-cut', repeats: 3, recovered: 2, pass: false, maxLostAudioMs: 300, lostRows: 0 });
    expect(verdict.recoveryMs).toEqual({ min: 3000, median: 4000, max: 5000 });
    expect(verdict.problems).toEqual(['repeat 2: not recovered']);
    expect(judge('clock-jump', [ok(3000), ok(4000)]).pass).toBe(true);
  });

  it('fails a fault that never ran', () => {
    expect(judge('db-locked', [])).toMatchObject({ pass: false, problems: ['no repeat ran'] });
  });

  it('exits non-zero when any fault failed, or none ran', () => {
    const pass = judge('a', [ok(1000)]);
    const fail = judge('b', [ok(RECOVERY_LIMIT_MS * 2)]);
    expect(exitCode([pass])).toBe(0);
    expect(exitCode([pass, fail])).toBe(1);
    expect(exitCode([])).toBe(1);
  });
});

describe('fault run arguments', () => {
  const known = ['power-cut', 'db-locked', 'clock-jump'];

  it('repeats 5 times by default, every fault, no JSON', () => {
    expect(parseArgs([], known)).toEqual({ repeat: 5, only: null, jsonPath: null });
  });

  it('reads --repeat, --only and --json, with a space or an equals sign', () => {
    expect(parseArgs(['--repeat', '1', '--only', 'power-cut,db-locked', '--json=/tmp/x.json'], known)).toEqual({
      repeat: 1,
      only: ['power-cut', 'db-locked'],
      jsonPath: '/tmp/x.json',
    });
  });

  it('refuses an unknown fault, a bad repeat count and an unknown flag, saying which', () => {
    expect(() => parseArgs(['--only', 'power-cut,meteor'], known)).toThrow(/unknown fault\(s\): meteor/);
    expect(() => parseArgs(['--repeat', '0'], known)).toThrow(/--repeat/);
    expect(() => parseArgs(['--repeat'], known)).toThrow(/needs a value/);
    expect(() => parseArgs(['--fast'], known)).toThrow(/unknown argument --fast/);
  });
});
