/**
 * whisper.cpp's `whisper-server` as a supervised, long-lived child process on loopback.
 *
 * The model is loaded once per process; each transcription is one multipart POST to /inference.
 * A separate process means a native crash cannot take the appliance down, and an abort can stop
 * native work for sure (SIGKILL) where a timeout alone would leave it running.
 *
 * Per-request fields that whisper-server 1.9.1 honours (examples/server/server.cpp,
 * get_req_parameters) and that we send: `audio_ctx`, `beam_size` (> 1 = beam search, else greedy),
 * `language`, `temperature` (0), `response_format=verbose_json`, `token_timestamps=false`, and
 * `prompt` (the initial prompt: the vocabulary) when there is one.
 * Not available per request in 1.9.1: thread count (only the `-t` flag: `reconfigure({ threads })`
 * restarts the child) and a token cap (whisper_full_params.max_tokens is not parsed by the server;
 * `max_len` is a segment length in characters and only acts with token timestamps).
 *
 * Concurrency: calls are served one at a time in FIFO order (the server holds one mutex per
 * request anyway); a waiting call can be aborted by its signal without touching the running one.
 */
import { encodeWav, WAV_HEADER_BYTES } from '../audio/wav.js';
import { SPEECH_RATE_HZ, type WindowSegment } from '../domain/transcript.js';
import { createServer } from 'node:net';
import type { Logger } from '../log.js';
import { ChildSupervisor, type ChildCommand, type ChildExit, type SupervisorEvent } from '../util/child-supervisor.js';
import { sleep } from '../util/sleep.js';
import { checkModelFile } from './model-file.js';
import {
  WhisperAbortedError,
  WhisperClient,
  WhisperHttpError,
  WhisperResponseError,
} from './whisper-client.js';

export type EngineState = 'stopped' | 'starting' | 'ready' | 'busy' | 'restarting' | 'failed';

export interface EngineStatus {
  readonly state: EngineState;
  /** Child processes started after the first one (crashes, aborts, reconfigurations). */
  readonly restarts: number;
  readonly lastError: string | null;
  /** Path of the model the server has loaded (or is loading). */
  readonly model: string;
  readonly pid: number | null;
  readonly port: number | null;
  readonly threads: number;
}

export interface WhisperEngineOptions {
  readonly serverPath: string;
  readonly modelPath: string;
  /** ggml compute threads (`-t`); fixed per child process. */
  readonly threads: number;
  /** `-fa` / `-nfa`: flash attention saves ~25% time and ~70 MB on tiny.en here. */
  readonly flashAttention: boolean;
  /** Added to our own nice value for the child (capped at 19) so capture always wins the CPU. Default 10. */
  readonly niceness?: number;
  readonly restart: { readonly initialMs: number; readonly maxMs: number };
  /** How long a fresh child may take to load its model and answer /health. */
  readonly readyTimeoutMs: number;
  /** Longest a single /inference may take before the child is killed. */
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
}

export interface TranscribeRequest {
  /** A 16 kHz mono S16 WAV file, or raw 16 kHz mono samples (wrapped into a WAV here). */
  readonly wav?: Buffer;
  readonly pcm?: Int16Array;
  /** Encoder frames (20 ms each, max 1500 = 30 s); cut to the clip for speed. 0/undefined = full. */
  readonly audioCtx?: number;
  /** 1 (default) = greedy; > 1 = beam search with that many beams. */
  readonly beamSize?: number;
  readonly language?: 'en';
  /** whisper's initial prompt (the vocabulary, src/domain/vocabulary.ts); '' or absent = none. */
  readonly prompt?: string;
  readonly signal?: AbortSignal;
}

export interface TranscribeResult {
  readonly text: string;
  /** Times relative to the clip's first sample. */
  readonly segments: WindowSegment[];
  /** Wall time of the HTTP request (upload, mel, encode, decode). */
  readonly processingMs: number;
  /** Compute threads of the server process that ran this request (`-t`), not the configured maximum. */
  readonly threads: number;
  /** Path of the model that ran this request (a /load swaps it only between requests). */
  readonly model: string;
}

