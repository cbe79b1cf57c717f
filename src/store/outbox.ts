import type { Database, Statement } from 'better-sqlite3';

/**
 * What the integrations still owe their receivers (migration 9). A row is written once, right
 * after the transcript or recording it describes is committed, and stays until its sink confirms
 * delivery; the dispatcher (src/integrations/dispatcher.ts) reads one sink's rows in order.
 * Delivered rows are kept (the newest few per sink) as the delivery log the page shows.
 */
export interface OutboxEntry {
  /** The delivery id: the same on every retry, so a receiver can drop a duplicate. */
  readonly id: string;
  readonly sink: string;
  readonly kind: string;
  readonly payload: unknown;
  readonly createdAtMs: number;
  readonly attempts: number;
  readonly nextAttemptAtMs: number;
  readonly lastError: string | null;
  readonly deliveredAtMs: number | null;
}

export interface NewOutboxEntry {
  readonly id: string;
  readonly sink: string;
  readonly kind: string;
  readonly payload: unknown;
}

interface OutboxRow {
  id: string;
  sink: string;
  kind: string;
  payload_json: string;
  created_at_ms: number;
  attempts: number;
  next_attempt_at_ms: number;
  last_error: string | null;
  delivered_at_ms: number | null;
}

function fromRow(row: OutboxRow): OutboxEntry {
  let payload: unknown = null;
  try {
    payload = JSON.parse(row.payload_json);
  } catch {
    // The CHECK keeps invalid JSON out; null rather than a throw on a damaged file.
  }
  return {
    id: row.id,
    sink: row.sink,
    kind: row.kind,
    payload,
    createdAtMs: row.created_at_ms,
    attempts: row.attempts,
    nextAttemptAtMs: row.next_attempt_at_ms,
    lastError: row.last_error,
    deliveredAtMs: row.delivered_at_ms,
  };
}

export class OutboxRepo {
  private readonly insertStmt: Statement<[Record<string, string | number>]>;
  private readonly headStmt: Statement<[string]>;
  private readonly deliveredStmt: Statement<[number, string]>;
  private readonly failedStmt: Statement<[string, number, string]>;
  private readonly pendingCountStmt: Statement<[string]>;
  private readonly recentStmt: Statement<[string, number]>;
  private readonly pruneStmt: Statement<[string, string, number]>;
  private readonly newestStmt: Statement<[string, string]>;
  private readonly transcriptsSinceStmt: Statement<[number, number]>;
  private readonly deleteForRecordingStmt: Statement<[string]>;

  constructor(
    private readonly db: Database,
    private readonly nowMs: () => number = Date.now,
  ) {
    // OR IGNORE: delivery ids are derived from what they describe, so enqueueing the same event
    // twice (the event and the start-up sweep both saw it) stores it once.
    this.insertStmt = db.prepare(
      `INSERT OR IGNORE INTO outbox (id, sink, kind, payload_json, created_at_ms, next_attempt_at_ms)
       VALUES (@id, @sink, @kind, @payload_json, @created_at_ms, @created_at_ms)`,
    );
    this.headStmt = db.prepare('SELECT * FROM outbox WHERE sink = ? AND delivered_at_ms IS NULL ORDER BY seq ASC LIMIT 1');
    this.deliveredStmt = db.prepare('UPDATE outbox SET delivered_at_ms = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?');
    this.failedStmt = db.prepare('UPDATE outbox SET last_error = ?, attempts = attempts + 1, next_attempt_at_ms = ? WHERE id = ?');
    this.pendingCountStmt = db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sink = ? AND delivered_at_ms IS NULL');
    this.recentStmt = db.prepare('SELECT * FROM outbox WHERE sink = ? ORDER BY seq DESC LIMIT ?');
    this.pruneStmt = db.prepare(
      `DELETE FROM outbox WHERE sink = ? AND delivered_at_ms IS NOT NULL AND seq NOT IN (
         SELECT seq FROM outbox WHERE sink = ? AND delivered_at_ms IS NOT NULL ORDER BY seq DESC LIMIT ?)`,
    );
    this.newestStmt = db.prepare('SELECT * FROM outbox WHERE sink = ? AND kind = ? ORDER BY seq DESC LIMIT 1');
    // Every payload names its recording (src/integrations/payloads.ts).
    this.deleteForRecordingStmt = db.prepare("DELETE FROM outbox WHERE json_extract(payload_json, '$.recording.id') = ?");
    this.transcriptsSinceStmt = db.prepare('SELECT recording_id FROM transcripts WHERE created_at_ms >= ? ORDER BY created_at_ms ASC, recording_id ASC LIMIT ?');
  }

  /** All in one transaction: every sink gets the event, or none does. Returns how many were new. */
  enqueue(entries: readonly NewOutboxEntry[]): number {
    const at = this.nowMs();
    return this.db.transaction(() => {
      let added = 0;
      for (const entry of entries) {
        added += this.insertStmt.run({ id: entry.id, sink: entry.sink, kind: entry.kind, payload_json: JSON.stringify(entry.payload), created_at_ms: at }).changes;
      }
      return added;
    })();
  }

  /** The oldest undelivered entry of a sink: its deliveries go out in order, one at a time. */
  head(sink: string): OutboxEntry | undefined {
    const row = this.headStmt.get(sink) as OutboxRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  markDelivered(id: string): void {
    this.deliveredStmt.run(this.nowMs(), id);
  }

  markFailed(id: string, error: string, nextAttemptAtMs: number): void {
    this.failedStmt.run(error.slice(0, 500), nextAttemptAtMs, id);
  }

  /**
   * A deleted recording leaves nothing here: its transcript must not stay in the delivery log,
   * and what was still waiting is not sent. Returns how many rows went.
   */
  deleteForRecording(recordingId: string): number {
    return this.deleteForRecordingStmt.run(recordingId).changes;
  }

  pendingCount(sink: string): number {
    return (this.pendingCountStmt.get(sink) as { n: number }).n;
  }

  /** Newest first, delivered or not. */
  recent(sink: string, limit: number): OutboxEntry[] {
    return (this.recentStmt.all(sink, limit) as OutboxRow[]).map(fromRow);
  }

  /** The newest entry of a kind for a sink (the start-up sweep resumes after it). */
  newest(sink: string, kind: string): OutboxEntry | undefined {
    const row = this.newestStmt.get(sink, kind) as OutboxRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  /**
   * Recordings whose current transcript was made at or after `afterMs`, oldest first: what a crash
   * between the transcript's commit and its outbox rows may have left out.
   */
  transcribedSince(afterMs: number, limit: number): string[] {
    return (this.transcriptsSinceStmt.all(afterMs, limit) as { recording_id: string }[]).map((row) => row.recording_id);
  }

  /** Keeps the newest `keep` delivered rows of a sink; pending rows are never pruned. */
  prune(sink: string, keep: number): number {
    return this.pruneStmt.run(sink, sink, keep).changes;
  }
}
