import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, validateConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { OutboxDispatcher } from '../../src/integrations/dispatcher.js';
import { MarkdownSink } from '../../src/integrations/markdown-sink.js';
import { discoveryMessages, topicsOf, transcriptMessages, truncateState } from '../../src/integrations/ha-discovery.js';
import { noteFileName, renderNote } from '../../src/integrations/markdown-note.js';
import { deliveryId, type TranscriptPayload } from '../../src/integrations/payloads.js';
import { signBody, verifySignature } from '../../src/integrations/signature.js';
import type { Sink } from '../../src/integrations/sink.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { OutboxRepo, type OutboxEntry } from '../../src/store/outbox.js';

const payload = (text: string, createdAtMs = 1_700_000_000_000, title: string | null = null): TranscriptPayload => ({
  event: 'transcript',
  recording: { id: '01jabcdefghjkmnpqrstvwxyz0', startedAtMs: 1_699_999_990_000, durationMs: 9500, title },
  transcript: { text, tier: 'normal', model: 'ggml-tiny.en-q8_0.bin', audioDurationMs: 9500, createdAtMs, noSpeech: false, redo: false },
});

describe('integrations config', () => {
  it('is off by default; SCOUT_MQTT_URL turns MQTT on with the Home Assistant prefix', () => {
    expect(validateConfig({}).integrations).toMatchObject({ webhooks: [] });
    expect(validateConfig({}).integrations.mqtt).toBeUndefined();
    const { config } = loadConfig({ path: null, env: { SCOUT_MQTT_URL: 'mqtt://broker.lan:1883' } });
    expect(config.integrations.mqtt).toMatchObject({ url: 'mqtt://broker.lan:1883', discoveryPrefix: 'homeassistant', topicPrefix: 'scout', username: null, passwordFile: null });
  });

  it('webhooks default to transcripts; unknown events and bad URLs are refused', () => {
    expect(validateConfig({ integrations: { webhooks: [{ url: 'https://hooks.example/x' }] } }).integrations.webhooks[0]?.events).toEqual(['transcript']);
    expect(() => validateConfig({ integrations: { webhooks: [{ url: 'https://hooks.example/x', events: ['recording.paused'] }] } })).toThrow(ConfigError);
    expect(() => validateConfig({ integrations: { mqtt: { url: 'broker.lan' } } })).toThrow(/integrations\.mqtt\.url/);
  });
});

describe('delivery ids', () => {
  it('are the same for the same sink and event, and differ by sink and by transcript', () => {
    const id = deliveryId('webhook:0', payload('hello'));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(deliveryId('webhook:0', payload('other text, same transcript'))).toBe(id);
    expect(deliveryId('webhook:1', payload('hello'))).not.toBe(id);
    expect(deliveryId('webhook:0', payload('hello', 1_700_000_000_001))).not.toBe(id);
  });
});

describe('webhook signature', () => {
  const opensslMissing = spawnSync('openssl', ['version']).error !== undefined;

  it.skipIf(opensslMissing)('is the HMAC-SHA256 of "<timestamp>.<body>" that openssl computes', () => {
    const body = '{"event":"transcript","text":"caf\u00e9 \u{1f600}"}';
    const openssl = spawnSync('openssl', ['dgst', '-sha256', '-hmac', 'top secret', '-hex'], { input: `1700000000.${body}` });
    const hex = /([0-9a-f]{64})\s*$/.exec(openssl.stdout.toString())?.[1];
    expect(hex).toBeDefined();
    expect(signBody('top secret', 1_700_000_000, body)).toBe(`sha256=${hex}`);
  });

  it('verifies within the tolerance only, for the same body and secret', () => {
    const signature = signBody('s', 1000, 'body');
    expect(verifySignature({ secret: 's', timestampS: 1000, body: 'body', signature, nowS: 1100 })).toBe(true);
    expect(verifySignature({ secret: 's', timestampS: 1000, body: 'body', signature, nowS: 1400 })).toBe(false);
    expect(verifySignature({ secret: 's', timestampS: 1001, body: 'body', signature, nowS: 1100 })).toBe(false);
    expect(verifySignature({ secret: 's', timestampS: 1000, body: 'bodY', signature, nowS: 1100 })).toBe(false);
    expect(verifySignature({ secret: 't', timestampS: 1000, body: 'body', signature, nowS: 1100 })).toBe(false);
    expect(verifySignature({ secret: 's', timestampS: 1000, body: 'body', signature: 'sha256=00', nowS: 1100 })).toBe(false);
  });
});

