import { statfs } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { AudioSourceStatus } from '../hardware/types.js';
import { worstStatus, type CheckReport, type HealthCheckResult, type HealthReport, type HealthStatus } from '../domain/health.js';

/**
 * Named health checks behind one cached report, for `GET /healthz`.
 *
 * A check gets an AbortSignal and resolves to healthy, degraded or unhealthy with a message a
 * person can act on. A check that throws, rejects or runs past its timeout counts as unhealthy
 * with the error as its message: a broken check must never look like a healthy part. The
 * report is cached for `cacheMs`, and concurrent callers share one run, so a dashboard polling
 * every second costs one run per cache period.
 */
export type HealthCheck = (signal: AbortSignal) => Promise<HealthCheckResult>;

export interface HealthRegistryOptions {
  /** How long a report is reused. */
  readonly cacheMs: number;
  /** Default per-check timeout. */
  readonly timeoutMs: number;
  readonly logger?: Logger;
  /** Wall clock in ms; injected for tests. */
  readonly nowMs?: () => number;
}

interface Registered {
  readonly check: HealthCheck;
  readonly timeoutMs: number;
}

export class HealthRegistry {
  private readonly checks = new Map<string, Registered>();
  private cached: { report: HealthReport; atMs: number } | null = null;
  private inFlight: Promise<HealthReport> | null = null;

  constructor(private readonly options: HealthRegistryOptions) {}

  register(name: string, check: HealthCheck, options: { timeoutMs?: number } = {}): void {
    if (this.checks.has(name)) throw new Error(`health check "${name}" is already registered`);
    this.checks.set(name, { check, timeoutMs: options.timeoutMs ?? this.options.timeoutMs });
    this.cached = null;
  }

  unregister(name: string): void {
    this.checks.delete(name);
    this.cached = null;
  }

  /** The cached report if it is fresh, otherwise a new run (shared with concurrent callers). */
  run(): Promise<HealthReport> {
    const now = this.now();
    if (this.cached && now - this.cached.atMs < this.options.cacheMs) return Promise.resolve(this.cached.report);
    this.inFlight ??= this.runAll().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Runs every check now, ignoring the cache. */
  async runAll(): Promise<HealthReport> {
    const entries = [...this.checks.entries()];
    const results = await Promise.all(entries.map(([name, registered]) => this.runOne(name, registered)));
    let status: HealthStatus = 'healthy';
    const checks: Record<string, CheckReport> = {};
    entries.forEach(([name], index) => {
      const result = results[index];
      if (!result) return;
      checks[name] = result;
      status = worstStatus(status, result.status);
    });
    const atMs = this.now();
    const report: HealthReport = { status, checkedAt: new Date(atMs).toISOString(), checks };
    this.cached = { report, atMs };
    return report;
  }

  private async runOne(name: string, registered: Registered): Promise<CheckReport> {
    const startedMs = performance.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<HealthCheckResult>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new Error(`timed out after ${registered.timeoutMs} ms`));
        resolve({ status: 'unhealthy', message: `check timed out after ${registered.timeoutMs} ms` });
      }, registered.timeoutMs);
    });
    let result: HealthCheckResult;
    try {
      result = await Promise.race([registered.check(controller.signal), timeout]);
    } catch (error) {
      result = { status: 'unhealthy', message: `check failed: ${error instanceof Error ? error.message : String(error)}` };
    } finally {
      clearTimeout(timer);
    }
    if (result.status !== 'healthy') this.options.logger?.debug({ check: name, ...result }, 'health check not healthy');
    return {
      ...result,
      checkedAt: new Date(this.now()).toISOString(),
      durationMs: Math.round((performance.now() - startedMs) * 10) / 10,
    };
  }

  private now(): number {
    return (this.options.nowMs ?? Date.now)();
  }
}

// ---------------------------------------------------------------------------------------------
// Ready-made checks. Each takes its inputs as paths or functions so the same check runs on the
// Pi, in the simulator and in tests.

export interface DiskSpaceCheckOptions {
  /** A directory on the filesystem that holds recordings and the database. */
  readonly path: string;
  /** Below this, transcription waits (the degradation policy's `diskFreeMinMbDefer`): degraded. */
  readonly deferBelowMb: number;
  /** Below this, new takes are refused (`recorder.minFreeMb`): unhealthy. */
  readonly refuseBelowMb: number;
}