/** One line per request, for the queue, benchmarks and tests. */
export interface EngineRequestRecord {
  readonly audioMs: number;
  readonly audioCtx: number;
  readonly beamSize: number;
  readonly processingMs: number;
  readonly outcome: 'ok' | 'aborted' | 'timeout' | 'unavailable' | 'error';
}

export class EngineError extends Error {
  override readonly name: string = 'EngineError';
}

/** The request was stopped by its signal or by requestTimeoutMs; the child was killed and is respawning. */
export class EngineAbortedError extends EngineError {
  override readonly name = 'EngineAbortedError';
  constructor(
    message: string,
    readonly reason: 'aborted' | 'timeout',
  ) {
    super(message);
  }
}

/** No working server: stopped, not ready in time, or it died during the request. Retry later. */
export class EngineUnavailableError extends EngineError {
  override readonly name = 'EngineUnavailableError';
}

/** The server answered but refused or failed this request (bad audio, model load failure...). */
export class EngineRequestError extends EngineError {
  override readonly name = 'EngineRequestError';
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

/** whisper's encoder frame: 30 s / 1500. */
/**
 * glibc's defaults keep what whisper-server frees after each request: an arena per thread, and a
 * mmap threshold that rises after every large free, so its per-request buffers stay resident. In
 * the soak the engine grew from 76 to 134 MB that way; with two arenas and a fixed threshold it
 * stayed under 100 MB (docs/RELIABILITY.md). Values the environment already sets win.
 */
const ENGINE_MALLOC_ENV = {
  MALLOC_ARENA_MAX: process.env['MALLOC_ARENA_MAX'] ?? '2',
  MALLOC_MMAP_THRESHOLD_: process.env['MALLOC_MMAP_THRESHOLD_'] ?? '131072',
} as const;

const ENCODER_FRAME_MS = 20;
const MAX_AUDIO_CTX = 1500;
const HEALTH_POLL_MS = 50;
/** A single /health may hang on a wedged server; the readiness deadline bounds the whole wait. */
const HEALTH_CALL_TIMEOUT_MS = 1000;
const STOP_GRACE_MS = 2000;
const STDERR_TAIL_LINES = 20;
/** whisper.cpp prints ~40 lines per model load and some per request: one of each kind per minute is plenty. */
const STDERR_LOG_INTERVAL_MS = 60_000;
/** A run this long after becoming ready resets the restart backoff. */
const HEALTHY_AFTER_MS = 30_000;

/**
 * Encoder context for a clip: its own frames plus a margin (64 frames: 314 for 5 s, 614 for
 * 11 s), capped at the full window. Cutting it to the clip is the biggest lever for short takes:
 * the encoder's cost falls to about the clip's share of the 30 s window (bench/README.md).
 */
export function audioCtxFor(durationMs: number, marginFrames = 64): number {
  return Math.min(MAX_AUDIO_CTX, Math.ceil(durationMs / ENCODER_FRAME_MS) + marginFrames);
}

/** Audio length of a canonical 16 kHz mono S16 WAV (data after a 44-byte header). */
function wavDurationMs(wav: Buffer): number {
  return Math.max(0, ((wav.length - WAV_HEADER_BYTES) / 2 / SPEECH_RATE_HZ) * 1000);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}


/** The child that serves requests now, as a call sees it. */
interface ServingChild {
  readonly client: WhisperClient;
  /** `-t` of this process: a reconfigure() only reaches the next one. */
  readonly threads: number;
  readonly closed: Promise<void>;
}

export class WhisperEngine {
  private state: EngineState = 'stopped';
  private modelPath: string;
  private threads: number;
  /** Port, client and thread count of the child spawned last; there is one child at a time. */
  private port: number | null = null;
  private client: WhisperClient | null = null;
  private childThreads: number;
  private started = false;
  private queueTail: Promise<void> = Promise.resolve();
  private readonly supervisor: ChildSupervisor;
  private readonly requestListeners: ((record: EngineRequestRecord) => void)[] = [];
  private firstAttempt: { resolve: () => void; reject: (error: Error) => void } | null = null;

