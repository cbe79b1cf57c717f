import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/**
 * A real ext4 on a loop device, mounted `errors=remount-ro` as a Pi's root is: the first error
 * the kernel finds turns it read-only, and from then on every write, fsync and commit fails with
 * EROFS, as on an SD card that has gone bad. `fail()` raises such an error through ext4's own
 * test hook. Needs root (losetup, mount). Apart from the tests' helpers so that `npm run faults`
 * can use it too.
 */
/** A card that can be made to fail mid-take and then repaired the way a person would. */
export interface FailingCard {
  readonly mountPoint: string;
  /** Why it could not be made or mounted, or null (feed it to `missingCapability`). */
  readonly problem: string | null;
  /** The card fails now. */
  fail(): void;
  /** Unmount, `e2fsck -fy`, mount again. Returns fsck's exit code (0 clean, 1 fixed). */
  repair(): number | null;
  dispose(): void;
}

export interface Ext4Loop extends FailingCard {
  readonly mountPoint: string;
  /** Why it could not be made or mounted, or null (feed it to `missingCapability`). */
  readonly problem: string | null;
  /** The kernel's error: the file system turns read-only now. */
  fail(): void;
  /** What a person does with such a card: unmount, `e2fsck -fy`, mount again. Returns fsck's exit code (0 clean, 1 fixed). */
  repair(): number | null;
  /** Unmounts and removes the image. */
  dispose(): void;
}

/** Runs a command to the end: its exit status and its output (stdout, stderr, or the spawn error). */
export function run(command: string, args: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() || String(result.error ?? '') };
}

/** mkfs.ext4 on an image or device; why it failed, or null. */
export function formatExt4(device: string): string | null {
  const mkfs = run('mkfs.ext4', ['-q', '-F', device]);
  return mkfs.status === 0 ? null : `mkfs.ext4: ${mkfs.output}`;
}

/** Mounts an ext4 image or device through a loop device, `errors=remount-ro` as a Pi's root is; why not, or null. */
export function mountLoop(device: string, mountPoint: string): string | null {
  const mounted = run('mount', ['-o', 'loop,errors=remount-ro', device, mountPoint]);
  return mounted.status === 0 ? null : `mount -o loop: ${mounted.output}`;
}

/**
 * What a person does with a card that failed: unmount, `e2fsck -fy`, mount again (`mount` says why
 * it could not, or null). Returns fsck's exit code (0 clean, 1 fixed).
 */
export function fsckAndRemount(device: string, mountPoint: string, mount: () => string | null): number | null {
  const unmounted = run('umount', [mountPoint]);
  if (unmounted.status !== 0) throw new Error(`umount ${mountPoint}: ${unmounted.output}`);
  const fsck = run('e2fsck', ['-fy', device]);
  const remounted = mount();
  if (remounted !== null) throw new Error(remounted);
  return fsck.status;
}

export function mountExt4Loop(name: string, sizeMb = 64): Ext4Loop {
  const mountPoint = join(tmpdir(), `scout-${name}-${process.pid}`);
  const image = `${mountPoint}.img`;
  const mount = (): string | null => mountLoop(image, mountPoint);
  const make = (): string | null => {
    mkdirSync(mountPoint, { recursive: true });
    const made = run('truncate', ['-s', `${sizeMb}M`, image]);
    if (made.status !== 0) return `truncate: ${made.output}`;
    return formatExt4(image) ?? mount();
  };
  const problem = make();
  return {
    mountPoint,
    problem,
    fail: () => {
      const device = basename(run('findmnt', ['-n', '-o', 'SOURCE', mountPoint]).output);
      writeFileSync(`/sys/fs/ext4/${device}/trigger_fs_error`, 'scout: the card failed\n');
    },
    repair: () => fsckAndRemount(image, mountPoint, mount),
    dispose: () => {
      run('umount', ['-l', mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
      rmSync(image, { force: true });
    },
  };
}

/** The mount options now (`ro`/`emergency_ro` once the kernel has turned it read-only). */
export function mountOptions(mountPoint: string): string {
  return run('findmnt', ['-n', '-o', 'OPTIONS', mountPoint]).output;
}
