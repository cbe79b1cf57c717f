import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config.js';
import type { Recording } from '../../src/domain/recording.js';
import type { Transcript, WindowResult } from '../../src/domain/transcript.js';
import { makeDataDir, removeDataDir, startScout, type ScoutProcess } from '../helpers/scout-process.js';
import { ensureModel, ensureWhisperBuilt, type EnsuredModel } from '../helpers/whisper.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface State {
  appliance: { phase: string; recordingId: string | null };
  transcription: {
    engine: { state: string; model: string };
    queue: { queueSize: number };
    model: { tier: string; path: string; placeholder: boolean };
    degradation: { level: number; name: string; defer: boolean; tier: string; reasons: string[] };
  } | null;
}
interface TranscriptsView {
  current: Transcript | null;
  history: (Transcript & { replacedAtMs: number; reason: string })[];
}
interface Health {
  status: string;
  checks: Record<string, { status: string; message: string; details?: Record<string, unknown> }>;
}

/** Polls `probe` until it returns a truthy value; fails with `what` and the last value seen. */
async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs: number, intervalMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

// The thresholds are the defaults (constrained 77 C, deferred 82 C, critical 85 C): the test
// moves the temperature across them, the rules are the product's own.
const COOL_MILLI_C = 45_000;
const HOT_MILLI_C = 79_000;
const DEFER_MILLI_C = 83_000;

/**
 * The real service (fake mic and button, real whisper-server on two generated models whose words
 * differ) on a scripted host tree (SCOUT_HOST_ROOT): the temperature file is rewritten during the
 * test and the resource monitor, the degradation policy, the engine's /load, the queue's deferral
 * and catch-up follow, as seen over HTTP and in the stored window records.
 */
