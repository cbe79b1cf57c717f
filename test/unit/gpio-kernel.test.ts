/**
 * The kernel GPIO backend on the same code path as on a Pi: the button reads real
 * `struct input_event` records from a FIFO; the LED writes a temp directory laid out like
 * `/sys/class/leds/<label>`, with a small stand-in for the kernel that creates the timer
 * trigger's delay files. With SCOUT_HW_TEST=1 the same contracts run on the real devices.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, mkdir, open, readFile, rm, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelButton, KernelLed, type KernelButtonOptions } from '../../src/hardware/gpio-kernel.js';
import {
  EV_KEY,
  EV_MSC,
  EV_SYN,
  KEY_AUTOREPEAT,
  KEY_PRESSED,
  KEY_RECORD,
  KEY_RELEASED,
  SYN_DROPPED,
  encodeInputEvent,
  findInputDevice,
  inputEventRecordSize,
  type InputEvent,
  type InputEventRecordSize,
} from '../../src/hardware/input-event.js';
import type { ButtonEdge, LedPattern, LedStep } from '../../src/hardware/types.js';
import { silentLogger } from '../../src/log.js';
import { LED_PATTERNS } from '../../src/ops/led-language.js';
import { sleep } from '../../src/util/sleep.js';
import { buttonContract, type ButtonHarness } from '../contract/button.contract.js';
import { ledContract, type LedHarness } from '../contract/led.contract.js';

const EV_REL = 0x02;
const MSC_SCAN = 0x04;

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What gpio-keys sends for one edge: a scan code, the key, a sync report. */
function keyEdge(atMs: number, value: number, code = KEY_RECORD, size: InputEventRecordSize = inputEventRecordSize()): Buffer {
  return Buffer.concat([
    encodeInputEvent({ timeMs: atMs, type: EV_MSC, code: MSC_SCAN, value: code }, size),
    encodeInputEvent({ timeMs: atMs, type: EV_KEY, code, value }, size),
    encodeInputEvent({ timeMs: atMs, type: EV_SYN, code: 0, value: 0 }, size),
  ]);
}

/** A FIFO standing in for /dev/input/eventN, and the kernel's side of it. */
class FakeEventDevice {
  private writer: Promise<FileHandle> | null = null;

  constructor(readonly path: string) {}

  static create(dir: string, name = 'event0'): FakeEventDevice {
    const device = new FakeEventDevice(path.join(dir, name));
    device.mkfifo();
    return device;
  }

  mkfifo(): void {
    execFileSync('mkfifo', [this.path]);
  }

  /** Opening for write waits until the button has opened the FIFO for reading. */
  async write(bytes: Buffer): Promise<void> {
    this.writer ??= open(this.path, 'w');
    const handle = await this.writer;
    await handle.write(bytes);
  }

  /** The device goes away: writer closed (the reader sees EOF) and the node unlinked. */
  async remove(): Promise<void> {
    await this.closeWriter();
    await unlink(this.path).catch(() => undefined);
  }

  async closeWriter(): Promise<void> {
    const writer = this.writer;
    this.writer = null;
    if (writer) await (await writer).close().catch(() => undefined);
  }
}

