import { open } from 'node:fs/promises';
import { readWavHeader, RIFF_SIZE_OFFSET, WavFormatError, MAX_WAV_DATA_BYTES, type WavFormat } from './wav.js';

export interface WavRepairResult {
  /** True if the header or the file length was changed. */
  readonly repaired: boolean;
  /** PCM bytes in the data chunk after repair. */
  readonly dataBytes: number;
  readonly durationMs: number;
  readonly format: WavFormat;
  /** Bytes cut from the end: a partial frame left by a write cut short. */
  readonly trimmedBytes: number;
  /** True if blocks reserved past the end of file (fallocate --keep-size) were freed. */
  readonly releasedReservation: boolean;
}

export class WavRepairError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'WavRepairError';
  }
}

// File systems may allocate a little beyond the size (block rounding, extent metadata).
const RESERVATION_SLACK_BYTES = 64 * 1024;

/**
 * Makes a WAV file left by a crash (header sizes stale, possibly a partial frame at the end)
 * consistent again: the data chunk is taken to run from its start to the end of the file,
 * minus any partial frame, and the RIFF and data size fields are rewritten in place.
 *
 * Why the file size is the truth: WavWriter writes PCM sequentially and reserves space ahead
 * only with `fallocate --keep-size`, which does not change st_size. So everything up to st_size
 * was written by us, and a run of zeros at the end is recorded silence, never a reservation;
 * there is nothing to guess and zeros are never stripped. (This assumes, as WavWriter guarantees,
 * that the data chunk is the last chunk of the file.)
 *
 * Idempotent: a consistent file is left untouched (repaired: false).
 */
export async function repairWav(path: string): Promise<WavRepairResult> {
  const fh = await open(path, 'r+');
  try {
    const { size: fileBytes, blocks } = await fh.stat();
    let parsed;
    try {
      parsed = await readWavHeader(fh, fileBytes);
    } catch (error) {
      if (error instanceof WavFormatError) {
        throw new WavRepairError(path, `cannot repair: ${error.message} (file is ${fileBytes} bytes)`);
      }
      throw error;
    }
    const { format, dataOffset, dataSizeFieldOffset } = parsed;
    if (fileBytes < dataOffset) throw new WavRepairError(path, `file ends inside its header (${fileBytes} bytes)`);
    const available = fileBytes - dataOffset;
    if (available > MAX_WAV_DATA_BYTES) throw new WavRepairError(path, 'data is larger than a WAV file can declare (4 GiB)');
    const dataBytes = available - (available % format.blockAlign);
    const endBytes = dataOffset + dataBytes;
    const riffBytes = endBytes - 8;
    const trimmedBytes = fileBytes - endBytes;
    // Blocks reserved past EOF by a writer that never reached finish(): invisible in the size,
    // but they hold disk space until released (ftruncate to the same size frees them).
    const holdsReservation = blocks * 512 > fileBytes + RESERVATION_SLACK_BYTES;
    const consistent =
      parsed.declaredDataBytes === dataBytes && parsed.declaredRiffBytes === riffBytes && trimmedBytes === 0;
    const durationMs = Math.round((dataBytes / format.blockAlign / format.sampleRateHz) * 1000);
    if (consistent && !holdsReservation) {
      return { repaired: false, dataBytes, durationMs, format, trimmedBytes: 0, releasedReservation: false };
    }

    const field = Buffer.alloc(4);
    field.writeUInt32LE(riffBytes, 0);
    await fh.write(field, 0, 4, RIFF_SIZE_OFFSET);
    field.writeUInt32LE(dataBytes, 0);
    await fh.write(field, 0, 4, dataSizeFieldOffset);
    if (trimmedBytes > 0 || holdsReservation) await fh.truncate(endBytes);
    await fh.sync();
    return { repaired: !consistent, dataBytes, durationMs, format, trimmedBytes, releasedReservation: holdsReservation };
  } finally {
    await fh.close();
  }
}
