/**
 * The recording routes (src/http/recording-routes.ts) on their own Fastify instance, built with
 * the server's ajv options, over a real SQLite database and real files: search and snippets,
 * cursor pages, titles, delete (with a crash between the database and the file), export.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/audio/wav.js';
import type { Transcript } from '../../src/domain/transcript.js';
import { registerRecordingRoutes } from '../../src/http/recording-routes.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { deleteRecordingRows, finishPendingDeletions } from '../../src/store/delete-recording.js';
import { RecordingIdGenerator } from '../../src/store/ids.js';
import type { SearchPage } from '../../src/store/recordings.js';
import { createStore, type Store } from '../../src/store/store.js';

const T0 = Date.UTC(2026, 11, 1, 9);
const HOUR_MS = 3_600_000;

let dir: string;
let recordingsDir: string;
let db: Database;
let store: Store;
let ids: RecordingIdGenerator;

// The server's options (src/http/server.ts): coercion on, extra properties refused, not removed.
function makeApp(options: { maxExportRecordings?: number } = {}) {
  const app = Fastify({ loggerInstance: silentLogger(), ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: true } } });
  registerRecordingRoutes(app, { store, recordingsDir, logger: silentLogger(), nowMs: () => T0 + 100 * HOUR_MS, ...options });
  return app;
}
let app: ReturnType<typeof makeApp>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scout-recording-routes-'));
  recordingsDir = join(dir, 'recordings');
  mkdirSync(recordingsDir);
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  store = createStore(db);
  let clockMs = T0;
  ids = new RecordingIdGenerator(() => clockMs++);
  app = makeApp();
  await app.ready();
});

afterEach(async () => {
  await app.close();
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

function transcriptOf(recordingId: string, text: string): Transcript {
  return {
    recordingId, text, segments: [{ startMs: 0, endMs: 1500, text }], model: 'ggml-test.bin', threads: 1, audioCtx: 0,
    audioDurationMs: 1500, processingMs: 10, realTimeFactor: 0.01, tier: 'normal', degraded: false, noSpeechReason: null, windows: 1, vocabulary: null, engine: null, createdAtMs: T0,
  };
}

/** A finished recording with a real WAV (distinct bytes per recording) and, if given, a transcript. */
function add(startedAtMs: number, text?: string, options: { finished?: boolean } = {}): string {
  const id = ids.next();
  const pcm = new Int16Array(1600);
  for (let i = 0; i < pcm.length; i++) pcm[i] = ((i * 37 + startedAtMs) % 2000) - 1000;
  writeFileSync(join(recordingsDir, `${id}.wav`), encodeWav(pcm, 16000));
  store.recordings.create({ id, startedAtMs, audioPath: `${id}.wav`, sampleRateHz: 16000, preRollMs: 0 });
  if (options.finished ?? true) store.recordings.finish(id, { endedAtMs: startedAtMs + 100, durationMs: 100, bytes: pcm.length * 2 });
  if (text !== undefined) store.transcripts.save(transcriptOf(id, text));
  return id;
}

async function get<T>(url: string): Promise<{ statusCode: number; body: T }> {
  const response = await app.inject({ method: 'GET', url });
  return { statusCode: response.statusCode, body: response.json<T>() };
}

