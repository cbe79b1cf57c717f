import { mulberry32 } from '../../src/util/prng.js';
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';

/**
 * Bad input, at random: a few thousand requests with random methods, mutated paths, query
 * strings, headers, cookies and bodies against the real service (a child process). Nothing a
 * client sends may reach a 5xx, crash the process, or touch a file outside the data folder.
 *
 * Replay: the seed is printed; SCOUT_FUZZ_SEED=<seed> runs the same requests in the same order
 * (the concurrency makes the interleaving, not the requests, vary). SCOUT_FUZZ_COUNT=<n> changes
 * the count. A failure message carries the request itself.
 */

const SEED = process.env['SCOUT_FUZZ_SEED'] ? Number(process.env['SCOUT_FUZZ_SEED']) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const COUNT = process.env['SCOUT_FUZZ_COUNT'] ? Number(process.env['SCOUT_FUZZ_COUNT']) : 3000;
const CONCURRENCY = 8;
/** A normal request answers well within this on a loaded 2-core box. */
const TIMEOUT_MS = 8000;
/** A request that deliberately sends less body than it announced: the server is right to wait. */
const TRUNCATED_TIMEOUT_MS = 400;
/** An event stream never ends: its headers are all we need. */
const STREAM_HOLD_MS = 150;
/** Response bodies are read up to this much (the traversal check looks at them). */
const MAX_BODY_BYTES = 64 * 1024;
const BODY_LIMIT = 16 * 1024;
/** In the canary files: a response that contains it read a file it must not serve. */
const SECRET = `scout-fuzz-canary-${SEED.toString(16)}`;


class Gen {
  constructor(private readonly next: () => number) {}
  float(): number {
    return this.next();
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  ascii(length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.~!$&()*+,;=:@%'): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet.charAt(this.int(alphabet.length));
    return out;
  }
  unicode(length: number): string {
    const ranges: readonly [number, number][] = [[0x20, 0x7e], [0xa0, 0x24f], [0x400, 0x4ff], [0x4e00, 0x4fff], [0x1f600, 0x1f64f], [0x202a, 0x202e], [0xfff0, 0xffff]];
    let out = '';
    for (let i = 0; i < length; i++) {
      const [lo, hi] = this.pick(ranges);
      out += String.fromCodePoint(lo + this.int(hi - lo + 1));
    }
    // A lone surrogate now and then: not valid UTF-16, encodes to U+FFFD or raw bytes.
    if (this.chance(0.1)) out += '\ud800';
    return out;
  }
}

interface FuzzRequest {
  readonly n: number;
  readonly method: string;
  /** As sent on the request line (already encoded for node:http, raw for the socket path). */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer | null;
  /** Sent over a bare socket, byte for byte: junk node:http would refuse to send. */
  readonly raw: boolean;
  /** Content-Length announces more than is sent. */
  readonly truncated: boolean;
  /** From which loopback address (the rate limit counts wrong tokens per address). */
  readonly localAddress: string;
  readonly authenticated: boolean;
}

interface FuzzResult {
  readonly status: number | null;
  readonly outcome: 'answered' | 'stream' | 'timeout' | 'socket-error' | 'client-refused';
  readonly detail?: string;
  readonly body?: string;
  readonly contentType?: string;
}

/** Enough to paste into a shell or a test to replay the one request. */
function describeRequest(req: FuzzRequest): string {
  const body = req.body === null ? null : req.body.length > 300 ? `${req.body.length} bytes, base64 head ${req.body.subarray(0, 200).toString('base64')}` : `base64 ${req.body.toString('base64')}`;
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, v.length > 200 ? `${v.slice(0, 200)}... (${v.length} chars)` : v]));
  return JSON.stringify({ seed: SEED, n: req.n, method: req.method, path: req.path.length > 300 ? `${req.path.slice(0, 300)}... (${req.path.length} chars)` : req.path, headers, body, raw: req.raw, truncated: req.truncated, from: req.localAddress });
}

