import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingCapability } from '../helpers/capability.js';
import { verifySignature } from '../../src/integrations/signature.js';
import { makeDataDir, removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const SECRET = 'a shared secret for the test receiver';
const CHROMIUM = '/usr/bin/chromium';
const noChromium = missingCapability('chromium', existsSync(CHROMIUM) ? null : `${CHROMIUM} not installed (Debian package chromium)`);

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly status: number;
}
interface State {
  appliance: { phase: string; recordingId: string | null };
}

/** A webhook receiver on loopback that answers what `respond` says and keeps every request. */
class Receiver {
  readonly requests: Received[] = [];
  respond: (request: { delivery: string; count: number }) => number = () => 200;
  private readonly server: Server;

  constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const delivery = String(request.headers['x-scout-delivery']);
        const count = this.requests.filter((seen) => seen.headers['x-scout-delivery'] === delivery).length + 1;
        const status = this.respond({ delivery, count });
        this.requests.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), status });
        response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
      });
    });
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/hook?token=x`;
  }

  /** The accepted requests' bodies, parsed. */
  accepted(): Record<string, unknown>[] {
    return this.requests.filter((request) => request.status === 200).map((request) => JSON.parse(request.body) as Record<string, unknown>);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function record(scout: ScoutProcess, holdMs: number): Promise<string> {
  expect(await scout.button('toggle')).toBe(202);
  const id = await waitFor(async () => (await scout.api<State>('/api/state')).body.appliance.recordingId, 10_000);
  await sleep(holdMs);
  expect(await scout.button('toggle')).toBe(202);
  await waitFor(async () => (await scout.api<{ status: string }>(`/api/recordings/${id}`)).body.status === 'transcribed', 60_000, 200);
  return id;
}

/** Webhooks from the real service to a receiver on loopback: signed, retried, durable. */
describe('webhooks', () => {
  const receiver = new Receiver();
  let url: string;
  let dataDir: string;
  let config: Record<string, unknown>;
  let scout: ScoutProcess | null = null;

  beforeAll(async () => {
    url = await receiver.listen();
    dataDir = await makeDataDir();
    await writeFile(`${dataDir}/webhook-secret`, `${SECRET}\n`, { mode: 0o600 });
    config = {
      integrations: {
        webhooks: [{ url, secretFile: 'webhook-secret', events: ['transcript', 'recording.started', 'recording.stopped'] }],
        retryInitialMs: 200,
        retryMaxMs: 1000,
        deliveryTimeoutMs: 3000,
      },
    };
    scout = await startScout({ dataDir, config });
  }, 60_000);

  afterAll(async () => {
    await scout?.stop();
    await receiver.close();
    await removeDataDir(dataDir);
  });

  it('a signed POST per event, in order; the signature verifies; a 500 is retried with the same delivery id', async () => {
    if (!scout) throw new Error('not started');
    // The first two attempts of every delivery fail.
    receiver.respond = ({ count }) => (count <= 2 ? 500 : 200);
    const id = await record(scout, 2000);
    await waitFor(async () => Promise.resolve(receiver.accepted().some((body) => body.event === 'transcript')), 30_000, 100);
    const accepted = receiver.accepted().filter((body) => (body.recording as { id: string }).id === id);
    expect(accepted.map((body) => body.event)).toEqual(['recording.started', 'recording.stopped', 'transcript']);
    const transcript = accepted[2] as { transcript: { text: string; redo: boolean }; deliveryId: string };
    const api = (await scout.api<{ transcript?: { text?: string } }>(`/api/recordings/${id}`)).body;
    expect(transcript.transcript.text).toBe(api.transcript?.text);
    expect(transcript.transcript.redo).toBe(false);

    for (const request of receiver.requests) {
      const delivery = request.headers['x-scout-delivery'];
      expect((JSON.parse(request.body) as { deliveryId: string }).deliveryId).toBe(delivery);
      const timestampS = Number(request.headers['x-scout-timestamp']);
      const signature = String(request.headers['x-scout-signature']);
      expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(verifySignature({ secret: SECRET, timestampS, body: request.body, signature, nowS: Date.now() / 1000 })).toBe(true);
      // A changed body, another secret or an old timestamp does not verify.
      expect(verifySignature({ secret: SECRET, timestampS, body: `${request.body} `, signature, nowS: Date.now() / 1000 })).toBe(false);
      expect(verifySignature({ secret: 'another', timestampS, body: request.body, signature, nowS: Date.now() / 1000 })).toBe(false);
      expect(verifySignature({ secret: SECRET, timestampS, body: request.body, signature, nowS: Date.now() / 1000 + 3600 })).toBe(false);
    }
    // Every delivery was tried three times (two 500s, then 200), always under one id.
    const attempts = new Map<string, number>();
    for (const request of receiver.requests) attempts.set(String(request.headers['x-scout-delivery']), (attempts.get(String(request.headers['x-scout-delivery'])) ?? 0) + 1);
    expect([...attempts.values()]).toEqual([3, 3, 3]);

    const view = (await scout.api<{ sinks: { sink: string; queueLength: number; failed: number; deliveries: { id: string; attempts: number; deliveredAtMs: number | null }[] }[] }>('/api/integrations')).body;
    const sink = view.sinks.find((candidate) => candidate.sink === 'webhook:0');
    expect(sink?.queueLength).toBe(0);
    expect(sink?.failed).toBe(6);
    expect(sink?.deliveries.map((delivery) => delivery.attempts)).toEqual([3, 3, 3]);
    expect(new Set(sink?.deliveries.map((delivery) => delivery.id))).toEqual(new Set(attempts.keys()));
  }, 90_000);

  it('nothing is lost across a restart of Scout while the receiver fails', async () => {
    if (!scout) throw new Error('not started');
    receiver.respond = () => 500;
    const before = receiver.accepted().length;
    const id = await record(scout, 1500);
    type View = { sinks: { sink: string; queueLength: number; deliveries: { id: string; recordingId: string | null; deliveredAtMs: number | null }[] }[] };
    const sinkOf = async (process: ScoutProcess): Promise<View['sinks'][number] | undefined> => (await process.api<View>('/api/integrations')).body.sinks.find((sink) => sink.sink === 'webhook:0');
    // Ordered: the first (recording.started) is retried and holds the two behind it.
    await waitFor(async () => (await sinkOf(scout as ScoutProcess))?.queueLength === 3, 30_000, 100);
    await waitFor(async () => Promise.resolve(receiver.requests.filter((request) => request.status === 500 && (JSON.parse(request.body) as { recording: { id: string } }).recording.id === id).length >= 2), 30_000, 100);
    const health = (await scout.api<{ checks: Record<string, { status: string; message: string }> }>('/healthz')).body;
    expect(health.checks['integration:webhook:0']?.status).toBe('degraded');
    expect(health.checks['integration:webhook:0']?.message).toMatch(/3 waiting; last error: HTTP 500/);
    const metrics = (await scout.api<string>('/metrics')).body;
    expect(metrics).toMatch(/^scout_integration_queue_length\{sink="webhook:0"\} 3$/m);
    expect(metrics).toMatch(/^scout_integration_failed_total\{sink="webhook:0"\} \d+$/m);
    const pending = (await sinkOf(scout))?.deliveries.filter((delivery) => delivery.deliveredAtMs === null).map((delivery) => delivery.id).reverse();
    expect(pending).toHaveLength(3);

    await scout.stop();
    scout = null;
    receiver.respond = () => 200;
    scout = await startScout({ dataDir, config });
    await waitFor(async () => Promise.resolve(receiver.accepted().length >= before + 3), 30_000, 100);
    const after = receiver.accepted().slice(before);
    expect(after.map((body) => [body.event, (body.recording as { id: string }).id])).toEqual([
      ['recording.started', id],
      ['recording.stopped', id],
      ['transcript', id],
    ]);
    // The very deliveries that were waiting before the restart, under their ids.
    expect(after.map((body) => body.deliveryId)).toEqual(pending);
    await waitFor(async () => (await sinkOf(scout as ScoutProcess))?.queueLength === 0, 10_000);
  }, 120_000);

  it.skipIf(noChromium)('the page shows the sink and its deliveries (Chromium)', async () => {
    if (!scout) throw new Error('not started');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${scout.port}/`);
      await page.locator('#token').fill(scout.token);
      await page.locator('#login button[type="submit"]').click();
      await expect.poll(() => page.locator('#integrations').isVisible(), { timeout: 10_000 }).toBe(true);
      const sink = page.locator('#integration-sinks li[data-sink="webhook:0"]');
      await expect.poll(() => sink.locator('.sink-status').textContent(), { timeout: 10_000 }).toMatch(/^0 waiting · \d+ delivered · \d+ failed attempts$/);
      const view = (await scout.api<{ sinks: { deliveries: { id: string }[] }[] }>('/api/integrations?limit=10')).body;
      const items = sink.locator('.deliveries li');
      const shown: [string | null, string | null][] = [];
      for (let index = 0; index < (await items.count()); index += 1) {
        const item = items.nth(index);
        shown.push([await item.getAttribute('data-delivery'), await item.getAttribute('data-state')]);
      }
      expect(shown).toEqual(view.sinks[0]?.deliveries.map((delivery) => [delivery.id, 'delivered']));
      expect(shown.length).toBeGreaterThanOrEqual(3);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
