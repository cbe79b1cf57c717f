import type { Database, Statement } from 'better-sqlite3';
import type { WindowResult } from '../domain/transcript.js';

export const JOB_STATES = ['queued', 'running', 'done', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/**
 * 'transcribe': a window of a recording being transcribed (live, re-cut, resumed).
 * 'catch-up':   a window of a transcribed recording redone in the background at the normal tier
 *               (src/transcribe/catch-up.ts); the queue takes every 'transcribe' job first, and a
 *               catch-up job only while its gate allows it.
 */
export const JOB_KINDS = ['transcribe', 'catch-up'] as const;
export type JobKind = (typeof JOB_KINDS)[number];


/**
 * One window of a recording to transcribe: samples [startSample, endSample) of its WAV data.
 * `final` marks the tail window: a recording's transcript is assembled once its final job and
 * every earlier one are done.
 */
export interface Job {
  readonly id: number;
  readonly recordingId: string;
  readonly seq: number;
  readonly startSample: number;
  readonly endSample: number;
  readonly final: boolean;
  readonly kind: JobKind;
  readonly state: JobState;
  readonly attempts: number;
  readonly nextAttemptAtMs: number;
  readonly lastError: string | null;
  readonly result: WindowResult | null;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

export interface NewJob {
  readonly recordingId: string;
  readonly seq: number;
  readonly startSample: number;
  readonly endSample: number;
  readonly final: boolean;
}

interface JobRow {
  id: number;
  recording_id: string;
  seq: number;
  start_sample: number;
  end_sample: number;
  final: number;
  kind: string;
  state: string;
  attempts: number;
  next_attempt_at_ms: number;
  last_error: string | null;
  result_json: string | null;
  created_at_ms: number;
  updated_at_ms: number;
}

function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}

function parseResult(json: string | null): WindowResult | null {
  if (json === null) return null;
  try {
    return JSON.parse(json) as WindowResult;
  } catch {
    // A hand-edited or truncated row: treat as no result rather than crash the queue.
    return null;
  }
}

function fromRow(row: JobRow): Job {
  return {
    id: row.id,
    recordingId: row.recording_id,
    seq: row.seq,
    startSample: row.start_sample,
    endSample: row.end_sample,
    final: row.final === 1,
    kind: row.kind === 'catch-up' ? 'catch-up' : 'transcribe',
    state: isJobState(row.state) ? row.state : 'failed',
    attempts: row.attempts,
    nextAttemptAtMs: row.next_attempt_at_ms,
    lastError: row.last_error,
    result: parseResult(row.result_json),
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
  };
}

/**
 * The persistent transcription queue (table `jobs`, migration 4). Synchronous, like every
 * better-sqlite3 call; each statement commits on its own (synchronous=FULL), so a power cut
 * never loses an enqueued window.
 */
export class JobsRepo {
  private readonly insertStmt: Statement<[Omit<NewJob, 'final'> & { final: number; nowMs: number }]>;
  private readonly getStmt: Statement<[number], JobRow>;
  private readonly nextDueStmt: Statement<[{ atMs: number; catchUp: number }], JobRow>;
  private readonly nextDueAtStmt: Statement<[{ catchUp: number }], { at: number | null }>;
  private readonly setStateStmt: Statement<[{ id: number; state: string; nowMs: number }]>;
  private readonly doneStmt: Statement<[{ id: number; result: string; nowMs: number }]>;
  private readonly retryStmt: Statement<[{ id: number; error: string; nextAtMs: number; nowMs: number }]>;
  private readonly deferStmt: Statement<[{ id: number; nextAtMs: number; error: string | null; nowMs: number }]>;
  private readonly failStmt: Statement<[{ id: number; error: string; countAttempt: number; nowMs: number }]>;
  private readonly requeueRunningStmt: Statement<[{ nowMs: number }]>;
  private readonly forRecordingStmt: Statement<[string], JobRow>;
  private readonly deleteForRecordingStmt: Statement<[string]>;
  private readonly deleteQueuedForRecordingStmt: Statement<[string]>;
  private readonly pendingStmt: Statement<[], { n: number; oldest: number | null }>;
  private readonly catchUpPendingStmt: Statement<[], { n: number }>;
  private readonly queueCatchUpStmt: Statement<[{ recordingId: string; nowMs: number }]>;

  constructor(
    db: Database,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.insertStmt = db.prepare(
      `INSERT INTO jobs (recording_id, seq, start_sample, end_sample, final, state, attempts, next_attempt_at_ms, created_at_ms, updated_at_ms)
       VALUES (@recordingId, @seq, @startSample, @endSample, @final, 'queued', 0, @nowMs, @nowMs, @nowMs)
       ON CONFLICT (recording_id, seq) DO NOTHING`,
    );
    this.getStmt = db.prepare('SELECT * FROM jobs WHERE id = ?');
    // Every due 'transcribe' job before any catch-up job ('catch-up' sorts after 'transcribe'
    // only by this CASE, not by name); catch-up jobs only when the caller allows them.
    this.nextDueStmt = db.prepare(
      `SELECT * FROM jobs WHERE state = 'queued' AND next_attempt_at_ms <= @atMs AND (kind = 'transcribe' OR @catchUp = 1)
       ORDER BY CASE kind WHEN 'transcribe' THEN 0 ELSE 1 END, next_attempt_at_ms ASC, id ASC LIMIT 1`,
    );
    this.nextDueAtStmt = db.prepare(
      `SELECT min(next_attempt_at_ms) AS at FROM jobs WHERE state = 'queued' AND (kind = 'transcribe' OR @catchUp = 1)`,
    );
    this.setStateStmt = db.prepare('UPDATE jobs SET state = @state, updated_at_ms = @nowMs WHERE id = @id');
    this.doneStmt = db.prepare(
      `UPDATE jobs SET state = 'done', result_json = @result, last_error = NULL, updated_at_ms = @nowMs WHERE id = @id`,
    );
    this.retryStmt = db.prepare(
      `UPDATE jobs SET state = 'queued', attempts = attempts + 1, last_error = @error, next_attempt_at_ms = @nextAtMs,
         updated_at_ms = @nowMs WHERE id = @id`,
    );
    this.deferStmt = db.prepare(
      `UPDATE jobs SET state = 'queued', next_attempt_at_ms = @nextAtMs, last_error = coalesce(@error, last_error),
         updated_at_ms = @nowMs WHERE id = @id`,
    );
    this.failStmt = db.prepare(
      `UPDATE jobs SET state = 'failed', attempts = attempts + @countAttempt, last_error = @error, updated_at_ms = @nowMs WHERE id = @id`,
    );
    this.requeueRunningStmt = db.prepare(
      `UPDATE jobs SET state = 'queued', next_attempt_at_ms = @nowMs, updated_at_ms = @nowMs WHERE state = 'running'`,
    );
    this.forRecordingStmt = db.prepare('SELECT * FROM jobs WHERE recording_id = ? ORDER BY seq ASC');
    this.deleteForRecordingStmt = db.prepare('DELETE FROM jobs WHERE recording_id = ?');
    this.deleteQueuedForRecordingStmt = db.prepare(`DELETE FROM jobs WHERE recording_id = ? AND state = 'queued'`);
    this.pendingStmt = db.prepare(
      `SELECT count(*) AS n, min(created_at_ms) AS oldest FROM jobs WHERE state IN ('queued', 'running') AND kind = 'transcribe'`,
    );
    this.catchUpPendingStmt = db.prepare(`SELECT count(*) AS n FROM jobs WHERE state IN ('queued', 'running') AND kind = 'catch-up'`);
    // The redo reuses the recording's windows (the same cut as its transcript): each row goes
    // back to the queue as a fresh catch-up job. Only a recording whose every job is settled.
    this.queueCatchUpStmt = db.prepare(
      `UPDATE jobs SET kind = 'catch-up', state = 'queued', attempts = 0, last_error = NULL, result_json = NULL,
         next_attempt_at_ms = @nowMs, updated_at_ms = @nowMs
       WHERE recording_id = @recordingId
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.recording_id = @recordingId AND j.state IN ('queued', 'running'))`,
    );
  }

  /** Adds a queued job, due now. A (recording, seq) that exists already is left as it is. */
  enqueue(job: NewJob): Job | undefined {
    const nowMs = Math.round(this.nowMs());
    const result = this.insertStmt.run({ ...job, final: job.final ? 1 : 0, nowMs });
    if (result.changes === 0) return undefined;
    return this.get(Number(result.lastInsertRowid));
  }

  get(id: number): Job | undefined {
    const row = this.getStmt.get(id);
    return row === undefined ? undefined : fromRow(row);
  }

  /**
   * The queued job that is due first (every 'transcribe' job before a catch-up job, then earliest
   * next attempt, then oldest), or undefined. Catch-up jobs only with `catchUp` true.
   */
  nextDue(atMs: number = this.nowMs(), catchUp = false): Job | undefined {
    const row = this.nextDueStmt.get({ atMs: Math.round(atMs), catchUp: catchUp ? 1 : 0 });
    return row === undefined ? undefined : fromRow(row);
  }

  /** When the earliest queued job (catch-up ones only with `catchUp`) becomes due; null when none is queued. */
  nextDueAtMs(catchUp = false): number | null {
    return this.nextDueAtStmt.get({ catchUp: catchUp ? 1 : 0 })?.at ?? null;
  }

  markRunning(id: number): void {
    this.setStateStmt.run({ id, state: 'running', nowMs: Math.round(this.nowMs()) });
  }

  markDone(id: number, result: WindowResult): void {
    this.doneStmt.run({ id, result: JSON.stringify(result), nowMs: Math.round(this.nowMs()) });
  }

  /** A failed attempt: counts it and queues the job again at `nextAtMs`. */
  markRetry(id: number, error: string, nextAtMs: number): void {
    this.retryStmt.run({ id, error, nextAtMs: Math.round(nextAtMs), nowMs: Math.round(this.nowMs()) });
  }

  /** Back to the queue without counting an attempt (breaker open, audio not flushed yet, shutdown). */
  defer(id: number, nextAtMs: number, error: string | null = null): void {
    this.deferStmt.run({ id, nextAtMs: Math.round(nextAtMs), error, nowMs: Math.round(this.nowMs()) });
  }

  markFailed(id: number, error: string, countAttempt = true): void {
    this.failStmt.run({ id, error, countAttempt: countAttempt ? 1 : 0, nowMs: Math.round(this.nowMs()) });
  }

  /** Start-up: jobs left `running` by a crash go back to the queue, due now. Returns how many. */
  requeueRunning(): number {
    return this.requeueRunningStmt.run({ nowMs: Math.round(this.nowMs()) }).changes;
  }

  /** Every job of a recording, by window order. */
  forRecording(recordingId: string): Job[] {
    return this.forRecordingStmt.all(recordingId).map(fromRow);
  }

  deleteForRecording(recordingId: string): number {
    return this.deleteForRecordingStmt.run(recordingId).changes;
  }

  /** Drops the still-queued windows of a recording (its transcript can no longer complete). */
  deleteQueuedForRecording(recordingId: string): number {
    return this.deleteQueuedForRecordingStmt.run(recordingId).changes;
  }

  /**
   * Puts every window of a settled recording back in the queue as a catch-up job (results
   * cleared; its stored transcript stays until the redo replaces it). Returns how many; 0 when
   * one of its jobs is still queued or running.
   */
  queueCatchUp(recordingId: string): number {
    return this.queueCatchUpStmt.run({ recordingId, nowMs: Math.round(this.nowMs()) }).changes;
  }

  /** Catch-up jobs queued or running (background work: not in `pending()`). */
  catchUpPending(): number {
    return this.catchUpPendingStmt.get()?.n ?? 0;
  }

  /**
   * Jobs not finished yet (queued or running) and the creation time of the oldest. Catch-up jobs
   * are not counted: the queue size, the busy LED and "idle" are about the recordings people made.
   */
  pending(): { count: number; oldestCreatedAtMs: number | null } {
    const row = this.pendingStmt.get();
    return { count: row?.n ?? 0, oldestCreatedAtMs: row?.oldest ?? null };
  }
}
