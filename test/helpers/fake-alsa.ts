/**
 * A real ALSA capture device on a machine without a sound card, for tests of real `arecord`.
 *
 * How it works: ALSA's `file` PCM plugin reads capture data from `infile` (raw S16_LE at the
 * slave's format) over a `null` slave; a `plug` in front pins rate and channels, so arecord
 * asking for exactly that format gets the file byte for byte. `ALSA_CONFIG_PATH` points at a
 * generated config that includes the system's `alsa.conf` first (never `~/.asoundrc`, which
 * other tests share).
 *
 * What it does not do: pace. The null slave runs as fast as it is read (about 2 GB/s here), and
 * past the end of `infile` it delivers silence at that speed, so bound every capture
 * (`durationLimitSeconds`, arecord's `-s`/`-d`). For capture paced by a real clock use
 * `startPulseFakeMic()` below.
 *
 * Device gone / device back: the plugin opens `infile` when arecord opens the PCM. With the file
 * missing, arecord fails at once ("audio open error: No such file or directory", exit 1), the
 * same way it fails on a USB mic that has been unplugged; writing the file again makes the next
 * open succeed. `removeInfile()` / `writeInfile()` are the unplug and replug.
 */
import { spawn, execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PcmFormat } from '../../src/hardware/types.js';

const execFileAsync = promisify(execFile);

