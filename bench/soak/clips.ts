/**
 * What the soak "says" into the fake mic: espeak-ng sentences joined into utterances of exactly
 * each take's length (bench/lib/speech.ts), written once as 16 kHz WAVs for paplay.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeWav } from '../../src/audio/wav.js';
import { composeUtterance, SAMPLE_RATE_HZ, SENTENCES, sentencePcm } from '../lib/speech.js';
import { CLIP_VARIANTS, type TakeKind } from './mix.js';

/** Short ones first, so a 2 s take (1.7 s before the trailing silence) has something that fits. */
const SHORT_SENTENCES: readonly string[] = ['Buy milk.', 'Call Anna.', 'Feed the cat.'];

export type ClipKey = `${string}#${number}`;

export function clipKey(kind: TakeKind, variant: number): ClipKey {
  return `${kind.label}#${variant}`;
}

/** One WAV per speech kind and variant, in `dir`; returns key -> path. */
export async function makeClips(kinds: readonly TakeKind[], dir: string): Promise<Map<ClipKey, string>> {
  const sentences: Int16Array[] = [];
  for (const [index, text] of [...SHORT_SENTENCES, ...SENTENCES].entries()) sentences.push(await sentencePcm(text, dir, `sentence-${index}`));
  const clips = new Map<ClipKey, string>();
  for (const kind of kinds) {
    if (!kind.speech) continue;
    for (let variant = 0; variant < CLIP_VARIANTS; variant++) {
      const utterance = composeUtterance(sentences, kind.seconds, variant);
      const path = join(dir, `take-${kind.seconds}s-${variant}.wav`);
      await writeFile(path, encodeWav(utterance.pcm, SAMPLE_RATE_HZ));
      clips.set(clipKey(kind, variant), path);
    }
  }
  return clips;
}
