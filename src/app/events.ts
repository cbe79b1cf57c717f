import type { Appliance, ApplianceSnapshot, RecordingOutcome } from '../appliance.js';
import type { LevelReading } from '../audio/level.js';
import type { RecordingStatus } from '../domain/recording.js';
import { SPEECH_RATE_HZ } from '../domain/transcript.js';
import type { LedPattern } from '../hardware/types.js';
import type { Logger } from '../log.js';
import { SubscribedTimer, type EventHub } from '../ops/events.js';
import type { FaultBoard } from '../ops/faults.js';
import type { HealthReport, HealthStatus } from '../domain/health.js';
import type { RecordingsRepo } from '../store/recordings.js';
import { stitchJobs } from '../transcribe/assemble.js';
import type { DegradeDecision } from '../transcribe/degrade.js';
import type { Transcriber, TranscriptionProgress } from '../transcribe/transcriber.js';

/**
 * What feeds the live events (src/ops/events.ts): it listens to the parts that already say what
 * changed and publishes to the hub. Nothing here is on the audio path: the level is read from
 * the LevelSlot by a 10 Hz timer, and that timer and the health poll run only while someone
 * listens.
 *
 * Start it after the LEDs (so a change reads the patterns the presenter has just set: listeners
 * run in the order they were added) and before the appliance (so 'idle' is published).
 */

export interface EventWiringOptions {
  readonly hub: EventHub;
  readonly appliance: Pick<Appliance, 'snapshot' | 'onChange' | 'onOutcome'>;
  readonly faults: Pick<FaultBoard, 'list' | 'onChange'>;
  readonly leds: { patterns(): Record<string, LedPattern> };
  readonly level: { read(): LevelReading };
  readonly recordings: Pick<RecordingsRepo, 'get'>;
  readonly transcription: {
    readonly transcriber: Pick<Transcriber, 'onProgress' | 'onBusyChange' | 'partial' | 'jobs'>;
    /** Fires on level transitions and reason changes only. */
    onDegradationChange(listener: (decision: DegradeDecision) => void): void;
  } | null;
  readonly health: () => Promise<HealthReport>;
  /** Level sampling period (default 100 ms: a meter that moves, without flooding a phone). */
  readonly levelPeriodMs?: number;
  /** Health poll period (default 5000 ms; the registry caches its report anyway). */
  readonly healthPeriodMs?: number;
  readonly logger: Logger;
}

/** Statuses remembered to publish a recording only when it changed; more are forgotten oldest first. */
const KNOWN_RECORDINGS = 256;

export class EventWiring {
  private readonly levelTimer: SubscribedTimer;
  private readonly healthTimer: SubscribedTimer;
  private running = false;
  private wired = false;
  private lastPhase = '';
  private lastLeds = '';
  private lastHealth = '';
  private readonly statuses = new Map<string, RecordingStatus>();

  constructor(private readonly options: EventWiringOptions) {
    this.levelTimer = new SubscribedTimer({ hub: options.hub, periodMs: options.levelPeriodMs ?? 100, tick: () => this.sampleLevel(), logger: options.logger });
    this.healthTimer = new SubscribedTimer({ hub: options.hub, periodMs: options.healthPeriodMs ?? 5000, tick: () => this.pollHealth(), logger: options.logger });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (!this.wired) {
      // The parts have no way to remove a listener; `running` gates them after stop().
      this.wired = true;
      this.wire();
    }
    this.publishPhase(this.options.appliance.snapshot());
    this.publishLeds();
    await this.levelTimer.start();
    await this.healthTimer.start();
  }

  /** Timers off; the hub's subscribers are ended by the HTTP server's close. Safe twice. */
  async stop(): Promise<void> {
    this.running = false;
    await this.levelTimer.stop();
    await this.healthTimer.stop();
  }

  private wire(): void {
    const { appliance, faults, transcription } = this.options;
    appliance.onChange(() => this.guard(() => this.applianceChanged()));
    appliance.onOutcome((outcome) => this.guard(() => this.outcome(outcome)));
    faults.onChange(() =>
      this.guard(() => {
        this.options.hub.publish({ kind: 'faults', faults: faults.list() });
        this.publishLeds();
      }),
    );
    if (!transcription) return;
    transcription.transcriber.onBusyChange(() => this.guard(() => this.publishLeds()));
    transcription.transcriber.onProgress((progress) => this.guard(() => this.progress(progress)));
    transcription.onDegradationChange((decision) =>
      this.guard(() =>
        this.options.hub.publish({
          kind: 'degradation',
          level: decision.level,
          name: decision.name,
          defer: decision.defer,
          reasons: decision.reasons,
          sinceMs: decision.sinceMs,
        }),
      ),
    );
  }

  /** A listener error must not reach the part that called it (the appliance, the queue). */
  private guard(action: () => void): void {
    if (!this.running) return;
    try {
      action();
    } catch (error) {
      this.options.logger.error({ err: error }, 'live event wiring failed');
    }
  }

