/**
 * Circuit breaker around engine calls (opossum 9).
 *
 * Opening rule: N CONSECUTIVE engine failures. opossum 9 only knows "error percentage over a
 * rolling window once volumeThreshold calls were made", which would keep a flapping engine
 * closed (one success among many failures resets nothing). So opossum's own trip is disabled
 * (errorThresholdPercentage 100: its test is `rate > threshold`, never true) and this wrapper
 * counts consecutive failures and calls `open()`. opossum still does the rest: fails fast while
 * open, goes half-open after `resetTimeout`, lets one probe through, closes on its success and
 * re-opens on its failure.
 *
 * Timeouts: opossum's `timeout` only rejects the promise; the native work would go on. Every call
 * gets its own AbortController, aborted on opossum's 'timeout' event, and the engine kills its
 * child on abort. `fire` settles only after the work itself has settled, so the caller never
 * starts the next request while the old one is still being torn down.
 *
 * What counts as an engine failure: EngineAbortedError (timeout), EngineUnavailableError,
 * EngineRequestError with a 5xx, a 2xx answer that cannot be read, or no status. A 4xx (bad
 * audio) is the job's fault, not the engine's: it is passed through opossum's errorFilter and
 * does not count (and closes a half-open breaker, since the engine did answer).
 */
import { createRequire } from 'node:module';
import type { BreakerState } from '../domain/transcript.js';
import type { Logger } from '../log.js';
import { EngineRequestError } from './engine.js';

export interface BreakerOptions {
  /** Consecutive engine failures that open the breaker. */
  readonly failureThreshold: number;
  /** Open -> half-open after this long. */
  readonly resetTimeoutMs: number;
  /** A call taking longer is aborted and counts as a failure. */
  readonly timeoutMs: number;
}

/** Thrown by `fire` while the breaker is open (the call was not made). */
export class BreakerOpenError extends Error {
  override readonly name = 'BreakerOpenError';
}

/** Thrown by `fire` when opossum's timeout fired (the work was aborted). */
export class BreakerTimeoutError extends Error {
  override readonly name = 'BreakerTimeoutError';
}

/** True for errors that say the engine is broken (they count towards opening the breaker). */
export function isEngineFailure(error: unknown): boolean {
  // Only a 4xx blames the request; a 2xx we cannot read (garbage, {"error"}) is the engine's fault.
  if (error instanceof EngineRequestError) return error.status === null || error.status < 400 || error.status >= 500;
  return true;
}

// opossum 9 ships no type declarations (and @types/opossum is not installed): the small part we
// use is typed here and the module is loaded through require.
type Work = (signal: AbortSignal) => Promise<unknown>;
interface Opossum {
  fire(work: Work, controller: AbortController): Promise<unknown>;
  open(): void;
  close(): void;
  shutdown(): void;
  readonly opened: boolean;
  readonly halfOpen: boolean;
  readonly closed: boolean;
  on(event: 'open' | 'close' | 'halfOpen', listener: () => void): void;
  on(event: 'success', listener: () => void): void;
  on(event: 'failure', listener: (error: unknown) => void): void;
  on(event: 'timeout', listener: (error: unknown, latencyMs: number, args: [Work, AbortController]) => void): void;
}
type OpossumCtor = new (action: (work: Work, controller: AbortController) => Promise<unknown>, options: Record<string, unknown>) => Opossum;
const require = createRequire(import.meta.url);

export class EngineBreaker {
  private breaker: Opossum | null = null;
  private consecutiveFailures = 0;
  private lastFailureMessage: string | null = null;
  private readonly listeners: ((state: BreakerState) => void)[] = [];

  constructor(
    private readonly options: BreakerOptions,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    if (this.breaker) return;
    const CircuitBreaker = require('opossum') as OpossumCtor;
    const breaker = new CircuitBreaker((work, controller) => work(controller.signal), {
      timeout: this.options.timeoutMs,
      resetTimeout: this.options.resetTimeoutMs,
      errorThresholdPercentage: 100,
      volumeThreshold: Number.MAX_SAFE_INTEGER,
      errorFilter: (error: unknown) => !isEngineFailure(error),
    });
    breaker.on('timeout', (_error, _latencyMs, args) => args[1].abort(new BreakerTimeoutError(`engine call exceeded ${this.options.timeoutMs} ms`)));
    breaker.on('success', () => {
      this.consecutiveFailures = 0;
    });
    breaker.on('failure', (error) => {
      this.consecutiveFailures++;
      this.lastFailureMessage = error instanceof Error ? error.message : String(error);
      this.logger.warn({ err: error, consecutiveFailures: this.consecutiveFailures }, 'engine call failed');
      if (this.consecutiveFailures >= this.options.failureThreshold && breaker.closed) breaker.open();
    });
    breaker.on('open', () => this.emit('open'));
    breaker.on('halfOpen', () => this.emit('halfOpen'));
    breaker.on('close', () => {
      this.consecutiveFailures = 0;
      this.lastFailureMessage = null;
      this.emit('closed');
    });
    this.breaker = breaker;
    await Promise.resolve();
  }

  async stop(): Promise<void> {
    const breaker = this.breaker;
    if (!breaker) return;
    this.breaker = null;
    breaker.shutdown();
    await Promise.resolve();
  }

  state(): BreakerState {
    const breaker = this.breaker;
    if (!breaker || breaker.closed) return 'closed';
    return breaker.halfOpen ? 'halfOpen' : 'open';
  }

  /** Whether a call would be let through now (closed, or half-open awaiting its probe). */
  allowsCalls(): boolean {
    return this.state() !== 'open';
  }

  get failures(): number {
    return this.consecutiveFailures;
  }

  /** What the latest engine failure said; null once the breaker has closed again. */
  get lastFailure(): string | null {
    return this.lastFailureMessage;
  }

  onStateChange(listener: (state: BreakerState) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Runs `work` through the breaker. Rejects with BreakerOpenError when open (work not run),
   * BreakerTimeoutError after a timeout (the work was aborted and has settled), or the work's own error.
   */
  async fire<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const breaker = this.breaker;
    if (!breaker) throw new BreakerOpenError('breaker not started');
    const controller = new AbortController();
    let settled: Promise<unknown> = Promise.resolve();
    const tracked: Work = (signal) => {
      const running = work(signal);
      settled = running.then(
        () => undefined,
        () => undefined,
      );
      return running;
    };
    try {
      return (await breaker.fire(tracked, controller)) as T;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'EOPENBREAKER') throw new BreakerOpenError('engine breaker is open');
      if (code === 'ETIMEDOUT') {
        await settled;
        throw new BreakerTimeoutError(`engine call exceeded ${this.options.timeoutMs} ms and was aborted`);
      }
      throw error;
    }
  }

  private emit(state: BreakerState): void {
    this.logger.info({ state, consecutiveFailures: this.consecutiveFailures }, 'engine breaker state');
    for (const listener of this.listeners) {
      try {
        listener(state);
      } catch (error) {
        this.logger.error({ err: error }, 'breaker listener threw');
      }
    }
  }
}
