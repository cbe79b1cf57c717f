/**
 * The transcription side of the appliance, as one facade: a live window cutter per recording,
 * the persistent job queue, the silence gate, the engine behind a circuit breaker, stitching and
 * storing transcripts, and the recording's status.
 *
 * Audio source of a job: the recording's WAV file, read when the job runs. While the recording is
 * still being made, a window that is not on disk yet (the recorder writes in batches) is deferred
 * for `audioWaitMs` without counting an attempt; after a restart the same file serves every job,
 * so nothing in memory is needed to resume.
 *
 * Recording status (every change through the domain's guard, src/domain/recording.ts):
 * `transcribing` from the moment `end()` queues the tail (or `enqueueRecording` queues a file),
 * never while it is still `recording`; `transcribed` once the transcript is stored; `failed`
 * (with the error, audio kept) when a window fails its last attempt. `enqueueRecording` starts over.
 */
import { basename, join } from 'node:path';
import type { Logger } from '../log.js';
import type { HealthCheckResult } from '../ops/health.js';
import { readPcmRange, type PcmRange } from '../audio/wav.js';
import { IllegalTransitionError, type Recording, type RecordingStatus } from '../domain/recording.js';
import { SPEECH_RATE_HZ, type Transcript, type TranscriptionErrorKind, type WindowResult, type WindowSegment } from '../domain/transcript.js';
import type { Job, JobsRepo } from '../store/jobs.js';
import type { RecordingsRepo } from '../store/recordings.js';
import type { Store } from '../store/store.js';
import type { TranscriptsRepo } from '../store/transcripts.js';
import { BreakerOpenError, BreakerTimeoutError, EngineBreaker, isEngineFailure, type BreakerState } from './breaker.js';
import { audioCtxFor, EngineAbortedError, type TranscribeRequest } from './engine.js';
import { QueueRunner, type JobOutcome, type RunningJob } from './queue.js';
import { stitchWindows, type Stitched } from './stitch.js';
import { detectSpeech } from './vad.js';
import { WindowCutter, type CutWindow } from './windows.js';


/** What the transcriber needs back from the engine for one window. */
export interface EngineTranscription {
  readonly text: string;
  /** Times relative to the window. */
  readonly segments: readonly WindowSegment[];
  readonly processingMs: number;
  /** Threads of the engine process that ran the request: stored per window and transcript. */
  readonly threads: number;
}

/** The part of WhisperEngine the transcriber uses (a scripted fake in unit tests). */
export interface TranscriptionEngine {
  transcribe(request: TranscribeRequest): Promise<EngineTranscription>;
  status(): { readonly model: string; readonly threads: number };
}

export interface TranscriberConfig {
  /** A pause closes a live window only after this much speech (e.g. 4000). */
  readonly minSpeechMs: number;
  /** Longest window (whisper: 30000). */
  readonly maxWindowMs: number;
  /** Failed attempts before a job (and its recording) is failed (e.g. 5). */
  readonly maxAttempts: number;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  readonly breaker: { readonly failureThreshold: number; readonly resetTimeoutMs: number; readonly timeoutMs: number };
  /** 1 = greedy (default). */
  readonly beamSize?: number;
  /** Speech needed by the silence gate per window. Default 200. */
  readonly gateMinSpeechMs?: number;
  /** How long to wait before looking again for audio not yet on disk. Default 250. */
  readonly audioWaitMs?: number;
}

export interface TranscriberHooks {
  /** A transcript was stored: engine seconds spent on it and its real-time factor. */
  readonly onTranscribed?: (durationS: number, realTimeFactor: number) => void;
  readonly onError?: (kind: TranscriptionErrorKind) => void;
  /** Pending jobs (queued + running), after every change. */
  readonly queueSize?: (size: number) => void;
}

export interface TranscriberDeps {
  /** The shared repositories (the composer builds them once). */
  readonly store: Store;
  readonly recordingsDir: string;
  readonly engine: TranscriptionEngine;
  readonly config: TranscriberConfig;
  readonly logger: Logger;
  readonly hooks?: TranscriberHooks;
  /** Whether the appliance runs degraded (reduced model/settings): stored with each transcript. */
  readonly degraded?: () => boolean;
  readonly nowMs?: () => number;
  /**
   * True while transcription must wait (e.g. DegradePolicy's `decision.defer` under severe
   * pressure): no job is taken, nothing is dropped. Looked at before every job and at least every
   * 5 s; call `wake()` when it turns false to resume at once.
   */
  readonly paused?: () => boolean;
  /** Re-queue, at start, recordings left `recorded`/`transcribing` without complete jobs. Default true. */
  readonly resumeAtStart?: boolean;
}

