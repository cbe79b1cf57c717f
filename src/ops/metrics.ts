import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ENGINE_NAMES, TRANSCRIPTION_ERROR_KINDS, type BreakerState } from '../domain/transcript.js';
import { throttleFlagNames, type ThrottleFlags } from './resources.js';

/**
 * Scout's Prometheus metrics in a registry of their own (never prom-client's global one, so
 * tests and a second instance do not collide).
 *
 * Histograms and event counters are pushed by the code that sees the event (`metrics
 * .recordingDuration.observe(s)`). Gauges that mirror live state, and counters that a part
 * already keeps (restarts, overruns), read a function at scrape time (`collect()`): nothing polls
 * for a value nobody asked for and no shadow count can drift from the part's own. Wire those
 * functions with `setSources()` once the parts exist. A gauge whose source returns null (or is
 * not wired) reports NaN: unknown.
 */

/** From a 50 ms clip to a two-minute recording or a Pi 4 transcribing one. */
export const durationBucketsSeconds = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120];

/** Transcription seconds per second of audio: 0.02 is a fast Pi 5, above 1 is falling behind. */
export const realTimeFactorBuckets = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5];


/** Breaker state as a number so it can be graphed and alerted on. */
export const breakerStateValue: Readonly<Record<BreakerState, number>> = { closed: 0, halfOpen: 1, open: 2 };

export interface MetricSources {
  /** Current input level, 0..1 (RMS of the last block; read without blocking capture). */
  audioLevel?: () => number | null;
  /** Totals kept by the parts themselves, read at scrape time. */
  captureRestarts?: () => number | null;
  bufferOverruns?: () => number | null;
  engineRestarts?: () => number | null;
  /** Live-event (SSE) clients dropped for not reading, and those listening now. */
  eventClientsDropped?: () => number | null;
  eventSubscribers?: () => number | null;
  queueSize?: () => number | null;
  /** Age of the oldest queued transcription job, seconds; 0 when the queue is empty. */
  oldestJobAgeSeconds?: () => number | null;
  breakerState?: () => BreakerState | null;
  /** 0 = full quality; higher = more degraded (smaller model, fewer threads, deferred work). */
  degradationLevel?: () => number | null;
  /** Level changes so far by from/to (level names), kept by the policy. */
  degradationTransitions?: () => readonly { readonly from: string; readonly to: string; readonly count: number }[] | null;
  /** Seconds spent in each level (by name) since start, the current stay included. */
  degradationLevelSeconds?: () => Readonly<Record<string, number>> | null;
  socTemperatureC?: () => number | null;
  throttleFlags?: () => ThrottleFlags | null;
  diskFreeBytes?: () => number | null;
  eventLoopLagSeconds?: () => number | null;
  cpuUsageRatio?: () => number | null;
  memoryAvailableBytes?: () => number | null;
  /** SQLite/file errors caught so far, by operation (kept by StorageErrors). */
  storageErrors?: () => Readonly<Record<string, number>> | null;
  /** Recordings whose audio the retention policy deleted since start. */
  retentionAudioRemoved?: () => number | null;
  /** The remote engine tier's own breaker; null when no remote is configured. */
  remoteBreakerState?: () => BreakerState | null;
  /** The remote answered its last /health probe; null when unknown or not configured. */
  remoteReachable?: () => boolean | null;
}

export interface ScoutMetrics {
  readonly registry: Registry;
  readonly recordingDuration: Histogram;
  readonly audioLevel: Gauge;
  readonly transcriptionDuration: Histogram;
  readonly transcriptionErrors: Counter<'kind'>;
  readonly queueSize: Gauge;
  readonly recordings: Counter<'outcome'>;
  readonly breakerState: Gauge;
  readonly degradationLevel: Gauge;
  readonly socTemperature: Gauge;
  readonly throttleFlags: Gauge<'flag'>;
  readonly oldestJobAge: Gauge;
  readonly realTimeFactor: Histogram;
  readonly diskFree: Gauge;
  readonly eventLoopLag: Gauge;
  readonly cpuUsage: Gauge;
  readonly memoryAvailable: Gauge;
  /** Uncaught exceptions and unhandled rejections seen by the process guards. */
  readonly fatalErrors: Counter<'kind'>;
  /** Windows transcribed, by the engine that ran them ('local', 'remote'). */
  readonly transcriptionWindows: Counter<'engine'>;
  /** Adds or replaces the functions the live-state gauges read at scrape time. */
  setSources(sources: MetricSources): void;
  /** The exposition text for GET /metrics, and its content type. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

export interface MetricsOptions {
  readonly sources?: MetricSources;
  /** Node process metrics (CPU, RSS, heap, GC, event-loop lag); default true. */
  readonly defaultMetrics?: boolean;
}

