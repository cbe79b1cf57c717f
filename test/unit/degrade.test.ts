import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { throttleFlagsFromBits, type ResourceSnapshot } from '../../src/ops/resources.js';
import { DegradePolicy, type DegradeDecision, type DegradeSettings } from '../../src/transcribe/degrade.js';

/** The documented defaults, from the config schema itself (one source of truth). */
const defaults: DegradeSettings = loadConfig({ path: null, env: {} }).config.degradation;
const base = { threads: 3, beamSize: 2, alsaPeriodMs: 50, alsaBufferMs: 500 };
/** ops.resourceSampleMs default: the policy sees one sample per period. */
const PERIOD_MS = 5000;
const MB = 1_048_576;

const calm: ResourceSnapshot = {
  sampledAtMs: 0,
  socTempC: 50,
  cpuUsageRatio: 0.2,
  memTotalBytes: 4e9,
  memAvailableBytes: 3e9,
  cpuPressureSomeAvg10: 1,
  memPressureSomeAvg10: 0,
  memPressureFullAvg10: 0,
  ioPressureSomeAvg10: 0,
  ioPressureFullAvg10: 0,
  throttle: throttleFlagsFromBits(0),
  diskFreeBytes: 10_000 * MB,
  diskTotalBytes: 30_000 * MB,
  eventLoopLagP99Ms: 1,
  eventLoopLagMaxMs: 2,
};

interface Transition {
  readonly atS: number;
  readonly step: string;
}

interface TraceResult {
  readonly policy: DegradePolicy;
  readonly transitions: Transition[];
  /** Tier or threads changed: a /load or a whisper-server restart. */
  readonly engineChanges: { atS: number; tier: string; threads: number }[];
  readonly reasonChanges: { atS: number; reasons: readonly string[] }[];
  readonly last: DegradeDecision;
  readonly endMs: number;
}

/** Feeds one sample per PERIOD_MS (the first at t = 0) and records every decision that changed. */
function trace(samples: readonly Partial<ResourceSnapshot>[], settings: DegradeSettings = defaults, policy = new DegradePolicy(settings, base, 0)): TraceResult {
  const transitions: Transition[] = [];
  const engineChanges: TraceResult['engineChanges'] = [];
  const reasonChanges: TraceResult['reasonChanges'] = [];
  let endMs = 0;
  samples.forEach((sample, index) => {
    const atMs = index * PERIOD_MS;
    endMs = atMs;
    const change = policy.update({ ...calm, ...sample, sampledAtMs: atMs }, atMs);
    const atS = atMs / 1000;
    if (change.kind === 'transition') {
      transitions.push({ atS, step: `${change.from.name}>${change.decision.name}` });
      if (change.from.tier !== change.decision.tier || change.from.threads !== change.decision.threads) {
        engineChanges.push({ atS, tier: change.decision.tier, threads: change.decision.threads });
      }
    }
    if (change.kind === 'reasons') reasonChanges.push({ atS, reasons: change.decision.reasons });
  });
  // The budget holds in every trace: one engine change per dwell period at most.
  for (let i = 1; i < engineChanges.length; i += 1) {
    expect((engineChanges[i]?.atS ?? 0) - (engineChanges[i - 1]?.atS ?? 0)).toBeGreaterThanOrEqual(settings.dwellMs / 1000);
  }
  return { policy, transitions, engineChanges, reasonChanges, last: policy.decision, endMs };
}

const repeat = (sample: Partial<ResourceSnapshot>, count: number): Partial<ResourceSnapshot>[] => Array.from({ length: count }, () => sample);
const minutes = (n: number): number => (n * 60_000) / PERIOD_MS;
const steps = (result: TraceResult): string[] => result.transitions.map((transition) => transition.step);

