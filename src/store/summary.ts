import type { Database, Statement } from 'better-sqlite3';

/** What the recordings add up to, for the page's storage panel (GET /api/summary). */
export interface RecordingTotals {
  readonly count: number;
  /** Audio bytes on disk as recorded; a take still being recorded counts once it is saved. */
  readonly bytes: number;
  readonly durationMs: number;
}

/**
 * One aggregate over the recordings table, in its own module so the repositories stay as they
 * are. A full scan of a table of a few thousand rows is well under a millisecond, and the page
 * asks only when a recording is created or deleted.
 */
export class RecordingTotalsQuery {
  private readonly stmt: Statement<[], { count: number; bytes: number; duration_ms: number }>;

  constructor(db: Database) {
    this.stmt = db.prepare('SELECT COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes, COALESCE(SUM(duration_ms), 0) AS duration_ms FROM recordings');
  }

  totals(): RecordingTotals {
    const row = this.stmt.get();
    return { count: row?.count ?? 0, bytes: row?.bytes ?? 0, durationMs: row?.duration_ms ?? 0 };
  }
}
