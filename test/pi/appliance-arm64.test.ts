import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWavHeader } from '../../src/audio/wav.js';
import type { Recording } from '../../src/domain/recording.js';
import { arm64Unavailable, ensureArm64NodeModules, ensureArm64Root, ensurePiWhisper, openRootSession, QEMU_CPU, runHost, type RootSession } from '../helpers/arm64-root.js';
import { missingCapability } from '../helpers/capability.js';
import { createFakeAlsa, makeSpeechWav, type FakeAlsa } from '../helpers/fake-alsa.js';
import { makeDataDir, PROJECT_ROOT, removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';
import { ensureModel, type EnsuredModel } from '../helpers/whisper.js';

/**
 * The appliance itself on the Pi's userland: the compiled service (dist/) on the rootfs's own
 * arm64 Node (trixie, 20.x) with arm64 builds of its native modules, emulated as a Cortex-A72,
 * recording from an ALSA `file` PCM and transcribing with the Pi 4 whisper.cpp build and a
 * generated model. The same smoke path as the x86 end-to-end test, driven over loopback HTTP.
 */
const skip = missingCapability('an arm64 rootfs under qemu-user', await arm64Unavailable());

const INSIDE = '/opt/scout';
const FORMAT = { sampleRateHz: 48_000, channels: 1 } as const;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface RecordingWithTranscript extends Recording {
  transcript?: { state: string; text?: string };
}

describe.skipIf(skip)('the appliance on arm64 Node under qemu (Cortex-A72)', () => {
  let session: RootSession;
  let scout: ScoutProcess;
  let alsa: FakeAlsa;
  let pacer: ChildProcess | undefined;
  let model: EnsuredModel;
  let work: string;
  let dataDir: string;

  beforeAll(async () => {
    const root = await ensureArm64Root();
    const whisperBin = await ensurePiWhisper('pi4');
    const modules = await ensureArm64NodeModules(root);
    model = await ensureModel('mini', { decodeTokens: 8 });
    work = await mkdtemp(join(tmpdir(), 'scout-pi-app-'));

    // The mic: the ALSA file plugin reading a FIFO that a pacer fills in real time with speech.
    alsa = await createFakeAlsa(FORMAT);
    await unlink(alsa.infile).catch(() => {});
    const mkfifo = await runHost('mkfifo', ['-m', '600', alsa.infile]);
    expect(mkfifo.code, mkfifo.stderr).toBe(0);
    const speech = await readFile(await makeSpeechWav('Remember to buy milk and call the plumber tomorrow morning.', { rateHz: FORMAT.sampleRateHz, channels: 1, dir: work }));
    const header = parseWavHeader(speech);
    const pcmPath = join(work, 'speech.raw');
    await writeFile(pcmPath, Buffer.concat([speech.subarray(header.dataOffset, header.dataOffset + header.declaredDataBytes), Buffer.alloc(FORMAT.sampleRateHz)]));
    pacer = spawn(process.execPath, [join(PROJECT_ROOT, 'test/helpers/fixtures/fifo-pacer.mjs'), alsa.infile, pcmPath, String(FORMAT.sampleRateHz * 2)], { stdio: 'ignore' });

    dataDir = await makeDataDir();
    await mkdir(join(dataDir, 'models'), { recursive: true });
    await copyFile(model.path, join(dataDir, 'models', 'ggml-tiny.en-q8_0.bin'));
    session = await openRootSession(root, [
      { host: PROJECT_ROOT, inside: INSIDE, readOnly: true },
      { host: join(modules, 'node_modules'), inside: `${INSIDE}/node_modules`, readOnly: true },
      { host: whisperBin, readOnly: true },
      { host: alsa.dir },
      { host: dataDir },
    ]);
    scout = await startScout({
      dataDir,
      env: { ALSA_CONFIG_PATH: alsa.configPath, SCOUT_LOG_LEVEL: 'info' },
      config: {
        audio: { backend: 'alsa', device: alsa.device, sampleRateHz: FORMAT.sampleRateHz, channels: 1, periodMs: 20, bufferMs: 400 },
        transcription: { serverPath: join(whisperBin, 'whisper-server'), threads: 2, adaptive: false },
      },
      // Emulated start-up is slow: Node, then every module compiled by V8 under qemu.
      startTimeoutMs: 180_000,
      spawnChild: (env) =>
        session.spawn({
          argv: ['node', '--max-semi-space-size=2', `${INSIDE}/dist/src/main.js`],
          cpu: QEMU_CPU.pi4,
          cwd: INSIDE,
          env: Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => /^(SCOUT_|ALSA_)/.test(entry[0]) && entry[1] !== undefined)),
        }),
    });
  });

  afterAll(async () => {
    await scout?.stop();
    pacer?.kill('SIGKILL');
    await alsa?.cleanup();
    await session?.cleanup();
    if (dataDir) await removeDataDir(dataDir);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('runs on the rootfs arm64 node, not the host one', async () => {
    // The kernel ran the service through binfmt_misc: its executable is the emulator.
    expect(readlinkSync(`/proc/${scout.child.pid}/exe`)).toMatch(/qemu-aarch64/);
    const probe = await session.run({ argv: ['node', '-p', 'process.arch + " " + process.versions.node'], cpu: QEMU_CPU.pi4 });
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout.trim()).toMatch(/^arm64 20\./);
  });

  it('records a take from the ALSA mic, transcribes it with the Pi 4 build and answers /healthz', async () => {
    await waitFor(async () => (await scout.api<{ audio: { state: string } }>('/api/state')).body.audio.state === 'running', 60_000, 500);
    await scout.button('toggle');
    await waitFor(async () => (await scout.api<{ appliance: { recordingId: string | null } }>('/api/state')).body.appliance.recordingId, 30_000, 200);
    await sleep(4000);
    await scout.button('toggle');

    const done = await waitFor(async () => {
      const page = (await scout.api<{ items: Recording[] }>('/api/recordings')).body;
      return page.items.find((r) => r.status === 'transcribed');
    }, 240_000, 1000);
    const recording = (await scout.api<RecordingWithTranscript>(`/api/recordings/${done.id}`)).body;
    expect(recording.durationMs).toBeGreaterThan(2000);
    expect(recording.transcript?.state).toBe('done');
    expect(recording.transcript?.text).toBe(model.expectedText.trim());

    const health = await scout.api<{ status: string; checks: Record<string, { status: string }> }>('/healthz');
    expect(health.status, JSON.stringify(health.body)).toBe(200);
    expect(health.body.checks.model?.status).toBe('healthy');
  });
});
