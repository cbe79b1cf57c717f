import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config.js';
import { PROJECT_ROOT } from './config.js';
import type { Logger } from './log.js';
import { Appliance } from './appliance.js';
import { CapturePipeline, CAPTURE_RATE_HZ } from './audio/capture.js';
import { LevelSlot } from './audio/level.js';
import { Recorder } from './audio/recorder.js';
import { createHardware, type Hardware } from './hardware/factory.js';
import { createHttpServer, defaultWebDir, type ButtonAction, type HttpServer } from './http/server.js';
import { audioSourceCheck, clockCheck, databaseCheck, diskSpaceCheck, HealthRegistry, temperatureCheck } from './ops/health.js';
import { createScoutMetrics, type ScoutMetrics } from './ops/metrics.js';
import { ResourceMonitor } from './ops/resources.js';
import { SdNotify } from './ops/sd-notify.js';
import { eventLoopProgress, predicateProgress, Watchdog } from './ops/watchdog.js';
import { checkWritable, closeDatabase, openDatabase, type Database } from './store/db.js';
import { RecordingIdGenerator } from './store/ids.js';
import { RecordingsRepo } from './store/recordings.js';
import { recoverInterruptedRecordings } from './store/recover.js';
import { describeStatus } from './status-line.js';
import { TranscriptionPipeline } from './transcribe/pipeline.js';

// A clock earlier than this source was written is certainly wrong (a Pi has no RTC).
const BUILD_TIME_MS = Date.parse('2026-11-28T00:00:00Z');

export interface ServiceOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly env?: NodeJS.ProcessEnv;
  /** Test seam: hardware built elsewhere (e.g. an ArecordSource on a fake ALSA PCM). */
  readonly hardware?: Hardware;
}

/**
 * The running appliance: builds every part from the config, starts them in dependency order and
 * stops them in reverse. main.ts adds only signals and process guards around it.
 */
export class ScoutService {
  readonly metrics: ScoutMetrics;
  private hardware: Hardware | null = null;
  private db: Database | null = null;
  private capture: CapturePipeline | null = null;
  private appliance: Appliance | null = null;
  private http: HttpServer | null = null;
  private resources: ResourceMonitor | null = null;
  private transcription: TranscriptionPipeline | null = null;
  private watchdog: Watchdog | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private readonly notify: SdNotify;
  private readonly level = new LevelSlot();
  private stopping: Promise<void> | null = null;
  private listeningPort: number | null = null;
  private lastStatusLine = '';
  private countedRestarts = 0;
  private countedOverruns = 0;
  private countedEngineRestarts = 0;

  constructor(private readonly options: ServiceOptions) {
    this.notify = new SdNotify({ env: options.env ?? process.env, logger: options.logger.child({ module: 'sd-notify' }) });
    this.metrics = createScoutMetrics();
  }