describe('KernelButton on a FIFO fed with input_event records', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(overrides: Partial<KernelButtonOptions> = {}): Promise<{
    device: FakeEventDevice;
    button: KernelButton;
    heard: Array<{ edge: ButtonEdge; atMs: number }>;
    dir: string;
  }> {
    const dir = await mkdtemp(path.join(tmpdir(), 'scout-evdev-'));
    const device = FakeEventDevice.create(dir);
    const button = new KernelButton({
      device: device.path,
      keyCode: KEY_RECORD,
      logger: silentLogger(),
      reopenBackoff: { initialMs: 10, maxMs: 40, jitter: 0 },
      ...overrides,
    });
    const heard: Array<{ edge: ButtonEdge; atMs: number }> = [];
    button.onEdge((edge, atMs) => heard.push({ edge, atMs }));
    cleanups.push(async () => {
      await button.stop();
      await device.closeWriter();
      await rm(dir, { recursive: true, force: true });
    });
    return { device, button, heard, dir };
  }

  it('joins a record cut across two writes and keeps the kernel timestamp', async () => {
    const { device, button, heard } = await setup();
    await button.start();
    const bytes = keyEdge(1_700_000_000_123.456, KEY_PRESSED);
    const cut = inputEventRecordSize() + 7; // inside the EV_KEY record
    await device.write(bytes.subarray(0, cut));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heard).toEqual([]);
    await device.write(bytes.subarray(cut));
    await until(() => heard.length === 1, 2_000, 'the press');
    expect(heard[0]?.edge).toBe('press');
    expect(heard[0]?.atMs).toBeCloseTo(1_700_000_000_123.456, 3);
  });

  it('hears one press and one release through a held key that autorepeats', async () => {
    const { device, button, heard } = await setup();
    await button.start();
    await device.write(keyEdge(1_000_000, KEY_PRESSED));
    for (let i = 1; i <= 5; i += 1) await device.write(keyEdge(1_000_000 + 250 + i * 33, KEY_AUTOREPEAT));
    await device.write(keyEdge(1_002_000, KEY_RELEASED));
    await until(() => heard.length >= 2, 2_000, 'press and release');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(heard).toEqual([
      { edge: 'press', atMs: 1_000_000 },
      { edge: 'release', atMs: 1_002_000 },
    ]);
  });

  it('ignores other event types and other keys', async () => {
    const { device, button, heard } = await setup();
    await button.start();
    const size = inputEventRecordSize();
    const noise: InputEvent[] = [
      { timeMs: 5_000, type: EV_REL, code: 0, value: 5 },
      { timeMs: 5_001, type: EV_KEY, code: 30 /* KEY_A */, value: KEY_PRESSED },
      { timeMs: 5_002, type: EV_KEY, code: 30, value: KEY_RELEASED },
      { timeMs: 5_003, type: EV_MSC, code: MSC_SCAN, value: KEY_RECORD },
      { timeMs: 5_004, type: EV_SYN, code: 0, value: 0 },
    ];
    await device.write(Buffer.concat(noise.map((event) => encodeInputEvent(event, size))));
    await device.write(keyEdge(6_000, KEY_PRESSED));
    await until(() => heard.length >= 1, 2_000, 'the press');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(heard).toEqual([{ edge: 'press', atMs: 6_000 }]);
    expect(button.status().droppedReports).toBe(0);
  });

  it('counts SYN_DROPPED reports from the kernel', async () => {
    const { device, button, heard } = await setup();
    await button.start();
    await device.write(encodeInputEvent({ timeMs: 7_000, type: EV_SYN, code: SYN_DROPPED, value: 0 }));
    await device.write(keyEdge(7_001, KEY_RELEASED));
    await until(() => heard.length >= 1, 2_000, 'the release');
    expect(button.status().droppedReports).toBe(1);
  });

  it('reads 16-byte records when told it runs a 32-bit ABI (armhf)', async () => {
    const { device, button, heard } = await setup({ recordSize: 16 });
    await button.start();
    await device.write(keyEdge(1_700_000_000_500, KEY_PRESSED, KEY_RECORD, 16));
    await device.write(keyEdge(1_700_000_000_900.25, KEY_RELEASED, KEY_RECORD, 16));
    await until(() => heard.length >= 2, 2_000, 'press and release');
    expect(heard).toEqual([
      { edge: 'press', atMs: 1_700_000_000_500 },
      { edge: 'release', atMs: 1_700_000_000_900.25 },
    ]);
  });

  it('opens the device again when it disappears and comes back', async () => {
    const { device, button, heard } = await setup();
    await button.start();
    await device.write(keyEdge(10_000, KEY_PRESSED));
    await until(() => heard.length === 1, 2_000, 'the first press');
    expect(button.status()).toMatchObject({ state: 'open', reopens: 0, lastError: null });

    await device.remove();
    await until(() => button.status().lastError !== null, 2_000, 'the loss to be noticed');
    // Give the reopen loop a few failed tries on the missing node.
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(button.status().state).not.toBe('open');

    device.mkfifo();
    await device.write(keyEdge(11_000, KEY_RELEASED));
    await until(() => heard.length === 2, 3_000, 'the release after the reopen');
    expect(heard[1]).toEqual({ edge: 'release', atMs: 11_000 });
    expect(button.status().reopens).toBeGreaterThanOrEqual(1);
    expect(button.status().lastError).toBeNull();
  });

  it('starts without its device, keeps trying, and works once it appears', async () => {
    const { device, button, heard } = await setup();
    await device.remove();
    await expect(button.start()).resolves.toBeUndefined();
    await until(() => button.status().lastError !== null, 2_000, 'the failure to be reported');
    expect(button.status().lastError).toMatch(/ENOENT/);
    device.mkfifo();
    await device.write(keyEdge(20_000, KEY_PRESSED));
    await until(() => heard.length === 1, 3_000, 'the press');
    expect(heard[0]).toEqual({ edge: 'press', atMs: 20_000 });
  });

  it('finds its device through a resolver asked at every open', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'scout-evdev-'));
    const device = FakeEventDevice.create(dir, 'event3');
    const proc = path.join(dir, 'devices');
    await writeFile(proc, procInputDevices('event3'));
    const button = new KernelButton({
      device: () => findInputDevice({ procDevicesPath: proc, devDir: dir, match: { physPrefix: 'gpio-keys/', keyCode: KEY_RECORD } }),
      keyCode: KEY_RECORD,
      logger: silentLogger(),
      reopenBackoff: { initialMs: 10, maxMs: 40, jitter: 0 },
    });
    const heard: ButtonEdge[] = [];
    button.onEdge((edge) => heard.push(edge));
    cleanups.push(async () => {
      await button.stop();
      await device.closeWriter();
      await rm(dir, { recursive: true, force: true });
    });
    await button.start();
    await device.write(keyEdge(1, KEY_PRESSED));
    await until(() => heard.length === 1, 2_000, 'the press');
    expect(button.status().devicePath).toBe(device.path);
  });

  it('keeps reading after a listener throws', async () => {
    const { device, button, heard } = await setup();
    button.onEdge(() => {
      throw new Error('listener bug');
    });
    await button.start();
    await device.write(keyEdge(1, KEY_PRESSED));
    await device.write(keyEdge(2, KEY_RELEASED));
    await until(() => heard.length === 2, 2_000, 'both edges');
    expect(button.status().state).toBe('open');
  });
});

