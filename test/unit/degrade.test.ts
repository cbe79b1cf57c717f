import { describe, expect, it } from 'vitest';
import type { ResourceSnapshot } from '../../src/ops/resources.js';
import { throttleFlagsFromBits } from '../../src/ops/resources.js';
import { DEFAULT_DEGRADE_THRESHOLDS, DegradePolicy, pressureLevel } from '../../src/transcribe/degrade.js';

const calm: ResourceSnapshot = {
  sampledAtMs: 0,
  socTempC: 50,
  cpuUsageRatio: 0.2,
  memTotalBytes: 4e9,
  memAvailableBytes: 3e9,
  cpuPressureSomeAvg10: 1,
  throttle: throttleFlagsFromBits(0),
  diskFreeBytes: 1e10,
  diskTotalBytes: 3e10,
  eventLoopLagP99Ms: 1,
  eventLoopLagMaxMs: 2,
};

describe('graceful degradation', () => {
  it('a cool, idle Pi transcribes at full quality', () => {
    expect(pressureLevel(calm, DEFAULT_DEGRADE_THRESHOLDS)).toEqual({ level: 0, reasons: [] });
  });

  it('heat steps through fewer threads, the smaller model, then deferring', () => {
    expect(pressureLevel({ ...calm, socTempC: 72 }, DEFAULT_DEGRADE_THRESHOLDS).level).toBe(1);
    expect(pressureLevel({ ...calm, socTempC: 79 }, DEFAULT_DEGRADE_THRESHOLDS).level).toBe(2);
    const hot = pressureLevel({ ...calm, socTempC: 84 }, DEFAULT_DEGRADE_THRESHOLDS);
    expect(hot.level).toBe(3);
    expect(hot.reasons).toEqual(['84 C']);
  });

  it('throttling, CPU pressure and low memory each raise the level; CPU pressure alone never defers', () => {
    expect(pressureLevel({ ...calm, throttle: throttleFlagsFromBits(0x4) }, DEFAULT_DEGRADE_THRESHOLDS).level).toBe(2);
    expect(pressureLevel({ ...calm, throttle: throttleFlagsFromBits(0x1) }, DEFAULT_DEGRADE_THRESHOLDS).level).toBe(1);
    // "Has occurred" bits alone are history, not pressure.
    expect(pressureLevel({ ...calm, throttle: throttleFlagsFromBits(0x50000) }, DEFAULT_DEGRADE_THRESHOLDS).level).toBe(0);
    expect(pressureLevel({ ...calm, cpuPressureSomeAvg10: 99 }, DEFAULT_DEGRADE_THRESHOLDS).level).toBe(2);
    expect(pressureLevel({ ...calm, memAvailableBytes: 100 * 1_048_576 }, DEFAULT_DEGRADE_THRESHOLDS).level).toBe(2);
    expect(pressureLevel({ ...calm, memAvailableBytes: 10 * 1_048_576 }, DEFAULT_DEGRADE_THRESHOLDS).level).toBe(3);
  });

  it('missing readings (not a Pi) are no pressure', () => {
    const unknown = { ...calm, socTempC: null, throttle: null, cpuPressureSomeAvg10: null, memAvailableBytes: null };
    expect(pressureLevel(unknown, DEFAULT_DEGRADE_THRESHOLDS).level).toBe(0);
  });

  it('decisions: threads and model tier follow the level', () => {
    const policy = new DegradePolicy(3);
    expect(policy.update(calm, 0)).toMatchObject({ level: 0, tier: 'normal', threads: 3, defer: false });
    expect(policy.update({ ...calm, socTempC: 72 }, 1)).toMatchObject({ level: 1, tier: 'normal', threads: 2 });
    expect(policy.update({ ...calm, socTempC: 79 }, 2)).toMatchObject({ level: 2, tier: 'constrained', threads: 1 });
    expect(policy.update({ ...calm, socTempC: 90 }, 3)).toMatchObject({ level: 3, defer: true });
  });

  it('pressure raises the level at once, and it falls one step per calm period', () => {
    const policy = new DegradePolicy(2, { ...DEFAULT_DEGRADE_THRESHOLDS, recoverAfterMs: 1000 });
    policy.update({ ...calm, socTempC: 84 }, 0);
    expect(policy.decision.level).toBe(3);
    expect(policy.update(calm, 100).level).toBe(3);
    expect(policy.update(calm, 900).level).toBe(3);
    expect(policy.update(calm, 1100).level).toBe(2);
    expect(policy.update(calm, 1500).level).toBe(2);
    expect(policy.update(calm, 2200).level).toBe(1);
    // New pressure interrupts the recovery.
    expect(policy.update({ ...calm, socTempC: 79 }, 2300).level).toBe(2);
    expect(policy.update(calm, 3400).level).toBe(2);
    expect(policy.update(calm, 4500).level).toBe(1);
  });
});
