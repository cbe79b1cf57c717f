import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Appliance } from '../../src/appliance.js';
import { StorageWatch } from '../../src/app/storage-watch.js';
import { wireMetrics } from '../../src/app/metrics.js';
import { PcmRing } from '../../src/audio/ring-buffer.js';
import { Recorder } from '../../src/audio/recorder.js';
import { silentLogger } from '../../src/log.js';
import { FaultBoard } from '../../src/ops/faults.js';
import { createScoutMetrics } from '../../src/ops/metrics.js';
import { StorageErrors } from '../../src/ops/storage-errors.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { RecordingIdGenerator } from '../../src/store/ids.js';
import { RecordingsRepo } from '../../src/store/recordings.js';
import { QueueRunner } from '../../src/transcribe/queue.js';
import type { JobsRepo } from '../../src/store/jobs.js';

const RATE = 16_000;
const MB = 1_048_576;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function sqliteFull(): Error {
  return Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
}

describe('StorageErrors', () => {
  it('counts by operation, logs once until storage works, raises and clears the storage fault, and feeds the metric', async () => {
    const faults = new FaultBoard(silentLogger());
    const errors = new StorageErrors({ faults, logger: silentLogger() });
    errors.report('job-outcome', sqliteFull());
    errors.report('job-outcome', sqliteFull());
    errors.report('recovery', sqliteFull());
    expect(errors.counts()).toEqual({ 'job-outcome': 2, recovery: 1 });
    expect(faults.list()).toEqual([{ key: 'storage', message: 'storage error (recovery): database or disk is full', severity: 'fatal' }]);
    expect(errors.failing()).toBe(true);

    const metrics = createScoutMetrics({ defaultMetrics: false });
    metrics.setSources({ storageErrors: () => errors.counts() });
    const { body } = await metrics.scrape();
    expect(body).toContain('scout_storage_errors_total{op="job-outcome"} 2');
    expect(body).toContain('scout_storage_errors_total{op="recovery"} 1');

    errors.succeeded();
    expect(faults.list()).toEqual([]);
    expect(errors.failing()).toBe(false);
    expect(errors.counts()).toEqual({ 'job-outcome': 2, recovery: 1 });
  });

  it('is wired into /metrics by wireMetrics', async () => {
    const faults = new FaultBoard(silentLogger());
    const errors = new StorageErrors({ faults, logger: silentLogger() });
    const metrics = createScoutMetrics({ defaultMetrics: false });
    const stub = { status: () => ({}), snapshot: () => ({}), stats: () => ({}), read: () => ({}), onOutcome: () => undefined };
    wireMetrics({ metrics, level: stub as never, source: stub as never, resources: stub as never, transcription: null, appliance: stub, events: stub as never, storageErrors: errors });
    errors.report('wav-write', Object.assign(new Error('no space'), { code: 'ENOSPC' }));
    expect((await metrics.scrape()).body).toContain('scout_storage_errors_total{op="wav-write"} 1');
  });
});

