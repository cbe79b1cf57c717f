import { access, constants, mkdir, statfs } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { PROJECT_ROOT } from '../config.js';
import type { Logger } from '../log.js';
import { Appliance } from '../appliance.js';
import { CapturePipeline } from '../audio/capture.js';
import { SPEECH_RATE_HZ } from '../domain/transcript.js';
import { LevelSlot } from '../audio/level.js';
import { Recorder } from '../audio/recorder.js';
import { resolveApiToken, storeGeneratedToken, tokenAnnouncement } from './api-token.js';
import { createHardware, type Hardware } from './hardware.js';
import type { PcmFormat } from '../hardware/types.js';
import { createHttpServer, defaultWebDir, type ButtonAction } from '../http/server.js';
import type { ScoutMetrics } from '../ops/metrics.js';
import { ResourceMonitor } from '../ops/resources.js';
import { SdNotify } from '../ops/sd-notify.js';
import { checkWritable } from '../store/db.js';
import { LiveDatabase } from '../store/live-database.js';
import type { Store } from '../store/store.js';
import { RecordingIdGenerator } from '../store/ids.js';
import { recoverInterruptedRecordings } from '../store/recover.js';
import { finishPendingDeletions } from '../store/delete-recording.js';
import { EventHub } from '../ops/events.js';
import { EventWiring } from './events.js';
import { DegradePolicy } from '../transcribe/degrade.js';
import { WhisperEngine } from '../transcribe/engine.js';
import { ModelCatalog } from '../transcribe/model-file.js';
import { chooseModel } from '../transcribe/models.js';
import { TranscriptionPipeline } from '../transcribe/pipeline.js';
import { Transcriber } from '../transcribe/transcriber.js';
import { RemoteWhisperEngine } from '../transcribe/remote-engine.js';
import { RemoteTier } from '../transcribe/remote-tier.js';
import { CatchUp } from '../transcribe/catch-up.js';
import { windowSettingsOf } from '../transcribe/window-settings.js';
import { FaultBoard } from '../ops/faults.js';
import { StorageErrors } from '../ops/storage-errors.js';
import { Retention } from './retention.js';
import { StorageWatch } from './storage-watch.js';
import { buildHealth } from './health.js';
import { composeIntegrations } from './integrations.js';
import { LedPresenter } from './leds.js';
import type { LifecyclePart } from './lifecycle.js';
import { wireMetrics } from './metrics.js';
import { watchSourceFaults } from './source-faults.js';
import { StatusLine } from './status-line.js';
import { buildWatchdog } from './watchdog.js';

/**
 * The composer: the only code that reads Config. It converts units, names each part's logger
 * once (`module`), builds every part with what it needs, and lists them in start order. Nothing
 * here starts anything: the lifecycle does, from the list.
 */

export interface ComposeOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly env: NodeJS.ProcessEnv;
  readonly metrics: ScoutMetrics;
}

export interface Scout {
  /** In start order; the lifecycle stops them in reverse. */
  readonly parts: readonly LifecyclePart[];
  /** The address the HTTP server listens on, once the 'http' part has started. */
  readonly port: () => number | null;
  readonly audioFormat: PcmFormat;
}

