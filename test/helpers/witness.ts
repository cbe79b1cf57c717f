/**
 * The witness engine (test/helpers/fixtures/witness-server.mjs): a whisper-server stand-in whose
 * transcript of a clip is a description of its samples, and which logs every request. A test
 * makes one in its temp dir (a launcher script for `serverPath` and a stub model), runs the
 * pipeline, and compares what the witness received with the slices of the WAV on disk.
 */
import { createHash } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseWavHeader } from '../../src/audio/wav.js';
import { GGML_MAGIC } from '../../src/transcribe/model-file.js';

const WITNESS_SCRIPT = resolve(import.meta.dirname, 'fixtures/witness-server.mjs');

/** One /inference as the witness logged it. */
export interface WitnessInference {
  readonly event: 'inference';
  readonly pid: number;
  readonly n: number;
  readonly samples: number;
  /** Full hex sha256 of the PCM bytes received. */
  readonly sha256: string;
  readonly first: number | null;
  readonly last: number | null;
  readonly declaredDataBytes: number;
  readonly trailingBytes: number;
  readonly audio_ctx: number | null;
  readonly beam_size: number | null;
  readonly prompt: string | null;
  readonly language: string | null;
  readonly response_format: string | null;
  readonly model: string;
  readonly threads: number | null;
}

/** What the witness does wrong, switched at run time through its fault file (re-read per request). */
export interface WitnessFault {
  /** hang: never answers; garbage: 200 with a body that is not JSON; http500: whisper-server's 500. */
  readonly inference?: 'ok' | 'hang' | 'garbage' | 'http500';
  /** reject: /load answers 400. */
  readonly load?: 'ok' | 'reject';
  /** reject: a new witness exits 3 at start (whisper-server's words for a model it cannot load). */
  readonly start?: 'ok' | 'reject';
}

export interface Witness {
  /** An executable to use as whisper-server (`serverPath`). */
  readonly serverPath: string;
  /** A file that passes the engine's model check (the witness never reads past its magic). */
  readonly modelPath: string;
  readonly logPath: string;
  /** The witness's WITNESS_FAULT_FILE; absent means no fault. */
  readonly faultPath: string;
  /** Replaces the faults in force (fields left out are 'ok'); the next request sees them. */
  setFault(fault: WitnessFault): Promise<void>;
  /** Every /inference so far, in the order the witness answered them. */
  inferences(): Promise<WitnessInference[]>;
  /** Every logged event (start, load, inference). */
  events(): Promise<Record<string, unknown>[]>;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * Writes the launcher (`#!/bin/sh`, mode 0755: WITNESS_LOG and WITNESS_FAULT_FILE set, then exec node on the witness) and
 * a stub model into `dir`. `modelBytes`: 4 KiB passes the engine's check; the service's model
 * catalog wants 1 MiB or more before it counts a model as installed.
 */
export async function makeWitness(dir: string, options: { readonly modelBytes?: number; readonly modelPath?: string } = {}): Promise<Witness> {
  const serverPath = join(dir, 'witness-server');
  const logPath = join(dir, 'witness.jsonl');
  const faultPath = join(dir, 'witness-fault.json');
  const modelPath = options.modelPath ?? join(dir, 'witness-model.bin');
  await writeFile(serverPath, `#!/bin/sh\nWITNESS_LOG=${shellQuote(logPath)} WITNESS_FAULT_FILE=${shellQuote(faultPath)} exec ${shellQuote(process.execPath)} ${shellQuote(WITNESS_SCRIPT)} "$@"\n`);
  await chmod(serverPath, 0o755);
  const model = Buffer.alloc(options.modelBytes ?? 4096);
  model.writeUInt32LE(GGML_MAGIC, 0);
  await writeFile(modelPath, model);
  await writeFile(logPath, '');
  const events = async (): Promise<Record<string, unknown>[]> =>
    (await readFile(logPath, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    serverPath,
    modelPath,
    logPath,
    faultPath,
    setFault: async (fault) => {
      // Whole or not at all: the witness may read it at any moment.
      const staging = `${faultPath}.${process.pid}.tmp`;
      await writeFile(staging, JSON.stringify(fault));
      await rename(staging, faultPath);
    },
    events,
    inferences: async () => (await events()).filter((event): event is Record<string, unknown> & WitnessInference => event['event'] === 'inference'),
  };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The text the witness answers for a clip of these PCM bytes. */
export function witnessText(pcm: Buffer): string {
  const samples = Math.floor(pcm.length / 2);
  const first = samples > 0 ? pcm.readInt16LE(0) : null;
  const last = samples > 0 ? pcm.readInt16LE(2 * (samples - 1)) : null;
  return `samples=${samples} sha256=${sha256Hex(pcm).slice(0, 16)} first=${first} last=${last}`;
}

/** The data chunk of a WAV file as bytes (its declared size, cut to the file). */
export async function wavDataBytes(path: string): Promise<Buffer> {
  const file = await readFile(path);
  const header = parseWavHeader(file);
  return file.subarray(header.dataOffset, Math.min(file.length, header.dataOffset + header.declaredDataBytes));
}

/** Bytes of samples [startSample, endSample) of mono S16 PCM. */
export function sampleSlice(data: Buffer, startSample: number, endSample: number): Buffer {
  return data.subarray(2 * startSample, 2 * endSample);
}
