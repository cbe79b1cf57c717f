import { execFile } from 'node:child_process';
import { readFile, readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from '../log.js';

/**
 * System state read straight from /sys and /proc every few seconds. Each reader takes the
 * host root (default '/', config `ops.hostRoot` / SCOUT_HOST_ROOT) so tests, and a person, run
 * the real service against a scripted tree laid out like a Pi. Every
 * reader tolerates missing files (a laptop, a container, a CI runner) and reports null; none
 * throws.
 */

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch {
    return [];
  }
}

/**
 * SoC temperature in degrees C: the zone typed `cpu-thermal` (Pi 4 and 5) when there is one,
 * otherwise the hottest zone. The kernel reports millidegrees.
 */
export async function readSocTemperatureC(root = '/'): Promise<number | null> {
  const base = join(root, 'sys/class/thermal');
  const zones = (await listDir(base)).filter((name) => name.startsWith('thermal_zone')).sort();
  let hottest: number | null = null;
  for (const zone of zones) {
    const raw = await readText(join(base, zone, 'temp'));
    const milli = raw === null ? NaN : Number.parseInt(raw.trim(), 10);
    if (!Number.isFinite(milli)) continue;
    const tempC = milli / 1000;
    const type = (await readText(join(base, zone, 'type')))?.trim();
    if (type === 'cpu-thermal') return tempC;
    hottest = hottest === null ? tempC : Math.max(hottest, tempC);
  }
  return hottest;
}

export interface CpuTimes {
  /** Jiffies spent idle (idle + iowait). */
  readonly idle: number;
  readonly total: number;
}

/** Aggregate CPU times from the first line of /proc/stat. */
export async function readCpuTimes(root = '/'): Promise<CpuTimes | null> {
  const text = await readText(join(root, 'proc/stat'));
  const line = text?.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return null;
  // user nice system idle iowait irq softirq steal [guest guest_nice are already in user/nice]
  const total = fields.slice(0, 8).reduce((sum, n) => sum + n, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { idle, total };
}

/** Busy share of all CPUs between two samples, 0..1; null when the counters did not move. */
export function cpuUsageRatio(previous: CpuTimes, next: CpuTimes): number | null {
  const total = next.total - previous.total;
  const idle = next.idle - previous.idle;
  if (total <= 0) return null;
  return Math.min(1, Math.max(0, (total - idle) / total));
}

export interface MemInfo {
  readonly totalBytes: number;
  readonly availableBytes: number;
}

export async function readMemInfo(root = '/'): Promise<MemInfo | null> {
  const text = await readText(join(root, 'proc/meminfo'));
  if (text === null) return null;
  const kb = (key: string): number | null => {
    const match = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return match?.[1] === undefined ? null : Number(match[1]) * 1024;
  };
  const totalBytes = kb('MemTotal');
  const availableBytes = kb('MemAvailable');
  if (totalBytes === null || availableBytes === null) return null;
  return { totalBytes, availableBytes };
}

export type PressureResource = 'cpu' | 'memory' | 'io';

export interface Pressure {
  /** Share of the last 10 s in which some task waited for the resource, in percent. */
  readonly someAvg10: number;
  readonly someAvg60: number;
  /** Share in which every non-idle task waited at once; null where the kernel has no "full" line (cpu before 5.13). */
  readonly fullAvg10: number | null;
}

/** /proc/pressure/<resource> (PSI); null on kernels built without it. */
export async function readPressure(resource: PressureResource, root = '/'): Promise<Pressure | null> {
  const text = await readText(join(root, 'proc/pressure', resource));
  const lines = text?.split('\n') ?? [];
  const some = lines.find((l) => l.startsWith('some '));
  if (!some) return null;
  const avg10 = /avg10=([\d.]+)/.exec(some)?.[1];
  const avg60 = /avg60=([\d.]+)/.exec(some)?.[1];
  if (avg10 === undefined || avg60 === undefined) return null;
  const fullAvg10 = /avg10=([\d.]+)/.exec(lines.find((l) => l.startsWith('full ')) ?? '')?.[1];
  return { someAvg10: Number(avg10), someAvg60: Number(avg60), fullAvg10: fullAvg10 === undefined ? null : Number(fullAvg10) };
}

/** The Pi firmware's throttle bits (`vcgencmd get_throttled`). "now" bits 0-3, "has occurred since boot" bits 16-19. */
export interface ThrottleFlags {
  readonly raw: number;
  readonly underVoltage: boolean;
  readonly frequencyCapped: boolean;
  readonly throttled: boolean;
  readonly softTempLimit: boolean;
  readonly underVoltageOccurred: boolean;
  readonly frequencyCappedOccurred: boolean;
  readonly throttledOccurred: boolean;
  readonly softTempLimitOccurred: boolean;
  /** Where the bits came from; hwmon only knows current under-voltage. */
  readonly source?: 'vcgencmd' | 'hwmon';
}

export const throttleFlagNames = [
  'underVoltage',
  'frequencyCapped',
  'throttled',
  'softTempLimit',
  'underVoltageOccurred',
  'frequencyCappedOccurred',
  'throttledOccurred',
  'softTempLimitOccurred',
] as const satisfies readonly (keyof ThrottleFlags)[];

export function throttleFlagsFromBits(raw: number): ThrottleFlags {
  const bit = (n: number): boolean => (raw & (1 << n)) !== 0;
  return {
    raw,
    underVoltage: bit(0),
    frequencyCapped: bit(1),
    throttled: bit(2),
    softTempLimit: bit(3),
    underVoltageOccurred: bit(16),
    frequencyCappedOccurred: bit(17),
    throttledOccurred: bit(18),
    softTempLimitOccurred: bit(19),
  };
}

/** Parses `throttled=0x50005` (vcgencmd output); null if it does not look like that. */
export function parseThrottled(output: string): ThrottleFlags | null {
  const match = /throttled=(0x[0-9a-fA-F]+)/.exec(output);
  if (!match?.[1]) return null;
  return throttleFlagsFromBits(Number.parseInt(match[1], 16));
}

/** The since-boot bits in words, for reports only: they say what happened, not what happens now. */
export function throttleHistory(flags: ThrottleFlags | null): string[] {
  if (!flags) return [];
  const history: string[] = [];
  if (flags.underVoltageOccurred) history.push('under-voltage since boot');
  if (flags.frequencyCappedOccurred) history.push('frequency capped since boot');
  if (flags.throttledOccurred) history.push('throttled since boot');
  if (flags.softTempLimitOccurred) history.push('soft temperature limit since boot');
  return history;
}

/**
 * vcgencmd under a host root: on the real root, the one on PATH; under a scripted tree, its
 * stand-in at <root>/usr/bin/vcgencmd (absent there: the hwmon alarm is read instead).
 */
export function defaultVcgencmdPath(root: string): string {
  return isRealRoot(root) ? 'vcgencmd' : join(root, 'usr/bin/vcgencmd');
}

function isRealRoot(root: string): boolean {
  return join(root, '/') === '/';
}

export interface ThrottleReaderOptions {
  readonly root?: string;
  /** Path of vcgencmd; null skips it. Default: defaultVcgencmdPath(root). */
  readonly vcgencmdPath?: string | null;
  readonly timeoutMs?: number;
}

function runVcgencmd(path: string, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(path, ['get_throttled'], { timeout: timeoutMs }, (error, stdout) => {
      resolve(error ? null : stdout);
    });
  });
}