describe('Home Assistant discovery', () => {
  const options = { discoveryPrefix: 'homeassistant', baseTopic: 'scout/kitchen', deviceId: 'kitchen', deviceName: 'Kitchen Scout', swVersion: '1.2.3' };

  it('one retained config per entity, each with unique_id, the device block and availability', () => {
    const messages = discoveryMessages(options);
    expect(messages.map((message) => message.topic)).toEqual([
      'homeassistant/button/kitchen/record/config',
      'homeassistant/binary_sensor/kitchen/recording/config',
      'homeassistant/sensor/kitchen/last_transcript/config',
      'homeassistant/event/kitchen/transcript/config',
      'homeassistant/sensor/kitchen/degradation/config',
      'homeassistant/sensor/kitchen/queue/config',
    ]);
    expect(new Set(messages.map((message) => message.payload.unique_id)).size).toBe(messages.length);
    for (const { payload: config } of messages) {
      expect(config.device).toEqual({ identifiers: ['kitchen'], name: 'Kitchen Scout', model: 'Scout push-to-talk recorder', manufacturer: 'Scout', sw_version: '1.2.3' });
      expect(config.availability).toEqual([{ topic: 'scout/kitchen/availability', payload_available: 'online', payload_not_available: 'offline' }]);
    }
    const button = messages[0]?.payload;
    expect(button?.command_topic).toBe('scout/kitchen/button/set');
    expect(messages[3]?.payload.event_types).toEqual(['transcript']);
  });

  it('a transcript: the state cut to 255 characters (never inside an emoji), the whole text in the attributes and the event', () => {
    // The 255th character is an emoji (two UTF-16 units): a cut by UTF-16 units would split it.
    const long = `${'word '.repeat(50)}abcd\u{1f600}${'tail '.repeat(40)}`;
    const [attributes, state, event] = transcriptMessages(topicsOf(options), payload(long), 'd-1');
    expect(Array.from(state?.payload ?? '').length).toBe(255);
    expect(state?.payload).toBe(Array.from(long.trim()).slice(0, 255).join(''));
    expect(state?.payload.endsWith('\u{1f600}')).toBe(true);
    expect(JSON.parse(attributes?.payload ?? '{}')).toMatchObject({ id: '01jabcdefghjkmnpqrstvwxyz0', text: long, delivery_id: 'd-1' });
    expect(JSON.parse(event?.payload ?? '{}')).toMatchObject({ event_type: 'transcript', text: long, delivery_id: 'd-1' });
    expect([attributes?.retain, state?.retain, event?.retain]).toEqual([true, true, false]);
    expect(truncateState('  short  ')).toBe('short');
  });
});

describe('markdown note', () => {
  it('front matter whose values read back as written, even with colons and quotes in the title', () => {
    const note = renderNote(payload('  The text: with "quotes".\n', 1_700_000_000_000, 'A title: "quoted"\nnext line'), 'd-2');
    const [, front, body] = /^---\n([\s\S]*?)\n---\n\n([\s\S]*)$/.exec(note) ?? [];
    const meta: Record<string, string> = Object.fromEntries((front ?? '').split('\n').map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]));
    expect(Object.keys(meta)).toEqual(['id', 'time', 'duration', 'tier', 'title', 'transcribed', 'delivery']);
    expect(JSON.parse(meta.id ?? '')).toBe('01jabcdefghjkmnpqrstvwxyz0');
    expect(JSON.parse(meta.time ?? '')).toBe('2023-11-14T22:13:10.000Z');
    expect(Number(meta.duration)).toBe(9.5);
    expect(JSON.parse(meta.title ?? '')).toBe('A title: "quoted"\nnext line');
    expect(body).toBe('The text: with "quotes".\n');
    expect(noteFileName('01jabc/../x')).toBe('01jabc____x.md');
  });
});

