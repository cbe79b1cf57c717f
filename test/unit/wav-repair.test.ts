import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseWavHeader, WAV_HEADER_BYTES, writeWavHeader } from '../../src/audio/wav.js';
import { repairWav, WavRepairError } from '../../src/audio/wav-repair.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-wavr-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function pcm(samples: number, seed = 1): Buffer {
  const buf = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) buf.writeInt16LE(((i * 7919 + seed) % 65536) - 32768, i * 2);
  return buf;
}

function header(fields: { sampleRateHz?: number; channels?: number; dataBytes: number }): Buffer {
  return writeWavHeader(Buffer.alloc(WAV_HEADER_BYTES), {
    sampleRateHz: fields.sampleRateHz ?? 16000,
    channels: fields.channels ?? 1,
    dataBytes: fields.dataBytes,
  });
}

function soxi(path: string, flag: string): string {
  return execFileSync('soxi', [flag, path], { encoding: 'utf8' }).trim();
}

describe('repairWav', () => {
  it('rebuilds the sizes of a file a crash left with a stale header and drops a partial sample', async () => {
    const path = join(dir, 'crash.wav');
    const data = pcm(16000);
    // As the writer leaves it: header from the last flush (0 here), more data after, half a sample at the end.
    writeFileSync(path, Buffer.concat([header({ dataBytes: 0 }), data, Buffer.from([0x12])]));
    const result = await repairWav(path);
    expect(result).toMatchObject({ repaired: true, dataBytes: 32000, durationMs: 1000, trimmedBytes: 1 });
    expect(result.format).toMatchObject({ sampleRateHz: 16000, channels: 1 });

    const file = readFileSync(path);
    expect(file.length).toBe(WAV_HEADER_BYTES + 32000);
    const parsed = parseWavHeader(file);
    expect(parsed.declaredDataBytes).toBe(32000);
    expect(parsed.declaredRiffBytes).toBe(36 + 32000);
    expect(file.subarray(WAV_HEADER_BYTES).equals(data)).toBe(true);
    expect(soxi(path, '-s')).toBe('16000');
    expect(soxi(path, '-D')).toBe('1.000000');
  });

  it('is idempotent: a consistent file is left byte for byte as it was', async () => {
    const path = join(dir, 'ok.wav');
    const original = Buffer.concat([header({ dataBytes: 3200 }), pcm(1600)]);
    writeFileSync(path, original);
    const result = await repairWav(path);
    expect(result).toMatchObject({ repaired: false, dataBytes: 3200, durationMs: 100, trimmedBytes: 0 });
    expect(readFileSync(path).equals(original)).toBe(true);
    await repairWav(join(dir, 'ok.wav'));
    expect(readFileSync(path).equals(original)).toBe(true);
  });

  it('shrinks a header that claims more data than the file holds', async () => {
    const path = join(dir, 'short.wav');
    writeFileSync(path, Buffer.concat([header({ dataBytes: 1_000_000 }), pcm(800)]));
    const result = await repairWav(path);
    expect(result).toMatchObject({ repaired: true, dataBytes: 1600, durationMs: 50 });
    expect(soxi(path, '-s')).toBe('800');
  });

  it('keeps trailing zeros: they are recorded silence, never reservation (keep-size does not extend the file)', async () => {
    const path = join(dir, 'silence.wav');
    writeFileSync(path, Buffer.concat([header({ dataBytes: 0 }), pcm(1600), Buffer.alloc(16000)]));
    const result = await repairWav(path);
    expect(result.dataBytes).toBe(3200 + 16000);
    expect(statSync(path).size).toBe(WAV_HEADER_BYTES + 19200);
  });

  it('frees blocks reserved past the end by a writer that crashed, without touching the data', async () => {
    const path = join(dir, 'reserved.wav');
    const data = pcm(16000);
    writeFileSync(path, Buffer.concat([header({ dataBytes: 0 }), data]));
    execFileSync('fallocate', ['--keep-size', '--offset', String(WAV_HEADER_BYTES + data.length), '--length', String(1 << 20), path]);
    expect(statSync(path).blocks * 512).toBeGreaterThan(1 << 20);
    const result = await repairWav(path);
    expect(result).toMatchObject({ repaired: true, dataBytes: 32000, releasedReservation: true });
    expect(statSync(path).size).toBe(WAV_HEADER_BYTES + 32000);
    expect(statSync(path).blocks * 512).toBeLessThan(64 * 1024);
    expect(readFileSync(path).subarray(WAV_HEADER_BYTES).equals(data)).toBe(true);
  });

  it('trims to whole frames for stereo files', async () => {
    const path = join(dir, 'stereo.wav');
    writeFileSync(path, Buffer.concat([header({ channels: 2, sampleRateHz: 48000, dataBytes: 0 }), pcm(960), Buffer.alloc(3)]));
    const result = await repairWav(path);
    expect(result).toMatchObject({ dataBytes: 1920, trimmedBytes: 3, durationMs: 10 });
    expect(soxi(path, '-c')).toBe('2');
    expect(soxi(path, '-s')).toBe('480');
  });

  it('patches the size fields where they are when a LIST chunk precedes the data', async () => {
    const path = join(dir, 'list.wav');
    const canonical = header({ dataBytes: 0 });
    const listBody = Buffer.from('INFOISFT\x06\x00\x00\x00scout!', 'latin1');
    const list = Buffer.concat([Buffer.from('LIST', 'latin1'), Buffer.alloc(4), listBody]);
    list.writeUInt32LE(listBody.length, 4);
    const file = Buffer.concat([canonical.subarray(0, 36), list, canonical.subarray(36), pcm(100)]);
    writeFileSync(path, file);
    const result = await repairWav(path);
    expect(result).toMatchObject({ repaired: true, dataBytes: 200 });
    const parsed = parseWavHeader(readFileSync(path));
    expect(parsed.declaredDataBytes).toBe(200);
    expect(parsed.declaredRiffBytes).toBe(file.length - 8);
    expect(soxi(path, '-s')).toBe('100');
  });

  it('fails clearly for files too short for a header or with a garbage header', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['empty.wav', Buffer.alloc(0), /too short for a WAV header: 0 bytes/],
      ['cut-fmt.wav', header({ dataBytes: 0 }).subarray(0, 30), /fmt chunk truncated \(file is 30 bytes\)/],
      ['cut-data.wav', header({ dataBytes: 0 }).subarray(0, 40), /no data chunk in the first 40 bytes/],
      ['garbage.wav', Buffer.from('this is not audio at all, only text'), /not a RIFF file/],
      ['zeros.wav', Buffer.alloc(4096), /not a RIFF file/],
    ];
    for (const [name, content, message] of cases) {
      const path = join(dir, name);
      writeFileSync(path, content);
      const attempt = repairWav(path);
      await expect(attempt).rejects.toBeInstanceOf(WavRepairError);
      await expect(repairWav(path)).rejects.toThrow(message);
      // A failed repair changes nothing.
      expect(readFileSync(path).equals(content)).toBe(true);
    }
    await expect(repairWav(join(dir, 'missing.wav'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
