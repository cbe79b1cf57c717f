/**
 * The Pi's userland on an x86-64 machine: a Debian trixie arm64 rootfs (scripts/pi/arm64-root.sh)
 * whose binaries run through binfmt_misc + qemu-user-static, with `QEMU_CPU` choosing the core
 * qemu emulates (cortex-a72 = Pi 4, cortex-a76 = Pi 5). An instruction the chosen core lacks
 * raises SIGILL in the emulated process, exactly as on the board.
 *
 * Every run mounts an overlay over the cached tree in a private mount namespace
 * (`unshare --mount`), so nothing a test does reaches the cache, two test files never share
 * state, and the mounts vanish with the process. The overlay's upper dir is kept per session:
 * it is the exact list of what the commands changed in the tree (install-pi.sh's idempotence
 * test reads it). Host paths are bound at the same path inside, so configs and temp files need
 * no translation. The command is exec'd all the way down (unshare, sh, chroot, env), so the
 * child the test holds IS the emulated process: its exit signal is the guest's.
 *
 * Caches live outside the clone (CI clones afresh on the same machine):
 * `${SCOUT_CACHE_DIR:-/var/cache/scout-ci}/pi/`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from './scout-process.js';

export const piCacheDir = join(process.env.SCOUT_CACHE_DIR ?? '/var/cache/scout-ci', 'pi');

export type Board = 'pi4' | 'pi5';
/** The qemu core that stands for each board (Pi 4: BCM2711, Cortex-A72; Pi 5: BCM2712, Cortex-A76). */
export const QEMU_CPU: Readonly<Record<Board, string>> = { pi4: 'cortex-a72', pi5: 'cortex-a76' };

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a host command; never rejects (the result carries the exit code or signal). */
export function runHost(cmd: string, args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolvePromise) => {
    execFile(
      cmd,
      args,
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env, cwd: options.cwd, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const err = error as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals | null }) | null;
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        const signal = err?.signal ?? null;
        resolvePromise({ code: err !== null && code === null && signal === null ? 1 : code, signal, stdout, stderr: stderr || (err && typeof err.code !== 'number' ? err.message : ''), ms: Date.now() - started });
      },
    );
  });
}

/** Why these tests cannot run here, or null when they can. */
export async function arm64Unavailable(): Promise<string | null> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `not an x86-64 Linux machine (${process.platform}/${process.arch})`;
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, mount namespaces, chroot)';
  let binfmt = '';
  try {
    binfmt = readFileSync('/proc/sys/fs/binfmt_misc/qemu-aarch64', 'utf8');
  } catch {
    return 'binfmt qemu-aarch64 not registered (Debian package qemu-user-static; update-binfmts --enable qemu-aarch64)';
  }
  if (!/^enabled/m.test(binfmt) || !/^flags:.*F/m.test(binfmt)) {
    return 'binfmt qemu-aarch64 is not enabled with the F flag (update-binfmts --enable qemu-aarch64)';
  }
  for (const tool of ['unshare', 'chroot', 'debootstrap', 'aarch64-linux-gnu-g++', 'cmake']) {
    if ((await runHost('sh', ['-c', `command -v ${tool}`])).code !== 0) return `${tool} not installed (provisioning/dev-setup.sh)`;
  }
  return null;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

let rootfs: Promise<string> | null = null;

/** The cached rootfs path; debootstraps it on first use (cold: ~10 min on 2 busy cores). */
export function ensureArm64Root(): Promise<string> {
  rootfs ??= runHost('bash', [join(PROJECT_ROOT, 'scripts/pi/arm64-root.sh')], { timeoutMs: 40 * 60_000 }).then((r) => {
    if (r.code !== 0) throw new Error(`arm64-root.sh failed (${r.code ?? r.signal}): ${r.stderr.slice(-3000)}`);
    return lastLine(r.stdout);
  });
  return rootfs;
}

const whisperBuilds = new Map<Board, Promise<string>>();

/**
 * whisper.cpp cross-compiled for a board (scripts/build-whisper.sh --board B --cross aarch64),
 * cached under piCacheDir/whisper/<key>. Returns the bin dir (host path).
 */
export function ensurePiWhisper(board: Board): Promise<string> {
  let build = whisperBuilds.get(board);
  if (build === undefined) {
    build = runHost('nice', ['-n', '10', 'bash', join(PROJECT_ROOT, 'scripts/build-whisper.sh'), '--quiet', '--board', board, '--cross', 'aarch64'], {
      timeoutMs: 40 * 60_000,
      env: { ...process.env, SCOUT_CACHE_DIR: piCacheDir },
    }).then((r) => {
      if (r.code !== 0) throw new Error(`build-whisper.sh --board ${board} failed (${r.code ?? r.signal}): ${r.stderr.slice(-3000)}`);
      return lastLine(r.stdout);
    });
    whisperBuilds.set(board, build);
  }
  return build;
}

let nodeModules: Promise<string> | null = null;

/**
 * The production node_modules for arm64, native addons cross-compiled against the rootfs's Node
 * headers (scripts/pi/arm64-node-modules.sh), cached by lockfile. Returns the dir holding node_modules.
 */