describe('degradation policy over scripted traces', () => {
  it('a cool, idle Pi transcribes at full quality with the configured settings', () => {
    const result = trace(repeat({}, minutes(5)));
    expect(result.transitions).toEqual([]);
    expect(result.last).toMatchObject({ level: 0, name: 'normal', reasons: [], tier: 'normal', threads: 3, beamSize: 2, audioCtxMarginFrames: 64, alsaPeriodMs: 50, alsaBufferMs: 500, defer: false });
  });

  it('heat ramp: up through each level at its threshold, down again below threshold minus margin after the dwell', () => {
    // +0.5 C per sample (6 C a minute) from 60 to 86 C, then cooling at 1.2 C a minute down to 55 C.
    const up = Array.from({ length: 53 }, (_, i) => ({ socTempC: 60 + 0.5 * i }));
    const down = Array.from({ length: 311 }, (_, i) => ({ socTempC: 86 - 0.1 * i }));
    const result = trace([...up, ...down, ...repeat({ socTempC: 55 }, minutes(3))]);
    expect(steps(result)).toEqual([
      'normal>light',
      'light>constrained',
      'constrained>deferred',
      'deferred>constrained',
      'constrained>light',
      'light>normal',
    ]);
    // 70 C is reached at 100 s; three samples in a row there make 110 s. 77 C at 170 s -> 180 s; 82 C at 220 s -> 230 s.
    expect(result.transitions.slice(0, 3).map((t) => t.atS)).toEqual([110, 180, 230]);
    // Down: each level is left a dwell after the inputs eased below threshold minus margin.
    const [, , , toConstrained, toLight, toNormal] = result.transitions;
    expect(toConstrained?.atS).toBeGreaterThanOrEqual(260 + 60);
    expect((toLight?.atS ?? 0) - (toConstrained?.atS ?? 0)).toBeGreaterThanOrEqual(60);
    expect((toNormal?.atS ?? 0) - (toLight?.atS ?? 0)).toBeGreaterThanOrEqual(60);
    // Deferring keeps the constrained engine, so entering and leaving it swaps nothing.
    expect(result.engineChanges.map((change) => `${change.tier}/${change.threads}`)).toEqual(['normal/2', 'constrained/1', 'normal/2', 'normal/3']);
  });

  it('hover: 76.6 / 77.4 C alternating for 10 minutes makes at most 2 transitions', () => {
    const hover = Array.from({ length: minutes(10) }, (_, i) => ({ socTempC: i % 2 === 0 ? 76.6 : 77.4 }));
    const cold = trace(hover);
    expect(cold.transitions.length).toBeLessThanOrEqual(2);
    expect(steps(cold)).toEqual(['normal>light']);
    expect(cold.reasonChanges).toEqual([]);
    // Already constrained when the hover starts: it stays there (76.6 is above 77 - 3).
    const warm = trace([...repeat({ socTempC: 78 }, minutes(1)), ...hover]);
    expect(warm.transitions.filter((t) => t.atS >= 60)).toEqual([]);
    expect(warm.last.name).toBe('constrained');
  });

  it('a 5 s spike to 84 C changes nothing; a critical one defers without touching the engine', () => {
    const spike = trace([...repeat({}, minutes(1)), { socTempC: 84 }, ...repeat({}, minutes(5))]);
    expect(spike.transitions).toEqual([]);
    expect(spike.engineChanges).toEqual([]);
    const twoSamples = trace([...repeat({}, minutes(1)), { socTempC: 84 }, { socTempC: 84 }, ...repeat({}, minutes(5))]);
    expect(twoSamples.transitions).toEqual([]);
    // At the firmware's hard limit one sample is enough; jobs wait, the model and threads stay.
    const critical = trace([...repeat({}, minutes(1)), { socTempC: 86 }, ...repeat({}, minutes(3))]);
    expect(steps(critical)).toEqual(['normal>deferred', 'deferred>normal']);
    expect(critical.transitions[0]?.atS).toBe(60);
    expect(critical.transitions[1]?.atS).toBeGreaterThanOrEqual(120);
    expect(critical.engineChanges).toEqual([]);
  });

  it('under-voltage now degrades; under-voltage since boot is only history', () => {
    const history = trace(repeat({ throttle: throttleFlagsFromBits(0x50000) }, minutes(5)));
    expect(history.transitions).toEqual([]);
    expect(history.last.reasons).toEqual([]);
    const now = trace([...repeat({ throttle: throttleFlagsFromBits(0x50001) }, 3), ...repeat({ throttle: throttleFlagsFromBits(0x50000) }, minutes(2))]);
    expect(now.transitions).toEqual([
      { atS: 10, step: 'normal>light' },
      { atS: 75, step: 'light>normal' },
    ]);
    // Throttled now (bit 2) is worse than under-voltage: the smaller model.
    const throttled = trace(repeat({ throttle: throttleFlagsFromBits(0x4) }, 3));
    expect(throttled.last).toMatchObject({ name: 'constrained', reasons: ['CPU throttled now'] });
  });

  it('memory squeeze: low MemAvailable takes the smaller model, near-OOM defers at once, thrashing defers', () => {
    const squeeze = trace([
      ...repeat({ memAvailableBytes: 400 * MB }, 2),
      ...repeat({ memAvailableBytes: 120 * MB }, 3),
      { memAvailableBytes: 40 * MB },
      // 170 MB is above 150 but not 150 + 30: the constrained level holds.
      ...repeat({ memAvailableBytes: 170 * MB }, minutes(2)),
      ...repeat({ memAvailableBytes: 400 * MB }, minutes(2)),
    ]);
    expect(squeeze.transitions.slice(0, 2)).toEqual([
      { atS: 20, step: 'normal>constrained' },
      { atS: 25, step: 'constrained>deferred' },
    ]);
    expect(steps(squeeze)).toEqual(['normal>constrained', 'constrained>deferred', 'deferred>constrained', 'constrained>normal']);
    expect(squeeze.transitions[2]?.atS).toBe(90);
    const pressure = trace(repeat({ memPressureSomeAvg10: 25 }, 3));
    expect(pressure.last).toMatchObject({ name: 'constrained', reasons: ['memory pressure >= 20%'] });
    const thrashing = trace(repeat({ memPressureSomeAvg10: 60, memPressureFullAvg10: 15 }, 3));
    expect(thrashing.last).toMatchObject({ name: 'deferred', reasons: ['memory pressure >= 20%', 'memory thrashing (full pressure >= 10%)'] });
  });

  it('disk nearly full: work waits so recordings keep the space; no engine change', () => {
    const disk = trace([
      ...repeat({ diskFreeBytes: 250 * MB }, 3),
      ...repeat({ diskFreeBytes: 350 * MB }, minutes(2)),
      ...repeat({ diskFreeBytes: 500 * MB }, minutes(2)),
    ]);
    expect(disk.transitions).toEqual([
      { atS: 10, step: 'normal>deferred' },
      { atS: 195, step: 'deferred>normal' },
    ]);
    expect(disk.engineChanges).toEqual([]);
  });

  it('io pressure: some pressure costs a thread, io stalls the smaller model', () => {
    expect(trace(repeat({ ioPressureSomeAvg10: 50 }, 3)).last).toMatchObject({ name: 'light', threads: 2, beamSize: 1, reasons: ['io pressure >= 40%'] });
    expect(trace(repeat({ ioPressureSomeAvg10: 50, ioPressureFullAvg10: 45 }, 3)).last).toMatchObject({ name: 'constrained', threads: 1, tier: 'constrained' });
  });

  it('a reason that changes within a level is not a transition', () => {
    const policy = new DegradePolicy(defaults, base, 0);
    const result = trace([...repeat({ socTempC: 72 }, 3), ...repeat({ socTempC: 72, cpuPressureSomeAvg10: 50 }, 3), ...repeat({ socTempC: 72, cpuPressureSomeAvg10: 50 }, 3)], defaults, policy);
    expect(steps(result)).toEqual(['normal>light']);
    expect(result.reasonChanges).toEqual([{ atS: 25, reasons: ['temperature >= 70 C', 'CPU pressure >= 40%'] }]);
    expect(result.last.sinceMs).toBe(10_000);
    // Another sample with the same readings: nothing at all.
    expect(policy.update({ ...calm, socTempC: 72, cpuPressureSomeAvg10: 50 }, 50_000).kind).toBe('none');
  });

  it('at most one engine change per dwell: a second rise waits for the budget', () => {
    const result = trace([...repeat({ socTempC: 72 }, 3), ...repeat({ socTempC: 79 }, minutes(2))]);
    expect(result.transitions).toEqual([
      { atS: 10, step: 'normal>light' },
      { atS: 70, step: 'light>constrained' },
    ]);
  });

  it('missing readings (not a Pi) are no pressure', () => {
    const unknown = { socTempC: null, throttle: null, cpuPressureSomeAvg10: null, memPressureSomeAvg10: null, memPressureFullAvg10: null, ioPressureSomeAvg10: null, ioPressureFullAvg10: null, memAvailableBytes: null, diskFreeBytes: null };
    expect(trace(repeat(unknown, 10)).transitions).toEqual([]);
  });

  it('the table says what each level does', () => {
    const settings: DegradeSettings = { ...defaults, levels: { ...defaults.levels, light: { ...defaults.levels.light, threadsDelta: -2, beamSize: null, alsaBufferMs: 800 } } };
    expect(trace(repeat({ socTempC: 72 }, 3), settings).last).toMatchObject({ name: 'light', threads: 1, beamSize: 2, alsaPeriodMs: 50, alsaBufferMs: 800 });
    expect(trace(repeat({ socTempC: 79 }, 3)).last).toMatchObject({ name: 'constrained', tier: 'constrained', threads: 1, beamSize: 1, audioCtxMarginFrames: 32, alsaPeriodMs: 100, alsaBufferMs: 1000 });
  });

  it('keeps the transitions by from/to and the time spent per level, for /metrics', () => {
    const result = trace([...repeat({ socTempC: 72 }, 3), ...repeat({}, minutes(2))]);
    expect(result.policy.transitions()).toEqual([
      { from: 'normal', to: 'light', count: 1 },
      { from: 'light', to: 'normal', count: 1 },
    ]);
    const seconds = result.policy.secondsPerLevel(result.endMs);
    expect(seconds).toEqual({ normal: 10 + (result.endMs / 1000 - 75), light: 65, constrained: 0, deferred: 0 });
  });
});