interface Known {
  readonly ids: readonly string[];
  readonly token: string;
  readonly sessionCookie: string;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const JUNK_METHODS = ['PROPFIND', 'TRACE', 'CONNECT', 'FOO', 'get', 'M-SEARCH', 'BREW'];
const RAW_JUNK_METHODS = ['G ET', 'GET\u0000', '', 'ÄÖÜ', 'GET GET'];

const ROUTES: readonly string[] = [
  '/api/recordings',
  '/api/recordings/:id',
  '/api/recordings/:id/audio',
  '/api/recordings/:id/transcript',
  '/api/recordings/:id/transcribe',
  '/api/export',
  '/api/button',
  '/api/state',
  '/api/events',
  '/api/session',
  '/api/vocabulary',
  '/api',
  '/healthz',
  '/metrics',
  '/',
  '/index.html',
  '/app.js',
  '/style.css',
];

function randomId(g: Gen, known: Known): string {
  const crockford = '0123456789abcdefghjkmnpqrstvwxyz';
  // Real ids often: they are what reaches the deeper handlers (audio ranges, PATCH, DELETE).
  if (known.ids.length > 0 && g.chance(0.4)) return g.pick(known.ids);
  return g.pick<() => string>([
    () => (known.ids.length > 0 ? g.pick(known.ids) : g.ascii(26, crockford)),
    () => (known.ids.length > 0 ? g.pick(known.ids) : g.ascii(26, crockford)),
    () => g.ascii(26, crockford),
    () => g.ascii(26, crockford).toUpperCase(),
    () => '../../etc/passwd',
    () => '..%2f..%2fetc%2fpasswd',
    () => '%2e%2e%2f%2e%2e%2fcanary.txt',
    () => '..',
    () => '.',
    () => `${g.ascii(10)}%00.wav`,
    () => 'a'.repeat(65),
    () => 'a'.repeat(2000 + g.int(6000)),
    () => pct(g.unicode(1 + g.int(20))),
    () => g.ascii(1 + g.int(40)),
    () => '%',
    () => '%zz',
    () => '%c0%ae%c0%ae',
    () => `${known.ids[0] ?? 'x'}.wav`,
    () => `${known.ids[0] ?? 'x'}/../../../canary.txt`,
    () => '',
  ])();
}

function randomQuery(g: Gen, known: Known): string {
  const value = (): string =>
    g.pick<() => string>([
      () => String(g.int(300) - 50),
      () => String(Date.now() - g.int(3 * 86_400_000)),
      () => String(Date.now() + g.int(86_400_000)),
      () => '99999999999999999999',
      () => '1e3',
      () => new Date(Date.now() - g.int(10 * 86_400_000)).toISOString(),
      () => new Date(Date.now() - g.int(10 * 86_400_000)).toISOString().slice(0, 10),
      () => '2026-13-45T99:99:99Z',
      () => pct(g.unicode(1 + g.int(30))),
      () => pct(g.pick(['"', '*', 'NEAR(a b)', 'a OR b', '-x', '^x', 'title:x', "'", '\\', 'a AND', '()', '%', '_', 'x"y', ' ', '\u0000'])),
      () => g.ascii(g.int(60)),
      () => 'x'.repeat(150 + g.int(300)),
      () => '',
      () => g.pick(['txt', 'json', 'srt', 'vtt', 'pdf', 'TXT', 'json%00']),
      () => Buffer.from(JSON.stringify({ beforeMs: g.int(1e9), id: known.ids[0] ?? 'x' })).toString('base64url'),
    ])();
  const names = ['limit', 'before', 'offset', 'q', 'from', 'to', 'format', 'token', 'access_token', 'x', '__proto__', 'constructor', 'limit', 'q', 'from', 'to'];
  const parts: string[] = [];
  const count = g.int(5);
  for (let i = 0; i < count; i++) {
    if (g.chance(0.05)) parts.push(g.pick(['&&&', '=', '==x', 'limit', 'q[]=a', 'q[a]=b', '%']));
    else parts.push(`${g.pick(names)}=${g.chance(0.05) ? pct(known.token) : value()}`);
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

function randomPath(g: Gen, known: Known): string {
  let path = g.pick(ROUTES).replace(':id', () => randomId(g, known));
  const mutation = g.int(12);
  if (mutation === 0) path = path.replace('/api/', g.pick(['/API/', '//api/', '/api//', '/./api/', '/api/../api/', '/%61pi/']));
  else if (mutation === 1) path += g.pick(['/', '//', '/..', '/.', '%2f', '?', '#frag', ';x=y']);
  else if (mutation === 2) path = g.pick(['/../../etc/passwd', '/..%2f..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/canary.txt', '/static/../../canary.txt', '/..%5c..%5ccanary.txt', '/%c0%ae%c0%ae/canary.txt', '/index.html%00.js', '/.env', '/src/http/server.ts']);
  else if (mutation === 3) path = `/${g.ascii(1 + g.int(20))}/${g.ascii(1 + g.int(20))}`;
  else if (mutation === 4) path = `/${'x/'.repeat(200 + g.int(3000))}`;
  const query = g.chance(0.6) ? randomQuery(g, known) : '';
  return path + query;
}

function randomAuthorization(g: Gen, token: string): string {
  return g.pick<() => string>([
    () => `Bearer ${g.ascii(10 + g.int(40))}`,
    () => `Bearer ${token}x`,
    () => `Bearer ${token.slice(0, -1)}`,
    () => `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`,
    () => 'Bearer',
    () => 'Bearer ',
    () => `Bearer ${token} extra`,
    () => g.ascii(g.int(80)),
    () => `Bearer ${'A'.repeat(1000 + g.int(9000))}`,
    () => `bEaReR\t${g.ascii(20)}`,
    () => '',
  ])();
}

function randomCookie(g: Gen, known: Known): string {
  return g.pick<() => string>([
    () => `scout_session=${g.ascii(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')}`,
    () => 'scout_session=',
    () => 'scout_session',
    () => `=${g.ascii(10)}`,
    () => `a=b; scout_session=${g.ascii(10)}; scout_session=${g.ascii(10)}`,
    () => Array.from({ length: 50 + g.int(200) }, (_, i) => `c${i}=${g.ascii(8)}`).join('; '),
    () => `big=${'z'.repeat(4000 + g.int(14_000))}`,
    () => g.ascii(g.int(100)),
    () => `scout_session=${known.sessionCookie}; ${g.ascii(5)}=${g.ascii(5)}`,
  ])();
}

function randomJson(g: Gen, depth: number): unknown {
  const leaf = (): unknown =>
    g.pick<() => unknown>([
      () => g.int(1e6) - 5e5,
      () => g.float() * 1e308,
      () => g.chance(0.5),
      () => null,
      () => g.unicode(g.int(40)),
      () => g.ascii(g.int(40)),
      () => 'x'.repeat(g.int(3000)),
    ])();
  if (depth <= 0 || g.chance(0.4)) return leaf();
  if (g.chance(0.5)) return Array.from({ length: g.int(5) }, () => randomJson(g, depth - 1));
  const keys = ['action', 'title', 'token', 'words', 'press', 'toggle', '__proto__', 'constructor', 'prototype', g.ascii(6)];
  return Object.fromEntries(Array.from({ length: g.int(5) }, () => [g.pick(keys), randomJson(g, depth - 1)]));
}

function randomBody(g: Gen, known: Known): Buffer | null {
  const text = g.pick<() => string | Buffer | null>([
    () => null,
    () => '',
    () => JSON.stringify({ action: g.pick(['press', 'release', 'toggle', 'PRESS', '', 'hold']) }),
    () => JSON.stringify({ action: g.pick([1, true, null, ['toggle'], { a: 1 }]) }),
    () => JSON.stringify({ title: g.pick<unknown>([g.unicode(g.int(80)), null, 5, false, [], {}, 'x'.repeat(300), `a\u0000b`, '\u007f', '  ']) }),
    () => JSON.stringify({ title: g.unicode(10), extra: 1 }),
    () => JSON.stringify({ token: g.pick([known.token, g.ascii(30), '', 'x'.repeat(2000)]) }),
    () => JSON.stringify({ words: Array.from({ length: g.int(50) }, () => g.unicode(g.int(30))) }),
    () => JSON.stringify(randomJson(g, 6)),
    () => '{"__proto__": {"polluted": true}, "title": "x"}',
    () => '{"constructor": {"prototype": {"polluted": true}}}',
    () => {
      const levels = 1000 + g.int(7000);
      return g.chance(0.5) ? '['.repeat(levels) + ']'.repeat(levels) : '{"a":'.repeat(levels / 5) + '1' + '}'.repeat(levels / 5);
    },
    () => JSON.stringify({ title: 'x'.repeat(BODY_LIMIT - 14 + g.int(28)) }),
    () => JSON.stringify({ title: 'y'.repeat(BODY_LIMIT + g.int(BODY_LIMIT)) }),
    () => Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80]), Buffer.from('"}')]),
    () => Buffer.from(Array.from({ length: g.int(300) }, () => g.int(256))),
    () => '{"title": "unterminated',
    () => '{"title": 1e999}',
    () => 'null',
    () => '[]',
    () => '"toggle"',
    () => 'action=toggle',
    () => `--x\r\ncontent-disposition: form-data; name="action"\r\n\r\ntoggle\r\n--x--\r\n`,
    () => '   \n\t ',
  ])();
  if (text === null) return null;
  return typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=latin1',
  'application/json; charset=utf-16',
  'application/jsonx',
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '*/*',
  ';',
  'application/json, text/plain',
];

