import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A small tmpfs (root) to fill: real ENOSPC for the service under test. Apart from storage.ts so
 * that tools outside vitest (npm run faults) can use it.
 */

export interface Tmpfs {
  readonly mountPoint: string;
  /** Why it could not be mounted, or null (feed it to `missingCapability`). */
  readonly problem: string | null;
}

export function mountTmpfs(name: string, sizeMb = 48): Tmpfs {
  const mountPoint = join(tmpdir(), `scout-${name}-${process.pid}`);
  mkdirSync(mountPoint, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', mountPoint], { encoding: 'utf8' });
  if (mounted.status === 0) return { mountPoint, problem: null };
  rmSync(mountPoint, { recursive: true, force: true });
  return { mountPoint, problem: `mount -t tmpfs failed: ${mounted.stderr.trim() || String(mounted.error ?? mounted.status)}` };
}

export function unmountTmpfs(mountPoint: string): void {
  spawnSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
}

let fillers = 0;
/** Fills the file system to the last block with filler files; returns their paths. */
export function fillToTheLastBlock(dir: string): string[] {
  return ['1M', '4k'].map((bs) => {
    const path = join(dir, `filler-${fillers++}`);
    // dd ends with ENOSPC (non-zero status) once the file system is full: that is the point.
    spawnSync('dd', ['if=/dev/zero', `of=${path}`, `bs=${bs}`], { stdio: 'ignore' });
    return path;
  });
}
