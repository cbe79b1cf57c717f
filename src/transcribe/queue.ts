/**
 * The runner of the persistent job queue: takes one due job at a time from SQLite, hands it to a
 * handler, and records the outcome. The handler says what happened; the runner owns the retry
 * policy:
 *  - done:   stored with its result;
 *  - retry:  a failed attempt; queued again after exponential backoff with jitter, or `failed`
 *            once `maxAttempts` attempts have failed;
 *  - defer:  not an attempt (breaker open, audio not on disk yet, shutting down); queued again;
 *  - fail:   a permanent failure (bad audio, recording gone), no more attempts.
 * A job that throws counts as `retry`. While `canRun()` says no (breaker open), no job is taken:
 * they stay queued, never dropped; call `wake()` when it may say yes again.
 *
 * Catch-up jobs (background redos, ./catch-up.ts) come after every due 'transcribe' job and are
 * taken only while `catchUpAllowed()` says yes. One already running is not aborted when the gate
 * closes (a recording starts): an abort kills whisper-server and reloads the model, which costs
 * the new recording more than letting one window (at most 30 s of audio) finish.
 */
import type { Logger } from '../log.js';
import { isStorageError, type StorageErrorReport } from '../ops/storage-errors.js';
import { backoffDelayMs } from '../util/backoff.js';
import type { WindowResult } from '../domain/transcript.js';
import type { Job, JobsRepo } from '../store/jobs.js';

export type JobOutcome =
  | { readonly kind: 'done'; readonly result: WindowResult }
  | { readonly kind: 'retry'; readonly error: string }
  | { readonly kind: 'defer'; readonly delayMs: number; readonly reason: string }
  | { readonly kind: 'fail'; readonly error: string };

export type JobHandler = (job: Job, signal: AbortSignal) => Promise<JobOutcome>;

export interface QueueRunnerOptions {
  readonly jobs: JobsRepo;
  readonly handler: JobHandler;
  /** Attempts (failed tries) before a job is failed for good. */
  readonly maxAttempts: number;
  readonly retry: { readonly initialMs: number; readonly maxMs: number; readonly random?: () => number };
  /** False while jobs must wait (breaker open). */
  readonly canRun?: () => boolean;
  /** True while catch-up jobs may be taken. Default: never. */
  readonly catchUpAllowed?: () => boolean;
  /** After a job reaches done or failed (not called for retries). */
  readonly onSettled?: (job: Job, state: 'done' | 'failed', error: string | null) => void;
  /** After every change of the number of pending jobs, and of busy/idle. */
  readonly onChange?: () => void;
  readonly logger: Logger;
  readonly nowMs?: () => number;
  /** A database error the runner caught (full card, I/O error): counted and shown as a fault. */
  readonly onStorageError?: StorageErrorReport;
  /** Longest sleep between looks at the queue when nothing wakes the runner. Default 5000. */
  readonly idlePollMs?: number;
}

export interface RunningJob {
  readonly jobId: number;
  readonly recordingId: string;
  readonly seq: number;
  readonly startedAtMs: number;
}

export class QueueRunner {
  private loop: Promise<void> | null = null;
  private controller = new AbortController();
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private current: RunningJob | null = null;

  constructor(private readonly options: QueueRunnerOptions) {}

  /** Interrupted jobs (state running after a crash) go back to the queue, then the loop starts. */
  async start(): Promise<void> {
    if (this.loop) return;
    try {
      const requeued = this.options.jobs.requeueRunning();
      if (requeued > 0) this.options.logger.warn({ requeued }, 'jobs interrupted by a restart are queued again');
    } catch (error) {
      // A full card must not keep the service from starting: the jobs stay `running` and are
      // queued again at the next start that can write.
      this.storageError('job-requeue', error);
    }
    this.controller = new AbortController();
    this.loop = this.run();
    await Promise.resolve();
  }

  /** Aborts the running job (it goes back to the queue, no attempt counted) and waits for the loop. */
  async stop(): Promise<void> {
    const loop = this.loop;
    if (!loop) return;
    this.controller.abort();
    this.wake();
    await loop;
    this.loop = null;
  }

  /** Look at the queue now (a job was enqueued, the breaker closed). */
  wake(): void {
    this.woken = true;
    const wakeUp = this.wakeUp;
    this.wakeUp = null;
    wakeUp?.();
  }

  running(): RunningJob | null {
    return this.current;
  }

  private catchUpAllowed(): boolean {
    try {
      return this.options.catchUpAllowed?.() === true;
    } catch (error) {
      // A broken gate must not stop the queue; background work simply waits.
      this.options.logger.error({ err: error }, 'catch-up gate threw');
      return false;
    }
  }

  private get nowMs(): number {
    return (this.options.nowMs ?? Date.now)();
  }

