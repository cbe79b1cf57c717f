import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { repairWav } from '../audio/wav-repair.js';
import { isStorageError } from '../ops/storage-errors.js';
import type { RecordingsRepo } from './recordings.js';

/**
 * Start-up repair: a recording still marked `recording` was cut off by a crash or a power cut.
 * Its WAV holds everything up to the last flush; rebuild the header from the file size and keep it.
 * A file that cannot be repaired is marked `failed` with the reason, never deleted. A row whose file
 * was never created (the row comes first: the cut came between the two) held no audio at all: it is
 * removed, so no recording without audio is left behind.
 */
export async function recoverInterruptedRecordings(
  recordings: RecordingsRepo,
  recordingsDir: string,
  logger: Logger,
  nowMs: () => number = Date.now,
): Promise<{ recovered: string[]; failed: string[]; dropped: string[] }> {
  const recovered: string[] = [];
  const failed: string[] = [];
  const dropped: string[] = [];
  for (const recording of recordings.findByStatus('recording')) {
    const log = logger.child({ recordingId: recording.id });
    try {
      const result = await repairWav(join(recordingsDir, recording.audioPath));
      recordings.finish(recording.id, {
        endedAtMs: recording.startedAtMs + result.durationMs,
        durationMs: result.durationMs,
        bytes: result.dataBytes,
        // Said on the row, as a full disk's take is: the last words after the last flush are gone.
        error: 'truncated: interrupted (power cut, crash or storage failure); kept up to the last flush',
      });
      recovered.push(recording.id);
      log.warn({ durationMs: result.durationMs, repaired: result.repaired, trimmedBytes: result.trimmedBytes }, 'recovered a recording interrupted by a crash');
    } catch (error) {
      // A full or failing card is not the file's fault: leave the row for a later run (the
      // caller retries when storage takes writes again) instead of calling the take lost.
      if (isStorageError(error)) throw error;
      // Only when the folder is there: a missing folder (a card not mounted) says nothing about the take.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && (await isDirectory(recordingsDir))) {
        recordings.delete(recording.id);
        dropped.push(recording.id);
        log.warn('dropped a recording cut off before its file was created (no audio was recorded)');
        continue;
      }
      const message = error instanceof Error ? error.message : String(error);
      recordings.markFailed(recording.id, `interrupted and not recoverable: ${message}`);
      failed.push(recording.id);
      log.error({ err: error, atMs: nowMs() }, 'interrupted recording could not be recovered');
    }
  }
  return { recovered, failed, dropped };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
