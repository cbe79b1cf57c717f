/**
 * The second GPIO backend: the `onoff` npm package over the sysfs GPIO interface, as named in
 * the product design. It is an optional dependency, loaded with a dynamic import at `start()`.
 *
 * Why it is not the default:
 * - sysfs GPIO numbers are not BCM pin numbers on kernel 6.6 and later (Pi 4: base 512,
 *   Pi 5: base 571 on the RP1 chip), so the base is detected from `/sys/class/gpio/gpiochip*`;
 * - sysfs cannot set pull-ups: config.txt must (`gpio=17=ip,pu`);
 * - debounce and blinking happen in Node: an LED blinking "busy" freezes (on or off) if the
 *   event loop stalls, whereas the kernel's `timer` trigger keeps blinking. The kernel drivers
 *   (gpio-kernel.ts) have none of these problems.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';
import { StepPlayer, blinkSteps } from './step-player.js';
import { REPEAT_FOREVER, type Button, type ButtonEdge, type Led, type LedPattern } from './types.js';

export type BinaryValue = 0 | 1;

/** The part of onoff's `Gpio` class that Scout uses (onoff 6.x). */
export interface OnoffGpio {
  readSync(): BinaryValue;
  writeSync(value: BinaryValue): void;
  watch(callback: (error: Error | null | undefined, value: BinaryValue) => void): void;
  unwatchAll(): void;
  unexport(): void;
}

export interface OnoffGpioOptions {
  readonly debounceTimeout?: number;
  readonly activeLow?: boolean;
  readonly reconfigureDirection?: boolean;
}

export type OnoffGpioConstructor = new (
  gpio: number,
  direction: 'in' | 'out' | 'high' | 'low',
  edge?: 'none' | 'rising' | 'falling' | 'both',
  options?: OnoffGpioOptions,
) => OnoffGpio;

/** The version the lead adds as an optionalDependency; quoted in the error when it is missing. */
export const ONOFF_VERSION = '6.0.3';

/** Loads `onoff` on demand so that a machine without it (CI, a laptop, the kernel backend) never needs it. */
export async function loadOnoff(specifier = 'onoff'): Promise<OnoffGpioConstructor> {
  let loaded: unknown;
  try {
    // A variable specifier keeps TypeScript from requiring onoff's types at build time.
    loaded = await import(specifier);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `GPIO backend "onoff" needs the npm package onoff, which could not be loaded (${reason}). ` +
        `Install it with \`npm install onoff@${ONOFF_VERSION}\`, or use the kernel GPIO backend (the default).`,
    );
  }
  const gpio = pickGpio(loaded) ?? pickGpio((loaded as { default?: unknown } | null)?.default);
  if (!gpio) throw new Error(`the module "${specifier}" has no Gpio class; is it onoff ${ONOFF_VERSION}?`);
  return gpio;
}

function pickGpio(module: unknown): OnoffGpioConstructor | null {
  if (typeof module !== 'object' || module === null) return null;
  const candidate = (module as { Gpio?: unknown }).Gpio;
  return typeof candidate === 'function' ? (candidate as OnoffGpioConstructor) : null;
}

export interface GpioChip {
  /** Directory name, e.g. `gpiochip512`. */
  readonly name: string;
  readonly base: number;
  readonly ngpio: number;
  readonly label: string;
}

/**
 * Labels of the chip that carries the 40-pin header, best first. Pi 5 header pins are on the
 * RP1 south bridge (`pinctrl-rp1`); its SoC's own `pinctrl-bcm2712` chips must not win.
 */
export const HEADER_GPIO_CHIP_LABELS: readonly string[] = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'];

/** The gpiochips under a sysfs GPIO root (`/sys/class/gpio` on a Pi, a temp dir in tests). Unreadable chips are skipped. */
export async function listGpioChips(sysfsGpioRoot = '/sys/class/gpio'): Promise<GpioChip[]> {
  const entries = await readdir(sysfsGpioRoot);
  const chips: GpioChip[] = [];
  for (const name of entries.filter((entry) => /^gpiochip\d+$/.test(entry)).sort()) {
    try {
      const dir = path.join(sysfsGpioRoot, name);
      const [base, ngpio, label] = await Promise.all([
        readFile(path.join(dir, 'base'), 'utf8'),
        readFile(path.join(dir, 'ngpio'), 'utf8').catch(() => '0'),
        readFile(path.join(dir, 'label'), 'utf8'),
      ]);
      const baseNumber = Number.parseInt(base.trim(), 10);
      if (!Number.isInteger(baseNumber)) continue;
      chips.push({ name, base: baseNumber, ngpio: Number.parseInt(ngpio.trim(), 10) || 0, label: label.trim() });
    } catch {
      continue;
    }
  }
  return chips;
}