describe('GET /api/recordings search and filters', () => {
  it('?q= finds words in transcripts and titles, newest first, with marked snippets', async () => {
    const a = add(T0 + 1000, 'Remember to call the plumber about the leak.');
    add(T0 + 2000, 'Groceries: milk and eggs.');
    const c = add(T0 + 3000);
    await app.inject({ method: 'PATCH', url: `/api/recordings/${c}`, payload: { title: 'Plumber quote' } });
    const { statusCode, body } = await get<SearchPage>('/api/recordings?q=plumber');
    expect(statusCode).toBe(200);
    expect(body.items.map((item) => item.id)).toEqual([c, a]);
    expect(body.total).toBe(2);
    expect(body.items[0]?.title).toBe('Plumber quote');
    expect(body.items[1]?.snippet).toEqual([
      { text: 'Remember to call the ', match: false },
      { text: 'plumber', match: true },
      { text: ' about the leak.', match: false },
    ]);
  });

  it('a query that is only syntax is a 400, and no query text is ever a 500', async () => {
    add(T0, 'some words');
    expect((await get('/api/recordings?q=%22%20*%20-')).statusCode).toBe(400);
    for (const q of ['"', 'NEAR(', 'a OR', 'col:x', '*', "'); --", '\u0002x\u0003', 'a"b"c', 'x'.repeat(200)]) {
      const response = await app.inject({ method: 'GET', url: `/api/recordings?q=${encodeURIComponent(q)}` });
      expect([200, 400], q).toContain(response.statusCode);
    }
    expect((await get(`/api/recordings?q=${'x'.repeat(201)}`)).statusCode).toBe(400);
  });

  it('following nextCursor through a search visits every match exactly once', async () => {
    const expected: string[] = [];
    for (let i = 0; i < 31; i++) {
      const id = add(T0 + Math.floor(i / 3) * 1000, i % 4 === 0 ? 'other' : 'weekly standup notes');
      if (i % 4 !== 0) expected.push(id);
    }
    const seen: string[] = [];
    let url = '/api/recordings?q=standup&limit=4';
    for (let pages = 0; pages < 20; pages++) {
      const { statusCode, body } = await get<SearchPage>(url);
      expect(statusCode).toBe(200);
      seen.push(...body.items.map((item) => item.id));
      if (body.nextCursor === null) break;
      url = `/api/recordings?q=standup&limit=4&before=${encodeURIComponent(body.nextCursor)}`;
    }
    expect(seen).toEqual(expected.reverse());
  });

  it('from/to (epoch ms or ISO 8601) filter the plain list and the search; bad or empty ranges are 400', async () => {
    const a = add(T0, 'x');
    const b = add(T0 + HOUR_MS, 'x');
    add(T0 + 2 * HOUR_MS, 'x');
    const iso = (ms: number): string => new Date(ms).toISOString();
    expect((await get<SearchPage>(`/api/recordings?from=${T0}&to=${T0 + 2 * HOUR_MS}`)).body.items.map((r) => r.id)).toEqual([b, a]);
    expect((await get<SearchPage>(`/api/recordings?q=x&from=${iso(T0 + 1)}&to=${iso(T0 + 2 * HOUR_MS)}`)).body.items.map((r) => r.id)).toEqual([b]);
    // No offset means UTC; a date alone is its UTC midnight.
    expect((await get<SearchPage>('/api/recordings?from=2026-12-01T10:00&to=2026-12-02')).body.items.map((r) => r.id)).toHaveLength(2);
    for (const bad of [`from=${T0}&to=${T0}`, 'from=yesterday', 'to=2026-13-45', 'from=2026-12-01T10:00:00+5', `from=${T0 + 1}&to=${T0}`]) {
      const response = await get<{ error: string }>(`/api/recordings?${bad}`);
      expect(response.statusCode, bad).toBe(400);
      expect(response.body.error).toBe('bad_request');
    }
  });
});

