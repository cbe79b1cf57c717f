/**
 * A streaming reader for the tar archives `GET /api/export` sends (ustar, as src/util/tar.ts
 * writes them), tolerant of what the system `tar` writes too: GNU long names (`L`), pax headers
 * (`x`, `g`: `path` and `size`), base-256 sizes. It is a push parser: chunks go in as they come
 * off the network, each entry's bytes go out to a sink as they arrive, nothing is gathered, so
 * a multi-gigabyte export costs a few blocks of memory. Only regular files and folders are
 * reported; links and devices are skipped (an export has none, and a link could point a later
 * file outside the folder being extracted to).
 */
import { TAR_BLOCK_BYTES } from '../util/tar.js';

export type TarEntryType = 'file' | 'directory';

export interface TarEntryInfo {
  readonly name: string;
  readonly type: TarEntryType;
  readonly size: number;
  readonly mode: number;
  readonly mtimeMs: number;
}

export interface TarSink {
  write(chunk: Uint8Array): void | Promise<void>;
  end(): void | Promise<void>;
}

/** Decides what to do with each entry: a sink for its bytes, or null to skip them. */
export type TarEntryHandler = (entry: TarEntryInfo) => TarSink | null | Promise<TarSink | null>;

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

interface Pending {
  /** Overrides from a pax or GNU header for the next entry. */
  name?: string;
  size?: number;
}

type State =
  | { kind: 'header' }
  | { kind: 'body'; remaining: number; padding: number; sink: TarSink | null; meta: 'longname' | 'pax' | null; collected: Buffer[] }
  | { kind: 'padding'; remaining: number }
  | { kind: 'end' };

