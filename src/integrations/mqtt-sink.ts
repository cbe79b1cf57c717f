import { readFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import type { OutboxEntry } from '../store/outbox.js';
import { Backoff, type BackoffOptions } from '../util/backoff.js';
import { BUTTON_PAYLOAD, discoveryMessages, topicsOf, transcriptMessages, type DiscoveryOptions, type Topics } from './ha-discovery.js';
import type { IntegrationEvent, TranscriptPayload } from './payloads.js';
import type { Sink } from './sink.js';

/** What the device shows now: published retained on every change and at every (re)connect. */
export interface LiveState {
  recording(): boolean;
  degradationLevel(): number | null;
  queueSize(): number | null;
}

export interface MqttSinkOptions {
  readonly url: string;
  readonly username: string | null;
  /** Read at each connect, never logged. */
  readonly passwordFile: string | null;
  readonly discovery: DiscoveryOptions;
  readonly reconnect: BackoffOptions;
  readonly connectTimeoutMs: number;
  readonly live: LiveState;
  /** Home Assistant's button: the composer points it at the physical button's path. */
  readonly onButton: () => void;
  readonly logger: Logger;
}

/**
 * The MQTT side: one connection to the broker with a last will that marks the device offline,
 * Home Assistant discovery (retained, sent again when Home Assistant announces itself on
 * `homeassistant/status`), the live states, the button's command topic, and the outbox's
 * transcripts at QoS 1. A lost connection is reopened after a backoff with jitter, always on a
 * new client, so that messages the old one still held never go out behind the outbox's back:
 * the outbox alone decides what is sent again.
 */
export class MqttSink implements Sink {
  readonly name = 'mqtt';
  readonly events: ReadonlySet<IntegrationEvent> = new Set(['transcript']);
  private readonly topics: Topics;
  private readonly backoff: Backoff;
  private readonly readyListeners: (() => void)[] = [];
  private client: MqttClient | null = null;
  private isConnected = false;
  private running = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly published = new Map<string, string>();
  private lastErrorMessage: string | null = null;

  constructor(private readonly options: MqttSinkOptions) {
    this.topics = topicsOf(options.discovery);
    this.backoff = new Backoff(options.reconnect);
  }

  ready(): boolean {
    return this.isConnected;
  }

  connected(): boolean {
    return this.isConnected;
  }

  /** The last connection or publish error, for health and the page; null once connected again. */
  lastError(): string | null {
    return this.lastErrorMessage;
  }

  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    // Not awaited: the service starts whether or not the broker is there.
    this.connectSafely();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    this.client = null;
    if (!client) return;
    // A clean disconnect does not send the last will: say offline ourselves first.
    if (this.isConnected) await this.publish(client, this.topics.availability, 'offline', true, 2000).catch(() => undefined);
    this.isConnected = false;
    await Promise.race([client.endAsync(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]).catch(() => undefined);
    client.end(true);
  }

  /** A live state changed: publish what differs from what the broker has (nothing while away). */
  publishLive(): void {
    const client = this.client;
    if (!client || !this.isConnected) return;
    const { live } = this.options;
    const level = live.degradationLevel();
    const queue = live.queueSize();
    const states: [string, string][] = [[this.topics.recording, live.recording() ? 'ON' : 'OFF']];
    if (level !== null) states.push([this.topics.degradation, String(level)]);
    if (queue !== null) states.push([this.topics.queue, String(queue)]);
    for (const [topic, payload] of states) {
      if (this.published.get(topic) === payload) continue;
      this.published.set(topic, payload);
      this.publish(client, topic, payload, true, 10_000).catch((error: unknown) => {
        this.published.delete(topic);
        this.noteError(error);
      });
    }
  }

  async deliver(entry: OutboxEntry, signal: AbortSignal): Promise<void> {
    const client = this.client;
    if (!client || !this.isConnected) throw new Error('not connected to the broker');
    const payload = entry.payload as TranscriptPayload;
    if (payload?.event !== 'transcript') return; // nothing else is stored for this sink
    // All three at once (the client keeps their order on the wire): an attempt that times out has
    // sent the whole delivery, so a retry repeats all of it under the same delivery id.
    await Promise.all(transcriptMessages(this.topics, payload, entry.id).map((message) => this.publish(client, message.topic, message.payload, message.retain, null, signal)));
  }

  /** A client that cannot even be made (a URL mqtt.js refuses) is an error to show and retry, never a crash. */
  private connectSafely(): void {
    this.connect().catch((error: unknown) => {
      this.noteError(error);
      this.scheduleReconnect();
    });
  }

  private async connect(): Promise<void> {
    if (!this.running) return;
    let password: string | undefined;
    try {
      password = this.options.passwordFile === null ? undefined : (await readFile(this.options.passwordFile, 'utf8')).trim();
    } catch (error) {
      this.noteError(new Error(`cannot read the password file ${this.options.passwordFile}: ${error instanceof Error ? error.message : String(error)}`));
      this.scheduleReconnect();
      return;
    }
    if (!this.running) return;
    const client = mqtt.connect(this.options.url, {
      clientId: `scout-${this.options.discovery.deviceId}`,
      ...(this.options.username === null ? {} : { username: this.options.username }),
      ...(password === undefined ? {} : { password }),
      clean: true,
      // Reconnects are ours (backoff with jitter, a new client each time).
      reconnectPeriod: 0,
      connectTimeout: this.options.connectTimeoutMs,
      queueQoSZero: false,
      will: { topic: this.topics.availability, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    this.client = client;
    // Each publish in flight listens for the close: the discovery burst alone is seven.
    client.setMaxListeners(100);
    client.on('connect', () => {
      if (this.client !== client) return;
      this.isConnected = true;
      this.lastErrorMessage = null;
      this.backoff.reset();
      this.published.clear();
      this.options.logger.info({ url: redactUrl(this.options.url) }, 'connected to the MQTT broker');
      this.announce(client);
      for (const listener of this.readyListeners) listener();
    });
    client.on('message', (topic, message) => this.message(client, topic, message.toString('utf8')));
    client.on('error', (error) => this.noteError(error));
    client.on('close', () => {
      if (this.client !== client) return;
      const wasConnected = this.isConnected;
      this.isConnected = false;
      this.client = null;
      client.end(true);
      if (wasConnected) this.options.logger.warn({ url: redactUrl(this.options.url) }, 'lost the MQTT broker; reconnecting with backoff');
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer) return;
    const delayMs = this.backoff.next();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connectSafely();
    }, delayMs);
  }

  /** Online, the discovery configs, the subscriptions and the live states: at every connect and HA birth. */
  private announce(client: MqttClient): void {
    const fail = (error: unknown): void => this.noteError(error);
    client.subscribeAsync([this.topics.haStatus, this.topics.command], { qos: 1 }).catch(fail);
    this.publish(client, this.topics.availability, 'online', true, 10_000).catch(fail);
    for (const message of discoveryMessages(this.options.discovery)) {
      this.publish(client, message.topic, JSON.stringify(message.payload), true, 10_000).catch(fail);
    }
    this.published.clear();
    this.publishLive();
  }

  private message(client: MqttClient, topic: string, text: string): void {
    if (topic === this.topics.haStatus) {
      if (text.trim() === 'online') {
        this.options.logger.info('Home Assistant came online; discovery sent again');
        this.announce(client);
      }
      return;
    }
    if (topic === this.topics.command && text.trim() === BUTTON_PAYLOAD) {
      try {
        this.options.onButton();
      } catch (error) {
        this.options.logger.error({ err: error }, 'the Home Assistant button failed');
      }
    }
  }

  /** QoS 1; settles on the broker's PUBACK, the connection's end, the signal or the timeout. */
  private publish(client: MqttClient, topic: string, payload: string, retain: boolean, timeoutMs: number | null, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: Error): void => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        client.removeListener('close', onClose);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onClose = (): void => finish(new Error('the broker connection closed before it confirmed'));
      const onAbort = (): void => finish(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      const timer = timeoutMs === null ? null : setTimeout(() => finish(new Error(`no PUBACK within ${timeoutMs} ms`)), timeoutMs);
      client.once('close', onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
      client.publish(topic, payload, { qos: 1, retain }, (error) => finish(error ?? undefined));
    });
  }

  private noteError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.lastErrorMessage = message;
    this.options.logger.debug({ error: message }, 'MQTT error');
  }
}

/** A URL may carry a password (mqtt://user:pass@host): never into a log. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}