export async function composeScout({ config, logger, env, metrics }: ComposeOptions): Promise<Scout> {
  const named = (module: string): Logger => logger.child({ module });
  const recordingsDir = join(config.dataDir, 'recordings');
  await mkdir(recordingsDir, { recursive: true });

  // One connection for the process; on a read-only card a copy that becomes the real file again
  // when the card takes writes (store/live-database.ts).
  const live = new LiveDatabase(join(config.dataDir, 'scout.db'), named('db'));
  const { db, store, totals: recordingTotals } = live;
  const { recordings } = store;
  const faults = new FaultBoard(named('faults'));
  const storageErrors = new StorageErrors({ faults, logger: named('storage') });
  // A read-only card: the database is an in-memory copy (store/db.ts), so every write fails and
  // the watch's probe fails until the card is writable again; the fault says so from the first moment.
  if (live.readOnlyCopy()) storageErrors.report('database-open', Object.assign(new Error('read-only file system: the database is a read-only copy until the card takes writes'), { code: 'EROFS' }));
  // Ids start at the wall clock, so a Last-Event-ID from before a restart reads as too old (reset).
  const hub = new EventHub({ firstId: Date.now(), logger: named('events') });
  // Every /proc and /sys read, and the vcgencmd stand-in, under the host root (a scripted tree in tests).
  const resources = new ResourceMonitor({ logger: named('resources'), periodMs: config.ops.resourceSampleMs, root: config.ops.hostRoot, dataDir: config.dataDir });
  const transcription = config.transcription.enabled
    ? await composeTranscription({ config, store, recordingsDir, resources, faults, metrics, storageErrors, named })
    : null;

  // The next arecord spawn takes the degradation level's ALSA sizes; capture is never restarted for them.
  const hardware: Hardware = await createHardware(config, named('audio'), named('gpio'), transcription ? () => transcription.captureSettings() : null);
  const { source, button } = hardware;
  const level = new LevelSlot();
  // Sized for the largest read a child's pipe hands over (64 KiB) so the DSP never reallocates.
  const maxChunkFrames = Math.ceil(65_536 / (2 * source.format.channels));
  const capture = new CapturePipeline({ source, ringSeconds: config.audio.ringSeconds, maxChunkFrames, level, logger: named('capture') });
  const recorder = new Recorder({
    ring: capture.ring,
    sampleRateHz: SPEECH_RATE_HZ,
    recordingsDir,
    preRollMs: config.recorder.preRollMs,
    flushIntervalMs: config.recorder.flushIntervalMs,
    reserveAheadBytes: Math.round(config.recorder.reserveAheadMb * 1_048_576),
    logger: named('recorder'),
  });
  const ids = new RecordingIdGenerator();
  const freeBytes = async (): Promise<number> => {
    const stats = await statfs(recordingsDir);
    return stats.bavail * stats.bsize;
  };
  const minFreeBytes = config.recorder.minFreeMb * 1_048_576;
  const retentionConfig = config.recorder.retention;
  const retentionLog = named('retention');
  const retention = retentionConfig.enabled
    ? new Retention({ keepFreeBytes: retentionConfig.keepFreeMb * 1_048_576, freeBytes, recordings, recordingsDir, logger: retentionLog })
    : null;
  // Logged either way: deleting audio is something an owner must be able to find out about.
  retentionLog.info({ enabled: retentionConfig.enabled, keepFreeMb: retentionConfig.keepFreeMb }, retentionConfig.enabled ? 'retention on: old audio is deleted when space is low' : 'retention off');
  const appliance = new Appliance({
    mode: config.recorder.mode,
    longPressCancelMs: config.recorder.longPressCancelMs,
    maxDurationMs: config.recorder.maxDurationS * 1000,
    minFreeBytes,
    sampleRateHz: SPEECH_RATE_HZ,
    recorder,
    recordings,
    faults,
    transcription: transcription?.transcriber ?? null,
    newId: () => ids.next(),
    freeBytes,
    onStorageError: storageErrors.report,
    logger: named('appliance'),
  });
  const leds = new LedPresenter({ leds: hardware.leds, appliance, faults, layout: config.gpio.ledLayout });
  const catchUp = transcription
    ? new CatchUp({
        // Off on the placeholder model: its text is not speech, there is nothing to improve.
        enabled: config.transcription.catchUp && !transcription.status().model.placeholder,
        transcriber: transcription.transcriber,
        transcripts: store.transcripts,
        recordings,
        recordingsDir,
        level: () => transcription.status().degradation.level,
        isRecording: () => appliance.snapshot().phase === 'recording',
        currentModel: () => transcription.status().model,
        logger: named('catch-up'),
      })
    : null;
  if (transcription && catchUp) {
    transcription.onDegradationChange(() => catchUp.wake());
    appliance.onChange(() => catchUp.wake());
  }
  // MQTT, webhooks, the notes folder (null when none is configured); the HA button presses the real one.
  const integrations = composeIntegrations({
    config,
    store,
    appliance,
    transcription,
    live: {
      recording: () => appliance.snapshot().phase === 'recording',
      degradationLevel: () => transcription?.status().degradation.level ?? null,
      queueSize: () => transcription?.status().queue.queueSize ?? null,
    },
    press: () => pressFromApi(appliance, 'toggle'),
    named,
  });
  const integrationStatus = (): ReturnType<NonNullable<typeof integrations>['status']> => integrations?.status() ?? [];
  capture.onChunk(() => recorder.onCaptureChunk());
  button.onEdge((edge, atMs) => appliance.handleEdge(edge, atMs));
  watchSourceFaults(source, faults);
  transcription?.transcriber.onBusyChange((busy) => leds.setBusy('transcribing', busy));
  wireMetrics({ metrics, level, source, resources, transcription, appliance, events: hub, storageErrors, integrations: integrationStatus, ...(retention ? { retentionAudioRemoved: () => retention.removedCount() } : {}) });

  const health = buildHealth({
    cacheMs: config.ops.healthCacheMs,
    audioFreshMs: config.ops.audioFreshMs,
    recordingsDir,
    // The thresholds that act: below the policy's, transcription waits (degraded); below the
    // recorder's, new takes are refused (unhealthy).
    disk: { deferBelowMb: config.degradation.diskFreeMinMbDefer, refuseBelowMb: config.recorder.minFreeMb },
    // The policy's own thresholds: health says hot where transcription starts to degrade for heat.
    temperature: { degradedAtC: config.degradation.tempLightC, unhealthyAtC: config.degradation.tempDeferC },
    source,
    db,
    resources,
    transcription,
    storageFault: () => (storageErrors.failing() ? (faults.list().find((fault) => fault.key === 'storage')?.message ?? 'storage writes fail') : null),
    integrations: integrationStatus,
    logger: named('health'),
  });
  const state = (): unknown => ({
    appliance: { ...appliance.snapshot(), faults: faults.messages(), busy: leds.busy(), leds: leds.patterns() },
    level: level.read(),
    audio: source.status(),
    ring: { capacitySamples: capture.ring.capacitySamples, overwrites: capture.ring.overwrites },
    resources: resources.snapshot(),
    transcription: transcription?.status() ?? null,
  });
  const authLog = named('auth');
  const apiToken = await resolveApiToken({ env, tokenFile: config.http.apiTokenFile, dataDir: config.dataDir, logger: authLog });
  // Not stored (a full or read-only card at the first start): the storage fault says so, and the
  // watch stores it once writes work again (retry below).
  let tokenPending = apiToken.notStored !== undefined;
  if (apiToken.notStored) storageErrors.report('api-token', apiToken.notStored.error);
  const storeToken = async (): Promise<void> => {
    if (!tokenPending) return;
    try {
      await storeGeneratedToken(apiToken, authLog);
      tokenPending = false;
    } catch (error) {
      storageErrors.report('api-token', error);
    }
  };
  // The simulator's new user needs the value to log in to the page. Never into the journal
  // (systemd sets JOURNAL_STREAM when stderr goes there): the token must not reach a log.
  const announcement = config.audio.backend === 'fake' && !env.JOURNAL_STREAM ? tokenAnnouncement(apiToken) : null;
  if (announcement !== null) process.stderr.write(announcement);
  const events = new EventWiring({ hub, appliance, faults, leds, level, recordings, transcription, health: () => health.run(), logger: named('event-wiring') });
  const http = createHttpServer({
    store,
    events: hub,
    summary: () => recordingTotals.totals(),
    onRecordingChange: (change) =>
      hub.publish(change.kind === 'deleted' ? { kind: 'recording', change: 'deleted', id: change.id } : { kind: 'recording', change: 'changed', id: change.id, status: change.recording?.status ?? 'recorded' }),
    recordingsDir,
    transcriber: transcription?.transcriber ?? null,
    webDir: defaultWebDir(PROJECT_ROOT),
    button: (action) => pressFromApi(appliance, action),
    state,
    health: () => health.run(),
    metrics: () => metrics.scrape(),
    auth: { token: apiToken.token, metricsAuth: config.http.metricsAuth },
    integrations: integrations ? { status: () => integrations.status(), recent: (sink, limit) => integrations.recent(sink, limit) } : null,
    logger: named('http'),
  });
  let port: number | null = null;

  const notify = new SdNotify({ env, logger: named('sd-notify') });
  const watchdog = buildWatchdog({
    notifier: notify,
    source,
    resources,
    transcription,
    maxEventLoopLagMs: config.ops.maxEventLoopLagMs,
    audioFreshMs: config.ops.audioFreshMs,
    requestTimeoutMs: config.transcription.requestTimeoutMs,
    logger: named('watchdog'),
  });
  const statusLine = new StatusLine({
    appliance,
    faults,
    watchdog,
    transcription: () => {
      if (!transcription) return null;
      const queue = transcription.status().queue;
      return { queued: queue.queueSize, transcribing: queue.running !== null };
    },
  });
  const recoveryLog = named('recovery');
  // Start-up repair writes rows; on a full card it waits for space instead of keeping the service down.
  let recoveryDone = false;
  const recover = async (): Promise<void> => {
    if (recoveryDone) return;
    try {
      const { recovered, failed } = await recoverInterruptedRecordings(recordings, recordingsDir, recoveryLog);
      if (recovered.length + failed.length > 0) recoveryLog.info({ recovered: recovered.length, unrecoverable: failed.length }, 'start-up recovery done');
      // Deletes cut short by a crash between the database and the file: the journal says which.
      const deletions = await finishPendingDeletions(store, recordingsDir, recoveryLog);
      if (deletions.removed + deletions.failed > 0) recoveryLog.info(deletions, 'pending deletions finished');
      recoveryDone = true;
    } catch (error) {
      storageErrors.report('recovery', error);
      recoveryLog.warn('start-up recovery postponed until storage takes writes again');
    }
  };
  const storageWatch = new StorageWatch({
    periodMs: config.ops.storageCheckMs,
    freeBytes,
    minFreeBytes,
    stopReserveBytes: (config.recorder.stopReserveMb ?? config.recorder.minFreeMb / 2) * 1_048_576,
    probeWrite: () => {
      live.reopenIfReadOnly();
      return checkWritable(db);
    },
    storageErrors,
    faults,
    appliance,
    ...(retention ? { retention: (free: number) => retention.enforce(free) } : {}),
    retry: async () => {
      await recover();
      await storeToken();
      // A take cut short by the card may have had its tail refused: queue it now, not at the next start.
      await transcription?.transcriber.resumeInterrupted();
    },
    logger: named('storage-watch'),
  });

  const parts: LifecyclePart[] = [
    { name: 'database', stop: () => live.close() },
    { name: 'recovery', start: () => recover() },
    // Resources before transcription: the degradation policy reads them from the start.
    { name: 'resources', start: () => resources.start(), stop: () => resources.stop() },
    ...(transcription ? [{ name: 'transcription', start: () => transcription.start(), stop: () => transcription.stop() }] : []),
    // LEDs before the appliance, so 'starting' shows from the first moment and 'off' comes last.
    { name: 'leds', start: () => leds.start(), stop: () => leds.stop() },
    // After the LEDs (a change reads the patterns just set), before the appliance ('idle' is published).
    { name: 'events', start: () => events.start(), stop: () => events.stop() },
    // The appliance finishes the take while capture still runs, so the last words reach the file.
    // Before the appliance, so a take it ends at stop still reaches the outbox.
    ...(integrations ? [{ name: 'integrations', start: () => integrations.start(), stop: () => integrations.stop() }] : []),
    { name: 'appliance', start: () => appliance.start(), stop: () => appliance.stop() },
    // After the appliance: it asks whether a take is being recorded before each redo.
    ...(catchUp ? [{ name: 'catch-up', start: () => catchUp.start(), stop: () => catchUp.stop() }] : []),
    { name: 'capture', start: () => capture.start(), stop: () => capture.stop() },
    // After the appliance (it stops a take at the reserve) and capture; before http, so a full
    // card already shows in the first health answer.
    { name: 'storage', start: () => storageWatch.start(), stop: () => storageWatch.stop() },
    { name: 'button', start: () => button.start(), stop: () => button.stop() },
    {
      name: 'http',
      start: async () => {
        await http.listen({ host: config.http.host, port: config.http.port });
        const address = http.server.address();
        port = typeof address === 'object' && address !== null ? address.port : config.http.port;
      },
      stop: () => http.close(),
    },
    {
      name: 'systemd',
      start: () => notify.ready(),
      stop: async () => {
        await notify.stopping();
        await notify.close();
      },
    },
    { name: 'watchdog', start: () => watchdog.start(), stop: () => watchdog.stop() },
    { name: 'status', start: () => statusLine.start(), stop: () => statusLine.stop() },
  ];
  return { parts, port: () => port, audioFormat: source.format };
}