/** Reads an archive from `source`, handing each entry to `onEntry`. Resolves with the entries seen. */
export async function readTar(source: AsyncIterable<Uint8Array>, onEntry: TarEntryHandler): Promise<TarEntryInfo[]> {
  const seen: TarEntryInfo[] = [];
  let state: State = { kind: 'header' };
  let header = Buffer.alloc(0);
  let pending: Pending = {};
  let zeroBlocks = 0;

  const onHeader = async (block: Buffer): Promise<void> => {
    if (block.every((byte) => byte === 0)) {
      zeroBlocks += 1;
      // Two zero blocks end the archive; what follows (a tar's record padding) is ignored.
      if (zeroBlocks === 2) state = { kind: 'end' };
      return;
    }
    zeroBlocks = 0;
    verifyChecksum(block);
    const typeflag = String.fromCharCode(block[156] ?? 0);
    const size = pending.size ?? readNumber(block, 124, 12);
    const padding = (TAR_BLOCK_BYTES - (size % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
    const body = (sink: TarSink | null, meta: 'longname' | 'pax' | null): State =>
      size === 0 && meta === null ? { kind: 'header' } : { kind: 'body', remaining: size, padding, sink, meta, collected: [] };
    if (typeflag === 'L' || typeflag === 'x') {
      state = body(null, typeflag === 'L' ? 'longname' : 'pax');
      if (size === 0) state = { kind: 'header' };
      return;
    }
    if (typeflag === 'g' || typeflag === 'K') {
      // A global pax header or a GNU long link name: nothing an export needs.
      state = body(null, null);
      return;
    }
    const name = pending.name ?? headerName(block);
    pending = {};
    const type: TarEntryType | null = typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : null;
    if (type === null) {
      state = body(null, null);
      return;
    }
    const info: TarEntryInfo = { name, type, size: type === 'directory' ? 0 : size, mode: readNumber(block, 100, 8), mtimeMs: readNumber(block, 136, 12) * 1000 };
    seen.push(info);
    const sink = await onEntry(info);
    if (type === 'directory' || size === 0) {
      await sink?.end();
      state = type === 'directory' && size > 0 ? body(null, null) : { kind: 'header' };
      return;
    }
    state = body(sink, null);
  };

  const finishBody = async (current: Extract<State, { kind: 'body' }>): Promise<void> => {
    if (current.meta === 'longname') pending.name = Buffer.concat(current.collected).toString('utf8').replace(/\0+$/, '');
    else if (current.meta === 'pax') pending = { ...pending, ...parsePax(Buffer.concat(current.collected)) };
    else await current.sink?.end();
    state = current.padding > 0 ? { kind: 'padding', remaining: current.padding } : { kind: 'header' };
  };

  for await (const input of source) {
    let chunk = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    while (chunk.length > 0) {
      // Read afresh each turn: the callbacks above move the state on.
      const current = state as State;
      if (current.kind === 'end') break;
      if (current.kind === 'header') {
        const need = TAR_BLOCK_BYTES - header.length;
        header = Buffer.concat([header, chunk.subarray(0, need)]);
        chunk = chunk.subarray(need);
        if (header.length < TAR_BLOCK_BYTES) break;
        const block = header;
        header = Buffer.alloc(0);
        await onHeader(block);
      } else if (current.kind === 'body') {
        const take = Math.min(current.remaining, chunk.length);
        const part = chunk.subarray(0, take);
        chunk = chunk.subarray(take);
        current.remaining -= take;
        // Metadata is small and read whole; file bodies pass through (copied: some sources reuse a chunk's memory).
        if (current.meta !== null) current.collected.push(Buffer.from(part));
        else if (current.sink) await current.sink.write(Buffer.from(part));
        if (current.remaining === 0) await finishBody(current);
      } else {
        const take = Math.min(current.remaining, chunk.length);
        chunk = chunk.subarray(take);
        current.remaining -= take;
        if (current.remaining === 0) state = { kind: 'header' };
      }
    }
  }
  const last = state as State;
  if (last.kind === 'body') throw new TarFormatError('the archive ends inside a file (a truncated download?)');
  // A missing end-of-archive marker after whole entries: what a cut connection looks like too.
  if (last.kind !== 'end') throw new TarFormatError(seen.length === 0 && header.length === 0 ? 'the archive is empty' : 'the archive ends without its end marker (a truncated download?)');
  return seen;
}

function verifyChecksum(block: Buffer): void {
  const stored = readNumber(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK_BYTES; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  if (sum !== stored) throw new TarFormatError('not a tar archive, or a damaged one (header checksum mismatch)');
}

/** Octal (NUL or space terminated), or GNU base-256 when the high bit of the first byte is set. */
function readNumber(block: Buffer, offset: number, length: number): number {
  const first = block[offset] ?? 0;
  if (first & 0x80) {
    let value = first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (block[offset + i] ?? 0);
    return value;
  }
  const text = block.toString('ascii', offset, offset + length).replace(/[\0 ]+$/, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`not a tar archive, or a damaged one (bad number in a header: ${JSON.stringify(text.slice(0, 12))})`);
  return parseInt(text, 8);
}

function cString(block: Buffer, offset: number, length: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end === -1 || end > offset + length ? offset + length : end);
}

function headerName(block: Buffer): string {
  const name = cString(block, 0, 100);
  const isUstar = block.toString('ascii', 257, 262) === 'ustar';
  const prefix = isUstar ? cString(block, 345, 155) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** pax records: "<length> <key>=<value>\n". Only path and size matter here. */
function parsePax(body: Buffer): Pending {
  const result: Pending = {};
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number(body.toString('ascii', offset, space));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = body.toString('utf8', space + 1, offset + length - 1);
    const equals = record.indexOf('=');
    const key = record.slice(0, equals);
    const value = record.slice(equals + 1);
    if (key === 'path') result.name = value;
    if (key === 'size' && /^\d+$/.test(value)) result.size = Number(value);
    offset += length;
  }
  return result;
}

/**
 * The safe relative path an entry may be written to, or null: no absolute paths, no `..`, no
 * empty or NUL-holding names, so an archive can only write inside the folder it is extracted to.
 */
export function safeEntryPath(name: string): string | null {
  if (name.includes('\0') || name.startsWith('/') || /^[a-zA-Z]:/.test(name)) return null;
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.length === 0 || parts.some((part) => part === '..' || part.includes('\\'))) return null;
  return parts.join('/');
}
