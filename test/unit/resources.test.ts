import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import {
  ResourceMonitor,
  cpuUsageRatio,
  parseThrottled,
  readCpuTimes,
  readDiskFree,
  readMemInfo,
  readPressure,
  readSocTemperatureC,
  readThrottleFlags,
  throttleHistory,
  throttleFlagsFromBits,
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

  it('CPU, memory and io pressure from /proc/pressure/*', async () => {
    await put('proc/pressure/cpu', 'some avg10=12.50 avg60=3.10 avg300=0.90 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
    await put('proc/pressure/memory', 'some avg10=25.00 avg60=8.00 avg300=1.00 total=99\nfull avg10=11.20 avg60=2.00 avg300=0.10 total=9\n');
    // Kernels before 5.13 print no "full" line for cpu; io has both.
    await put('proc/pressure/io', 'some avg10=41.00 avg60=20.00 avg300=5.00 total=7\n');
    expect(await readPressure('cpu', root)).toEqual({ someAvg10: 12.5, someAvg60: 3.1, fullAvg10: 0 });
    expect(await readPressure('memory', root)).toEqual({ someAvg10: 25, someAvg60: 8, fullAvg10: 11.2 });
    expect(await readPressure('io', root)).toEqual({ someAvg10: 41, someAvg60: 20, fullAvg10: null });
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

  it('throttle history: the since-boot bits in words, apart from the now bits', () => {
    expect(throttleHistory(throttleFlagsFromBits(0x1))).toEqual([]);
    expect(throttleHistory(throttleFlagsFromBits(0x50005))).toEqual(['under-voltage since boot', 'throttled since boot']);
    expect(throttleHistory(null)).toEqual([]);
  });

  it('throttle flags: the vcgencmd stand-in under the host root', async () => {
    await put('usr/bin/vcgencmd', '#!/bin/sh\n[ "$1" = get_throttled ] && echo throttled=0x50000\n');
    await chmod(join(root, 'usr/bin/vcgencmd'), 0o755);
    expect(await readThrottleFlags({ root })).toMatchObject({ source: 'vcgencmd', underVoltage: false, underVoltageOccurred: true, throttledOccurred: true });
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
    expect(await readPressure('cpu', root)).toBeNull();
    expect(await readPressure('memory', root)).toBeNull();
    // No stand-in under this root, no hwmon alarm: not a Pi (the real PATH is never consulted).
    expect(await readThrottleFlags({ root })).toBeNull();
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

  it('runs entirely on a scripted host tree: pressure files, thermal zones, meminfo, a vcgencmd stand-in', async () => {
    await put('sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
    await put('sys/class/thermal/thermal_zone0/temp', '77400\n');
    await put('proc/stat', statLine(100, 900));
    await put('proc/meminfo', 'MemTotal: 4000000 kB\nMemAvailable: 120000 kB\n');
    await put('proc/pressure/cpu', 'some avg10=45.00 avg60=3.10 avg300=0.90 total=1\n');
    await put('proc/pressure/memory', 'some avg10=22.00 avg60=1.00 avg300=0.00 total=1\nfull avg10=3.00 avg60=0.00 avg300=0.00 total=1\n');
    await put('proc/pressure/io', 'some avg10=5.00 avg60=1.00 avg300=0.00 total=1\nfull avg10=1.50 avg60=0.00 avg300=0.00 total=1\n');
    await put('usr/bin/vcgencmd', '#!/bin/sh\necho throttled=0x50005\n');
    await chmod(join(root, 'usr/bin/vcgencmd'), 0o755);
    const monitor = new ResourceMonitor({ logger: silentLogger(), periodMs: 60_000, root, dataDir: root, nowMs: () => 5 });
    await monitor.start();
    try {
      expect(monitor.snapshot()).toMatchObject({
        socTempC: 77.4,
        memAvailableBytes: 120000 * 1024,
        cpuPressureSomeAvg10: 45,
        memPressureSomeAvg10: 22,
        memPressureFullAvg10: 3,
        ioPressureSomeAvg10: 5,
        ioPressureFullAvg10: 1.5,
        throttle: { source: 'vcgencmd', underVoltage: true, throttled: true, underVoltageOccurred: true },
      });
      // The script changes: the next sample sees it.
      await put('proc/pressure/io', 'some avg10=60.00 avg60=1.00 avg300=0.00 total=1\nfull avg10=50.00 avg60=0.00 avg300=0.00 total=1\n');
      await monitor.sample();
      expect(monitor.snapshot()).toMatchObject({ ioPressureSomeAvg10: 60, ioPressureFullAvg10: 50 });
    } finally {
      await monitor.stop();
    }
  });
});
