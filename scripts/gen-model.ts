/**
 * Writes a synthetic whisper.cpp ggml model (see src/transcribe/model-gen.ts).
 *   tsx scripts/gen-model.ts --kind mini|tiny --seed N --decode-tokens N --out path [--close-ts-ms N] [--f32]
 * Prints one JSON line: path, bytes, tensors, hparams, expected text, seconds.
 */
import { parseArgs } from 'node:util';
import { generateModel, type ModelKind } from '../src/transcribe/model-gen.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kind: { type: 'string', default: 'mini' },
      seed: { type: 'string', default: '1' },
      'decode-tokens': { type: 'string', default: '8' },
      'close-ts-ms': { type: 'string', default: '1000' },
      f32: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const kind = values.kind;
  if (kind !== 'mini' && kind !== 'tiny') throw new Error(`--kind must be mini or tiny, got ${kind}`);
  if (!values.out) throw new Error('--out path is required');
  const startedMs = performance.now();
  const model = await generateModel(values.out, {
    kind: kind satisfies ModelKind,
    seed: Number.parseInt(values.seed, 10),
    decodeTokens: Number.parseInt(values['decode-tokens'], 10),
    closeTsMs: Number.parseInt(values['close-ts-ms'], 10),
    ftype: values.f32 ? 0 : 1,
  });
  process.stdout.write(
    `${JSON.stringify({
      path: model.path,
      bytes: model.bytes,
      tensors: model.tensorCount,
      hparams: model.hparams,
      expectedText: model.expectedText,
      seconds: Number(((performance.now() - startedMs) / 1000).toFixed(2)),
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`gen-model: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
