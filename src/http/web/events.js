// The live events (GET /api/events, Server-Sent Events). The page reads its state once and then
// follows these; nothing polls.
//
// EventSource reconnects by itself after a dropped connection and sends the last id it saw; the
// server replays what was missed, or sends `reset` when it no longer has it (then: refetch).
// It gives up for good on an HTTP error (a 401 after the service restarted and forgot the
// session): then we ask `onClosed`, which finds out whether we are logged out, and otherwise
// open a new stream after a growing pause. A new stream has no last id, so it starts with a
// full refetch (`onFresh`).

const KINDS = ['phase', 'leds', 'level', 'partial', 'job', 'queue', 'degradation', 'faults', 'health', 'recording'];
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

/**
 * handlers: { [kind]: (data) => void, reset(), fresh(), status(text), closed(): Promise<boolean> }
 * `closed` resolves true when the stream should be opened again (false: logged out).
 * Returns { stop() }.
 */
export function connectEvents(handlers) {
  let source = null;
  let attempt = 0;
  let retryTimer = null;
  let stopped = false;

  const dispatch = (kind, event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      console.warn('unreadable event', kind, event.data);
      return;
    }
    try {
      handlers[kind]?.(data);
    } catch (error) {
      // One bad handler must not stop the others, nor the stream.
      console.error('event handler failed', kind, error);
    }
  };

  const open = () => {
    retryTimer = null;
    if (stopped) return;
    const stream = new EventSource('/api/events', { withCredentials: true });
    source = stream;
    let first = true;
    stream.addEventListener('open', () => {
      attempt = 0;
      handlers.status?.('live');
      // Only a new stream needs the full picture; a resumed one gets the replay (or a reset).
      if (first) {
        first = false;
        handlers.fresh?.();
      }
    });
    for (const kind of KINDS) stream.addEventListener(kind, (event) => dispatch(kind, event));
    stream.addEventListener('reset', () => handlers.reset?.());
    stream.addEventListener('error', () => {
      if (stream.readyState === EventSource.CONNECTING) {
        handlers.status?.('reconnecting');
        return;
      }
      stream.close();
      if (source !== stream || stopped) return;
      source = null;
      handlers.status?.('offline');
      void Promise.resolve(handlers.closed?.() ?? true)
        .catch(() => true)
        .then((again) => {
          if (!again || stopped || retryTimer !== null) return;
          const delayMs = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
          attempt += 1;
          retryTimer = setTimeout(open, delayMs);
        });
    });
  };

  open();
  return {
    stop() {
      stopped = true;
      if (retryTimer !== null) clearTimeout(retryTimer);
      retryTimer = null;
      source?.close();
      source = null;
    },
  };
}
