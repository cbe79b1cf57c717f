import type { ButtonEdge } from './hardware/types.js';
import type { Logger } from './log.js';
import type { FaultSink } from './ops/faults.js';
import { isBusyError, isStorageError, storageErrorReason, type StorageErrorReport } from './ops/storage-errors.js';
import type { Recorder, TakeResult } from './audio/recorder.js';
import type { RecordingsRepo } from './store/recordings.js';
import type { LiveTranscription } from './transcribe/live.js';

/**
 * The appliance's state machine and the only place that knows the order of the steps:
 * button -> recorder -> store -> live transcription. It raises faults and says what changed; the
 * LEDs (app/leds.ts) and everything else that shows state consume those events.
 *
 *   idle --press--> recording --press+release--> (saving in background) --> idle
 *                       |--press held >= longPressCancelMs--> cancelled --> idle
 *
 * Button edges are handled in order on one chain, so a burst of presses while a recording is
 * being saved cannot interleave two starts or two stops.
 */

export type Phase = 'starting' | 'idle' | 'recording' | 'stopped';

export interface ApplianceSnapshot {
  readonly phase: Phase;
  readonly recordingId: string | null;
  readonly recordingStartedAtMs: number | null;
  readonly savesInFlight: number;
  /** The take in progress is in its last seconds before the maximum length. */
  readonly endingSoon: boolean;
  readonly lastEvent: string | null;
}

export interface ApplianceOptions {
  readonly mode: 'toggle' | 'hold';
  readonly longPressCancelMs: number;
  readonly maxDurationMs: number;
  readonly minFreeBytes: number;
  readonly sampleRateHz: number;
  readonly recorder: Recorder;
  readonly recordings: RecordingsRepo;
  /** Where 'disk' and 'storage' problems are reported. */
  readonly faults: FaultSink;
  /** Live transcription: windows are cut and sent while the take is recorded. Absent = recordings only. */
  readonly transcription?: { beginRecording(id: string): LiveTranscription } | null;
  readonly newId: () => string;
  /** Free bytes where recordings go; checked before each recording. */
  readonly freeBytes: () => Promise<number>;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Database/file errors the appliance caught: counted and shown (the 'storage' fault). */
  readonly onStorageError?: StorageErrorReport;
}

/** How a take ended: kept, thrown away by the user, or lost to an error. */
export interface RecordingOutcome {
  readonly id: string;
  readonly outcome: 'completed' | 'discarded' | 'failed';
  /** Audio kept, for completed takes. */
  readonly durationMs: number | null;
}

const ENDING_WARNING_MS = 10_000;

export class Appliance {
  private phase: Phase = 'starting';
  private current: { id: string; startedAtMs: number; live: LiveTranscription | null } | null = null;
  private savesInFlight = 0;
  private endingTimer: NodeJS.Timeout | null = null;
  private nearMaxDuration = false;
  private chain: Promise<void> = Promise.resolve();
  private pressedAtMs: number | null = null;
  private pressStartedRecording = false;
  private cancelTimer: NodeJS.Timeout | null = null;
  private maxDurationTimer: NodeJS.Timeout | null = null;
  private lastEvent: string | null = null;
  private readonly outcomeListeners: ((outcome: RecordingOutcome) => void)[] = [];
  private readonly changeListeners: (() => void)[] = [];
  private readonly now: () => number;
  /** Row updates the database refused (full card); tried again by `retryPendingWrites()`. */
  private readonly pendingWrites: { readonly id: string; readonly write: () => void }[] = [];

  constructor(private readonly options: ApplianceOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): Promise<void> {
    this.phase = 'idle';
    this.changed();
    return Promise.resolve();
  }

  /** Finishes (saves) a recording in progress and waits for saves. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.phase === 'stopped') return;
    this.clearTimers();
    await this.enqueue(async () => {
      if (this.current) await this.finishRecording('shutdown');
    });
    await this.chain;
    this.phase = 'stopped';
    this.changed();
  }

  /** A button edge, from the physical button or from the HTTP API: the same code path. */
  handleEdge(edge: ButtonEdge, atMs: number = this.now()): void {
    if (this.phase === 'starting' || this.phase === 'stopped') {
      this.options.logger.info({ edge, phase: this.phase }, 'button ignored: not running');
      return;
    }
    if (edge === 'press') this.onPress(atMs);
    else this.onRelease(atMs);
  }