/** A /proc/bus/input/devices with a keyboard first and the gpio-key overlay's button (KEY_RECORD, 64-bit kernel). */
function procInputDevices(eventName: string): string {
  return [
    'I: Bus=0003 Vendor=046d Product=c31c Version=0110',
    'N: Name="Logitech USB Keyboard"',
    'P: Phys=usb-0000:01:00.0-1.3/input0',
    'S: Sysfs=/devices/platform/scb/fd500000.pcie/usb1/1-1/1-1.3/input/input1',
    'U: Uniq=',
    'H: Handlers=sysrq kbd leds event1 ',
    'B: PROP=0',
    'B: EV=120013',
    'B: KEY=1000000000007 ff9f207ac14057ff febeffdfffefffff fffffffffffffffe',
    '',
    'I: Bus=0019 Vendor=0001 Product=0001 Version=0100',
    'N: Name="button@11"',
    'P: Phys=gpio-keys/input0',
    'S: Sysfs=/devices/platform/button@11/input/input0',
    'U: Uniq=',
    `H: Handlers=kbd ${eventName} `,
    'B: PROP=0',
    'B: EV=3',
    'B: KEY=8000000000 0 0',
    '',
  ].join('\n');
}

interface FakeLedSysfsOptions {
  readonly maxBrightness?: number | null;
  readonly attachDelayMs?: number;
  /** The kernel has the pattern trigger (CONFIG_LEDS_TRIGGER_PATTERN): `trigger` lists it. Default true. */
  readonly patternTrigger?: boolean;
}

