import type { Logger } from '../log.js';
import { ChildSupervisor, type ChildExit, type SupervisorEvent } from '../util/child-supervisor.js';
import { SourceListeners } from './source-listeners.js';
import type { AudioSource, AudioSourceEvent, AudioSourceState, AudioSourceStatus, PcmFormat } from './types.js';

export interface ArecordSourceOptions {
  /** ALSA PCM name, e.g. `plughw:CARD=Device,DEV=0`, `default`, or the tests' `fakemic`. */
  readonly device: string;
  readonly format: PcmFormat;
  readonly periodMs: number;
  readonly bufferMs: number;
  /**
   * ALSA sizes read at every spawn (the degradation level's); they replace periodMs/bufferMs
   * from the next restart on. Capture is never restarted just to apply them.
   */
  readonly captureSettings?: () => { readonly periodMs: number; readonly bufferMs: number };
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
/** One log line per kind of stderr line per window: an SD card once filled with ALSA overrun spam. */
const STDERR_LOG_INTERVAL_MS = 30_000;

/**
 * Microphone capture through a supervised `arecord -t raw` child.
 *
 * arecord is chosen over a native addon because it reports overruns on stderr, exits cleanly
 * when the USB mic is unplugged, and runs as its own process at its own priority. The
 * supervisor restarts it with backoff whenever it exits or cannot be spawned, and the kernel
 * kills it if Scout dies (parent-death signal), so a crash never leaves the mic held open. This
 * class kills it when it stalls, counts overruns, and hands listeners whole frames only.
 */
export class ArecordSource implements AudioSource {
  readonly format: PcmFormat;
  private readonly frameBytes: number;
  /** Holds the start of a frame split across two pipe reads; one frame at most, allocated once. */
  private readonly carry: Buffer;
  private carryBytes = 0;
  private readonly listeners: SourceListeners;
  private readonly supervisor: ChildSupervisor;
  private readonly now: () => number;

  private state: AudioSourceState = 'stopped';
  private overruns = 0;
  private lastFrameAtMs: number | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  /** A run is up and not yet being killed for a stall; the stall watch looks at nothing else. */
  private runLive = false;
  private framesSeen = false;
  /** Last time the current run showed life (spawned or delivered frames). */
  private lastActivityAtMs = 0;

  constructor(private readonly options: ArecordSourceOptions) {
    this.format = options.format;
    this.frameBytes = 2 * options.format.channels;
    this.carry = Buffer.alloc(this.frameBytes);
    this.now = options.now ?? Date.now;
    this.listeners = new SourceListeners((error, what) => options.logger.error({ err: error }, `audio ${what} listener threw`));
    const path = options.arecordPath ?? 'arecord';
    this.supervisor = new ChildSupervisor({
      name: 'arecord',
      logger: options.logger,
      // The child runs with LC_ALL=C so the xrun text we parse is not translated.
      prepare: () => ({ command: path, args: this.arecordArgs(), env: { ...(options.env ?? process.env), LC_ALL: 'C' } }),
      restart: {
        initialMs: options.restart.initialMs,
        maxMs: options.restart.maxMs,
        healthyAfterMs: options.restart.healthyAfterMs ?? 10_000,
        ...(options.restart.random ? { random: options.restart.random } : {}),
      },
      graceMs: options.killGraceMs ?? 1000,
      // Absolute, not relative: capture must outrank the transcriber, not just trail Scout.
      ...(options.niceness === undefined ? {} : { nice: { absolute: options.niceness } }),
      onStdout: (chunk) => this.onData(chunk),
      onStderrLine: (line) => this.onStderrLine(line),
      stderrTailLines: STDERR_TAIL_LINES,
      stderrLog: { level: 'warn', intervalMs: STDERR_LOG_INTERVAL_MS },
      describeExit: describeArecordExit,
      describeSpawnError: (command, error) => `cannot run ${command}: ${error.message}${error.code === 'ENOENT' ? ' (is alsa-utils installed?)' : ''}`,
      onEvent: (event) => this.onChildEvent(event),
      now: this.now,
    });
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
      restarts: this.supervisor.restarts,
      overruns: this.overruns,
      lastFrameAtMs: this.lastFrameAtMs,
      lastError: this.supervisor.lastError,
    };
  }

