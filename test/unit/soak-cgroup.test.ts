import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cgroupMemoryOf } from '../../bench/soak/cgroup.js';

let root: string;
const put = (path: string, text: string): void => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'scout-cgroup-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("the soak's view of the unit's memory cgroup", () => {
  it('reads cgroup v1: the memory hierarchy, limit, peak and failcnt', () => {
    put('proc/42/cgroup', '9:name=systemd:/system.slice/scout.service\n4:memory:/system.slice/scout.service\n0::/system.slice/scout.service\n');
    put('sys/memory/system.slice/scout.service/memory.limit_in_bytes', '225443840\n');
    put('sys/memory/system.slice/scout.service/memory.max_usage_in_bytes', '190000000\n');
    put('sys/memory/system.slice/scout.service/memory.failcnt', '3\n');
    expect(cgroupMemoryOf(42, join(root, 'sys'), join(root, 'proc'))).toEqual({
      version: 1,
      path: '/system.slice/scout.service',
      limitBytes: 215 * 1_048_576,
      peakBytes: 190_000_000,
      limitHits: 3,
    });
  });

  it('reads cgroup v2: memory.max, memory.peak and oom_kill; "max" is no limit', () => {
    put('proc/7/cgroup', '0::/system.slice/scout.service\n');
    put('sys/system.slice/scout.service/memory.max', 'max\n');
    put('sys/system.slice/scout.service/memory.peak', '123456\n');
    put('sys/system.slice/scout.service/memory.events', 'low 0\nhigh 5\nmax 2\noom 1\noom_kill 1\n');
    expect(cgroupMemoryOf(7, join(root, 'sys'), join(root, 'proc'))).toEqual({
      version: 2,
      path: '/system.slice/scout.service',
      limitBytes: null,
      peakBytes: 123456,
      limitHits: 1,
    });
  });

  it('says null for a process that is gone or has no readable memory cgroup', () => {
    expect(cgroupMemoryOf(99, join(root, 'sys'), join(root, 'proc'))).toBeNull();
    put('proc/8/cgroup', '0::/somewhere\n');
    expect(cgroupMemoryOf(8, join(root, 'sys'), join(root, 'proc'))).toBeNull();
  });

});