  constructor(private readonly options: WhisperEngineOptions) {
    this.modelPath = options.modelPath;
    this.threads = options.threads;
    this.childThreads = options.threads;
    this.supervisor = new ChildSupervisor({
      name: 'whisper-server',
      logger: options.logger,
      prepare: () => this.prepareChild(),
      restart: { initialMs: options.restart.initialMs, maxMs: options.restart.maxMs, healthyAfterMs: HEALTHY_AFTER_MS },
      graceMs: STOP_GRACE_MS,
      nice: { relative: options.niceness ?? 10 },
      ready: { timeoutMs: options.readyTimeoutMs, pollMs: HEALTH_POLL_MS, probe: (signal) => this.probeHealth(signal) },
      stderrTailLines: STDERR_TAIL_LINES,
      stderrLog: { level: 'debug', intervalMs: STDERR_LOG_INTERVAL_MS },
      describeExit: (exit, tail) => this.describeExit(exit, tail),
      // Someone took the port between our probe and the server's bind: pick another at once.
      retryAtOnce: (_exit, tail) => tail.some((line) => line.includes("couldn't bind")),
      onEvent: (event) => this.onChildEvent(event),
    });
  }

  status(): EngineStatus {
    const pid = this.supervisor.pid;
    return {
      state: this.state,
      restarts: this.supervisor.restarts,
      lastError: this.supervisor.lastError,
      model: this.modelPath,
      pid,
      port: pid === null ? null : this.port,
      threads: this.threads,
    };
  }

  /** Called after every request with what it cost; listeners must not throw. */
  onRequest(listener: (record: EngineRequestRecord) => void): void {
    this.requestListeners.push(listener);
  }

  /**
   * Starts supervision and waits for the first child to be ready. If that first attempt fails
   * (missing model, crash on load, not ready in time) this rejects with EngineUnavailableError,
   * and supervision KEEPS retrying with backoff (state 'restarting', lastError says why), so a
   * model installed later is picked up; call stop() to give up.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.setState('starting');
    const firstReady = new Promise<void>((resolve, reject) => {
      this.firstAttempt = { resolve, reject };
    });
    await Promise.all([this.supervisor.start(), firstReady]);
  }

  /** Kills the child (SIGTERM, then SIGKILL after 2 s) and waits for it; safe to call twice. */
  async stop(): Promise<void> {
    const wasStarted = this.started;
    this.started = false;
    await this.supervisor.stop();
    if (!wasStarted) return;
    // stop() during the first start: start() must not hang
    this.firstAttempt?.reject(new EngineUnavailableError('engine stopped before it was ready'));
    this.firstAttempt = null;
    this.setState('stopped');
  }

  /** Restarts the child with new process-level settings (only what differs). Waits for the queue. */
  async reconfigure(change: { readonly threads?: number }): Promise<void> {
    await this.exclusive(undefined, async () => {
      if (change.threads === undefined || change.threads === this.threads) return;
      this.threads = change.threads;
      await this.killChild('reconfigure', 'planned');
    });
  }

  /**
   * Swaps the model through the server's /load (no restart; verified on 1.9.1). The file is
   * checked first. whisper-server exits when a model fails to initialise after the old one was
   * freed; then the child is respawned with the previous model and this rejects.
   */
  async loadModel(path: string): Promise<void> {
    const check = await checkModelFile(path, { minBytes: 1024 });
    if (!check.ok) throw new EngineRequestError(check.reason, null);
    await this.exclusive(undefined, async () => {
      const child = await this.readyChild(undefined);
      try {
        await child.client.load(path, { timeoutMs: this.options.readyTimeoutMs });
      } catch (error) {
        if (error instanceof WhisperHttpError) {
          throw new EngineRequestError(`loading model ${path} refused: HTTP ${error.status} ${error.body}`, error.status);
        }
        // No answer: the old model may be gone already, so only a fresh child is known good. The
        // server misbehaved, so the respawn goes through the backoff like any other fault.
        await this.killChild('model load got no answer', 'fault');
        throw new EngineRequestError(`loading model ${path} failed (${describe(error)}); restarted with ${this.modelPath}`, null);
      }
      this.modelPath = path;
      this.options.logger.info({ model: path }, 'engine model swapped via /load');
    });
  }

