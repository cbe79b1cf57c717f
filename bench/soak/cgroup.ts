/**
 * The memory cgroup systemd put the unit in, read from the host: whether `MemoryMax=` is really
 * enforced there, the highest charge it saw (RSS of every process in the unit plus the page cache
 * it touched), and whether the limit was ever hit. A witness beside the soak's own /proc sums.
 * cgroup v2 (unified) and v1 (the memory controller's hierarchy) both occur on the machines the
 * soak runs on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupMemory {
  readonly version: 1 | 2;
  /** The cgroup's path, as /proc/<pid>/cgroup names it. */
  readonly path: string;
  /** The enforced limit, bytes; null = unlimited. */
  readonly limitBytes: number | null;
  /** The highest charge seen, bytes; null where the kernel does not keep it (v2 before 5.19). */
  readonly peakBytes: number | null;
  /** Times the limit was hit (v1 failcnt) or the OOM killer ran in it (v2 oom_kill). */
  readonly limitHits: number;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function bytes(text: string | null): number | null {
  if (text === null || text === 'max') return null;
  const n = Number(text);
  // v1 says "unlimited" with a page-rounded LONG_MAX.
  return Number.isFinite(n) && n < 2 ** 62 ? n : null;
}

/** The memory cgroup of a process (host pid), or null when it has none we can read. */
export function cgroupMemoryOf(pid: number, sysRoot = '/sys/fs/cgroup', procRoot = '/proc'): CgroupMemory | null {
  const lines = read(join(procRoot, String(pid), 'cgroup'))?.split('\n') ?? [];
  const v1 = lines.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes('memory'));
  if (v1?.[2] !== undefined) {
    const dir = join(sysRoot, 'memory', v1[2]);
    const limit = read(join(dir, 'memory.limit_in_bytes'));
    if (limit === null) return null;
    return {
      version: 1,
      path: v1[2],
      limitBytes: bytes(limit),
      peakBytes: bytes(read(join(dir, 'memory.max_usage_in_bytes'))),
      limitHits: Number(read(join(dir, 'memory.failcnt')) ?? 0),
    };
  }
  const v2 = lines.map((l) => l.split(':')).find((f) => f[0] === '0' && f[1] === '');
  if (v2?.[2] !== undefined) {
    const dir = join(sysRoot, v2[2]);
    const limit = read(join(dir, 'memory.max'));
    if (limit === null) return null;
    const oomKills = /^oom_kill (\d+)$/m.exec(read(join(dir, 'memory.events')) ?? '')?.[1];
    return { version: 2, path: v2[2], limitBytes: bytes(limit), peakBytes: bytes(read(join(dir, 'memory.peak'))), limitHits: Number(oomKills ?? 0) };
  }
  return null;
}
