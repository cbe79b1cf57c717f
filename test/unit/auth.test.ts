/**
 * The LAN API's access rules, through the real HTTP server (createHttpServer) and fastify's
 * inject: who gets in, how the page's session works, what is refused, and that the token never
 * reaches a log line.
 */
import { EventHub } from '../../src/ops/events.js';
import { createStore } from '../../src/store/store.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerAuth, tokensEqual } from '../../src/http/auth.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import type { HealthReport } from '../../src/domain/health.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { captureLogger } from '../helpers/log-capture.js';

const TOKEN = 'k7Qm2-correct-horse-battery-staple_0123456789';
const bearer = { authorization: `Bearer ${TOKEN}` };
const json = { 'content-type': 'application/json' };

let dir: string;
let db: Database;
let lines: Record<string, unknown>[];
let pressed: string[];
let health: HealthReport;

function makeServer(metricsAuth = false): HttpServer {
  const captured = captureLogger();
  lines = captured.lines;
  return createHttpServer({
    store: createStore(db),
    events: new EventHub({ logger: silentLogger() }),
    recordingsDir: dir,
    transcriber: null,
    webDir: dir,
    button: (action) => pressed.push(action),
    state: () => ({ appliance: { phase: 'idle' } }),
    health: () => Promise.resolve(health),
    metrics: () => Promise.resolve({ contentType: 'text/plain; version=0.0.4', body: 'scout_up 1\n' }),
    auth: { token: TOKEN, metricsAuth },
    logger: captured.logger,
  });
}

let app: HttpServer;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scout-auth-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Scout</title>');
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  pressed = [];
  health = { status: 'degraded', checkedAt: new Date(0).toISOString(), checks: { disk: { status: 'degraded', message: '/var/lib/scout: 3% free' } } } as unknown as HealthReport;
  app = makeServer();
  await app.ready();
});