  /** The pid of the running arecord, for diagnostics and tests; null between runs. */
  get childPid(): number | null {
    return this.supervisor.pid;
  }

  /** The arguments arecord is started with (built per spawn, so the capture settings of that moment apply). */
  arecordArgs(): string[] {
    const { format, device, durationLimitSeconds } = this.options;
    const { periodMs, bufferMs } = this.options.captureSettings?.() ?? this.options;
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
    this.setState('starting');
    this.startStallWatch();
    // Waits for a child left by a stop() still in progress, so two never capture at once.
    await this.supervisor.start();
  }

  /** Kills arecord and waits for it to exit; cancels a pending restart. Safe to call twice and before start(). */
  async stop(): Promise<void> {
    if (this.state !== 'stopped') {
      this.setState('stopped', 'stop requested');
      if (this.stallTimer !== null) clearInterval(this.stallTimer);
      this.stallTimer = null;
      this.runLive = false;
    }
    await this.supervisor.stop();
    this.carryBytes = 0;
  }

  private onChildEvent(event: SupervisorEvent): void {
    switch (event.kind) {
      case 'spawned':
        this.carryBytes = 0;
        this.framesSeen = false;
        this.lastActivityAtMs = this.now();
        this.runLive = this.state !== 'stopped';
        break;
      case 'ready':
        // arecord has no readiness probe: frames arriving is what moves the state to running.
        break;
      case 'ended':
        this.runLive = false;
        if (event.restart === null || this.state === 'stopped') break;
        this.onRunEnded(event.end);
        break;
    }
  }

  private onRunEnded(end: Extract<SupervisorEvent, { kind: 'ended' }>['end']): void {
    const lastError = this.supervisor.lastError;
    switch (end.kind) {
      case 'exit':
        // A clean exit only happens when a duration bound was reached: not an error.
        if (end.code !== 0 || end.signal !== null) this.emit({ kind: 'error', message: lastError ?? 'arecord exited' });
        this.setState('restarting', 'exited');
        break;
      case 'spawn-error':
        this.emit({ kind: 'error', message: lastError ?? 'cannot run arecord' });
        this.setState('restarting', 'spawn-error');
        break;
      case 'failed':
      case 'not-ready':
        // The error event went out when the stall was found.
        this.setState('restarting', 'stall');
        break;
      case 'planned':
        this.setState('restarting', end.reason);
        break;
    }
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'stopped') return;
    const nowMs = this.now();
    this.lastActivityAtMs = nowMs;
    this.framesSeen = true;
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

  private onStderrLine(line: string): void {
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
    if (!this.runLive) return;
    if (this.state !== 'running' && this.state !== 'starting' && this.state !== 'restarting') return;
    const silentMs = this.now() - this.lastActivityAtMs;
    const limitMs = this.framesSeen
      ? this.options.stallTimeoutMs
      : (this.options.startTimeoutMs ?? Math.max(this.options.stallTimeoutMs, 3000));
    if (silentMs < limitMs) return;
    this.runLive = false;
    const reason = `no audio from ${this.options.device} for ${silentMs} ms (stall)`;
    this.options.logger.warn({ silentMs, pid: this.supervisor.pid }, 'arecord stalled; killing it');
    // SIGTERM, then SIGKILL after the grace: a SIGSTOPped arecord ignores SIGTERM.
    // Resolves once arecord has gone; the stall check does not wait for it.
    void this.supervisor.fail(reason);
    this.emit({ kind: 'error', message: reason });
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

function describeArecordExit(exit: ChildExit, stderrTail: readonly string[]): string {
  const how = exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
  const last = stderrTail.at(-1);
  return `arecord ${how}${last !== undefined ? `: ${last}` : ''}`;
}
