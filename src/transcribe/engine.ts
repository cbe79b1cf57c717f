/**
 * whisper.cpp's `whisper-server` as a supervised, long-lived child process on loopback.
 *
 * The model is loaded once per process; each transcription is one multipart POST to /inference.
 * A separate process means a native crash cannot take the appliance down, and an abort can stop
 * native work for sure (SIGKILL) where a timeout alone would leave it running.
 *
 * Per-request fields that whisper-server 1.9.1 honours (examples/server/server.cpp,
 * get_req_parameters) and that we send: `audio_ctx`, `beam_size` (> 1 = beam search, else greedy),
 * `language`, `temperature` (0), `response_format=verbose_json`, `token_timestamps=false`.
 * Not available per request in 1.9.1: thread count (only the `-t` flag: `reconfigure({ threads })`
 * restarts the child) and a token cap (whisper_full_params.max_tokens is not parsed by the server;
 * `max_len` is a segment length in characters and only acts with token timestamps).
 *
 * Concurrency: calls are served one at a time in FIFO order (the server holds one mutex per
 * request anyway); a waiting call can be aborted by its signal without touching the running one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { createServer } from 'node:net';
import type { Logger } from '../log.js';
import { Backoff } from '../util/backoff.js';
import { sleep } from '../util/sleep.js';
import { checkModelFile } from './model-file.js';

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
  /** stderr lines logged per minute at most; the rest are counted. Default 30. */
  readonly stderrLinesPerMinute?: number;
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
  readonly signal?: AbortSignal;
}

export interface TranscriptSegment {
  readonly startMs: number;
  readonly endMs: number;
  readonly text: string;
}

export interface TranscribeResult {
  readonly text: string;
  readonly segments: TranscriptSegment[];
  /** Wall time of the HTTP request (upload, mel, encode, decode). */
  readonly processingMs: number;
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

const SAMPLE_RATE_HZ = 16000;
const SETPRIV_PATH = existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : null;
/** whisper's encoder frame: 30 s / 1500. */
const ENCODER_FRAME_MS = 20;
const MAX_AUDIO_CTX = 1500;
const HEALTH_POLL_MS = 50;
const STOP_GRACE_MS = 2000;
const STDERR_TAIL_LINES = 20;
const BIND_RETRIES = 5;

/**
 * Encoder context for a clip: its own frames plus a margin (the brief measured 314 for 5 s and
 * 614 for 11 s: 64 frames of margin), capped at the full window.
 */
export function audioCtxFor(durationMs: number, marginFrames = 64): number {
  return Math.min(MAX_AUDIO_CTX, Math.ceil(durationMs / ENCODER_FRAME_MS) + marginFrames);
}

/** A 44-byte-header PCM WAV around 16-bit mono samples. */
export function wavFromPcm16(pcm: Int16Array, sampleRateHz = SAMPLE_RATE_HZ): Buffer {
  const dataBytes = pcm.length * 2;
  const wav = Buffer.alloc(44 + dataBytes);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + dataBytes, 4);
  wav.write('WAVE', 8, 'ascii');
  wav.write('fmt ', 12, 'ascii');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20);
  wav.writeUInt16LE(1, 22);
  wav.writeUInt32LE(sampleRateHz, 24);
  wav.writeUInt32LE(sampleRateHz * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(dataBytes, 40);
  Buffer.from(pcm.buffer, pcm.byteOffset, dataBytes).copy(wav, 44);
  return wav;
}

