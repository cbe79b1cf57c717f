/**
 * The box's HTTP API as the CLI uses it: Node's fetch with the bearer token, and every failure
 * turned into a CliError with the exit code it means (see exit-codes.ts), so a command never
 * has to look at a status code to decide how to fail.
 */
import { CliError, EXIT, type ExitCode } from './exit-codes.js';
import type { Target } from './config.js';

export interface RequestOptions {
  readonly method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Statuses handed back to the caller instead of thrown (e.g. 503 from /healthz, 409 from a transcript). */
  readonly accept?: readonly number[];
  readonly signal?: AbortSignal;
}

export class ApiClient {
  constructor(readonly target: Target) {}

  url(path: string, query?: RequestOptions['query']): string {
    const url = new URL(this.target.url + path);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    return url.href;
  }

  /** The raw response, status already checked; the body is still unread (for streams). */
  async request(path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.target.token !== undefined) headers.authorization = `Bearer ${this.target.token}`;
    const method = options.method ?? 'GET';
    // The box refuses a state-changing call without this header (its CSRF rule), body or not.
    if (method !== 'GET') headers['content-type'] = 'application/json';
    const url = this.url(path, options.query);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      throw unreachable(this.target.url, error);
    }
    if (response.ok || options.accept?.includes(response.status)) return response;
    throw await httpError(response, this.target.token !== undefined);
  }

  async json<T>(path: string, options: RequestOptions = {}): Promise<{ status: number; body: T }> {
    const response = await this.request(path, { ...options, headers: { accept: 'application/json', ...options.headers } });
    return { status: response.status, body: (await readJson(response)) as T };
  }

  async text(path: string, options: RequestOptions = {}): Promise<{ status: number; body: string; contentType: string }> {
    const response = await this.request(path, options);
    return { status: response.status, body: await response.text(), contentType: response.headers.get('content-type') ?? '' };
  }
}

/** `cannot reach http://box:8080: ECONNREFUSED`: the code says more than fetch's "fetch failed". */
export function unreachable(baseUrl: string, error: unknown): CliError {
  if (error instanceof Error && error.name === 'AbortError') return new CliError('cancelled', EXIT.failed);
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  return new CliError(`cannot reach ${baseUrl}: ${reason}`, EXIT.failed);
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CliError(`the box sent something that is not JSON (${response.status}, ${text.slice(0, 60)})`, EXIT.failed);
  }
}

/** The error for a status we did not accept, worded from the box's own `message` when it has one. */
async function httpError(response: Response, hadToken: boolean): Promise<CliError> {
  let message: string | undefined;
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not JSON (a proxy's page, say): the status alone has to do.
  }
  const status = response.status;
  const code = exitCodeFor(status);
  if (status === 429) return new CliError(`too many wrong tokens from this address; try again in ${response.headers.get('retry-after') ?? 'a few'} s`, code);
  if (status === 401) {
    return new CliError(hadToken ? 'the box refused the token (401); run `scout login` with the current one' : 'the box needs a token: run `scout login` (or set SCOUT_API_TOKEN)', code);
  }
  return new CliError(message ?? `the box answered ${status} ${response.statusText}`, code);
}

export function exitCodeFor(status: number): ExitCode {
  if (status === 401 || status === 429) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  // The box checked our arguments (a date range, a search with no words): the caller's to fix.
  if (status === 400) return EXIT.usage;
  return EXIT.failed;
}
