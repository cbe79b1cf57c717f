/**
 * The one WAV module: header writing, header parsing, decoding a whole file and reading a PCM
 * range of a file that may still be growing.
 *
 * We write the canonical 44-byte form (RIFF, fmt , data), which every player accepts and which
 * puts the two size fields at fixed offsets, so the writer and the crash repair can patch them in
 * place. The parser accepts what other tools write too (LIST/fact/JUNK chunks before the data,
 * WAVE_FORMAT_EXTENSIBLE), because SCOUT_SIM_AUDIO may come from sox or espeak-ng.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { PcmFormat } from '../hardware/types.js';

export const WAV_HEADER_BYTES = 44;
/** Offsets of the fields the writer patches while recording. */
export const RIFF_SIZE_OFFSET = 4;
export const CANONICAL_DATA_SIZE_OFFSET = 40;

export const WAVE_FORMAT_PCM = 1;
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

const MAX_U32 = 0xffff_ffff;

export interface WavHeaderFields {
  readonly sampleRateHz: number;
  readonly channels: number;
  /** Bytes of PCM in the data chunk. */
  readonly dataBytes: number;
  /** Only 16 is used by Scout; 8/24/32 are written correctly for completeness. */
  readonly bitsPerSample?: number;
}

export class WavFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WavFormatError';
  }
}

/** Largest data chunk a RIFF file can declare (its RIFF size field counts 36 header bytes too). */
export const MAX_WAV_DATA_BYTES = MAX_U32 - (WAV_HEADER_BYTES - 8);

/**
 * Writes the canonical header into `target` at `offset` (no allocation: the writer reuses one
 * 44-byte Buffer for every periodic header rewrite). Returns `target`.
 */
export function writeWavHeader(target: Buffer, fields: WavHeaderFields, offset = 0): Buffer {
  const bitsPerSample = fields.bitsPerSample ?? 16;
  const { sampleRateHz, channels, dataBytes } = fields;
  if (target.length - offset < WAV_HEADER_BYTES) {
    throw new RangeError(`WAV header needs ${WAV_HEADER_BYTES} bytes, target has ${target.length - offset}`);
  }
  if (!Number.isInteger(sampleRateHz) || sampleRateHz < 1 || sampleRateHz > MAX_U32) {
    throw new RangeError(`bad sample rate ${sampleRateHz}`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 0xffff) throw new RangeError(`bad channel count ${channels}`);
  if (![8, 16, 24, 32].includes(bitsPerSample)) throw new RangeError(`bad bits per sample ${bitsPerSample}`);
  const blockAlign = channels * (bitsPerSample / 8);
  if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > MAX_WAV_DATA_BYTES) {
    throw new RangeError(`bad data size ${dataBytes}`);
  }
  target.write('RIFF', offset, 'latin1');
  target.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, offset + RIFF_SIZE_OFFSET);
  target.write('WAVE', offset + 8, 'latin1');
  target.write('fmt ', offset + 12, 'latin1');
  target.writeUInt32LE(16, offset + 16);
  target.writeUInt16LE(WAVE_FORMAT_PCM, offset + 20);
  target.writeUInt16LE(channels, offset + 22);
  target.writeUInt32LE(sampleRateHz, offset + 24);
  target.writeUInt32LE(sampleRateHz * blockAlign, offset + 28);
  target.writeUInt16LE(blockAlign, offset + 32);
  target.writeUInt16LE(bitsPerSample, offset + 34);
  target.write('data', offset + 36, 'latin1');
  target.writeUInt32LE(dataBytes, offset + CANONICAL_DATA_SIZE_OFFSET);
  return target;
}

/** A canonical 44-byte-header PCM WAV around 16-bit mono samples (a clip for the engine, a test file). */
export function encodeWav(pcm: Int16Array, sampleRateHz: number): Buffer {
  const dataBytes = pcm.length * 2;
  const wav = Buffer.alloc(WAV_HEADER_BYTES + dataBytes);
  writeWavHeader(wav, { sampleRateHz, channels: 1, dataBytes });
  Buffer.from(pcm.buffer, pcm.byteOffset, dataBytes).copy(wav, WAV_HEADER_BYTES);
  return wav;
}

