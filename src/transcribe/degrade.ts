import type { ResourceSnapshot } from '../ops/resources.js';

/**
 * Graceful degradation: what the box's temperature, throttling, pressure (CPU, memory, io),
 * memory and disk allow the transcriber to use. Recording itself is never degraded;
 * transcription gets a smaller model, fewer threads, greedy decoding, or waits (jobs stay queued
 * on disk, never dropped). What each level does is the config's `degradation.levels` table.
 * A level's `remote` (not part of the policy: the composer reads it for ./remote-tier.ts) sends
 * windows to the remote engine tier where one is configured with `when: 'pressure'`.
 *
 *   0 normal       normal model tier, all transcription threads
 *   1 light        normal tier, one thread fewer (leaves a core for capture and the system), greedy
 *   2 constrained  constrained tier (e.g. tiny.en q5_1), one thread, greedy, larger ALSA buffer
 *   3 deferred     no transcription until the pressure is gone (capture goes on, jobs wait)
 *
 * The rules, pure and deterministic over (snapshot, time):
 * - Each input (temperature, CPU/memory/io pressure, MemAvailable, disk free, the throttle bits
 *   that say "now") holds a level of its own. It enters a level at the threshold, but only after
 *   `spikeSamples` consecutive samples at or past it (a 5 s spike is noise, a model swap is not).
 *   It leaves the level only once past the threshold minus its margin (hysteresis), so a reading
 *   hovering at a threshold does not flap.
 * - Two readings skip the spike filter: temperature at `tempCriticalC` and MemAvailable below
 *   `memAvailableMinMbDefer`. Both enter level 3 at once: the firmware and the OOM killer do not
 *   wait either.
 * - The policy level is the highest input level. A higher level is entered at once; a lower one
 *   only after the inputs called for less for `dwellMs` without a break, and then straight to the
 *   level they call for (their hysteresis already steps a cooling Pi down gradually).
 * - At most one engine change (model tier or threads: a /load or a server restart) per `dwellMs`,
 *   rising or falling; a move that needs one waits for the budget. Deferral is not an engine
 *   change: while a level defers, the engine keeps the model and threads in force, so entering
 *   deferral never waits and leaving it costs a change only if the level left to differs.
 * - "Since boot" throttle bits never raise a level: they are history, reported by health.
 * - Reasons that change within a level are a `reasons` change, not a transition.
 */

export type DegradeLevel = 0 | 1 | 2 | 3;

export const DEGRADE_LEVEL_NAMES = ['normal', 'light', 'constrained', 'deferred'] as const;
export type DegradeLevelName = (typeof DEGRADE_LEVEL_NAMES)[number];

/** What one level does (config `degradation.levels.<name>`); null = the setting outside degradation. */
export interface LevelActions {
  readonly tier: 'normal' | 'constrained';
  readonly threadsDelta: number;
  readonly threadsMax: number | null;
  readonly beamSize: number | null;
  readonly audioCtxMarginFrames: number;
  readonly defer: boolean;
  readonly alsaPeriodMs: number | null;
  readonly alsaBufferMs: number | null;
}

/** Config `degradation`: thresholds with their units in the names, spike filter, dwell, the level table. */
export interface DegradeSettings {
  readonly tempLightC: number;
  readonly tempConstrainedC: number;
  readonly tempDeferC: number;
  readonly tempCriticalC: number;
  readonly tempExitMarginC: number;
  readonly cpuPressureSomeAvg10LightPercent: number;
  readonly cpuPressureSomeAvg10ConstrainedPercent: number;
  readonly memPressureSomeAvg10ConstrainedPercent: number;
  readonly memPressureFullAvg10DeferPercent: number;
  readonly ioPressureSomeAvg10LightPercent: number;
  readonly ioPressureFullAvg10ConstrainedPercent: number;
  readonly pressureExitMarginPercent: number;
  readonly memAvailableMinMbConstrained: number;
  readonly memAvailableMinMbDefer: number;
  readonly memExitMarginMb: number;
  readonly diskFreeMinMbDefer: number;
  readonly diskExitMarginMb: number;
  readonly spikeSamples: number;
  readonly dwellMs: number;
  readonly levels: Readonly<Record<DegradeLevelName, LevelActions>>;
}

/** The settings outside degradation, which a level's nulls fall back to. */
export interface DegradeBase {
  /** transcription.threads (or cores - 1). */
  readonly threads: number;
  readonly beamSize: number;
  readonly alsaPeriodMs: number;
  readonly alsaBufferMs: number;
}

