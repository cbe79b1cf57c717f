/** `scout discover`: the boxes that answer on the LAN (mdns.ts), one line each or `--json`. */
import { printJson, println, type CommandContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { discover as query } from '../mdns.js';

export interface DiscoverCommandOptions {
  readonly timeout: number;
  readonly interface?: string;
}

export async function discover(ctx: CommandContext, options: DiscoverCommandOptions): Promise<number> {
  let boxes;
  try {
    boxes = await query({ timeoutMs: options.timeout * 1000, ...(options.interface === undefined ? {} : { interfaceAddress: options.interface }) });
  } catch (error) {
    throw new CliError(`cannot query mDNS: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, EXIT.failed);
  }
  if (ctx.options.json === true) printJson(ctx, boxes);
  else for (const box of boxes) println(ctx.io.stdout, `${box.name}\t${box.host}\t${box.addresses.join(',') || '-'}\t${box.port}\t${box.url}`);
  if (boxes.length === 0) {
    if (ctx.options.json !== true) println(ctx.io.stderr, `no box answered within ${options.timeout} s`);
    return EXIT.notFound;
  }
  return EXIT.ok;
}
