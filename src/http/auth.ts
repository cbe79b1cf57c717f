/**
 * Who may use the LAN API. Transcripts are private speech and the LAN is not trusted, so:
 *   - every /api/* route needs the token: `Authorization: Bearer <token>` (scripts) or the session
 *     cookie that `POST /api/session {"token": ...}` sets (the page: EventSource and <audio>
 *     cannot send headers). `DELETE /api/session` logs out.
 *   - /healthz answers anyone, but only the overall status (the server asks `isAuthenticated`);
 *     /metrics is open unless `metricsAuth`; the page's static files are open (the login form).
 *   - a token in the query string is refused before anything else: URLs end up in browser
 *     history, proxy logs and shell history.
 *   - a token that is presented is always checked, on every route, so no open route becomes an
 *     unlimited guessing oracle. Wrong guesses are counted per address (@fastify/rate-limit);
 *     at the limit the address gets 429 and its guesses are no longer even compared. Requests
 *     that authenticate are never counted.
 *   - state-changing /api/* requests need `content-type: application/json`: a cross-site form
 *     cannot send it without a CORS preflight, which we never answer (defence beside SameSite).
 * Every refusal is `401 {"error":"unauthorized"}` with no detail. The token never reaches a log
 * line: only the path (without its query) and the address are logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';

export interface AuthOptions {
  readonly token: string;
  /** /metrics needs the token too. */
  readonly metricsAuth: boolean;
  readonly logger: FastifyBaseLogger;
  /** Wrong tokens one address may send per window before it gets 429. */
  readonly maxFailedAttempts?: number;
  readonly failedAttemptsWindowMs?: number;
  /** A session lives this long after its last use. */
  readonly sessionIdleMs?: number;
  readonly now?: () => number;
}

export interface Auth {
  /** True when the request carried a valid token or session (set before any handler runs). */
  isAuthenticated(request: FastifyRequest): boolean;
}

const SESSION_COOKIE = 'scout_session';
const QUERY_TOKEN_NAMES = new Set(['token', 'access_token', 'api_token']);
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const DAY_MS = 24 * 3600 * 1000;
// Logins need the token, so only its holders create sessions; the cap bounds memory regardless.
const MAX_SESSIONS = 256;

const LoginBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false });

/** Constant-time equality of two secrets. Both are hashed first, so their lengths do not leak either. */
export function tokensEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

type Credential = { kind: 'bearer'; token: string } | { kind: 'malformed' } | { kind: 'session'; id: string } | null;
type Area = 'protected' | 'open';

