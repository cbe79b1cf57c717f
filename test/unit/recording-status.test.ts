import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  assertTransition,
  canTransition,
  IllegalTransitionError,
  RECORDING_STATUSES,
  RECORDING_TRANSITIONS,
  type RecordingStatus,
} from '../../src/domain/recording.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { RecordingsRepo } from '../../src/store/recordings.js';

const ALLOWED: ReadonlyArray<readonly [RecordingStatus, RecordingStatus]> = [
  ['recording', 'recorded'],
  ['recording', 'failed'],
  ['recorded', 'transcribing'],
  ['recorded', 'transcribed'],
  ['recorded', 'failed'],
  ['transcribing', 'transcribed'],
  ['transcribing', 'failed'],
  ['transcribed', 'transcribing'],
  ['failed', 'transcribing'],
];

const allPairs = RECORDING_STATUSES.flatMap((from) => RECORDING_STATUSES.map((to) => [from, to] as const));
const isAllowed = (from: RecordingStatus, to: RecordingStatus): boolean => ALLOWED.some(([f, t]) => f === from && t === to);
const illegalPairs = allPairs.filter(([from, to]) => !isAllowed(from, to));

describe('recording status transitions (the domain guard)', () => {
  it('the table is exactly the life of a recording the appliance relies on', () => {
    const fromTable = RECORDING_STATUSES.flatMap((from) => RECORDING_TRANSITIONS[from].map((to) => [from, to] as const));
    expect(new Set(fromTable.map(([f, t]) => `${f}->${t}`))).toEqual(new Set(ALLOWED.map(([f, t]) => `${f}->${t}`)));
  });

  it.each(ALLOWED)('allows %s -> %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it.each(illegalPairs)('refuses %s -> %s with a typed error naming both statuses', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    let caught: unknown;
    try {
      assertTransition(from, to, 'r1');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IllegalTransitionError);
    expect(caught).toMatchObject({ name: 'IllegalTransitionError', from, to, recordingId: 'r1' });
    expect((caught as Error).message).toBe(`recording r1: illegal status change ${from} -> ${to}`);
  });

  it('no status moves to itself, and nothing goes back to recording', () => {
    for (const status of RECORDING_STATUSES) {
      expect(canTransition(status, status)).toBe(false);
      expect(canTransition(status, 'recording')).toBe(false);
    }
  });
});

describe('RecordingsRepo goes through the guard', () => {
  let dir: string;
  let db: Database;
  let clockMs: number;
  let repo: RecordingsRepo;
  let counter = 0;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'scout-status-'));
    db = openDatabase(join(dir, 'scout.db'), silentLogger());
    clockMs = 1_700_000_000_000;
    repo = new RecordingsRepo(db, () => clockMs);
  });

  afterEach(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });

  /** A new row brought to `status` by legal steps only. */
  function rowIn(status: RecordingStatus): string {
    const id = `r${counter++}`;
    repo.create({ id, startedAtMs: 1000, audioPath: `${id}.wav`, sampleRateHz: 16000, preRollMs: 0 });
    const finish = (): void => void repo.finish(id, { endedAtMs: 2000, durationMs: 1000, bytes: 32000 });
    const steps: Record<RecordingStatus, Array<() => void>> = {
      recording: [],
      recorded: [finish],
      transcribing: [finish, () => void repo.setStatus(id, 'transcribing')],
      transcribed: [finish, () => void repo.setStatus(id, 'transcribing'), () => void repo.setStatus(id, 'transcribed')],
      failed: [() => void repo.markFailed(id, 'disk full')],
    };
    for (const step of steps[status]) step();
    expect(repo.get(id)?.status).toBe(status);
    return id;
  }

  it.each(ALLOWED)('setStatus makes %s -> %s', (from, to) => {
    const id = rowIn(from);
    clockMs += 1000;
    expect(repo.setStatus(id, to)).toMatchObject({ status: to, updatedAtMs: clockMs });
  });

  it.each(illegalPairs)('setStatus refuses %s -> %s and leaves the row unchanged', (from, to) => {
    const id = rowIn(from);
    const before = repo.get(id);
    clockMs += 1000;
    expect(() => repo.setStatus(id, to, 'should not be stored')).toThrow(IllegalTransitionError);
    expect(repo.get(id)).toEqual(before);
  });

  it('finish() is the recording -> recorded step only; from anywhere else it is refused, row unchanged', () => {
    for (const status of RECORDING_STATUSES.filter((s) => s !== 'recording')) {
      const id = rowIn(status);
      const before = repo.get(id);
      expect(() => repo.finish(id, { endedAtMs: 9000, durationMs: 8000, bytes: 1 })).toThrow(
        new IllegalTransitionError(status, 'recorded', id),
      );
      expect(repo.get(id)).toEqual(before);
    }
  });

  it('markFailed() is refused once the recording is already failed, and the first reason is kept', () => {
    const id = rowIn('failed');
    expect(() => repo.markFailed(id, 'second reason')).toThrow(IllegalTransitionError);
    expect(repo.get(id)).toMatchObject({ status: 'failed', error: 'disk full' });
  });

  it('a refused step inside a caller transaction rolls back that transaction, not just the step', () => {
    const id = rowIn('recording');
    const other = rowIn('recording');
    expect(() =>
      db.transaction(() => {
        repo.finish(other, { endedAtMs: 2000, durationMs: 1000, bytes: 32000 });
        repo.setStatus(id, 'transcribed');
      })(),
    ).toThrow(IllegalTransitionError);
    expect(repo.get(other)?.status).toBe('recording');
  });

  it('an unknown id is not an illegal transition: undefined, as before', () => {
    expect(repo.setStatus('missing', 'failed')).toBeUndefined();
    expect(repo.finish('missing', { endedAtMs: 1, durationMs: 1, bytes: 1 })).toBeUndefined();
  });
});
