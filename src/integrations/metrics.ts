import { Counter, Gauge, type Registry } from 'prom-client';
import type { SinkStatus } from './integrations.js';

/**
 * The integrations' metrics, labelled by sink and read from their status at scrape time:
 * queue length and connection as gauges, delivered and failed attempts as counters.
 */
export function registerIntegrationMetrics(registry: Registry, status: () => readonly SinkStatus[]): void {
  const registers = [registry];
  const labelNames = ['sink'] as const;
  new Gauge({
    name: 'scout_integration_queue_length',
    help: 'Outbox entries a sink has not delivered yet.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const sink of status()) if (sink.queueLength >= 0) this.set({ sink: sink.sink }, sink.queueLength);
    },
  });
  new Gauge({
    name: 'scout_integration_connected',
    help: '1 while a connection-based sink (MQTT) is connected, else 0.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const sink of status()) if (sink.connected !== null) this.set({ sink: sink.sink }, sink.connected ? 1 : 0);
    },
  });
  new Counter({
    name: 'scout_integration_delivered_total',
    help: 'Deliveries a sink confirmed since start.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const sink of status()) this.inc({ sink: sink.sink }, sink.delivered);
    },
  });
  new Counter({
    name: 'scout_integration_failed_total',
    help: 'Delivery attempts that failed since start (each is retried).',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const sink of status()) this.inc({ sink: sink.sink }, sink.failed);
    },
  });
}
