/**
 * The service under soak, and what both ways of running it share: the `Service` the soak drives,
 * the unit's ExecStart flags and environment read from systemd/scout.service, the soak's config,
 * and the model check. Under systemd (the default): `systemd-service.ts`. As a direct child of the
 * soak (`--direct`, for a machine without root): `startService` below.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync, realpathSync, type WriteStream } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, dirname, dirname as parentOf, join } from 'node:path';
import { createInterface } from 'node:readline';
import { validateConfig } from '../../src/config.js';
import { readGgmlModelInfo } from '../../src/transcribe/model-file.js';
import { sleep } from '../../src/util/sleep.js';
import { childPids, processName } from '../lib/proc.js';
import type { CgroupMemory } from './cgroup.js';

/** The unit's ExecStart flags, read from systemd/scout.service so the two cannot drift apart. */
export function unitNodeFlags(unitText: string): string[] {
  const line = unitText.split('\n').find((l) => /^ExecStart=\S/.test(l));
  if (!line) throw new Error('systemd/scout.service has no ExecStart=');
  const words = line.slice('ExecStart='.length).trim().split(/\s+/);
  return words.slice(1).filter((w) => w.startsWith('--'));
}

/** The unit's Environment= assignments (NODE_ENV=production). */
export function unitEnvironment(unitText: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unitText.split('\n')) {
    const match = /^Environment=(\w+)=(.*)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) env[match[1]] = match[2];
  }
  return env;
}

export interface ServiceOptions {
  readonly mainJs: string;
  readonly unitPath: string;
  readonly dataDir: string;
  readonly modelPath: string;
  /** PulseAudio env for arecord -D pulse (XDG_RUNTIME_DIR, PULSE_SERVER, HOME). */
  readonly micEnv: NodeJS.ProcessEnv;
  readonly engineNiceness: number;
  readonly logPath: string;
}

export interface LoadedModel {
  /** What /api/state says the engine runs. */
  readonly statePath: string;
  readonly placeholder: boolean;
  /** The -m argument of the running whisper-server, resolved. */
  readonly engineFile: string;
  /** ggml tensor types of the file the engine opened: name -> count. */
  readonly tensorTypes: Readonly<Record<string, number>>;
  readonly ftype: number;
  readonly isQ8: boolean;
}