/** A temp `/sys/class/leds/<label>` and a stand-in for the kernel's timer and pattern triggers. */
class FakeLedSysfs {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly root: string,
    readonly label: string,
  ) {}

  get dir(): string {
    return path.join(this.root, this.label);
  }

  static async create(options: FakeLedSysfsOptions = {}): Promise<FakeLedSysfs> {
    const root = await mkdtemp(path.join(tmpdir(), 'scout-leds-'));
    const sysfs = new FakeLedSysfs(root, 'scout-rec');
    await mkdir(sysfs.dir);
    await writeFile(path.join(sysfs.dir, 'brightness'), '0');
    // As the kernel lists them: the active one in brackets. (A write replaces the text here.)
    const triggers = options.patternTrigger === false ? '[none] timer heartbeat' : '[none] timer heartbeat pattern';
    await writeFile(path.join(sysfs.dir, 'trigger'), `${triggers}\n`);
    if (options.maxBrightness !== null) await writeFile(path.join(sysfs.dir, 'max_brightness'), `${options.maxBrightness ?? 255}\n`);
    sysfs.emulateTimerTrigger(options.attachDelayMs ?? 20);
    return sysfs;
  }

  /**
   * Like ledtrig-timer: selecting `timer` makes delay_on/delay_off appear (default 500 ms each)
   * a moment later; selecting anything else removes them. Likewise ledtrig-pattern's `pattern`
   * (empty) and `repeat` (-1) for `pattern`.
   */
  private emulateTimerTrigger(attachDelayMs: number): void {
    const seenAtMs = new Map<string, number>();
    const files: Record<string, ReadonlyArray<[string, string]>> = {
      timer: [
        // delay_off first, so that a reader who sees delay_on finds both.
        ['delay_off', '500'],
        ['delay_on', '500'],
      ],
      pattern: [
        ['repeat', '-1'],
        ['pattern', ''],
      ],
    };
    this.timer = setInterval(() => {
      let trigger: string;
      try {
        trigger = readFileSync(path.join(this.dir, 'trigger'), 'utf8').trim();
      } catch {
        return;
      }
      for (const [name, created] of Object.entries(files)) {
        if (trigger === name) {
          const since = seenAtMs.get(name) ?? Date.now();
          seenAtMs.set(name, since);
          const last = created.at(-1);
          if (last && !existsSync(path.join(this.dir, last[0])) && Date.now() - since >= attachDelayMs) {
            for (const [file, value] of created) writeFileSync(path.join(this.dir, file), value);
          }
        } else {
          seenAtMs.delete(name);
          for (const [file] of created) rmSync(path.join(this.dir, file), { force: true });
        }
      }
    }, 2);
  }

  read(attribute: string): string {
    return readFileSync(path.join(this.dir, attribute), 'utf8').trim();
  }

  async dispose(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Reads the pattern trigger's "b ms b 0" tuples back as steps; throws on anything else. */
function stepsFromKernelPattern(text: string): LedStep[] {
  const numbers = text.trim().split(/\s+/).map(Number);
  const steps: LedStep[] = [];
  for (let index = 0; index < numbers.length; index += 4) {
    const [brightness, ms, again, zero] = numbers.slice(index, index + 4);
    if (brightness === undefined || ms === undefined || again !== brightness || zero !== 0) throw new Error(`not a step pattern: ${text}`);
    steps.push({ on: brightness > 0, ms });
  }
  if (steps.length * 4 !== numbers.length) throw new Error(`not a step pattern: ${text}`);
  return steps;
}

/** What a `/sys/class/leds/<label>` directory shows; works on real sysfs (`none [timer] ...`) too. */
async function observeLedDir(dir: string): Promise<LedPattern> {
  const triggerText = (await readFile(path.join(dir, 'trigger'), 'utf8')).trim();
  const trigger = /\[([^\]]+)\]/.exec(triggerText)?.[1] ?? triggerText;
  if (trigger === 'pattern') {
    const steps = stepsFromKernelPattern(await readFile(path.join(dir, 'pattern'), 'utf8'));
    const repeat = Number((await readFile(path.join(dir, 'repeat'), 'utf8')).trim());
    return { mode: 'pattern', steps, repeat };
  }
  if (trigger === 'timer') {
    const onMs = Number((await readFile(path.join(dir, 'delay_on'), 'utf8')).trim());
    const offMs = Number((await readFile(path.join(dir, 'delay_off'), 'utf8')).trim());
    return { mode: 'blink', onMs, offMs };
  }
  if (trigger !== 'none') throw new Error(`unexpected trigger ${trigger}`);
  const brightness = Number((await readFile(path.join(dir, 'brightness'), 'utf8')).trim());
  return brightness > 0 ? { mode: 'on' } : { mode: 'off' };
}

