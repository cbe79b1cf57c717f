/** The vocabulary's rules: bounds, trimming, case-insensitive dedup, control characters, the prompt. */
import { describe, expect, it } from 'vitest';
import { normaliseVocabulary, VOCABULARY_LIMITS, vocabularyPrompt } from '../../src/domain/vocabulary.js';

function terms(count: number, prefix = 'Term'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

describe('normaliseVocabulary', () => {
  it('trims, collapses inner spaces, drops blank entries and keeps the first spelling of a duplicate', () => {
    expect(normaliseVocabulary(['  Zoë   Okafor ', '', '   ', 'kubernetes', 'Kubernetes', 'KUBERNETES', 'Scout'])).toEqual({
      ok: true,
      terms: ['Zoë Okafor', 'kubernetes', 'Scout'],
    });
  });

  it('treats composed and decomposed accents as the same term', () => {
    expect(normaliseVocabulary(['Zo\u00eb', 'Zoe\u0308', 'ZOË'])).toEqual({ ok: true, terms: ['Zoë'] });
  });

  it('an empty list is fine and makes no prompt', () => {
    expect(normaliseVocabulary([])).toEqual({ ok: true, terms: [] });
    expect(vocabularyPrompt([])).toBe('');
  });

  it('accepts exactly the limits: 50 terms, a term of 60 characters (counted as characters, not UTF-16 units)', () => {
    expect(normaliseVocabulary(terms(VOCABULARY_LIMITS.maxTerms, 'T'))).toMatchObject({ ok: true });
    const longest = '😀'.repeat(VOCABULARY_LIMITS.maxTermChars);
    expect(normaliseVocabulary([longest])).toEqual({ ok: true, terms: [longest] });
  });

  it('reports every problem at once, with the index of each bad term', () => {
    const check = normaliseVocabulary(['fine', 'new\nline', 'x'.repeat(61), 'tab\there', 'nul\u0000', 'del\u007f']);
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.problems.map((problem) => problem.index)).toEqual([1, 2, 3, 4, 5]);
    expect(check.problems[0]?.message).toMatch(/control character/);
    expect(check.problems[1]?.message).toMatch(/longer than 60/);
  });

  it('refuses more than 50 distinct terms, but duplicates do not count', () => {
    const tooMany = normaliseVocabulary(terms(51, 'T'));
    expect(tooMany).toMatchObject({ ok: false, problems: [{ index: null, message: expect.stringMatching(/51 terms; at most 50/) as unknown }] });
    expect(normaliseVocabulary([...terms(50, 'T'), ...terms(50, 't')])).toMatchObject({ ok: true });
  });

  it('accepts a prompt of exactly 600 characters and refuses 601 (whisper keeps ~224 tokens)', () => {
    // 20 terms: 18 of 28 characters and 2 of 29, plus 19 separators of 2 = 600.
    const exact = terms(20).map((term, i) => term.padEnd(i < 2 ? 29 : 28, 'x'));
    expect(vocabularyPrompt(exact)).toHaveLength(VOCABULARY_LIMITS.maxPromptChars);
    expect(normaliseVocabulary(exact)).toMatchObject({ ok: true });
    const over = [...exact.slice(1), `${exact[0] ?? ''}y`];
    expect(normaliseVocabulary(over)).toMatchObject({ ok: false, problems: [{ index: null, message: expect.stringMatching(/601 characters; at most 600/) as unknown }] });
  });

  it('is idempotent: a normalised list normalises to itself', () => {
    const first = normaliseVocabulary([' a  b ', 'A B', 'c']);
    expect(first.ok && normaliseVocabulary(first.terms)).toEqual(first);
  });
});

describe('vocabularyPrompt', () => {
  it('joins the terms into one comma-separated line', () => {
    expect(vocabularyPrompt(['Zoë Okafor', 'Kubernetes', 'Scout'])).toBe('Zoë Okafor, Kubernetes, Scout');
  });
});
