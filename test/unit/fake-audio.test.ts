import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FakeAudioSource } from '../../src/hardware/fake-audio.js';
import type { AudioSourceEvent, PcmFormat } from '../../src/hardware/types.js';
import { parseWav, readWav } from '../../src/hardware/wav-read.js';
import { describeAudioSourceContract, waitFor } from '../contract/audio-source.contract.js';
import { makeSpeechWav, makeTonePcm } from '../helpers/fake-alsa.js';

const execFileAsync = promisify(execFile);
const STEREO_48K: PcmFormat = { sampleRateHz: 48_000, channels: 2 };

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A minimal PCM WAV header in front of `pcm`. */
function wavBytes(format: PcmFormat, pcm: Buffer, bitsPerSample = 16, formatTag = 1): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVE', 8, 'latin1');
  header.write('fmt ', 12, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(formatTag, 20);
  header.writeUInt16LE(format.channels, 22);
  header.writeUInt32LE(format.sampleRateHz, 24);
  header.writeUInt32LE((format.sampleRateHz * format.channels * bitsPerSample) / 8, 28);
  header.writeUInt16LE((format.channels * bitsPerSample) / 8, 32);
  header.writeUInt16LE(bitsPerSample, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
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
      const wav = await readWav(path);
      expect(wav.format).toEqual(STEREO_48K);
      const { stdout } = await execFileAsync('soxi', ['-s', path]);
      expect(wav.samples.length).toBe(Number(stdout.trim()) * 2);
      const source = await FakeAudioSource.fromWavFile(path, { chunkMs: 20, loop: false });
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

describe('readWav', () => {
  it('reads PCM S16, walking past extra chunks, and takes data to the end when the size is unset', () => {
    const pcm = Buffer.from([1, 0, 2, 0, 3, 0, 4, 0]);
    const plain = parseWav(wavBytes({ sampleRateHz: 16_000, channels: 1 }, pcm));
    expect(plain.format).toEqual({ sampleRateHz: 16_000, channels: 1 });
    expect(Array.from(plain.samples)).toEqual([1, 2, 3, 4]);
    // A LIST chunk of odd length (padded) before data, and a data size of 0 as a crashed writer leaves.
    const withList = wavBytes({ sampleRateHz: 16_000, channels: 2 }, pcm);
    const list = Buffer.concat([Buffer.from('LIST', 'latin1'), Buffer.from([3, 0, 0, 0, 65, 66, 67, 0])]);
    const bytes = Buffer.concat([withList.subarray(0, 36), list, withList.subarray(36)]);
    bytes.writeUInt32LE(0, 36 + list.length + 4);
    const parsed = parseWav(bytes);
    expect(parsed.format.channels).toBe(2);
    expect(Array.from(parsed.samples)).toEqual([1, 2, 3, 4]);
  });

  it('rejects what it cannot play with a clear message naming the file', async () => {
    expect(() => parseWav(Buffer.from('not a wav at all'))).toThrow(/not a RIFF\/WAVE file/);
    expect(() => parseWav(wavBytes(STEREO_48K, Buffer.alloc(8), 24))).toThrow(/only PCM S16/);
    expect(() => parseWav(wavBytes(STEREO_48K, Buffer.alloc(8), 32, 3))).toThrow(/format tag 0x3/);
    const dir = await mkdtemp(join(tmpdir(), 'scout-wav-'));
    try {
      const path = join(dir, 'float.wav');
      await writeFile(path, wavBytes(STEREO_48K, Buffer.alloc(8), 32, 3));
      await expect(readWav(path)).rejects.toThrow(`${path}: unsupported WAV encoding`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
