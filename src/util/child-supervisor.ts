/**
 * One long-lived child process, supervised: spawned (optionally at another nice value and tied to
 * our life), its stderr split into lines, killed politely then for sure, and restarted with
 * backoff whenever it ends without being asked to. `arecord` and `whisper-server` both run
 * under it; what is particular to each (stdout, stderr meaning, readiness) is passed in.
 *
 * Every unplanned end goes through the backoff: an exit, a spawn failure, a readiness probe that
 * never succeeded, and a kill the owner asked for because the child misbehaved (`fail()`). Only
 * `restartNow()` (the owner wants a fresh child: new settings, an aborted request) and
 * `retryAtOnce` (a port race) respawn immediately. `lastError` is always the latest reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Logger } from '../log.js';
import { Backoff } from './backoff.js';
import { RateLimitedLog, type LogLevel } from './rate-limited-log.js';
import { sleep } from './sleep.js';

/** What to run; built afresh for every spawn, so arguments may change between runs (a port, a thread count). */
export interface ChildCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** Default: this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * `relative`: our own nice value plus this, capped at 19 (a background worker).
 * `absolute`: exactly this (a negative value needs CAP_SYS_NICE).
 */
export type NiceSetting = { readonly relative: number } | { readonly absolute: number };

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Why a run ended. */
export type ChildEnd =
  | ({ readonly kind: 'exit' } & ChildExit)
  | { readonly kind: 'spawn-error'; readonly message: string }
  | { readonly kind: 'not-ready'; readonly timeoutMs: number }
  /** The owner killed it through fail(): a stall, for instance. */
  | { readonly kind: 'failed'; readonly reason: string }
  /** restartNow() or stop(): not a fault. */
  | { readonly kind: 'planned'; readonly reason: string };

export type SupervisorEvent =
  | { readonly kind: 'spawned'; readonly pid: number }
  | { readonly kind: 'ready'; readonly pid: number; readonly readyMs: number }
  | {
      readonly kind: 'ended';
      readonly end: ChildEnd;
      /** How the process went; null when none was started. */
      readonly exit: ChildExit | null;
      /** From spawn to exit. */
      readonly ranMs: number;
      /** null: supervision has stopped, nothing follows. */
      readonly restart: { readonly atOnce: boolean; readonly delayMs: number } | null;
    };

export interface ChildSupervisorOptions {
  /** Names the child in log lines and messages: `arecord`, `whisper-server`. */
  readonly name: string;
  readonly logger: Logger;
  /** Called before each spawn; a throw counts as a failed spawn (message = lastError) and is retried with backoff. */
  readonly prepare: () => ChildCommand | Promise<ChildCommand>;
  readonly restart: {
    readonly initialMs: number;
    readonly maxMs: number;
    /** A run this long after becoming ready resets the backoff. Default 10 s. */
    readonly healthyAfterMs?: number;
    readonly jitter?: number;
    /** Injected for tests; default Math.random. */
    readonly random?: () => number;
  };
  /** SIGTERM, then SIGKILL after this long (a SIGSTOPped child ignores SIGTERM). */
  readonly graceMs: number;
  readonly nice?: NiceSetting;
  /** Kill the child when we die, even by SIGKILL or the OOM killer. Default true. */
  readonly dieWithParent?: boolean;
  /** Default /usr/bin/setpriv when present; null: no parent-death signal. Injected for tests. */
  readonly setprivPath?: string | null;
  /** The child counts as ready once `probe` resolves true; not ready within `timeoutMs`: killed and retried with backoff. */
  readonly ready?: {
    readonly timeoutMs: number;
    /** Default 50 ms. */
    readonly pollMs?: number;
    /** Must honour the signal: it aborts at the deadline and on exit. A throw counts as "not yet". */
    readonly probe: (signal: AbortSignal) => Promise<boolean>;
  };
  /** Without it, stdout goes to /dev/null. Only called for a run that is not being killed. */
  readonly onStdout?: (chunk: Buffer) => void;
  /** Each non-empty stderr line, trimmed and cut to 500 characters. */
  readonly onStderrLine?: (line: string) => void;
  /** stderr lines kept for messages. Default 20. */
  readonly stderrTailLines?: number;
  /** stderr logging; lines differing only in numbers count as one. Default warn, once per 30 s per line. */
  readonly stderrLog?: { readonly level: LogLevel; readonly intervalMs: number };
  /** lastError for an exit with an error. Default: "<name> exited with code N: <last stderr line>". */
  readonly describeExit?: (exit: ChildExit, stderrTail: readonly string[]) => string;
  /** lastError when the command cannot be run at all. Default: "cannot run <command>: <error>". */
  readonly describeSpawnError?: (command: string, error: NodeJS.ErrnoException) => string;
  /** An exit this returns true for is retried at once (at most 5 in a row): a lost port race, say. */
  readonly retryAtOnce?: (exit: ChildExit, stderrTail: readonly string[]) => boolean;
  /** Must not throw (a throw is logged and ignored). */
  readonly onEvent?: (event: SupervisorEvent) => void;
  /** ms clock; injected for tests. Default performance.now. */
  readonly now?: () => number;
}