  async transcribe(request: TranscribeRequest): Promise<TranscribeResult> {
    const wav = request.wav ?? (request.pcm ? encodeWav(request.pcm, SPEECH_RATE_HZ) : null);
    if (!wav) throw new EngineRequestError('transcribe needs wav or pcm', null);
    const audioCtx = Math.max(0, Math.min(MAX_AUDIO_CTX, Math.round(request.audioCtx ?? 0)));
    const beamSize = Math.max(1, Math.round(request.beamSize ?? 1));
    const signal = request.signal;
    const record = (outcome: EngineRequestRecord['outcome'], processingMs: number): void => {
      const entry = { audioMs: wavDurationMs(wav), audioCtx, beamSize, processingMs, outcome };
      for (const listener of this.requestListeners) {
        try {
          listener(entry);
        } catch (error) {
          this.options.logger.warn({ error: describe(error) }, 'engine request listener threw');
        }
      }
    };

    return this.exclusive(signal, async () => {
      const child = await this.readyChild(signal);
      const startedMs = performance.now();
      this.setState('busy');
      try {
        const transcript = await child.client.inference(
          { wav, audioCtx, beamSize, language: request.language ?? 'en', ...(request.prompt ? { prompt: request.prompt } : {}) },
          { ...(signal ? { signal } : {}), timeoutMs: this.options.requestTimeoutMs },
        );
        const processingMs = performance.now() - startedMs;
        record('ok', processingMs);
        return { text: transcript.text, segments: transcript.segments, processingMs, threads: child.threads, model: this.modelPath };
      } catch (error) {
        const elapsedMs = performance.now() - startedMs;
        if (error instanceof WhisperAbortedError) {
          // The server would finish the native work anyway; only a kill frees the CPU now. A
          // timeout is the server's fault (backoff, lastError); an abort is the caller's wish.
          if (error.reason === 'timeout') await this.killChild(`request exceeded ${this.options.requestTimeoutMs} ms`, 'fault');
          else await this.killChild('request aborted', 'planned');
          record(error.reason, elapsedMs);
          throw new EngineAbortedError(
            error.reason === 'timeout' ? `transcription exceeded ${this.options.requestTimeoutMs} ms; engine restarted` : 'transcription aborted; engine restarted',
            error.reason,
          );
        }
        if (error instanceof WhisperHttpError) {
          record('error', elapsedMs);
          throw new EngineRequestError(`whisper-server answered HTTP ${error.status}: ${error.body}`, error.status);
        }
        if (error instanceof WhisperResponseError) {
          record('error', elapsedMs);
          throw new EngineRequestError(`unreadable whisper-server answer: ${error.message}`, error.status);
        }
        // Most likely the child died: let its exit land so the next call waits for the respawn
        // instead of writing to a dead socket.
        const settle = new AbortController();
        await Promise.race([child.closed, sleep(1000, settle.signal)]);
        settle.abort();
        record('unavailable', elapsedMs);
        throw new EngineUnavailableError(`engine failed during request: ${describe(error)}`);
      } finally {
        if (this.state === 'busy') this.setState(this.serving() ? 'ready' : 'restarting');
      }
    });
  }

  // ---- the child ------------------------------------------------------------------------------

  private async prepareChild(): Promise<ChildCommand> {
    const check = await checkModelFile(this.modelPath, { minBytes: 1024 });
    if (!check.ok) throw new Error(check.reason);
    const port = await freePort();
    this.port = port;
    this.client = new WhisperClient(`http://127.0.0.1:${port}`);
    this.childThreads = this.threads;
    const args = [
      '-m', this.modelPath,
      '--host', '127.0.0.1',
      '--port', String(port),
      '-t', String(this.threads),
      this.options.flashAttention ? '-fa' : '-nfa',
      // verbose_json would otherwise run a language detection pass (an extra encoder run) per request
      '-nlp',
    ];
    return { command: this.options.serverPath, args, env: { ...process.env, ...ENGINE_MALLOC_ENV } };
  }

