import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeWav,
  parseWavHeader,
  readPcmRange,
  readWavFile,
  WAV_HEADER_BYTES,
  WAVE_FORMAT_EXTENSIBLE,
  WAVE_FORMAT_PCM,
  WavFormatError,
  writeWavHeader,
} from '../../src/audio/wav.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-wav-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** `soxi` answers from its own WAV reader, independent of ours. */
function soxi(path: string, flag: string): string {
  return execFileSync('soxi', [flag, path], { encoding: 'utf8' }).trim();
}

/** `sox FILE -n stat` prints its report on stderr. */
function soxStat(path: string): string {
  const result = spawnSync('sox', [path, '-n', 'stat'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`sox failed: ${result.stderr}`);
  return result.stderr;
}

/** A minimal WAV header (any tag and sample size) in front of `pcm`. */
function wavBytes(format: { sampleRateHz: number; channels: number }, pcm: Buffer, bitsPerSample = 16, formatTag = 1): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVE', 8, 'latin1');
  header.write('fmt ', 12, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(formatTag, 20);
  header.writeUInt16LE(format.channels, 22);
  header.writeUInt32LE(format.sampleRateHz, 24);
  header.writeUInt32LE((format.sampleRateHz * format.channels * bitsPerSample) / 8, 28);
  header.writeUInt16LE((format.channels * bitsPerSample) / 8, 32);
  header.writeUInt16LE(bitsPerSample, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

function s16(values: number[]): Buffer {
  return Buffer.from(new Int16Array(values).buffer);
}

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, body.length % 2 === 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

describe('writeWavHeader', () => {
  it('writes a canonical 44-byte header that sox reads with the right format and length', () => {
    const samples = new Int16Array(16000 * 0.25);
    for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16000));
    const header = writeWavHeader(Buffer.alloc(WAV_HEADER_BYTES), { sampleRateHz: 16000, channels: 1, dataBytes: samples.byteLength });
    const path = join(dir, 'tone.wav');
    writeFileSync(path, Buffer.concat([header, Buffer.from(samples.buffer)]));

    expect(soxi(path, '-r')).toBe('16000');
    expect(soxi(path, '-c')).toBe('1');
    expect(soxi(path, '-b')).toBe('16');
    expect(soxi(path, '-s')).toBe(String(samples.length));
    expect(soxi(path, '-e')).toBe('Signed Integer PCM');
    // sox decodes the samples we wrote: 440 Hz at amplitude 8000 has an RMS of 8000/sqrt(2) (in 1/32768 units).
    const statOut = soxStat(path);
    const rms = Number(/RMS\s+amplitude:\s+([\d.]+)/.exec(statOut)?.[1]);
    expect(rms).toBeCloseTo(8000 / Math.SQRT2 / 32768, 3);
  });

  it('round-trips through parseWavHeader for other rates and channel counts', () => {
    for (const [sampleRateHz, channels, dataBytes] of [
      [16000, 1, 0],
      [48000, 2, 192000],
      [8000, 1, 2 ** 31],
    ] as const) {
      const buf = writeWavHeader(Buffer.alloc(WAV_HEADER_BYTES), { sampleRateHz, channels, dataBytes });
      const parsed = parseWavHeader(buf);
      expect(parsed).toEqual({
        format: {
          audioFormat: WAVE_FORMAT_PCM,
          effectiveFormat: WAVE_FORMAT_PCM,
          channels,
          sampleRateHz,
          byteRate: sampleRateHz * channels * 2,
          blockAlign: channels * 2,
          bitsPerSample: 16,
        },
        dataOffset: 44,
        declaredDataBytes: dataBytes,
        dataSizeFieldOffset: 40,
        declaredRiffBytes: 36 + dataBytes,
      });
    }
  });

  it('writes at an offset into a larger buffer without touching the rest', () => {
    const buf = Buffer.alloc(100, 0xaa);
    writeWavHeader(buf, { sampleRateHz: 16000, channels: 1, dataBytes: 10 }, 50);
    expect(buf.subarray(0, 50).every((b) => b === 0xaa)).toBe(true);
    expect(buf.toString('latin1', 50, 54)).toBe('RIFF');
    expect(parseWavHeader(buf.subarray(50)).declaredDataBytes).toBe(10);
  });

  it('refuses impossible headers', () => {
    expect(() => writeWavHeader(Buffer.alloc(43), { sampleRateHz: 16000, channels: 1, dataBytes: 0 })).toThrow(/44 bytes/);
    expect(() => writeWavHeader(Buffer.alloc(44), { sampleRateHz: 0, channels: 1, dataBytes: 0 })).toThrow(/sample rate/);
    expect(() => writeWavHeader(Buffer.alloc(44), { sampleRateHz: 16000, channels: 0, dataBytes: 0 })).toThrow(/channel/);
    expect(() => writeWavHeader(Buffer.alloc(44), { sampleRateHz: 16000, channels: 1, dataBytes: 2 ** 32 })).toThrow(/data size/);
  });
});

describe('parseWavHeader', () => {
  it('skips LIST and odd-sized chunks before the data chunk', () => {
    const fmt = writeWavHeader(Buffer.alloc(44), { sampleRateHz: 22050, channels: 2, dataBytes: 0 }).subarray(12, 36);
    const list = chunk('LIST', Buffer.from('INFOISFT\x05\x00\x00\x00scout\x00', 'latin1'));
    const odd = chunk('junk', Buffer.from('abc'));
    const data = chunk('data', Buffer.alloc(8));
    const file = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE', 'latin1'), list, fmt, odd, data]);
    file.writeUInt32LE(file.length - 8, 4);
    const parsed = parseWavHeader(file);
    expect(parsed.format.sampleRateHz).toBe(22050);
    expect(parsed.format.channels).toBe(2);
    expect(parsed.dataOffset).toBe(file.length - 8);
    expect(parsed.declaredDataBytes).toBe(8);
    expect(parsed.dataSizeFieldOffset).toBe(file.length - 12);
    // And sox agrees with where the data is.
    const path = join(dir, 'list.wav');
    writeFileSync(path, file);
    expect(soxi(path, '-s')).toBe('2');
  });

  it('reads WAVE_FORMAT_EXTENSIBLE files with a fact chunk as sox writes them', () => {
    const path = join(dir, 'ext.wav');
    execFileSync('sox', ['-n', '-c', '3', '-r', '16000', '-b', '24', path, 'synth', '0.1', 'sine', '440']);
    const parsed = parseWavHeader(readFileSync(path));
    expect(parsed.format.audioFormat).toBe(WAVE_FORMAT_EXTENSIBLE);
    expect(parsed.format.effectiveFormat).toBe(WAVE_FORMAT_PCM);
    expect(parsed.format.channels).toBe(3);
    expect(parsed.format.bitsPerSample).toBe(24);
    expect(parsed.format.blockAlign).toBe(9);
    expect(parsed.declaredDataBytes).toBe(1600 * 9);
    expect(parsed.dataOffset + parsed.declaredDataBytes).toBe(readFileSync(path).length);
  });

  it('explains what is wrong with files that are not WAV', () => {
    const good = writeWavHeader(Buffer.alloc(44), { sampleRateHz: 16000, channels: 1, dataBytes: 0 });
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.alloc(0), /too short/],
      [Buffer.from('RIFF\0\0\0\0WAV', 'latin1'), /too short/],
      [Buffer.from('OggS\0\0\0\0WAVE', 'latin1'), /not a RIFF file \(starts with "OggS"\)/],
      [Buffer.from('RIFF\0\0\0\0AVI ', 'latin1'), /not WAVE/],
      [good.subarray(0, 36), /no data chunk/],
      [good.subarray(0, 12), /no fmt chunk/],
      [Buffer.concat([good.subarray(0, 12), good.subarray(36)]), /data chunk before fmt/],
      [Buffer.concat([good.subarray(0, 12), Buffer.from([0, 1, 2, 3, 4, 0, 0, 0])]), /garbage/],
    ];
    for (const [buf, message] of cases) {
      expect(() => parseWavHeader(buf)).toThrow(WavFormatError);
      expect(() => parseWavHeader(buf)).toThrow(message);
    }
    const zeroRate = Buffer.from(good);
    zeroRate.writeUInt32LE(0, 24);
    expect(() => parseWavHeader(zeroRate)).toThrow(/0 Hz/);
  });
});

