import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { PcmRing, RingCursor } from './ring-buffer.js';
import { WavWriter } from './wav-writer.js';

export interface RecorderOptions {
  readonly ring: PcmRing;
  readonly sampleRateHz: number;
  readonly recordingsDir: string;
  readonly preRollMs: number;
  readonly flushIntervalMs: number;
  /** Space reserved ahead of the data in each file (WavWriter's default when absent). */
  readonly reserveAheadBytes?: number;
  readonly logger: Logger;
}

/** Sees each span of samples as it goes to the file; `samples` is only valid during the call. */
export type SampleTap = (samples: Int16Array, start: number, end: number) => void;

export interface TakeResult {
  readonly id: string;
  readonly audioPath: string;
  /** PCM bytes in the WAV data chunk. */
  readonly bytes: number;
  readonly durationMs: number;
  /** Samples lost because the ring overwrote them before the writer caught up (should stay 0). */
  readonly overwrittenSamples: number;
  /** Samples the writer refused because the disk did not keep up (should stay 0). */
  readonly droppedSamples: number;
  /**
   * Set when the file failed (disk full, I/O error, read-only): the take was cut back to the
   * last good flush and this is the error that cut it.
   */
  readonly truncatedBy?: Error;
}

/** Called once, at once, when the active take's file fails (ENOSPC, EIO, ...). */
export type WriteErrorListener = (id: string, error: Error) => void;

/**
 * One recording in progress: a cursor into the capture ring and a WAV file being streamed.
 * The cursor starts `preRollMs` back, so the first word is never clipped by the press.
 */
class Take {
  readonly preRollSamples: number;
  private readonly cursor: RingCursor;
  private opened = false;
  private closed = false;

  constructor(
    readonly id: string,
    readonly audioPath: string,
    private readonly ring: PcmRing,
    private readonly writer: WavWriter,
    private readonly scratch: Int16Array,
    pressedAtPosition: number,
    preRollSamples: number,
    private readonly tap: SampleTap | null,
  ) {
    // Pre-roll counts back from the press, not from now: the action chain may have run later.
    this.cursor = ring.cursorBack(ring.writtenTotal - pressedAtPosition + preRollSamples);
    this.preRollSamples = Math.max(0, pressedAtPosition - this.cursor.position);
  }

  async open(): Promise<void> {
    await this.writer.open();
    this.opened = true;
    this.drain();
  }

  /** Moves everything the ring holds beyond the cursor into the writer. Synchronous: no await on the capture path. */
  drain(): void {
    if (!this.opened || this.closed) return;
    for (;;) {
      const count = this.ring.read(this.cursor, this.scratch);
      if (count === 0) return;
      // A false return (staging full: the card stalled for seconds) is counted by the writer.
      // The live transcriber sees exactly the samples the file gets, so its offsets match the file.
      if (this.writer.append(this.scratch, 0, count)) this.tap?.(this.scratch, 0, count);
    }
  }

  async finish(): Promise<TakeResult> {
    this.drain();
    this.closed = true;
    let result: { bytes: number; durationMs: number };
    let truncatedBy: Error | undefined;
    try {
      result = await this.writer.finish();
    } catch (error) {
      // The file failed: keep what the last good flush made safe rather than lose the take.
      if (this.writer.state !== 'failed' || this.writer.error === null) throw error;
      truncatedBy = this.writer.error;
      result = await this.writer.salvage();
    }
    return {
      id: this.id,
      audioPath: this.audioPath,
      bytes: result.bytes,
      durationMs: result.durationMs,
      overwrittenSamples: this.cursor.overwrittenSamples,
      droppedSamples: this.writer.stats.droppedSamples,
      ...(truncatedBy ? { truncatedBy } : {}),
    };
  }

  async discard(): Promise<void> {
    this.closed = true;
    await this.writer.abort();
  }
}

/**
 * Streams the capture ring into WAV files. At most one take is active; a take that is being
 * finished no longer listens to the ring, so a new press can start the next take at once.
 */
export class Recorder {
  private active: Take | null = null;
  // One second of scratch: the ring is drained every chunk (tens of ms), so this never fills.
  private readonly scratch: Int16Array;

  constructor(private readonly options: RecorderOptions) {
    this.scratch = new Int16Array(options.sampleRateHz);
  }

  /** Called by the capture pipeline after every chunk. */
  onCaptureChunk(): void {
    this.active?.drain();
  }

  isRecording(): boolean {
    return this.active !== null;
  }

  /** "Now" on the capture clock: take it at the button press and pass it to `begin`. */
  position(): number {
    return this.options.ring.writtenTotal;
  }

  /**
   * Starts a take whose audio begins `preRollMs` before `pressedAtPosition`. Synchronous, so the
   * caller can record the take (with its pre-roll) before the file exists; then call `open()`.
   */
  begin(
    id: string,
    pressedAtPosition: number = this.position(),
    tap: SampleTap | null = null,
    onWriteError: WriteErrorListener | null = null,
  ): { audioPath: string; preRollMs: number } {
    if (this.active) throw new Error(`recording ${this.active.id} is already in progress`);
    const audioPath = `${id}.wav`;
    const preRollSamples = Math.round((this.options.preRollMs / 1000) * this.options.sampleRateHz);
    const writer = new WavWriter({
      path: join(this.options.recordingsDir, audioPath),
      sampleRateHz: this.options.sampleRateHz,
      flushIntervalMs: this.options.flushIntervalMs,
      ...(this.options.reserveAheadBytes === undefined ? {} : { reserveAheadBytes: this.options.reserveAheadBytes }),
      logger: this.options.logger.child({ recordingId: id }),
      // Told at once (not at finish), so the take can stop while the last flush is still good.
      ...(onWriteError ? { onError: (error: Error) => onWriteError(id, error) } : {}),
    });
    const take = new Take(id, audioPath, this.options.ring, writer, this.scratch, pressedAtPosition, preRollSamples, tap);
    this.active = take;
    return { audioPath, preRollMs: Math.round((take.preRollSamples / this.options.sampleRateHz) * 1000) };
  }

  /** Creates the active take's file; on failure the take is dropped. */
  async open(): Promise<void> {
    const take = this.requireActive();
    try {
      await take.open();
    } catch (error) {
      if (this.active === take) this.active = null;
      throw error;
    }
  }

  /** Ends the active take and returns what was written. */
  async end(): Promise<TakeResult> {
    const take = this.requireActive();
    this.active = null;
    return take.finish();
  }

  /** Ends the active take and deletes its file. */
  async cancel(): Promise<string> {
    const take = this.requireActive();
    this.active = null;
    await take.discard();
    return take.id;
  }

  activeId(): string | null {
    return this.active?.id ?? null;
  }

  private requireActive(): Take {
    if (!this.active) throw new Error('no recording in progress');
    return this.active;
  }
}
