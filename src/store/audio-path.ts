import { isAbsolute, join, relative } from 'node:path';

/**
 * The file of a recording, from its audio_path (relative to the recordings folder). Undefined
 * when the path would leave the folder: audio_path is written by the appliance, never by a
 * client, but a hand-edited row must not make us read or delete a file elsewhere.
 */
export function audioFilePath(recordingsDir: string, audioPath: string): string | undefined {
  const path = join(recordingsDir, audioPath);
  const inside = relative(recordingsDir, path);
  return inside === '' || inside.startsWith('..') || isAbsolute(inside) ? undefined : path;
}
