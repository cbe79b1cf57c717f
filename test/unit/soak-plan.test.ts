import { describe, expect, it } from 'vitest';
import { allocate, defaultMix, FULL_MIX, parseMix, planCycles, plannedSeconds, SHORT_MIX, SILENCE_SECONDS } from '../../bench/soak/mix.js';
import { formatDuration, progressLine } from '../../bench/soak/progress.js';
import { countProblem, modelArgument, unitEnvironment, unitNodeFlags } from '../../bench/soak/service.js';
import { execStartFor } from '../../bench/soak/systemd-service.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoDir } from '../helpers/whisper.js';

describe('soak mix', () => {
  it('parses silence and speech lengths with their weights', () => {
    const mix = parseMix('silence=25, 2=50,30=20,120=5');
    expect(mix.map((e) => [e.kind.label, e.kind.seconds, e.kind.speech, e.weight])).toEqual([
      ['silence', SILENCE_SECONDS, false, 25],
      ['2 s', 2, true, 50],
      ['30 s', 30, true, 20],
      ['2 min', 120, true, 5],
    ]);
  });

  it('refuses malformed, repeated, zero-weight and out-of-range entries', () => {
    expect(() => parseMix('')).toThrow(/empty/);
    expect(() => parseMix('loud=3')).toThrow(/not <silence/);
    expect(() => parseMix('2=1,2=3')).toThrow(/twice/);
    expect(() => parseMix('2=0')).toThrow(/above 0/);
    expect(() => parseMix('1=5')).toThrow(/2\.\.600/);
  });

  it('allocates exact counts that follow the weights and add up', () => {
    const mix = parseMix(FULL_MIX);
    expect(allocate(mix, 200)).toEqual([50, 100, 40, 10]);
    expect(allocate(parseMix(SHORT_MIX), 20)).toEqual([6, 10, 4]);
    // 7 cycles over weights 1:1:1 -> the remainder goes to the first entries.
    expect(allocate(parseMix('silence=1,2=1,30=1'), 7)).toEqual([3, 2, 2]);
    for (const n of [1, 3, 19, 20, 101, 200]) expect(allocate(mix, n).reduce((s, c) => s + c, 0)).toBe(n);
  });

  it('uses the short mix (no 2 min takes) below 100 cycles', () => {
    expect(defaultMix(20)).toBe(SHORT_MIX);
    expect(defaultMix(200)).toBe(FULL_MIX);
  });

  it('plans the same cycles for the same seed, others for another seed', () => {
    const mix = parseMix(FULL_MIX);
    const a = planCycles(mix, 200, 1);
    const b = planCycles(mix, 200, 1);
    const c = planCycles(mix, 200, 2);
    expect(a).toEqual(b);
    expect(a.map((x) => x.kind.label)).not.toEqual(c.map((x) => x.kind.label));
    expect(a.filter((x) => x.kind.label === '2 min')).toHaveLength(10);
    expect(a.map((x) => x.index)).toEqual([...Array(200).keys()]);
    for (const cycle of a) {
      expect(cycle.gapMs).toBeGreaterThanOrEqual(1000);
      expect(cycle.gapMs).toBeLessThanOrEqual(3000);
      expect(cycle.variant).toBeLessThan(3);
    }
    // Repetitions of one length cycle through the clip variants.
    expect(a.filter((x) => x.kind.label === '30 s').slice(0, 4).map((x) => x.variant)).toEqual([0, 1, 2, 0]);
  });

  it('holds the button about 45 minutes for 200 cycles and about 3 for 20', () => {
    const full = plannedSeconds(planCycles(parseMix(FULL_MIX), 200, 1));
    const short = plannedSeconds(planCycles(parseMix(SHORT_MIX), 20, 1));
    expect(full / 60).toBeGreaterThan(45);
    expect(full / 60).toBeLessThan(55);
    expect(short / 60).toBeGreaterThan(2);
    expect(short / 60).toBeLessThan(4);
  });
});

describe('soak progress', () => {
  it('draws a bar with counts and times', () => {
    expect(formatDuration(3_723_000)).toBe('1:02:03');
    expect(formatDuration(61_400)).toBe('1:01');
    expect(progressLine(5, 20, 60_000, 180_000, 'x', 20)).toBe('[#####...............] 5/20  1:00 elapsed, ~3:00 left  x');
  });
});

describe('soak service command line', () => {
  it('takes the node flags and environment from the real unit file', () => {
    const unit = readFileSync(join(repoDir, 'systemd', 'scout.service'), 'utf8');
    expect(unitNodeFlags(unit)).toEqual(['--max-semi-space-size=2']);
    expect(unitEnvironment(unit)).toEqual({ NODE_ENV: 'production', MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });
    expect(unitNodeFlags('[Service]\nExecStart=/usr/bin/node --a=1 --b x.js\n')).toEqual(['--a=1', '--b']);
    expect(() => unitNodeFlags('[Service]\n')).toThrow(/no ExecStart/);
  });

  it("keeps the unit's ExecStart under systemd, with only the script swapped for the soak's build", () => {
    const unit = readFileSync(join(repoDir, 'systemd', 'scout.service'), 'utf8');
    const line = execStartFor(unit, '/opt/scout/.cache/bench/soak-1/dist/src/main.js');
    expect(line).toBe(unit.split('\n').find((l) => l.startsWith('ExecStart='))!.replace('/opt/scout/dist/src/main.js', '/opt/scout/.cache/bench/soak-1/dist/src/main.js'));
    expect(line).toMatch(/^ExecStart=\/usr\/bin\/node --max-semi-space-size=2 \/opt\/scout\/\.cache\/bench\/soak-1\/dist\/src\/main\.js$/);
    expect(() => execStartFor('[Service]\nExecStart=/usr/bin/node /elsewhere/main.js\n', '/x.js')).toThrow(/does not run/);
  });

  it('counts warnings and errors from the service log, by message, whether levels are labels or numbers', () => {
    const problems = new Map<string, number>();
    const lines = [
      { level: 'info', msg: 'starting scout' },
      { level: 'warn', msg: 'disk low' },
      { level: 'warn', msg: 'disk low' },
      { level: 'error', msg: 'engine failed' },
      { level: 30, msg: 'fine' },
      { level: 50, msg: 'numbered error' },
    ];
    for (const line of lines) countProblem(problems, JSON.stringify(line));
    countProblem(problems, 'not json');
    expect(Object.fromEntries(problems)).toEqual({ 'disk low': 2, 'engine failed': 1, 'numbered error': 1, '(unparsed stdout line)': 1 });
  });

  it("finds whisper-server's model argument", () => {
    expect(modelArgument(['whisper-server', '-t', '2', '-m', '/m/q8.bin', '--port', '1'])).toBe('/m/q8.bin');
    expect(modelArgument(['whisper-server', '--model', '/m/x.bin'])).toBe('/m/x.bin');
    expect(modelArgument(['whisper-server'])).toBeUndefined();
  });
});
