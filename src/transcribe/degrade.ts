import type { ResourceSnapshot } from '../ops/resources.js';

/**
 * Graceful degradation: what the box's temperature, throttling, CPU pressure and memory allow
 * the transcriber to use. Recording itself is never degraded; transcription gets a smaller
 * model, fewer threads, or waits (jobs stay queued on disk, never dropped).
 *
 *   0 normal       normal model tier, all transcription threads
 *   1 light        normal tier, one thread fewer (leaves a core for capture and the system)
 *   2 constrained  constrained tier (e.g. tiny.en q8_0), one thread
 *   3 deferred     no transcription until the pressure is gone
 *
 * Pressure raises the level at once; the level only falls after the pressure has stayed away
 * for `recoverAfterMs`, so a Pi hovering at its thermal limit does not flap between models.
 */

export type DegradeLevel = 0 | 1 | 2 | 3;

export const DEGRADE_LEVEL_NAMES = ['normal', 'light', 'constrained', 'deferred'] as const;

export interface DegradeThresholds {
  /** SoC temperature where each level starts (a Pi starts soft throttling at 80 C, hard at 85 C). */
  readonly tempLightC: number;
  readonly tempConstrainedC: number;
  readonly tempDeferC: number;
  /** /proc/pressure/cpu "some avg10" (percent of time some task waited for a CPU). */
  readonly cpuPressureLightPercent: number;
  readonly cpuPressureConstrainedPercent: number;
  /** MemAvailable below which the smaller model is used, and below which work waits. */
  readonly memConstrainedBytes: number;
  readonly memDeferBytes: number;
  readonly recoverAfterMs: number;
}

export const DEFAULT_DEGRADE_THRESHOLDS: DegradeThresholds = {
  tempLightC: 70,
  tempConstrainedC: 77,
  tempDeferC: 82,
  cpuPressureLightPercent: 40,
  cpuPressureConstrainedPercent: 75,
  memConstrainedBytes: 150 * 1_048_576,
  memDeferBytes: 60 * 1_048_576,
  recoverAfterMs: 30_000,
};

export interface DegradeDecision {
  readonly level: DegradeLevel;
  readonly name: (typeof DEGRADE_LEVEL_NAMES)[number];
  readonly tier: 'normal' | 'constrained';
  readonly threads: number;
  readonly defer: boolean;
  /** Why the level is above 0, in words for health, STATUS= and the logs. */
  readonly reasons: readonly string[];
}

/** The level the resources call for right now, and why (no hysteresis). */
export function pressureLevel(snapshot: ResourceSnapshot, t: DegradeThresholds): { level: DegradeLevel; reasons: string[] } {
  let level: DegradeLevel = 0;
  const reasons: string[] = [];
  const raise = (to: DegradeLevel, reason: string): void => {
    if (to > level) level = to;
    reasons.push(reason);
  };
  const temp = snapshot.socTempC;
  if (temp !== null) {
    if (temp >= t.tempDeferC) raise(3, `${temp.toFixed(0)} C`);
    else if (temp >= t.tempConstrainedC) raise(2, `${temp.toFixed(0)} C`);
    else if (temp >= t.tempLightC) raise(1, `${temp.toFixed(0)} C`);
  }
  const throttle = snapshot.throttle;
  if (throttle) {
    if (throttle.throttled || throttle.frequencyCapped) raise(2, 'CPU throttled');
    else if (throttle.underVoltage) raise(1, 'under-voltage');
    if (throttle.softTempLimit) raise(1, 'soft temperature limit');
  }
  const pressure = snapshot.cpuPressureSomeAvg10;
  if (pressure !== null) {
    if (pressure >= t.cpuPressureConstrainedPercent) raise(2, `CPU pressure ${pressure.toFixed(0)}%`);
    else if (pressure >= t.cpuPressureLightPercent) raise(1, `CPU pressure ${pressure.toFixed(0)}%`);
  }
  const mem = snapshot.memAvailableBytes;
  if (mem !== null) {
    if (mem < t.memDeferBytes) raise(3, `${Math.round(mem / 1_048_576)} MB free memory`);
    else if (mem < t.memConstrainedBytes) raise(2, `${Math.round(mem / 1_048_576)} MB free memory`);
  }
  return { level, reasons };
}

export function decisionFor(level: DegradeLevel, maxThreads: number, reasons: readonly string[]): DegradeDecision {
  const threads = level === 0 ? maxThreads : level === 1 ? Math.max(1, maxThreads - 1) : 1;
  return {
    level,
    name: DEGRADE_LEVEL_NAMES[level],
    tier: level >= 2 ? 'constrained' : 'normal',
    threads,
    defer: level === 3,
    reasons,
  };
}

/** Applies hysteresis to the pressure levels of successive snapshots. */
export class DegradePolicy {
  private current: DegradeDecision;
  private calmSinceMs: number | null = null;

  constructor(
    private readonly maxThreads: number,
    private readonly thresholds: DegradeThresholds = DEFAULT_DEGRADE_THRESHOLDS,
  ) {
    this.current = decisionFor(0, maxThreads, []);
  }

  get decision(): DegradeDecision {
    return this.current;
  }

  /** Feeds one snapshot; returns the decision now in force (the same object if nothing changed). */
  update(snapshot: ResourceSnapshot, nowMs: number): DegradeDecision {
    const { level, reasons } = pressureLevel(snapshot, this.thresholds);
    if (level >= this.current.level) {
      this.calmSinceMs = null;
      if (level > this.current.level || reasons.join() !== this.current.reasons.join()) {
        this.current = decisionFor(level, this.maxThreads, reasons);
      }
      return this.current;
    }
    // Lower pressure: step down one level at a time, each after a calm period.
    this.calmSinceMs ??= nowMs;
    if (nowMs - this.calmSinceMs >= this.thresholds.recoverAfterMs) {
      this.calmSinceMs = nowMs;
      this.current = decisionFor((this.current.level - 1) as DegradeLevel, this.maxThreads, reasons);
    }
    return this.current;
  }
}
