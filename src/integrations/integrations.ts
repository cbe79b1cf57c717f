import type { Logger } from '../log.js';
import type { OutboxEntry, NewOutboxEntry, OutboxRepo } from '../store/outbox.js';
import type { RecordingsRepo } from '../store/recordings.js';
import type { TranscriptsRepo } from '../store/transcripts.js';
import type { TranscriptionProgress } from '../transcribe/transcriber.js';
import type { BackoffOptions } from '../util/backoff.js';
import { OutboxDispatcher, type SinkCounters } from './dispatcher.js';
import type { MqttSink } from './mqtt-sink.js';
import { deliveryId, recordingPayload, transcriptPayload, type IntegrationPayload } from './payloads.js';
import type { Sink } from './sink.js';

/**
 * The integrations as one part: it listens to what already happens (a take starts or ends, a
 * transcript is stored or redone), stores one outbox row per interested sink right after the
 * commit it describes, and lets the dispatcher deliver them. A listener here only reads a row
 * and writes a row, on a later tick: the appliance and the queue never wait for it.
 *
 * A crash between a transcript's commit and its outbox rows is covered at start: each sink's
 * newest transcript row says how far it got, and newer transcripts are enqueued (the delivery id
 * is derived from the transcript, so one already there is not stored twice).
 */

export interface ApplianceEvents {
  snapshot(): { readonly phase: string; readonly recordingId: string | null };
  onChange(listener: () => void): void;
  onOutcome(listener: (outcome: { readonly id: string; readonly outcome: string }) => void): void;
}

export interface TranscriptionEvents {
  readonly transcriber: { onProgress(listener: (progress: TranscriptionProgress) => void): void };
  onDegradationChange(listener: () => void): void;
}

export interface IntegrationsOptions {
  readonly outbox: OutboxRepo;
  readonly recordings: Pick<RecordingsRepo, 'get'>;
  readonly transcripts: Pick<TranscriptsRepo, 'get' | 'history'>;
  readonly sinks: readonly Sink[];
  /** The MQTT sink among `sinks`, for the live states; null without MQTT. */
  readonly mqtt: MqttSink | null;
  readonly appliance: ApplianceEvents;
  readonly transcription: TranscriptionEvents | null;
  readonly retry: BackoffOptions;
  readonly deliveryTimeoutMs: number;
  readonly keepDelivered: number;
  readonly logger: Logger;
}

export interface DeliveryView {
  readonly id: string;
  readonly kind: string;
  readonly recordingId: string | null;
  readonly createdAtMs: number;
  readonly attempts: number;
  readonly nextAttemptAtMs: number | null;
  readonly lastError: string | null;
  readonly deliveredAtMs: number | null;
}

export interface SinkStatus {
  readonly sink: string;
  /** null for a sink without a connection. */
  readonly connected: boolean | null;
  readonly queueLength: number;
  readonly delivered: number;
  readonly failed: number;
  readonly lastError: string | null;
  readonly lastErrorAtMs: number | null;
  readonly lastDeliveredAtMs: number | null;
}

/** Transcripts enqueued by one start-up sweep at most; the rest go at the next start. */
const SWEEP_LIMIT = 500;
/** The queue-size state moves with every window: publish it at most this often. */
const LIVE_THROTTLE_MS = 1000;

