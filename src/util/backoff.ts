/**
 * Exponential backoff with "full jitter": the delay for attempt n is uniform in
 * [base * 2^n / 2, base * 2^n], capped. Jitter keeps a herd of retries (capture, engine,
 * queue) from waking together after a shared fault such as a USB hub reset.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** 0 = no jitter, 1 = delay anywhere in [0, d]. Default 0.5. */
  readonly jitter?: number;
  /** Injected for tests; default Math.random. */
  readonly random?: () => number;
}

export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const jitter = options.jitter ?? 0.5;
  const random = options.random ?? Math.random;
  const exponential = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt));
  return Math.round(exponential * (1 - jitter * random()));
}

/** Tracks consecutive failures; a run that lasted `healthyAfterMs` resets the count. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions & { readonly healthyAfterMs?: number }) {}

  /** Delay before the next try; counts the failure. */
  next(): number {
    const delay = backoffDelayMs(this.attempt, this.options);
    this.attempt += 1;
    return delay;
  }

  /** Call when a run ends; a long enough run means the fault has gone. */
  ranFor(ms: number): void {
    if (ms >= (this.options.healthyAfterMs ?? 10_000)) this.attempt = 0;
  }

  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}