/** What the owner may see of the current run. */
export interface RunView {
  readonly pid: number | null;
  readonly ready: boolean;
  /** A kill is under way (stop, restartNow, fail, not ready). */
  readonly ending: boolean;
  /** The process is gone; its pipes may still be draining. */
  readonly exited: boolean;
  /** Resolves once the child has exited and its pipes are closed (or it never started). */
  readonly closed: Promise<void>;
}

const DEFAULT_SETPRIV = existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : null;
/** A flood of garbage must not grow a line without bound. */
const STDERR_MAX_LINE_CHARS = 500;
const MAX_AT_ONCE_RETRIES = 5;
/** After 'exit', pipes held open by a grandchild must not keep the run alive forever. */
const PIPE_CLOSE_GRACE_MS = 1000;

type Ending = Extract<ChildEnd, { kind: 'not-ready' | 'failed' | 'planned' }>;

interface Run {
  readonly child: ChildProcess;
  readonly spawnedAtMs: number;
  readonly closed: Promise<void>;
  readonly resolveClosed: () => void;
  /** Aborted when the run ends: stops the readiness probe. */
  readonly probeAbort: AbortController;
  readyAtMs: number | null;
  ending: Ending | null;
  finished: boolean;
  timers: NodeJS.Timeout[];
}

export class ChildSupervisor {
  private readonly backoff: Backoff;
  private readonly stderrLog: RateLimitedLog;
  private readonly stderrTail: string[] = [];
  private stderrPartial = '';
  private active = false;
  private run: Run | null = null;
  /** A launch in progress (prepare() may await); stop() waits for it. */
  private launching: Promise<void> | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private atOnceRetries = 0;
  private lastErrorValue: string | null = null;
  private niceFailureLogged = false;
  private readonly now: () => number;

  constructor(private readonly options: ChildSupervisorOptions) {
    this.now = options.now ?? (() => performance.now());
    this.backoff = new Backoff({
      initialMs: options.restart.initialMs,
      maxMs: options.restart.maxMs,
      healthyAfterMs: options.restart.healthyAfterMs ?? 10_000,
      ...(options.restart.jitter === undefined ? {} : { jitter: options.restart.jitter }),
      ...(options.restart.random === undefined ? {} : { random: options.restart.random }),
    });
    this.stderrLog = new RateLimitedLog({ logger: options.logger, intervalMs: options.stderrLog?.intervalMs ?? 30_000 });
  }

  /** Spawn attempts after the first, ever (crashes, retries, planned restarts). */
  get restarts(): number {
    return Math.max(0, this.attempts - 1);
  }

  get lastError(): string | null {
    return this.lastErrorValue;
  }

  get pid(): number | null {
    return this.run?.child.pid ?? null;
  }

  currentRun(): RunView | null {
    const run = this.run;
    if (run === null) return null;
    const { child } = run;
    return {
      pid: child.pid ?? null,
      ready: run.readyAtMs !== null,
      ending: run.ending !== null,
      exited: child.exitCode !== null || child.signalCode !== null,
      closed: run.closed,
    };
  }

  /** Resolves once the first child is spawned or has failed to (then it is retried); never rejects for child faults. */
  async start(): Promise<void> {
    if (this.active) return;
    // A start() right after stop() waits for the old child, so two never run at once.
    await this.settled();
    if (this.active || this.run !== null) return;
    this.active = true;
    this.backoff.reset();
    this.atOnceRetries = 0;
    await this.launch();
  }

  /** Kills the child (SIGTERM, SIGKILL after graceMs) and waits for it; cancels a pending restart. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.active) {
      this.active = false;
      if (this.restartTimer !== null) clearTimeout(this.restartTimer);
      this.restartTimer = null;
      if (this.run !== null) this.end(this.run, { kind: 'planned', reason: 'stop' }, 'SIGTERM');
    }
    await this.settled();
    this.stderrLog.flush();
  }

  /** Kills the current child and respawns at once, without backoff; resolves when the old one has gone. */
  async restartNow(reason: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const run = this.run;
    if (!this.active || run === null) return;
    this.end(run, { kind: 'planned', reason }, signal);
    await run.closed;
  }

