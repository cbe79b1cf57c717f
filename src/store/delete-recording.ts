import { unlink } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { Recording } from '../domain/recording.js';
import { audioFilePath } from './audio-path.js';
import type { PendingDeletion } from './deletions.js';
import type { Store } from './store.js';

/**
 * Deleting a recording: the rows first, in one transaction, then the audio file.
 *
 * Crash safety comes from a journal, not from a sweep of the folder. The transaction that drops
 * the rows also writes the file's path into `deletions`; the entry goes once the unlink is
 * confirmed, and start-up (`finishPendingDeletions`) retries whatever a crash, a power cut or a
 * failing unlink left. A sweep ("delete every WAV no row references") would also work, since the
 * appliance writes the row before the file, but it deletes files the database never decided to
 * delete: a WAV copied into the folder by hand, or the audio of a database restored from an older
 * backup. The journal only ever removes what a DELETE asked for.
 */

/** The repositories a delete touches (callers may hold a narrower view of the Store). */
type DeletionStore = Pick<Store, 'recordings' | 'transcripts' | 'jobs' | 'deletions' | 'outbox' | 'transaction'>;

export type DeleteRowsResult =
  | { readonly kind: 'deleted'; readonly recording: Recording; readonly pending: PendingDeletion }
  | { readonly kind: 'not_found' }
  /** Still being recorded: the recorder owns the file and the row until the take ends. */
  | { readonly kind: 'recording'; readonly recording: Recording };

export type DeleteResult =
  | { readonly kind: 'deleted'; readonly recording: Recording; readonly audioRemoved: boolean }
  | Exclude<DeleteRowsResult, { kind: 'deleted' }>;

/**
 * The database half of a delete, in one transaction: jobs, transcript and its history (and, by
 * trigger, the search document), the integrations' deliveries of it (pending or logged: private
 * speech must not outlive the delete there), the recording, and the journal entry for its file.
 * Either all of it lands or none. Exported on its own so a test can "crash" between it and the
 * unlink.
 */
export function deleteRecordingRows(store: DeletionStore, id: string, nowMs: () => number = Date.now): DeleteRowsResult {
  return store.transaction((): DeleteRowsResult => {
    const recording = store.recordings.get(id);
    if (!recording) return { kind: 'not_found' };
    if (recording.status === 'recording') return { kind: 'recording', recording };
    // A job of a `transcribing` recording may be running: when it settles, its row is gone and
    // the assembler drops its result (src/transcribe/assemble.ts), and the file it has open
    // stays readable until it closes it.
    store.jobs.deleteForRecording(id);
    store.transcripts.delete(id);
    store.outbox.deleteForRecording(id);
    const pending: PendingDeletion = { audioPath: recording.audioPath, recordingId: id, deletedAtMs: nowMs() };
    store.deletions.add(pending);
    store.recordings.delete(id);
    return { kind: 'deleted', recording, pending };
  });
}

/**
 * Removes one journalled file and then its entry. True when the file is gone (or was already:
 * a crash after the unlink and before the entry's removal). A failure is logged and the entry
 * kept for the next start-up; it never throws, because the rows are already gone.
 */
export async function removePendingAudio(store: DeletionStore, recordingsDir: string, pending: PendingDeletion, logger: Logger): Promise<boolean> {
  const path = audioFilePath(recordingsDir, pending.audioPath);
  if (path === undefined) {
    logger.error({ recordingId: pending.recordingId, audioPath: pending.audioPath }, 'refusing to delete a file outside the recordings folder');
    return dropEntry(store, pending, logger);
  }
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      logger.warn({ err: error, recordingId: pending.recordingId, audioPath: pending.audioPath }, 'could not delete the audio of a deleted recording; retrying at start-up');
      return false;
    }
  }
  return dropEntry(store, pending, logger);
}

function dropEntry(store: DeletionStore, pending: PendingDeletion, logger: Logger): boolean {
  try {
    store.deletions.remove(pending.audioPath);
    return true;
  } catch (error) {
    // The file is gone; a stale entry only means one more harmless (ENOENT) unlink at start-up.
    logger.warn({ err: error, recordingId: pending.recordingId }, 'could not clear a deletion journal entry');
    return true;
  }
}

/** DELETE /api/recordings/:id: the rows in one transaction, then the file. */
export async function deleteRecording(store: DeletionStore, recordingsDir: string, id: string, logger: Logger, nowMs: () => number = Date.now): Promise<DeleteResult> {
  const rows = deleteRecordingRows(store, id, nowMs);
  if (rows.kind !== 'deleted') return rows;
  const audioRemoved = await removePendingAudio(store, recordingsDir, rows.pending, logger);
  return { kind: 'deleted', recording: rows.recording, audioRemoved };
}

/**
 * Start-up step: removes the files of recordings whose rows were deleted but whose unlink did
 * not happen (a crash in between) or failed. Never throws; what still fails stays journalled.
 */
export async function finishPendingDeletions(store: DeletionStore, recordingsDir: string, logger: Logger): Promise<{ removed: number; failed: number }> {
  let removed = 0;
  let failed = 0;
  for (const pending of store.deletions.pending()) {
    if (await removePendingAudio(store, recordingsDir, pending, logger)) removed++;
    else failed++;
  }
  return { removed, failed };
}
