/**
 * A recording and the life of its status. The bottom layer: no I/O, no imports from other
 * folders of src/. The store, the transcriber and the HTTP layer import these; the one function
 * that decides whether a status may change is `assertTransition`, and RecordingsRepo calls it on
 * every change, so an illegal move is refused before it reaches the database.
 */

export const RECORDING_STATUSES = ['recording', 'recorded', 'transcribing', 'transcribed', 'failed'] as const;
export type RecordingStatus = (typeof RECORDING_STATUSES)[number];

export function isRecordingStatus(value: string): value is RecordingStatus {
  return (RECORDING_STATUSES as readonly string[]).includes(value);
}

/**
 * Where each status may go next. No status goes to itself: a repeated move is a caller's bug
 * (or a race) worth seeing, not a no-op.
 */
export const RECORDING_TRANSITIONS: { readonly [From in RecordingStatus]: readonly RecordingStatus[] } = {
  // Saved (finish, or start-up repair of a crashed take), or it could not be started/saved.
  recording: ['recorded', 'failed'],
  // Queued for transcription; complete already (every window was done before the status caught
  // up, e.g. rows written by an older version); or a window failed for good.
  recorded: ['transcribing', 'transcribed', 'failed'],
  transcribing: ['transcribed', 'failed'],
  // Transcribed again on request (POST /api/recordings/:id/transcribe).
  transcribed: ['transcribing'],
  // Retried on request; the audio was kept for this.
  failed: ['transcribing'],
};

export function canTransition(from: RecordingStatus, to: RecordingStatus): boolean {
  return RECORDING_TRANSITIONS[from].includes(to);
}

export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';

  constructor(
    readonly from: RecordingStatus,
    readonly to: RecordingStatus,
    readonly recordingId?: string,
  ) {
    super(`${recordingId === undefined ? 'recording' : `recording ${recordingId}`}: illegal status change ${from} -> ${to}`);
  }
}

/** Throws IllegalTransitionError unless `from -> to` is in RECORDING_TRANSITIONS. */
export function assertTransition(from: RecordingStatus, to: RecordingStatus, recordingId?: string): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to, recordingId);
}

/** The longest title a recording may carry, in characters, after trimming. */
export const TITLE_MAX_LENGTH = 200;

/**
 * One recording as the rest of the code sees it. Times are integer ms since the Unix epoch
 * (the store rounds fractional ms: its columns are STRICT INTEGER).
 */
export interface Recording {
  readonly id: string;
  readonly startedAtMs: number;
  readonly endedAtMs: number | null;
  readonly durationMs: number | null;
  /** Relative to the recordings folder. */
  readonly audioPath: string;
  readonly sampleRateHz: number;
  readonly status: RecordingStatus;
  readonly error: string | null;
  readonly preRollMs: number;
  /** Size of the audio data (WAV data chunk), once known. */
  readonly bytes: number | null;
  /** Set by a person (PATCH /api/recordings/:id); null until then. Trimmed, 1..TITLE_MAX_LENGTH characters. */
  readonly title: string | null;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
  /** When the retention policy deleted the audio (the row and transcript stay); absent while it is kept. */
  readonly audioRemovedAtMs?: number;
}
