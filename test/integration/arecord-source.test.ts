/**
 * ArecordSource on real arecord: the ALSA file plugin (byte-exact, unplug/replug) and a
 * userspace PulseAudio (real-time paced, for kill and stall).
 */
import { missingCapability } from '../helpers/capability.js';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArecordSource, parseArecordStderrLine, type ArecordSourceOptions } from '../../src/hardware/alsa.js';
import type { AudioSourceEvent, PcmFormat } from '../../src/hardware/types.js';
import { silentLogger } from '../../src/log.js';
import { describeAudioSourceContract, waitFor } from '../contract/audio-source.contract.js';
import { captureLogger } from '../helpers/log-capture.js';
import { createFakeAlsa, makeNoisePcm, startPulseFakeMic, type PulseFakeMic } from '../helpers/fake-alsa.js';

const execFileAsync = promisify(execFile);
const STEREO_48K: PcmFormat = { sampleRateHz: 48_000, channels: 2 };

function options(overrides: Partial<ArecordSourceOptions> & Pick<ArecordSourceOptions, 'device'>): ArecordSourceOptions {
  return {
    format: STEREO_48K,
    periodMs: 20,
    bufferMs: 100,
    stallTimeoutMs: 5_000,
    restart: { initialMs: 20, maxMs: 400 },
    logger: silentLogger(),
    ...overrides,
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Collects the first `bytes` bytes the source delivers (across chunk boundaries). */
function collect(source: ArecordSource, bytes: number): { done: () => boolean; data: Buffer; chunkLengths: number[] } {
  const data = Buffer.alloc(bytes);
  const chunkLengths: number[] = [];
  let filled = 0;
  source.onFrames((pcm) => {
    chunkLengths.push(pcm.length);
    if (filled < bytes) filled += pcm.copy(data, filled, 0, Math.min(pcm.length, bytes - filled));
  });
  return { done: () => filled >= bytes, data, chunkLengths };
}

// Raising priority needs root or CAP_SYS_NICE, as the appliance's service has.
const notRoot = missingCapability('root (to raise arecord\'s priority)', process.getuid?.() === 0 ? null : 'not running as root');

describe('arecord stderr parsing', () => {
  it('counts overrun lines as aplay.c prints them, and nothing else', () => {
    expect(parseArecordStderrLine('overrun!!! (at least 12.345 ms long)')).toEqual({ kind: 'overrun', atLeastMs: 12.345 });
    expect(parseArecordStderrLine('underrun !!!')).toEqual({ kind: 'overrun', atLeastMs: null });
    expect(parseArecordStderrLine('  overrun!!! (at least 0.042 ms long)\r')).toEqual({ kind: 'overrun', atLeastMs: 0.042 });
    expect(parseArecordStderrLine('arecord: main:831: audio open error: No such file or directory').kind).toBe('other');
    expect(parseArecordStderrLine('ALSA lib pcm_file.c:935:(snd_pcm_file_open) open /x for reading failed').kind).toBe('other');
    expect(parseArecordStderrLine('Recording raw data \'stdin\' : Signed 16 bit Little Endian, Rate 48000 Hz, Stereo').kind).toBe('other');
  });

  it('passes -q, the format, period and buffer in microseconds, and the duration bound', () => {
    const source = new ArecordSource(options({ device: 'fakemic', periodMs: 20, bufferMs: 120, durationLimitSeconds: 0.5 }));
    expect(source.arecordArgs()).toEqual([
      '-q', '-D', 'fakemic', '-t', 'raw', '-f', 'S16_LE', '-r', '48000', '-c', '2',
      '--period-time=20000', '--buffer-time=120000', '-s', '24000',
    ]);
  });
});

describe('ArecordSource on the ALSA file plugin', () => {
  it('takes the ALSA sizes from the capture settings at each spawn: the next restart applies a change', async () => {
    const alsa = await createFakeAlsa(STEREO_48K);
    await alsa.writeInfile(makeNoisePcm(STEREO_48K, 4_800));
    const argsLog = join(alsa.dir, 'args.log');
    const wrapper = join(alsa.dir, 'arecord-logging-args');
    await writeFile(wrapper, `#!/bin/sh\necho "$*" >> '${argsLog}'\nexec arecord "$@"\n`);
    await chmod(wrapper, 0o755);
    let sizes = { periodMs: 20, bufferMs: 100 };
    // Each run ends after 0.1 s of audio (the file plugin is not paced), so arecord is respawned often.
    const source = new ArecordSource(options({ device: alsa.device, env: alsa.env, arecordPath: wrapper, durationLimitSeconds: 0.1, captureSettings: () => sizes }));
    expect(source.arecordArgs()).toContain('--buffer-time=100000');
    const spawns = (): string[] => (existsSync(argsLog) ? readFileSync(argsLog, 'utf8') : '').split('\n').filter((line) => line !== '');
    try {
      await source.start();
      await waitFor('a first run', () => spawns().length >= 1);
      const restartsBefore = source.status().restarts;
      sizes = { periodMs: 100, bufferMs: 1000 };
      // Nothing was restarted for the change: the next natural respawn takes it.
      expect(source.status().restarts).toBe(restartsBefore);
      await waitFor('a run with the new sizes', () => spawns().some((line) => line.includes('--buffer-time=1000000')));
      const lines = spawns();
      expect(lines[0]).toContain('--period-time=20000 --buffer-time=100000');
      expect(lines.at(-1)).toContain('--period-time=100000 --buffer-time=1000000');
    } finally {
      await source.stop();
      await alsa.cleanup();
    }
  });

  it('captures 48 kHz stereo byte for byte', async () => {
    const alsa = await createFakeAlsa(STEREO_48K);
    const pcm = makeNoisePcm(STEREO_48K, 48_000);
    await alsa.writeInfile(pcm);
    const source = new ArecordSource(options({ device: alsa.device, env: alsa.env, durationLimitSeconds: 1 }));
    const got = collect(source, pcm.length);
    try {
      await source.start();
      await waitFor('one second of audio', got.done);
      expect(got.data.equals(pcm)).toBe(true);
      for (const length of got.chunkLengths) expect(length % 4).toBe(0);
    } finally {
      await source.stop();
      await alsa.cleanup();
    }
  });

  it('reassembles frames split across pipe reads (3 channels: 6-byte frames do not divide 64 KiB)', async () => {
    const format: PcmFormat = { sampleRateHz: 48_000, channels: 3 };
    const alsa = await createFakeAlsa(format);
    const pcm = makeNoisePcm(format, 48_000, 7);
    await alsa.writeInfile(pcm);
    const source = new ArecordSource(options({ device: alsa.device, env: alsa.env, format, durationLimitSeconds: 1 }));
    const got = collect(source, pcm.length);
    try {
      await source.start();
      await waitFor('one second of audio', got.done);
      expect(got.data.equals(pcm)).toBe(true);
      for (const length of got.chunkLengths) expect(length % 6).toBe(0);
      // The test only means something if some pipe read did split a frame.
      expect(got.chunkLengths.some((length) => length % 65_536 !== 0)).toBe(true);
    } finally {
      await source.stop();
      await alsa.cleanup();
    }
  });

  it('keeps retrying with growing backoff while the device is missing, and resumes when it is back', async () => {
    const alsa = await createFakeAlsa(STEREO_48K);
    await alsa.removeInfile();
    const { logger, lines } = captureLogger();
    const source = new ArecordSource(
      options({ device: alsa.device, env: alsa.env, durationLimitSeconds: 0.2, logger, restart: { initialMs: 40, maxMs: 320, random: () => 0 } }),
    );
    // Every failed attempt reports an error event; the state stays 'restarting' throughout.
    const failedAtMs: number[] = [];
    const events: AudioSourceEvent[] = [];
    source.onEvent((event) => {
      events.push(event);
      if (event.kind === 'error') failedAtMs.push(Date.now());
    });
    let frames = 0;
    source.onFrames(() => {
      frames += 1;
    });
    try {
      await source.start();
      await waitFor('4 failed attempts', () => failedAtMs.length >= 4);
      const status = source.status();
      expect(status.state).toBe('restarting');
      expect(status.restarts).toBeGreaterThanOrEqual(3);
      expect(status.lastError).toMatch(/exited with code 1: .*audio open error: No such file or directory/);
      expect(frames).toBe(0);
      // Delays 40, 80, 160 ms (no jitter): each gap is longer than the one before.
      const gaps = failedAtMs.slice(1).map((at, index) => at - (failedAtMs[index] ?? at));
      expect(gaps[0]).toBeGreaterThanOrEqual(40);
      expect(gaps[1]).toBeGreaterThanOrEqual(80);
      expect(gaps[2]).toBeGreaterThanOrEqual(160);
      // Failed runs are short, so nothing resets the backoff: it doubles up to the cap.
      const delays = lines.filter((line) => line.msg === 'arecord ended; restarting').map((line) => line.delayMs);
      expect(delays.slice(0, 5)).toEqual([40, 80, 160, 320, 320].slice(0, Math.min(5, delays.length)));
      expect(events.some((event) => event.kind === 'error' && event.message.includes('audio open error'))).toBe(true);

      await alsa.writeInfile(makeNoisePcm(STEREO_48K, 4_800));
      await waitFor('frames after the device came back', () => frames > 0, 5_000);
      expect(events.some((event) => event.kind === 'state' && event.state === 'running')).toBe(true);
    } finally {
      await source.stop();
      await alsa.cleanup();
    }
  });

  it('reports a missing arecord binary clearly and keeps retrying without crashing', async () => {
    const source = new ArecordSource(options({ device: 'default', arecordPath: '/nonexistent' }));
    try {
      await source.start();
      await waitFor('three restarts', () => source.status().restarts >= 3);
      expect(source.status().state).toBe('restarting');
      expect(source.status().lastError).toMatch(/cannot run \/nonexistent: .*ENOENT.*alsa-utils/);
    } finally {
      await source.stop();
    }
    expect(source.status().state).toBe('stopped');
  });

  it('counts overruns from stderr and logs repeats rate-limited, not line by line', async () => {
    const alsa = await createFakeAlsa(STEREO_48K);
    await alsa.writeInfile(makeNoisePcm(STEREO_48K, 4_800));
    // Real arecord behind a wrapper that first prints what arecord prints on xruns.
    const wrapper = join(alsa.dir, 'arecord-with-xruns');
    await writeFile(
      wrapper,
      '#!/bin/sh\ni=0\nwhile [ $i -lt 500 ]; do echo "overrun!!! (at least $i.5 ms long)" >&2; i=$((i+1)); done\nexec arecord "$@"\n',
    );
    await chmod(wrapper, 0o755);
    const { logger, lines } = captureLogger();
    const source = new ArecordSource(options({ device: alsa.device, env: alsa.env, arecordPath: wrapper, durationLimitSeconds: 0.1, logger }));
    let lastOverrunTotal = 0;
    source.onEvent((event) => {
      if (event.kind === 'overrun') lastOverrunTotal = event.total;
    });
    let frames = 0;
    source.onFrames(() => {
      frames += 1;
    });
    try {
      await source.start();
      await waitFor('500 overruns and frames', () => source.status().overruns >= 500 && frames > 0);
      expect(lastOverrunTotal).toBe(source.status().overruns);
      await source.stop();
      const stderrLogs = lines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('arecord stderr'));
      // One line as printed, then (at stop) one summary with the count of the rest.
      expect(stderrLogs.filter((line) => line.stderr !== undefined).map((line) => line.stderr)).toEqual(['overrun!!! (at least 0.5 ms long)']);
      const summaries = stderrLogs.filter((line) => line.stderr === undefined);
      expect(summaries).toHaveLength(1);
      expect(Number(summaries[0]?.suppressed)).toBeGreaterThanOrEqual(499);
    } finally {
      await source.stop();
      await alsa.cleanup();
    }
  });
});

// Concurrent: these tests mostly wait for the pulse plugin's ~1 s start-up, and use little CPU.
describe.concurrent('ArecordSource on a real-time PulseAudio mic', () => {
  let pulse: PulseFakeMic;
  beforeAll(async () => {
    pulse = await startPulseFakeMic(STEREO_48K);
  });
  afterAll(async () => {
    await pulse.stop();
  });

  it('restarts arecord killed with SIGKILL; stop() then kills it for good', async () => {
    const source = new ArecordSource(options({ device: pulse.device, env: pulse.env }));
    let frames = 0;
    source.onFrames(() => {
      frames += 1;
    });
    try {
      await source.start();
      await waitFor('first frames', () => frames > 0);
      const firstPid = source.childPid;
      expect(firstPid).not.toBeNull();
      process.kill(firstPid ?? 0, 'SIGKILL');
      await waitFor('a restart', () => source.status().restarts === 1);
      const framesAfterRestart = frames;
      await waitFor('frames from the new arecord', () => frames > framesAfterRestart && source.status().state === 'running');
      expect(source.childPid).not.toBe(firstPid);
      expect(source.status().lastError).toBe('arecord killed by SIGKILL');
      // stop() kills the child and waits for it; a second stop() is harmless.
      const secondPid = source.childPid ?? 0;
      await source.stop();
      expect(isAlive(secondPid)).toBe(false);
      expect(source.childPid).toBeNull();
      await source.stop();
      expect(source.status().state).toBe('stopped');
    } finally {
      await source.stop();
    }
  });

  it('detects a stalled arecord (SIGSTOP), kills it even though SIGTERM cannot reach it, and restarts', async () => {
    const source = new ArecordSource(options({ device: pulse.device, env: pulse.env, stallTimeoutMs: 400, killGraceMs: 200 }));
    let frames = 0;
    source.onFrames(() => {
      frames += 1;
    });
    const reasons: string[] = [];
    source.onEvent((event) => {
      if (event.kind === 'state' && event.reason !== undefined) reasons.push(event.reason);
    });
    try {
      await source.start();
      await waitFor('first frames', () => frames > 0);
      const stalledPid = source.childPid ?? 0;
      process.kill(stalledPid, 'SIGSTOP');
      await waitFor('stall restart', () => reasons.includes('stall'), 5_000);
      expect(source.status().lastError).toMatch(/stall/);
      expect(isAlive(stalledPid)).toBe(false);
      const framesAfterStall = frames;
      await waitFor('frames after the restart', () => frames > framesAfterStall);
      expect(source.status().restarts).toBe(1);
      expect(source.status().state).toBe('running');
    } finally {
      await source.stop();
    }
  });

  it('a run that lasted a while resets the backoff', async () => {
    const { logger, lines } = captureLogger();
    // Each run records 0.5 s in real time, so it lives longer than healthyAfterMs: each ends "healthy".
    const source = new ArecordSource(
      options({ device: pulse.device, env: pulse.env, durationLimitSeconds: 0.5, logger, restart: { initialMs: 50, maxMs: 800, healthyAfterMs: 400, random: () => 0 } }),
    );
    const delays = (): unknown[] => lines.filter((line) => line.msg === 'arecord ended; restarting').map((line) => line.delayMs);
    try {
      await source.start();
      await waitFor('two ended runs', () => delays().length >= 2, 15_000);
      expect(delays().slice(0, 2)).toEqual([50, 50]);
      expect(source.status().lastError).toBeNull();
    } finally {
      await source.stop();
    }
  });

  it('records what is played into the mic, paced by the real clock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scout-tone-'));
    const tone = join(dir, 'tone.wav');
    await execFileAsync('sox', ['-n', '-r', '48000', '-c', '2', '-b', '16', tone, 'synth', '1.5', 'sine', '440', 'vol', '0.5']);
    const source = new ArecordSource(options({ device: pulse.device, env: pulse.env }));
    let frames = 0;
    let loudFrames = 0;
    source.onFrames((pcm) => {
      frames += pcm.length / 4;
      for (let offset = 0; offset < pcm.length; offset += 4) {
        if (Math.abs(pcm.readInt16LE(offset)) > 8_000) loudFrames += 1;
      }
    });
    try {
      await source.start();
      await waitFor('first frames', () => frames > 0);
      const framesAtPlay = frames;
      const playStartedAt = performance.now();
      await pulse.play(tone);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const wallMs = performance.now() - playStartedAt;
      const audioMs = ((frames - framesAtPlay) / 48_000) * 1000;
      // Real time: the audio delivered while 1.8 s passed is about 1.8 s, not the file plugin's flood.
      expect(audioMs).toBeGreaterThan(wallMs * 0.75);
      expect(audioMs).toBeLessThan(wallMs * 1.25);
      // A 0.5 sine is above 8000 for about 70 % of its samples: 1.5 s of tone, about 1.05 s loud.
      const loudMs = (loudFrames / 48_000) * 1000;
      expect(loudMs).toBeGreaterThan(900);
      expect(loudMs).toBeLessThan(1_200);
    } finally {
      await source.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(notRoot)('runs arecord at the requested niceness', async () => {
    const source = new ArecordSource(options({ device: pulse.device, env: pulse.env, niceness: -5 }));
    try {
      await source.start();
      const pid = source.childPid ?? 0;
      expect(getPriority(pid)).toBe(-5);
    } finally {
      await source.stop();
    }
  });

  describeAudioSourceContract('arecord on PulseAudio (real time)', () =>
    Promise.resolve({
      source: new ArecordSource(options({ device: pulse.device, env: pulse.env })),
      cleanup: () => Promise.resolve(),
    }),
  );
});

// Not concurrent with other tests: it counts this process's arecord children.
describe('ArecordSource lifecycle and device loss, each with its own PulseAudio', () => {
  it('start() right after stop() waits for the old arecord: never two captures at once', async () => {
    const pulse = await startPulseFakeMic(STEREO_48K);
    const source = new ArecordSource(options({ device: pulse.device, env: pulse.env }));
    let frames = 0;
    source.onFrames(() => {
      frames += 1;
    });
    try {
      await source.start();
      await waitFor('first frames', () => frames > 0);
      const oldPid = source.childPid ?? 0;
      const stopping = source.stop();
      await source.start();
      await stopping;
      expect(isAlive(oldPid)).toBe(false);
      const framesAfterRestart = frames;
      await waitFor('frames from the new arecord', () => frames > framesAfterRestart);
      const { stdout } = await execFileAsync('ps', ['--ppid', String(process.pid), '-o', 'comm=']);
      expect(stdout.split('\n').filter((name) => name === 'arecord')).toHaveLength(1);
      expect(source.status().state).toBe('running');
    } finally {
      await source.stop();
      await pulse.stop();
    }
  });

  it('restarts with backoff while it is gone and resumes when it is back', async () => {
    const pulse = await startPulseFakeMic(STEREO_48K);
    const source = new ArecordSource(options({ device: pulse.device, env: pulse.env, restart: { initialMs: 50, maxMs: 400 } }));
    let frames = 0;
    source.onFrames(() => {
      frames += 1;
    });
    let errors = 0;
    source.onEvent((event) => {
      if (event.kind === 'error') errors += 1;
    });
    try {
      await source.start();
      await waitFor('first frames', () => frames > 0);
      await pulse.kill();
      await waitFor('restarting after the device went away', () => source.status().state === 'restarting');
      await waitFor('failed retries', () => source.status().restarts >= 2 && errors >= 2);
      expect(source.status().lastError).toMatch(/arecord exited with code 1/);
      const framesWhileGone = frames;
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(frames).toBe(framesWhileGone);
      await pulse.revive();
      await waitFor('frames after the device came back', () => frames > framesWhileGone && source.status().state === 'running', 15_000);
    } finally {
      await source.stop();
      await pulse.stop();
    }
  });
});

describeAudioSourceContract('arecord on the ALSA file plugin (bounded runs)', async () => {
  const alsa = await createFakeAlsa(STEREO_48K);
  await alsa.writeInfile(makeNoisePcm(STEREO_48K, 9_600));
  return {
    source: new ArecordSource(options({ device: alsa.device, env: alsa.env, durationLimitSeconds: 0.2 })),
    cleanup: () => alsa.cleanup(),
  };
});
