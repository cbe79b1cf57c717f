/**
 * `GET /api/recordings` paging as a client does it: follow `nextCursor` through `before` until
 * there is none. Built with createHttpServer and fastify's inject, over a real SQLite database.
 */
import { EventHub } from '../../src/ops/events.js';
import { createStore } from '../../src/store/store.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { RecordingIdGenerator } from '../../src/store/ids.js';
import { RecordingsRepo, type RecordingPage } from '../../src/store/recordings.js';

let dir: string;
let db: Database;
let recordings: RecordingsRepo;
let app: HttpServer;
const TOKEN = 'paging-test-token-0123456789';
const authorization = { authorization: `Bearer ${TOKEN}` };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scout-paging-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  const store = createStore(db);
  recordings = store.recordings;
  app = createHttpServer({
    store,
    events: new EventHub({ logger: silentLogger() }),
    recordingsDir: dir,
    transcriber: null,
    webDir: dir,
    button: () => undefined,
    state: () => ({}),
    health: () => Promise.resolve({ status: 'healthy', checkedAt: new Date(0).toISOString(), checks: {} }),
    auth: { token: TOKEN, metricsAuth: false },
    logger: silentLogger(),
  });
  await app.ready();
});

afterEach(async () => {
  await app.close();
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

/** `count` recordings, oldest first; two share each start time, so the id breaks ties. */
function addRecordings(count: number): string[] {
  let clockMs = 1_700_000_000_000;
  const ids = new RecordingIdGenerator(() => clockMs++);
  const created: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = ids.next();
    recordings.create({ id, startedAtMs: 1_700_000_000_000 + Math.floor(i / 2) * 1000, audioPath: `${id}.wav`, sampleRateHz: 16000, preRollMs: 0 });
    created.push(id);
  }
  return created;
}

async function page(query: string): Promise<{ statusCode: number; body: RecordingPage }> {
  const response = await app.inject({ method: 'GET', url: `/api/recordings?${query}`, headers: authorization });
  return { statusCode: response.statusCode, body: response.json<RecordingPage>() };
}

describe('GET /api/recordings paging', () => {
  it('following nextCursor as `before` visits every recording exactly once, newest first, and then stops', async () => {
    const newestFirst = addRecordings(25).reverse();
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let query = 'limit=7';
    for (let pages = 0; pages < 10; pages++) {
      const { statusCode, body } = await page(query);
      expect(statusCode).toBe(200);
      expect(body.total).toBe(25);
      seen.push(...body.items.map((recording) => recording.id));
      pageSizes.push(body.items.length);
      if (body.nextCursor === null) break;
      query = `limit=7&before=${encodeURIComponent(body.nextCursor)}`;
    }
    expect(pageSizes).toEqual([7, 7, 7, 4]);
    expect(seen).toEqual(newestFirst);
  });

  it('a limit that divides the total exactly ends with no nextCursor, not an empty page', async () => {
    addRecordings(14);
    const first = await page('limit=7');
    expect(first.body.nextCursor).not.toBeNull();
    const second = await page(`limit=7&before=${encodeURIComponent(first.body.nextCursor ?? '')}`);
    expect(second.body.items).toHaveLength(7);
    expect(second.body.nextCursor).toBeNull();
  });

  it('offset paging still works', async () => {
    const newestFirst = addRecordings(5).reverse();
    const { statusCode, body } = await page('limit=2&offset=2');
    expect(statusCode).toBe(200);
    expect(body.items.map((recording) => recording.id)).toEqual(newestFirst.slice(2, 4));
  });

  it('a cursor that is not one of ours is a 400 with a message, not a 500', async () => {
    addRecordings(3);
    for (const bad of ['garbage', "1_x' OR 1=1", '12_']) {
      const response = await app.inject({ method: 'GET', url: `/api/recordings?before=${encodeURIComponent(bad)}`, headers: authorization });
      expect(response.statusCode).toBe(400);
      const body = response.json<{ error: string; message: string }>();
      expect(body.error).toBe('bad_request');
      expect(body.message).toContain('invalid cursor');
    }
    expect((await app.inject({ method: 'GET', url: '/api/recordings?before=', headers: authorization })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/api/recordings?cursor=abc', headers: authorization })).statusCode).toBe(400);
  });
});
