import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { JobsRepo } from '../../src/store/jobs.js';
import { RecordingsRepo } from '../../src/store/recordings.js';

let dir: string;
let db: Database;
let clockMs: number;
let jobs: JobsRepo;
let recordings: RecordingsRepo;
const ID = '01jabcdefghjkmnpqrstvwxyz0';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-jobs-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  clockMs = 1_700_000_000_000;
  jobs = new JobsRepo(db, () => clockMs);
  recordings = new RecordingsRepo(db, () => clockMs);
  recordings.create({ id: ID, startedAtMs: clockMs, audioPath: `${ID}.wav`, sampleRateHz: 16000, preRollMs: 0 });
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

const result = { segments: [{ startMs: 0, endMs: 900, text: 'hi' }], noSpeech: false, processingMs: 120, audioCtx: 114, model: 'm.bin', threads: 2 };

describe('JobsRepo', () => {
  it('catch-up: a settled recording goes back to the queue as catch-up jobs, taken only when allowed and after every other due job', () => {
    const OTHER = '01jabcdefghjkmnpqrstvwxyz1';
    recordings.create({ id: OTHER, startedAtMs: clockMs, audioPath: `${OTHER}.wav`, sampleRateHz: 16000, preRollMs: 0 });
    const a = jobs.enqueue({ recordingId: ID, seq: 0, startSample: 0, endSample: 16000, final: false });
    const b = jobs.enqueue({ recordingId: ID, seq: 1, startSample: 16000, endSample: 32000, final: true });
    if (!a || !b) throw new Error('not enqueued');
    // Pending jobs: not re-queued.
    expect(jobs.queueCatchUp(ID)).toBe(0);
    jobs.markDone(a.id, result);
    jobs.markDone(b.id, result);
    expect(jobs.queueCatchUp(ID)).toBe(2);
    expect(jobs.forRecording(ID)).toMatchObject([
      { kind: 'catch-up', state: 'queued', result: null, attempts: 0 },
      { kind: 'catch-up', state: 'queued', result: null, attempts: 0 },
    ]);
    // Background work: not in the queue size, not due without the gate.
    expect(jobs.pending().count).toBe(0);
    expect(jobs.catchUpPending()).toBe(2);
    expect(jobs.nextDue()).toBeUndefined();
    expect(jobs.nextDueAtMs()).toBeNull();
    expect(jobs.nextDue(clockMs, true)?.id).toBe(a.id);
    // A newer window of another recording goes first, even with the gate open.
    clockMs += 100;
    const fresh = jobs.enqueue({ recordingId: OTHER, seq: 0, startSample: 0, endSample: 16000, final: true });
    expect(fresh?.kind).toBe('transcribe');
    expect(jobs.nextDue(clockMs, true)?.id).toBe(fresh?.id);
  });

  it('enqueues a window once per (recording, seq) and hands out the due job first-in first-out', () => {
    const first = jobs.enqueue({ recordingId: ID, seq: 0, startSample: 0, endSample: 64000, final: false });
    expect(first).toMatchObject({ seq: 0, state: 'queued', attempts: 0, final: false, nextAttemptAtMs: clockMs, result: null });
    expect(jobs.enqueue({ recordingId: ID, seq: 0, startSample: 0, endSample: 1, final: false })).toBeUndefined();
    clockMs += 10;
    jobs.enqueue({ recordingId: ID, seq: 1, startSample: 64000, endSample: 80000, final: true });
    expect(jobs.nextDue()?.seq).toBe(0);
    expect(jobs.pending()).toEqual({ count: 2, oldestCreatedAtMs: clockMs - 10 });
  });

  it('retries count attempts and wait for their time; defers do not count', () => {
    const job = jobs.enqueue({ recordingId: ID, seq: 0, startSample: 0, endSample: 16000, final: true });
    if (!job) throw new Error('not enqueued');
    jobs.markRunning(job.id);
    expect(jobs.nextDue()).toBeUndefined();
    jobs.markRetry(job.id, 'engine down', clockMs + 500);
    expect(jobs.nextDue()).toBeUndefined();
    expect(jobs.nextDueAtMs()).toBe(clockMs + 500);
    expect(jobs.nextDue(clockMs + 500)).toMatchObject({ attempts: 1, lastError: 'engine down', state: 'queued' });
    jobs.defer(job.id, clockMs + 800);
    expect(jobs.get(job.id)).toMatchObject({ attempts: 1, nextAttemptAtMs: clockMs + 800, lastError: 'engine down' });
    jobs.markFailed(job.id, 'gave up');
    expect(jobs.get(job.id)).toMatchObject({ state: 'failed', attempts: 2, lastError: 'gave up' });
    expect(jobs.pending().count).toBe(0);
  });

  it('stores a done job with its result', () => {
    const job = jobs.enqueue({ recordingId: ID, seq: 0, startSample: 0, endSample: 16000, final: true });
    if (!job) throw new Error('not enqueued');
    jobs.markDone(job.id, result);
    expect(jobs.get(job.id)).toMatchObject({ state: 'done', result });
  });

  it('survives closing the database: running jobs go back to the queue at start-up', () => {
    const job = jobs.enqueue({ recordingId: ID, seq: 0, startSample: 0, endSample: 16000, final: true });
    if (!job) throw new Error('not enqueued');
    jobs.markRunning(job.id);
    closeDatabase(db);
    db = openDatabase(join(dir, 'scout.db'), silentLogger());
    jobs = new JobsRepo(db, () => clockMs);
    expect(jobs.get(job.id)?.state).toBe('running');
    expect(jobs.requeueRunning()).toBe(1);
    expect(jobs.nextDue()).toMatchObject({ id: job.id, state: 'queued', attempts: 0 });
  });

  it('deleting a recording deletes its jobs; a recording can drop just its queued ones', () => {
    for (let seq = 0; seq < 3; seq++) jobs.enqueue({ recordingId: ID, seq, startSample: seq * 10, endSample: seq * 10 + 10, final: seq === 2 });
    const [first] = jobs.forRecording(ID);
    if (!first) throw new Error('missing');
    jobs.markDone(first.id, result);
    expect(jobs.deleteQueuedForRecording(ID)).toBe(2);
    expect(jobs.forRecording(ID).map((j) => j.state)).toEqual(['done']);
    recordings.delete(ID);
    expect(jobs.forRecording(ID)).toEqual([]);
  });

  it('refuses a job for an unknown recording and a window that ends before it starts', () => {
    expect(() => jobs.enqueue({ recordingId: 'nope', seq: 0, startSample: 0, endSample: 1, final: true })).toThrow(/FOREIGN KEY/);
    expect(() => jobs.enqueue({ recordingId: ID, seq: 5, startSample: 10, endSample: 1, final: true })).toThrow(/CHECK/);
  });
});