describe('decodeWav and readWavFile', () => {
  it('reads PCM S16, walking past extra chunks, and takes data to the end when the size is unset', () => {
    const pcm = s16([1, 2, 3, 4]);
    const plain = decodeWav(wavBytes({ sampleRateHz: 16_000, channels: 1 }, pcm));
    expect(plain.format).toEqual({ sampleRateHz: 16_000, channels: 1 });
    expect(Array.from(plain.samples)).toEqual([1, 2, 3, 4]);
    // A LIST chunk of odd length (padded) before data, and a data size of 0 as a crashed writer leaves.
    const withList = wavBytes({ sampleRateHz: 16_000, channels: 2 }, pcm);
    const list = chunk('LIST', Buffer.from('ABC', 'latin1'));
    const bytes = Buffer.concat([withList.subarray(0, 36), list, withList.subarray(36)]);
    bytes.writeUInt32LE(0, 36 + list.length + 4);
    const parsed = decodeWav(bytes);
    expect(parsed.format.channels).toBe(2);
    expect(Array.from(parsed.samples)).toEqual([1, 2, 3, 4]);
  });

  it('drops a partial last frame and ignores bytes past a declared data size', () => {
    const stereo = wavBytes({ sampleRateHz: 8000, channels: 2 }, s16([1, 2, 3]));
    expect(Array.from(decodeWav(stereo).samples)).toEqual([1, 2]);
    const trailing = Buffer.concat([wavBytes({ sampleRateHz: 8000, channels: 1 }, s16([5, 6])), chunk('LIST', Buffer.from('meta'))]);
    expect(Array.from(decodeWav(trailing).samples)).toEqual([5, 6]);
  });

  it('rejects what it cannot play with a clear message naming the file', () => {
    const stereo = { sampleRateHz: 48_000, channels: 2 };
    expect(() => decodeWav(Buffer.from('not a wav at all'))).toThrow(/not a RIFF file/);
    expect(() => decodeWav(wavBytes(stereo, Buffer.alloc(8), 24))).toThrow(/only PCM S16/);
    expect(() => decodeWav(wavBytes(stereo, Buffer.alloc(8), 32, 3))).toThrow(/format tag 0x3/);
    const path = join(dir, 'float.wav');
    writeFileSync(path, wavBytes(stereo, Buffer.alloc(8), 32, 3));
    return expect(readWavFile(path)).rejects.toThrow(`${path}: unsupported WAV encoding`);
  });
});