/** Pure: the header chip among `chips`, by HEADER_GPIO_CHIP_LABELS order; null if none. */
export function chooseHeaderGpioChip(chips: readonly GpioChip[]): GpioChip | null {
  for (const label of HEADER_GPIO_CHIP_LABELS) {
    const chip = chips.find((candidate) => candidate.label === label);
    if (chip) return chip;
  }
  return null;
}

/**
 * The sysfs number of BCM GPIO 0: 0 before kernel 6.6, 512 on a Pi 4 with 6.6, 571 on a Pi 5.
 * Throws with what it found when no header chip is there (not a Pi, or no sysfs GPIO).
 */
export async function detectGpioBase(sysfsGpioRoot = '/sys/class/gpio'): Promise<number> {
  const chips = await listGpioChips(sysfsGpioRoot);
  const chip = chooseHeaderGpioChip(chips);
  if (!chip) {
    const seen = chips.map((c) => `${c.name}(${c.label})`).join(', ') || 'none';
    throw new Error(
      `no Raspberry Pi header GPIO chip under ${sysfsGpioRoot} (looked for ${HEADER_GPIO_CHIP_LABELS.join(', ')}; found ${seen})`,
    );
  }
  return chip.base;
}

/**
 * Software debounce: an edge counts once the line has stayed put for `debounceMs`. The edge
 * time is the first raw change of the burst, i.e. when the contact moved, not when it settled.
 */
export class EdgeDebouncer {
  private stable: BinaryValue;
  private latest: BinaryValue;
  private burstStartMs: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    initial: BinaryValue,
    private readonly debounceMs: number,
    private readonly clock: () => number,
    private readonly onStableChange: (value: BinaryValue, atMs: number) => void,
  ) {
    this.stable = initial;
    this.latest = initial;
  }

  raw(value: BinaryValue): void {
    this.latest = value;
    this.burstStartMs ??= this.clock();
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.settle(), this.debounceMs);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.burstStartMs = null;
  }

  private settle(): void {
    this.timer = null;
    const atMs = this.burstStartMs ?? this.clock();
    this.burstStartMs = null;
    if (this.latest === this.stable) return;
    this.stable = this.latest;
    this.onStableChange(this.stable, atMs);
  }
}

interface OnoffCommonOptions {
  /** BCM GPIO number (the `GPIO17` of pinout diagrams), not the sysfs number. */
  readonly bcmPin: number;
  readonly logger: Logger;
  /** Default `/sys/class/gpio`. */
  readonly sysfsGpioRoot?: string;
  /** Known sysfs base; skips detection. */
  readonly gpioBase?: number;
  /** Default `loadOnoff()`; tests pass a stand-in Gpio class. */
  readonly loadGpio?: () => Promise<OnoffGpioConstructor>;
}

export interface OnoffButtonOptions extends OnoffCommonOptions {
  /** Button to GND with a pull-up: pressed reads 0 on the wire; default true. */
  readonly activeLow?: boolean;
  /** Default 30 ms. */
  readonly debounceMs?: number;
  /** Time of edges; default `Date.now` (sysfs interrupts carry no timestamp). */
  readonly clock?: () => number;
}

