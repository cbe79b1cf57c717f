/**
 * The project's systemd unit under a real systemd 252 as PID 1 (test/helpers/systemd-ns.ts),
 * driving a stand-in Node service that speaks sd_notify. Proves the unit's semantics (notify,
 * watchdog, restart, stop) and that its hardening still lets Node run.
 */
import { missingCapability } from '../helpers/capability.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemdNamespace, projectDir, projectDirInside, systemdNsUnavailableReason } from '../helpers/systemd-ns.js';

const unavailable = await systemdNsUnavailableReason();
const skipSystemd = missingCapability('systemd as PID 1 in namespaces', unavailable);

/**
 * The project's unit file under another name: appliance-systemd.test.ts runs `scout.service` in a
 * namespace of its own at the same time, and namespaces share the host's cgroup tree (a shared
 * /system.slice/scout.service would mean one memory limit, and one test's stop killing the other's).
 */
const unit = 'scout-standin.service';
const watchdogSec = 3;

/** The real unit, with ExecStart pointed at the stand-in and a short watchdog so the test is quick. */
const dropIn = `[Service]
ExecStart=
ExecStart=/usr/bin/node ${projectDirInside}/test/helpers/fixtures/notify-app.mjs
Environment=NOTIFY_APP_READY_DELAY_MS=1500
Environment=NOTIFY_APP_STATE_FILE=/var/lib/scout/events.log
WatchdogSec=${watchdogSec}
RestartSec=200ms
`;

