import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ApplianceSnapshot, RecordingOutcome } from '../../src/appliance.js';
import { LedPresenter, type LedLayout } from '../../src/app/leds.js';
import { FakeLed } from '../../src/hardware/fake-gpio.js';
import type { LedPattern } from '../../src/hardware/types.js';
import { silentLogger } from '../../src/log.js';
import { FaultBoard, type Fault } from '../../src/ops/faults.js';
import {
  ERROR_CODES,
  LED_PATTERNS,
  activeErrorCode,
  errorCodePattern,
  faultCode,
  oneLedPattern,
  twoLedPatterns,
  type LedSituation,
} from '../../src/ops/led-language.js';

const fault = (key: string, severity: Fault['severity'], message = `${key} broken`): Fault => ({ key, message, severity });

/** The fault messages the parts raise today (pipeline.ts, source-faults.ts, storage-watch.ts, appliance.ts). */
const FAULTS_BY_CODE: ReadonlyArray<[Fault, number]> = [
  [fault('audio', 'fatal', 'microphone failed: arecord: audio open error: No such file or directory'), 2],
  [fault('disk', 'fatal', 'disk nearly full: 12 MB free'), 3],
  [fault('storage', 'fatal', 'storage error (write): ENOSPC'), 3],
  [fault('model', 'error', 'no usable model: file missing'), 4],
  [fault('engine-binary', 'error', 'whisper-server not built (npm run whisper:build)'), 5],
  [fault('engine', 'degraded', 'transcription engine failing (breaker open), 3 queued'), 5],
  [fault('mqtt', 'error', 'broker unreachable'), 6],
  [fault('something-new', 'fatal'), 6],
];

const situation = (overrides: Partial<LedSituation> = {}): LedSituation => ({
  phase: 'idle',
  endingSoon: false,
  busy: false,
  cancelFlash: false,
  faults: [],
  ...overrides,
});

/** On/off durations of one cycle, e.g. [200, -200, 200, -1400] for code 2 (negative = dark). */
function rhythm(pattern: LedPattern): number[] {
  if (pattern.mode === 'pattern') return pattern.steps.map((step) => (step.on ? step.ms : -step.ms));
  if (pattern.mode === 'blink') return [pattern.onMs, -pattern.offMs];
  return [];
}

