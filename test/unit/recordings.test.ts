import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import {
  isRecordingId,
  newRecordingId,
  RECORDING_ID_LENGTH,
  RecordingIdGenerator,
  recordingIdTimeMs,
} from '../../src/store/ids.js';
import { InvalidCursorError, RecordingsRepo } from '../../src/store/recordings.js';
import { RECORDING_STATUSES, type Recording } from '../../src/domain/recording.js';

let dir: string;
let db: Database;
let clockMs: number;
let repo: RecordingsRepo;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-rec-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  clockMs = 1_700_000_000_000;
  repo = new RecordingsRepo(db, () => clockMs);
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

function add(id: string, startedAtMs: number): Recording {
  return repo.create({ id, startedAtMs, audioPath: `${id}.wav`, sampleRateHz: 16000, preRollMs: 500 });
}

describe('RecordingsRepo', () => {
  it('creates a recording in status "recording" and returns it as a camelCase object', () => {
    const created = add('r1', 1000);
    expect(created).toEqual({
      id: 'r1',
      startedAtMs: 1000,
      endedAtMs: null,
      durationMs: null,
      audioPath: 'r1.wav',
      sampleRateHz: 16000,
      status: 'recording',
      error: null,
      preRollMs: 500,
      bytes: null,
      title: null,
      createdAtMs: clockMs,
      updatedAtMs: clockMs,
    });
    expect(repo.get('r1')).toEqual(created);
    expect(repo.get('nope')).toBeUndefined();
    expect(() => add('r1', 2000)).toThrow(/UNIQUE/);
  });

  it('finishes a recording with its length and marks it recorded', () => {
    add('r1', 1000);
    clockMs += 5000;
    const finished = repo.finish('r1', { endedAtMs: 5000, durationMs: 4000, bytes: 128000 });
    expect(finished).toMatchObject({
      status: 'recorded',
      endedAtMs: 5000,
      durationMs: 4000,
      bytes: 128000,
      updatedAtMs: clockMs,
      createdAtMs: clockMs - 5000,
    });
    expect(repo.finish('missing', { endedAtMs: 1, durationMs: 1, bytes: 1 })).toBeUndefined();
    // Fractional ms from clock arithmetic are rounded rather than rejected by the STRICT table.
    add('r2', 1000.4);
    expect(repo.finish('r2', { endedAtMs: 2000.6, durationMs: 1000.2, bytes: 32000 })).toMatchObject({
      startedAtMs: 1000,
      endedAtMs: 2001,
      durationMs: 1000,
    });
  });

  it('sets statuses with and without an error, and markFailed keeps the reason', () => {
    add('r1', 1000);
    expect(repo.markFailed('r1', 'disk full')).toMatchObject({ status: 'failed', error: 'disk full' });
    // A later status change clears a stale error unless a new one is given.
    expect(repo.setStatus('r1', 'transcribing')).toMatchObject({ status: 'transcribing', error: null });
    expect(repo.setStatus('r1', 'failed', 'engine crashed')).toMatchObject({ status: 'failed', error: 'engine crashed' });
    expect(repo.setStatus('missing', 'recorded')).toBeUndefined();
  });

  it('enforces the status list in the database itself', () => {
    add('r1', 1000);
    expect(() => db.prepare("UPDATE recordings SET status = 'bogus' WHERE id = 'r1'").run()).toThrow(/CHECK/);
    expect(RECORDING_STATUSES).toEqual(['recording', 'recorded', 'transcribing', 'transcribed', 'failed']);
  });

  it('deletes a cancelled recording', () => {
    add('r1', 1000);
    expect(repo.delete('r1')).toBe(true);
    expect(repo.get('r1')).toBeUndefined();
    expect(repo.delete('r1')).toBe(false);
  });

  it('finds recordings by status, oldest first (the order start-up recovery handles them)', () => {
    add('b', 2000);
    add('a', 1000);
    add('c', 3000);
    repo.finish('c', { endedAtMs: 3500, durationMs: 500, bytes: 16000 });
    expect(repo.findByStatus('recording').map((r) => r.id)).toEqual(['a', 'b']);
    expect(repo.findByStatus('recorded').map((r) => r.id)).toEqual(['c']);
    expect(repo.findByStatus('failed')).toEqual([]);
  });

  it('lists newest first with a total, paging by cursor without gaps or repeats', () => {
    const gen = new RecordingIdGenerator(() => clockMs);
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      // Two recordings share each start time, so the id breaks ties.
      const id = gen.next();
      ids.push(id);
      add(id, 1000 + Math.floor(i / 2));
    }
    const newestFirst = [...ids].reverse();
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = repo.list({ limit: 10, ...(cursor === undefined ? {} : { before: cursor }) });
      pages++;
      expect(page.total).toBe(25);
      seen.push(...page.items.map((r) => r.id));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(newestFirst);
  });

  it('keeps paging correct when the item a cursor points at is deleted in between', () => {
    for (let i = 0; i < 6; i++) add(`r${i}`, 1000 + i);
    const first = repo.list({ limit: 3 });
    expect(first.items.map((r) => r.id)).toEqual(['r5', 'r4', 'r3']);
    repo.delete('r3');
    const second = repo.list({ limit: 3, before: first.nextCursor ?? '' });
    expect(second.items.map((r) => r.id)).toEqual(['r2', 'r1', 'r0']);
    expect(second.nextCursor).toBeNull();
    expect(second.total).toBe(5);
  });

  it('lists by offset too, and rejects bad paging input with specific errors', () => {
    for (let i = 0; i < 5; i++) add(`r${i}`, 1000 + i);
    expect(repo.list({ limit: 2, offset: 2 }).items.map((r) => r.id)).toEqual(['r2', 'r1']);
    expect(repo.list({ limit: 2, offset: 10 }).items).toEqual([]);
    expect(() => repo.list({ limit: 0 })).toThrow(RangeError);
    expect(() => repo.list({ limit: 1001 })).toThrow(RangeError);
    expect(() => repo.list({ limit: 2, offset: -1 })).toThrow(RangeError);
    expect(() => repo.list({ limit: 2, before: "1_x' OR 1=1" })).toThrow(InvalidCursorError);
    expect(() => repo.list({ limit: 2, before: 'garbage' })).toThrow(InvalidCursorError);
  });
});

