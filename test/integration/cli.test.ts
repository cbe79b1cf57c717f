import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { PROJECT_ROOT, removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it: its own process, pipes (not a terminal), a throw-away home. */
function spawnCli(args: string[], env: NodeJS.ProcessEnv, input = ''): { child: ChildProcess; output: () => Ran; done: Promise<Ran> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/main.ts'), ...args], { cwd: PROJECT_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdin?.end(input);
  const output = (): Ran => ({ code: child.exitCode, stdout, stderr });
  const done = once(child, 'close').then(([code]) => ({ code: code as number | null, stdout, stderr }));
  return { child, output, done };
}

describe('the scout CLI against the real service', () => {
  let scout: ScoutProcess;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let url: string;
  let recordingId: string;
  const cli = (...args: string[]): Promise<Ran> => spawnCli(args, env).done;

  beforeAll(async () => {
    scout = await startScout();
    home = await mkdtemp(join(tmpdir(), 'scout-cli-home-'));
    url = `http://127.0.0.1:${scout.port}`;
    // Nothing of the developer's own config or environment may leak in.
    env = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, 'config') };
    await waitFor(async () => (await scout.api<{ audio: { state: string } }>('/api/state')).body.audio.state === 'running', 20_000);
  }, 60_000);

  afterAll(async () => {
    await scout?.stop();
    if (scout) await removeDataDir(scout.dataDir);
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('a wrong token exits with the auth code and saves nothing', async () => {
    const ran = await cli('login', url, '--token', 'not-the-token');
    expect(ran.code).toBe(EXIT.auth);
    expect(ran.stderr).toMatch(/^scout: the box refused the token/);
    await expect(stat(join(home, 'config', 'scout', 'config.json'))).rejects.toThrow();
  });

  it('login (token piped in) saves the box at 0600, then list works without flags', async () => {
    const login = spawnCli(['login', url], env, `${scout.token}\n`);
    const ran = await login.done;
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    const config = join(home, 'config', 'scout', 'config.json');
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(config, 'utf8'))).toEqual({ url, token: scout.token });
    const list = await cli('list', '--json');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ items: [], total: 0 });
  });

  it('follow shows a live recording, from the press to the final text, and ends with --until-done', async () => {
    const follow = spawnCli(['follow', '--until-done'], env);
    // Give it time to connect before the press: it must see the recording start live.
    await waitFor(async () => (await scout.api<{ events?: unknown }>('/api/state')).status === 200, 5000);
    await sleep(1500);
    expect(await scout.button('toggle')).toBe(202);
    const id = await waitFor(async () => (await scout.api<{ appliance: { recordingId: string | null } }>('/api/state')).body.appliance.recordingId, 10_000);
    recordingId = id;
    await waitFor(() => Promise.resolve(follow.output().stdout.includes(`${id} recording`)), 10_000);
    await sleep(6000);
    expect(await scout.button('toggle')).toBe(202);
    const ran = await Promise.race([follow.done, sleep(60_000).then(() => follow.child.kill('SIGKILL')).then(() => follow.output())]);
    const transcript = await scout.api<string>(`/api/recordings/${id}/transcript?format=txt`);
    expect(transcript.status).toBe(200);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    const lines = ran.stdout.trim().split('\n');
    expect(lines[0]).toBe(`${id} recording`);
    expect(lines).toContain(`${id} transcribed`);
    expect(lines.some((line) => line.startsWith(`${id} partial: `))).toBe(true);
    expect(lines.at(-1)).toBe(`${id} final: ${transcript.body.trim()}`);
    expect(transcript.body.trim().length).toBeGreaterThan(0);
  }, 90_000);

  it('list and search show it; get prints the same text as the transcript route', async () => {
    const list = await cli('list');
    expect(list.stdout).toContain(recordingId);
    const txt = await scout.api<string>(`/api/recordings/${recordingId}/transcript?format=txt`);
    const get = await cli('get', recordingId);
    expect(get.code).toBe(0);
    expect(get.stdout.trim()).toBe(txt.body.trim());
    const word = txt.body.trim().split(/\s+/)[0]?.replace(/[^\p{L}\p{N}]/gu, '') ?? '';
    const search = await cli('search', word);
    expect(search.code).toBe(0);
    expect(search.stdout).toContain(recordingId);
    expect(search.stdout.toLowerCase()).toContain(`[${word.toLowerCase()}`);
  });

  it('export writes the expected files: the WAV as the audio route sends it, the txt as the transcript route', async () => {
    const out = join(home, 'export');
    const ran = await cli('export', '--from', '1d', '--to', String(Date.now() + 60_000), '--out', out, '--extract');
    expect(ran.code).toBe(0);
    const [folder] = await readdir(out);
    expect(folder).toMatch(/^scout-export-/);
    const names = (await readdir(join(out, folder ?? ''))).sort();
    expect(names).toEqual([`${recordingId}.json`, `${recordingId}.srt`, `${recordingId}.txt`, `${recordingId}.vtt`, `${recordingId}.wav`, 'manifest.json'].sort());
    const audio = Buffer.from(await (await fetch(`${url}/api/recordings/${recordingId}/audio`, { headers: scout.authHeaders })).arrayBuffer());
    expect((await readFile(join(out, folder ?? '', `${recordingId}.wav`))).equals(audio)).toBe(true);
    const txt = await scout.api<string>(`/api/recordings/${recordingId}/transcript?format=txt`);
    expect(await readFile(join(out, folder ?? '', `${recordingId}.txt`), 'utf8')).toBe(txt.body);
    const manifest = JSON.parse(await readFile(join(out, folder ?? '', 'manifest.json'), 'utf8')) as { recordings: { id: string }[] };
    expect(manifest.recordings.map((r) => r.id)).toEqual([recordingId]);

    // Without --extract: the tar itself, named by the box.
    const tarRan = await cli('export', '--from', 'today', '--out', `${home}/`, '--json');
    expect(tarRan.code).toBe(0);
    const saved = JSON.parse(tarRan.stdout) as { path: string; bytes: number };
    expect(saved.path).toMatch(/scout-export-.*\.tar$/);
    expect((await stat(saved.path)).size).toBe(saved.bytes);
  });

  it('export on a terminal draws a progress bar with a percentage, since the box sends the length', async () => {
    // util-linux `script` gives the CLI a real pseudo-terminal; its output is what the person sees.
    const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
    const command = [process.execPath, '--import', 'tsx', join(PROJECT_ROOT, 'src/cli/main.ts'), 'export', '--from', '1d', '--to', String(Date.now() + 60_000), '--out', `${home}/tty-export.tar`].map(quote).join(' ');
    // A pseudo-terminal starts at 0x0 columns: give it a real terminal's width.
    const child = spawn('script', ['-qec', `stty cols 100 rows 30 && ${command}`, '/dev/null'], { cwd: PROJECT_ROOT, env: { ...env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (screen += text));
    child.stdin.end();
    const [code] = (await once(child, 'close')) as [number | null];
    expect(code, screen).toBe(0);
    const size = (await stat(join(home, 'tty-export.tar'))).size;
    // The bar: "exporting [####....]  57% 164 kB of 288 kB  ...", the total from Content-Length.
    expect(screen).toMatch(/exporting \[#*\.*\]\s+\d+% \S+ \S+ of \S+ \S+/);
    expect(screen).toContain(`written to ${home}/tty-export.tar`);
    expect(size).toBeGreaterThan(0);
  });

  it('status says healthy or degraded in words, with the matching exit code', async () => {
    const ran = await cli('status');
    const health = (await scout.api<{ status: string }>('/healthz')).body.status;
    expect(ran.code).toBe(health === 'healthy' ? 0 : health === 'degraded' ? EXIT.degraded : EXIT.unhealthy);
    const first = ran.stdout.split('\n')[0] ?? '';
    if (health === 'healthy') expect(first).toBe('healthy');
    else expect(first).toMatch(new RegExp(`^(unhealthy|degraded): \\S`));
  });

  it('delete --yes removes it; the next get exits 3', async () => {
    const ran = await cli('delete', recordingId, '--yes');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`deleted ${recordingId}`);
    expect((await scout.api(`/api/recordings/${recordingId}`)).status).toBe(404);
    expect((await cli('get', recordingId)).code).toBe(EXIT.notFound);
  });
});