export interface DegradeDecision {
  readonly level: DegradeLevel;
  readonly name: DegradeLevelName;
  /** Why the level is above 0, in words for health, STATUS=, the page and the logs. Stable while the cause is. */
  readonly reasons: readonly string[];
  /** Wall-clock ms the level was entered. */
  readonly sinceMs: number;
  readonly defer: boolean;
  /** The engine in force: while deferred, the previous level's. */
  readonly tier: 'normal' | 'constrained';
  readonly threads: number;
  readonly beamSize: number;
  readonly audioCtxMarginFrames: number;
  /** ALSA sizes for the next capture restart. */
  readonly alsaPeriodMs: number;
  readonly alsaBufferMs: number;
}

export type DegradeChange =
  | { readonly kind: 'none'; readonly decision: DegradeDecision }
  | { readonly kind: 'reasons'; readonly decision: DegradeDecision }
  | { readonly kind: 'transition'; readonly from: DegradeDecision; readonly decision: DegradeDecision };

export interface DegradeTransitionCount {
  readonly from: DegradeLevelName;
  readonly to: DegradeLevelName;
  readonly count: number;
}

/** One input: a reading and the levels its thresholds enter. `below`: low values are the pressure. */
interface InputRule {
  readonly read: (snapshot: ResourceSnapshot) => number | null;
  readonly direction: 'above' | 'below';
  /** Ascending by level. */
  readonly steps: readonly { readonly level: DegradeLevel; readonly threshold: number; readonly reason: string }[];
  readonly margin: number;
  /** A reading past this enters `level` on one sample. */
  readonly critical?: { readonly threshold: number; readonly level: DegradeLevel };
}

interface InputState {
  held: DegradeLevel;
  pendingLevel: DegradeLevel;
  pendingSamples: number;
}

const bit = (flag: boolean | undefined): number | null => (flag === undefined ? null : flag ? 1 : 0);

function inputRules(s: DegradeSettings): InputRule[] {
  const pressure = s.pressureExitMarginPercent;
  const flag = (read: (snapshot: ResourceSnapshot) => number | null, level: DegradeLevel, reason: string): InputRule => ({
    read,
    direction: 'above',
    steps: [{ level, threshold: 1, reason }],
    margin: 0,
  });
  return [
    {
      read: (x) => x.socTempC,
      direction: 'above',
      steps: [
        { level: 1, threshold: s.tempLightC, reason: `temperature >= ${s.tempLightC} C` },
        { level: 2, threshold: s.tempConstrainedC, reason: `temperature >= ${s.tempConstrainedC} C` },
        { level: 3, threshold: s.tempDeferC, reason: `temperature >= ${s.tempDeferC} C` },
      ],
      margin: s.tempExitMarginC,
      critical: { threshold: s.tempCriticalC, level: 3 },
    },
    // Only the "now" bits: the since-boot ones are history (reported, never acted on).
    flag((x) => bit(x.throttle ? x.throttle.throttled || x.throttle.frequencyCapped : undefined), 2, 'CPU throttled now'),
    flag((x) => bit(x.throttle?.underVoltage), 1, 'under-voltage now'),
    flag((x) => bit(x.throttle?.softTempLimit), 1, 'soft temperature limit now'),
    {
      read: (x) => x.cpuPressureSomeAvg10,
      direction: 'above',
      steps: [
        { level: 1, threshold: s.cpuPressureSomeAvg10LightPercent, reason: `CPU pressure >= ${s.cpuPressureSomeAvg10LightPercent}%` },
        { level: 2, threshold: s.cpuPressureSomeAvg10ConstrainedPercent, reason: `CPU pressure >= ${s.cpuPressureSomeAvg10ConstrainedPercent}%` },
      ],
      margin: pressure,
    },
    {
      read: (x) => x.memPressureSomeAvg10,
      direction: 'above',
      steps: [{ level: 2, threshold: s.memPressureSomeAvg10ConstrainedPercent, reason: `memory pressure >= ${s.memPressureSomeAvg10ConstrainedPercent}%` }],
      margin: pressure,
    },
    {
      read: (x) => x.memPressureFullAvg10,
      direction: 'above',
      steps: [{ level: 3, threshold: s.memPressureFullAvg10DeferPercent, reason: `memory thrashing (full pressure >= ${s.memPressureFullAvg10DeferPercent}%)` }],
      margin: pressure,
    },
    {
      read: (x) => x.ioPressureSomeAvg10,
      direction: 'above',
      steps: [{ level: 1, threshold: s.ioPressureSomeAvg10LightPercent, reason: `io pressure >= ${s.ioPressureSomeAvg10LightPercent}%` }],
      margin: pressure,
    },
    {
      read: (x) => x.ioPressureFullAvg10,
      direction: 'above',
      steps: [{ level: 2, threshold: s.ioPressureFullAvg10ConstrainedPercent, reason: `io stalled (full pressure >= ${s.ioPressureFullAvg10ConstrainedPercent}%)` }],
      margin: pressure,
    },
    {
      read: (x) => (x.memAvailableBytes === null ? null : x.memAvailableBytes / 1_048_576),
      direction: 'below',
      steps: [
        { level: 2, threshold: s.memAvailableMinMbConstrained, reason: `MemAvailable < ${s.memAvailableMinMbConstrained} MB` },
        { level: 3, threshold: s.memAvailableMinMbDefer, reason: `MemAvailable < ${s.memAvailableMinMbDefer} MB` },
      ],
      margin: s.memExitMarginMb,
      critical: { threshold: s.memAvailableMinMbDefer, level: 3 },
    },
    {
      read: (x) => (x.diskFreeBytes === null ? null : x.diskFreeBytes / 1_048_576),
      direction: 'below',
      steps: [{ level: 3, threshold: s.diskFreeMinMbDefer, reason: `disk free < ${s.diskFreeMinMbDefer} MB` }],
      margin: s.diskExitMarginMb,
    },
  ];
}

