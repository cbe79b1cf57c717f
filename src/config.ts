import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { IntegrationsSchema } from './app/integrations-schema.js';

/**
 * One schema is the whole configuration: it validates the file, fills defaults, documents every
 * setting and gives the TypeScript type. Units are in the names. With no file at all the defaults
 * run the simulator on a laptop.
 */

const AudioSchema = Type.Object(
  {
    backend: Type.Union([Type.Literal('alsa'), Type.Literal('fake')], {
      default: 'fake',
      description: "'alsa' spawns arecord on `device`; 'fake' is the simulator's mic (plays `simAudioPath`, looped)",
    }),
    device: Type.String({ minLength: 1, default: 'default', description: 'ALSA PCM name, e.g. plughw:CARD=Device,DEV=0' }),
    sampleRateHz: Type.Union([Type.Literal(16000), Type.Literal(32000), Type.Literal(48000)], {
      default: 48000,
      description: 'capture rate; other device rates go through the ALSA plug layer',
    }),
    channels: Type.Integer({ minimum: 1, maximum: 8, default: 1 }),
    periodMs: Type.Integer({ minimum: 5, maximum: 500, default: 50, description: 'ALSA period: latency vs wake-ups' }),
    bufferMs: Type.Integer({ minimum: 20, maximum: 5000, default: 500, description: 'ALSA buffer: slack before an overrun' }),
    stallTimeoutMs: Type.Integer({ minimum: 200, default: 3000, description: 'no frames for this long restarts capture' }),
    restartInitialMs: Type.Integer({ minimum: 10, default: 500 }),
    restartMaxMs: Type.Integer({ minimum: 100, default: 30_000 }),
    ringSeconds: Type.Integer({ minimum: 2, maximum: 600, default: 30, description: 'PCM ring length (rounded up to a power of two)' }),
    simAudioPath: Type.Union([Type.String(), Type.Null()], {
      default: null,
      description: 'WAV played by the simulator mic; null = a generated speech clip',
    }),
  },
  { additionalProperties: false, default: {} },
);

const RecorderSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('toggle'), Type.Literal('hold')], {
      default: 'toggle',
      description: "'toggle': press starts, next press stops; 'hold': recording lasts while the button is held",
    }),
    preRollMs: Type.Integer({ minimum: 0, maximum: 5000, default: 500, description: 'audio kept from before the press' }),
    longPressCancelMs: Type.Integer({ minimum: 500, default: 2000, description: 'toggle mode: a press held this long cancels and discards' }),
    maxDurationS: Type.Integer({ minimum: 1, maximum: 24 * 3600, default: 3600 }),
    flushIntervalMs: Type.Integer({ minimum: 100, maximum: 1000, default: 1000, description: 'WAV header rewrite + fsync; bounds loss on power cut' }),
    minFreeMb: Type.Integer({ minimum: 0, default: 200, description: 'refuse to start a recording below this free space' }),
    reserveAheadMb: Type.Number({
      minimum: 0,
      maximum: 64,
      default: 1,
      description: 'space reserved (fallocate) ahead of the audio being written, so a take survives a filling disk a little longer; 0 turns it off',
    }),
    stopReserveMb: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'stop a recording in progress below this free space, so its last flush and row still fit (default: half of minFreeMb)',
      }),
    ),
    retention: Type.Object(
      {
        enabled: Type.Boolean({ default: false, description: 'when free space is low, delete the audio of the oldest transcribed recordings (rows and transcripts stay)' }),
        keepFreeMb: Type.Integer({ minimum: 1, default: 500, description: 'retention deletes audio, oldest first, until this much is free' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

const GpioSchema = Type.Object(
  {
    backend: Type.Union([Type.Literal('fake'), Type.Literal('kernel'), Type.Literal('onoff')], { default: 'fake' }),
    buttonDevicePath: Type.Union([Type.String(), Type.Null()], {
      default: null,
      description: 'evdev path of the gpio-key button; null = the first gpio-keys device that sends buttonKeyCode',
    }),
    buttonKeyCode: Type.Integer({ minimum: 0, default: 167, description: 'KEY_RECORD unless the overlay says otherwise' }),
    statusLed: Type.String({ default: 'scout-status', description: '/sys/class/leds label' }),
    recordLed: Type.String({ default: 'scout-rec', description: '/sys/class/leds label' }),
    onoffButtonPin: Type.Integer({ minimum: 0, default: 17 }),
    onoffStatusLedPin: Type.Integer({ minimum: 0, default: 22 }),
    onoffRecordLedPin: Type.Integer({ minimum: 0, default: 27 }),
    ledLayout: Type.Union([Type.Literal('two'), Type.Literal('one')], {
      default: 'two',
      description: "'two': status + recording LED; 'one': only the status LED is wired (docs/LEDS.md, one-LED table)",
    }),
  },
  { additionalProperties: false, default: {} },
);

const HttpSchema = Type.Object(
  {
    host: Type.String({
      default: '127.0.0.1',
      description: "listen address; the simulator stays off the LAN, the Pi's config (install-pi.sh) sets 0.0.0.0",
    }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    // The token itself is never a setting: a config file gets copied and shared. SCOUT_API_TOKEN
    // (read by the composer) or this file hold it; with neither, one is generated in the data dir.
    apiTokenFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
      default: null,
      description: 'file holding the API token; null = <dataDir>/api-token, generated at first start (SCOUT_API_TOKEN wins over both)',
    }),
    metricsAuth: Type.Boolean({ default: false, description: '/metrics needs the API token too (off: Prometheus on a LAN scrapes without one)' }),
  },
  { additionalProperties: false, default: {} },
);

const OpsSchema = Type.Object(
  {
    healthCacheMs: Type.Integer({ minimum: 0, default: 2000 }),
    audioFreshMs: Type.Integer({ minimum: 500, default: 5000, description: 'frames older than this make audio unhealthy and stop the watchdog' }),
    maxEventLoopLagMs: Type.Integer({ minimum: 10, default: 2000 }),
    storageCheckMs: Type.Integer({
      minimum: 100,
      default: 1000,
      description: 'free space and, while storage fails, database writability are checked this often (a take stops at recorder.stopReserveMb)',
    }),
    resourceSampleMs: Type.Integer({ minimum: 250, default: 5000, description: 'resource sample period; the degradation policy sees one sample per period' }),
    hostRoot: Type.String({
      minLength: 1,
      default: '/',
      description: 'every /proc and /sys read (resources, the input device list, the LED and GPIO sysfs trees) and the vcgencmd stand-in (<hostRoot>/usr/bin/vcgencmd) happen under it: a scripted tree for tests (SCOUT_HOST_ROOT wins)',
    }),
  },
  { additionalProperties: false, default: {} },
);

/** The remote engine tier (src/transcribe/remote-tier.ts): a whisper-server elsewhere on the LAN. */
const RemoteEngineSchema = Type.Object(
  {
    url: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()], {
      default: null,
      description: "base URL of a whisper.cpp whisper-server on the LAN (the same pinned build, e.g. with a larger model), e.g. http://192.168.1.20:8080; null = no remote tier",
    }),
    model: Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()], {
      default: null,
      description: 'name of the model the remote runs, recorded per window (whisper-server does not say); required with url',
    }),
    when: Type.Union([Type.Literal('always'), Type.Literal('pressure')], {
      default: 'pressure',
      description: "'always': every window while the remote is reachable; 'pressure': only at degradation levels whose `remote` is true",
    }),
    threads: Type.Integer({ minimum: 1, maximum: 256, default: 4, description: 'the -t the remote runs with, recorded per window (whisper-server does not say)' }),
    timeoutMs: Type.Integer({ minimum: 1000, default: 60_000, description: 'one request to the remote longer than this fails and the window runs locally' }),
    healthIntervalMs: Type.Integer({ minimum: 500, default: 10_000, description: 'GET /health this often; a remote that does not answer is not tried until it does' }),
    breakerFailures: Type.Integer({ minimum: 1, default: 2, description: 'consecutive remote failures that open its breaker (windows run locally)' }),
    breakerResetMs: Type.Integer({ minimum: 100, default: 30_000, description: 'open remote breaker: time before a window probes the remote again' }),
  },
  { additionalProperties: false, default: {} },
);

const TranscriptionSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    serverPath: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
      default: null,
      description: "whisper-server binary; null = the project's own build (.cache/whisper/current/bin)",
    }),
    modelsDir: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'null = <dataDir>/models' }),
    normalModel: Type.String({
      minLength: 1,
      default: 'ggml-tiny.en-q8_0.bin',
      description: 'model file of the normal tier (in modelsDir); q8_0: as fast as f16, 35 MB less, inside the 215 MB budget',
    }),
    constrainedModel: Type.String({
      minLength: 1,
      default: 'ggml-tiny.en-q5_1.bin',
      description: 'smaller model used under pressure, if installed (otherwise only threads drop)',
    }),
    modelSha256: Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()], {
      default: null,
      description: 'checked at start when set (npm run model:fetch pins the real one)',
    }),
    placeholderModel: Type.Boolean({
      default: true,
      description: 'in the simulator, with no real model installed, generate a placeholder model (its transcripts are not real)',
    }),
    threads: Type.Union([Type.Integer({ minimum: 1, maximum: 16 }), Type.Null()], { default: null, description: 'null = cores - 1 (at least 1)' }),
    flashAttention: Type.Boolean({ default: true }),
    beamSize: Type.Integer({ minimum: 1, maximum: 8, default: 1, description: '1 = greedy' }),
    minSpeechMs: Type.Integer({ minimum: 1000, default: 4000, description: 'a live window closes at a pause once it holds this much speech' }),
    maxWindowMs: Type.Integer({ minimum: 5000, maximum: 30_000, default: 30_000 }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
    retryInitialMs: Type.Integer({ minimum: 10, default: 1000 }),
    retryMaxMs: Type.Integer({ minimum: 100, default: 60_000 }),
    breakerFailures: Type.Integer({ minimum: 1, default: 3, description: 'consecutive engine failures that open the breaker' }),
    breakerResetMs: Type.Integer({ minimum: 100, default: 30_000, description: 'open breaker: time before a probe' }),
    requestTimeoutMs: Type.Integer({ minimum: 1000, default: 120_000 }),
    readyTimeoutMs: Type.Integer({ minimum: 1000, default: 60_000 }),
    niceness: Type.Integer({ minimum: 0, maximum: 19, default: 10, description: 'added to our nice value: capture wins the CPU' }),
    adaptive: Type.Boolean({ default: true, description: 'degrade model tier/threads/deferral under thermal or CPU pressure' }),
    catchUp: Type.Boolean({
      default: true,
      description: 'redo transcripts made at a lower model tier at the normal tier, in the background, once the level is back to normal and the queue is idle (never on the placeholder model)',
    }),
    remote: RemoteEngineSchema,
  },
  { additionalProperties: false, default: {} },
);

/** What one degradation level does; null = the setting outside degradation (transcription.*, audio.*). */
function levelSchema(name: string, d: {
  tier: 'normal' | 'constrained';
  threadsDelta: number;
  threadsMax: number | null;
  beamSize: number | null;
  audioCtxMarginFrames: number;
  defer: boolean;
  alsaPeriodMs: number | null;
  alsaBufferMs: number | null;
  remote: boolean;
}) {
  return Type.Object(
    {
      tier: Type.Union([Type.Literal('normal'), Type.Literal('constrained')], { default: d.tier, description: `${name}: model tier (constrained only if installed)` }),
      threadsDelta: Type.Integer({ minimum: -16, maximum: 0, default: d.threadsDelta, description: `${name}: added to transcription.threads (at least 1 stays)` }),
      threadsMax: Type.Union([Type.Integer({ minimum: 1, maximum: 16 }), Type.Null()], { default: d.threadsMax, description: `${name}: cap on the threads; null = none` }),
      beamSize: Type.Union([Type.Integer({ minimum: 1, maximum: 8 }), Type.Null()], { default: d.beamSize, description: `${name}: 1 = greedy; null = transcription.beamSize` }),
      // A margin, not a factor: an encoder context shorter than the window drops its end.
      audioCtxMarginFrames: Type.Integer({ minimum: 0, maximum: 1500, default: d.audioCtxMarginFrames, description: `${name}: encoder frames (20 ms) sent beyond the window's own` }),
      defer: Type.Boolean({ default: d.defer, description: `${name}: jobs wait (capture goes on); the engine keeps the previous level's model and threads` }),
      alsaPeriodMs: Type.Union([Type.Integer({ minimum: 5, maximum: 500 }), Type.Null()], { default: d.alsaPeriodMs, description: `${name}: ALSA period at the next capture restart; null = audio.periodMs` }),
      alsaBufferMs: Type.Union([Type.Integer({ minimum: 20, maximum: 5000 }), Type.Null()], { default: d.alsaBufferMs, description: `${name}: ALSA buffer at the next capture restart; null = audio.bufferMs` }),
      remote: Type.Boolean({ default: d.remote, description: `${name}: windows go to the remote engine tier (transcription.remote with when 'pressure'), local when it is down` }),
    },
    { additionalProperties: false, default: {} },
  );
}

/**
 * Graceful degradation (src/transcribe/degrade.ts has the rules). The same temperature thresholds
 * drive the /healthz temperature check: degraded from tempLightC, unhealthy from tempDeferC.
 */
