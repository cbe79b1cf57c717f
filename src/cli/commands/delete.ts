/**
 * `scout delete <id>`: asks first on a terminal; in a script it needs `--yes`, because a
 * deleted recording (audio and transcript) cannot be brought back.
 */
import { createInterface } from 'node:readline/promises';
import type { Recording } from '../../domain/recording.js';
import { printJson, println, type CommandContext } from '../context.js';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import { recordingLine } from '../render.js';

export async function remove(ctx: CommandContext, id: string, options: { readonly yes?: boolean }): Promise<void> {
  const { io } = ctx;
  const client = await ctx.client();
  const path = `/api/recordings/${encodeURIComponent(id)}`;
  if (options.yes !== true) {
    if (io.stdin.isTTY !== true || io.stdout.isTTY !== true) throw usageError('refusing to delete without --yes when not at a terminal');
    const recording = (await client.json<Recording>(path)).body;
    const rl = createInterface({ input: io.stdin, output: io.stderr as NodeJS.WritableStream });
    let answer: string;
    try {
      answer = await rl.question(`delete ${recordingLine(recording)}\n  audio and transcript, for good? [y/N] `, { signal: io.interrupt });
    } catch {
      throw new CliError('cancelled', EXIT.failed);
    } finally {
      rl.close();
    }
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('not deleted', EXIT.failed);
  }
  const response = await client.json<{ deleted: boolean; id: string; audioRemoved: boolean }>(path, { method: 'DELETE', accept: [409] });
  if (response.status === 409) throw new CliError(`recording ${id} is being recorded; stop it first`, EXIT.failed);
  if (ctx.options.json === true) printJson(ctx, response.body);
  else println(io.stdout, `deleted ${id}${response.body.audioRemoved ? '' : ' (its audio file goes at the box\'s next start)'}`);
}
