/**
 * A real systemd (Debian bookworm, systemd 252) as PID 1 in fresh namespaces, for system tests.
 *
 * How: a bookworm minbase rootfs with systemd, systemd-sysv, dbus and the appliance's runtime
 * packages (`rootfsPackages`) is debootstrapped once into `.cache/systemd-root` (mirror from this
 * machine's own apt sources; rebuilt when the package list changes).
 * Each boot mounts an overlay over it (so units, users and state never touch the cache and two
 * test files can boot at once), binds the host's node binary and the project (read-only, at
 * /opt/scout), and runs `unshare --pid --fork --mount --uts --ipc` a script that ends in
 * `exec chroot ROOT /lib/systemd/systemd`. All mounts live in the private mount namespace, so
 * they vanish with its last process: `shutdown()` sends SIGRTMIN+3 (PID 1 ignores SIGTERM: it
 * re-executes), waits, then SIGKILLs the namespace's PID 1, which kills everything inside.
 *
 * The host controls it with `nsenter -t <pid1> -m -p chroot ROOT systemctl ...`, and reaches
 * its files through /proc/<pid1>/root (the chrooted root in its mount namespace).
 *
 * No cgroup namespace: every booted systemd manages the host's one cgroup tree, so units of the
 * same name in two namespaces at once share a cgroup (/system.slice/<unit>): one memory limit,
 * and stopping either kills both. Namespaces that run at the same time use distinct unit names.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const rootfsCacheDir = join(projectDir, '.cache', 'systemd-root');
/** Where the project appears inside the rootfs, read-only; matches the unit's ExecStart. */
export const projectDirInside = '/opt/scout';
/**
 * What debootstrap adds to minbase: systemd itself, and what the appliance runs under it on a Pi
 * (arecord; the ALSA PulseAudio plugin, for the soak's real-time fake mic).
 */
export const rootfsPackages = ['systemd', 'systemd-sysv', 'dbus', 'alsa-utils', 'libasound2-plugins'] as const;
/** Written last into the cache: the package list it was built with. Another list means a rebuild. */
const stampFile = join(rootfsCacheDir, '.scout-packages');
const stampText = `${rootfsPackages.join(',')}\n`;

