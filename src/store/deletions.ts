import type { Database, Statement } from 'better-sqlite3';

/**
 * The journal of audio files whose recordings were deleted; why a journal, and how it is
 * written and replayed: ./delete-recording.ts.
 */

/** One file to remove. */
export interface PendingDeletion {
  /** Relative to the recordings folder, as recordings.audio_path was. */
  readonly audioPath: string;
  readonly recordingId: string;
  readonly deletedAtMs: number;
}

interface DeletionRow {
  audio_path: string;
  recording_id: string;
  deleted_at_ms: number;
}

/** The `deletions` table (migration 5). */
export class DeletionsRepo {
  private readonly addStmt: Statement<[PendingDeletion]>;
  private readonly removeStmt: Statement<[string]>;
  private readonly pendingStmt: Statement<[], DeletionRow>;

  constructor(db: Database) {
    // A path already pending (a recording deleted twice cannot happen, but a hand-edited
    // database might reuse a path) keeps the first entry: the file goes either way.
    this.addStmt = db.prepare(
      `INSERT INTO deletions (audio_path, recording_id, deleted_at_ms) VALUES (@audioPath, @recordingId, @deletedAtMs)
       ON CONFLICT (audio_path) DO NOTHING`,
    );
    this.removeStmt = db.prepare('DELETE FROM deletions WHERE audio_path = ?');
    this.pendingStmt = db.prepare('SELECT * FROM deletions ORDER BY deleted_at_ms ASC, audio_path ASC');
  }

  add(deletion: PendingDeletion): void {
    this.addStmt.run({ ...deletion, deletedAtMs: Math.round(deletion.deletedAtMs) });
  }

  remove(audioPath: string): void {
    this.removeStmt.run(audioPath);
  }

  /** Oldest first. */
  pending(): PendingDeletion[] {
    return this.pendingStmt.all().map((row) => ({ audioPath: row.audio_path, recordingId: row.recording_id, deletedAtMs: row.deleted_at_ms }));
  }
}