/** Free space of the data filesystem (space available to unprivileged users, as the service is). */
export function diskSpaceCheck(options: DiskSpaceCheckOptions): HealthCheck {
  return async () => {
    const stats = await statfs(options.path);
    const freeMb = (stats.bavail * stats.bsize) / 1_048_576;
    const totalMb = (stats.blocks * stats.bsize) / 1_048_576;
    const freePercent = totalMb > 0 ? (100 * freeMb) / totalMb : 0;
    const details = { freeMb: Math.round(freeMb), totalMb: Math.round(totalMb), freePercent: Math.round(freePercent * 10) / 10 };
    const text = `${details.freeMb} MB free (${details.freePercent}%)`;
    if (freeMb < options.refuseBelowMb) {
      return { status: 'unhealthy', message: `disk nearly full: ${text}; new recordings are refused below ${options.refuseBelowMb} MB`, details };
    }
    if (freeMb < options.deferBelowMb) {
      return { status: 'degraded', message: `disk space low: ${text}; transcription waits below ${options.deferBelowMb} MB`, details };
    }
    return { status: 'healthy', message: text, details };
  };
}

/** The database accepts a write; `probe` is the lead's (e.g. a write in a rolled-back transaction). */
export function databaseCheck(probe: () => void | Promise<void>): HealthCheck {
  return async () => {
    await probe();
    return { status: 'healthy', message: 'database writable' };
  };
}

export interface ClockCheckOptions {
  /** When this build was made; a clock behind it is certainly wrong. */
  readonly buildTimeMs: number;
  readonly minYear?: number;
  readonly nowMs?: () => number;
}

/**
 * A Pi has no RTC: until NTP syncs it boots with the time of the last shutdown (fake-hwclock)
 * or 1970. Timestamps on recordings would be wrong, so say so.
 */
export function clockCheck(options: ClockCheckOptions): HealthCheck {
  return () => {
    const now = (options.nowMs ?? Date.now)();
    const minYear = options.minYear ?? 2024;
    const iso = new Date(now).toISOString();
    if (new Date(now).getUTCFullYear() < minYear) {
      return Promise.resolve({ status: 'degraded', message: `clock not set: ${iso} is before ${minYear}`, details: { now: iso } } as const);
    }
    if (now < options.buildTimeMs) {
      return Promise.resolve({
        status: 'degraded',
        message: `clock behind build time: ${iso} < ${new Date(options.buildTimeMs).toISOString()}`,
        details: { now: iso },
      } as const);
    }
    return Promise.resolve({ status: 'healthy', message: `clock ${iso}` } as const);
  };
}

export interface TemperatureCheckOptions {
  /** SoC temperature in degrees C, null when unknown (not a Pi). */
  readonly readTempC: () => number | null;
  readonly degradedAtC: number;
  readonly unhealthyAtC: number;
}

export function temperatureCheck(options: TemperatureCheckOptions): HealthCheck {
  return () => {
    const tempC = options.readTempC();
    if (tempC === null) return Promise.resolve({ status: 'healthy', message: 'no temperature sensor' } as const);
    const details = { tempC };
    const text = `${tempC.toFixed(1)} C`;
    if (tempC >= options.unhealthyAtC) return Promise.resolve({ status: 'unhealthy', message: `overheating: ${text}`, details } as const);
    if (tempC >= options.degradedAtC) return Promise.resolve({ status: 'degraded', message: `hot: ${text}`, details } as const);
    return Promise.resolve({ status: 'healthy', message: text, details } as const);
  };
}

export interface AudioSourceCheckOptions {
  readonly status: () => AudioSourceStatus;
  /** Frames older than this mean the microphone stopped delivering. */
  readonly maxFrameAgeMs: number;
  readonly nowMs?: () => number;
}

export function audioSourceCheck(options: AudioSourceCheckOptions): HealthCheck {
  return () => {
    const current = options.status();
    const now = (options.nowMs ?? Date.now)();
    const ageMs = current.lastFrameAtMs === null ? null : now - current.lastFrameAtMs;
    const details = { state: current.state, restarts: current.restarts, overruns: current.overruns, lastFrameAgeMs: ageMs, lastError: current.lastError };
    const why = current.lastError === null ? '' : `: ${current.lastError}`;
    switch (current.state) {
      case 'running':
        if (ageMs !== null && ageMs <= options.maxFrameAgeMs) return Promise.resolve({ status: 'healthy', message: 'capturing', details } as const);
        return Promise.resolve({
          status: 'unhealthy',
          message: ageMs === null ? 'no frames yet' : `no frames for ${Math.round(ageMs / 1000)} s`,
          details,
        } as const);
      case 'starting':
      case 'restarting':
        return Promise.resolve({ status: 'degraded', message: `microphone ${current.state}${why}`, details } as const);
      case 'stopped':
        return Promise.resolve({ status: 'degraded', message: 'capture stopped', details } as const);
      case 'failed':
        return Promise.resolve({ status: 'unhealthy', message: `microphone failed${why}`, details } as const);
    }
  };
}
