import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { isStorageError } from '../ops/storage-errors.js';

/**
 * Where the LAN API's token comes from, first match: SCOUT_API_TOKEN, `http.apiTokenFile`, else
 * `<dataDir>/api-token`, generated at first start and reused after. The value never reaches a
 * log line: only its source and path do.
 */

export type ApiTokenSource = 'env' | 'file' | 'generated';

export interface ApiToken {
  readonly token: string;
  readonly source: ApiTokenSource;
  /** The file it was read from or written to; null when it came from the environment. */
  readonly path: string | null;
  /** A generated token the full or read-only card refused: in memory for this run only, until storeGeneratedToken succeeds. */
  readonly notStored?: { readonly error: unknown };
}

export interface ResolveApiTokenOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly tokenFile: string | null;
  readonly dataDir: string;
  readonly logger: Logger;
}

const API_TOKEN_ENV = 'SCOUT_API_TOKEN';
const GENERATED_TOKEN_FILE = 'api-token';
// A short token set by hand could be guessed despite the rate limit; generated ones are 43 characters.
const MIN_TOKEN_CHARS = 16;

export class ApiTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiTokenError';
  }
}

export async function resolveApiToken({ env, tokenFile, dataDir, logger }: ResolveApiTokenOptions): Promise<ApiToken> {
  const fromEnv = env[API_TOKEN_ENV]?.trim();
  if (fromEnv) {
    checkStrength(fromEnv, API_TOKEN_ENV);
    logger.info({ source: 'env' }, `API token from ${API_TOKEN_ENV}`);
    return { token: fromEnv, source: 'env', path: null };
  }
  if (tokenFile !== null) {
    const token = await readTokenFile(tokenFile, logger, 'http.apiTokenFile');
    logger.info({ source: 'file', path: tokenFile }, 'API token from http.apiTokenFile');
    return { token, source: 'file', path: tokenFile };
  }
  const path = join(dataDir, GENERATED_TOKEN_FILE);
  if (await exists(path)) {
    const token = await readTokenFile(path, logger, 'the generated token file');
    logger.info({ source: 'generated', path }, 'API token from the data dir');
    return { token, source: 'generated', path };
  }
  const token = randomBytes(32).toString('base64url');
  try {
    await writeAtomically(path, `${token}\n`);
  } catch (error) {
    if (!isStorageError(error)) throw error;
    // A first start on a full or read-only card still comes up: the token lives in memory for this
    // run (the announcement shows it), and the caller stores it once writes work again.
    logger.warn({ err: error, source: 'generated', path }, 'API token generated but not stored: it is valid until the service stops');
    return { token, source: 'generated', path, notStored: { error } };
  }
  logger.info({ source: 'generated', path }, 'API token generated (mode 0600)');
  return { token, source: 'generated', path };
}

/** Stores a token resolveApiToken could not write; throws while storage still refuses. */
export async function storeGeneratedToken(apiToken: ApiToken, logger: Logger): Promise<void> {
  if (!apiToken.notStored || apiToken.path === null) return;
  if (await exists(apiToken.path)) {
    // Someone put a token there meanwhile: it wins at the next start; this run keeps its own.
    logger.warn({ path: apiToken.path }, 'an API token file appeared; this run keeps the token it generated');
    return;
  }
  await writeAtomically(apiToken.path, `${apiToken.token}\n`);
  logger.info({ source: 'generated', path: apiToken.path }, 'API token stored (mode 0600)');
}

/** The one human line the simulator prints on stderr, so a new user can log in to the page. */
export function tokenAnnouncement(apiToken: ApiToken): string | null {
  // A token the user put in the environment is one they already know.
  if (apiToken.path === null) return null;
  const where = apiToken.notStored ? `not stored: storage refused ${apiToken.path}; valid until the service stops` : `stored in ${apiToken.path}`;
  return `scout: API token for the page and scripts: ${apiToken.token} (${where})\n`;
}

async function readTokenFile(path: string, logger: Logger, what: string): Promise<string> {
  let text: string;
  let mode: number;
  try {
    [text, { mode }] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
  } catch (error) {
    throw new ApiTokenError(`${what} ${path} cannot be read: ${(error as Error).message}`);
  }
  const token = text.trim();
  if (!token) throw new ApiTokenError(`${what} ${path} is empty; write a token into it, or delete it to have one generated`);
  checkStrength(token, path);
  // Still used: refusing would lock the owner out of a working box; the warning says how to fix it.
  if ((mode & 0o077) !== 0) logger.warn({ path, mode: `0${(mode & 0o777).toString(8)}` }, 'the API token file is readable by other users; chmod 600 it');
  return token;
}

function checkStrength(token: string, where: string): void {
  if (token.length < MIN_TOKEN_CHARS) throw new ApiTokenError(`the API token in ${where} is shorter than ${MIN_TOKEN_CHARS} characters`);
}

// Created 0600 from the first byte and renamed into place: a power cut leaves no token half-written
// and no moment where another user could read it.
async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  const file = await open(temporary, 'wx', 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } catch (error) {
    await file.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await file.close();
  await rename(temporary, path);
  const directory = await open(dirname(path), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
