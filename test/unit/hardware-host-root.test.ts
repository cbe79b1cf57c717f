/**
 * `ops.hostRoot` (SCOUT_HOST_ROOT) moves every /proc and /sys path the hardware layer reads, not
 * only the resource monitor's: the kernel backend finds its button in <root>/proc/bus/input/devices
 * and drives its LEDs in <root>/sys/class/leds, so the real service can run on a scripted tree.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createHardware } from '../../src/app/hardware.js';
import { loadConfig } from '../../src/config.js';
import type { KernelButton } from '../../src/hardware/gpio-kernel.js';
import { silentLogger } from '../../src/log.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the hardware layer under a host root', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('the kernel backend reads the button from <root>/proc and writes the LEDs under <root>/sys', async () => {
    const root = await mkdtemp(join(tmpdir(), 'scout-host-root-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    await mkdir(join(root, 'proc/bus/input'), { recursive: true });
    // The gpio-key overlay's button as the kernel lists it (KEY_RECORD = 167: bit 39 of word 2).
    await writeFile(
      join(root, 'proc/bus/input/devices'),
      ['I: Bus=0019 Vendor=0001 Product=0001 Version=0100', 'N: Name="button@11"', 'P: Phys=gpio-keys/input0', 'H: Handlers=kbd event42 ', 'B: EV=3', 'B: KEY=8000000000 0 0', ''].join('\n'),
    );
    for (const label of ['scout-status', 'scout-rec']) {
      await mkdir(join(root, 'sys/class/leds', label), { recursive: true });
      await writeFile(join(root, 'sys/class/leds', label, 'brightness'), '0');
      await writeFile(join(root, 'sys/class/leds', label, 'max_brightness'), '255\n');
      await writeFile(join(root, 'sys/class/leds', label, 'trigger'), '[none] timer\n');
    }
    // The host root from the environment, as a person or a test would give it.
    await writeFile(join(root, 'scout.json'), JSON.stringify({ audio: { backend: 'fake' }, gpio: { backend: 'kernel' }, dataDir: join(root, 'data') }));
    const { config } = loadConfig({ path: join(root, 'scout.json'), env: { SCOUT_HOST_ROOT: root } });
    expect(config.ops.hostRoot).toBe(root);
    const hardware = await createHardware(config, silentLogger(), silentLogger());
    const button = hardware.button as KernelButton;
    cleanups.push(async () => {
      await button.stop();
      await hardware.leds.status.stop();
    });

    await hardware.leds.status.start();
    hardware.leds.status.set({ mode: 'on' });
    let brightness = '';
    for (let i = 0; i < 100 && brightness !== '255'; i++) {
      await sleep(10);
      brightness = (await readFile(join(root, 'sys/class/leds/scout-status/brightness'), 'utf8')).trim();
    }
    expect(brightness).toBe('255');

    // The device named in the scripted /proc: this machine's own /proc has no gpio-keys button.
    await button.start();
    for (let i = 0; i < 100 && button.status().devicePath === null; i++) await sleep(10);
    expect(button.status().devicePath).toBe('/dev/input/event42');
  });
});
