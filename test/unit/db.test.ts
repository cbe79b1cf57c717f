import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import {
  checkWritable,
  closeDatabase,
  DatabaseTooNewError,
  openDatabase,
  PAGE_CACHE_KIB,
  schemaVersion,
  type Database,
} from '../../src/store/db.js';
import { MIGRATIONS, type Migration } from '../../src/store/migrations.js';
import { createStore } from '../../src/store/store.js';

let dir: string;
const opened: Database[] = [];

function openTracked(path: string, migrations?: readonly Migration[]): Database {
  const db = openDatabase(path, silentLogger(), migrations ? { migrations } : {});
  opened.push(db);
  return db;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-db-'));
});

afterEach(() => {
  for (const db of opened.splice(0)) closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

describe('openDatabase', () => {
  it('creates a new database (and its folder) at the latest schema with durable settings', () => {
    const db = openTracked(join(dir, 'nested', 'scout.db'));
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    // 2 = FULL
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    // Negative = KiB; not better-sqlite3's compiled-in -16000 (16 MB of private RSS as the database grows).
    expect(db.pragma('cache_size', { simple: true })).toBe(-PAGE_CACHE_KIB);
    expect(PAGE_CACHE_KIB).toBeLessThanOrEqual(2000);
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .pluck()
      .all();
    // recordings_fts* are the FTS5 index and its shadow tables (migration 5); settings is migration 6;
    // transcript_history is migration 7; outbox is migration 9.
    expect(tables).toEqual([
      'deletions', 'health_heartbeat', 'jobs', 'outbox', 'recordings', 'recordings_fts', 'recordings_fts_config', 'recordings_fts_content',
      'recordings_fts_data', 'recordings_fts_docsize', 'recordings_fts_idx', 'search_docs', 'settings', 'sqlite_sequence', 'transcript_history',
      'transcripts',
    ]);
  });

  it('migration 7 upgrades a database with transcripts and jobs: old transcripts have no tier, old degraded ones are catch-up candidates', () => {
    const path = join(dir, 'scout.db');
    const v6 = openTracked(path, MIGRATIONS.slice(0, 6));
    v6.exec(`
      INSERT INTO recordings (id, started_at_ms, audio_path, sample_rate_hz, status, created_at_ms, updated_at_ms)
        VALUES ('a', 1, 'a.wav', 16000, 'transcribed', 1, 1), ('b', 2, 'b.wav', 16000, 'transcribed', 2, 2);
      INSERT INTO transcripts (recording_id, text, segments_json, model, threads, audio_ctx, audio_duration_ms, processing_ms, real_time_factor, degraded, created_at_ms)
        VALUES ('a', 'hot words', '[]', 'ggml-tiny.en-q8_0.bin', 1, 100, 1000, 300, 0.3, 1, 10),
               ('b', 'cool words', '[]', 'ggml-base.en.bin', 3, 100, 1000, 300, 0.3, 0, 20);
      INSERT INTO jobs (recording_id, seq, start_sample, end_sample, final, state, next_attempt_at_ms, result_json, created_at_ms, updated_at_ms)
        VALUES ('a', 0, 0, 16000, 1, 'done', 1, '{"segments":[],"noSpeech":false,"processingMs":300,"audioCtx":100,"model":"m","threads":1}', 1, 1),
               ('b', 0, 0, 16000, 1, 'done', 1, '{"segments":[],"noSpeech":false,"processingMs":300,"audioCtx":100,"model":"m","threads":3}', 2, 2);
    `);
    closeDatabase(v6);

    const db = openTracked(path);
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    const store = createStore(db);
    expect(store.transcripts.get('a')).toMatchObject({ text: 'hot words', tier: null, degraded: true });
    expect(store.transcripts.get('b')).toMatchObject({ text: 'cool words', tier: null, degraded: false });
    expect(store.jobs.forRecording('a')).toMatchObject([{ kind: 'transcribe', state: 'done' }]);
    expect(store.transcripts.catchUpCandidates(10)).toEqual(['a']);
    expect(store.transcripts.history('a')).toEqual([]);
  });

  it('re-opens an existing database without re-running migrations and keeps its rows', () => {
    const path = join(dir, 'scout.db');
    const first = openTracked(path);
    first
      .prepare(
        `INSERT INTO recordings (id, started_at_ms, audio_path, sample_rate_hz, created_at_ms, updated_at_ms)
         VALUES ('a', 1, 'a.wav', 16000, 1, 1)`,
      )
      .run();
    closeDatabase(first);
    closeDatabase(first); // idempotent

    const second = openTracked(path);
    expect(schemaVersion(second)).toBe(MIGRATIONS.length);
    expect(second.prepare('SELECT count(*) FROM recordings').pluck().get()).toBe(1);
  });

  it('applies only the migrations that are new since the last open, in order', () => {
    const path = join(dir, 'scout.db');
    const applied: number[] = [];
    const v1: Migration = { version: 1, name: 'one', up: 'CREATE TABLE one (x INTEGER)' };
    const v2: Migration = {
      version: 2,
      name: 'two',
      up: (db) => {
        applied.push(2);
        db.exec('CREATE TABLE two (y INTEGER)');
      },
    };
    closeDatabase(openTracked(path, [v1]));
    const db = openTracked(path, [v1, v2]);
    expect(schemaVersion(db)).toBe(2);
    expect(applied).toEqual([2]);
    closeDatabase(db);
    closeDatabase(openTracked(path, [v1, v2]));
    expect(applied).toEqual([2]);
  });

  it('rolls back a failing migration completely, leaving the previous version', () => {
    const path = join(dir, 'scout.db');
    const v1: Migration = { version: 1, name: 'one', up: 'CREATE TABLE one (x INTEGER)' };
    const broken: Migration = { version: 2, name: 'broken', up: 'CREATE TABLE two (y INTEGER); SELECT * FROM missing;' };
    expect(() => openTracked(path, [v1, broken])).toThrow(/missing/);
    const raw = new BetterSqlite3(path);
    try {
      expect(raw.pragma('user_version', { simple: true })).toBe(1);
      expect(raw.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'two'").pluck().get()).toBe(0);
    } finally {
      raw.close();
    }
  });

  it('refuses a database written by a newer release, with a message that says what to do', () => {
    const path = join(dir, 'scout.db');
    closeDatabase(openTracked(path));
    const raw = new BetterSqlite3(path);
    raw.pragma(`user_version = ${MIGRATIONS.length + 3}`);
    raw.close();

    let caught: unknown;
    try {
      openTracked(path);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DatabaseTooNewError);
    expect((caught as Error).message).toMatch(new RegExp(`schema version ${MIGRATIONS.length + 3}.*only knows up to ${MIGRATIONS.length}`));
    expect((caught as Error).message).toMatch(/newer release/);
    // Nothing was changed by the refused open.
    const check = new BetterSqlite3(path);
    expect(check.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length + 3);
    check.close();
  });

  it('rejects a migration list with gaps', () => {
    const bad: Migration[] = [
      { version: 1, name: 'one', up: 'SELECT 1' },
      { version: 3, name: 'three', up: 'SELECT 1' },
    ];
    expect(() => openTracked(join(dir, 'x.db'), bad)).toThrow(/version 3, expected 2/);
  });
});

describe('checkWritable', () => {
  it('commits a heartbeat on a healthy database', () => {
    const db = openTracked(join(dir, 'scout.db'));
    expect(checkWritable(db, 1234)).toEqual({ ok: true, message: 'database accepts writes' });
    expect(checkWritable(db, 5678).ok).toBe(true);
    expect(db.prepare('SELECT at_ms FROM health_heartbeat').pluck().all()).toEqual([5678]);
  });

  it('reports a database that cannot be written (read-only) and a closed one, without throwing', () => {
    const path = join(dir, 'scout.db');
    closeDatabase(openTracked(path));
    // A read-only connection behaves like an SD card the kernel remounted read-only.
    const readOnly = new BetterSqlite3(path, { readonly: true });
    try {
      const result = checkWritable(readOnly);
      expect(result.ok).toBe(false);
      expect(result.message).toMatch(/SQLITE_READONLY/);
    } finally {
      readOnly.close();
    }
    const db = openTracked(path);
    closeDatabase(db);
    expect(checkWritable(db)).toEqual({ ok: false, message: 'database is closed' });
  });
});
