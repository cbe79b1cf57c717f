/**
 * What a settled job means for its recording: once the tail and every earlier window are done,
 * the windows are stitched and the transcript is stored with `transcribed` in one transaction;
 * a window that failed its last attempt fails the recording (audio kept).
 *
 * A catch-up redo (every job of a `transcribed` recording is a catch-up job, ./catch-up.ts) is
 * stored differently: the recording stays `transcribed` and keeps showing its old transcript
 * until the new one is in; then, in one transaction, the old one moves to the history and the new
 * one becomes current, if its tier is better. A failed redo changes nothing (the old transcript
 * stands; the failed job keeps catch-up from trying that recording again until it is re-queued).
 */
import { basename } from 'node:path';
import type { Logger } from '../log.js';
import { isStorageError, type StorageErrorReport } from '../ops/storage-errors.js';
import { IllegalTransitionError, type RecordingStatus } from '../domain/recording.js';
import { betterTier, worseTier, type ModelTier, type Transcript, type TranscriptEngine, type TranscriptionErrorKind, type WindowResult } from '../domain/transcript.js';
import type { Job } from '../store/jobs.js';
import type { Store } from '../store/store.js';
import { stitchWindows, type Stitched } from './stitch.js';
import type { TranscriptionEngine } from './window-job.js';

interface AssemblerDeps {
  readonly store: Store;
  /** Names the model of a transcript whose every window the silence gate kept from the engine. */
  readonly engine: TranscriptionEngine;
  readonly logger: Logger;
  readonly reportError: (kind: TranscriptionErrorKind) => void;
  readonly onTranscribed?: (durationS: number, realTimeFactor: number) => void;
  readonly nowMs: () => number;
  /** A transcript the database refused to store (full card): counted and shown as the storage fault. */
  readonly onStorageError?: StorageErrorReport;
}

/** The worst tier of the windows that reached the engine; null when none did (or none recorded one). */
function transcriptTier(results: readonly WindowResult[]): ModelTier | null {
  return results.reduce<ModelTier | null>((worst, result) => (result.noSpeech || result.tier === undefined ? worst : worseTier(worst, result.tier)), null);
}

/** Which engine(s) ran the windows that reached one; a result from before the remote tier ran locally. */
function transcriptEngine(results: readonly WindowResult[]): TranscriptEngine | null {
  const engines = new Set(results.filter((result) => !result.noSpeech).map((result) => result.engine ?? 'local'));
  if (engines.size === 0) return null;
  if (engines.size > 1) return 'mixed';
  return [...engines][0] ?? null;
}

function isCatchUp(jobs: readonly Job[]): boolean {
  return jobs.length > 0 && jobs.every((job) => job.kind === 'catch-up');
}

