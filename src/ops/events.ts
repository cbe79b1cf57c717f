/**
 * Live events for the page and scripts (`GET /api/events`, Server-Sent Events): one hub that
 * parts publish to and HTTP clients subscribe to.
 *
 * Publishing never waits for a client: an event is serialised once, pushed onto each
 * subscriber's bounded queue and the subscriber is woken; the writer (src/http/events.ts) drains
 * the queue when its socket can take more. A subscriber whose queue passes its bound is dropped
 * there and then (the browser's EventSource reconnects with `Last-Event-ID` and resumes from the
 * replay ring), so a client that stops reading costs at most its bound and never slows capture.
 *
 * Every event has an id from one increasing sequence. Recent events are kept in a ring bounded by
 * count and bytes for replay; the level (10 Hz) is ephemeral: it gets an id but is not kept, so a
 * resuming client gets the facts it missed, not a second of stale meter readings.
 */
import type { RecordingStatus } from '../domain/recording.js';
import type { LedPattern } from '../hardware/types.js';
import type { Logger } from '../log.js';
import type { Fault } from './faults.js';
import type { HealthStatus } from '../domain/health.js';

/** Where a transcription job stands; `queuePosition` is 1-based, counting the running job. */
export type JobProgressState = 'queued' | 'running' | 'done' | 'failed';

/** Every kind of live event; a closed union, so a consumer's switch is exhaustive. */
export type LiveEvent =
  /** The appliance's phase (`Phase` in src/appliance.ts: starting, idle, recording, stopped). */
  | {
      readonly kind: 'phase';
      readonly phase: string;
      readonly recordingId: string | null;
      readonly endingSoon: boolean;
      readonly savesInFlight: number;
    }
  /** The LED patterns by LED name, after any of them changed. */
  | { readonly kind: 'leds'; readonly leds: Readonly<Record<string, LedPattern>> }
  /** The input level, sampled about 10 times a second while someone listens. Not replayed. */
  | { readonly kind: 'level'; readonly peakDbfs: number; readonly rmsDbfs: number }
  /** One window of a recording is transcribed: its text, and how far the recording is. */
  | {
      readonly kind: 'partial';
      readonly recordingId: string;
      readonly seq: number;
      /** The window's own text; the stitched text so far is at /api/recordings/:id/transcript. */
      readonly text: string;
      readonly windowsDone: number;
      readonly windowsPending: number;
      readonly complete: boolean;
    }
  /**
   * A window job moved. `seq` is null when a whole recording was queued again from its file.
   * `queuePosition`: for `queued`, the pending jobs at that moment (it joins behind them); 0 when
   * running; null once settled.
   */
  | {
      readonly kind: 'job';
      readonly recordingId: string;
      readonly seq: number | null;
      readonly state: JobProgressState;
      readonly queuePosition: number | null;
    }
  /** Pending jobs (queued + running) and the one running. */
  | { readonly kind: 'queue'; readonly size: number; readonly running: { readonly recordingId: string; readonly seq: number } | null }
  /** The transcription degradation level (src/transcribe/degrade.ts). */
  | {
      readonly kind: 'degradation';
      readonly level: number;
      readonly name: string;
      readonly defer: boolean;
      readonly reasons: readonly string[];
      /** Wall-clock ms the level was entered. */
      readonly sinceMs: number;
    }
  /** The fault board, whole, after a change. */
  | { readonly kind: 'faults'; readonly faults: readonly Fault[] }
  /** The health report's overall status and each check's status, after one of them changed. */
  | { readonly kind: 'health'; readonly status: HealthStatus; readonly checks: Readonly<Record<string, HealthStatus>> }
  | { readonly kind: 'recording'; readonly change: 'created' | 'changed'; readonly id: string; readonly status: RecordingStatus }
  | { readonly kind: 'recording'; readonly change: 'deleted'; readonly id: string };

export type LiveEventKind = LiveEvent['kind'];

/** Kept for replay, or only sent to who listens now. */
function isReplayed(kind: LiveEventKind): boolean {
  switch (kind) {
    case 'level':
      return false;
    case 'phase':
    case 'leds':
    case 'partial':
    case 'job':
    case 'queue':
    case 'degradation':
    case 'faults':
    case 'health':
    case 'recording':
      return true;
  }
}

/** One published event, serialised once for every subscriber. */
export interface HubEntry {
  readonly id: number;
  readonly kind: LiveEventKind;
  /** The JSON of the event (one line: JSON.stringify never emits a raw newline). */
  readonly data: string;
  /** UTF-8 size of `data`, for the byte bounds. */
  readonly bytes: number;
}

