import type { Logger } from '../log.js';
import type { Notifier } from './sd-notify.js';

/**
 * Feeds systemd's watchdog only while the appliance is making progress.
 *
 * A timer that pings unconditionally only proves that the event loop turns; a box whose
 * microphone stopped delivering frames or whose transcriber hangs would look alive for months.
 * So every tick runs a list of cheap, synchronous progress checks and sends `WATCHDOG=1` only
 * when all pass. When one fails, pings stop: systemd kills and restarts us after `WatchdogSec`,
 * which is the recovery we want for a wedge we cannot fix from inside. The reason is logged
 * once and put in `STATUS=` so `systemctl status` says why.
 */
export interface ProgressCheckResult {
  readonly ok: boolean;
  readonly reason?: string;
}

export type ProgressCheck = () => ProgressCheckResult;

export interface NamedProgressCheck {
  readonly name: string;
  readonly check: ProgressCheck;
}

export interface WatchdogOptions {
  readonly notifier: Pick<Notifier, 'watchdog' | 'status' | 'watchdogIntervalMs'>;
  readonly checks: readonly NamedProgressCheck[];
  readonly logger: Logger;
  /** Overrides half of WATCHDOG_USEC (tests). */
  readonly intervalMs?: number;
}

export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private failing: string | null = null;
  private appStatus: string | null = null;
  private pings = 0;

  constructor(private readonly options: WatchdogOptions) {}

  /** Starts pinging when systemd asked for a watchdog; otherwise does nothing. */
  start(): Promise<void> {
    if (this.timer) return Promise.resolve();
    const intervalMs = this.options.intervalMs ?? this.options.notifier.watchdogIntervalMs();
    if (intervalMs === null) {
      this.options.logger.debug('no systemd watchdog requested');
      return Promise.resolve();
    }
    this.options.logger.info({ intervalMs }, 'feeding the systemd watchdog while the pipeline progresses');
    this.tick();
    this.timer = setInterval(() => this.tick(), intervalMs);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return Promise.resolve();
  }

  /**
   * Sets the human status line. Use this instead of the notifier directly so that a stall
   * reason, while there is one, stays visible in front of it.
   */
  status(text: string): Promise<void> {
    this.appStatus = text;
    return this.options.notifier.status(this.failing === null ? text : `stalled (${this.failing}); ${text}`);
  }

  /** Runs the checks now; the name and reason of the first failing check, or null. Exposed for health and tests. */
  evaluate(): string | null {
    for (const { name, check } of this.options.checks) {
      let result: ProgressCheckResult;
      try {
        result = check();
      } catch (error) {
        result = { ok: false, reason: `check threw: ${error instanceof Error ? error.message : String(error)}` };
      }
      if (!result.ok) return `${name}: ${result.reason ?? 'no progress'}`;
    }
    return null;
  }

  /** Stall reason currently withholding pings, or null. */
  get stalledReason(): string | null {
    return this.failing;
  }

  get pingCount(): number {
    return this.pings;
  }

  private tick(): void {
    const failure = this.evaluate();
    if (failure === null) {
      if (this.failing !== null) {
        this.options.logger.info({ was: this.failing }, 'pipeline progressing again; watchdog pings resumed');
        this.failing = null;
        if (this.appStatus !== null) void this.options.notifier.status(this.appStatus);
      }
      this.pings += 1;
      void this.options.notifier.watchdog();
      return;
    }
    if (failure !== this.failing) {
      // Once per distinct reason: a stall lasts until systemd kills us, a line per tick is spam.
      this.options.logger.error({ reason: failure }, 'pipeline not progressing; withholding watchdog pings');
      this.failing = failure;
      const suffix = this.appStatus === null ? '' : `; ${this.appStatus}`;
      void this.options.notifier.status(`stalled (${failure})${suffix}`);
    }
  }
}

/** Event loop responsive: the measured lag (e.g. ResourceMonitor's p99) under a threshold. */
export function eventLoopProgress(lagMs: () => number | null, maxLagMs: number): NamedProgressCheck {
  return {
    name: 'event-loop',
    check: () => {
      const lag = lagMs();
      if (lag === null || lag <= maxLagMs) return { ok: true };
      return { ok: false, reason: `lag ${Math.round(lag)} ms > ${maxLagMs} ms` };
    },
  };
}

/** Any other part that can tell whether it is wedged (e.g. the engine: a request running far past its deadline). */
export function predicateProgress(name: string, check: ProgressCheck): NamedProgressCheck {
  return { name, check };
}
