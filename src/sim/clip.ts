import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
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
    // A clip cut short by a power cut or a card that failed (an empty file after fsck) is made
    // again, not played: a broken cache must never stop the start.
    if (await looksLikeWav(target)) return target;
    source = join(cacheDir, 'sim-speech-raw.wav');
    await run('espeak-ng', ['-s', '150', '-w', source, SIM_SENTENCE]);
    logger.info({ source }, 'simulator mic: generated speech with espeak-ng');
  }
  // Written beside the target and renamed over it, so the target is whole or absent.
  const partial = `${target}.partial-${process.pid}.wav`;
  try {
    // Pad with a second of silence so the looped clip has pauses, like real speech.
    await run('sox', [source, '-r', String(format.sampleRateHz), '-c', String(format.channels), '-b', '16', '-e', 'signed-integer', partial, 'pad', '0', '1']);
    // sox can exit 0 having written nothing on a full card: never rename an empty clip over a good one.
    if (!(await looksLikeWav(partial))) throw new Error(`sox wrote no usable clip to ${partial} (is the card full?)`);
    await rename(partial, target);
  } finally {
    await rm(partial, { force: true });
  }
  return target;
}

/**
 * The simulator mic's last resort, made in memory: three "syllables" of a 220 Hz tone under a 4 Hz
 * envelope, then a second of silence, in the capture format. Used when no clip can be made
 * (espeak-ng or sox missing, no writable directory at all): the simulator must still come up and
 * capture something whose level the page can show.
 */
export function toneClip(format: PcmFormat): Int16Array {
  const voiced = Math.round(format.sampleRateHz * 0.75);
  const frames = voiced + format.sampleRateHz;
  const samples = new Int16Array(frames * format.channels);
  for (let frame = 0; frame < voiced; frame++) {
    const t = frame / format.sampleRateHz;
    const envelope = Math.abs(Math.sin(2 * Math.PI * 2 * t));
    const value = Math.round(8000 * envelope * Math.sin(2 * Math.PI * 220 * t));
    for (let channel = 0; channel < format.channels; channel++) samples[frame * format.channels + channel] = value;
  }
  return samples;
}

/** A RIFF/WAVE header with some data after it: enough to tell a whole clip from a cut one. */
async function looksLikeWav(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    const head = Buffer.alloc(12);
    await handle.read(head, 0, 12, 0);
    return size > 44 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WAVE';
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}
