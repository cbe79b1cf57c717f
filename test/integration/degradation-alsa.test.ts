import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PULSE_MIC_AUDIO_CONFIG, startPulseFakeMic, type PulseFakeMic } from '../helpers/fake-alsa.js';
import { removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';

interface State {
  audio: { state: string; restarts: number };
  transcription: { degradation: { level: number; name: string } } | null;
}

/** One arecord spawn as the logging wrapper saw it: its pid (kept by exec) and its arguments. */
interface Spawn {
  readonly pid: number;
  readonly args: string;
}

/** The real arecord the wrapper hands over to, from this process's PATH. */
function realArecord(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'arecord');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  throw new Error('arecord is not on PATH (alsa-utils)');
}

/**
 * The real service capturing through real arecord (PulseAudio's ALSA plugin, paced in real time)
 * on a scripted host tree: when the temperature takes the degradation level to 2, the level
 * table's ALSA sizes (100 ms period, 1000 ms buffer by default) are what the NEXT arecord is
 * started with. The running arecord is not restarted for them. Seen in the argv a logging
 * wrapper, put first on the service's PATH, records for every spawn.
 */
describe('degradation: ALSA period and buffer at the next capture restart', () => {
  let mic: PulseFakeMic;
  let scout: ScoutProcess;
  let workDir: string;
  let tempPath: string;
  let spawnLog: string;

  const spawns = (): Spawn[] =>
    (existsSync(spawnLog) ? readFileSync(spawnLog, 'utf8') : '')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const space = line.indexOf(' ');
        return { pid: Number.parseInt(line.slice(0, space), 10), args: line.slice(space + 1) };
      });
  const state = async (): Promise<State> => (await scout.api<State>('/api/state')).body;

  beforeAll(async () => {
    mic = await startPulseFakeMic({ sampleRateHz: 48_000, channels: 2 });
    workDir = await mkdtemp(join(tmpdir(), 'scout-degrade-alsa-'));
    const hostRoot = join(workDir, 'host');
    const zone = join(hostRoot, 'sys/class/thermal/thermal_zone0');
    await mkdir(zone, { recursive: true });
    await writeFile(join(zone, 'type'), 'cpu-thermal\n');
    tempPath = join(zone, 'temp');
    await writeFile(tempPath, '45000\n');
    const bin = join(workDir, 'bin');
    await mkdir(bin);
    spawnLog = join(workDir, 'arecord-spawns.log');
    // `exec` keeps the pid, so the logged pid is the arecord the service supervises.
    await writeFile(join(bin, 'arecord'), `#!/bin/sh\necho "$$ $*" >> '${spawnLog}'\nexec '${realArecord()}' "$@"\n`);
    await chmod(join(bin, 'arecord'), 0o755);
    scout = await startScout({
      env: {
        PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`,
        SCOUT_HOST_ROOT: hostRoot,
        XDG_RUNTIME_DIR: mic.env.XDG_RUNTIME_DIR,
        PULSE_SERVER: mic.env.PULSE_SERVER,
        HOME: mic.env.HOME,
      },
      config: {
        ops: { resourceSampleMs: 250 },
        // Faster than the defaults so the level is reached in a second; the level table is the default one.
        degradation: { spikeSamples: 1, dwellMs: 1000 },
        // No engine is needed: the policy runs in the pipeline whether or not whisper-server starts.
        transcription: { serverPath: '/nonexistent/whisper-server' },
        audio: PULSE_MIC_AUDIO_CONFIG,
      },
    });
  }, 60_000);

  afterAll(async () => {
    await scout?.stop();
    await mic?.stop();
    if (scout) await removeDataDir(scout.dataDir);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('a hot Pi keeps the running arecord; the next one is spawned with the level 2 sizes', async () => {
    await waitFor(async () => (await state()).audio.state === 'running', 15_000);
    const first = spawns();
    expect(first).toHaveLength(1);
    expect(first[0]?.args).toContain('--period-time=20000 --buffer-time=400000');

    await writeFile(tempPath, '79000\n');
    await waitFor(async () => (await state()).transcription?.degradation.level === 2, 10_000);
    // Capture is not restarted for the change: the same arecord goes on.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const during = await state();
    expect(spawns()).toHaveLength(1);
    expect(during.audio).toMatchObject({ state: 'running', restarts: 0 });

    // The next restart (here: arecord killed, as a USB hiccup would) takes the level's sizes.
    process.kill(first[0]?.pid ?? 0, 'SIGKILL');
    const next = await waitFor(async () => {
      const lines = spawns();
      return lines.length >= 2 && (await state()).audio.state === 'running' ? lines : null;
    }, 15_000);
    expect(next[1]?.args).toContain('--period-time=100000 --buffer-time=1000000');
    expect(next[1]?.pid).not.toBe(first[0]?.pid);
  }, 60_000);
});
