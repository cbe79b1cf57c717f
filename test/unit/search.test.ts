/**
 * Search over titles and transcripts (SQLite FTS5, migration 5) and the date filters of the
 * list, at the repository: the index follows every write by trigger, snippets mark the match,
 * pages are newest first and cover every match exactly once, and no query text reaches FTS5 as
 * syntax.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Transcript } from '../../src/domain/transcript.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { RecordingIdGenerator } from '../../src/store/ids.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { InvalidCursorError, type SearchOptions } from '../../src/store/recordings.js';
import { InvalidSearchError, snippetParts, toMatchExpression } from '../../src/store/search.js';
import { createStore, type Store } from '../../src/store/store.js';

const T0 = Date.UTC(2026, 11, 1);

let dir: string;
let db: Database;
let store: Store;
let ids: RecordingIdGenerator;

function transcript(recordingId: string, text: string): Transcript {
  return { recordingId, text, segments: [{ startMs: 0, endMs: 1000, text }], model: 'ggml-test.bin', threads: 1, audioCtx: 0, audioDurationMs: 1000, processingMs: 10, realTimeFactor: 0.01, tier: 'normal', degraded: false, noSpeechReason: null, windows: 1, vocabulary: null, createdAtMs: T0 };
}

function add(startedAtMs: number, text?: string): string {
  const id = ids.next();
  store.recordings.create({ id, startedAtMs, audioPath: `${id}.wav`, sampleRateHz: 16000, preRollMs: 0 });
  if (text !== undefined) store.transcripts.save(transcript(id, text));
  return id;
}

function hits(options: Omit<SearchOptions, 'limit'> & { limit?: number }): string[] {
  return store.recordings.search({ limit: 100, ...options }).items.map((item) => item.id);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-search-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  store = createStore(db);
  let clockMs = T0;
  ids = new RecordingIdGenerator(() => clockMs++);
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

describe('search', () => {
  it('the bundled SQLite has FTS5', () => {
    expect(db.prepare("SELECT sqlite_compileoption_used('ENABLE_FTS5') AS on_").get()).toEqual({ on_: 1 });
  });

  it('finds words in transcripts and titles, all words required, stemmed, newest first', () => {
    const old = add(T0 + 1000, 'We talked about the garden shed and the roses.');
    const mid = add(T0 + 2000, 'Shopping list: apples, bread, garden gloves.');
    const none = add(T0 + 3000, 'Nothing to see here.');
    const titled = add(T0 + 4000);
    store.recordings.setTitle(titled, 'Garden plans');
    expect(hits({ q: 'garden' })).toEqual([titled, mid, old]);
    expect(hits({ q: 'GARDEN roses' })).toEqual([old]);
    expect(hits({ q: 'gardens' })).toEqual([titled, mid, old]);
    expect(hits({ q: 'plans' })).toEqual([titled]);
    expect(hits({ q: 'zebra' })).toEqual([]);
    expect(store.recordings.search({ q: 'garden', limit: 10 }).total).toBe(3);
    expect(hits({ q: 'see' })).toEqual([none]);
  });

  it('a snippet marks the matched words and carries no markup of its own', () => {
    const id = add(T0, 'Hello there. <b>General</b> Kenobi, you are a bold one.');
    const [item] = store.recordings.search({ q: 'kenobi', limit: 10 }).items;
    expect(item?.id).toBe(id);
    expect(item?.snippet.filter((part) => part.match).map((part) => part.text)).toEqual(['Kenobi']);
    expect(item?.snippet.map((part) => part.text).join('')).toContain('<b>General</b> Kenobi');
    expect(snippetParts('a \u0002b\u0003 c')).toEqual([{ text: 'a ', match: false }, { text: 'b', match: true }, { text: ' c', match: false }]);
  });

  it('the index follows title changes, transcript replacement and deletion', () => {
    const id = add(T0, 'first words');
    store.transcripts.save(transcript(id, 'second words'));
    expect(hits({ q: 'first' })).toEqual([]);
    expect(hits({ q: 'second' })).toEqual([id]);
    store.recordings.setTitle(id, '  Kitchen  ');
    expect(store.recordings.get(id)?.title).toBe('Kitchen');
    expect(hits({ q: 'kitchen' })).toEqual([id]);
    store.recordings.setTitle(id, '   ');
    expect(store.recordings.get(id)?.title).toBeNull();
    expect(hits({ q: 'kitchen' })).toEqual([]);
    store.transcripts.delete(id);
    expect(hits({ q: 'second' })).toEqual([]);
    store.recordings.delete(id);
    expect(db.prepare('SELECT count(*) AS n FROM recordings_fts').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT count(*) AS n FROM search_docs').get()).toEqual({ n: 0 });
  });

  it('operators, quotes and stray syntax are plain text, never an FTS5 error', () => {
    const id = add(T0, 'The NEAR future and "quoted" words; col:umn AND-not OR');
    const queries = ['"', '""', 'near(', 'NOT', 'AND OR', '"quoted', 'title:near', '*', 'fut*', '^the', 'a"b', 'NEAR(a b, 2)', '(', ')', '{title}: x', "'; DROP TABLE recordings; --"];
    for (const q of queries) {
      try {
        store.recordings.search({ q, limit: 10 });
      } catch (error) {
        expect(error, q).toBeInstanceOf(InvalidSearchError);
      }
    }
    expect(hits({ q: 'near' })).toEqual([id]);
    expect(hits({ q: '"quoted' })).toEqual([id]);
    expect(hits({ q: 'AND' })).toEqual([id]);
    expect(() => toMatchExpression('  - * " ')).toThrow(InvalidSearchError);
    expect(() => toMatchExpression(Array.from({ length: 17 }, (_, i) => `w${i}`).join(' '))).toThrow(InvalidSearchError);
    expect(toMatchExpression('say "hi"')).toBe('"say" """hi"""');
    expect(store.recordings.get(id)).toBeDefined();
  });

  it('cursor pages over many matches cover each exactly once, newest first, also with equal start times', () => {
    const expected: string[] = [];
    for (let i = 0; i < 53; i++) {
      // Two recordings share each start time, so the id decides; every third one does not match.
      const id = add(T0 + Math.floor(i / 2) * 1000, i % 3 === 0 ? 'unrelated' : `memo number ${i} about budgets`);
      if (i % 3 !== 0) expected.push(id);
    }
    expected.reverse();
    const seen: string[] = [];
    let before: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const page = store.recordings.search({ q: 'budget', limit: 6, ...(before === undefined ? {} : { before }) });
      expect(page.total).toBe(expected.length);
      seen.push(...page.items.map((item) => item.id));
      if (page.nextCursor === null) break;
      before = page.nextCursor;
    }
    expect(seen).toEqual(expected);
    expect(() => store.recordings.search({ q: 'budget', limit: 6, before: 'nope' })).toThrow(InvalidCursorError);
  });

  it('date filters: from inclusive, to exclusive, for search and the plain list, with paging', () => {
    const a = add(T0 + 1000, 'alpha');
    const b = add(T0 + 2000, 'alpha');
    const c = add(T0 + 3000, 'alpha');
    add(T0 + 4000, 'alpha');
    expect(hits({ q: 'alpha', fromMs: T0 + 2000, toMs: T0 + 4000 })).toEqual([c, b]);
    expect(store.recordings.search({ q: 'alpha', limit: 10, toMs: T0 + 2000 }).total).toBe(1);
    const list = store.recordings.list({ limit: 1, fromMs: T0 + 1000, toMs: T0 + 3001 });
    expect(list.items.map((item) => item.id)).toEqual([c]);
    expect(list.total).toBe(3);
    const next = store.recordings.list({ limit: 5, fromMs: T0 + 1000, toMs: T0 + 3001, before: list.nextCursor ?? '' });
    expect(next.items.map((item) => item.id)).toEqual([b, a]);
    expect(next.nextCursor).toBeNull();
    expect(store.recordings.list({ limit: 10 }).total).toBe(4);
  });
});

describe('migration 5', () => {
  it('backfills the index from recordings and transcripts written before it', () => {
    closeDatabase(db);
    const path = join(dir, 'old.db');
    const old = openDatabase(path, silentLogger(), { migrations: MIGRATIONS.slice(0, 4) });
    old.prepare(`INSERT INTO recordings (id, started_at_ms, audio_path, sample_rate_hz, status, created_at_ms, updated_at_ms) VALUES ('r1', 1, 'r1.wav', 16000, 'transcribed', 1, 1), ('r2', 2, 'r2.wav', 16000, 'recorded', 2, 2)`).run();
    old.prepare(`INSERT INTO transcripts (recording_id, text, segments_json, model, threads, audio_ctx, audio_duration_ms, processing_ms, real_time_factor, created_at_ms) VALUES ('r1', 'an old transcript about otters', '[]', 'm', 1, 0, 1000, 10, 0.01, 1)`).run();
    closeDatabase(old);

    db = openDatabase(path, silentLogger());
    store = createStore(db);
    expect(store.recordings.search({ q: 'otters', limit: 10 }).items.map((item) => item.id)).toEqual(['r1']);
    expect(store.recordings.get('r2')?.title).toBeNull();
    // r2 had no transcript; its document exists, so a title given now is found.
    store.recordings.setTitle('r2', 'Otters again');
    expect(store.recordings.search({ q: 'otters', limit: 10 }).items.map((item) => item.id)).toEqual(['r2', 'r1']);
  });
});
