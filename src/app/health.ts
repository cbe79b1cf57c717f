import { HealthRegistry, audioSourceCheck, clockCheck, databaseCheck, diskSpaceCheck, temperatureCheck } from '../ops/health.js';
import type { AudioSource } from '../hardware/types.js';
import type { Logger } from '../log.js';
import type { ResourceMonitor } from '../ops/resources.js';
import { checkWritable, type Database } from '../store/db.js';
import type { TranscriptionPipeline } from '../transcribe/pipeline.js';
import { sinkHealthCheck } from '../integrations/health.js';
import type { SinkStatus } from '../integrations/integrations.js';

// A clock earlier than this source was written is certainly wrong (a Pi has no RTC).
const BUILD_TIME_MS = Date.parse('2026-11-28T00:00:00Z');

export interface HealthWiring {
  readonly cacheMs: number;
  readonly audioFreshMs: number;
  readonly recordingsDir: string;
  readonly disk: { readonly deferBelowMb: number; readonly refuseBelowMb: number };
  readonly temperature: { readonly degradedAtC: number; readonly unhealthyAtC: number };
  readonly source: AudioSource;
  readonly db: Database;
  readonly resources: ResourceMonitor;
  readonly transcription: TranscriptionPipeline | null;
  readonly logger: Logger;
  /** The storage fault's message while database/file writes fail, else null. */
  readonly storageFault?: () => string | null;
  /** Each integration sink's status: one check per sink, `integration:<sink>`. */
  readonly integrations?: () => readonly SinkStatus[];
}

/** Every part that can be unwell gets a named check: one registry behind GET /healthz. */
export function buildHealth(wiring: HealthWiring): HealthRegistry {
  const health = new HealthRegistry({ cacheMs: wiring.cacheMs, timeoutMs: 2000, logger: wiring.logger });
  health.register('audio', audioSourceCheck({ status: () => wiring.source.status(), maxFrameAgeMs: wiring.audioFreshMs }));
  health.register('disk', diskSpaceCheck({ path: wiring.recordingsDir, ...wiring.disk }));
  health.register(
    'database',
    databaseCheck(() => {
      const result = checkWritable(wiring.db);
      if (!result.ok) throw new Error(result.message);
    }),
  );
  const storageFault = wiring.storageFault;
  if (storageFault) {
    health.register('storage', () => {
      const message = storageFault();
      return Promise.resolve(message === null ? { status: 'healthy', message: 'storage writes succeed' } : { status: 'unhealthy', message });
    });
  }
  health.register('clock', clockCheck({ buildTimeMs: BUILD_TIME_MS }));
  health.register('temperature', temperatureCheck({ readTempC: () => wiring.resources.snapshot().socTempC, ...wiring.temperature }));
  const transcription = wiring.transcription;
  if (transcription) {
    health.register('model', () => transcription.modelHealth());
    health.register('engine', () => transcription.engineHealth());
    health.register('transcription', () => transcription.queueHealth());
    health.register('degradation', () => transcription.degradationHealth());
    if (transcription.hasRemote) health.register('remote-engine', () => transcription.remoteHealth());
  }
  const integrations = wiring.integrations;
  if (integrations) {
    for (const { sink } of integrations()) health.register(`integration:${sink}`, sinkHealthCheck(sink, integrations));
  }
  return health;
}
