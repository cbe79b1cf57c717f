import { describe, expect, it } from 'vitest';
import { EventHub, SubscribedTimer, type DropReason, type HubEntry, type HubSink, type LiveEvent } from '../../src/ops/events.js';
import { sleep } from '../../src/util/sleep.js';

function queued(n: number): LiveEvent {
  return { kind: 'queue', size: n, running: null };
}

function sink(): HubSink & { wakes: number; drops: DropReason[] } {
  const state = {
    wakes: 0,
    drops: [] as DropReason[],
    wake: () => {
      state.wakes += 1;
    },
    dropped: (reason: DropReason) => {
      state.drops.push(reason);
    },
  };
  return state;
}

const sizes = (entries: readonly HubEntry[]): number[] => entries.map((entry) => (JSON.parse(entry.data) as { size: number }).size);

describe('EventHub', () => {
  it('gives every event a larger id than the one before, levels included', () => {
    const hub = new EventHub({ firstId: 100 });
    const ids = [hub.publish(queued(1)), hub.publish({ kind: 'level', peakDbfs: -3, rmsDbfs: -12 }), hub.publish(queued(2))];
    expect(ids).toEqual([100, 101, 102]);
    expect(hub.lastId).toBe(102);
  });

  it('replays exactly the events after the last id seen, in order, without the level', () => {
    const hub = new EventHub();
    for (let i = 1; i <= 5; i++) {
      hub.publish(queued(i));
      hub.publish({ kind: 'level', peakDbfs: -1, rmsDbfs: -1 });
    }
    const replay = hub.since(4); // ids: 1 q1, 2 lvl, 3 q2, 4 lvl, 5 q3, ...
    expect(replay.kind).toBe('events');
    if (replay.kind !== 'events') return;
    expect(replay.entries.map((entry) => entry.id)).toEqual([5, 7, 9]);
    expect(sizes(replay.entries)).toEqual([3, 4, 5]);
    expect(hub.since(hub.lastId)).toEqual({ kind: 'events', entries: [] });
  });

  it('says reset when the missed events are older than the ring, or the id is from another run', () => {
    const hub = new EventHub({ replayEvents: 3 });
    for (let i = 1; i <= 6; i++) hub.publish(queued(i));
    // The ring holds 4..6: a client at 3 missed nothing that is gone, one at 2 did.
    const fromThree = hub.since(3);
    expect(fromThree.kind === 'events' && sizes(fromThree.entries)).toEqual([4, 5, 6]);
    expect(hub.since(2)).toEqual({ kind: 'reset', lastId: 6 });
    expect(hub.since(1000)).toEqual({ kind: 'reset', lastId: 6 });
  });

  it('says reset to an id from an earlier run before this run has evicted anything', () => {
    // Ids start at the wall clock (as composed): the earlier run's ids are below this run's first.
    const hub = new EventHub({ firstId: 5000 });
    for (let i = 1; i <= 3; i++) hub.publish(queued(i));
    expect(hub.since(4200)).toEqual({ kind: 'reset', lastId: 5002 });
    // The id just before this run's first has missed nothing this run still holds.
    const fromStart = hub.since(4999);
    expect(fromStart.kind === 'events' && sizes(fromStart.entries)).toEqual([1, 2, 3]);
  });

  it('bounds the ring by bytes too, keeping the newest event', () => {
    const hub = new EventHub({ replayBytes: 200 });
    const big = 'x'.repeat(150);
    hub.publish({ kind: 'partial', recordingId: 'a', seq: 0, text: big, windowsDone: 1, windowsPending: 0, complete: false });
    hub.publish({ kind: 'partial', recordingId: 'a', seq: 1, text: big, windowsDone: 2, windowsPending: 0, complete: false });
    expect(hub.since(0)).toEqual({ kind: 'reset', lastId: 2 });
    const fromOne = hub.since(1);
    expect(fromOne.kind === 'events' && fromOne.entries.map((entry) => entry.id)).toEqual([2]);
  });

  it('subscribing with a last id hands over the missed events, then queues live ones and wakes once', () => {
    const hub = new EventHub();
    hub.publish(queued(1));
    hub.publish(queued(2));
    const listener = sink();
    const { subscription, replay } = hub.subscribe(listener, 1);
    expect(replay.kind === 'events' && sizes(replay.entries)).toEqual([2]);
    hub.publish(queued(3));
    hub.publish(queued(4));
    expect(listener.wakes).toBe(1);
    expect(sizes(subscription.take())).toEqual([3, 4]);
    expect(subscription.take()).toEqual([]);
    hub.publish(queued(5));
    expect(listener.wakes).toBe(2);
  });

  it('drops a subscriber that does not take its events once its queue passes the bound, and only that one', () => {
    const hub = new EventHub({ maxQueuedEvents: 10 });
    const slow = sink();
    const fast = sink();
    hub.subscribe(slow);
    const { subscription: fastSub } = hub.subscribe(fast);
    const counts: number[] = [];
    hub.onSubscribersChange((count) => counts.push(count));
    for (let i = 1; i <= 50; i++) {
      hub.publish(queued(i));
      fastSub.take();
    }
    expect(slow.drops).toEqual(['queue_events']);
    expect(fast.drops).toEqual([]);
    expect(hub.stats()).toMatchObject({ subscribers: 1, dropped: 1, published: 50 });
    expect(counts).toEqual([1]);
  });

  it('drops on the byte bound as well', () => {
    const hub = new EventHub({ maxQueuedBytes: 1000 });
    const slow = sink();
    hub.subscribe(slow);
    for (let i = 0; i < 20 && slow.drops.length === 0; i++) {
      hub.publish({ kind: 'partial', recordingId: 'r', seq: i, text: 'y'.repeat(100), windowsDone: i, windowsPending: 0, complete: false });
    }
    expect(slow.drops).toEqual(['queue_bytes']);
  });

  it('close() removes quietly; closeAll() ends everyone without counting drops', () => {
    const hub = new EventHub();
    const a = sink();
    const b = sink();
    const { subscription } = hub.subscribe(a);
    hub.subscribe(b);
    subscription.close();
    subscription.close();
    expect(a.drops).toEqual([]);
    hub.closeAll();
    expect(b.drops).toEqual(['shutdown']);
    expect(hub.stats()).toMatchObject({ subscribers: 0, dropped: 0 });
  });
});