describe('QueueRunner on a database that refuses writes', () => {
  it('never rejects its loop: errors are reported, the loop keeps polling', async () => {
    const reported: string[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    const job = { id: 1, recordingId: 'r', seq: 0, attempts: 0, kind: 'transcribe' };
    let nextDueCalls = 0;
    const jobs = {
      requeueRunning: () => {
        throw sqliteFull();
      },
      nextDue: () => {
        nextDueCalls++;
        return job;
      },
      nextDueAtMs: () => {
        throw sqliteFull();
      },
      markRunning: () => {
        throw sqliteFull();
      },
    } as unknown as JobsRepo;
    const runner = new QueueRunner({
      jobs,
      handler: () => Promise.reject(new Error('not reached')),
      maxAttempts: 3,
      retry: { initialMs: 10, maxMs: 10 },
      onStorageError: (op) => reported.push(op),
      logger: silentLogger(),
      idlePollMs: 20,
    });
    await runner.start();
    await sleep(150);
    await runner.stop();
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
    expect(reported).toContain('job-requeue');
    expect(reported).toContain('job-start');
    expect(reported).toContain('job-read');
    // Waits between tries instead of spinning on the job it cannot take.
    expect(nextDueCalls).toBeLessThan(20);
  });
});

describe('StorageWatch', () => {
  let dir: string;
  let db: Database;
  let ring: PcmRing;
  let recorder: Recorder;
  let recordings: RecordingsRepo;
  let faults: FaultBoard;
  let errors: StorageErrors;
  let appliance: Appliance;
  let freeBytes: number;
  let probeOk: boolean;
  let retries: number;
  let watch: StorageWatch;
  const chunk = new Int16Array(RATE / 50).fill(1000);

  function feed(ms: number): void {
    for (let fed = 0; fed < ms; fed += 20) {
      ring.write(chunk);
      recorder.onCaptureChunk();
    }
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scout-storage-watch-'));
    db = openDatabase(join(dir, 'scout.db'), silentLogger());
    recordings = new RecordingsRepo(db);
    ring = new PcmRing(RATE * 10);
    recorder = new Recorder({ ring, sampleRateHz: RATE, recordingsDir: dir, preRollMs: 0, flushIntervalMs: 100, reserveAheadBytes: 0, logger: silentLogger() });
    faults = new FaultBoard(silentLogger());
    errors = new StorageErrors({ faults, logger: silentLogger() });
    freeBytes = 100 * MB;
    probeOk = true;
    retries = 0;
    const ids = new RecordingIdGenerator();
    appliance = new Appliance({
      mode: 'toggle',
      longPressCancelMs: 2000,
      maxDurationMs: 60_000,
      minFreeBytes: 10 * MB,
      sampleRateHz: RATE,
      recorder,
      recordings,
      faults,
      newId: () => ids.next(),
      freeBytes: () => Promise.resolve(freeBytes),
      onStorageError: errors.report,
      logger: silentLogger(),
    });
    watch = new StorageWatch({
      periodMs: 60_000,
      freeBytes: () => Promise.resolve(freeBytes),
      minFreeBytes: 10 * MB,
      stopReserveBytes: 5 * MB,
      probeWrite: () => ({ ok: probeOk, message: probeOk ? 'ok' : 'full' }),
      storageErrors: errors,
      faults,
      appliance,
      retry: () => {
        retries++;
        return Promise.resolve();
      },
      logger: silentLogger(),
    });
    await appliance.start();
    await watch.start();
    feed(500);
  });

  afterEach(async () => {
    await watch.stop();
    await appliance.stop();
    closeDatabase(db);
    await rm(dir, { recursive: true, force: true });
  });

  async function look(): Promise<void> {
    watch.tick();
    await watch.stop();
    await watch.start();
    await appliance.settled();
  }

  it('raises the disk fault below minFree without a press, and clears it when space is back', async () => {
    freeBytes = 8 * MB;
    await look();
    expect(faults.list().map((fault) => fault.key)).toEqual(['disk']);
    appliance.toggle();
    await appliance.settled();
    expect(appliance.snapshot().phase).toBe('idle');
    expect(appliance.snapshot().lastEvent).toMatch(/not recording: only \d+ MB free/);
    freeBytes = 50 * MB;
    await look();
    expect(faults.list()).toEqual([]);
  });

  it('stops a take in progress at the reserve, keeps it and marks the row', async () => {
    appliance.toggle();
    await appliance.settled();
    const id = appliance.snapshot().recordingId;
    expect(id).not.toBeNull();
    feed(1000);
    await sleep(150);
    freeBytes = 4 * MB;
    await look();
    expect(appliance.snapshot().phase).toBe('idle');
    const row = recordings.get(id ?? '');
    expect(row?.status).toBe('recorded');
    expect(row?.error).toMatch(/^truncated: disk nearly full: \d+ MB free$/);
    expect(row?.durationMs).toBeGreaterThanOrEqual(900);
    expect(faults.list().map((fault) => fault.key)).toEqual(['disk']);
  });

  it('a row update the database refused is stored once the probe write succeeds; the fault clears, deferred work retries', async () => {
    appliance.toggle();
    await appliance.settled();
    const id = appliance.snapshot().recordingId ?? '';
    feed(600);
    await sleep(150);
    // The card fills just as the take is saved: the row update fails.
    const finish = recordings.finish.bind(recordings);
    let refuse = true;
    recordings.finish = (...args) => {
      if (refuse) throw sqliteFull();
      return finish(...args);
    };
    probeOk = false;
    appliance.toggle();
    await appliance.settled();
    expect(recordings.get(id)?.status).toBe('recording');
    expect(faults.list().find((fault) => fault.key === 'storage')?.message).toMatch(/disk is full/);
    await look();
    expect(recordings.get(id)?.status).toBe('recording');
    expect(retries).toBe(0);

    refuse = false;
    probeOk = true;
    await look();
    expect(recordings.get(id)?.status).toBe('recorded');
    expect(faults.list()).toEqual([]);
    expect(retries).toBe(1);
    expect(errors.counts()).toEqual({ 'recording-finish': 1 });
  });
});

