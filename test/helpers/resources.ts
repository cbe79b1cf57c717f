import type { ResourceSnapshot } from '../../src/ops/resources.js';

/** A cool, idle Pi: every policy input well inside its normal range. Override what a test needs. */
export function idleSnapshot(overrides: Partial<ResourceSnapshot> = {}): ResourceSnapshot {
  return {
    sampledAtMs: 0,
    socTempC: 50,
    cpuUsageRatio: 0.1,
    memTotalBytes: 4e9,
    memAvailableBytes: 3e9,
    cpuPressureSomeAvg10: 0,
    memPressureSomeAvg10: 0,
    memPressureFullAvg10: 0,
    ioPressureSomeAvg10: 0,
    ioPressureFullAvg10: 0,
    throttle: null,
    diskFreeBytes: 1e10,
    diskTotalBytes: 3e10,
    eventLoopLagP99Ms: 1,
    eventLoopLagMaxMs: 1,
    ...overrides,
  };
}
