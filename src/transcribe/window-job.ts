/**
 * One window job: read its samples from the recording's WAV, keep silence from the engine, send
 * speech through the breaker, and say what happened as a JobOutcome (the runner owns the retries).
 *
 * While the recording is still being made, a window that is not on disk yet (the recorder writes
 * in batches) is deferred for `audioWaitMs` without counting an attempt.
 */
import { basename, join } from 'node:path';
import { readPcmRange, type PcmRange } from '../audio/wav.js';
import { SPEECH_RATE_HZ, type EngineName, type ModelTier, type TranscriptionErrorKind, type WindowResult, type WindowSegment } from '../domain/transcript.js';
import { vocabularyPrompt } from '../domain/vocabulary.js';
import type { Job } from '../store/jobs.js';
import type { RecordingsRepo } from '../store/recordings.js';
import { BreakerOpenError, BreakerTimeoutError, isEngineFailure, type EngineBreaker } from './breaker.js';
import { audioCtxFor, EngineAbortedError, type TranscribeRequest } from './engine.js';
import type { JobOutcome } from './queue.js';
import type { RemoteTier } from './remote-tier.js';
import type { WindowSettings } from './window-settings.js';
import { detectSpeech } from './vad.js';

/** What the transcriber needs back from the engine for one window. */
export interface EngineTranscription {
  readonly text: string;
  /** Times relative to the window. */
  readonly segments: readonly WindowSegment[];
  readonly processingMs: number;
  /** Threads of the engine process that ran the request: stored per window and transcript. */
  readonly threads: number;
  /** Path of the model that ran the request, when the engine knows it (WhisperEngine does). */
  readonly model?: string;
}

/** The model the engine runs now, and its tier (the pipeline knows the tier of a path). */
export interface CurrentModel {
  readonly path: string;
  readonly tier: ModelTier;
}

/** The part of WhisperEngine the transcriber uses (a scripted fake in unit tests). */
export interface TranscriptionEngine {
  transcribe(request: TranscribeRequest): Promise<EngineTranscription>;
  status(): { readonly model: string; readonly threads: number };
}

export interface WindowJobOptions {
  /** 1 = greedy (default). */
  readonly beamSize?: number;
  /** Speech needed by the silence gate per window. Default 200. */
  readonly gateMinSpeechMs?: number;
  /** How long to wait before looking again for audio not yet on disk. Default 250. */
  readonly audioWaitMs?: number;
}

interface WindowJobDeps {
  readonly recordings: RecordingsRepo;
  readonly recordingsDir: string;
  readonly engine: TranscriptionEngine;
  readonly breaker: EngineBreaker;
  readonly options: WindowJobOptions;
  readonly reportError: (kind: TranscriptionErrorKind) => void;
  /** The vocabulary now: read for every window, so an edit reaches the next window sent. */
  readonly vocabulary: () => readonly string[];
  /** The model the engine runs now and its tier (read before and after each request). */
  readonly currentModel: () => CurrentModel;
  /** The degradation level's beam and encoder margin, read for every window. Default: options.beamSize, 64 frames. */
  readonly windowSettings?: () => WindowSettings;
  /**
   * The remote engine tier, when configured: a window it is picked for runs there first, and
   * on the local engine (through `breaker`) when the remote fails it.
   */
  readonly remote?: Pick<RemoteTier, 'pick' | 'transcribe' | 'host'>;
  /**
   * False while the local engine must not run (deferred by the degradation level, or a model
   * swap under way) although the remote tier may. Default: always true (the queue's `paused`
   * already holds jobs back when there is no remote).
   */
  readonly localAllowed?: () => boolean;
  /** A window reached an engine and was done: which one ran it (metrics). */
  readonly onWindow?: (engine: EngineName) => void;
}

/**
 * The tier of the model that ran a request: the model is swapped only between requests, so it is
 * the one in force before or after it; the path the engine reports decides which.
 */
