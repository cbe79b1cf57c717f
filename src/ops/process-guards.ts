import type { Logger } from '../log.js';

/**
 * Last line of defence: an uncaught exception or unhandled rejection means some state is now
 * unknown, so the process must not limp on half-dead. Log it with its stack, count it, run the
 * graceful stop (flush the recording, close the database) under a hard deadline, and exit
 * non-zero so systemd (Restart=always) starts a clean process.
 */
export interface ProcessGuardsOptions {
  readonly logger: Logger;
  /** The graceful stop; it gets at most `deadlineMs`. */
  readonly onFatal: (error: unknown) => Promise<void>;
  /** Ends the process; `process.exit` in production, a spy in tests. */
  readonly exit: (code: number) => void;
  /** e.g. `metrics.fatalErrors` (labelled by kind). */
  readonly counter?: { inc(labels: { kind: FatalKind }): void };
  /** Hard deadline for `onFatal`; keep it under the unit's TimeoutStopSec. Default 10 s. */
  readonly deadlineMs?: number;
  /** Exit code; systemd restarts on any failure. Default 70 (EX_SOFTWARE). */
  readonly exitCode?: number;
  /** The process to guard; injectable for tests. */
  readonly target?: Pick<NodeJS.Process, 'on' | 'off'>;
}

export type FatalKind = 'uncaughtException' | 'unhandledRejection';

/** Installs the handlers; returns a function that removes them. */
export function installProcessGuards(options: ProcessGuardsOptions): () => void {
  const target = options.target ?? process;
  const deadlineMs = options.deadlineMs ?? 10_000;
  const exitCode = options.exitCode ?? 70;
  let shuttingDown = false;

  const handle = (kind: FatalKind, error: unknown): void => {
    try {
      options.counter?.inc({ kind });
    } catch {
      // a broken counter must not stop the shutdown
    }
    const err = error instanceof Error ? error : new Error(`non-Error ${kind}: ${String(error)}`);
    if (shuttingDown) {
      options.logger.error({ err, kind }, `${kind} during fatal shutdown`);
      return;
    }
    shuttingDown = true;
    options.logger.fatal({ err, kind }, `${kind}: shutting down so systemd restarts us`);

    let finished = false;
    const finish = (how: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      options.logger.fatal({ kind, how, exitCode }, 'exiting after fatal error');
      options.exit(exitCode);
    };
    // Not unref'd: the deadline must fire even if the graceful stop leaves nothing else running.
    const timer = setTimeout(() => finish(`graceful stop exceeded ${deadlineMs} ms`), deadlineMs);
    let stopping: Promise<void>;
    try {
      stopping = options.onFatal(error);
    } catch (stopError) {
      stopping = Promise.reject(stopError instanceof Error ? stopError : new Error(String(stopError)));
    }
    stopping.then(
      () => finish('graceful stop done'),
      (stopError: unknown) => {
        options.logger.error({ err: stopError }, 'graceful stop failed');
        finish('graceful stop failed');
      },
    );
  };

  const onException = (error: unknown): void => handle('uncaughtException', error);
  const onRejection = (reason: unknown): void => handle('unhandledRejection', reason);
  target.on('uncaughtException', onException);
  target.on('unhandledRejection', onRejection);
  return () => {
    target.off('uncaughtException', onException);
    target.off('unhandledRejection', onRejection);
  };
}
