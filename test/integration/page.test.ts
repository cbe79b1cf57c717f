import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDataDir, startScout, type ScoutProcess } from '../helpers/scout-process.js';

const CHROMIUM = '/usr/bin/chromium';

// The few DOM members the page callbacks use (the project compiles without the DOM lib).
interface PageElement {
  style: { width: string };
}
interface PageAudio {
  preload: string;
  duration: number;
  load(): void;
  addEventListener(type: string, listener: (event?: unknown) => void, options: { once: boolean }): void;
}

/** The simulator page in a real browser: what a person sees and clicks. */
describe.skipIf(!existsSync(CHROMIUM))('the simulator page in Chromium', () => {
  let scout: ScoutProcess;
  let browser: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    scout = await startScout();
    profile = await mkdtemp(join(tmpdir(), 'scout-chromium-'));
    // A fresh profile per run (playwright's persistent context is how it takes --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await scout?.stop();
    await rm(profile, { recursive: true, force: true });
    if (scout) await removeDataDir(scout.dataDir);
  });

  it('clicking the button records, the LEDs follow, and the recording appears with a player', async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${scout.port}/`);
    // The API needs the token: the page asks for it once, then runs on its session cookie.
    await expect.poll(async () => page.locator('#login').isVisible(), { timeout: 10_000 }).toBe(true);
    await page.locator('#token').fill(scout.token);
    await page.locator('#login button[type="submit"]').click();
    await expect.poll(async () => page.locator('#login').isVisible(), { timeout: 5000 }).toBe(false);
    // Degraded, not healthy: the simulator has no real Whisper model, and says so.
    await expect.poll(() => page.locator('#health').getAttribute('data-status'), { timeout: 10_000 }).toBe('degraded');
    await expect.poll(() => page.locator('#led-status').getAttribute('data-mode')).toBe('on');
    await expect.poll(async () => page.locator('#empty').isVisible()).toBe(true);

    await page.locator('#button').click();
    await expect.poll(() => page.locator('#led-record').getAttribute('data-mode'), { timeout: 5000 }).toBe('on');
    await expect.poll(() => page.locator('#phase').textContent()).toBe('recording');
    // The level meter moves with the simulator's speech.
    await expect.poll(async () => page.locator('#level-bar').evaluate((el) => parseFloat((el as unknown as PageElement).style.width)), { timeout: 5000 }).toBeGreaterThan(0);
    await page.waitForTimeout(1500);
    await page.locator('#button').click();

    await expect.poll(() => page.locator('#led-record').getAttribute('data-mode'), { timeout: 5000 }).toBe('off');
    const item = page.locator('#recordings li').first();
    // Saved, then transcribed on the device (the simulator's placeholder model: fixed words).
    await expect.poll(() => item.locator('.status').textContent(), { timeout: 20_000 }).toBe('transcribed');
    await expect.poll(() => item.locator('.transcript').textContent(), { timeout: 5000 }).toMatch(/alpha bravo/);
    expect(await page.locator('#placeholder').isVisible()).toBe(true);
    const src = await item.locator('audio').getAttribute('src');
    expect(src).toMatch(/^\/api\/recordings\/[0-9a-z]+\/audio$/);
    // The browser can load and decode the WAV it would play.
    const durationS = await item.locator('audio').evaluate(async (element) => {
      const audio = element as unknown as PageAudio;
      audio.preload = 'auto';
      audio.load();
      await new Promise((resolve, reject) => {
        audio.addEventListener('loadedmetadata', resolve, { once: true });
        audio.addEventListener('error', () => reject(new Error('audio error')), { once: true });
      });
      return audio.duration;
    });
    expect(durationS).toBeGreaterThan(1.5);
    await page.screenshot({ path: process.env.SCOUT_SCREENSHOT ?? join(scout.dataDir, 'page.png') });
  });
});