/**
 * Throttle flags from vcgencmd; without it (Pi OS Lite images without firmware tools, or the
 * service sandbox denying /dev/vcio), from the `rpi_volt` hwmon under-voltage alarm, which
 * gives only the current under-voltage bit. Null when neither exists (not a Pi).
 */
export async function readThrottleFlags(options: ThrottleReaderOptions = {}): Promise<ThrottleFlags | null> {
  const vcgencmd = options.vcgencmdPath === undefined ? defaultVcgencmdPath(options.root ?? '/') : options.vcgencmdPath;
  if (vcgencmd !== null) {
    const output = await runVcgencmd(vcgencmd, options.timeoutMs ?? 2000);
    const flags = output === null ? null : parseThrottled(output);
    if (flags) return { ...flags, source: 'vcgencmd' };
  }
  const hwmon = join(options.root ?? '/', 'sys/class/hwmon');
  for (const entry of await listDir(hwmon)) {
    if ((await readText(join(hwmon, entry, 'name')))?.trim() !== 'rpi_volt') continue;
    const alarm = (await readText(join(hwmon, entry, 'in0_lcrit_alarm')))?.trim();
    if (alarm === '0' || alarm === '1') return { ...throttleFlagsFromBits(alarm === '1' ? 1 : 0), source: 'hwmon' };
  }
  return null;
}

export interface DiskFree {
  readonly freeBytes: number;
  readonly totalBytes: number;
}

export async function readDiskFree(path: string): Promise<DiskFree | null> {
  try {
    const stats = await statfs(path);
    return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
  } catch {
    return null;
  }
}

export interface ResourceSnapshot {
  /** Wall-clock ms of the sample; null before the first. */
  readonly sampledAtMs: number | null;
  readonly socTempC: number | null;
  /** Busy share of all CPUs since the previous sample, 0..1. */
  readonly cpuUsageRatio: number | null;
  readonly memTotalBytes: number | null;
  readonly memAvailableBytes: number | null;
  readonly cpuPressureSomeAvg10: number | null;
  /** /proc/pressure/memory and /proc/pressure/io, percent. */
  readonly memPressureSomeAvg10: number | null;
  readonly memPressureFullAvg10: number | null;
  readonly ioPressureSomeAvg10: number | null;
  readonly ioPressureFullAvg10: number | null;
  readonly throttle: ThrottleFlags | null;
  readonly diskFreeBytes: number | null;
  readonly diskTotalBytes: number | null;
  /** p99 event-loop delay over the last period, ms (perf_hooks; excludes the 10 ms sampling resolution). */
  readonly eventLoopLagP99Ms: number | null;
  readonly eventLoopLagMaxMs: number | null;
}

