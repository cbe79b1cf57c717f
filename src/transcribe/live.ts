/**
 * The live side of transcription: windows are cut while the recording is being made and queued
 * as soon as each closes, so at release only the tail is left. The tail and the move to
 * `transcribing` happen in one step; a recording that cannot take them is left to start-up
 * resume, which cuts its file again.
 */
import type { Logger } from '../log.js';
import { isStorageError, type StorageErrorReport } from '../ops/storage-errors.js';
import type { Store } from '../store/store.js';
import { UnknownRecordingError } from './recording-errors.js';
import { WindowCutter, type CutWindow, type WindowCutterOptions } from './windows.js';

/** The live side of one recording: feed it what the recorder writes, end it after the take is stored. */
export interface LiveTranscription {
  /** The next samples of the recording (exactly what goes into its WAV, in order). No allocation. */
  feed(samples: Int16Array, start?: number, end?: number): void;
  /**
   * Queues the tail window and moves the recording to `transcribing`, at once and in one step.
   * Call after `recordings.finish(...)`, with the data length in samples. Never throws: if the row
   * is not `recorded` (the guard refuses the move), nothing is queued and the error is logged;
   * start-up resume transcribes the recording from its file.
   */
  end(totalSamples: number): void;
  /** The recording was discarded: drop its jobs. */
  cancel(): void;
}

interface LiveWindowsDeps {
  readonly store: Store;
  readonly cut: Pick<WindowCutterOptions, 'minSpeechMs' | 'maxWindowMs'>;
  readonly logger: Logger;
  /** The set of pending jobs changed. */
  readonly changed: () => void;
  /** A window of the recording was queued (for live views). */
  readonly queued?: (recordingId: string, seq: number) => void;
  /** A job was queued: look at the queue now. */
  readonly wake: () => void;
  /** A database error caught here (counted, shown as the storage fault). */
  readonly onStorageError?: StorageErrorReport;
}

export class LiveWindows {
  constructor(private readonly deps: LiveWindowsDeps) {}

  begin(recordingId: string, sampleRateHz: number): LiveTranscription {
    let ended = false;
    // Windows cut on the capture call stack wait here and are inserted off it (each insert
    // commits with an fsync); `end()` inserts what is still waiting first, so seq order holds.
    const waiting: CutWindow[] = [];
    let drainScheduled = false;
    const drain = (): void => {
      drainScheduled = false;
      for (let window = waiting.shift(); window !== undefined; window = waiting.shift()) this.enqueueWindow(recordingId, window);
    };
    // Run from setImmediate: anything thrown there would be an uncaught exception.
    const drainSafely = (): void => this.guarded('window-queue', recordingId, drain);
    const { minSpeechMs, maxWindowMs } = this.deps.cut;
    const cutter = new WindowCutter({ sampleRateHz, minSpeechMs, maxWindowMs }, (window) => {
      waiting.push(window);
      if (!drainScheduled) {
        drainScheduled = true;
        setImmediate(drainSafely);
      }
    });
    return {
      feed: (samples, start = 0, end = samples.length) => {
        if (!ended) cutter.feed(samples, start, end);
      },
      end: (totalSamples) => {
        if (ended) return;
        ended = true;
        const tail = cutter.finish(totalSamples);
        drain();
        this.queueTail(recordingId, tail);
      },
      cancel: () => {
        ended = true;
        waiting.length = 0;
        // Off the caller's stack; every throw is caught here, never left to the event loop.
        setImmediate(() => {
          this.guarded('job-cleanup', recordingId, () => this.deps.store.jobs.deleteForRecording(recordingId));
          this.guarded('job-cleanup', recordingId, () => this.deps.changed());
        });
      },
    };
  }

  private enqueueWindow(recordingId: string, window: CutWindow): void {
    try {
      this.deps.store.jobs.enqueue({ recordingId, seq: window.seq, startSample: window.startSample, endSample: window.endSample, final: false });
      this.deps.logger.debug({ recordingId, ...window, final: false }, 'window queued');
      this.deps.queued?.(recordingId, window.seq);
    } catch (error) {
      // Recording deleted meanwhile (foreign key) or the card refused the write: the recording
      // can still be transcribed later through enqueueRecording.
      this.failed('window-queue', error, recordingId, 'cannot queue a window', { seq: window.seq });
    }
    this.deps.changed();
    this.deps.wake();
  }

  /** The tail window and `recorded -> transcribing`, in one transaction: both or neither. */
  private queueTail(recordingId: string, tail: CutWindow): void {
    const { store } = this.deps;
    try {
      store.transaction(() => {
        store.jobs.enqueue({ recordingId, seq: tail.seq, startSample: tail.startSample, endSample: tail.endSample, final: true });
        if (store.recordings.setStatus(recordingId, 'transcribing') === undefined) throw new UnknownRecordingError(`no recording ${recordingId}`);
      });
      this.deps.logger.debug({ recordingId, ...tail }, 'tail window queued');
      this.deps.queued?.(recordingId, tail.seq);
    } catch (error) {
      // Not `recorded` yet (end() before finish()), deleted meanwhile, or the card refused the
      // write: the windows already queued stay, and resume at the next start cuts the file again.
      this.failed('tail-queue', error, recordingId, 'cannot queue the tail window');
    }
    this.deps.changed();
    this.deps.wake();
  }

  private guarded(op: string, recordingId: string, action: () => void): void {
    try {
      action();
    } catch (error) {
      this.failed(op, error, recordingId, 'live transcription step failed');
    }
  }

  private failed(op: string, error: unknown, recordingId: string, message: string, context: Record<string, unknown> = {}): void {
    if (isStorageError(error) && this.deps.onStorageError) {
      try {
        this.deps.onStorageError(op, error, { recordingId, ...context });
        return;
      } catch (hookError) {
        this.deps.logger.error({ err: hookError }, 'storage error hook threw');
      }
    }
    this.deps.logger.error({ err: error, recordingId, ...context }, message);
  }
}
