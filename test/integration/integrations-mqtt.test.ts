import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingCapability } from '../helpers/capability.js';
import { mosquittoMissing, startBroker, type Broker } from '../helpers/mosquitto.js';
import { makeDataDir, removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Seen {
  readonly topic: string;
  readonly text: string;
  readonly retain: boolean;
  readonly atMs: number;
}
interface State {
  appliance: { phase: string; recordingId: string | null };
}
interface Recording {
  id: string;
  status: string;
}
interface SinkView {
  sink: string;
  connected: boolean | null;
  queueLength: number;
  failed: number;
  delivered: number;
  lastError: string | null;
  deliveries: { id: string; recordingId: string | null; attempts: number; deliveredAtMs: number | null }[];
}

const DEVICE = 'scout_it';
const BASE = `scout/${DEVICE}`;
const skip = missingCapability('mosquitto', mosquittoMissing());

/**
 * The MQTT integration against a real Mosquitto on loopback, with the real service (simulator
 * mic, placeholder model): what Home Assistant would see, and what it may do (the button).
 * The watcher is a persistent-session subscriber, so what the broker queued for it while it was
 * away (a broker restart) still reaches it, as it would reach Home Assistant.
 */
describe.skipIf(skip)('MQTT with Home Assistant discovery (real mosquitto)', () => {
  let broker: Broker;
  let scout: ScoutProcess;
  let watcher: MqttClient;
  const seen: Seen[] = [];

  const messages = (topic: string): Seen[] => seen.filter((message) => message.topic === topic);
  const json = (message: Seen): Record<string, unknown> => JSON.parse(message.text) as Record<string, unknown>;
  const integrations = async (): Promise<SinkView> => {
    const body = (await scout.api<{ sinks: SinkView[] }>('/api/integrations')).body;
    const mqttSink = body.sinks.find((sink) => sink.sink === 'mqtt');
    if (!mqttSink) throw new Error(`no mqtt sink in ${JSON.stringify(body)}`);
    return mqttSink;
  };
  const record = async (holdMs: number): Promise<string> => {
    expect(await scout.button('toggle')).toBe(202);
    const id = await waitFor(async () => (await scout.api<State>('/api/state')).body.appliance.recordingId, 10_000);
    await sleep(holdMs);
    expect(await scout.button('toggle')).toBe(202);
    await waitFor(async () => (await scout.api<State>('/api/state')).body.appliance.phase === 'idle', 10_000);
    return id;
  };
  const transcribed = (id: string): Promise<Recording> =>
    waitFor(async () => {
      const recording = (await scout.api<Recording>(`/api/recordings/${id}`)).body;
      return recording.status === 'transcribed' ? recording : null;
    }, 60_000, 200);

  beforeAll(async () => {
    broker = await startBroker();
    watcher = mqtt.connect(broker.url, { clientId: 'ha-watcher', clean: false, reconnectPeriod: 200 });
    watcher.on('message', (topic, payload, packet) => seen.push({ topic, text: payload.toString('utf8'), retain: packet.retain, atMs: Date.now() }));
    watcher.on('error', () => undefined);
    await new Promise<void>((resolve) => watcher.once('connect', () => resolve()));
    await watcher.subscribeAsync(['homeassistant/#', `${BASE}/#`], { qos: 1 });
    scout = await startScout({ config: serviceConfig() });
  }, 90_000);

  const serviceConfig = (): Record<string, unknown> => ({
    integrations: {
      mqtt: { url: broker.url, deviceId: DEVICE, reconnectMaxMs: 1500 },
      retryInitialMs: 200,
      retryMaxMs: 1000,
      deliveryTimeoutMs: 1500,
    },
  });

  afterAll(async () => {
    await scout?.stop();
    await watcher?.endAsync(true).catch(() => undefined);
    await broker?.dispose();
    if (scout) await removeDataDir(scout.dataDir);
  });

  it('publishes retained discovery configs with unique_id, device and availability, and goes online', async () => {
    await waitFor(async () => Promise.resolve(seen.filter((message) => /^homeassistant\/[a-z_]+\/scout_it\/[a-z_]+\/config$/.test(message.topic)).length >= 6), 20_000);
    const configs = seen.filter((message) => message.topic.endsWith('/config'));
    const components = new Set(configs.map((message) => message.topic.split('/')[1]));
    expect([...components].sort()).toEqual(['binary_sensor', 'button', 'event', 'sensor']);
    const uniqueIds = new Set<string>();
    for (const message of configs) {
      const config = json(message);
      expect(typeof config.unique_id).toBe('string');
      uniqueIds.add(config.unique_id as string);
      expect((config.device as { identifiers: string[] }).identifiers).toEqual([DEVICE]);
      expect((config.device as { sw_version?: string }).sw_version).toMatch(/^\d+\.\d+\.\d+/);
      expect(config.availability).toEqual([{ topic: `${BASE}/availability`, payload_available: 'online', payload_not_available: 'offline' }]);
    }
    expect(uniqueIds.size).toBe(configs.length);
    const lastTranscript = configs.map(json).find((config) => config.unique_id === `${DEVICE}_last_transcript`);
    expect(lastTranscript?.json_attributes_topic).toBe(`${BASE}/transcript/attributes`);
    // A late subscriber (Home Assistant restarting) gets them too: they are retained.
    const late = mqtt.connect(broker.url, { clientId: 'late-subscriber', reconnectPeriod: 0 });
    const retained: string[] = [];
    late.on('message', (topic, _payload, packet) => {
      if (packet.retain) retained.push(topic);
    });
    await new Promise<void>((resolve) => late.once('connect', () => resolve()));
    await late.subscribeAsync('homeassistant/#');
    await waitFor(async () => Promise.resolve(retained.length >= 6), 5000);
    await late.endAsync();
    await waitFor(async () => Promise.resolve(messages(`${BASE}/availability`).at(-1)?.text === 'online'), 5000);
  }, 30_000);

  it("Home Assistant's button starts a recording; the recording state and the transcript are published", async () => {
    watcher.publish(`${BASE}/button/set`, 'PRESS', { qos: 1 });
    const id = await waitFor(async () => (await scout.api<State>('/api/state')).body.appliance.recordingId, 10_000);
    expect((await scout.api<State>('/api/state')).body.appliance.phase).toBe('recording');
    await waitFor(async () => Promise.resolve(messages(`${BASE}/recording`).at(-1)?.text === 'ON'), 5000);
    await sleep(2500);
    watcher.publish(`${BASE}/button/set`, 'PRESS', { qos: 1 });
    await waitFor(async () => Promise.resolve(messages(`${BASE}/recording`).at(-1)?.text === 'OFF'), 10_000);
    await transcribed(id);
    const transcript = (await scout.api<{ transcript?: { text?: string } }>(`/api/recordings/${id}`)).body.transcript?.text ?? '';
    const event = await waitFor(async () => Promise.resolve(messages(`${BASE}/transcript/event`).find((message) => json(message).id === id)), 15_000);
    expect(json(event).event_type).toBe('transcript');
    expect(json(event).text).toBe(transcript);
    const attributes = messages(`${BASE}/transcript/attributes`).map(json).find((value) => value.id === id);
    expect(attributes?.text).toBe(transcript);
    expect(attributes?.delivery_id).toBe(json(event).delivery_id);
    const state = messages(`${BASE}/transcript/state`).at(-1)?.text ?? '';
    expect(Array.from(state).length).toBeLessThanOrEqual(255);
    expect(transcript.trim().startsWith(state)).toBe(true);
    // The degradation level and the queue size are there too.
    expect(messages(`${BASE}/degradation`).at(-1)?.text).toMatch(/^\d$/);
    expect(messages(`${BASE}/queue`).at(-1)?.text).toMatch(/^\d+$/);
  }, 90_000);

  it("sends the discovery configs again on Home Assistant's birth message", async () => {
    const before = seen.length;
    watcher.publish('homeassistant/status', 'online', { qos: 1 });
    await waitFor(async () => Promise.resolve(seen.slice(before).filter((message) => message.topic.endsWith('/config')).length >= 6), 10_000);
  }, 20_000);

  it('broker down during transcripts: they wait in the outbox and go out in order once it is back', async () => {
    await broker.stop();
    await waitFor(async () => (await integrations()).connected === false, 10_000);
    const first = await record(1500);
    const second = await record(1500);
    await transcribed(first);
    await transcribed(second);
    const waiting = await integrations();
    expect(waiting.queueLength).toBe(2);
    const health = (await scout.api<{ checks: Record<string, { status: string; message: string }> }>('/healthz')).body;
    expect(health.checks['integration:mqtt']?.status).toBe('degraded');
    expect(health.checks['integration:mqtt']?.message).toMatch(/not connected.*2 waiting/);
    const metrics = (await scout.api<string>('/metrics')).body;
    expect(metrics).toMatch(/^scout_integration_queue_length\{sink="mqtt"\} 2$/m);
    expect(metrics).toMatch(/^scout_integration_connected\{sink="mqtt"\} 0$/m);

    await broker.start();
    const events = await waitFor(() => {
      const found = messages(`${BASE}/transcript/event`).map(json).filter((event) => event.id === first || event.id === second);
      return Promise.resolve(found.some((event) => event.id === second) ? found : null);
    }, 30_000, 200);
    const order = events.map((event) => event.id as string);
    // In order: the first transcript before the second (a duplicate may repeat one, never reorder).
    expect(order.indexOf(first)).toBeGreaterThanOrEqual(0);
    expect(order.indexOf(first)).toBeLessThan(order.lastIndexOf(second));
    expect(order.lastIndexOf(first)).toBeLessThan(order.indexOf(second));
    await waitFor(async () => (await integrations()).queueLength === 0, 10_000);
    const delivered = await integrations();
    expect(delivered.connected).toBe(true);
    const ids = new Map(delivered.deliveries.map((delivery) => [delivery.recordingId, delivery.id]));
    for (const event of events) expect(event.delivery_id).toBe(ids.get(event.id as string));
  }, 120_000);

  it('a publish the broker does not confirm in time is sent again, with the same delivery id', async () => {
    const before = (await integrations()).failed;
    broker.pause();
    let id: string;
    try {
      id = await record(1500);
      await transcribed(id);
      // The delivery times out (1.5 s) without a PUBACK and is retried, more than once while frozen.
      await waitFor(async () => (await integrations()).failed >= before + 1, 20_000, 200);
    } finally {
      broker.resume();
    }
    const copies = await waitFor(() => {
      const found = messages(`${BASE}/transcript/event`).map(json).filter((event) => event.id === id);
      return Promise.resolve(found.length >= 2 ? found : null);
    }, 30_000, 200);
    expect(new Set(copies.map((copy) => copy.delivery_id)).size).toBe(1);
    await waitFor(async () => (await integrations()).queueLength === 0, 20_000);
  }, 90_000);

  it('a crash says offline through the last will; the restarted service says online again', async () => {
    const availability = (): Seen[] => messages(`${BASE}/availability`);
    const seenBefore = availability().length;
    // No goodbye: the broker publishes the will when the connection drops.
    scout.child.kill('SIGKILL');
    await waitFor(async () => Promise.resolve(availability().length > seenBefore && availability().at(-1)?.text === 'offline'), 10_000);
    // Retained, as 'online' was: Home Assistant starting later must not read a stale 'online'.
    const late = mqtt.connect(broker.url, { clientId: 'late-after-crash', reconnectPeriod: 0 });
    const retained: string[] = [];
    late.on('message', (_topic, payload, packet) => {
      if (packet.retain) retained.push(payload.toString('utf8'));
    });
    await new Promise<void>((resolve) => late.once('connect', () => resolve()));
    await late.subscribeAsync(`${BASE}/availability`);
    await waitFor(async () => Promise.resolve(retained.length > 0), 5000);
    await late.endAsync();
    expect(retained).toEqual(['offline']);
    const dataDir = scout.dataDir;
    scout = await startScout({ dataDir, config: serviceConfig() });
    await waitFor(async () => Promise.resolve(availability().at(-1)?.text === 'online'), 20_000);
  }, 60_000);

  it('says offline when the service stops', async () => {
    await scout.stop();
    await waitFor(async () => Promise.resolve(messages(`${BASE}/availability`).at(-1)?.text === 'offline'), 10_000);
  }, 20_000);
});

describe.skipIf(skip)('MQTT login from a password file (real mosquitto)', () => {
  let broker: Broker;
  let scout: ScoutProcess;

  beforeAll(async () => {
    broker = await startBroker({ user: { name: 'scout', password: 'right horse battery' } });
    const dataDir = await makeDataDir();
    await writeFile(join(dataDir, 'mqtt-password'), 'wrong password\n', { mode: 0o600 });
    scout = await startScout({
      dataDir,
      config: { integrations: { mqtt: { url: broker.url, username: 'scout', passwordFile: 'mqtt-password', deviceId: 'scout_auth', reconnectMaxMs: 1000 } } },
    });
  }, 60_000);

  afterAll(async () => {
    await scout?.stop();
    await broker?.dispose();
    if (scout) await removeDataDir(scout.dataDir);
  });

  it('a refused login shows in health and is retried; the fixed file is read at the next connect; the password is never logged', async () => {
    type Health = { checks: Record<string, { status: string; message: string }> };
    const refused = await waitFor(async () => {
      const check = (await scout.api<Health>('/healthz')).body.checks['integration:mqtt'];
      return check?.status === 'degraded' && /not authori[sz]ed/i.test(check.message) ? check : null;
    }, 20_000, 200);
    expect(refused.message).toMatch(/^not connected/);
    await writeFile(join(scout.dataDir, 'mqtt-password'), 'right horse battery\n');
    await waitFor(async () => (await scout.api<Health>('/healthz')).body.checks['integration:mqtt']?.status === 'healthy', 20_000, 200);
    const metrics = (await scout.api<string>('/metrics')).body;
    expect(metrics).toMatch(/^scout_integration_connected\{sink="mqtt"\} 1$/m);
    const everything = `${scout.rawLogLines.join('\n')}\n${scout.stderr()}`;
    expect(everything).not.toContain('right horse battery');
    expect(everything).not.toContain('wrong password');
  }, 60_000);
});