export interface WavFormat {
  /** 1 (PCM), 3 (float), 0xFFFE (extensible), ... as declared. */
  readonly audioFormat: number;
  /** For WAVE_FORMAT_EXTENSIBLE: the format code from the sub-format GUID; otherwise audioFormat. */
  readonly effectiveFormat: number;
  readonly channels: number;
  readonly sampleRateHz: number;
  readonly byteRate: number;
  readonly blockAlign: number;
  readonly bitsPerSample: number;
}

export interface ParsedWavHeader {
  readonly format: WavFormat;
  /** File offset of the first PCM byte. */
  readonly dataOffset: number;
  /** The data chunk size as written in the header (may be stale after a crash). */
  readonly declaredDataBytes: number;
  /** File offset of the data chunk's size field (for in-place repair). */
  readonly dataSizeFieldOffset: number;
  /** The RIFF size field as written. */
  readonly declaredRiffBytes: number;
}

/**
 * Parses the header from the first bytes of a file (pass at least 4 KiB, or the whole file when
 * it is smaller). Walks the chunks up to the data chunk; does not require the sizes to match
 * the file, since after a crash they will not.
 */
export function parseWavHeader(buf: Buffer): ParsedWavHeader {
  if (buf.length < 12) throw new WavFormatError(`too short for a WAV header: ${buf.length} bytes`);
  if (buf.toString('latin1', 0, 4) !== 'RIFF') {
    const tag = buf.toString('latin1', 0, 4);
    throw new WavFormatError(tag === 'RF64' ? 'RF64 files are not supported' : `not a RIFF file (starts with ${JSON.stringify(tag)})`);
  }
  if (buf.toString('latin1', 8, 12) !== 'WAVE') throw new WavFormatError('RIFF file is not WAVE');
  const declaredRiffBytes = buf.readUInt32LE(RIFF_SIZE_OFFSET);
  let format: WavFormat | undefined;
  let pos = 12;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('latin1', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16) throw new WavFormatError(`fmt chunk too small: ${size} bytes`);
      if (body + 16 > buf.length) throw new WavFormatError('fmt chunk truncated');
      const audioFormat = buf.readUInt16LE(body);
      let effectiveFormat = audioFormat;
      if (audioFormat === WAVE_FORMAT_EXTENSIBLE) {
        // cbSize(2) validBits(2) channelMask(4) then the GUID, whose first 2 bytes are the format code.
        if (size < 40 || body + 26 > buf.length) throw new WavFormatError('extensible fmt chunk truncated');
        effectiveFormat = buf.readUInt16LE(body + 24);
      }
      format = {
        audioFormat,
        effectiveFormat,
        channels: buf.readUInt16LE(body + 2),
        sampleRateHz: buf.readUInt32LE(body + 4),
        byteRate: buf.readUInt32LE(body + 8),
        blockAlign: buf.readUInt16LE(body + 12),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
      if (format.channels === 0) throw new WavFormatError('fmt chunk declares 0 channels');
      if (format.sampleRateHz === 0) throw new WavFormatError('fmt chunk declares a 0 Hz sample rate');
      if (format.blockAlign === 0) throw new WavFormatError('fmt chunk declares a 0-byte block');
    } else if (id === 'data') {
      if (format === undefined) throw new WavFormatError('data chunk before fmt chunk');
      return { format, dataOffset: body, declaredDataBytes: size, dataSizeFieldOffset: pos + 4, declaredRiffBytes };
    } else if (!/^[\x20-\x7e]{4}$/.test(id)) {
      throw new WavFormatError(`garbage where a chunk id should be at byte ${pos}`);
    }
    // Chunks are padded to an even size.
    pos = body + size + (size & 1);
  }
  throw new WavFormatError(
    format === undefined ? `no fmt chunk in the first ${buf.length} bytes` : `no data chunk in the first ${buf.length} bytes`,
  );
}

/**
 * Enough of a file's head for the canonical header and for files whose data chunk follows a
 * LIST chunk (sox and espeak-ng metadata).
 */
export const WAV_HEAD_PROBE_BYTES = 64 * 1024;

