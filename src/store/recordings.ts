import type { Database, Statement } from 'better-sqlite3';
import { assertTransition, isRecordingStatus, TITLE_MAX_LENGTH, type Recording, type RecordingStatus } from '../domain/recording.js';
import { InvalidSearchError, MATCH_END, MATCH_START, snippetParts, toMatchExpression, type SnippetPart } from './search.js';


export interface NewRecording {
  readonly id: string;
  readonly startedAtMs: number;
  readonly audioPath: string;
  readonly sampleRateHz: number;
  readonly preRollMs: number;
}

export interface FinishedRecording {
  readonly endedAtMs: number;
  readonly durationMs: number;
  readonly bytes: number;
  readonly status?: 'recorded';
  /** Why the audio is shorter than the take (e.g. 'truncated: disk full'); the row stays `recorded`. */
  readonly error?: string;
}

export interface ListOptions {
  /** 1..1000. */
  readonly limit: number;
  /** Opaque cursor from a previous page's `nextCursor`: continue after that item. */
  readonly before?: string;
  /** Alternative to `before` for simple page numbers; ignored when `before` is given. */
  readonly offset?: number;
  /** Only recordings started at or after this time (ms since the epoch, inclusive). */
  readonly fromMs?: number;
  /** Only recordings started before this time (ms since the epoch, exclusive). */
  readonly toMs?: number;
}

export interface SearchOptions extends ListOptions {
  /** Plain words (see ./search.ts): every one must occur in the title or the transcript. */
  readonly q: string;
}

/** A recording that matched a search, with the passage around the match. */
export type SearchHit = Recording & { readonly snippet: SnippetPart[] };

export interface SearchPage {
  /** Newest first, like `list()`, not by rank: people look for "the one from Tuesday". */
  readonly items: SearchHit[];
  /** Every match in the date range, not just this page. */
  readonly total: number;
  readonly nextCursor: string | null;
}

export interface RecordingPage {
  readonly items: Recording[];
  /** All recordings, not just this page. */
  readonly total: number;
  /** Pass as `before` for the next (older) page; null on the last page. */
  readonly nextCursor: string | null;
}

export class InvalidCursorError extends Error {
  constructor(cursor: string) {
    super(`invalid cursor: ${JSON.stringify(cursor)}`);
    this.name = 'InvalidCursorError';
  }
}

interface RecordingRow {
  id: string;
  started_at_ms: number;
  ended_at_ms: number | null;
  duration_ms: number | null;
  audio_path: string;
  sample_rate_hz: number;
  status: string;
  error: string | null;
  pre_roll_ms: number;
  bytes: number | null;
  title: string | null;
  created_at_ms: number;
  updated_at_ms: number;
  audio_removed_at_ms: number | null;
}

function fromRow(row: RecordingRow): Recording {
  // The CHECK constraint guarantees this; the guard keeps the type honest if someone edits the db.
  const status = isRecordingStatus(row.status) ? row.status : 'failed';
  return {
    id: row.id,
    startedAtMs: row.started_at_ms,
    endedAtMs: row.ended_at_ms,
    durationMs: row.duration_ms,
    audioPath: row.audio_path,
    sampleRateHz: row.sample_rate_hz,
    status,
    error: row.error,
    preRollMs: row.pre_roll_ms,
    bytes: row.bytes,
    title: row.title,
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
    ...(row.audio_removed_at_ms === null ? {} : { audioRemovedAtMs: row.audio_removed_at_ms }),
  };
}

// Cursor: "<startedAtMs>_<id>". Ordering is by (started_at_ms, id), and the cursor carries both,
// so paging stays correct even if the item it points at is deleted between two pages.
const CURSOR_PATTERN = /^(\d{1,16})_([0-9a-z]{1,64})$/;

function encodeCursor(recording: Recording): string {
  return `${recording.startedAtMs}_${recording.id}`;
}

function decodeCursor(cursor: string): { startedAtMs: number; id: string } {
  const match = CURSOR_PATTERN.exec(cursor);
  const startedAtMs = match?.[1] === undefined ? NaN : Number(match[1]);
  const id = match?.[2];
  if (id === undefined || !Number.isSafeInteger(startedAtMs)) throw new InvalidCursorError(cursor);
  return { startedAtMs, id };
}

const MAX_LIMIT = 1000;