  private async probeHealth(signal: AbortSignal): Promise<boolean> {
    const client = this.client;
    if (client === null) return false;
    return client.health({ signal, timeoutMs: HEALTH_CALL_TIMEOUT_MS });
  }

  private describeExit(exit: ChildExit, stderrTail: readonly string[]): string {
    const errors = stderrTail.filter((line) => /error|fail|couldn't|unable|not found|invalid/i.test(line)).slice(-3).join(' | ');
    return `whisper-server (model ${this.modelPath}) exited with ${exit.signal ?? `code ${exit.code}`}${errors ? `: ${errors}` : ''}`;
  }

  private onChildEvent(event: SupervisorEvent): void {
    switch (event.kind) {
      case 'spawned':
        break;
      case 'ready':
        this.setState('ready');
        this.options.logger.info({ pid: event.pid, port: this.port, model: this.modelPath, threads: this.childThreads, loadMs: Math.round(event.readyMs) }, 'engine ready');
        this.firstAttempt?.resolve();
        this.firstAttempt = null;
        break;
      case 'ended':
        // null: stop() owns the state from here.
        if (event.restart === null) break;
        this.setState('restarting');
        if (this.firstAttempt !== null && event.end.kind !== 'planned' && !event.restart.atOnce) {
          this.firstAttempt.reject(new EngineUnavailableError(this.supervisor.lastError ?? 'engine failed to start'));
          this.firstAttempt = null;
        }
        break;
    }
  }

  /**
   * SIGKILL the current child and wait for its exit; the next call waits for readiness. A 'fault'
   * respawns through the backoff and becomes lastError; a 'planned' kill respawns at once.
   */
  private async killChild(reason: string, kind: 'fault' | 'planned'): Promise<void> {
    const pid = this.supervisor.pid;
    if (pid === null) return;
    this.options.logger[kind === 'fault' ? 'warn' : 'info']({ reason, pid }, 'killing engine');
    this.setState('restarting');
    if (kind === 'fault') await this.supervisor.fail(reason, 'SIGKILL');
    else await this.supervisor.restartNow(reason, 'SIGKILL');
  }

  private serving(): boolean {
    const run = this.supervisor.currentRun();
    return run !== null && run.ready && !run.ending && !run.exited;
  }

  /** The ready child, waiting for a respawn if one is under way (bounded by readyTimeoutMs). */
  private async readyChild(signal: AbortSignal | undefined): Promise<ServingChild> {
    const deadline = performance.now() + this.options.readyTimeoutMs;
    for (;;) {
      if (!this.started) throw new EngineUnavailableError('engine is stopped');
      if (signal?.aborted) throw new EngineAbortedError('transcription aborted before it started', 'aborted');
      const run = this.supervisor.currentRun();
      const client = this.client;
      if (run !== null && client !== null && this.serving() && (this.state === 'ready' || this.state === 'busy')) {
        return { client, threads: this.childThreads, closed: run.closed };
      }
      if (performance.now() > deadline) {
        const lastError = this.supervisor.lastError;
        throw new EngineUnavailableError(`engine not ready within ${this.options.readyTimeoutMs} ms (${this.state}${lastError ? `: ${lastError}` : ''})`);
      }
      await sleep(HEALTH_POLL_MS, signal);
    }
  }

  /** FIFO, one at a time. A call aborted while waiting leaves without disturbing the running one. */
  private async exclusive<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    const previous = this.queueTail;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.queueTail = previous.then(() => mine);
    try {
      if (signal) {
        let onAbort: (() => void) | undefined;
        try {
          await Promise.race([
            previous,
            new Promise<never>((_, reject) => {
              onAbort = () => reject(new EngineAbortedError('transcription aborted while queued', 'aborted'));
              if (signal.aborted) onAbort();
              else signal.addEventListener('abort', onAbort, { once: true });
            }),
          ]);
        } finally {
          if (onAbort) signal.removeEventListener('abort', onAbort);
        }
      } else {
        await previous;
      }
      return await work();
    } finally {
      release();
    }
  }

  private setState(state: EngineState): void {
    if (this.state === state) return;
    this.state = state;
    this.options.logger.debug({ state }, 'engine state');
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}
