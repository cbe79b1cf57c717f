import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/context.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { run } from '../../src/cli/program.js';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with pipes (not terminals) and a throw-away home. */
async function cli(argv: string[], env: Record<string, string>): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const stdin = new PassThrough();
  stdin.end();
  const io: CliIo = {
    stdout: { write: (text) => (stdout += String(text)), isTTY: false },
    stderr: { write: (text) => (stderr += String(text)), isTTY: false },
    stdin,
    env,
    interrupt: new AbortController().signal,
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

describe('scout on the command line', () => {
  let home: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'scout-cli-'));
    env = { HOME: home };
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it.each([
    [['frobnicate']],
    [['list', '--limit', 'zero']],
    [['list', '--bogus']],
    [['get']],
    [['get', 'x', '--format', 'docx']],
    [['export', '--to', 'today']],
    [['export', '--from', 'last tuesday']],
    [['search']],
    [[]],
  ])('exits 2 with a one-line reason for bad usage: %j', async (argv) => {
    const ran = await cli(argv, env);
    expect(ran.code).toBe(EXIT.usage);
    expect(ran.stderr.split('\n')[0]).toMatch(/^(scout: |Usage: scout)/);
    expect(ran.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 0 for --help, on stdout', async () => {
    const ran = await cli(['--help'], env);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('Exit codes:');
  });

  it('says how to configure a box when there is none (exit 2)', async () => {
    const ran = await cli(['list'], env);
    expect(ran.code).toBe(EXIT.usage);
    expect(ran.stderr).toContain('scout login');
  });

  it('names the box it cannot reach, with the reason, in one line (exit 1)', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const ran = await cli(['list', '--url', `http://127.0.0.1:${port}`], env);
    expect(ran.code).toBe(EXIT.failed);
    expect(ran.stderr).toBe(`scout: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });

  it('refuses to delete without --yes when not at a terminal (exit 2), before touching the box', async () => {
    const ran = await cli(['delete', 'abc', '--url', 'http://127.0.0.1:1'], env);
    expect(ran.code).toBe(EXIT.usage);
    expect(ran.stderr).toContain('--yes');
  });

  describe('against a box that answers', () => {
    let url: string;
    const server = createServer((request, response) => {
      const auth = request.headers.authorization;
      if (request.url === '/healthz') {
        response.writeHead(503, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ status: 'unhealthy', checks: { mic: { status: 'unhealthy', message: 'no audio frames for 5 s' }, disk: { status: 'degraded', message: 'disk space low: 300 MB free' } } }));
        return;
      }
      if (auth !== 'Bearer good') {
        response.writeHead(401, { 'content-type': 'application/json' });
        response.end('{"error":"unauthorized"}');
        return;
      }
      if (request.url?.startsWith('/api/recordings/missing')) {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end('{"error":"not_found","message":"no recording \\"missing\\""}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ appliance: { phase: 'idle', recordingId: null } }));
    });
    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('a wrong token exits 4 and says to log in again', async () => {
      const ran = await cli(['list', '--url', url], { ...env, SCOUT_API_TOKEN: 'bad' });
      expect(ran.code).toBe(EXIT.auth);
    expect(ran.stderr).toContain('refused the token');
    });

    it('an unknown recording exits 3 with the box\'s words', async () => {
      const ran = await cli(['get', 'missing', '--url', url], { ...env, SCOUT_API_TOKEN: 'good' });
      expect(ran).toMatchObject({ code: EXIT.notFound, stderr: 'scout: no recording "missing"\n' });
    });

    it('status of an unhealthy box: its problems in words, worst first, exit 5', async () => {
      const ran = await cli(['status', '--url', url], { ...env, SCOUT_API_TOKEN: 'good' });
      expect(ran.code).toBe(EXIT.unhealthy);
      expect(ran.stdout).toBe('unhealthy: no audio frames for 5 s\ndegraded: disk space low: 300 MB free\n');
    });

    it('login saves the box once the token works, and refuses a wrong one', async () => {
      expect((await cli(['login', url, '--token', 'bad'], env)).code).toBe(EXIT.auth);
      const ran = await cli(['login', url, '--token', 'good'], env);
      expect(ran.code).toBe(0);
      expect((await cli(['status', '--json'], env)).stdout).toContain('"unhealthy"');
    });
  });
});
