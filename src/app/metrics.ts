import type { Appliance } from '../appliance.js';
import type { LevelSlot } from '../audio/level.js';
import type { AudioSource } from '../hardware/types.js';
import type { EventHub } from '../ops/events.js';
import type { ScoutMetrics } from '../ops/metrics.js';
import type { ResourceMonitor } from '../ops/resources.js';
import type { StorageErrors } from '../ops/storage-errors.js';
import type { TranscriptionPipeline } from '../transcribe/pipeline.js';
import { registerIntegrationMetrics } from '../integrations/metrics.js';
import type { SinkStatus } from '../integrations/integrations.js';

export interface MetricsWiring {
  readonly metrics: ScoutMetrics;
  readonly level: LevelSlot;
  readonly source: AudioSource;
  readonly resources: ResourceMonitor;
  readonly transcription: TranscriptionPipeline | null;
  readonly appliance: Pick<Appliance, 'onOutcome'>;
  readonly events: Pick<EventHub, 'stats'>;
  readonly storageErrors: Pick<StorageErrors, 'counts'>;
  readonly retentionAudioRemoved?: () => number;
  /** Integration sinks' status (queue length, connection, delivered/failed), labelled by sink. */
  readonly integrations?: () => readonly SinkStatus[];
}

/**
 * Points every live gauge and every counter kept by a part (restarts, overruns) at the part
 * itself, read when Prometheus scrapes; only events nobody keeps a count of (a recording's
 * outcome) are pushed as they happen.
 */
export function wireMetrics({ metrics, level, source, resources, transcription, appliance, events, storageErrors, retentionAudioRemoved, integrations }: MetricsWiring): void {
  const snapshot = (): ReturnType<ResourceMonitor['snapshot']> => resources.snapshot();
  metrics.setSources({
    audioLevel: () => level.read().rmsLinear,
    captureRestarts: () => source.status().restarts,
    bufferOverruns: () => source.status().overruns,
    engineRestarts: () => transcription?.status().engine.restarts ?? null,
    socTemperatureC: () => snapshot().socTempC,
    throttleFlags: () => snapshot().throttle,
    diskFreeBytes: () => snapshot().diskFreeBytes,
    cpuUsageRatio: () => snapshot().cpuUsageRatio,
    memoryAvailableBytes: () => snapshot().memAvailableBytes,
    eventLoopLagSeconds: () => {
      const lagMs = snapshot().eventLoopLagP99Ms;
      return lagMs === null ? null : lagMs / 1000;
    },
    queueSize: () => transcription?.status().queue.queueSize ?? null,
    oldestJobAgeSeconds: () => {
      if (!transcription) return null;
      const ageMs = transcription.status().queue.oldestJobAgeMs;
      return ageMs === null ? 0 : ageMs / 1000;
    },
    breakerState: () => transcription?.status().queue.breaker ?? null,
    remoteBreakerState: () => transcription?.status().remote?.breaker ?? null,
    remoteReachable: () => transcription?.status().remote?.reachable ?? null,
    degradationLevel: () => transcription?.status().degradation.level ?? null,
    degradationTransitions: () => transcription?.degradationHistory().transitions ?? null,
    degradationLevelSeconds: () => transcription?.degradationHistory().secondsPerLevel ?? null,
    eventSubscribers: () => events.stats().subscribers,
    eventClientsDropped: () => events.stats().dropped,
    storageErrors: () => storageErrors.counts(),
    retentionAudioRemoved: () => retentionAudioRemoved?.() ?? null,
  });
  if (integrations) registerIntegrationMetrics(metrics.registry, integrations);
  appliance.onOutcome(({ outcome, durationMs }) => {
    metrics.recordings.inc({ outcome });
    if (durationMs !== null) metrics.recordingDuration.observe(durationMs / 1000);
  });
}
