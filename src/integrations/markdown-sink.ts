import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutboxEntry } from '../store/outbox.js';
import type { IntegrationEvent, TranscriptPayload } from './payloads.js';
import { noteFileName, renderNote } from './markdown-note.js';
import type { Sink } from './sink.js';

export interface MarkdownSinkOptions {
  /** The notes folder, e.g. inside a Syncthing-shared Obsidian vault. */
  readonly dir: string;
}

/**
 * Writes one `<recording id>.md` per transcript. Atomically: the note is written to a hidden
 * temporary file in the same folder, flushed, then renamed over the old one, so a sync tool or
 * an editor never sees half a note, and a crash leaves the old note or the new one. The temporary
 * name starts with a dot, which Syncthing and Obsidian skip.
 */
export class MarkdownSink implements Sink {
  readonly name = 'markdown';
  readonly events: ReadonlySet<IntegrationEvent> = new Set(['transcript']);
  /**
   * The write still under way, if any. A hung folder (a stalled network mount) never answers and
   * cannot be cancelled: each call holds one of libuv's four threads, which the WAV writer needs
   * too. So a write is never started while the last one hangs; the delivery fails at once and the
   * dispatcher retries it later. At most one thread is ever held here.
   */
  private pending: Promise<void> | null = null;

  constructor(private readonly options: MarkdownSinkOptions) {}

  ready(): boolean {
    return true;
  }

  onReady(): void {
    // Always ready: a folder that cannot be written fails the delivery, which is retried.
  }

  connected(): null {
    return null;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  async deliver(entry: OutboxEntry): Promise<void> {
    const payload = entry.payload as TranscriptPayload;
    if (payload?.event !== 'transcript') return; // nothing else is stored for this sink
    if (this.pending !== null) throw new Error(`the notes folder ${this.options.dir} does not answer: the last write has not finished`);
    const write = this.write(entry, payload);
    this.pending = write;
    try {
      await write;
    } finally {
      this.pending = null;
    }
  }

  private async write(entry: OutboxEntry, payload: TranscriptPayload): Promise<void> {
    const dir = this.options.dir;
    await mkdir(dir, { recursive: true });
    const target = join(dir, noteFileName(payload.recording.id));
    const temporary = join(dir, `.${noteFileName(payload.recording.id)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const handle = await open(temporary, 'wx', 0o644);
      try {
        await handle.writeFile(renderNote(payload, entry.id), 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    await syncDir(dir);
  }
}

/** The rename is durable once the folder itself is flushed. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