// Generic over the logger so the server's instance (typed with our pino Logger) fits as it is.
export function registerAuth<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  options: AuthOptions,
): Auth {
  const now = options.now ?? Date.now;
  const sessionIdleMs = options.sessionIdleMs ?? 30 * DAY_MS;
  const maxFailed = options.maxFailedAttempts ?? 10;
  // Sessions live in memory only: after a restart the page gets 401 and shows the login form again.
  const sessions = new Map<string, { expiresAtMs: number; cookieSentAtMs: number }>();
  const authenticated = new WeakSet<FastifyRequest>();
  const log = options.logger;
  let limiter: ReturnType<FastifyInstance['createRateLimit']> | null = null;

  const matches = (token: string): boolean => tokensEqual(token, options.token);

  // Only failed attempts are counted: the limiter is called by hand, never as a route hook.
  void app.register(rateLimit, { global: false });
  // The plugin's decorator exists only once plugins have loaded.
  app.addHook('onReady', (done) => {
    limiter = app.createRateLimit({ max: maxFailed, timeWindow: options.failedAttemptsWindowMs ?? 60_000 });
    done();
  });

  const blockedFor = async (request: FastifyRequest): Promise<number | null> => {
    if (!limiter) return null;
    const state = await limiter(request, { increment: false });
    return !state.isAllowed && state.remaining === 0 ? Math.max(1, state.ttlInSeconds) : null;
  };
  const countFailure = async (request: FastifyRequest): Promise<void> => {
    if (!limiter) return;
    const state = await limiter(request);
    if (!state.isAllowed && state.remaining === 0) log.warn({ address: request.ip, path: pathOf(request.url) }, 'too many wrong API tokens; address blocked for a while');
  };
  const refuse = (reply: FastifyReply, status: 401 | 429 = 401, retryAfterS?: number): FastifyReply => {
    if (status === 429) reply.header('retry-after', String(retryAfterS ?? 60));
    else reply.header('www-authenticate', 'Bearer');
    return reply.code(status).send({ error: status === 429 ? 'too_many_requests' : 'unauthorized' });
  };

  const newSession = (): string => {
    const nowMs = now();
    for (const [key, session] of sessions) if (session.expiresAtMs <= nowMs) sessions.delete(key);
    // Map order is insertion order: the oldest login goes first.
    while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
    const id = randomBytes(32).toString('base64url');
    sessions.set(sessionKey(id), { expiresAtMs: nowMs + sessionIdleMs, cookieSentAtMs: nowMs });
    return id;
  };
  const useSession = (id: string, request: FastifyRequest, reply: FastifyReply): boolean => {
    const key = sessionKey(id);
    const session = sessions.get(key);
    const nowMs = now();
    if (!session) return false;
    if (session.expiresAtMs <= nowMs) {
      sessions.delete(key);
      return false;
    }
    // Sliding expiry; the cookie's Max-Age is renewed at most daily rather than on every poll.
    session.expiresAtMs = nowMs + sessionIdleMs;
    if (nowMs - session.cookieSentAtMs >= DAY_MS) {
      session.cookieSentAtMs = nowMs;
      reply.header('set-cookie', sessionCookie(id, sessionIdleMs, request));
    }
    return true;
  };

  app.addHook('onRequest', async (request, reply) => {
    const path = pathOf(request.url);
    if (hasQueryToken(request.url)) {
      log.warn({ path }, 'API token in the query string refused; send it as Authorization: Bearer');
      return refuse(reply);
    }
    // The route the router matched as well as the raw URL: the router percent-decodes, so
    // /%61pi/state runs the /api/state handler while its raw path does not start with /api/.
    const routed = request.routeOptions.url ?? path;
    const area = areaOf(request.method, path, options.metricsAuth) === 'protected' ? 'protected' : areaOf(request.method, routed, options.metricsAuth);
    const credential = readCredential(request);
    if (credential?.kind === 'bearer') {
      const retryAfterS = await blockedFor(request);
      if (retryAfterS !== null) return refuse(reply, 429, retryAfterS);
      if (!matches(credential.token)) {
        await countFailure(request);
        return refuse(reply);
      }
      authenticated.add(request);
    } else if (credential?.kind === 'malformed') {
      return refuse(reply);
    } else if (credential?.kind === 'session') {
      // An unknown session is not a guess (ids are 256 random bits); usually a restart lost it.
      if (useSession(credential.id, request, reply)) authenticated.add(request);
      else reply.header('set-cookie', clearedCookie(request));
    }
    if (area === 'protected' && !authenticated.has(request)) return refuse(reply);
    if ((path.startsWith('/api/') || routed.startsWith('/api/')) && STATE_CHANGING.has(request.method) && !isJson(request.headers['content-type'])) {
      return reply.code(415).send({ error: 'unsupported_media_type', message: 'send content-type: application/json' });
    }
    return undefined;
  });

  app.post<{ Body: Static<typeof LoginBody> }>('/api/session', { schema: { body: LoginBody } }, async (request, reply) => {
    const retryAfterS = await blockedFor(request);
    if (retryAfterS !== null) return refuse(reply, 429, retryAfterS);
    if (!matches(request.body.token)) {
      await countFailure(request);
      return refuse(reply);
    }
    log.info({ address: request.ip }, 'page session opened');
    return reply.code(204).header('set-cookie', sessionCookie(newSession(), sessionIdleMs, request)).send();
  });

  app.delete('/api/session', (request, reply) => {
    const id = sessionIdOf(request);
    if (id !== null) sessions.delete(sessionKey(id));
    return reply.code(204).header('set-cookie', clearedCookie(request)).send();
  });

  return { isAuthenticated: (request) => authenticated.has(request) };
}

function areaOf(method: string, path: string, metricsAuth: boolean): Area {
  // Logging in and out are the two /api routes that cannot require a session first.
  if (path === '/api/session' && (method === 'POST' || method === 'DELETE')) return 'open';
  if (path === '/api' || path.startsWith('/api/')) return 'protected';
  if (path === '/metrics' && metricsAuth) return 'protected';
  return 'open';
}

function readCredential(request: FastifyRequest): Credential {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    return match?.[1] ? { kind: 'bearer', token: match[1] } : { kind: 'malformed' };
  }
  const id = sessionIdOf(request);
  return id === null ? null : { kind: 'session', id };
}

function sessionIdOf(request: FastifyRequest): string | null {
  const cookies = request.headers.cookie;
  if (!cookies) return null;
  for (const pair of cookies.split(';')) {
    const separator = pair.indexOf('=');
    if (separator > 0 && pair.slice(0, separator).trim() === SESSION_COOKIE) return pair.slice(separator + 1).trim() || null;
  }
  return null;
}

function hasQueryToken(url: string): boolean {
  const start = url.indexOf('?');
  if (start < 0) return false;
  for (const name of new URLSearchParams(url.slice(start + 1)).keys()) if (QUERY_TOKEN_NAMES.has(name.toLowerCase())) return true;
  return false;
}

function isJson(contentType: string | undefined): boolean {
  return contentType?.split(';')[0]?.trim().toLowerCase() === 'application/json';
}

// Secure only over TLS: the appliance serves plain HTTP on the LAN, where a Secure cookie would never come back.
function cookieAttributes(request: FastifyRequest): string {
  return `Path=/; HttpOnly; SameSite=Strict${request.protocol === 'https' ? '; Secure' : ''}`;
}

function sessionCookie(id: string, maxAgeMs: number, request: FastifyRequest): string {
  return `${SESSION_COOKIE}=${id}; Max-Age=${Math.floor(maxAgeMs / 1000)}; ${cookieAttributes(request)}`;
}

function clearedCookie(request: FastifyRequest): string {
  return `${SESSION_COOKIE}=; Max-Age=0; ${cookieAttributes(request)}`;
}

// Sessions are looked up by a digest of the id, so the map's string comparison says nothing about the id.
function sessionKey(id: string): string {
  return sha256(id).toString('base64url');
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The request path without its query string: the only form of a URL we log. */
export function pathOf(url: string): string {
  return url.split('?')[0] ?? url;
}