async function openGpio(
  options: OnoffCommonOptions,
  direction: 'in' | 'out',
  edge: 'none' | 'both',
  activeLow: boolean,
): Promise<OnoffGpio> {
  const Gpio = await (options.loadGpio ?? (() => loadOnoff()))();
  const base = options.gpioBase ?? (await detectGpioBase(options.sysfsGpioRoot));
  const sysfsNumber = base + options.bcmPin;
  try {
    // onoff's own debounce is off: ours (EdgeDebouncer) keeps the time of the first change.
    return new Gpio(sysfsNumber, direction, edge, { activeLow, debounceTimeout: 0 });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot open GPIO ${options.bcmPin} (sysfs ${sysfsNumber}) through onoff: ${reason}`);
  }
}

export class OnoffButton implements Button {
  private readonly listeners: Array<(edge: ButtonEdge, atMs: number) => void> = [];
  private gpio: OnoffGpio | null = null;
  private debouncer: EdgeDebouncer | null = null;
  private state: 'new' | 'starting' | 'started' | 'stopped' = 'new';

  constructor(private readonly options: OnoffButtonOptions) {}

  onEdge(listener: (edge: ButtonEdge, atMs: number) => void): void {
    this.listeners.push(listener);
  }

  /** Rejects with a clear message when onoff is missing or the pin cannot be exported. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'starting';
    const gpio = await openGpio(this.options, 'in', 'both', this.options.activeLow ?? true);
    // stop() may have been called while we were loading.
    if (this.state !== 'starting') {
      gpio.unexport();
      return;
    }
    this.gpio = gpio;
    const clock = this.options.clock ?? Date.now;
    const debouncer = new EdgeDebouncer(gpio.readSync(), this.options.debounceMs ?? 30, clock, (value, atMs) =>
      this.emit(value === 1 ? 'press' : 'release', atMs),
    );
    this.debouncer = debouncer;
    gpio.watch((error, value) => {
      if (this.state !== 'started') return;
      if (error) {
        this.options.logger.warn({ err: error.message }, 'onoff button watch error');
        return;
      }
      debouncer.raw(value);
    });
    this.state = 'started';
  }

  stop(): Promise<void> {
    this.state = 'stopped';
    this.debouncer?.cancel();
    const gpio = this.gpio;
    this.gpio = null;
    if (gpio) {
      try {
        gpio.unwatchAll();
        gpio.unexport();
      } catch (error) {
        this.options.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'onoff unexport failed');
      }
    }
    return Promise.resolve();
  }

  private emit(edge: ButtonEdge, atMs: number): void {
    for (const listener of this.listeners) {
      if (this.state !== 'started') return;
      try {
        listener(edge, atMs);
      } catch (error) {
        this.options.logger.error({ err: error }, 'button listener threw');
      }
    }
  }
}

export interface OnoffLedOptions extends OnoffCommonOptions {
  readonly name: string;
  /** LED from the pin to GND through a resistor: on = high; default false. */
  readonly activeLow?: boolean;
}

/** An LED on a sysfs GPIO. Blinks and patterns are Node timers: they stop (in whatever state) while the event loop is blocked. */
export class OnoffLed implements Led {
  readonly name: string;
  private desired: LedPattern = { mode: 'off' };
  private gpio: OnoffGpio | null = null;
  private readonly player = new StepPlayer((on) => {
    if (this.gpio) this.write(this.gpio, on ? 1 : 0);
  });
  private state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  private writeErrors = 0;

  constructor(private readonly options: OnoffLedOptions) {
    this.name = options.name;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'starting';
    const gpio = await openGpio(this.options, 'out', 'none', this.options.activeLow ?? false);
    if (this.state !== 'starting') {
      gpio.unexport();
      return;
    }
    this.gpio = gpio;
    this.state = 'started';
    this.show(this.desired);
  }

  stop(): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    const wasStarted = this.state === 'started';
    this.state = 'stopped';
    this.clearBlink();
    const gpio = this.gpio;
    this.gpio = null;
    if (gpio && wasStarted) {
      this.write(gpio, 0);
      try {
        gpio.unexport();
      } catch (error) {
        this.options.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'onoff unexport failed');
      }
    }
    return Promise.resolve();
  }

  set(pattern: LedPattern): void {
    this.desired = pattern;
    if (this.state === 'started') this.show(pattern);
  }

  current(): LedPattern {
    return this.desired;
  }

  /** Failed pin writes since start (logged once each). */
  get failedWrites(): number {
    return this.writeErrors;
  }

  private show(pattern: LedPattern): void {
    const gpio = this.gpio;
    if (!gpio) return;
    this.clearBlink();
    switch (pattern.mode) {
      case 'off':
        this.write(gpio, 0);
        break;
      case 'on':
        this.write(gpio, 1);
        break;
      case 'blink':
        this.player.play(blinkSteps(Math.max(1, pattern.onMs), Math.max(1, pattern.offMs)), REPEAT_FOREVER);
        break;
      case 'pattern':
        this.player.play(pattern.steps, pattern.repeat);
        break;
    }
  }

  private write(gpio: OnoffGpio, value: BinaryValue): void {
    try {
      gpio.writeSync(value);
    } catch (error) {
      this.writeErrors += 1;
      this.options.logger.warn({ err: error instanceof Error ? error.message : String(error), led: this.name }, 'LED write failed');
    }
  }

  private clearBlink(): void {
    this.player.stop();
  }
}
