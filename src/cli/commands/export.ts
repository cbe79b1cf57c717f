/**
 * `scout export --from D --to D`: the box's tar of a time range (WAVs, transcripts, manifest),
 * streamed to disk with a progress line on a terminal. `--out FILE.tar`, `--out DIR/` (the
 * box's file name inside it) or `--out -` (stdout); `--extract` unpacks into `--out DIR` (default
 * the current folder) instead of saving the tar.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { bodyStream, saveBody } from '../download.js';
import { printJson, println, type CommandContext } from '../context.js';
import { extractTo } from '../extract.js';
import { CliError, EXIT } from '../exit-codes.js';
import { formatBytes, Progress } from '../progress.js';
import { TarFormatError } from '../tar-reader.js';

export interface ExportOptions {
  readonly from: string;
  readonly to: string;
  readonly out?: string;
  readonly extract?: boolean;
}

export async function exportRange(ctx: CommandContext, options: ExportOptions): Promise<void> {
  const { io } = ctx;
  const client = await ctx.client();
  const response = await client.request('/api/export', { query: { from: options.from, to: options.to }, signal: io.interrupt });
  const length = Number(response.headers.get('content-length') ?? NaN);
  const progress = new Progress(ctx.options.json === true ? { write: () => true } : io.stderr, 'exporting', Number.isFinite(length) ? length : null);
  const fileName = attachmentName(response.headers.get('content-disposition')) ?? 'scout-export.tar';
  try {
    if (options.extract === true) {
      const folder = options.out ?? '.';
      const files = await extractTo(bodyStream(response, progress), folder);
      progress.done();
      if (ctx.options.json === true) return printJson(ctx, { folder, bytes: progress.bytes, files });
      for (const file of files) println(io.stdout, file.path);
      println(io.stderr, `${files.length} files (${formatBytes(files.reduce((sum, file) => sum + file.bytes, 0))}) written under ${folder}`);
      return;
    }
    if (options.out === '-') {
      for await (const chunk of bodyStream(response)) io.stdout.write(chunk as Buffer);
      return;
    }
    const path = await targetPath(options.out, fileName);
    await saveBody(response, path, progress, io.interrupt);
    progress.done();
    if (ctx.options.json === true) return printJson(ctx, { path, bytes: progress.bytes });
    println(io.stdout, path);
    println(io.stderr, `${formatBytes(progress.bytes)} written to ${path}`);
  } catch (error) {
    progress.done();
    if (error instanceof TarFormatError) throw new CliError(`the export is not a valid archive: ${error.message}`, EXIT.failed);
    if (error instanceof CliError) throw error;
    if ((error as Error).name === 'AbortError') throw new CliError('export cancelled; nothing was kept', EXIT.failed);
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`export failed: ${code ?? (error as Error).message}`, EXIT.failed);
  }
}

/** `attachment; filename="x.tar"` -> x.tar, only if it is a plain file name (no path in it). */
export function attachmentName(header: string | null): string | null {
  const match = header === null ? null : /filename="([^"/\\]+)"/.exec(header);
  const name = match?.[1];
  return name === undefined || name.startsWith('.') ? null : name;
}

async function targetPath(out: string | undefined, fileName: string): Promise<string> {
  if (out === undefined) return fileName;
  if (out.endsWith('/')) return join(out, fileName);
  try {
    if ((await stat(out)).isDirectory()) return join(out, fileName);
  } catch {
    // Not there yet: a file name.
  }
  return out;
}
