import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav, readWavFile } from '../../src/audio/wav.js';
import { prepareSimClip } from '../../src/sim/clip.js';
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