const DegradationSchema = Type.Object(
  {
    tempLightC: Type.Number({ default: 70, description: 'SoC temperature that enters level 1' }),
    tempConstrainedC: Type.Number({ default: 77, description: 'enters level 2 (the Pi soft-throttles at 80 C)' }),
    tempDeferC: Type.Number({ default: 82, description: 'enters level 3; /healthz temperature unhealthy from here' }),
    tempCriticalC: Type.Number({ default: 85, description: 'enters level 3 on one sample, without the spike filter (the firmware hard limit)' }),
    tempExitMarginC: Type.Number({ minimum: 0, default: 3, description: 'a temperature level is left only below its threshold minus this' }),
    cpuPressureSomeAvg10LightPercent: Type.Number({ minimum: 0, maximum: 100, default: 40, description: '/proc/pressure/cpu some avg10 that enters level 1' }),
    cpuPressureSomeAvg10ConstrainedPercent: Type.Number({ minimum: 0, maximum: 100, default: 75, description: 'enters level 2' }),
    memPressureSomeAvg10ConstrainedPercent: Type.Number({ minimum: 0, maximum: 100, default: 20, description: '/proc/pressure/memory some avg10 that enters level 2' }),
    memPressureFullAvg10DeferPercent: Type.Number({ minimum: 0, maximum: 100, default: 10, description: '/proc/pressure/memory full avg10 (thrashing) that enters level 3' }),
    ioPressureSomeAvg10LightPercent: Type.Number({ minimum: 0, maximum: 100, default: 40, description: '/proc/pressure/io some avg10 that enters level 1' }),
    ioPressureFullAvg10ConstrainedPercent: Type.Number({ minimum: 0, maximum: 100, default: 40, description: '/proc/pressure/io full avg10 that enters level 2' }),
    pressureExitMarginPercent: Type.Number({ minimum: 0, maximum: 100, default: 10, description: 'a pressure level is left only below its threshold minus this (percentage points)' }),
    memAvailableMinMbConstrained: Type.Integer({ minimum: 0, default: 150, description: 'MemAvailable below this enters level 2' }),
    memAvailableMinMbDefer: Type.Integer({ minimum: 0, default: 60, description: 'MemAvailable below this enters level 3 on one sample (the OOM killer does not wait)' }),
    memExitMarginMb: Type.Integer({ minimum: 0, default: 30, description: 'a memory level is left only above its threshold plus this' }),
    diskFreeMinMbDefer: Type.Integer({ minimum: 0, default: 300, description: 'free data-disk space below this enters level 3: recordings keep the space' }),
    diskExitMarginMb: Type.Integer({ minimum: 0, default: 100, description: 'the disk level is left only above its threshold plus this' }),
    spikeSamples: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: 'consecutive samples (ops.resourceSampleMs apart) at a level before it is entered' }),
    dwellMs: Type.Integer({ minimum: 0, default: 60_000, description: 'calm needed before a level is left, and the least time between two engine changes' }),
    levels: Type.Object(
      {
        normal: levelSchema('level 0', { tier: 'normal', threadsDelta: 0, threadsMax: null, beamSize: null, audioCtxMarginFrames: 64, defer: false, alsaPeriodMs: null, alsaBufferMs: null, remote: false }),
        light: levelSchema('level 1', { tier: 'normal', threadsDelta: -1, threadsMax: null, beamSize: 1, audioCtxMarginFrames: 64, defer: false, alsaPeriodMs: null, alsaBufferMs: null, remote: true }),
        constrained: levelSchema('level 2', { tier: 'constrained', threadsDelta: 0, threadsMax: 1, beamSize: 1, audioCtxMarginFrames: 32, defer: false, alsaPeriodMs: 100, alsaBufferMs: 1000, remote: true }),
        deferred: levelSchema('level 3', { tier: 'constrained', threadsDelta: 0, threadsMax: 1, beamSize: 1, audioCtxMarginFrames: 32, defer: true, alsaPeriodMs: 100, alsaBufferMs: 1000, remote: true }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
      default: null,
      description: 'database and recordings; null = $STATE_DIRECTORY under systemd, else ./data in the checkout',
    }),
    logLevel: Type.Union(
      [
        Type.Literal('fatal'),
        Type.Literal('error'),
        Type.Literal('warn'),
        Type.Literal('info'),
        Type.Literal('debug'),
        Type.Literal('trace'),
        Type.Literal('silent'),
      ],
      { default: 'info' },
    ),
    audio: AudioSchema,
    recorder: RecorderSchema,
    gpio: GpioSchema,
    http: HttpSchema,
    ops: OpsSchema,
    transcription: TranscriptionSchema,
    degradation: DegradationSchema,
    integrations: IntegrationsSchema,
  },
  { additionalProperties: false },
);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The validated, frozen configuration; `dataDir` is always resolved to an absolute path. */
export type Config = DeepReadonly<Omit<Static<typeof ConfigSchema>, 'dataDir'> & { dataDir: string }>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Environment variables that scripts and tests rely on, and the key each one sets. */
const ENV_OVERRIDES: readonly { env: string; path: readonly string[]; type: 'integer' | 'string' }[] = [
  { env: 'SCOUT_HTTP_PORT', path: ['http', 'port'], type: 'integer' },
  { env: 'SCOUT_HTTP_HOST', path: ['http', 'host'], type: 'string' },
  { env: 'SCOUT_DATA_DIR', path: ['dataDir'], type: 'string' },
  { env: 'SCOUT_SIM_AUDIO', path: ['audio', 'simAudioPath'], type: 'string' },
  { env: 'SCOUT_LOG_LEVEL', path: ['logLevel'], type: 'string' },
  { env: 'SCOUT_AUDIO_DEVICE', path: ['audio', 'device'], type: 'string' },
  { env: 'SCOUT_HOST_ROOT', path: ['ops', 'hostRoot'], type: 'string' },
  { env: 'SCOUT_MQTT_URL', path: ['integrations', 'mqtt', 'url'], type: 'string' },
];

