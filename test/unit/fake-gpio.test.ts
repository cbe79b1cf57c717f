import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeButton, FakeLed } from '../../src/hardware/fake-gpio.js';
import type { ButtonEdge } from '../../src/hardware/types.js';
import { LED_PATTERNS } from '../../src/ops/led-language.js';
import { buttonContract } from '../contract/button.contract.js';
import { ledContract } from '../contract/led.contract.js';

buttonContract('fake', () => {
  const button = new FakeButton();
  return Promise.resolve({
    button,
    exactTimestamps: true,
    press: (atMs: number) => Promise.resolve(button.press(atMs)),
    release: (atMs: number) => Promise.resolve(button.release(atMs)),
    dispose: () => Promise.resolve(),
  });
});

ledContract('fake', () => {
  const led = new FakeLed('status');
  return Promise.resolve({
    led,
    observe: () => Promise.resolve(led.showing()),
    settle: () => Promise.resolve(),
    dispose: () => Promise.resolve(),
  });
});

describe('FakeButton', () => {
  function started(clock?: () => number): { button: FakeButton; heard: Array<[ButtonEdge, number]> } {
    const button = new FakeButton(clock);
    const heard: Array<[ButtonEdge, number]> = [];
    button.onEdge((edge, atMs) => heard.push([edge, atMs]));
    return { button, heard };
  }

  it('stamps edges with its clock unless told the time', async () => {
    let nowMs = 1_000;
    const { button, heard } = started(() => nowMs);
    await button.start();
    button.press();
    nowMs = 1_250;
    button.release();
    button.press(5_000);
    button.release(5_100);
    expect(heard).toEqual([
      ['press', 1_000],
      ['release', 1_250],
      ['press', 5_000],
      ['release', 5_100],
    ]);
  });

  it('click() is a press and a release at the same instant', async () => {
    const { button, heard } = started(() => 42);
    await button.start();
    button.click();
    expect(heard).toEqual([
      ['press', 42],
      ['release', 42],
    ]);
  });

  it('alternates edges like a real contact: a second press while held is not an edge', async () => {
    const { button, heard } = started(() => 0);
    await button.start();
    button.press();
    button.press();
    button.release();
    button.release();
    expect(heard.map(([edge]) => edge)).toEqual(['press', 'release']);
  });

  it('hold(ms) keeps the button down for that long in real time', async () => {
    const { button, heard } = started();
    await button.start();
    const t0 = Date.now();
    await button.hold(120);
    expect(heard.map(([edge]) => edge)).toEqual(['press', 'release']);
    const [[, pressAt], [, releaseAt]] = heard as [[ButtonEdge, number], [ButtonEdge, number]];
    expect(pressAt).toBeGreaterThanOrEqual(t0);
    expect(releaseAt - pressAt).toBeGreaterThanOrEqual(115);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(115);
  });

  it('stop() during hold() ends the wait at once and nothing is heard after it', async () => {
    const { button, heard } = started();
    await button.start();
    const t0 = Date.now();
    const holding = button.hold(10_000);
    await button.stop();
    await holding;
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(heard.map(([edge]) => edge)).toEqual(['press']);
  });

  it('is deaf before start()', () => {
    const { button, heard } = started();
    button.click();
    expect(heard).toEqual([]);
  });
});

describe('FakeLed', () => {
  it('records what it showed, with times: the pattern at start, each set, off at stop', async () => {
    let nowMs = 10;
    const led = new FakeLed('recording', () => nowMs);
    led.set({ mode: 'on' });
    expect(led.history()).toEqual([]);
    await led.start();
    nowMs = 20;
    led.set({ mode: 'blink', onMs: 100, offMs: 100 });
    nowMs = 30;
    await led.stop();
    led.set({ mode: 'on' });
    expect(led.name).toBe('recording');
    expect(led.history()).toEqual([
      { atMs: 10, pattern: { mode: 'on' } },
      { atMs: 20, pattern: { mode: 'blink', onMs: 100, offMs: 100 } },
      { atMs: 30, pattern: { mode: 'off' } },
    ]);
  });
});

describe('FakeLed timeline (the service-side timer, on a fake clock)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** [on ms, off ms, ...] between consecutive changes of the light. */
  function durations(led: FakeLed): number[] {
    const levels = led.timeline();
    return levels.slice(1).map((entry, index) => entry.atMs - (levels[index]?.atMs ?? 0));
  }

  it('plays error code 3 as three 200 ms blinks and a 1.4 s pause, again and again', async () => {
    vi.useFakeTimers({ now: 0 });
    const led = new FakeLed('status');
    await led.start();
    led.set(LED_PATTERNS.storage);
    vi.advanceTimersByTime(2 * 2_400);
    // Dark at start, lit at once when set (same ms), then on/off durations of two full cycles.
    expect(led.timeline().slice(0, 2)).toEqual([
      { atMs: 0, on: false },
      { atMs: 0, on: true },
    ]);
    expect(durations(led).slice(1)).toEqual([200, 200, 200, 200, 200, 1400, 200, 200, 200, 200, 200, 1400]);
    await led.stop();
  });

  it('plays 100/1900 as exactly that', async () => {
    vi.useFakeTimers({ now: 1_000 });
    const led = new FakeLed('status');
    await led.start();
    led.set(LED_PATTERNS.degradedHot);
    vi.advanceTimersByTime(6_000);
    expect(durations(led).slice(1)).toEqual([100, 1900, 100, 1900, 100, 1900]);
  });

  it('a finite repeat ends on its last step; stop() leaves no timer and the light dark', async () => {
    vi.useFakeTimers({ now: 0 });
    const led = new FakeLed('record');
    await led.start();
    led.set(LED_PATTERNS.cancelled);
    vi.advanceTimersByTime(2_000);
    expect(durations(led).slice(1)).toEqual([100, 100, 100, 100, 100]);
    expect(led.timeline().at(-1)?.on).toBe(false);
    expect(led.animating).toBe(false);
    led.set(LED_PATTERNS.busy);
    expect(led.animating).toBe(true);
    await led.stop();
    expect(led.animating).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    const changes = led.timeline().length;
    vi.advanceTimersByTime(5_000);
    expect(led.timeline()).toHaveLength(changes);
    expect(led.timeline().at(-1)?.on).toBe(false);
  });
});