describe('the LED language', () => {
  it.each(FAULTS_BY_CODE)('maps the fault %o to code %i', (input, code) => {
    expect(faultCode(input)).toBe(code);
    const shown = twoLedPatterns(situation({ faults: [input] })).status;
    expect(shown.mode).toBe('pattern');
    expect(rhythm(shown).filter((ms) => ms > 0)).toHaveLength(code);
  });

  it('degrading faults have no code; under-voltage and heat look different', () => {
    const hot = fault('degradation', 'degraded', 'transcription level 1 (light): temperature >= 70 C');
    const sagging = fault('degradation', 'degraded', 'transcription level 1 (light): under-voltage now');
    expect(faultCode(hot)).toBeNull();
    expect(faultCode(sagging)).toBeNull();
    expect(twoLedPatterns(situation({ faults: [hot] })).status).toBe(LED_PATTERNS.degradedHot);
    expect(twoLedPatterns(situation({ faults: [sagging] })).status).toBe(LED_PATTERNS.underVoltage);
    expect(rhythm(LED_PATTERNS.degradedHot)).toEqual([100, -1900]);
    expect(rhythm(LED_PATTERNS.underVoltage)).toEqual([100, -100, 100, -1700]);
    // Under-voltage wins over heat: it is the one to fix first.
    expect(twoLedPatterns(situation({ faults: [hot, sagging] })).status).toBe(LED_PATTERNS.underVoltage);
  });

  it('error codes are N blinks of 200 ms and a 1.4 s pause, as the kernel pattern example', () => {
    expect(rhythm(errorCodePattern(2))).toEqual([200, -200, 200, -1400]);
    expect(rhythm(errorCodePattern(5))).toEqual([200, -200, 200, -200, 200, -200, 200, -200, 200, -1400]);
    expect(errorCodePattern(3)).toMatchObject({ mode: 'pattern', repeat: -1 });
    // Every code differs from every other state's rhythm.
    const codes = Object.values(ERROR_CODES).map((code) => JSON.stringify(rhythm(errorCodePattern(code))));
    const others = [LED_PATTERNS.booting, LED_PATTERNS.busy, LED_PATTERNS.degradedHot, LED_PATTERNS.underVoltage].map((p) => JSON.stringify(rhythm(p)));
    expect(new Set([...codes, ...others]).size).toBe(codes.length + others.length);
  });

  it('status LED priority: booting > lowest error code > degraded > busy > ready', () => {
    const hot = fault('degradation', 'degraded', 'temperature >= 70 C');
    const all = [fault('engine', 'degraded'), fault('model', 'error'), fault('disk', 'fatal'), fault('audio', 'fatal'), hot];
    expect(activeErrorCode(all)).toBe(2);
    expect(twoLedPatterns(situation({ phase: 'starting', faults: all })).status).toBe(LED_PATTERNS.booting);
    expect(twoLedPatterns(situation({ faults: all, busy: true })).status).toBe(LED_PATTERNS.noMicrophone);
    expect(twoLedPatterns(situation({ faults: all.slice(0, 3) })).status).toBe(LED_PATTERNS.storage);
    expect(twoLedPatterns(situation({ faults: all.slice(0, 2) })).status).toBe(LED_PATTERNS.noModel);
    expect(twoLedPatterns(situation({ faults: [hot], busy: true })).status).toBe(LED_PATTERNS.degradedHot);
    expect(twoLedPatterns(situation({ busy: true })).status).toBe(LED_PATTERNS.busy);
    expect(twoLedPatterns(situation()).status).toBe(LED_PATTERNS.on);
    expect(twoLedPatterns(situation({ phase: 'stopped', faults: all }))).toEqual({ status: LED_PATTERNS.off, record: LED_PATTERNS.off });
  });

  it('the red LED is lit exactly while recording, whatever the faults; else the cancel flash or dark', () => {
    const faults = [fault('disk', 'fatal'), fault('model', 'error')];
    expect(twoLedPatterns(situation({ phase: 'recording', faults })).record).toBe(LED_PATTERNS.on);
    expect(twoLedPatterns(situation({ phase: 'recording', endingSoon: true })).record).toBe(LED_PATTERNS.ending);
    expect(twoLedPatterns(situation({ cancelFlash: true })).record).toBe(LED_PATTERNS.cancelled);
    expect(twoLedPatterns(situation({ faults })).record).toBe(LED_PATTERNS.off);
    expect(LED_PATTERNS.cancelled).toMatchObject({ mode: 'pattern', repeat: 3 });
  });

  it('one-LED table: booting > recording > cancel > code > degraded > busy > ready', () => {
    const faults = [fault('audio', 'fatal'), fault('degradation', 'degraded', 'under-voltage now')];
    expect(oneLedPattern(situation({ phase: 'stopped', faults }))).toBe(LED_PATTERNS.off);
    expect(oneLedPattern(situation({ phase: 'starting', faults }))).toBe(LED_PATTERNS.booting);
    expect(oneLedPattern(situation({ phase: 'recording', faults, cancelFlash: true }))).toBe(LED_PATTERNS.oneLedRecording);
    expect(oneLedPattern(situation({ phase: 'recording', endingSoon: true }))).toBe(LED_PATTERNS.oneLedEnding);
    expect(oneLedPattern(situation({ faults, cancelFlash: true }))).toBe(LED_PATTERNS.cancelled);
    expect(oneLedPattern(situation({ faults }))).toBe(LED_PATTERNS.noMicrophone);
    expect(oneLedPattern(situation({ faults: faults.slice(1), busy: true }))).toBe(LED_PATTERNS.underVoltage);
    expect(oneLedPattern(situation({ busy: true }))).toBe(LED_PATTERNS.busy);
    expect(oneLedPattern(situation())).toBe(LED_PATTERNS.on);
    // Recording and ready must not look alike on a single LED.
    expect(rhythm(LED_PATTERNS.oneLedRecording)).toEqual([900, -100]);
  });
});