/** The live side of one recording: feed it what the recorder writes, end it after the take is stored. */
export interface LiveTranscription {
  /** The next samples of the recording (exactly what goes into its WAV, in order). No allocation. */
  feed(samples: Int16Array, start?: number, end?: number): void;
  /**
   * Queues the tail window and moves the recording to `transcribing`, at once and in one step.
   * Call after `recordings.finish(...)`, with the data length in samples. Never throws: if the row
   * is not `recorded` (the guard refuses the move), nothing is queued and the error is logged;
   * start-up resume transcribes the recording from its file.
   */
  end(totalSamples: number): void;
  /** The recording was discarded: drop its jobs. */
  cancel(): void;
}

export interface PartialTranscript extends Stitched {
  readonly windowsDone: number;
  readonly windowsPending: number;
  /** True when every window including the tail is done (the stored transcript is the same text). */
  readonly complete: boolean;
}

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

export class UnknownRecordingError extends Error {
  override readonly name = 'UnknownRecordingError';
}
export class RecordingInProgressError extends Error {
  override readonly name = 'RecordingInProgressError';
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export class Transcriber {
  readonly recordings: RecordingsRepo;
  readonly jobs: JobsRepo;
  readonly transcripts: TranscriptsRepo;
  private readonly breaker: EngineBreaker;
  private readonly runner: QueueRunner;
  private readonly log: Logger;
  private readonly busyListeners: ((busy: boolean) => void)[] = [];
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
    this.runner = new QueueRunner({
      jobs: this.jobs,
      handler: (job, signal) => this.handle(job, signal),
      maxAttempts: deps.config.maxAttempts,
      retry: deps.config.retry,
      canRun: () => this.breaker.allowsCalls() && this.deps.paused?.() !== true,
      onSettled: (job, state, error) => this.settled(job, state, error),
      onChange: () => this.changed(),
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
    }
    await this.breaker.start();
    if (this.deps.resumeAtStart !== false) await this.resume();
    await this.runner.start();
    this.changed();
  }

  /** Stops taking jobs; a running one is aborted and stays queued (no attempt counted). Safe twice. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.runner.stop();
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
    const details = { queueSize: status.queueSize, oldestJobAgeMs: status.oldestJobAgeMs, breaker: status.breaker };
    if (status.breaker === 'closed') {
      return { status: 'healthy', message: `transcriber running; ${status.queueSize} job(s) pending`, details };
    }
    return {
      status: 'degraded',
      message: `engine breaker ${status.breaker} after repeated engine failures; ${status.queueSize} job(s) wait in the queue`,
      details,
    };
  }

  /**
   * A recording has started: the returned handle cuts windows as samples arrive and enqueues each
   * as soon as it closes, so at release only the tail is left.
   */
  beginRecording(recordingId: string, sampleRateHz = SPEECH_RATE_HZ): LiveTranscription {
    const { config } = this.deps;
    let ended = false;
    // Windows cut on the capture call stack wait here and are inserted off it (each insert
    // commits with an fsync); `end()` inserts what is still waiting first, so seq order holds.
    const waiting: CutWindow[] = [];
    let drainScheduled = false;
    const drain = (): void => {
      drainScheduled = false;
      for (let window = waiting.shift(); window !== undefined; window = waiting.shift()) this.enqueueWindow(recordingId, window, false);
    };
    const cutter = new WindowCutter({ sampleRateHz, minSpeechMs: config.minSpeechMs, maxWindowMs: config.maxWindowMs }, (window) => {
      waiting.push(window);
      if (!drainScheduled) {
        drainScheduled = true;
        setImmediate(drain);
      }
    });
    return {
      feed: (samples, start = 0, end = samples.length) => {
        if (!ended) cutter.feed(samples, start, end);
      },
      end: (totalSamples) => {
        if (ended) return;
        ended = true;
        const tail = cutter.finish(totalSamples);
        drain();
        this.endLive(recordingId, tail);
      },
      cancel: () => {
        ended = true;
        waiting.length = 0;
        setImmediate(() => {
          try {
            this.jobs.deleteForRecording(recordingId);
          } catch (error) {
            this.log.error({ err: error, recordingId }, 'cannot drop the windows of a cancelled recording');
          }
          this.changed();
        });
      },
    };
  }

  /** The tail window and `recorded -> transcribing`, in one transaction: both or neither. */
  private endLive(recordingId: string, tail: CutWindow): void {
    try {
      this.deps.store.transaction(() => {
        this.jobs.enqueue({ recordingId, seq: tail.seq, startSample: tail.startSample, endSample: tail.endSample, final: true });
        if (this.recordings.setStatus(recordingId, 'transcribing') === undefined) throw new UnknownRecordingError(`no recording ${recordingId}`);
      });
      this.log.debug({ recordingId, ...tail }, 'tail window queued');
    } catch (error) {
      // Not `recorded` yet (end() before finish()), deleted meanwhile, or the card refused the
      // write: the windows already queued stay, and resume at the next start cuts the file again.
      this.log.error({ err: error, recordingId }, 'cannot queue the tail window');
    }
    this.changed();
    this.runner.wake();
  }

  /**
   * Transcribes a finished recording from its file (the short-clip path, a restart, and
   * `POST /api/recordings/:id/transcribe`): drops its old jobs and transcript, cuts it into
   * windows, and queues them. Returns the number of windows.
   */
  async enqueueRecording(recordingId: string): Promise<number> {
    const recording = this.recordings.get(recordingId);
    if (!recording) throw new UnknownRecordingError(`no recording ${recordingId}`);
    if (recording.status === 'recording') throw new RecordingInProgressError(`recording ${recordingId} is still being recorded`);
    const windows = await this.cutFile(recording);
    this.deps.store.transaction(() => {
      this.jobs.deleteForRecording(recordingId);
      this.transcripts.delete(recordingId);
      windows.forEach((window, index) => {
        this.jobs.enqueue({ recordingId, seq: window.seq, startSample: window.startSample, endSample: window.endSample, final: index === windows.length - 1 });
      });
      // Already `transcribing` (resume of an interrupted one): its jobs were replaced, the status stands.
      if (recording.status !== 'transcribing') this.recordings.setStatus(recordingId, 'transcribing');
    });
    this.log.info({ recordingId, windows: windows.length }, 'recording queued for transcription');
    this.changed();
    this.runner.wake();
    return windows.length;
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
    const stitched = this.stitch(done, rateHz);
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

  // ---- jobs -----------------------------------------------------------------------------------

  private enqueueWindow(recordingId: string, window: CutWindow, final: boolean): void {
    try {
      this.jobs.enqueue({ recordingId, seq: window.seq, startSample: window.startSample, endSample: window.endSample, final });
      this.log.debug({ recordingId, ...window, final }, 'window queued');
    } catch (error) {
      // Recording deleted meanwhile (foreign key) or the card refused the write: the recording
      // can still be transcribed later through enqueueRecording.
      this.log.error({ err: error, recordingId, seq: window.seq }, 'cannot queue a window');
    }
    this.changed();
    this.runner.wake();
  }

  private async handle(job: Job, signal: AbortSignal): Promise<JobOutcome> {
    const { config, engine } = this.deps;
    const recording = this.recordings.get(job.recordingId);
    if (!recording) return { kind: 'fail', error: 'recording no longer exists' };
    if (recording.sampleRateHz !== SPEECH_RATE_HZ) {
      this.hookError('bad_audio');
      return { kind: 'fail', error: `recording is ${recording.sampleRateHz} Hz; the engine takes ${SPEECH_RATE_HZ} Hz` };
    }
    let range: PcmRange;
    try {
      range = await readPcmRange(join(this.deps.recordingsDir, recording.audioPath), job.startSample, job.endSample);
    } catch (error) {
      if (recording.status === 'recording') return { kind: 'defer', delayMs: config.audioWaitMs ?? 250, reason: `audio not readable yet: ${describe(error)}` };
      this.hookError('bad_audio');
      return { kind: 'retry', error: `cannot read audio: ${describe(error)}` };
    }
    const { sampleRateHz, channels } = range.format;
    if (channels !== 1 || sampleRateHz !== SPEECH_RATE_HZ) {
      this.hookError('bad_audio');
      return { kind: 'fail', error: `audio file is ${channels} channel(s) at ${sampleRateHz} Hz; the engine takes mono ${SPEECH_RATE_HZ} Hz` };
    }
    if (range.availableFrames < job.endSample && recording.status === 'recording') {
      return { kind: 'defer', delayMs: config.audioWaitMs ?? 250, reason: 'window not on disk yet' };
    }
    const model = basename(engine.status().model);
    const gate = detectSpeech(range.pcm, { sampleRateHz, minSpeechMs: config.gateMinSpeechMs ?? 200 });
    if (!gate.speech) {
      // threads 0: no engine process ran this window.
      return { kind: 'done', result: { segments: [], noSpeech: true, processingMs: 0, audioCtx: 0, model, threads: 0 } };
    }
    const durationMs = (range.pcm.length / sampleRateHz) * 1000;
    const audioCtx = audioCtxFor(durationMs);
    const probe = this.breaker.state() === 'halfOpen';
    let result: EngineTranscription;
    try {
      result = await this.breaker.fire((breakerSignal) =>
        engine.transcribe({ pcm: range.pcm, audioCtx, beamSize: config.beamSize ?? 1, language: 'en', signal: AbortSignal.any([breakerSignal, signal]) }),
      );
    } catch (error) {
      if (error instanceof BreakerOpenError) return { kind: 'defer', delayMs: 0, reason: 'breaker open' };
      if (signal.aborted) return { kind: 'defer', delayMs: 0, reason: 'shutdown' };
      if (!isEngineFailure(error)) {
        this.hookError('bad_audio');
        return { kind: 'fail', error: `engine refused the audio: ${describe(error)}` };
      }
      const timedOut = error instanceof BreakerTimeoutError || (error instanceof EngineAbortedError && error.reason === 'timeout');
      this.hookError(timedOut ? 'timeout' : 'engine');
      // A failed half-open probe says the engine is still down, nothing about this job.
      if (probe) return { kind: 'defer', delayMs: 0, reason: `probe failed: ${describe(error)}` };
      return { kind: 'retry', error: describe(error) };
    }
    // Text without segments (not seen from whisper-server, but cheap to keep): one segment for the window.
    const segments = result.segments.length > 0 || result.text === '' ? result.segments : [{ startMs: 0, endMs: Math.round(durationMs), text: result.text }];
    const windowResult: WindowResult = { segments, noSpeech: false, processingMs: result.processingMs, audioCtx, model, threads: result.threads };
    return { kind: 'done', result: windowResult };
  }

  private settled(job: Job, state: 'done' | 'failed', error: string | null): void {
    // Re-queued (enqueueRecording) while this job ran: its row is gone and its outcome moot.
    if (!this.jobs.get(job.id)) return;
    if (state === 'failed') {
      this.hookError('job_failed');
      const recording = this.recordings.get(job.recordingId);
      if (recording && (recording.status === 'recorded' || recording.status === 'transcribing')) {
        this.failRecording(job.recordingId, error ?? 'unknown error');
      }
    }
    this.maybeComplete(job.recordingId);
  }

  private failRecording(recordingId: string, error: string): void {
    // The transcript can no longer complete: do not spend the engine on the other windows.
    this.jobs.deleteQueuedForRecording(recordingId);
    if (this.moveTo(recordingId, 'failed', `transcription failed: ${error}`)) this.log.error({ recordingId, error }, 'transcription failed; audio kept');
  }

  /** Once the tail and every earlier window are done: stitch, store, mark `transcribed`. */
  private maybeComplete(recordingId: string): void {
    const jobs = this.jobs.forRecording(recordingId);
    if (!jobs.some((job) => job.final)) return;
    if (jobs.some((job) => job.state === 'queued' || job.state === 'running')) return;
    const recording = this.recordings.get(recordingId);
    // Only a saved recording that is not settled yet: `recording` waits for its row, and a
    // `transcribed` or `failed` one is moved on by enqueueRecording, not by a late job.
    if (!recording || (recording.status !== 'recorded' && recording.status !== 'transcribing')) return;
    const failed = jobs.find((job) => job.state === 'failed');
    if (failed) {
      this.failRecording(recordingId, failed.lastError ?? 'unknown error');
      return;
    }
    const rateHz = recording.sampleRateHz;
    const stitched = this.stitch(jobs, rateHz);
    const results = jobs.map((job) => job.result).filter((result): result is WindowResult => result !== null);
    const lastEnd = jobs.reduce((max, job) => Math.max(max, job.endSample), 0);
    const audioDurationMs = (lastEnd / rateHz) * 1000;
    const processingMs = results.reduce((sum, result) => sum + result.processingMs, 0);
    const engineResult = results.find((result) => !result.noSpeech);
    const noSpeech = results.every((result) => result.noSpeech);
    const transcript: Transcript = {
      recordingId,
      text: stitched.text,
      segments: stitched.segments,
      model: engineResult?.model ?? basename(this.deps.engine.status().model),
      // 0 when the silence gate kept every window from the engine.
      threads: engineResult?.threads ?? 0,
      audioCtx: results.reduce((max, result) => Math.max(max, result.audioCtx), 0),
      audioDurationMs,
      processingMs,
      realTimeFactor: audioDurationMs > 0 ? processingMs / audioDurationMs : 0,
      degraded: this.deps.degraded?.() ?? false,
      noSpeechReason: noSpeech ? 'no speech' : null,
      windows: jobs.length,
      createdAtMs: (this.deps.nowMs ?? Date.now)(),
    };
    try {
      this.deps.store.transaction(() => {
        this.transcripts.save(transcript);
        this.recordings.setStatus(recordingId, 'transcribed');
      });
    } catch (error) {
      // Nothing stored (the transaction rolled back); resume at the next start tries again.
      this.log.error({ err: error, recordingId }, 'cannot store the transcript');
      return;
    }
    this.log.info(
      { recordingId, windows: jobs.length, audioDurationMs: Math.round(audioDurationMs), processingMs: Math.round(processingMs), rtf: Number(transcript.realTimeFactor.toFixed(3)), noSpeech },
      'transcript stored',
    );
    this.deps.hooks?.onTranscribed?.(processingMs / 1000, transcript.realTimeFactor);
  }

  /** A status change the guard may refuse (a race with a re-queue): logged, never thrown. True if made. */
  private moveTo(recordingId: string, status: RecordingStatus, error?: string): boolean {
    try {
      return this.recordings.setStatus(recordingId, status, error) !== undefined;
    } catch (caught) {
      if (!(caught instanceof IllegalTransitionError)) throw caught;
      this.log.warn({ recordingId, from: caught.from, to: caught.to }, 'status change refused');
      return false;
    }
  }

  private hookError(kind: TranscriptionErrorKind): void {
    try {
      this.deps.hooks?.onError?.(kind);
    } catch (error) {
      this.log.error({ err: error, kind }, 'error hook threw');
    }
  }

  private stitch(jobs: readonly Job[], rateHz: number): Stitched {
    return stitchWindows(
      jobs
        .filter((job) => job.result !== null)
        .map((job) => ({
          offsetMs: (job.startSample / rateHz) * 1000,
          durationMs: ((job.endSample - job.startSample) / rateHz) * 1000,
          segments: job.result?.segments ?? [],
        })),
    );
  }

  /** Windows of a finished file, cut the same way as live. */
  private async cutFile(recording: Recording): Promise<CutWindow[]> {
    const path = join(this.deps.recordingsDir, recording.audioPath);
    const windows: CutWindow[] = [];
    const cutter = new WindowCutter(
      { sampleRateHz: recording.sampleRateHz, minSpeechMs: this.deps.config.minSpeechMs, maxWindowMs: this.deps.config.maxWindowMs },
      (window) => windows.push(window),
    );
    const chunkSamples = recording.sampleRateHz * 10;
    let position = 0;
    for (;;) {
      const { pcm, availableFrames, format } = await readPcmRange(path, position, position + chunkSamples);
      if (format.channels !== 1) throw new Error(`${path}: ${format.channels} channels; recordings are mono`);
      if (pcm.length > 0) cutter.feed(pcm);
      position += pcm.length;
      if (position >= availableFrames || pcm.length === 0) break;
    }
    windows.push(cutter.finish(position));
    return windows;
  }

  /** Start-up: finish what a restart interrupted. */
  private async resume(): Promise<void> {
    const candidates = [...this.recordings.findByStatus('recorded'), ...this.recordings.findByStatus('transcribing')];
    for (const recording of candidates) {
      const jobs = this.jobs.forRecording(recording.id);
      const hasFinal = jobs.some((job) => job.final);
      try {
        if (hasFinal) {
          if (recording.status === 'recorded' && jobs.some((job) => job.state === 'queued' || job.state === 'running')) {
            this.moveTo(recording.id, 'transcribing');
          }
          this.maybeComplete(recording.id);
        } else if (recording.status === 'transcribing' || jobs.length > 0 || !this.transcripts.get(recording.id)) {
          // Never queued, or cut off mid-recording (windows but no tail): start it over from the file.
          await this.enqueueRecording(recording.id);
        }
      } catch (error) {
        this.log.error({ err: error, recordingId: recording.id }, 'cannot resume transcription of a recording');
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