export interface Service {
  /** How the service runs, for the report: "direct child (not under systemd)" or "under systemd 252 ...". */
  readonly how: string;
  /** The service's main pid as this process sees it (the host's, under systemd). */
  readonly pid: number;
  readonly base: string;
  readonly token: string;
  readonly flags: readonly string[];
  readonly config: Record<string, unknown>;
  /** Log lines at warn and above, by message. */
  readonly problems: Map<string, number>;
  /** Non-null once the service has exited (under systemd: also once it was restarted). */
  exitInfo(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Restarts by systemd (NRestarts); 0 for a direct child, which is never restarted. */
  restarts(): Promise<number>;
  api<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  enginePid(): number | undefined;
  /** A path as the service sees it, resolved (symlinks followed) where the service runs. */
  realpath(path: string): Promise<string>;
  /** A path as the service sees it, as this process can open it. */
  hostPath(path: string): string;
  /** The unit's memory cgroup (limit, peak charge); null for a direct child, which has none of its own. */
  cgroupMemory(): CgroupMemory | null;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The soak's configuration, shaped like the one install-pi.sh writes; dataDir only for a direct child. */
export function soakConfig(port: number, engineNiceness: number, dataDir?: string): Record<string, unknown> {
  return {
    ...(dataDir === undefined ? {} : { dataDir }),
    audio: { backend: 'alsa', device: 'pulse', sampleRateHz: 48000, channels: 1 },
    // The button is pressed over HTTP (the simulator's fake GPIO): there is no gpio-keys device here.
    gpio: { backend: 'fake' },
    http: { host: '127.0.0.1', port },
    transcription: { niceness: engineNiceness },
  };
}

/** pino's level numbers, for logs written with level labels (the service's production format). */
const LEVEL_NUMBERS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/** Counts one structured log line by message when it is a warning or worse (or not JSON at all). */
export function countProblem(problems: Map<string, number>, text: string): void {
  let key: string | null;
  try {
    const line = JSON.parse(text) as { level?: number | string; msg?: string };
    const level = typeof line.level === 'number' ? line.level : (LEVEL_NUMBERS[line.level ?? ''] ?? 0);
    key = level >= 40 ? (line.msg ?? '?') : null;
  } catch {
    key = '(unparsed stdout line)';
  }
  if (key !== null) problems.set(key, (problems.get(key) ?? 0) + 1);
}

/** Bearer-token API calls with a 30 s timeout; JSON bodies parsed, anything else as text. */
export function apiClient(base: string, token: string): Service['api'] {
  return async <T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${token}`);
    const response = await fetch(base + path, { ...init, headers, signal: AbortSignal.timeout(30_000) });
    const type = response.headers.get('content-type') ?? '';
    const body = (type.includes('json') ? await response.json() : await response.text()) as T;
    return { status: response.status, body };
  };
}

/** The engine: the whisper-server child of the service's main process. */
export function engineChildOf(pid: number): number | undefined {
  return childPids(pid).find((p) => processName(p).startsWith('whisper-server'));
}

/** Waits until the API answers with capture running and whisper-server started; stops the service and throws otherwise. */
export async function waitUntilUp(service: Service, timeoutMs: number, logPath: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (service.exitInfo() !== null) throw new Error(`the service exited while starting (see ${logPath})`);
    try {
      const state = await service.api<{ audio: { state: string } }>('/api/state');
      if (state.status === 200 && state.body.audio.state === 'running' && service.enginePid() !== undefined) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await service.stop();
      throw new Error(`the service was not up with capture running and whisper-server started within ${timeoutMs / 1000} s (see ${logPath})`);
    }
    await sleep(250);
  }
}

/**
 * The service as a direct child of the soak, started the way the unit starts it (flags,
 * environment, working directory), with SCOUT_CONFIG instead of /etc/scout/scout.json. For a
 * machine that cannot boot systemd in a namespace (no root): nothing restarts it, and nothing
 * applies the unit's sandbox, memory limit or watchdog.
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const unitText = readFileSync(options.unitPath, 'utf8');
  const flags = unitNodeFlags(unitText);
  const modelsDir = join(options.dataDir, 'models');
  await mkdir(modelsDir, { recursive: true });
  // The q8_0 model under the normal tier's default name, as install-pi.sh installs it.
  const normalModel = validateConfig({ dataDir: options.dataDir }).transcription.normalModel;
  await symlink(options.modelPath, join(modelsDir, normalModel));
  const port = await freePort();
  const config = soakConfig(port, options.engineNiceness, options.dataDir);
  const configPath = join(options.dataDir, 'scout.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const token = randomBytes(24).toString('base64url');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    ...unitEnvironment(unitText),
    ...options.micEnv,
    SCOUT_CONFIG: configPath,
    SCOUT_API_TOKEN: token,
  };
  delete env['NOTIFY_SOCKET'];
  delete env['ALSA_CONFIG_PATH'];
  // WorkingDirectory=/opt/scout: the project root two levels above dist/src/main.js.
  const cwd = parentOf(parentOf(dirname(options.mainJs)));
  const child = spawn(process.execPath, [...flags, options.mainJs], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: WriteStream = createWriteStream(options.logPath);
  const problems = new Map<string, number>();
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  child.on('exit', (code, signal) => (exitInfo = { code, signal }));
  createInterface({ input: child.stdout }).on('line', (text) => {
    log.write(text + '\n');
    countProblem(problems, text);
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => log.write(`[stderr] ${text}`));
  const base = `http://127.0.0.1:${port}`;
  const pid = child.pid ?? 0;
  const service: Service = {
    // No MemoryMax cgroup: node sizes V8's heap for the machine's RAM (a 4 GB limit on a 24 GB box
    // against 262 MB under MemoryMax=215M, measured), grows it more freely, and the RSS trend is
    // not the one the Pi's unit gives.
    how: `node ${flags.join(' ')} ${basename(parentOf(parentOf(dirname(options.mainJs))))}/dist/src/main.js, NODE_ENV=production, direct child (not under systemd: no restarts, sandbox, watchdog or MemoryMax, so V8 sizes its heap for this machine's RAM and the RSS trend is not the unit's)`,
    pid,
    base,
    token,
    flags,
    config,
    problems,
    exitInfo: () => exitInfo,
    restarts: () => Promise.resolve(0),
    api: apiClient(base, token),
    enginePid: () => engineChildOf(pid),
    realpath: (path) => Promise.resolve(realpathSync(path)),
    hostPath: (path) => path,
    cgroupMemory: () => null,
    stop: async () => {
      if (exitInfo === null) child.kill('SIGTERM');
      const deadline = Date.now() + 20_000;
      while (exitInfo === null && Date.now() < deadline) await sleep(100);
      if (exitInfo === null) child.kill('SIGKILL');
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
  await waitUntilUp(service, 90_000, options.logPath);
  return service;
}

/** The argument after `-m`/`--model` in a process's command line. */
export function modelArgument(cmdline: readonly string[]): string | undefined {
  const at = cmdline.findIndex((a) => a === '-m' || a === '--model');
  return at >= 0 ? cmdline[at + 1] : undefined;
}

const GGML_TYPE_NAMES: Readonly<Record<number, string>> = { 0: 'f32', 1: 'f16', 2: 'q4_0', 3: 'q4_1', 6: 'q5_0', 7: 'q5_1', 8: 'q8_0' };

/**
 * The model the engine actually loaded: the state's path, the running whisper-server's -m file and
 * that file's tensor types (q8_0 = the 2-D weights are ggml type 8).
 */
export async function loadedModel(service: Service, enginePid: number): Promise<LoadedModel> {
  const state = await service.api<{ transcription: { model: { path: string; placeholder: boolean } } | null }>('/api/state');
  const model = state.body.transcription?.model;
  let cmdline: string[] = [];
  try {
    cmdline = readFileSync(`/proc/${enginePid}/cmdline`, 'utf8').split('\0');
  } catch {
    // gone: engineFile stays empty, which fails the check
  }
  const argument = modelArgument(cmdline);
  const engineFile = argument === undefined ? '' : await service.realpath(argument);
  const info = engineFile === '' ? null : await readGgmlModelInfo(service.hostPath(engineFile), 0);
  const tensorTypes: Record<string, number> = {};
  for (const tensor of info?.tensors ?? []) {
    const name = GGML_TYPE_NAMES[tensor.type] ?? `type${tensor.type}`;
    tensorTypes[name] = (tensorTypes[name] ?? 0) + 1;
  }
  // whisper.cpp keeps 1-D tensors (biases, norms) and the conv layers in f32/f16; every quantized one must be q8_0.
  const quantized = Object.keys(tensorTypes).filter((t) => t !== 'f32' && t !== 'f16');
  const isQ8 = model?.placeholder === false && quantized.length === 1 && quantized[0] === 'q8_0' && (await service.realpath(model.path)) === engineFile;
  return { statePath: model?.path ?? '(transcription off)', placeholder: model?.placeholder ?? true, engineFile, tensorTypes, ftype: info?.hparams.ftype ?? -1, isQ8 };
}
