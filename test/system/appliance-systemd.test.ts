/**
 * The real appliance (compiled src/main.ts, default config: fake mic and GPIO) under the
 * project's unit in a real systemd 252 as PID 1 (test/helpers/systemd-ns.ts). Shows READY,
 * STATUS, the watchdog killing a stopped process, restart after kill -9, recordings surviving
 * restarts, and `systemctl stop` flushing the recording in progress.
 */
import { missingCapability } from '../helpers/capability.js';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemdNamespace, projectDir, projectDirInside, systemdNsUnavailableReason } from '../helpers/systemd-ns.js';

const unavailable = await systemdNsUnavailableReason();
const skipSystemd = missingCapability('systemd as PID 1 in namespaces', unavailable);
const noPromtool = missingCapability('promtool', existsSync('/usr/bin/promtool') ? null : 'not installed (Debian package prometheus)');

const unit = 'scout.service';
const watchdogSec = 4;
// Given to the unit (Environment=), so the test knows it without reading the state directory.
const token = randomBytes(24).toString('base64url');
const authorization = `Bearer ${token}`;
/** Compiled here rather than in dist/, which other work in the tree may be rebuilding. */
const buildDir = join(projectDir, '.cache', 'systemd-build');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The simulator mic's clip, made on the host: the rootfs has no espeak-ng or sox, and the
 * appliance reuses a clip already in its data dir (src/sim/clip.ts).
 */
function speechClip(): Promise<Buffer> {
  const raw = join(buildDir, 'speech-raw.wav');
  const clip = join(buildDir, 'sim-speech-48000-1.wav');
  return new Promise((resolve, reject) => {
    execFile('espeak-ng', ['-s', '150', '-w', raw, 'Scout system test. Testing one two three.'], (error) => {
      if (error) return reject(new Error(`espeak-ng: ${error.message}`));
      execFile('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', '-e', 'signed-integer', clip, 'pad', '0', '1'], (soxError) => {
        if (soxError) return reject(new Error(`sox: ${soxError.message}`));
        readFile(clip).then(resolve, reject);
      });
    });
  });
}

/** mount point -> its first option (ro/rw), as the process with this mountinfo sees it. */
function mountOptions(mountinfo: string): Map<string, string> {
  return new Map(
    mountinfo
      .split('\n')
      .map((line) => line.split(' '))
      .filter((f) => f.length > 5)
      .map((f) => [f[4] ?? '', (f[5] ?? '').split(',')[0] ?? ''] as const),
  );
}

/** Host pids of a process's direct children, from every thread's `children` list. */
function childPids(pid: number): number[] {
  const found: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (list !== '') found.push(...list.split(/\s+/).map(Number));
  }
  return found;
}

/** The appliance's whisper-server child (setpriv execs into it, so the child itself is the engine). */
async function waitForEnginePid(mainPid: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      for (const child of childPids(mainPid)) {
        const name = readFileSync(`/proc/${child}/comm`, 'utf8').trim();
        if (name.startsWith('whisper-server')) return child;
      }
    } catch {
      // The process or a thread went away between listing and reading: look again.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no whisper-server child of ${mainPid} within 20 s`);
}

