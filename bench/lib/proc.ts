/**
 * /proc helpers for the benchmarks: memory of a process, CPU affinity, load average.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ProcMemory {
  /** Resident set now, kB. */
  readonly rssKb: number;
  /** Peak resident set (VmHWM), kB. */
  readonly hwmKb: number;
  /**
   * Anonymous resident memory, kB: what a cgroup's MemoryMax cannot reclaim. The file-backed rest
   * (binaries, libraries) is shared page cache, reclaimable and charged to whoever read it first.
   */
  readonly rssAnonKb: number;
  readonly rssFileKb: number;
}

/** VmRSS and VmHWM of a live process; null when it is gone. */
export function procMemory(pid: number): ProcMemory | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] === undefined ? 0 : Number.parseInt(match[1], 10);
  };
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM'), rssAnonKb: field('RssAnon'), rssFileKb: field('RssFile') + field('RssShmem') };
}

/** Direct children of a process (from /proc/<pid>/task/<pid>/children). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map((s) => Number.parseInt(s, 10));
  } catch {
    return [];
  }
}

export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * bench/run.ts pins every benchmark to one CPU (right for single-threaded JS loops). A benchmark
 * of a multi-threaded child (whisper.cpp with 2 threads) must undo that for itself and, through
 * inheritance, for the children it spawns; returns the CPU list now allowed.
 */
export async function unpinSelf(): Promise<string> {
  // Not availableParallelism(): that is the affinity mask we are about to widen.
  const all = `0-${cpus().length - 1}`;
  try {
    // -a: every thread of this process (libuv's pool and V8's helpers included).
    await run('taskset', ['-a', '-p', '-c', all, String(process.pid)]);
  } catch {
    // no taskset: nothing was pinned either
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  return /^Cpus_allowed_list:\s+(\S+)/m.exec(status)?.[1] ?? 'unknown';
}

export function loadAverage(): string {
  return loadavg()
    .map((v) => v.toFixed(2))
    .join(' / ');
}

/** Waits until the 1-minute load average drops below `max` (other engineers' tests), at most `timeoutMs`. */
export async function waitForQuiet(max: number, timeoutMs: number, log: (line: string) => void): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  while ((loadavg()[0] ?? 0) > max) {
    if (Date.now() > deadline) return false;
    if (!told) log(`waiting for load average < ${max} (now ${loadAverage()})`);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  return true;
}
