import type { Database } from 'better-sqlite3';

/**
 * Schema history. Each entry runs once, inside its own transaction together with the bump of
 * `PRAGMA user_version` (which lives in the database header and is transactional), so a power
 * cut mid-migration leaves the database at the previous version, never half-migrated.
 *
 * Rules: append only; never edit a migration that has shipped; versions are 1, 2, 3, ...
 *
 * Conventions: times are INTEGER milliseconds since the Unix epoch (UTC), named `*_at_ms` in
 * SQL and `*AtMs` in TypeScript; they compare and sort as numbers and need no parsing.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: string | ((db: Database) => void);
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'recordings',
    up: `
      CREATE TABLE recordings (
        id             TEXT    PRIMARY KEY NOT NULL,
        started_at_ms  INTEGER NOT NULL,
        ended_at_ms    INTEGER,
        duration_ms    INTEGER,
        -- relative to the recordings folder, so the data dir can move
        audio_path     TEXT    NOT NULL,
        sample_rate_hz INTEGER NOT NULL CHECK (sample_rate_hz > 0),
        status         TEXT    NOT NULL DEFAULT 'recording'
                       CHECK (status IN ('recording','recorded','transcribing','transcribed','failed')),
        error          TEXT,
        pre_roll_ms    INTEGER NOT NULL DEFAULT 0 CHECK (pre_roll_ms >= 0),
        bytes          INTEGER,
        created_at_ms  INTEGER NOT NULL,
        updated_at_ms  INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX recordings_started_at ON recordings (started_at_ms DESC, id DESC);
      CREATE INDEX recordings_status ON recordings (status);
    `,
  },
  {
    version: 2,
    name: 'health heartbeat',
    // One row rewritten by checkWritable(): a real committed write is the only way to notice an
    // SD card that the kernel remounted read-only or that is full.
    up: `
      CREATE TABLE health_heartbeat (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        at_ms INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'transcripts',
    // One row per recording, written once all its windows are done. segments_json holds
    // [{startMs,endMs,text}] with times absolute within the recording. no_speech_reason is set
    // (and text empty) when the silence gate kept every window away from the engine.
    up: `
      CREATE TABLE transcripts (
        recording_id      TEXT    PRIMARY KEY NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
        text              TEXT    NOT NULL,
        segments_json     TEXT    NOT NULL,
        model             TEXT    NOT NULL,
        threads           INTEGER NOT NULL,
        audio_ctx         INTEGER NOT NULL,
        audio_duration_ms INTEGER NOT NULL,
        processing_ms     INTEGER NOT NULL,
        real_time_factor  REAL    NOT NULL,
        degraded          INTEGER NOT NULL DEFAULT 0 CHECK (degraded IN (0, 1)),
        no_speech_reason  TEXT,
        windows           INTEGER NOT NULL DEFAULT 1,
        created_at_ms     INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 4,
    name: 'transcription jobs',
    // One job per window of a recording (seq = window index; the tail window has final = 1).
    // Survives restarts: 'running' rows found at start-up were interrupted and go back to
    // 'queued'. The index serves "next due job" without a scan.
    up: `
      CREATE TABLE jobs (
        id                 INTEGER PRIMARY KEY AUTOINCREMENT,
        recording_id       TEXT    NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
        seq                INTEGER NOT NULL CHECK (seq >= 0),
        start_sample       INTEGER NOT NULL CHECK (start_sample >= 0),
        end_sample         INTEGER NOT NULL CHECK (end_sample >= start_sample),
        final              INTEGER NOT NULL DEFAULT 0 CHECK (final IN (0, 1)),
        state              TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','running','done','failed')),
        attempts           INTEGER NOT NULL DEFAULT 0,
        next_attempt_at_ms INTEGER NOT NULL,
        last_error         TEXT,
        result_json        TEXT,
        created_at_ms      INTEGER NOT NULL,
        updated_at_ms      INTEGER NOT NULL,
        UNIQUE (recording_id, seq)
      ) STRICT;
      CREATE INDEX jobs_due ON jobs (state, next_attempt_at_ms, id);
    `,
  },
  {
    version: 5,
    name: 'titles, search and deletions',
    // title: set by PATCH /api/recordings/:id; NULL until someone names the recording.
    //
    // Search: one FTS5 document per recording (its title and transcript text), kept in step by
    // triggers, so no writer has to remember the index. The FTS rowid cannot be recordings'
    // implicit rowid: a table whose key is TEXT may have its rowids renumbered by VACUUM, which
    // would silently point the index at other recordings. search_docs gives each recording a
    // stable INTEGER key instead (no foreign key: the recordings delete trigger removes the row
    // itself, in a known order). The index stores its own copy of the text (not content=): the
    // transcripts table has no stable integer key to point at either, and transcripts are small.
    // 'porter' lets "recordings" find "recording"; remove_diacritics lets "cafe" find "café".
    //
    // deletions: the journal of audio files whose rows are gone but whose unlink has not been
    // confirmed. DELETE /api/recordings/:id writes it in the same transaction that drops the
    // rows and removes the entry once the file is gone; start-up finishes what a crash left.
    up: `
      ALTER TABLE recordings ADD COLUMN title TEXT;

      CREATE TABLE search_docs (
        doc_id       INTEGER PRIMARY KEY,
        recording_id TEXT    NOT NULL UNIQUE
      ) STRICT;
      CREATE VIRTUAL TABLE recordings_fts USING fts5 (
        title, text, tokenize = 'porter unicode61 remove_diacritics 2'
      );

      CREATE TRIGGER recordings_fts_insert AFTER INSERT ON recordings BEGIN
        INSERT INTO search_docs (recording_id) VALUES (new.id);
        INSERT INTO recordings_fts (rowid, title, text)
          VALUES ((SELECT doc_id FROM search_docs WHERE recording_id = new.id), coalesce(new.title, ''), '');
      END;
      CREATE TRIGGER recordings_fts_title AFTER UPDATE OF title ON recordings BEGIN
        UPDATE recordings_fts SET title = coalesce(new.title, '')
          WHERE rowid = (SELECT doc_id FROM search_docs WHERE recording_id = new.id);
      END;
      CREATE TRIGGER recordings_fts_delete AFTER DELETE ON recordings BEGIN
        DELETE FROM recordings_fts WHERE rowid = (SELECT doc_id FROM search_docs WHERE recording_id = old.id);
        DELETE FROM search_docs WHERE recording_id = old.id;
      END;
      CREATE TRIGGER transcripts_fts_insert AFTER INSERT ON transcripts BEGIN
        UPDATE recordings_fts SET text = new.text
          WHERE rowid = (SELECT doc_id FROM search_docs WHERE recording_id = new.recording_id);
      END;
      CREATE TRIGGER transcripts_fts_update AFTER UPDATE OF text ON transcripts BEGIN
        UPDATE recordings_fts SET text = new.text
          WHERE rowid = (SELECT doc_id FROM search_docs WHERE recording_id = new.recording_id);
      END;
      CREATE TRIGGER transcripts_fts_delete AFTER DELETE ON transcripts BEGIN
        UPDATE recordings_fts SET text = ''
          WHERE rowid = (SELECT doc_id FROM search_docs WHERE recording_id = old.recording_id);
      END;

      -- Backfill: every recording gets its document, with the transcript it already has.
      INSERT INTO search_docs (recording_id) SELECT id FROM recordings ORDER BY started_at_ms, id;
      INSERT INTO recordings_fts (rowid, title, text)
        SELECT d.doc_id, '', coalesce(t.text, '')
        FROM search_docs d LEFT JOIN transcripts t ON t.recording_id = d.recording_id;

      CREATE TABLE deletions (
        audio_path    TEXT    PRIMARY KEY NOT NULL,
        recording_id  TEXT    NOT NULL,
        deleted_at_ms INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 6,
    name: 'settings and transcript vocabulary',
    // settings: small user settings edited on the page, one JSON value per key (the first is
    // 'vocabulary', the list of terms sent to whisper as its prompt). Key/value rather than a
    // table per setting, so the next setting needs no migration.
    //
    // transcripts.vocabulary_json: the terms a transcript was made with (a JSON array); NULL for
    // transcripts made before this migration, which did not record it.
    up: `
      CREATE TABLE settings (
        key           TEXT    PRIMARY KEY NOT NULL,
        value_json    TEXT    NOT NULL CHECK (json_valid(value_json)),
        updated_at_ms INTEGER NOT NULL
      ) STRICT;
      ALTER TABLE transcripts ADD COLUMN vocabulary_json TEXT CHECK (vocabulary_json IS NULL OR json_valid(vocabulary_json));
    `,
  },
  {
    version: 7,
    name: 'transcript tiers, history and catch-up jobs',
    // transcripts.tier: the worst model tier of the windows that reached the engine (NULL when
    // none did, and for the rows already here: they predate per-window records, so only their
    // old `degraded` flag says anything; catch-up treats NULL + degraded as below normal).
    //
    // transcript_history: transcripts replaced by a newer one (catch-up at the normal tier, or a
    // re-transcription), kept whole as the domain's JSON so a later column needs no migration
    // here. Newest first by (replaced_at_ms, id).
    //
    // jobs.kind: 'catch-up' jobs redo a transcribed recording in the background; the queue takes
    // every 'transcribe' job first (jobs_due_kind serves "next due job of a kind").
    up: `
      ALTER TABLE transcripts ADD COLUMN tier TEXT CHECK (tier IS NULL OR tier IN ('normal', 'constrained'));

      CREATE TABLE transcript_history (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        recording_id    TEXT    NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
        transcript_json TEXT    NOT NULL CHECK (json_valid(transcript_json)),
        tier            TEXT,
        replaced_at_ms  INTEGER NOT NULL,
        reason          TEXT    NOT NULL
      ) STRICT;
      CREATE INDEX transcript_history_recording ON transcript_history (recording_id, replaced_at_ms DESC, id DESC);

      ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'transcribe' CHECK (kind IN ('transcribe', 'catch-up'));
      CREATE INDEX jobs_due_kind ON jobs (state, kind, next_attempt_at_ms, id);
    `,
  },
  {
    version: 8,
    name: 'audio removed by retention',
    // Set when the retention policy deleted the WAV to free space; the row, its transcript and its
    // history stay. NULL: the audio is (or should be) on disk.
    up: `ALTER TABLE recordings ADD COLUMN audio_removed_at_ms INTEGER;`,
  },
  {
    version: 9,
    name: 'integrations outbox',
    // What the integrations (MQTT, webhooks, the notes folder) still have to deliver, durable like
    // the jobs. id is the delivery id a receiver sees (the same on every retry); seq orders one
    // sink's entries. Delivered rows stay a while as the page's delivery log (src/store/outbox.ts).
    up: `
      CREATE TABLE outbox (
        seq                INTEGER PRIMARY KEY AUTOINCREMENT,
        id                 TEXT    NOT NULL UNIQUE,
        sink               TEXT    NOT NULL,
        kind               TEXT    NOT NULL,
        payload_json       TEXT    NOT NULL CHECK (json_valid(payload_json)),
        created_at_ms      INTEGER NOT NULL,
        attempts           INTEGER NOT NULL DEFAULT 0,
        next_attempt_at_ms INTEGER NOT NULL,
        last_error         TEXT,
        delivered_at_ms    INTEGER
      ) STRICT;
      CREATE INDEX outbox_pending ON outbox (sink, delivered_at_ms, seq);
    `,
  },
  {
    version: 10,
    name: 'transcript engine',
    // Which engine ran a transcript's windows: 'local' (the whisper-server child), 'remote' (the
    // remote tier, config transcription.remote) or 'mixed' (some of each: the remote went away
    // mid-recording). NULL when no window reached an engine, and for transcripts made before this
    // migration (all of them local). Each window's own record is in jobs.result_json (`engine`).
    up: `ALTER TABLE transcripts ADD COLUMN engine TEXT CHECK (engine IS NULL OR engine IN ('local', 'remote', 'mixed'));`,
  },
];
