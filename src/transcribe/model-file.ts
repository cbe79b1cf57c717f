/**
 * Model files: a cheap check that a file is a whisper.cpp model (used at start and by health),
 * the header reader the tests and the health page use, and the catalog of configured tiers.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

/** "lmgg" read as little-endian uint32: whisper.cpp's GGML_FILE_MAGIC. */
export const GGML_MAGIC = 0x67676d6c;
/** "GGUF" as the first four bytes. */
const GGUF_MAGIC = Buffer.from('GGUF', 'ascii');

export type ModelFormat = 'ggml' | 'gguf';

export type ModelCheck =
  | { readonly ok: true; readonly format: ModelFormat; readonly bytes: number }
  | { readonly ok: false; readonly reason: string };

export interface ModelCheckOptions {
  /** Smaller files are rejected as truncated. Default 1 MiB (the smallest real model, tiny q5, is ~31 MB). */
  readonly minBytes?: number;
  /** Hex sha256; when given, the whole file is hashed (streamed; ~0.3 s per 75 MB on a Pi 5). */
  readonly sha256?: string;
}

const DEFAULT_MIN_BYTES = 1024 * 1024;

export async function checkModelFile(path: string, options: ModelCheckOptions = {}): Promise<ModelCheck> {
  let bytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) return { ok: false, reason: `model ${path} is not a regular file` };
    bytes = info.size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? `model file ${path} does not exist` : `model file ${path}: ${String(error)}` };
  }
  const minBytes = options.minBytes ?? DEFAULT_MIN_BYTES;
  if (bytes < minBytes) return { ok: false, reason: `model file ${path} is truncated: ${bytes} bytes < ${minBytes}` };

  const head = Buffer.alloc(4);
  try {
    const handle = await open(path, 'r');
    try {
      await handle.read(head, 0, 4, 0);
    } finally {
      await handle.close();
    }
  } catch (error) {
    return { ok: false, reason: `model file ${path} cannot be read: ${String(error)}` };
  }
  let format: ModelFormat;
  if (head.readUInt32LE(0) === GGML_MAGIC) format = 'ggml';
  else if (head.equals(GGUF_MAGIC)) format = 'gguf';
  else return { ok: false, reason: `model file ${path} has no ggml/gguf magic (starts with 0x${head.toString('hex')})` };

  if (options.sha256 !== undefined) {
    const expected = options.sha256.toLowerCase();
    const actual = await sha256OfFile(path);
    if (actual !== expected) return { ok: false, reason: `model file ${path} sha256 ${actual} != expected ${expected}` };
  }
  return { ok: true, format, bytes };
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface GgmlTensorInfo {
  readonly name: string;
  /** ggml order (PyTorch shape reversed). */
  readonly ne: readonly number[];
  /** 0 f32, 1 f16, others quantized. */
  readonly type: number;
  readonly dataOffset: number;
}

/** The 11 int32 hyper-parameters after the magic of a ggml Whisper model, in file order. */
export interface WhisperHparams {
  readonly nVocab: number;
  readonly nAudioCtx: number;
  readonly nAudioState: number;
  readonly nAudioHead: number;
  readonly nAudioLayer: number;
  readonly nTextCtx: number;
  readonly nTextState: number;
  readonly nTextHead: number;
  readonly nTextLayer: number;
  readonly nMels: number;
  readonly ftype: number;
}

export interface GgmlModelInfo {
  readonly hparams: WhisperHparams;
  readonly melFilters: { readonly nMel: number; readonly nFft: number };
  readonly vocabCount: number;
  /** The first few tokens' bytes, for checks (ids 0..vocabPreview-1). */
  readonly vocabPreview: readonly Buffer[];
  readonly tensors: readonly GgmlTensorInfo[];
  readonly bytes: number;
}

/** bytes per block and elements per block of ggml types that whisper models use. */
const GGML_TYPE_SIZES: Readonly<Record<number, readonly [bytes: number, block: number]>> = {
  0: [4, 1], // f32
  1: [2, 1], // f16
  2: [18, 32], // q4_0
  3: [20, 32], // q4_1
  6: [22, 32], // q5_0
  7: [24, 32], // q5_1
  8: [34, 32], // q8_0
};

/**
 * Reads a ggml whisper model's header, vocab and tensor table without loading weights (seeks over
 * the data). Throws on a malformed file. Used by tests and to report what a model is.
 */
