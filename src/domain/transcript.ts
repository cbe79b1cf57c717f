/**
 * What transcription produces: per-window results, the stitched transcript, and the kinds of
 * error it reports. Types and constants only (the bottom layer, like ./recording.ts).
 */

/**
 * The sample rate of everything that reaches the speech engine: whisper.cpp takes 16 kHz mono,
 * the capture DSP decimates to it, and recordings are stored at it.
 */
export const SPEECH_RATE_HZ = 16_000;

/** One segment of one window, times relative to the window's first sample. */
export interface WindowSegment {
  readonly startMs: number;
  readonly endMs: number;
  readonly text: string;
}

/** What a finished window job stores (jobs.result_json). */
export interface WindowResult {
  readonly segments: readonly WindowSegment[];
  /** Set when the silence gate kept the window away from the engine. */
  readonly noSpeech: boolean;
  readonly processingMs: number;
  readonly audioCtx: number;
  /** Model file name. */
  readonly model: string;
  /**
   * Threads of the engine process that ran this window (it changes under degradation);
   * 0 when the silence gate kept the window from the engine.
   */
  readonly threads: number;
  /**
   * The vocabulary terms sent as the prompt with this window ([] for none). Absent when the
   * silence gate kept the window from the engine, and in results stored before vocabularies.
   */
  readonly vocabulary?: readonly string[];
}

/** One segment of a transcript, times absolute within the recording. */
export interface TranscriptSegment {
  readonly startMs: number;
  readonly endMs: number;
  readonly text: string;
}

/** The finished transcript of one recording. */
export interface Transcript {
  readonly recordingId: string;
  readonly text: string;
  readonly segments: readonly TranscriptSegment[];
  /** Model file name (not the full path: the models folder may move). */
  readonly model: string;
  /** Threads the engine ran with (the first window that reached it); 0 if none did. */
  readonly threads: number;
  /** Largest encoder context used by any window. */
  readonly audioCtx: number;
  readonly audioDurationMs: number;
  /** Engine time summed over the windows. */
  readonly processingMs: number;
  /** processingMs / audioDurationMs: below 1 is faster than real time. */
  readonly realTimeFactor: number;
  /** Made while the appliance ran a reduced model or settings. */
  readonly degraded: boolean;
  /** 'no speech' when the silence gate kept every window from the engine; null otherwise. */
  readonly noSpeechReason: string | null;
  readonly windows: number;
  /**
   * The vocabulary the transcript was made with: that of the last window that reached the
   * engine ([] if none did); null when unknown (made before vocabularies existed).
   */
  readonly vocabulary: readonly string[] | null;
  readonly createdAtMs: number;
}

/**
 * Why a transcription attempt failed, as counted by the metrics:
 *  - engine:     the engine process failed or answered with a server error (retried);
 *  - timeout:    the engine took longer than the breaker's timeout (retried);
 *  - bad_audio:  the audio cannot be transcribed (unreadable file, wrong rate, refused by the engine);
 *  - job_failed: a window failed its last attempt, so its recording is `failed`.
 */
export const TRANSCRIPTION_ERROR_KINDS = ['engine', 'timeout', 'bad_audio', 'job_failed'] as const;
export type TranscriptionErrorKind = (typeof TRANSCRIPTION_ERROR_KINDS)[number];

/**
 * The circuit breaker around the engine: closed (calls go through), open (engine failing, jobs
 * wait), halfOpen (one probe call decides).
 */
export type BreakerState = 'closed' | 'halfOpen' | 'open';