export type DropReason = 'queue_events' | 'queue_bytes' | 'shutdown';

export interface HubSink {
  /** The queue went from empty to non-empty: drain it soon (never synchronously inside publish). */
  readonly wake: () => void;
  /** The subscriber was removed by the hub (its bound was reached, or the hub stopped). Called once. */
  readonly dropped: (reason: DropReason) => void;
}

export interface Subscription {
  /** Everything queued since the last take, oldest first; the queue is empty afterwards. */
  take(): HubEntry[];
  /** Removes the subscriber (the client went away). Idempotent; `dropped` is not called. */
  close(): void;
}

/** What a (re)connecting client gets before live events: the missed events, or a reset. */
export type Replay =
  | { readonly kind: 'events'; readonly entries: readonly HubEntry[] }
  /** The client's last id is older than the ring (or from another run): refetch the state. */
  | { readonly kind: 'reset'; readonly lastId: number };

export interface EventHubOptions {
  /** Replay ring bound, events (default 512). */
  readonly replayEvents?: number;
  /** Replay ring bound, bytes of JSON (default 512 KiB): a long partial must not pin megabytes. */
  readonly replayBytes?: number;
  /** Per-subscriber queue bound, events (default 256). */
  readonly maxQueuedEvents?: number;
  /** Per-subscriber queue bound, bytes (default 256 KiB). */
  readonly maxQueuedBytes?: number;
  /**
   * The first id (default 1). Ids restart with the process; starting at the wall clock in ms
   * keeps them increasing across restarts, so an old Last-Event-ID reads as "older than the ring".
   */
  readonly firstId?: number;
  readonly logger?: Logger;
}

export interface EventHubStats {
  readonly subscribers: number;
  readonly published: number;
  /** Subscribers dropped at their bound, since start (a counter for metrics). */
  readonly dropped: number;
  readonly lastId: number;
}

class Subscriber implements Subscription {
  queue: HubEntry[] = [];
  queuedBytes = 0;
  open = true;

  constructor(
    readonly sink: HubSink,
    private readonly remove: (subscriber: Subscriber, reason: DropReason | null) => void,
  ) {}

  take(): HubEntry[] {
    const taken = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    return taken;
  }

  close(): void {
    this.remove(this, null);
  }

}

export class EventHub {
  private readonly ring: HubEntry[] = [];
  private ringBytes = 0;
  /** The highest id pushed out of the ring: a client behind it missed something we no longer have. */
  private evictedUpTo: number;
  private nextId: number;
  private published = 0;
  private dropped = 0;
  private readonly subscribers = new Set<Subscriber>();
  private readonly countListeners: ((count: number) => void)[] = [];

  constructor(private readonly options: EventHubOptions = {}) {
    this.nextId = options.firstId ?? 1;
    // Everything before this run's first id is gone, as if evicted: an id from an earlier run
    // gets a reset even while this run's ring has not yet evicted anything.
    this.evictedUpTo = this.nextId - 1;
  }

