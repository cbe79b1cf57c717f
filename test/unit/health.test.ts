import { idleSnapshot } from '../helpers/resources.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AudioSourceStatus } from '../../src/hardware/types.js';
import {
  HealthRegistry,
  audioSourceCheck,
  clockCheck,
  databaseCheck,
  diskSpaceCheck,
  temperatureCheck,
} from '../../src/ops/health.js';
import { healthHttpStatus, type HealthCheckResult } from '../../src/domain/health.js';

import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { throttleFlagsFromBits } from '../../src/ops/resources.js';
import { DegradePolicy } from '../../src/transcribe/degrade.js';
import { TranscriptionPipeline, type PipelineOptions } from '../../src/transcribe/pipeline.js';

const ok = (message = 'fine'): Promise<HealthCheckResult> => Promise.resolve({ status: 'healthy', message });

describe('HealthRegistry', () => {
  it('reports the worst status and each check with message, time and duration', async () => {
    const registry = new HealthRegistry({ cacheMs: 0, timeoutMs: 1000 });
    registry.register('a', () => ok('all good'));
    registry.register('b', () => Promise.resolve({ status: 'degraded', message: 'hot: 76.0 C' }));
    const report = await registry.run();
    expect(report.status).toBe('degraded');
    expect(healthHttpStatus(report)).toBe(200);
    expect(report.checks.a?.message).toBe('all good');
    expect(report.checks.b?.status).toBe('degraded');
    expect(Date.parse(report.checks.a?.checkedAt ?? '')).not.toBeNaN();
    expect(report.checks.a?.durationMs).toBeGreaterThanOrEqual(0);

    registry.register('c', () => Promise.resolve({ status: 'unhealthy', message: 'microphone failed' }));
    const worse = await registry.run();
    expect(worse.status).toBe('unhealthy');
    expect(healthHttpStatus(worse)).toBe(503);
  });

  it('turns a throwing check into unhealthy with the error', async () => {
    const registry = new HealthRegistry({ cacheMs: 0, timeoutMs: 1000 });
    registry.register('db', () => Promise.reject(new Error('SQLITE_READONLY: attempt to write a readonly database')));
    registry.register('sync', () => { throw new Error('thrown synchronously'); });
    const report = await registry.run();
    expect(report.status).toBe('unhealthy');
    expect(report.checks.db?.message).toContain('SQLITE_READONLY');
    expect(report.checks.sync?.message).toContain('thrown synchronously');
  });

  it('times out a hanging check, aborts its signal, and still answers quickly', async () => {
    const registry = new HealthRegistry({ cacheMs: 0, timeoutMs: 1000 });
    let aborted = false;
    registry.register(
      'engine',
      (signal) =>
        new Promise(() => {
          signal.addEventListener('abort', () => { aborted = true; });
        }),
      { timeoutMs: 50 },
    );
    registry.register('disk', () => ok());
    const started = performance.now();
    const report = await registry.run();
    expect(performance.now() - started).toBeLessThan(500);
    expect(report.checks.engine).toMatchObject({ status: 'unhealthy', message: 'check timed out after 50 ms' });
    expect(report.checks.disk?.status).toBe('healthy');
    expect(aborted).toBe(true);
  });

  it('caches the report so polling is cheap, and shares one run between concurrent callers', async () => {
    let now = 1_000_000;
    let runs = 0;
    const registry = new HealthRegistry({ cacheMs: 2000, timeoutMs: 1000, nowMs: () => now });
    registry.register('counted', async () => {
      runs += 1;
      await new Promise((r) => setTimeout(r, 10));
      return { status: 'healthy', message: `run ${runs}` };
    });
    const [first, second] = await Promise.all([registry.run(), registry.run()]);
    expect(runs).toBe(1);
    expect(second).toBe(first);
    now += 1999;
    expect((await registry.run()).checks.counted?.message).toBe('run 1');
    now += 2;
    expect((await registry.run()).checks.counted?.message).toBe('run 2');
    expect(runs).toBe(2);
  });

  it('refuses a duplicate name', () => {
    const registry = new HealthRegistry({ cacheMs: 0, timeoutMs: 1000 });
    registry.register('x', () => ok());
    expect(() => registry.register('x', () => ok())).toThrow(/already registered/);
  });
});