describe('live windows on a database that refuses writes', () => {
  it('the job clean-up of a cancelled take never throws into the event loop', async () => {
    const { LiveWindows } = await import('../../src/transcribe/live.js');
    const reported: string[] = [];
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    // Vitest reports uncaught errors itself; this listener makes them visible to the assertion too.
    process.on('uncaughtException', onUncaught);
    const store = {
      jobs: {
        deleteForRecording: () => {
          throw sqliteFull();
        },
      },
    };
    const live = new LiveWindows({
      store: store as never,
      cut: { minSpeechMs: 4000, maxWindowMs: 30_000 },
      logger: silentLogger(),
      changed: () => {
        throw sqliteFull();
      },
      wake: () => undefined,
      onStorageError: (op) => reported.push(op),
    });
    live.begin('r1', RATE).cancel();
    await sleep(20);
    process.off('uncaughtException', onUncaught);
    expect(uncaught).toEqual([]);
    expect(reported).toEqual(['job-cleanup', 'job-cleanup']);
  });
});

describe('start-up recovery on a full card', () => {
  it('leaves interrupted rows for a later run instead of marking them failed', async () => {
    const { recoverInterruptedRecordings } = await import('../../src/store/recover.js');
    const { writeFile } = await import('node:fs/promises');
    const { encodeWav } = await import('../../src/audio/wav.js');
    const dir = await mkdtemp(join(tmpdir(), 'scout-recover-full-'));
    const db = openDatabase(join(dir, 'scout.db'), silentLogger());
    try {
      const recordings = new RecordingsRepo(db);
      recordings.create({ id: 'r1', startedAtMs: 1000, audioPath: 'r1.wav', sampleRateHz: RATE, preRollMs: 0 });
      await writeFile(join(dir, 'r1.wav'), encodeWav(new Int16Array(RATE), RATE));
      recordings.finish = () => {
        throw sqliteFull();
      };
      await expect(recoverInterruptedRecordings(recordings, dir, silentLogger())).rejects.toThrow(/full/);
      expect(recordings.get('r1')?.status).toBe('recording');
    } finally {
      closeDatabase(db);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the truncation note on a recording row', () => {
  it('stays through transcription and is replaced only by a new error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scout-truncated-'));
    const db = openDatabase(join(dir, 'scout.db'), silentLogger());
    try {
      const recordings = new RecordingsRepo(db);
      recordings.create({ id: 'r1', startedAtMs: 1000, audioPath: 'r1.wav', sampleRateHz: RATE, preRollMs: 0 });
      recordings.finish('r1', { endedAtMs: 2000, durationMs: 1000, bytes: 32_000, error: 'truncated: disk full' });
      expect(recordings.get('r1')).toMatchObject({ status: 'recorded', error: 'truncated: disk full' });
      recordings.setStatus('r1', 'transcribing');
      recordings.setStatus('r1', 'transcribed');
      expect(recordings.get('r1')).toMatchObject({ status: 'transcribed', error: 'truncated: disk full' });
      recordings.setStatus('r1', 'transcribing');
      recordings.markFailed('r1', 'transcription failed: engine');
      expect(recordings.get('r1')?.error).toBe('transcription failed: engine');
    } finally {
      closeDatabase(db);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