describe('KernelLed on a temp sysfs tree', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(options: FakeLedSysfsOptions = {}): Promise<{
    sysfs: FakeLedSysfs;
    led: KernelLed;
  }> {
    const sysfs = await FakeLedSysfs.create(options);
    const led = new KernelLed({ name: 'recording', label: sysfs.label, sysfsRoot: sysfs.root, logger: silentLogger() });
    cleanups.push(async () => {
      await led.stop();
      await sysfs.dispose();
    });
    return { sysfs, led };
  }

  it('on: trigger none and brightness at max_brightness', async () => {
    const { sysfs, led } = await setup({ maxBrightness: 255 });
    await led.start();
    led.set({ mode: 'on' });
    await led.settle();
    expect(sysfs.read('trigger')).toBe('none');
    expect(sysfs.read('brightness')).toBe('255');
  });

  it('on: brightness 1 when max_brightness is absent', async () => {
    const { sysfs, led } = await setup({ maxBrightness: null });
    await led.start();
    led.set({ mode: 'on' });
    await led.settle();
    expect(sysfs.read('brightness')).toBe('1');
  });

  it('blink: selects the timer trigger, waits for its files, then writes the delays', async () => {
    const { sysfs, led } = await setup({ attachDelayMs: 60 });
    await led.start();
    led.set({ mode: 'blink', onMs: 120, offMs: 880 });
    await led.settle();
    expect(sysfs.read('trigger')).toBe('timer');
    expect(sysfs.read('delay_on')).toBe('120');
    expect(sysfs.read('delay_off')).toBe('880');
    expect(led.status()).toMatchObject({ writeErrors: 0, applied: { mode: 'blink', onMs: 120, offMs: 880 } });
  });

  it('off after blink: trigger none, brightness 0, timer files gone', async () => {
    const { sysfs, led } = await setup();
    await led.start();
    led.set({ mode: 'blink', onMs: 100, offMs: 100 });
    await led.settle();
    led.set({ mode: 'off' });
    await led.settle();
    expect(sysfs.read('trigger')).toBe('none');
    expect(sysfs.read('brightness')).toBe('0');
    await until(() => !existsSync(path.join(sysfs.dir, 'delay_on')), 1_000, 'the kernel stand-in to drop delay_on');
  });

  it('reports, without throwing, an LED whose directory does not exist, and recovers when it does', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'scout-leds-'));
    const led = new KernelLed({ name: 'status', label: 'missing', sysfsRoot: root, logger: silentLogger() });
    cleanups.push(async () => {
      await led.stop();
      await rm(root, { recursive: true, force: true });
    });
    await expect(led.start()).resolves.toBeUndefined();
    led.set({ mode: 'on' });
    await led.settle();
    expect(led.status().writeErrors).toBeGreaterThanOrEqual(1);
    expect(led.status().lastError).toMatch(/ENOENT/);
    await mkdir(path.join(root, 'missing'));
    await writeFile(path.join(root, 'missing', 'trigger'), 'none');
    await writeFile(path.join(root, 'missing', 'brightness'), '0');
    led.set({ mode: 'on' });
    await led.settle();
    expect(readFileSync(path.join(root, 'missing', 'brightness'), 'utf8')).toBe('1');
  });

  it('pattern: selects the pattern trigger, then writes step tuples and repeat -1 (error code 2)', async () => {
    const { sysfs, led } = await setup({ maxBrightness: 255, attachDelayMs: 40 });
    await led.start();
    expect(led.status().patternPlayer).toBe('kernel');
    led.set(LED_PATTERNS.noMicrophone);
    await led.settle();
    expect(sysfs.read('trigger')).toBe('pattern');
    // Two blinks of 200 ms, a 1.4 s pause; "b ms b 0" so the kernel steps instead of fading.
    expect(sysfs.read('pattern')).toBe('255 200 255 0 0 200 0 0 255 200 255 0 0 1400 0 0');
    expect(sysfs.read('repeat')).toBe('-1');
    expect(led.status()).toMatchObject({ writeErrors: 0, applied: LED_PATTERNS.noMicrophone });
    // Another code: the trigger stays, the tuples change.
    led.set(LED_PATTERNS.engineDown);
    await led.settle();
    expect(sysfs.read('trigger')).toBe('pattern');
    expect(sysfs.read('pattern').split(' ').filter((_, index) => index % 4 === 0)).toEqual(['255', '0', '255', '0', '255', '0', '255', '0', '255', '0']);
    // A finite repeat (the cancel flash) is written as such.
    led.set(LED_PATTERNS.cancelled);
    await led.settle();
    expect(sysfs.read('repeat')).toBe('3');
    led.set({ mode: 'on' });
    await led.settle();
    expect(sysfs.read('trigger')).toBe('none');
    expect(sysfs.read('brightness')).toBe('255');
    await until(() => !existsSync(path.join(sysfs.dir, 'pattern')), 1_000, 'the kernel stand-in to drop pattern');
  });

  it('pattern without the pattern trigger: trigger none and a service timer toggles brightness, stopped by the next set and by stop()', async () => {
    const { sysfs, led } = await setup({ maxBrightness: 255, patternTrigger: false });
    await led.start();
    expect(led.status().patternPlayer).toBe('service');
    // Sample brightness while the service plays 60 ms on / 140 ms off.
    led.set({ mode: 'pattern', steps: [{ on: true, ms: 60 }, { on: false, ms: 140 }], repeat: -1 });
    await led.settle();
    expect(sysfs.read('trigger')).toBe('none');
    const seen: Array<{ atMs: number; on: boolean }> = [];
    const startedAt = Date.now();
    while (Date.now() - startedAt < 1_100) {
      const on = sysfs.read('brightness') === '255';
      if (seen.at(-1)?.on !== on) seen.push({ atMs: Date.now(), on });
      await sleep(3);
    }
    expect(existsSync(path.join(sysfs.dir, 'pattern'))).toBe(false);
    const lit = seen.filter((entry) => entry.on).length;
    // 1.1 s / 200 ms = 5-6 flashes; a loaded machine may blur one.
    expect(lit).toBeGreaterThanOrEqual(4);
    expect(lit).toBeLessThanOrEqual(7);
    const onDurations = seen.slice(0, -1).flatMap((entry, index) => (entry.on ? [(seen[index + 1]?.atMs ?? 0) - entry.atMs] : []));
    const median = [...onDurations].sort((a, b) => a - b)[Math.floor(onDurations.length / 2)] ?? 0;
    expect(median).toBeGreaterThan(25);
    expect(median).toBeLessThan(130);
    // The next set stops the timer: the LED stays as set.
    led.set({ mode: 'off' });
    await led.settle();
    await sleep(300);
    expect(sysfs.read('brightness')).toBe('0');
    led.set({ mode: 'pattern', steps: [{ on: true, ms: 30 }, { on: false, ms: 30 }], repeat: -1 });
    await led.settle();
    await led.stop();
    await sleep(150);
    expect(sysfs.read('brightness')).toBe('0');
    expect(led.status().writeErrors).toBe(0);
  });

  it('gives up on blink, with an error, when the timer trigger never creates its files', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'scout-leds-'));
    await mkdir(path.join(root, 'dead'));
    await writeFile(path.join(root, 'dead', 'trigger'), 'none');
    await writeFile(path.join(root, 'dead', 'brightness'), '0');
    const led = new KernelLed({ name: 'status', label: 'dead', sysfsRoot: root, logger: silentLogger(), triggerFilesTimeoutMs: 100 });
    cleanups.push(async () => {
      await led.stop();
      await rm(root, { recursive: true, force: true });
    });
    await led.start();
    led.set({ mode: 'blink', onMs: 100, offMs: 100 });
    await led.settle();
    expect(led.status().lastError).toMatch(/delay_on/);
    expect(existsSync(path.join(root, 'dead', 'delay_on'))).toBe(false);
  });
});

