import type { Logger } from '../log.js';
import type { FaultSink } from '../ops/faults.js';
import type { StorageErrors } from '../ops/storage-errors.js';

export interface StorageWatchOptions {
  readonly periodMs: number;
  /** Free bytes where recordings go. */
  readonly freeBytes: () => Promise<number>;
  /** Below this no new take starts ('disk' fault); the appliance refuses at the press too. */
  readonly minFreeBytes: number;
  /** Below this a take in progress is stopped, while this much is still free for its last flush and row. */
  readonly stopReserveBytes: number;
  /** A tiny committed write (store/db.ts checkWritable): proves the database takes writes again. */
  readonly probeWrite: () => { readonly ok: boolean; readonly message: string };
  readonly storageErrors: StorageErrors;
  readonly faults: FaultSink;
  readonly appliance: { snapshot(): { readonly phase: string }; stopForStorage(reason: string): void; retryPendingWrites(): void };
  /** Work that failed on full storage and waits for it to take writes again (start-up recovery). */
  readonly retry: () => Promise<void>;
  /** The retention policy, when enabled: frees space below its threshold and returns the free space after. */
  readonly retention?: (freeBytes: number) => Promise<number>;
  readonly logger: Logger;
}

/**
 * Watches the storage all the time, not only at a button press: the free space (refuse new takes
 * below minFree, stop a take in progress at the reserve) and, while a storage fault is up, whether
 * the database takes writes again. When it does, the fault clears and deferred work runs again,
 * with no restart.
 */
export class StorageWatch {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private lowSpace = false;

  constructor(private readonly options: StorageWatchOptions) {}

  start(): Promise<void> {
    if (this.timer) return Promise.resolve();
    this.timer = setInterval(() => this.tick(), this.options.periodMs);
    this.timer.unref();
    this.tick();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One look now; looks never overlap. */
  tick(): void {
    if (this.running) return;
    this.running = this.check()
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'storage check failed'))
      .finally(() => {
        this.running = null;
      });
  }

  private async check(): Promise<void> {
    const { options } = this;
    let free: number | null = null;
    try {
      free = await options.freeBytes();
    } catch (error) {
      options.logger.warn({ err: error }, 'cannot read the free space');
    }
    if (free !== null && options.retention) {
      try {
        free = await options.retention(free);
      } catch (error) {
        // A file that cannot be deleted must not stop the look at free space and storage below.
        options.logger.error({ err: error }, 'retention failed');
      }
    }
    if (free !== null) {
      const mb = Math.round(free / 1e6);
      if (free < options.stopReserveBytes && options.appliance.snapshot().phase === 'recording') {
        options.logger.warn({ freeBytes: free }, 'stopping the take: disk nearly full');
        options.appliance.stopForStorage(`disk nearly full: ${mb} MB free`);
      }
      if (free < options.minFreeBytes) {
        this.lowSpace = true;
        options.faults.set('disk', `disk nearly full: ${mb} MB free`);
      } else if (this.lowSpace) {
        this.lowSpace = false;
        options.faults.set('disk', null);
      }
    }
    if (!options.storageErrors.failing()) return;
    const probe = options.probeWrite();
    if (!probe.ok) return;
    options.storageErrors.succeeded();
    options.appliance.retryPendingWrites();
    await options.retry();
  }
}