  private applianceChanged(): void {
    const snapshot = this.options.appliance.snapshot();
    this.publishPhase(snapshot);
    this.publishLeds();
    const id = snapshot.recordingId;
    // The recording id appears in the snapshot once its row exists (beginRecording).
    if (id !== null && !this.statuses.has(id)) this.noteRecording(id, 'created');
  }

  private outcome(outcome: RecordingOutcome): void {
    this.publishLeds();
    switch (outcome.outcome) {
      case 'discarded':
        this.statuses.delete(outcome.id);
        this.options.hub.publish({ kind: 'recording', change: 'deleted', id: outcome.id });
        return;
      case 'completed':
      case 'failed':
        this.noteRecording(outcome.id, this.statuses.has(outcome.id) ? 'changed' : 'created');
        return;
    }
  }

  private progress(progress: TranscriptionProgress): void {
    const { hub } = this.options;
    switch (progress.kind) {
      case 'queued':
        hub.publish({ kind: 'job', recordingId: progress.recordingId, seq: progress.seq, state: 'queued', queuePosition: progress.pending });
        // The tail moves the recording to `transcribing`; a re-cut does too.
        this.noteRecording(progress.recordingId, 'changed');
        return;
      case 'running':
        hub.publish({ kind: 'job', recordingId: progress.job.recordingId, seq: progress.job.seq, state: 'running', queuePosition: 0 });
        return;
      case 'settled':
        hub.publish({ kind: 'job', recordingId: progress.recordingId, seq: progress.seq, state: progress.state, queuePosition: null });
        if (progress.state === 'done') this.publishPartial(progress.recordingId, progress.seq);
        this.noteRecording(progress.recordingId, 'changed');
        return;
      case 'pending':
        hub.publish({ kind: 'queue', size: progress.count, running: progress.running ? { recordingId: progress.running.recordingId, seq: progress.running.seq } : null });
        return;
    }
  }

  private publishPartial(recordingId: string, seq: number): void {
    const transcriber = this.options.transcription?.transcriber;
    if (!transcriber) return;
    const job = transcriber.jobs.forRecording(recordingId).find((candidate) => candidate.seq === seq);
    if (!job || job.result === null) return;
    const partial = transcriber.partial(recordingId);
    this.options.hub.publish({
      kind: 'partial',
      recordingId,
      seq,
      // Only this window's text: the whole text so far would grow each event with the recording.
      text: stitchJobs([job], SPEECH_RATE_HZ).text,
      windowsDone: partial.windowsDone,
      windowsPending: partial.windowsPending,
      complete: partial.complete,
    });
  }

  /** Publishes the recording's status if it differs from the last one published. */
  private noteRecording(id: string, change: 'created' | 'changed'): void {
    const recording = this.options.recordings.get(id);
    if (!recording) {
      if (this.statuses.delete(id)) this.options.hub.publish({ kind: 'recording', change: 'deleted', id });
      return;
    }
    if (this.statuses.get(id) === recording.status) return;
    this.statuses.delete(id);
    this.statuses.set(id, recording.status);
    if (this.statuses.size > KNOWN_RECORDINGS) {
      const oldest = this.statuses.keys().next();
      if (oldest.done !== true) this.statuses.delete(oldest.value);
    }
    this.options.hub.publish({ kind: 'recording', change, id, status: recording.status });
  }

  private publishPhase(snapshot: ApplianceSnapshot): void {
    const { phase, recordingId, endingSoon, savesInFlight } = snapshot;
    const key = `${phase}|${recordingId ?? ''}|${endingSoon}|${savesInFlight}`;
    if (key === this.lastPhase) return;
    this.lastPhase = key;
    this.options.hub.publish({ kind: 'phase', phase, recordingId, endingSoon, savesInFlight });
  }

  private publishLeds(): void {
    const leds = this.options.leds.patterns();
    const key = JSON.stringify(leds);
    if (key === this.lastLeds) return;
    this.lastLeds = key;
    this.options.hub.publish({ kind: 'leds', leds });
  }

  private sampleLevel(): void {
    if (!this.running) return;
    const { peakDbfs, rmsDbfs } = this.options.level.read();
    // A tenth of a dB is finer than any meter shows; shorter JSON for every listener.
    this.options.hub.publish({ kind: 'level', peakDbfs: Math.round(peakDbfs * 10) / 10, rmsDbfs: Math.round(rmsDbfs * 10) / 10 });
    // The cancel flash ends on the presenter's own timer, which says nothing: look here too.
    this.publishLeds();
  }

  private async pollHealth(): Promise<void> {
    const report = await this.options.health();
    if (!this.running) return;
    const checks: Record<string, HealthStatus> = {};
    for (const [name, check] of Object.entries(report.checks)) checks[name] = check.status;
    const key = JSON.stringify([report.status, checks]);
    if (key === this.lastHealth) return;
    this.lastHealth = key;
    this.options.hub.publish({ kind: 'health', status: report.status, checks });
  }
}