buttonContract('kernel backend on a FIFO', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'scout-evdev-'));
  const device = FakeEventDevice.create(dir);
  const button = new KernelButton({ device: device.path, keyCode: KEY_RECORD, logger: silentLogger() });
  // After stop() the reader goes away and a write may fail with EPIPE: the hardware does not care.
  const send = (bytes: Buffer): Promise<void> => device.write(bytes).catch(() => undefined);
  return {
    button,
    exactTimestamps: true,
    press: (atMs) => send(keyEdge(atMs, KEY_PRESSED)),
    release: (atMs) => send(keyEdge(atMs, KEY_RELEASED)),
    dispose: async () => {
      await device.closeWriter();
      await rm(dir, { recursive: true, force: true });
    },
  } satisfies ButtonHarness;
});

ledContract('kernel backend on a temp sysfs tree without the pattern trigger', async () => {
  const sysfs = await FakeLedSysfs.create({ patternTrigger: false });
  const led = new KernelLed({ name: 'recording', label: sysfs.label, sysfsRoot: sysfs.root, logger: silentLogger() });
  return {
    led,
    observe: () => observeLedDir(sysfs.dir),
    settle: () => led.settle(),
    devicePlaysPatterns: () => led.status().patternPlayer === 'kernel',
    dispose: () => sysfs.dispose(),
  } satisfies LedHarness;
});

