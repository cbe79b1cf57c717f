import { join } from 'node:path';
import type { Logger } from '../log.js';
import { repairWav } from '../audio/wav-repair.js';
import type { RecordingsRepo } from './recordings.js';

/**
 * Start-up repair: a recording still marked `recording` was cut off by a crash or a power cut.
 * Its WAV holds everything up to the last flush; rebuild the header from the file size and keep it.
 * A file that cannot be repaired is marked `failed` with the reason, never deleted.
 */
export async function recoverInterruptedRecordings(
  recordings: RecordingsRepo,
  recordingsDir: string,
  logger: Logger,
  nowMs: () => number = Date.now,
): Promise<{ recovered: string[]; failed: string[] }> {
  const recovered: string[] = [];
  const failed: string[] = [];
  for (const recording of recordings.findByStatus('recording')) {
    const log = logger.child({ recordingId: recording.id });
    try {
      const result = await repairWav(join(recordingsDir, recording.audioPath));
      recordings.finish(recording.id, {
        endedAtMs: recording.startedAtMs + result.durationMs,
        durationMs: result.durationMs,
        bytes: result.dataBytes,
      });
      recovered.push(recording.id);
      log.warn({ durationMs: result.durationMs, repaired: result.repaired, trimmedBytes: result.trimmedBytes }, 'recovered a recording interrupted by a crash');
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      recordings.markFailed(recording.id, `interrupted and not recoverable: ${message}`);
      failed.push(recording.id);
      log.error({ err: error, atMs: nowMs() }, 'interrupted recording could not be recovered');
    }
  }
  return { recovered, failed };
}
