import { missingCapability } from '../helpers/capability.js';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDataDir, startScout, type ScoutProcess } from '../helpers/scout-process.js';

const CHROMIUM = '/usr/bin/chromium';

// The few DOM members the page callbacks use (the project compiles without the DOM lib).
interface PageElement {
  style: { width: string };
}
interface PageAudio {
  currentTime: number;
  duration: number;
  pause(): void;
}
interface PageWindow {
  innerWidth: number;
  document: { documentElement: { scrollWidth: number } };
  navigator: { clipboard: { readText(): Promise<string> } };
}
declare const window: PageWindow;

interface Viewport {
  readonly name: string;
  readonly options: BrowserContextOptions;
  /** Tap (touch events) instead of click. */
  readonly touch: boolean;
}

const VIEWPORTS: readonly Viewport[] = [
  { name: 'desktop', options: { viewport: { width: 1280, height: 800 } }, touch: false },
  { name: 'phone', options: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }, touch: true },
];

/** The page in a real browser, as a person uses it every day, on a desktop and on a phone. */
const noChromium = missingCapability('chromium', existsSync(CHROMIUM) ? null : `${CHROMIUM} not installed (Debian package chromium)`);

describe.skipIf(noChromium)('the page in Chromium', () => {
  let scout: ScoutProcess;
  let browser: Browser;
  // SCOUT_SCREENSHOT_DIR keeps the screenshots for a person to look at; otherwise they go with the run.
  let shotsDir: string;
  const keepShots = process.env.SCOUT_SCREENSHOT_DIR !== undefined;

  beforeAll(async () => {
    scout = await startScout();
    shotsDir = process.env.SCOUT_SCREENSHOT_DIR ?? (await mkdtemp(join(tmpdir(), 'scout-page-')));
    await mkdir(shotsDir, { recursive: true });
    // A fresh, throwaway profile per context (what launch() gives) keeps the runs independent.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await scout?.stop();
    if (!keepShots && shotsDir) await rm(shotsDir, { recursive: true, force: true });
    if (scout) await removeDataDir(scout.dataDir);
  });

  const press = async (page: Page, viewport: Viewport): Promise<void> => {
    // Pointer down then up: the device's press and release, which together start or stop.
    if (viewport.touch) await page.locator('#button').tap();
    else await page.locator('#button').click();
  };

  const noHorizontalScroll = (page: Page): Promise<boolean> =>
    page.evaluate(() => window.document.documentElement.scrollWidth <= window.innerWidth);

  for (const viewport of VIEWPORTS) {
    it(`${viewport.name}: log in, record, watch the transcript arrive, search, seek, download, rename, delete`, async () => {
      const context = await browser.newContext(viewport.options);
      const origin = `http://127.0.0.1:${scout.port}`;
      if (!viewport.touch) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      try {
        await page.goto(`${origin}/`);

        // The API needs the token: the page asks for it once, then runs on its session cookie.
        await expect.poll(() => page.locator('#login').isVisible(), { timeout: 10_000 }).toBe(true);
        expect(await page.locator('#app').isVisible()).toBe(false);
        if (!viewport.touch) {
          await page.locator('#token').fill('not-the-token-at-all');
          await page.locator('#login button[type="submit"]').click();
          await expect.poll(() => page.locator('#login-error').textContent()).toBe('That is not the token.');
        }
        await page.locator('#token').fill(scout.token);
        await page.locator('#login button[type="submit"]').click();
        await expect.poll(() => page.locator('#app').isVisible(), { timeout: 5000 }).toBe(true);
        expect(await page.locator('#login').isVisible()).toBe(false);
        await expect.poll(() => page.locator('#live').getAttribute('data-state'), { timeout: 5000 }).toBe('live');

        // Degraded, not healthy: the simulator has no real Whisper model, and says so everywhere.
        await expect.poll(() => page.locator('#health').getAttribute('data-status'), { timeout: 10_000 }).toBe('degraded');
        const modelCheck = page.locator('#health-checks li[data-check="model"]');
        await expect.poll(() => modelCheck.getAttribute('data-status')).toBe('degraded');
        expect(await modelCheck.locator('.check-message').textContent()).toMatch(/placeholder/);
        expect(await page.locator('#health-checks li[data-check="disk"] .check-message').textContent()).toMatch(/free/);
        expect(await page.locator('#placeholder').isVisible()).toBe(true);
        // The level follows the machine's real CPU pressure, so only its shape is known here.
        expect(await page.locator('#degradation').textContent()).toMatch(/^Degradation: level [0-3], \w+/);
        await expect.poll(() => page.locator('#summary dd[data-key="disk"]').textContent()).toMatch(/B of .*B$/);
        const countBefore = Number(await page.locator('#summary dd[data-key="count"]').textContent());
        // The mirror shows what the box shows (on when idle; a blink while busy or under pressure).
        const ledsMatch = async (): Promise<boolean> => {
          const { body } = await scout.api<{ appliance: { leds: Record<string, { mode: string }> } }>('/api/state');
          const shown = await Promise.all(['status', 'record'].map((led) => page.locator(`#led-${led}`).getAttribute('data-mode')));
          return shown[0] === body.appliance.leds.status?.mode && shown[1] === body.appliance.leds.record?.mode;
        };
        await expect.poll(ledsMatch, { timeout: 5000 }).toBe(true);
        // The vocabulary editor is there, with the server's limits.
        await expect.poll(() => page.locator('#vocabulary-count').textContent()).toMatch(/of 50 terms/);

        // Record: the LEDs, the phase, the clock and the level follow the box.
        await press(page, viewport);
        await expect.poll(() => page.locator('#led-record').getAttribute('data-mode'), { timeout: 5000 }).toBe('on');
        await expect.poll(() => page.locator('#phase').textContent()).toBe('recording');
        await expect
          .poll(() => page.locator('#level-bar').evaluate((element) => parseFloat((element as unknown as PageElement).style.width)), { timeout: 5000 })
          .toBeGreaterThan(0);
        const live = page.locator('#recordings li[data-status="recording"]');
        await expect.poll(() => live.count(), { timeout: 5000 }).toBe(1);
        const id = await live.getAttribute('data-id');
        expect(id).toMatch(/^[0-9a-z]+$/);
        const item = page.locator(`#recordings li[data-id="${id}"]`);
        await expect.poll(() => page.locator('#elapsed').textContent(), { timeout: 3000 }).toMatch(/^00:0[1-9]$/);

        // The first window is cut at a pause after 4 s of speech and transcribed while the take
        // goes on: its words show in the row (the placeholder model's fixed words).
        await expect.poll(() => item.locator('.transcript.partial').textContent(), { timeout: 20_000 }).toMatch(/alpha bravo/);
        expect(await item.getAttribute('data-status')).toBe('recording');
        const shownPartial = async (): Promise<string> => (await item.locator('.transcript.partial').textContent()) ?? '';
        const firstWindowText = await shownPartial();
        // The next window is cut and transcribed while the take still goes on: the text grows.
        await expect.poll(async () => (await shownPartial()).length, { timeout: 20_000 }).toBeGreaterThan(firstWindowText.length);
        // Appended to, not replaced: the first window's words still lead.
        expect((await shownPartial()).startsWith(`${firstWindowText.trim()} `)).toBe(true);
        expect(await item.getAttribute('data-status')).toBe('recording');
        const partialText = await shownPartial();
        // Speak on a little, so the tail window holds speech too and the take has two segments.
        await page.waitForTimeout(4000);
        await press(page, viewport);
        await expect.poll(() => page.locator('#led-record').getAttribute('data-mode'), { timeout: 5000 }).toBe('off');

        // The final transcript replaces the partial one: more text, as clickable segments.
        await expect.poll(() => item.getAttribute('data-status'), { timeout: 20_000 }).toBe('transcribed');
        const segments = item.locator('button.segment');
        await expect.poll(() => segments.count(), { timeout: 5000 }).toBeGreaterThanOrEqual(2);
        expect(((await item.locator('.transcript').textContent()) ?? '').length).toBeGreaterThan(partialText.length);
        await expect.poll(() => page.locator('#summary dd[data-key="count"]').textContent()).toBe(String(countBefore + 1));

        // Search: the hit comes with its snippet, the matched word in <mark>.
        await page.locator('#search-q').fill('charlie');
        await page.locator('#search button[type="submit"]').click();
        await expect.poll(() => item.locator('.snippet mark').first().textContent(), { timeout: 5000 }).toBe('charlie');
        await page.locator('#search-q').fill('zulu');
        await page.locator('#search button[type="submit"]').click();
        await expect.poll(() => page.locator('#no-matches').isVisible(), { timeout: 5000 }).toBe(true);
        await page.locator('#search-clear').click();
        await expect.poll(() => item.locator('button.segment').count(), { timeout: 5000 }).toBeGreaterThanOrEqual(2);
        expect(await item.locator('.snippet').count()).toBe(0);

        // A segment seeks the player to where it was said (and plays from there).
        const last = item.locator('button.segment').last();
        const startS = Number(await last.getAttribute('data-start-ms')) / 1000;
        expect(startS).toBeGreaterThan(1);
        if (viewport.touch) await last.tap();
        else await last.click();
        const audio = item.locator('audio');
        const currentTime = (): Promise<number> => audio.evaluate((element) => (element as unknown as PageAudio).currentTime);
        await expect.poll(currentTime, { timeout: 10_000 }).toBeGreaterThanOrEqual(startS - 0.05);
        expect(await currentTime()).toBeLessThan(startS + 2);
        // The browser decoded the WAV it plays.
        expect(await audio.evaluate((element) => (element as unknown as PageAudio).duration)).toBeGreaterThan(startS);
        await audio.evaluate((element) => (element as unknown as PageAudio).pause());

        // Download the SRT.
        await item.locator('details.downloads summary').click();
        await item.locator('a.download-srt').waitFor({ state: 'visible', timeout: 10_000 });
        const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), item.locator('a.download-srt').click()]);
        expect(download.suggestedFilename()).toBe(`${id}.srt`);
        const srt = await readFile(await download.path(), 'utf8');
        expect(srt.startsWith('1\n00:00:')).toBe(true);

        // Copy the text.
        await item.locator('button.copy').click();
        await expect.poll(() => page.locator('#announce').textContent()).toBe('Copied');
        if (!viewport.touch) expect(await page.evaluate(() => window.navigator.clipboard.readText())).toMatch(/^alpha bravo/);

        // Rename, and the title is still there after a reload (the session cookie survives it).
        const title = `Stand-up notes (${viewport.name})`;
        await item.locator('button.rename').click();
        await item.locator('input.title-input').fill(title);
        await item.locator('input.title-input').press('Enter');
        await expect.poll(() => item.locator('.title').textContent()).toBe(title);
        await page.reload();
        await expect.poll(() => item.locator('.title').textContent(), { timeout: 10_000 }).toBe(title);
        expect(await page.locator('#login').isVisible()).toBe(false);

        if (!viewport.touch) {
          // The vocabulary: saved as the server normalises it, and still there after a reload.
          await page.locator('#vocabulary-terms').fill('  Zoë   Okafor\nKubernetes\nkubernetes\n');
          await page.locator('#vocabulary-form button[type="submit"]').click();
          await expect.poll(() => page.locator('#vocabulary-status').textContent()).toBe('Saved 2 terms.');
          expect(await page.locator('#vocabulary-terms').inputValue()).toBe('Zoë Okafor\nKubernetes');
          // A bad term is named by its line.
          await page.locator('#vocabulary-terms').fill(`ok\n${'x'.repeat(61)}`);
          await page.locator('#vocabulary-form button[type="submit"]').click();
          await expect.poll(() => page.locator('#vocabulary-problems li').first().textContent()).toMatch(/^Line 2: /);
          await page.reload();
          await expect.poll(() => page.locator('#vocabulary-terms').inputValue(), { timeout: 10_000 }).toBe('Zoë Okafor\nKubernetes');
        }

        await expect.poll(() => page.locator('#health-checks li').count(), { timeout: 10_000 }).toBeGreaterThan(3);
        expect(await noHorizontalScroll(page)).toBe(true);
        await page.screenshot({ path: join(shotsDir, `page-${viewport.name}.png`), fullPage: true });

        // Delete asks first; Cancel keeps it, Delete removes it (here and on the server).
        await item.locator('button.delete').click();
        await expect.poll(() => page.locator('#confirm').isVisible()).toBe(true);
        expect(await page.locator('#confirm-text').textContent()).toContain(title);
        await page.locator('#confirm-cancel').click();
        expect(await item.count()).toBe(1);
        await item.locator('button.delete').click();
        await page.locator('#confirm-ok').click();
        await expect.poll(() => item.count(), { timeout: 5000 }).toBe(0);
        expect((await scout.api(`/api/recordings/${id}`)).status).toBe(404);
        await expect.poll(() => page.locator('#summary dd[data-key="count"]').textContent()).toBe(String(countBefore));
        expect(await noHorizontalScroll(page)).toBe(true);
        expect(pageErrors).toEqual([]);
      } finally {
        await context.close();
      }
    }, 120_000);
  }
});
