/**
 * ChildSupervisor on real child processes (`node -e ...`), real signals and real timing.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { ChildSupervisor, type ChildSupervisorOptions, type SupervisorEvent } from '../../src/util/child-supervisor.js';
import { captureLogger } from '../helpers/log-capture.js';

const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const supervisors: ChildSupervisor[] = [];

afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((supervisor) => supervisor.stop()));
});

/** A node child running `script`; its events land in `events`, each with the time it arrived. */
function supervise(script: string, overrides: Partial<ChildSupervisorOptions> = {}): { supervisor: ChildSupervisor; events: { atMs: number; event: SupervisorEvent }[] } {
  const events: { atMs: number; event: SupervisorEvent }[] = [];
  const supervisor = new ChildSupervisor({
    name: 'test-child',
    logger: silentLogger(),
    prepare: () => ({ command: process.execPath, args: ['-e', script] }),
    restart: { initialMs: 50, maxMs: 1000 },
    graceMs: 1000,
    onEvent: (event) => events.push({ atMs: performance.now(), event }),
    ...overrides,
  });
  supervisors.push(supervisor);
  return { supervisor, events };
}

function ofKind<K extends SupervisorEvent['kind']>(events: { atMs: number; event: SupervisorEvent }[], kind: K): { atMs: number; event: Extract<SupervisorEvent, { kind: K }> }[] {
  return events.filter((entry): entry is { atMs: number; event: Extract<SupervisorEvent, { kind: K }> } => entry.event.kind === kind);
}

/** Alive and not a zombie: a dead child whose new parent does not reap it still answers kill(pid, 0). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function until(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const FOREVER = 'setInterval(() => {}, 1000)';
/** Ignores SIGTERM; says so on stderr once the handler is in place. */
const IGNORES_SIGTERM = "process.on('SIGTERM', () => {}); process.stderr.write('armed\\n'); setInterval(() => {}, 1000)";

describe('ChildSupervisor readiness', () => {
  it('a child that never becomes ready is killed at the deadline and respawned through the backoff, not back to back', async () => {
    const readyTimeoutMs = 200;
    const initialMs = 300;
    const { supervisor, events } = supervise(FOREVER, {
      // Shorter than the ready timeout: a failed start must not count as a healthy run.
      restart: { initialMs, maxMs: 10_000, healthyAfterMs: 100 },
      ready: { timeoutMs: readyTimeoutMs, probe: () => Promise.resolve(false) },
    });
    await supervisor.start();
    await until('four spawns', () => ofKind(events, 'spawned').length >= 4, 10_000);

    const spawnedAt = ofKind(events, 'spawned').map((entry) => entry.atMs);
    const ended = ofKind(events, 'ended').map((entry) => entry.event);
    for (let n = 0; n < 3; n += 1) {
      const end = ended[n];
      expect(end?.end).toEqual({ kind: 'not-ready', timeoutMs: readyTimeoutMs });
      expect(end?.restart?.atOnce).toBe(false);
      // Full jitter (0.5): attempt n waits between half and all of initialMs * 2^n.
      const delayMs = end?.restart?.delayMs ?? 0;
      expect(delayMs).toBeGreaterThanOrEqual((initialMs * 2 ** n) / 2);
      expect(delayMs).toBeLessThanOrEqual(initialMs * 2 ** n);
      const gapMs = (spawnedAt[n + 1] ?? 0) - (spawnedAt[n] ?? 0);
      // Timer slop: setTimeout may fire a millisecond early against performance.now.
      expect(gapMs).toBeGreaterThanOrEqual(readyTimeoutMs + delayMs - 5);
      expect(gapMs).toBeLessThan(readyTimeoutMs + delayMs + 1000);
    }
    expect(supervisor.lastError).toBe(`test-child not ready after ${readyTimeoutMs} ms`);
    expect(supervisor.restarts).toBeGreaterThanOrEqual(3);
  }, 20_000);

  it('reports ready once the probe answers, and a ready child that dies is restarted with its exit as lastError', async () => {
    let probes = 0;
    const { supervisor, events } = supervise("process.stderr.write('boom: disk on fire\\n'); setTimeout(() => process.exit(3), 300)", {
      ready: { timeoutMs: 2000, pollMs: 20, probe: () => Promise.resolve(++probes >= 3) },
    });
    await supervisor.start();
    await until('an end', () => ofKind(events, 'ended').length >= 1);
    expect(ofKind(events, 'ready')).toHaveLength(1);
    expect(ofKind(events, 'ended')[0]?.event).toMatchObject({ end: { kind: 'exit', code: 3, signal: null }, exit: { code: 3, signal: null } });
    expect(supervisor.lastError).toBe('test-child exited with code 3: boom: disk on fire');
  });
});

