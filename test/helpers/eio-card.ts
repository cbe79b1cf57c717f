import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatExt4, fsckAndRemount, mountLoop, run, type FailingCard } from './ext4-loop.js';

/**
 * A card whose writes start failing with EIO, as a dying SD card's do, from real parts: nbdkit's
 * memory disk behind its error filter, exposed as a file by nbdfuse, under an ext4 on a loop
 * device mounted `errors=remount-ro` as a Pi's root is. `fail()` creates the filter's
 * trigger file: from then on every write the block layer sends fails with EIO (reads still work).
 * The kernel hands the first one to fsync/fdatasync as EIO, then aborts the journal and turns the
 * file system read-only: the order a failing card gives. `repair()` is what a person does after:
 * writes work again, unmount, `e2fsck -fy`, mount. Needs root, /dev/fuse, nbdkit and nbdfuse.
 */
export interface EioCard extends FailingCard {
  /** From now on every write to the card fails with EIO. */
  fail(): void;
  /** Writes work again; then unmount, fsck, mount. Returns fsck's exit code (0 clean, 1 fixed). */
  repair(): number | null;
}

export function makeEioCard(name: string, sizeMb = 64): EioCard {
  const base = join(tmpdir(), `scout-${name}-${process.pid}`);
  const fuseDir = `${base}-nbd`;
  const device = join(fuseDir, 'nbd');
  const trigger = `${base}-fail-writes`;
  const mountPoint = base;
  let nbdfuse: ChildProcess | null = null;
  const mount = (): string | null => mountLoop(device, mountPoint);
  const make = (): string | null => {
    for (const tool of ['nbdkit', 'nbdfuse']) {
      if (run('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} not installed (Debian packages nbdkit, libnbd-bin)`;
    }
    if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
    rmSync(trigger, { force: true });
    mkdirSync(fuseDir, { recursive: true });
    mkdirSync(mountPoint, { recursive: true });
    nbdfuse = spawn(
      'nbdfuse',
      [fuseDir, '--command', 'nbdkit', '-s', '--filter=error', 'memory', `${sizeMb}M`, 'error-pwrite=EIO', 'error-pwrite-rate=100%', `error-pwrite-file=${trigger}`],
      // nbdkit logs every injected error on stderr: many lines, nothing the test reads.
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    while (!existsSync(device)) {
      if (Date.now() > deadline || nbdfuse.exitCode !== null) return `nbdfuse did not expose ${device}`;
      spawnSync('sleep', ['0.05']);
    }
    return formatExt4(device) ?? mount();
  };
  const problem = make();
  return {
    mountPoint,
    problem,
    fail: () => writeFileSync(trigger, ''),
    repair: () => {
      rmSync(trigger, { force: true });
      return fsckAndRemount(device, mountPoint, mount);
    },
    dispose: () => {
      rmSync(trigger, { force: true });
      run('umount', ['-l', mountPoint]);
      run('umount', ['-l', fuseDir]);
      nbdfuse?.kill('SIGTERM');
      rmSync(mountPoint, { recursive: true, force: true });
      rmSync(fuseDir, { recursive: true, force: true });
    },
  };
}
