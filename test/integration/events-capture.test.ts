import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { CapturePipeline } from '../../src/audio/capture.js';
import { LevelSlot } from '../../src/audio/level.js';
import { Recorder } from '../../src/audio/recorder.js';
import { SPEECH_RATE_HZ } from '../../src/domain/transcript.js';
import { FakeAudioSource } from '../../src/hardware/fake-audio.js';
import { registerEventRoutes } from '../../src/http/events.js';
import { silentLogger } from '../../src/log.js';
import { EventHub, SubscribedTimer, type DropReason } from '../../src/ops/events.js';
import { sleep } from '../../src/util/sleep.js';
import { SseClient } from '../helpers/sse-client.js';

/**
 * The capture path with live events flowing: a paced fake mic, the DSP and ring, a recording to
 * disk, the 10 Hz level sampler, a reading SSE client and one that never reads. The stuck client
 * is dropped at its bound; the mic sees no overrun and the recording loses no sample.
 */
describe('live events beside capture', () => {
  it('a stalled SSE client neither overruns the mic nor costs the recording a sample', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scout-events-capture-'));
    // A short catch-up window: a blocked event loop of 150 ms already counts as an overrun.
    const source = new FakeAudioSource({ format: { sampleRateHz: 48_000, channels: 2 }, chunkMs: 20, maxCatchUpMs: 150 });
    const level = new LevelSlot();
    // A 2 s ring: a writer more than 2 s behind would show as overwritten samples.
    const capture = new CapturePipeline({ source, ringSeconds: 2, maxChunkFrames: 16_384, level, logger: silentLogger() });
    const recorder = new Recorder({ ring: capture.ring, sampleRateHz: SPEECH_RATE_HZ, recordingsDir: dir, preRollMs: 0, flushIntervalMs: 500, logger: silentLogger() });
    capture.onChunk(() => recorder.onCaptureChunk());

    const hub = new EventHub({ maxQueuedEvents: 256, maxQueuedBytes: 256 * 1024 });
    const sampler = new SubscribedTimer({
      hub,
      periodMs: 100,
      tick: () => {
        const { peakDbfs, rmsDbfs } = level.read();
        hub.publish({ kind: 'level', peakDbfs, rmsDbfs });
      },
    });
    const drops: DropReason[] = [];
    const app = Fastify();
    registerEventRoutes(app, { hub, logger: silentLogger(), onDrop: (reason) => drops.push(reason) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const stuck = connect({ host: '127.0.0.1', port });
    const connected = new Promise<void>((resolve) => stuck.once('connect', () => resolve()));
    let reader: SseClient | null = null;
    try {
      await capture.start();
      await sampler.start();
      reader = await SseClient.connect(port);
      await connected;
      stuck.pause();
      stuck.write('GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      while (hub.subscriberCount < 2) await sleep(5);

      recorder.begin('take');
      await recorder.open();
      // About 2.5 s of recording while events pour out: ~2 MB/s of partials beside the level.
      const text = 'z'.repeat(2000);
      const untilMs = performance.now() + 2500;
      let seq = 0;
      while (performance.now() < untilMs) {
        for (let i = 0; i < 10; i++) hub.publish({ kind: 'partial', recordingId: 'take', seq: seq++, text, windowsDone: seq, windowsPending: 1, complete: false });
        await sleep(10);
      }
      const take = await recorder.end();

      expect(drops).toHaveLength(1);
      expect(source.status().overruns).toBe(0);
      expect(capture.ring.overwrites.samples).toBe(0);
      expect(take.overwrittenSamples + take.droppedSamples).toBe(0);
      expect(take.durationMs).toBeGreaterThan(2300);
      const live = reader;
      await live.until(() => live.events.filter((event) => event.event === 'partial').length === seq, 10_000);
      expect(live.events.filter((event) => event.event === 'level').length).toBeGreaterThanOrEqual(15);
    } finally {
      reader?.close();
      stuck.destroy();
      await sampler.stop();
      await app.close();
      await capture.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
