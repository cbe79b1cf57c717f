/**
 * The search language of `GET /api/recordings?q=`: plain words, never FTS5 syntax. Every word
 * becomes a quoted FTS5 string (a `"` inside doubled), so operators (AND, NOT, NEAR, `*`, `^`,
 * column filters) and a stray quote are matched as text or dropped, and no input can make the
 * MATCH expression malformed. All words must occur (implicit AND), in the title or the
 * transcript, in any order; the porter stemmer lets "recordings" find "recording".
 */

/**
 * Mark the start and end of a matched word inside a snippet as FTS5 returns it. Control
 * characters, so they cannot clash with anything whisper writes; if a hand-edited transcript
 * held one, the worst outcome is a run marked wrongly, still plain text.
 */
export const MATCH_START = '\u0002';
export const MATCH_END = '\u0003';

/** One run of snippet text; `match` runs are words that matched the query. */
export interface SnippetPart {
  readonly text: string;
  readonly match: boolean;
}

const MAX_TERMS = 16;

/** The query has nothing to search for, or too much. The HTTP layer answers 400. */
export class InvalidSearchError extends Error {
  override readonly name = 'InvalidSearchError';
}

/** The FTS5 MATCH expression for a user's words; throws InvalidSearchError. */
export function toMatchExpression(query: string): string {
  // A word without a letter or digit has no token for the index ("-", "*", '"'): an empty
  // phrase would match nothing, so it is dropped rather than allowed to empty the result.
  const terms = query
    .normalize('NFKC')
    .split(/\s+/u)
    .filter((term) => /[\p{L}\p{N}]/u.test(term));
  if (terms.length === 0) throw new InvalidSearchError('the search has no words in it');
  if (terms.length > MAX_TERMS) throw new InvalidSearchError(`a search takes at most ${MAX_TERMS} words, got ${terms.length}`);
  return terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(' ');
}

/**
 * Splits an FTS5 snippet made with MATCH_START/MATCH_END into parts, so a client renders it
 * with text nodes (or escapes it) and nothing in a transcript can become markup.
 */
export function snippetParts(snippet: string): SnippetPart[] {
  const parts: SnippetPart[] = [];
  let rest = snippet;
  while (rest.length > 0) {
    const start = rest.indexOf(MATCH_START);
    if (start === -1) {
      parts.push({ text: rest, match: false });
      break;
    }
    if (start > 0) parts.push({ text: rest.slice(0, start), match: false });
    const end = rest.indexOf(MATCH_END, start + 1);
    const matchEnd = end === -1 ? rest.length : end;
    const text = rest.slice(start + 1, matchEnd);
    if (text.length > 0) parts.push({ text, match: true });
    rest = rest.slice(matchEnd + 1);
  }
  return parts;
}
