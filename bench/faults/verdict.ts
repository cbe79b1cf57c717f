/**
 * The pure part of the fault run: what one repeat found, the figures over the repeats and the
 * verdict. No I/O here, so the rules are unit-tested (test/unit/faults-verdict.test.ts).
 */

/** The recovery limit of the product brief: "recovery under 60 s from any failure". */
export const RECOVERY_LIMIT_MS = 60_000;

/** What one repeat of a fault found. */
export interface RepeatResult {
  /** Health back to ok AND a take made after the fault recorded and transcribed, within the limit. */
  readonly recovered: boolean;
  /** From the fault clearing (or being injected, for faults that heal by themselves) to recovered. */
  readonly recoveryMs: number | null;
  /** Audio of interrupted takes missing beyond what was recorded (ms). */
  readonly lostAudioMs: number;
  /** What may be lost of an interrupted take: the flush interval (and a tolerance). */
  readonly allowedLossMs: number;
  /** Committed recordings or transcripts missing, or takes never transcribed. */
  readonly lostRows: number;
  /** What was seen, for the report (one short line each). */
  readonly notes: readonly string[];
  /** Set when the repeat could not run or the service broke (crashed, uncaught error). */
  readonly error?: string;
}

export interface Figures {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

/** min/median/max; null for no values. The median of an even count is the mean of the middle two. */
export function figures(values: readonly number[]): Figures | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { min: sorted[0] ?? 0, median, max: sorted[sorted.length - 1] ?? 0 };
}

/** Why a repeat failed, or null when it passed. */
export function repeatProblem(result: RepeatResult, limitMs = RECOVERY_LIMIT_MS): string | null {
  if (result.error !== undefined) return result.error;
  if (!result.recovered) return 'not recovered';
  if (result.recoveryMs === null) return 'recovered without a recovery time';
  if (result.recoveryMs > limitMs) return `recovery took ${Math.round(result.recoveryMs)} ms (limit ${limitMs} ms)`;
  if (result.lostRows > 0) return `${result.lostRows} committed row(s) lost`;
  if (result.lostAudioMs > result.allowedLossMs) return `${Math.round(result.lostAudioMs)} ms of audio lost (allowed ${result.allowedLossMs} ms)`;
  return null;
}

export interface ScenarioVerdict {
  readonly name: string;
  readonly repeats: number;
  readonly recovered: number;
  readonly recoveryMs: Figures | null;
  readonly maxLostAudioMs: number;
  readonly lostRows: number;
  readonly pass: boolean;
  /** One line per failed repeat: "repeat 2: not recovered". */
  readonly problems: readonly string[];
}

/** A scenario passes when it ran at least once and every repeat passed. */
export function judge(name: string, results: readonly RepeatResult[], limitMs = RECOVERY_LIMIT_MS): ScenarioVerdict {
  const problems: string[] = [];
  results.forEach((result, index) => {
    const problem = repeatProblem(result, limitMs);
    if (problem !== null) problems.push(`repeat ${index + 1}: ${problem}`);
  });
  if (results.length === 0) problems.push('no repeat ran');
  const times = results.filter((r) => r.recovered && r.recoveryMs !== null).map((r) => r.recoveryMs ?? 0);
  return {
    name,
    repeats: results.length,
    recovered: results.filter((r) => r.recovered).length,
    recoveryMs: figures(times),
    maxLostAudioMs: Math.max(0, ...results.map((r) => r.lostAudioMs)),
    lostRows: results.reduce((sum, r) => sum + r.lostRows, 0),
    pass: problems.length === 0,
    problems,
  };
}

/** The process exit code: 0 only when every scenario passed. */
export function exitCode(verdicts: readonly ScenarioVerdict[]): number {
  return verdicts.length > 0 && verdicts.every((v) => v.pass) ? 0 : 1;
}

export interface RunOptions {
  readonly repeat: number;
  readonly only: readonly string[] | null;
  readonly jsonPath: string | null;
}

/** `--repeat N`, `--only a,b`, `--json PATH`; throws on anything else. */
export function parseArgs(argv: readonly string[], known: readonly string[]): RunOptions {
  let repeat = 5;
  let only: string[] | null = null;
  let jsonPath: string | null = null;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined || next === '') throw new Error(`${flag} needs a value`);
      return next;
    };
    if (flag === '--repeat') {
      repeat = Number(value());
      if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat wants a whole number >= 1, not ${argv[i]}`);
    } else if (flag === '--only') {
      only = value().split(',').map((name) => name.trim()).filter((name) => name !== '');
      const unknown = only.filter((name) => !known.includes(name));
      if (unknown.length > 0) throw new Error(`unknown fault(s): ${unknown.join(', ')}; known: ${known.join(', ')}`);
    } else if (flag === '--json') {
      jsonPath = value();
    } else {
      throw new Error(`unknown argument ${arg} (use --repeat N, --only name,..., --json PATH)`);
    }
  }
  return { repeat, only, jsonPath };
}