  private async run(): Promise<void> {
    const { jobs } = this.options;
    const signal = this.controller.signal;
    while (!signal.aborted) {
      this.woken = false;
      let job: Job | undefined;
      try {
        job = this.options.canRun?.() === false ? undefined : jobs.nextDue(this.nowMs, this.catchUpAllowed());
      } catch (error) {
        this.storageError('job-read', error);
      }
      if (!job) {
        await this.idle();
        continue;
      }
      // Not taken (the database refused the write): wait as if idle rather than spin on it.
      if (!(await this.runOne(job, signal))) await this.idle();
    }
  }

  /** Sleeps until the next job is due, a wake(), or idlePollMs. */
  private async idle(): Promise<void> {
    if (this.woken || this.controller.signal.aborted) return;
    let delayMs = this.options.idlePollMs ?? 5000;
    if (this.options.canRun?.() !== false) {
      // Without the gate, a due catch-up job must not count: the loop would spin on it.
      let dueAtMs: number | null = null;
      try {
        dueAtMs = this.options.jobs.nextDueAtMs(this.catchUpAllowed());
      } catch (error) {
        // Thrown here it would reject the loop nobody awaits until stop(): poll again instead.
        this.storageError('job-read', error);
      }
      if (dueAtMs !== null) delayMs = Math.max(1, Math.min(delayMs, dueAtMs - this.nowMs));
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, delayMs);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** False when the job could not be taken (it stays queued). */
  private async runOne(job: Job, signal: AbortSignal): Promise<boolean> {
    const { jobs, logger } = this.options;
    const log = logger.child({ jobId: job.id, recordingId: job.recordingId, seq: job.seq });
    try {
      jobs.markRunning(job.id);
    } catch (error) {
      this.storageError('job-start', error, { jobId: job.id, recordingId: job.recordingId });
      return false;
    }
    this.current = { jobId: job.id, recordingId: job.recordingId, seq: job.seq, startedAtMs: this.nowMs };
    this.notify();
    let outcome: JobOutcome;
    try {
      outcome = await this.options.handler(job, signal);
    } catch (error) {
      outcome = { kind: 'retry', error: error instanceof Error ? error.message : String(error) };
    }
    if (signal.aborted && outcome.kind !== 'done') {
      // Shutting down: whatever the handler saw was caused by our abort; not the job's fault.
      outcome = { kind: 'defer', delayMs: 0, reason: 'shutdown' };
    }
    try {
      this.record(job, outcome, log);
    } catch (error) {
      // The database refused the outcome (full card?): the job stays `running` and is queued
      // again at the next start; log and keep the loop alive.
      this.storageError('job-outcome', error, { jobId: job.id, recordingId: job.recordingId, seq: job.seq });
    }
    this.current = null;
    this.notify();
    return true;
  }

  private storageError(op: string, error: unknown, context: Record<string, unknown> = {}): void {
    if (this.options.onStorageError) {
      try {
        this.options.onStorageError(op, error, context);
        return;
      } catch (hookError) {
        this.options.logger.error({ err: hookError }, 'storage error hook threw');
      }
    }
    this.options.logger.error({ err: error, op, ...context }, 'job queue storage error');
  }

  private record(job: Job, outcome: JobOutcome, log: Logger): void {
    const { jobs } = this.options;
    switch (outcome.kind) {
      case 'done':
        jobs.markDone(job.id, outcome.result);
        log.info({ noSpeech: outcome.result.noSpeech, durationMs: Math.round(this.nowMs - (this.current?.startedAtMs ?? this.nowMs)), processingMs: Math.round(outcome.result.processingMs) }, 'job done');
        this.settled(job, 'done', null);
        return;
      case 'defer':
        jobs.defer(job.id, this.nowMs + outcome.delayMs);
        log.debug({ reason: outcome.reason, delayMs: outcome.delayMs }, 'job deferred');
        return;
      case 'fail':
        jobs.markFailed(job.id, outcome.error);
        log.error({ error: outcome.error, attempts: job.attempts + 1 }, 'job failed permanently');
        this.settled(job, 'failed', outcome.error);
        return;
      case 'retry': {
        const attempts = job.attempts + 1;
        if (attempts >= this.options.maxAttempts) {
          jobs.markFailed(job.id, outcome.error);
          log.error({ error: outcome.error, attempts }, 'job failed its last attempt');
          this.settled(job, 'failed', outcome.error);
          return;
        }
        const delayMs = backoffDelayMs(attempts - 1, this.options.retry);
        jobs.markRetry(job.id, outcome.error, this.nowMs + delayMs);
        log.warn({ error: outcome.error, attempts, delayMs }, 'job attempt failed; will retry');
        return;
      }
    }
  }

  private settled(job: Job, state: 'done' | 'failed', error: string | null): void {
    try {
      this.options.onSettled?.(job, state, error);
    } catch (caught) {
      if (isStorageError(caught)) this.storageError('job-settle', caught, { jobId: job.id, recordingId: job.recordingId });
      else this.options.logger.error({ err: caught, jobId: job.id }, 'job settle hook threw');
    }
  }

  private notify(): void {
    try {
      this.options.onChange?.();
    } catch (error) {
      this.options.logger.error({ err: error }, 'queue change hook threw');
    }
  }
}
