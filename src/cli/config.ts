/**
 * Where the CLI keeps the box it talks to: `$XDG_CONFIG_HOME/scout/config.json` (or
 * `~/.config/scout/config.json`), `{ url, token }`. The token reads every transcript, so the folder
 * is 0700 and the file 0600, written to a temporary file first and renamed, so a crash never
 * leaves half a file and the token is never readable by others, even for a moment.
 * `SCOUT_URL` and `SCOUT_API_TOKEN` override the file (and `--url` overrides both).
 */
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError, EXIT, usageError } from './exit-codes.js';

export interface CliConfig {
  readonly url?: string;
  readonly token?: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

export function configDir(env: Env): string {
  const xdg = env.XDG_CONFIG_HOME;
  // XDG says a relative value is invalid and must be ignored.
  const base = xdg !== undefined && xdg.startsWith('/') ? xdg : join(env.HOME ?? homedir(), '.config');
  return join(base, 'scout');
}

export function configPath(env: Env): string {
  return join(configDir(env), 'config.json');
}

/** The saved config; empty when there is none yet. A file we cannot parse is an error, not ignored. */
export async function loadConfig(env: Env): Promise<CliConfig> {
  const path = configPath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`, EXIT.failed);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not valid JSON; fix it or run \`scout login\` again`, EXIT.usage);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new CliError(`${path} is not a JSON object`, EXIT.usage);
  const { url, token } = parsed as Record<string, unknown>;
  return { ...(typeof url === 'string' ? { url } : {}), ...(typeof token === 'string' ? { token } : {}) };
}

export async function saveConfig(env: Env, config: CliConfig): Promise<string> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode only applies to a folder it creates (and passes the umask); make sure of it.
  await chmod(dir, 0o700);
  const path = configPath(env);
  const temp = `${path}.${process.pid}.tmp`;
  // Created 0600 from the first byte (open's mode), not chmod-ed after the token is in it.
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(config, null, 2)}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(temp, 0o600);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return path;
}

export interface Target {
  readonly url: string;
  readonly token: string | undefined;
}

/** The box and token to use: `--url`, then the environment, then the file. */
export function resolveTarget(config: CliConfig, env: Env, urlOption: string | undefined): Target {
  const url = urlOption ?? nonEmpty(env.SCOUT_URL) ?? config.url;
  if (url === undefined) throw usageError('no box configured: run `scout login <url>` (or `scout discover` to find one), or set SCOUT_URL');
  return { url: normaliseUrl(url), token: nonEmpty(env.SCOUT_API_TOKEN) ?? config.token };
}

/** `box.local:8080` -> `http://box.local:8080`; no trailing slash. Throws a usage error for junk. */
export function normaliseUrl(value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw usageError(`not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`not an http(s) URL: ${JSON.stringify(value)}`);
  if (url.username !== '' || url.password !== '') throw usageError('put the token in `scout login`, not in the URL');
  return url.href.replace(/\/+$/, '');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