/** Past `threshold` in the rule's direction, `slack` short of it still counting. */
function past(rule: InputRule, value: number, threshold: number, slack: number): boolean {
  return rule.direction === 'above' ? value >= threshold - slack : value < threshold + slack;
}

/** One sample through one input's hysteresis and spike filter. */
function stepInput(rule: InputRule, state: InputState, value: number | null, spikeSamples: number): void {
  if (value === null) {
    // Unknown (sensor gone, not a Pi): no pressure from this input.
    state.held = 0;
    state.pendingSamples = 0;
    return;
  }
  // Leave a level only past its threshold minus the margin.
  let held: DegradeLevel = 0;
  for (const step of rule.steps) if (step.level <= state.held && past(rule, value, step.threshold, rule.margin)) held = step.level;
  if (rule.critical && past(rule, value, rule.critical.threshold, 0) && rule.critical.level > held) held = rule.critical.level;
  let enter: DegradeLevel = 0;
  for (const step of rule.steps) if (past(rule, value, step.threshold, 0)) enter = step.level;
  if (enter > held) {
    // Enter the level sustained over the whole run of samples, not the run's peak.
    state.pendingLevel = state.pendingSamples === 0 ? enter : (Math.min(state.pendingLevel, enter) as DegradeLevel);
    state.pendingSamples += 1;
    if (state.pendingSamples >= spikeSamples) {
      held = state.pendingLevel;
      state.pendingSamples = 0;
    }
  } else {
    state.pendingSamples = 0;
  }
  state.held = held;
}

interface Engine {
  readonly tier: 'normal' | 'constrained';
  readonly threads: number;
}

/** Applies the rules above to successive snapshots; keeps the history metrics read. */
export class DegradePolicy {
  private readonly rules: InputRule[];
  private readonly inputs: InputState[];
  private current: DegradeDecision;
  private calmSinceMs: number | null = null;
  private lastEngineChangeMs = Number.NEGATIVE_INFINITY;
  private readonly msInLevel: number[] = [0, 0, 0, 0];
  private readonly transitionCounts = new Map<string, DegradeTransitionCount>();

  /** `startMs`: when level 0 begins (time per level counts from it). */
  constructor(
    private readonly settings: DegradeSettings,
    private readonly base: DegradeBase,
    startMs: number,
  ) {
    this.rules = inputRules(settings);
    this.inputs = this.rules.map(() => ({ held: 0, pendingLevel: 0, pendingSamples: 0 }));
    this.current = this.decisionFor(0, [], startMs, this.engineFor(0, { tier: 'normal', threads: base.threads }));
  }

  get decision(): DegradeDecision {
    return this.current;
  }

