/**
 * The service under soak as the Pi runs it: the project's own unit (systemd/scout.service, every
 * line of it: User=scout, the sandbox, MemoryMax=215M, WatchdogSec=30, Restart=always) in a real
 * systemd as PID 1 (test/helpers/systemd-ns.ts), with a drop-in that changes only what must
 * differ here: the compiled JS's path (the soak's own build), the API token, the PulseAudio
 * socket of the fake mic, and stdout to a file the soak reads (journald keeps nothing in the
 * namespace). The config is /etc/scout/scout.json, data in /var/lib/scout, as install-pi.sh does.
 *
 * systemd restarts a crashed or stalled service; the soak must see that, not be healed by it:
 * `exitInfo()` turns non-null as soon as the main pid it started with is gone, and `restarts()`
 * is the unit's NRestarts.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants } from 'node:os';
import { join, relative } from 'node:path';
import { validateConfig } from '../../src/config.js';
import { projectDir, projectDirInside, SystemdNamespace } from '../../test/helpers/systemd-ns.js';
import { cgroupMemoryOf } from './cgroup.js';
import { apiClient, countProblem, engineChildOf, freePort, soakConfig, unitNodeFlags, waitUntilUp, type Service } from './service.js';

/**
 * The project's unit file under a name of its own: the namespaces share this machine's cgroup
 * tree, so a test booting its own systemd beside the soak and starting `scout.service` would put
 * its processes in the soak's cgroup (/system.slice/scout.service): one MemoryMax for both, and
 * its stop killing the soak's service. Seen once: the soak's service OOM-killed at 215 MB.
 */
const unit = `scout-soak-${process.pid}.service`;
/** Where the fake mic's runtime directory and the soak's work directory appear inside. */
const pulseInside = '/run/scout-soak-pulse';
const workInside = '/run/scout-soak-work';

export interface SystemdServiceOptions {
  /** The soak's build, under the project (it is bound read-only at /opt/scout inside). */
  readonly mainJs: string;
  readonly unitPath: string;
  /** The q8_0 model, under the project too. */
  readonly modelPath: string;
  /** The fake mic daemon's runtime directory (socket at pulse/native), started with openToAll. */
  readonly pulseDir: string;
  /** The soak's work directory: the service's stdout goes to service.log in it. */
  readonly workDir: string;
  readonly engineNiceness: number;
  readonly log: (line: string) => void;
}

/**
 * The unit's ExecStart with the soak's build in place of /opt/scout/dist/src/main.js; every flag
 * stays as the unit has it.
 */
export function execStartFor(unitText: string, mainJsInside: string): string {
  const line = unitText.split('\n').find((l) => /^ExecStart=\S/.test(l));
  if (!line) throw new Error('the unit has no ExecStart=');
  const shipped = `${projectDirInside}/dist/src/main.js`;
  if (!line.includes(shipped)) throw new Error(`the unit's ExecStart does not run ${shipped}: ${line}`);
  return line.replace(shipped, mainJsInside);
}

function insideProject(hostPath: string): string {
  const rel = relative(projectDir, hostPath);
  if (rel.startsWith('..')) throw new Error(`${hostPath} is outside the project, so the namespace cannot see it (unset SCOUT_CACHE_DIR, or run the soak with --direct)`);
  return `${projectDirInside}/${rel}`;
}