function tierOf(path: string, before: CurrentModel, after: CurrentModel): ModelTier {
  if (after.path === path) return after.tier;
  if (before.path === path) return before.tier;
  return after.tier;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export class WindowJobHandler {
  constructor(private readonly deps: WindowJobDeps) {}

  async run(job: Job, signal: AbortSignal): Promise<JobOutcome> {
    const { options, engine, reportError } = this.deps;
    const recording = this.deps.recordings.get(job.recordingId);
    if (!recording) return { kind: 'fail', error: 'recording no longer exists' };
    if (recording.sampleRateHz !== SPEECH_RATE_HZ) {
      reportError('bad_audio');
      return { kind: 'fail', error: `recording is ${recording.sampleRateHz} Hz; the engine takes ${SPEECH_RATE_HZ} Hz` };
    }
    let range: PcmRange;
    try {
      range = await readPcmRange(join(this.deps.recordingsDir, recording.audioPath), job.startSample, job.endSample);
    } catch (error) {
      if (recording.status === 'recording') return { kind: 'defer', delayMs: options.audioWaitMs ?? 250, reason: `audio not readable yet: ${describe(error)}` };
      reportError('bad_audio');
      return { kind: 'retry', error: `cannot read audio: ${describe(error)}` };
    }
    const { sampleRateHz, channels } = range.format;
    if (channels !== 1 || sampleRateHz !== SPEECH_RATE_HZ) {
      reportError('bad_audio');
      return { kind: 'fail', error: `audio file is ${channels} channel(s) at ${sampleRateHz} Hz; the engine takes mono ${SPEECH_RATE_HZ} Hz` };
    }
    if (range.availableFrames < job.endSample && recording.status === 'recording') {
      return { kind: 'defer', delayMs: options.audioWaitMs ?? 250, reason: 'window not on disk yet' };
    }
    const modelBefore = this.deps.currentModel();
    const gate = detectSpeech(range.pcm, { sampleRateHz, minSpeechMs: options.gateMinSpeechMs ?? 200 });
    if (!gate.speech) {
      // threads 0: no engine process ran this window.
      return { kind: 'done', result: { segments: [], noSpeech: true, processingMs: 0, audioCtx: 0, model: basename(modelBefore.path), threads: 0 } };
    }
    const durationMs = (range.pcm.length / sampleRateHz) * 1000;
    const settings = this.deps.windowSettings?.() ?? { beamSize: options.beamSize ?? 1, audioCtxMarginFrames: 64 };
    const audioCtx = audioCtxFor(durationMs, settings.audioCtxMarginFrames);
    const { breaker } = this.deps;
    const beamSize = settings.beamSize;
    const probe = breaker.state() === 'halfOpen';
    // Read at the attempt, not when the window was queued: a retry after an edit uses the new list,
    // and the result records the list this attempt really sent.
    const vocabulary = this.deps.vocabulary();
    const prompt = vocabularyPrompt(vocabulary);
    const request = { pcm: range.pcm, audioCtx, beamSize, language: 'en' as const, ...(prompt === '' ? {} : { prompt }) };
    let remoteError: string | undefined;
    const remote = this.deps.remote;
    if (remote?.pick() === 'remote') {
      try {
        const result = await remote.transcribe({ ...request, signal });
        const segments = result.segments.length > 0 || result.text === '' ? result.segments : [{ startMs: 0, endMs: Math.round(durationMs), text: result.text }];
        this.deps.onWindow?.('remote');
        // The remote's model is not one of the local tiers; it is the larger one, so the window
        // is at the normal tier and catch-up has nothing to redo.
        return {
          kind: 'done',
          result: {
            segments,
            noSpeech: false,
            processingMs: result.processingMs,
            audioCtx,
            model: basename(result.model ?? 'remote'),
            tier: 'normal',
            threads: result.threads,
            beamSize,
            realTimeFactor: durationMs > 0 ? result.processingMs / durationMs : 0,
            vocabulary,
            engine: 'remote',
            engineHost: remote.host,
          },
        };
      } catch (error) {
        if (signal.aborted) return { kind: 'defer', delayMs: 0, reason: 'shutdown' };
        // The remote's breaker logged the failure; this window runs locally instead.
        remoteError = describe(error);
      }
    }
    if (this.deps.localAllowed?.() === false) {
      return { kind: 'defer', delayMs: options.audioWaitMs ?? 250, reason: remoteError === undefined ? 'local engine paused' : `remote failed (${remoteError}) and the local engine is paused` };
    }
    let result: EngineTranscription;
    try {
      result = await breaker.fire((breakerSignal) =>
        engine.transcribe({
          ...request,
          signal: AbortSignal.any([breakerSignal, signal]),
        }),
      );
    } catch (error) {
      if (error instanceof BreakerOpenError) return { kind: 'defer', delayMs: 0, reason: 'breaker open' };
      if (signal.aborted) return { kind: 'defer', delayMs: 0, reason: 'shutdown' };
      if (!isEngineFailure(error)) {
        reportError('bad_audio');
        return { kind: 'fail', error: `engine refused the audio: ${describe(error)}` };
      }
      const timedOut = error instanceof BreakerTimeoutError || (error instanceof EngineAbortedError && error.reason === 'timeout');
      reportError(timedOut ? 'timeout' : 'engine');
      // A failed half-open probe says the engine is still down, nothing about this job.
      if (probe) return { kind: 'defer', delayMs: 0, reason: `probe failed: ${describe(error)}` };
      return { kind: 'retry', error: describe(error) };
    }
    // Text without segments (not seen from whisper-server, but cheap to keep): one segment for the window.
    const segments = result.segments.length > 0 || result.text === '' ? result.segments : [{ startMs: 0, endMs: Math.round(durationMs), text: result.text }];
    const modelPath = result.model ?? modelBefore.path;
    const windowResult: WindowResult = {
      segments,
      noSpeech: false,
      processingMs: result.processingMs,
      audioCtx,
      model: basename(modelPath),
      tier: tierOf(modelPath, modelBefore, this.deps.currentModel()),
      threads: result.threads,
      beamSize,
      realTimeFactor: durationMs > 0 ? result.processingMs / durationMs : 0,
      vocabulary,
      engine: 'local',
      ...(remoteError === undefined ? {} : { remoteError }),
    };
    this.deps.onWindow?.('local');
    return { kind: 'done', result: windowResult };
  }
}
