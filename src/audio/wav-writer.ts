import { open, unlink, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { FallocateReserver, type SpaceReserver } from '../util/fallocate.js';
import { WAV_HEADER_BYTES, writeWavHeader, MAX_WAV_DATA_BYTES } from './wav.js';

export interface WavWriterOptions {
  readonly path: string;
  readonly sampleRateHz: number;
  /** Interleaved channels in each append; Scout records mono. */
  readonly channels?: number;
  /** Header rewrite + fdatasync period: a killed process loses at most this much audio. */
  readonly flushIntervalMs?: number;
  /**
   * Capacity of the staging ring between append() and the disk. It absorbs disk stalls (an SD
   * card can block an fdatasync for seconds); default 8 s of audio.
   */
  readonly stagingBytes?: number;
  /** A write starts as soon as this much is staged, without waiting for the flush timer. */
  readonly writeBatchBytes?: number;
  /** Space reserved ahead of the data with `fallocate --keep-size`; 0 turns reservation off. */
  readonly reserveAheadBytes?: number;
  readonly reserver?: SpaceReserver;
  readonly logger: Logger;
  /** Called after each header rewrite + fdatasync, with the audio now safe on disk. */
  readonly onFlush?: (flushed: { readonly dataBytes: number; readonly durationMs: number }) => void;
  /** Called once when the writer fails (ENOSPC, EIO, ...). The error is also kept in `error`. */
  readonly onError?: (error: Error) => void;
}

export type WavWriterState = 'new' | 'opening' | 'open' | 'finishing' | 'finished' | 'aborted' | 'failed';

export interface WavWriterStats {
  /** PCM bytes handed to the kernel (survive a process crash). */
  readonly writtenBytes: number;
  /** PCM bytes covered by a header and fdatasync'ed (survive a power cut). */
  readonly flushedBytes: number;
  /** PCM bytes in the staging ring, not yet written. */
  readonly stagedBytes: number;
  /** Samples refused because the staging ring was full (disk stalled longer than the ring). */
  readonly droppedSamples: number;
  readonly writes: number;
  readonly flushes: number;
  readonly reservations: number;
  readonly reservationFailures: number;
}

export interface WavWriterResult {
  /** PCM bytes in the data chunk (the file is WAV_HEADER_BYTES longer). */
  readonly bytes: number;
  readonly durationMs: number;
}

/**
 * Streams PCM into a canonical WAV file that stays playable if the process is killed.
 *
 * - `append()` is synchronous and cheap: it copies samples into a preallocated staging ring
 *   (no allocation per chunk) and, once `writeBatchBytes` are staged, starts a write.
 * - One I/O operation is in flight at a time (a single pump loop); appends that arrive meanwhile
 *   land in the ring. When the ring is full, the chunk is refused whole (append returns false,
 *   `droppedSamples` counts it, a warning is logged once per writer): the ring never grows,
 *   so a stalled card cannot take the appliance's memory with it, and refusing whole chunks keeps
 *   the file frame-aligned.
 * - Every `flushIntervalMs` the staged data is written, the header's RIFF and data sizes are
 *   rewritten to the current length and the file is fdatasync'ed.
 * - Errors (ENOSPC, EIO, ...) move the writer to `failed`: never thrown into the event loop,
 *   reported through `onError`, `error`, and a rejected `finish()`/`flush()`. The file then holds
 *   a valid header for everything up to the last good flush (repairWav can extend it).
 */
export class WavWriter {
  private stateValue: WavWriterState = 'new';
  private errorValue: Error | null = null;
  private fh: FileHandle | null = null;
  private readonly blockAlign: number;
  private readonly flushIntervalMs: number;
  private readonly writeBatchBytes: number;
  private readonly reserveAheadBytes: number;
  private readonly reserver: SpaceReserver;
  private readonly log: Logger;
  private readonly header = Buffer.alloc(WAV_HEADER_BYTES);
  private readonly ring: Buffer;
  private readonly ringSamples: Int16Array;
  private ringReadBytes = 0;
  private ringFillBytes = 0;
  private writtenBytes = 0;
  private flushedBytes = 0;
  private droppedSamples = 0;
  private writes = 0;
  private flushes = 0;
  private reservations = 0;
  private reservationFailures = 0;
  private reservedEndBytes = 0;
  private reservation: Promise<void> | null = null;
  private pumping: Promise<void> | null = null;
  private pumpActive = false;
  private flushWanted = false;
  private drainAll = false;
  private timer: NodeJS.Timeout | null = null;
  private overflowWarned = false;
  private ending: Promise<WavWriterResult> | null = null;
  private aborting: Promise<void> | null = null;
  private opening: Promise<void> | null = null;
  private created = false;

  constructor(private readonly options: WavWriterOptions) {
    const channels = options.channels ?? 1;
    this.blockAlign = 2 * channels;
    const bytesPerSecond = options.sampleRateHz * this.blockAlign;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    const roundDown = (bytes: number): number => Math.max(this.blockAlign, bytes - (bytes % this.blockAlign));
    const stagingBytes = roundDown(options.stagingBytes ?? bytesPerSecond * 8);
    this.writeBatchBytes = Math.min(stagingBytes, roundDown(options.writeBatchBytes ?? 8192));
    this.reserveAheadBytes = options.reserveAheadBytes ?? 1024 * 1024;
    this.reserver = options.reserver ?? new FallocateReserver();
    this.log = options.logger.child({ path: options.path });
    // One ArrayBuffer seen as bytes (for writes) and as samples (for appends without conversion).
    const ringMemory = new ArrayBuffer(stagingBytes);
    this.ring = Buffer.from(ringMemory);
    this.ringSamples = new Int16Array(ringMemory);
  }

  get state(): WavWriterState {
    return this.stateValue;
  }

  get error(): Error | null {
    return this.errorValue;
  }

  get path(): string {
    return this.options.path;
  }

  get stats(): WavWriterStats {
    return {
      writtenBytes: this.writtenBytes,
      flushedBytes: this.flushedBytes,
      stagedBytes: this.ringFillBytes,
      droppedSamples: this.droppedSamples,
      writes: this.writes,
      flushes: this.flushes,
      reservations: this.reservations,
      reservationFailures: this.reservationFailures,
    };
  }

  /** Duration of everything accepted so far (written + staged). */
  get durationMs(): number {
    return this.bytesToMs(this.writtenBytes + this.ringFillBytes);
  }

  /**
   * Creates the file (it must not exist: O_CREAT|O_EXCL, so two recordings can never share one),
   * writes a header with data size 0 and makes the new directory entry durable.
   */
  open(): Promise<void> {
    if (this.stateValue !== 'new') return Promise.reject(new Error(`WavWriter.open() in state ${this.stateValue}`));
    this.opening = this.openOnce();
    return this.opening;
  }

  private async openOnce(): Promise<void> {
    // Int16Array uses the CPU's byte order and WAV is little-endian; every Pi (and x86) is LE.
    if (endianness() !== 'LE') throw new Error('WavWriter needs a little-endian CPU');
    this.stateValue = 'opening';
    try {
      this.fh = await open(this.options.path, 'wx');
      this.created = true;
      this.writeHeaderFields(0);
      await this.writeFully(this.header, 0, WAV_HEADER_BYTES, 0);
      await this.fh.datasync();
      await syncDirectory(dirname(this.options.path));
    } catch (error) {
      this.stateValue = 'failed';
      this.errorValue = toError(error);
      await this.closeQuietly();
      throw this.errorValue;
    }
    this.stateValue = 'open';
    this.maybeReserve();
    this.timer = setInterval(() => this.requestFlush(), this.flushIntervalMs);
    // The recorder keeps the process alive; a forgotten writer must not.
    this.timer.unref();
  }

  /**
   * Stages samples `[start, end)` (interleaved, whole frames). Returns false if they were not
   * taken: writer not open, failed, or staging ring full (counted in `droppedSamples`).
   */
  append(samples: Int16Array, start = 0, end = samples.length): boolean {
    if (this.stateValue !== 'open') return false;
    const count = end - start;
    if (count <= 0) return true;
    const bytes = count * 2;
    if (bytes % this.blockAlign !== 0) throw new RangeError(`append of ${count} samples is not a whole number of frames`);
    if (this.ringFillBytes + bytes > this.ring.length) {
      this.droppedSamples += count;
      if (!this.overflowWarned) {
        this.overflowWarned = true;
        this.log.warn(
          { stagedBytes: this.ringFillBytes, stagingBytes: this.ring.length },
          'disk is not keeping up: staging ring full, dropping audio',
        );
      }
      return false;
    }
    if (this.writtenBytes + this.ringFillBytes + bytes > MAX_WAV_DATA_BYTES) {
      this.droppedSamples += count;
      return false;
    }
    const capacitySamples = this.ringSamples.length;
    let at = ((this.ringReadBytes + this.ringFillBytes) / 2) % capacitySamples;
    // A plain loop: subarray()/set() would allocate a view object per chunk.
    for (let i = start; i < end; i++) {
      this.ringSamples[at] = samples[i] ?? 0;
      at = at + 1 === capacitySamples ? 0 : at + 1;
    }
    this.ringFillBytes += bytes;
    if (this.ringFillBytes >= this.writeBatchBytes) this.kick();
    return true;
  }

  /** Writes everything staged, rewrites the header and fdatasyncs now. Rejects if the writer failed. */
  async flush(): Promise<void> {
    if (this.stateValue === 'open') this.requestFlush(true);
    await this.pumping;
    if (this.errorValue !== null) throw this.errorValue;
  }

  /**
   * Writes the rest, the final header, releases reserved space past the end, fsyncs the file and
   * its directory, closes. Rejects with the writer's error if it failed (the file is kept).
   */
  finish(): Promise<WavWriterResult> {
    this.ending ??= this.finishOnce();
    return this.ending;
  }

  /**
   * Stops and deletes the file (a cancelled recording). Safe to call twice and in any state; after
   * a successful finish() it does nothing (the recording is kept: delete it explicitly).
   */
  abort(): Promise<void> {
    this.aborting ??= this.abortOnce();
    return this.aborting;
  }

  private async finishOnce(): Promise<WavWriterResult> {
    if (this.stateValue === 'new' || this.stateValue === 'opening' || this.stateValue === 'aborted') {
      throw new Error(`WavWriter.finish() in state ${this.stateValue}`);
    }
    this.stopTimer();
    if (this.stateValue === 'open') this.stateValue = 'finishing';
    this.requestFlush(true);
    await this.pumping;
    // A reservation that lands after the truncate would leave blocks allocated past the end.
    await this.reservation;
    const fh = this.fh;
    if (this.errorValue !== null || fh === null) {
      await this.closeQuietly();
      throw this.errorValue ?? new Error('WavWriter has no open file');
    }
    try {
      const endBytes = WAV_HEADER_BYTES + this.writtenBytes;
      // keep-size reservations do not change st_size; ftruncate to the same size still frees the
      // blocks past EOF (checked on ext4 by the tests).
      await fh.truncate(endBytes);
      await fh.sync();
      await fh.close();
      this.fh = null;
      await syncDirectory(dirname(this.options.path));
    } catch (error) {
      this.fail(error);
      await this.closeQuietly();
      throw this.errorValue ?? toError(error);
    }
    this.stateValue = 'finished';
    const result = { bytes: this.writtenBytes, durationMs: this.bytesToMs(this.writtenBytes) };
    this.log.debug({ ...result, writes: this.writes, flushes: this.flushes }, 'wav finished');
    return result;
  }

  /**
   * After a failure (ENOSPC, EIO, ...): cuts the file back to the last good flush, whose header
   * is already on disk, so it is a valid WAV of everything that survived. Shrinking needs no free
   * space; the header is rewritten in place (best effort: it already says this length unless the
   * failure hit between a header write and its fdatasync). Throws if the file cannot be opened.
   */
  async salvage(): Promise<WavWriterResult> {
    if (this.stateValue !== 'failed' || !this.created) throw new Error(`WavWriter.salvage() in state ${this.stateValue}`);
    await this.pumping;
    await this.reservation;
    await this.closeQuietly();
    const bytes = this.flushedBytes;
    const fh = await open(this.options.path, 'r+');
    try {
      try {
        this.writeHeaderFields(bytes);
        await fh.write(this.header, 0, WAV_HEADER_BYTES, 0);
      } catch (error) {
        this.log.warn({ err: error }, 'could not rewrite the header of a failed wav; keeping the last flushed one');
      }
      // On a read-only remount this fails too: the header still covers only the flushed data, the
      // bytes past it are ignored by readers and trimmed by a later repair.
      await fh.truncate(WAV_HEADER_BYTES + bytes).catch((error: unknown) => this.log.warn({ err: error }, 'could not cut a failed wav back to its last flush'));
      await fh.datasync().catch((error: unknown) => this.log.warn({ err: error }, 'fdatasync of a salvaged wav failed'));
    } finally {
      await fh.close();
    }
    return { bytes, durationMs: this.bytesToMs(bytes) };
  }

  private async abortOnce(): Promise<void> {
    // An abort racing open() waits for the file to exist, then removes it.
    await this.opening?.catch(() => undefined);
    // Only a file this writer created is ours to delete (open() with EEXIST created nothing), and
    // a finished recording is never deleted by a defensive abort() on some shutdown path.
    if (this.stateValue === 'finished' || this.stateValue === 'finishing') {
      const finished = await this.ending?.then(
        () => true,
        () => false,
      );
      if (finished === true) return;
    }
    const wasCreated = this.created;
    this.stopTimer();
    if (this.stateValue !== 'failed' && this.stateValue !== 'finished') this.stateValue = 'aborted';
    // Wait for the I/O in flight so the unlink is not followed by a write to a dead inode.
    await this.pumping;
    await this.reservation;
    await this.closeQuietly();
    if (!wasCreated) return;
    try {
      await unlink(this.options.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ err: error }, 'could not delete an aborted recording');
      }
    }
  }

  private requestFlush(all = false): void {
    this.flushWanted = true;
    if (all) this.drainAll = true;
    this.kick();
  }

  private kick(): void {
    if (this.pumpActive) return;
    this.pumpActive = true;
    this.pumping = this.pump();
  }

  /** The only place that does I/O on the file: one operation at a time. Never rejects. */
  private async pump(): Promise<void> {
    try {
      for (;;) {
        if (this.errorValue !== null || this.fh === null) return;
        if (this.stateValue === 'aborted') return;
        const fill = this.ringFillBytes;
        if (fill > 0 && (fill >= this.writeBatchBytes || this.flushWanted || this.drainAll)) {
          await this.writeStaged();
          continue;
        }
        if (this.flushWanted) {
          this.flushWanted = false;
          this.drainAll = false;
          await this.writeHeaderAndSync();
          continue;
        }
        return;
      }
    } catch (error) {
      this.fail(error);
    } finally {
      // Cleared in the same turn as the last check for work, so a request that arrives after
      // it starts a new pump instead of being left for a loop that has already decided to end.
      this.pumpActive = false;
    }
  }

  private async writeStaged(): Promise<void> {
    // The contiguous part of the ring; the wrapped rest goes in the next round.
    const length = Math.min(this.ringFillBytes, this.ring.length - this.ringReadBytes);
    await this.writeFully(this.ring, this.ringReadBytes, length, WAV_HEADER_BYTES + this.writtenBytes);
    this.writes++;
    this.writtenBytes += length;
    this.ringReadBytes = (this.ringReadBytes + length) % this.ring.length;
    this.ringFillBytes -= length;
    this.maybeReserve();
  }

  private async writeHeaderAndSync(): Promise<void> {
    const fh = this.fh;
    if (fh === null) return;
    const dataBytes = this.writtenBytes;
    if (dataBytes === this.flushedBytes && this.flushes > 0) return;
    this.writeHeaderFields(dataBytes);
    await this.writeFully(this.header, 0, WAV_HEADER_BYTES, 0);
    // fdatasync: the size change and the data matter, timestamps do not.
    await fh.datasync();
    this.flushes++;
    this.flushedBytes = dataBytes;
    try {
      this.options.onFlush?.({ dataBytes, durationMs: this.bytesToMs(dataBytes) });
    } catch (listenerError) {
      // A listener's bug must not fail the recording.
      this.log.error({ err: listenerError }, 'WavWriter onFlush listener threw');
    }
  }

  private async writeFully(buffer: Buffer, offset: number, length: number, position: number): Promise<void> {
    const fh = this.fh;
    if (fh === null) throw new Error('WavWriter has no open file');
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await fh.write(buffer, offset + done, length - done, position + done);
      if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten}`);
      done += bytesWritten;
    }
  }

  private writeHeaderFields(dataBytes: number): void {
    writeWavHeader(this.header, {
      sampleRateHz: this.options.sampleRateHz,
      channels: this.blockAlign / 2,
      dataBytes,
    });
  }

  /** Starts a reservation when less than half a step is left; never awaited by the data path. */
  private maybeReserve(): void {
    if (this.reserveAheadBytes <= 0 || this.reservation !== null) return;
    const endBytes = WAV_HEADER_BYTES + this.writtenBytes;
    if (this.reservedEndBytes - endBytes > this.reserveAheadBytes / 2) return;
    const offsetBytes = Math.max(this.reservedEndBytes, endBytes);
    const lengthBytes = this.reserveAheadBytes;
    this.reservedEndBytes = offsetBytes + lengthBytes;
    this.reservation = this.reserver
      .reserve(this.options.path, offsetBytes, lengthBytes)
      .then(
        (result) => {
          if (result.ok) {
            this.reservations++;
          } else {
            this.reservationFailures++;
            // Rate-limited by construction: at most one attempt per reservation step.
            this.log.warn({ reason: result.reason }, 'space reservation failed; recording continues without it');
          }
        },
        (error: unknown) => {
          this.reservationFailures++;
          this.log.warn({ err: error }, 'space reservation threw; recording continues without it');
        },
      )
      .finally(() => {
        this.reservation = null;
      });
  }

  private fail(error: unknown): void {
    if (this.errorValue !== null) return;
    this.errorValue = toError(error);
    this.stateValue = 'failed';
    this.stopTimer();
    this.log.error(
      { err: this.errorValue, writtenBytes: this.writtenBytes, flushedBytes: this.flushedBytes },
      'wav write failed',
    );
    try {
      this.options.onError?.(this.errorValue);
    } catch (listenerError) {
      this.log.error({ err: listenerError }, 'WavWriter onError listener threw');
    }
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async closeQuietly(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh === null) return;
    try {
      await fh.close();
    } catch (error) {
      this.log.warn({ err: error }, 'closing the wav file failed');
    }
  }

  private bytesToMs(bytes: number): number {
    return Math.round((bytes / this.blockAlign / this.options.sampleRateHz) * 1000);
  }
}

/** fsync of a directory: makes a new (or removed) entry in it survive a power cut. */
export async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
