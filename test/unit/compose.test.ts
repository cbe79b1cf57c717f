import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { composeScout } from '../../src/app/compose.js';
import { Lifecycle } from '../../src/app/lifecycle.js';
import { loadConfig, validateConfig } from '../../src/config.js';
import { createScoutMetrics } from '../../src/ops/metrics.js';
import { captureLogger } from '../helpers/log-capture.js';

/** The composer on the simulator's parts (fake GPIO and mic, real SQLite and HTTP), transcription off. */
describe('composeScout', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'scout-compose-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lists the parts in the documented start order, and the composed appliance serves its state', async () => {
    const config = validateConfig({ dataDir, http: { host: '127.0.0.1', port: 0 }, transcription: { enabled: false } });
    const { logger, lines } = captureLogger();
    const env = { SCOUT_API_TOKEN: 'compose-test-token-0123456789' };
    const scout = await composeScout({ config, logger, env, metrics: createScoutMetrics({ defaultMetrics: false }) });
    expect(scout.parts.map((part) => part.name)).toEqual([
      'database',
      'recovery',
      'resources',
      'leds',
      'events',
      'appliance',
      'capture',
      'storage',
      'button',
      'http',
      'systemd',
      'watchdog',
      'status',
    ]);
    const lifecycle = new Lifecycle(scout.parts, logger);
    await lifecycle.start();
    try {
      const state = (await (await fetch(`http://127.0.0.1:${scout.port()}/api/state`, { headers: { authorization: `Bearer ${env.SCOUT_API_TOKEN}` } })).json()) as {
        appliance: { phase: string; leds: Record<string, { mode: string }>; faults: string[] };
        transcription: unknown;
      };
      expect(state.appliance.phase).toBe('idle');
      expect(state.appliance.leds.status?.mode).toBe('on');
      expect(state.transcription).toBeNull();
    } finally {
      await lifecycle.stop();
    }
    // Every part's logger was named once, by the composer.
    const modules = new Set(lines.map((line) => line.module));
    for (const module of ['db', 'http', 'audio']) expect(modules).toContain(module);
  });

  it('on a scripted host tree, a hot Pi shows in /healthz (degradation check) and /metrics (transitions)', async () => {
    const hostRoot = join(dataDir, 'host');
    await mkdir(join(hostRoot, 'sys/class/thermal/thermal_zone0'), { recursive: true });
    await writeFile(join(hostRoot, 'sys/class/thermal/thermal_zone0/type'), 'cpu-thermal\n');
    await writeFile(join(hostRoot, 'sys/class/thermal/thermal_zone0/temp'), '79000\n');
    const config = loadConfig({
      path: null,
      env: { SCOUT_DATA_DIR: dataDir, SCOUT_HTTP_PORT: '0', SCOUT_HOST_ROOT: hostRoot },
    }).config;
    // Faster than the defaults so the test sees the level within a second; the rules are the same.
    const fast = validateConfig({
      ...(JSON.parse(JSON.stringify(config)) as Record<string, unknown>),
      ops: { ...config.ops, resourceSampleMs: 250 },
      degradation: { ...config.degradation, spikeSamples: 1, dwellMs: 0 },
      transcription: { ...config.transcription, serverPath: '/nonexistent/whisper-server' },
    });
    const { logger } = captureLogger();
    const env = { SCOUT_API_TOKEN: 'compose-test-token-0123456789' };
    const scout = await composeScout({ config: fast, logger, env, metrics: createScoutMetrics({ defaultMetrics: false }) });
    const lifecycle = new Lifecycle(scout.parts, logger);
    await lifecycle.start();
    try {
      const base = `http://127.0.0.1:${scout.port()}`;
      let metrics = '';
      const deadline = Date.now() + 5000;
      while (!/scout_degradation_transitions_total\{from="normal",to="constrained"\} 1/.test(metrics) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        metrics = await (await fetch(`${base}/metrics`)).text();
      }
      expect(metrics).toMatch(/^scout_degradation_level 2$/m);
      expect(metrics).toMatch(/^scout_degradation_transitions_total\{from="normal",to="constrained"\} 1$/m);
      expect(metrics).toMatch(/^scout_degradation_level_seconds_total\{level="constrained"\} /m);
      const health = (await (await fetch(`${base}/healthz`, { headers: { authorization: `Bearer ${env.SCOUT_API_TOKEN}` } })).json()) as { checks: Record<string, { status: string; message: string; details?: Record<string, unknown> }> };
      expect(health.checks.degradation).toMatchObject({ status: 'degraded', details: { level: 2, name: 'constrained', reasons: ['temperature >= 77 C'] } });
      // The temperature check uses the same thresholds: hot from tempLightC, unhealthy from tempDeferC.
      expect(health.checks.temperature).toMatchObject({ status: 'degraded', message: 'hot: 79.0 C' });
    } finally {
      await lifecycle.stop();
    }
  }, 30_000);
});
