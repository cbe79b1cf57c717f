/** Model variants for the benchmarks. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../../test/helpers/whisper.js';

const run = promisify(execFile);

/** whisper.cpp's quantize tool, if someone built it (see README); null otherwise. */
export function quantizeTool(): string | null {
  const candidates = [
    process.env['SCOUT_WHISPER_QUANTIZE'],
    join(cacheDir, 'whisper', 'current', 'bin', 'whisper-quantize'),
    join(cacheDir, 'whisper-quantize', 'build', 'bin', 'whisper-quantize'),
  ];
  return candidates.find((path): path is string => path !== undefined && existsSync(path)) ?? null;
}

/** The q8_0 version of a generated f16 model (cached beside it); null when the tool is not built. */
export async function q8Model(f16Path: string): Promise<string | null> {
  const tool = quantizeTool();
  if (!tool) return null;
  const out = f16Path.replace(/\.bin$/, '-q8_0.bin');
  if (!existsSync(out)) await run(tool, [f16Path, out, 'q8_0']);
  return out;
}
