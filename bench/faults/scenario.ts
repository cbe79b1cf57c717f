import type { ScoutProcess } from '../../test/helpers/scout-process.js';
import { crashProblem, errorText, type Recovery, type RunContext } from './harness.js';
import type { RepeatResult } from './verdict.js';
import { FLUSH_INTERVAL_MS, LOSS_TOLERANCE_MS } from './harness.js';

/** One named fault: sets itself up, injects the fault `repeats` times, reports each repeat. */
export interface Scenario {
  readonly name: string;
  /** One line: what is done to the service. */
  readonly summary: string;
  run(ctx: RunContext, repeats: number, report: (result: RepeatResult) => void): Promise<void>;
}

/** What a repeat measured; the service's own health is added by `finish`. */
export interface Measured {
  readonly recovery: Recovery;
  readonly lostAudioMs?: number;
  readonly lostRows?: number;
  readonly notes?: readonly string[];
}

/** A repeat's result: the measurement, plus a crash of the service if there was one. */
export function finish(measured: Measured, service: ScoutProcess | null, allowedLossMs = FLUSH_INTERVAL_MS + LOSS_TOLERANCE_MS): RepeatResult {
  const crash = service === null ? null : crashProblem(service);
  const notes = [...(measured.notes ?? [])];
  if (measured.recovery.why !== null) notes.push(measured.recovery.why);
  // What the service itself said went wrong: the first thing to read when a repeat fails.
  if (!measured.recovery.recovered && service !== null) notes.push(...lastProblems(service));
  return {
    recovered: measured.recovery.recovered,
    recoveryMs: measured.recovery.recoveryMs,
    lostAudioMs: Math.max(0, measured.lostAudioMs ?? 0),
    allowedLossMs,
    lostRows: measured.lostRows ?? 0,
    notes,
    ...(crash === null ? {} : { error: crash }),
  };
}

/** A repeat that could not run. */
export function failed(error: unknown, notes: readonly string[] = []): RepeatResult {
  return { recovered: false, recoveryMs: null, lostAudioMs: 0, allowedLossMs: 0, lostRows: 0, notes, error: errorText(error) };
}

/**
 * Runs `setup` once, then `repeat` for each repeat (an error fails that repeat only, unless the
 * service is gone), then `teardown` whatever happened.
 */
export async function repeated<T>(
  repeats: number,
  report: (result: RepeatResult) => void,
  setup: () => Promise<T>,
  repeat: (env: T, index: number) => Promise<RepeatResult>,
  teardown: (env: T | null) => Promise<void>,
): Promise<void> {
  let env: T | null = null;
  try {
    env = await setup();
  } catch (error) {
    for (let i = 0; i < repeats; i += 1) report(failed(error, ['setup failed']));
    await teardown(null).catch(() => undefined);
    return;
  }
  try {
    for (let i = 0; i < repeats; i += 1) {
      try {
        report(await repeat(env, i));
      } catch (error) {
        report(failed(error));
      }
    }
  } finally {
    await teardown(env).catch(() => undefined);
  }
}

/** The service's last few warning and error lines, one short line each. */
function lastProblems(service: ScoutProcess, count = 6): string[] {
  return service.logLines
    // pino writes the level as a label here (`"level":"error"`) or as a number (50).
    .filter((line) => ['warn', 'error', 'fatal'].includes(String(line.level)) || (typeof line.level === 'number' && line.level >= 40))
    .slice(-count)
    .map((line) => {
      const err = line.err as { message?: string } | undefined;
      const op = typeof line.op === 'string' ? ` (${line.op})` : '';
      return `service said: ${String(line.msg)}${op}${err?.message ? `: ${err.message}` : ''}`.slice(0, 240);
    });
}
