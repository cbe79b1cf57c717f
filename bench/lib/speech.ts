/**
 * Speech utterances of a given length for the benchmarks: espeak-ng sentences (converted to 16 kHz
 * mono S16 by sox), joined with natural pauses, padded with a short silence to the exact length -
 * what a person says between pressing and releasing the button.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseWavHeader } from '../../src/audio/wav.js';

const run = promisify(execFile);

export const SAMPLE_RATE_HZ = 16_000;

/** Dictation-like sentences of different lengths (2-6 s each at espeak's default 175 wpm). */
export const SENTENCES: readonly string[] = [
  'Remind me to call the plumber tomorrow morning.',
  'The meeting with the dentist moved to Tuesday at nine.',
  'Buy apples, bread, coffee and a new light bulb for the hall.',
  'Note for the garden: water the tomatoes and fix the shed door before the weekend.',
  'Ask Maria whether the invoice for the roof repair has been paid.',
  'The car needs new tyres before winter, and the insurance renewal is due in March.',
  'Idea for the talk: start with the story about the broken radio.',
  'Pick up the parcel from the post office.',
  'Check the battery in the smoke alarm on the landing.',
  'Tell the neighbours that the road will be closed on Friday afternoon for the street party.',
  'Order more printer paper.',
  'The second draft of the report should mention the delays in the spring and the new budget.',
];

/** Pauses between sentences (ms), cycled: people pause for breath and thought, not metronomically. */
const PAUSES_MS: readonly number[] = [450, 700, 350, 900, 550, 1200, 400, 650];
/** Silence after the last word before the release. */
const TRAILING_SILENCE_MS = 300;

/** 16 kHz mono samples of one sentence (espeak-ng -> sox), cached in `dir`. */
export async function sentencePcm(text: string, dir: string, name: string): Promise<Int16Array> {
  const raw = join(dir, `${name}-espeak.wav`);
  const wav = join(dir, `${name}.wav`);
  await run('espeak-ng', ['-w', raw, text]);
  await run('sox', [raw, '-r', String(SAMPLE_RATE_HZ), '-c', '1', '-b', '16', '-e', 'signed-integer', wav]);
  return readWavPcm(wav);
}

export async function readWavPcm(path: string): Promise<Int16Array> {
  const file = await readFile(path);
  const header = parseWavHeader(file);
  const data = file.subarray(header.dataOffset, header.dataOffset + header.declaredDataBytes);
  // A copy: the Buffer's pool offset may not be 2-aligned.
  return new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
}

export interface Utterance {
  readonly pcm: Int16Array;
  readonly sentences: number;
  /** Speech (sentence audio, espeak's own edges included) in ms. */
  readonly speechMs: number;
}

/**
 * An utterance of exactly `seconds`: sentences starting at `variant` (so repetitions differ),
 * a pause after each, as many as fit before the trailing silence; the rest is silence. A sentence
 * that does not fit is skipped for a shorter one, so long utterances are mostly speech.
 */
export function composeUtterance(sentencePcms: readonly Int16Array[], seconds: number, variant: number): Utterance {
  const total = Math.round(seconds * SAMPLE_RATE_HZ);
  const budget = total - Math.round((TRAILING_SILENCE_MS / 1000) * SAMPLE_RATE_HZ);
  const out = new Int16Array(total);
  let at = 0;
  let used = 0;
  let speechSamples = 0;
  let misses = 0;
  for (let i = variant; misses < sentencePcms.length; i++) {
    const sentence = sentencePcms[i % sentencePcms.length];
    if (sentence === undefined) break;
    const pause = Math.round(((PAUSES_MS[i % PAUSES_MS.length] ?? 500) / 1000) * SAMPLE_RATE_HZ);
    const gap = used === 0 ? 0 : pause;
    if (at + gap + sentence.length > budget) {
      misses++;
      continue;
    }
    misses = 0;
    at += gap;
    out.set(sentence, at);
    at += sentence.length;
    speechSamples += sentence.length;
    used++;
  }
  if (used === 0) throw new Error(`no sentence fits in ${seconds} s`);
  return { pcm: out, sentences: used, speechMs: (speechSamples / SAMPLE_RATE_HZ) * 1000 };
}
