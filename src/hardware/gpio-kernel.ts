/**
 * The default GPIO backend: the kernel's own drivers, set up by device-tree overlays
 * (hardware/README.md). The button is a `gpio-keys` input device (the kernel debounces it and
 * timestamps each edge); the LEDs are `gpio-leds` class devices whose `timer` and `pattern`
 * triggers blink without any CPU from us, so the LEDs keep telling the truth when Node stalls
 * (a kernel without the pattern trigger gets its patterns from a timer in the service).
 * Both only read and write files, so tests drive the same code with a FIFO and a temp dir.
 */
import { createReadStream, constants as fsConstants, type ReadStream } from 'node:fs';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';
import { Backoff, type BackoffOptions } from '../util/backoff.js';
import { sleep } from '../util/sleep.js';
import { StepPlayer } from './step-player.js';
import type { Button, ButtonEdge, Led, LedPattern, LedStep } from './types.js';
import {
  EV_KEY,
  EV_SYN,
  InputEventDecoder,
  KEY_PRESSED,
  KEY_RELEASED,
  SYN_DROPPED,
  inputEventRecordSize,
  type InputEvent,
  type InputEventRecordSize,
} from './input-event.js';

export type KernelButtonState = 'stopped' | 'opening' | 'open' | 'waiting';

export interface KernelButtonStatus {
  readonly state: KernelButtonState;
  /** Path of the open (or last tried) event device. */
  readonly devicePath: string | null;
  /** Times the device was opened again after it went away or failed. */
  readonly reopens: number;
  readonly lastError: string | null;
  /** SYN_DROPPED reports: the kernel's buffer overflowed and edges may be missing. */
  readonly droppedReports: number;
}

export interface KernelButtonOptions {
  /**
   * The evdev node: a fixed path (`/dev/input/by-path/platform-button@11-event`) or a resolver
   * asked at every (re)open, because `eventN` numbers can change when devices come and go
   * (e.g. `() => findInputDevice({ procDevicesPath: '/proc/bus/input/devices', match: { keyCode: KEY_RECORD } })`).
   */
  readonly device: string | (() => Promise<string | null>);
  /** The EV_KEY code the overlay sends (`keycode=` in config.txt), e.g. KEY_RECORD (167) or BTN_0 (0x100). */
  readonly keyCode: number;
  /** Bytes per `struct input_event`; default by `process.arch` (24 on 64-bit, 16 on 32-bit). */
  readonly recordSize?: InputEventRecordSize;
  readonly logger: Logger;
  /** Delays between reopen attempts; default 100 ms doubling to 5 s. */
  readonly reopenBackoff?: BackoffOptions & { readonly healthyAfterMs?: number };
}

/**
 * Reads `struct input_event` records and turns EV_KEY events of one key code into edges.
 *
 * Reads go through `fs.createReadStream`, i.e. a blocking read() on a libuv threadpool thread:
 * one of the pool's 4 threads waits on the button for as long as it is open. A read that is in
 * flight cannot be cancelled, so `stop()` does not wait for the stream to close: it detaches,
 * and the descriptor is closed when that last read returns (the next event, or EOF on a FIFO).
 */
export class KernelButton implements Button {
  private readonly listeners: Array<(edge: ButtonEdge, atMs: number) => void> = [];
  private readonly decoder: InputEventDecoder;
  private readonly backoff: Backoff;
  private stream: ReadStream | null = null;
  private stopController: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private state: KernelButtonState = 'stopped';
  private devicePath: string | null = null;
  private opens = 0;
  private lastError: string | null = null;
  private droppedReports = 0;

  constructor(private readonly options: KernelButtonOptions) {
    this.decoder = new InputEventDecoder(options.recordSize ?? inputEventRecordSize());
    this.backoff = new Backoff(options.reopenBackoff ?? { initialMs: 100, maxMs: 5_000, healthyAfterMs: 10_000 });
  }

