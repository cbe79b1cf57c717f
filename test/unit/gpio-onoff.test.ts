/**
 * The onoff backend. onoff itself needs a Pi's /sys/class/gpio, so the pin is a stand-in Gpio
 * class handed in through `loadGpio` (the same seam the real dynamic import goes through);
 * the loader, the chip detection and the debounce/blink timing are tested for real.
 */
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  EdgeDebouncer,
  ONOFF_VERSION,
  OnoffButton,
  OnoffLed,
  chooseHeaderGpioChip,
  detectGpioBase,
  listGpioChips,
  loadOnoff,
  type BinaryValue,
  type OnoffGpio,
  type OnoffGpioConstructor,
  type OnoffGpioOptions,
} from '../../src/hardware/gpio-onoff.js';
import type { ButtonEdge } from '../../src/hardware/types.js';
import { silentLogger } from '../../src/log.js';
import { LED_PATTERNS } from '../../src/ops/led-language.js';
import { buttonContract } from '../contract/button.contract.js';

const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A pin with onoff's interface; records what the backend does to it. */
class StandInPin implements OnoffGpio {
  value: BinaryValue = 0;
  readonly writes: Array<{ value: BinaryValue; atMs: number }> = [];
  exported = true;
  private watchers: Array<(error: Error | null | undefined, value: BinaryValue) => void> = [];

  constructor(
    readonly gpio: number,
    readonly direction: string,
    readonly edge: string | undefined,
    readonly options: OnoffGpioOptions | undefined,
  ) {}

  readSync(): BinaryValue {
    return this.value;
  }

  writeSync(value: BinaryValue): void {
    if (!this.exported) throw new Error('EBADF: pin unexported');
    this.value = value;
    this.writes.push({ value, atMs: Date.now() });
  }

  watch(callback: (error: Error | null | undefined, value: BinaryValue) => void): void {
    this.watchers.push(callback);
  }

  unwatchAll(): void {
    this.watchers = [];
  }

  unexport(): void {
    this.exported = false;
  }

  /** The line changes, as the sysfs `value` file's poll would tell onoff. */
  drive(value: BinaryValue): void {
    this.value = value;
    for (const watcher of [...this.watchers]) watcher(null, value);
  }
}

function standInGpio(): { Gpio: OnoffGpioConstructor; pins: StandInPin[] } {
  const pins: StandInPin[] = [];
  const Gpio = class extends StandInPin {
    constructor(gpio: number, direction: 'in' | 'out' | 'high' | 'low', edge?: 'none' | 'rising' | 'falling' | 'both', options?: OnoffGpioOptions) {
      super(gpio, direction, edge, options);
      pins.push(this);
    }
  };
  return { Gpio, pins };
}

const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

async function gpioRoot(chips: Array<{ name: string; base: number; ngpio: number; label: string }>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'scout-sysgpio-'));
  roots.push(root);
  await writeFile(path.join(root, 'export'), '');
  for (const chip of chips) {
    const dir = path.join(root, chip.name);
    await mkdir(dir);
    await writeFile(path.join(dir, 'base'), `${chip.base}\n`);
    await writeFile(path.join(dir, 'ngpio'), `${chip.ngpio}\n`);
    await writeFile(path.join(dir, 'label'), `${chip.label}\n`);
  }
  return root;
}

describe('loading onoff', () => {
  const onoffInstalled = (() => {
    try {
      createRequire(import.meta.url).resolve('onoff');
      return true;
    } catch {
      return false;
    }
  })();

  it('fails with a message that says what to install when the package is missing', async () => {
    const error: unknown = await loadOnoff('scout-no-such-package').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(`npm install onoff@${ONOFF_VERSION}`);
    expect((error as Error).message).toContain('kernel GPIO backend');
  });

  it.runIf(!onoffInstalled)('the real onoff is not installed here, and loading it says so', async () => {
    await expect(loadOnoff()).rejects.toThrow(/npm install onoff@/);
  });

  it.runIf(onoffInstalled)('loads the Gpio class of the installed onoff', async () => {
    await expect(loadOnoff()).resolves.toBeTypeOf('function');
  });

  it('rejects a module without a Gpio class', async () => {
    await expect(loadOnoff('node:path')).rejects.toThrow(/no Gpio class/);
  });

  it('makes OnoffButton.start() reject with that message', async () => {
    const button = new OnoffButton({ bcmPin: 17, gpioBase: 0, logger: silentLogger(), loadGpio: () => loadOnoff('scout-no-such-package') });
    await expect(button.start()).rejects.toThrow(/npm install onoff@/);
    await button.stop();
  });
});