export async function readGgmlModelInfo(path: string, vocabPreview = 256): Promise<GgmlModelInfo> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    let position = 0;
    const read = async (length: number): Promise<Buffer> => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      if (bytesRead !== length) throw new Error(`unexpected end of file at byte ${position}`);
      position += length;
      return buffer;
    };
    const int32 = async (): Promise<number> => (await read(4)).readInt32LE(0);

    if ((await read(4)).readUInt32LE(0) !== GGML_MAGIC) throw new Error('bad magic');
    const h = await read(44);
    const at = (i: number) => h.readInt32LE(4 * i);
    const hparams = {
      nVocab: at(0), nAudioCtx: at(1), nAudioState: at(2), nAudioHead: at(3), nAudioLayer: at(4),
      nTextCtx: at(5), nTextState: at(6), nTextHead: at(7), nTextLayer: at(8), nMels: at(9), ftype: at(10),
    };
    const nMel = await int32();
    const nFft = await int32();
    position += nMel * nFft * 4;

    const vocabCount = await int32();
    const preview: Buffer[] = [];
    // The vocab is ~0.5 MB of small records: read it in one go rather than 100 k tiny reads.
    const vocabStart = position;
    const vocabWindow = await read(Math.min(size - vocabStart, vocabCount * 4 + 2 * 1024 * 1024));
    let offset = 0;
    for (let i = 0; i < vocabCount; i += 1) {
      const length = vocabWindow.readUInt32LE(offset);
      offset += 4;
      if (i < vocabPreview) preview.push(Buffer.from(vocabWindow.subarray(offset, offset + length)));
      offset += length;
    }
    position = vocabStart + offset;

    const tensors: GgmlTensorInfo[] = [];
    while (position < size) {
      const nDims = await int32();
      const nameLength = await int32();
      const type = await int32();
      const ne: number[] = [];
      for (let i = 0; i < nDims; i += 1) ne.push(await int32());
      const name = (await read(nameLength)).toString('utf8');
      const sizes = GGML_TYPE_SIZES[type];
      if (!sizes) throw new Error(`tensor ${name}: unknown ggml type ${type}`);
      const elements = ne.reduce((a, b) => a * b, 1);
      const dataBytes = (elements / sizes[1]) * sizes[0];
      tensors.push({ name, ne, type, dataOffset: position });
      position += dataBytes;
    }
    if (position !== size) throw new Error(`tensor data runs past end of file (${position} > ${size})`);
    return { hparams, melFilters: { nMel, nFft }, vocabCount, vocabPreview: preview, tensors, bytes: size };
  } finally {
    await handle.close();
  }
}

/** Config-named tiers, e.g. { normal: 'ggml-tiny.en.bin', constrained: 'ggml-tiny.en-q8_0.bin' }. */
export type ModelTiers = Readonly<Record<string, string>>;

export interface TierStatus {
  readonly tier: string;
  readonly path: string;
  readonly check: ModelCheck;
}

/**
 * A models folder plus named tiers. File names are relative to the folder (absolute paths are
 * kept as they are). Constructors only assign: nothing touches the disk until a method is called.
 */
export class ModelCatalog {
  constructor(
    private readonly modelsDir: string,
    private readonly tiers: ModelTiers,
    private readonly checkOptions: Readonly<Record<string, ModelCheckOptions>> = {},
  ) {}

  tierNames(): string[] {
    return Object.keys(this.tiers);
  }

  /** Absolute path of a tier's file; throws for an unknown tier (a config error, not a runtime one). */
  pathOf(tier: string): string {
    const file = this.tiers[tier];
    if (file === undefined) throw new Error(`unknown model tier '${tier}' (known: ${this.tierNames().join(', ')})`);
    return isAbsolute(file) ? file : join(this.modelsDir, file);
  }

  async check(tier: string): Promise<TierStatus> {
    const path = this.pathOf(tier);
    return { tier, path, check: await checkModelFile(path, this.checkOptions[tier]) };
  }

  /** Every tier's state, in config order. */
  async checkAll(): Promise<TierStatus[]> {
    return Promise.all(this.tierNames().map((tier) => this.check(tier)));
  }

  /** The first tier of `preference` whose file passes the check, or null when none does. */
  async firstAvailable(preference: readonly string[]): Promise<TierStatus | null> {
    for (const tier of preference) {
      const status = await this.check(tier);
      if (status.check.ok) return status;
    }
    return null;
  }
}