  onEdge(listener: (edge: ButtonEdge, atMs: number) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Starts reading in the background. It does not wait for the open: a missing device is not an
   * error here (it is retried with backoff and shown in `status()`), and opening a FIFO blocks
   * until its writer appears.
   */
  start(): Promise<void> {
    if (this.stopController) return Promise.resolve();
    const controller = new AbortController();
    this.stopController = controller;
    this.loop = this.run(controller.signal);
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    const controller = this.stopController;
    if (!controller || controller.signal.aborted) return;
    controller.abort();
    this.detach();
    await this.loop;
    this.state = 'stopped';
  }

  status(): KernelButtonStatus {
    return {
      state: this.state,
      devicePath: this.devicePath,
      reopens: Math.max(0, this.opens - 1),
      lastError: this.lastError,
      droppedReports: this.droppedReports,
    };
  }

  /** Open, read until the device goes away, wait, open again; until stopped. Never rejects. */
  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.state = 'opening';
      const openedAtMs = Date.now();
      let opened = false;
      try {
        const devicePath = await this.resolveDevice();
        this.devicePath = devicePath;
        if (signal.aborted) break;
        opened = await this.readUntilGone(devicePath, signal);
      } catch (error) {
        this.fail(error);
      }
      if (signal.aborted) break;
      if (opened) this.backoff.ranFor(Date.now() - openedAtMs);
      this.state = 'waiting';
      const delayMs = this.backoff.next();
      this.options.logger.debug({ delayMs, failures: this.backoff.failures }, 'button device: reopening after delay');
      await sleep(delayMs, signal);
    }
  }

  private async resolveDevice(): Promise<string> {
    const { device } = this.options;
    if (typeof device === 'string') return device;
    const found = await device();
    if (found === null) throw new Error('no input device matches the configured button');
    return found;
  }

  /** Resolves when the stream ends or fails (true if it had opened), or at stop. */
  private readUntilGone(devicePath: string, signal: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let opened = false;
      const stream = createReadStream(devicePath, { highWaterMark: 64 * this.decoder.recordSize });
      this.stream = stream;
      this.decoder.reset();
      const finish = (): void => {
        signal.removeEventListener('abort', onAbort);
        if (this.stream === stream) this.detach();
        resolve(opened);
      };
      const onAbort = (): void => finish();
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('open', () => {
        opened = true;
        this.opens += 1;
        this.state = 'open';
        this.lastError = null;
        this.options.logger.info({ devicePath, reopens: this.opens - 1 }, 'button device open');
      });
      stream.on('data', (chunk: Buffer | string) => {
        if (signal.aborted || typeof chunk === 'string') return;
        this.decoder.push(chunk, (event) => this.handle(event, signal));
      });
      stream.on('error', (error) => {
        this.fail(error);
        finish();
      });
      // A FIFO whose writer went away ends; a real evdev node fails with ENODEV instead.
      stream.on('end', () => {
        this.fail(new Error(`${devicePath}: end of stream (device gone)`));
        finish();
      });
    });
  }

  private handle(event: InputEvent, signal: AbortSignal): void {
    if (event.type === EV_SYN && event.code === SYN_DROPPED) {
      // Only if Node fell far behind (the evdev buffer holds dozens of reports); a release may be lost.
      this.droppedReports += 1;
      this.options.logger.warn({ droppedReports: this.droppedReports }, 'button events dropped by the kernel');
      return;
    }
    // Autorepeat (value 2), other codes and EV_SYN/EV_MSC records are not edges.
    if (event.type !== EV_KEY || event.code !== this.options.keyCode) return;
    let edge: ButtonEdge;
    if (event.value === KEY_PRESSED) edge = 'press';
    else if (event.value === KEY_RELEASED) edge = 'release';
    else return;
    for (const listener of this.listeners) {
      if (signal.aborted) return;
      try {
        listener(edge, event.timeMs);
      } catch (error) {
        // A listener's bug must not stop the button: log it and keep reading.
        this.options.logger.error({ err: error }, 'button listener threw');
      }
    }
  }

  private detach(): void {
    const stream = this.stream;
    this.stream = null;
    if (!stream) return;
    stream.removeAllListeners('data');
    stream.removeAllListeners('end');
    stream.removeAllListeners('open');
    stream.removeAllListeners('error');
    // Errors after detaching (e.g. EBADF from the pending read) are expected and harmless.
    stream.on('error', () => undefined);
    stream.destroy();
  }

  private fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (message !== this.lastError) this.options.logger.warn({ err: message }, 'button device unavailable');
    this.lastError = message;
  }
}