export interface FakeAlsa {
  /** Environment for arecord: ALSA_CONFIG_PATH set, the rest of this process's environment kept. */
  readonly env: NodeJS.ProcessEnv;
  /** The ALSA PCM name to capture from. */
  readonly device: string;
  readonly infile: string;
  readonly configPath: string;
  readonly dir: string;
  /** Sets what the mic "hears"; also the replug after removeInfile(). */
  writeInfile(pcm: Buffer): Promise<void>;
  /** The unplug: the next open of the device fails. */
  removeInfile(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createFakeAlsa(format: PcmFormat, options: { readonly device?: string } = {}): Promise<FakeAlsa> {
  const device = options.device ?? 'fakemic';
  const dir = await mkdtemp(join(tmpdir(), 'scout-fake-alsa-'));
  const infile = join(dir, 'mic.raw');
  const configPath = join(dir, 'asound.conf');
  const config = [
    '</usr/share/alsa/alsa.conf>',
    `pcm.${device}_file {`,
    '  type file',
    '  slave.pcm "null"',
    '  file "/dev/null"',
    `  infile "${infile}"`,
    '  format "raw"',
    '}',
    `pcm.${device} {`,
    '  type plug',
    `  slave { pcm "${device}_file"; format S16_LE; rate ${format.sampleRateHz}; channels ${format.channels} }`,
    '}',
    '',
  ].join('\n');
  await writeFile(configPath, config);
  await writeFile(infile, Buffer.alloc(0));
  return {
    env: { ...process.env, ALSA_CONFIG_PATH: configPath },
    device,
    infile,
    configPath,
    dir,
    writeInfile: (pcm) => writeFile(infile, pcm),
    removeInfile: () => unlink(infile).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Deterministic pseudo-random S16 PCM (xorshift), for byte-exact comparisons. */
export function makeNoisePcm(format: PcmFormat, frames: number, seed = 0x2545f491): Buffer {
  const out = Buffer.alloc(frames * format.channels * 2);
  let state = seed >>> 0 || 1;
  for (let offset = 0; offset < out.length; offset += 2) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out.writeInt16LE((state & 0xffff) - 0x8000, offset);
  }
  return out;
}

/** A sine tone on every channel, S16_LE interleaved; `amplitude` is 0..1 of full scale. */
export function makeTonePcm(format: PcmFormat, options: { readonly frequencyHz: number; readonly amplitude: number; readonly durationMs: number }): Buffer {
  const frames = Math.round((options.durationMs * format.sampleRateHz) / 1000);
  const out = Buffer.alloc(frames * format.channels * 2);
  const peak = Math.round(options.amplitude * 32767);
  for (let frame = 0; frame < frames; frame += 1) {
    const value = Math.round(peak * Math.sin((2 * Math.PI * options.frequencyHz * frame) / format.sampleRateHz));
    for (let channel = 0; channel < format.channels; channel += 1) {
      out.writeInt16LE(value, (frame * format.channels + channel) * 2);
    }
  }
  return out;
}

/**
 * Speech from espeak-ng, converted by sox to a PCM S16 WAV at the given rate and channels.
 * Returns the WAV's path inside `dir` (a temp dir of the caller's, which it cleans up).
 */
export async function makeSpeechWav(
  text: string,
  options: { readonly rateHz: number; readonly channels: number; readonly dir: string; readonly name?: string },
): Promise<string> {
  const raw = join(options.dir, `${options.name ?? 'speech'}-espeak.wav`);
  const out = join(options.dir, `${options.name ?? 'speech'}.wav`);
  await execFileAsync('espeak-ng', ['-w', raw, text]);
  await execFileAsync('sox', [raw, '-r', String(options.rateHz), '-c', String(options.channels), '-b', '16', '-e', 'signed-integer', out]);
  return out;
}

/**
 * The service's `audio` config for the PulseAudio fake mic at 48 kHz stereo: a short stall
 * timeout and quick restarts, so a test sees an unplug and a replug in seconds.
 */
export const PULSE_MIC_AUDIO_CONFIG = {
  backend: 'alsa',
  device: 'pulse',
  sampleRateHz: 48_000,
  channels: 2,
  periodMs: 20,
  bufferMs: 400,
  stallTimeoutMs: 3000,
  restartInitialMs: 200,
  restartMaxMs: 1000,
} as const;

export interface PulseFakeMic {
  /** Environment for arecord / paplay: the daemon's XDG_RUNTIME_DIR and PULSE_SERVER. */
  readonly env: NodeJS.ProcessEnv;
  /** ALSA device name that records the fake mic in real time. */
  readonly device: 'pulse';
  /** The daemon's runtime directory; its socket is `pulse/native` inside. */
  readonly dir: string;
  /** Plays a WAV into the fake mic in real time (paplay); resolves when it has been played. */
  play(wavPath: string): Promise<void>;
  /** Stops the daemon but keeps its directory: the mic is gone (arecord fails to open, or dies). */
  kill(): Promise<void>;
  /** Starts the daemon again in the same directory: the mic is back. */
  revive(): Promise<void>;
  /** Stops the daemon and removes its directory. */
  stop(): Promise<void>;
}

/**
 * A userspace PulseAudio with a null sink named `fakemic` whose monitor is the default source:
 * `arecord -D pulse` then records in real time (silence unless something plays into the sink;
 * arecord takes about a second to deliver its first frames). Needs Debian's pulseaudio,
 * pulseaudio-utils and libasound2-plugins. Used where a test needs a child that stays alive
 * (kill, SIGSTOP, real-time pacing) without the file plugin's unpaced flood.
 */
export async function startPulseFakeMic(format: PcmFormat, options: { readonly openToAll?: boolean } = {}): Promise<PulseFakeMic> {
  const dir = await mkdtemp(join(tmpdir(), 'scout-pulse-'));
  // openToAll: another user (the unit's scout user, in a systemd namespace the directory is bound
  // into) connects without this user's cookie. Only for a throwaway test daemon.
  const protocol = options.openToAll ? '--load=module-native-protocol-unix auth-anonymous=1' : '--load=module-native-protocol-unix';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_RUNTIME_DIR: dir,
    HOME: dir,
    PULSE_SERVER: `unix:${join(dir, 'pulse', 'native')}`,
  };
  delete env.ALSA_CONFIG_PATH;
  const daemonUp = async (): Promise<void> => {
    await execFileAsync(
      'pulseaudio',
      [
        '--daemonize=yes',
        '-n',
        '--exit-idle-time=-1',
        '--use-pid-file=yes',
        `--load=module-null-sink sink_name=fakemic rate=${format.sampleRateHz} channels=${format.channels}`,
        protocol,
      ],
      { env },
    );
    await execFileAsync('pactl', ['set-default-source', 'fakemic.monitor'], { env });
    if (options.openToAll) {
      await chmod(dir, 0o755);
      await chmod(join(dir, 'pulse'), 0o755);
    }
  };
  const pidFile = join(dir, 'pulse', 'pid');
  const daemonPid = async (): Promise<number | undefined> => {
    try {
      const pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const daemonDown = async (): Promise<void> => {
    const pid = await daemonPid();
    await new Promise<void>((resolve) => {
      // `pulseaudio --kill` signals the daemon named by this runtime dir's pid file, and only that one.
      const killer = spawn('pulseaudio', ['--kill'], { env, stdio: 'ignore' });
      killer.once('error', () => resolve());
      killer.once('close', () => resolve());
    });
    if (pid === undefined) return;
    // --kill only signals: the daemon goes on writing into its runtime dir (pid file, cookie) while
    // it shuts down, and removing the dir under it fails with ENOTEMPTY. Wait for the process itself.
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && processAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 20));
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  };
  await daemonUp();
  return {
    env,
    device: 'pulse',
    dir,
    play: async (wavPath) => {
      await execFileAsync('paplay', ['-d', 'fakemic', wavPath], { env });
    },
    kill: async () => {
      await daemonDown();
      // --kill returns before the daemon has gone; its socket disappears when it has.
      const socket = join(dir, 'pulse', 'native');
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        try {
          await execFileAsync('pactl', ['info'], { env });
        } catch {
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`pulseaudio in ${dir} did not stop (socket ${socket})`);
    },
    revive: daemonUp,
    stop: async () => {
      await daemonDown();
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    },
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
