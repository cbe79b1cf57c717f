import type { Logger } from '../log.js';
import type { FaultSink } from '../ops/faults.js';
import type { HealthCheckResult } from '../domain/health.js';
import { throttleHistory, type ResourceSnapshot } from '../ops/resources.js';
import type { DegradeDecision, DegradeLevelName, DegradePolicy, DegradeTransitionCount } from './degrade.js';
import type { EngineStatus, WhisperEngine } from './engine.js';
import { checkModelFile, type ModelCatalog } from './model-file.js';
import type { ModelInfo } from './models.js';
import type { RemoteTier, RemoteTierStatus } from './remote-tier.js';
import type { Transcriber, TranscriberStatus } from './transcriber.js';
import { windowSettingsOf, type WindowSettings } from './window-settings.js';

/**
 * Everything between a stored recording and its transcript, once built: the whisper.cpp server
 * (a supervised child), the persistent queue and live windows (Transcriber), the model tiers, and
 * the degradation policy that picks tier, threads or deferral from the resource monitor.
 * The composer builds the parts; this class runs them and applies the policy's decisions:
 * tier (/load) and threads (a restart) here, beam and encoder context per window (`windowSettings`,
 * read by the window job), ALSA sizes at the next capture restart (`captureSettings`, read by the
 * source when it spawns arecord: capture is never restarted for them), deferral via `paused`.
 */

/** What capture reads each time it (re)starts arecord. */
export interface CaptureSettings {
  readonly periodMs: number;
  readonly bufferMs: number;
}

export interface PipelineStatus {
  readonly engine: EngineStatus;
  readonly queue: TranscriberStatus;
  readonly model: ModelInfo;
  readonly degradation: DegradeDecision;
  /** The remote engine tier; null when none is configured. */
  readonly remote: RemoteTierStatus | null;
}

export interface PipelineOptions {
  readonly engine: WhisperEngine;
  readonly transcriber: Transcriber;
  readonly policy: DegradePolicy;
  readonly catalog: ModelCatalog;
  readonly model: ModelInfo;
  /** sha256 pinned for the normal tier, checked by health. */
  readonly normalModelSha256: string | null;
  /** False when whisper-server is not built: a fault until it is. */
  readonly serverBuilt: boolean;
  /** Apply the degradation policy (config `transcription.adaptive`). */
  readonly adaptive: boolean;
  readonly reviewPeriodMs: number;
  readonly resources: () => ResourceSnapshot;
  readonly faults: FaultSink;
  /**
   * Set while a tier or thread change is being applied to the engine; the transcriber's `paused`
   * reads it, so no window starts on the old model in the moment before the swap (it would be
   * transcribed at the wrong tier, then redone by catch-up).
   */
  readonly engineChange?: { pending: boolean };
  /** The remote engine tier (the transcriber runs windows on it); for status and health. */
  readonly remote?: RemoteTier | null;
  readonly logger: Logger;
}

export class TranscriptionPipeline {
  private reviewTimer: NodeJS.Timeout | null = null;
  /** The resource sample the policy last saw (`sampledAtMs`). */
  private lastReviewedSampleAtMs: number | null = null;
  private applying: Promise<void> = Promise.resolve();
  private model: ModelInfo;
  private readonly degradationListeners: ((decision: DegradeDecision) => void)[] = [];

  constructor(private readonly options: PipelineOptions) {
    this.model = options.model;
  }

  get transcriber(): Transcriber {
    return this.options.transcriber;
  }

  async start(): Promise<void> {
    const { engine, transcriber, logger } = this.options;
    // Not awaited: recording must not wait for a model to load. The engine retries by itself
    // when its first start fails (model or binary missing); jobs wait in the queue meanwhile.
    void engine.start().catch((error: unknown) => {
      logger.error({ err: error }, 'transcription engine not available yet; jobs stay queued');
    });
    await transcriber.start();
    await this.reviewFaults();
    this.reviewTimer = setInterval(() => {
      // A timer callback: a throw here (a database read on a failing card) would be uncaught.
      try {
        if (this.options.adaptive) this.reviewDegradation();
      } catch (error) {
        logger.error({ err: error }, 'degradation review failed');
      }
      void this.reviewFaults();
    }, this.options.reviewPeriodMs);
    this.reviewTimer.unref();
    logger.info(
      { model: this.model.path, tier: this.model.tier, placeholder: this.model.placeholder, threads: engine.status().threads },
      this.model.placeholder ? 'transcription runs on a GENERATED placeholder model: transcripts are not real speech' : 'transcription ready',
    );
  }

