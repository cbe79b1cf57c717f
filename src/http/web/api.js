// The one door to the HTTP API. The page trades the token once for an HttpOnly session cookie
// (POST /api/session) which the browser then sends with every call, <audio>, downloads and
// EventSource included. A 401 means no session yet, or the service restarted and forgot it:
// the page shows the login form (onLoggedOut) and the caller gets a LoggedOut error.

export class LoggedOut extends Error {}

/** A non-2xx answer other than 401, with the server's JSON body when it sent one. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

let onLoggedOut = () => undefined;

export function whenLoggedOut(handler) {
  onLoggedOut = handler;
}

export async function request(path, init = {}) {
  const response = await fetch(path, { ...init, credentials: 'same-origin' });
  if (response.status === 401) {
    onLoggedOut();
    throw new LoggedOut(path);
  }
  return response;
}

async function bodyOf(response) {
  const type = response.headers.get('content-type') ?? '';
  return type.includes('json') ? response.json().catch(() => null) : null;
}

/** GET a JSON resource; throws ApiError for anything but 2xx. */
export async function getJson(path) {
  const response = await request(path);
  const body = await bodyOf(response);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/**
 * A state-changing call. The content type is always JSON, even without a body: the server
 * refuses anything else (a cross-site form cannot send it without a preflight).
 */
export async function send(method, path, body) {
  const response = await request(path, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = await bodyOf(response);
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

/** true: logged in; otherwise the reason to show. Not through request(): a 401 here is an answer. */
export async function login(token) {
  const response = await fetch('/api/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (response.status === 204) return true;
  if (response.status === 429) return 'Too many wrong tokens: wait a minute and try again.';
  return 'That is not the token.';
}

export async function logout() {
  await fetch('/api/session', { method: 'DELETE', credentials: 'same-origin', headers: { 'content-type': 'application/json' } });
}

/** /healthz answers everyone, so it is not a login check: with the cookie it has the checks. */
export async function health() {
  const response = await fetch('/healthz', { credentials: 'same-origin' });
  return response.json();
}
