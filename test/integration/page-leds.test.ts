/**
 * The page's LED mirror in Chromium plays the box's LED language with the box's own timings.
 * Two ways of looking, both on what the browser renders (the computed opacity of the light):
 * - seeking the running animation through one cycle in 10 ms steps: the exact rhythm;
 * - sampling it on every frame in real time: the rhythm as a person sees it (medians, with a
 *   tolerance for a loaded machine; 1000/1000 instead of 100/1900 is far outside it).
 * The error code comes end to end: a microphone that cannot be opened -> the 'audio' fault ->
 * code 2 in /api/state and the SSE event -> the mirror.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedPattern, LedStep } from '../../src/hardware/types.js';
import { LED_PATTERNS } from '../../src/ops/led-language.js';
import { missingCapability } from '../helpers/capability.js';
import { removeDataDir, startScout, type ScoutProcess } from '../helpers/scout-process.js';

const CHROMIUM = '/usr/bin/chromium';

interface Run {
  readonly on: boolean;
  readonly ms: number;
}

interface Sweep {
  readonly cycleMs: number;
  readonly iterations: string;
  readonly runs: readonly Run[];
}

interface Edge {
  readonly on: boolean;
  readonly atMs: number;
}

/** Page-side probes, as source: the project compiles without the DOM lib. */
const PROBES = `
window.__ledProbe = {
  lit(element) {
    return getComputedStyle(element, '::after').opacity === '1';
  },
  /** Seeks the LED's animation through one cycle (sampling mid-slot) and restores it. */
  sweep(selector) {
    const element = document.querySelector(selector);
    const [animation] = element.getAnimations({ subtree: true });
    if (!animation) return null;
    const timing = animation.effect.getTiming();
    const cycleMs = timing.duration;
    const saved = animation.currentTime;
    animation.pause();
    const runs = [];
    for (let atMs = 5; atMs < cycleMs; atMs += 10) {
      animation.currentTime = atMs;
      const on = this.lit(element);
      const last = runs[runs.length - 1];
      if (last && last.on === on) last.ms += 10;
      else runs.push({ on, ms: 10 });
    }
    animation.currentTime = saved;
    animation.play();
    return { cycleMs, iterations: String(timing.iterations), runs };
  },
  /** Every change of the light seen on animation frames for durationMs. */
  record(selector, durationMs) {
    const element = document.querySelector(selector);
    return new Promise((resolve) => {
      const edges = [];
      const startMs = performance.now();
      const frame = (nowMs) => {
        const on = this.lit(element);
        if (edges.length === 0 || edges[edges.length - 1].on !== on) edges.push({ on, atMs: nowMs });
        if (nowMs - startMs < durationMs) requestAnimationFrame(frame);
        else resolve(edges);
      };
      requestAnimationFrame(frame);
    });
  },
};
`;

/** The steps of one cycle, merged where two neighbours have the same light (what a sweep sees). */
function expectedRuns(pattern: LedPattern): Run[] {
  const steps: readonly LedStep[] =
    pattern.mode === 'pattern' ? pattern.steps : pattern.mode === 'blink' ? [{ on: true, ms: pattern.onMs }, { on: false, ms: pattern.offMs }] : [];
  const runs: Run[] = [];
  for (const step of steps) {
    const last = runs.at(-1);
    if (last && last.on === step.on) runs[runs.length - 1] = { on: step.on, ms: last.ms + step.ms };
    else runs.push({ on: step.on, ms: step.ms });
  }
  return runs;
}

