import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { composeScout } from '../../src/app/compose.js';
import { Lifecycle } from '../../src/app/lifecycle.js';
import { validateConfig } from '../../src/config.js';
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
});
