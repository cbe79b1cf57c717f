import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModel, gpt2ByteOrder, slaneyMelFilters, tensorCountFor, hparamsFor, STORED_VOCAB_COUNT } from '../../src/transcribe/model-gen.js';
import { readGgmlModelInfo, checkModelFile } from '../../src/transcribe/model-file.js';
import { ensureModel, ensureWhisperBuilt, speechWav } from '../helpers/whisper.js';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scout-model-gen-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

describe('generated mini model', () => {
  it('has the ggml header, mel filters, GPT-2 byte vocab and every tensor whisper.cpp expects', async () => {
    const path = join(dir, 'mini.bin');
    const generated = await generateModel(path, { kind: 'mini', seed: 7, decodeTokens: 5 });
    const info = await readGgmlModelInfo(path);

    expect(info.hparams).toEqual({
      nVocab: 51864, nAudioCtx: 1500, nAudioState: 64, nAudioHead: 1, nAudioLayer: 1,
      nTextCtx: 448, nTextState: 64, nTextHead: 1, nTextLayer: 1, nMels: 80, ftype: 1,
    });
    expect(info.melFilters).toEqual({ nMel: 80, nFft: 201 });
    expect(info.vocabCount).toBe(STORED_VOCAB_COUNT);
    const order = gpt2ByteOrder();
    expect(info.vocabPreview.map((token) => token[0])).toEqual(order);
    expect(info.vocabPreview.every((token) => token.length === 1)).toBe(true);
    // whisper.cpp looks up " " and throws without it: GPT-2 id 220 is the space byte
    expect(info.vocabPreview[220]).toEqual(Buffer.from(' '));

    expect(info.tensors).toHaveLength(50);
    expect(info.tensors).toHaveLength(tensorCountFor(hparamsFor('mini')));
    expect(generated.tensorCount).toBe(50);
    const byName = new Map(info.tensors.map((t) => [t.name, t]));
    expect(byName.get('encoder.conv1.weight')).toMatchObject({ ne: [3, 80, 64], type: 1 });
    expect(byName.get('encoder.conv1.bias')).toMatchObject({ ne: [1, 64], type: 0 });
    expect(byName.get('encoder.positional_embedding')).toMatchObject({ ne: [64, 1500], type: 0 });
    expect(byName.get('decoder.token_embedding.weight')).toMatchObject({ ne: [64, 51864], type: 1 });
    expect(byName.get('decoder.positional_embedding')).toMatchObject({ ne: [64, 448], type: 0 });
    expect(byName.get('decoder.blocks.0.cross_attn.key.weight')).toMatchObject({ ne: [64, 64], type: 1 });
    expect(byName.get('encoder.blocks.0.mlp.0.weight')).toMatchObject({ ne: [64, 256], type: 1 });
    expect(byName.get('decoder.ln.bias')).toMatchObject({ ne: [64], type: 0 });
    expect(info.bytes).toBe(generated.bytes);
    expect((await checkModelFile(path)).ok).toBe(true);
  });

  it('is byte-identical for the same seed and differs for another seed', async () => {
    const a = join(dir, 'a.bin');
    const b = join(dir, 'b.bin');
    const c = join(dir, 'c.bin');
    await generateModel(a, { kind: 'mini', seed: 3, decodeTokens: 4 });
    await generateModel(b, { kind: 'mini', seed: 3, decodeTokens: 4 });
    await generateModel(c, { kind: 'mini', seed: 4, decodeTokens: 4 });
    expect(await sha256(a)).toBe(await sha256(b));
    expect(await sha256(a)).not.toBe(await sha256(c));
  });

  it('writes a Slaney mel filter bank: 80 non-negative triangles with rising centres', () => {
    const filters = slaneyMelFilters();
    expect(filters).toHaveLength(80 * 201);
    let previousPeak = -1;
    for (let m = 0; m < 80; m += 1) {
      const row = filters.subarray(m * 201, (m + 1) * 201);
      expect(row.every((v) => v >= 0 && Number.isFinite(v))).toBe(true);
      const peak = row.indexOf(Math.max(...row));
      expect(row[peak]).toBeGreaterThan(0);
      expect(peak).toBeGreaterThanOrEqual(previousPeak);
      previousPeak = peak;
    }
    // The first filter of OpenAI's mel_filters.npz (librosa, slaney) starts 0, 0.02486259
    expect(filters[0]).toBe(0);
    expect(filters[1]).toBeCloseTo(0.02486259, 5);
  });
});

describe('generated tiny model', () => {
  it('has exactly the tiny.en shapes, f16 where tiny.en is f16', async () => {
    const { path } = await ensureModel('tiny', { decodeTokens: 64 });
    const info = await readGgmlModelInfo(path);
    expect(info.hparams).toMatchObject({ nVocab: 51864, nAudioCtx: 1500, nAudioState: 384, nAudioHead: 6, nAudioLayer: 4, nTextCtx: 448, nTextState: 384, nTextHead: 6, nTextLayer: 4, ftype: 1 });
    expect(info.tensors).toHaveLength(167);
    const twoD = info.tensors.filter((t) => t.ne.length === 2 && !t.name.includes('positional') && !t.name.endsWith('.bias'));
    expect(twoD.every((t) => t.type === 1)).toBe(true);
    expect(info.tensors.filter((t) => t.ne.length === 1).every((t) => t.type === 0)).toBe(true);
    // ggml-tiny.en.bin is 77,704,715 bytes; ours differs only by the placeholder vocab strings
    expect(Math.abs(info.bytes - 77_704_715)).toBeLessThan(200_000);
  }, 60_000);
});

describe('whisper-cli on a generated model', () => {
  it('loads the mini model and prints its engineered text for real speech', async () => {
    const bin = await ensureWhisperBuilt();
    const model = await ensureModel('mini', { decodeTokens: 6 });
    const wav = await speechWav('Testing the scout recorder, one two three.', join(dir, 'speech.wav'));
    const { stdout } = await run(join(bin, 'whisper-cli'), ['-m', model.path, '-f', wav, '-t', '1', '-bs', '1', '-bo', '1', '-np'], { timeout: 60_000 });
    expect(model.expectedText.length).toBeGreaterThan(0);
    expect(stdout).toContain('[00:00:00.000 --> 00:00:01.000]');
    expect(stdout).toContain(model.expectedText.trim());
  }, 20 * 60_000);
});