function build(): Promise<void> {
  return new Promise((resolve, reject) => {
    // tsc emits even when unrelated files have type errors; main.js missing is the real failure.
    execFile(process.execPath, [join(projectDir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(buildDir, 'dist')], { cwd: projectDir }, () => {
      if (existsSync(join(buildDir, 'dist/src/main.js'))) resolve();
      else reject(new Error('build produced no dist/src/main.js'));
    });
  });
}

describe.skipIf(skipSystemd)('the appliance as scout.service under a real systemd', () => {
  let ns: SystemdNamespace;
  let base: string;
  const stateDir = (): string => join(ns.hostViewOfRoot, 'var/lib/scout');

  const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', authorization);
    const response = await fetch(`${base}${path}`, { ...init, headers, signal: AbortSignal.timeout(5000) });
    return (await response.json()) as T;
  };
  const press = (): Promise<unknown> =>
    api('/api/button', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'toggle' }) });
  const listIds = async (): Promise<string[]> => {
    const body = await api<unknown>('/api/recordings');
    const items = Array.isArray(body) ? body : ((body as { recordings?: unknown[]; items?: unknown[] }).recordings ?? (body as { items?: unknown[] }).items ?? []);
    return (items as { id: string }[]).map((r) => r.id);
  };
  const waitActive = (restarts: number): Promise<unknown> =>
    ns.waitFor(unit, ['ActiveState', 'NRestarts'], (s) => s.ActiveState === 'active' && s.NRestarts === String(restarts), 30_000);

  beforeAll(async () => {
    const [booted, port] = await Promise.all([SystemdNamespace.boot({ log: (l) => console.log(l) }), freePort(), build()]);
    ns = booted;
    await ns.writeFileInside('/var/lib/scout/sim/sim-speech-48000-1.wav', await speechClip(), 'scout');
    // The build lives in .cache/systemd-build, not at the project root: name the engine binary.
    await ns.writeFileInside(
      '/etc/scout/scout.json',
      JSON.stringify({ transcription: { serverPath: `${projectDirInside}/.cache/whisper/current/bin/whisper-server` } }),
    );
    base = `http://127.0.0.1:${port}`;
    console.log(`systemd booted in ${ns.bootMs} ms`);
    await ns.installUnit(
      join(projectDir, 'systemd/scout.service'),
      `[Service]
ExecStart=
ExecStart=/usr/bin/node ${projectDirInside}/.cache/systemd-build/dist/src/main.js
Environment=SCOUT_HTTP_PORT=${port}
Environment=SCOUT_HTTP_HOST=127.0.0.1
Environment=SCOUT_API_TOKEN=${token}
WatchdogSec=${watchdogSec}
RestartSec=200ms
`,
    );
  }, 16 * 60_000);

  afterAll(async () => {
    await ns?.shutdown();
    if (ns) console.log(`systemd shut down in ${ns.shutdownMs} ms (${ns.haltedCleanly ? 'halted by itself' : 'needed SIGKILL'})`);
  }, 30_000);

  it('becomes active only after READY=1 and shows its STATUS=', async () => {
    await ns.systemctl(['start', '--no-block', unit]);
    const first = await ns.waitFor(unit, ['ActiveState'], (s) => s.ActiveState !== 'inactive', 5000);
    expect(first.ActiveState).toBe('activating');
    const state = await ns.waitFor(unit, ['ActiveState', 'SubState', 'StatusText', 'Result'], (s) => s.ActiveState !== 'activating', 60_000);
    expect(state, await ns.journal(unit)).toMatchObject({ ActiveState: 'active', SubState: 'running' });
    const withStatus = await ns.waitFor(unit, ['StatusText'], (s) => (s.StatusText ?? '') !== '', 5000);
    console.log(`StatusText: ${withStatus.StatusText}`);
    const health = await api<{ status: string }>('/healthz');
    expect(health.status).not.toBe('unhealthy');
  });

  it('starts whisper-server under the unit\'s sandbox (seccomp filter, read-only system, parent-death signal)', async () => {
    // The engine starts through setpriv (parent-death signal) under the unit's seccomp filter.
    const deadline = Date.now() + 20_000;
    let engine = { state: '' };
    while (engine.state !== 'ready' && Date.now() < deadline) {
      engine = (await api<{ transcription: { engine: { state: string } } }>('/api/state')).transcription.engine;
      if (engine.state !== 'ready') await new Promise((r) => setTimeout(r, 250));
    }
    expect(engine.state, JSON.stringify(engine)).toBe('ready');
  }, 30_000);

  it('runs the appliance and its whisper-server under the unit\'s hardening (user, groups, no privileges, seccomp, read-only system)', async () => {
    const mainPid = (await ns.hostMainPid(unit))!;
    const enginePid = await waitForEnginePid(mainPid);
    const passwd = await readFile(join(ns.hostViewOfRoot, 'etc/passwd'), 'utf8');
    const groupFile = await readFile(join(ns.hostViewOfRoot, 'etc/group'), 'utf8');
    const scoutUid = /^scout:x:(\d+):/m.exec(passwd)?.[1];
    const gid = (name: string): number => Number(new RegExp(`^${name}:x:(\\d+):`, 'm').exec(groupFile)?.[1]);
    for (const [who, pid] of [['appliance', mainPid], ['whisper-server', enginePid]] as const) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const field = (name: string): string => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
      expect(field('Uid').split(/\s+/), `${who} Uid`).toEqual([scoutUid, scoutUid, scoutUid, scoutUid]);
      expect(field('NoNewPrivs'), `${who} NoNewPrivileges=`).toBe('1');
      expect(field('CapEff'), `${who} effective capabilities`).toMatch(/^0+$/);
      expect(field('CapBnd'), `${who} CapabilityBoundingSet=`).toMatch(/^0+$/);
      expect(field('CapAmb'), `${who} AmbientCapabilities=`).toMatch(/^0+$/);
      expect(field('Seccomp'), `${who} SystemCallFilter= (2 = filter mode)`).toBe('2');
      const groups = field('Groups').split(/\s+/).map(Number);
      for (const name of ['audio', 'input', 'gpio']) expect(groups, `${who} in group ${name}`).toContain(gid(name));
      const mounts = mountOptions(await readFile(`/proc/${pid}/mountinfo`, 'utf8'));
      expect(mounts.get('/'), `${who}: ProtectSystem=strict`).toBe('ro');
      expect(mounts.get('/sys'), `${who}: ProtectKernelTunables=`).toBe('ro');
      expect(mounts.get('/var/lib/scout'), `${who}: StateDirectory=`).toBe('rw');
      expect(mounts.get('/home'), `${who}: ProtectHome=`).toBeDefined();
      expect(mounts.get('/tmp'), `${who}: PrivateTmp=`).toBe('rw');
    }
    // The engine runs in the unit's cgroup, so MemoryMax= counts it, and a stop or a kill reaches it.
    const cgroupOf = async (pid: number): Promise<string> => (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim();
    expect(await cgroupOf(enginePid)).toBe(await cgroupOf(mainPid));
    expect(await cgroupOf(mainPid)).toContain(unit);
  }, 30_000);

  it.skipIf(noPromtool)('serves /metrics that pass promtool check metrics (a live scrape)', async () => {
    const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
    const body = await response.text();
    expect(body).toContain('scout_audio_buffer_overruns_total');
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = execFile('/usr/bin/promtool', ['check', 'metrics'], (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: stdout + stderr });
      });
      child.stdin?.end(body);
    });
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('keeps a recording across a watchdog kill (SIGSTOP) and a kill -9', async () => {
    await press();
    await new Promise((r) => setTimeout(r, 1500));
    await press();
    const deadline = Date.now() + 10_000;
    let ids: string[] = [];
    while (ids.length === 0 && Date.now() < deadline) {
      ids = await listIds();
      if (ids.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ids).toHaveLength(1);

    const stoppedPid = await ns.hostMainPid(unit);
    const stoppedAt = Date.now();
    process.kill(stoppedPid!, 'SIGSTOP');
    await waitActive(1);
    console.log(`watchdog restart of the appliance after ${Date.now() - stoppedAt} ms (WatchdogSec=${watchdogSec})`);
    expect(await ns.hostMainPid(unit)).not.toBe(stoppedPid);
    expect(await listIds()).toEqual(ids);

    const killedPid = (await ns.hostMainPid(unit))!;
    const orphanCandidate = await waitForEnginePid(killedPid);
    process.kill(killedPid, 'SIGKILL');
    await waitActive(2);
    expect(await listIds()).toEqual(ids);
    // The old engine died with its parent (parent-death signal, and the unit's cgroup): no orphan
    // whisper-server holds the model's memory next to the new one.
    const engineGoneBy = Date.now() + 10_000;
    while (existsSync(`/proc/${orphanCandidate}`) && Date.now() < engineGoneBy) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(`/proc/${orphanCandidate}`), `whisper-server ${orphanCandidate} outlived its parent`).toBe(false);
    const newEngine = await waitForEnginePid((await ns.hostMainPid(unit))!);
    expect(newEngine).not.toBe(orphanCandidate);
  });

  it('flushes the recording in progress on systemctl stop and exits cleanly', async () => {
    const before = await listIds();
    await press();
    await new Promise((r) => setTimeout(r, 2000));
    await ns.systemctl(['stop', unit]);
    const state = await ns.show(unit, ['ActiveState', 'Result', 'ExecMainStatus']);
    expect(state).toMatchObject({ ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' });

    // Read the database while the service is down: the flush happened on stop, not in recovery at next start.
    // A copy, so no root-owned -shm/-wal files land in the service's data dir.
    const copyDir = await mkdtemp(join(tmpdir(), 'scout-db-'));
    for (const suffix of ['', '-wal']) {
      if (existsSync(join(stateDir(), `scout.db${suffix}`))) await copyFile(join(stateDir(), `scout.db${suffix}`), join(copyDir, `scout.db${suffix}`));
    }
    const db = new BetterSqlite3(join(copyDir, 'scout.db'));
    try {
      const rows = db.prepare('SELECT id, status, duration_ms, bytes, audio_path FROM recordings ORDER BY started_at_ms').all() as {
        id: string;
        status: string;
        duration_ms: number | null;
        bytes: number | null;
        audio_path: string;
      }[];
      expect(rows).toHaveLength(before.length + 1);
      const last = rows.at(-1)!;
      expect(last.status).not.toBe('recording');
      expect(last.duration_ms).toBeGreaterThan(1000);
      const wav = await stat(join(stateDir(), 'recordings', last.audio_path));
      expect(wav.size).toBeGreaterThanOrEqual(44 + (last.bytes ?? 1));
      const header = (await readFile(join(stateDir(), 'recordings', last.audio_path))).subarray(0, 4).toString('latin1');
      expect(header).toBe('RIFF');
    } finally {
      db.close();
      await rm(copyDir, { recursive: true, force: true });
    }
  });
  it('notifies systemd through systemd-notify where the addon is missing (the drop-in install-pi.sh writes then)', async () => {
    // The x86 addon loads here, so SCOUT_SD_NOTIFY forces the transport an arm64 box falls back to.
    await ns.writeFileInside('/etc/systemd/system/scout.service.d/60-notify-cli.conf', await readFile(join(projectDir, 'systemd/notify-cli.conf'), 'utf8'));
    await ns.writeFileInside('/etc/systemd/system/scout.service.d/61-force-cli.conf', '[Service]\nEnvironment=SCOUT_SD_NOTIFY=systemd-notify\n');
    await ns.systemctl(['daemon-reload']);
    await ns.systemctl(['start', '--no-block', unit]);
    const state = await ns.waitFor(unit, ['ActiveState', 'NotifyAccess'], (s) => s.ActiveState !== 'activating' && s.ActiveState !== 'inactive', 60_000);
    expect(state, await ns.journal(unit)).toMatchObject({ ActiveState: 'active', NotifyAccess: 'all' });
    const withStatus = await ns.waitFor(unit, ['StatusText'], (s) => (s.StatusText ?? '') !== '', 10_000);
    expect(withStatus.StatusText).not.toBe('');
    const pid = await ns.hostMainPid(unit);
    const restarts = (await ns.show(unit, ['NRestarts'])).NRestarts;
    // Three watchdog periods: without the pings arriving, systemd would have killed it by now.
    await new Promise((r) => setTimeout(r, 3 * watchdogSec * 1000));
    expect(await ns.show(unit, ['ActiveState', 'NRestarts'])).toMatchObject({ ActiveState: 'active', NRestarts: restarts });
    expect(await ns.hostMainPid(unit)).toBe(pid);
    expect(await ns.journal(unit)).not.toMatch(/cannot notify systemd|sd_notify send failed/);
  }, 90_000);
});
