/**
 * The remote engine tier on real parts: the service (fake mic and button) supervises its local
 * whisper-server on one generated model, and the test runs a second whisper-server on loopback,
 * standing in for the desktop on the LAN, on a model whose words differ, so every window's text
 * says which server ran it. The remote is killed (SIGKILL) with a request in flight; the levels
 * are driven by a scripted host tree (SCOUT_HOST_ROOT) as in degradation-e2e.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config.js';
import type { Recording } from '../../src/domain/recording.js';
import type { Transcript, WindowResult } from '../../src/domain/transcript.js';
import type { RemoteTierStatus } from '../../src/transcribe/remote-tier.js';
import { makeDataDir, removeDataDir, startScout, type ScoutProcess } from '../helpers/scout-process.js';
import { ensureModel, ensureWhisperBuilt, type EnsuredModel } from '../helpers/whisper.js';
import { makeWitness, type Witness } from '../helpers/witness.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface State {
  appliance: { phase: string; recordingId: string | null };
  transcription: {
    engine: { state: string; model: string };
    queue: { queueSize: number };
    model: { placeholder: boolean };
    degradation: { level: number; name: string };
    remote: RemoteTierStatus | null;
  } | null;
}
interface Health {
  checks: Record<string, { status: string; message: string; details?: Record<string, unknown> }>;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/** A whisper-server the test owns (no supervision: the remote is someone else's process). */
interface RemoteServer {
  readonly url: string;
  readonly child: ChildProcess;
  kill(signal: NodeJS.Signals): Promise<void>;
}

