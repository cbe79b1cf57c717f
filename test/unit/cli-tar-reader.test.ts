import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractTo } from '../../src/cli/extract.js';
import { readTar, safeEntryPath, TarFormatError } from '../../src/cli/tar-reader.js';
import { tarEnd, tarEntry } from '../../src/util/tar.js';

async function* chunked(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) {
    // A network stream gives the event loop a turn between chunks; so does this one.
    await Promise.resolve();
    yield data.subarray(offset, offset + size);
  }
}

async function collect(archive: Buffer, chunkBytes: number): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  await readTar(chunked(archive, chunkBytes), (entry) => {
    if (entry.type !== 'file') return null;
    const parts: Buffer[] = [];
    return { write: (chunk) => void parts.push(Buffer.from(chunk)), end: () => void files.set(entry.name, Buffer.concat(parts)) };
  });
  return files;
}

describe('the tar reader', () => {
  let work: string;
  const wav = randomBytes(70_001);
  const longDir = 'd'.repeat(120);
  const longFile = `${'f'.repeat(110)}.txt`;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'scout-tar-'));
    await mkdir(join(work, 'src', 'scout-export', longDir), { recursive: true });
    await writeFile(join(work, 'src', 'scout-export', 'a.wav'), wav);
    await writeFile(join(work, 'src', 'scout-export', 'a.txt'), 'hello there\n');
    await writeFile(join(work, 'src', 'scout-export', 'empty.json'), '');
    await writeFile(join(work, 'src', 'scout-export', longDir, longFile), 'deep\n');
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    it(`reads what the system tar writes (${format}), in any chunking`, async () => {
      const members = format === 'ustar' ? ['scout-export/a.wav', 'scout-export/a.txt', 'scout-export/empty.json'] : ['scout-export'];
      const archive = execFileSync('tar', [`--format=${format}`, '-cf', '-', '-C', join(work, 'src'), ...members], { maxBuffer: 1 << 24 });
      for (const chunkBytes of [1, 511, 4096, archive.length]) {
        const files = await collect(archive, chunkBytes);
        expect(files.get('scout-export/a.wav')?.equals(wav)).toBe(true);
        expect(files.get('scout-export/a.txt')?.toString()).toBe('hello there\n');
        expect(files.get('scout-export/empty.json')?.length).toBe(0);
        // ustar cannot hold a 231-byte path; gnu and pax can, each in its own way.
        if (format !== 'ustar') expect(files.get(`scout-export/${longDir}/${longFile}`)?.toString()).toBe('deep\n');
      }
    });
  }

  it('reads what the box writes (src/util/tar.ts)', async () => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of tarEntry({ name: 'x/1.wav', size: wav.length, mtimeMs: 0 }, wav)) chunks.push(chunk);
    for await (const chunk of tarEntry({ name: 'x/manifest.json', size: 2, mtimeMs: 0 }, Buffer.from('{}'))) chunks.push(chunk);
    chunks.push(tarEnd());
    const files = await collect(Buffer.concat(chunks), 1000);
    expect([...files.keys()]).toEqual(['x/1.wav', 'x/manifest.json']);
    expect(files.get('x/1.wav')?.equals(wav)).toBe(true);
  });

  it('says a cut-off download is truncated instead of returning part of it', async () => {
    const archive = execFileSync('tar', ['--format=ustar', '-cf', '-', '-C', join(work, 'src'), 'scout-export/a.wav']);
    await expect(collect(archive.subarray(0, 10_000), 512)).rejects.toThrow(/truncated/);
    await expect(collect(archive.subarray(0, 512 + 70_001 + 511), 512)).rejects.toThrow(TarFormatError);
  });

  it('refuses something that is not a tar', async () => {
    await expect(collect(Buffer.alloc(1024, 7), 512)).rejects.toThrow(/not a tar archive/);
  });

  it('extracts into a folder and never outside it', async () => {
    const archive = execFileSync('tar', ['-cf', '-', '-C', join(work, 'src'), 'scout-export'], { maxBuffer: 1 << 24 });
    const out = join(work, 'out');
    const files = await extractTo(chunked(archive, 3000), out);
    expect(files.map((file) => file.path).sort()).toContain(join(out, 'scout-export', 'a.wav'));
    expect((await readFile(join(out, 'scout-export', 'a.wav'))).equals(wav)).toBe(true);
    expect((await readdir(join(out, 'scout-export'))).some((name) => name.endsWith('.part'))).toBe(false);
    expect(safeEntryPath('../etc/passwd')).toBeNull();
    expect(safeEntryPath('/etc/passwd')).toBeNull();
    expect(safeEntryPath('a/../../b')).toBeNull();
    expect(safeEntryPath('./a//b.txt')).toBe('a/b.txt');
  });

  it('stops at an unsafe path and leaves no half-written file', async () => {
    const chunks: Uint8Array[] = [];
    // The box's writer refuses '..', so the evil archive is built by hand from a good header.
    for await (const chunk of tarEntry({ name: 'ok.txt', size: 3, mtimeMs: 0 }, Buffer.from('abc'))) chunks.push(chunk);
    const evil = Buffer.from(chunks[0] as Uint8Array);
    evil.fill(0, 0, 100);
    evil.write('../evil.txt', 0);
    evil.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of evil) sum += byte;
    evil.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    const out = join(work, 'evil-out');
    await expect(extractTo(chunked(Buffer.concat([evil, Buffer.from(chunks[1] as Uint8Array), Buffer.from(chunks[2] as Uint8Array), tarEnd()]), 512), out)).rejects.toThrow(/unsafe/);
    await expect(readFile(join(work, 'evil.txt'))).rejects.toThrow();
  });
});
