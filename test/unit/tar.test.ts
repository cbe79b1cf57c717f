/** The ustar writer, checked by the system's GNU tar: it lists and extracts what we wrote. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TAR_BLOCK_BYTES, tarEnd, tarEntry, tarHeader } from '../../src/util/tar.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-tar-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

/** The bytes as a stream of `size`-byte chunks, the way a file stream hands them over. */
function chunked(bytes: Buffer, size: number): AsyncIterable<Uint8Array> {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

describe('tar writer', () => {
  it('writes an archive GNU tar lists and extracts byte for byte, with long names, empty and block-sized files', async () => {
    const big = Buffer.alloc(70_001, 0);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251;
    const longDir = `scout-export-${'x'.repeat(80)}`;
    const files: { name: string; body: Buffer }[] = [
      { name: 'export/a.txt', body: Buffer.from('hello\n') },
      { name: 'export/empty.txt', body: Buffer.alloc(0) },
      { name: 'export/block.bin', body: Buffer.alloc(TAR_BLOCK_BYTES, 7) },
      { name: `${longDir}/${'y'.repeat(60)}.wav`, body: big },
      { name: 'export/ünïcode.txt', body: Buffer.from('ça va\n') },
    ];
    const mtimeMs = Date.UTC(2026, 0, 2, 3, 4, 5);
    async function* archive(): AsyncGenerator<Uint8Array> {
      for (const file of files) yield* tarEntry({ name: file.name, size: file.body.length, mtimeMs }, chunked(file.body, 4096));
      yield tarEnd();
    }
    const bytes = await collect(archive());
    expect(bytes.length % TAR_BLOCK_BYTES).toBe(0);
    const tarPath = join(dir, 'out.tar');
    writeFileSync(tarPath, bytes);

    const listing = execFileSync('tar', ['-tvf', tarPath], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    expect(listing.trim().split('\n').map((line) => line.split(/\s+/).slice(5).join(' '))).toEqual(files.map((file) => file.name));
    expect(listing).toContain('2026-01-02 03:04');
    expect(listing.split('\n')[0]).toMatch(/^-rw-r--r--/);

    const out = join(dir, 'x');
    mkdirSync(out);
    execFileSync('tar', ['-xf', tarPath, '-C', out]);
    for (const file of files) expect(readFileSync(join(out, file.name)).equals(file.body)).toBe(true);
  });

  it('refuses a body that is not the size its header promised, and unsafe names', async () => {
    await expect(collect(tarEntry({ name: 'a', size: 3, mtimeMs: 0 }, chunked(Buffer.from('ab'), 1)))).rejects.toThrow(/expected 3 bytes/);
    await expect(collect(tarEntry({ name: 'a', size: 1, mtimeMs: 0 }, chunked(Buffer.from('ab'), 1)))).rejects.toThrow(/expected 1 bytes/);
    for (const name of ['/etc/passwd', '../x', 'a/../b', '', 'a//b', `${'z'.repeat(101)}`]) {
      expect(() => tarHeader({ name, size: 0, mtimeMs: 0 })).toThrow(RangeError);
    }
    expect(() => tarHeader({ name: 'a', size: 8 ** 11, mtimeMs: 0 })).toThrow(RangeError);
  });
});
