/**
 * The transcription side of the appliance, as one facade over its parts: the live window cutter
 * per recording (live.ts), re-cutting recordings from their files and start-up resume
 * (resume.ts), the persistent job queue, one window job through the silence gate and the engine
 * behind a circuit breaker (window-job.ts), and the stitched transcript (assemble.ts).
 *
 * Recording status (every change through the domain's guard, src/domain/recording.ts):
 * `transcribing` from the moment `end()` queues the tail (or `enqueueRecording` queues a file),
 * never while it is still `recording`; `transcribed` once the transcript is stored; `failed`
 * (with the error, audio kept) when a window fails its last attempt. `enqueueRecording` starts over.
 */
import type { Logger } from '../log.js';
import type { HealthCheckResult } from '../domain/health.js';
import type { StorageErrorReport } from '../ops/storage-errors.js';
import type { Job, JobsRepo } from '../store/jobs.js';
import { SPEECH_RATE_HZ, type EngineName, type Transcript, type TranscriptionErrorKind } from '../domain/transcript.js';
import type { RecordingsRepo } from '../store/recordings.js';
import type { Store } from '../store/store.js';
import type { TranscriptHistoryEntry, TranscriptsRepo } from '../store/transcripts.js';
import { stitchJobs, TranscriptAssembler } from './assemble.js';
import type { BreakerState } from '../domain/transcript.js';
import { EngineBreaker } from './breaker.js';
import { LiveWindows, type LiveTranscription } from './live.js';
import { QueueRunner, type RunningJob } from './queue.js';
import type { RemoteTier } from './remote-tier.js';
import { recutRecording, resumeInterrupted } from './resume.js';
import type { Stitched } from './stitch.js';
import type { WindowSettings } from './window-settings.js';
import { WindowJobHandler, type CurrentModel, type TranscriptionEngine, type WindowJobOptions } from './window-job.js';

export interface TranscriberConfig extends WindowJobOptions {
  /** A pause closes a live window only after this much speech (e.g. 4000). */
  readonly minSpeechMs: number;
  /** Longest window (whisper: 30000). */
  readonly maxWindowMs: number;
  /** Failed attempts before a job (and its recording) is failed (e.g. 5). */
  readonly maxAttempts: number;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  readonly breaker: { readonly failureThreshold: number; readonly resetTimeoutMs: number; readonly timeoutMs: number };
}

export interface TranscriberHooks {
  /** A transcript was stored: engine seconds spent on it and its real-time factor. */
  readonly onTranscribed?: (durationS: number, realTimeFactor: number) => void;
  readonly onError?: (kind: TranscriptionErrorKind) => void;
  /** A window was transcribed by an engine (not the silence gate): which one. */
  readonly onWindow?: (engine: EngineName) => void;
  /** Pending jobs (queued + running), after every change. */
  readonly queueSize?: (size: number) => void;
  /** A database error caught by the queue or the live windows (full card, I/O error, read-only). */
  readonly onStorageError?: StorageErrorReport;
}

export interface TranscriberDeps {
  /** The shared repositories (the composer builds them once). */
  readonly store: Store;
  readonly recordingsDir: string;
  readonly engine: TranscriptionEngine;
  readonly config: TranscriberConfig;
  readonly logger: Logger;
  readonly hooks?: TranscriberHooks;
  /**
   * The model the engine runs now and its tier, read around every request so each window records
   * what it ran with. Default: the engine's model path, tier 'normal'.
   */
  readonly currentModel?: () => CurrentModel;
  /** Beam and encoder margin per window (the degradation level's: pipeline's windowSettingsOf). Default: config.beamSize. */
  readonly windowSettings?: () => WindowSettings;
  readonly nowMs?: () => number;
  /**
   * True while transcription must wait (e.g. DegradePolicy's `decision.defer` under severe
   * pressure): no job is taken, nothing is dropped. Looked at before every job and at least every
   * 5 s; call `wake()` when it turns false to resume at once.
   */
  readonly paused?: () => boolean;
  /**
   * The vocabulary sent to whisper as its prompt, read for every window. Default: the store's
   * (`store.vocabulary.get()`); a test or another source may pass its own.
   */
  readonly vocabulary?: () => readonly string[];
  /**
   * The remote engine tier (config `transcription.remote`): started and stopped with the
   * transcriber. While it takes windows, jobs run even when `paused()` holds the local engine
   * back or the local breaker is open; a window it fails then waits for the local engine.
   */
  readonly remote?: RemoteTier;
  /** Re-queue, at start, recordings left `recorded`/`transcribing` without complete jobs. Default true. */
  readonly resumeAtStart?: boolean;
}