function makeRequest(g: Gen, n: number, known: Known): FuzzRequest {
  const authenticated = g.chance(0.5);
  const raw = g.chance(0.08);
  const method = g.chance(0.06) ? g.pick(raw ? [...JUNK_METHODS, ...RAW_JUNK_METHODS] : JUNK_METHODS) : g.pick(METHODS);
  let path = randomPath(g, known);
  if (raw && g.chance(0.5)) {
    // What node:http would refuse to put on a request line: raw unicode, NUL, spaces, CR.
    path = path.replace(/(?<=\/)[^/?]*$/, () => g.pick([g.unicode(1 + g.int(10)), 'a\u0000b', 'a b', '..\\..\\canary.txt', 'x\rinjected: 1', '\t']));
  }
  const headers: Record<string, string> = {};
  if (authenticated) {
    if (g.chance(0.75)) headers['authorization'] = g.pick([`Bearer ${known.token}`, `bearer ${known.token}`, `Bearer  ${known.token} `]);
    else headers['cookie'] = `scout_session=${known.sessionCookie}`;
    if (g.chance(0.15)) headers['cookie'] = [headers['cookie'], randomCookie(g, known)].filter((c) => c !== undefined).join('; ');
  } else {
    if (g.chance(0.5)) headers['authorization'] = randomAuthorization(g, known.token);
    if (g.chance(0.4)) headers['cookie'] = randomCookie(g, known);
  }
  // Calls that change something need JSON (auth.ts); most fuzz bodies are meant to get past that.
  if (g.chance(0.85)) headers['content-type'] = g.chance(0.6) ? 'application/json' : g.pick(CONTENT_TYPES);
  if (path.includes('/audio') || g.chance(0.05)) {
    if (g.chance(0.7)) headers['range'] = g.pick(['bytes=0-10', 'bytes=-5', 'bytes=44-', 'bytes=100000000-', 'bytes=5-1', 'bytes=0-1,5-9,2-3', 'bytes=abc', 'items=0-1', `bytes=${'0-1,'.repeat(500)}0-1`, 'bytes=-0', 'bytes=0-', 'bytes= 0 - 1', `bytes=${'9'.repeat(40)}-`]);
    if (g.chance(0.2)) headers['if-range'] = g.pick(['"x"', 'Wed, 21 Oct 2015 07:28:00 GMT', 'garbage']);
    if (g.chance(0.2)) headers['if-none-match'] = g.pick(['*', '"abc"', g.ascii(20)]);
  }
  if (path.startsWith('/api/events') || g.chance(0.03)) {
    headers['accept'] = 'text/event-stream';
    if (g.chance(0.7)) headers['last-event-id'] = g.pick(['0', '1', '5', '-1', '1e5', '999999999999999', '9999999999999999999999', 'abc', ' 3 ', '', g.unicode(5), '0x10', String(g.int(100))]);
  }
  if (g.chance(0.1)) headers['accept'] = g.pick(['*/*', 'application/json', 'text/html', '', g.ascii(30)]);
  if (g.chance(0.05)) headers['x-forwarded-for'] = g.pick(['1.2.3.4', '127.0.0.1, 10.0.0.1', g.ascii(20)]);
  if (g.chance(0.05)) headers['accept-encoding'] = g.pick(['gzip', 'br', 'deflate', 'identity;q=0', g.ascii(10)]);
  if (g.chance(0.04)) headers[g.ascii(1 + g.int(20), 'abcdefghijklmnopqrstuvwxyz-')] = g.ascii(g.int(200));
  if (raw && g.chance(0.3)) headers['x-raw'] = g.pick(['\u0000', 'a\u0001b', 'ü', '\u00ff\u00fe']);

  let body = method === 'GET' || method === 'HEAD' ? (g.chance(0.05) ? randomBody(g, known) : null) : randomBody(g, known);
  if (body === null && (method === 'POST' || method === 'PATCH') && g.chance(0.3)) body = Buffer.alloc(0);
  const truncated = body !== null && body.length > 2 && g.chance(0.02);
  // Wrong tokens and logins are counted per address (429 after ten a minute); the authenticated
  // half comes from 127.0.0.1, which therefore never sends a wrong one.
  const localAddress = authenticated ? '127.0.0.1' : `127.0.${1 + g.int(4)}.${2 + g.int(250)}`;
  return { n, method, path: raw ? path : encodeForHttp(path), headers, body, raw, truncated, localAddress, authenticated };
}

