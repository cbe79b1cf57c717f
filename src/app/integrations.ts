import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Config } from '../config.js';
import { PROJECT_ROOT } from '../config.js';
import type { Logger } from '../log.js';
import { Integrations, type ApplianceEvents, type TranscriptionEvents } from '../integrations/integrations.js';
import { MarkdownSink } from '../integrations/markdown-sink.js';
import { MqttSink, type LiveState } from '../integrations/mqtt-sink.js';
import type { Sink } from '../integrations/sink.js';
import { WebhookSink } from '../integrations/webhook-sink.js';
import type { Store } from '../store/store.js';

export interface IntegrationsWiring {
  readonly config: Config;
  readonly store: Store;
  readonly appliance: ApplianceEvents;
  readonly transcription: TranscriptionEvents | null;
  readonly live: LiveState;
  /** The physical button's path (the HA button presses it). */
  readonly press: () => void;
  readonly named: (module: string) => Logger;
}

/** The configured sinks as one part; null when none is configured (nothing starts, nothing is stored). */
export function composeIntegrations({ config, store, appliance, transcription, live, press, named }: IntegrationsWiring): Integrations | null {
  const settings = config.integrations;
  const logger = named('integrations');
  const sinks: Sink[] = [];
  let mqtt: MqttSink | null = null;
  if (settings.mqtt) {
    const deviceId = settings.mqtt.deviceId ?? `scout_${hostname().replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 50)}`;
    mqtt = new MqttSink({
      url: settings.mqtt.url,
      username: settings.mqtt.username,
      passwordFile: settings.mqtt.passwordFile === null ? null : inDataDir(config.dataDir, settings.mqtt.passwordFile),
      discovery: {
        discoveryPrefix: settings.mqtt.discoveryPrefix,
        baseTopic: `${settings.mqtt.topicPrefix}/${deviceId}`,
        deviceId,
        deviceName: settings.mqtt.deviceName,
        swVersion: packageVersion(),
      },
      reconnect: { initialMs: Math.min(1000, settings.mqtt.reconnectMaxMs), maxMs: settings.mqtt.reconnectMaxMs },
      connectTimeoutMs: settings.mqtt.connectTimeoutMs,
      live,
      onButton: press,
      logger: named('mqtt'),
    });
    sinks.push(mqtt);
  }
  settings.webhooks.forEach((webhook, index) => {
    sinks.push(
      new WebhookSink({
        name: `webhook:${index}`,
        url: webhook.url,
        secretFile: webhook.secretFile === null ? null : inDataDir(config.dataDir, webhook.secretFile),
        events: webhook.events,
      }),
    );
  });
  if (settings.markdown) sinks.push(new MarkdownSink({ dir: inDataDir(config.dataDir, settings.markdown.dir) }));
  // Where each delivery goes is a fact an owner must be able to find out; the secrets never appear.
  logger.info({ mqtt: settings.mqtt !== undefined, webhooks: settings.webhooks.map((webhook) => originOf(webhook.url)), markdown: settings.markdown?.dir ?? null }, sinks.length === 0 ? 'no integrations configured' : 'integrations configured');
  if (sinks.length === 0) return null;
  return new Integrations({
    outbox: store.outbox,
    recordings: store.recordings,
    transcripts: store.transcripts,
    sinks,
    mqtt,
    appliance,
    transcription,
    retry: { initialMs: settings.retryInitialMs, maxMs: settings.retryMaxMs },
    deliveryTimeoutMs: settings.deliveryTimeoutMs,
    keepDelivered: settings.keepDelivered,
    logger,
  });
}

/** A relative path in the config is relative to the data dir (where the service's own files are). */
function inDataDir(dataDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dataDir, path);
}

/** A webhook URL may carry a token in its path or query: only its origin is logged. */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(unparsable url)';
  }
}

function packageVersion(): string {
  try {
    const parsed = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof parsed.version === 'string' ? parsed.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