  /** Feeds one snapshot taken at `nowMs`. */
  update(snapshot: ResourceSnapshot, nowMs: number): DegradeChange {
    const { spikeSamples, dwellMs } = this.settings;
    let target: DegradeLevel = 0;
    const reasons: string[] = [];
    this.rules.forEach((rule, index) => {
      const state = this.inputs[index] as InputState;
      stepInput(rule, state, rule.read(snapshot), spikeSamples);
      if (state.held === 0) return;
      if (state.held > target) target = state.held;
      const step = [...rule.steps].reverse().find((candidate) => candidate.level <= state.held) ?? rule.steps[0];
      if (step) reasons.push(step.reason);
    });

    const from = this.current;
    let next = from.level;
    if (target > from.level) {
      this.calmSinceMs = null;
      if (this.engineAllows(target, nowMs)) next = target;
    } else if (target < from.level) {
      this.calmSinceMs ??= nowMs;
      if (nowMs - this.calmSinceMs >= dwellMs && this.engineAllows(target, nowMs)) next = target;
    } else {
      this.calmSinceMs = null;
    }
    // Still above what the inputs call for: say what it waits for.
    if (next > target) reasons.push(`easing to ${DEGRADE_LEVEL_NAMES[target]} after ${Math.round(dwellMs / 1000)} s calm`);

    if (next !== from.level) {
      const engine = this.engineFor(next, from);
      if (engine.tier !== from.tier || engine.threads !== from.threads) this.lastEngineChangeMs = nowMs;
      this.msInLevel[from.level] = (this.msInLevel[from.level] ?? 0) + Math.max(0, nowMs - from.sinceMs);
      const decision = this.decisionFor(next, reasons, nowMs, engine);
      const key = `${from.name}>${decision.name}`;
      this.transitionCounts.set(key, { from: from.name, to: decision.name, count: (this.transitionCounts.get(key)?.count ?? 0) + 1 });
      this.current = decision;
      this.calmSinceMs = null;
      return { kind: 'transition', from, decision };
    }
    if (reasons.join('\n') !== from.reasons.join('\n')) {
      this.current = { ...from, reasons };
      return { kind: 'reasons', decision: this.current };
    }
    return { kind: 'none', decision: from };
  }

  /** Transitions so far, by from and to. */
  transitions(): DegradeTransitionCount[] {
    return [...this.transitionCounts.values()];
  }

  /** Seconds spent in each level up to `nowMs`, the current stay included. */
  secondsPerLevel(nowMs: number): Record<DegradeLevelName, number> {
    const ms = [...this.msInLevel];
    ms[this.current.level] = (ms[this.current.level] ?? 0) + Math.max(0, nowMs - this.current.sinceMs);
    return { normal: (ms[0] ?? 0) / 1000, light: (ms[1] ?? 0) / 1000, constrained: (ms[2] ?? 0) / 1000, deferred: (ms[3] ?? 0) / 1000 };
  }

  /** Whether moving to `level` fits the budget of one engine change per dwell. */
  private engineAllows(level: DegradeLevel, nowMs: number): boolean {
    const engine = this.engineFor(level, this.current);
    if (engine.tier === this.current.tier && engine.threads === this.current.threads) return true;
    return nowMs - this.lastEngineChangeMs >= this.settings.dwellMs;
  }

  /** The engine a level runs: its table row, or the one in force while it defers. */
  private engineFor(level: DegradeLevel, inForce: Engine): Engine {
    const actions = this.actions(level);
    if (actions.defer) return { tier: inForce.tier, threads: inForce.threads };
    const threads = Math.max(1, Math.min(actions.threadsMax ?? Number.POSITIVE_INFINITY, this.base.threads + actions.threadsDelta));
    return { tier: actions.tier, threads };
  }

  private actions(level: DegradeLevel): LevelActions {
    return this.settings.levels[DEGRADE_LEVEL_NAMES[level]];
  }

  private decisionFor(level: DegradeLevel, reasons: readonly string[], sinceMs: number, engine: Engine): DegradeDecision {
    const actions = this.actions(level);
    return {
      level,
      name: DEGRADE_LEVEL_NAMES[level],
      reasons,
      sinceMs,
      defer: actions.defer,
      tier: engine.tier,
      threads: engine.threads,
      beamSize: actions.beamSize ?? this.base.beamSize,
      audioCtxMarginFrames: actions.audioCtxMarginFrames,
      alsaPeriodMs: actions.alsaPeriodMs ?? this.base.alsaPeriodMs,
      alsaBufferMs: actions.alsaBufferMs ?? this.base.alsaBufferMs,
    };
  }
}
