import { idleSnapshot } from '../helpers/resources.js';
import { missingCapability } from '../helpers/capability.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createScoutMetrics } from '../../src/ops/metrics.js';
import { throttleFlagsFromBits } from '../../src/ops/resources.js';
import { DegradePolicy } from '../../src/transcribe/degrade.js';

const idle = idleSnapshot();
const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p)) ?? null;
const noPromtool = missingCapability('promtool', promtool === null ? 'not installed (Debian package prometheus)' : null);

function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtool ?? 'promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

describe('Scout metrics', () => {
  it('has the plan\'s six metrics with exact names and types, and the device metrics', async () => {
    const metrics = createScoutMetrics({ defaultMetrics: false });
    const types = Object.fromEntries((await metrics.registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
    expect(types).toMatchObject({
      scout_audio_recording_duration_seconds: 'histogram',
      scout_audio_buffer_overruns_total: 'counter',
      scout_audio_level_current: 'gauge',
      scout_transcription_duration_seconds: 'histogram',
      scout_transcription_errors_total: 'counter',
      scout_transcription_queue_size: 'gauge',
      scout_recordings_total: 'counter',
      scout_audio_capture_restarts_total: 'counter',
      scout_transcription_engine_restarts_total: 'counter',
      scout_transcription_breaker_state: 'gauge',
      scout_degradation_level: 'gauge',
      scout_soc_temperature_celsius: 'gauge',
      scout_throttled_flags: 'gauge',
      scout_transcription_queue_oldest_age_seconds: 'gauge',
      scout_transcription_real_time_factor: 'histogram',
      scout_disk_free_bytes: 'gauge',
      scout_event_loop_lag_seconds: 'gauge',
    });
  });

  it('uses its own registry with process metrics, not the global one', async () => {
    const { register } = await import('prom-client');
    const a = createScoutMetrics();
    const b = createScoutMetrics();
    const names = (await a.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain('process_resident_memory_bytes');
    expect(names).toContain('nodejs_eventloop_lag_p99_seconds');
    expect(register.getSingleMetric('scout_audio_buffer_overruns_total')).toBeUndefined();
    a.setSources({ bufferOverruns: () => 3 });
    expect(await a.registry.getSingleMetricAsString('scout_audio_buffer_overruns_total')).toContain('scout_audio_buffer_overruns_total 3');
    expect((await b.registry.getSingleMetricAsString('scout_audio_buffer_overruns_total'))).toContain('scout_audio_buffer_overruns_total 0');
  });

  it('counters a part keeps (restarts, overruns) are read from the part at each scrape, not mirrored', async () => {
    const metrics = createScoutMetrics({ defaultMetrics: false });
    let restarts = 0;
    metrics.setSources({ captureRestarts: () => restarts });
    const read = async (): Promise<string> => (await metrics.registry.getSingleMetricAsString('scout_audio_capture_restarts_total')).split('\n').at(-1) ?? '';
    expect(await read()).toBe('scout_audio_capture_restarts_total 0');
    restarts = 4;
    expect(await read()).toBe('scout_audio_capture_restarts_total 4');
    restarts = 5;
    expect(await read()).toBe('scout_audio_capture_restarts_total 5');
  });

  it('buckets durations from 0.05 s to 120 s', async () => {
    const metrics = createScoutMetrics({ defaultMetrics: false });
    metrics.transcriptionDuration.observe(0.3);
    const text = await metrics.registry.getSingleMetricAsString('scout_transcription_duration_seconds');
    expect(text).toContain('le="0.05"');
    expect(text).toContain('le="120"');
  });

  it('reads live gauges from the wired functions at scrape time, and reports unknown values as NaN', async () => {
    const metrics = createScoutMetrics({ defaultMetrics: false });
    let queue = 2;
    metrics.setSources({
      queueSize: () => queue,
      breakerState: () => 'open',
      socTemperatureC: () => 71.5,
      throttleFlags: () => throttleFlagsFromBits(0x50005),
      audioLevel: () => null,
    });
    let body = (await metrics.scrape()).body;
    expect(body).toMatch(/^scout_transcription_queue_size 2$/m);
    expect(body).toMatch(/^scout_transcription_breaker_state 2$/m);
    expect(body).toMatch(/^scout_soc_temperature_celsius 71.5$/m);
    expect(body).toMatch(/^scout_throttled_flags\{flag="underVoltage"\} 1$/m);
    expect(body).toMatch(/^scout_throttled_flags\{flag="frequencyCapped"\} 0$/m);
    expect(body).toMatch(/^scout_throttled_flags\{flag="throttledOccurred"\} 1$/m);
    expect(body).toMatch(/^scout_audio_level_current nan$/im);
    expect(body).toMatch(/^scout_degradation_level nan$/im); // not wired
    queue = 5;
    body = (await metrics.scrape()).body;
    expect(body).toMatch(/^scout_transcription_queue_size 5$/m);
  });

  it.skipIf(noPromtool)('passes promtool check metrics with every metric populated', async () => {
    const metrics = createScoutMetrics();
    metrics.setSources({
      audioLevel: () => 0.12,
      queueSize: () => 1,
      oldestJobAgeSeconds: () => 4.2,
      breakerState: () => 'closed',
      degradationLevel: () => 1,
      degradationTransitions: () => [
        { from: 'normal', to: 'light', count: 2 },
        { from: 'light', to: 'normal', count: 1 },
      ],
      degradationLevelSeconds: () => ({ normal: 600.5, light: 75, constrained: 0, deferred: 0 }),
      socTemperatureC: () => 55,
      throttleFlags: () => throttleFlagsFromBits(0),
      diskFreeBytes: () => 12e9,
      eventLoopLagSeconds: () => 0.004,
      cpuUsageRatio: () => 0.3,
      memoryAvailableBytes: () => 1e9,
    });
    metrics.recordingDuration.observe(12.5);
    metrics.transcriptionDuration.observe(0.8);
    metrics.realTimeFactor.observe(0.07);
    metrics.transcriptionErrors.inc({ kind: 'timeout' });
    metrics.recordings.inc({ outcome: 'completed' });
    metrics.setSources({ captureRestarts: () => 1, engineRestarts: () => 2, bufferOverruns: () => 1 });
    metrics.fatalErrors.inc({ kind: 'uncaughtException' });
    const { body, contentType } = await metrics.scrape();
    expect(contentType).toMatch(/^text\/plain/);
    const result = await promtoolCheck(body);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it.skipIf(noPromtool)('promtool rejects a broken exposition (the check is real)', async () => {
    const result = await promtoolCheck('# TYPE scout_bad counter\nscout_bad{ 1\n');
    expect(result.code).not.toBe(0);
  });

  it('degradation: the level, the transitions by from/to and the time per level, from the policy at scrape time', async () => {
    const settings = loadConfig({ path: null, env: {} }).config.degradation;
    const policy = new DegradePolicy(settings, { threads: 3, beamSize: 1, alsaPeriodMs: 50, alsaBufferMs: 500 }, 0);
    const hot = { ...idle, socTempC: 79 };
    for (let atMs = 0; atMs <= 10_000; atMs += 5000) policy.update(hot, atMs);
    const metrics = createScoutMetrics({ defaultMetrics: false });
    metrics.setSources({
      degradationLevel: () => policy.decision.level,
      degradationTransitions: () => policy.transitions(),
      degradationLevelSeconds: () => policy.secondsPerLevel(70_000),
    });
    const body = (await metrics.scrape()).body;
    expect(body).toMatch(/^scout_degradation_level 2$/m);
    expect(body).toMatch(/^scout_degradation_transitions_total\{from="normal",to="constrained"\} 1$/m);
    expect(body).toMatch(/^scout_degradation_level_seconds_total\{level="normal"\} 10$/m);
    expect(body).toMatch(/^scout_degradation_level_seconds_total\{level="constrained"\} 60$/m);
    expect(body).toMatch(/^# TYPE scout_degradation_transitions_total counter$/m);
  });
});
