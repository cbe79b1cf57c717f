/**
 * `scout login [url]`: checks a token against the box and saves both (config.ts). The token
 * comes from `--token-file` (`-` for stdin), a pipe, or a prompt without echo; `--token` works
 * but lands in shell history, so it is the last resort. Without a URL the LAN is asked (mDNS)
 * and a single box found is used.
 */
import { readFile } from 'node:fs/promises';
import { ApiClient } from '../api.js';
import { loadConfig, normaliseUrl, saveConfig } from '../config.js';
import { printJson, println, type CliIo, type CommandContext } from '../context.js';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import { discover } from '../mdns.js';

export interface LoginOptions {
  readonly token?: string;
  readonly tokenFile?: string;
}

export async function login(ctx: CommandContext, urlArgument: string | undefined, options: LoginOptions): Promise<void> {
  const { io } = ctx;
  const saved = await loadConfig(io.env);
  const url = normaliseUrl(urlArgument ?? ctx.options.url ?? io.env.SCOUT_URL ?? saved.url ?? (await findOneBox(ctx)));
  const token = await readToken(io, options);
  const client = new ApiClient({ url, token });
  // Any protected route proves the token; /api/state is small and changes nothing.
  await client.json('/api/state');
  const path = await saveConfig(io.env, { url, token });
  if (ctx.options.json === true) printJson(ctx, { url, config: path });
  else println(io.stdout, `logged in to ${url} (saved in ${path})`);
}

async function findOneBox(ctx: CommandContext): Promise<string> {
  const boxes = await discover({ timeoutMs: 2000 });
  if (boxes.length === 1 && boxes[0]) {
    println(ctx.io.stderr, `found ${boxes[0].name} at ${boxes[0].url}`);
    return boxes[0].url;
  }
  if (boxes.length === 0) throw new CliError('no box found on the LAN; give its URL: scout login http://<box>:8080', EXIT.notFound);
  throw usageError(`${boxes.length} boxes found (${boxes.map((box) => box.url).join(', ')}); name one: scout login <url>`);
}

async function readToken(io: CliIo, options: LoginOptions): Promise<string> {
  let token: string | undefined;
  if (options.token !== undefined) token = options.token;
  else if (options.tokenFile !== undefined) token = options.tokenFile === '-' ? await readAll(io.stdin) : await readTokenFile(options.tokenFile);
  else if (io.env.SCOUT_API_TOKEN !== undefined && io.env.SCOUT_API_TOKEN.trim() !== '') token = io.env.SCOUT_API_TOKEN;
  else if (io.stdin.isTTY === true) token = await promptHidden(io, 'API token (from <dataDir>/api-token on the box): ');
  else token = await readAll(io.stdin);
  token = token.trim();
  if (token === '') throw usageError('no token given: use --token-file <file>, pipe it in, or type it at the prompt');
  if (/\s/.test(token)) throw usageError('a token has no spaces in it; check the file');
  return token;
}

async function readTokenFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw usageError(`cannot read the token file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  return text;
}

/** Reads a line from the terminal with echo off (raw mode); Ctrl-C cancels. */
function promptHidden(io: CliIo, prompt: string): Promise<string> {
  const { stdin } = io;
  io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    stdin.setRawMode?.(true);
    stdin.resume();
    const done = (error?: Error): void => {
      stdin.setRawMode?.(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      io.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const char of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return done();
        if (char === '\u0003') return done(new CliError('cancelled', EXIT.failed));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else if (char >= ' ') value += char;
      }
    };
    stdin.on('data', onData);
  });
}
