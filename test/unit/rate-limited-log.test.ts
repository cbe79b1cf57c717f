import { captureLogger } from '../helpers/log-capture.js';
import { describe, expect, it } from 'vitest';
import { RateLimitedLog } from '../../src/util/rate-limited-log.js';

const flushed = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('RateLimitedLog', () => {
  it('an unplugged mic failing every 5 ms for a minute writes a handful of lines, not 12 000', async () => {
    const { logger, lines } = captureLogger();
    let now = 0;
    const log = new RateLimitedLog({ logger, intervalMs: 10_000, nowMs: () => now });
    for (let i = 0; i < 12_000; i += 1) {
      log.error('capture:ENODEV', { device: 'hw:1' }, 'arecord: No such device');
      now += 5;
    }
    log.flush();
    await flushed();
    // first at t=0, then one per 10 s (t=10, 20, 30, 40, 50 s), then the flush summary
    expect(lines).toHaveLength(7);
    expect(lines[0]).toMatchObject({ msg: 'arecord: No such device', device: 'hw:1', key: 'capture:ENODEV' });
    expect(lines[0]?.suppressed).toBeUndefined();
    expect(lines[1]).toMatchObject({ suppressed: 1999 });
    const total = lines.slice(0, 6).length + lines.reduce((sum, l) => sum + Number(l.suppressed ?? 0), 0);
    expect(total).toBe(12_000);
    expect(lines[6]?.msg).toMatch(/repeated \d+ more times/);
  });

  it('limits each key separately', async () => {
    const { logger, lines } = captureLogger();
    const log = new RateLimitedLog({ logger, intervalMs: 1000, nowMs: () => 0 });
    expect(log.warn('a', {}, 'first a')).toBe(true);
    expect(log.warn('b', {}, 'first b')).toBe(true);
    expect(log.warn('a', {}, 'second a')).toBe(false);
    expect(log.suppressedCount('a')).toBe(1);
    await flushed();
    expect(lines.map((l) => l.msg)).toEqual(['first a', 'first b']);
  });

  it('flush() writes nothing when nothing was suppressed', async () => {
    const { logger, lines } = captureLogger();
    const log = new RateLimitedLog({ logger, intervalMs: 1000, nowMs: () => 0 });
    log.error('x', {}, 'once');
    log.flush();
    await flushed();
    expect(lines).toHaveLength(1);
  });

  it('forgets the least recently logged keys beyond maxKeys (bounded memory)', async () => {
    const { logger, lines } = captureLogger();
    const log = new RateLimitedLog({ logger, intervalMs: 1000, nowMs: () => 0, maxKeys: 2 });
    log.error('k1', {}, 'k1');
    log.error('k2', {}, 'k2');
    log.error('k3', {}, 'k3');
    // k1 was evicted, so it logs again at once
    expect(log.error('k1', {}, 'k1 again')).toBe(true);
    expect(log.error('k3', {}, 'k3 again')).toBe(false);
    await flushed();
    expect(lines).toHaveLength(4);
  });
});