  /** The id of the last event published (0 or firstId - 1 before the first). */
  get lastId(): number {
    return this.nextId - 1;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Cheap and synchronous: serialise once, queue for each subscriber, never touch a socket. */
  publish(event: LiveEvent): number {
    const id = this.nextId++;
    const data = JSON.stringify(event);
    const entry: HubEntry = { id, kind: event.kind, data, bytes: Buffer.byteLength(data) };
    this.published += 1;
    if (isReplayed(event.kind)) this.keep(entry);
    for (const subscriber of this.subscribers) this.deliver(subscriber, entry);
    return id;
  }

  /** The stored events after `lastId`, exactly, or a reset when some of them are gone. */
  since(lastId: number): Replay {
    if (lastId > this.lastId || lastId < this.evictedUpTo) return { kind: 'reset', lastId: this.lastId };
    // The ring is in id order; the missed ones are its tail.
    let first = this.ring.length;
    while (first > 0 && (this.ring[first - 1]?.id ?? 0) > lastId) first--;
    return { kind: 'events', entries: this.ring.slice(first) };
  }

  /**
   * A new listener. With `lastEventId`, the replay comes first and, since this runs in one
   * synchronous step, nothing published in between can be missed or doubled.
   */
  subscribe(sink: HubSink, lastEventId: number | null = null): { subscription: Subscription; replay: Replay } {
    const replay: Replay = lastEventId === null ? { kind: 'events', entries: [] } : this.since(lastEventId);
    const subscriber = new Subscriber(sink, (removed, reason) => this.remove(removed, reason));
    this.subscribers.add(subscriber);
    this.countChanged();
    return { subscription: subscriber, replay };
  }

  /** The number of subscribers changed (timers that run only while someone listens). */
  onSubscribersChange(listener: (count: number) => void): void {
    this.countListeners.push(listener);
  }

  stats(): EventHubStats {
    return { subscribers: this.subscribers.size, published: this.published, dropped: this.dropped, lastId: this.lastId };
  }

  /** Drops every subscriber (shutdown: their responses end, clients reconnect to the next run). */
  closeAll(): void {
    for (const subscriber of [...this.subscribers]) this.remove(subscriber, 'shutdown');
  }

  private remove(subscriber: Subscriber, reason: DropReason | null): void {
    if (!subscriber.open) return;
    subscriber.open = false;
    subscriber.queue = [];
    subscriber.queuedBytes = 0;
    this.subscribers.delete(subscriber);
    if (reason !== null) {
      if (reason !== 'shutdown') this.dropped += 1;
      try {
        subscriber.sink.dropped(reason);
      } catch (error) {
        this.options.logger?.error({ err: error }, 'event subscriber drop handler failed');
      }
    }
    this.countChanged();
  }

  private deliver(subscriber: Subscriber, entry: HubEntry): void {
    const wasEmpty = subscriber.queue.length === 0;
    subscriber.queue.push(entry);
    subscriber.queuedBytes += entry.bytes;
    if (subscriber.queue.length > (this.options.maxQueuedEvents ?? 256)) {
      this.remove(subscriber, 'queue_events');
      return;
    }
    if (subscriber.queuedBytes > (this.options.maxQueuedBytes ?? 262_144)) {
      this.remove(subscriber, 'queue_bytes');
      return;
    }
    if (!wasEmpty) return;
    try {
      subscriber.sink.wake();
    } catch (error) {
      this.options.logger?.error({ err: error }, 'event subscriber wake failed');
    }
  }

  private keep(entry: HubEntry): void {
    this.ring.push(entry);
    this.ringBytes += entry.bytes;
    const maxEvents = this.options.replayEvents ?? 512;
    const maxBytes = this.options.replayBytes ?? 524_288;
    // Keep at least the newest event, however large, so a client one behind can still resume.
    while (this.ring.length > 1 && (this.ring.length > maxEvents || this.ringBytes > maxBytes)) {
      const evicted = this.ring.shift();
      if (!evicted) break;
      this.ringBytes -= evicted.bytes;
      this.evictedUpTo = evicted.id;
    }
  }

  private countChanged(): void {
    const count = this.subscribers.size;
    for (const listener of this.countListeners) {
      try {
        listener(count);
      } catch (error) {
        this.options.logger?.error({ err: error }, 'event subscriber-count listener failed');
      }
    }
  }
}

export interface SubscribedTimerOptions {
  readonly hub: Pick<EventHub, 'subscriberCount' | 'onSubscribersChange'>;
  readonly periodMs: number;
  /** One tick; a tick still running (an async health poll) makes the next one skip. */
  readonly tick: () => void | Promise<void>;
  readonly logger?: Logger;
}

/**
 * A timer that runs only between start() and stop() and only while someone listens: the level
 * sampler (10 Hz, reading the LevelSlot, never pushed from the capture callback) and the health
 * poll cost nothing while nobody has the page open.
 */
export class SubscribedTimer {
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private wired = false;
  private ticking = false;

  constructor(private readonly options: SubscribedTimerOptions) {}

  get running(): boolean {
    return this.timer !== null;
  }

  start(): Promise<void> {
    if (!this.wired) {
      this.wired = true;
      this.options.hub.onSubscribersChange(() => this.review());
    }
    this.started = true;
    this.review();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.started = false;
    this.review();
    return Promise.resolve();
  }

  private review(): void {
    const wanted = this.started && this.options.hub.subscriberCount > 0;
    if (wanted && !this.timer) {
      this.timer = setInterval(() => this.runTick(), this.options.periodMs);
      this.timer.unref();
    } else if (!wanted && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private runTick(): void {
    if (this.ticking) return;
    this.ticking = true;
    let result: void | Promise<void>;
    try {
      result = this.options.tick();
    } catch (error) {
      this.ticking = false;
      this.options.logger?.error({ err: error }, 'event timer tick failed');
      return;
    }
    if (!(result instanceof Promise)) {
      this.ticking = false;
      return;
    }
    void result
      .catch((error: unknown) => this.options.logger?.error({ err: error }, 'event timer tick failed'))
      .finally(() => {
        this.ticking = false;
      });
  }
}