function rootfsCurrent(): boolean {
  try {
    return readFileSync(stampFile, 'utf8') === stampText;
  } catch {
    return false;
  }
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(cmd, args, { timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolvePromise({ code, stdout, stderr: stderr || (error && typeof error.code !== 'number' ? error.message : '') });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Why the harness cannot run here, or null when it can. Tests skip with this message. */
export async function systemdNsUnavailableReason(): Promise<string | null> {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root to create namespaces and mounts';
  const probe = await run('unshare', ['--pid', '--fork', '--mount', 'true'], { timeoutMs: 10_000 });
  if (probe.code !== 0) return `cannot create namespaces (unshare --pid --fork --mount true: ${probe.stderr.trim() || probe.code})`;
  for (const tool of ['nsenter', 'chroot', 'mount']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) return `${tool} not installed`;
  }
  if (!rootfsCurrent() && (await run('sh', ['-c', 'command -v debootstrap'])).code !== 0) {
    return 'no current cached rootfs and debootstrap not installed (Debian package debootstrap)';
  }
  return null;
}

/**
 * The Debian mirror this machine's apt uses for its own release (deb822 `.sources` files and
 * one-line `sources.list`), so the harness never hard-codes one. Security and update suites
 * are skipped: debootstrap wants the main archive.
 */
export function aptMirror(codename: string, sourcesRoot = '/etc/apt'): string | null {
  const candidates: { uri: string; suites: string[] }[] = [];
  const files: string[] = [];
  if (existsSync(join(sourcesRoot, 'sources.list'))) files.push(join(sourcesRoot, 'sources.list'));
  const dir = join(sourcesRoot, 'sources.list.d');
  if (existsSync(dir)) for (const name of readdirSync(dir).sort()) files.push(join(dir, name));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (key: string): string[] =>
          new RegExp(`^${key}:\\s*(.*)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        if (!field('Types').includes('deb') || /^Enabled:\s*no/im.test(stanza)) continue;
        for (const uri of field('URIs')) candidates.push({ uri, suites: field('Suites') });
      }
    } else if (file.endsWith('.list')) {
      for (const line of text.split('\n')) {
        const match = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (match?.[1] && match[2]) candidates.push({ uri: match[1], suites: [match[2]] });
      }
    }
  }
  const hit = candidates.find((c) => c.suites.includes(codename) && /^https?:\/\//.test(c.uri));
  return hit?.uri ?? null;
}

function hostCodename(): string {
  const osRelease = readFileSync('/etc/os-release', 'utf8');
  return /^VERSION_CODENAME=(\S+)/m.exec(osRelease)?.[1] ?? 'bookworm';
}

/**
 * The cached rootfs, debootstrapped on first use (~35 s on a quiet machine, ~3 min on a busy
 * one; ~250 MB). A lock directory keeps two test files from building it at once; it is built
 * beside the cache and renamed, so a half-built rootfs is never used.
 */
export async function ensureRootfs(log: (line: string) => void = () => {}): Promise<{ builtMs: number | null }> {
  if (rootfsCurrent()) return { builtMs: null };
  const lock = `${rootfsCacheDir}.lock`;
  await mkdir(dirname(rootfsCacheDir), { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (rootfsCurrent()) return { builtMs: null };
      const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > 15 * 60_000) await rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error('timed out waiting for another process to build the rootfs');
      await sleep(2000);
    }
  }
  try {
    if (rootfsCurrent()) return { builtMs: null };
    const codename = 'bookworm';
    const mirror = aptMirror(codename) ?? aptMirror(hostCodename());
    if (mirror === null) throw new Error(`no apt source for ${codename} in /etc/apt; cannot pick a debootstrap mirror`);
    const partial = `${rootfsCacheDir}.partial`;
    await rm(partial, { recursive: true, force: true });
    log(`debootstrap ${codename} from ${mirror}`);
    const started = Date.now();
    const result = await run(
      'debootstrap',
      ['--variant=minbase', `--include=${rootfsPackages.join(',')}`, codename, partial, mirror],
      { timeoutMs: 14 * 60_000 },
    );
    if (result.code !== 0) throw new Error(`debootstrap failed (${result.code}): ${result.stderr.slice(-2000)}`);
    await writeFile(join(partial, '.scout-packages'), stampText);
    await rm(rootfsCacheDir, { recursive: true, force: true });
    await rename(partial, rootfsCacheDir);
    return { builtMs: Date.now() - started };
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

export interface BootOptions {
  /** Shell run with `chroot ROOT sh -c` before systemd starts (users, groups, files). Default: a scout user. */
  readonly setup?: string;
  /** How long to wait for `systemctl is-system-running` to settle. */
  readonly bootTimeoutMs?: number;
  readonly log?: (line: string) => void;
  /** Host directories to bind into the running system (e.g. a PulseAudio socket's directory). */
  readonly binds?: readonly { readonly host: string; readonly inside: string; readonly readOnly?: boolean }[];
}

/** Creates the unit's user and groups the way provisioning does on the Pi. */
export const defaultSetup = [
  'getent group gpio >/dev/null || groupadd --system gpio',
  'getent group input >/dev/null || groupadd --system input',
  'getent group video >/dev/null || groupadd --system video',
  'id scout >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/scout --shell /usr/sbin/nologin scout',
].join('\n');

export interface UnitState {
  readonly [property: string]: string;
}

export class SystemdNamespace {
  private unshareProcess: ChildProcess | null = null;
  private pid1Host: number | null = null;
  private stopped = false;
  private unshareExited: Promise<void> = Promise.resolve();
  private stderrTail = '';

  /** Boot time, ms (from spawn to `is-system-running` settled). */
  bootMs = 0;
  /** Shutdown time, ms, and whether systemd halted by itself (false: it needed SIGKILL). */
  shutdownMs = 0;
  haltedCleanly = false;

  private constructor(
    private readonly workDir: string,
    private readonly options: BootOptions,
  ) {}

  /** The merged root, as a path inside the namespace's mount namespace. */
  get rootInside(): string {
    return join(this.workDir, 'root');
  }

  /** PID 1 of the namespace as the host sees it. */
  get hostPid1(): number {
    if (this.pid1Host === null) throw new Error('systemd namespace not booted');
    return this.pid1Host;
  }

  /** The running system's `/`, seen from the host (through /proc/<pid>/root). */
  get hostViewOfRoot(): string {
    return `/proc/${this.hostPid1}/root`;
  }

  static async boot(options: BootOptions = {}): Promise<SystemdNamespace> {
    await ensureRootfs(options.log);
    const workDir = await mkdtemp(join(tmpdir(), 'scout-systemd-'));
    const ns = new SystemdNamespace(workDir, options);
    try {
      await ns.start();
    } catch (error) {
      await ns.shutdown();
      throw error;
    }
    return ns;
  }

  private async start(): Promise<void> {
    const nodeBinary = realpathSync(process.execPath);
    const script = `#!/bin/sh
set -eu
W=${shellQuote(this.workDir)}
R="$W/root"
mkdir -p "$W/upper" "$W/work" "$R"
mount -t overlay overlay -o lowerdir=${shellQuote(rootfsCacheDir)},upperdir="$W/upper",workdir="$W/work" "$R"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
touch "$R/usr/bin/node"
mount --bind ${shellQuote(nodeBinary)} "$R/usr/bin/node"
mkdir -p "$R${projectDirInside}"
mount --bind ${shellQuote(projectDir)} "$R${projectDirInside}"
mount -o remount,bind,ro "$R${projectDirInside}"
${(this.options.binds ?? [])
  .map((b) => {
    const target = `"$R"${shellQuote(b.inside)}`;
    return `mkdir -p ${target}\nmount --bind ${shellQuote(b.host)} ${target}${b.readOnly ? `\nmount -o remount,bind,ro ${target}` : ''}\n`;
  })
  .join('')}chroot "$R" /bin/sh -c ${shellQuote(this.options.setup ?? defaultSetup)}
# No getty on a console we do not have; no udev in a container.
chroot "$R" systemctl mask --quiet console-getty.service getty@tty1.service systemd-udevd.service systemd-udev-trigger.service 2>/dev/null || true
echo scout-ns > "$R/etc/hostname"
exec chroot "$R" /usr/bin/env -i container=other TERM=dumb /lib/systemd/systemd --log-target=console --log-level=warning
`;
    const scriptPath = join(this.workDir, 'boot.sh');
    await writeFile(scriptPath, script, { mode: 0o755 });
    const started = Date.now();
    // --kill-child: if this unshare dies, its child (our PID 1) gets SIGKILL, taking the namespace with it.
    const child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount', '--uts', '--ipc', '--propagation', 'private', scriptPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.unshareProcess = child;
    this.unshareExited = new Promise((r) => child.once('exit', () => r()));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
    });
    const unsharePid = child.pid;
    if (unsharePid === undefined) throw new Error('could not spawn unshare');

    // The forked child of unshare is PID 1 inside; wait until it has exec'd systemd.
    const deadline = Date.now() + (this.options.bootTimeoutMs ?? 60_000);
    while (this.pid1Host === null) {
      if (child.exitCode !== null) throw new Error(`namespace boot script exited ${child.exitCode}: ${this.stderrTail}`);
      const pid = childPidOf(unsharePid);
      if (pid !== null && readComm(pid) === 'systemd') this.pid1Host = pid;
      else if (Date.now() > deadline) throw new Error(`systemd did not start: ${this.stderrTail}`);
      else await sleep(50);
    }
    for (;;) {
      const state = (await this.exec(['systemctl', 'is-system-running'])).stdout.trim();
      if (state === 'running' || state === 'degraded') break;
      if (child.exitCode !== null) throw new Error(`systemd exited during boot: ${this.stderrTail}`);
      if (Date.now() > deadline) throw new Error(`systemd did not finish booting (state "${state}"): ${this.stderrTail}`);
      await sleep(100);
    }
    this.bootMs = Date.now() - started;
  }

  /** Runs a command inside the namespace (mount + pid namespaces, chrooted). */
  exec(args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    return run('nsenter', ['-t', String(this.hostPid1), '-m', '-p', '--', 'chroot', this.rootInside, ...args], options);
  }

  /** `systemctl <args>`; rejects on a non-zero exit unless `allowFailure`. */
  async systemctl(args: readonly string[], options: { allowFailure?: boolean } = {}): Promise<RunResult> {
    const result = await this.exec(['systemctl', '--no-pager', ...args]);
    if (result.code !== 0 && !options.allowFailure) {
      throw new Error(`systemctl ${args.join(' ')} exited ${result.code}: ${result.stderr}${result.stdout}`);
    }
    return result;
  }

  /** Unit properties (`systemctl show -p`), e.g. ActiveState, SubState, Result, NRestarts, StatusText, MainPID. */
  async show(unit: string, properties: readonly string[]): Promise<UnitState> {
    const result = await this.systemctl(['show', unit, ...properties.flatMap((p) => ['-p', p])]);
    const state: Record<string, string> = {};
    for (const line of result.stdout.split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) state[line.slice(0, at)] = line.slice(at + 1);
    }
    return state;
  }

  /** MainPID as seen inside the namespace; null when the unit has no main process. */
  async mainPid(unit: string): Promise<number | null> {
    const pid = Number((await this.show(unit, ['MainPID'])).MainPID ?? '0');
    return pid > 0 ? pid : null;
  }

  /**
   * The host pid of a process in the namespace. Pid namespaces number processes twice: kill
   * from the host needs the host pid (`NSpid:` in /proc/<pid>/status lists host pid first).
   */
  hostPidOf(pidInside: number): number | null {
    const ourNs = safeReadlink(`/proc/${this.hostPid1}/ns/pid`);
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      if (safeReadlink(`/proc/${entry}/ns/pid`) !== ourNs) continue;
      let status: string;
      try {
        status = readFileSync(`/proc/${entry}/status`, 'utf8');
      } catch {
        continue;
      }
      const ids = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number);
      if (ids && ids[ids.length - 1] === pidInside) return ids[0] ?? null;
    }
    return null;
  }

  /** Host pid of a unit's main process. */
  async hostMainPid(unit: string): Promise<number | null> {
    const inside = await this.mainPid(unit);
    return inside === null ? null : this.hostPidOf(inside);
  }

  /**
   * Installs a unit (copied from a host file) under /etc/systemd/system, with an optional
   * drop-in (`<unit>.d/50-test.conf`) to adapt paths, then reloads systemd.
   */
  async installUnit(unitFile: string, dropIn?: string, unitName?: string): Promise<string> {
    const name = unitName ?? unitFile.split('/').pop() ?? 'test.service';
    const dir = join(this.hostViewOfRoot, 'etc/systemd/system');
    await writeFile(join(dir, name), await readFile(unitFile));
    if (dropIn !== undefined) {
      await mkdir(join(dir, `${name}.d`), { recursive: true });
      await writeFile(join(dir, `${name}.d`, '50-test.conf'), dropIn);
    }
    await this.systemctl(['daemon-reload']);
    return name;
  }

  /** Writes a file into the running system (parents created), owned by `user` (a name from its /etc/passwd) if given. */
  async writeFileInside(pathInside: string, data: string | Uint8Array, user?: string): Promise<void> {
    const target = join(this.hostViewOfRoot, pathInside);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, data);
    if (user !== undefined) {
      const result = await this.exec(['chown', '-R', `${user}:`, dirname(pathInside)]);
      if (result.code !== 0) throw new Error(`chown ${user} ${pathInside}: ${result.stderr}`);
    }
  }

  /** Polls `show` until `predicate` holds; returns the last state or throws with it on timeout. */
  async waitFor(unit: string, properties: readonly string[], predicate: (s: UnitState) => boolean, timeoutMs: number): Promise<UnitState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.show(unit, properties);
      if (predicate(state)) return state;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${unit}: ${JSON.stringify(state)}`);
      await sleep(100);
    }
  }

  /** The unit's journal, if journald kept one (it may stay empty in this setup). */
  async journal(unit: string): Promise<string> {
    return (await this.exec(['journalctl', '--no-pager', '-o', 'cat', '-u', unit])).stdout;
  }

  /**
   * Powers the namespace off and removes its files. Safe to call twice and after a failed boot.
   * SIGRTMIN+3 asks systemd to halt; after 15 s SIGKILL of PID 1 ends every process in the pid
   * namespace, and the mount namespace with all its mounts goes with it.
   */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const started = Date.now();
    const child = this.unshareProcess;
    if (child && child.exitCode === null && child.signalCode === null) {
      if (this.pid1Host !== null) {
        // Node's process.kill() knows no real-time signal names; kill(1) does.
        await run('kill', ['-s', 'RTMIN+3', String(this.pid1Host)]);
      }
      const exited = await Promise.race([this.unshareExited.then(() => true), sleep(15_000).then(() => false)]);
      this.haltedCleanly = exited;
      if (!exited) {
        if (this.pid1Host !== null) safeKill(this.pid1Host, 'SIGKILL');
        safeKill(child.pid, 'SIGKILL');
        await Promise.race([this.unshareExited, sleep(5000)]);
      }
    }
    await rm(this.workDir, { recursive: true, force: true });
    this.shutdownMs = Date.now() - started;
  }
}

function childPidOf(pid: number): number | null {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : null;
  } catch {
    return null;
  }
}

function readComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

function safeReadlink(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

function safeKill(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
