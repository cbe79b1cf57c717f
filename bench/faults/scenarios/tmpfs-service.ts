/** The real service on a small tmpfs of its own, with thresholds that fit it. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { mountTmpfs, unmountTmpfs } from '../../../test/helpers/tmpfs.js';
import { startRealService, type RealService, type RunContext } from '../harness.js';

export const TMPFS_CONFIG = {
  // No reservation and no reserve stop: the next write after the fill meets ENOSPC itself.
  recorder: { minFreeMb: 1, stopReserveMb: 0, reserveAheadMb: 0 },
  degradation: { diskFreeMinMbDefer: 2 },
};

export interface TmpfsService {
  readonly real: RealService;
  readonly mountPoint: string;
}

export async function startOnTmpfs(ctx: RunContext, name: string): Promise<TmpfsService> {
  const { mountPoint, problem } = mountTmpfs(`${name}-${Date.now()}`, 64);
  if (problem !== null) throw new Error(`needs a tmpfs mount (root): ${problem}`);
  try {
    const real = await startRealService(ctx, name, { dataDir: join(mountPoint, 'data'), config: TMPFS_CONFIG });
    return { real, mountPoint };
  } catch (error) {
    unmountTmpfs(mountPoint);
    throw error;
  }
}

export function freeSpace(fillers: readonly string[]): void {
  for (const path of fillers) rmSync(path, { force: true });
}

export async function stopOnTmpfs(env: TmpfsService | null): Promise<void> {
  if (env === null) return;
  await env.real.service.stop();
  unmountTmpfs(env.mountPoint);
}