  /**
   * The owner judged the child broken (a stall, a request it never answered, a model load that got
   * no answer): lastError = reason, kill it, restart through the backoff. Resolves when it has gone.
   */
  async fail(reason: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const run = this.run;
    if (!this.active || run === null) return;
    this.end(run, { kind: 'failed', reason }, signal);
    await run.closed;
  }

  /** Waits until no launch is in progress and no child is left. */
  private async settled(): Promise<void> {
    while (this.launching !== null || this.run !== null) {
      if (this.launching !== null) await this.launching;
      const run = this.run;
      if (run !== null) {
        // Nothing will end a child we are not stopping; only wait when supervision is off.
        if (this.active) return;
        this.end(run, { kind: 'planned', reason: 'stop' }, 'SIGTERM');
        await run.closed;
      }
    }
  }

  private launch(): Promise<void> {
    const launching: Promise<void> = this.spawnNext().finally(() => {
      if (this.launching === launching) this.launching = null;
    });
    this.launching = launching;
    return launching;
  }

  private async spawnNext(): Promise<void> {
    if (!this.active) return;
    this.attempts += 1;
    // lastError quotes this run's stderr, not an earlier run's.
    this.stderrTail.length = 0;
    this.stderrPartial = '';
    let command: ChildCommand;
    try {
      command = await this.options.prepare();
    } catch (error) {
      this.finish(null, { kind: 'spawn-error', message: errorMessage(error) }, 0);
      return;
    }
    if (!this.active) return;
    const env = command.env ?? process.env;
    const setpriv = this.options.dieWithParent === false ? null : this.options.setprivPath === undefined ? DEFAULT_SETPRIV : this.options.setprivPath;
    if (setpriv !== null && !isExecutable(command.command, env)) {
      // Behind setpriv a missing program is an exit code, not ENOENT: keep the clear message.
      const enoent: NodeJS.ErrnoException = Object.assign(new Error(`spawn ${command.command} ENOENT`), { code: 'ENOENT', path: command.command });
      this.finish(null, { kind: 'spawn-error', message: this.describeSpawnError(command.command, enoent) }, 0);
      return;
    }
    // setpriv (util-linux) execs the program with PR_SET_PDEATHSIG: if we are killed (SIGKILL,
    // OOM), the kernel kills the child too instead of leaving it holding the mic or ~100 MB.
    const [file, argv] = setpriv === null
      ? [command.command, [...command.args]]
      : [setpriv, ['--pdeathsig', 'KILL', '--', command.command, ...command.args]];
    let child: ChildProcess;
    try {
      child = spawn(file, argv, { env, stdio: ['ignore', this.options.onStdout ? 'pipe' : 'ignore', 'pipe'] });
    } catch (error) {
      // spawn() throws synchronously for some invalid arguments (EINVAL, bad env); same handling as ENOENT.
      this.finish(null, { kind: 'spawn-error', message: this.describeSpawnError(command.command, error as NodeJS.ErrnoException) }, 0);
      return;
    }
    let resolveClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      resolveClosed = resolve;
    });
    const run: Run = {
      child,
      spawnedAtMs: this.now(),
      closed,
      resolveClosed,
      probeAbort: new AbortController(),
      readyAtMs: null,
      ending: null,
      finished: false,
      timers: [],
    };
    this.run = run;
    this.attach(run, command.command);
    await new Promise<void>((resolve) => {
      child.once('spawn', () => {
        this.onSpawned(run);
        resolve();
      });
      child.once('error', () => resolve());
    });
  }

  private attach(run: Run, command: string): void {
    const { child } = run;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.run !== run || run.ending !== null) return;
      try {
        this.options.onStdout?.(chunk);
      } catch (error) {
        // Thrown from a stream 'data' handler it would be an uncaught exception.
        this.options.logger.error({ err: error, child: this.options.name }, 'stdout handler threw');
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      if (this.run === run) this.onStderr(text);
    });
    // Pipe errors (EPIPE, EIO) end the run through 'close'; they must not become uncaught.
    child.stdout?.on('error', (error) => this.options.logger.debug({ err: error, child: this.options.name }, 'child stdout error'));
    child.stderr?.on('error', (error) => this.options.logger.debug({ err: error, child: this.options.name }, 'child stderr error'));
    // on, not once: a second 'error' without a listener would be thrown into the event loop.
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) {
        this.finish(run, { kind: 'spawn-error', message: this.describeSpawnError(command, error) }, 0);
      } else {
        // A kill() that failed, for instance: the process is still ours and 'close' will follow.
        this.options.logger.warn({ err: error, child: this.options.name }, 'child process error');
      }
    });
    child.once('exit', () => {
      run.timers.push(
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, PIPE_CLOSE_GRACE_MS),
      );
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.run === run && this.stderrPartial !== '') this.onStderrLine(this.stderrPartial);
      this.stderrPartial = '';
      const ranMs = this.now() - run.spawnedAtMs;
      this.finish(run, run.ending ?? { kind: 'exit', code, signal }, ranMs, { code, signal });
    });
  }

  private onSpawned(run: Run): void {
    const pid = run.child.pid;
    if (pid === undefined) return;
    // Asked to go before it had even started.
    if (run.ending !== null) {
      this.kill(run, 'SIGTERM');
      return;
    }
    // Before the child creates its threads, which inherit the nice value.
    this.applyNice(pid);
    this.emit({ kind: 'spawned', pid });
    const ready = this.options.ready;
    if (ready === undefined) {
      this.markReady(run);
      return;
    }
    run.timers.push(
      setTimeout(() => {
        if (run.readyAtMs === null && run.ending === null && !run.finished) {
          this.end(run, { kind: 'not-ready', timeoutMs: ready.timeoutMs }, 'SIGKILL');
        }
      }, ready.timeoutMs),
    );
    this.probeUntilReady(run, ready).catch((error: unknown) => {
      this.options.logger.error({ err: error, child: this.options.name }, 'readiness probe failed unexpectedly');
    });
  }

  private async probeUntilReady(run: Run, ready: NonNullable<ChildSupervisorOptions['ready']>): Promise<void> {
    const signal = run.probeAbort.signal;
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await ready.probe(signal);
      } catch {
        // refused while the child loads: whisper-server binds only after its model is in memory
      }
      if (signal.aborted || run.ending !== null) return;
      if (ok) {
        this.markReady(run);
        return;
      }
      await sleep(ready.pollMs ?? 50, signal);
    }
  }

  private markReady(run: Run): void {
    run.readyAtMs = this.now();
    this.atOnceRetries = 0;
    this.emit({ kind: 'ready', pid: run.child.pid ?? 0, readyMs: run.readyAtMs - run.spawnedAtMs });
  }

  /** Starts killing a run for a reason; the first reason sticks. */
  private end(run: Run, ending: Ending, signal: NodeJS.Signals): void {
    if (run.finished) return;
    // stop() overrides a fault kill in flight: nothing must restart after it.
    if (run.ending === null || (ending.kind === 'planned' && ending.reason === 'stop')) run.ending = ending;
    if (ending.kind === 'failed') this.lastErrorValue = ending.reason;
    if (ending.kind === 'not-ready') this.lastErrorValue = `${this.options.name} not ready after ${ending.timeoutMs} ms`;
    run.probeAbort.abort();
    this.kill(run, signal);
  }

  private kill(run: Run, signal: NodeJS.Signals): void {
    const { child } = run;
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    if (signal !== 'SIGKILL') {
      run.timers.push(
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }, this.options.graceMs),
      );
    }
  }

  /** A run is over (or never started): record why, then restart as the reason demands. */
  private finish(run: Run | null, end: ChildEnd, ranMs: number, processExit: ChildExit | null = null): void {
    if (run !== null) {
      if (run.finished) return;
      run.finished = true;
      for (const timer of run.timers) clearTimeout(timer);
      run.probeAbort.abort();
      if (this.run === run) this.run = null;
      run.resolveClosed();
    }
    const exit: ChildExit | null = end.kind === 'exit' ? end : null;
    if (end.kind === 'spawn-error') this.lastErrorValue = end.message;
    // A clean exit (a duration bound reached) is not an error.
    if (exit !== null && !(exit.code === 0 && exit.signal === null)) this.lastErrorValue = this.describeExit(exit);

    if (!this.active || (end.kind === 'planned' && end.reason === 'stop')) {
      this.emit({ kind: 'ended', end, exit: processExit, ranMs, restart: null });
      return;
    }
    if (end.kind === 'planned') {
      this.options.logger.info({ reason: end.reason, ranMs: Math.round(ranMs), child: this.options.name }, `${this.options.name} restarting on request`);
      this.emit({ kind: 'ended', end, exit: processExit, ranMs, restart: { atOnce: true, delayMs: 0 } });
      this.scheduleLaunch(0);
      return;
    }
    if (exit !== null && this.atOnceRetries < MAX_AT_ONCE_RETRIES && this.options.retryAtOnce?.(exit, this.stderrTail) === true) {
      this.atOnceRetries += 1;
      this.emit({ kind: 'ended', end, exit: processExit, ranMs, restart: { atOnce: true, delayMs: 0 } });
      this.scheduleLaunch(0);
      return;
    }
    this.atOnceRetries = 0;
    // Healthy means it served for a while, not that it took long to fail a readiness probe.
    const readyAtMs = run?.readyAtMs ?? null;
    this.backoff.ranFor(readyAtMs === null ? 0 : this.now() - readyAtMs);
    const delayMs = this.backoff.next();
    const clean = exit !== null && exit.code === 0 && exit.signal === null;
    this.options.logger[clean ? 'info' : 'warn'](
      { reason: reasonOf(end), ranMs: Math.round(ranMs), delayMs, restarts: this.restarts, lastError: this.lastErrorValue },
      `${this.options.name} ended; restarting`,
    );
    this.emit({ kind: 'ended', end, exit: processExit, ranMs, restart: { atOnce: false, delayMs } });
    this.scheduleLaunch(delayMs);
  }

  private scheduleLaunch(delayMs: number): void {
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.launch().catch((error: unknown) => {
        // spawnNext handles its own failures; this is the last line of defence for the event loop.
        this.options.logger.error({ err: error, child: this.options.name }, 'child restart failed unexpectedly');
      });
    }, delayMs);
  }

  private applyNice(pid: number): void {
    const nice = this.options.nice;
    if (nice === undefined) return;
    const target = 'relative' in nice ? Math.max(-20, Math.min(19, getPriority() + nice.relative)) : nice.absolute;
    try {
      setPriority(pid, target);
    } catch (error) {
      if (this.niceFailureLogged) return;
      this.niceFailureLogged = true;
      this.options.logger.warn({ err: error, nice: target, child: this.options.name }, `cannot set ${this.options.name} priority; it runs at the default`);
    }
  }

  private onStderr(text: string): void {
    const lines = (this.stderrPartial + text).split('\n');
    this.stderrPartial = (lines.pop() ?? '').slice(0, STDERR_MAX_LINE_CHARS);
    for (const line of lines) this.onStderrLine(line);
  }

  private onStderrLine(rawLine: string): void {
    const line = rawLine.trim().slice(0, STDERR_MAX_LINE_CHARS);
    if (line === '') return;
    this.stderrTail.push(line);
    if (this.stderrTail.length > (this.options.stderrTailLines ?? 20)) this.stderrTail.shift();
    // Numbers vary between repeats ("at least 12.3 ms"); they do not make a line new.
    const key = line.replace(/\d+(?:\.\d+)?/g, '#');
    this.stderrLog.log(this.options.stderrLog?.level ?? 'warn', key, { stderr: line }, `${this.options.name} stderr`);
    try {
      this.options.onStderrLine?.(line);
    } catch (error) {
      this.options.logger.error({ err: error, child: this.options.name }, 'stderr line handler threw');
    }
  }

  private describeExit(exit: ChildExit): string {
    if (this.options.describeExit) return this.options.describeExit(exit, this.stderrTail);
    const how = exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
    const last = this.stderrTail.at(-1);
    return `${this.options.name} ${how}${last === undefined ? '' : `: ${last}`}`;
  }

  private describeSpawnError(command: string, error: NodeJS.ErrnoException): string {
    if (this.options.describeSpawnError) return this.options.describeSpawnError(command, error);
    return `cannot run ${command}: ${error.message}`;
  }

  private emit(event: SupervisorEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch (error) {
      this.options.logger.error({ err: error, child: this.options.name }, 'supervisor event listener threw');
    }
  }

}

function reasonOf(end: Exclude<ChildEnd, { kind: 'planned' }>): string {
  switch (end.kind) {
    case 'exit':
      return 'exited';
    case 'spawn-error':
      return 'spawn-error';
    case 'not-ready':
      return 'not-ready';
    case 'failed':
      return 'failed';
  }
}

/** A PATH lookup like execvp's, for the check that setpriv would otherwise turn into an exit code. */
function isExecutable(command: string, env: NodeJS.ProcessEnv): boolean {
  const candidates = command.includes('/') ? [command] : (env['PATH'] ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  return candidates.some((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