/** Whole on/off periods between edges (the first and last are cut by the recording window). */
function periods(edges: readonly Edge[]): Array<{ on: boolean; ms: number }> {
  const out: Array<{ on: boolean; ms: number }> = [];
  for (let index = 1; index + 1 < edges.length; index += 1) {
    const edge = edges[index];
    const next = edges[index + 1];
    if (edge && next) out.push({ on: edge.on, ms: next.atMs - edge.atMs });
  }
  return out;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const noChromium = missingCapability('chromium', existsSync(CHROMIUM) ? null : `${CHROMIUM} not installed (Debian package chromium)`);

describe.skipIf(noChromium)('the LED mirror in Chromium', () => {
  let scout: ScoutProcess;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    // No such card: arecord fails to open it, so the microphone fault (code 2) is up for the whole run.
    scout = await startScout({ config: { audio: { backend: 'alsa', device: 'hw:CARD=NoSuchScoutCard', restartMaxMs: 1000 } } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    await page.goto(`http://127.0.0.1:${scout.port}/`);
    await page.locator('#token').fill(scout.token);
    await page.locator('#login button[type="submit"]').click();
    await page.locator('#app').waitFor({ state: 'visible', timeout: 10_000 });
    await page.locator('#live[data-state="live"]').waitFor({ timeout: 10_000 });
    await page.evaluate(PROBES);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await scout?.stop();
    if (scout) await removeDataDir(scout.dataDir);
  });

  const sweep = (selector: string): Promise<Sweep | null> => page.evaluate(`window.__ledProbe.sweep(${JSON.stringify(selector)})`);
  const record = (selector: string, durationMs: number): Promise<Edge[]> =>
    page.evaluate(`window.__ledProbe.record(${JSON.stringify(selector)}, ${durationMs})`);

  it('error code 2 (no microphone) goes from the box to the mirror, 200/200 twice then 1400 dark', async () => {
    await expect
      .poll(async () => JSON.stringify((await scout.api<{ appliance: { leds: Record<string, LedPattern> } }>('/api/state')).body.appliance.leds['status']), {
        timeout: 20_000,
      })
      .toBe(JSON.stringify(LED_PATTERNS.noMicrophone));
    await expect.poll(() => page.locator('#led-status').getAttribute('data-pattern'), { timeout: 10_000 }).toBe(JSON.stringify(LED_PATTERNS.noMicrophone));
    const exact = await sweep('#led-status');
    expect(exact).toEqual({ cycleMs: 2000, iterations: 'Infinity', runs: expectedRuns(LED_PATTERNS.noMicrophone) });
    expect(exact?.runs).toEqual([
      { on: true, ms: 200 },
      { on: false, ms: 200 },
      { on: true, ms: 200 },
      { on: false, ms: 1400 },
    ]);

    const seen = periods(await record('#led-status', 6_500));
    const lit = seen.filter((period) => period.on).map((period) => period.ms);
    const pauses = seen.filter((period) => !period.on && period.ms > 700).map((period) => period.ms);
    const gaps = seen.filter((period) => !period.on && period.ms <= 700).map((period) => period.ms);
    expect(lit.length).toBeGreaterThanOrEqual(4);
    expect(Math.abs(median(lit) - 200)).toBeLessThan(80);
    expect(Math.abs(median(gaps) - 200)).toBeLessThan(80);
    expect(pauses.length).toBeGreaterThanOrEqual(2);
    expect(Math.abs(median(pauses) - 1400)).toBeLessThan(150);
    // The red LED is dark: nothing is being kept.
    expect(await page.locator('#led-record').getAttribute('data-mode')).toBe('off');
  }, 60_000);

  it('100/1900 (degraded: hot) renders as 100 on, 1900 off, not 1000/1000', async () => {
    await page.evaluate(`(async () => {
      const { showLed } = await import('/device.js');
      const probe = document.createElement('span');
      probe.id = 'led-probe';
      probe.className = 'led';
      document.querySelector('.leds').append(probe);
      showLed(probe, ${JSON.stringify(LED_PATTERNS.degradedHot)});
    })()`);
    expect(await sweep('#led-probe')).toEqual({
      cycleMs: 2000,
      iterations: 'Infinity',
      runs: [
        { on: true, ms: 100 },
        { on: false, ms: 1900 },
      ],
    });
    const seen = periods(await record('#led-probe', 6_500));
    const lit = seen.filter((period) => period.on).map((period) => period.ms);
    const dark = seen.filter((period) => !period.on).map((period) => period.ms);
    expect(lit.length).toBeGreaterThanOrEqual(2);
    expect(Math.abs(median(lit) - 100)).toBeLessThan(60);
    expect(Math.abs(median(dark) - 1900)).toBeLessThan(150);
  }, 30_000);

  it('the same pattern again keeps the running animation; steady on and off have none', async () => {
    const before: number = await page.evaluate(`document.querySelector('#led-probe').getAnimations({ subtree: true })[0].currentTime`);
    await page.evaluate(`import('/device.js').then(({ showLed }) => showLed(document.querySelector('#led-probe'), ${JSON.stringify(LED_PATTERNS.degradedHot)}))`);
    const after: number = await page.evaluate(`document.querySelector('#led-probe').getAnimations({ subtree: true })[0].currentTime`);
    expect(after).toBeGreaterThanOrEqual(before);
    for (const [pattern, lit] of [
      [LED_PATTERNS.on, true],
      [LED_PATTERNS.off, false],
    ] as const) {
      await page.evaluate(`import('/device.js').then(({ showLed }) => showLed(document.querySelector('#led-probe'), ${JSON.stringify(pattern)}))`);
      expect(await page.evaluate(`document.querySelector('#led-probe').getAnimations({ subtree: true }).length`)).toBe(0);
      expect(await page.evaluate(`window.__ledProbe.lit(document.querySelector('#led-probe'))`)).toBe(lit);
    }
  });
});