describe('SubscribedTimer (the level sampler)', () => {
  it('ticks only while started and someone listens', async () => {
    const hub = new EventHub();
    let ticks = 0;
    const timer = new SubscribedTimer({
      hub,
      periodMs: 10,
      tick: () => {
        ticks += 1;
        hub.publish({ kind: 'level', peakDbfs: -6, rmsDbfs: -20 });
      },
    });
    await timer.start();
    await sleep(60);
    expect(ticks).toBe(0);
    expect(timer.running).toBe(false);

    const { subscription } = hub.subscribe(sink());
    expect(timer.running).toBe(true);
    await sleep(80);
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(subscription.take().every((entry) => entry.kind === 'level')).toBe(true);

    subscription.close();
    expect(timer.running).toBe(false);
    const after = ticks;
    await sleep(50);
    expect(ticks).toBe(after);

    hub.subscribe(sink());
    await timer.stop();
    expect(timer.running).toBe(false);
    // Nothing published for replay: a resuming client gets no stale meter readings.
    expect(hub.since(0)).toEqual({ kind: 'events', entries: [] });
  });

  it('skips a tick while an async one is still running', async () => {
    const hub = new EventHub();
    let started = 0;
    let release: () => void = () => undefined;
    const timer = new SubscribedTimer({
      hub,
      periodMs: 5,
      tick: () => {
        started += 1;
        return new Promise<void>((resolve) => (release = resolve));
      },
    });
    hub.subscribe(sink());
    await timer.start();
    await sleep(50);
    expect(started).toBe(1);
    release();
    await sleep(30);
    expect(started).toBeGreaterThanOrEqual(2);
    await timer.stop();
    release();
  });
});
