/**
 * Writing a tar stream's files into a folder (`scout export --extract`): each entry through
 * safeEntryPath (nothing lands outside the folder), into `<file>.part`, renamed when complete.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { readTar, safeEntryPath, TarFormatError, type TarSink } from './tar-reader.js';

export interface ExtractedFile {
  readonly path: string;
  readonly bytes: number;
}

export async function extractTo(source: AsyncIterable<Uint8Array>, folder: string): Promise<ExtractedFile[]> {
  const files: ExtractedFile[] = [];
  const open = new Set<{ stream: WriteStream; partial: string }>();
  try {
    await readTar(source, async (entry) => {
      const relative = safeEntryPath(entry.name);
      if (relative === null) throw new TarFormatError(`refusing an unsafe path in the archive: ${JSON.stringify(entry.name)}`);
      const path = join(folder, relative);
      if (entry.type === 'directory') {
        await mkdir(path, { recursive: true });
        return null;
      }
      await mkdir(dirname(path), { recursive: true });
      return fileSink(path, open, (bytes) => files.push({ path, bytes }));
    });
  } catch (error) {
    // Leave no half-written file behind.
    for (const { stream, partial } of open) {
      stream.destroy();
      await rm(partial, { force: true });
    }
    throw error;
  }
  return files;
}

function fileSink(path: string, open: Set<{ stream: WriteStream; partial: string }>, done: (bytes: number) => void): TarSink {
  const partial = `${path}.part`;
  const stream = createWriteStream(partial, { mode: 0o644 });
  const handle = { stream, partial };
  open.add(handle);
  let bytes = 0;
  return {
    async write(chunk) {
      bytes += chunk.length;
      // Honour back-pressure: the network must not outrun the disk by more than a buffer.
      if (!stream.write(chunk)) await once(stream, 'drain');
    },
    async end() {
      stream.end();
      await once(stream, 'finish');
      await rename(partial, path);
      open.delete(handle);
      done(bytes);
    },
  };
}
