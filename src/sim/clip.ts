import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PcmFormat } from '../hardware/types.js';
import type { Logger } from '../log.js';

const run = promisify(execFile);

export const SIM_SENTENCE =
  'Scout is listening. This is the simulator microphone. Press the button, say something worth keeping, and press it again.';

/**
 * The simulator's microphone clip, in the device format the config asks for. A WAV the user named
 * (`SCOUT_SIM_AUDIO`) is converted with sox; with none, espeak-ng speaks a sentence. Conversion
 * happens once into the data dir, so the fake mic only ever plays PCM in the capture format.
 */
export async function prepareSimClip(options: {
  readonly sourceWav: string | null;
  readonly format: PcmFormat;
  readonly cacheDir: string;
  readonly logger: Logger;
}): Promise<string> {
  try {
    return await convertInto(options.cacheDir, options);
  } catch (error) {
    // The clip is only a cache: a full or read-only data dir must not stop the service from
    // starting (it then says what is wrong with the card), so convert into a temp dir instead.
    const fallback = await mkdtemp(join(tmpdir(), 'scout-sim-'));
    options.logger.warn({ err: error, cacheDir: options.cacheDir, fallback }, 'simulator mic: cannot write the clip into the data dir; using a temp dir');
    return convertInto(fallback, options);
  }
}

async function convertInto(
  cacheDir: string,
  options: { readonly sourceWav: string | null; readonly format: PcmFormat; readonly logger: Logger },
): Promise<string> {
  const { format, logger } = options;
  await mkdir(cacheDir, { recursive: true });
  const target = join(cacheDir, `sim-${options.sourceWav === null ? 'speech' : 'user'}-${format.sampleRateHz}-${format.channels}.wav`);
  let source = options.sourceWav;
  if (source === null) {
    if (await exists(target)) return target;
    source = join(cacheDir, 'sim-speech-raw.wav');
    await run('espeak-ng', ['-s', '150', '-w', source, SIM_SENTENCE]);
    logger.info({ source }, 'simulator mic: generated speech with espeak-ng');
  }
  // Pad with a second of silence so the looped clip has pauses, like real speech.
  await run('sox', [source, '-r', String(format.sampleRateHz), '-c', String(format.channels), '-b', '16', '-e', 'signed-integer', target, 'pad', '0', '1']);
  return target;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
