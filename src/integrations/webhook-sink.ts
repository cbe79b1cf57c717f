import { readFile } from 'node:fs/promises';
import type { OutboxEntry } from '../store/outbox.js';
import type { IntegrationEvent } from './payloads.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signBody, TIMESTAMP_HEADER } from './signature.js';
import type { Sink } from './sink.js';

export interface WebhookSinkOptions {
  /** 'webhook:<index in the config>'. */
  readonly name: string;
  readonly url: string;
  /** The HMAC secret's file; read at each delivery (a rotated secret takes effect at once), never logged. */
  readonly secretFile: string | null;
  readonly events: readonly IntegrationEvent[];
  readonly nowMs?: () => number;
}

/**
 * A JSON POST per outbox entry: the stored payload plus its delivery id, signed (./signature.ts).
 * Any 2xx is delivered; anything else (a 500, a refused connection, a redirect, no answer in time)
 * fails the attempt and the dispatcher retries it with the same delivery id.
 */
export class WebhookSink implements Sink {
  readonly name: string;
  readonly events: ReadonlySet<IntegrationEvent>;

  constructor(private readonly options: WebhookSinkOptions) {
    this.name = options.name;
    this.events = new Set(options.events);
  }

  ready(): boolean {
    return true;
  }

  onReady(): void {
    // No connection to wait for: every failure is an attempt, retried with backoff.
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

  async deliver(entry: OutboxEntry, signal: AbortSignal): Promise<void> {
    const body = JSON.stringify({ deliveryId: entry.id, ...(entry.payload as object) });
    const timestampS = Math.floor((this.options.nowMs ?? Date.now)() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'scout-webhook',
      [DELIVERY_HEADER]: entry.id,
      [EVENT_HEADER]: entry.kind,
      [TIMESTAMP_HEADER]: String(timestampS),
    };
    if (this.options.secretFile !== null) headers[SIGNATURE_HEADER] = signBody(await this.secret(this.options.secretFile), timestampS, body);
    const response = await fetch(this.options.url, { method: 'POST', headers, body, signal, redirect: 'manual' });
    // Read (and drop) the body so the connection can be reused.
    await response.arrayBuffer().catch(() => undefined);
    if (response.status < 200 || response.status > 299) throw new Error(`HTTP ${response.status}`);
  }

  private async secret(file: string): Promise<string> {
    try {
      const secret = (await readFile(file, 'utf8')).trim();
      if (secret === '') throw new Error('it is empty');
      return secret;
    } catch (error) {
      // The path may be shown; the content never is.
      throw new Error(`cannot read the secret file ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}
