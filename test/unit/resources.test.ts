import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import {
  ResourceMonitor,
  cpuUsageRatio,
  parseThrottled,
  readCpuPressure,
  readCpuTimes,
  readDiskFree,
  readMemInfo,
  readSocTemperatureC,
  readThrottleFlags,
} from '../../src/ops/resources.js';

let root: string;

async function put(path: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
}

const statLine = (user: number, idle: number): string =>
  `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 ${user} 0 0 ${idle} 0 0 0 0 0 0\nintr 1 2 3\n`;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'scout-resources-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('readers on a Pi-shaped tree', () => {
  it('SoC temperature: the cpu-thermal zone, in degrees C', async () => {
    await put('sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
    await put('sys/class/thermal/thermal_zone0/temp', '61842\n');
    await put('sys/class/thermal/thermal_zone1/type', 'other\n');
    await put('sys/class/thermal/thermal_zone1/temp', '90000\n');
    expect(await readSocTemperatureC(root)).toBeCloseTo(61.842, 3);
  });

  it('SoC temperature: the hottest zone when none is cpu-thermal', async () => {
    await put('sys/class/thermal/thermal_zone0/temp', '40000\n');
    await put('sys/class/thermal/thermal_zone3/temp', '52500\n');
    expect(await readSocTemperatureC(root)).toBe(52.5);
  });

  it('CPU usage from /proc/stat deltas', async () => {
    await put('proc/stat', statLine(100, 900));
    const a = await readCpuTimes(root);
    await put('proc/stat', statLine(175, 925));
    const b = await readCpuTimes(root);
    expect(a && b && cpuUsageRatio(a, b)).toBeCloseTo(0.75, 5);
    expect(a && cpuUsageRatio(a, a)).toBeNull();
  });

  it('memory from /proc/meminfo', async () => {
    await put('proc/meminfo', 'MemTotal:        3884432 kB\nMemFree:          100000 kB\nMemAvailable:    2000000 kB\n');
    expect(await readMemInfo(root)).toEqual({ totalBytes: 3884432 * 1024, availableBytes: 2000000 * 1024 });
  });

  it('CPU pressure from /proc/pressure/cpu', async () => {
    await put('proc/pressure/cpu', 'some avg10=12.50 avg60=3.10 avg300=0.90 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
    expect(await readCpuPressure(root)).toEqual({ someAvg10: 12.5, someAvg60: 3.1 });
  });

  it('throttle flags: vcgencmd hex bits, now and since boot', () => {
    expect(parseThrottled('throttled=0x0\n')?.raw).toBe(0);
    const flags = parseThrottled('throttled=0x50005\n');
    expect(flags).toMatchObject({
      raw: 0x50005,
      underVoltage: true,
      frequencyCapped: false,
      throttled: true,
      softTempLimit: false,
      underVoltageOccurred: true,
      frequencyCappedOccurred: false,
      throttledOccurred: true,
      softTempLimitOccurred: false,
    });
    expect(parseThrottled('error=1')).toBeNull();
  });

  it('throttle flags: runs a real vcgencmd executable', async () => {
    const fake = join(root, 'vcgencmd');
    await writeFile(fake, '#!/bin/sh\n[ "$1" = get_throttled ] && echo throttled=0x80008\n');
    await chmod(fake, 0o755);
    const flags = await readThrottleFlags({ root, vcgencmdPath: fake });
    expect(flags).toMatchObject({ source: 'vcgencmd', softTempLimit: true, softTempLimitOccurred: true, underVoltage: false });
  });

  it('throttle flags: falls back to the rpi_volt hwmon alarm', async () => {
    await put('sys/class/hwmon/hwmon0/name', 'cpu_thermal\n');
    await put('sys/class/hwmon/hwmon1/name', 'rpi_volt\n');
    await put('sys/class/hwmon/hwmon1/in0_lcrit_alarm', '1\n');
    const flags = await readThrottleFlags({ root, vcgencmdPath: join(root, 'no-such-vcgencmd') });
    expect(flags).toMatchObject({ source: 'hwmon', underVoltage: true, throttled: false });
  });

  it('every reader reports null on a machine without these files', async () => {
    expect(await readSocTemperatureC(root)).toBeNull();
    expect(await readCpuTimes(root)).toBeNull();
    expect(await readMemInfo(root)).toBeNull();
    expect(await readCpuPressure(root)).toBeNull();
    expect(await readThrottleFlags({ root, vcgencmdPath: null })).toBeNull();
    expect(await readDiskFree(join(root, 'missing'))).toBeNull();
  });

  it('reads the real /proc of this machine', async () => {
    expect(await readCpuTimes()).not.toBeNull();
    const mem = await readMemInfo();
    expect(mem?.totalBytes).toBeGreaterThan(mem?.availableBytes ?? Infinity);
    const disk = await readDiskFree(tmpdir());
    expect(disk?.freeBytes).toBeGreaterThan(0);
  });
});

describe('ResourceMonitor', () => {
  it('samples everything into a snapshot, with CPU usage between samples', async () => {
    await put('sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
    await put('sys/class/thermal/thermal_zone0/temp', '70100\n');
    await put('proc/stat', statLine(100, 900));
    await put('proc/meminfo', 'MemTotal: 1000 kB\nMemAvailable: 400 kB\n');
    let now = 1000;
    const monitor = new ResourceMonitor({ logger: silentLogger(), periodMs: 60_000, root, dataDir: root, vcgencmdPath: null, nowMs: () => now });
    expect(monitor.snapshot().sampledAtMs).toBeNull();
    await monitor.start();
    try {
      const first = monitor.snapshot();
      expect(first).toMatchObject({ sampledAtMs: 1000, socTempC: 70.1, cpuUsageRatio: null, memAvailableBytes: 400 * 1024, throttle: null });
      expect(first.diskFreeBytes).toBeGreaterThan(0);
      await put('proc/stat', statLine(150, 950));
      now = 6000;
      await monitor.sample();
      expect(monitor.snapshot()).toMatchObject({ sampledAtMs: 6000, cpuUsageRatio: 0.5 });
    } finally {
      await monitor.stop();
      await monitor.stop();
    }
  });

  it('measures event-loop lag when the loop is blocked', async () => {
    const monitor = new ResourceMonitor({ logger: silentLogger(), periodMs: 60_000, root, dataDir: null, vcgencmdPath: null });
    await monitor.start();
    try {
      await new Promise((r) => setTimeout(r, 30));
      const until = performance.now() + 150;
      while (performance.now() < until) {
        // block the event loop on purpose
      }
      await new Promise((r) => setTimeout(r, 30));
      await monitor.sample();
      expect(monitor.snapshot().eventLoopLagMaxMs).toBeGreaterThan(100);
    } finally {
      await monitor.stop();
    }
  });
});