  /** Stops the queue before the engine, so a running job is not failed by the engine going away. */
  async stop(): Promise<void> {
    if (this.reviewTimer) clearInterval(this.reviewTimer);
    this.reviewTimer = null;
    await this.options.transcriber.stop();
    await this.applying;
    await this.options.engine.stop();
  }

  /** The level or its reasons changed (live views); called after the fault is set, never for an unchanged sample. */
  onDegradationChange(listener: (decision: DegradeDecision) => void): void {
    this.degradationListeners.push(listener);
  }

  /** For the window job, per window. */
  windowSettings(): WindowSettings {
    return windowSettingsOf(this.options.policy.decision);
  }

  /** For the audio source, per arecord spawn. */
  captureSettings(): CaptureSettings {
    const { alsaPeriodMs, alsaBufferMs } = this.options.policy.decision;
    return { periodMs: alsaPeriodMs, bufferMs: alsaBufferMs };
  }

  /** For /metrics: transitions by from/to, and seconds per level up to now. */
  degradationHistory(nowMs: number = Date.now()): { transitions: DegradeTransitionCount[]; secondsPerLevel: Record<DegradeLevelName, number> } {
    const { policy } = this.options;
    return { transitions: policy.transitions(), secondsPerLevel: policy.secondsPerLevel(nowMs) };
  }

  /**
   * Health: the degradation level. Degraded above 0, never unhealthy: even deferred, capture
   * goes on and jobs wait on disk, so a 503 would call a box down that still records. (The
   * temperature check, on the same thresholds, does turn unhealthy at tempDeferC.)
   */
  degradationHealth(): Promise<HealthCheckResult> {
    const decision = this.options.policy.decision;
    const details = {
      level: decision.level,
      name: decision.name,
      reasons: decision.reasons,
      defer: decision.defer,
      sinceMs: decision.sinceMs,
      since: new Date(decision.sinceMs).toISOString(),
      adaptive: this.options.adaptive,
      tier: decision.tier,
      threads: decision.threads,
      beamSize: decision.beamSize,
      // Reported, never acted on: what happened since boot is not pressure now.
      sinceBoot: throttleHistory(this.options.resources().throttle),
    };
    const since = `since ${details.since}`;
    if (decision.level === 0) return Promise.resolve({ status: 'healthy', message: `level 0 (normal) ${since}`, details });
    return Promise.resolve({ status: 'degraded', message: `level ${decision.level} (${decision.name}) ${since}: ${decision.reasons.join(', ')}`, details });
  }

  status(): PipelineStatus {
    return {
      engine: this.options.engine.status(),
      queue: this.options.transcriber.status(),
      model: this.model,
      degradation: this.options.policy.decision,
      remote: this.options.remote?.status() ?? null,
    };
  }

  /** Health: the model file in use. */
  async modelHealth(): Promise<HealthCheckResult> {
    const model = this.model;
    const sha256 = this.options.normalModelSha256;
    const check = await checkModelFile(model.path, model.tier === 'normal' && sha256 ? { sha256 } : {});
    const details = { path: model.path, tier: model.tier, placeholder: model.placeholder };
    if (!check.ok) return { status: 'unhealthy', message: check.reason, details };
    if (model.placeholder) return { status: 'degraded', message: 'placeholder model (simulator): transcripts are not real', details };
    return { status: 'healthy', message: `${model.tier} model ${check.format}, ${Math.round(check.bytes / 1_048_576)} MB`, details };
  }

  /** Health: the engine answers (or is on its way back). */
  engineHealth(): Promise<HealthCheckResult> {
    const status = this.options.engine.status();
    const details = { state: status.state, restarts: status.restarts, pid: status.pid, threads: status.threads, lastError: status.lastError };
    const why = status.lastError ? `: ${status.lastError}` : '';
    switch (status.state) {
      case 'ready':
      case 'busy':
        return Promise.resolve({ status: 'healthy', message: `whisper-server ${status.state}`, details });
      case 'starting':
      case 'restarting':
        return Promise.resolve({ status: 'degraded', message: `whisper-server ${status.state}${why}`, details });
      case 'stopped':
      case 'failed':
        return Promise.resolve({ status: 'unhealthy', message: `whisper-server ${status.state}${why}`, details });
    }
  }

