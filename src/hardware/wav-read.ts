import { readFile } from 'node:fs/promises';
import type { PcmFormat } from './types.js';

/** A decoded WAV file: the format and the interleaved signed 16-bit samples. */
export interface WavContents {
  readonly format: PcmFormat;
  /** Interleaved samples, `channels` per frame. */
  readonly samples: Int16Array;
}

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Reads a PCM S16 WAV file (the fake mic's clip). Anything else is a clear error naming the file. */
export async function readWav(path: string): Promise<WavContents> {
  const bytes = await readFile(path);
  try {
    return parseWav(bytes);
  } catch (error) {
    throw new Error(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Parses RIFF/WAVE bytes. Chunks are walked rather than assuming a 44-byte header, because
 * sox and espeak-ng write LIST chunks, and a WAV still being written (or left by a crash) has a
 * data size of 0 or 0xFFFFFFFF: the data then runs to the end of the file.
 */
export function parseWav(bytes: Buffer): WavContents {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let format: PcmFormat | null = null;
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('latin1', offset, offset + 4);
    const declaredSize = bytes.readUInt32LE(offset + 4);
    const bodyStart = offset + 8;
    if (id === 'fmt ') {
      if (declaredSize < 16 || bodyStart + 16 > bytes.length) throw new Error('truncated fmt chunk');
      let audioFormat = bytes.readUInt16LE(bodyStart);
      const channels = bytes.readUInt16LE(bodyStart + 2);
      const sampleRateHz = bytes.readUInt32LE(bodyStart + 4);
      const bitsPerSample = bytes.readUInt16LE(bodyStart + 14);
      if (audioFormat === WAVE_FORMAT_EXTENSIBLE && declaredSize >= 40 && bodyStart + 26 <= bytes.length) {
        // The first two bytes of the sub-format GUID carry the real format tag.
        audioFormat = bytes.readUInt16LE(bodyStart + 24);
      }
      if (audioFormat !== WAVE_FORMAT_PCM) {
        throw new Error(`unsupported WAV encoding (format tag 0x${audioFormat.toString(16)}); only PCM S16 is supported`);
      }
      if (bitsPerSample !== 16) {
        throw new Error(`unsupported WAV sample size ${bitsPerSample} bits; only PCM S16 is supported`);
      }
      if (channels < 1 || sampleRateHz < 1) throw new Error(`invalid WAV format: ${channels} channels at ${sampleRateHz} Hz`);
      format = { sampleRateHz, channels };
    } else if (id === 'data') {
      if (format === null) throw new Error('data chunk before fmt chunk');
      const available = bytes.length - bodyStart;
      const size = declaredSize === 0 || declaredSize > available ? available : declaredSize;
      const frameBytes = 2 * format.channels;
      const usable = size - (size % frameBytes);
      const samples = new Int16Array(usable / 2);
      for (let i = 0; i < samples.length; i += 1) samples[i] = bytes.readInt16LE(bodyStart + 2 * i);
      return { format, samples };
    }
    // Chunks are padded to an even length.
    offset = bodyStart + declaredSize + (declaredSize % 2);
  }
  throw new Error(format === null ? 'no fmt chunk' : 'no data chunk');
}