/** Paging and range parameters shared by the list and the search statements. */
interface PageParams {
  fromMs: number;
  toMs: number;
  beforeMs: number;
  beforeId: string;
  limit: number;
  offset: number;
}

// Bounds that leave every row in: the statements always compare, so there is one plan per query.
const NO_LOWER_BOUND_MS = -Number.MAX_SAFE_INTEGER;
const NO_UPPER_BOUND_MS = Number.MAX_SAFE_INTEGER;
// Sorts after every id (ids are [0-9a-z]).
const AFTER_EVERY_ID = '~';

// snippet(): the column that matched best (-1), our markers, about 16 tokens of context.
const SNIPPET_SQL = `snippet(recordings_fts, -1, '${MATCH_START}', '${MATCH_END}', '…', 16)`;

function pageParams(options: ListOptions): PageParams {
  const { limit } = options;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new RangeError(`limit must be an integer in 1..${MAX_LIMIT}, got ${limit}`);
  }
  const fromMs = options.fromMs ?? NO_LOWER_BOUND_MS;
  const toMs = options.toMs ?? NO_UPPER_BOUND_MS;
  if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs)) {
    throw new RangeError(`fromMs and toMs must be integers, got ${fromMs} and ${toMs}`);
  }
  // One extra row tells whether another page exists without a second query.
  const base = { fromMs, toMs, limit: limit + 1 };
  if (options.before !== undefined) {
    const { startedAtMs, id } = decodeCursor(options.before);
    return { ...base, beforeMs: startedAtMs, beforeId: id, offset: 0 };
  }
  const offset = options.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
  return { ...base, beforeMs: NO_UPPER_BOUND_MS, beforeId: AFTER_EVERY_ID, offset };
}

function toPage<R extends RecordingRow, T extends Recording>(rows: R[], limit: number, total: number, map: (row: R) => T): { items: T[]; total: number; nextCursor: string | null } {
  const hasMore = rows.length > limit;
  const items = rows.slice(0, limit).map(map);
  const last = items[items.length - 1];
  return { items, total, nextCursor: hasMore && last !== undefined ? encodeCursor(last) : null };
}

/**
 * Recordings table access. Statements are prepared once (better-sqlite3 statements are cheap to
 * keep and compile the SQL only here). All calls are synchronous: better-sqlite3 is, and each
 * statement is a few microseconds on an indexed table.
 *
 * Every status change goes through `assertTransition` (src/domain/recording.ts): an illegal one
 * throws IllegalTransitionError and leaves the row as it was.
 */
export class RecordingsRepo {
  private readonly insertStmt: Statement<[NewRecording & { nowMs: number }]>;
  private readonly finishStmt: Statement<[{ id: string; from: string; endedAtMs: number; durationMs: number; bytes: number; status: string; error: string | null; nowMs: number }]>;
  private readonly setStatusStmt: Statement<[{ id: string; from: string; status: string; error: string | null; nowMs: number }]>;
  private readonly setTitleStmt: Statement<[{ id: string; title: string | null; nowMs: number }]>;
  private readonly deleteStmt: Statement<[string]>;
  private readonly getStmt: Statement<[string], RecordingRow>;
  private readonly pageStmt: Statement<[PageParams], RecordingRow>;
  private readonly countStmt: Statement<[{ fromMs: number; toMs: number }], { n: number }>;
  private readonly searchStmt: Statement<[PageParams & { match: string }], RecordingRow & { snippet: string }>;
  private readonly searchCountStmt: Statement<[{ fromMs: number; toMs: number; match: string }], { n: number }>;
  private readonly byStatusStmt: Statement<[string], RecordingRow>;
  private readonly retentionStmt: Statement<[number], RecordingRow>;
  private readonly audioRemovedStmt: Statement<[{ id: string; nowMs: number }]>;

