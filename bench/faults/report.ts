/** The fault run's report: a table for people, JSON for tools. */
import type { RepeatResult, ScenarioVerdict } from './verdict.js';

const ms = (value: number): string => `${(value / 1000).toFixed(1)} s`;

/** One line per repeat, printed as it finishes. */
export function repeatLine(name: string, index: number, result: RepeatResult, problem: string | null): string {
  const time = result.recoveryMs === null ? '-' : ms(result.recoveryMs);
  const head = `  ${name} #${index + 1}: ${problem === null ? 'ok' : `FAIL (${problem})`}, recovered ${result.recovered ? 'yes' : 'no'} in ${time}, lost ${Math.round(result.lostAudioMs)} ms audio (allowed ${result.allowedLossMs}) / ${result.lostRows} rows`;
  return [head, ...result.notes.map((note) => `      ${note}`)].join('\n');
}

export function summaryTable(verdicts: readonly ScenarioVerdict[], wallMs: number): string {
  const rows = verdicts.map((v) => [
    v.name,
    `${v.recovered}/${v.repeats}`,
    v.recoveryMs === null ? '-' : `${ms(v.recoveryMs.min)} / ${ms(v.recoveryMs.median)} / ${ms(v.recoveryMs.max)}`,
    `${Math.round(v.maxLostAudioMs)} ms / ${v.lostRows}`,
    v.pass ? 'pass' : 'FAIL',
  ]);
  const header = ['fault', 'recovered', 'recovery min / median / max', 'lost audio / rows', 'verdict'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const problems = verdicts.flatMap((v) => v.problems.map((p) => `  ${v.name} ${p}`));
  const failedCount = verdicts.filter((v) => !v.pass).length;
  return [
    line(header),
    ...rows.map(line),
    '',
    ...(problems.length > 0 ? ['failures:', ...problems, ''] : []),
    `${verdicts.length - failedCount} of ${verdicts.length} faults passed in ${ms(wallMs)}`,
  ].join('\n');
}

export function jsonReport(verdicts: readonly ScenarioVerdict[], results: ReadonlyMap<string, readonly RepeatResult[]>, wallMs: number): string {
  return `${JSON.stringify({ wallMs: Math.round(wallMs), faults: verdicts.map((v) => ({ ...v, results: results.get(v.name) ?? [] })) }, null, 2)}\n`;
}