/** Reads and parses the header of an open file; `fileBytes` is its current size. */
export async function readWavHeader(file: FileHandle, fileBytes: number): Promise<ParsedWavHeader> {
  const head = Buffer.alloc(Math.min(WAV_HEAD_PROBE_BYTES, fileBytes));
  const { bytesRead } = await file.read(head, 0, head.length, 0);
  return parseWavHeader(head.subarray(0, bytesRead));
}

/** Throws WavFormatError unless the format is signed 16-bit integer PCM. */
function requirePcm16(format: WavFormat): void {
  if (format.effectiveFormat !== WAVE_FORMAT_PCM) {
    throw new WavFormatError(`unsupported WAV encoding (format tag 0x${format.effectiveFormat.toString(16)}); only PCM S16 is supported`);
  }
  if (format.bitsPerSample !== 16) {
    throw new WavFormatError(`unsupported WAV sample size ${format.bitsPerSample} bits; only PCM S16 is supported`);
  }
  if (format.blockAlign !== 2 * format.channels) {
    throw new WavFormatError(`WAV block of ${format.blockAlign} bytes does not fit ${format.channels} channel(s) of 16 bits`);
  }
}

/** A decoded PCM S16 WAV: its format and the interleaved samples (`channels` per frame). */
export interface DecodedWav {
  readonly format: PcmFormat;
  readonly samples: Int16Array;
}

/**
 * Decodes a whole PCM S16 WAV held in memory. A data size of 0 or one past the end of the bytes
 * (a file still being written, or left by a crash) means the data runs to the end; a partial
 * last frame is dropped.
 */
export function decodeWav(bytes: Buffer): DecodedWav {
  const header = parseWavHeader(bytes);
  const { format, dataOffset, declaredDataBytes } = header;
  requirePcm16(format);
  const available = Math.max(0, bytes.length - dataOffset);
  const size = declaredDataBytes === 0 || declaredDataBytes > available ? available : declaredDataBytes;
  const usable = size - (size % format.blockAlign);
  // A copy: the bytes may sit at an odd offset, and the caller may keep the samples longer than the file buffer.
  const samples = new Int16Array(usable / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(dataOffset + 2 * i);
  return { format: { sampleRateHz: format.sampleRateHz, channels: format.channels }, samples };
}

/** Reads and decodes a PCM S16 WAV file; errors name the file. */
export async function readWavFile(path: string): Promise<DecodedWav> {
  const bytes = await readFile(path);
  try {
    return decodeWav(bytes);
  } catch (error) {
    if (error instanceof WavFormatError) throw new WavFormatError(`${path}: ${error.message}`);
    throw error;
  }
}

/** Frames [from, to) of a WAV's data, and how many frames the file holds now. */
export interface PcmRange {
  readonly format: PcmFormat;
  /** Interleaved samples of the frames read: fewer than asked when the file does not hold them (yet). */
  readonly pcm: Int16Array;
  /** Frames of data in the file now. */
  readonly availableFrames: number;
}

/**
 * Reads frames [startFrame, endFrame) of a PCM S16 WAV file that may still be growing. The file
 * size, not the header, says how much is there: the writer rewrites the header once per flush,
 * so it lags the data while recording (its space reservation uses --keep-size, so the size is
 * exactly what was written).
 */
export async function readPcmRange(path: string, startFrame: number, endFrame: number): Promise<PcmRange> {
  const file = await open(path, 'r');
  try {
    const { size: fileBytes } = await file.stat();
    const header = await readWavHeader(file, fileBytes);
    const { format, dataOffset } = header;
    requirePcm16(format);
    const availableFrames = Math.max(0, Math.floor((fileBytes - dataOffset) / format.blockAlign));
    const from = Math.max(0, Math.min(startFrame, availableFrames));
    const to = Math.max(from, Math.min(endFrame, availableFrames));
    const bytes = Buffer.alloc((to - from) * format.blockAlign);
    if (bytes.length > 0) await file.read(bytes, 0, bytes.length, dataOffset + from * format.blockAlign);
    // Buffer.alloc never takes from the shared pool: the bytes start at offset 0, so the view is aligned.
    const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
    return { format: { sampleRateHz: format.sampleRateHz, channels: format.channels }, pcm, availableFrames };
  } finally {
    await file.close();
  }
}
