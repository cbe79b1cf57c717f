import type { Database, Statement } from 'better-sqlite3';
import { ENGINE_NAMES, MODEL_TIERS, type ModelTier, type Transcript, type TranscriptEngine, type TranscriptSegment } from '../domain/transcript.js';

/** Why a transcript went to the history. */
export type ReplacedReason = 'catch-up' | 'retranscribe';

/** A transcript that a newer one replaced, as it was. */
export interface TranscriptHistoryEntry {
  readonly transcript: Transcript;
  readonly replacedAtMs: number;
  /** A ReplacedReason (a string, so that a reason added later still reads). */
  readonly reason: string;
}


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
  /** NULL when no window reached the engine, and for transcripts made before migration 7. */
  tier: string | null;
  /** NULL when no window reached an engine, and for transcripts made before migration 10. */
  engine: string | null;
  created_at_ms: number;
}

interface HistoryRow {
  transcript_json: string;
  replaced_at_ms: number;
  reason: string;
}

function parseTier(value: unknown): ModelTier | null {
  return typeof value === 'string' && (MODEL_TIERS as readonly string[]).includes(value) ? (value as ModelTier) : null;
}

function parseEngine(value: unknown): TranscriptEngine | null {
  return value === 'mixed' || (typeof value === 'string' && (ENGINE_NAMES as readonly string[]).includes(value)) ? (value as TranscriptEngine) : null;
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
    tier: parseTier(row.tier),
    degraded: row.degraded === 1,
    noSpeechReason: row.no_speech_reason,
    windows: row.windows,
    vocabulary: parseVocabulary(row.vocabulary_json),
    engine: parseEngine(row.engine),
    createdAtMs: row.created_at_ms,
  };
}

/** A history entry back as a Transcript; fields added later than the entry get their "unknown". */
function fromHistoryRow(row: HistoryRow): TranscriptHistoryEntry | null {
  let value: unknown;
  try {
    value = JSON.parse(row.transcript_json);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const stored = value as Partial<Transcript>;
  const transcript = { ...stored, tier: parseTier(stored.tier), vocabulary: stored.vocabulary ?? null, engine: parseEngine(stored.engine) } as Transcript;
  return { transcript, replacedAtMs: row.replaced_at_ms, reason: row.reason };
}

export class TranscriptsRepo {
  private readonly upsertStmt: Statement<[Record<string, string | number | null>]>;
  private readonly getStmt: Statement<[string], TranscriptRow>;
  private readonly deleteStmt: Statement<[string]>;
  private readonly deleteHistoryStmt: Statement<[string]>;
  private readonly archiveStmt: Statement<[{ recordingId: string; json: string; tier: string | null; atMs: number; reason: string }]>;
  private readonly historyStmt: Statement<[string], HistoryRow>;
  private readonly catchUpStmt: Statement<[number], { recording_id: string }>;

  constructor(db: Database) {
    this.upsertStmt = db.prepare(
      `INSERT INTO transcripts (recording_id, text, segments_json, model, threads, audio_ctx, audio_duration_ms,
         processing_ms, real_time_factor, degraded, no_speech_reason, windows, vocabulary_json, tier, engine, created_at_ms)
       VALUES (@recordingId, @text, @segments, @model, @threads, @audioCtx, @audioDurationMs, @processingMs,
         @realTimeFactor, @degraded, @noSpeechReason, @windows, @vocabulary, @tier, @engine, @createdAtMs)
       ON CONFLICT (recording_id) DO UPDATE SET text = excluded.text, segments_json = excluded.segments_json,
         model = excluded.model, threads = excluded.threads, audio_ctx = excluded.audio_ctx,
         audio_duration_ms = excluded.audio_duration_ms, processing_ms = excluded.processing_ms,
         real_time_factor = excluded.real_time_factor, degraded = excluded.degraded,
         no_speech_reason = excluded.no_speech_reason, windows = excluded.windows,
         vocabulary_json = excluded.vocabulary_json, tier = excluded.tier, engine = excluded.engine,
         created_at_ms = excluded.created_at_ms`,
    );
    this.getStmt = db.prepare('SELECT * FROM transcripts WHERE recording_id = ?');
    this.deleteStmt = db.prepare('DELETE FROM transcripts WHERE recording_id = ?');
    this.deleteHistoryStmt = db.prepare('DELETE FROM transcript_history WHERE recording_id = ?');
    this.archiveStmt = db.prepare(
      `INSERT INTO transcript_history (recording_id, transcript_json, tier, replaced_at_ms, reason)
       VALUES (@recordingId, @json, @tier, @atMs, @reason)`,
    );
    this.historyStmt = db.prepare(
      'SELECT transcript_json, replaced_at_ms, reason FROM transcript_history WHERE recording_id = ? ORDER BY replaced_at_ms DESC, id DESC',
    );
    // Below normal: a lower tier, or (made before tiers) the old degraded flag. Only settled
    // recordings whose windows are all done (the redo reuses their windows), that no job is
    // working on, and whose last catch-up did not fail (it would fail again; a re-transcription
    // on request clears that). Oldest transcript first.
    this.catchUpStmt = db.prepare(
      `SELECT t.recording_id FROM transcripts t JOIN recordings r ON r.id = t.recording_id
       WHERE r.status = 'transcribed' AND r.audio_removed_at_ms IS NULL
         AND (t.tier = 'constrained' OR (t.tier IS NULL AND t.degraded = 1))
         AND EXISTS (SELECT 1 FROM jobs j WHERE j.recording_id = t.recording_id AND j.final = 1)
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.recording_id = t.recording_id
                         AND (j.state IN ('queued', 'running') OR (j.state = 'failed' AND j.kind = 'catch-up')))
       ORDER BY t.created_at_ms ASC, t.recording_id ASC LIMIT ?`,
    );
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
      tier: transcript.tier,
      engine: transcript.engine ?? null,
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

  /** Removes the transcript and its history (the recording is deleted). True if there was one. */
  delete(recordingId: string): boolean {
    this.deleteHistoryStmt.run(recordingId);
    return this.deleteStmt.run(recordingId).changes > 0;
  }

  /**
   * Moves the current transcript to the history (call inside the transaction that stores or
   * re-queues its successor, so the recording never shows none). False if there was none.
   */
  archive(recordingId: string, reason: ReplacedReason, atMs: number): boolean {
    const current = this.get(recordingId);
    if (!current) return false;
    this.archiveStmt.run({ recordingId, json: JSON.stringify(current), tier: current.tier, atMs: Math.round(atMs), reason });
    this.deleteStmt.run(recordingId);
    return true;
  }

  /** Replaced transcripts of a recording, newest first. */
  history(recordingId: string): TranscriptHistoryEntry[] {
    return this.historyStmt.all(recordingId).flatMap((row) => fromHistoryRow(row) ?? []);
  }

  /** Recordings whose transcript catch-up may redo at the normal tier, oldest transcript first. */
  catchUpCandidates(limit: number): string[] {
    return this.catchUpStmt.all(limit).map((row) => row.recording_id);
  }
}