  /** Whether a remote engine tier is configured (health registers its check only then). */
  get hasRemote(): boolean {
    return this.options.remote !== undefined && this.options.remote !== null;
  }

  /** Health: the remote engine tier. */
  remoteHealth(): Promise<HealthCheckResult> {
    const remote = this.options.remote;
    return Promise.resolve(remote ? remote.health() : { status: 'healthy', message: 'no remote engine configured' });
  }

  /** Health: queue and breaker, from the transcriber. */
  queueHealth(): Promise<HealthCheckResult> {
    return Promise.resolve(this.options.transcriber.health());
  }

  /** Keeps the faults (LEDs, state) in step with the model, the binary and the breaker. */
  /** Never rejects: it runs from a timer, and a failing card must not stop the start. */
  async reviewFaults(): Promise<void> {
    const { faults, transcriber, serverBuilt, logger } = this.options;
    try {
      const check = await checkModelFile(this.model.path);
      faults.set('model', check.ok ? null : `no usable model: ${check.reason}`, 'error');
      faults.set('engine-binary', serverBuilt ? null : 'whisper-server not built (npm run whisper:build)', 'error');
      const queue = transcriber.status();
      faults.set('engine', queue.breaker === 'closed' ? null : `transcription engine failing (breaker ${queue.breaker}), ${queue.queueSize} queued`, 'degraded');
    } catch (error) {
      logger.error({ err: error }, 'fault review failed');
    }
  }

  /**
   * Feeds the policy one sample. A transition is logged at info and applied to the engine; a
   * change of reasons within a level only at debug. Both update the fault (LED, STATUS=) and the
   * live views; an unchanged sample does nothing.
   */
  private reviewDegradation(): void {
    const { policy, logger, faults, transcriber } = this.options;
    // Each sample counts once: the review timer and the sampler share a period but not a phase,
    // so a late sample would otherwise be reviewed twice, counting double toward the spike filter
    // and the dwell. No sample yet: nothing to judge.
    const snapshot = this.options.resources();
    if (snapshot.sampledAtMs === null || snapshot.sampledAtMs === this.lastReviewedSampleAtMs) return;
    this.lastReviewedSampleAtMs = snapshot.sampledAtMs;
    // `degradationLevel`, never `level`, in these log lines: it would overwrite pino's own `level`.
    const change = policy.update(snapshot, Date.now());
    if (change.kind === 'none') return;
    const after = change.decision;
    if (change.kind === 'transition') {
      const before = change.from;
      logger.info(
        { from: before.name, to: after.name, degradationLevel: after.level, reasons: after.reasons, threads: after.threads, tier: after.tier, beamSize: after.beamSize, defer: after.defer },
        'transcription degradation level changed',
      );
    } else {
      logger.debug({ degradationLevel: after.level, name: after.name, reasons: after.reasons }, 'transcription degradation reasons changed');
    }
    faults.set('degradation', after.level > 0 ? `transcription level ${after.level} (${after.name}): ${after.reasons.join(', ')}` : null, 'degraded');
    for (const listener of this.degradationListeners) {
      try {
        listener(after);
      } catch (error) {
        logger.error({ err: error }, 'degradation listener failed');
      }
    }
    if (change.kind !== 'transition') {
      if (!after.defer) transcriber.wake();
      return;
    }
    const gate = this.options.engineChange;
    if (gate) gate.pending = true;
    this.applying = this.applying
      .then(() => this.apply(after))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'could not apply the degradation decision');
      })
      .finally(() => {
        if (gate) gate.pending = false;
        if (!after.defer) transcriber.wake();
      });
  }

  /** Tier and threads of the decision (the policy keeps them unchanged while it defers). */
  private async apply(decision: DegradeDecision): Promise<void> {
    const { engine, catalog, logger } = this.options;
    if (!this.model.placeholder && decision.tier !== this.model.tier) {
      const wanted = await catalog.check(decision.tier);
      if (wanted.check.ok) {
        await engine.loadModel(wanted.path);
        this.model = { tier: decision.tier, path: wanted.path, placeholder: false };
      } else {
        logger.info({ tier: decision.tier, reason: wanted.check.reason }, 'model tier not installed; keeping the current model');
      }
    }
    await engine.reconfigure({ threads: decision.threads });
  }
}
