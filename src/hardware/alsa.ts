import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import type { Logger } from '../log.js';
import { Backoff } from '../util/backoff.js';
import { SourceListeners } from './source-listeners.js';
import type { AudioSource, AudioSourceEvent, AudioSourceState, AudioSourceStatus, PcmFormat } from './types.js';

export interface ArecordSourceOptions {
  /** ALSA PCM name, e.g. `plughw:CARD=Device,DEV=0`, `default`, or the tests' `fakemic`. */
  readonly device: string;
  readonly format: PcmFormat;
  readonly periodMs: number;
  readonly bufferMs: number;
  /** No frames for this long while starting or running: the child is killed and restarted. */
  readonly stallTimeoutMs: number;
  /**
   * How long a fresh arecord may take to deliver its first frames before it counts as stalled.
   * Opening a USB mic or a PulseAudio stream takes a while (about 1 s for the pulse plugin here).
   * Default: the larger of stallTimeoutMs and 3000 ms.
   */
  readonly startTimeoutMs?: number;
  readonly restart: {
    readonly initialMs: number;
    readonly maxMs: number;
    /** A run at least this long resets the backoff. Default 10 s. */
    readonly healthyAfterMs?: number;
    /** Injected for tests; default Math.random. */
    readonly random?: () => number;
  };
  readonly logger: Logger;
  /** Default `arecord` (found on PATH). */
  readonly arecordPath?: string;
  /** Environment of the child; tests pass ALSA_CONFIG_PATH. Default: this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Nice value for the child (negative = more CPU priority than the transcriber). Needs CAP_SYS_NICE. */
  readonly niceness?: number;
  /** Bounds each run of arecord (`-s`): the ALSA file plugin used in tests is not paced and never ends. */
  readonly durationLimitSeconds?: number;
  /** SIGTERM, then SIGKILL after this long. Default 1000 ms. */
  readonly killGraceMs?: number;
  /** Wall clock in ms; injected for tests. Default Date.now. */
  readonly now?: () => number;
}

/** What one stderr line of arecord means to us. */
export type ArecordStderrLine =
  | { readonly kind: 'overrun'; readonly atLeastMs: number | null }
  | { readonly kind: 'other' };

// aplay.c xrun(): "overrun!!! (at least 12.345 ms long)", or "underrun !!!" when built
// without clock_gettime. Printed whatever -q says (quiet only hides the banner); the child
// runs with LC_ALL=C so the text is not translated.
const XRUN_LINE = /^(?:overrun|underrun)\s*!!!(?:\s*\(at least ([\d.]+) ms long\))?/;

export function parseArecordStderrLine(line: string): ArecordStderrLine {
  const match = XRUN_LINE.exec(line.trim());
  if (match === null) return { kind: 'other' };
  const ms = match[1] === undefined ? Number.NaN : Number(match[1]);
  return { kind: 'overrun', atLeastMs: Number.isFinite(ms) ? ms : null };
}

/** How many stderr lines `lastError` may quote. */
const STDERR_TAIL_LINES = 5;
/** A stderr line longer than this is cut; arecord's lines are short, a flood of garbage is not. */
const STDERR_MAX_LINE_CHARS = 500;
/** Distinct stderr lines tracked for rate limiting; past this the table is cleared. */
const RATE_LIMIT_MAX_KEYS = 64;

/**
 * Logs the first occurrence of a stderr line, then at most one summary per `windowMs` per
 * kind of line. An SD card once filled with ALSA overrun spam; this is the guard.
 */
