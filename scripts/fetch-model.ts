/**
 * Downloads a real Whisper model from whisper.cpp's published models (Hugging Face
 * ggerganov/whisper.cpp) into the models folder, verified against a pinned sha256 and size.
 *   npm run model:fetch -- [--model tiny.en-q8_0|tiny.en-q5_1|tiny.en] [--dir data/models]
 *     [--file PATH [--allow-unpinned]] [--check]
 * --file installs a local copy instead of downloading (a box with no internet), checked against the
 * same pin; --allow-unpinned accepts a file that matches no pin (a generated test model) with a
 * warning. --check writes nothing: exit 0 when the model is already in place (and equal to --file
 * when given), CHECK_MISSING_EXIT otherwise. provisioning/install-pi.sh uses all three.
 * Writes to "<name>.partial" while downloading (hashing as it goes) and renames only after the
 * checks pass, so a power cut never leaves a half model under the real name. Never run by tests.
 *
 * Pins: ggml-tiny.en.bin sha256 921e4cf8...0b1f, 77,704,715 bytes, and its sha1 c78c86eb...9df as
 * listed in whisper.cpp's models/README.md (in the pinned 1.9.1 tree); the sha256 and the q8_0 pin
 * agree across many independent projects that download these files.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { sha256OfFile } from '../src/transcribe/model-file.js';

interface PinnedModel {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly sha1?: string;
}

const BASE_URL = 'https://huggingface.co/ggerganov/whisper.cpp/resolve/main';
const MODELS: Readonly<Record<string, PinnedModel>> = {
  'tiny.en': {
    file: 'ggml-tiny.en.bin',
    bytes: 77_704_715,
    sha256: '921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f',
    sha1: 'c78c86eb1a8faa21b369bcd33207cc90d64ae9df',
  },
  'tiny.en-q8_0': {
    file: 'ggml-tiny.en-q8_0.bin',
    bytes: 43_550_795,
    sha256: '5bc2b3860aa151a4c6e7bb095e1fcce7cf12c7b020ca08dcec0c6d018bb7dd94',
  },
  // The constrained tier: the smallest English model whisper.cpp publishes.
  'tiny.en-q5_1': {
    file: 'ggml-tiny.en-q5_1.bin',
    bytes: 32_166_155,
    sha256: 'c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b',
  },
};

// "Not there yet" for --check, distinct from 1 (an error).
const CHECK_MISSING_EXIT = 10;

interface LocalSource {
  readonly path: string;
  readonly allowUnpinned: boolean;
}

async function isInPlace(target: string, pinned: PinnedModel, local: LocalSource | null): Promise<boolean> {
  const existing = await stat(target).catch(() => null);
  if (!existing?.isFile()) return false;
  if (local) {
    // Equal to the given file: a rerun with the same --file changes nothing, pinned or not.
    const source = await stat(local.path);
    return existing.size === source.size && (await sha256OfFile(target)) === (await sha256OfFile(local.path));
  }
  return existing.size === pinned.bytes && (await sha256OfFile(target)) === pinned.sha256;
}

/** Copies a local model next to the target and renames it in, after the pin check. */
async function installLocal(local: LocalSource, target: string, pinned: PinnedModel): Promise<void> {
  const got = await sha256OfFile(local.path);
  const { size } = await stat(local.path);
  if (got !== pinned.sha256 || size !== pinned.bytes) {
    const mismatch = `${local.path} is not the pinned ${pinned.file} (sha256 ${got}, ${size} bytes; pinned ${pinned.sha256}, ${pinned.bytes} bytes)`;
    if (!local.allowUnpinned) throw new Error(`${mismatch}; --allow-unpinned installs it anyway`);
    process.stderr.write(`warning: ${mismatch}: installing it as --allow-unpinned asks\n`);
  }
  const partial = `${target}.partial`;
  try {
    await pipeline(createReadStream(local.path), createWriteStream(partial));
    // Durable before the rename: a power cut leaves the old file or the whole new one.
    const handle = await open(partial, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    if ((await sha256OfFile(partial)) !== got) throw new Error(`copy of ${local.path} does not match its source`);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

function progress(doneBytes: number, totalBytes: number): void {
  const percent = totalBytes > 0 ? ((doneBytes / totalBytes) * 100).toFixed(0) : '?';
  process.stderr.write(`\r  ${(doneBytes / 1e6).toFixed(1)} / ${(totalBytes / 1e6).toFixed(1)} MB (${percent}%)`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      // The default model tier of the config (transcription.normalModel).
      model: { type: 'string', default: 'tiny.en-q8_0' },
      dir: { type: 'string', default: process.env['SCOUT_MODELS_DIR'] ?? 'data/models' },
      file: { type: 'string' },
      'allow-unpinned': { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
    },
  });
  if (values['allow-unpinned'] && values.file === undefined) throw new Error('--allow-unpinned only goes with --file');
  const pinned = MODELS[values.model];
  if (!pinned) throw new Error(`unknown model '${values.model}'; known: ${Object.keys(MODELS).join(', ')}`);
  const dir = resolve(values.dir);
  const target = join(dir, pinned.file);
  const local: LocalSource | null = values.file === undefined ? null : { path: resolve(values.file), allowUnpinned: values['allow-unpinned'] };

  if (await isInPlace(target, pinned, local)) {
    process.stderr.write(`${target} is already present and verified\n`);
    process.stdout.write(`${target}\n`);
    return;
  }
  if (values.check) {
    process.stderr.write(`${target} is missing or differs\n`);
    process.exitCode = CHECK_MISSING_EXIT;
    return;
  }
  await mkdir(dir, { recursive: true });
  if (local) {
    await installLocal(local, target, pinned);
    process.stderr.write(`installed ${target} from ${local.path}\n`);
    process.stdout.write(`${target}\n`);
    return;
  }

  const url = `${BASE_URL}/${pinned.file}`;
  const partial = `${target}.partial`;
  process.stderr.write(`downloading ${url}\n`);
  const response = await fetch(url, { redirect: 'follow' });
  if (!response.ok || !response.body) throw new Error(`download failed: HTTP ${response.status}`);
  const totalBytes = Number(response.headers.get('content-length') ?? pinned.bytes);

  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  let doneBytes = 0;
  let lastReportMs = 0;
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    sha256.update(chunk);
    sha1.update(chunk);
    doneBytes += chunk.length;
    const nowMs = Date.now();
    if (nowMs - lastReportMs > 500) {
      lastReportMs = nowMs;
      progress(doneBytes, totalBytes);
    }
  });
  try {
    await pipeline(body, createWriteStream(partial));
    progress(doneBytes, totalBytes);
    process.stderr.write('\n');
    const gotSha256 = sha256.digest('hex');
    const gotSha1 = sha1.digest('hex');
    if (doneBytes !== pinned.bytes) throw new Error(`size ${doneBytes} != pinned ${pinned.bytes}`);
    if (gotSha256 !== pinned.sha256) throw new Error(`sha256 ${gotSha256} != pinned ${pinned.sha256}`);
    if (pinned.sha1 && gotSha1 !== pinned.sha1) throw new Error(`sha1 ${gotSha1} != pinned ${pinned.sha1}`);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  process.stderr.write(`verified and installed ${target}\n`);
  process.stdout.write(`${target}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`\nmodel:fetch failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