/** Audio length of a canonical 16 kHz mono S16 WAV (data after a 44-byte header). */
function wavDurationMs(wav: Buffer): number {
  return Math.max(0, ((wav.length - 44) / 2 / SAMPLE_RATE_HZ) * 1000);
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

interface Child {
  readonly process: ChildProcess;
  readonly port: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly stderrTail: string[];
  /** Set when we killed it on purpose (abort, reconfigure, stop): respawn without backoff. */
  intentional: boolean;
}

interface VerboseJson {
  readonly text?: unknown;
  readonly segments?: unknown;
}

export class WhisperEngine {
  private state: EngineState = 'stopped';
  private restarts = 0;
  private lastError: string | null = null;
  private modelPath: string;
  private threads: number;
  private child: Child | null = null;
  private started = false;
  private stopping = false;
  private stopController = new AbortController();
  private supervisor: Promise<void> | null = null;
  private queueTail: Promise<void> = Promise.resolve();
  private readonly backoff: Backoff;
  private readonly requestListeners: ((record: EngineRequestRecord) => void)[] = [];
  private stderrWindowStartMs = 0;
  private stderrLinesInWindow = 0;
  private stderrSuppressed = 0;
  private firstAttempt: { resolve: () => void; reject: (error: Error) => void } | null = null;

  constructor(private readonly options: WhisperEngineOptions) {
    this.modelPath = options.modelPath;
    this.threads = options.threads;
    this.backoff = new Backoff({ initialMs: options.restart.initialMs, maxMs: options.restart.maxMs, healthyAfterMs: 30_000 });
  }

  status(): EngineStatus {
    return {
      state: this.state,
      restarts: this.restarts,
      lastError: this.lastError,
      model: this.modelPath,
      pid: this.child?.process.pid ?? null,
      port: this.child?.port ?? null,
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
    this.stopping = false;
    this.stopController = new AbortController();
    const firstReady = new Promise<void>((resolve, reject) => {
      this.firstAttempt = { resolve, reject };
    });
    this.supervisor = this.supervise();
    await firstReady;
  }

  /** Kills the child (SIGTERM, then SIGKILL after 2 s) and waits for it; safe to call twice. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.stopping = true;
    this.stopController.abort();
    const child = this.child;
    if (child) await this.terminate(child, 'SIGTERM');
    await this.supervisor;
    this.supervisor = null;
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
      await this.restartChild('reconfigure');
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
      const form = new FormData();
      form.append('model', path);
      let response: Response;
      try {
        response = await fetch(`http://127.0.0.1:${child.port}/load`, {
          method: 'POST',
          body: form,
          signal: AbortSignal.timeout(this.options.readyTimeoutMs),
        });
      } catch (error) {
        await this.restartChild('model load failed');
        throw new EngineRequestError(`loading model ${path} failed (${describe(error)}); restarted with ${this.modelPath}`, null);
      }
      const body = await response.text().catch(() => '');
      if (!response.ok) throw new EngineRequestError(`loading model ${path} refused: HTTP ${response.status} ${body.slice(0, 200)}`, response.status);
      this.modelPath = path;
      this.options.logger.info({ model: path }, 'engine model swapped via /load');
    });
  }

  async transcribe(request: TranscribeRequest): Promise<TranscribeResult> {
    const wav = request.wav ?? (request.pcm ? wavFromPcm16(request.pcm) : null);
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
      const form = new FormData();
      form.append('file', new Blob([wav], { type: 'audio/wav' }), 'clip.wav');
      form.append('response_format', 'verbose_json');
      form.append('temperature', '0');
      form.append('token_timestamps', 'false');
      form.append('language', request.language ?? 'en');
      form.append('audio_ctx', String(audioCtx));
      form.append('beam_size', String(beamSize));

      const timeout = AbortSignal.timeout(this.options.requestTimeoutMs);
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      const startedMs = performance.now();
      this.setState('busy');
      let response: Response;
      let body: string;
      try {
        response = await fetch(`http://127.0.0.1:${child.port}/inference`, { method: 'POST', body: form, signal: combined });
        body = await response.text();
      } catch (error) {
        const elapsedMs = performance.now() - startedMs;
        if (combined.aborted) {
          const reason = signal?.aborted ? 'aborted' : 'timeout';
          // The server would finish the native work anyway; only a kill frees the CPU now.
          await this.restartChild(reason === 'timeout' ? 'request timeout' : 'request aborted');
          record(reason, elapsedMs);
          throw new EngineAbortedError(
            reason === 'timeout' ? `transcription exceeded ${this.options.requestTimeoutMs} ms; engine restarted` : 'transcription aborted; engine restarted',
            reason,
          );
        }
        // Most likely the child died: let its exit land so the next call waits for the respawn
        // instead of writing to a dead socket.
        await Promise.race([child.exited, sleep(1000)]);
        record('unavailable', elapsedMs);
        throw new EngineUnavailableError(`engine failed during request: ${describe(error)}`);
      } finally {
        if (this.state === 'busy' && isRunning(child)) this.setState('ready');
      }
      const processingMs = performance.now() - startedMs;
      if (!response.ok) {
        record('error', processingMs);
        throw new EngineRequestError(`whisper-server answered HTTP ${response.status}: ${body.slice(0, 200)}`, response.status);
      }
      let result: TranscribeResult;
      try {
        result = parseVerboseJson(body, processingMs);
      } catch (error) {
        record('error', processingMs);
        throw new EngineRequestError(`unreadable whisper-server answer: ${describe(error)}`, response.status);
      }
      record('ok', processingMs);
      return result;
    });
  }

  // ---- supervision ----------------------------------------------------------------------------

  private async supervise(): Promise<void> {
    let bindFailures = 0;
    while (!this.stopping) {
      this.setState(this.restarts === 0 && this.firstAttempt ? 'starting' : 'restarting');
      const outcome = await this.runChild();
      if (this.stopping) break;
      if (outcome === 'bind') {
        // Someone took the port between our probe and the server's bind: pick another at once.
        bindFailures += 1;
        if (bindFailures <= BIND_RETRIES) continue;
      }
      bindFailures = 0;
      if (this.firstAttempt && outcome !== 'ran') {
        this.firstAttempt.reject(new EngineUnavailableError(this.lastError ?? 'engine failed to start'));
        this.firstAttempt = null;
      }
      this.restarts += 1;
      if (outcome === 'intentional') continue;
      this.setState('restarting');
      const delayMs = this.backoff.next();
      this.options.logger.warn({ delayMs, lastError: this.lastError, restarts: this.restarts }, 'engine down; respawning after backoff');
      await sleep(delayMs, this.stopController.signal);
    }
  }

  /** One child's life: spawn, wait for /health, serve until it exits. */
  private async runChild(): Promise<'ran' | 'failed' | 'bind' | 'intentional'> {
    const check = await checkModelFile(this.modelPath, { minBytes: 1024 });
    if (!check.ok) {
      this.lastError = check.reason;
      return 'failed';
    }
    const port = await freePort();
    if (this.stopping) return 'ran';
    const child = this.spawnChild(port);
    this.child = child;
    const launchedMs = performance.now();
    const ready = await this.waitHealthy(child);
    if (ready) {
      this.setState('ready');
      this.options.logger.info({ pid: child.process.pid, port, model: this.modelPath, loadMs: Math.round(performance.now() - launchedMs) }, 'engine ready');
      if (this.firstAttempt) {
        this.firstAttempt.resolve();
        this.firstAttempt = null;
      }
    } else if (child.process.exitCode === null && child.process.signalCode === null) {
      this.lastError ??= `whisper-server not ready within ${this.options.readyTimeoutMs} ms`;
      await this.terminate(child, 'SIGKILL');
    }
    const exit = await child.exited;
    this.child = null;
    if (!this.stopping) this.setState('restarting');
    const ranMs = performance.now() - launchedMs;
    this.backoff.ranFor(ranMs);
    if (this.stopping) return 'ran';
    if (child.intentional) return 'intentional';
    const tail = child.stderrTail.filter((line) => /error|fail|couldn't|unable|not found|invalid/i.test(line)).slice(-3).join(' | ');
    if (child.stderrTail.some((line) => line.includes("couldn't bind"))) return 'bind';
    this.lastError = `whisper-server (model ${this.modelPath}) exited with ${exit.signal ?? `code ${exit.code}`}${tail ? `: ${tail}` : ''}`;
    this.options.logger.warn({ code: exit.code, signal: exit.signal, ranMs: Math.round(ranMs) }, this.lastError);
    return ready ? 'ran' : 'failed';
  }

  private spawnChild(port: number): Child {
    const args = [
      '-m', this.modelPath,
      '--host', '127.0.0.1',
      '--port', String(port),
      '-t', String(this.threads),
      this.options.flashAttention ? '-fa' : '-nfa',
      // verbose_json would otherwise run a language detection pass (an extra encoder run) per request
      '-nlp',
    ];
    // setpriv (util-linux) execs the server with PR_SET_PDEATHSIG: if Scout itself is killed
    // (SIGKILL, OOM), the kernel kills the server too instead of leaving it holding ~100 MB.
    const [command, commandArgs] = SETPRIV_PATH === null
      ? [this.options.serverPath, args]
      : [SETPRIV_PATH, ['--pdeathsig', 'KILL', '--', this.options.serverPath, ...args]];
    const process_ = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stderrTail: string[] = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      process_.once('exit', (code, signal) => resolve({ code, signal }));
      process_.once('error', (error) => {
        this.lastError = `cannot run ${this.options.serverPath}: ${error.message}`;
        resolve({ code: null, signal: null });
      });
    });
    if (process_.pid !== undefined) {
      try {
        // Before the server creates its threads, which inherit the nice value.
        setPriority(process_.pid, Math.min(19, getPriority() + (this.options.niceness ?? 10)));
      } catch (error) {
        this.options.logger.warn({ error: describe(error) }, 'cannot lower engine priority');
      }
    }
    process_.stdout?.resume();
    let partial = '';
    process_.stderr?.setEncoding('utf8');
    process_.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        stderrTail.push(line);
        if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
        this.logStderr(line);
      }
    });
    return { process: process_, port, exited, stderrTail, intentional: false };
  }

  /** whisper.cpp prints ~40 lines per model load and per request: keep a budget so the journal stays small. */
  private logStderr(line: string): void {
    const nowMs = Date.now();
    if (nowMs - this.stderrWindowStartMs >= 60_000) {
      if (this.stderrSuppressed > 0) this.options.logger.debug({ suppressed: this.stderrSuppressed }, 'engine stderr lines suppressed');
      this.stderrWindowStartMs = nowMs;
      this.stderrLinesInWindow = 0;
      this.stderrSuppressed = 0;
    }
    if (this.stderrLinesInWindow < (this.options.stderrLinesPerMinute ?? 30)) {
      this.stderrLinesInWindow += 1;
      this.options.logger.debug({ stderr: line }, 'whisper-server');
    } else {
      this.stderrSuppressed += 1;
    }
  }

  private async waitHealthy(child: Child): Promise<boolean> {
    const deadline = performance.now() + this.options.readyTimeoutMs;
    let exited = false;
    void child.exited.then(() => {
      exited = true;
    });
    while (!exited && !this.stopping && performance.now() < deadline) {
      try {
        const response = await fetch(`http://127.0.0.1:${child.port}/health`, { signal: AbortSignal.timeout(1000) });
        const body = await response.text();
        if (response.ok && body.includes('"ok"')) return true;
      } catch {
        // connection refused while the model loads: the server binds only after loading
      }
      await sleep(HEALTH_POLL_MS, this.stopController.signal);
    }
    return false;
  }

  private async terminate(child: Child, signal: NodeJS.Signals): Promise<void> {
    child.intentional = true;
    if (child.process.exitCode !== null || child.process.signalCode !== null) return;
    child.process.kill(signal);
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => child.process.kill('SIGKILL'), STOP_GRACE_MS);
      await child.exited;
      clearTimeout(timer);
    } else {
      await child.exited;
    }
  }

  /** SIGKILL the current child and wait for its exit; the supervisor respawns it at once, and the next call waits for readiness. */
  private async restartChild(reason: string): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.options.logger.info({ reason, pid: child.process.pid }, 'killing engine');
    this.setState('restarting');
    await this.terminate(child, 'SIGKILL');
  }

  /** The ready child, waiting for a respawn if one is under way (bounded by readyTimeoutMs). */
  private async readyChild(signal: AbortSignal | undefined): Promise<Child> {
    const deadline = performance.now() + this.options.readyTimeoutMs;
    for (;;) {
      if (!this.started) throw new EngineUnavailableError('engine is stopped');
      if (signal?.aborted) throw new EngineAbortedError('transcription aborted before it started', 'aborted');
      const child = this.child;
      if (child && isRunning(child) && (this.state === 'ready' || this.state === 'busy')) return child;
      if (performance.now() > deadline) {
        throw new EngineUnavailableError(`engine not ready within ${this.options.readyTimeoutMs} ms (${this.state}${this.lastError ? `: ${this.lastError}` : ''})`);
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

function isRunning(child: Child): boolean {
  return child.process.exitCode === null && child.process.signalCode === null;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}

function parseVerboseJson(body: string, processingMs: number): TranscribeResult {
  const json = JSON.parse(body) as VerboseJson;
  if (typeof json.text !== 'string' || !Array.isArray(json.segments)) throw new Error('missing text or segments');
  const segments: TranscriptSegment[] = [];
  for (const raw of json.segments as unknown[]) {
    const segment = raw as { start?: unknown; end?: unknown; text?: unknown };
    if (typeof segment.start !== 'number' || typeof segment.end !== 'number' || typeof segment.text !== 'string') continue;
    segments.push({ startMs: Math.round(segment.start * 1000), endMs: Math.round(segment.end * 1000), text: segment.text.trim() });
  }
  return { text: json.text.trim(), segments, processingMs };
}