export class RateLimitedLines {
  private readonly seen = new Map<string, { lastLoggedAtMs: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  /** Returns true when this occurrence was logged. */
  log(line: string): boolean {
    // Numbers vary between repeats ("at least 12.3 ms"); they do not make a line new.
    const key = line.replace(/\d+(?:\.\d+)?/g, '#');
    const nowMs = this.now();
    const entry = this.seen.get(key);
    if (entry === undefined) {
      if (this.seen.size >= RATE_LIMIT_MAX_KEYS) this.seen.clear();
      this.seen.set(key, { lastLoggedAtMs: nowMs, suppressed: 0 });
      this.logger.warn({ stderr: line }, 'arecord stderr');
      return true;
    }
    if (nowMs - entry.lastLoggedAtMs >= this.windowMs) {
      this.logger.warn({ stderr: line, repeated: entry.suppressed + 1, windowMs: this.windowMs }, 'arecord stderr (repeated)');
      entry.lastLoggedAtMs = nowMs;
      entry.suppressed = 0;
      return true;
    }
    entry.suppressed += 1;
    return false;
  }
}

/** Why a run of arecord ended; decides the log level and the restart reason. */
type RunEnd =
  | { readonly kind: 'exit'; readonly code: number | null; readonly signal: NodeJS.Signals | null }
  | { readonly kind: 'spawn-error'; readonly message: string }
  | { readonly kind: 'stall' };

interface Run {
  readonly child: ChildProcess;
  readonly startedAtMs: number;
  /** Resolves when the child has exited and its pipes have closed (or it never started). */
  readonly closed: Promise<void>;
  ended: boolean;
  framesSeen: boolean;
  stallKill: boolean;
  killTimer: NodeJS.Timeout | null;
}

/**
 * Microphone capture through a supervised `arecord -t raw` child.
 *
 * arecord is chosen over a native addon because it reports overruns on stderr, exits cleanly
 * when the USB mic is unplugged, and runs as its own process at its own priority. This class
 * restarts it with backoff whenever it exits or cannot be spawned, kills it when it stalls,
 * and hands listeners whole frames only.
 */
export class ArecordSource implements AudioSource {
  readonly format: PcmFormat;
  private readonly frameBytes: number;
  /** Holds the start of a frame split across two pipe reads; one frame at most, allocated once. */
  private readonly carry: Buffer;
  private carryBytes = 0;
  private readonly listeners: SourceListeners;
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private readonly stderrLog: RateLimitedLines;
  private readonly stderrTail: string[] = [];
  private stderrPartial = '';

  private state: AudioSourceState = 'stopped';
  private restarts = 0;
  private overruns = 0;
  private lastFrameAtMs: number | null = null;
  private lastError: string | null = null;
  private run: Run | null = null;
  private everStarted = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  /** Last time the current run showed life (spawned or delivered frames). */
  private lastActivityAtMs = 0;
  private reniceFailureLogged = false;

  constructor(private readonly options: ArecordSourceOptions) {
    this.format = options.format;
    this.frameBytes = 2 * options.format.channels;
    this.carry = Buffer.alloc(this.frameBytes);
    this.now = options.now ?? Date.now;
    this.backoff = new Backoff({
      initialMs: options.restart.initialMs,
      maxMs: options.restart.maxMs,
      healthyAfterMs: options.restart.healthyAfterMs ?? 10_000,
      ...(options.restart.random ? { random: options.restart.random } : {}),
    });
    this.stderrLog = new RateLimitedLines(options.logger, 30_000, this.now);
    this.listeners = new SourceListeners((error, what) => options.logger.error({ err: error }, `audio ${what} listener threw`));
  }

  onFrames(listener: (pcm: Buffer) => void): void {
    this.listeners.addFrameListener(listener);
  }

  onEvent(listener: (event: AudioSourceEvent) => void): void {
    this.listeners.addEventListener(listener);
  }

  status(): AudioSourceStatus {
    return {
      state: this.state,
      restarts: this.restarts,
      overruns: this.overruns,
      lastFrameAtMs: this.lastFrameAtMs,
      lastError: this.lastError,
    };
  }

  /** The pid of the running arecord, for diagnostics and tests; null between runs. */
  get childPid(): number | null {
    return this.run?.child.pid ?? null;
  }

  /** The arguments arecord is started with. */
  arecordArgs(): string[] {
    const { format, periodMs, bufferMs, device, durationLimitSeconds } = this.options;
    const args = [
      // -q only hides the "Recording raw data ..." banner; xrun lines are printed regardless.
      '-q',
      '-D', device,
      '-t', 'raw',
      '-f', 'S16_LE',
      '-r', String(format.sampleRateHz),
      '-c', String(format.channels),
      `--period-time=${Math.round(periodMs * 1000)}`,
      `--buffer-time=${Math.round(bufferMs * 1000)}`,
    ];
    if (durationLimitSeconds !== undefined) {
      args.push('-s', String(Math.max(1, Math.round(durationLimitSeconds * format.sampleRateHz))));
    }
    return args;
  }

  /** Starts capture. Resolves once arecord is spawned or has failed to (then it is retried); never rejects for device faults. */
  async start(): Promise<void> {
    if (this.state !== 'stopped') return;
    // A start() right after stop() waits for the old child, so two never capture at once.
    if (this.run !== null) await this.run.closed;
    if (this.state !== 'stopped' || this.run !== null) return;
    this.backoff.reset();
    this.setState('starting');
    this.startStallWatch();
    await this.spawnRun();
  }

  /** Kills arecord and waits for it to exit; cancels a pending restart. Safe to call twice and before start(). */
  async stop(): Promise<void> {
    if (this.state === 'stopped') {
      // A second stop() while the first is still waiting must wait too.
      if (this.run !== null) await this.run.closed;
      return;
    }
    this.setState('stopped', 'stop requested');
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    if (this.stallTimer !== null) clearInterval(this.stallTimer);
    this.stallTimer = null;
    const run = this.run;
    if (run !== null) {
      this.kill(run);
      await run.closed;
    }
    if (this.run === run) this.run = null;
    this.carryBytes = 0;
  }

