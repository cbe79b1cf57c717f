/**
 * What every command gets: the process's streams and environment (passed in, so tests run a
 * command in-process with buffers), the global options, and a way to reach the box.
 */
import { ApiClient } from './api.js';
import { loadConfig, resolveTarget, type Env } from './config.js';

export interface Out {
  write(chunk: string | Uint8Array): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface CliIo {
  readonly stdout: Out;
  readonly stderr: Out;
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly env: Env;
  /** Ends on Ctrl-C (follow, export, prompts). */
  readonly interrupt: AbortSignal;
}

export interface GlobalOptions {
  readonly json?: boolean;
  readonly url?: string;
}

export interface CommandContext {
  readonly io: CliIo;
  readonly options: GlobalOptions;
  /** Colour and in-place redraws only for a person at a terminal who did not ask for JSON. */
  readonly pretty: boolean;
  client(): Promise<ApiClient>;
}

export function makeContext(io: CliIo, options: GlobalOptions): CommandContext {
  const noColor = io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '';
  return {
    io,
    options,
    pretty: io.stdout.isTTY === true && options.json !== true && !noColor && io.env.TERM !== 'dumb',
    client: async () => new ApiClient(resolveTarget(await loadConfig(io.env), io.env, options.url)),
  };
}

export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.io.stdout.write(`${JSON.stringify(value, null, ctx.io.stdout.isTTY === true ? 2 : 0)}\n`);
}

export function println(out: Out, line = ''): void {
  out.write(`${line}\n`);
}
