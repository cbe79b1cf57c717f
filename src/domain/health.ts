/**
 * The shape of a health report: what `/healthz` answers, what the service's checks return, and
 * what the CLI reads back. Types and two pure rules only (the bottom layer, like ./recording.ts).
 */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface HealthCheckResult {
  readonly status: HealthStatus;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface CheckReport extends HealthCheckResult {
  /** ISO 8601 time the check finished. */
  readonly checkedAt: string;
  readonly durationMs: number;
}

export interface HealthReport {
  readonly status: HealthStatus;
  readonly checkedAt: string;
  readonly checks: Readonly<Record<string, CheckReport>>;
}

const SEVERITY: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

/** 0 healthy, 1 degraded, 2 unhealthy: for sorting the worst first. */
export function healthSeverity(status: HealthStatus): number {
  return SEVERITY[status];
}

/** The worse of two statuses. */
export function worstStatus(a: HealthStatus, b: HealthStatus): HealthStatus {
  return SEVERITY[a] >= SEVERITY[b] ? a : b;
}

/** The HTTP status for a report: degraded still serves (200); only unhealthy is 503. */
export function healthHttpStatus(report: Pick<HealthReport, 'status'>): 200 | 503 {
  return report.status === 'unhealthy' ? 503 : 200;
}
