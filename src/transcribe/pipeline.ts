import { access, constants, mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { HealthCheckResult } from '../ops/health.js';
import type { ResourceSnapshot } from '../ops/resources.js';
import type { Database } from '../store/db.js';
import { DegradePolicy, type DegradeDecision } from './degrade.js';
import { WhisperEngine, type EngineStatus } from './engine.js';
import { checkModelFile, ModelCatalog } from './model-file.js';
import { generateModel } from './model-gen.js';
import { Transcriber, type TranscriberStatus, type TranscriptionErrorKind } from './transcriber.js';

/**
 * Everything between a stored recording and its transcript: the whisper.cpp server (a supervised
 * child), the persistent queue and live windows (Transcriber), the model tiers, and the
 * degradation policy that picks tier, threads or deferral from the resource monitor.
 */

export interface ModelInfo {
  readonly tier: 'normal' | 'constrained';
  readonly path: string;
  /** A generated stand-in (simulator without a real model): transcripts are placeholders. */
  readonly placeholder: boolean;
}

export interface PipelineStatus {
  readonly engine: EngineStatus;
  readonly queue: TranscriberStatus;
  readonly model: ModelInfo;
  readonly degradation: DegradeDecision;
}

export interface PipelineHooks {
  readonly onTranscribed?: (durationS: number, realTimeFactor: number) => void;
  readonly onError?: (kind: TranscriptionErrorKind) => void;
  readonly onBusyChange?: (busy: boolean) => void;
  /** Faults for the LEDs and the state: key, message or null, severity. */
  readonly onFault?: (key: string, message: string | null, severity: 'error' | 'degraded') => void;
  readonly onDegradation?: (decision: DegradeDecision) => void;
}

export interface PipelineOptions {
  readonly config: Config;
  readonly projectRoot: string;
  readonly db: Database;
  readonly recordingsDir: string;
  readonly logger: Logger;
  /** The simulator may generate a placeholder model when none is installed. */
  readonly simulator: boolean;
  readonly resources: () => ResourceSnapshot | null;
  readonly hooks?: PipelineHooks;
}

const PLACEHOLDER_MODEL = 'scout-placeholder-mini.bin';

export class TranscriptionPipeline {
  private engine: WhisperEngine | null = null;
  private transcriberValue: Transcriber | null = null;
  private policy: DegradePolicy | null = null;
  private modelValue: ModelInfo | null = null;
  private catalog: ModelCatalog | null = null;
  private reviewTimer: NodeJS.Timeout | null = null;
  private serverBuilt = true;
  private applying: Promise<void> = Promise.resolve();
  private readonly maxThreads: number;

  constructor(private readonly options: PipelineOptions) {
    const { threads } = options.config.transcription;
    // One core stays free for capture and the system: ggml's spinning threads starve everything else.
    this.maxThreads = threads ?? Math.max(1, availableParallelism() - 1);
  }

  get transcriber(): Transcriber {
    if (!this.transcriberValue) throw new Error('transcription is not started');
    return this.transcriberValue;
  }

  async start(): Promise<void> {
    const { config, logger, db, recordingsDir, hooks } = this.options;
    const settings = config.transcription;
    const modelsDir = settings.modelsDir ?? join(config.dataDir, 'models');
    await mkdir(modelsDir, { recursive: true });
    this.catalog = new ModelCatalog(modelsDir, { normal: settings.normalModel, constrained: settings.constrainedModel }, {
      normal: settings.modelSha256 ? { sha256: settings.modelSha256 } : {},
    });
    this.modelValue = await this.chooseModel(modelsDir);
    this.policy = new DegradePolicy(this.maxThreads);
    const serverPath = settings.serverPath ?? join(this.options.projectRoot, '.cache', 'whisper', 'current', 'bin', 'whisper-server');
    await this.checkServer(serverPath);

    this.engine = new WhisperEngine({
      serverPath,
      modelPath: this.modelValue.path,
      threads: this.maxThreads,
      flashAttention: settings.flashAttention,
      niceness: settings.niceness,
      restart: { initialMs: 1000, maxMs: 30_000 },
      readyTimeoutMs: settings.readyTimeoutMs,
      requestTimeoutMs: settings.requestTimeoutMs,
      logger: logger.child({ module: 'engine' }),
    });
    this.transcriberValue = new Transcriber({
      db,
      recordingsDir,
      engine: this.engine,
      logger: logger.child({ module: 'transcriber' }),
      config: {
        minSpeechMs: settings.minSpeechMs,
        maxWindowMs: settings.maxWindowMs,
        maxAttempts: settings.maxAttempts,
        retry: { initialMs: settings.retryInitialMs, maxMs: settings.retryMaxMs },
        // The breaker's own timeout must not cut a request the engine still allows.
        breaker: { failureThreshold: settings.breakerFailures, resetTimeoutMs: settings.breakerResetMs, timeoutMs: settings.requestTimeoutMs + 5000 },
        threads: this.maxThreads,
        beamSize: settings.beamSize,
      },
      hooks: {
        onTranscribed: (durationS, rtf) => hooks?.onTranscribed?.(durationS, rtf),
        onError: (kind) => hooks?.onError?.(kind),
      },
      degraded: () => (this.policy?.decision.level ?? 0) > 0 || this.modelValue?.tier === 'constrained',
      paused: () => this.policy?.decision.defer ?? false,
    });
    this.transcriberValue.onBusyChange((busy) => hooks?.onBusyChange?.(busy));

    // Not awaited: recording must not wait for a model to load. The engine retries by itself
    // when its first start fails (model or binary missing); jobs wait in the queue meanwhile.
    void this.engine.start().catch((error: unknown) => {
      logger.error({ err: error }, 'transcription engine not available yet; jobs stay queued');
    });
    await this.transcriberValue.start();
    await this.reviewFaults();
    this.reviewTimer = setInterval(() => {
      if (settings.adaptive) this.reviewDegradation();
      void this.reviewFaults();
    }, config.ops.resourceSampleMs);
    this.reviewTimer.unref();
    logger.info(
      { model: this.modelValue.path, tier: this.modelValue.tier, placeholder: this.modelValue.placeholder, threads: this.maxThreads, serverPath },
      this.modelValue.placeholder ? 'transcription runs on a GENERATED placeholder model: transcripts are not real speech' : 'transcription ready',
    );
  }

  /** Stops the queue before the engine, so a running job is not failed by the engine going away. */
  async stop(): Promise<void> {
    if (this.reviewTimer) clearInterval(this.reviewTimer);
    this.reviewTimer = null;
    await this.transcriberValue?.stop();
    await this.applying;
    await this.engine?.stop();
  }

  status(): PipelineStatus | null {
    if (!this.engine || !this.transcriberValue || !this.modelValue || !this.policy) return null;
    return { engine: this.engine.status(), queue: this.transcriberValue.status(), model: this.modelValue, degradation: this.policy.decision };
  }

  /** Health: the model file in use. */
  async modelHealth(): Promise<HealthCheckResult> {
    const model = this.modelValue;
    if (!model) return { status: 'unhealthy', message: 'transcription not started' };
    const check = await checkModelFile(model.path, model.tier === 'normal' && this.options.config.transcription.modelSha256 ? { sha256: this.options.config.transcription.modelSha256 } : {});
    const details = { path: model.path, tier: model.tier, placeholder: model.placeholder };
    if (!check.ok) return { status: 'unhealthy', message: check.reason, details };
    if (model.placeholder) return { status: 'degraded', message: 'placeholder model (simulator): transcripts are not real', details };
    return { status: 'healthy', message: `${model.tier} model ${check.format}, ${Math.round(check.bytes / 1_048_576)} MB`, details };
  }

  /** Health: the engine answers (or is on its way back). */
  engineHealth(): Promise<HealthCheckResult> {
    const status = this.engine?.status();
    if (!status) return Promise.resolve({ status: 'unhealthy', message: 'transcription not started' });
    const details = { state: status.state, restarts: status.restarts, pid: status.pid, threads: status.threads, lastError: status.lastError };
    switch (status.state) {
      case 'ready':
      case 'busy':
        return Promise.resolve({ status: 'healthy', message: `whisper-server ${status.state}`, details });
      case 'starting':
      case 'restarting':
        return Promise.resolve({ status: 'degraded', message: `whisper-server ${status.state}${status.lastError ? `: ${status.lastError}` : ''}`, details });
      case 'stopped':
      case 'failed':
        return Promise.resolve({ status: 'unhealthy', message: `whisper-server ${status.state}${status.lastError ? `: ${status.lastError}` : ''}`, details });
    }
  }

  /** Health: queue and breaker, from the transcriber. */
  queueHealth(): Promise<HealthCheckResult> {
    if (!this.transcriberValue) return Promise.resolve({ status: 'unhealthy', message: 'transcription not started' });
    return Promise.resolve(this.transcriberValue.health());
  }

  private async chooseModel(modelsDir: string): Promise<ModelInfo> {
    const catalog = this.catalog;
    if (!catalog) throw new Error('catalog not set');
    const available = await catalog.firstAvailable(['normal', 'constrained']);
    if (available) return { tier: available.tier as ModelInfo['tier'], path: available.path, placeholder: false };
    const { config, logger, simulator } = this.options;
    if (simulator && config.transcription.placeholderModel) {
      const path = join(modelsDir, PLACEHOLDER_MODEL);
      if (!(await checkModelFile(path)).ok) {
        logger.warn({ path }, 'no Whisper model installed: generating a placeholder model for the simulator (npm run model:fetch gets the real one)');
        await generateModel(path, { kind: 'mini', seed: 1, decodeTokens: 6 });
      }
      return { tier: 'normal', path, placeholder: true };
    }
    // No model: the engine keeps retrying on the normal tier's path; health and the LEDs say why.
    const normal = await catalog.check('normal');
    logger.error({ path: normal.path, reason: normal.check.ok ? null : normal.check.reason }, 'no usable Whisper model: recordings are kept and queued until one is installed');
    return { tier: 'normal', path: normal.path, placeholder: false };
  }

  private async checkServer(serverPath: string): Promise<void> {
    try {
      await access(serverPath, constants.X_OK);
    } catch {
      this.serverBuilt = false;
      this.options.logger.error({ serverPath }, 'whisper-server is not built (npm run whisper:build); jobs stay queued');
    }
  }

  /** Keeps the appliance's faults (LEDs, state) in step with the model, the binary and the breaker. */
  async reviewFaults(): Promise<void> {
    const onFault = this.options.hooks?.onFault;
    if (!onFault || !this.modelValue) return;
    const check = await checkModelFile(this.modelValue.path);
    onFault('model', check.ok ? null : `no usable model: ${check.reason}`, 'error');
    onFault('engine-binary', this.serverBuilt ? null : 'whisper-server not built (npm run whisper:build)', 'error');
    const queue = this.transcriberValue?.status();
    if (queue) {
      onFault('engine', queue.breaker === 'closed' ? null : `transcription engine failing (breaker ${queue.breaker}), ${queue.queueSize} queued`, 'degraded');
    }
  }

  /** Applies the policy's decision to the engine: threads (a restart) and model tier (/load). */
  private reviewDegradation(): void {
    const snapshot = this.options.resources();
    const policy = this.policy;
    if (!snapshot || !policy) return;
    const before = policy.decision;
    const after = policy.update(snapshot, Date.now());
    if (after === before) return;
    this.options.logger.warn({ from: before.name, to: after.name, reasons: after.reasons, threads: after.threads, tier: after.tier }, 'transcription degradation changed');
    this.options.hooks?.onDegradation?.(after);
    this.options.hooks?.onFault?.('degradation', after.level > 0 ? `transcription ${after.name}: ${after.reasons.join(', ')}` : null, 'degraded');
    if (!after.defer) this.transcriberValue?.wake();
    this.applying = this.applying.then(() => this.apply(after)).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'could not apply the degradation decision');
    });
  }

  private async apply(decision: DegradeDecision): Promise<void> {
    const engine = this.engine;
    const catalog = this.catalog;
    const model = this.modelValue;
    if (!engine || !catalog || !model || model.placeholder) {
      await engine?.reconfigure({ threads: decision.threads });
      return;
    }
    if (decision.tier !== model.tier) {
      const wanted = await catalog.check(decision.tier);
      if (wanted.check.ok) {
        await engine.loadModel(wanted.path);
        this.modelValue = { tier: decision.tier, path: wanted.path, placeholder: false };
      } else {
        this.options.logger.info({ tier: decision.tier, reason: wanted.check.reason }, 'model tier not installed; keeping the current model');
      }
    }
    await engine.reconfigure({ threads: decision.threads });
  }
}
