import { describe, expect, it } from 'vitest';
import { Progress, formatBytes, progressLine } from '../../src/cli/progress.js';
import { healthLines, printable, recordingLine, renderSnippet } from '../../src/cli/render.js';
import { parseWhen } from '../../src/cli/when.js';

describe('search snippets', () => {
  const parts = [
    { text: '…remember to buy ', match: false },
    { text: 'milk', match: true },
    { text: ' and call the ', match: false },
    { text: 'plumber', match: true },
  ];

  it('bracket the matched words in a pipe', () => {
    expect(renderSnippet(parts, false)).toBe('…remember to buy [milk] and call the [plumber]');
  });

  it('highlight them on a terminal', () => {
    expect(renderSnippet(parts, true)).toBe('…remember to buy \x1b[1;7mmilk\x1b[0m and call the \x1b[1;7mplumber\x1b[0m');
  });

  it('never let a transcript drive the terminal', () => {
    expect(renderSnippet([{ text: 'a\x1b[31mred\x07', match: false }], true)).toBe('a[31mred');
    expect(printable('one\ntwo')).toBe('one two');
  });
});

describe('status in plain words', () => {
  it('says healthy when every check is', () => {
    expect(healthLines({ status: 'healthy', checks: { disk: { status: 'healthy', message: 'ok' } } })).toEqual(['healthy']);
  });

  it('gives one line per check that is not healthy, worst first', () => {
    const lines = healthLines({
      status: 'unhealthy',
      checks: {
        disk: { status: 'degraded', message: 'disk space low: 300 MB free' },
        mic: { status: 'unhealthy', message: 'no audio frames for 5 s' },
        db: { status: 'healthy', message: 'ok' },
        model: { status: 'degraded', message: '' },
      },
    });
    expect(lines).toEqual(['unhealthy: no audio frames for 5 s', 'degraded: disk space low: 300 MB free', 'degraded: model']);
  });

  it('says so when the box gave the status without details', () => {
    expect(healthLines({ status: 'degraded' })[0]).toMatch(/^degraded/);
  });
});

describe('a recording as one line', () => {
  it('shows id, start, duration, status and title', () => {
    const line = recordingLine({ id: 'r1', startedAtMs: new Date(2026, 11, 2, 10, 5).getTime(), durationMs: 65_000, status: 'transcribed', title: 'Shopping' });
    expect(line).toBe('r1  2026-12-02 10:05     1:05  transcribed   Shopping');
  });
});

describe('the export progress line', () => {
  it('shows bytes and rate without a length, a bar and percentage with one', () => {
    expect(progressLine('exporting', 1_500_000, null, 1000, 80)).toBe('exporting 1.5 MB  1.5 MB/s');
    const line = progressLine('exporting', 50_000, 100_000, 1000, 80);
    expect(line).toContain(' 50% 50.0 kB of 100 kB');
    expect(line).toMatch(/\[#+\.+\]/);
    expect(progressLine('exporting', 50_000, 100_000, 1000, 30).length).toBeLessThanOrEqual(30);
  });

  it('draws only on a terminal, at most every interval, and clears itself', () => {
    let now = 0;
    const writes: string[] = [];
    const tty = new Progress({ isTTY: true, columns: 80, write: (text) => writes.push(text) }, 'exporting', null, 100, () => now);
    now = 150;
    tty.add(1000);
    now = 160;
    tty.add(1000);
    tty.done();
    expect(writes).toHaveLength(2);
    expect(writes[0]?.startsWith('\r\x1b[2Kexporting 1000 B')).toBe(true);
    expect(writes[1]).toBe('\r\x1b[2K');
    const pipe: string[] = [];
    const quiet = new Progress({ isTTY: false, write: (text) => pipe.push(text) }, 'exporting', null, 0, () => (now += 1000));
    quiet.add(5);
    quiet.done();
    expect(pipe).toEqual([]);
    expect(quiet.bytes).toBe(5);
  });

  it('formats sizes for people', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(300_000_000)).toBe('300 MB');
  });
});

describe('times on the command line', () => {
  const now = new Date(2026, 11, 2, 15, 30).getTime();
  it('passes the box\'s own forms through and turns words into epoch ms', () => {
    expect(parseWhen('2026-12-02', now)).toBe('2026-12-02');
    expect(parseWhen('1764000000000', now)).toBe('1764000000000');
    expect(parseWhen('today', now)).toBe(String(new Date(2026, 11, 2).getTime()));
    expect(parseWhen('yesterday', now)).toBe(String(new Date(2026, 11, 1).getTime()));
    expect(parseWhen('2h', now)).toBe(String(now - 7_200_000));
    expect(() => parseWhen('last tuesday', now)).toThrow(/expected/);
  });
});