  // Preparing statements has no side effect on the database; doing it here means a schema that
  // does not match the code fails at start-up rather than at the first button press.
  constructor(
    private readonly db: Database,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.insertStmt = db.prepare(
      `INSERT INTO recordings (id, started_at_ms, audio_path, sample_rate_hz, pre_roll_ms, status, created_at_ms, updated_at_ms)
       VALUES (@id, @startedAtMs, @audioPath, @sampleRateHz, @preRollMs, 'recording', @nowMs, @nowMs)`,
    );
    // `status = @from`: the change applies only to the row the guard looked at.
    this.finishStmt = db.prepare(
      `UPDATE recordings SET ended_at_ms = @endedAtMs, duration_ms = @durationMs, bytes = @bytes,
         status = @status, error = @error, updated_at_ms = @nowMs WHERE id = @id AND status = @from`,
    );
    // A truncation note describes the audio, not a step of its processing: it stays through
    // transcription until a new error replaces it.
    this.setStatusStmt = db.prepare(
      `UPDATE recordings SET status = @status,
         error = CASE WHEN @error IS NULL AND error LIKE 'truncated:%' THEN error ELSE @error END,
         updated_at_ms = @nowMs WHERE id = @id AND status = @from`,
    );
    this.setTitleStmt = db.prepare('UPDATE recordings SET title = @title, updated_at_ms = @nowMs WHERE id = @id');
    this.deleteStmt = db.prepare('DELETE FROM recordings WHERE id = ?');
    this.getStmt = db.prepare('SELECT * FROM recordings WHERE id = ?');
    // Walks the (started_at_ms DESC, id DESC) index from the cursor (or the range's end).
    this.pageStmt = db.prepare(
      `SELECT * FROM recordings
       WHERE started_at_ms >= @fromMs AND started_at_ms < @toMs AND (started_at_ms, id) < (@beforeMs, @beforeId)
       ORDER BY started_at_ms DESC, id DESC LIMIT @limit OFFSET @offset`,
    );
    this.countStmt = db.prepare('SELECT count(*) AS n FROM recordings WHERE started_at_ms >= @fromMs AND started_at_ms < @toMs');
    const searchFrom = `FROM recordings_fts
       JOIN search_docs d ON d.doc_id = recordings_fts.rowid
       JOIN recordings r ON r.id = d.recording_id
       WHERE recordings_fts MATCH @match AND r.started_at_ms >= @fromMs AND r.started_at_ms < @toMs`;
    this.searchStmt = db.prepare(
      `SELECT r.*, ${SNIPPET_SQL} AS snippet ${searchFrom} AND (r.started_at_ms, r.id) < (@beforeMs, @beforeId)
       ORDER BY r.started_at_ms DESC, r.id DESC LIMIT @limit OFFSET @offset`,
    );
    this.searchCountStmt = db.prepare(`SELECT count(*) AS n ${searchFrom}`);
    this.byStatusStmt = db.prepare('SELECT * FROM recordings WHERE status = ? ORDER BY started_at_ms ASC, id ASC');
    // Only transcribed takes (never one being recorded or still waiting for its transcript) that
    // no job still reads from the WAV (a catch-up redo or a re-transcription).
    this.retentionStmt = db.prepare(
      `SELECT * FROM recordings r WHERE r.status = 'transcribed' AND r.audio_removed_at_ms IS NULL
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.recording_id = r.id AND j.state IN ('queued', 'running'))
       ORDER BY r.started_at_ms ASC, r.id ASC LIMIT ?`,
    );
    this.audioRemovedStmt = db.prepare(
      `UPDATE recordings SET audio_removed_at_ms = @nowMs, updated_at_ms = @nowMs
       WHERE id = @id AND status = 'transcribed' AND audio_removed_at_ms IS NULL`,
    );
  }

  /** The oldest recordings whose audio the retention policy may delete, oldest first. */
  oldestRemovableAudio(limit: number): Recording[] {
    return this.retentionStmt.all(limit).map(fromRow);
  }

  /** Notes that the audio is gone (before the file is deleted); false if the row no longer qualifies. */
  markAudioRemoved(id: string): boolean {
    return this.audioRemovedStmt.run({ id, nowMs: Math.round(this.nowMs()) }).changes === 1;
  }

  /** Inserts a recording in status `recording`. Throws on a duplicate id. */
  create(recording: NewRecording): Recording {
    this.insertStmt.run({
      ...recording,
      startedAtMs: Math.round(recording.startedAtMs),
      preRollMs: Math.round(recording.preRollMs),
      nowMs: Math.round(this.nowMs()),
    });
    return this.mustGet(recording.id);
  }

  /**
   * Stores the final length and marks the recording `recorded` (only from `recording`);
   * undefined if the id is unknown. Throws IllegalTransitionError from any other status.
   */
  finish(id: string, finished: FinishedRecording): Recording | undefined {
    const to = finished.status ?? 'recorded';
    return this.transition(id, to, (from) =>
      this.finishStmt.run({
        id,
        from,
        endedAtMs: Math.round(finished.endedAtMs),
        durationMs: Math.round(finished.durationMs),
        bytes: finished.bytes,
        status: to,
        error: finished.error ?? null,
        nowMs: Math.round(this.nowMs()),
      }).changes,
    );
  }

