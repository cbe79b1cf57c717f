/**
 * The remote engine tier: a whisper-server elsewhere on the LAN that takes windows off the Pi,
 * for every window while it is reachable (`when: 'always'`) or only while the degradation level
 * asks for it (`when: 'pressure'`, the level table's `remote`). It has a breaker of its own, so a
 * failing remote never opens the local engine's; a window the remote does not run (down, breaker
 * open, failed mid-request) runs on the local engine (the window job decides, ./window-job.ts).
 *
 * Reachability is a /health probe every `healthIntervalMs` (and a request that found nobody
 * there): a remote known to be down is not tried for every window, while the breaker covers a
 * remote that answers /health but fails its requests.
 */
import type { BreakerState, EngineName } from '../domain/transcript.js';
import type { Logger } from '../log.js';
import type { HealthCheckResult } from '../domain/health.js';
import { EngineBreaker, type BreakerOptions } from './breaker.js';
import { EngineUnavailableError, type TranscribeRequest, type TranscribeResult } from './engine.js';
import type { RemoteWhisperEngine } from './remote-engine.js';

export type RemoteWhen = 'always' | 'pressure';

export interface EngineChoice {
  readonly when: RemoteWhen;
  /** The degradation level in force asks for the remote tier (its `remote` action). */
  readonly levelAsksRemote: boolean;
  readonly breaker: BreakerState;
  /** The last /health probe (or request) said so; null before the first probe. */
  readonly reachable: boolean | null;
}

/** Whether the remote is wanted now, whatever its state. */
export function remoteWanted(choice: Pick<EngineChoice, 'when' | 'levelAsksRemote'>): boolean {
  return choice.when === 'always' || choice.levelAsksRemote;
}

/**
 * The engine for the next window: the remote when it is wanted, its breaker lets calls through
 * (half-open: this window is the probe) and it is not known to be down; the local one otherwise.
 * Not yet probed counts as reachable: the first request says more than waiting would.
 */
export function pickEngine(choice: EngineChoice): EngineName {
  if (!remoteWanted(choice)) return 'local';
  if (choice.breaker === 'open') return 'local';
  if (choice.reachable === false) return 'local';
  return 'remote';
}

export interface RemoteTierOptions {
  readonly engine: RemoteWhisperEngine;
  readonly when: RemoteWhen;
  /** Read per window: the degradation level's `remote` action. */
  readonly levelAsksRemote: () => boolean;
  readonly breaker: BreakerOptions;
  readonly healthIntervalMs: number;
  readonly logger: Logger;
  readonly nowMs?: () => number;
}

export interface RemoteTierStatus {
  readonly host: string;
  readonly model: string;
  readonly when: RemoteWhen;
  /** `when` and the level say the remote should take windows now. */
  readonly wanted: boolean;
  /** What the next window would run on. */
  readonly next: EngineName;
  readonly reachable: boolean | null;
  readonly lastCheckedAtMs: number | null;
  readonly breaker: BreakerState;
  readonly breakerFailures: number;
  /** The latest failure of a request or a probe, kept after the remote recovers (for diagnosis); null if none yet. */
  readonly lastError: string | null;
  /** Requests sent to the remote and not answered yet. */
  readonly inFlight: number;
  /** Windows the remote has run since start. */
  readonly windows: number;
}

export class RemoteTier {
  private readonly breaker: EngineBreaker;
  private readonly listeners: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private probing: Promise<void> | null = null;
  private stopping: AbortController | null = null;
  private reachable: boolean | null = null;
  private lastCheckedAtMs: number | null = null;
  private lastError: string | null = null;
  private inFlight = 0;
  private served = 0;
  private wired = false;

  constructor(private readonly options: RemoteTierOptions) {
    this.breaker = new EngineBreaker(options.breaker, options.logger.child({ part: 'remote-breaker' }));
  }

