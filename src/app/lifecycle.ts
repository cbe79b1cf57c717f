import type { Logger } from '../log.js';

/**
 * One long-lived part as the lifecycle sees it. `stop` must be safe to call after a failed or
 * partial `start`, and twice.
 */
export interface LifecyclePart {
  readonly name: string;
  readonly start?: () => Promise<void> | void;
  readonly stop?: () => Promise<void> | void;
}

/**
 * Starts an ordered list of parts and stops them in reverse (zigbee2mqtt's controller is the
 * model). A part that fails to start stops the ones already started, so a half-built appliance
 * never keeps running. A part that fails to stop is logged and the rest still stop: a stuck LED
 * must not keep the recording in progress from being saved or the database from closing.
 */
export class Lifecycle {
  private readonly started: LifecyclePart[] = [];
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly parts: readonly LifecyclePart[],
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    if (this.stopping) throw new Error('lifecycle already stopped');
    for (const part of this.parts) {
      const startedMs = performance.now();
      try {
        await part.start?.();
      } catch (error) {
        this.logger.error({ err: error, part: part.name }, 'part failed to start; stopping the others');
        // The failed part may hold resources it took before throwing.
        this.started.push(part);
        await this.stop();
        throw error;
      }
      this.started.push(part);
      this.logger.debug({ part: part.name, durationMs: Math.round(performance.now() - startedMs) }, 'part started');
    }
  }

  /** Stops every started part in reverse order; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    for (const part of [...this.started].reverse()) {
      try {
        await part.stop?.();
      } catch (error) {
        this.logger.error({ err: error, part: part.name }, 'part failed to stop; stopping the rest');
      }
    }
    this.started.length = 0;
  }
}
