import { describe, expect, it } from 'vitest';
import type { ApplianceSnapshot, RecordingOutcome } from '../../src/appliance.js';
import { EventWiring } from '../../src/app/events.js';
import type { RecordingStatus } from '../../src/domain/recording.js';
import type { LedPattern } from '../../src/hardware/types.js';
import { silentLogger } from '../../src/log.js';
import { EventHub, type LiveEvent } from '../../src/ops/events.js';
import { FaultBoard } from '../../src/ops/faults.js';
import type { HealthReport } from '../../src/domain/health.js';
import type { DegradeDecision } from '../../src/transcribe/degrade.js';
import type { TranscriptionProgress } from '../../src/transcribe/transcriber.js';
import { sleep } from '../../src/util/sleep.js';

class FakeAppliance {
  state: ApplianceSnapshot = { phase: 'starting', recordingId: null, recordingStartedAtMs: null, savesInFlight: 0, endingSoon: false, lastEvent: null };
  private readonly changes: (() => void)[] = [];
  private readonly outcomes: ((outcome: RecordingOutcome) => void)[] = [];
  snapshot(): ApplianceSnapshot {
    return this.state;
  }
  onChange(listener: () => void): void {
    this.changes.push(listener);
  }
  onOutcome(listener: (outcome: RecordingOutcome) => void): void {
    this.outcomes.push(listener);
  }
  set(patch: Partial<ApplianceSnapshot>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of this.changes) listener();
  }
  outcome(outcome: RecordingOutcome): void {
    for (const listener of this.outcomes) listener(outcome);
  }
}

function setup() {
  const hub = new EventHub();
  const appliance = new FakeAppliance();
  const faults = new FaultBoard(silentLogger());
  let leds: Record<string, LedPattern> = { status: { mode: 'blink', onMs: 250, offMs: 250 }, record: { mode: 'off' } };
  const rows = new Map<string, RecordingStatus>();
  const progress: ((event: TranscriptionProgress) => void)[] = [];
  const degradation: ((decision: DegradeDecision) => void)[] = [];
  let health: HealthReport = { status: 'healthy', checkedAt: '', checks: {} };
  const wiring = new EventWiring({
    hub,
    appliance,
    faults,
    leds: { patterns: () => leds },
    level: { read: () => ({ peakDbfs: -6.04, rmsDbfs: -20.01, peakLinear: 0.5, rmsLinear: 0.1 }) },
    recordings: { get: (id: string) => (rows.has(id) ? ({ id, status: rows.get(id), sampleRateHz: 16_000 } as never) : undefined) },
    transcription: {
      transcriber: {
        onProgress: (listener: (event: TranscriptionProgress) => void) => progress.push(listener),
        onBusyChange: () => undefined,
        partial: () => ({ text: 'hello world', segments: [], windowsDone: 1, windowsPending: 1, complete: false }),
        jobs: { forRecording: () => [{ seq: 0, startSample: 0, endSample: 16_000, result: { segments: [{ startMs: 0, endMs: 900, text: 'hello' }] } }] } as never,
      },
      onDegradationChange: (listener: (decision: DegradeDecision) => void) => degradation.push(listener),
    },
    health: () => Promise.resolve(health),
    levelPeriodMs: 10,
    healthPeriodMs: 10,
    logger: silentLogger(),
  });
  const { subscription } = hub.subscribe({ wake: () => undefined, dropped: () => undefined });
  const events = (): LiveEvent[] => subscription.take().map((entry) => JSON.parse(entry.data) as LiveEvent);
  return {
    hub,
    appliance,
    faults,
    rows,
    wiring,
    events,
    subscription,
    setLeds: (next: Record<string, LedPattern>) => (leds = next),
    setHealth: (next: HealthReport) => (health = next),
    progress: (event: TranscriptionProgress) => progress.forEach((listener) => listener(event)),
    degrade: (decision: DegradeDecision) => degradation.forEach((listener) => listener(decision)),
  };
}