/** node:http refuses characters outside 0x21-0xff on the request line; those are percent-encoded. */
function encodeForHttp(path: string): string {
  return path.replace(/[^\u0021-\u007e]/gu, (c) => pct(c));
}

/** Percent-encoding of the UTF-8 bytes; unlike encodeURIComponent it takes lone surrogates too. */
function pct(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function sendHttp(port: number, req: FuzzRequest): Promise<FuzzResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: FuzzResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const headers: OutgoingHttpHeaders = { ...req.headers, connection: 'close' };
    if (req.body !== null) headers['content-length'] = String(req.body.length + (req.truncated ? 10 : 0));
    let client: ReturnType<typeof httpRequest>;
    try {
      client = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.path, headers, localAddress: req.localAddress, agent: false });
    } catch (error) {
      // node:http checks methods, paths and header values before sending; nothing reached the server.
      resolve({ status: null, outcome: 'client-refused', detail: (error as Error).message });
      return;
    }
    const timer = setTimeout(() => {
      client.destroy();
      done({ status: null, outcome: 'timeout' });
    }, req.truncated ? TRUNCATED_TIMEOUT_MS : TIMEOUT_MS);
    client.on('error', (error) => done({ status: null, outcome: 'socket-error', detail: (error as NodeJS.ErrnoException).code ?? error.message }));
    client.on('response', (res) => {
      const status = res.statusCode ?? null;
      if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        // An event stream stays open: take its first bytes, then go away as a client would.
        setTimeout(() => {
          client.destroy();
          done({ status, outcome: 'stream', contentType: 'text/event-stream' });
        }, STREAM_HOLD_MS);
        res.resume();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_BODY_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      const contentType = res.headers['content-type'] ?? '';
      res.on('end', () => done({ status, outcome: 'answered', body: Buffer.concat(chunks).toString('latin1'), contentType }));
      res.on('error', () => done({ status, outcome: 'answered', body: Buffer.concat(chunks).toString('latin1') }));
    });
    // node:http hands the answer to a CONNECT to 'connect', never to 'response' (a 431 included).
    client.on('connect', (res, socket) => {
      socket.destroy();
      done({ status: res.statusCode ?? null, outcome: 'answered', body: '' });
    });
    client.on('error', () => undefined);
    if (req.body !== null) client.write(req.body);
    if (!req.truncated) client.end();
  });
}