describe.skipIf(skipSystemd)('scout.service under a real systemd', () => {
  let ns: SystemdNamespace;

  beforeAll(async () => {
    ns = await SystemdNamespace.boot({ log: (line) => console.log(line) });
    console.log(`systemd booted in ${ns.bootMs} ms`);
    await ns.installUnit(join(projectDir, 'systemd/scout.service'), dropIn, unit);
  }, 16 * 60_000);

  afterAll(async () => {
    await ns?.shutdown();
    if (ns) console.log(`systemd shut down in ${ns.shutdownMs} ms (${ns.haltedCleanly ? 'halted by itself' : 'needed SIGKILL'})`);
  }, 30_000);

  const events = async (): Promise<string[]> =>
    (await readFile(join(ns.hostViewOfRoot, 'var/lib/scout/events.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

  it('passes systemd-analyze verify inside the rootfs (the scout user and groups exist there)', async () => {
    const result = await ns.exec(['systemd-analyze', 'verify', `/etc/systemd/system/${unit}`]);
    expect(result.stderr + result.stdout).toBe('');
    expect(result.code).toBe(0);
  });

  it('is activating until READY=1, then active with its STATUS= text, as the scout user', async () => {
    await ns.systemctl(['start', '--no-block', unit]);
    const before = await ns.waitFor(unit, ['ActiveState'], (s) => s.ActiveState !== 'inactive', 5000);
    expect(before.ActiveState).toBe('activating');
    const after = await ns.waitFor(unit, ['ActiveState', 'SubState', 'StatusText', 'MainPID'], (s) => s.ActiveState === 'active', 10_000);
    expect(after.SubState).toBe('running');
    expect(after.StatusText).toMatch(/^(warming up|serving since)/);
    const status = await ns.waitFor(unit, ['StatusText'], (s) => (s.StatusText ?? '').startsWith('serving since'), 5000);
    expect(status.StatusText).toMatch(/^serving since \d{4}-/);
    const text = (await ns.systemctl(['status', unit], { allowFailure: true })).stdout;
    expect(text).toContain('active (running)');
    expect(text).toContain('Status: "serving since');
    const hostPid = await ns.hostMainPid(unit);
    expect(hostPid).not.toBeNull();
    const procStatus = await readFile(`/proc/${hostPid}/status`, 'utf8');
    const uid = /^Uid:\s+(\d+)/m.exec(procStatus)?.[1];
    const passwd = await readFile(join(ns.hostViewOfRoot, 'etc/passwd'), 'utf8');
    expect(passwd).toContain(`scout:x:${uid}:`);
    expect(/^NoNewPrivs:\s+1/m.test(procStatus)).toBe(true);
    expect(/^CapEff:\s+0+$/m.test(procStatus)).toBe(true);
    expect(/^Seccomp:\s+2$/m.test(procStatus)).toBe(true);
  });

  it('sandboxes the service but leaves its data dir and the LED sysfs writable', async () => {
    const hostPid = await ns.hostMainPid(unit);
    // mount point -> options, as the service sees its own mount namespace
    const mounts = new Map(
      (await readFile(`/proc/${hostPid}/mountinfo`, 'utf8'))
        .split('\n')
        .map((line) => line.split(' '))
        .filter((f) => f.length > 5)
        .map((f) => [f[4] ?? '', (f[5] ?? '').split(',')[0] ?? ''] as const),
    );
    expect(mounts.get('/')).toBe('ro'); // ProtectSystem=strict
    expect(mounts.get('/sys')).toBe('ro'); // ProtectKernelTunables=yes
    expect(mounts.get('/var/lib/scout')).toBe('rw'); // StateDirectory=
    expect(mounts.get('/tmp')).toBe('rw'); // PrivateTmp=
    expect(mounts.get('/sys/devices/platform')).toBe('rw'); // ReadWritePaths= for gpio-led brightness/trigger
    const groups = /^Groups:\s+(.*)$/m.exec(await readFile(`/proc/${hostPid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/).map(Number) ?? [];
    const groupFile = await readFile(join(ns.hostViewOfRoot, 'etc/group'), 'utf8');
    for (const name of ['audio', 'input', 'gpio']) {
      const gid = Number(new RegExp(`^${name}:x:(\\d+):`, 'm').exec(groupFile)?.[1]);
      expect(groups, name).toContain(gid);
    }
  });

  it('is killed by the watchdog and restarted when it stops pinging (SIGSTOP)', async () => {
    const hostPid = await ns.hostMainPid(unit);
    expect(hostPid).not.toBeNull();
    const stoppedAt = Date.now();
    process.kill(hostPid!, 'SIGSTOP');
    await ns.waitFor(unit, ['NRestarts', 'ActiveState', 'MainPID'], (s) => s.NRestarts === '1' && s.ActiveState === 'active', 20_000);
    const tookMs = Date.now() - stoppedAt;
    console.log(`watchdog restart after ${tookMs} ms (WatchdogSec=${watchdogSec})`);
    expect(tookMs).toBeGreaterThanOrEqual(watchdogSec * 1000 - 1000);
    expect(await ns.hostMainPid(unit)).not.toBe(hostPid);
    const gone = await readFile(`/proc/${hostPid}/status`, 'utf8').then(() => false, () => true);
    expect(gone).toBe(true);
  });

  it('is restarted after kill -9', async () => {
    const hostPid = await ns.hostMainPid(unit);
    process.kill(hostPid!, 'SIGKILL');
    const state = await ns.waitFor(unit, ['NRestarts', 'ActiveState'], (s) => s.NRestarts === '2' && s.ActiveState === 'active', 15_000);
    expect(state.ActiveState).toBe('active');
    expect(await ns.hostMainPid(unit)).not.toBe(hostPid);
  });

  it('stops cleanly on systemctl stop (SIGTERM handled, exit 0)', async () => {
    const hostPid = await ns.hostMainPid(unit);
    await ns.systemctl(['stop', unit]);
    const state = await ns.show(unit, ['ActiveState', 'Result', 'ExecMainStatus', 'ExecMainCode']);
    expect(state.ActiveState).toBe('inactive');
    expect(state.Result).toBe('success');
    expect(state.ExecMainStatus).toBe('0');
    const log = await events();
    // three starts (first, after watchdog, after kill -9); only the last one saw SIGTERM
    expect(log.filter((l) => l.startsWith('start'))).toHaveLength(3);
    expect(log.at(-1)).toMatch(/^stop /);
    expect(hostPid).not.toBeNull();
  });
});