export const DEFAULT_CONFIG_PATH = '/etc/scout/scout.json';
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), basenameIsDist() ? '../..' : '..');

function basenameIsDist(): boolean {
  // Compiled code runs from dist/src/, sources (tsx, vitest) from src/.
  return fileURLToPath(import.meta.url).includes(`${join('dist', 'src')}`);
}

export interface LoadConfigOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Overrides the file lookup; `null` means "no file". */
  readonly path?: string | null;
}

export interface LoadedConfig {
  readonly config: Config;
  /** The file that was read, or null when the defaults (simulator) are in force. */
  readonly source: string | null;
}

/** Reads, overrides, validates and freezes. Throws ConfigError listing every problem at once. */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const source = options.path !== undefined ? options.path : findConfigFile(env);
  const problems: string[] = [];

  let raw: unknown = {};
  if (source !== null) {
    try {
      raw = JSON.parse(readFileSync(source, 'utf8'));
    } catch (error) {
      throw new ConfigError([`${source}: ${(error as Error).message}`]);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError([`${source}: the top level must be a JSON object`]);
    }
  }
  const document = raw as Record<string, unknown>;
  applyEnvOverrides(document, env, problems);
  return { config: validateConfig(document, problems, env), source };
}

/** Validates a plain object (defaults filled in place) and freezes it. */
export function validateConfig(document: Record<string, unknown>, earlierProblems: string[] = [], env: NodeJS.ProcessEnv = {}): Config {
  const problems = [...earlierProblems];
  const validate = ajv.compile<Static<typeof ConfigSchema>>(ConfigSchema);
  if (!validate(document)) {
    const errors = validate.errors ?? [];
    // A union of literals fails every branch; one line naming the allowed values says it better.
    const unionPaths = new Set(errors.filter((error) => error.keyword === 'anyOf').map((error) => error.instancePath));
    for (const error of errors) {
      if (error.keyword === 'const' && unionPaths.has(error.instancePath)) continue;
      problems.push(describeError(error));
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const checked = document as Mutable<Static<typeof ConfigSchema>>;
  crossCheck(checked, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = resolveDataDir(checked.dataDir, env);
  return deepFreeze({ ...checked, dataDir });
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });

function findConfigFile(env: NodeJS.ProcessEnv): string | null {
  if (env.SCOUT_CONFIG) return env.SCOUT_CONFIG;
  return existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : null;
}

function applyEnvOverrides(document: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: string[]): void {
  for (const override of ENV_OVERRIDES) {
    const text = env[override.env];
    if (text === undefined || text === '') continue;
    let value: unknown = text;
    if (override.type === 'integer') {
      if (!/^-?\d+$/.test(text.trim())) {
        problems.push(`${override.path.join('.')} (from ${override.env}): "${text}" is not an integer`);
        continue;
      }
      value = Number.parseInt(text, 10);
    }
    setPath(document, override.path, value);
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function describeError(error: ErrorObject): string {
  const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(top level)';
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return `${path === '(top level)' ? '' : `${path}.`}${extra}: unknown setting`;
  }
  if (error.keyword === 'anyOf') {
    const allowed = (error.schema as { const?: unknown; type?: string }[]).map((branch) =>
      'const' in branch ? JSON.stringify(branch.const) : `a ${branch.type ?? 'value'}`,
    );
    return `${path}: must be one of ${allowed.join(', ')} (got ${JSON.stringify(error.data)})`;
  }
  if (error.keyword === 'const') {
    return `${path}: must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
  }
  return `${path}: ${error.message ?? error.keyword}`;
}

function crossCheck(config: Static<typeof ConfigSchema>, problems: string[]): void {
  if (config.audio.bufferMs < 2 * config.audio.periodMs) {
    problems.push('audio.bufferMs: must hold at least two periods (audio.periodMs)');
  }
  if (config.audio.restartMaxMs < config.audio.restartInitialMs) {
    problems.push('audio.restartMaxMs: must not be below audio.restartInitialMs');
  }
  if (config.recorder.preRollMs >= config.audio.ringSeconds * 1000) {
    problems.push('recorder.preRollMs: must be shorter than the ring (audio.ringSeconds)');
  }
  if (config.transcription.retryMaxMs < config.transcription.retryInitialMs) {
    problems.push('transcription.retryMaxMs: must not be below transcription.retryInitialMs');
  }
  if (config.integrations.retryMaxMs < config.integrations.retryInitialMs) {
    problems.push('integrations.retryMaxMs: must not be below integrations.retryInitialMs');
  }
  const remote = config.transcription.remote;
  if (remote.url !== null) {
    let url: URL | null = null;
    try {
      url = new URL(remote.url);
    } catch {
      problems.push(`transcription.remote.url: not a URL (got ${JSON.stringify(remote.url)})`);
    }
    if (url !== null && (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')) {
      problems.push('transcription.remote.url: only scheme, host, port and path (no credentials, query or fragment)');
    }
    if (remote.model === null) problems.push('transcription.remote.model: required with transcription.remote.url (the name recorded per window)');
  }
  const degradation = config.degradation;
  if (!(degradation.tempLightC < degradation.tempConstrainedC && degradation.tempConstrainedC < degradation.tempDeferC && degradation.tempDeferC <= degradation.tempCriticalC)) {
    problems.push('degradation.tempLightC: must be below tempConstrainedC, below tempDeferC, not above tempCriticalC');
  }
  if (degradation.cpuPressureSomeAvg10LightPercent >= degradation.cpuPressureSomeAvg10ConstrainedPercent) {
    problems.push('degradation.cpuPressureSomeAvg10LightPercent: must be below cpuPressureSomeAvg10ConstrainedPercent');
  }
  if (degradation.memAvailableMinMbDefer >= degradation.memAvailableMinMbConstrained) {
    problems.push('degradation.memAvailableMinMbDefer: must be below memAvailableMinMbConstrained');
  }
  for (const [name, level] of Object.entries(degradation.levels)) {
    const periodMs = level.alsaPeriodMs ?? config.audio.periodMs;
    const bufferMs = level.alsaBufferMs ?? config.audio.bufferMs;
    if (bufferMs < 2 * periodMs) problems.push(`degradation.levels.${name}.alsaBufferMs: must hold at least two periods (alsaPeriodMs)`);
  }
}

function resolveDataDir(dataDir: string | null, env: NodeJS.ProcessEnv): string {
  if (dataDir !== null) return isAbsolute(dataDir) ? dataDir : resolve(dataDir);
  // systemd's StateDirectory= exports the directory it created for us.
  const stateDirectory = env.STATE_DIRECTORY?.split(':')[0];
  if (stateDirectory) return stateDirectory;
  return join(PROJECT_ROOT, 'data');
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** `scout --print-defaults`: every setting with its default and the schema's own description. */
export function schemaDocs(schema: TSchema = ConfigSchema, prefix = ''): string[] {
  const lines: string[] = [];
  const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  for (const [key, child] of Object.entries(properties)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if ((child as { type?: string }).type === 'object') {
      lines.push(...schemaDocs(child, path));
      continue;
    }
    const fallback = (child as { default?: unknown }).default;
    const description = (child as { description?: string }).description;
    lines.push(`${path} = ${JSON.stringify(fallback)}${description ? `  # ${description}` : ''}`);
  }
  return lines;
}