describe('degradation on a scripted host tree', () => {
  let scout: ScoutProcess;
  let normal: EnsuredModel;
  let constrained: EnsuredModel;
  let normalFile: string;
  let constrainedFile: string;
  let hostRoot: string;
  let tempPath: string;

  const setTemp = (milli: number): Promise<void> => writeFile(tempPath, `${milli}\n`);
  const state = async (): Promise<NonNullable<State['transcription']>> => {
    const body = (await scout.api<State>('/api/state')).body;
    if (!body.transcription) throw new Error('transcription is off in /api/state');
    return body.transcription;
  };
  const recording = async (id: string): Promise<Recording> => (await scout.api<Recording>(`/api/recordings/${id}`)).body;
  const transcripts = async (id: string): Promise<TranscriptsView> => (await scout.api<TranscriptsView>(`/api/recordings/${id}/transcripts`)).body;

  /** Toggle, `ms` of the simulator's speech, toggle; returns the recording id. */
  const record = async (ms: number): Promise<string> => {
    expect(await scout.button('toggle')).toBe(202);
    const id = await until('the take to start', async () => (await scout.api<State>('/api/state')).body.appliance.recordingId, 5000);
    await sleep(ms);
    expect(await scout.button('toggle')).toBe(202);
    await until('the take to be saved', async () => (await recording(id)).status !== 'recording', 10_000);
    return id;
  };

  beforeAll(async () => {
    await ensureWhisperBuilt();
    // Two different models: the constrained one decodes 3 words per window, the normal one 6.
    normal = await ensureModel('mini', { decodeTokens: 6 });
    constrained = await ensureModel('mini', { decodeTokens: 3 });
    expect(normal.expectedText).not.toBe(constrained.expectedText);

    const dataDir = await makeDataDir();
    const names = validateConfig({}).transcription;
    normalFile = join(dataDir, 'models', names.normalModel);
    constrainedFile = join(dataDir, 'models', names.constrainedModel);
    await mkdir(join(dataDir, 'models'), { recursive: true });
    await copyFile(normal.path, normalFile);
    await copyFile(constrained.path, constrainedFile);

    // A Pi-like host tree: one cpu-thermal zone, idle /proc counters and pressure, plenty of memory.
    hostRoot = join(dataDir, 'host');
    const zone = join(hostRoot, 'sys/class/thermal/thermal_zone0');
    await mkdir(zone, { recursive: true });
    await mkdir(join(hostRoot, 'proc/pressure'), { recursive: true });
    await writeFile(join(zone, 'type'), 'cpu-thermal\n');
    tempPath = join(zone, 'temp');
    await setTemp(COOL_MILLI_C);
    await writeFile(join(hostRoot, 'proc/stat'), 'cpu  1000 0 500 100000 100 0 10 0 0 0\n');
    await writeFile(join(hostRoot, 'proc/meminfo'), 'MemTotal:        3884000 kB\nMemFree:         2000000 kB\nMemAvailable:    3000000 kB\n');
    const idlePressure = 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';
    for (const resource of ['cpu', 'memory', 'io']) await writeFile(join(hostRoot, 'proc/pressure', resource), idlePressure);

    scout = await startScout({
      dataDir,
      env: { SCOUT_HOST_ROOT: hostRoot },
      config: {
        ops: { resourceSampleMs: 250 },
        recorder: { preRollMs: 200 },
        transcription: { threads: 1, minSpeechMs: 1000, retryInitialMs: 100, retryMaxMs: 500 },
        degradation: { spikeSamples: 1, dwellMs: 1000 },
      },
    });
    await until('whisper-server ready on the normal model', async () => {
      const t = await state();
      return t.engine.state === 'ready' && t.engine.model === normalFile && t.degradation.level === 0 && !t.model.placeholder;
    }, 30_000);
  }, 10 * 60_000);

  afterAll(async () => {
    await scout?.stop();
    if (scout) await removeDataDir(scout.dataDir);
    if (hostRoot) await rm(hostRoot, { recursive: true, force: true });
  });

  it('heat: constrained tier for the next take; top level: jobs wait; cooling: the queue drains and catch-up redoes it at the normal tier', async () => {
    // --- heat: level 2, whisper-server /load-ed the constrained model ---
    await setTemp(HOT_MILLI_C);
    const hot = await until('level >= 2 on the constrained model after the temperature rose', async () => {
      const t = await state();
      return t.degradation.level >= 2 && t.model.tier === 'constrained' && t.engine.model === constrainedFile ? t : null;
    }, 10_000);
    expect(hot.degradation).toMatchObject({ level: 2, name: 'constrained', tier: 'constrained', defer: false });
    expect(hot.degradation.reasons).toContain('temperature >= 77 C');
    // What whisper-server itself was told: a /load of the constrained file, no restart.
    await scout.waitForLog((line) => line.msg === 'engine model swapped via /load' && line.model === constrainedFile, 1000);

    const hotId = await record(3500);
    const hotTranscript = await until('the hot take to be transcribed', async () => (await transcripts(hotId)).current, 20_000);
    expect(hotTranscript.tier).toBe('constrained');
    expect(hotTranscript.model).toBe(basename(constrainedFile));
    expect(hotTranscript.text).toContain(constrained.expectedText.trim());
    expect(hotTranscript.text).not.toContain('delta');
    // Each window's stored record (jobs.result_json; the API shows only the stitched transcript).
    const db = new Database(join(scout.dataDir, 'scout.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT seq, state, result_json FROM jobs WHERE recording_id = ? ORDER BY seq').all(hotId) as { seq: number; state: string; result_json: string | null }[];
      expect(rows.length).toBeGreaterThan(0);
      const spoken = rows.map((row) => JSON.parse(row.result_json ?? 'null') as WindowResult | null).filter((result) => result !== null && !result.noSpeech);
      expect(spoken.length).toBeGreaterThan(0);
      for (const result of spoken) expect(result).toMatchObject({ tier: 'constrained', model: basename(constrainedFile), threads: 1, beamSize: 1 });
    } finally {
      db.close();
    }

    // --- the top level: deferred, the take is captured but its jobs wait ---
    await setTemp(DEFER_MILLI_C);
    await until('level 3 (deferred) after the temperature rose further', async () => {
      const t = await state();
      return t.degradation.level === 3 && t.degradation.defer;
    }, 10_000);
    const deferredId = await record(2500);
    const captured = await recording(deferredId);
    expect(['recorded', 'transcribing']).toContain(captured.status);
    expect(captured.durationMs ?? 0).toBeGreaterThan(2000);
    const audio = await fetch(`http://127.0.0.1:${scout.port}/api/recordings/${deferredId}/audio`, { headers: scout.authHeaders });
    expect(audio.status).toBe(200);
    expect(audio.headers.get('content-type')).toBe('audio/wav');
    const wav = Buffer.from(await audio.arrayBuffer());
    expect(wav.subarray(0, 4).toString('ascii')).toBe('RIFF');
    expect(wav.length).toBeGreaterThan(44 + 2 * 16_000 * 2);
    // Health: the degradation check says deferred (degraded, never unhealthy: the box still
    // records); the temperature check, on the same thresholds, is unhealthy from tempDeferC.
    // (Polled: a report is cached for ops.healthCacheMs.)
    const hotHealth = await until('/healthz to show level 3', async () => {
      const report = await scout.api<Health>('/healthz');
      return report.body.checks.degradation?.details?.level === 3 ? report : null;
    }, 5000);
    expect(hotHealth.status).toBe(503);
    expect(hotHealth.body.checks.degradation).toMatchObject({ status: 'degraded', details: { level: 3, name: 'deferred', defer: true, tier: 'constrained' } });
    expect(hotHealth.body.checks.temperature?.status).toBe('unhealthy');
    // Jobs wait: a few seconds on, still queued and still no transcript.
    const deferredUntil = Date.now() + 3000;
    while (Date.now() < deferredUntil) {
      const t = await state();
      expect(t.degradation.level, 'level left 3 while the host stayed hot').toBe(3);
      expect(t.queue.queueSize, 'the deferred take has no queued jobs').toBeGreaterThan(0);
      expect((await transcripts(deferredId)).current, 'a transcript was made while deferred').toBeNull();
      expect((await recording(deferredId)).status).not.toBe('transcribed');
      await sleep(300);
    }

    // --- cooling: the queue drains, catch-up redoes the hot take at the normal tier ---
    await setTemp(COOL_MILLI_C);
    const seenTexts = new Set<string>();
    const caughtUp = await until('catch-up to redo the hot take at the normal tier', async () => {
      const view = await transcripts(hotId);
      // The hot take keeps a transcript throughout: the old one until the new one is stored.
      if (!view.current?.text) throw new Error('the hot take lost its transcript during catch-up');
      const shown = await scout.api<Recording & { transcript?: { state: string; text?: string } }>(`/api/recordings/${hotId}`);
      if (shown.body.status !== 'transcribed' || !shown.body.transcript?.text) {
        throw new Error(`the hot take left 'transcribed' or lost its text during catch-up: ${JSON.stringify(shown.body)}`);
      }
      seenTexts.add(view.current.text);
      return view.current.tier === 'normal' ? view : null;
    }, 30_000, 100);
    expect(caughtUp.current?.model).toBe(basename(normalFile));
    expect(caughtUp.current?.text).toContain(normal.expectedText.trim());
    expect(caughtUp.history.length).toBeGreaterThan(0);
    expect(caughtUp.history[0]).toMatchObject({ tier: 'constrained', model: basename(constrainedFile), text: hotTranscript.text });
    expect(seenTexts).toContain(hotTranscript.text);

    const drained = await until('the deferred take to be transcribed once cool', async () => {
      const view = await transcripts(deferredId);
      return view.current?.text ? view.current : null;
    }, 20_000);
    // Leaving deferral wakes the queue before the engine swaps back, so the deferred take may
    // run on either model; one made on the constrained model is caught up in turn.
    expect(['normal', 'constrained']).toContain(drained.tier);
    const deferredFinal = await until('the deferred take to end at the normal tier', async () => {
      const view = await transcripts(deferredId);
      return view.current?.tier === 'normal' ? view : null;
    }, 20_000);
    expect(deferredFinal.current?.text).toContain(normal.expectedText.trim());
    // Its history: empty if it drained on the normal model, else the constrained transcript it replaced.
    expect(deferredFinal.history.length).toBeLessThanOrEqual(1);
    for (const entry of deferredFinal.history) expect(entry).toMatchObject({ tier: 'constrained', model: basename(constrainedFile) });
    const calm = await until('the queue to be empty at level 0 on the normal model', async () => {
      const t = await state();
      return t.queue.queueSize === 0 && t.degradation.level === 0 && t.model.tier === 'normal' && t.engine.model === normalFile ? t : null;
    }, 20_000);
    expect(calm.degradation.defer).toBe(false);
    // The redone windows' records say normal, as the transcript does.
    const after = new Database(join(scout.dataDir, 'scout.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = after.prepare('SELECT kind, state, result_json FROM jobs WHERE recording_id = ? ORDER BY seq').all(hotId) as { kind: string; state: string; result_json: string | null }[];
      expect(rows.every((row) => row.kind === 'catch-up' && row.state === 'done')).toBe(true);
      const spoken = rows.map((row) => JSON.parse(row.result_json ?? 'null') as WindowResult | null).filter((result) => result !== null && !result.noSpeech);
      expect(spoken.length).toBeGreaterThan(0);
      for (const result of spoken) expect(result).toMatchObject({ tier: 'normal', model: basename(normalFile) });
    } finally {
      after.close();
    }

    // --- metrics and health ---
    const metrics = (await scout.api<string>('/metrics')).body;
    expect(metrics).toMatch(/^scout_degradation_transitions_total\{from="normal",to="constrained"\} 1$/m);
    expect(metrics).toMatch(/^scout_degradation_transitions_total\{from="constrained",to="deferred"\} 1$/m);
    expect(metrics).toMatch(/^scout_degradation_transitions_total\{from="deferred",to="normal"\} 1$/m);
    const health = await until('/healthz to show level 0', async () => {
      const report = await scout.api<Health>('/healthz');
      return report.body.checks.degradation?.details?.level === 0 ? report : null;
    }, 5000);
    expect(health.status).toBe(200);
    expect(health.body.checks.degradation).toMatchObject({ status: 'healthy', details: { level: 0, name: 'normal', defer: false } });
    expect(health.body.checks.temperature?.status).toBe('healthy');
  }, 90_000);
});
