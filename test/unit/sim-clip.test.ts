import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav, readWavFile } from '../../src/audio/wav.js';
import { createHardware } from '../../src/app/hardware.js';
import { loadConfig } from '../../src/config.js';
import { prepareSimClip, toneClip } from '../../src/sim/clip.js';
import { captureLogger } from '../helpers/log-capture.js';
import { speechLike } from '../helpers/signal.js';

/**
 * The simulator's clip is converted once into the data dir; a data dir that refuses writes (full,
 * read-only) must not stop the service from starting (found by `npm run faults`:
 * disk-full-at-start and readonly-data-dir exited 1 on sox's "can't open output file").
 */
describe('the simulator mic clip', () => {
  let work: string;
  let source: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'scout-sim-clip-'));
    source = join(work, 'user.wav');
    await writeFile(source, encodeWav(speechLike([400, 200, 400], 3), 16000));
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is converted into the data dir when it can be written', async () => {
    const { logger } = captureLogger();
    const path = await prepareSimClip({ sourceWav: source, format: { sampleRateHz: 48000, channels: 2 }, cacheDir: join(work, 'data', 'sim'), logger });
    expect(dirname(path)).toBe(join(work, 'data', 'sim'));
    expect((await readWavFile(path)).format).toMatchObject({ sampleRateHz: 48000, channels: 2 });
  });

  it('a cached clip left empty by a failed card (fsck kept the name, not the data) is made again, not played', async () => {
    const cacheDir = join(work, 'cut', 'sim');
    await mkdir(cacheDir, { recursive: true });
    const cut = join(cacheDir, 'sim-speech-16000-1.wav');
    await writeFile(cut, '');
    const { logger } = captureLogger();
    const path = await prepareSimClip({ sourceWav: null, format: { sampleRateHz: 16000, channels: 1 }, cacheDir, logger });
    expect(path).toBe(cut);
    const clip = await readWavFile(path);
    expect(clip.format).toMatchObject({ sampleRateHz: 16000, channels: 1 });
    expect(clip.samples.length).toBeGreaterThan(16000);
    // No partial file left beside it.
    expect((await readdir(cacheDir)).filter((name) => name.includes('partial'))).toEqual([]);
  });

  it('falls back to a temp dir, and says so, when the data dir refuses the write', async () => {
    // A file where the folder should be: mkdir fails (ENOTDIR) as it would on a card that takes no writes (even as root).
    const blocked = join(work, 'blocked');
    await writeFile(blocked, 'not a folder');
    const { logger, lines } = captureLogger();
    const path = await prepareSimClip({ sourceWav: source, format: { sampleRateHz: 16000, channels: 1 }, cacheDir: join(blocked, 'sim'), logger });
    expect(path.startsWith(join(tmpdir(), 'scout-sim-'))).toBe(true);
    expect((await readWavFile(path)).format).toMatchObject({ sampleRateHz: 16000, channels: 1 });
    expect(lines.some((line) => /cannot write the clip into the data dir/.test(String(line.msg)))).toBe(true);
    await rm(dirname(path), { recursive: true, force: true });
  });
});

describe('the simulator mic when no clip can be made', () => {
  it('comes up playing a generated tone, and says why, when the WAV it was given is no WAV and sox cannot convert it', async () => {
    const work = await mkdtemp(join(tmpdir(), 'scout-sim-tone-'));
    try {
      const junk = join(work, 'not-audio.wav');
      await writeFile(junk, 'this is a text file, not a recording');
      await writeFile(join(work, 'scout.json'), JSON.stringify({ audio: { backend: 'fake', sampleRateHz: 16000, channels: 1, simAudioPath: junk }, gpio: { backend: 'fake' }, dataDir: join(work, 'data') }));
      const { config } = loadConfig({ path: join(work, 'scout.json'), env: {} });
      const { logger, lines } = captureLogger();
      const hardware = await createHardware(config, logger, logger);
      expect(lines.some((line) => line.level === 50 && /playing a generated tone/.test(String(line.msg)))).toBe(true);
      const chunks: Buffer[] = [];
      hardware.source.onFrames((pcm) => chunks.push(Buffer.from(pcm)));
      await hardware.source.start();
      await new Promise((resolve) => setTimeout(resolve, 400));
      await hardware.source.stop();
      const pcm = Buffer.concat(chunks);
      const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
      expect(samples.length).toBeGreaterThan(1000);
      // The tone's syllables, not silence.
      expect(Math.max(...samples.map((s) => Math.abs(s)))).toBeGreaterThan(4000);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('makes a tone in the capture format: voiced, then a second of silence', () => {
    const tone = toneClip({ sampleRateHz: 8000, channels: 2 });
    expect(tone.length).toBe((6000 + 8000) * 2);
    expect(Math.max(...tone.subarray(0, 12000))).toBeGreaterThan(7000);
    expect(tone.subarray(12000).every((s) => s === 0)).toBe(true);
    // Both channels carry the same sample.
    expect(tone[2 * 1001]).toBe(tone[2 * 1001 + 1]);
  });
});
