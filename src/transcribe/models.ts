import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelTier } from '../domain/transcript.js';
import type { Logger } from '../log.js';
import { checkModelFile, type ModelCatalog } from './model-file.js';
import { generateModel } from './model-gen.js';

export interface ModelInfo {
  readonly tier: ModelTier;
  readonly path: string;
  /** A generated stand-in (simulator without a real model): transcripts are placeholders. */
  readonly placeholder: boolean;
}

export interface ChooseModelOptions {
  readonly catalog: ModelCatalog;
  readonly modelsDir: string;
  /** The simulator may generate a placeholder model when none is installed. */
  readonly placeholderAllowed: boolean;
  readonly logger: Logger;
}

const PLACEHOLDER_MODEL = 'scout-placeholder-mini.bin';

/**
 * The model the engine starts with: the best installed tier; in the simulator with none
 * installed, a generated placeholder (said loudly, since its text is not the speaker's); otherwise
 * the normal tier's path, which the engine keeps retrying while health and the LEDs say why.
 */
export async function chooseModel(options: ChooseModelOptions): Promise<ModelInfo> {
  const { catalog, modelsDir, logger } = options;
  await mkdir(modelsDir, { recursive: true });
  const available = await catalog.firstAvailable(['normal', 'constrained']);
  if (available) return { tier: available.tier as ModelTier, path: available.path, placeholder: false };
  if (options.placeholderAllowed) {
    const path = join(modelsDir, PLACEHOLDER_MODEL);
    if (!(await checkModelFile(path)).ok) {
      logger.warn({ path }, 'no Whisper model installed: generating a placeholder model for the simulator (npm run model:fetch gets the real one)');
      await generateModel(path, { kind: 'mini', seed: 1, decodeTokens: 6 });
    }
    return { tier: 'normal', path, placeholder: true };
  }
  const normal = await catalog.check('normal');
  logger.error({ path: normal.path, reason: normal.check.ok ? null : normal.check.reason }, 'no usable Whisper model: recordings are kept and queued until one is installed');
  return { tier: 'normal', path: normal.path, placeholder: false };
}
