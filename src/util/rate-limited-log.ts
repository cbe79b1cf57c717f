import type { Logger } from '../log.js';

/** The pino levels a rate-limited line may be logged at. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface RateLimitedLogOptions {
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Monotonic ms; injected for tests. Default performance.now. */
  readonly nowMs?: () => number;
  /** Keys remembered at once; the least recently logged is forgotten beyond this. Default 256. */
  readonly maxKeys?: number;
}

interface KeyState {
  lastLoggedMs: number;
  suppressed: number;
  level: LogLevel;
  msg: string;
}

/**
 * Logs repeated errors without flooding journald. An unplugged mic can fail every few
 * milliseconds; a line each time filled SD cards on other devices.
 *
 * Per key: the first occurrence is logged at once; later ones within `intervalMs` of the last
 * logged line are only counted; the first occurrence after the interval is logged with
 * `suppressed: <count>` (how many were dropped since the previous line). `flush()` writes a
 * summary for every key with dropped lines (call it on stop). No timers: nothing runs while
 * nothing fails.
 */
export class RateLimitedLog {
  private readonly keys = new Map<string, KeyState>();

  constructor(private readonly options: RateLimitedLogOptions) {}

  /** Logs `msg` with `fields` under `key` unless the key was logged less than `intervalMs` ago. Returns whether it logged. */
  log(level: LogLevel, key: string, fields: Record<string, unknown>, msg: string): boolean {
    const now = (this.options.nowMs ?? (() => performance.now()))();
    const state = this.keys.get(key);
    if (state && now - state.lastLoggedMs < this.options.intervalMs) {
      state.suppressed += 1;
      state.level = level;
      state.msg = msg;
      return false;
    }
    const suppressed = state?.suppressed ?? 0;
    this.options.logger[level]({ ...fields, key, ...(suppressed > 0 ? { suppressed } : {}) }, msg);
    // Re-insert so Map order is least-recently-logged first, for eviction.
    this.keys.delete(key);
    this.keys.set(key, { lastLoggedMs: now, suppressed: 0, level, msg });
    this.evict();
    return true;
  }

  error(key: string, fields: Record<string, unknown>, msg: string): boolean {
    return this.log('error', key, fields, msg);
  }

  warn(key: string, fields: Record<string, unknown>, msg: string): boolean {
    return this.log('warn', key, fields, msg);
  }

  /** Occurrences dropped for `key` since its last line. */
  suppressedCount(key: string): number {
    return this.keys.get(key)?.suppressed ?? 0;
  }

  /** One summary line per key with dropped occurrences; then forgets all keys. */
  flush(): void {
    for (const [key, state] of this.keys) {
      if (state.suppressed > 0) {
        this.options.logger[state.level]({ key, suppressed: state.suppressed }, `${state.msg} (repeated ${state.suppressed} more times)`);
      }
    }
    this.keys.clear();
  }

  private evict(): void {
    const maxKeys = this.options.maxKeys ?? 256;
    while (this.keys.size > maxKeys) {
      const oldest = this.keys.keys().next();
      if (oldest.done === true) return;
      this.keys.delete(oldest.value);
    }
  }
}
