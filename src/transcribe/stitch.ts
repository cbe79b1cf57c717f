/**
 * Joins the per-window results of a recording into one transcript: each window's segment times
 * are shifted by the window's start, clamped inside the window, and joined with single spaces.
 *
 * Windows are cut in pauses and do not overlap, but whisper sometimes repeats the last words of
 * the previous window at the start of the next (or invents a segment that runs past its audio):
 * a segment starting before the previous one ended is trimmed of the words it repeats, and a
 * segment identical to the previous one dropped.
 */
import type { TranscriptSegment, WindowSegment } from '../domain/transcript.js';

export interface StitchWindow {
  /** Offset of the window within the recording. */
  readonly offsetMs: number;
  /** Length of the window's audio. */
  readonly durationMs: number;
  /** Times relative to the window. */
  readonly segments: readonly WindowSegment[];
}

export interface Stitched {
  readonly text: string;
  /** Times absolute within the recording. */
  readonly segments: TranscriptSegment[];
}

/** How many trailing words of the previous segment may be repeated at the start of the next. */
const MAX_OVERLAP_WORDS = 8;

function normalizeWord(word: string): string {
  return word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '');
}

function cleanText(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Words at the start of `next` that repeat the end of `previous` (compared loosely). */
function repeatedPrefixWords(previous: string, next: string): number {
  const prevWords = previous.split(' ').map(normalizeWord);
  const nextWords = next.split(' ').map(normalizeWord);
  const limit = Math.min(MAX_OVERLAP_WORDS, prevWords.length, nextWords.length);
  for (let n = limit; n > 0; n--) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (prevWords[prevWords.length - n + i] !== nextWords[i] || nextWords[i] === '') {
        same = false;
        break;
      }
    }
    if (same) return n;
  }
  return 0;
}

export function stitchWindows(windows: readonly StitchWindow[]): Stitched {
  const ordered = [...windows].sort((a, b) => a.offsetMs - b.offsetMs);
  const segments: TranscriptSegment[] = [];
  for (const window of ordered) {
    const windowEndMs = window.offsetMs + window.durationMs;
    for (const raw of window.segments) {
      let text = cleanText(raw.text);
      if (text === '') continue;
      let startMs = Math.min(windowEndMs, window.offsetMs + Math.max(0, raw.startMs));
      const endMs = Math.max(startMs, Math.min(windowEndMs, window.offsetMs + Math.max(0, raw.endMs)));
      const previous = segments[segments.length - 1];
      if (previous) {
        if (startMs < previous.endMs) {
          if (normalizeWord(text.replace(/ /g, '')) === normalizeWord(previous.text.replace(/ /g, ''))) continue;
          const repeated = repeatedPrefixWords(previous.text, text);
          if (repeated > 0) {
            text = text.split(' ').slice(repeated).join(' ');
            if (text === '') continue;
          }
        }
        // Keep the list in time order even when whisper's timestamps wander.
        startMs = Math.max(startMs, previous.startMs);
      }
      segments.push({ startMs, endMs: Math.max(startMs, endMs), text });
    }
  }
  return { text: segments.map((segment) => segment.text).join(' '), segments };
}
