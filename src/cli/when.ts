/**
 * Times on the command line: what the box takes (epoch ms, ISO 8601, no offset means UTC) passed
 * through, plus words a person types: `now`, `today`, `yesterday` (local midnight) and ages such
 * as `7d`, `12h`, `30m` (that long before now). Anything else is a usage error here, not a 400.
 */
import { InvalidArgumentError } from 'commander';

const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;
const AGE = /^(\d+)([smhdw])$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseWhen(value: string, nowMs: number = Date.now()): string {
  const text = value.trim();
  if (/^\d{1,15}$/.test(text) || ISO.test(text)) return text;
  const midnight = new Date(nowMs);
  midnight.setHours(0, 0, 0, 0);
  if (text === 'now') return String(nowMs);
  if (text === 'today') return String(midnight.getTime());
  if (text === 'yesterday') {
    midnight.setDate(midnight.getDate() - 1);
    return String(midnight.getTime());
  }
  if (text === 'tomorrow') {
    midnight.setDate(midnight.getDate() + 1);
    return String(midnight.getTime());
  }
  const age = AGE.exec(text);
  if (age?.[1] !== undefined && age[2] !== undefined) return String(nowMs - Number(age[1]) * (UNIT_MS[age[2]] ?? 0));
  throw new InvalidArgumentError('expected epoch ms, ISO 8601 (2026-12-02, 2026-12-02T10:00Z), now, today, yesterday or an age like 7d');
}

export function parsePositiveInt(value: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return Number(value);
}
