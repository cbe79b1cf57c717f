/**
 * Writing a response body to disk: into `<file>.part`, renamed into place only once every byte
 * has arrived, so an interrupted download never leaves a file that looks complete.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Progress } from './progress.js';

/** The body as a Node stream, counting bytes into `progress` as they pass. */
export function bodyStream(response: Response, progress?: Progress): Readable {
  if (!response.body) return Readable.from([]);
  const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  if (!progress) return body;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      progress.add(chunk.length);
      callback(null, chunk);
    },
  });
  return body.pipe(counter).on('close', () => body.destroy());
}

export async function saveBody(response: Response, path: string, progress?: Progress, signal?: AbortSignal): Promise<void> {
  const partial = `${path}.part`;
  try {
    await pipeline(bodyStream(response, progress), createWriteStream(partial, { mode: 0o600 }), ...(signal ? [{ signal }] : []));
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