  get port(): number | null {
    return this.listeningPort;
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const startedMs = performance.now();
    const recordingsDir = join(config.dataDir, 'recordings');
    await mkdir(recordingsDir, { recursive: true });

    this.db = openDatabase(join(config.dataDir, 'scout.db'), logger.child({ module: 'db' }));
    const recordings = new RecordingsRepo(this.db);
    const recovery = await recoverInterruptedRecordings(recordings, recordingsDir, logger.child({ module: 'recovery' }));

    // Resources first: the degradation policy reads them from the start.
    this.resources = new ResourceMonitor({ logger: logger.child({ module: 'resources' }), periodMs: config.ops.resourceSampleMs, dataDir: config.dataDir });
    await this.resources.start();

    if (config.transcription.enabled) {
      this.transcription = new TranscriptionPipeline({
        config,
        projectRoot: PROJECT_ROOT,
        db: this.db,
        recordingsDir,
        logger: logger.child({ module: 'transcription' }),
        simulator: config.audio.backend === 'fake',
        resources: () => this.resources?.snapshot() ?? null,
        hooks: {
          onTranscribed: (durationS, rtf) => {
            this.metrics.transcriptionDuration.observe(durationS);
            this.metrics.realTimeFactor.observe(rtf);
          },
          onError: (kind) => this.metrics.transcriptionErrors.inc({ kind }),
          onBusyChange: (busy) => this.appliance?.setBusy('transcribing', busy),
          onFault: (key, message, severity) => this.appliance?.setFault(key, message, severity),
        },
      });
      await this.transcription.start();
    }

    const hardware = this.options.hardware ?? (await createHardware(config, logger));
    this.hardware = hardware;
    const { source } = hardware;
    // Sized for the largest read a child's pipe hands over (64 KiB) so the DSP never reallocates.
    const maxChunkFrames = Math.ceil(65_536 / (2 * source.format.channels));
    this.capture = new CapturePipeline({ source, ringSeconds: config.audio.ringSeconds, maxChunkFrames, level: this.level, logger: logger.child({ module: 'capture' }) });
    const recorder = new Recorder({
      ring: this.capture.ring,
      sampleRateHz: CAPTURE_RATE_HZ,
      recordingsDir,
      preRollMs: config.recorder.preRollMs,
      flushIntervalMs: config.recorder.flushIntervalMs,
      logger: logger.child({ module: 'recorder' }),
    });
    const ids = new RecordingIdGenerator();
    const appliance = new Appliance({
      mode: config.recorder.mode,
      longPressCancelMs: config.recorder.longPressCancelMs,
      maxDurationMs: config.recorder.maxDurationS * 1000,
      minFreeBytes: config.recorder.minFreeMb * 1_048_576,
      sampleRateHz: CAPTURE_RATE_HZ,
      recorder,
      recordings,
      leds: hardware.leds,
      transcription: this.transcription?.transcriber ?? null,
      newId: () => ids.next(),
      freeBytes: async () => {
        const stats = await statfs(recordingsDir);
        return stats.bavail * stats.bsize;
      },
      logger: logger.child({ module: 'appliance' }),
    });
    this.appliance = appliance;
    this.capture.onChunk(() => recorder.onCaptureChunk());
    appliance.onOutcome(({ outcome, durationMs }) => {
      this.metrics.recordings.inc({ outcome });
      if (durationMs !== null) this.metrics.recordingDuration.observe(durationMs / 1000);
    });
    this.watchSource(appliance);

    await appliance.start();
    // Faults found before the appliance existed (no model, no engine binary) reach the LEDs now.
    await this.transcription?.reviewFaults();
    await this.capture.start();
    hardware.button.onEdge((edge, atMs) => appliance.handleEdge(edge, atMs));
    await hardware.button.start();

    const health = this.createHealth(recordingsDir);
    this.wireMetrics();

    this.http = createHttpServer({
      recordings,
      recordingsDir,
      transcriber: this.transcription?.transcriber ?? null,
      webDir: defaultWebDir(PROJECT_ROOT),
      button: (action) => this.pressFromApi(action),
      state: () => this.state(),
      health: () => health.run(),
      metrics: () => {
        this.syncSourceCounters();
        return this.metrics.scrape();
      },
      logger: logger.child({ module: 'http' }),
    });
    await this.http.listen({ host: config.http.host, port: config.http.port });
    const address = this.http.server.address();
    this.listeningPort = typeof address === 'object' && address !== null ? address.port : config.http.port;

    this.watchdog = new Watchdog({
      notifier: this.notify,
      logger: logger.child({ module: 'watchdog' }),
      checks: [
        eventLoopProgress(() => this.resources?.snapshot().eventLoopLagP99Ms ?? null, config.ops.maxEventLoopLagMs),
        predicateProgress('audio', () => this.audioProgress()),
        predicateProgress('engine', () => this.engineProgress()),
      ],
    });
    await this.notify.ready();
    await this.watchdog.start();
    this.publishStatus();
    appliance.onChange(() => this.publishStatus());
    // The recording clock in STATUS= ticks even when nothing changes.
    this.statusTimer = setInterval(() => this.publishStatus(), 1000);
    this.statusTimer.unref();

    logger.info(
      {
        port: this.listeningPort,
        dataDir: config.dataDir,
        audio: { backend: config.audio.backend, device: config.audio.device, format: source.format },
        gpio: config.gpio.backend,
        recovered: recovery.recovered.length,
        unrecoverable: recovery.failed.length,
        durationMs: Math.round(performance.now() - startedMs),
      },
      'scout is up',
    );
  }

