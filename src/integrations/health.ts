import type { HealthCheck } from '../ops/health.js';
import type { SinkStatus } from './integrations.js';

/**
 * One health entry per sink: connected, queue length, last error. A sink that cannot deliver is
 * `degraded`, never `unhealthy`: the box records and transcribes as before, the deliveries wait.
 */
export function sinkHealthCheck(sink: string, status: () => readonly SinkStatus[]): HealthCheck {
  return () => {
    const current = status().find((candidate) => candidate.sink === sink);
    if (!current) return Promise.resolve({ status: 'unhealthy', message: 'no such integration' });
    const { connected, queueLength, lastError } = current;
    const details = { connected, queueLength, lastError, delivered: current.delivered, failed: current.failed };
    const queue = queueLength < 0 ? 'queue unknown (the outbox cannot be read)' : `${queueLength} waiting`;
    if (connected === false) return Promise.resolve({ status: 'degraded', message: `not connected${lastError ? ` (${lastError})` : ''}; ${queue}`, details });
    if (queueLength < 0 || (queueLength > 0 && lastError !== null)) return Promise.resolve({ status: 'degraded', message: `${queue}; last error: ${lastError ?? 'none'}`, details });
    return Promise.resolve({ status: 'healthy', message: `${connected === true ? 'connected; ' : ''}${queue}`, details });
  };
}
