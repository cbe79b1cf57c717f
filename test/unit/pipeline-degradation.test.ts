import { idleSnapshot } from '../helpers/resources.js';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { FaultBoard } from '../../src/ops/faults.js';
import type { ResourceSnapshot } from '../../src/ops/resources.js';
import { DegradePolicy, type DegradeDecision, type DegradeSettings } from '../../src/transcribe/degrade.js';
import { TranscriptionPipeline, type PipelineOptions } from '../../src/transcribe/pipeline.js';
import { captureLogger } from '../helpers/log-capture.js';

const idle = idleSnapshot();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A pipeline over stand-in engine and transcriber; `reconfigured` lists the thread counts it asked for. */
function pipelineOn(policy: DegradePolicy, resources: () => ResourceSnapshot, options: { reviewPeriodMs: number; faults: FaultBoard; logger: Logger }): { pipeline: TranscriptionPipeline; reconfigured: number[] } {
  const reconfigured: number[] = [];
  const engine = {
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    status: () => ({ threads: 3, restarts: 0, state: 'ready' }),
    loadModel: () => Promise.resolve(),
    reconfigure: (change: { threads?: number }) => {
      if (change.threads !== undefined) reconfigured.push(change.threads);
      return Promise.resolve();
    },
  };
  const transcriber = { start: () => Promise.resolve(), stop: () => Promise.resolve(), wake: () => undefined, status: () => ({ breaker: 'closed', queueSize: 0 }) };
  const pipeline = new TranscriptionPipeline({
    engine,
    transcriber,
    policy,
    catalog: { check: () => Promise.resolve({ path: '/nope', check: { ok: false, reason: 'not installed' } }) },
    model: { tier: 'normal', path: '/models/normal.bin', placeholder: false },
    normalModelSha256: null,
    serverBuilt: true,
    adaptive: true,
    resources,
    ...options,
  } as unknown as PipelineOptions);
  return { pipeline, reconfigured };
}

describe('the pipeline applies degradation decisions', () => {
  it('a transition reconfigures the engine and is logged at info; a reason change only at debug; an unchanged sample does nothing', async () => {
    // One sample enters a level and no dwell, so a real-time review every 20 ms walks the script.
    const settings: DegradeSettings = { ...loadConfig({ path: null, env: {} }).config.degradation, spikeSamples: 1, dwellMs: 0 };
    const policy = new DegradePolicy(settings, { threads: 3, beamSize: 2, alsaPeriodMs: 50, alsaBufferMs: 500 }, Date.now());
    const script: ResourceSnapshot[] = [idle, { ...idle, socTempC: 79 }, { ...idle, socTempC: 79 }, { ...idle, socTempC: 79, memPressureSomeAvg10: 30 }].map((snapshot, index) => ({ ...snapshot, sampledAtMs: index + 1 }));
    let sample = 0;
    const faults = new FaultBoard(silentLogger());
    const { logger, lines } = captureLogger();
    const { pipeline, reconfigured } = pipelineOn(policy, () => script[Math.min(sample++, script.length - 1)] ?? idle, { reviewPeriodMs: 20, faults, logger });
    const seen: DegradeDecision[] = [];
    pipeline.onDegradationChange((decision) => seen.push(decision));
    await pipeline.start();
    try {
      while (sample < script.length + 3) await sleep(20);
    } finally {
      await pipeline.stop();
    }
    expect(seen.map((decision) => [decision.name, decision.reasons])).toEqual([
      ['constrained', ['temperature >= 77 C']],
      ['constrained', ['temperature >= 77 C', 'memory pressure >= 20%']],
    ]);
    expect(reconfigured).toEqual([1]);
    expect(pipeline.windowSettings()).toEqual({ beamSize: 1, audioCtxMarginFrames: 32 });
    expect(pipeline.captureSettings()).toEqual({ periodMs: 100, bufferMs: 1000 });
    expect(faults.messages()).toContain('transcription level 2 (constrained): temperature >= 77 C, memory pressure >= 20%');
    const info = lines.filter((line) => line.msg === 'transcription degradation level changed');
    expect(info).toHaveLength(1);
    expect(info[0]).toMatchObject({ level: 30, from: 'normal', to: 'constrained' });
    const debug = lines.filter((line) => line.msg === 'transcription degradation reasons changed');
    expect(debug).toHaveLength(1);
    expect(debug[0]?.level).toBe(20);
  });

  it('each resource sample counts once: a sample reviewed again (the sampler late) does not count toward the spike filter', async () => {
    // Three samples in a row enter a level; the review runs every 10 ms, far more often than samples come.
    const settings: DegradeSettings = { ...loadConfig({ path: null, env: {} }).config.degradation, spikeSamples: 3, dwellMs: 0 };
    const policy = new DegradePolicy(settings, { threads: 3, beamSize: 2, alsaPeriodMs: 50, alsaBufferMs: 500 }, Date.now());
    let current: ResourceSnapshot = { ...idle, socTempC: 79, sampledAtMs: 1 };
    const { pipeline } = pipelineOn(policy, () => current, { reviewPeriodMs: 10, faults: new FaultBoard(silentLogger()), logger: silentLogger() });
    await pipeline.start();
    try {
      // One hot sample, reviewed ~20 times: still one sample.
      await sleep(200);
      expect(policy.decision.level).toBe(0);
      current = { ...current, sampledAtMs: 2 };
      await sleep(100);
      expect(policy.decision.level).toBe(0);
      // The third distinct hot sample in a row enters the level.
      current = { ...current, sampledAtMs: 3 };
      await sleep(100);
      expect(policy.decision).toMatchObject({ level: 2, name: 'constrained' });
    } finally {
      await pipeline.stop();
    }
  });
});
