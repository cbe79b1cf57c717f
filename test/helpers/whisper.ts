/**
 * Real whisper.cpp parts for tests: the built binaries (scripts/build-whisper.sh, cached under
 * .cache/whisper/<key>/) and generated models (src/transcribe/model-gen.ts, cached under
 * .cache/models/). Both are built once and reused by every test file and run.
 */
import { execFile } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateModel, modelCacheKey, expectedTextFor, type ModelGenOptions, type ModelKind } from '../../src/transcribe/model-gen.js';

const run = promisify(execFile);
export const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const cacheDir = process.env['SCOUT_CACHE_DIR'] ?? join(repoDir, '.cache');

let built: Promise<string> | null = null;

/**
 * The bin dir with whisper-server and whisper-cli. Runs the build script (a no-op when the key
 * matches; ~5 min on 2 cores when it does not, so CI builds first: `bash scripts/build-whisper.sh`).
 */
export async function ensureWhisperBuilt(): Promise<string> {
  built ??= run('bash', [join(repoDir, 'scripts/build-whisper.sh'), '--quiet'], {
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, SCOUT_CACHE_DIR: cacheDir },
  }).then(({ stdout }) => {
    const lines = stdout.trim().split('\n');
    const binDir = lines[lines.length - 1] ?? '';
    if (!binDir) throw new Error('build-whisper.sh printed no bin dir');
    return binDir;
  });
  return built;
}

export interface EnsuredModel {
  readonly path: string;
  readonly expectedText: string;
}

/** A generated model, cached by its parameters (generated on first use: mini ~1 s, tiny ~3 s). */
export async function ensureModel(
  kind: ModelKind,
  options: Partial<Omit<ModelGenOptions, 'kind'>> = {},
): Promise<EnsuredModel> {
  const full: ModelGenOptions = { kind, seed: options.seed ?? 1, decodeTokens: options.decodeTokens ?? 8, closeTsMs: options.closeTsMs ?? 1000, ftype: options.ftype ?? 1 };
  const path = join(cacheDir, 'models', `${kind}-d${full.decodeTokens}-${modelCacheKey(full)}.bin`);
  try {
    await access(path);
  } catch {
    await mkdir(dirname(path), { recursive: true });
    await generateModel(path, full);
  }
  return { path, expectedText: expectedTextFor(full) };
}

/**
 * Spoken English as a 16 kHz mono S16 WAV: espeak-ng, then sox. `padSeconds` adds silence
 * after the speech (to make long clips).
 */
export async function speechWav(text: string, outPath: string, padSeconds = 0): Promise<string> {
  const raw = `${outPath}.espeak.wav`;
  await run('espeak-ng', ['-w', raw, text]);
  const effects = padSeconds > 0 ? ['pad', '0', String(padSeconds)] : [];
  await run('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', '-e', 'signed-integer', outPath, ...effects]);
  return outPath;
}

/** Duration of a WAV in ms, from sox. */
export async function wavDurationMs(path: string): Promise<number> {
  const { stdout } = await run('soxi', ['-D', path]);
  return Math.round(Number.parseFloat(stdout.trim()) * 1000);
}