export interface KernelLedOptions {
  /** Scout's name for the LED (`status`, `recording`). */
  readonly name: string;
  /** The LED class device: `label=` of the gpio-led overlay, i.e. `/sys/class/leds/<label>`. */
  readonly label: string;
  /** Default `/sys/class/leds`; tests pass a temp dir. */
  readonly sysfsRoot?: string;
  readonly logger: Logger;
  /** How long to wait for a trigger's files (`delay_on`, `pattern`, ...) to appear after selecting it. Default 1000 ms. */
  readonly triggerFilesTimeoutMs?: number;
}

export interface KernelLedStatus {
  readonly applied: LedPattern | null;
  readonly writeErrors: number;
  readonly lastError: string | null;
  /** Who plays a `pattern`: the kernel's pattern trigger, or (without it) a timer in the service. */
  readonly patternPlayer: 'kernel' | 'service';
}

/** Whether a `trigger` file's list (`none [timer] heartbeat pattern`) offers a trigger. */
export function triggerListed(triggerText: string, trigger: string): boolean {
  return triggerText
    .split(/\s+/)
    .map((word) => word.replace(/^\[|\]$/g, ''))
    .includes(trigger);
}

/**
 * Steps as the pattern trigger's "brightness duration" tuples. Between two tuples of different
 * brightness the kernel fades (ledtrig-pattern, for durations of 50 ms and more), so each step
 * is written as "b ms b 0": hold b for ms, then change at once (the ABI document's step form).
 */
export function kernelPatternText(steps: readonly LedStep[], maxBrightness: number): string {
  return steps
    .filter((step) => step.ms > 0)
    .map((step) => {
      const brightness = step.on ? maxBrightness : 0;
      return `${brightness} ${Math.round(step.ms)} ${brightness} 0`;
    })
    .join(' ');
}

/**
 * Drives `/sys/class/leds/<label>/`. `set()` is synchronous for the caller: the wanted pattern
 * is recorded and one writer applies the latest wanted pattern in order, so a burst of
 * `set()` calls costs at most one extra write sequence and never queues up.
 */
export class KernelLed implements Led {
  readonly name: string;
  private desired: LedPattern = { mode: 'off' };
  private applied: LedPattern | null = null;
  private started = false;
  private stopped = false;
  private maxBrightness = 1;
  private writer: Promise<void> | null = null;
  private writeErrors = 0;
  private lastError: string | null = null;
  private patternTrigger = false;
  /** Brightness writes of the service-side player, in order; drained before any other write. */
  private playerWrites: Promise<void> = Promise.resolve();
  private readonly player = new StepPlayer((on) => this.playerWrite(on));

  constructor(private readonly options: KernelLedOptions) {
    this.name = options.name;
  }

  private get dir(): string {
    return path.join(this.options.sysfsRoot ?? '/sys/class/leds', this.options.label);
  }

