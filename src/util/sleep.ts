import { setTimeout as delay } from 'node:timers/promises';

/** Sleep that ends early (resolving, not rejecting) when the signal aborts, so stop() never waits out a backoff. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    if (signal?.aborted) return;
    throw error;
  }
}