export async function startSystemdService(options: SystemdServiceOptions): Promise<Service> {
  const unitText = readFileSync(options.unitPath, 'utf8');
  const mainJsInside = insideProject(options.mainJs);
  const modelInside = insideProject(options.modelPath);
  const logPath = join(options.workDir, 'service.log');
  const ns = await SystemdNamespace.boot({
    log: options.log,
    binds: [
      { host: options.pulseDir, inside: pulseInside },
      { host: options.workDir, inside: workInside },
    ],
  });
  try {
    options.log(`soak: systemd booted in a namespace in ${(ns.bootMs / 1000).toFixed(1)} s`);
    const port = await freePort();
    const config = soakConfig(port, options.engineNiceness);
    await ns.writeFileInside('/etc/scout/scout.json', JSON.stringify(config, null, 2));
    // The q8_0 model under the normal tier's default name, as install-pi.sh installs it.
    const normalModel = validateConfig({}).transcription.normalModel;
    const linked = await ns.exec(['sh', '-c', `mkdir -p /var/lib/scout/models && ln -sfn '${modelInside}' '/var/lib/scout/models/${normalModel}' && chown -R scout: /var/lib/scout`]);
    if (linked.code !== 0) throw new Error(`could not install the model in the namespace: ${linked.stderr}`);
    const token = randomBytes(24).toString('base64url');
    const execStart = execStartFor(unitText, mainJsInside);
    await ns.installUnit(
      options.unitPath,
      [
        '[Service]',
        'ExecStart=',
        execStart,
        `Environment=SCOUT_API_TOKEN=${token}`,
        `Environment=PULSE_SERVER=unix:${pulseInside}/pulse/native`,
        `StandardOutput=append:${workInside}/service.log`,
        'StandardError=inherit',
        '',
      ].join('\n'),
      unit,
    );
    // Blocks until READY=1 (Type=notify), or fails after TimeoutStartSec=90.
    const started = await ns.systemctl(['start', unit], { allowFailure: true });
    if (started.code !== 0) throw new Error(`systemctl start ${unit} failed: ${started.stderr.trim()} (see ${logPath})`);
    const pid = await ns.hostMainPid(unit);
    if (pid === null) throw new Error(`${unit} is active but has no main process (see ${logPath})`);
    const base = `http://127.0.0.1:${port}`;
    const problems = new Map<string, number>();
    const logReader = new LogReader(logPath, (line) => countProblem(problems, line));
    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    const gone = (): boolean => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    const readLog = setInterval(() => void logReader.read(), 1000);
    // How the main process ended, once it has (a crash, the watchdog, the OOM killer): systemd knows.
    const watchExit = setInterval(() => {
      if (!gone()) return;
      clearInterval(watchExit);
      void ns.show(unit, ['ExecMainCode', 'ExecMainStatus', 'Result']).then(
        (s) => {
          // ExecMainCode: 1 exited (status = exit code), 2 killed / 3 dumped (status = signal number).
          const status = Number(s.ExecMainStatus);
          exitInfo = s.ExecMainCode === '1' ? { code: status, signal: null } : { code: null, signal: signalName(status) };
          options.log(`soak: systemd saw the service's main process end: Result=${s.Result}, ${s.ExecMainCode === '1' ? `exit ${status}` : `signal ${status}`}`);
        },
        () => undefined,
      );
    }, 500);
    const service: Service = {
      how: `systemd/scout.service (as ${unit}) in systemd ${await systemdVersion(ns)} as PID 1 (namespace): ${execStart.slice('ExecStart='.length)}, User=scout, the unit's sandbox, MemoryMax and WatchdogSec`,
      pid,
      base,
      token,
      flags: unitNodeFlags(unitText),
      config,
      problems,
      exitInfo: () => {
        if (exitInfo === null && gone()) exitInfo = { code: null, signal: null };
        return exitInfo;
      },
      restarts: async () => Number((await ns.show(unit, ['NRestarts'])).NRestarts ?? 'NaN'),
      api: apiClient(base, token),
      enginePid: () => engineChildOf(pid),
      realpath: async (path) => {
        const result = await ns.exec(['realpath', '-e', path]);
        if (result.code !== 0) throw new Error(`realpath ${path} in the namespace: ${result.stderr.trim()}`);
        return result.stdout.trim();
      },
      hostPath: (path) => join(ns.hostViewOfRoot, path),
      cgroupMemory: () => cgroupMemoryOf(pid),
      stop: async () => {
        clearInterval(readLog);
        clearInterval(watchExit);
        if (!gone()) await ns.systemctl(['stop', unit], { allowFailure: true });
        const state = await ns.show(unit, ['Result', 'ExecMainStatus', 'NRestarts']).catch(() => null);
        if (state) options.log(`soak: ${unit} stopped: Result=${state.Result}, main process exit status ${state.ExecMainStatus}, NRestarts=${state.NRestarts}`);
        await logReader.read();
        await ns.shutdown();
      },
    };
    await waitUntilUp(service, 90_000, logPath);
    return service;
  } catch (error) {
    await ns.shutdown();
    throw error;
  }
}

async function systemdVersion(ns: SystemdNamespace): Promise<string> {
  const out = (await ns.exec(['systemctl', '--version'])).stdout;
  return /^systemd (\d+)/.exec(out)?.[1] ?? '?';
}

function signalName(signo: number): NodeJS.Signals | null {
  const entry = Object.entries(constants.signals).find(([, n]) => n === signo);
  return entry ? (entry[0] as NodeJS.Signals) : null;
}

/** Reads the lines appended to a file since the last read (the unit's StandardOutput=append:). */
class LogReader {
  private offset = 0;
  private partial = '';
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly onLine: (line: string) => void,
  ) {}

  read(): Promise<void> {
    this.reading = this.reading.then(() => this.readMore()).catch(() => undefined);
    return this.reading;
  }

  private async readMore(): Promise<void> {
    const handle = await open(this.path, 'r').catch(() => null);
    if (handle === null) return;
    try {
      const { size } = await handle.stat();
      if (size <= this.offset) return;
      const chunk = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, this.offset);
      this.offset += bytesRead;
      const lines = (this.partial + chunk.subarray(0, bytesRead).toString('utf8')).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) if (line !== '') this.onLine(line);
    } finally {
      await handle.close();
    }
  }
}