function sendRaw(port: number, req: FuzzRequest): Promise<FuzzResult> {
  return new Promise((resolve) => {
    const lines = [`${req.method} ${req.path} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close'];
    for (const [name, value] of Object.entries(req.headers)) lines.push(`${name}: ${value}`);
    if (req.body !== null) lines.push(`content-length: ${req.body.length + (req.truncated ? 10 : 0)}`);
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
    const socket = connect({ host: '127.0.0.1', port, localAddress: req.localAddress });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (result: FuzzResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const parsed = (): FuzzResult => {
      const text = Buffer.concat(chunks).toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const status = match?.[1] === undefined ? null : Number(match[1]);
      const contentType = /\r\ncontent-type: *([^\r\n]*)/i.exec(text)?.[1] ?? '';
      return { status, outcome: status === null ? 'socket-error' : contentType.startsWith('text/event-stream') ? 'stream' : 'answered', body: text, contentType, ...(status === null ? { detail: 'no status line' } : {}) };
    };
    const timer = setTimeout(() => {
      const result = parsed();
      // An event stream (or a server waiting for the rest of a truncated body) ends only when we go.
      done(result.status !== null ? result : { status: null, outcome: 'timeout' });
    }, req.truncated ? TRUNCATED_TIMEOUT_MS : /event-stream/.test(req.headers['accept'] ?? '') ? 1000 : TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      if (size < MAX_BODY_BYTES) chunks.push(chunk);
      size += chunk.length;
    });
    socket.on('end', () => done(parsed()));
    socket.on('close', () => done(parsed()));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const result = parsed();
      done(result.status !== null ? result : { status: null, outcome: 'socket-error', detail: error.code ?? error.message });
    });
    socket.write(req.body === null ? head : Buffer.concat([head, req.body]));
  });
}

/** A 2xx that only an authenticated caller may get: recordings, state, audio, exports, events, the button. */
function leaksApi(result: FuzzResult): boolean {
  if (result.status === null || result.status < 200 || result.status > 299) return false;
  if (/^(?:text\/event-stream|audio\/|application\/x-tar)/.test(result.contentType ?? '')) return true;
  const body = result.body ?? '';
  const json = body.slice(body.indexOf('\r\n\r\n') >= 0 && body.startsWith('HTTP/') ? body.indexOf('\r\n\r\n') + 4 : 0);
  return /^\{"(?:items|appliance|accepted|deleted|queued|id)"/.test(json);
}

interface Entry {
  readonly size: number;
  readonly mtimeMs: number;
}

/** path -> size and mtime of every file and folder under `root` (the folder itself excluded). */
async function listTree(root: string, skip: (path: string) => boolean = () => false): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (skip(path)) continue;
      const info = await stat(path).catch(() => null);
      if (!info) continue;
      out.set(relative(root, path), { size: info.size, mtimeMs: info.mtimeMs });
      if (entry.isDirectory()) await walk(path);
    }
  };
  await walk(root);
  return out;
}

function treeDiff(before: Map<string, Entry>, after: Map<string, Entry>): string[] {
  const changes: string[] = [];
  for (const [path, entry] of after) {
    const old = before.get(path);
    if (!old) changes.push(`created ${path}`);
    else if (old.size !== entry.size || old.mtimeMs !== entry.mtimeMs) changes.push(`changed ${path}`);
  }
  for (const path of before.keys()) if (!after.has(path)) changes.push(`removed ${path}`);
  return changes;
}

// Files people edit by hand in src/ while this runs (the tree is shared); anything else appearing
// there (a .wav, a .tar, a database, a file named after an id) would be the service's doing.
const HAND_EDITED = /\.(?:ts|js|mjs|cjs|html|css|md|json|svg|txt)$/;

describe('HTTP API under random bad input', () => {
  let scout: ScoutProcess;
  let sandbox: string;
  let dataDir: string;
  let known: Known;
  let sandboxBefore: Map<string, Entry>;
  let srcBefore: Map<string, Entry>;

  beforeAll(async () => {
    // The data folder sits inside a sandbox whose other files are canaries: a path that escapes
    // the data folder (../, %2e%2e, an id used as a path) lands among them.
    sandbox = await mkdtemp(join(tmpdir(), 'scout-fuzz-'));
    dataDir = join(sandbox, 'data');
    await mkdir(dataDir);
    await mkdir(join(sandbox, 'etc'));
    await writeFile(join(sandbox, 'canary.txt'), `${SECRET}\n`);
    await writeFile(join(sandbox, 'etc', 'passwd'), `root:x:0:0:${SECRET}:/root:/bin/sh\n`);
    await writeFile(join(sandbox, 'canary.wav'), `RIFF${SECRET}`);
    scout = await startScout({ dataDir, env: { SCOUT_LOG_LEVEL: 'info' } });
    // Two real takes, so ids, audio ranges, transcripts and exports reach the deeper handlers.
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      expect(await scout.button('toggle')).toBe(202);
      await new Promise((r) => setTimeout(r, 1200));
      expect(await scout.button('toggle')).toBe(202);
      const listed = await waitFor(async () => {
        const { body } = await scout.api<{ items: { id: string; status: string }[] }>('/api/recordings');
        return body.items.length === i + 1 && body.items.every((r) => r.status !== 'recording') ? body.items : null;
      }, 20_000);
      ids.splice(0, ids.length, ...listed.map((r) => r.id));
    }
    // The page's way in: a session cookie (fetch() hides set-cookie; a direct request does not).
    const cookie = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ token: scout.token });
      const req = httpRequest({ host: '127.0.0.1', port: scout.port, method: 'POST', path: '/api/session', headers: { 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
        res.resume();
        const value = /scout_session=([^;]+)/.exec((res.headers['set-cookie'] ?? []).join(';'))?.[1];
        if (value) resolve(value);
        else reject(new Error(`no session cookie (${res.statusCode})`));
      });
      req.on('error', reject);
      req.end(body);
    });
    known = { ids, token: scout.token, sessionCookie: cookie };
    sandboxBefore = await listTree(sandbox, (path) => path === dataDir);
    srcBefore = await listTree(join(PROJECT_ROOT, 'src'));
  }, 90_000);

  afterAll(async () => {
    await scout.stop();
    await rm(sandbox, { recursive: true, force: true });
  });

  it('refuses percent-encoded /api paths without the token, as the plain ones', async () => {
    // Found by this fuzz: the router decodes /%61pi/state to /api/state, the auth check did not.
    for (const path of ['/%61pi/state', '/%61pi/recordings', `/ap%69/recordings/${known.ids[0] ?? 'x'}/audio`, '/%61pi/export?from=0&to=1000', '/api/%65vents']) {
      const result = await sendHttp(scout.port, { n: -1, method: 'GET', path, headers: {}, body: null, raw: false, truncated: false, localAddress: '127.0.9.9', authenticated: false });
      expect(result.status, path).toBe(401);
    }
    const press = await sendHttp(scout.port, { n: -1, method: 'POST', path: '/%61pi/button', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"action":"toggle"}'), raw: false, truncated: false, localAddress: '127.0.9.9', authenticated: false });
    expect(press.status).toBe(401);
  });

  it('answers every request below 500, stays up and writes nothing outside its data folder', async () => {
    console.log(`http-fuzz: seed ${SEED} (replay: SCOUT_FUZZ_SEED=${SEED}), ${COUNT} requests, concurrency ${CONCURRENCY}`);
    const g = new Gen(mulberry32(SEED));
    // Generated up front, in order, so a seed always means the same requests.
    const requests = Array.from({ length: COUNT }, (_, n) => makeRequest(g, n, known));
    const failures: string[] = [];
    const statuses = new Map<string, number>();
    const startedAt = Date.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let req = requests[next++]; req !== undefined; req = requests[next++]) {
        // Bounded in time as well as in count: a slow box reports fewer requests, not a hung test.
        if (Date.now() - startedAt > 45_000) return;
        const result = req.raw ? await sendRaw(scout.port, req) : await sendHttp(scout.port, req);
        const key = result.status === null ? result.outcome : String(result.status);
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        const healthz503 = result.status === 503 && req.path.startsWith('/healthz');
        if (result.status !== null && result.status >= 500 && !healthz503) failures.push(`status ${result.status} for ${describeRequest(req)}: ${result.body?.slice(-300) ?? ''}`);
        if (result.outcome === 'timeout' && !req.truncated) failures.push(`no answer within ${TIMEOUT_MS} ms for ${describeRequest(req)}`);
        if (!req.authenticated && !(req.headers['cookie'] ?? '').includes(known.sessionCookie) && leaksApi(result)) failures.push(`API data without the token for ${describeRequest(req)}`);
        if (result.body?.includes(SECRET)) failures.push(`served a file outside the data folder for ${describeRequest(req)}`);
        if (result.body !== undefined && /root:x:0:0:root:/.test(result.body)) failures.push(`served /etc/passwd for ${describeRequest(req)}`);
        if (scout.child.exitCode !== null || scout.child.signalCode !== null) {
          failures.push(`the service exited (${scout.child.exitCode ?? scout.child.signalCode}) after ${describeRequest(req)}`);
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
    const sent = Math.min(next, COUNT);
    const elapsedS = (Date.now() - startedAt) / 1000;
    console.log(`http-fuzz: ${sent} requests in ${elapsedS.toFixed(1)} s; outcomes ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);

    expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
    expect(sent, 'too few requests went out within the time bound').toBeGreaterThan(Math.min(COUNT, 1000));
    expect(scout.child.exitCode).toBeNull();
    const health = await scout.api<{ status: string }>('/healthz');
    expect([200, 503]).toContain(health.status);
    expect(['healthy', 'degraded', 'unhealthy']).toContain(health.body.status);
    expect((await scout.api('/api/state')).status).toBe(200);
    // The token went out right, wrong and in query strings thousands of times: no metric carries it.
    const metrics = await scout.api<string>('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('scout_');
    expect(metrics.body).not.toContain(scout.token);

    const failed = scout.logLines.filter((line) => line.msg === 'request failed' || (typeof line.level === 'number' && line.level >= 60));
    expect(failed.map((line) => JSON.stringify(line).slice(0, 500)), 'the error handler logged a 500').toEqual([]);

    const sandboxChanges = treeDiff(sandboxBefore, await listTree(sandbox, (path) => path === dataDir));
    expect(sandboxChanges, 'files outside the data folder changed').toEqual([]);
    const srcChanges = treeDiff(srcBefore, await listTree(join(PROJECT_ROOT, 'src')));
    if (srcChanges.length > 0) console.log(`http-fuzz: src/ changed meanwhile (other people edit it): ${srcChanges.join(', ')}`);
    expect(srcChanges.filter((change) => !HAND_EDITED.test(change)), 'the service wrote into src/').toEqual([]);
  }, 120_000);
});