describe('recording ids', () => {
  it('are 26 URL- and file-name-safe characters that encode their creation time', () => {
    const id = newRecordingId();
    expect(id).toHaveLength(RECORDING_ID_LENGTH);
    expect(id).toMatch(/^[0-9a-z]+$/);
    expect(encodeURIComponent(id)).toBe(id);
    expect(isRecordingId(id)).toBe(true);
    expect(Math.abs(recordingIdTimeMs(id) - Date.now())).toBeLessThan(5000);
    const fixed = new RecordingIdGenerator(() => 1_700_000_000_123);
    expect(recordingIdTimeMs(fixed.next())).toBe(1_700_000_000_123);
  });

  it('sort in creation order, even within one millisecond and when the clock steps back', () => {
    let nowMs = 1_700_000_000_000;
    const gen = new RecordingIdGenerator(() => nowMs);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push(gen.next());
    nowMs += 1;
    ids.push(gen.next());
    nowMs -= 10_000; // NTP correction
    ids.push(gen.next(), gen.next());
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('carries the increment through a random part that is all maximum digits', () => {
    const gen = new RecordingIdGenerator(
      () => 5,
      (n) => new Uint8Array(n).fill(31),
    );
    const first = gen.next();
    const second = gen.next();
    expect(first.slice(10)).toBe('z'.repeat(16));
    expect(second > first).toBe(true);
  });

  it('rejects strings that are not ids (the HTTP layer relies on it for :id)', () => {
    for (const bad of ['', '../etc/passwd', 'A'.repeat(26), 'i'.repeat(26), `${'0'.repeat(25)}/`, '0'.repeat(27)]) {
      expect(isRecordingId(bad)).toBe(false);
    }
    expect(() => recordingIdTimeMs('nope')).toThrow(/not a recording id/);
  });
});