describe('readPcmRange', () => {
  it('reads a frame range, fewer frames at the end, none past it', async () => {
    const path = join(dir, 'range.wav');
    writeFileSync(path, wavBytes({ sampleRateHz: 16_000, channels: 1 }, s16([10, 11, 12, 13, 14])));
    const middle = await readPcmRange(path, 1, 3);
    expect(middle.format).toEqual({ sampleRateHz: 16_000, channels: 1 });
    expect(Array.from(middle.pcm)).toEqual([11, 12]);
    expect(middle.availableFrames).toBe(5);
    expect(Array.from((await readPcmRange(path, 3, 100)).pcm)).toEqual([13, 14]);
    expect((await readPcmRange(path, 7, 9)).pcm).toHaveLength(0);
  });

  it('goes by the file size, not the header, while the file grows (the header lags by one flush)', async () => {
    const path = join(dir, 'growing.wav');
    // The header still says 0 bytes of data, as WavWriter's is before its first flush.
    writeFileSync(path, writeWavHeader(Buffer.alloc(WAV_HEADER_BYTES), { sampleRateHz: 16_000, channels: 1, dataBytes: 0 }));
    expect((await readPcmRange(path, 0, 4)).availableFrames).toBe(0);
    appendFileSync(path, s16([1, 2, 3]));
    // An odd trailing byte (a write in progress) is not a frame.
    appendFileSync(path, Buffer.from([7]));
    const range = await readPcmRange(path, 0, 4);
    expect(range.availableFrames).toBe(3);
    expect(Array.from(range.pcm)).toEqual([1, 2, 3]);
  });

  it('reads interleaved frames of a stereo file after a LIST chunk', async () => {
    const path = join(dir, 'stereo-range.wav');
    const plain = wavBytes({ sampleRateHz: 48_000, channels: 2 }, s16([1, -1, 2, -2, 3, -3]));
    writeFileSync(path, Buffer.concat([plain.subarray(0, 36), chunk('LIST', Buffer.alloc(5000)), plain.subarray(36)]));
    const range = await readPcmRange(path, 1, 3);
    expect(range.format).toEqual({ sampleRateHz: 48_000, channels: 2 });
    expect(Array.from(range.pcm)).toEqual([2, -2, 3, -3]);
    expect(range.availableFrames).toBe(3);
  });

  it('refuses files that are not PCM S16', async () => {
    const path = join(dir, 'float-range.wav');
    writeFileSync(path, wavBytes({ sampleRateHz: 16_000, channels: 1 }, Buffer.alloc(8), 32, 3));
    await expect(readPcmRange(path, 0, 1)).rejects.toThrow(WavFormatError);
  });
});