export interface PartialTranscript extends Stitched {
  readonly windowsDone: number;
  readonly windowsPending: number;
  /** True when every window including the tail is done (the stored transcript is the same text). */
  readonly complete: boolean;
}

/**
 * What moved in the queue, for live views (the SSE events): a window queued (`seq` null when a
 * whole recording was queued again from its file), a job taken, a job settled (after its
 * outcome, and the transcript if it completed the recording, are stored), the pending count.
 */
export type TranscriptionProgress =
  | { readonly kind: 'queued'; readonly recordingId: string; readonly seq: number | null; readonly pending: number }
  | { readonly kind: 'running'; readonly job: RunningJob }
  | { readonly kind: 'settled'; readonly recordingId: string; readonly seq: number; readonly state: 'done' | 'failed' }
  | { readonly kind: 'pending'; readonly count: number; readonly running: RunningJob | null };

export interface TranscriberStatus {
  /** Jobs queued or running. */
  readonly queueSize: number;
  readonly oldestJobAgeMs: number | null;
  readonly breaker: BreakerState;
  readonly breakerFailures: number;
  readonly running: RunningJob | null;
  readonly busy: boolean;
  readonly paused: boolean;
}

export class Transcriber {
  readonly recordings: RecordingsRepo;
  readonly jobs: JobsRepo;
  readonly transcripts: TranscriptsRepo;
  private readonly breaker: EngineBreaker;
  private readonly runner: QueueRunner;
  private readonly assembler: TranscriptAssembler;
  private readonly live: LiveWindows;
  private readonly log: Logger;
  private readonly busyListeners: ((busy: boolean) => void)[] = [];
  private readonly progressListeners: ((progress: TranscriptionProgress) => void)[] = [];
  private catchUpGate: (() => boolean) | null = null;
  private lastRunningJobId: number | null = null;
  private started = false;
  private wired = false;
  private busy = false;
  private lastQueueSize = -1;