export class Integrations {
  private readonly dispatcher: OutboxDispatcher;
  private running = false;
  private wired = false;
  private lastStarted: string | null = null;
  private readonly startedAt = new Map<string, number>();
  private liveTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: IntegrationsOptions) {
    this.dispatcher = new OutboxDispatcher({
      outbox: options.outbox,
      sinks: options.sinks,
      retry: options.retry,
      deliveryTimeoutMs: options.deliveryTimeoutMs,
      keepDelivered: options.keepDelivered,
      logger: options.logger,
    });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (!this.wired) {
      // The parts cannot remove a listener: wire once, act only while running.
      this.wired = true;
      this.wire();
    }
    this.sweep();
    for (const sink of this.options.sinks) await sink.start();
    this.dispatcher.start();
    this.options.logger.info({ sinks: this.options.sinks.map((sink) => sink.name) }, 'integrations started');
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.liveTimer) clearTimeout(this.liveTimer);
    this.liveTimer = null;
    await this.dispatcher.stop();
    for (const sink of this.options.sinks) await sink.stop();
  }

  status(): SinkStatus[] {
    return this.options.sinks.map((sink) => {
      const counters: SinkCounters | null = this.dispatcher.counters(sink.name);
      let queueLength = -1;
      try {
        queueLength = this.options.outbox.pendingCount(sink.name);
      } catch {
        // A database that cannot be read: -1 says unknown, the health check says why.
      }
      const sinkError = sink === this.options.mqtt ? this.options.mqtt.lastError() : null;
      return {
        sink: sink.name,
        connected: sink.connected(),
        queueLength,
        delivered: counters?.delivered ?? 0,
        failed: counters?.failed ?? 0,
        lastError: counters?.lastError ?? sinkError,
        lastErrorAtMs: counters?.lastErrorAtMs ?? null,
        lastDeliveredAtMs: counters?.lastDeliveredAtMs ?? null,
      };
    });
  }

  /** The newest deliveries of a sink, delivered or waiting, for the page. */
  recent(sink: string, limit: number): DeliveryView[] {
    return this.options.outbox.recent(sink, limit).map(deliveryView);
  }

  private wire(): void {
    const { appliance, transcription } = this.options;
    appliance.onChange(() => this.later(() => this.applianceChanged()));
    appliance.onOutcome((outcome) => this.later(() => this.stopped(outcome.id, outcome.outcome)));
    if (!transcription) return;
    transcription.transcriber.onProgress((progress) => {
      if (progress.kind === 'settled') this.later(() => this.transcriptMaybe(progress.recordingId));
      else if (progress.kind === 'pending') this.liveChanged();
    });
    transcription.onDegradationChange(() => this.later(() => this.options.mqtt?.publishLive()));
  }

  /** Off the caller's stack: the appliance and the queue go on at once, and a throw stays here. */
  private later(action: () => void): void {
    if (!this.running) return;
    setImmediate(() => {
      if (!this.running) return;
      try {
        action();
      } catch (error) {
        this.options.logger.error({ err: error }, 'integration event failed');
      }
    });
  }

  private liveChanged(): void {
    if (!this.running || this.liveTimer) return;
    this.liveTimer = setTimeout(() => {
      this.liveTimer = null;
      this.options.mqtt?.publishLive();
    }, LIVE_THROTTLE_MS);
  }

  private applianceChanged(): void {
    this.options.mqtt?.publishLive();
    const { phase, recordingId } = this.options.appliance.snapshot();
    if (phase !== 'recording' || recordingId === null || recordingId === this.lastStarted) return;
    this.lastStarted = recordingId;
    const recording = this.options.recordings.get(recordingId);
    if (!recording) return;
    this.startedAt.set(recordingId, recording.startedAtMs);
    this.enqueue(recordingPayload('recording.started', recording));
  }

  private stopped(id: string, outcome: string): void {
    this.options.mqtt?.publishLive();
    const startedAtMs = this.startedAt.get(id);
    this.startedAt.delete(id);
    // A discarded take has no row any more: what is known of it still says it ended.
    const recording = this.options.recordings.get(id);
    const payload = recording
      ? recordingPayload('recording.stopped', recording, outcome)
      : { event: 'recording.stopped' as const, recording: { id, startedAtMs: startedAtMs ?? Date.now(), durationMs: null, title: null }, outcome };
    this.enqueue(payload);
  }

  private transcriptMaybe(recordingId: string): void {
    const payload = this.transcriptPayloadOf(recordingId);
    if (payload) this.enqueue(payload);
  }

  private transcriptPayloadOf(recordingId: string): IntegrationPayload | null {
    const transcript = this.options.transcripts.get(recordingId);
    const recording = this.options.recordings.get(recordingId);
    if (!transcript || !recording || recording.status !== 'transcribed') return null;
    return transcriptPayload(recording, transcript, this.options.transcripts.history(recordingId).length > 0);
  }

  private enqueue(payload: IntegrationPayload): void {
    const entries: NewOutboxEntry[] = this.options.sinks
      .filter((sink) => sink.events.has(payload.event))
      .map((sink) => ({ id: deliveryId(sink.name, payload), sink: sink.name, kind: payload.event, payload }));
    if (entries.length === 0) return;
    try {
      if (this.options.outbox.enqueue(entries) > 0) this.dispatcher.wake();
    } catch (error) {
      // A full card: the transcript itself is stored, and the start-up sweep finds it again.
      this.options.logger.error({ err: error, event: payload.event, recordingId: payload.recording.id }, 'cannot store the integration event');
    }
  }

  /** Transcripts newer than each sink's newest transcript row (a crash between the two writes). */
  private sweep(): void {
    try {
      let after = Number.POSITIVE_INFINITY;
      for (const sink of this.options.sinks) {
        if (!sink.events.has('transcript')) continue;
        const newest = this.options.outbox.newest(sink.name, 'transcript');
        // A sink never used before starts from now: it is not sent the whole archive.
        const createdAtMs = (newest?.payload as { transcript?: { createdAtMs?: unknown } } | null)?.transcript?.createdAtMs;
        if (typeof createdAtMs === 'number') after = Math.min(after, createdAtMs);
      }
      if (after === Number.POSITIVE_INFINITY) return;
      let added = 0;
      for (const recordingId of this.options.outbox.transcribedSince(after, SWEEP_LIMIT)) {
        const payload = this.transcriptPayloadOf(recordingId);
        if (!payload) continue;
        const entries = this.options.sinks
          .filter((sink) => sink.events.has('transcript') && this.options.outbox.newest(sink.name, 'transcript') !== undefined)
          .map((sink) => ({ id: deliveryId(sink.name, payload), sink: sink.name, kind: payload.event, payload }));
        added += this.options.outbox.enqueue(entries);
      }
      if (added > 0) this.options.logger.warn({ added }, 'transcripts missing from the outbox (a crash after their commit) were enqueued');
    } catch (error) {
      this.options.logger.error({ err: error }, 'start-up outbox sweep failed; it runs again at the next start');
    }
  }
}

function deliveryView(entry: OutboxEntry): DeliveryView {
  const recordingId = (entry.payload as { recording?: { id?: unknown } } | null)?.recording?.id;
  return {
    id: entry.id,
    kind: entry.kind,
    recordingId: typeof recordingId === 'string' ? recordingId : null,
    createdAtMs: entry.createdAtMs,
    attempts: entry.attempts,
    nextAttemptAtMs: entry.deliveredAtMs === null ? entry.nextAttemptAtMs : null,
    lastError: entry.lastError,
    deliveredAtMs: entry.deliveredAtMs,
  };
}