ledContract('kernel backend on a temp sysfs tree', async () => {
  const sysfs = await FakeLedSysfs.create();
  const led = new KernelLed({ name: 'recording', label: sysfs.label, sysfsRoot: sysfs.root, logger: silentLogger() });
  return {
    led,
    observe: () => observeLedDir(sysfs.dir),
    settle: () => led.settle(),
    dispose: () => sysfs.dispose(),
  } satisfies LedHarness;
});

// Real hardware: SCOUT_HW_TEST=1 plus the devices to use (hardware/README.md, "Testing on a Pi").
const hwEnabled = process.env.SCOUT_HW_TEST === '1';
const hwButtonDevice = process.env.SCOUT_HW_BUTTON_DEVICE;
const hwLedLabel = process.env.SCOUT_HW_LED_LABEL;
const hwButtonSkip = !hwEnabled
  ? 'SCOUT_HW_TEST is not 1'
  : !hwButtonDevice
    ? 'SCOUT_HW_BUTTON_DEVICE (e.g. /dev/input/by-path/platform-button@11-event) is not set'
    : null;
const hwLedSkip = !hwEnabled ? 'SCOUT_HW_TEST is not 1' : !hwLedLabel ? 'SCOUT_HW_LED_LABEL (e.g. scout-rec) is not set' : null;

if (hwButtonSkip !== null || !hwButtonDevice) {
  describe.skip(`Button contract: real button (skipped: ${hwButtonSkip ?? ''})`, () => {
    it('needs a Pi', () => undefined);
  });
  console.info(`[gpio-kernel.test] real-button contract skipped: ${hwButtonSkip ?? ''}`);
} else {
  const device = hwButtonDevice;
  buttonContract(
    `real button at ${device}`,
    () => {
      const button = new KernelButton({
        device,
        keyCode: Number(process.env.SCOUT_HW_BUTTON_KEYCODE ?? KEY_RECORD),
        logger: silentLogger(),
      });
      return Promise.resolve({
        button,
        exactTimestamps: false,
        press: () => {
          process.stderr.write('\n>>> HW TEST: press and release the Scout button now\n');
          return Promise.resolve();
        },
        release: () => Promise.resolve(),
        dispose: () => Promise.resolve(),
      } satisfies ButtonHarness);
    },
    { edgeTimeoutMs: 20_000, quietMs: 5_000 },
  );
}

if (hwLedSkip !== null || !hwLedLabel) {
  describe.skip(`Led contract: real LED (skipped: ${hwLedSkip ?? ''})`, () => {
    it('needs a Pi', () => undefined);
  });
  console.info(`[gpio-kernel.test] real-LED contract skipped: ${hwLedSkip ?? ''}`);
} else {
  const label = hwLedLabel;
  const root = process.env.SCOUT_HW_LED_ROOT ?? '/sys/class/leds';
  ledContract(`real LED ${path.join(root, label)}`, () => {
    const led = new KernelLed({ name: 'hw-test', label, sysfsRoot: root, logger: silentLogger() });
    return Promise.resolve({
      led,
      observe: () => observeLedDir(path.join(root, label)),
      settle: () => led.settle(),
      devicePlaysPatterns: () => led.status().patternPlayer === 'kernel',
      dispose: () => Promise.resolve(),
    } satisfies LedHarness);
  });
}