  /** Press and release at once: what a short click of the button does. */
  toggle(): void {
    const atMs = this.now();
    this.handleEdge('press', atMs);
    this.handleEdge('release', atMs);
  }

  /** Resolves when every queued button action has run (tests and shutdown use it). */
  async settled(): Promise<void> {
    let seen: Promise<void> | null = null;
    while (seen !== this.chain) {
      seen = this.chain;
      await seen;
    }
  }

  /**
   * Stops the take in progress because storage is running out or failing (the free-space watch,
   * a write error). The take is kept up to what is on disk, its row says why. No-op when idle.
   */
  stopForStorage(reason: string): void {
    if (this.phase !== 'recording') return;
    void this.enqueue(() => this.finishRecording(reason, `truncated: ${reason}`));
  }

  /** Row updates that failed on a full card, tried again (storage accepts writes again). */
  retryPendingWrites(): void {
    while (this.pendingWrites.length > 0) {
      const pending = this.pendingWrites[0];
      if (pending === undefined) return;
      try {
        pending.write();
      } catch (error) {
        this.storageError('recording-update', error, pending.id);
        return;
      }
      this.pendingWrites.shift();
      this.options.logger.info({ recordingId: pending.id }, 'deferred recording update stored');
    }
  }

  onOutcome(listener: (outcome: RecordingOutcome) => void): void {
    this.outcomeListeners.push(listener);
  }

  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  snapshot(): ApplianceSnapshot {
    return {
      phase: this.phase,
      recordingId: this.current?.id ?? null,
      recordingStartedAtMs: this.current?.startedAtMs ?? null,
      savesInFlight: this.savesInFlight,
      endingSoon: this.nearMaxDuration,
      lastEvent: this.lastEvent,
    };
  }

  private onPress(atMs: number): void {
    this.pressedAtMs = atMs;
    this.pressStartedRecording = false;
    if (this.phase === 'idle') {
      this.pressStartedRecording = true;
      // Capture position at the press: the pre-roll counts back from here, not from when the action runs.
      const pressedAtPosition = this.options.recorder.position();
      // The phase changes now, not when the file is open, so a quick second press stops this take.
      this.phase = 'recording';
      this.changed();
      void this.enqueue(() => this.beginRecording(atMs, pressedAtPosition));
    }
    // Only a press made while already recording can cancel: holding the press that starts a take
    // is how people begin speaking, not a request to throw the take away.
    if (this.options.mode === 'toggle' && this.phase === 'recording' && !this.pressStartedRecording) {
      this.clearCancelTimer();
      this.cancelTimer = setTimeout(() => {
        this.cancelTimer = null;
        void this.enqueue(() => this.cancelRecording('long press'));
      }, this.options.longPressCancelMs);
    }
  }

  private onRelease(atMs: number): void {
    const heldMs = this.pressedAtMs === null ? 0 : atMs - this.pressedAtMs;
    const startedByThisPress = this.pressStartedRecording;
    this.pressedAtMs = null;
    this.pressStartedRecording = false;
    const cancelArmed = this.cancelTimer !== null;
    this.clearCancelTimer();
    if (this.phase !== 'recording') return;
    if (this.options.mode === 'hold') {
      void this.enqueue(() => this.finishRecording('release'));
      return;
    }
    // Toggle mode: the press that started the take does not end it; a later short press does.
    // Edges replayed with explicit times (HTTP, tests) can show a long hold without the timer having fired.
    if (startedByThisPress && heldMs < this.options.longPressCancelMs) return;
    if (heldMs >= this.options.longPressCancelMs && cancelArmed) {
      void this.enqueue(() => this.cancelRecording('long press'));
      return;
    }
    if (!startedByThisPress) void this.enqueue(() => this.finishRecording('button'));
  }

