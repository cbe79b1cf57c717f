import type { Logger } from '../log.js';
import type { OutboxEntry, OutboxRepo } from '../store/outbox.js';
import { backoffDelayMs, type BackoffOptions } from '../util/backoff.js';
import type { Sink } from './sink.js';

/**
 * Takes each sink's outbox rows in order and hands them over one at a time: a sink's deliveries
 * arrive in the order they were made, and a sink that fails holds only its own line (the others
 * go on). A failure sets the row's next attempt by exponential backoff with jitter and counts
 * the attempt; nothing is dropped (at least once, with the same delivery id).
 *
 * Nothing here waits on the capture or transcription path: each sink runs its own async loop,
 * with one delivery in flight (bounded concurrency: one per sink), and every database call is a
 * single indexed statement.
 */

export interface SinkCounters {
  delivered: number;
  failed: number;
  lastError: string | null;
  lastErrorAtMs: number | null;
  lastDeliveredAtMs: number | null;
}

export interface DispatcherOptions {
  readonly outbox: Pick<OutboxRepo, 'head' | 'markDelivered' | 'markFailed' | 'prune'>;
  readonly sinks: readonly Sink[];
  readonly retry: BackoffOptions;
  /** A delivery that takes longer is aborted and counted as failed. */
  readonly deliveryTimeoutMs: number;
  /** Delivered rows kept per sink as the delivery log. */
  readonly keepDelivered: number;
  readonly logger: Logger;
  readonly nowMs?: () => number;
}

/** A database error (full card) while reading the outbox: try again after this long. */
const STORE_RETRY_MS = 5000;

class SinkLoop {
  readonly counters: SinkCounters = { delivered: 0, failed: 0, lastError: null, lastErrorAtMs: null, lastDeliveredAtMs: null };
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private controller: AbortController | null = null;
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(
    readonly sink: Sink,
    private readonly options: DispatcherOptions,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.controller = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.controller?.abort(new Error('stopping'));
    this.wake();
    await this.loop;
    this.loop = null;
  }

  wake(): void {
    this.woken = true;
    const wakeUp = this.wakeUp;
    this.wakeUp = null;
    wakeUp?.();
  }

  private now(): number {
    return (this.options.nowMs ?? Date.now)();
  }

  /** Until wake(), stop() or `ms` (never, when null); a wake-up before the wait is not lost. */
  private async pause(ms: number | null): Promise<void> {
    if (this.woken || !this.running) {
      this.woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = ms === null ? null : setTimeout(resolve, Math.max(0, ms));
      this.wakeUp = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
    });
    this.wakeUp = null;
    this.woken = false;
  }

  private async run(): Promise<void> {
    const { sink, options } = this;
    while (this.running) {
      if (!sink.ready()) {
        await this.pause(null);
        continue;
      }
      let entry: OutboxEntry | undefined;
      try {
        entry = options.outbox.head(sink.name);
      } catch (error) {
        this.noteError(`cannot read the outbox: ${messageOf(error)}`);
        await this.pause(STORE_RETRY_MS);
        continue;
      }
      if (!entry) {
        await this.pause(null);
        continue;
      }
      const waitMs = entry.nextAttemptAtMs - this.now();
      if (waitMs > 0) {
        await this.pause(waitMs);
        continue;
      }
      await this.attempt(entry);
    }
  }

  private async attempt(entry: OutboxEntry): Promise<void> {
    const { sink, options } = this;
    const controller = new AbortController();
    const stopping = this.controller?.signal;
    const onStop = (): void => controller.abort(new Error('stopping'));
    stopping?.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${options.deliveryTimeoutMs} ms`)), options.deliveryTimeoutMs);
    try {
      await untilAborted(sink.deliver(entry, controller.signal), controller.signal);
      // A delivery that succeeds while stopping still counts: the receiver has it.
      this.counters.delivered += 1;
      this.counters.lastDeliveredAtMs = this.now();
      this.counters.lastError = null;
      try {
        options.outbox.markDelivered(entry.id);
        if (this.counters.delivered % 50 === 0) options.outbox.prune(sink.name, options.keepDelivered);
      } catch (error) {
        // The row stays pending and goes again: a duplicate with the same delivery id, never a loss.
        this.noteError(`delivered, but cannot record it: ${messageOf(error)}`);
        await this.pause(STORE_RETRY_MS);
      }
    } catch (error) {
      if (!this.running) return; // cut short by stop(): not an attempt, it goes again next start
      const message = controller.signal.aborted ? messageOf(controller.signal.reason) : messageOf(error);
      this.counters.failed += 1;
      this.noteError(message);
      const delayMs = backoffDelayMs(entry.attempts, options.retry);
      options.logger.warn({ sink: sink.name, deliveryId: entry.id, attempts: entry.attempts + 1, retryInMs: delayMs, error: message }, 'delivery failed; will retry');
      try {
        options.outbox.markFailed(entry.id, message, this.now() + delayMs);
      } catch (storeError) {
        this.noteError(`cannot record a failed delivery: ${messageOf(storeError)}`);
        await this.pause(STORE_RETRY_MS);
      }
    } finally {
      clearTimeout(timer);
      stopping?.removeEventListener('abort', onStop);
    }
  }

  private noteError(message: string): void {
    this.counters.lastError = message;
    this.counters.lastErrorAtMs = this.now();
  }
}

export class OutboxDispatcher {
  private readonly loops = new Map<string, SinkLoop>();

  constructor(options: DispatcherOptions) {
    for (const sink of options.sinks) {
      const loop = new SinkLoop(sink, options);
      this.loops.set(sink.name, loop);
      sink.onReady(() => loop.wake());
    }
  }

  start(): void {
    for (const loop of this.loops.values()) loop.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.loops.values()].map((loop) => loop.stop()));
  }

  /** New rows were stored: every sink looks at its line again. */
  wake(): void {
    for (const loop of this.loops.values()) loop.wake();
  }

  counters(sink: string): SinkCounters | null {
    return this.loops.get(sink)?.counters ?? null;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The delivery, or a rejection as soon as the signal aborts (the delivery timeout, stop). A sink
 * that ignores its signal (a filesystem call on a hung network folder cannot be cancelled) must
 * still not hold its loop: the attempt counts as failed and is retried; what the sink left
 * running settles on its own, and its result is dropped.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    // Settling after the abort is a no-op for this promise; the listener goes either way.
    work
      .then(resolve, (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))))
      .finally(() => signal.removeEventListener('abort', onAbort))
      .catch(() => undefined);
  });
}