  markFailed(id: string, error: string): Recording | undefined {
    return this.setStatus(id, 'failed', error);
  }

  /**
   * Changes the status; the error is cleared unless given. Undefined if the id is unknown;
   * IllegalTransitionError (row unchanged) if the domain does not allow the move.
   */
  setStatus(id: string, status: RecordingStatus, error?: string): Recording | undefined {
    return this.transition(id, status, (from) =>
      this.setStatusStmt.run({ id, from, status, error: error ?? null, nowMs: Math.round(this.nowMs()) }).changes,
    );
  }

  /** The one path of every status change: read, check against the domain's table, write. */
  private transition(id: string, to: RecordingStatus, write: (from: RecordingStatus) => number): Recording | undefined {
    // A transaction, so the status checked is the status replaced even with a second connection
    // (a maintenance script); nested inside a caller's transaction it becomes a savepoint.
    return this.db.transaction((): Recording | undefined => {
      const current = this.get(id);
      if (current === undefined) return undefined;
      assertTransition(current.status, to, id);
      if (write(current.status) === 0) throw new Error(`recording ${id} changed during a status update`);
      return this.mustGet(id);
    })();
  }

  /** Removes the row (a cancelled recording); the caller removes the file. True if it existed. */
  delete(id: string): boolean {
    return this.deleteStmt.run(id).changes > 0;
  }

  /**
   * Names a recording (trimmed; empty or null clears the title). Undefined if the id is unknown;
   * RangeError for a title longer than TITLE_MAX_LENGTH. The search index follows by trigger.
   */
  setTitle(id: string, title: string | null): Recording | undefined {
    const trimmed = title?.trim() ?? '';
    if (trimmed.length > TITLE_MAX_LENGTH) throw new RangeError(`a title has at most ${TITLE_MAX_LENGTH} characters, got ${trimmed.length}`);
    const changes = this.setTitleStmt.run({ id, title: trimmed === '' ? null : trimmed, nowMs: Math.round(this.nowMs()) }).changes;
    return changes === 0 ? undefined : this.mustGet(id);
  }

  get(id: string): Recording | undefined {
    const row = this.getStmt.get(id);
    return row === undefined ? undefined : fromRow(row);
  }

  /**
   * Newest first, optionally within [fromMs, toMs) of the start time. Throws
   * InvalidCursorError or RangeError for bad paging input.
   */
  list(options: ListOptions): RecordingPage {
    const params = pageParams(options);
    const rows = this.pageStmt.all(params);
    const total = this.countStmt.get({ fromMs: params.fromMs, toMs: params.toMs })?.n ?? 0;
    return toPage(rows, options.limit, total, fromRow);
  }

  /**
   * Recordings whose title or transcript holds every word of `q`, newest first, paged exactly
   * like `list()` (same cursor). Throws InvalidSearchError for a query with no words, and
   * InvalidCursorError or RangeError for bad paging input.
   */
  search(options: SearchOptions): SearchPage {
    const params = pageParams(options);
    const match = toMatchExpression(options.q);
    try {
      const rows = this.searchStmt.all({ ...params, match });
      const total = this.searchCountStmt.get({ fromMs: params.fromMs, toMs: params.toMs, match })?.n ?? 0;
      return toPage(rows, options.limit, total, (row) => ({ ...fromRow(row), snippet: snippetParts(row.snippet) }));
    } catch (error) {
      // toMatchExpression quotes every word, so this is not expected; if FTS5 still refuses the
      // expression it is the query's fault (a 400), not the server's.
      if (error instanceof Error && error.message.startsWith('fts5:')) throw new InvalidSearchError(error.message);
      throw error;
    }
  }

  /** Oldest first: the order in which start-up recovery and the transcription queue handle them. */
  findByStatus(status: RecordingStatus): Recording[] {
    return this.byStatusStmt.all(status).map(fromRow);
  }

  private mustGet(id: string): Recording {
    const recording = this.get(id);
    if (recording === undefined) throw new Error(`recording ${id} vanished during an update`);
    return recording;
  }
}
