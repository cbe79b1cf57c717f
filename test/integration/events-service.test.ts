import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDataDir, startScout, type ScoutProcess } from '../helpers/scout-process.js';
import { SseClient, type SseEvent } from '../helpers/sse-client.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const parsed = (event: SseEvent): Record<string, unknown> => JSON.parse(event.data) as Record<string, unknown>;

/** GET /api/events on the real service (simulator): what the page will be driven by. */
describe('live events from the running appliance', () => {
  let scout: ScoutProcess;

  beforeAll(async () => {
    scout = await startScout();
    await sleep(800);
  }, 60_000);

  afterAll(async () => {
    await scout.stop();
    await removeDataDir(scout.dataDir);
  });

  it('needs the token, like every /api route', async () => {
    const response = await fetch(`http://127.0.0.1:${scout.port}/api/events`);
    expect(response.status).toBe(401);
  });

  it('a take is seen as it happens: phase, LEDs, the new recording, its window jobs and partial text, then transcribed', async () => {
    const client = await SseClient.connect(scout.port, { ...scout.authHeaders });
    try {
      expect(client.response?.statusCode).toBe(200);
      expect(await scout.button('toggle')).toBe(202);
      await client.until((c) => c.events.some((e) => e.event === 'phase' && parsed(e).phase === 'recording'), 5000);
      await sleep(2500);
      expect(await scout.button('toggle')).toBe(202);
      await client.until(
        (c) => c.events.some((e) => e.event === 'recording' && parsed(e).status === 'transcribed'),
        20_000,
      );
      const kinds = new Set(client.events.map((e) => e.event));
      for (const kind of ['phase', 'leds', 'level', 'recording', 'job', 'partial']) expect(kinds).toContain(kind);
      const created = client.events.find((e) => e.event === 'recording' && parsed(e).change === 'created');
      expect(created).toBeDefined();
      // Every event has an increasing id, the ones a reconnect resumes from.
      const ids = client.events.map((e) => Number(e.id));
      expect(ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? 0))).toBe(true);
      const partial = client.events.find((e) => e.event === 'partial');
      expect(partial && parsed(partial).recordingId).toBe(created && parsed(created).id);
    } finally {
      client.close();
    }
  }, 40_000);
});