  private async beginRecording(pressedAtMs: number, pressedAtPosition: number): Promise<void> {
    const { recorder, recordings, logger } = this.options;
    const freeBytes = await this.options.freeBytes().catch(() => Number.POSITIVE_INFINITY);
    if (freeBytes < this.options.minFreeBytes) {
      this.phase = 'idle';
      this.noteEvent(`not recording: only ${Math.round(freeBytes / 1e6)} MB free`);
      this.options.faults.set('disk', `disk nearly full: ${Math.round(freeBytes / 1e6)} MB free`);
      logger.warn({ freeBytes }, 'recording refused: disk nearly full');
      return;
    }
    this.options.faults.set('disk', null);
    const id = this.options.newId();
    const startedAtMs = pressedAtMs;
    const live = this.options.transcription?.beginRecording(id) ?? null;
    this.current = { id, startedAtMs, live };
    try {
      const tap = live ? (samples: Int16Array, start: number, end: number): void => live.feed(samples, start, end) : null;
      const { audioPath, preRollMs } = recorder.begin(id, pressedAtPosition, tap, (failedId, error) => this.onWriteError(failedId, error));
      // The row comes before the file: if we crash after the file exists, start-up repair finds it by its status.
      const row = { id, startedAtMs, audioPath, sampleRateHz: this.options.sampleRateHz, preRollMs };
      try {
        recordings.create(row);
      } catch (error) {
        // Another process holds the database's write lock past the busy timeout (a backup, a
        // sqlite3 shell): the card itself takes writes, so the take goes on and its row is
        // written as soon as the lock goes (the storage watch's probe, then retryPendingWrites).
        // Refusing would lose what the person is saying now. A crash before then leaves the WAV
        // without a row (kept on disk, not listed).
        if (!isBusyError(error)) throw error;
        this.storageError('recording-start', error, id);
        this.pendingWrites.push({ id, write: () => recordings.create(row) });
      }
      await recorder.open();
      this.options.faults.set('storage', null);
      logger.info({ recordingId: id, preRollMs }, 'recording started');
      this.noteEvent(`recording ${id} started`);
      this.maxDurationTimer = setTimeout(() => {
        this.maxDurationTimer = null;
        void this.enqueue(() => this.finishRecording('maximum duration'));
      }, this.options.maxDurationMs);
      this.endingTimer = setTimeout(() => {
        this.endingTimer = null;
        this.nearMaxDuration = true;
        this.changed();
      }, Math.max(0, this.options.maxDurationMs - ENDING_WARNING_MS));
    } catch (error) {
      this.current = null;
      this.phase = 'idle';
      if (recorder.activeId() === id) await recorder.cancel().catch(() => undefined);
      live?.cancel();
      logger.error({ err: error, recordingId: id }, 'recording could not start');
      this.safely(() => recordings.markFailed(id, `could not start: ${(error as Error).message}`));
      this.emitOutcome({ id, outcome: 'failed', durationMs: null });
      if (isStorageError(error)) {
        // Counted and kept as the storage fault until a write goes through (the watch's probe),
        // and the press says why: a read-only or full card refuses the row before any audio.
        this.storageError('recording-start', error, id);
        this.noteEvent(`not recording: ${storageErrorReason(error)}`);
      }
      this.options.faults.set('storage', `cannot record: ${(error as Error).message}`);
    }
    this.changed();
  }

  /** `cutShort`: why the take ended before the user ended it (kept on the row with the audio). */
  private async finishRecording(reason: string, cutShort?: string): Promise<void> {
    const current = this.current;
    if (!current || !this.options.recorder.isRecording()) {
      this.current = null;
      if (this.phase === 'recording') this.phase = 'idle';
      return;
    }
    this.clearTimers();
    this.current = null;
    this.phase = 'idle';
    this.savesInFlight += 1;
    this.changed();
    const { logger, recordings } = this.options;
    const savingSinceMs = performance.now();
    try {
      const take: TakeResult = await this.options.recorder.end();
      const truncated = take.truncatedBy ? `truncated: ${storageErrorReason(take.truncatedBy)}` : cutShort;
      const finished = { endedAtMs: this.now(), durationMs: take.durationMs, bytes: take.bytes, ...(truncated ? { error: truncated } : {}) };
      const store = (): void => {
        recordings.finish(current.id, finished);
        // After the row says 'recorded': only the tail since the last live window is left to send.
        current.live?.end(take.bytes / 2);
      };
      if (this.pendingWrites.some((pending) => pending.id === current.id)) {
        // Its row is still waiting (the database was locked at the press): the finish follows it.
        this.pendingWrites.push({ id: current.id, write: store });
      } else {
        try {
          store();
        } catch (error) {
          if (!isStorageError(error)) throw error;
          // The audio is safe in its file; the row waits until the card takes writes again (or
          // start-up repair finds it still `recording`).
          this.storageError('recording-finish', error, current.id);
          this.pendingWrites.push({ id: current.id, write: store });
        }
      }
      logger.info(
        {
          recordingId: current.id,
          audioMs: take.durationMs,
          durationMs: Math.round(performance.now() - savingSinceMs),
          bytes: take.bytes,
          reason: truncated ?? reason,
          lostSamples: take.overwrittenSamples + take.droppedSamples,
        },
        truncated ? 'recording stopped by a write error; kept up to the last good flush' : 'recording saved',
      );
      this.noteEvent(
        truncated
          ? `recording ${current.id} ${truncated} (${(take.durationMs / 1000).toFixed(1)} s kept)`
          : `recording ${current.id} saved (${(take.durationMs / 1000).toFixed(1)} s)`,
      );
      this.emitOutcome({ id: current.id, outcome: 'completed', durationMs: take.durationMs });
    } catch (error) {
      logger.error({ err: error, recordingId: current.id }, 'recording could not be saved');
      current.live?.cancel();
      this.safely(() => recordings.markFailed(current.id, `could not save: ${(error as Error).message}`));
      this.emitOutcome({ id: current.id, outcome: 'failed', durationMs: null });
      this.options.faults.set('storage', `saving failed: ${(error as Error).message}`);
    } finally {
      this.savesInFlight -= 1;
      this.changed();
    }
  }

