/**
 * `GET /api/events`: the live events as Server-Sent Events (text/event-stream).
 *
 * Each event is `id: <n>`, `event: <kind>`, `data: <json>`. A reconnecting EventSource sends the
 * last id it saw in `Last-Event-ID`; it gets exactly the events it missed (the level excepted:
 * it is not kept), or, when they are no longer in the hub's ring, one `reset` event: refetch
 * /api/state and carry on from its id.
 *
 * The response is written with the raw socket, never awaited by the hub. When `write()` says
 * the socket is full we stop writing and let the hub queue; when the queue (or what the socket
 * still holds) passes its bound the response is ended and the subscriber dropped. Such a client
 * costs a bounded amount of memory and nothing on the capture path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { Logger } from '../log.js';
import type { DropReason, EventHub, HubEntry, Subscription } from '../ops/events.js';

export interface EventRouteDeps {
  readonly hub: EventHub;
  readonly logger: Logger;
  /** A comment line this often keeps proxies and NAT from closing an idle stream (default 15 s). */
  readonly heartbeatMs?: number;
  /** The reconnect delay EventSource is told to use (default 2000 ms). */
  readonly retryMs?: number;
  /** Counts dropped clients (for the metrics the composer wires). */
  readonly onDrop?: (reason: DropReason) => void;
}

/** The id a client sent; anything that is not a plain non-negative integer is ignored. */
function parseLastEventId(header: string | string[] | undefined): number | null {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return null;
  return Number(value.trim());
}

function frame(entry: HubEntry): string {
  return `id: ${entry.id}\nevent: ${entry.kind}\ndata: ${entry.data}\n\n`;
}

// Generic over the logger so the server's instance (typed with our pino Logger) fits as it is.
export function registerEventRoutes<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  deps: EventRouteDeps,
): void {
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  const retryMs = deps.retryMs ?? 2000;
  const open = new Set<() => void>();

  // Streams never finish by themselves: end them before the server waits for its connections.
  app.addHook('preClose', (done) => {
    for (const end of [...open]) end();
    done();
  });

  // No HEAD: node sends a HEAD response's headers with its first body write, which HEAD discards,
  // so the client would wait forever while holding a hub subscription.
  app.get('/api/events', { exposeHeadRoute: false }, (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    const remote = request.socket.remoteAddress;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // nginx and friends would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);

    let subscription: Subscription | null = null;
    let blocked = false;
    let flushScheduled = false;
    let ended = false;
    let heartbeat: NodeJS.Timeout | null = null;

    const end = (): void => {
      if (ended) return;
      ended = true;
      if (heartbeat) clearInterval(heartbeat);
      open.delete(end);
      subscription?.close();
      // destroy, not end: a client that stopped reading would keep the bytes we wrote in memory.
      res.destroy();
    };
    const drop = (reason: DropReason): void => {
      deps.logger.info({ remote, reason, pendingBytes: res.writableLength }, 'event stream client dropped');
      deps.onDrop?.(reason);
      end();
    };
    // Once write() says the socket is full nothing more is written until 'drain': what the socket
    // holds is then at most one flush (itself within the hub's queue bound) or the replay, and
    // what comes meanwhile waits in the hub's queue, whose bound drops the client.
    const write = (text: string): boolean => res.write(text);
    const flush = (): void => {
      flushScheduled = false;
      if (ended || blocked || !subscription) return;
      const entries = subscription.take();
      if (entries.length === 0) return;
      // One write per flush: events published together go out in one segment.
      let chunk = '';
      for (const entry of entries) chunk += frame(entry);
      if (!write(chunk)) blocked = !ended;
    };

    const { subscription: subscribed, replay } = deps.hub.subscribe(
      {
        // Never write from inside publish: the publisher may be the appliance or the queue.
        wake: () => {
          if (flushScheduled) return;
          flushScheduled = true;
          setImmediate(flush);
        },
        dropped: drop,
      },
      parseLastEventId(request.headers['last-event-id']),
    );
    subscription = subscribed;
    open.add(end);

    let first = `retry: ${retryMs}\n\n`;
    if (replay.kind === 'reset') first += `id: ${replay.lastId}\nevent: reset\ndata: ${JSON.stringify({ kind: 'reset', lastId: replay.lastId })}\n\n`;
    else for (const entry of replay.entries) first += frame(entry);
    if (!write(first)) blocked = !ended;

    res.on('drain', () => {
      blocked = false;
      flush();
    });
    if (ended) return;
    heartbeat = setInterval(() => {
      // A client that is not reading does not need a heartbeat; its bound decides.
      if (!blocked && !ended && !write(': heartbeat\n\n')) blocked = !ended;
    }, heartbeatMs);
    heartbeat.unref();
    res.on('close', end);
    res.on('error', end);
  });
}
