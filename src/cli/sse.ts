/**
 * Server-Sent Events for the CLI: a parser for `text/event-stream` (the WHATWG rules the box
 * needs: `id`, `event`, `data`, `retry`, comments, CRLF or LF) and a loop that keeps one stream
 * open, reconnecting with `Last-Event-ID` so the box replays what was missed. Node's fetch gives
 * the body as a stream and lets us send the bearer header, which EventSource cannot.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ApiClient } from './api.js';
import { CliError, EXIT } from './exit-codes.js';

export interface SseMessage {
  readonly id: string | null;
  readonly event: string;
  readonly data: string;
}

export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  /** The last id seen, kept across messages, for Last-Event-ID. */
  lastEventId: string | null = null;
  retryMs: number | null = null;

  feed(text: string): SseMessage[] {
    this.buffer += text;
    const messages: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (!match || (match[0] === '\r' && match.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const message = this.line(line);
      if (message) messages.push(message);
    }
    return messages;
  }

  private line(line: string): SseMessage | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const message = { id: this.id, event: this.event || 'message', data: this.data.join('\n') };
      this.data = [];
      this.event = '';
      return message;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.id = value;
          this.lastEventId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return null;
  }
}

export interface StreamOptions {
  readonly signal: AbortSignal;
  /** Each message in order; resolve `true` to stop. */
  readonly onMessage: (message: SseMessage) => boolean | Promise<boolean>;
  /** Called once the stream is open (first time and after each reconnect); resolve `true` to stop. */
  readonly onOpen?: (reconnected: boolean) => boolean | Promise<boolean>;
  /** Told about a lost stream before we wait and reconnect. */
  readonly onDisconnect?: (reason: string) => void;
  /** Longest wait between reconnects (the box suggests 2 s). */
  readonly maxRetryMs?: number;
}

/** Follows `/api/events` until `onMessage` says stop or the signal aborts. Auth errors are final. */
export async function streamEvents(client: ApiClient, options: StreamOptions): Promise<void> {
  const parser = new SseParser();
  let reconnected = false;
  let failures = 0;
  while (!options.signal.aborted) {
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (parser.lastEventId !== null) headers['last-event-id'] = parser.lastEventId;
      const response = await client.request('/api/events', { headers, signal: options.signal });
      if (!response.body) throw new CliError('the event stream has no body', EXIT.failed);
      failures = 0;
      if (await callback(() => options.onOpen?.(reconnected) ?? false)) {
        await response.body.cancel().catch(() => undefined);
        return;
      }
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        for (const message of parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }))) {
          if (await callback(() => options.onMessage(message))) {
            await response.body.cancel().catch(() => undefined);
            return;
          }
        }
      }
      options.onDisconnect?.('the box closed the stream');
    } catch (error) {
      // The caller's own failure (a request it made, a bug) is not a lost stream: no retry.
      if (error instanceof CallbackFailed) throw error.cause;
      if (options.signal.aborted) return;
      // A wrong token or a missing route will not fix itself by retrying.
      if (error instanceof CliError && error.exitCode !== EXIT.failed) throw error;
      options.onDisconnect?.(error instanceof Error ? error.message : String(error));
      failures += 1;
    }
    reconnected = true;
    const waitMs = Math.min(options.maxRetryMs ?? 10_000, (parser.retryMs ?? 2000) * Math.min(2 ** Math.max(0, failures - 1), 8));
    try {
      await delay(waitMs, undefined, { signal: options.signal });
    } catch {
      return;
    }
  }
}

class CallbackFailed extends Error {}

async function callback(run: () => boolean | Promise<boolean>): Promise<boolean> {
  try {
    return await run();
  } catch (error) {
    throw new CallbackFailed('callback failed', { cause: error });
  }
}