describe('outbox and dispatcher (SQLite on disk)', () => {
  let dir: string;
  let db: Database;
  let outbox: OutboxRepo;
  let clockMs: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'scout-outbox-'));
    db = openDatabase(join(dir, 'scout.db'), silentLogger());
    clockMs = 1_700_000_000_000;
    outbox = new OutboxRepo(db, () => clockMs);
  });

  afterEach(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores an entry once, hands a sink its oldest first, and never prunes what is pending', () => {
    expect(outbox.enqueue([{ id: 'a', sink: 's', kind: 'transcript', payload: { n: 1 } }, { id: 'x', sink: 'other', kind: 'transcript', payload: {} }])).toBe(2);
    expect(outbox.enqueue([{ id: 'a', sink: 's', kind: 'transcript', payload: { n: 1 } }])).toBe(0);
    outbox.enqueue([{ id: 'b', sink: 's', kind: 'transcript', payload: { n: 2 } }]);
    expect(outbox.head('s')?.id).toBe('a');
    outbox.markFailed('a', 'HTTP 500', clockMs + 5000);
    expect(outbox.head('s')).toMatchObject({ id: 'a', attempts: 1, lastError: 'HTTP 500', nextAttemptAtMs: clockMs + 5000 });
    outbox.markDelivered('a');
    expect(outbox.head('s')?.id).toBe('b');
    expect(outbox.pendingCount('s')).toBe(1);
    expect(outbox.prune('s', 0)).toBe(1);
    expect(outbox.recent('s', 10).map((entry) => entry.id)).toEqual(['b']);
  });

  /** A sink following the real interface whose answers the test decides. */
  class ScriptedSink implements Sink {
    readonly name = 'scripted';
    readonly events = new Set(['transcript'] as const);
    readonly delivered: string[] = [];
    readonly attempts: string[] = [];
    isReady = true;
    failNext = 0;
    hang = false;
    private readyListener: (() => void) | null = null;
    ready(): boolean {
      return this.isReady;
    }
    onReady(listener: () => void): void {
      this.readyListener = listener;
    }
    becomeReady(): void {
      this.isReady = true;
      this.readyListener?.();
    }
    connected(): boolean {
      return this.isReady;
    }
    start(): Promise<void> {
      return Promise.resolve();
    }
    stop(): Promise<void> {
      return Promise.resolve();
    }
    deliver(entry: OutboxEntry, signal: AbortSignal): Promise<void> {
      this.attempts.push(entry.id);
      if (this.hang) return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
      if (this.failNext > 0) {
        this.failNext -= 1;
        return Promise.reject(new Error('refused'));
      }
      this.delivered.push(entry.id);
      return Promise.resolve();
    }
  }

  const until = async (condition: () => boolean, timeoutMs = 5000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not met');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  it('delivers in order, retries a refused entry with backoff before the next one, and waits for a sink that is not ready', async () => {
    const sink = new ScriptedSink();
    sink.isReady = false;
    sink.failNext = 2;
    const realOutbox = new OutboxRepo(db);
    const dispatcher = new OutboxDispatcher({ outbox: realOutbox, sinks: [sink], retry: { initialMs: 20, maxMs: 40, jitter: 0 }, deliveryTimeoutMs: 1000, keepDelivered: 10, logger: silentLogger() });
    realOutbox.enqueue(['1', '2', '3'].map((id) => ({ id, sink: 'scripted', kind: 'transcript', payload: {} })));
    dispatcher.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sink.attempts).toEqual([]);
    sink.becomeReady();
    await until(() => sink.delivered.length === 3);
    expect(sink.attempts).toEqual(['1', '1', '1', '2', '3']);
    expect(sink.delivered).toEqual(['1', '2', '3']);
    expect(dispatcher.counters('scripted')).toMatchObject({ delivered: 3, failed: 2, lastError: null });
    expect(realOutbox.recent('scripted', 10).find((entry) => entry.id === '1')?.attempts).toBe(3);
    realOutbox.enqueue([{ id: '4', sink: 'scripted', kind: 'transcript', payload: {} }]);
    dispatcher.wake();
    await until(() => sink.delivered.length === 4);
    await dispatcher.stop();
  });

  it('a delivery with no answer times out and is retried; one cut short by stop stays pending, not counted', async () => {
    const sink = new ScriptedSink();
    sink.hang = true;
    const realOutbox = new OutboxRepo(db);
    const dispatcher = new OutboxDispatcher({ outbox: realOutbox, sinks: [sink], retry: { initialMs: 10, maxMs: 10, jitter: 0 }, deliveryTimeoutMs: 50, keepDelivered: 10, logger: silentLogger() });
    realOutbox.enqueue([{ id: 'slow', sink: 'scripted', kind: 'transcript', payload: {} }]);
    dispatcher.start();
    await until(() => (dispatcher.counters('scripted')?.failed ?? 0) >= 2);
    expect(dispatcher.counters('scripted')?.lastError).toBe('no answer within 50 ms');
    await dispatcher.stop();
    const attempts = realOutbox.head('scripted')?.attempts ?? 0;
    expect(attempts).toBe(dispatcher.counters('scripted')?.failed);
    expect(realOutbox.pendingCount('scripted')).toBe(1);
  });

  it('a sink that ignores its signal (a hung folder) does not hold its loop: timed out, retried, and stop() returns', async () => {
    const never = new Promise<void>(() => undefined);
    let calls = 0;
    const deaf: Sink = {
      name: 'deaf',
      events: new Set(['transcript']),
      ready: () => true,
      onReady: () => undefined,
      connected: () => null,
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
      deliver: () => {
        calls += 1;
        return never;
      },
    };
    const realOutbox = new OutboxRepo(db);
    const dispatcher = new OutboxDispatcher({ outbox: realOutbox, sinks: [deaf], retry: { initialMs: 10, maxMs: 10, jitter: 0 }, deliveryTimeoutMs: 50, keepDelivered: 10, logger: silentLogger() });
    realOutbox.enqueue([{ id: 'stuck', sink: 'deaf', kind: 'transcript', payload: {} }]);
    dispatcher.start();
    await until(() => calls >= 3);
    expect(dispatcher.counters('deaf')).toMatchObject({ lastError: 'no answer within 50 ms' });
    await dispatcher.stop();
    expect(realOutbox.pendingCount('deaf')).toBe(1);
  });

  it('the notes folder: while one write hangs, the next delivery fails at once instead of taking another thread', async () => {
    const sink = new MarkdownSink({ dir: join(dir, 'notes') });
    const payload = { event: 'transcript', recording: { id: 'rec-1' } } as unknown as TranscriptPayload;
    const entry = (id: string): OutboxEntry => ({ id, sink: 'markdown', kind: 'transcript', payload, attempts: 0 }) as unknown as OutboxEntry;
    // Stand in for a write that never returns (a stalled network mount).
    let release: () => void = () => undefined;
    const hung = new Promise<void>((resolve) => (release = resolve));
    (sink as unknown as { write: () => Promise<void> }).write = () => hung;
    const first = sink.deliver(entry('a'));
    await expect(sink.deliver(entry('b'))).rejects.toThrow(/does not answer: the last write has not finished/);
    release();
    await first;
    // Once it has settled, writes go ahead again.
    (sink as unknown as { write: () => Promise<void> }).write = () => Promise.resolve();
    await expect(sink.deliver(entry('c'))).resolves.toBeUndefined();
  });
});
