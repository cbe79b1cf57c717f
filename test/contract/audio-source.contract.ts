/**
 * The AudioSource contract, run against every backend (the fake, and real arecord on the
 * fake-ALSA and PulseAudio devices). A backend passes only if it behaves as the appliance
 * expects from any microphone.
 */
import { describe, it, expect } from 'vitest';
import type { AudioSource, AudioSourceEvent } from '../../src/hardware/types.js';

export interface ContractSubject {
  readonly source: AudioSource;
  readonly cleanup: () => Promise<void>;
}

/** Polls until `check` is true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function describeAudioSourceContract(name: string, make: () => Promise<ContractSubject>): void {
  describe(`AudioSource contract: ${name}`, () => {
    it('is stopped before start, and stop() before start() does nothing', async () => {
      const { source, cleanup } = await make();
      try {
        const events: AudioSourceEvent[] = [];
        source.onEvent((event) => events.push(event));
        expect(source.status().state).toBe('stopped');
        await source.stop();
        await source.stop();
        expect(source.status().state).toBe('stopped');
        expect(events).toEqual([]);
      } finally {
        await cleanup();
      }
    });

    it('delivers whole frames only and reports running with the time of the last frame', async () => {
      const { source, cleanup } = await make();
      try {
        const frameBytes = 2 * source.format.channels;
        const chunkLengths: number[] = [];
        let bytes = 0;
        const states: string[] = [];
        source.onFrames((pcm) => {
          chunkLengths.push(pcm.length);
          bytes += pcm.length;
        });
        source.onEvent((event) => {
          if (event.kind === 'state') states.push(event.state);
        });
        const before = Date.now();
        await source.start();
        // 100 ms of audio.
        const wantBytes = (source.format.sampleRateHz / 10) * frameBytes;
        await waitFor('100 ms of audio', () => bytes >= wantBytes);
        expect(chunkLengths.length).toBeGreaterThan(0);
        for (const length of chunkLengths) {
          expect(length).toBeGreaterThan(0);
          expect(length % frameBytes).toBe(0);
        }
        expect(states[0]).toBe('starting');
        expect(states).toContain('running');
        const lastFrameAtMs = source.status().lastFrameAtMs;
        expect(lastFrameAtMs).not.toBeNull();
        expect(lastFrameAtMs ?? 0).toBeGreaterThanOrEqual(before);
        await source.stop();
        expect(source.status().state).toBe('stopped');
        expect(states.at(-1)).toBe('stopped');
      } finally {
        await cleanup();
      }
    });

    it('never calls a listener after stop() resolves, and stop() is idempotent', async () => {
      const { source, cleanup } = await make();
      try {
        let framesCalls = 0;
        source.onFrames(() => {
          framesCalls += 1;
        });
        await source.start();
        await waitFor('first frames', () => framesCalls > 0);
        await Promise.all([source.stop(), source.stop()]);
        const callsAtStop = framesCalls;
        let eventsAfterStop = 0;
        source.onEvent(() => {
          eventsAfterStop += 1;
        });
        await new Promise((resolve) => setTimeout(resolve, 300));
        await source.stop();
        expect(framesCalls).toBe(callsAtStop);
        expect(eventsAfterStop).toBe(0);
        expect(source.status().state).toBe('stopped');
      } finally {
        await cleanup();
      }
    });

    it('can be started again after stop', async () => {
      const { source, cleanup } = await make();
      try {
        let framesCalls = 0;
        source.onFrames(() => {
          framesCalls += 1;
        });
        await source.start();
        await waitFor('first frames', () => framesCalls > 0);
        await source.stop();
        const callsAtStop = framesCalls;
        await source.start();
        await waitFor('frames after the second start', () => framesCalls > callsAtStop);
        await source.stop();
      } finally {
        await cleanup();
      }
    });
  });
}
