import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, PROJECT_ROOT, schemaDocs } from '../../src/config.js';

describe('configuration', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scout-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(content: unknown): Promise<string> {
    const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  }

  it('with no file at all, the defaults run the simulator with data in the checkout', () => {
    const { config, source } = loadConfig({ path: null, env: {} });
    expect(source).toBeNull();
    expect(config.audio.backend).toBe('fake');
    expect(config.gpio.backend).toBe('fake');
    expect(config.http.port).toBe(8080);
    // Loopback only: a laptop's simulator is not offered to the LAN (the Pi's config binds 0.0.0.0).
    expect(config.http.host).toBe('127.0.0.1');
    expect(config.recorder.preRollMs).toBe(500);
    expect(config.dataDir).toBe(join(PROJECT_ROOT, 'data'));
  });

  it('is frozen all the way down', () => {
    const { config } = loadConfig({ path: null, env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.audio)).toBe(true);
    expect(() => {
      (config.audio as { device: string }).device = 'x';
    }).toThrow(TypeError);
  });

  it('environment overrides win over the file', async () => {
    const path = await file({ http: { port: 9000 }, audio: { backend: 'alsa', device: 'hw:1' } });
    const { config } = loadConfig({
      path,
      env: { SCOUT_HTTP_PORT: '9100', SCOUT_DATA_DIR: '/srv/scout', SCOUT_SIM_AUDIO: '/tmp/a.wav', SCOUT_AUDIO_DEVICE: 'plughw:CARD=Device,DEV=0' },
    });
    expect(config.http.port).toBe(9100);
    expect(config.dataDir).toBe('/srv/scout');
    expect(config.audio.simAudioPath).toBe('/tmp/a.wav');
    expect(config.audio.device).toBe('plughw:CARD=Device,DEV=0');
    expect(config.audio.backend).toBe('alsa');
  });

  it('under systemd the data dir is the StateDirectory', () => {
    expect(loadConfig({ path: null, env: { STATE_DIRECTORY: '/var/lib/scout' } }).config.dataDir).toBe('/var/lib/scout');
  });

  it('SCOUT_CONFIG names the file', async () => {
    const path = await file({ recorder: { mode: 'hold' } });
    const loaded = loadConfig({ env: { SCOUT_CONFIG: path } });
    expect(loaded.source).toBe(path);
    expect(loaded.config.recorder.mode).toBe('hold');
  });

  it('reports every error at once, each with its key path', async () => {
    const path = await file({ audio: { sampleRateHz: 44_100, channels: 0, typo: true }, recorder: { mode: 'sometimes' }, extra: 1 });
    let error: unknown;
    try {
      loadConfig({ path, env: { SCOUT_HTTP_PORT: 'eighty' } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        'http.port (from SCOUT_HTTP_PORT): "eighty" is not an integer',
        'audio.sampleRateHz: must be one of 16000, 32000, 48000 (got 44100)',
        'audio.channels: must be >= 1',
        'audio.typo: unknown setting',
        'recorder.mode: must be one of "toggle", "hold" (got "sometimes")',
        'extra: unknown setting',
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('checks settings against each other', async () => {
    const path = await file({ audio: { periodMs: 100, bufferMs: 150 } });
    expect(() => loadConfig({ path, env: {} })).toThrow(/audio.bufferMs: must hold at least two periods/);
  });

  it('a file that is not JSON is one clear error', async () => {
    const path = await file('{ "http": ');
    expect(() => loadConfig({ path, env: {} })).toThrow(ConfigError);
  });

  it('documents every setting from the schema', () => {
    const docs = schemaDocs();
    expect(docs).toContain('http.port = 8080');
    expect(docs.some((line) => line.startsWith('recorder.preRollMs = 500  # audio kept from before the press'))).toBe(true);
  });

  it('SCOUT_HOST_ROOT points every /proc and /sys read at another tree', () => {
    expect(loadConfig({ path: null, env: {} }).config.ops.hostRoot).toBe('/');
    expect(loadConfig({ path: null, env: { SCOUT_HOST_ROOT: '/tmp/pi-tree' } }).config.ops.hostRoot).toBe('/tmp/pi-tree');
  });

  it('degradation: one set of thresholds with documented defaults, and a table of what each level does', () => {
    const { degradation } = loadConfig({ path: null, env: {} }).config;
    expect(degradation).toMatchObject({ tempLightC: 70, tempConstrainedC: 77, tempDeferC: 82, tempExitMarginC: 3, spikeSamples: 3, dwellMs: 60_000 });
    expect(degradation.levels.normal).toMatchObject({ tier: 'normal', threadsDelta: 0, beamSize: null, defer: false });
    expect(degradation.levels.constrained).toMatchObject({ tier: 'constrained', threadsMax: 1, beamSize: 1, alsaPeriodMs: 100, alsaBufferMs: 1000 });
    expect(degradation.levels.deferred.defer).toBe(true);
    const docs = schemaDocs();
    expect(docs.some((line) => line.startsWith('degradation.levels.light.threadsDelta = -1'))).toBe(true);
  });

  it('degradation: the old ops temperature keys are gone, and thresholds out of order are each reported', async () => {
    const path = await file({
      ops: { tempDegradedC: 75 },
      degradation: { tempLightC: 90, memAvailableMinMbDefer: 500, levels: { light: { alsaPeriodMs: 400, alsaBufferMs: 500 } } },
    });
    let problems: readonly string[] = [];
    try {
      loadConfig({ path, env: {} });
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual(['ops.tempDegradedC: unknown setting']);
    const ordered = await file({ degradation: { tempLightC: 90, memAvailableMinMbDefer: 500, levels: { light: { alsaPeriodMs: 400, alsaBufferMs: 500 } } } });
    try {
      loadConfig({ path: ordered, env: {} });
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([
      'degradation.tempLightC: must be below tempConstrainedC, below tempDeferC, not above tempCriticalC',
      'degradation.memAvailableMinMbDefer: must be below memAvailableMinMbConstrained',
      'degradation.levels.light.alsaBufferMs: must hold at least two periods (alsaPeriodMs)',
    ]);
  });
});
