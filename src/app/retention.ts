import { rm } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { audioFilePath } from '../store/audio-path.js';
import type { RecordingsRepo } from '../store/recordings.js';

export interface RetentionOptions {
  /** Free space to get back to; below it the oldest audio goes. */
  readonly keepFreeBytes: number;
  readonly freeBytes: () => Promise<number>;
  readonly recordings: Pick<RecordingsRepo, 'oldestRemovableAudio' | 'markAudioRemoved'>;
  readonly recordingsDir: string;
  readonly logger: Logger;
}

// A handful per look: the free space is read again after each file, and a batch bounds the query.
const BATCH = 8;

/**
 * The optional retention policy (config `recorder.retention`, off by default): when free space is
 * below keepFree, the WAVs of the oldest transcribed recordings are deleted until it is met. The
 * rows and transcripts stay (the text is the point, the audio is the bulk); the row says when its
 * audio went. Never a take being recorded or one still waiting for its transcript.
 */
export class Retention {
  private removed = 0;

  constructor(private readonly options: RetentionOptions) {}

  /** Runs when free is below keepFree; returns the free space after. */
  async enforce(free: number): Promise<number> {
    const { options } = this;
    let now = free;
    while (now < options.keepFreeBytes) {
      const batch = options.recordings.oldestRemovableAudio(BATCH);
      if (batch.length === 0) {
        options.logger.warn({ freeBytes: now, keepFreeBytes: options.keepFreeBytes }, 'retention: no transcribed audio left to delete');
        return now;
      }
      for (const recording of batch) {
        // The row first: a crash between the two leaves an orphan file, never a row whose audio vanished unsaid.
        if (!options.recordings.markAudioRemoved(recording.id)) continue;
        const path = audioFilePath(options.recordingsDir, recording.audioPath);
        if (path !== undefined) await rm(path, { force: true });
        this.removed += 1;
        options.logger.info({ recordingId: recording.id, startedAtMs: recording.startedAtMs, bytes: recording.bytes }, 'retention: deleted the audio of an old recording (transcript kept)');
        now = await options.freeBytes();
        if (now >= options.keepFreeBytes) return now;
      }
    }
    return now;
  }

  /** Recordings whose audio was deleted since start (the metric). */
  removedCount(): number {
    return this.removed;
  }
}
