import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

export type { Logger };

/**
 * The root logger: JSON lines to stdout, where journald keeps them with its own disk cap.
 * Never a log file on the SD card. Each module takes `root.child({ module: 'name' })`.
 * Writes are synchronous: Scout logs a few lines per recording, and the line that explains a
 * crash is exactly the one an asynchronous writer loses when the process exits right after it.
 */
export function createRootLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'scout' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