  private async spawnRun(): Promise<void> {
    if (this.state === 'stopped') return;
    if (this.everStarted) this.restarts += 1;
    this.everStarted = true;
    this.carryBytes = 0;
    this.stderrPartial = '';
    // lastError quotes this run's stderr, not an earlier run's.
    this.stderrTail.length = 0;
    const path = this.options.arecordPath ?? 'arecord';
    const env = { ...(this.options.env ?? process.env), LC_ALL: 'C' };
    let child: ChildProcess;
    try {
      child = spawn(path, this.arecordArgs(), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      // spawn() throws synchronously for some invalid arguments (EINVAL, bad env); same handling as ENOENT.
      this.runEnded(null, { kind: 'spawn-error', message: `cannot run ${path}: ${errorMessage(error)}` });
      return;
    }
    let resolveClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      resolveClosed = resolve;
    });
    const run: Run = { child, startedAtMs: this.now(), closed, ended: false, framesSeen: false, stallKill: false, killTimer: null };
    this.run = run;
    this.lastActivityAtMs = this.now();

    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.run === run && this.state !== 'stopped') this.onData(chunk);
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      if (this.run === run) this.onStderr(text);
    });
    // Pipe errors (EPIPE, EIO) end the run through 'close'; they must not become uncaught.
    child.stdout?.on('error', (error) => this.options.logger.debug({ err: error }, 'arecord stdout error'));
    child.stderr?.on('error', (error) => this.options.logger.debug({ err: error }, 'arecord stderr error'));

    const spawned = new Promise<void>((resolve) => {
      child.once('spawn', () => {
        this.applyNiceness(child);
        resolve();
      });
      // on, not once: a second 'error' without a listener would be thrown into the event loop.
      child.on('error', (error: NodeJS.ErrnoException) => {
        resolve();
        if (child.pid === undefined) {
          const hint = error.code === 'ENOENT' ? ' (is alsa-utils installed?)' : '';
          this.runEnded(run, { kind: 'spawn-error', message: `cannot run ${path}: ${error.message}${hint}` });
          resolveClosed();
        } else {
          // A kill() that failed, for instance: the process is still ours and 'close' will follow.
          this.options.logger.warn({ err: error }, 'arecord process error');
        }
      });
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (run.killTimer !== null) clearTimeout(run.killTimer);
      this.flushStderrPartial(run);
      this.runEnded(run, run.stallKill ? { kind: 'stall' } : { kind: 'exit', code, signal });
      resolveClosed();
    });
    await spawned;
  }

  private applyNiceness(child: ChildProcess): void {
    const niceness = this.options.niceness;
    if (niceness === undefined || child.pid === undefined) return;
    try {
      setPriority(child.pid, niceness);
    } catch (error) {
      if (!this.reniceFailureLogged) {
        this.reniceFailureLogged = true;
        this.options.logger.warn({ err: error, niceness }, 'cannot raise arecord priority; capturing at normal priority');
      }
    }
  }

  private onData(chunk: Buffer): void {
    const nowMs = this.now();
    this.lastActivityAtMs = nowMs;
    if (this.run !== null) this.run.framesSeen = true;
    const frameBytes = this.frameBytes;
    let offset = 0;
    if (this.carryBytes > 0) {
      const need = frameBytes - this.carryBytes;
      if (chunk.length < need) {
        chunk.copy(this.carry, this.carryBytes);
        this.carryBytes += chunk.length;
        return;
      }
      chunk.copy(this.carry, this.carryBytes, 0, need);
      this.carryBytes = 0;
      offset = need;
      this.emitFrames(this.carry, nowMs);
    }
    const remaining = chunk.length - offset;
    const tail = remaining % frameBytes;
    const whole = remaining - tail;
    if (whole > 0) {
      // Pipe reads are normally 64 KiB, a whole number of frames for 1, 2 and 4 channels, so
      // the common case hands over Node's own Buffer without even a view.
      this.emitFrames(offset === 0 && tail === 0 ? chunk : chunk.subarray(offset, offset + whole), nowMs);
    }
    if (tail > 0) {
      chunk.copy(this.carry, 0, offset + whole);
      this.carryBytes = tail;
    }
  }

  private emitFrames(pcm: Buffer, nowMs: number): void {
    // A listener may have called stop() earlier in this same pipe read.
    if (this.isStopped()) return;
    this.lastFrameAtMs = nowMs;
    if (this.state === 'starting' || this.state === 'restarting') {
      this.setState('running');
    }
    this.listeners.frames(pcm);
  }

  private onStderr(text: string): void {
    const lines = (this.stderrPartial + text).split('\n');
    this.stderrPartial = (lines.pop() ?? '').slice(0, STDERR_MAX_LINE_CHARS);
    for (const line of lines) this.onStderrLine(line);
  }

  private flushStderrPartial(run: Run): void {
    if (this.run === run && this.stderrPartial !== '') this.onStderrLine(this.stderrPartial);
    this.stderrPartial = '';
  }

  private onStderrLine(rawLine: string): void {
    const line = rawLine.trim().slice(0, STDERR_MAX_LINE_CHARS);
    if (line === '') return;
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    this.stderrLog.log(line);
    const parsed = parseArecordStderrLine(line);
    switch (parsed.kind) {
      case 'overrun':
        this.overruns += 1;
        this.emit({ kind: 'overrun', total: this.overruns });
        break;
      case 'other':
        break;
    }
  }

  private startStallWatch(): void {
    // Checked a few times per timeout so a stall is caught within 1.25x stallTimeoutMs.
    const checkMs = Math.max(10, Math.floor(this.options.stallTimeoutMs / 4));
    this.stallTimer = setInterval(() => this.checkStall(), checkMs);
  }

  private checkStall(): void {
    const run = this.run;
    if (run === null || run.ended || run.stallKill) return;
    if (this.state !== 'running' && this.state !== 'starting' && this.state !== 'restarting') return;
    const silentMs = this.now() - this.lastActivityAtMs;
    const limitMs = run.framesSeen
      ? this.options.stallTimeoutMs
      : (this.options.startTimeoutMs ?? Math.max(this.options.stallTimeoutMs, 3000));
    if (silentMs < limitMs) return;
    run.stallKill = true;
    this.lastError = `no audio from ${this.options.device} for ${silentMs} ms (stall)`;
    this.options.logger.warn({ silentMs, pid: run.child.pid }, 'arecord stalled; killing it');
    this.emit({ kind: 'error', message: this.lastError });
    this.kill(run);
  }

  /** SIGTERM, then SIGKILL if it has not gone after the grace time (a SIGSTOPped child ignores SIGTERM). */
  private kill(run: Run): void {
    if (run.ended || run.child.pid === undefined || run.child.exitCode !== null || run.child.signalCode !== null) return;
    run.child.kill('SIGTERM');
    if (run.killTimer === null) {
      run.killTimer = setTimeout(() => {
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
      }, this.options.killGraceMs ?? 1000);
    }
  }

  private runEnded(run: Run | null, end: RunEnd): void {
    if (run !== null) {
      if (run.ended) return;
      run.ended = true;
      // Only the current run may schedule a restart; an old one ending late must not start a second child.
      if (this.run !== run) return;
      this.run = null;
    }
    if (this.state === 'stopped') return;
    const ranMs = run === null ? 0 : this.now() - run.startedAtMs;
    this.backoff.ranFor(ranMs);
    let reason: string;
    switch (end.kind) {
      case 'spawn-error':
        reason = 'spawn-error';
        this.lastError = end.message;
        break;
      case 'stall':
        reason = 'stall';
        break;
      case 'exit': {
        reason = 'exited';
        // A clean exit only happens when a duration bound was reached: not an error.
        if (end.code === 0) break;
        const how = end.signal !== null ? `killed by ${end.signal}` : `exited with code ${String(end.code)}`;
        const last = this.stderrTail.at(-1);
        this.lastError = `arecord ${how}${last !== undefined ? `: ${last}` : ''}`;
        break;
      }
    }
    const delayMs = this.backoff.next();
    const level = end.kind === 'exit' && end.code === 0 ? 'info' : 'warn';
    this.options.logger[level]({ reason, ranMs, delayMs, restarts: this.restarts, lastError: this.lastError }, 'arecord ended; restarting');
    if (end.kind !== 'stall' && !(end.kind === 'exit' && end.code === 0)) {
      this.emit({ kind: 'error', message: this.lastError ?? reason });
    }
    this.setState('restarting', reason);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.spawnRun().catch((error: unknown) => {
        // spawnRun handles its own failures; this is the last line of defence for the event loop.
        this.options.logger.error({ err: error }, 'arecord restart failed unexpectedly');
      });
    }, delayMs);
  }

  private isStopped(): boolean {
    return this.state === 'stopped';
  }

  private setState(state: AudioSourceState, reason?: string): void {
    if (this.state === state) return;
    this.state = state;
    this.emit(reason === undefined ? { kind: 'state', state } : { kind: 'state', state, reason });
  }

  private emit(event: AudioSourceEvent): void {
    this.listeners.event(event);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