async function startRemote(serverPath: string, modelPath: string): Promise<RemoteServer> {
  const port = await freePort();
  const child = spawn(serverPath, ['-m', modelPath, '--host', '127.0.0.1', '--port', String(port), '-t', '1', '-nlp'], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  await until('the remote whisper-server to answer /health', async () => {
    if (child.exitCode !== null) throw new Error(`remote whisper-server exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      return response.ok;
    } catch {
      return false;
    }
  }, 30_000);
  return {
    url,
    child,
    kill: async (signal) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
    },
  };
}

/** Each window's stored record (jobs.result_json), in order, for the windows that reached an engine. */
function spokenWindows(dataDir: string, recordingId: string): WindowResult[] {
  const db = new Database(join(dataDir, 'scout.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT result_json FROM jobs WHERE recording_id = ? ORDER BY seq').all(recordingId) as { result_json: string | null }[];
    return rows.map((row) => JSON.parse(row.result_json ?? 'null') as WindowResult | null).filter((result): result is WindowResult => result !== null && !result.noSpeech);
  } finally {
    db.close();
  }
}

/** The text of a window: the model's words, so it names the server that ran it. */
const windowText = (result: WindowResult): string => result.segments.map((segment) => segment.text).join(' ').trim();

let binDir: string;
let localModel: EnsuredModel;
let remoteModel: EnsuredModel;

beforeAll(async () => {
  binDir = await ensureWhisperBuilt();
  // The local model decodes three words per window, the remote one six: "delta" only comes from the remote.
  localModel = await ensureModel('mini', { decodeTokens: 3 });
  remoteModel = await ensureModel('mini', { decodeTokens: 6, seed: 7 });
  expect(remoteModel.expectedText).toContain('delta');
  expect(localModel.expectedText).not.toContain('delta');
}, 10 * 60_000);

/** The service with the local model installed as its normal tier and `remote` as transcription.remote. */
async function startService(remote: Record<string, unknown>, extra: { env?: NodeJS.ProcessEnv; config?: Record<string, unknown>; dataDir?: string } = {}): Promise<ScoutProcess> {
  const dataDir = extra.dataDir ?? (await makeDataDir());
  const localFile = join(dataDir, 'models', validateConfig({}).transcription.normalModel);
  await mkdir(join(dataDir, 'models'), { recursive: true });
  await copyFile(localModel.path, localFile);
  const scout = await startScout({
    dataDir,
    startTimeoutMs: 60_000,
    ...(extra.env ? { env: extra.env } : {}),
    config: {
      recorder: { preRollMs: 200 },
      ...extra.config,
      transcription: { threads: 1, minSpeechMs: 1000, retryInitialMs: 100, retryMaxMs: 500, remote },
    },
  });
  await until('the local whisper-server ready on the installed model', async () => {
    const t = (await scout.api<State>('/api/state')).body.transcription;
    return t?.engine.state === 'ready' && t.engine.model === localFile && !t.model.placeholder;
  }, 30_000);
  return scout;
}

function helpers(scout: () => ScoutProcess) {
  const recording = async (id: string): Promise<Recording & { transcript?: { state: string } & Partial<Transcript> }> => (await scout().api<Recording>(`/api/recordings/${id}`)).body;
  const remoteStatus = async (): Promise<RemoteTierStatus> => {
    const remote = (await scout().api<State>('/api/state')).body.transcription?.remote;
    if (!remote) throw new Error('no remote tier in /api/state');
    return remote;
  };
  /** Toggle, `ms` of the simulator's speech, toggle; returns the recording id once the take is saved. */
  const record = async (ms: number): Promise<string> => {
    expect(await scout().button('toggle')).toBe(202);
    const id = await until('the take to start', async () => (await scout().api<State>('/api/state')).body.appliance.recordingId, 10_000);
    await sleep(ms);
    expect(await scout().button('toggle')).toBe(202);
    await until('the take to be saved', async () => (await recording(id)).status !== 'recording', 20_000);
    return id;
  };
  const transcribed = (id: string): Promise<Transcript> =>
    until(`recording ${id} to be transcribed`, async () => {
      const shown = await recording(id);
      if (shown.status === 'failed') throw new Error(`recording ${id} failed: ${shown.error ?? ''}`);
      return shown.status === 'transcribed' ? (await scout().api<Transcript>(`/api/recordings/${id}/transcript?format=json`)).body : null;
    }, 60_000);
  return { recording, remoteStatus, record, transcribed };
}

describe("remote tier, when: 'always'", () => {
  let scout: ScoutProcess;
  let remote: RemoteServer;
  const { remoteStatus, record, transcribed } = helpers(() => scout);

  beforeAll(async () => {
    remote = await startRemote(join(binDir, 'whisper-server'), remoteModel.path);
    // Only the probe at start: the request in flight, not a later probe (which would find the
    // frozen remote silent first), is what finds the remote gone.
    scout = await startService({ url: remote.url, model: 'remote-mini-d6.bin', when: 'always', threads: 1, timeoutMs: 30_000, healthIntervalMs: 3_600_000 });
    await until('the first /health probe to reach the remote', async () => (await remoteStatus()).reachable === true, 20_000);
  }, 5 * 60_000);

  afterAll(async () => {
    await remote?.kill('SIGKILL');
    await scout?.stop();
    if (scout) await removeDataDir(scout.dataDir);
  });

  it('the remote serves the jobs; killed with a request in flight, that window finishes locally; each window record names its engine', async () => {
    // --- the remote takes the windows ---
    const first = await record(3500);
    const firstTranscript = await transcribed(first);
    expect(firstTranscript.engine).toBe('remote');
    expect(firstTranscript.text).toContain('delta');
    expect(firstTranscript.model).toBe('remote-mini-d6.bin');
    const firstWindows = spokenWindows(scout.dataDir, first);
    expect(firstWindows.length).toBeGreaterThan(0);
    for (const window of firstWindows) {
      expect(window).toMatchObject({ engine: 'remote', engineHost: new URL(remote.url).host, model: 'remote-mini-d6.bin', tier: 'normal', threads: 1 });
      expect(window.remoteError).toBeUndefined();
      expect(windowText(window)).toBe(remoteModel.expectedText.trim());
    }
    expect(await remoteStatus()).toMatchObject({ reachable: true, breaker: 'closed', next: 'remote', wanted: true, inFlight: 0 });
    expect((await remoteStatus()).windows).toBe(firstWindows.length);

    // --- killed mid-job: the remote is frozen so the request is held there, then SIGKILLed ---
    remote.child.kill('SIGSTOP');
    const second = await record(3500);
    await until('a window request to be in flight at the frozen remote', async () => (await remoteStatus()).inFlight > 0, 20_000, 50);
    await remote.kill('SIGKILL');
    const secondTranscript = await transcribed(second);
    expect(secondTranscript.engine).toBe('local');
    expect(secondTranscript.model).toBe(validateConfig({}).transcription.normalModel);
    expect(secondTranscript.text).toContain(localModel.expectedText.trim());
    expect(secondTranscript.text).not.toContain('delta');
    const secondWindows = spokenWindows(scout.dataDir, second);
    expect(secondWindows.length).toBeGreaterThan(0);
    for (const window of secondWindows) {
      expect(window).toMatchObject({ engine: 'local', model: validateConfig({}).transcription.normalModel });
      expect(window.engineHost).toBeUndefined();
      expect(windowText(window)).toBe(localModel.expectedText.trim());
    }
    // The window that was at the remote when it died says why it ran locally.
    expect(secondWindows[0]?.remoteError).toMatch(/remote 127\.0\.0\.1:\d+ failed/);
    // The earlier take's records are untouched.
    expect(spokenWindows(scout.dataDir, first).every((window) => window.engine === 'remote')).toBe(true);

    // --- the remote stays down: later windows go straight to the local engine ---
    const third = await record(2500);
    expect((await transcribed(third)).engine).toBe('local');
    for (const window of spokenWindows(scout.dataDir, third)) expect(window.remoteError, 'a known-down remote was tried again').toBeUndefined();
    const down = await remoteStatus();
    expect(down).toMatchObject({ reachable: false, next: 'local', inFlight: 0 });
    expect(down.lastError).toMatch(/127\.0\.0\.1/);

    // --- health and metrics say so ---
    const health = await until('/healthz to show the remote down', async () => {
      const report = await scout.api<Health>('/healthz');
      return report.body.checks['remote-engine']?.status === 'degraded' ? report : null;
    }, 5000);
    expect(health.status).toBe(200);
    expect(health.body.checks['remote-engine']?.message).toMatch(/unreachable.*windows run locally/);
    expect(health.body.checks.engine?.status).toBe('healthy');
    const metrics = (await scout.api<string>('/metrics')).body;
    const windows = (engine: string): number => Number(new RegExp(`^scout_transcription_windows_total\\{engine="${engine}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 'NaN');
    expect(windows('remote')).toBe(firstWindows.length);
    expect(windows('local')).toBe(secondWindows.length + spokenWindows(scout.dataDir, third).length);
    expect(metrics).toMatch(/^scout_transcription_remote_up 0$/m);
    expect(metrics).toMatch(/^scout_transcription_remote_breaker_state [0-2]$/m);
  }, 180_000);
});

// Defaults: constrained from 77 C; cool well below every threshold.
const COOL_MILLI_C = 45_000;
const HOT_MILLI_C = 79_000;

describe("remote tier, when: 'pressure'", () => {
  let scout: ScoutProcess;
  let remote: RemoteServer;
  let tempPath: string;
  const { remoteStatus, record, transcribed } = helpers(() => scout);
  const level = async (): Promise<number> => (await scout.api<State>('/api/state')).body.transcription?.degradation.level ?? -1;

  beforeAll(async () => {
    remote = await startRemote(join(binDir, 'whisper-server'), remoteModel.path);
    const dataDir = await makeDataDir();
    // A Pi-like host tree: one cpu-thermal zone, idle counters and pressure, plenty of memory.
    const hostRoot = join(dataDir, 'host');
    const zone = join(hostRoot, 'sys/class/thermal/thermal_zone0');
    await mkdir(zone, { recursive: true });
    await mkdir(join(hostRoot, 'proc/pressure'), { recursive: true });
    await writeFile(join(zone, 'type'), 'cpu-thermal\n');
    tempPath = join(zone, 'temp');
    await writeFile(tempPath, `${COOL_MILLI_C}\n`);
    await writeFile(join(hostRoot, 'proc/stat'), 'cpu  1000 0 500 100000 100 0 10 0 0 0\n');
    await writeFile(join(hostRoot, 'proc/meminfo'), 'MemTotal:        3884000 kB\nMemFree:         2000000 kB\nMemAvailable:    3000000 kB\n');
    const idle = 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';
    for (const resource of ['cpu', 'memory', 'io']) await writeFile(join(hostRoot, 'proc/pressure', resource), idle);
    scout = await startService(
      { url: remote.url, model: 'remote-mini-d6.bin', when: 'pressure', threads: 1, healthIntervalMs: 2000 },
      { dataDir, env: { SCOUT_HOST_ROOT: hostRoot }, config: { ops: { resourceSampleMs: 250 }, degradation: { spikeSamples: 1, dwellMs: 1000 } } },
    );
    await until('the remote to be reachable', async () => (await remoteStatus()).reachable === true, 20_000);
  }, 5 * 60_000);

  afterAll(async () => {
    await remote?.kill('SIGKILL');
    await scout?.stop();
    if (scout) await removeDataDir(scout.dataDir);
  });

  it('the remote takes windows only while the level asks for it: level 0 local, level 2 remote, cooled down local again', async () => {
    // --- level 0: the remote stands by ---
    expect(await remoteStatus()).toMatchObject({ wanted: false, next: 'local', reachable: true });
    const calm = await record(2500);
    expect((await transcribed(calm)).engine).toBe('local');
    const calmWindows = spokenWindows(scout.dataDir, calm);
    expect(calmWindows.length).toBeGreaterThan(0);
    for (const window of calmWindows) expect(window.engine === 'local' && windowText(window) === localModel.expectedText.trim()).toBe(true);
    const standby = await scout.api<Health>('/healthz');
    expect(standby.body.checks['remote-engine']).toMatchObject({ status: 'healthy' });
    expect(standby.body.checks['remote-engine']?.message).toContain('stands by');

    // --- heat: level 2, whose `remote` is true by default ---
    await writeFile(tempPath, `${HOT_MILLI_C}\n`);
    await until('level 2 after the temperature rose', async () => (await level()) === 2, 10_000);
    expect(await remoteStatus()).toMatchObject({ wanted: true, next: 'remote' });
    const hot = await record(2500);
    const hotTranscript = await transcribed(hot);
    expect(hotTranscript.engine).toBe('remote');
    expect(hotTranscript.text).toContain('delta');
    const hotWindows = spokenWindows(scout.dataDir, hot);
    expect(hotWindows.length).toBeGreaterThan(0);
    for (const window of hotWindows) {
      expect(window).toMatchObject({ engine: 'remote', model: 'remote-mini-d6.bin', tier: 'normal' });
      expect(windowText(window)).toBe(remoteModel.expectedText.trim());
    }

    // --- cooled down: level 0, the local engine again ---
    await writeFile(tempPath, `${COOL_MILLI_C}\n`);
    await until('level 0 after cooling', async () => (await level()) === 0, 15_000);
    expect(await remoteStatus()).toMatchObject({ wanted: false, next: 'local' });
    const cooled = await record(2500);
    expect((await transcribed(cooled)).engine).toBe('local');
    for (const window of spokenWindows(scout.dataDir, cooled)) expect(window.engine).toBe('local');
    // The model file of the local engine never changed: the remote took the hot windows instead.
    expect(basename((await scout.api<State>('/api/state')).body.transcription?.engine.model ?? '')).toBe(validateConfig({}).transcription.normalModel);
  }, 180_000);
});

describe('a remote that answers 500 or hangs', () => {
  let scout: ScoutProcess;
  let remote: RemoteServer;
  let witness: Witness;
  const { remoteStatus, record, transcribed } = helpers(() => scout);

  beforeAll(async () => {
    // The remote is the witness (test/helpers/witness.ts): whisper-server's API, with faults on demand.
    const dir = await makeDataDir();
    witness = await makeWitness(dir);
    remote = await startRemote(witness.serverPath, witness.modelPath);
    // A breaker that stays closed through these failures: each window tries the remote first.
    scout = await startService({ url: remote.url, model: 'witness', when: 'always', timeoutMs: 1500, breakerFailures: 20, healthIntervalMs: 3_600_000 }, { dataDir: dir });
    await until('the remote to be reachable', async () => (await remoteStatus()).reachable === true, 20_000);
  }, 5 * 60_000);

  afterAll(async () => {
    await remote?.kill('SIGKILL');
    await scout?.stop();
    if (scout) await removeDataDir(scout.dataDir);
  });

  it('a 500 and a request past timeoutMs each fall back to the local engine for that window; a healthy remote takes the next', async () => {
    for (const [fault, why] of [['http500', /HTTP 500/], ['hang', /no answer within 1500 ms/]] as const) {
      await witness.setFault({ inference: fault });
      const id = await record(2500);
      expect((await transcribed(id)).engine, fault).toBe('local');
      const windows = spokenWindows(scout.dataDir, id);
      expect(windows.length).toBeGreaterThan(0);
      for (const window of windows) {
        expect(window, fault).toMatchObject({ engine: 'local' });
        expect(window.remoteError, fault).toMatch(why);
        expect(windowText(window)).toBe(localModel.expectedText.trim());
      }
      // The remote was asked for every one of those windows first, and failed each.
      const faults = (await witness.events()).filter((event) => event['event'] === 'fault' && event['mode'] === fault);
      expect(faults.length, fault).toBe(windows.length);
    }
    expect(await witness.inferences()).toHaveLength(0);

    await witness.setFault({ inference: 'ok' });
    const id = await record(2500);
    expect((await transcribed(id)).engine).toBe('remote');
    const windows = spokenWindows(scout.dataDir, id);
    expect(windows.length).toBeGreaterThan(0);
    // The witness's text describes the samples it got: the remote ran these windows.
    for (const window of windows) expect(windowText(window)).toMatch(/^samples=\d+ sha256=/);
    expect((await witness.inferences()).length).toBe(windows.length);
    const recovered = await remoteStatus();
    expect(recovered).toMatchObject({ reachable: true, breaker: 'closed', breakerFailures: 0 });
    // The latest failure stays on record for diagnosis after the remote recovered.
    expect(recovered.lastError).toMatch(/no answer within 1500 ms/);
  }, 180_000);
});