afterEach(async () => {
  await app.close();
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

function sessionCookieOf(setCookie: string | string[] | number | undefined): string {
  const header = Array.isArray(setCookie) ? setCookie[0] : setCookie;
  if (typeof header !== 'string') throw new Error('no set-cookie header');
  return header.split(';')[0] ?? '';
}

async function login(remoteAddress = '127.0.0.1'): Promise<{ cookie: string; setCookie: string }> {
  const response = await app.inject({ method: 'POST', url: '/api/session', headers: json, payload: { token: TOKEN }, remoteAddress });
  expect(response.statusCode).toBe(204);
  const setCookie = response.headers['set-cookie'];
  return { cookie: sessionCookieOf(setCookie), setCookie: String(setCookie) };
}

describe('the API without the right token', () => {
  it('answers 401 with no detail when no token is sent', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/state' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: 'unauthorized' });
    expect(response.headers['www-authenticate']).toBe('Bearer');
    // Every /api route, including unknown ones and the recordings' audio.
    for (const url of ['/api/recordings', '/api/recordings/abc/audio', '/api/nope']) {
      expect((await app.inject({ method: 'GET', url })).statusCode).toBe(401);
    }
    const press = await app.inject({ method: 'POST', url: '/api/button', headers: json, payload: { action: 'toggle' } });
    expect(press.statusCode).toBe(401);
    expect(pressed).toEqual([]);
  });

  it('answers 401 to a wrong token, a malformed header and another scheme', async () => {
    for (const authorization of [`Bearer ${TOKEN}x`, 'Bearer short', `Basic ${Buffer.from(`scout:${TOKEN}`).toString('base64')}`, 'Bearer']) {
      const response = await app.inject({ method: 'GET', url: '/api/state', headers: { authorization } });
      expect(response.statusCode, authorization).toBe(401);
      expect(response.json()).toEqual({ error: 'unauthorized' });
    }
  });

  it('refuses a token in the query string, even with the right one in the header too', async () => {
    for (const name of ['token', 'access_token', 'api_token', 'Token']) {
      const alone = await app.inject({ method: 'GET', url: `/api/state?${name}=${TOKEN}` });
      expect(alone.statusCode, name).toBe(401);
      const withHeader = await app.inject({ method: 'GET', url: `/api/recordings?limit=5&${name}=${TOKEN}`, headers: bearer });
      expect(withHeader.statusCode, name).toBe(401);
      expect(withHeader.json()).toEqual({ error: 'unauthorized' });
    }
    // On open routes too: the URL has already leaked, answering would teach the script it works.
    expect((await app.inject({ method: 'GET', url: `/healthz?token=${TOKEN}` })).statusCode).toBe(401);
    expect(lines.some((line) => line.msg === 'API token in the query string refused; send it as Authorization: Bearer' && line.path === '/api/state')).toBe(true);
  });
});

describe('scripts with a bearer token', () => {
  it('get in, and state-changing calls work with a JSON body', async () => {
    const state = await app.inject({ method: 'GET', url: '/api/state', headers: bearer });
    expect(state.statusCode).toBe(200);
    expect(state.json()).toEqual({ appliance: { phase: 'idle' } });
    const press = await app.inject({ method: 'POST', url: '/api/button', headers: { ...bearer, ...json }, payload: { action: 'toggle' } });
    expect(press.statusCode).toBe(202);
    expect(pressed).toEqual(['toggle']);
    // The scheme is case-insensitive (RFC 7235).
    expect((await app.inject({ method: 'GET', url: '/api/state', headers: { authorization: `bearer ${TOKEN}` } })).statusCode).toBe(200);
  });

  it('cannot change state with a form post or no content type (no cross-site form CSRF)', async () => {
    const form = await app.inject({
      method: 'POST',
      url: '/api/button',
      headers: { ...bearer, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'action=toggle',
    });
    expect(form.statusCode).toBe(415);
    const text = await app.inject({ method: 'POST', url: '/api/button', headers: { ...bearer, 'content-type': 'text/plain' }, payload: '{"action":"toggle"}' });
    expect(text.statusCode).toBe(415);
    const none = await app.inject({ method: 'POST', url: '/api/button', headers: bearer });
    expect(none.statusCode).toBe(415);
    const loginForm = await app.inject({ method: 'POST', url: '/api/session', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${TOKEN}` });
    expect(loginForm.statusCode).toBe(415);
    expect(pressed).toEqual([]);
  });

  it('may send an empty JSON body on a bodiless POST or DELETE', async () => {
    const { cookie } = await login();
    const logout = await app.inject({ method: 'DELETE', url: '/api/session', headers: { ...json, cookie } });
    expect(logout.statusCode).toBe(204);
    // A malformed JSON body is still a 400, not a crash.
    const broken = await app.inject({ method: 'POST', url: '/api/button', headers: { ...bearer, ...json }, payload: '{"action":' });
    expect(broken.statusCode).toBe(400);
    const empty = await app.inject({ method: 'POST', url: '/api/button', headers: { ...bearer, ...json }, payload: '' });
    expect(empty.statusCode).toBe(400);
    expect(pressed).toEqual([]);
  });
});

describe('the page session', () => {
  it('POST /api/session sets an HttpOnly, SameSite=Strict cookie that is not the token and lets the page in', async () => {
    const { cookie, setCookie } = await login();
    expect(setCookie).toMatch(/^scout_session=[A-Za-z0-9_-]{43}; /);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/');
    // Plain HTTP on the LAN: a Secure cookie would never be sent back.
    expect(setCookie).not.toContain('Secure');
    expect(setCookie).not.toContain(TOKEN);
    const state = await app.inject({ method: 'GET', url: '/api/state', headers: { cookie: `theme=dark; ${cookie}` } });
    expect(state.statusCode).toBe(200);
    const press = await app.inject({ method: 'POST', url: '/api/button', headers: { cookie, ...json }, payload: { action: 'press' } });
    expect(press.statusCode).toBe(202);
  });

  it('a wrong token does not log in', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/session', headers: json, payload: { token: 'not-the-token-at-all' } });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: 'unauthorized' });
    expect(response.headers['set-cookie']).toBeUndefined();
    const missing = await app.inject({ method: 'POST', url: '/api/session', headers: json, payload: {} });
    expect(missing.statusCode).toBe(400);
  });

  it('logging out ends the session; an unknown session cookie is cleared', async () => {
    const { cookie } = await login();
    const logout = await app.inject({ method: 'DELETE', url: '/api/session', headers: { ...json, cookie }, payload: '{}' });
    expect(logout.statusCode).toBe(204);
    expect(String(logout.headers['set-cookie'])).toContain('Max-Age=0');
    const after = await app.inject({ method: 'GET', url: '/api/state', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(String(after.headers['set-cookie'])).toContain('scout_session=; Max-Age=0');
  });

  it('a session expires after it has been idle for its lifetime, and use keeps it alive', async () => {
    let nowMs = 1_000_000;
    const bare = Fastify({ loggerInstance: silentLogger() });
    registerAuth(bare, { token: TOKEN, metricsAuth: false, logger: bare.log, sessionIdleMs: 1000, now: () => nowMs });
    bare.get('/api/ping', () => ({ pong: true }));
    await bare.ready();
    try {
      const response = await bare.inject({ method: 'POST', url: '/api/session', headers: json, payload: { token: TOKEN } });
      const cookie = sessionCookieOf(response.headers['set-cookie']);
      const ping = async (): Promise<number> => (await bare.inject({ method: 'GET', url: '/api/ping', headers: { cookie } })).statusCode;
      nowMs += 900;
      expect(await ping()).toBe(200);
      nowMs += 900;
      expect(await ping()).toBe(200);
      nowMs += 1001;
      expect(await ping()).toBe(401);
    } finally {
      await bare.close();
    }
  });
});

describe('failed attempts', () => {
  it('are rate-limited per address, without blocking other addresses or counting successes', async () => {
    const attacker = '10.0.0.5';
    for (let i = 0; i < 10; i++) {
      const guess = await app.inject({ method: 'GET', url: '/api/state', headers: { authorization: `Bearer guess-number-${i}-xxxxxxxx` }, remoteAddress: attacker });
      expect(guess.statusCode).toBe(401);
    }
    const blocked = await app.inject({ method: 'GET', url: '/api/state', headers: { authorization: 'Bearer guess-number-11-xxxxxxx' }, remoteAddress: attacker });
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Once blocked, guesses are not even compared: the right token is no oracle either.
    expect((await app.inject({ method: 'GET', url: '/api/state', headers: bearer, remoteAddress: attacker })).statusCode).toBe(429);
    const loginBlocked = await app.inject({ method: 'POST', url: '/api/session', headers: json, payload: { token: TOKEN }, remoteAddress: attacker });
    expect(loginBlocked.statusCode).toBe(429);

    // Another device on the LAN is not affected.
    expect((await app.inject({ method: 'GET', url: '/api/state', headers: bearer, remoteAddress: '10.0.0.6' })).statusCode).toBe(200);
    // Successful requests are never counted, however many.
    for (let i = 0; i < 30; i++) {
      expect((await app.inject({ method: 'GET', url: '/api/state', headers: bearer, remoteAddress: '10.0.0.7' })).statusCode).toBe(200);
    }
    expect((await app.inject({ method: 'GET', url: '/api/state', headers: { authorization: 'Bearer one-wrong-guess-xxxxxx' }, remoteAddress: '10.0.0.7' })).statusCode).toBe(401);
    expect(lines.some((line) => line.msg === 'too many wrong API tokens; address blocked for a while' && line.address === attacker)).toBe(true);
  });

  it('count wrong logins the same way', async () => {
    for (let i = 0; i < 10; i++) {
      const wrong = await app.inject({ method: 'POST', url: '/api/session', headers: json, payload: { token: `wrong-${i}` }, remoteAddress: '10.0.0.8' });
      expect(wrong.statusCode).toBe(401);
    }
    expect((await app.inject({ method: 'POST', url: '/api/session', headers: json, payload: { token: 'wrong-again' }, remoteAddress: '10.0.0.8' })).statusCode).toBe(429);
  });
});

describe('tokensEqual', () => {
  it('is true only for the same string, whatever the lengths', () => {
    expect(tokensEqual(TOKEN, TOKEN)).toBe(true);
    expect(tokensEqual(TOKEN, `${TOKEN.slice(0, -1)}X`)).toBe(false);
    expect(tokensEqual(TOKEN, TOKEN.slice(0, 10))).toBe(false);
    expect(tokensEqual(`${TOKEN}${TOKEN}`, TOKEN)).toBe(false);
    expect(tokensEqual('', TOKEN)).toBe(false);
    expect(tokensEqual('', '')).toBe(true);
  });
});

describe('health, metrics and the page', () => {
  it('/healthz tells anyone the overall status only; the details need the token', async () => {
    const open = await app.inject({ method: 'GET', url: '/healthz' });
    expect(open.statusCode).toBe(200);
    expect(open.json()).toEqual({ status: 'degraded', checkedAt: health.checkedAt });
    const full = await app.inject({ method: 'GET', url: '/healthz', headers: bearer });
    expect(full.json<HealthReport>().checks).toHaveProperty('disk');
    const { cookie } = await login();
    expect((await app.inject({ method: 'GET', url: '/healthz', headers: { cookie } })).json<HealthReport>().checks).toHaveProperty('disk');
    // The status code still says unhealthy to a monitor without the token.
    health = { ...health, status: 'unhealthy' };
    const unhealthy = await app.inject({ method: 'GET', url: '/healthz' });
    expect(unhealthy.statusCode).toBe(503);
    expect(unhealthy.json()).not.toHaveProperty('checks');
    // A wrong token is checked (and counted) here too, so /healthz is no guessing oracle.
    expect((await app.inject({ method: 'GET', url: '/healthz', headers: { authorization: 'Bearer wrong-wrong-wrong-wrong' } })).statusCode).toBe(401);
  });

  it('/metrics is open by default and needs the token with metricsAuth', async () => {
    const open = await app.inject({ method: 'GET', url: '/metrics' });
    expect(open.statusCode).toBe(200);
    expect(open.body).toBe('scout_up 1\n');
    await app.close();
    app = makeServer(true);
    await app.ready();
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: bearer })).statusCode).toBe(200);
  });

  it('serves the page itself without a token, so the login form can show', async () => {
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<title>Scout</title>');
  });

  it('never writes the token into a log line', async () => {
    await app.inject({ method: 'GET', url: `/api/state?token=${TOKEN}` });
    await app.inject({ method: 'GET', url: `/api/state?access_token=${TOKEN}`, headers: bearer });
    await app.inject({ method: 'POST', url: '/api/session', headers: json, payload: { token: TOKEN } });
    for (let i = 0; i < 12; i++) await app.inject({ method: 'GET', url: '/api/state', headers: { authorization: `Bearer ${TOKEN}-${i}` }, remoteAddress: '10.0.0.9' });
    await app.inject({ method: 'GET', url: '/api/state', headers: bearer });
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).not.toContain(TOKEN);
  });
});
