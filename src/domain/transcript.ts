/**
 * What transcription produces: per-window results, the stitched transcript, and the kinds of
 * error it reports. Types and constants only (the bottom layer, like ./recording.ts).
 */

/**
 * The sample rate of everything that reaches the speech engine: whisper.cpp takes 16 kHz mono,
 * the capture DSP decimates to it, and recordings are stored at it.
 */
export const SPEECH_RATE_HZ = 16_000;

/**
 * The model tiers, best first (src/transcribe/models.ts picks the file of each): `constrained` is
 * the smaller model the degradation policy falls back to under pressure.
 */
export const MODEL_TIERS = ['normal', 'constrained'] as const;
export type ModelTier = (typeof MODEL_TIERS)[number];

/** The worse of two tiers (later in MODEL_TIERS); null counts as "no window reached a model". */
export function worseTier(a: ModelTier | null, b: ModelTier | null): ModelTier | null {
  if (a === null) return b;
  if (b === null) return a;
  return MODEL_TIERS.indexOf(a) >= MODEL_TIERS.indexOf(b) ? a : b;
}

/** True when `a` is a better tier than `b`. */
export function betterTier(a: ModelTier, b: ModelTier): boolean {
  return MODEL_TIERS.indexOf(a) < MODEL_TIERS.indexOf(b);
}

/**
 * Which engine ran a window: the local whisper-server child, or the remote tier (a whisper-server
 * elsewhere on the LAN, config `transcription.remote`), which falls back to the local one.
 */
export const ENGINE_NAMES = ['local', 'remote'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** Which engine ran a transcript's windows: one of them, or 'mixed' (some of each). */
export type TranscriptEngine = EngineName | 'mixed';

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
  /** Engine time of the request (0 when the silence gate kept the window from the engine). */
  readonly processingMs: number;
  readonly audioCtx: number;
  /** Model file name: the model the engine ran the request with. */
  readonly model: string;
  /**
   * The tier of that model. Absent when the silence gate kept the window from the engine, and in
   * results stored before per-window quality records (such a window does not count for the tier).
   */
  readonly tier?: ModelTier;
  /** Beam size sent with the request (1 = greedy); absent like `tier`. */
  readonly beamSize?: number;
  /** processingMs / the window's audio length; absent like `tier`. */
  readonly realTimeFactor?: number;
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
  /**
   * The engine that ran this window. Absent when the silence gate kept the window from the
   * engine, and in results stored before the remote tier (all of which ran locally).
   */
  readonly engine?: EngineName;
  /** `host:port` of the remote whisper-server, when `engine` is 'remote'. */
  readonly engineHost?: string;
  /** Why the remote did not run a window it was asked to (it then ran locally), e.g. it died mid-request. */
  readonly remoteError?: string;
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
  /** Fewest threads any window ran with (the engine's process, not the maximum); 0 if none reached it. */
  readonly threads: number;
  /** Largest encoder context used by any window. */
  readonly audioCtx: number;
  readonly audioDurationMs: number;
  /** Engine time summed over the windows. */
  readonly processingMs: number;
  /** processingMs / audioDurationMs: below 1 is faster than real time. */
  readonly realTimeFactor: number;
  /**
   * The worst model tier of the windows that reached the engine; null when none did (all silent)
   * or for transcripts stored before per-window quality records. Catch-up redoes a transcript
   * whose tier is below normal (src/transcribe/catch-up.ts).
   */
  readonly tier: ModelTier | null;
  /**
   * Kept for API compatibility: `tier` is below normal. For transcripts stored before tiers (tier
   * null) it is the old flag, judged when the transcript was finished.
   */
  readonly degraded: boolean;
  /** 'no speech' when the silence gate kept every window from the engine; null otherwise. */
  readonly noSpeechReason: string | null;
  readonly windows: number;
  /**
   * The vocabulary the transcript was made with: that of the last window that reached the
   * engine ([] if none did); null when unknown (made before vocabularies existed).
   */
  readonly vocabulary: readonly string[] | null;
  /**
   * The engine(s) that ran the windows that reached one; null (or absent) when none did, and for
   * transcripts made before the remote tier (all local).
   */
  readonly engine?: TranscriptEngine | null;
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