  /** Reads max_brightness (1 if absent) and shows the current pattern. A missing LED is logged, not thrown. */
  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.started = true;
    try {
      const text = await readFile(path.join(this.dir, 'max_brightness'), 'utf8');
      const parsed = Number.parseInt(text.trim(), 10);
      this.maxBrightness = Number.isFinite(parsed) && parsed > 0 ? parsed : 1;
    } catch {
      this.maxBrightness = 1;
    }
    // Read once: a trigger's own files replace nothing in the list, and triggers are built in or not.
    try {
      this.patternTrigger = triggerListed(await readFile(path.join(this.dir, 'trigger'), 'utf8'), 'pattern');
    } catch {
      this.patternTrigger = false;
    }
    this.kick();
    await this.settle();
  }

  /** Turns the LED off and stops writing; safe twice and before start. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.started) return;
    await this.settle();
    await this.stopPlayer();
    await this.apply({ mode: 'off' });
  }

  set(pattern: LedPattern): void {
    this.desired = pattern;
    if (this.started && !this.stopped) this.kick();
  }

  current(): LedPattern {
    return this.desired;
  }

  /** Resolves when the files show the latest pattern (or the write failed and was logged). */
  async settle(): Promise<void> {
    while (this.writer) await this.writer;
  }

  status(): KernelLedStatus {
    return {
      applied: this.applied,
      writeErrors: this.writeErrors,
      lastError: this.lastError,
      patternPlayer: this.patternTrigger ? 'kernel' : 'service',
    };
  }

  private kick(): void {
    if (this.writer) return;
    this.writer = this.writeLoop().finally(() => {
      this.writer = null;
    });
  }

  private async writeLoop(): Promise<void> {
    while (!this.stopped && this.applied !== this.desired) {
      const target = this.desired;
      const ok = await this.apply(target);
      // On failure, leave it for the next set(); retrying a missing LED in a loop would spin.
      if (!ok) return;
    }
  }

  private async apply(pattern: LedPattern): Promise<boolean> {
    await this.stopPlayer();
    try {
      switch (pattern.mode) {
        case 'off':
          await this.write('trigger', 'none');
          await this.write('brightness', '0');
          break;
        case 'on':
          await this.write('trigger', 'none');
          await this.write('brightness', String(this.maxBrightness));
          break;
        case 'blink':
          // Selecting the trigger again would restart the blink phase and recreate the files.
          if (this.applied?.mode !== 'blink') await this.write('trigger', 'timer');
          // The timer trigger creates delay_on, then delay_off, when it attaches; not before.
          await this.waitForFile('delay_on');
          await this.waitForFile('delay_off');
          await this.write('delay_on', String(Math.max(1, Math.round(pattern.onMs))));
          await this.write('delay_off', String(Math.max(1, Math.round(pattern.offMs))));
          break;
        case 'pattern':
          if (this.patternTrigger) {
            if (this.applied?.mode !== 'pattern') await this.write('trigger', 'pattern');
            // Like timer's delays, `pattern` and `repeat` exist only once the trigger is attached.
            await this.waitForFile('pattern');
            await this.write('pattern', kernelPatternText(pattern.steps, this.maxBrightness));
            await this.waitForFile('repeat');
            await this.write('repeat', String(pattern.repeat));
          } else {
            await this.write('trigger', 'none');
            this.player.play(pattern.steps, pattern.repeat);
          }
          break;
      }
      this.applied = pattern;
      return true;
    } catch (error) {
      this.writeErrors += 1;
      const message = error instanceof Error ? error.message : String(error);
      this.lastError = message;
      this.options.logger.warn({ err: message, led: this.name, pattern }, 'LED write failed');
      return false;
    }
  }

  /** The service-side player's toggles: queued in order; a failure counts once per new message. */
  private playerWrite(on: boolean): void {
    const value = on ? String(this.maxBrightness) : '0';
    this.playerWrites = this.playerWrites
      .then(() => this.write('brightness', value))
      .catch((error: unknown) => {
        this.writeErrors += 1;
        const message = error instanceof Error ? error.message : String(error);
        if (message !== this.lastError) this.options.logger.warn({ err: message, led: this.name }, 'LED write failed');
        this.lastError = message;
      });
  }

  /** No toggle may land after the next pattern's writes. */
  private async stopPlayer(): Promise<void> {
    this.player.stop();
    await this.playerWrites;
  }

  /** sysfs attributes exist or not; never create one (O_CREAT would fake a file the kernel did not make). */
  private async write(attribute: string, value: string): Promise<void> {
    await writeFile(path.join(this.dir, attribute), value, { flag: fsConstants.O_WRONLY | fsConstants.O_TRUNC });
  }

  private async waitForFile(attribute: string): Promise<void> {
    const file = path.join(this.dir, attribute);
    const deadline = Date.now() + (this.options.triggerFilesTimeoutMs ?? 1_000);
    for (;;) {
      try {
        await access(file, fsConstants.W_OK);
        return;
      } catch (error) {
        if (Date.now() >= deadline) throw error;
      }
      await sleep(10);
    }
  }
}
