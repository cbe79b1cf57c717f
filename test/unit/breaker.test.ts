import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { BreakerOpenError, BreakerTimeoutError, EngineBreaker, isEngineFailure } from '../../src/transcribe/breaker.js';
import type { BreakerState } from '../../src/domain/transcript.js';
import { EngineAbortedError, EngineRequestError, EngineUnavailableError } from '../../src/transcribe/engine.js';
import { sleep } from '../../src/util/sleep.js';

let breaker: EngineBreaker | null = null;

async function make(options: { failureThreshold?: number; resetTimeoutMs?: number; timeoutMs?: number } = {}): Promise<EngineBreaker> {
  breaker = new EngineBreaker(
    { failureThreshold: options.failureThreshold ?? 3, resetTimeoutMs: options.resetTimeoutMs ?? 150, timeoutMs: options.timeoutMs ?? 1000 },
    silentLogger(),
  );
  await breaker.start();
  return breaker;
}

afterEach(async () => {
  await breaker?.stop();
  breaker = null;
});

const unavailable = (): Promise<never> => Promise.reject(new EngineUnavailableError('engine down'));

describe('isEngineFailure', () => {
  it('counts timeouts, an unavailable engine and 5xx; not a 4xx about the audio', () => {
    expect(isEngineFailure(new EngineAbortedError('t', 'timeout'))).toBe(true);
    expect(isEngineFailure(new EngineUnavailableError('x'))).toBe(true);
    expect(isEngineFailure(new EngineRequestError('x', 500))).toBe(true);
    expect(isEngineFailure(new EngineRequestError('x', null))).toBe(true);
    // A 200 with an unreadable body: the engine is broken, not the audio.
    expect(isEngineFailure(new EngineRequestError('unreadable whisper-server answer', 200))).toBe(true);
    expect(isEngineFailure(new EngineRequestError('bad wav', 400))).toBe(false);
  });
});

describe('EngineBreaker', () => {
  it('opens after N consecutive failures, fails fast while open, probes after resetTimeout and closes on success', async () => {
    const b = await make({ failureThreshold: 3, resetTimeoutMs: 150 });
    const states: BreakerState[] = [];
    b.onStateChange((state) => states.push(state));
    for (let i = 0; i < 2; i++) await expect(b.fire(unavailable)).rejects.toBeInstanceOf(EngineUnavailableError);
    expect(b.state()).toBe('closed');
    await expect(b.fire(unavailable)).rejects.toBeInstanceOf(EngineUnavailableError);
    expect(b.state()).toBe('open');
    expect(b.allowsCalls()).toBe(false);
    let ran = false;
    await expect(
      b.fire(() => {
        ran = true;
        return Promise.resolve(1);
      }),
    ).rejects.toBeInstanceOf(BreakerOpenError);
    expect(ran).toBe(false);
    await sleep(250);
    expect(b.state()).toBe('halfOpen');
    expect(await b.fire(() => Promise.resolve('ok'))).toBe('ok');
    expect(b.state()).toBe('closed');
    expect(states).toEqual(['open', 'halfOpen', 'closed']);
  });

  it('a success between failures resets the count (consecutive, not a rate)', async () => {
    const b = await make({ failureThreshold: 3 });
    for (let round = 0; round < 4; round++) {
      await expect(b.fire(unavailable)).rejects.toThrow();
      await expect(b.fire(unavailable)).rejects.toThrow();
      await b.fire(() => Promise.resolve('ok'));
    }
    expect(b.state()).toBe('closed');
  });

  it('a failed half-open probe opens it again', async () => {
    const b = await make({ failureThreshold: 1, resetTimeoutMs: 100 });
    await expect(b.fire(unavailable)).rejects.toThrow();
    await sleep(180);
    expect(b.state()).toBe('halfOpen');
    await expect(b.fire(unavailable)).rejects.toThrow();
    expect(b.state()).toBe('open');
  });

  it('bad-audio 4xx errors pass through without counting', async () => {
    const b = await make({ failureThreshold: 2 });
    for (let i = 0; i < 5; i++) await expect(b.fire(() => Promise.reject(new EngineRequestError('bad', 400)))).rejects.toBeInstanceOf(EngineRequestError);
    expect(b.state()).toBe('closed');
    expect(b.failures).toBe(0);
  });

  it('a timeout aborts the work through its signal, waits for it to settle, and counts as a failure', async () => {
    const b = await make({ failureThreshold: 1, timeoutMs: 100 });
    let abortedAfterMs = -1;
    let settledAtMs = -1;
    const startedMs = performance.now();
    const error = await b
      .fire(
        (signal) =>
          new Promise((_, reject) => {
            signal.addEventListener('abort', () => {
              abortedAfterMs = performance.now() - startedMs;
              // Tearing down takes a while (the engine kills and respawns its child).
              setTimeout(() => {
                settledAtMs = performance.now();
                reject(new EngineAbortedError('aborted', 'aborted'));
              }, 80);
            });
          }),
      )
      .catch((caught: unknown) => caught);
    const rejectedAtMs = performance.now();
    expect(error).toBeInstanceOf(BreakerTimeoutError);
    expect(abortedAfterMs).toBeGreaterThanOrEqual(90);
    expect(abortedAfterMs).toBeLessThan(600);
    // fire() rejected only once the aborted work had settled.
    expect(settledAtMs).toBeGreaterThan(0);
    expect(rejectedAtMs).toBeGreaterThanOrEqual(settledAtMs);
    expect(b.state()).toBe('open');
  });

  it('stop is idempotent and a stopped breaker refuses calls', async () => {
    const b = await make();
    await b.stop();
    await b.stop();
    await expect(b.fire(() => Promise.resolve(1))).rejects.toBeInstanceOf(BreakerOpenError);
  });
});