export function ensureArm64NodeModules(root: string): Promise<string> {
  nodeModules ??= runHost('bash', [join(PROJECT_ROOT, 'scripts/pi/arm64-node-modules.sh'), root], { timeoutMs: 30 * 60_000 }).then((r) => {
    if (r.code !== 0) throw new Error(`arm64-node-modules.sh failed (${r.code ?? r.signal}): ${r.stderr.slice(-3000)}`);
    return lastLine(r.stdout);
  });
  return nodeModules;
}

export interface Bind {
  /** Host path (file or directory), bound at `inside` (default: the same path). */
  readonly host: string;
  readonly inside?: string;
  readonly readOnly?: boolean;
}

export interface RootCommand {
  readonly argv: readonly string[];
  /** The emulated core (QEMU_CPU); every arm64 process started inside inherits it. */
  readonly cpu: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory inside the root. */
  readonly cwd?: string;
  readonly timeoutMs?: number;
}

export interface RootSession {
  /** The overlay's upper dir: every file the commands created, changed or deleted in the tree. */
  readonly upper: string;
  run(command: RootCommand): Promise<RunResult>;
  /** A long-running process; the child is the emulated process itself. */
  spawn(command: RootCommand): ChildProcess;
  cleanup(): Promise<void>;
}

// Mounts the overlay and the binds in the caller's (private) mount namespace, then execs the
// command in the chroot. Arguments: lower upper work merged nbinds [host inside ro]... cpu -- argv.
const MOUNT_AND_EXEC = String.raw`set -eu
lower=$1 upper=$2 work=$3 merged=$4 n=$5; shift 5
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$merged"
mount -t proc proc "$merged/proc"
mount --rbind /dev "$merged/dev"
mount --rbind /sys "$merged/sys"
mount -t tmpfs -o mode=1777 tmpfs "$merged/tmp"
if [ -f /etc/resolv.conf ]; then mount --bind /etc/resolv.conf "$merged/etc/resolv.conf" 2>/dev/null || true; fi
# This machine's trust store: its network may re-sign TLS (npm then fails with
# SELF_SIGNED_CERT_IN_CHAIN inside the tree with Debian's bundle alone).
ca=/etc/ssl/certs/ca-certificates.crt
if [ -f "$ca" ] && [ -f "$merged$ca" ]; then mount --bind "$ca" "$merged$ca"; fi
while [ "$n" -gt 0 ]; do
  host=$1 inside=$2 ro=$3; shift 3; n=$((n - 1))
  if [ -d "$host" ]; then mkdir -p "$merged$inside"; else mkdir -p "$(dirname "$merged$inside")"; [ -e "$merged$inside" ] || : > "$merged$inside"; fi
  mount --bind "$host" "$merged$inside"
  if [ "$ro" = 1 ]; then mount -o remount,bind,ro "$merged$inside"; fi
done
cpu=$1; shift 2
exec chroot "$merged" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 QEMU_CPU="$cpu" "$@"
`;

/**
 * A session over the cached root with a fresh overlay upper dir. `binds` are mounted for every
 * command of the session.
 */
export async function openRootSession(root: string, binds: readonly Bind[] = []): Promise<RootSession> {
  const dir = await mkdtemp(join(tmpdir(), 'scout-arm64-'));
  const upper = join(dir, 'upper');
  const work = join(dir, 'work');
  const merged = join(dir, 'merged');
  await runHost('mkdir', ['-p', upper, work, merged]);

  const argvFor = (command: RootCommand): string[] => {
    const bindArgs = binds.flatMap((b) => [b.host, b.inside ?? b.host, b.readOnly === true ? '1' : '0']);
    const envArgs = Object.entries(command.env ?? {}).map(([k, v]) => `${k}=${v}`);
    // env(1) inside the chroot runs `sh -c 'cd DIR && exec "$@"'` so the working directory is
    // set without another wrapper staying alive around the emulated process.
    const inner = ['sh', '-c', 'cd "$0" && exec "$@"', command.cwd ?? '/', ...command.argv];
    return [
      '--mount', '--propagation', 'private', 'sh', '-c', MOUNT_AND_EXEC, 'mount-and-exec',
      root, upper, work, merged, String(binds.length), ...bindArgs,
      command.cpu, '--', ...envArgs, ...inner,
    ];
  };

  return {
    upper,
    run: (command) => runHost('unshare', argvFor(command), { timeoutMs: command.timeoutMs ?? 120_000 }),
    spawn: (command) => spawn('unshare', argvFor(command), { stdio: ['ignore', 'pipe', 'pipe'], cwd: PROJECT_ROOT }),
    cleanup: async () => {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** True when a binary's disassembly contains an instruction of the given mnemonic. */
export async function binaryUses(binary: string, mnemonic: RegExp): Promise<boolean> {
  const r = await runHost('aarch64-linux-gnu-objdump', ['-d', '--no-show-raw-insn', binary], { timeoutMs: 5 * 60_000 });
  if (r.code !== 0) throw new Error(`objdump failed: ${r.stderr.slice(-500)}`);
  return r.stdout.split('\n').some((line) => mnemonic.test(line));
}
