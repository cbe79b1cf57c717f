/**
 * What `scout` exits with, so a script can tell "the box is down" from "you typed it wrong" from
 * "that recording is gone". Documented in README.md ("Command line"); keep the two in step.
 */
export const EXIT = {
  ok: 0,
  /** The box could not be reached, answered with an error, or the work failed part-way. */
  failed: 1,
  /** Bad arguments, no box configured, or a question that needs a terminal. */
  usage: 2,
  /** No such recording or transcript (or, for `discover`, no box found). */
  notFound: 3,
  /** The box refused the token (401), or is refusing guesses for a while (429). */
  auth: 4,
  /** `status`: the box answered and says it is unhealthy. */
  unhealthy: 5,
  /** `status`: the box works but something is degraded. */
  degraded: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An expected failure: printed as one line on stderr (`scout: <message>`), never a stack trace. */
export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT.usage);