interface TranscriptionWiring {
  readonly config: Config;
  readonly store: Store;
  readonly recordingsDir: string;
  readonly resources: ResourceMonitor;
  readonly faults: FaultBoard;
  readonly metrics: ScoutMetrics;
  readonly storageErrors: StorageErrors;
  readonly named: (module: string) => Logger;
}

async function composeTranscription({ config, store, recordingsDir, resources, faults, metrics, storageErrors, named }: TranscriptionWiring): Promise<TranscriptionPipeline> {
  const settings = config.transcription;
  const logger = named('transcription');
  const modelsDir = settings.modelsDir ?? join(config.dataDir, 'models');
  const catalog = new ModelCatalog(modelsDir, { normal: settings.normalModel, constrained: settings.constrainedModel }, {
    normal: settings.modelSha256 ? { sha256: settings.modelSha256 } : {},
  });
  const model = await chooseModel({
    catalog,
    modelsDir,
    placeholderAllowed: config.audio.backend === 'fake' && settings.placeholderModel,
    logger,
  });
  // One core stays free for capture and the system: ggml's spinning threads starve everything else.
  const maxThreads = settings.threads ?? Math.max(1, availableParallelism() - 1);
  const serverPath = settings.serverPath ?? join(PROJECT_ROOT, '.cache', 'whisper', 'current', 'bin', 'whisper-server');
  const serverBuilt = await isExecutable(serverPath);
  if (!serverBuilt) logger.error({ serverPath }, 'whisper-server is not built (npm run whisper:build); jobs stay queued');

  // Jobs wait while the engine swaps model or threads (set by the pipeline, read by the queue).
  const engineChange = { pending: false };
  const policy = new DegradePolicy(
    config.degradation,
    { threads: maxThreads, beamSize: settings.beamSize, alsaPeriodMs: config.audio.periodMs, alsaBufferMs: config.audio.bufferMs },
    Date.now(),
  );
  const engine = new WhisperEngine({
    serverPath,
    modelPath: model.path,
    threads: maxThreads,
    flashAttention: settings.flashAttention,
    niceness: settings.niceness,
    restart: { initialMs: 1000, maxMs: 30_000 },
    readyTimeoutMs: settings.readyTimeoutMs,
    requestTimeoutMs: settings.requestTimeoutMs,
    logger: named('engine'),
  });
  const constrainedPath = catalog.pathOf('constrained');
  const remote = composeRemoteTier(config, () => config.degradation.levels[policy.decision.name].remote, named('remote-engine'));
  const transcriber = new Transcriber({
    store,
    // Read for every window: an edit on the page reaches the next window sent.
    vocabulary: () => store.vocabulary.get(),
    recordingsDir,
    engine,
    logger: named('transcriber'),
    config: {
      minSpeechMs: settings.minSpeechMs,
      maxWindowMs: settings.maxWindowMs,
      maxAttempts: settings.maxAttempts,
      retry: { initialMs: settings.retryInitialMs, maxMs: settings.retryMaxMs },
      // The breaker's own timeout must not cut a request the engine still allows.
      breaker: { failureThreshold: settings.breakerFailures, resetTimeoutMs: settings.breakerResetMs, timeoutMs: settings.requestTimeoutMs + 5000 },
      beamSize: settings.beamSize,
    },
    hooks: {
      onTranscribed: (durationS, realTimeFactor) => {
        metrics.transcriptionDuration.observe(durationS);
        metrics.realTimeFactor.observe(realTimeFactor);
      },
      onError: (kind) => metrics.transcriptionErrors.inc({ kind }),
      onWindow: (engine) => metrics.transcriptionWindows.inc({ engine }),
      onStorageError: storageErrors.report,
    },
    currentModel: () => {
      const path = engine.status().model;
      return { path, tier: path === constrainedPath ? 'constrained' : 'normal' };
    },
    // The local engine's pause; the remote tier, when it takes windows, runs them meanwhile.
    paused: () => policy.decision.defer || engineChange.pending,
    ...(remote ? { remote } : {}),
    windowSettings: () => windowSettingsOf(policy.decision),
  });
  return new TranscriptionPipeline({
    engine,
    transcriber,
    policy,
    catalog,
    model,
    normalModelSha256: settings.modelSha256,
    serverBuilt,
    adaptive: settings.adaptive,
    reviewPeriodMs: config.ops.resourceSampleMs,
    resources: () => resources.snapshot(),
    faults,
    engineChange,
    remote,
    logger,
  });
}

/** The remote engine tier of `transcription.remote`, or null when no url is set. */
function composeRemoteTier(config: Config, levelAsksRemote: () => boolean, logger: Logger): RemoteTier | null {
  const remote = config.transcription.remote;
  if (remote.url === null || remote.model === null) return null;
  // The client's own timeout answers first, as a timeout; the breaker's is the backstop. A host on
  // the LAN answers /health in milliseconds: seconds of silence mean it is not there (for now).
  const engine = new RemoteWhisperEngine({ url: remote.url, model: remote.model, threads: remote.threads, requestTimeoutMs: remote.timeoutMs, healthTimeoutMs: 3000 });
  return new RemoteTier({
    engine,
    when: remote.when,
    levelAsksRemote,
    breaker: { failureThreshold: remote.breakerFailures, resetTimeoutMs: remote.breakerResetMs, timeoutMs: remote.timeoutMs + 2000 },
    healthIntervalMs: remote.healthIntervalMs,
    logger,
  });
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The API's button goes through the same code path as the physical one. */
function pressFromApi(appliance: Appliance, action: ButtonAction): void {
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
