/**
 * The soak's cycle plan: which take lengths, how many of each, in which order. Pure and seeded, so
 * the same `--recordings`, `--mix` and `--seed` always give the same plan (printed at the start).
 */
import { mulberry32 } from '../../src/util/prng.js';

/** One kind of take: held for `seconds`; `speech` false = pressed and released with nothing said. */
export interface TakeKind {
  readonly label: string;
  readonly seconds: number;
  readonly speech: boolean;
}

export interface MixEntry {
  readonly kind: TakeKind;
  readonly weight: number;
}

/** How long a silent take is held: long enough to be a real take, short like a mis-press. */
export const SILENCE_SECONDS = 1.5;

/**
 * The lengths (silence, 2 s, 30 s, 2 min). 200 cycles hold the button for about 45 min
 * in total; short soaks (the CI one) leave the 2 min takes out so 20 cycles fit in ~3-4 minutes.
 */
export const FULL_MIX = 'silence=25,2=50,30=20,120=5';
export const SHORT_MIX = 'silence=30,2=50,30=20';
/** Below this many cycles the default mix is SHORT_MIX. */
export const SHORT_MIX_BELOW = 100;

export function defaultMix(recordings: number): string {
  return recordings < SHORT_MIX_BELOW ? SHORT_MIX : FULL_MIX;
}

/** "silence=25,2=50,30=20,120=5": `silence` or seconds of speech, `=` weight. */
export function parseMix(spec: string): MixEntry[] {
  const entries: MixEntry[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const match = /^(silence|\d+(?:\.\d+)?)\s*=\s*(\d+(?:\.\d+)?)$/.exec(part);
    if (!match?.[1] || !match[2]) throw new Error(`--mix: "${part}" is not <silence|seconds>=<weight>`);
    const weight = Number(match[2]);
    if (weight <= 0) throw new Error(`--mix: "${part}": weight must be above 0`);
    const speech = match[1] !== 'silence';
    const seconds = speech ? Number(match[1]) : SILENCE_SECONDS;
    if (speech && (seconds < 2 || seconds > 600)) throw new Error(`--mix: "${part}": speech takes are 2..600 s`);
    const label = speech ? (seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`) : 'silence';
    if (entries.some((e) => e.kind.label === label)) throw new Error(`--mix: "${label}" given twice`);
    entries.push({ kind: { label, seconds, speech }, weight });
  }
  if (entries.length === 0) throw new Error('--mix: empty');
  return entries;
}

/**
 * Exact counts per kind for `total` cycles (largest remainder: the counts follow the weights as
 * closely as whole numbers can, so a 20-cycle soak still has its 30 s takes).
 */
export function allocate(entries: readonly MixEntry[], total: number): number[] {
  const sum = entries.reduce((s, e) => s + e.weight, 0);
  const exact = entries.map((e) => (e.weight / sum) * total);
  const counts = exact.map((x) => Math.floor(x));
  let left = total - counts.reduce((s, c) => s + c, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left === 0) break;
    counts[i] = (counts[i] ?? 0) + 1;
    left--;
  }
  return counts;
}

export interface PlannedCycle {
  readonly index: number;
  readonly kind: TakeKind;
  /** Which speech clip of this length (repetitions say different sentences). */
  readonly variant: number;
  /** Idle time after the release before the next press, ms. */
  readonly gapMs: number;
}

export const CLIP_VARIANTS = 3;
const GAP_MIN_MS = 1000;
const GAP_MAX_MS = 3000;

/** The whole run: the allocated kinds in a seeded shuffle (Fisher-Yates), each with a seeded gap. */
export function planCycles(entries: readonly MixEntry[], total: number, seed: number): PlannedCycle[] {
  const counts = allocate(entries, total);
  const kinds: TakeKind[] = [];
  entries.forEach((entry, i) => {
    for (let n = 0; n < (counts[i] ?? 0); n++) kinds.push(entry.kind);
  });
  const random = mulberry32(seed);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = kinds[i];
    const b = kinds[j];
    if (a === undefined || b === undefined) continue;
    kinds[i] = b;
    kinds[j] = a;
  }
  const seen = new Map<string, number>();
  return kinds.map((kind, index) => {
    const n = seen.get(kind.label) ?? 0;
    seen.set(kind.label, n + 1);
    return { index, kind, variant: n % CLIP_VARIANTS, gapMs: Math.round(GAP_MIN_MS + random() * (GAP_MAX_MS - GAP_MIN_MS)) };
  });
}

/** Seconds the button is held over the whole plan plus the gaps: the run's floor. */
export function plannedSeconds(plan: readonly PlannedCycle[]): number {
  return plan.reduce((s, c) => s + c.kind.seconds + c.gapMs / 1000, 0);
}

/** "50 x silence, 100 x 2 s, ..." in the mix's order. */
export function describePlan(entries: readonly MixEntry[], plan: readonly PlannedCycle[]): string {
  return entries.map((e) => `${plan.filter((c) => c.kind.label === e.kind.label).length} x ${e.kind.label}`).join(', ');
}