  /** The take's file failed (ENOSPC, EIO, read-only): stop now, while the last flush is good. */
  private onWriteError(id: string, error: Error): void {
    if (this.current?.id !== id) return;
    const reason = storageErrorReason(error);
    this.storageError('wav-write', error, id);
    // Set after the report so this, the more useful message, is what the LED and page show.
    this.options.faults.set('storage', `recording stopped: ${reason}`, 'fatal');
    this.noteEvent(`recording ${id} stopped: ${reason}`);
    void this.enqueue(() => this.finishRecording(`write error: ${reason}`));
  }

  private storageError(op: string, error: unknown, recordingId: string): void {
    if (this.options.onStorageError) {
      try {
        this.options.onStorageError(op, error, { recordingId });
        return;
      } catch (hookError) {
        this.options.logger.error({ err: hookError }, 'storage error hook threw');
      }
    }
    this.options.logger.error({ err: error, op, recordingId }, 'storage error');
    this.options.faults.set('storage', `storage error: ${storageErrorReason(error)}`, 'fatal');
  }

  private async cancelRecording(reason: string): Promise<void> {
    const current = this.current;
    if (!current || !this.options.recorder.isRecording()) return;
    this.clearTimers();
    this.current = null;
    this.phase = 'idle';
    try {
      await this.options.recorder.cancel();
      current.live?.cancel();
      this.options.recordings.delete(current.id);
      this.options.logger.info({ recordingId: current.id, reason }, 'recording cancelled and discarded');
      this.noteEvent(`recording ${current.id} cancelled`);
      this.emitOutcome({ id: current.id, outcome: 'discarded', durationMs: null });
    } catch (error) {
      this.options.logger.error({ err: error, recordingId: current.id }, 'cancelling the recording failed');
      this.safely(() => this.options.recordings.markFailed(current.id, `cancel failed: ${(error as Error).message}`));
    }
    this.changed();
  }

  private enqueue(action: () => Promise<void>): Promise<void> {
    const next = this.chain.then(action).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'button action failed');
    });
    this.chain = next;
    return next;
  }

  private emitOutcome(outcome: RecordingOutcome): void {
    for (const listener of this.outcomeListeners) {
      try {
        listener(outcome);
      } catch (error) {
        this.options.logger.error({ err: error }, 'outcome listener failed');
      }
    }
  }

  private noteEvent(text: string): void {
    this.lastEvent = text;
  }

  private changed(): void {
    for (const listener of this.changeListeners) {
      try {
        listener();
      } catch (error) {
        this.options.logger.error({ err: error }, 'state listener failed');
      }
    }
  }

  private safely(action: () => void): void {
    try {
      action();
    } catch (error) {
      if (isStorageError(error)) this.storageError('recording-update', error, this.current?.id ?? 'unknown');
      else this.options.logger.error({ err: error }, 'store update failed');
    }
  }

  private clearCancelTimer(): void {
    if (this.cancelTimer) clearTimeout(this.cancelTimer);
    this.cancelTimer = null;
  }

  private clearTimers(): void {
    this.clearCancelTimer();
    if (this.maxDurationTimer) clearTimeout(this.maxDurationTimer);
    this.maxDurationTimer = null;
    if (this.endingTimer) clearTimeout(this.endingTimer);
    this.endingTimer = null;
    this.nearMaxDuration = false;
  }
}