describe('live event wiring', () => {
  it('publishes the phase only when it changed, with the LEDs after a change', async () => {
    const t = setup();
    await t.wiring.start();
    t.appliance.set({ phase: 'idle' });
    t.appliance.set({ phase: 'idle' });
    t.setLeds({ status: { mode: 'on' }, record: { mode: 'on' } });
    t.appliance.set({ phase: 'recording' });
    const kinds = t.events().filter((event) => event.kind !== 'level').map((event) => (event.kind === 'phase' ? `phase:${event.phase}` : event.kind));
    expect(kinds).toEqual(['phase:starting', 'leds', 'phase:idle', 'phase:recording', 'leds']);
    await t.wiring.stop();
  });

  it('follows a recording: created, transcribing, a window, transcribed; a discarded one is deleted', async () => {
    const t = setup();
    await t.wiring.start();
    t.events();
    t.rows.set('r1', 'recording');
    t.appliance.set({ phase: 'recording', recordingId: 'r1' });
    t.rows.set('r1', 'transcribing');
    t.progress({ kind: 'queued', recordingId: 'r1', seq: 0, pending: 2 });
    t.appliance.set({ phase: 'idle', recordingId: null });
    t.appliance.outcome({ id: 'r1', outcome: 'completed', durationMs: 1000 });
    t.progress({ kind: 'running', job: { jobId: 1, recordingId: 'r1', seq: 0, startedAtMs: 0 } });
    t.rows.set('r1', 'transcribed');
    t.progress({ kind: 'settled', recordingId: 'r1', seq: 0, state: 'done' });
    t.rows.set('r2', 'recording');
    t.appliance.set({ phase: 'recording', recordingId: 'r2' });
    t.rows.delete('r2');
    t.appliance.outcome({ id: 'r2', outcome: 'discarded', durationMs: null });
    const events = t.events().filter((event) => event.kind === 'recording' || event.kind === 'job' || event.kind === 'partial');
    expect(events).toEqual([
      { kind: 'recording', change: 'created', id: 'r1', status: 'recording' },
      { kind: 'job', recordingId: 'r1', seq: 0, state: 'queued', queuePosition: 2 },
      { kind: 'recording', change: 'changed', id: 'r1', status: 'transcribing' },
      { kind: 'job', recordingId: 'r1', seq: 0, state: 'running', queuePosition: 0 },
      { kind: 'job', recordingId: 'r1', seq: 0, state: 'done', queuePosition: null },
      { kind: 'partial', recordingId: 'r1', seq: 0, text: 'hello', windowsDone: 1, windowsPending: 1, complete: false },
      { kind: 'recording', change: 'changed', id: 'r1', status: 'transcribed' },
      { kind: 'recording', change: 'created', id: 'r2', status: 'recording' },
      { kind: 'recording', change: 'deleted', id: 'r2' },
    ]);
    await t.wiring.stop();
  });

  it('publishes faults, degradation, the level and health changes; nothing after stop()', async () => {
    const t = setup();
    await t.wiring.start();
    t.faults.set('disk', 'disk nearly full', 'fatal');
    t.degrade({
      level: 2,
      name: 'constrained',
      tier: 'constrained',
      threads: 1,
      defer: false,
      reasons: ['hot'],
      sinceMs: 1234,
      beamSize: 1,
      audioCtxMarginFrames: 32,
      alsaPeriodMs: 100,
      alsaBufferMs: 1000,
    });
    await sleep(60);
    t.setHealth({ status: 'degraded', checkedAt: '', checks: { disk: { status: 'degraded', message: '', checkedAt: '', durationMs: 1 } } });
    await sleep(60);
    const events = t.events();
    expect(events).toContainEqual({ kind: 'faults', faults: [{ key: 'disk', message: 'disk nearly full', severity: 'fatal' }] });
    expect(events).toContainEqual({ kind: 'degradation', level: 2, name: 'constrained', defer: false, reasons: ['hot'], sinceMs: 1234 });
    expect(events).toContainEqual({ kind: 'level', peakDbfs: -6, rmsDbfs: -20 });
    expect(events.filter((event) => event.kind === 'health')).toEqual([
      { kind: 'health', status: 'healthy', checks: {} },
      { kind: 'health', status: 'degraded', checks: { disk: 'degraded' } },
    ]);
    await t.wiring.stop();
    t.faults.set('disk', null);
    await sleep(40);
    expect(t.events()).toEqual([]);
  });
});
