/**
 * How the CLI shows things to a person: recordings as one line each, search snippets with the
 * matched words highlighted (ANSI on a terminal, [brackets] in a pipe), health in plain words.
 * Pure functions, so the wording is tested without a box.
 */
import { healthSeverity, type CheckReport, type HealthReport } from '../domain/health.js';
import type { Recording } from '../domain/recording.js';

/** One run of a search snippet, as the box sends it (src/store/search.ts); never markup. */
export interface SnippetPart {
  readonly text: string;
  readonly match: boolean;
}

const BOLD_REVERSE = '\x1b[1;7m';
const RESET = '\x1b[0m';

/** Strips control characters (an ESC in a title must not drive the terminal). */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point: they are removed
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '').replace(/\s*\n\s*/g, ' ');
}

export function renderSnippet(parts: readonly SnippetPart[], color: boolean): string {
  return parts.map((part) => (part.match ? (color ? `${BOLD_REVERSE}${printable(part.text)}${RESET}` : `[${printable(part.text)}]`) : printable(part.text))).join('');
}

/** `12:03` / `1:02:03` from ms; `-` when unknown. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  const totalS = Math.round(ms / 1000);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}` : `${m}:${String(s).padStart(2, '0')}`;
}

/** Local time, minutes: what a person compares with their own clock. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export type RecordingSummary = Pick<Recording, 'id' | 'startedAtMs' | 'durationMs' | 'status' | 'title'>;

export function recordingLine(recording: RecordingSummary, extra?: string): string {
  const columns = [recording.id, formatTime(recording.startedAtMs), formatDuration(recording.durationMs).padStart(7), recording.status.padEnd(12)];
  const tail = extra ?? (recording.title === null ? '' : printable(recording.title));
  return `${columns.join('  ')}${tail === '' ? '' : `  ${tail}`}`.trimEnd();
}

/** What `/healthz` answers: the summary for anyone, per-check details with the token. */
export type HealthView = Pick<HealthReport, 'status'> & { readonly checks?: Readonly<Record<string, Pick<CheckReport, 'status'> & Partial<Pick<CheckReport, 'message'>>>> };

/**
 * "healthy", or one line per check that is not: "degraded: disk space low: 300 MB free". The
 * worst come first; a check without a message is named instead.
 */
export function healthLines(report: HealthView): string[] {
  const problems = Object.entries(report.checks ?? {})
    .filter(([, check]) => check.status !== 'healthy')
    .sort(([, a], [, b]) => healthSeverity(b.status) - healthSeverity(a.status));
  if (problems.length === 0) return [report.status === 'healthy' ? 'healthy' : `${report.status} (no details: the token was not accepted for them)`];
  return problems.map(([name, check]) => `${check.status}: ${check.message !== undefined && check.message.trim() !== '' ? printable(check.message) : name}`);
}
