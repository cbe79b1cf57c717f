/**
 * The service under soak, started the way systemd/scout.service starts it: compiled JS, the unit's
 * ExecStart flags (`node --max-semi-space-size=2 dist/src/main.js`), NODE_ENV=production, the
 * working directory the unit gives, and a config file shaped like the one install-pi.sh writes
 * (SCOUT_CONFIG instead of /etc/scout/scout.json). Not inside systemd: a direct child of the soak,
 * so it is never restarted behind the soak's back (a crash is seen, not healed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync, realpathSync, type WriteStream } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, dirname as parentOf, join } from 'node:path';
import { createInterface } from 'node:readline';
import { validateConfig } from '../../src/config.js';
import { readGgmlModelInfo } from '../../src/transcribe/model-file.js';
import { sleep } from '../../src/util/sleep.js';
import { childPids, processName } from '../lib/proc.js';

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
  readonly child: ChildProcess;
  readonly pid: number;
  readonly base: string;
  readonly token: string;
  readonly flags: readonly string[];
  readonly config: Record<string, unknown>;
  /** Log lines at warn and above, by message. */
  readonly problems: Map<string, number>;
  exitInfo(): { code: number | null; signal: NodeJS.Signals | null } | null;
  api<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  enginePid(): number | undefined;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
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

export async function startService(options: ServiceOptions): Promise<Service> {
  const unitText = readFileSync(options.unitPath, 'utf8');
  const flags = unitNodeFlags(unitText);
  const modelsDir = join(options.dataDir, 'models');
  await mkdir(modelsDir, { recursive: true });
  // The q8_0 model under the normal tier's default name, as install-pi.sh installs it.
  const normalModel = validateConfig({ dataDir: options.dataDir }).transcription.normalModel;
  await symlink(options.modelPath, join(modelsDir, normalModel));
  const port = await freePort();
  const config = {
    dataDir: options.dataDir,
    audio: { backend: 'alsa', device: 'pulse', sampleRateHz: 48000, channels: 1 },
    // The button is pressed over HTTP (the simulator's fake GPIO): there is no gpio-keys device here.
    gpio: { backend: 'fake' },
    http: { host: '127.0.0.1', port },
    transcription: { niceness: options.engineNiceness },
  };
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
    try {
      const line = JSON.parse(text) as { level?: number; msg?: string };
      if ((line.level ?? 0) >= 40) problems.set(line.msg ?? '?', (problems.get(line.msg ?? '?') ?? 0) + 1);
    } catch {
      problems.set('(unparsed stdout line)', (problems.get('(unparsed stdout line)') ?? 0) + 1);
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => log.write(`[stderr] ${text}`));
  const base = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${token}`);
    const response = await fetch(base + path, { ...init, headers, signal: AbortSignal.timeout(30_000) });
    const type = response.headers.get('content-type') ?? '';
    const body = (type.includes('json') ? await response.json() : await response.text()) as T;
    return { status: response.status, body };
  };
  const pid = child.pid ?? 0;
  const service: Service = {
    child,
    pid,
    base,
    token,
    flags,
    config,
    problems,
    exitInfo: () => exitInfo,
    api,
    enginePid: () => childPids(pid).find((p) => processName(p).startsWith('whisper-server')),
    stop: async () => {
      if (exitInfo === null) child.kill('SIGTERM');
      const deadline = Date.now() + 20_000;
      while (exitInfo === null && Date.now() < deadline) await sleep(100);
      if (exitInfo === null) child.kill('SIGKILL');
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exitInfo !== null) throw new Error(`the service exited while starting (see ${options.logPath})`);
    try {
      const state = await api<{ audio: { state: string } }>('/api/state');
      if (state.status === 200 && state.body.audio.state === 'running' && service.enginePid() !== undefined) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await service.stop();
      throw new Error(`the service was not up with capture running and whisper-server started within 90 s (see ${options.logPath})`);
    }
    await sleep(250);
  }
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
  const engineFile = argument === undefined ? '' : realpathSync(argument);
  const info = engineFile === '' ? null : await readGgmlModelInfo(engineFile, 0);
  const tensorTypes: Record<string, number> = {};
  for (const tensor of info?.tensors ?? []) {
    const name = GGML_TYPE_NAMES[tensor.type] ?? `type${tensor.type}`;
    tensorTypes[name] = (tensorTypes[name] ?? 0) + 1;
  }
  // whisper.cpp keeps 1-D tensors (biases, norms) and the conv layers in f32/f16; every quantized one must be q8_0.
  const quantized = Object.keys(tensorTypes).filter((t) => t !== 'f32' && t !== 'f16');
  const isQ8 = model?.placeholder === false && quantized.length === 1 && quantized[0] === 'q8_0' && realpathSync(model.path) === engineFile;
  return { statePath: model?.path ?? '(transcription off)', placeholder: model?.placeholder ?? true, engineFile, tensorTypes, ftype: info?.hparams.ftype ?? -1, isQ8 };
}
