import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configPath, loadConfig, normaliseUrl, resolveTarget, saveConfig } from '../../src/cli/config.js';
import { CliError, EXIT } from '../../src/cli/exit-codes.js';

describe('the CLI config file', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'scout-cli-home-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('lives in ~/.config/scout, folder 0700 and file 0600, and reads back', async () => {
    const env = { HOME: home };
    const path = await saveConfig(env, { url: 'http://box:8080', token: 'secret' });
    expect(path).toBe(join(home, '.config', 'scout', 'config.json'));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, '.config', 'scout'))).mode & 0o777).toBe(0o700);
    expect(await loadConfig(env)).toEqual({ url: 'http://box:8080', token: 'secret' });
  });

  it('tightens a folder that already existed with looser permissions', async () => {
    await mkdir(join(home, '.config', 'scout'), { recursive: true, mode: 0o755 });
    await saveConfig({ HOME: home }, { url: 'http://box', token: 't' });
    expect((await stat(join(home, '.config', 'scout'))).mode & 0o777).toBe(0o700);
  });

  it('follows XDG_CONFIG_HOME when it is absolute, and ignores a relative one', () => {
    expect(configPath({ HOME: home, XDG_CONFIG_HOME: '/x/y' })).toBe('/x/y/scout/config.json');
    expect(configPath({ HOME: home, XDG_CONFIG_HOME: 'rel' })).toBe(join(home, '.config/scout/config.json'));
  });

  it('is empty before the first login, and a broken file is a usage error naming it', async () => {
    expect(await loadConfig({ HOME: home })).toEqual({});
    await mkdir(join(home, '.config', 'scout'), { recursive: true });
    await writeFile(join(home, '.config', 'scout', 'config.json'), '{not json');
    const error = await loadConfig({ HOME: home }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.usage);
    expect((error as CliError).message).toContain('config.json');
  });

  it('leaves no temporary file behind', async () => {
    await saveConfig({ HOME: home }, { url: 'http://box', token: 't' });
    await saveConfig({ HOME: home }, { url: 'http://box2', token: 't2' });
    expect(JSON.parse(await readFile(configPath({ HOME: home }), 'utf8'))).toEqual({ url: 'http://box2', token: 't2' });
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(join(home, '.config', 'scout'))).toEqual(['config.json']);
  });
});

describe('which box and token a command uses', () => {
  const saved = { url: 'http://saved:8080', token: 'saved-token' };

  it('SCOUT_URL and SCOUT_API_TOKEN override the file; --url overrides both', () => {
    expect(resolveTarget(saved, {}, undefined)).toEqual({ url: 'http://saved:8080', token: 'saved-token' });
    expect(resolveTarget(saved, { SCOUT_URL: 'http://env:1', SCOUT_API_TOKEN: 'env-token' }, undefined)).toEqual({ url: 'http://env:1', token: 'env-token' });
    expect(resolveTarget(saved, { SCOUT_URL: 'http://env:1' }, 'http://flag:2').url).toBe('http://flag:2');
  });

  it('no box at all is a usage error that says how to configure one', () => {
    const error = (() => {
      try {
        resolveTarget({}, {}, undefined);
      } catch (caught) {
        return caught;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.usage);
    expect((error as CliError).message).toContain('scout login');
  });

  it('accepts a bare host:port and refuses credentials in the URL', () => {
    expect(normaliseUrl('scout.local:8080')).toBe('http://scout.local:8080');
    expect(normaliseUrl('http://box:8080/')).toBe('http://box:8080');
    expect(() => normaliseUrl('http://tok@box')).toThrow(/token/);
    expect(() => normaliseUrl('ftp://box')).toThrow(/http/);
  });
});