/** The windows that have a result, placed on the recording's timeline. */
export function stitchJobs(jobs: readonly Job[], rateHz: number): Stitched {
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

export class TranscriptAssembler {
  constructor(private readonly deps: AssemblerDeps) {}

  /** The runner's `onSettled`: a job reached done or failed. */
  settled(job: Job, state: 'done' | 'failed', error: string | null): void {
    const { recordings, jobs } = this.deps.store;
    // Re-queued (enqueueRecording) while this job ran: its row is gone and its outcome moot.
    if (!jobs.get(job.id)) return;
    if (state === 'failed' && job.kind === 'catch-up') {
      // The old transcript stands: stop the rest of the redo, keep the recording as it is.
      this.deps.store.jobs.deleteQueuedForRecording(job.recordingId);
      this.deps.logger.warn({ recordingId: job.recordingId, error }, 'catch-up redo failed; the current transcript is kept');
      return;
    }
    if (state === 'failed') {
      this.deps.reportError('job_failed');
      const recording = recordings.get(job.recordingId);
      if (recording && (recording.status === 'recorded' || recording.status === 'transcribing')) {
        this.failRecording(job.recordingId, error ?? 'unknown error');
      }
    }
    this.completeIfDone(job.recordingId);
  }

  /** Once the tail and every earlier window are done: stitch, store, mark `transcribed`. */
  completeIfDone(recordingId: string): void {
    const { store, logger: log } = this.deps;
    const jobs = store.jobs.forRecording(recordingId);
    if (!jobs.some((job) => job.final)) return;
    if (jobs.some((job) => job.state === 'queued' || job.state === 'running')) return;
    const recording = store.recordings.get(recordingId);
    if (recording?.status === 'transcribed' && isCatchUp(jobs)) {
      if (jobs.every((job) => job.state === 'done')) this.replace(recordingId, this.build(recordingId, jobs, recording.sampleRateHz));
      return;
    }
    // Only a saved recording that is not settled yet: `recording` waits for its row, and a
    // `transcribed` or `failed` one is moved on by enqueueRecording, not by a late job.
    if (!recording || (recording.status !== 'recorded' && recording.status !== 'transcribing')) return;
    const failed = jobs.find((job) => job.state === 'failed');
    if (failed) {
      this.failRecording(recordingId, failed.lastError ?? 'unknown error');
      return;
    }
    const transcript = this.build(recordingId, jobs, recording.sampleRateHz);
    try {
      store.transaction(() => {
        store.transcripts.save(transcript);
        store.recordings.setStatus(recordingId, 'transcribed');
      });
    } catch (error) {
      // Nothing stored (the transaction rolled back); resume at the next start tries again.
      this.cannotStore(error, recordingId, 'cannot store the transcript');
      return;
    }
    log.info(
      {
        recordingId,
        windows: jobs.length,
        audioDurationMs: Math.round(transcript.audioDurationMs),
        processingMs: Math.round(transcript.processingMs),
        rtf: Number(transcript.realTimeFactor.toFixed(3)),
        tier: transcript.tier,
        engine: transcript.engine,
        noSpeech: transcript.noSpeechReason !== null,
      },
      'transcript stored',
    );
    this.deps.onTranscribed?.(transcript.processingMs / 1000, transcript.realTimeFactor);
  }

  /** The transcript of a recording whose jobs are all done: windows stitched, quality summed up. */
  private build(recordingId: string, jobs: readonly Job[], rateHz: number): Transcript {
    const stitched = stitchJobs(jobs, rateHz);
    const results = jobs.map((job) => job.result).filter((result): result is WindowResult => result !== null);
    const lastEnd = jobs.reduce((max, job) => Math.max(max, job.endSample), 0);
    const audioDurationMs = (lastEnd / rateHz) * 1000;
    const processingMs = results.reduce((sum, result) => sum + result.processingMs, 0);
    const engineResults = results.filter((result) => !result.noSpeech);
    const engineResult = engineResults[0];
    const tier = transcriptTier(results);
    const noSpeech = results.every((result) => result.noSpeech);
    // Each window records the list it was sent with. They differ only if the list was edited
    // while the recording was being transcribed; then the last window's list is recorded (the
    // one in force when the transcript was finished), not a union no window ran with.
    const lastEngineResult = engineResults.at(-1);
    return {
      recordingId,
      text: stitched.text,
      segments: stitched.segments,
      model: engineResult?.model ?? basename(this.deps.engine.status().model),
      // The fewest threads any window ran with; 0 when the silence gate kept every window away.
      threads: engineResults.length === 0 ? 0 : Math.min(...engineResults.map((result) => result.threads)),
      audioCtx: results.reduce((max, result) => Math.max(max, result.audioCtx), 0),
      audioDurationMs,
      processingMs,
      realTimeFactor: audioDurationMs > 0 ? processingMs / audioDurationMs : 0,
      tier,
      degraded: tier !== null && tier !== 'normal',
      noSpeechReason: noSpeech ? 'no speech' : null,
      windows: jobs.length,
      // [] when no window reached the engine (no prompt was sent); null when that window's
      // result predates vocabularies (a job stored before the upgrade).
      vocabulary: lastEngineResult === undefined ? [] : (lastEngineResult.vocabulary ?? null),
      engine: transcriptEngine(results),
      createdAtMs: this.deps.nowMs(),
    };
  }

  /** A finished catch-up redo: the new transcript replaces the old one if its tier is better. */
  private replace(recordingId: string, transcript: Transcript): void {
    const { store, logger: log } = this.deps;
    const current = store.transcripts.get(recordingId);
    const currentTier: ModelTier = current?.tier ?? (current?.degraded === false ? 'normal' : 'constrained');
    // A redo with no engine window (all silent: tier null) is a fresh judgment and replaces too.
    if (current && transcript.tier !== null && !betterTier(transcript.tier, currentTier)) {
      // The level rose during the redo and a window ran at the lower tier again: keep the
      // current one; catch-up tries again once the level is back to normal.
      log.info({ recordingId, tier: transcript.tier, currentTier }, 'catch-up redo no better than the current transcript; kept the current one');
      return;
    }
    try {
      // One transaction: the recording never shows no transcript, and the history never misses one.
      store.transaction(() => {
        store.transcripts.archive(recordingId, 'catch-up', this.deps.nowMs());
        store.transcripts.save(transcript);
      });
    } catch (error) {
      this.cannotStore(error, recordingId, 'cannot store the catch-up transcript; the current one is kept');
      return;
    }
    log.info({ recordingId, from: currentTier, to: transcript.tier, rtf: Number(transcript.realTimeFactor.toFixed(3)) }, 'catch-up transcript replaced the current one; the old one is in the history');
    this.deps.onTranscribed?.(transcript.processingMs / 1000, transcript.realTimeFactor);
  }

  /** A status change the guard may refuse (a race with a re-queue): logged, never thrown. True if made. */
  moveTo(recordingId: string, status: RecordingStatus, error?: string): boolean {
    try {
      return this.deps.store.recordings.setStatus(recordingId, status, error) !== undefined;
    } catch (caught) {
      if (!(caught instanceof IllegalTransitionError)) throw caught;
      this.deps.logger.warn({ recordingId, from: caught.from, to: caught.to }, 'status change refused');
      return false;
    }
  }

  /** Logged once: a storage error goes to the storage report (which logs it), anything else here. */
  private cannotStore(error: unknown, recordingId: string, message: string): void {
    if (isStorageError(error) && this.deps.onStorageError) {
      try {
        this.deps.onStorageError('transcript-store', error, { recordingId, what: message });
        return;
      } catch (hookError) {
        this.deps.logger.error({ err: hookError }, 'storage error hook threw');
      }
    }
    this.deps.logger.error({ err: error, recordingId }, message);
  }

  private failRecording(recordingId: string, error: string): void {
    // The transcript can no longer complete: do not spend the engine on the other windows.
    this.deps.store.jobs.deleteQueuedForRecording(recordingId);
    if (this.moveTo(recordingId, 'failed', `transcription failed: ${error}`)) this.deps.logger.error({ recordingId, error }, 'transcription failed; audio kept');
  }
}
