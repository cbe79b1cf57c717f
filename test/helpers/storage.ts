import { expect } from 'vitest';
import { startScout, waitFor, type ScoutProcess, type StartOptions } from './scout-process.js';

export { fillToTheLastBlock, mountTmpfs, unmountTmpfs } from './tmpfs.js';

/**
 * Real storage failures for the service under test: a small tmpfs (root) to fill (tmpfs.ts), and
 * the checks every storage test makes of what the service then says.
 */

export interface Health {
  status: string;
  checks: Record<string, { status: string; message: string }>;
}

export interface State {
  appliance: {
    phase: string;
    recordingId: string | null;
    faults: string[];
    leds: Record<string, { mode: string; onMs?: number; steps?: { on: boolean; ms: number }[] }>;
    lastEvent: string | null;
    savesInFlight: number;
  };
}

/**
 * The service says storage is broken: /healthz answers 503 and names the failing checks, capture
 * still runs (the audio check), and the red LED blinks with a fault. Returns what it saw.
 */
export async function expectStorageFault(s: ScoutProcess): Promise<{ health: Health; unhealthy: string[]; state: State }> {
  const report = await waitFor(async () => {
    const answer = await s.api<Health>('/healthz');
    return answer.status === 503 ? answer : null;
  }, 5000);
  const health = report.body;
  const unhealthy = Object.entries(health.checks)
    .filter(([, check]) => check.status === 'unhealthy')
    .map(([name]) => name);
  expect(health.checks.audio?.status).toBe('healthy');
  const state = await waitFor(async () => {
    const body = (await s.api<State>('/api/state')).body;
    // The storage error code on the status LED: three blinks, a pause (src/ops/led-language.ts).
    const status = body.appliance.leds.status;
    const blinks = status?.mode === 'pattern' ? (status.steps ?? []).filter((step) => step.on).length : 0;
    return blinks === 3 && body.appliance.faults.length > 0 ? body : null;
  }, 5000);
  return { health, unhealthy, state };
}

/** No crash: the process runs, and no uncaught error or fatal line reached its output. */
export function expectNoCrash(s: ScoutProcess): void {
  expect(s.child.exitCode).toBeNull();
  expect(s.stderr()).not.toMatch(/uncaught|unhandled/i);
  expect(s.logLines.filter((line) => line.level === 'fatal' || line.level === 60)).toEqual([]);
}

/**
 * A first start and a clean stop on a fresh data dir: it creates the database, the token file and
 * the simulator's clip, so the test's storage fault meets a data dir as a box has it.
 */
export async function firstStart(options: StartOptions): Promise<void> {
  const first = await startScout(options);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect((await first.stop()).code).toBe(0);
}