describe('PATCH /api/recordings/:id', () => {
  it('sets, trims and clears a title', async () => {
    const id = add(T0);
    const set = await app.inject({ method: 'PATCH', url: `/api/recordings/${id}`, payload: { title: '  Call with Sam ' } });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ id, title: 'Call with Sam' });
    expect(store.recordings.get(id)?.title).toBe('Call with Sam');
    const cleared = await app.inject({ method: 'PATCH', url: `/api/recordings/${id}`, payload: { title: null } });
    expect(cleared.json()).toMatchObject({ id, title: null });
  });

  it('refuses bodies that are not {title}, and answers 404 for unknown or malformed ids', async () => {
    const id = add(T0);
    for (const payload of [{}, { title: 'a', extra: 1 }, { title: 'x'.repeat(201) }, { title: 'line\nbreak' }, { title: ['a'] }, { title: 5 }, { title: false }, { name: 'a' }]) {
      const response = await app.inject({ method: 'PATCH', url: `/api/recordings/${id}`, payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(store.recordings.get(id)?.title).toBeNull();
    expect((await app.inject({ method: 'PATCH', url: `/api/recordings/${ids.next()}`, payload: { title: 'a' } })).statusCode).toBe(404);
    expect((await app.inject({ method: 'PATCH', url: '/api/recordings/..%2F..%2Fetc', payload: { title: 'a' } })).statusCode).toBe(404);
  });
});

describe('DELETE /api/recordings/:id', () => {
  function counts(id: string): Record<string, number> {
    const count = (sql: string): number => (db.prepare(sql).get(id) as { n: number }).n;
    return {
      recordings: count('SELECT count(*) AS n FROM recordings WHERE id = ?'),
      transcripts: count('SELECT count(*) AS n FROM transcripts WHERE recording_id = ?'),
      jobs: count('SELECT count(*) AS n FROM jobs WHERE recording_id = ?'),
      searchDocs: count('SELECT count(*) AS n FROM search_docs WHERE recording_id = ?'),
      deletions: count('SELECT count(*) AS n FROM deletions WHERE recording_id = ?'),
      outbox: count("SELECT count(*) AS n FROM outbox WHERE json_extract(payload_json, '$.recording.id') = ?"),
    };
  }

  it('removes the row, transcript, jobs, search entry, the integrations\' copies of it and the file', async () => {
    const id = add(T0, 'delete me please');
    const keep = add(T0 + 1, 'delete me please');
    store.jobs.enqueue({ recordingId: id, seq: 0, startSample: 0, endSample: 1600, final: true });
    // One delivery already made (the page's log keeps its text), one still waiting; and the other recording's.
    const delivery = (recordingId: string, sink: string) => ({ id: `${sink}-${recordingId}`, sink, kind: 'transcript', payload: { event: 'transcript', recording: { id: recordingId }, transcript: { text: 'delete me please' } } });
    store.outbox.enqueue([delivery(id, 'webhook:0'), delivery(id, 'markdown'), delivery(keep, 'webhook:0')]);
    store.outbox.markDelivered(`webhook:0-${id}`);
    expect(counts(id)).toEqual({ recordings: 1, transcripts: 1, jobs: 1, searchDocs: 1, deletions: 0, outbox: 2 });
    const response = await app.inject({ method: 'DELETE', url: `/api/recordings/${id}` });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ deleted: true, id, audioRemoved: true });
    expect(counts(id)).toEqual({ recordings: 0, transcripts: 0, jobs: 0, searchDocs: 0, deletions: 0, outbox: 0 });
    expect(counts(keep).outbox).toBe(1);
    expect(existsSync(join(recordingsDir, `${id}.wav`))).toBe(false);
    expect((await get<SearchPage>('/api/recordings?q=delete')).body.items.map((r) => r.id)).toEqual([keep]);
    expect(existsSync(join(recordingsDir, `${keep}.wav`))).toBe(true);
    expect((await app.inject({ method: 'DELETE', url: `/api/recordings/${id}` })).statusCode).toBe(404);
  });

  it('409 while the recording is still being recorded: row and file stay', async () => {
    const id = add(T0, undefined, { finished: false });
    const response = await app.inject({ method: 'DELETE', url: `/api/recordings/${id}` });
    expect(response.statusCode).toBe(409);
    expect(store.recordings.get(id)?.status).toBe('recording');
    expect(existsSync(join(recordingsDir, `${id}.wav`))).toBe(true);
  });

  it('a malformed id is a 404 that touches neither the database nor the disk', async () => {
    const outside = join(dir, 'scout.db');
    for (const bad of ['..%2Fscout.db', '%2E%2E', 'ABC', 'x'.repeat(26)]) {
      expect((await app.inject({ method: 'DELETE', url: `/api/recordings/${bad}` })).statusCode, bad).toBe(404);
    }
    expect(existsSync(outside)).toBe(true);
  });

  it('a crash between the transaction and the unlink leaves no orphan after restart', async () => {
    const id = add(T0, 'crash test');
    const wav = join(recordingsDir, `${id}.wav`);
    // The database half commits, then the process "dies" before the unlink.
    expect(deleteRecordingRows(store, id).kind).toBe('deleted');
    closeDatabase(db);
    expect(existsSync(wav)).toBe(true);

    db = openDatabase(join(dir, 'scout.db'), silentLogger());
    store = createStore(db);
    expect(store.recordings.get(id)).toBeUndefined();
    expect(store.deletions.pending().map((pending) => pending.audioPath)).toEqual([`${id}.wav`]);
    expect(await finishPendingDeletions(store, recordingsDir, silentLogger())).toEqual({ removed: 1, failed: 0 });
    expect(existsSync(wav)).toBe(false);
    expect(store.deletions.pending()).toEqual([]);
    // A second start-up has nothing left to do.
    expect(await finishPendingDeletions(store, recordingsDir, silentLogger())).toEqual({ removed: 0, failed: 0 });
  });

  it('an unlink that fails is still a 200 (the rows are gone) and is finished at the next start-up', async () => {
    const id = add(T0, 'stubborn');
    const wav = join(recordingsDir, `${id}.wav`);
    // A non-empty directory in the file's place: unlink fails with EISDIR/EPERM.
    rmSync(wav);
    mkdirSync(wav);
    writeFileSync(join(wav, 'x'), 'x');
    const response = await app.inject({ method: 'DELETE', url: `/api/recordings/${id}` });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ deleted: true, id, audioRemoved: false });
    expect(store.deletions.pending()).toHaveLength(1);
    expect(await finishPendingDeletions(store, recordingsDir, silentLogger())).toEqual({ removed: 0, failed: 1 });
    rmSync(wav, { recursive: true });
    writeFileSync(wav, 'leftover');
    expect(await finishPendingDeletions(store, recordingsDir, silentLogger())).toEqual({ removed: 1, failed: 0 });
    expect(existsSync(wav)).toBe(false);
  });
});