export function createScoutMetrics(options: MetricsOptions = {}): ScoutMetrics {
  const registry = new Registry();
  const sources: MetricSources = { ...options.sources };
  const registers = [registry];

  /** A gauge whose value is read from a source at scrape time. */
  const liveGauge = (name: string, help: string, read: () => number | null | undefined): Gauge =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const value = read();
        // NaN, not a stale number or a made-up 0: an unlabelled prom-client gauge always has a
        // sample, and NaN compares false, so no alert fires on an unknown temperature.
        this.set(value === null || value === undefined || !Number.isFinite(value) ? Number.NaN : value);
      },
    });

  /** A counter whose total a part keeps (monotonic for the life of the process); 0 until wired. */
  const keptCounter = (name: string, help: string, read: () => number | null | undefined): Counter =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        const total = read();
        if (total === null || total === undefined || !Number.isFinite(total)) return;
        this.reset();
        this.inc(total);
      },
    });

  const throttleFlags = new Gauge({
    name: 'scout_throttled_flags',
    help: 'Raspberry Pi firmware throttle flags (vcgencmd get_throttled), 1 when set; *_occurred since boot.',
    labelNames: ['flag'] as const,
    registers,
    collect() {
      const flags = sources.throttleFlags?.() ?? null;
      this.reset();
      if (flags === null) return;
      for (const flag of throttleFlagNames) this.set({ flag }, flags[flag] ? 1 : 0);
    },
  });

  new Counter({
    name: 'scout_degradation_transitions_total',
    help: 'Degradation level changes, by from and to level name.',
    labelNames: ['from', 'to'] as const,
    registers,
    collect() {
      const transitions = sources.degradationTransitions?.() ?? null;
      if (transitions === null) return;
      this.reset();
      for (const { from, to, count } of transitions) this.inc({ from, to }, count);
    },
  });
  new Counter({
    name: 'scout_degradation_level_seconds_total',
    help: 'Time spent in each degradation level since start, by level name.',
    labelNames: ['level'] as const,
    registers,
    collect() {
      const seconds = sources.degradationLevelSeconds?.() ?? null;
      if (seconds === null) return;
      this.reset();
      for (const [level, total] of Object.entries(seconds)) this.inc({ level }, total);
    },
  });
  new Counter({
    name: 'scout_storage_errors_total',
    help: 'Database and file errors caught (disk full, I/O error, read-only), by operation.',
    labelNames: ['op'] as const,
    registers,
    collect() {
      const totals = sources.storageErrors?.() ?? null;
      if (totals === null) return;
      this.reset();
      for (const [op, total] of Object.entries(totals)) this.inc({ op }, total);
    },
  });
  keptCounter('scout_retention_audio_removed_total', 'Recordings whose audio the retention policy deleted to free space.', () => sources.retentionAudioRemoved?.());
  keptCounter('scout_audio_buffer_overruns_total', 'Capture overruns (xruns) reported by the audio source.', () => sources.bufferOverruns?.());
  keptCounter('scout_audio_capture_restarts_total', 'Times the capture process was restarted after a failure.', () => sources.captureRestarts?.());
  keptCounter('scout_transcription_engine_restarts_total', 'Times the transcription engine process was restarted.', () => sources.engineRestarts?.());
  keptCounter('scout_events_clients_dropped_total', 'Live-event clients dropped because they stopped reading.', () => sources.eventClientsDropped?.());
  liveGauge('scout_events_subscribers', 'Live-event (SSE) clients connected now.', () => sources.eventSubscribers?.());

  const metrics: ScoutMetrics = {
    registry,
    recordingDuration: new Histogram({
      name: 'scout_audio_recording_duration_seconds',
      help: 'Length of finished recordings.',
      buckets: durationBucketsSeconds,
      registers,
    }),
    audioLevel: liveGauge('scout_audio_level_current', 'Current microphone level, RMS 0..1.', () => sources.audioLevel?.()),
    transcriptionDuration: new Histogram({
      name: 'scout_transcription_duration_seconds',
      help: 'Wall time to transcribe one recording.',
      buckets: durationBucketsSeconds,
      registers,
    }),
    transcriptionErrors: new Counter({
      name: 'scout_transcription_errors_total',
      help: 'Failed transcription attempts by kind.',
      labelNames: ['kind'] as const,
      registers,
    }),
    queueSize: liveGauge('scout_transcription_queue_size', 'Recordings waiting for transcription.', () => sources.queueSize?.()),
    recordings: new Counter({
      name: 'scout_recordings_total',
      help: 'Recordings ended, by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    breakerState: liveGauge('scout_transcription_breaker_state', 'Circuit breaker around the engine: 0 closed, 1 half-open, 2 open.', () => {
      const state = sources.breakerState?.() ?? null;
      return state === null ? null : breakerStateValue[state];
    }),
    degradationLevel: liveGauge('scout_degradation_level', 'Degradation level: 0 full quality, higher is more degraded.', () => sources.degradationLevel?.()),
    socTemperature: liveGauge('scout_soc_temperature_celsius', 'SoC temperature.', () => sources.socTemperatureC?.()),
    throttleFlags,
    oldestJobAge: liveGauge('scout_transcription_queue_oldest_age_seconds', 'Age of the oldest queued transcription job.', () =>
      sources.oldestJobAgeSeconds?.(),
    ),
    realTimeFactor: new Histogram({
      name: 'scout_transcription_real_time_factor',
      help: 'Transcription wall time divided by audio duration.',
      buckets: realTimeFactorBuckets,
      registers,
    }),
    diskFree: liveGauge('scout_disk_free_bytes', 'Free space on the data filesystem.', () => sources.diskFreeBytes?.()),
    eventLoopLag: liveGauge('scout_event_loop_lag_seconds', 'p99 event-loop delay over the last resource sample period.', () =>
      sources.eventLoopLagSeconds?.(),
    ),
    cpuUsage: liveGauge('scout_system_cpu_usage_ratio', 'Busy share of all CPUs over the last resource sample period, 0..1.', () =>
      sources.cpuUsageRatio?.(),
    ),
    memoryAvailable: liveGauge('scout_system_memory_available_bytes', 'MemAvailable from /proc/meminfo.', () => sources.memoryAvailableBytes?.()),
    fatalErrors: new Counter({
      name: 'scout_process_fatal_errors_total',
      help: 'Uncaught exceptions and unhandled rejections (each ends the process).',
      labelNames: ['kind'] as const,
      registers,
    }),
    transcriptionWindows: new Counter({
      name: 'scout_transcription_windows_total',
      help: 'Windows transcribed (silence excluded), by the engine that ran them.',
      labelNames: ['engine'] as const,
      registers,
    }),
    setSources(next) {
      Object.assign(sources, next);
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };

  // Every kind from zero, so a rate() alert works before the first error of a kind.
  for (const kind of TRANSCRIPTION_ERROR_KINDS) metrics.transcriptionErrors.inc({ kind }, 0);
  for (const engine of ENGINE_NAMES) metrics.transcriptionWindows.inc({ engine }, 0);
  liveGauge('scout_transcription_remote_breaker_state', 'Breaker around the remote engine tier: 0 closed, 1 half-open, 2 open; NaN without a remote.', () => {
    const state = sources.remoteBreakerState?.() ?? null;
    return state === null ? null : breakerStateValue[state];
  });
  liveGauge('scout_transcription_remote_up', 'The remote engine tier answered its last /health probe (1) or not (0); NaN when unknown or not configured.', () => {
    const up = sources.remoteReachable?.() ?? null;
    return up === null ? null : up ? 1 : 0;
  });

  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // Gauges named *_total fail `promtool check metrics`; the same numbers are in
    // nodejs_active_handles / _requests / _resources, labelled by type.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }
  return metrics;
}
