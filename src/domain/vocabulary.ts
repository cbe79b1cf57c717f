/**
 * The vocabulary: names and terms sent to whisper as its initial prompt, so that it spells them
 * the way the user does. Pure rules, shared by the API (validation), the store (its invariant)
 * and the transcriber (the prompt).
 *
 * Why bounded: whisper conditions on at most n_text_ctx/2 = 224 prompt tokens and silently drops
 * the oldest when there are more; and field reports say a short list helps (about 10 terms fixed
 * 5 of 6 misheard names) while a long one barely does (70 terms fixed 1). So:
 *  - at most 50 terms, each 1-60 characters (code points) after trimming;
 *  - inner runs of spaces collapse to one; blank entries are dropped (a textarea's empty lines);
 *  - duplicates are dropped case-insensitively (after NFC), the first spelling is kept;
 *  - no control characters (newlines, tabs, NUL...): the prompt is one line of text;
 *  - the joined prompt at most 600 characters: names tokenise at roughly 3 characters per
 *    token, so that is ~200 tokens, inside the 224 whisper keeps.
 */

export const VOCABULARY_LIMITS = Object.freeze({
  maxTerms: 50,
  maxTermChars: 60,
  maxPromptChars: 600,
});

export interface VocabularyProblem {
  /** Index of the term in the list as given; null for a problem of the whole list. */
  readonly index: number | null;
  readonly message: string;
}

export type VocabularyCheck =
  | { readonly ok: true; readonly terms: readonly string[] }
  | { readonly ok: false; readonly problems: readonly VocabularyProblem[] };

const PROMPT_SEPARATOR = ', ';
// \p{Cc}: C0/C1 controls (newline, tab, NUL, DEL...), which would break the one-line prompt.
const CONTROL = /\p{Cc}/u;

function charCount(text: string): number {
  return [...text].length;
}

/**
 * Checks and normalises a list of terms; every problem is reported at once, so a user fixes the
 * list in one go.
 */
export function normaliseVocabulary(input: readonly string[]): VocabularyCheck {
  const problems: VocabularyProblem[] = [];
  const terms: string[] = [];
  const seen = new Set<string>();
  input.forEach((raw, index) => {
    if (CONTROL.test(raw)) {
      problems.push({ index, message: `term ${index + 1} contains a control character (newline, tab...)` });
      return;
    }
    const term = raw.normalize('NFC').trim().replace(/\s+/gu, ' ');
    if (term === '') return;
    if (charCount(term) > VOCABULARY_LIMITS.maxTermChars) {
      problems.push({ index, message: `term ${index + 1} ("${term.slice(0, 20)}...") is longer than ${VOCABULARY_LIMITS.maxTermChars} characters` });
      return;
    }
    const key = term.toLowerCase();
    if (seen.has(key)) return;
    seen.add(key);
    terms.push(term);
  });
  if (terms.length > VOCABULARY_LIMITS.maxTerms) {
    problems.push({ index: null, message: `${terms.length} terms; at most ${VOCABULARY_LIMITS.maxTerms} (a short list helps whisper more than a long one)` });
  }
  const promptChars = charCount(vocabularyPrompt(terms));
  if (promptChars > VOCABULARY_LIMITS.maxPromptChars) {
    problems.push({ index: null, message: `the terms joined are ${promptChars} characters; at most ${VOCABULARY_LIMITS.maxPromptChars}` });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, terms };
}

/** The initial prompt for whisper: the terms as one comma-separated line; '' for none. */
export function vocabularyPrompt(terms: readonly string[]): string {
  return terms.join(PROMPT_SEPARATOR);
}
