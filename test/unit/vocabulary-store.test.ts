/** The vocabulary in SQLite, and migration 6 on a database made by the previous release. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, schemaVersion, type Database } from '../../src/store/db.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { createStore } from '../../src/store/store.js';
import { InvalidVocabularyError } from '../../src/store/vocabulary.js';

let dir: string;
let db: Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-vocab-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

describe('VocabularyRepo', () => {
  it('is empty until set, stores the normalised list and keeps it across a reopen', () => {
    const store = createStore(db, () => 1234);
    expect(store.vocabulary.get()).toEqual([]);
    expect(store.vocabulary.set([' Zoë Okafor ', 'Kubernetes', 'kubernetes', ''])).toEqual(['Zoë Okafor', 'Kubernetes']);
    closeDatabase(db);
    db = openDatabase(join(dir, 'scout.db'), silentLogger());
    expect(createStore(db).vocabulary.get()).toEqual(['Zoë Okafor', 'Kubernetes']);
    expect(db.prepare("SELECT updated_at_ms FROM settings WHERE key = 'vocabulary'").pluck().get()).toBe(1234);
  });

  it('refuses a list outside the bounds and keeps the previous one', () => {
    const store = createStore(db);
    store.vocabulary.set(['Scout']);
    expect(() => store.vocabulary.set(['bad\nterm'])).toThrow(InvalidVocabularyError);
    expect(store.vocabulary.get()).toEqual(['Scout']);
    store.vocabulary.set([]);
    expect(store.vocabulary.get()).toEqual([]);
  });

  it('a hand-edited row outside the bounds reads as no vocabulary rather than an oversized prompt', () => {
    const store = createStore(db);
    db.prepare("INSERT INTO settings (key, value_json, updated_at_ms) VALUES ('vocabulary', ?, 1)").run(JSON.stringify(Array.from({ length: 80 }, (_, i) => `t${i}`)));
    expect(store.vocabulary.get()).toEqual([]);
    db.prepare("UPDATE settings SET value_json = '{\"terms\": 1}'").run();
    expect(store.vocabulary.get()).toEqual([]);
  });
});

describe('migration 6 on an existing database', () => {
  it('adds settings and a null vocabulary to the transcripts already stored', () => {
    closeDatabase(db);
    const path = join(dir, 'old.db');
    const old = openDatabase(path, silentLogger(), { migrations: MIGRATIONS.slice(0, 5) });
    expect(schemaVersion(old)).toBe(5);
    old.prepare(`INSERT INTO recordings (id, started_at_ms, audio_path, sample_rate_hz, status, created_at_ms, updated_at_ms)
                 VALUES ('01jabcdefghjkmnpqrstvwxyz0', 1, 'a.wav', 16000, 'transcribed', 1, 1)`).run();
    old.prepare(`INSERT INTO transcripts (recording_id, text, segments_json, model, threads, audio_ctx, audio_duration_ms,
                   processing_ms, real_time_factor, created_at_ms)
                 VALUES ('01jabcdefghjkmnpqrstvwxyz0', 'hello', '[]', 'ggml-tiny.en.bin', 2, 100, 1000, 100, 0.1, 1)`).run();
    closeDatabase(old);

    db = openDatabase(path, silentLogger());
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    const store = createStore(db);
    expect(store.transcripts.get('01jabcdefghjkmnpqrstvwxyz0')).toMatchObject({ text: 'hello', vocabulary: null });
    expect(store.vocabulary.get()).toEqual([]);
    store.vocabulary.set(['Scout']);
    expect(store.vocabulary.get()).toEqual(['Scout']);
  });
});
