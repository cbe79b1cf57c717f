/**
 * `scout get <id>`: the transcript on stdout (`--format txt|srt|vtt|json`), and with
 * `--audio <file>` the WAV saved too. `--json` prints the recording with its transcript instead.
 */
import { bodyStream, saveBody } from '../download.js';
import { printJson, type CommandContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { TRANSCRIPT_FORMATS_CLI, type TranscriptFormat } from './formats.js';

export interface GetOptions {
  readonly format?: TranscriptFormat;
  readonly audio?: string;
}

export async function get(ctx: CommandContext, id: string, options: GetOptions): Promise<void> {
  const client = await ctx.client();
  const path = `/api/recordings/${encodeURIComponent(id)}`;
  if (options.audio !== undefined) {
    const response = await client.request(`${path}/audio`, { accept: [409] });
    if (response.status === 409) {
      await response.body?.cancel();
      throw new CliError(`recording ${id} is still being recorded; its audio is not ready`, EXIT.failed);
    }
    if (options.audio === '-') {
      for await (const chunk of bodyStream(response)) ctx.io.stdout.write(chunk as Buffer);
      return;
    }
    await saveBody(response, options.audio, undefined, ctx.io.interrupt);
    ctx.io.stderr.write(`audio saved to ${options.audio}\n`);
  }
  if (ctx.options.json === true) {
    printJson(ctx, (await client.json(path)).body);
    return;
  }
  if (options.audio === '-') return;
  const format = options.format ?? 'txt';
  if (!TRANSCRIPT_FORMATS_CLI.includes(format)) throw new CliError(`unknown format ${format}`, EXIT.usage);
  const answer = await client.text(`${path}/transcript`, { query: { format }, accept: [409] });
  if (answer.status === 409) {
    const { status } = JSON.parse(answer.body) as { status?: string };
    throw new CliError(`recording ${id} is still ${status ?? 'in progress'}; \`scout follow ${id} --until-done\` waits for it`, EXIT.failed);
  }
  ctx.io.stdout.write(answer.body.endsWith('\n') || answer.body === '' ? answer.body : `${answer.body}\n`);
}