const emptySnapshot: ResourceSnapshot = {
  sampledAtMs: null,
  socTempC: null,
  cpuUsageRatio: null,
  memTotalBytes: null,
  memAvailableBytes: null,
  cpuPressureSomeAvg10: null,
  memPressureSomeAvg10: null,
  memPressureFullAvg10: null,
  ioPressureSomeAvg10: null,
  ioPressureFullAvg10: null,
  throttle: null,
  diskFreeBytes: null,
  diskTotalBytes: null,
  eventLoopLagP99Ms: null,
  eventLoopLagMaxMs: null,
};

export interface ResourceMonitorOptions {
  readonly logger: Logger;
  /** Sampling period; a few seconds is plenty for temperature and memory. */
  readonly periodMs: number;
  /** Host root for every /sys and /proc read and the vcgencmd stand-in (config ops.hostRoot). Default '/'. */
  readonly root?: string;
  /** Directory whose filesystem's free space is reported (the data dir); null skips. */
  readonly dataDir: string | null;
  /** Default: defaultVcgencmdPath(root); null skips vcgencmd. */
  readonly vcgencmdPath?: string | null;
  readonly nowMs?: () => number;
}

/** Samples everything every `periodMs`; `snapshot()` returns the latest without any I/O. */
export class ResourceMonitor {
  private timer: NodeJS.Timeout | null = null;
  private latest: ResourceSnapshot = emptySnapshot;
  private previousCpu: CpuTimes | null = null;
  private lagHistogram: IntervalHistogram | null = null;
  private sampling: Promise<void> | null = null;
  private vcgencmdFailures = 0;

  constructor(private readonly options: ResourceMonitorOptions) {}

  async start(): Promise<void> {
    if (this.timer) return;
    this.lagHistogram = monitorEventLoopDelay({ resolution: 10 });
    this.lagHistogram.enable();
    await this.sample();
    this.timer = setInterval(() => {
      // Skip a tick rather than stack samples when the disk or vcgencmd is slow.
      this.sampling ??= this.sample().finally(() => {
        this.sampling = null;
      });
    }, this.options.periodMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.lagHistogram?.disable();
    this.lagHistogram = null;
    await this.sampling;
  }

  snapshot(): ResourceSnapshot {
    return this.latest;
  }

  /** Takes one sample now (start() does the first; tests call it directly). */
  async sample(): Promise<void> {
    try {
      const root = this.options.root ?? '/';
      const vcgencmdPath = this.options.vcgencmdPath === undefined ? defaultVcgencmdPath(root) : this.options.vcgencmdPath;
      const [socTempC, cpu, mem, cpuPressure, memPressure, ioPressure, throttle, disk] = await Promise.all([
        readSocTemperatureC(root),
        readCpuTimes(root),
        readMemInfo(root),
        readPressure('cpu', root),
        readPressure('memory', root),
        readPressure('io', root),
        readThrottleFlags({ root, vcgencmdPath: this.vcgencmdFailures < 3 ? vcgencmdPath : null }),
        this.options.dataDir === null ? Promise.resolve(null) : readDiskFree(this.options.dataDir),
      ]);
      // Three misses in a row mean no vcgencmd (not a Pi, not installed, sandboxed): stop spawning it.
      this.vcgencmdFailures = throttle?.source === 'vcgencmd' ? 0 : this.vcgencmdFailures + 1;
      const usage = cpu && this.previousCpu ? cpuUsageRatio(this.previousCpu, cpu) : null;
      if (cpu) this.previousCpu = cpu;
      const histogram = this.lagHistogram;
      // perf_hooks reports nanoseconds, and includes the sampling resolution itself.
      const lagP99Ms = histogram && histogram.count > 0 ? Math.max(0, histogram.percentile(99) / 1e6 - 10) : null;
      const lagMaxMs = histogram && histogram.count > 0 ? Math.max(0, histogram.max / 1e6 - 10) : null;
      histogram?.reset();
      this.latest = {
        sampledAtMs: (this.options.nowMs ?? Date.now)(),
        socTempC,
        cpuUsageRatio: usage,
        memTotalBytes: mem?.totalBytes ?? null,
        memAvailableBytes: mem?.availableBytes ?? null,
        cpuPressureSomeAvg10: cpuPressure?.someAvg10 ?? null,
        memPressureSomeAvg10: memPressure?.someAvg10 ?? null,
        memPressureFullAvg10: memPressure?.fullAvg10 ?? null,
        ioPressureSomeAvg10: ioPressure?.someAvg10 ?? null,
        ioPressureFullAvg10: ioPressure?.fullAvg10 ?? null,
        throttle,
        diskFreeBytes: disk?.freeBytes ?? null,
        diskTotalBytes: disk?.totalBytes ?? null,
        eventLoopLagP99Ms: lagP99Ms,
        eventLoopLagMaxMs: lagMaxMs,
      };
    } catch (error) {
      // The readers do not throw; this is for a bug in this method, which must not kill the timer.
      this.options.logger.warn({ err: error }, 'resource sample failed');
    }
  }
}
