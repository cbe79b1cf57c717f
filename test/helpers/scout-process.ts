import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Runs the real appliance (`src/main.ts`) as a child process, the way systemd would, and talks to
 * it over HTTP on loopback. Each instance gets its own data dir, a free port and its own API
 * token (SCOUT_API_TOKEN), which `api()` and `button()` send as a bearer token.
 */
export const PROJECT_ROOT = resolve(import.meta.dirname, '../..');

export interface ScoutProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly dataDir: string;
  /** The API token the child was given. */
  readonly token: string;
  /** `Authorization: Bearer <token>`, for requests made without `api()`. */
  readonly authHeaders: Readonly<Record<string, string>>;
  readonly logLines: readonly Record<string, unknown>[];
  /** stdout exactly as written, one entry per line (JSON.parse hides a duplicated key). */
  readonly rawLogLines: readonly string[];
  readonly stderr: () => string;
  /** Sends the bearer token unless `init.headers` has an authorization of its own. */
  api<T = unknown>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  button(action: 'press' | 'release' | 'toggle'): Promise<number>;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM and wait; never throws. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export interface StartOptions {
  readonly dataDir?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly config?: Record<string, unknown>;
  readonly startTimeoutMs?: number;
  /** Node's arguments, replacing `--import tsx src/main.ts` (e.g. the compiled `dist/src/main.js`). */
  readonly nodeArgs?: readonly string[];
  /** Starts the child itself (e.g. inside an arm64 rootfs), given the environment it should get; replaces node + nodeArgs. */
  readonly spawnChild?: (env: NodeJS.ProcessEnv) => ChildProcess;
}

export async function makeDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'scout-data-'));
}

export async function startScout(options: StartOptions = {}): Promise<ScoutProcess> {
  const dataDir = options.dataDir ?? (await makeDataDir());
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SCOUT_API_TOKEN: randomBytes(24).toString('base64url'),
    SCOUT_DATA_DIR: dataDir,
    SCOUT_HTTP_PORT: '0',
    SCOUT_HTTP_HOST: '127.0.0.1',
    SCOUT_LOG_LEVEL: 'debug',
    ...options.env,
  };
  delete env.NOTIFY_SOCKET;
  if (options.config) {
    const configPath = join(dataDir, 'scout.json');
    await writeFile(configPath, JSON.stringify(options.config));
    env.SCOUT_CONFIG = configPath;
  } else if (!options.env?.SCOUT_CONFIG) {
    // Never pick up a machine's /etc/scout/scout.json in tests.
    env.SCOUT_CONFIG = join(dataDir, 'no-config.json');
    await writeFile(env.SCOUT_CONFIG, '{}');
  }
  const child =
    options.spawnChild?.(env) ??
    spawn(process.execPath, [...(options.nodeArgs ?? ['--import', 'tsx', join(PROJECT_ROOT, 'src/main.ts')])], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const logLines: Record<string, unknown>[] = [];
  const rawLogLines: string[] = [];
  const waiters: { predicate: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const stdout = child.stdout;
  if (stdout === null) throw new Error('startScout: the child must have its stdout piped');
  createInterface({ input: stdout }).on('line', (text) => {
    rawLogLines.push(text);
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text, unparsed: true };
    }
    logLines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });

  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> => {
    const seen = logLines.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
      waiters.push({
        predicate,
        resolve: (line) => {
          clearTimeout(timer);
          resolvePromise(line);
        },
      });
      void exit.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`scout exited (${code ?? signal}) before the log line; stderr: ${stderr.slice(-2000)}`));
      });
    });
  };

  const up = await waitForLog((line) => line.msg === 'scout is up', options.startTimeoutMs ?? 30_000);
  const port = up.port as number;
  const base = `http://127.0.0.1:${port}`;
  const token = env.SCOUT_API_TOKEN ?? '';
  const authHeaders = { authorization: `Bearer ${token}` };

  const api = async <T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> => {
    const headers = new Headers(init?.headers);
    if (!headers.has('authorization')) headers.set('authorization', authHeaders.authorization);
    const response = await fetch(base + path, { ...init, headers });
    const type = response.headers.get('content-type') ?? '';
    const body = (type.includes('json') ? await response.json() : await response.text()) as T;
    return { status: response.status, body };
  };

  return {
    child,
    port,
    dataDir,
    token,
    authHeaders,
    logLines,
    rawLogLines,
    stderr: () => stderr,
    api,
    button: async (action) =>
      (await api('/api/button', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action }) })).status,
    exited: () => exit,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exit;
    },
    waitForLog,
  };
}

export async function removeDataDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function waitFor<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
