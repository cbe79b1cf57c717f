import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readWavFile } from '../../src/audio/wav.js';
import { FakeAudioSource } from '../../src/hardware/fake-audio.js';
import type { AudioSourceEvent, PcmFormat } from '../../src/hardware/types.js';
import { describeAudioSourceContract, waitFor } from '../contract/audio-source.contract.js';
import { makeSpeechWav, makeTonePcm } from '../helpers/fake-alsa.js';

const execFileAsync = promisify(execFile);
const STEREO_48K: PcmFormat = { sampleRateHz: 48_000, channels: 2 };

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describeAudioSourceContract('FakeAudioSource (paced)', () =>
  Promise.resolve({
    source: new FakeAudioSource({ format: STEREO_48K, chunkMs: 20 }),
    cleanup: () => Promise.resolve(),
  }),
);

describe('FakeAudioSource', () => {
  it('push() hands whole frames to listeners at once, and drops them when stopped', async () => {
    const source = new FakeAudioSource({ format: STEREO_48K });
    const got: Buffer[] = [];
    source.onFrames((pcm) => got.push(Buffer.from(pcm)));
    const pcm = makeTonePcm(STEREO_48K, { frequencyHz: 440, amplitude: 0.5, durationMs: 10 });
    expect(source.push(pcm)).toBe(false);
    await source.start();
    expect(source.status().state).toBe('running');
    expect(source.push(pcm)).toBe(true);
    expect(got).toHaveLength(1);
    expect(got[0]?.equals(pcm)).toBe(true);
    expect(() => source.push(Buffer.alloc(3))).toThrow(/whole number of 4-byte frames/);
    await source.stop();
    expect(source.push(pcm)).toBe(false);
    expect(got).toHaveLength(1);
  });

  it('paced mode holds real time: 1.5 s of wall time gives 1.5 s of audio, without drift', async () => {
    const source = new FakeAudioSource({ format: STEREO_48K, chunkMs: 20 });
    let frames = 0;
    source.onFrames((pcm) => {
      frames += pcm.length / 4;
    });
    const startedAt = performance.now();
    await source.start();
    await sleepMs(1500);
    const elapsedMs = performance.now() - startedAt;
    await source.stop();
    const audioMs = (frames / 48_000) * 1000;
    // At most one chunk behind the clock (it emits whole chunks), never ahead of it.
    expect(audioMs).toBeLessThanOrEqual(elapsedMs + 1);
    expect(audioMs).toBeGreaterThanOrEqual(elapsedMs - 45);
  });

  it('plays the clip in order and loops it; silence after a clip that does not loop', async () => {
    const format: PcmFormat = { sampleRateHz: 8_000, channels: 1 };
    // 50 ms clip: samples 1..400.
    const clip = Int16Array.from({ length: 400 }, (_, index) => index + 1);
    for (const loop of [true, false]) {
      const source = new FakeAudioSource({ format, chunkMs: 10, clip, loop });
      const samples: number[] = [];
      source.onFrames((pcm) => {
        for (let offset = 0; offset < pcm.length; offset += 2) samples.push(pcm.readInt16LE(offset));
      });
      await source.start();
      await waitFor('120 ms of audio', () => samples.length >= 960);
      await source.stop();
      expect(samples.slice(0, 400)).toEqual(Array.from(clip));
      if (loop) {
        expect(samples.slice(400, 800)).toEqual(Array.from(clip));
      } else {
        expect(samples.slice(400, 800).every((value) => value === 0)).toBe(true);
      }
    }
  });

  it('unplug: frames stop, state restarting with "device unplugged", restarts counted; replug resumes', async () => {
    const source = new FakeAudioSource({ format: STEREO_48K, chunkMs: 10, restart: { initialMs: 20, maxMs: 40 } });
    let frames = 0;
    source.onFrames(() => {
      frames += 1;
    });
    const events: AudioSourceEvent[] = [];
    source.onEvent((event) => events.push(event));
    await source.start();
    await waitFor('frames', () => frames > 0);
    source.unplug();
    expect(source.status()).toMatchObject({ state: 'restarting', lastError: 'device unplugged' });
    expect(source.push(Buffer.alloc(4))).toBe(false);
    const framesAtUnplug = frames;
    await waitFor('three failed retries', () => source.status().restarts >= 3);
    expect(frames).toBe(framesAtUnplug);
    expect(source.status().state).toBe('restarting');
    source.replug();
    await waitFor('frames after replug', () => frames > framesAtUnplug);
    expect(source.status().state).toBe('running');
    expect(events.filter((event) => event.kind === 'state').map((event) => (event.kind === 'state' ? event.state : ''))).toEqual([
      'starting',
      'running',
      'restarting',
      'running',
    ]);
    await source.stop();
  });

  it('stall: frames stop while the state still says running; unstall resumes', async () => {
    const source = new FakeAudioSource({ format: STEREO_48K, chunkMs: 10 });
    let frames = 0;
    source.onFrames(() => {
      frames += 1;
    });
    await source.start();
    await waitFor('frames', () => frames > 0);
    source.stall();
    const framesAtStall = frames;
    await sleepMs(100);
    expect(frames).toBe(framesAtStall);
    expect(source.status().state).toBe('running');
    source.unstall();
    await waitFor('frames after unstall', () => frames > framesAtStall);
    await source.stop();
  });

  it('a blocked event loop drops audio and counts an overrun, as a device buffer would', async () => {
    const source = new FakeAudioSource({ format: STEREO_48K, chunkMs: 10, maxCatchUpMs: 100 });
    let frames = 0;
    source.onFrames((pcm) => {
      frames += pcm.length / 4;
    });
    await source.start();
    await waitFor('frames', () => frames > 0);
    const blockUntil = performance.now() + 300;
    while (performance.now() < blockUntil) {
      // Busy-wait: a stuck event loop.
    }
    await sleepMs(50);
    await source.stop();
    expect(source.status().overruns).toBe(1);
  });

  it('plays a WAV made by espeak-ng and sox: same format, same samples', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scout-fake-audio-'));
    try {
      const path = await makeSpeechWav('Scout is listening.', { rateHz: 48_000, channels: 2, dir });
      const wav = await readWavFile(path);
      expect(wav.format).toEqual(STEREO_48K);
      const { stdout } = await execFileAsync('soxi', ['-s', path]);
      expect(wav.samples.length).toBe(Number(stdout.trim()) * 2);
      const source = new FakeAudioSource({ format: wav.format, clip: wav.samples, chunkMs: 20, loop: false });
      expect(source.format).toEqual(STEREO_48K);
      const got: number[] = [];
      source.onFrames((pcm) => {
        for (let offset = 0; offset < pcm.length && got.length < 4800; offset += 2) got.push(pcm.readInt16LE(offset));
      });
      await source.start();
      await waitFor('50 ms of audio', () => got.length >= 4800);
      await source.stop();
      expect(got).toEqual(Array.from(wav.samples.subarray(0, 4800)));
      // espeak-ng's leading silence is shorter than this window, so the comparison covers speech.
      expect(got.some((value) => Math.abs(value) > 100)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
