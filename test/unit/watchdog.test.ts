import { captureLogger } from '../helpers/log-capture.js';
import { bindNotifySocket, type NotifySocket } from '../helpers/notify-socket.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AudioSource, AudioSourceStatus } from '../../src/hardware/types.js';
import { silentLogger } from '../../src/log.js';
import { SdNotify } from '../../src/ops/sd-notify.js';
import { Watchdog, eventLoopProgress, predicateProgress } from '../../src/ops/watchdog.js';
import { buildWatchdog } from '../../src/app/watchdog.js';
import type { ResourceMonitor } from '../../src/ops/resources.js';

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Watchdog feeding a real notify socket', () => {
  let socketPath: string;
  let socket: NotifySocket;
  let received: string[];
  let watchdog: Watchdog | null = null;

  beforeEach(async () => {
    socket = await bindNotifySocket('scout-watchdog-');
    ({ path: socketPath, received } = socket);
  });

  afterEach(async () => {
    await watchdog?.stop();
    watchdog = null;
    await socket.close();
  });

  it('pings at half of WATCHDOG_USEC while every check passes', async () => {
    const { logger } = captureLogger();
    const notifier = new SdNotify({ env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '100000' }, logger });
    watchdog = new Watchdog({ notifier, checks: [predicateProgress('engine', () => ({ ok: true }))], logger });
    await watchdog.start();
    await wait(330);
    await watchdog.stop();
    const pings = received.filter((m) => m === 'WATCHDOG=1').length;
    // 50 ms period over ~330 ms: one immediate + ~6
    expect(pings).toBeGreaterThanOrEqual(3);
    expect(pings).toBeLessThanOrEqual(9);
  });

  it('does nothing when systemd asked for no watchdog', async () => {
    const { logger } = captureLogger();
    const notifier = new SdNotify({ env: { NOTIFY_SOCKET: socketPath }, logger });
    watchdog = new Watchdog({ notifier, checks: [], logger });
    await watchdog.start();
    await wait(100);
    expect(received).toEqual([]);
  });

  it('stops pinging when a check fails, says why once (log and STATUS=), and resumes when it passes', async () => {
    const { logger, lines } = captureLogger();
    const notifier = new SdNotify({ env: { NOTIFY_SOCKET: socketPath }, logger });
    let engineOk = true;
    watchdog = new Watchdog({
      notifier,
      checks: [predicateProgress('engine', () => (engineOk ? { ok: true } : { ok: false, reason: 'request running 95 s' }))],
      logger,
      intervalMs: 20,
    });
    await watchdog.start();
    await watchdog.status('idle');
    await wait(100);
    expect(received.filter((m) => m === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(3);

    engineOk = false;
    await wait(40);
    received.length = 0;
    await wait(150);
    expect(received.filter((m) => m === 'WATCHDOG=1')).toEqual([]);
    expect(watchdog.stalledReason).toBe('engine: request running 95 s');
    const stallLogs = lines.filter((l) => l.msg === 'pipeline not progressing; withholding watchdog pings');
    expect(stallLogs).toHaveLength(1);
    expect(stallLogs[0]?.reason).toBe('engine: request running 95 s');

    // a status change while stalled keeps the reason in front
    await watchdog.status('transcribing, 2 queued');
    await wait(20);
    expect(received).toContain('STATUS=stalled (engine: request running 95 s); transcribing, 2 queued');

    engineOk = true;
    await wait(100);
    expect(received.filter((m) => m === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(2);
    expect(received).toContain('STATUS=transcribing, 2 queued');
    expect(watchdog.stalledReason).toBeNull();
  });

  it('treats a check that throws as a failure', async () => {
    const { logger } = captureLogger();
    const notifier = new SdNotify({ env: { NOTIFY_SOCKET: socketPath }, logger });
    watchdog = new Watchdog({
      notifier,
      checks: [predicateProgress('broken', () => { throw new Error('boom'); })],
      logger,
      intervalMs: 20,
    });
    await watchdog.start();
    await wait(80);
    expect(received.filter((m) => m === 'WATCHDOG=1')).toEqual([]);
    expect(received).toContain('STATUS=stalled (broken: check threw: boom)');
  });
});

describe('progress checks', () => {
  it('event loop: fails only above the lag threshold', () => {
    let lag: number | null = null;
    const check = eventLoopProgress(() => lag, 500).check;
    expect(check().ok).toBe(true);
    lag = 120;
    expect(check().ok).toBe(true);
    lag = 2400;
    expect(check()).toEqual({ ok: false, reason: 'lag 2400 ms > 500 ms' });
  });

  it('audio: only a source that says it runs but delivers nothing withholds the ping', () => {
    let status: AudioSourceStatus = { state: 'restarting', restarts: 1, overruns: 0, lastFrameAtMs: null, lastError: 'unplugged' };
    const source = { status: () => status } as unknown as AudioSource;
    const resources = { snapshot: () => ({ eventLoopLagP99Ms: 5 }) } as unknown as ResourceMonitor;
    const notifier = { ready: () => Promise.resolve(), status: () => Promise.resolve(), watchdog: () => Promise.resolve(), stopping: () => Promise.resolve(), watchdogIntervalMs: () => null };
    const watchdog = buildWatchdog({ notifier, source, resources, transcription: null, maxEventLoopLagMs: 500, audioFreshMs: 3000, requestTimeoutMs: 1000, logger: silentLogger() });
    // Restarting: the source's own supervisor is on it; a service restart would not bring the mic back.
    expect(watchdog.evaluate()).toBeNull();
    status = { ...status, state: 'running', lastFrameAtMs: Date.now() - 100 };
    expect(watchdog.evaluate()).toBeNull();
    status = { ...status, lastFrameAtMs: Date.now() - 5000 };
    expect(watchdog.evaluate()).toBe('audio: no audio frames for 5 s');
  });
});