  /** Stops in reverse start order; the recording in progress is finished and flushed. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    const { logger } = this.options;
    const startedMs = performance.now();
    await this.notify.stopping();
    if (this.statusTimer) clearInterval(this.statusTimer);
    await this.watchdog?.stop();
    await this.http?.close().catch((error: unknown) => logger.warn({ err: error }, 'http close failed'));
    await this.hardware?.button.stop();
    // The appliance finishes the take while capture still runs, so the last words reach the file.
    await this.appliance?.stop();
    await this.capture?.stop();
    await this.transcription?.stop();
    await this.resources?.stop();
    if (this.db) closeDatabase(this.db);
    this.db = null;
    logger.info({ durationMs: Math.round(performance.now() - startedMs) }, 'scout stopped');
  }

  state(): unknown {
    const source = this.hardware?.source.status();
    return {
      appliance: this.appliance?.snapshot() ?? null,
      level: this.level.read(),
      audio: source ?? null,
      ring: this.capture ? { capacitySamples: this.capture.ring.capacitySamples, overwrites: this.capture.ring.overwrites } : null,
      resources: this.resources?.snapshot() ?? null,
      transcription: this.transcription?.status() ?? null,
    };
  }

  private pressFromApi(action: ButtonAction): void {
    const appliance = this.appliance;
    if (!appliance) return;
    switch (action) {
      case 'press':
      case 'release':
        appliance.handleEdge(action);
        return;
      case 'toggle':
        appliance.toggle();
        return;
    }
  }

  /** The microphone's faults become appliance faults (LEDs) and counters (metrics). */
  private watchSource(appliance: Appliance): void {
    const source = this.hardware?.source;
    if (!source) return;
    source.onEvent((event) => {
      switch (event.kind) {
        case 'state':
          if (event.state === 'running') appliance.setFault('audio', null);
          else if (event.state === 'restarting' || event.state === 'failed') {
            appliance.setFault('audio', `microphone ${event.state}${event.reason ? `: ${event.reason}` : ''}`);
          }
          this.syncSourceCounters();
          return;
        case 'overrun':
          this.syncSourceCounters();
          return;
        case 'error':
          return;
      }
    });
  }

  /** The source keeps the true counts; the Prometheus counters follow them by delta. */
  private syncSourceCounters(): void {
    const engineRestarts = this.transcription?.status()?.engine.restarts ?? 0;
    if (engineRestarts > this.countedEngineRestarts) this.metrics.engineRestarts.inc(engineRestarts - this.countedEngineRestarts);
    this.countedEngineRestarts = Math.max(this.countedEngineRestarts, engineRestarts);
    const status = this.hardware?.source.status();
    if (!status) return;
    if (status.restarts > this.countedRestarts) this.metrics.captureRestarts.inc(status.restarts - this.countedRestarts);
    if (status.overruns > this.countedOverruns) this.metrics.bufferOverruns.inc(status.overruns - this.countedOverruns);
    this.countedRestarts = Math.max(this.countedRestarts, status.restarts);
    this.countedOverruns = Math.max(this.countedOverruns, status.overruns);
  }

  /**
   * Audio progress for the watchdog. A source that is restarting is being handled by its own
   * supervisor (an unplugged mic): restarting the whole service would not bring it back. Only a
   * source that claims to run but delivers nothing is wedged.
   */
  private audioProgress(): { ok: boolean; reason?: string } {
    const status = this.hardware?.source.status();
    if (!status || status.state !== 'running') return { ok: true };
    const ageMs = status.lastFrameAtMs === null ? 0 : Date.now() - status.lastFrameAtMs;
    if (ageMs <= this.options.config.ops.audioFreshMs) return { ok: true };
    return { ok: false, reason: `no audio frames for ${Math.round(ageMs / 1000)} s` };
  }

