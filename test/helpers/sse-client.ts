import { request, type IncomingMessage } from 'node:http';

/** One parsed Server-Sent Event. */
export interface SseEvent {
  readonly id: string | null;
  readonly event: string;
  readonly data: string;
}

/**
 * A minimal EventSource for tests: connects, parses `id`/`event`/`data` fields and comments as
 * they arrive, and can be closed to simulate a client going away.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retryMs: number | null = null;
  response: IncomingMessage | null = null;
  ended = false;
  private buffer = '';
  private readonly waiters: (() => void)[] = [];
  private destroy: (() => void) | null = null;

  static connect(port: number, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/events', headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        client.response = res;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.feed(chunk));
        res.on('end', () => client.finish());
        res.on('close', () => client.finish());
        res.on('error', () => client.finish());
        resolve(client);
      });
      client.destroy = () => req.destroy();
      req.on('error', (error) => {
        client.finish();
        reject(error);
      });
      req.end();
    });
  }

  close(): void {
    this.destroy?.();
  }

  get lastId(): string | null {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const id = this.events[i]?.id ?? null;
      if (id !== null) return id;
    }
    return null;
  }

  /** Resolves once `predicate` holds (checked after every chunk), or rejects after `timeoutMs`. */
  async until(predicate: (client: SseClient) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline) throw new Error(`SSE condition not met in ${timeoutMs} ms; ${this.events.length} events`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      this.parse(block);
    }
    this.notify();
  }

  private parse(block: string): void {
    let id: string | null = null;
    let event = 'message';
    const data: string[] = [];
    let hasField = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'retry') this.retryMs = Number(value);
      else if (field === 'id') {
        id = value;
        hasField = true;
      } else if (field === 'event') {
        event = value;
        hasField = true;
      } else if (field === 'data') {
        data.push(value);
        hasField = true;
      }
    }
    if (hasField) this.events.push({ id, event, data: data.join('\n') });
  }

  private finish(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
