/**
 * One contract for every Button backend: the fake, the kernel backend on a FIFO, onoff with a
 * stand-in pin, and (SCOUT_HW_TEST=1) a real button with a person pressing it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Button, ButtonEdge } from '../../src/hardware/types.js';

export interface ButtonHarness {
  readonly button: Button;
  /** Makes the hardware close the contact at `atMs` (the timestamp the hardware will report, where it can). */
  press(atMs: number): Promise<void>;
  release(atMs: number): Promise<void>;
  /** True when the backend reports exactly the `atMs` given (fake, FIFO); false for a person's press, timed by the kernel's clock. */
  readonly exactTimestamps: boolean;
  /** Releases files, FIFOs, timers. */
  dispose(): Promise<void>;
}

export interface ButtonContractOptions {
  /** How long to wait for an edge; a person needs seconds. */
  readonly edgeTimeoutMs?: number;
  /** How long to watch for edges that must not come. */
  readonly quietMs?: number;
}

interface Heard {
  readonly edge: ButtonEdge;
  readonly atMs: number;
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function buttonContract(
  name: string,
  makeHarness: () => Promise<ButtonHarness>,
  options: ButtonContractOptions = {},
): void {
  const edgeTimeoutMs = options.edgeTimeoutMs ?? 2_000;
  const quietMs = options.quietMs ?? 150;

  describe(`Button contract: ${name}`, () => {
    let harness: ButtonHarness | null = null;

    afterEach(async () => {
      await harness?.button.stop();
      await harness?.dispose();
      harness = null;
    });

    async function started(): Promise<{ h: ButtonHarness; heard: Heard[] }> {
      const h = await makeHarness();
      harness = h;
      const heard: Heard[] = [];
      h.button.onEdge((edge, atMs) => heard.push({ edge, atMs }));
      await h.button.start();
      return { h, heard };
    }

    it('reports a press and then a release, with the time the hardware saw each edge', async () => {
      const { h, heard } = await started();
      const pressAtMs = 1_700_000_000_123.25;
      const releaseAtMs = pressAtMs + 640.5;
      const before = Date.now();
      await h.press(pressAtMs);
      await until(() => heard.length >= 1, edgeTimeoutMs, 'the press');
      await h.release(releaseAtMs);
      await until(() => heard.length >= 2, edgeTimeoutMs, 'the release');
      expect(heard.map((e) => e.edge)).toEqual(['press', 'release']);
      const [press, release] = heard;
      if (h.exactTimestamps) {
        expect(press?.atMs).toBeCloseTo(pressAtMs, 3);
        expect(release?.atMs).toBeCloseTo(releaseAtMs, 3);
      } else {
        // A person's press: the kernel's CLOCK_REALTIME timestamps fall inside the test's window, in order.
        expect(press?.atMs).toBeGreaterThanOrEqual(before - 1_000);
        expect(release?.atMs).toBeGreaterThan(press?.atMs ?? Infinity);
        expect(release?.atMs).toBeLessThanOrEqual(Date.now() + 1_000);
      }
    });

    it('hears repeated clicks as alternating edges, none lost', async () => {
      const { h, heard } = await started();
      const clicks = h.exactTimestamps ? 5 : 2;
      for (let i = 0; i < clicks; i += 1) {
        await h.press(1_700_000_100_000 + i * 1_000);
        await h.release(1_700_000_100_000 + i * 1_000 + 200);
      }
      await until(() => heard.length >= clicks * 2, edgeTimeoutMs * clicks, `${clicks} clicks`);
      expect(heard.map((e) => e.edge)).toEqual(Array.from({ length: clicks }, () => ['press', 'release']).flat());
      for (let i = 1; i < heard.length; i += 1) {
        expect(heard[i]?.atMs).toBeGreaterThanOrEqual(heard[i - 1]?.atMs ?? Infinity);
      }
    });

    it('calls no listener after stop() has resolved, and a second stop() is harmless', async () => {
      const { h, heard } = await started();
      await h.press(1_700_000_200_000);
      await until(() => heard.length >= 1, edgeTimeoutMs, 'the press');
      await h.button.stop();
      await h.button.stop();
      const heardAtStop = heard.length;
      await h.release(1_700_000_200_500);
      await h.press(1_700_000_201_000);
      await h.release(1_700_000_201_500);
      await new Promise((resolve) => setTimeout(resolve, quietMs));
      expect(heard.length).toBe(heardAtStop);
    });

    it('can be stopped before it was started', async () => {
      const h = await makeHarness();
      harness = h;
      await expect(h.button.stop()).resolves.toBeUndefined();
      await expect(h.button.stop()).resolves.toBeUndefined();
    });
  });
}