/** The part of the appliance the presenter listens to, driven by hand. */
class ApplianceStandIn {
  snap: ApplianceSnapshot = { phase: 'idle', recordingId: null, recordingStartedAtMs: null, savesInFlight: 0, endingSoon: false, lastEvent: null };
  private readonly changes: Array<() => void> = [];
  private readonly outcomes: Array<(outcome: RecordingOutcome) => void> = [];

  snapshot(): ApplianceSnapshot {
    return this.snap;
  }

  onChange(listener: () => void): void {
    this.changes.push(listener);
  }

  onOutcome(listener: (outcome: RecordingOutcome) => void): void {
    this.outcomes.push(listener);
  }

  change(next: Partial<ApplianceSnapshot>): void {
    this.snap = { ...this.snap, ...next };
    for (const listener of this.changes) listener();
  }

  discard(): void {
    for (const listener of this.outcomes) listener({ id: 'take-1', outcome: 'discarded', durationMs: null });
  }
}

describe('LedPresenter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  async function started(layout?: LedLayout): Promise<{ status: FakeLed; record: FakeLed; appliance: ApplianceStandIn; faults: FaultBoard; presenter: LedPresenter }> {
    const status = new FakeLed('status');
    const record = new FakeLed('record');
    const appliance = new ApplianceStandIn();
    const faults = new FaultBoard(silentLogger());
    const presenter = new LedPresenter({ leds: { status, record }, appliance, faults, ...(layout ? { layout } : {}) });
    await presenter.start();
    return { status, record, appliance, faults, presenter };
  }

  it('follows the faults and the phase, and sets a pattern only when it changes (a code is never restarted mid-count)', async () => {
    const { status, record, appliance, faults, presenter } = await started();
    expect(status.current()).toBe(LED_PATTERNS.on);
    faults.set('disk', 'disk nearly full: 10 MB free');
    expect(status.current()).toBe(LED_PATTERNS.storage);
    const setsBefore = status.history().length;
    faults.set('degradation', 'transcription level 1: temperature >= 70 C', 'degraded');
    faults.set('degradation', 'transcription level 2: temperature >= 75 C', 'degraded');
    appliance.change({ savesInFlight: 1 });
    expect(status.history()).toHaveLength(setsBefore);
    appliance.change({ phase: 'recording' });
    expect(record.current()).toBe(LED_PATTERNS.on);
    faults.set('disk', null);
    expect(status.current()).toBe(LED_PATTERNS.degradedHot);
    expect(presenter.patterns()).toEqual({ status: LED_PATTERNS.degradedHot, record: LED_PATTERNS.on });
    await presenter.stop();
    expect(status.showing()).toEqual({ mode: 'off' });
    expect(status.animating).toBe(false);
    expect(record.animating).toBe(false);
  });

  it('the cancel flash plays on the red LED for 600 ms, then it is dark', async () => {
    vi.useFakeTimers();
    const { record, appliance, presenter } = await started();
    appliance.discard();
    expect(record.current()).toBe(LED_PATTERNS.cancelled);
    vi.advanceTimersByTime(650);
    expect(record.current()).toBe(LED_PATTERNS.off);
    await presenter.stop();
  });

  it("one-LED layout: the status LED tells everything and the record LED is never touched", async () => {
    const { status, record, appliance, faults, presenter } = await started('one');
    expect(status.current()).toBe(LED_PATTERNS.on);
    appliance.change({ phase: 'recording' });
    expect(status.current()).toBe(LED_PATTERNS.oneLedRecording);
    appliance.change({ phase: 'idle' });
    faults.set('model', 'no usable model: missing', 'error');
    expect(status.current()).toBe(LED_PATTERNS.noModel);
    expect(presenter.patterns()['record']).toEqual({ mode: 'off' });
    await presenter.stop();
    expect(record.history()).toEqual([]);
  });
});
