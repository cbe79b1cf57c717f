import type { Config } from './config.js';
import type { Logger } from './log.js';
import { composeScout } from './app/compose.js';
import { Lifecycle } from './app/lifecycle.js';
import { createScoutMetrics, type ScoutMetrics } from './ops/metrics.js';

export interface ServiceOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The running appliance: the composer builds the parts, the lifecycle starts them in order and
 * stops them in reverse. main.ts adds only signals and process guards around it.
 */
export class ScoutService {
  /** Exists before start(): the process guards count fatal errors into it from the first moment. */
  readonly metrics: ScoutMetrics = createScoutMetrics();
  private lifecycle: Lifecycle | null = null;
  private stopping: Promise<void> | null = null;

  constructor(private readonly options: ServiceOptions) {}

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const startedMs = performance.now();
    const scout = await composeScout({ config, logger, env: this.options.env ?? process.env, metrics: this.metrics });
    this.lifecycle = new Lifecycle(scout.parts, logger.child({ module: 'lifecycle' }));
    await this.lifecycle.start();
    logger.info(
      {
        port: scout.port(),
        dataDir: config.dataDir,
        audio: { backend: config.audio.backend, device: config.audio.device, format: scout.audioFormat },
        gpio: config.gpio.backend,
        durationMs: Math.round(performance.now() - startedMs),
      },
      'scout is up',
    );
  }

  /** Stops in reverse start order; the recording in progress is finished and flushed. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    const startedMs = performance.now();
    await this.lifecycle?.stop();
    this.options.logger.info({ durationMs: Math.round(performance.now() - startedMs) }, 'scout stopped');
  }
}
