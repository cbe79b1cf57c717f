import type { Database, Statement } from 'better-sqlite3';
import type { Transcript, TranscriptSegment } from '../domain/transcript.js';


interface TranscriptRow {
  recording_id: string;
  text: string;
  segments_json: string;
  model: string;
  threads: number;
  audio_ctx: number;
  audio_duration_ms: number;
  processing_ms: number;
  real_time_factor: number;
  degraded: number;
  no_speech_reason: string | null;
  windows: number;
  /** NULL for transcripts made before migration 6. */
  vocabulary_json: string | null;
  created_at_ms: number;
}

function parseSegments(json: string): TranscriptSegment[] {
  try {
    const value = JSON.parse(json) as unknown;
    return Array.isArray(value) ? (value as TranscriptSegment[]) : [];
  } catch {
    return [];
  }
}

function parseVocabulary(json: string | null): readonly string[] | null {
  if (json === null) return null;
  try {
    const value = JSON.parse(json) as unknown;
    return Array.isArray(value) ? value.filter((term): term is string => typeof term === 'string') : null;
  } catch {
    return null;
  }
}

function fromRow(row: TranscriptRow): Transcript {
  return {
    recordingId: row.recording_id,
    text: row.text,
    segments: parseSegments(row.segments_json),
    model: row.model,
    threads: row.threads,
    audioCtx: row.audio_ctx,
    audioDurationMs: row.audio_duration_ms,
    processingMs: row.processing_ms,
    realTimeFactor: row.real_time_factor,
    degraded: row.degraded === 1,
    noSpeechReason: row.no_speech_reason,
    windows: row.windows,
    vocabulary: parseVocabulary(row.vocabulary_json),
    createdAtMs: row.created_at_ms,
  };
}

export class TranscriptsRepo {
  private readonly upsertStmt: Statement<[Record<string, string | number | null>]>;
  private readonly getStmt: Statement<[string], TranscriptRow>;
  private readonly deleteStmt: Statement<[string]>;

  constructor(db: Database) {
    this.upsertStmt = db.prepare(
      `INSERT INTO transcripts (recording_id, text, segments_json, model, threads, audio_ctx, audio_duration_ms,
         processing_ms, real_time_factor, degraded, no_speech_reason, windows, vocabulary_json, created_at_ms)
       VALUES (@recordingId, @text, @segments, @model, @threads, @audioCtx, @audioDurationMs, @processingMs,
         @realTimeFactor, @degraded, @noSpeechReason, @windows, @vocabulary, @createdAtMs)
       ON CONFLICT (recording_id) DO UPDATE SET text = excluded.text, segments_json = excluded.segments_json,
         model = excluded.model, threads = excluded.threads, audio_ctx = excluded.audio_ctx,
         audio_duration_ms = excluded.audio_duration_ms, processing_ms = excluded.processing_ms,
         real_time_factor = excluded.real_time_factor, degraded = excluded.degraded,
         no_speech_reason = excluded.no_speech_reason, windows = excluded.windows,
         vocabulary_json = excluded.vocabulary_json, created_at_ms = excluded.created_at_ms`,
    );
    this.getStmt = db.prepare('SELECT * FROM transcripts WHERE recording_id = ?');
    this.deleteStmt = db.prepare('DELETE FROM transcripts WHERE recording_id = ?');
  }

  /** Stores (or replaces, after a re-transcription) the transcript of a recording. */
  save(transcript: Transcript): void {
    this.upsertStmt.run({
      recordingId: transcript.recordingId,
      text: transcript.text,
      segments: JSON.stringify(transcript.segments),
      model: transcript.model,
      threads: Math.round(transcript.threads),
      audioCtx: Math.round(transcript.audioCtx),
      audioDurationMs: Math.round(transcript.audioDurationMs),
      processingMs: Math.round(transcript.processingMs),
      realTimeFactor: transcript.realTimeFactor,
      degraded: transcript.degraded ? 1 : 0,
      noSpeechReason: transcript.noSpeechReason,
      windows: Math.round(transcript.windows),
      vocabulary: transcript.vocabulary === null ? null : JSON.stringify(transcript.vocabulary),
      createdAtMs: Math.round(transcript.createdAtMs),
    });
  }

  get(recordingId: string): Transcript | undefined {
    const row = this.getStmt.get(recordingId);
    return row === undefined ? undefined : fromRow(row);
  }

  delete(recordingId: string): boolean {
    return this.deleteStmt.run(recordingId).changes > 0;
  }
}