describe('detecting the sysfs GPIO base', () => {
  it('Pi 4 on kernel 6.6: the bcm2711 chip at 512, not the firmware expander', async () => {
    const root = await gpioRoot([
      { name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
      { name: 'gpiochip570', base: 570, ngpio: 8, label: 'raspberrypi-exp-gpio' },
    ]);
    await expect(detectGpioBase(root)).resolves.toBe(512);
  });

  it('Pi 5 on kernel 6.6: the RP1 chip at 571, not the SoC chips below it', async () => {
    const root = await gpioRoot([
      { name: 'gpiochip512', base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' },
      { name: 'gpiochip544', base: 544, ngpio: 4, label: 'gpio-brcmstb@107d508520' },
      { name: 'gpiochip548', base: 548, ngpio: 17, label: 'gpio-brcmstb@107d517c00' },
      { name: 'gpiochip565', base: 565, ngpio: 6, label: 'gpio-brcmstb@107d517c20' },
      { name: 'gpiochip571', base: 571, ngpio: 54, label: 'pinctrl-rp1' },
    ]);
    await expect(detectGpioBase(root)).resolves.toBe(571);
  });

  it('older kernels: base 0', async () => {
    const root = await gpioRoot([
      { name: 'gpiochip0', base: 0, ngpio: 58, label: 'pinctrl-bcm2711' },
      { name: 'gpiochip504', base: 504, ngpio: 8, label: 'raspberrypi-exp-gpio' },
    ]);
    await expect(detectGpioBase(root)).resolves.toBe(0);
  });

  it('not a Pi: a clear error naming what it found', async () => {
    const root = await gpioRoot([{ name: 'gpiochip0', base: 0, ngpio: 32, label: 'INT34C5:00' }]);
    await expect(detectGpioBase(root)).rejects.toThrow(/no Raspberry Pi header GPIO chip.*gpiochip0\(INT34C5:00\)/);
  });

  it('lists chips and ignores other entries and unreadable chips', async () => {
    const root = await gpioRoot([{ name: 'gpiochip0', base: 0, ngpio: 54, label: 'pinctrl-bcm2835' }]);
    await mkdir(path.join(root, 'gpio17'));
    await mkdir(path.join(root, 'gpiochip99'));
    const chips = await listGpioChips(root);
    expect(chips).toEqual([{ name: 'gpiochip0', base: 0, ngpio: 54, label: 'pinctrl-bcm2835' }]);
    expect(chooseHeaderGpioChip(chips)?.base).toBe(0);
    expect(chooseHeaderGpioChip([])).toBeNull();
  });
});

describe('EdgeDebouncer', () => {
  it('turns a bouncing contact into one edge, timed at the first change', async () => {
    let nowMs = 100;
    const edges: Array<[BinaryValue, number]> = [];
    const debouncer = new EdgeDebouncer(0, 30, () => nowMs, (value, atMs) => edges.push([value, atMs]));
    for (const value of [1, 0, 1, 0, 1] as const) {
      debouncer.raw(value);
      nowMs += 2;
    }
    expect(edges).toEqual([]);
    await sleepMs(80);
    expect(edges).toEqual([[1, 100]]);
  });

  it('drops a glitch shorter than the debounce time', async () => {
    const edges: Array<[BinaryValue, number]> = [];
    const debouncer = new EdgeDebouncer(0, 20, Date.now, (value, atMs) => edges.push([value, atMs]));
    debouncer.raw(1);
    await sleepMs(3);
    debouncer.raw(0);
    await sleepMs(50);
    expect(edges).toEqual([]);
    debouncer.cancel();
  });
});

describe('OnoffButton with a stand-in pin', () => {
  it('opens the BCM pin at the detected base, as an active-low input with both edges', async () => {
    const root = await gpioRoot([{ name: 'gpiochip571', base: 571, ngpio: 54, label: 'pinctrl-rp1' }]);
    const { Gpio, pins } = standInGpio();
    const button = new OnoffButton({ bcmPin: 17, sysfsGpioRoot: root, logger: silentLogger(), loadGpio: () => Promise.resolve(Gpio) });
    await button.start();
    expect(pins).toHaveLength(1);
    expect(pins[0]).toMatchObject({ gpio: 588, direction: 'in', edge: 'both', options: { activeLow: true, debounceTimeout: 0 } });
    await button.stop();
    expect(pins[0]?.exported).toBe(false);
  });

  it('debounces a bouncing press and release into two edges', async () => {
    const { Gpio, pins } = standInGpio();
    const button = new OnoffButton({ bcmPin: 17, gpioBase: 512, debounceMs: 15, logger: silentLogger(), loadGpio: () => Promise.resolve(Gpio) });
    const heard: ButtonEdge[] = [];
    button.onEdge((edge) => heard.push(edge));
    await button.start();
    const pin = pins[0];
    if (!pin) throw new Error('no pin');
    for (const value of [1, 0, 1, 0, 1] as const) pin.drive(value);
    await sleepMs(40);
    for (const value of [0, 1, 0] as const) pin.drive(value);
    await sleepMs(40);
    expect(heard).toEqual(['press', 'release']);
    await button.stop();
  });
});

buttonContract('onoff backend with a stand-in pin', () => {
  const { Gpio, pins } = standInGpio();
  let nowMs = 0;
  const debounceMs = 10;
  const button = new OnoffButton({
    bcmPin: 27,
    gpioBase: 512,
    debounceMs,
    clock: () => nowMs,
    logger: silentLogger(),
    loadGpio: () => Promise.resolve(Gpio),
  });
  const drive = async (atMs: number, value: BinaryValue): Promise<void> => {
    nowMs = atMs;
    const pin = pins[0];
    if (!pin) return;
    // A real contact bounces before it settles.
    pin.drive(value);
    pin.drive(value === 1 ? 0 : 1);
    pin.drive(value);
    await sleepMs(debounceMs * 3);
  };
  return Promise.resolve({
    button,
    exactTimestamps: true,
    press: (atMs: number) => drive(atMs, 1),
    release: (atMs: number) => drive(atMs, 0),
    dispose: () => Promise.resolve(),
  });
});

describe('OnoffLed with a stand-in pin', () => {
  async function started(): Promise<{ led: OnoffLed; pin: StandInPin }> {
    const { Gpio, pins } = standInGpio();
    const led = new OnoffLed({ name: 'recording', bcmPin: 27, gpioBase: 512, logger: silentLogger(), loadGpio: () => Promise.resolve(Gpio) });
    await led.start();
    const pin = pins[0];
    if (!pin) throw new Error('no pin');
    expect(pin).toMatchObject({ gpio: 539, direction: 'out', options: { activeLow: false } });
    return { led, pin };
  }

  it('on and off drive the pin high and low', async () => {
    const { led, pin } = await started();
    expect(pin.value).toBe(0);
    led.set({ mode: 'on' });
    expect(pin.value).toBe(1);
    led.set({ mode: 'off' });
    expect(pin.value).toBe(0);
    await led.stop();
  });

  it('blinks with a timer at the asked rhythm, and stops blinking when set off', async () => {
    const { led, pin } = await started();
    const writesBefore = pin.writes.length;
    led.set({ mode: 'blink', onMs: 30, offMs: 30 });
    await sleepMs(200);
    led.set({ mode: 'off' });
    const toggles = pin.writes.slice(writesBefore);
    // ~200 ms / 30 ms per phase = about 6-7 phase writes plus the final off (fewer on a loaded machine).
    expect(toggles.length).toBeGreaterThanOrEqual(3);
    expect(toggles.length).toBeLessThanOrEqual(10);
    const values = toggles.slice(0, 3).map((w) => w.value);
    expect(values).toEqual([1, 0, 1]);
    const writesAtOff = pin.writes.length;
    await sleepMs(80);
    expect(pin.writes.length).toBe(writesAtOff);
    expect(pin.value).toBe(0);
    await led.stop();
  });

  it('plays a pattern on the service timer with exact step timings (error code 2), and stop() leaves no timer', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const { led, pin } = await started();
      const writesBefore = pin.writes.length;
      led.set(LED_PATTERNS.noMicrophone);
      vi.advanceTimersByTime(4_000);
      const toggles = pin.writes.slice(writesBefore);
      expect(toggles.map((write) => write.value)).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 1]);
      expect(toggles.map((write) => write.atMs)).toEqual([0, 200, 400, 600, 2000, 2200, 2400, 2600, 4000]);
      await led.stop();
      expect(vi.getTimerCount()).toBe(0);
      expect(pin.value).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stop() turns it off, unexports, and later sets write nothing', async () => {
    const { led, pin } = await started();
    led.set({ mode: 'blink', onMs: 20, offMs: 20 });
    await led.stop();
    await led.stop();
    expect(pin.value).toBe(0);
    expect(pin.exported).toBe(false);
    const writes = pin.writes.length;
    led.set({ mode: 'on' });
    await sleepMs(50);
    expect(pin.writes.length).toBe(writes);
  });
});
