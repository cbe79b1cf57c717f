import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerEventRoutes, type EventRouteDeps } from '../../src/http/events.js';
import { silentLogger } from '../../src/log.js';
import { EventHub, type DropReason } from '../../src/ops/events.js';
import { sleep } from '../../src/util/sleep.js';
import { SseClient } from '../helpers/sse-client.js';

/** GET /api/events on a real socket: SSE needs one (inject() buffers the whole response). */

let app: FastifyInstance | null = null;
const clients: SseClient[] = [];
const sockets: Socket[] = [];

async function serve(hub: EventHub, options: Partial<EventRouteDeps> = {}): Promise<number> {
  app = Fastify();
  registerEventRoutes(app, { hub, logger: silentLogger(), ...options });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return address.port;
}

async function client(port: number, headers?: Record<string, string>): Promise<SseClient> {
  const made = await SseClient.connect(port, headers);
  clients.push(made);
  return made;
}

function sizeOf(data: string): number {
  return (JSON.parse(data) as { size: number }).size;
}

afterEach(async () => {
  for (const made of clients.splice(0)) made.close();
  for (const socket of sockets.splice(0)) socket.destroy();
  await app?.close();
  app = null;
});

describe('GET /api/events', () => {
  it('streams events with ids, the SSE headers and a retry hint', async () => {
    const hub = new EventHub();
    const port = await serve(hub);
    const sse = await client(port);
    expect(sse.response?.statusCode).toBe(200);
    expect(sse.response?.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(sse.response?.headers['cache-control']).toBe('no-cache');
    expect(sse.response?.headers['x-accel-buffering']).toBe('no');
    await sse.until(() => sse.retryMs !== null);
    expect(sse.retryMs).toBe(2000);

    hub.publish({ kind: 'phase', phase: 'recording', recordingId: 'r1', endingSoon: false, savesInFlight: 0 });
    hub.publish({ kind: 'recording', change: 'created', id: 'r1', status: 'recording' });
    await sse.until(() => sse.events.length === 2);
    expect(sse.events.map((event) => [event.id, event.event])).toEqual([
      ['1', 'phase'],
      ['2', 'recording'],
    ]);
    expect(JSON.parse(sse.events[1]?.data ?? '')).toEqual({ kind: 'recording', change: 'created', id: 'r1', status: 'recording' });
  });

  it('a client that reconnects with Last-Event-ID gets exactly the events it missed, in order', async () => {
    const hub = new EventHub();
    const port = await serve(hub);
    const first = await client(port);
    await first.until(() => first.retryMs !== null);
    for (let size = 1; size <= 3; size++) hub.publish({ kind: 'queue', size, running: null });
    await first.until(() => first.events.length === 3);
    first.close();
    await first.until(() => first.ended);
    await sleep(20);
    expect(hub.subscriberCount).toBe(0);

    // Missed while away: three facts and a meter reading nobody needs later.
    for (let size = 4; size <= 6; size++) hub.publish({ kind: 'queue', size, running: null });
    hub.publish({ kind: 'level', peakDbfs: -3, rmsDbfs: -10 });

    const again = await client(port, { 'last-event-id': first.lastId ?? '' });
    await again.until(() => again.events.length === 3);
    hub.publish({ kind: 'queue', size: 7, running: null });
    await again.until(() => again.events.length === 4);
    await sleep(50);
    expect(again.events.map((event) => event.id)).toEqual(['4', '5', '6', '8']);
    expect(again.events.map((event) => sizeOf(event.data))).toEqual([4, 5, 6, 7]);
  });

  it('a Last-Event-ID older than the replay ring gets one reset event carrying the current id', async () => {
    const hub = new EventHub({ replayEvents: 4 });
    const port = await serve(hub);
    for (let size = 1; size <= 10; size++) hub.publish({ kind: 'queue', size, running: null });
    const sse = await client(port, { 'last-event-id': '2' });
    await sse.until(() => sse.events.length === 1);
    expect(sse.events[0]).toEqual({ id: '10', event: 'reset', data: JSON.stringify({ kind: 'reset', lastId: 10 }) });
    hub.publish({ kind: 'queue', size: 11, running: null });
    await sse.until(() => sse.events.length === 2);
    expect(sse.events[1]?.id).toBe('11');
  });

  it('sends heartbeat comments while nothing happens', async () => {
    const hub = new EventHub();
    const port = await serve(hub, { heartbeatMs: 40 });
    const sse = await client(port);
    await sse.until(() => sse.comments.length >= 2, 2000);
    expect(sse.comments[0]).toBe('heartbeat');
    expect(sse.events).toEqual([]);
  });

  it('drops a client that stops reading at its bound, while publishing goes on and others keep receiving', async () => {
    const hub = new EventHub({ maxQueuedEvents: 256, maxQueuedBytes: 512 * 1024 });
    const drops: DropReason[] = [];
    const port = await serve(hub, { onDrop: (reason) => drops.push(reason) });
    const reader = await client(port);

    // A raw client that sends its request and never reads a byte of the answer.
    const stuck = connect({ host: '127.0.0.1', port });
    sockets.push(stuck);
    await new Promise<void>((resolve) => stuck.once('connect', () => resolve()));
    stuck.pause();
    stuck.write('GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
    const deadline = Date.now() + 5000;
    while (hub.subscriberCount < 2 && Date.now() < deadline) await sleep(10);
    expect(hub.subscriberCount).toBe(2);

    // Kernel socket buffers on loopback take megabytes before the server feels anything.
    const text = 'w'.repeat(2000);
    let published = 0;
    let worstPublishMs = 0;
    while (drops.length === 0 && published < 50_000) {
      const startedAt = performance.now();
      for (let i = 0; i < 10; i++) {
        hub.publish({ kind: 'partial', recordingId: 'r', seq: published, text, windowsDone: published, windowsPending: 1, complete: false });
        published++;
      }
      worstPublishMs = Math.max(worstPublishMs, performance.now() - startedAt);
      await sleep(1);
    }
    expect(drops).toHaveLength(1);
    expect(['queue_events', 'queue_bytes']).toContain(drops[0]);
    expect(hub.stats().dropped).toBe(1);
    // Publishing never waited for the stuck client.
    expect(worstPublishMs).toBeLessThan(50);

    // The reading client saw every event, through and after the drop.
    hub.publish({ kind: 'queue', size: 0, running: null });
    await reader.until(() => reader.events.length === published + 1, 15_000);
    expect(reader.events.map((event) => Number(event.id))).toEqual(Array.from({ length: published + 1 }, (_, index) => index + 1));
    expect(hub.subscriberCount).toBe(1);
    expect(stuck.destroyed || stuck.readableEnded || stuck.closed || (await ended(stuck))).toBe(true);
  }, 30_000);

  it('ends every stream when the server closes', async () => {
    const hub = new EventHub();
    const port = await serve(hub);
    const sse = await client(port);
    await sse.until(() => sse.retryMs !== null);
    await app?.close();
    app = null;
    await sse.until(() => sse.ended, 2000);
    expect(hub.subscriberCount).toBe(0);
  });
});

/** Reads the stuck socket out: the server has closed its side once the stream ends. */
function ended(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 5000);
    socket.on('data', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.once('end', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.resume();
  });
}