  /**
   * The engine for the watchdog: a request running far past its own timeout means the
   * supervision itself is stuck (the engine kills and respawns on timeout by itself).
   */
  private engineProgress(): { ok: boolean; reason?: string } {
    const running = this.transcription?.status()?.queue.running;
    if (!running) return { ok: true };
    const limitMs = 2 * this.options.config.transcription.requestTimeoutMs + 30_000;
    const ageMs = Date.now() - running.startedAtMs;
    return ageMs <= limitMs ? { ok: true } : { ok: false, reason: `transcription job ${running.jobId} running for ${Math.round(ageMs / 1000)} s` };
  }

  private createHealth(recordingsDir: string): HealthRegistry {
    const { config, logger } = this.options;
    const health = new HealthRegistry({ cacheMs: config.ops.healthCacheMs, timeoutMs: 2000, logger: logger.child({ module: 'health' }) });
    health.register('audio', audioSourceCheck({ status: () => this.requireHardware().source.status(), maxFrameAgeMs: config.ops.audioFreshMs }));
    health.register(
      'disk',
      diskSpaceCheck({
        path: recordingsDir,
        degradedBelowMb: config.ops.diskDegradedFreeMb,
        unhealthyBelowMb: config.ops.diskUnhealthyFreeMb,
        degradedBelowPercent: config.ops.diskDegradedFreePercent,
        unhealthyBelowPercent: config.ops.diskUnhealthyFreePercent,
      }),
    );
    health.register(
      'database',
      databaseCheck(() => {
        if (!this.db) throw new Error('database is closed');
        const result = checkWritable(this.db);
        if (!result.ok) throw new Error(result.message);
      }),
    );
    health.register('clock', clockCheck({ buildTimeMs: BUILD_TIME_MS }));
    health.register('temperature', temperatureCheck({ readTempC: () => this.resources?.snapshot().socTempC ?? null, degradedAtC: config.ops.tempDegradedC, unhealthyAtC: config.ops.tempUnhealthyC }));
    const transcription = this.transcription;
    if (transcription) {
      health.register('model', () => transcription.modelHealth());
      health.register('engine', () => transcription.engineHealth());
      health.register('transcription', () => transcription.queueHealth());
    }
    return health;
  }

  private wireMetrics(): void {
    this.metrics.setSources({
      audioLevel: () => this.level.read().rmsLinear,
      socTemperatureC: () => this.resources?.snapshot().socTempC ?? null,
      throttleFlags: () => this.resources?.snapshot().throttle ?? null,
      diskFreeBytes: () => this.resources?.snapshot().diskFreeBytes ?? null,
      cpuUsageRatio: () => this.resources?.snapshot().cpuUsageRatio ?? null,
      queueSize: () => this.transcription?.status()?.queue.queueSize ?? null,
      oldestJobAgeSeconds: () => {
        const queue = this.transcription?.status()?.queue;
        if (!queue) return null;
        return queue.oldestJobAgeMs === null ? 0 : queue.oldestJobAgeMs / 1000;
      },
      breakerState: () => this.transcription?.status()?.queue.breaker ?? null,
      degradationLevel: () => this.transcription?.status()?.degradation.level ?? null,
      memoryAvailableBytes: () => this.resources?.snapshot().memAvailableBytes ?? null,
      eventLoopLagSeconds: () => {
        const lag = this.resources?.snapshot().eventLoopLagP99Ms;
        return lag === null || lag === undefined ? null : lag / 1000;
      },
    });
  }

  private publishStatus(): void {
    const snapshot = this.appliance?.snapshot();
    if (!snapshot) return;
    const queue = this.transcription?.status()?.queue;
    const line = describeStatus(snapshot, Date.now(), queue ? { queued: queue.queueSize, transcribing: queue.running !== null } : null);
    if (line === this.lastStatusLine) return;
    this.lastStatusLine = line;
    // Through the watchdog, so a stall reason stays in front of the state while there is one.
    void (this.watchdog ? this.watchdog.status(line) : this.notify.status(line));
  }

  private requireHardware(): Hardware {
    if (!this.hardware) throw new Error('hardware not started');
    return this.hardware;
  }
}
