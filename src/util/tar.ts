/**
 * A streaming writer for POSIX ustar archives: enough for an export of regular files, with no
 * dependency. Each entry is a 512-byte header, the bytes, and zeros up to the next 512-byte
 * block; two zero blocks end the archive. The size goes in the header, so a file's length must be
 * known before its first byte: the caller stats it (and an entry whose body comes out longer or
 * shorter throws rather than write a corrupt archive).
 *
 * Limits of the format as written here: names up to 255 bytes (split at a '/' into prefix and
 * name), sizes below 8 GiB (11 octal digits; a 16 kHz mono recording reaches that after ~70 h).
 */

export const TAR_BLOCK_BYTES = 512;
const MAX_SIZE_BYTES = 8 ** 11 - 1;

export interface TarEntry {
  /** Relative path with '/' separators; no '..', no leading '/'. */
  readonly name: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Permission bits; 0o644 unless given. */
  readonly mode?: number;
}

function octal(value: number, width: number): string {
  // width - 1 digits and a NUL, the form every tar reads.
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function splitName(name: string): { prefix: string; name: string } {
  if (name === '' || name.startsWith('/') || name.includes('\0') || name.split('/').some((part) => part === '..' || part === '')) {
    throw new RangeError(`not a safe archive path: ${JSON.stringify(name)}`);
  }
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let cut = name.indexOf('/'); cut !== -1; cut = name.indexOf('/', cut + 1)) {
    const prefix = name.slice(0, cut);
    const rest = name.slice(cut + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100) return { prefix, name: rest };
  }
  throw new RangeError(`archive path too long for ustar: ${JSON.stringify(name)}`);
}

/** The 512-byte ustar header of one regular file. */
export function tarHeader(entry: TarEntry): Buffer {
  if (!Number.isSafeInteger(entry.size) || entry.size < 0 || entry.size > MAX_SIZE_BYTES) {
    throw new RangeError(`size out of range for ustar: ${entry.size}`);
  }
  const { prefix, name } = splitName(entry.name);
  const header = Buffer.alloc(TAR_BLOCK_BYTES);
  header.write(name, 0, 100, 'utf8');
  header.write(octal(entry.mode ?? 0o644, 8), 100, 8, 'ascii');
  header.write(octal(0, 8), 108, 8, 'ascii'); // uid
  header.write(octal(0, 8), 116, 8, 'ascii'); // gid
  header.write(octal(entry.size, 12), 124, 12, 'ascii');
  header.write(octal(Math.max(0, Math.floor(entry.mtimeMs / 1000)), 12), 136, 12, 'ascii');
  header.write(' '.repeat(8), 148, 8, 'ascii'); // the checksum is computed with its field as spaces
  header.write('0', 156, 1, 'ascii'); // regular file
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  header.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

/** Zeros from `size` up to the next block boundary (empty when it is one already). */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc(paddingBytes(size));
}

function paddingBytes(size: number): number {
  return (TAR_BLOCK_BYTES - (size % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
}

/** Bytes one entry of `size` takes in the archive: header, body and padding to the block. */
export function tarEntryBytes(size: number): number {
  return TAR_BLOCK_BYTES + size + paddingBytes(size);
}

/** The end of an archive: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * TAR_BLOCK_BYTES);
}

/**
 * One entry as chunks: header, body (passed through, never gathered), padding. Throws when the
 * body is not exactly `entry.size` bytes, since the header already promised that many.
 */
export async function* tarEntry(entry: TarEntry, body: Uint8Array | AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield tarHeader(entry);
  let written = 0;
  if (body instanceof Uint8Array) {
    written = body.length;
    if (written === entry.size) yield body;
  } else {
    for await (const chunk of body) {
      written += chunk.length;
      if (written > entry.size) break;
      yield chunk;
    }
  }
  if (written !== entry.size) throw new Error(`${entry.name}: expected ${entry.size} bytes, got ${written > entry.size ? 'more' : written}`);
  yield tarPadding(entry.size);
}