  constructor(private readonly deps: TranscriberDeps) {
    const nowMs = deps.nowMs ?? Date.now;
    // The composer names this logger; a child with a second `module` key would duplicate it.
    this.log = deps.logger;
    this.recordings = deps.store.recordings;
    this.jobs = deps.store.jobs;
    this.transcripts = deps.store.transcripts;
    this.breaker = new EngineBreaker(deps.config.breaker, this.log.child({ part: 'breaker' }));
    const reportError = (kind: TranscriptionErrorKind): void => this.hookError(kind);
    const onStorageError: StorageErrorReport = (op, error, context) => this.deps.hooks?.onStorageError?.(op, error, context);
    const windowJob = new WindowJobHandler({
      recordings: this.recordings,
      recordingsDir: deps.recordingsDir,
      engine: deps.engine,
      breaker: this.breaker,
      options: deps.config,
      reportError,
      vocabulary: deps.vocabulary ?? (() => deps.store.vocabulary.get()),
      currentModel: deps.currentModel ?? (() => ({ path: deps.engine.status().model, tier: 'normal' })),
      windowSettings: deps.windowSettings,
      ...(deps.remote ? { remote: deps.remote, localAllowed: () => this.deps.paused?.() !== true } : {}),
      onWindow: (engine) => this.hookWindow(engine),
    });
    this.assembler = new TranscriptAssembler({
      store: deps.store,
      engine: deps.engine,
      logger: this.log,
      reportError,
      onTranscribed: (durationS, realTimeFactor) => this.deps.hooks?.onTranscribed?.(durationS, realTimeFactor),
      nowMs,
      onStorageError,
    });
    this.live = new LiveWindows({
      store: deps.store,
      cut: deps.config,
      logger: this.log,
      changed: () => this.changed(),
      queued: (recordingId, seq) => this.queued(recordingId, seq),
      wake: () => this.runner.wake(),
      onStorageError,
    });
    this.runner = new QueueRunner({
      jobs: this.jobs,
      handler: (job, signal) => windowJob.run(job, signal),
      maxAttempts: deps.config.maxAttempts,
      retry: deps.config.retry,
      canRun: () => (this.breaker.allowsCalls() && this.deps.paused?.() !== true) || this.deps.remote?.pick() === 'remote',
      catchUpAllowed: () => this.catchUpGate?.() === true,
      onSettled: (job, state, error) => {
        this.assembler.settled(job, state, error);
        this.progress({ kind: 'settled', recordingId: job.recordingId, seq: job.seq, state });
      },
      onChange: () => this.changed(),
      onStorageError,
      logger: this.log,
      nowMs,
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (!this.wired) {
      this.wired = true;
      this.breaker.onStateChange((state) => {
        if (state !== 'open') this.runner.wake();
      });
      this.deps.remote?.onAvailable(() => this.runner.wake());
    }
    await this.breaker.start();
    await this.deps.remote?.start();
    if (this.deps.resumeAtStart !== false) await this.resumeInterrupted();
    await this.runner.start();
    this.changed();
  }

  /**
   * Queues what an interruption left without its jobs: at start, and when storage takes writes
   * again (a take cut short by a full card whose tail could not be queued), so it is transcribed
   * without a restart. Never throws.
   */
  async resumeInterrupted(): Promise<void> {
    try {
      const onStorageError = this.deps.hooks?.onStorageError;
      await resumeInterrupted({ store: this.deps.store, assembler: this.assembler, enqueueRecording: (id) => this.enqueueRecording(id), logger: this.log, ...(onStorageError ? { onStorageError } : {}) });
    } catch (error) {
      // A database that cannot be read or written must not keep the service down: the
      // recordings are resumed when storage works again or at the next start (the queue polls meanwhile).
      this.deps.hooks?.onStorageError?.('resume', error);
      if (!this.deps.hooks?.onStorageError) this.log.error({ err: error }, 'cannot resume interrupted transcriptions');
    }
  }

  /** Stops taking jobs; a running one is aborted and stays queued (no attempt counted). Safe twice. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.runner.stop();
    await this.deps.remote?.stop();
    await this.breaker.stop();
  }

  /** Look at the queue now (after `paused()` turned false). */
  wake(): void {
    this.runner.wake();
  }

  /** LED/state: true while jobs are pending. */
  onBusyChange(listener: (busy: boolean) => void): void {
    this.busyListeners.push(listener);
  }

  /** Live views: every queue movement (listeners must be cheap; they run on the queue's path). */
  onProgress(listener: (progress: TranscriptionProgress) => void): void {
    this.progressListeners.push(listener);
  }

  status(): TranscriberStatus {
    const pending = this.jobs.pending();
    const nowMs = (this.deps.nowMs ?? Date.now)();
    return {
      queueSize: pending.count,
      oldestJobAgeMs: pending.oldestCreatedAtMs === null ? null : Math.max(0, nowMs - pending.oldestCreatedAtMs),
      breaker: this.breaker.state(),
      breakerFailures: this.breaker.failures,
      running: this.runner.running(),
      busy: pending.count > 0,
      paused: this.deps.paused?.() === true,
    };
  }

  /**
   * For the health registry (`registry.register('transcriber', async () => transcriber.health())`):
   * degraded while the breaker is not closed (jobs wait, nothing is lost), healthy otherwise.
   */
  health(): HealthCheckResult {
    const status = this.status();
    const lastFailure = this.breaker.lastFailure;
    const details = { queueSize: status.queueSize, oldestJobAgeMs: status.oldestJobAgeMs, breaker: status.breaker, lastFailure };
    if (status.breaker === 'closed') {
      return { status: 'healthy', message: `transcriber running; ${status.queueSize} job(s) pending`, details };
    }
    return {
      status: 'degraded',
      message: `engine breaker ${status.breaker} after repeated engine failures${lastFailure ? ` (last: ${lastFailure})` : ''}; ${status.queueSize} job(s) wait in the queue`,
      details,
    };
  }

  /**
   * A recording has started: the returned handle cuts windows as samples arrive and enqueues each
   * as soon as it closes, so at release only the tail is left.
   */
  beginRecording(recordingId: string, sampleRateHz = SPEECH_RATE_HZ): LiveTranscription {
    return this.live.begin(recordingId, sampleRateHz);
  }

  /**
   * Transcribes a finished recording from its file (the short-clip path, a restart, and
   * `POST /api/recordings/:id/transcribe`): drops its old jobs and transcript, cuts it into
   * windows, and queues them. Returns the number of windows.
   */
  async enqueueRecording(recordingId: string): Promise<number> {
    const windows = await recutRecording({ store: this.deps.store, recordingsDir: this.deps.recordingsDir, cut: this.deps.config }, recordingId);
    this.log.info({ recordingId, windows }, 'recording queued for transcription');
    this.queued(recordingId, null);
    this.changed();
    this.runner.wake();
    return windows;
  }

  /**
   * Installs the gate of catch-up jobs (the catch-up part, while it runs): they are taken only
   * while it says yes, after every other due job. Returns the uninstaller. Without a gate,
   * catch-up jobs wait.
   */
  gateCatchUp(gate: () => boolean): () => void {
    this.catchUpGate = gate;
    return () => {
      if (this.catchUpGate === gate) this.catchUpGate = null;
    };
  }

  /**
   * Redoes a transcribed recording in the background: its windows go back to the queue as
   * catch-up jobs; it stays `transcribed` with its transcript until the redo replaces it.
   * Returns the number of windows queued (0 when it has none, or some still pending).
   */
  queueCatchUp(recordingId: string): number {
    const windows = this.jobs.queueCatchUp(recordingId);
    if (windows > 0) {
      this.log.info({ recordingId, windows }, 'transcript queued for catch-up at the normal tier');
      this.runner.wake();
    }
    return windows;
  }

  /** Catch-up jobs queued or running. */
  catchUpPending(): number {
    return this.jobs.catchUpPending();
  }

  /** Text of the windows done so far, in order (stops at the first window not done yet). */
  partial(recordingId: string): PartialTranscript {
    const jobs = this.jobs.forRecording(recordingId);
    const done: Job[] = [];
    for (const job of jobs) {
      if (job.state !== 'done' || job.result === null) break;
      done.push(job);
    }
    const rateHz = this.recordings.get(recordingId)?.sampleRateHz ?? SPEECH_RATE_HZ;
    const stitched = stitchJobs(done, rateHz);
    return {
      ...stitched,
      windowsDone: done.length,
      windowsPending: jobs.filter((job) => job.state === 'queued' || job.state === 'running').length,
      complete: done.length === jobs.length && jobs.some((job) => job.final),
    };
  }

  transcript(recordingId: string): Transcript | undefined {
    return this.transcripts.get(recordingId);
  }

  /** Transcripts of the recording that newer ones replaced, newest first. */
  history(recordingId: string): TranscriptHistoryEntry[] {
    return this.transcripts.history(recordingId);
  }

  private hookWindow(engine: EngineName): void {
    try {
      this.deps.hooks?.onWindow?.(engine);
    } catch (error) {
      this.log.error({ err: error, engine }, 'window hook threw');
    }
  }

  private hookError(kind: TranscriptionErrorKind): void {
    try {
      this.deps.hooks?.onError?.(kind);
    } catch (error) {
      this.log.error({ err: error, kind }, 'error hook threw');
    }
  }

  private queued(recordingId: string, seq: number | null): void {
    if (this.progressListeners.length === 0) return;
    let pending: number;
    try {
      pending = this.jobs.pending().count;
    } catch {
      return;
    }
    this.progress({ kind: 'queued', recordingId, seq, pending });
  }

  private progress(progress: TranscriptionProgress): void {
    for (const listener of this.progressListeners) {
      try {
        listener(progress);
      } catch (error) {
        this.log.error({ err: error, progress: progress.kind }, 'progress listener threw');
      }
    }
  }

  private changed(): void {
    let size: number;
    try {
      size = this.jobs.pending().count;
    } catch {
      return;
    }
    const running = this.runner.running();
    const runningJobId = running?.jobId ?? null;
    if (running && runningJobId !== this.lastRunningJobId) this.progress({ kind: 'running', job: running });
    if (size !== this.lastQueueSize || runningJobId !== this.lastRunningJobId) {
      this.lastRunningJobId = runningJobId;
      this.progress({ kind: 'pending', count: size, running });
    }
    if (size !== this.lastQueueSize) {
      this.lastQueueSize = size;
      this.deps.hooks?.queueSize?.(size);
    }
    const busy = size > 0;
    if (busy !== this.busy) {
      this.busy = busy;
      for (const listener of this.busyListeners) {
        try {
          listener(busy);
        } catch (error) {
          this.log.error({ err: error }, 'busy listener threw');
        }
      }
    }
  }
}
