import type { Logger } from '../log.js';

/**
 * 'fatal': the box cannot record (mic gone, disk full, storage failing);
 * 'error': it records, but a part is broken (no usable model: nothing gets transcribed);
 * 'degraded': it works, with reduced quality or delays (hot, throttled, engine queueing).
 */
export type FaultSeverity = 'fatal' | 'error' | 'degraded';

export interface Fault {
  readonly key: string;
  readonly message: string;
  readonly severity: FaultSeverity;
}

/** Where a part reports a problem the user should see; `null` clears it. */
export interface FaultSink {
  set(key: string, message: string | null, severity?: FaultSeverity): void;
}

/**
 * The problems a person should see, by key ('audio', 'disk', 'model', ...). Parts raise and clear
 * them; the LEDs, STATUS= and the page read them. Kept apart from the state machine so that a new
 * part can report a fault without the appliance knowing it exists.
 */
export class FaultBoard implements FaultSink {
  private readonly faults = new Map<string, Fault>();
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly logger: Logger) {}

  set(key: string, message: string | null, severity: FaultSeverity = 'fatal'): void {
    const before = this.faults.get(key);
    if (message === null) this.faults.delete(key);
    else this.faults.set(key, { key, message, severity });
    const changed = message === null ? before !== undefined : before?.message !== message || before.severity !== severity;
    if (!changed) return;
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: error }, 'fault listener failed');
      }
    }
  }

  list(): readonly Fault[] {
    return [...this.faults.values()];
  }

  messages(): string[] {
    return this.list().map((fault) => fault.message);
  }

  has(severity: FaultSeverity): boolean {
    return this.list().some((fault) => fault.severity === severity);
  }

  /** Clears every fault without notifying (shutdown: the LEDs go dark anyway). */
  clear(): void {
    this.faults.clear();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }
}