describe('ready-made checks', () => {
  let dir: string;
  const signal = new AbortController().signal;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scout-health-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('disk space: reads the real filesystem; degraded where transcription waits, unhealthy where takes are refused', async () => {
    const healthy = await diskSpaceCheck({ path: dir, deferBelowMb: 1, refuseBelowMb: 0 })(signal);
    expect(healthy.status).toBe('healthy');
    const freeMb = Number((healthy.details as { freeMb: number }).freeMb);
    expect(freeMb).toBeGreaterThan(0);
    expect(healthy.message).toMatch(/^\d+ MB free \([\d.]+%\)$/);
    const degraded = await diskSpaceCheck({ path: dir, deferBelowMb: freeMb * 10, refuseBelowMb: 0 })(signal);
    expect(degraded.status).toBe('degraded');
    expect(degraded.message).toMatch(new RegExp(`^disk space low: \\d+ MB free .*; transcription waits below ${freeMb * 10} MB$`));
    const unhealthy = await diskSpaceCheck({ path: dir, deferBelowMb: freeMb * 10, refuseBelowMb: freeMb * 2 })(signal);
    expect(unhealthy.status).toBe('unhealthy');
    expect(unhealthy.message).toMatch(/new recordings are refused below/);
    await expect(diskSpaceCheck({ path: join(dir, 'nope'), deferBelowMb: 0, refuseBelowMb: 0 })(signal)).rejects.toThrow();
  });

  it('database: healthy when the probe succeeds; the registry makes a failing probe unhealthy', async () => {
    const registry = new HealthRegistry({ cacheMs: 0, timeoutMs: 1000 });
    registry.register('good', databaseCheck(() => undefined));
    registry.register('bad', databaseCheck(() => { throw new Error('disk I/O error'); }));
    const report = await registry.run();
    expect(report.checks.good?.status).toBe('healthy');
    expect(report.checks.bad).toMatchObject({ status: 'unhealthy', message: 'check failed: disk I/O error' });
  });

  it('clock: degraded before 2024 (no RTC, no NTP yet) or behind the build time', async () => {
    const build = Date.parse('2026-11-01T00:00:00Z');
    expect((await clockCheck({ buildTimeMs: build, nowMs: () => 0 })(signal)).status).toBe('degraded');
    expect((await clockCheck({ buildTimeMs: build, nowMs: () => Date.parse('2025-06-01T00:00:00Z') })(signal)).message).toMatch(/behind build time/);
    expect((await clockCheck({ buildTimeMs: build, nowMs: () => Date.parse('2026-11-28T00:00:00Z') })(signal)).status).toBe('healthy');
  });

  it('temperature: healthy, degraded, unhealthy by threshold; healthy with no sensor', async () => {
    const at = async (t: number | null): Promise<string> => (await temperatureCheck({ readTempC: () => t, degradedAtC: 75, unhealthyAtC: 82 })(signal)).status;
    expect(await at(null)).toBe('healthy');
    expect(await at(55)).toBe('healthy');
    expect(await at(78.5)).toBe('degraded');
    expect(await at(84)).toBe('unhealthy');
  });

  it('audio source: unhealthy when a running source stops delivering frames or has failed', async () => {
    const now = 5_000_000;
    const base: AudioSourceStatus = { state: 'running', restarts: 2, overruns: 0, lastFrameAtMs: now - 500, lastError: null };
    const at = (s: AudioSourceStatus): Promise<HealthCheckResult> => audioSourceCheck({ status: () => s, maxFrameAgeMs: 3000, nowMs: () => now })(signal);
    expect((await at(base)).status).toBe('healthy');
    expect(await at({ ...base, lastFrameAtMs: now - 10_000 })).toMatchObject({ status: 'unhealthy', message: 'no frames for 10 s' });
    expect(await at({ ...base, state: 'restarting', lastError: 'arecord: No such device' })).toMatchObject({
      status: 'degraded',
      message: 'microphone restarting: arecord: No such device',
    });
    expect((await at({ ...base, state: 'failed' })).status).toBe('unhealthy');
  });
});

describe('degradation check', () => {
  const snapshot = idleSnapshot({ throttle: throttleFlagsFromBits(0x10000) });

  it('healthy at level 0, degraded above it with the level, reasons and since when; since-boot throttling only reported', async () => {
    const policy = new DegradePolicy(loadConfig({ path: null, env: {} }).config.degradation, { threads: 3, beamSize: 1, alsaPeriodMs: 50, alsaBufferMs: 500 }, 0);
    let current = snapshot;
    // Only the parts degradationHealth() reads; the rest of the pipeline is not involved.
    const pipeline = new TranscriptionPipeline({ policy, adaptive: true, resources: () => current, logger: silentLogger() } as unknown as PipelineOptions);
    const calm = await pipeline.degradationHealth();
    expect(calm.status).toBe('healthy');
    expect(calm.details).toMatchObject({ level: 0, name: 'normal', reasons: [], defer: false, sinceMs: 0, sinceBoot: ['under-voltage since boot'] });
    current = { ...snapshot, socTempC: 79 };
    for (const atMs of [120_000, 125_000, 130_000]) policy.update(current, atMs);
    const hot = await pipeline.degradationHealth();
    expect(hot.status).toBe('degraded');
    expect(hot.message).toBe('level 2 (constrained) since 1970-01-01T00:02:10.000Z: temperature >= 77 C');
    expect(hot.details).toMatchObject({ level: 2, name: 'constrained', reasons: ['temperature >= 77 C'], sinceMs: 130_000, since: '1970-01-01T00:02:10.000Z', tier: 'constrained', threads: 1 });
    // Even deferred it is never unhealthy: capture goes on and the jobs wait.
    for (const atMs of [135_000, 140_000, 145_000]) policy.update({ ...snapshot, diskFreeBytes: 100 * 1_048_576 }, atMs);
    expect(policy.decision.defer).toBe(true);
    expect((await pipeline.degradationHealth()).status).toBe('degraded');
  });
});
