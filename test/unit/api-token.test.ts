/** Where the API token comes from, on a real filesystem, and that its value never reaches a log. */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiTokenError, resolveApiToken, storeGeneratedToken, tokenAnnouncement } from '../../src/app/api-token.js';
import { captureLogger } from '../helpers/log-capture.js';

let dataDir: string;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'scout-token-'));
});

afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe('resolveApiToken', () => {
  it('stores a token that could not be written at the start, 0600, and says so when announcing it', async () => {
    const { logger, lines } = captureLogger();
    const path = join(dataDir, 'api-token');
    const pending = { token: 'a-token-kept-in-memory-0123456789', source: 'generated' as const, path, notStored: { error: new Error('ENOSPC') } };
    expect(tokenAnnouncement(pending)).toContain('not stored');
    await storeGeneratedToken(pending, logger);
    expect(readFileSync(path, 'utf8').trim()).toBe(pending.token);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dataDir)).toEqual(['api-token']);
    expect(JSON.stringify(lines)).not.toContain(pending.token);
    // Stored already: nothing to do, and the next start reads it.
    await storeGeneratedToken({ token: pending.token, source: 'generated', path }, logger);
    expect((await resolveApiToken({ env: {}, tokenFile: null, dataDir, logger })).token).toBe(pending.token);
  });

  it('generates 32 random bytes (base64url) into <dataDir>/api-token, mode 0600, and logs only the path', async () => {
    const { logger, lines } = captureLogger();
    const first = await resolveApiToken({ env: {}, tokenFile: null, dataDir, logger });
    const path = join(dataDir, 'api-token');
    expect(first).toEqual({ token: first.token, source: 'generated', path });
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(first.token, 'base64url')).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8').trim()).toBe(first.token);
    // Written through a temporary file that does not stay behind.
    expect(readdirSync(dataDir)).toEqual(['api-token']);
    expect(lines.some((line) => line.path === path && line.source === 'generated')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(first.token);
  });

  it('reuses the generated token at the next start', async () => {
    const { logger, lines } = captureLogger();
    const first = await resolveApiToken({ env: {}, tokenFile: null, dataDir, logger });
    const second = await resolveApiToken({ env: {}, tokenFile: null, dataDir, logger });
    expect(second).toEqual(first);
    expect(JSON.stringify(lines)).not.toContain(first.token);
  });

  it('takes SCOUT_API_TOKEN over a token file, and a token file over the generated one', async () => {
    const { logger, lines } = captureLogger();
    const generated = await resolveApiToken({ env: {}, tokenFile: null, dataDir, logger });
    const tokenFile = join(dataDir, 'my-token');
    writeFileSync(tokenFile, 'token-from-the-file-0123456789\n', { mode: 0o600 });

    const fromFile = await resolveApiToken({ env: {}, tokenFile, dataDir, logger });
    expect(fromFile).toEqual({ token: 'token-from-the-file-0123456789', source: 'file', path: tokenFile });

    const fromEnv = await resolveApiToken({ env: { SCOUT_API_TOKEN: 'token-from-the-environment-42' }, tokenFile, dataDir, logger });
    expect(fromEnv).toEqual({ token: 'token-from-the-environment-42', source: 'env', path: null });
    // An empty variable is no token (systemd's Environment=SCOUT_API_TOKEN= unsets it in effect).
    expect((await resolveApiToken({ env: { SCOUT_API_TOKEN: '' }, tokenFile: null, dataDir, logger })).source).toBe('generated');

    for (const token of [generated.token, 'token-from-the-file-0123456789', 'token-from-the-environment-42']) {
      expect(JSON.stringify(lines)).not.toContain(token);
    }
  });

  it('refuses an empty, missing or too short token, with a message that says which', async () => {
    const { logger } = captureLogger();
    const empty = join(dataDir, 'empty');
    writeFileSync(empty, '\n', { mode: 0o600 });
    await expect(resolveApiToken({ env: {}, tokenFile: empty, dataDir, logger })).rejects.toThrow(/empty/);
    await expect(resolveApiToken({ env: {}, tokenFile: join(dataDir, 'absent'), dataDir, logger })).rejects.toBeInstanceOf(ApiTokenError);
    await expect(resolveApiToken({ env: { SCOUT_API_TOKEN: 'hunter2' }, tokenFile: null, dataDir, logger })).rejects.toThrow(/shorter than 16/);
    // An emptied generated file is not silently replaced: scripts hold the old value.
    writeFileSync(join(dataDir, 'api-token'), '');
    await expect(resolveApiToken({ env: {}, tokenFile: null, dataDir, logger })).rejects.toThrow(/delete it/);
  });

  it('warns about a token file other users can read, and still uses it', async () => {
    const { logger, lines } = captureLogger();
    const tokenFile = join(dataDir, 'shared-token');
    writeFileSync(tokenFile, 'a-world-readable-token-value');
    chmodSync(tokenFile, 0o644);
    const resolved = await resolveApiToken({ env: {}, tokenFile, dataDir, logger });
    expect(resolved.token).toBe('a-world-readable-token-value');
    expect(lines.find((line) => line.level === 40)).toMatchObject({ path: tokenFile, mode: '0644' });
    expect(JSON.stringify(lines)).not.toContain(resolved.token);
  });
});

describe('tokenAnnouncement', () => {
  it("gives the simulator's one human line with the value and the file, and nothing for a token from the environment", () => {
    expect(tokenAnnouncement({ token: 'abc-def-ghi-jkl-mno', source: 'generated', path: '/data/api-token' })).toBe(
      'scout: API token for the page and scripts: abc-def-ghi-jkl-mno (stored in /data/api-token)\n',
    );
    expect(tokenAnnouncement({ token: 'abc-def-ghi-jkl-mno', source: 'env', path: null })).toBeNull();
  });
});
