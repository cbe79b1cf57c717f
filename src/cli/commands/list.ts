/**
 * `scout list` and `scout search <words...>`: newest first, one line each; `--all` follows the
 * box's `nextCursor` to the end, otherwise `--limit` lines at most.
 */
import type { Recording } from '../../domain/recording.js';
import { printJson, println, type CommandContext } from '../context.js';
import { recordingLine, renderSnippet, type SnippetPart } from '../render.js';

export interface ListOptions {
  readonly limit?: number;
  readonly from?: string;
  readonly to?: string;
  readonly all?: boolean;
}

type Item = Recording & { readonly snippet?: readonly SnippetPart[] };

interface Page {
  readonly items: readonly Item[];
  readonly total: number;
  readonly nextCursor: string | null;
}

const PAGE_MAX = 200;

async function collect(ctx: CommandContext, options: ListOptions, q?: string): Promise<{ items: Item[]; total: number; more: boolean }> {
  const client = await ctx.client();
  const wanted = options.all === true ? Infinity : (options.limit ?? 20);
  const items: Item[] = [];
  let before: string | undefined;
  let total = 0;
  for (;;) {
    const limit = Math.min(PAGE_MAX, wanted - items.length);
    const { body } = await client.json<Page>('/api/recordings', { query: { limit, before, q, from: options.from, to: options.to } });
    items.push(...body.items);
    total = body.total;
    if (body.nextCursor === null || items.length >= wanted) return { items, total, more: body.nextCursor !== null };
    before = body.nextCursor;
  }
}

export async function list(ctx: CommandContext, options: ListOptions): Promise<void> {
  const { items, total, more } = await collect(ctx, options);
  if (ctx.options.json === true) return printJson(ctx, { items, total });
  if (items.length === 0) println(ctx.io.stderr, 'no recordings');
  for (const item of items) println(ctx.io.stdout, recordingLine(item));
  if (more) println(ctx.io.stderr, `${items.length} of ${total} shown; --all for the rest`);
}

export async function search(ctx: CommandContext, words: readonly string[], options: ListOptions): Promise<void> {
  const { items, total, more } = await collect(ctx, options, words.join(' '));
  if (ctx.options.json === true) return printJson(ctx, { items, total });
  if (items.length === 0) println(ctx.io.stderr, 'nothing found');
  for (const item of items) println(ctx.io.stdout, recordingLine(item, renderSnippet(item.snippet ?? [], ctx.pretty)));
  if (more) println(ctx.io.stderr, `${items.length} of ${total} shown; --all for the rest`);
}
