import { Type } from '@sinclair/typebox';

/**
 * `integrations` in the configuration (src/config.ts): MQTT with Home Assistant discovery,
 * webhooks, the notes folder. Each is off until configured. Secrets are never settings: a
 * config file gets copied and shared, so passwords and HMAC secrets are read from files.
 */
const MqttSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, pattern: '^(mqtts?|wss?|tcp|ssl)://', description: 'broker, e.g. mqtt://homeassistant.local:1883 (SCOUT_MQTT_URL sets it)' }),
    username: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
    passwordFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'file holding the broker password (read at each connect, never logged)' }),
    topicPrefix: Type.String({ minLength: 1, pattern: '^[^#+]+$', default: 'scout', description: 'state and command topics are <topicPrefix>/<deviceId>/...' }),
    discoveryPrefix: Type.String({ minLength: 1, pattern: '^[^#+]+$', default: 'homeassistant', description: "Home Assistant's discovery prefix" }),
    deviceId: Type.Union([Type.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$' }), Type.Null()], {
      default: null,
      description: "node id and unique_id stem in Home Assistant; null = scout_<hostname>",
    }),
    deviceName: Type.String({ minLength: 1, maxLength: 64, default: 'Scout' }),
    connectTimeoutMs: Type.Integer({ minimum: 500, default: 10_000 }),
    reconnectMaxMs: Type.Integer({ minimum: 100, default: 60_000, description: 'longest wait between reconnects (from 1 s, doubling, with jitter)' }),
  },
  { additionalProperties: false },
);

export const WEBHOOK_EVENTS = ['transcript', 'recording.started', 'recording.stopped'] as const;

const WebhookSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, pattern: '^https?://', description: 'receives a JSON POST per event' }),
    secretFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'file holding the HMAC-SHA256 secret; null = unsigned' }),
    events: Type.Array(Type.Union(WEBHOOK_EVENTS.map((event) => Type.Literal(event))), { minItems: 1, uniqueItems: true, default: ['transcript'] }),
  },
  { additionalProperties: false },
);

export const IntegrationsSchema = Type.Object(
  {
    // Optional objects, not unions with null: ajv fills defaults inside an object, never inside anyOf.
    mqtt: Type.Optional(MqttSchema),
    webhooks: Type.Array(WebhookSchema, { default: [], maxItems: 16 }),
    markdown: Type.Optional(Type.Object({ dir: Type.String({ minLength: 1, description: 'folder for one <recording id>.md per transcript' }) }, { additionalProperties: false })),
    retryInitialMs: Type.Integer({ minimum: 10, default: 1000, description: 'first retry of a failed delivery; doubles up to retryMaxMs, with jitter' }),
    retryMaxMs: Type.Integer({ minimum: 100, default: 300_000 }),
    deliveryTimeoutMs: Type.Integer({ minimum: 100, default: 15_000, description: 'a delivery with no answer by then failed (and is retried)' }),
    keepDelivered: Type.Integer({ minimum: 1, maximum: 10_000, default: 200, description: 'delivered entries kept per sink as the delivery log' }),
  },
  { additionalProperties: false, default: {} },
);
