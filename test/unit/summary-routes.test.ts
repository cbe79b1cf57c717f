/** GET /api/summary through fastify's inject, over a real SQLite store. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerSummaryRoutes, type SummaryRouteDeps } from '../../src/http/summary-routes.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type Store } from '../../src/store/store.js';
import { RecordingTotalsQuery } from '../../src/store/summary.js';

let dir: string;
let db: Database;
let store: Store;

function makeApp(disk?: SummaryRouteDeps['disk']) {
  const app = Fastify({ loggerInstance: silentLogger() });
  const query = new RecordingTotalsQuery(db);
  registerSummaryRoutes(app, { totals: () => query.totals(), recordingsDir: dir, ...(disk ? { disk } : {}) });
  return app;
}

function addRecording(id: string, finished?: { durationMs: number; bytes: number }): void {
  store.recordings.create({ id, startedAtMs: 1_000, audioPath: `${id}.wav`, sampleRateHz: 16000, preRollMs: 0 });
  if (finished) store.recordings.finish(id, { endedAtMs: 1_000 + finished.durationMs, ...finished });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-summary-routes-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  store = createStore(db);
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

describe('summary route', () => {
  it('with no recordings says zero of everything, and the real disk it would write to', async () => {
    const response = await makeApp().inject({ method: 'GET', url: '/api/summary' });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ recordings: unknown; disk: { freeBytes: number; totalBytes: number } }>();
    expect(body.recordings).toEqual({ count: 0, bytes: 0, durationMs: 0, hours: 0 });
    expect(body.disk.totalBytes).toBeGreaterThan(0);
    expect(body.disk.freeBytes).toBeGreaterThan(0);
    expect(body.disk.freeBytes).toBeLessThanOrEqual(body.disk.totalBytes);
  });

  it('adds up the saved recordings; a take still being recorded counts, without bytes or duration yet', async () => {
    addRecording('0000000000000000000000000a', { durationMs: 1_800_000, bytes: 57_600_000 });
    addRecording('0000000000000000000000000b', { durationMs: 900_000, bytes: 28_800_000 });
    addRecording('0000000000000000000000000c');
    const response = await makeApp(() => Promise.resolve({ freeBytes: 10, totalBytes: 100 })).inject({ method: 'GET', url: '/api/summary' });
    expect(response.json()).toEqual({
      recordings: { count: 3, bytes: 86_400_000, durationMs: 2_700_000, hours: 0.75 },
      disk: { freeBytes: 10, totalBytes: 100 },
    });
  });

  it('still answers when the disk cannot be read, with disk null', async () => {
    const response = await makeApp(() => Promise.reject(new Error('ENOENT'))).inject({ method: 'GET', url: '/api/summary' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ recordings: { count: 0 }, disk: null });
  });
});
