/** The retention policy (src/app/retention.ts) over a real database and real files, with a fake free-space reading. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Retention } from '../../src/app/retention.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type Store } from '../../src/store/store.js';
import { captureLogger } from '../helpers/log-capture.js';

const MB = 1_048_576;
let dir: string;
let recordingsDir: string;
let db: Database;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-retention-'));
  recordingsDir = join(dir, 'recordings');
  mkdirSync(recordingsDir);
  db = openDatabase(join(dir, 'scout.db'), captureLogger().logger);
  store = createStore(db);
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

/** A recording with a 1 MB file, taken to `status`. */
function add(id: string, startedAtMs: number, status: 'recording' | 'recorded' | 'transcribed'): void {
  writeFileSync(join(recordingsDir, `${id}.wav`), Buffer.alloc(MB));
  store.recordings.create({ id, startedAtMs, audioPath: `${id}.wav`, sampleRateHz: 16000, preRollMs: 0 });
  if (status === 'recording') return;
  store.recordings.finish(id, { endedAtMs: startedAtMs + 100, durationMs: 100, bytes: MB });
  if (status === 'transcribed') store.recordings.setStatus(id, 'transcribed');
}

/** Free space that grows by the size of each WAV deleted from the folder. */
function fakeDisk(initialFreeBytes: number): () => Promise<number> {
  const files = (): number => ['a', 'b', 'c', 'd', 'e', 'f'].filter((id) => existsSync(join(recordingsDir, `${id}.wav`))).length;
  const start = files();
  return () => Promise.resolve(initialFreeBytes + (start - files()) * MB);
}

describe('Retention', () => {
  it('deletes the audio of the oldest transcribed recordings until the threshold is met, keeping rows and transcripts', async () => {
    add('a', 1000, 'transcribed');
    add('b', 2000, 'transcribed');
    add('c', 3000, 'transcribed');
    add('d', 500, 'recorded'); // older, but not yet transcribed
    add('e', 400, 'recording'); // older, and being recorded
    const { logger, lines } = captureLogger();
    const retention = new Retention({ keepFreeBytes: 10 * MB, freeBytes: fakeDisk(8.5 * MB), recordings: store.recordings, recordingsDir, logger });

    const free = await retention.enforce(8.5 * MB);
    expect(free).toBe(10.5 * MB);
    expect(retention.removedCount()).toBe(2);
    expect(existsSync(join(recordingsDir, 'a.wav'))).toBe(false);
    expect(existsSync(join(recordingsDir, 'b.wav'))).toBe(false);
    for (const kept of ['c', 'd', 'e']) expect(statSync(join(recordingsDir, `${kept}.wav`)).size).toBe(MB);
    expect(store.recordings.get('a')).toMatchObject({ status: 'transcribed', audioRemovedAtMs: expect.any(Number) as number });
    expect(store.recordings.get('c')?.audioRemovedAtMs).toBeUndefined();
    expect(store.recordings.get('d')?.audioRemovedAtMs).toBeUndefined();
    expect(lines.filter((line) => line.msg === 'retention: deleted the audio of an old recording (transcript kept)').map((line) => line.recordingId)).toEqual(['a', 'b']);

    // Above the threshold: nothing more goes.
    expect(await retention.enforce(11 * MB)).toBe(11 * MB);
    expect(retention.removedCount()).toBe(2);
  });

  it('stops, with a warning, when only untranscribed or busy recordings are left', async () => {
    add('a', 1000, 'transcribed');
    add('b', 2000, 'recorded');
    // A queued job (a re-transcription) still reads a's WAV.
    db.prepare(
      `INSERT INTO jobs (recording_id, seq, start_sample, end_sample, final, state, next_attempt_at_ms, created_at_ms, updated_at_ms)
       VALUES ('a', 0, 0, 16000, 1, 'queued', 0, 0, 0)`,
    ).run();
    const { logger, lines } = captureLogger();
    const retention = new Retention({ keepFreeBytes: 10 * MB, freeBytes: fakeDisk(MB), recordings: store.recordings, recordingsDir, logger });
    expect(await retention.enforce(MB)).toBe(MB);
    expect(retention.removedCount()).toBe(0);
    expect(existsSync(join(recordingsDir, 'a.wav'))).toBe(true);
    expect(lines.some((line) => line.msg === 'retention: no transcribed audio left to delete')).toBe(true);
  });

  it('a recording whose audio was removed is not offered again', () => {
    add('a', 1000, 'transcribed');
    expect(store.recordings.markAudioRemoved('a')).toBe(true);
    expect(store.recordings.markAudioRemoved('a')).toBe(false);
    expect(store.recordings.oldestRemovableAudio(10)).toEqual([]);
  });
});
