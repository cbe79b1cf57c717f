import type { Database, Statement } from 'better-sqlite3';
import { normaliseVocabulary, type VocabularyProblem } from '../domain/vocabulary.js';

/** The stored list would break the vocabulary's bounds (src/domain/vocabulary.ts). */
export class InvalidVocabularyError extends Error {
  override readonly name = 'InvalidVocabularyError';
  constructor(readonly problems: readonly VocabularyProblem[]) {
    super(`invalid vocabulary: ${problems.map((problem) => problem.message).join('; ')}`);
  }
}

const KEY = 'vocabulary';

/**
 * The vocabulary (the terms sent to whisper as its prompt) in the `settings` table (migration 6).
 * Every write goes through the domain's rules, so whatever reads it (the transcriber per window,
 * the API, a CLI) gets a list inside the bounds.
 */
export class VocabularyRepo {
  private readonly getStmt: Statement<[string], { value_json: string }>;
  private readonly putStmt: Statement<[{ key: string; value: string; atMs: number }]>;

  constructor(
    db: Database,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.getStmt = db.prepare('SELECT value_json FROM settings WHERE key = ?');
    this.putStmt = db.prepare(
      `INSERT INTO settings (key, value_json, updated_at_ms) VALUES (@key, @value, @atMs)
       ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at_ms = excluded.updated_at_ms`,
    );
  }

  /** The current terms; [] when none were ever set. */
  get(): readonly string[] {
    const row = this.getStmt.get(KEY);
    if (row === undefined) return [];
    const value = JSON.parse(row.value_json) as unknown;
    // A hand-edited row: the rules again, and nothing rather than a prompt outside the bounds.
    if (!Array.isArray(value) || !value.every((term): term is string => typeof term === 'string')) return [];
    const check = normaliseVocabulary(value);
    return check.ok ? check.terms : [];
  }

  /** Normalises and stores the terms; returns them as stored. Throws InvalidVocabularyError. */
  set(terms: readonly string[]): readonly string[] {
    const check = normaliseVocabulary(terms);
    if (!check.ok) throw new InvalidVocabularyError(check.problems);
    this.putStmt.run({ key: KEY, value: JSON.stringify(check.terms), atMs: Math.round(this.nowMs()) });
    return check.terms;
  }
}
