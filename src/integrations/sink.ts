import type { OutboxEntry } from '../store/outbox.js';
import type { IntegrationEvent } from './payloads.js';

/**
 * One destination of the outbox: MQTT, a webhook, the notes folder. The dispatcher hands it one
 * entry at a time, in order, and retries what it rejects; a sink never retries on its own.
 */
export interface Sink {
  /** The outbox's `sink` column: 'mqtt', 'webhook:<n>', 'markdown'. */
  readonly name: string;
  /** The events it wants stored for it. */
  readonly events: ReadonlySet<IntegrationEvent>;
  /** False while deliveries cannot succeed (the broker is away): the dispatcher waits for `onReady`. */
  ready(): boolean;
  /** Called with the dispatcher's wake-up; a connection-based sink calls it when it connects. */
  onReady(listener: () => void): void;
  /** Resolves once the receiver has it; rejects (with a message for the page) otherwise. */
  deliver(entry: OutboxEntry, signal: AbortSignal): Promise<void>;
  /** null for a sink without a connection (webhooks, the folder). */
  connected(): boolean | null;
  start(): Promise<void>;
  stop(): Promise<void>;
}
