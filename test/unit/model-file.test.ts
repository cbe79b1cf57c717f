import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkModelFile, ModelCatalog, readGgmlModelInfo, sha256OfFile } from '../../src/transcribe/model-file.js';
import { ensureModel } from '../helpers/whisper.js';

let dir: string;
let good: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scout-model-file-'));
  good = join(dir, 'ggml-good.bin');
  await copyFile((await ensureModel('mini')).path, good);
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkModelFile', () => {
  it('accepts a ggml model and reports its size', async () => {
    const result = await checkModelFile(good);
    expect(result).toMatchObject({ ok: true, format: 'ggml' });
    expect(result.ok && result.bytes).toBeGreaterThan(1_000_000);
  });

  it('recognises a GGUF file', async () => {
    const path = join(dir, 'model.gguf');
    await writeFile(path, Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(2 * 1024 * 1024)]));
    expect(await checkModelFile(path)).toMatchObject({ ok: true, format: 'gguf' });
  });

  it('names the missing file', async () => {
    const missing = join(dir, 'ggml-nope.bin');
    const result = await checkModelFile(missing);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain(missing);
    expect(!result.ok && result.reason).toContain('does not exist');
  });

  it('rejects a truncated file, and the header reader sees the tensor data run out', async () => {
    const path = join(dir, 'ggml-truncated.bin');
    await copyFile(good, path);
    await truncate(path, 4096);
    const result = await checkModelFile(path);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain('truncated');

    const cut = join(dir, 'ggml-cut.bin');
    await copyFile(good, cut);
    await truncate(cut, 3_000_000);
    expect((await checkModelFile(cut)).ok).toBe(true); // large enough and the right magic...
    await expect(readGgmlModelInfo(cut)).rejects.toThrow(/end of file|past end/); // ...but not whole
  });

  it('rejects garbage without the magic', async () => {
    const path = join(dir, 'garbage.bin');
    await writeFile(path, randomBytes(2 * 1024 * 1024));
    const result = await checkModelFile(path);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain('magic');
  });

  it('verifies a sha256 when one is pinned', async () => {
    const digest = await sha256OfFile(good);
    expect(await checkModelFile(good, { sha256: digest.toUpperCase() })).toMatchObject({ ok: true });
    const wrong = await checkModelFile(good, { sha256: '0'.repeat(64) });
    expect(wrong.ok).toBe(false);
    expect(!wrong.ok && wrong.reason).toContain('sha256');
  });

  it('rejects a directory', async () => {
    const result = await checkModelFile(dir);
    expect(result.ok).toBe(false);
  });

  it('rejects a file whose magic is damaged', async () => {
    const path = join(dir, 'ggml-damaged.bin');
    await copyFile(good, path);
    const handle = await open(path, 'r+');
    await handle.write(Buffer.from([0, 0, 0, 0]), 0, 4, 0);
    await handle.close();
    expect((await checkModelFile(path)).ok).toBe(false);
  });
});

describe('ModelCatalog', () => {
  it('resolves tiers in the models folder and reports which exist', async () => {
    const catalog = new ModelCatalog(dir, { normal: 'ggml-good.bin', constrained: 'ggml-tiny.en-q8_0.bin' });
    expect(catalog.tierNames()).toEqual(['normal', 'constrained']);
    expect(catalog.pathOf('normal')).toBe(join(dir, 'ggml-good.bin'));
    expect(() => catalog.pathOf('huge')).toThrow(/unknown model tier/);
    const all = await catalog.checkAll();
    expect(all.map((s) => [s.tier, s.check.ok])).toEqual([
      ['normal', true],
      ['constrained', false],
    ]);
    expect((await catalog.firstAvailable(['constrained', 'normal']))?.tier).toBe('normal');
    expect(await catalog.firstAvailable(['constrained'])).toBeNull();
  });

  it('keeps absolute paths as they are', () => {
    const catalog = new ModelCatalog(dir, { normal: '/opt/models/x.bin' });
    expect(catalog.pathOf('normal')).toBe('/opt/models/x.bin');
  });
});