  get host(): string {
    return this.options.engine.host;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    await this.breaker.start();
    if (!this.wired) {
      this.wired = true;
      this.breaker.onStateChange((state) => {
        if (state !== 'open') this.available();
      });
    }
    this.stopping = new AbortController();
    // Not awaited: the start of transcription must not wait for a host on the LAN.
    this.probeSoon();
    this.timer = setInterval(() => this.probeSoon(), this.options.healthIntervalMs);
    this.timer.unref();
    this.options.logger.info({ host: this.host, model: this.options.engine.status().model, when: this.options.when }, 'remote engine tier configured');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopping?.abort();
    await this.probing;
    await this.breaker.stop();
  }

  /** Called when the remote may take windows again (reachable, breaker no longer open): the queue looks again. */
  onAvailable(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** What the next window runs on. */
  pick(): EngineName {
    return pickEngine({ when: this.options.when, levelAsksRemote: this.options.levelAsksRemote(), breaker: this.breaker.state(), reachable: this.reachable });
  }

  /**
   * One window on the remote, through its breaker. Rejects with the breaker's or the engine's
   * error (the window job then runs the window locally); a remote nobody answers for is marked
   * unreachable until a probe finds it again.
   */
  async transcribe(request: TranscribeRequest): Promise<TranscribeResult> {
    this.inFlight++;
    try {
      const outer = request.signal;
      const result = await this.breaker.fire((signal) => this.options.engine.transcribe({ ...request, signal: outer ? AbortSignal.any([signal, outer]) : signal }));
      this.served++;
      this.reachable = true;
      return result;
    } catch (error) {
      if (request.signal?.aborted !== true) {
        this.lastError = error instanceof Error ? error.message : String(error);
        if (error instanceof EngineUnavailableError) this.reachable = false;
      }
      throw error;
    } finally {
      this.inFlight--;
    }
  }

  status(): RemoteTierStatus {
    const levelAsksRemote = this.options.levelAsksRemote();
    return {
      host: this.host,
      model: this.options.engine.status().model,
      when: this.options.when,
      wanted: remoteWanted({ when: this.options.when, levelAsksRemote }),
      next: this.pick(),
      reachable: this.reachable,
      lastCheckedAtMs: this.lastCheckedAtMs,
      breaker: this.breaker.state(),
      breakerFailures: this.breaker.failures,
      lastError: this.lastError,
      inFlight: this.inFlight,
      windows: this.served,
    };
  }

  /**
   * Health: degraded while the remote is down or its breaker not closed (windows run locally, so
   * nothing is lost and the box still works); healthy otherwise, wanted now or standing by.
   */
  health(): HealthCheckResult {
    const status = this.status();
    const details = { ...status };
    const role = status.wanted ? 'takes the windows' : `stands by (when: ${status.when})`;
    if (status.reachable === false || status.breaker !== 'closed') {
      const why = status.lastError ? `: ${status.lastError}` : '';
      return { status: 'degraded', message: `remote whisper-server ${status.host} ${status.reachable === false ? 'unreachable' : `breaker ${status.breaker}`}${why}; windows run locally`, details };
    }
    if (status.reachable === null) return { status: 'healthy', message: `remote whisper-server ${status.host} not checked yet; ${role}`, details };
    return { status: 'healthy', message: `remote whisper-server ${status.host} reachable; ${role}`, details };
  }

  private probeSoon(): void {
    if (this.probing) return;
    this.probing = this.probe()
      .catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'remote engine probe failed');
      })
      .finally(() => {
        this.probing = null;
      });
  }

  /** Never rejects: it runs from a timer. */
  private async probe(): Promise<void> {
    const signal = this.stopping?.signal;
    const answer = await this.options.engine.health(signal);
    if (signal?.aborted === true) return;
    const before = this.reachable;
    this.reachable = answer.ok;
    this.lastCheckedAtMs = (this.options.nowMs ?? Date.now)();
    if (!answer.ok) {
      this.lastError = answer.reason;
      if (before !== false) this.options.logger.warn({ host: this.host, reason: answer.reason }, 'remote engine unreachable; windows run locally');
      return;
    }
    if (before !== true) {
      this.options.logger.info({ host: this.host }, 'remote engine reachable');
      this.available();
    }
  }

  private available(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.options.logger.error({ err: error }, 'remote tier listener threw');
      }
    }
  }
}
