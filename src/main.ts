import { ConfigError, loadConfig, schemaDocs } from './config.js';
import { createRootLogger } from './log.js';
import { installProcessGuards } from './ops/process-guards.js';
import { ScoutService } from './service.js';

/**
 * Composition root: config, logger, process guards, the service, signals.
 * Exit codes: 0 clean stop, 1 fatal error (systemd restarts us), 2 bad configuration.
 */
async function main(): Promise<void> {
  if (process.argv.includes('--print-defaults')) {
    process.stdout.write(`${schemaDocs().join('\n')}\n`);
    return;
  }
  let loaded;
  try {
    loaded = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`scout: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { config, source } = loaded;
  const logger = createRootLogger(config.logLevel);
  logger.info({ configFile: source ?? '(none: simulator defaults)' }, 'starting scout');

  const service = new ScoutService({ config, logger });
  let exitCode = 0;
  const shutdown = async (reason: string): Promise<void> => {
    logger.info({ reason }, 'shutting down');
    await service.stop();
  };
  installProcessGuards({
    logger,
    counter: service.metrics.fatalErrors,
    onFatal: () => shutdown('fatal error'),
    exit: (code) => {
      logger.flush();
      process.exit(code);
    },
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void shutdown(signal).then(
        () => {
          logger.flush();
          process.exit(exitCode);
        },
        (error: unknown) => {
          logger.fatal({ err: error }, 'shutdown failed');
          logger.flush();
          process.exit(1);
        },
      );
    });
  }

  try {
    await service.start();
  } catch (error) {
    exitCode = 1;
    logger.fatal({ err: error }, 'start-up failed');
    await service.stop().catch(() => undefined);
    logger.flush();
    process.exit(1);
  }
}

await main();