describe('GET /api/export', () => {
  function extract(payload: Buffer): string {
    const tarPath = join(dir, 'export.tar');
    writeFileSync(tarPath, payload);
    const out = join(dir, 'out');
    mkdirSync(out);
    // -m: extracted files get the time of extraction, so the fixed test clock never warns.
    execFileSync('tar', ['-xmf', tarPath, '-C', out]);
    return out;
  }

  it('streams one tar with each recording of the range: WAV bytes, txt/srt/vtt/json, and a manifest', async () => {
    const a = add(T0, 'First memo. About the roof.');
    const b = add(T0 + HOUR_MS);
    const live = add(T0 + 2 * HOUR_MS, undefined, { finished: false });
    const outside = add(T0 + 30 * HOUR_MS, 'not in the range');
    store.recordings.setTitle(b, 'No transcript yet');

    const response = await app.inject({ method: 'GET', url: `/api/export?from=2026-12-01&to=2026-12-02` });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-tar');
    const folder = 'scout-export-20261201T000000Z-20261202T000000Z';
    expect(response.headers['content-disposition']).toBe(`attachment; filename="${folder}.tar"`);
    // Planned before the first byte: the length is exact, so clients can show progress.
    expect(Number(response.headers['content-length'])).toBe(response.rawPayload.length);
    const out = join(extract(response.rawPayload), folder);

    for (const id of [a, b]) expect(readFileSync(join(out, `${id}.wav`)).equals(readFileSync(join(recordingsDir, `${id}.wav`)))).toBe(true);
    expect(readFileSync(join(out, `${a}.txt`), 'utf8')).toBe('First memo. About the roof.\n');
    expect(readFileSync(join(out, `${a}.srt`), 'utf8')).toBe('1\n00:00:00,000 --> 00:00:01,500\nFirst memo. About the roof.\n');
    expect(readFileSync(join(out, `${a}.vtt`), 'utf8')).toBe('WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nFirst memo. About the roof.\n');
    expect(JSON.parse(readFileSync(join(out, `${a}.json`), 'utf8'))).toEqual(transcriptOf(a, 'First memo. About the roof.'));
    expect(existsSync(join(out, `${b}.txt`))).toBe(false);
    expect(existsSync(join(out, `${live}.wav`))).toBe(false);
    expect(existsSync(join(out, `${outside}.wav`))).toBe(false);

    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { from: string; to: string; recordings: { id: string; title: string | null; audio: string | null; transcript: Record<string, string> | null; note?: string }[] };
    expect(manifest.from).toBe('2026-12-01T00:00:00.000Z');
    expect(manifest.recordings.map((entry) => entry.id)).toEqual([a, b, live]);
    expect(manifest.recordings[0]).toMatchObject({ audio: `${folder}/${a}.wav`, transcript: { txt: `${folder}/${a}.txt`, srt: `${folder}/${a}.srt`, vtt: `${folder}/${a}.vtt`, json: `${folder}/${a}.json` } });
    expect(manifest.recordings[1]).toMatchObject({ title: 'No transcript yet', transcript: null });
    expect(manifest.recordings[2]).toMatchObject({ audio: null, note: 'still being recorded' });
  });

  it('a recording whose file is missing is listed in the manifest without audio', async () => {
    const id = add(T0, 'gone');
    rmSync(join(recordingsDir, `${id}.wav`));
    const response = await app.inject({ method: 'GET', url: `/api/export?from=${T0}&to=${T0 + 1}` });
    expect(response.statusCode).toBe(200);
    const out = extract(response.rawPayload);
    const folder = execFileSync('ls', [out], { encoding: 'utf8' }).trim();
    const manifest = JSON.parse(readFileSync(join(out, folder, 'manifest.json'), 'utf8')) as { recordings: { audio: string | null; note?: string }[] };
    expect(manifest.recordings).toMatchObject([{ audio: null, note: 'audio file missing' }]);
    expect(readFileSync(join(out, folder, `${id}.txt`), 'utf8')).toBe('gone\n');
  });

  it('a recording whose audio the retention policy removed is exported without it, and the manifest says why', async () => {
    const id = add(T0, 'kept words');
    store.recordings.setStatus(id, 'transcribed');
    expect(store.recordings.markAudioRemoved(id)).toBe(true);
    rmSync(join(recordingsDir, `${id}.wav`));
    const response = await app.inject({ method: 'GET', url: `/api/export?from=${T0}&to=${T0 + 1}` });
    expect(response.statusCode).toBe(200);
    const out = extract(response.rawPayload);
    const folder = execFileSync('ls', [out], { encoding: 'utf8' }).trim();
    const manifest = JSON.parse(readFileSync(join(out, folder, 'manifest.json'), 'utf8')) as { recordings: { audio: string | null; note?: string }[] };
    expect(manifest.recordings).toMatchObject([{ audio: null, note: 'audio removed by the retention policy' }]);
    expect(readFileSync(join(out, folder, `${id}.txt`), 'utf8')).toBe('kept words\n');
  });

  it('400 for a missing, invalid, empty or too long range, and for too many recordings', async () => {
    for (const query of ['', `from=${T0}`, `to=${T0}`, `from=${T0}&to=${T0}`, `from=${T0 + 1}&to=${T0}`, 'from=soon&to=later', 'from=2020-01-01&to=2026-01-01', `from=${T0}&to=${T0 + 1}&format=zip`]) {
      const response = await app.inject({ method: 'GET', url: `/api/export?${query}` });
      expect(response.statusCode, query).toBe(400);
    }
    await app.close();
    add(T0);
    add(T0 + 1);
    app = makeApp({ maxExportRecordings: 1 });
    const response = await app.inject({ method: 'GET', url: `/api/export?from=${T0}&to=${T0 + HOUR_MS}` });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ message: string }>().message).toMatch(/more than 1 recordings/);
  });
});
