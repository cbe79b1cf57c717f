import { describe, expect, it } from 'vitest';
import { Lifecycle, type LifecyclePart } from '../../src/app/lifecycle.js';
import { FaultBoard } from '../../src/ops/faults.js';
import { silentLogger } from '../../src/log.js';
import { captureLogger } from '../helpers/log-capture.js';

function recorder(): { events: string[]; part: (name: string, options?: { failStart?: boolean; failStop?: boolean }) => LifecyclePart } {
  const events: string[] = [];
  return {
    events,
    part: (name, options = {}) => ({
      name,
      start: () => {
        events.push(`start ${name}`);
        if (options.failStart) throw new Error(`${name} cannot start`);
      },
      stop: async () => {
        events.push(`stop ${name}`);
        await Promise.resolve();
        if (options.failStop) throw new Error(`${name} cannot stop`);
      },
    }),
  };
}

describe('Lifecycle', () => {
  it('starts parts in order and stops them in reverse, once', async () => {
    const { events, part } = recorder();
    const lifecycle = new Lifecycle([part('db'), part('capture'), part('http')], silentLogger());
    await lifecycle.start();
    await Promise.all([lifecycle.stop(), lifecycle.stop()]);
    await lifecycle.stop();
    expect(events).toEqual(['start db', 'start capture', 'start http', 'stop http', 'stop capture', 'stop db']);
  });

  it('a part that fails to start stops the ones already started (and itself), then rethrows', async () => {
    const { events, part } = recorder();
    const lifecycle = new Lifecycle([part('db'), part('engine', { failStart: true }), part('http')], silentLogger());
    await expect(lifecycle.start()).rejects.toThrow('engine cannot start');
    expect(events).toEqual(['start db', 'start engine', 'stop engine', 'stop db']);
  });

  it('a part that fails to stop is logged and the others still stop', async () => {
    const { events, part } = recorder();
    const capture = captureLogger();
    const lifecycle = new Lifecycle([part('db'), part('leds', { failStop: true }), part('http')], capture.logger);
    await lifecycle.start();
    await lifecycle.stop();
    expect(events.slice(3)).toEqual(['stop http', 'stop leds', 'stop db']);
    expect(capture.lines.find((line) => line.msg === 'part failed to stop; stopping the rest')).toMatchObject({ part: 'leds' });
  });

  it('parts without start or stop are fine', async () => {
    const lifecycle = new Lifecycle([{ name: 'nothing' }], silentLogger());
    await lifecycle.start();
    await lifecycle.stop();
  });
});

describe('FaultBoard', () => {
  it('tells its listeners only about real changes', () => {
    const faults = new FaultBoard(silentLogger());
    let changes = 0;
    faults.onChange(() => (changes += 1));
    faults.set('disk', null);
    expect(changes).toBe(0);
    faults.set('disk', 'disk nearly full');
    faults.set('disk', 'disk nearly full');
    expect(changes).toBe(1);
    faults.set('disk', 'disk nearly full', 'degraded');
    expect(changes).toBe(2);
    expect(faults.has('degraded')).toBe(true);
    expect(faults.has('fatal')).toBe(false);
    faults.set('disk', null);
    expect(changes).toBe(3);
    expect(faults.messages()).toEqual([]);
  });

  it('a throwing listener does not stop the others', () => {
    const faults = new FaultBoard(silentLogger());
    const seen: string[] = [];
    faults.onChange(() => {
      throw new Error('broken listener');
    });
    faults.onChange(() => seen.push(faults.messages().join()));
    faults.set('audio', 'microphone restarting');
    expect(seen).toEqual(['microphone restarting']);
  });
});
