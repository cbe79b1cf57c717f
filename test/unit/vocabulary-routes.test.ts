/** GET/PUT /api/vocabulary through fastify's inject, over a real SQLite store. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerVocabularyRoutes } from '../../src/http/vocabulary-routes.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type Store } from '../../src/store/store.js';

let dir: string;
let db: Database;
let store: Store;

// The ajv options of the HTTP server (src/http/server.ts), so validation behaves the same.
function makeApp() {
  const app = Fastify({ loggerInstance: silentLogger(), ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: true } } });
  registerVocabularyRoutes(app, { vocabulary: store.vocabulary });
  return app;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-vocab-routes-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  store = createStore(db);
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

const LIMITS = { maxTerms: 50, maxTermChars: 60, maxPromptChars: 600 };

describe('vocabulary routes', () => {
  it('GET gives the terms (none at first) and the limits the page shows', async () => {
    const app = makeApp();
    const response = await app.inject({ method: 'GET', url: '/api/vocabulary' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ terms: [], limits: LIMITS });
  });

  it('PUT stores the normalised list and answers with it; GET then shows it', async () => {
    const app = makeApp();
    const put = await app.inject({ method: 'PUT', url: '/api/vocabulary', payload: { terms: [' Zoë  Okafor', 'Kubernetes', 'KUBERNETES', ''] } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ terms: ['Zoë Okafor', 'Kubernetes'], limits: LIMITS });
    expect((await app.inject({ method: 'GET', url: '/api/vocabulary' })).json()).toMatchObject({ terms: ['Zoë Okafor', 'Kubernetes'] });
    expect(store.vocabulary.get()).toEqual(['Zoë Okafor', 'Kubernetes']);
  });

  it('PUT with bad terms is a 400 naming every problem, and changes nothing', async () => {
    const app = makeApp();
    store.vocabulary.set(['Scout']);
    const terms = ['ok', 'line\nbreak', 'x'.repeat(61), ...Array.from({ length: 60 }, (_, i) => `t${i}`)];
    const response = await app.inject({ method: 'PUT', url: '/api/vocabulary', payload: { terms } });
    expect(response.statusCode).toBe(400);
    const body = response.json<{ error: string; problems: { index: number | null; message: string }[] }>();
    expect(body.error).toBe('bad_request');
    expect(body.problems.map((problem) => problem.index)).toEqual([1, 2, null]);
    expect(body.problems[2]?.message).toMatch(/61 terms; at most 50/);
    expect(store.vocabulary.get()).toEqual(['Scout']);
  });

  it.each([
    ['no terms', {}],
    ['terms not a list', { terms: 'Scout' }],
    ['an object in the list', { terms: [{ name: 'Scout' }] }],
    ['an unknown field', { terms: [], extra: 1 }],
  ])('PUT with %s is refused by the schema (400)', async (_what, payload) => {
    const app = makeApp();
    const response = await app.inject({ method: 'PUT', url: '/api/vocabulary', payload });
    expect(response.statusCode).toBe(400);
    expect(store.vocabulary.get()).toEqual([]);
  });
});