describe('ChildSupervisor kill grace', () => {
  it('SIGKILLs a child that ignores SIGTERM after graceMs', async () => {
    const graceMs = 400;
    const armed: string[] = [];
    const { supervisor, events } = supervise(IGNORES_SIGTERM, { graceMs, onStderrLine: (line) => armed.push(line) });
    await supervisor.start();
    await until('the SIGTERM handler', () => armed.includes('armed'));
    const pid = supervisor.pid ?? 0;
    const stoppingAtMs = performance.now();
    await supervisor.stop();
    const tookMs = performance.now() - stoppingAtMs;
    expect(tookMs).toBeGreaterThanOrEqual(graceMs - 5);
    expect(tookMs).toBeLessThan(graceMs + 1000);
    expect(ofKind(events, 'ended')[0]?.event).toMatchObject({ end: { kind: 'planned', reason: 'stop' }, exit: { signal: 'SIGKILL' }, restart: null });
    expect(isAlive(pid)).toBe(false);
  });

  it('does not SIGKILL a child that exits on SIGTERM', async () => {
    const graceMs = 2000;
    const { supervisor, events } = supervise(FOREVER, { graceMs });
    await supervisor.start();
    await until('spawned', () => ofKind(events, 'spawned').length === 1);
    const stoppingAtMs = performance.now();
    await supervisor.stop();
    expect(performance.now() - stoppingAtMs).toBeLessThan(graceMs / 2);
    expect(ofKind(events, 'ended')[0]?.event.exit).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('fail() kills a stuck child through the grace and restarts it through the backoff, with the reason as lastError', async () => {
    const armed: string[] = [];
    const { supervisor, events } = supervise(IGNORES_SIGTERM, {
      graceMs: 200,
      restart: { initialMs: 300, maxMs: 1000, random: () => 0 },
      onStderrLine: (line) => armed.push(line),
    });
    await supervisor.start();
    await until('the SIGTERM handler', () => armed.includes('armed'));
    const gone = supervisor.fail('no output for 5000 ms (stall)');
    expect(supervisor.lastError).toBe('no output for 5000 ms (stall)');
    // Resolves once the child has gone: SIGTERM ignored, so only after the grace's SIGKILL.
    await gone;
    expect(ofKind(events, 'ended')).toHaveLength(1);
    expect(ofKind(events, 'spawned')).toHaveLength(1);
    await until('a second spawn', () => ofKind(events, 'spawned').length >= 2);
    const [first, second] = ofKind(events, 'spawned').map((entry) => entry.atMs);
    expect(ofKind(events, 'ended')[0]?.event).toMatchObject({ end: { kind: 'failed' }, exit: { signal: 'SIGKILL' }, restart: { atOnce: false, delayMs: 300 } });
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(200 + 300 - 5);
    expect(supervisor.lastError).toBe('no output for 5000 ms (stall)');
  });

  it('restartNow() respawns at once, without backoff, and stop() is safe to call twice', async () => {
    const { supervisor, events } = supervise(FOREVER, { restart: { initialMs: 5000, maxMs: 5000 } });
    await supervisor.start();
    await until('spawned', () => ofKind(events, 'spawned').length === 1);
    const firstPid = supervisor.pid ?? 0;
    await supervisor.restartNow('new settings');
    expect(isAlive(firstPid)).toBe(false);
    await until('respawned', () => ofKind(events, 'spawned').length === 2, 2000);
    expect(supervisor.restarts).toBe(1);
    expect(supervisor.lastError).toBeNull();
    const secondPid = supervisor.pid ?? 0;
    await Promise.all([supervisor.stop(), supervisor.stop()]);
    await supervisor.stop();
    expect(isAlive(secondPid)).toBe(false);
    expect(supervisor.pid).toBeNull();
  });
});

describe('ChildSupervisor spawn failures and stderr', () => {
  it('a missing program is reported as ENOENT and retried with growing backoff', async () => {
    const { logger, lines } = captureLogger();
    const { supervisor } = supervise('', {
      logger,
      prepare: () => ({ command: '/nonexistent/program', args: [] }),
      restart: { initialMs: 20, maxMs: 1000, random: () => 0 },
    });
    await supervisor.start();
    await until('three restarts', () => supervisor.restarts >= 3);
    expect(supervisor.lastError).toBe('cannot run /nonexistent/program: spawn /nonexistent/program ENOENT');
    const delays = lines.filter((line) => line.msg === 'test-child ended; restarting').map((line) => line.delayMs);
    expect(delays.slice(0, 3)).toEqual([20, 40, 80]);
  });

  it('the same ENOENT without setpriv (node reports it itself)', async () => {
    const { supervisor } = supervise('', { prepare: () => ({ command: '/nonexistent/program', args: [] }), setprivPath: null });
    await supervisor.start();
    await until('a restart', () => supervisor.restarts >= 1);
    expect(supervisor.lastError).toMatch(/^cannot run \/nonexistent\/program: spawn \/nonexistent\/program ENOENT/);
  });

  it('a throwing prepare() counts as a failed start, with its message as lastError', async () => {
    const { supervisor, events } = supervise('', {
      prepare: () => Promise.reject(new Error('model /models/x.bin is missing')),
    });
    await supervisor.start();
    await until('an end', () => ofKind(events, 'ended').length >= 1);
    expect(ofKind(events, 'ended')[0]?.event).toMatchObject({ end: { kind: 'spawn-error' }, exit: null, restart: { atOnce: false } });
    expect(supervisor.lastError).toBe('model /models/x.bin is missing');
  });

  it('logs a flood of stderr lines that differ only in numbers once, then one summary at stop', async () => {
    const { logger, lines } = captureLogger();
    const seen: string[] = [];
    const { supervisor } = supervise("for (let i = 0; i < 300; i++) process.stderr.write(`overrun ${i}.5 ms\\n`); setInterval(() => {}, 1000)", {
      logger,
      onStderrLine: (line) => seen.push(line),
    });
    await supervisor.start();
    await until('300 lines', () => seen.length >= 300);
    await supervisor.stop();
    const stderrLines = lines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('test-child stderr'));
    expect(stderrLines).toHaveLength(2);
    expect(stderrLines[0]).toMatchObject({ stderr: 'overrun 0.5 ms', level: 40 });
    expect(stderrLines[1]).toMatchObject({ suppressed: 299 });
  });
});

describe('ChildSupervisor parent death', () => {
  async function startParent(args: string[]): Promise<{ parentPid: number; childPid: number }> {
    const parent = spawn(process.execPath, ['--import', 'tsx', join(repoDir, 'test/helpers/supervised-parent.ts'), ...args], {
      cwd: repoDir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    parent.on('error', () => undefined);
    const childPid = await new Promise<number>((resolvePid, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`parent printed no child pid: ${out}`)), 15_000);
      parent.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        const match = /child (\d+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolvePid(Number(match[1]));
        }
      });
    });
    return { parentPid: parent.pid ?? 0, childPid };
  }

  it('the child dies within a second or two when the parent is SIGKILLed', async () => {
    const { parentPid, childPid } = await startParent([]);
    expect(isAlive(childPid)).toBe(true);
    process.kill(parentPid, 'SIGKILL');
    await until('the orphaned child to die', () => !isAlive(childPid), 2000);
  }, 30_000);

  it('without the parent-death signal the child outlives its parent (the control)', async () => {
    const { parentPid, childPid } = await startParent(['--no-pdeathsig']);
    try {
      process.kill(parentPid, 'SIGKILL');
      await until('the parent to die', () => !isAlive(parentPid), 2000);
      await new Promise((r) => setTimeout(r, 500));
      expect(isAlive(childPid)).toBe(true);
    } finally {
      if (isAlive(childPid)) process.kill(childPid, 'SIGKILL');
    }
  }, 30_000);
});
