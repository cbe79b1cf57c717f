import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWavHeader } from '../../src/audio/wav.js';
import type { RecordingPage } from '../../src/store/recordings.js';
import type { Recording } from '../../src/domain/recording.js';
import { rmsDbfs, s16FromBuffer } from '../helpers/signal.js';
import { makeDataDir, removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';

const run = promisify(execFile);
// Once saved, a recording moves on to transcription; any of these means "saved and playable".
const SAVED = ['recorded', 'transcribing', 'transcribed'];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The appliance as a user drives it: the simulator (fake button, LEDs, paced mic) over HTTP. */
describe('the appliance in the simulator', () => {
  let scout: ScoutProcess;

  beforeAll(async () => {
    scout = await startScout();
    // Let the mic run long enough to fill the pre-roll.
    await sleep(1000);
  }, 60_000);

  afterAll(async () => {
    const { code } = await scout.stop();
    expect(code).toBe(0);
    await removeDataDir(scout.dataDir);
  });

  async function recordings(): Promise<Recording[]> {
    return (await scout.api<RecordingPage>('/api/recordings?limit=200')).body.items;
  }

  async function fetchWav(id: string): Promise<{ header: ReturnType<typeof parseWavHeader>; samples: Int16Array; bytes: Buffer }> {
    const response = await fetch(`http://127.0.0.1:${scout.port}/api/recordings/${id}/audio`, { headers: scout.authHeaders });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('audio/wav');
    const bytes = Buffer.from(await response.arrayBuffer());
    const header = parseWavHeader(bytes);
    return { header, bytes, samples: s16FromBuffer(bytes.subarray(header.dataOffset, header.dataOffset + header.declaredDataBytes)) };
  }

  it('press, speak, press: a playable WAV is stored, with the pre-roll in front', async () => {
    expect(await scout.button('toggle')).toBe(202);
    await waitFor(async () => (await scout.api<{ appliance: { phase: string } }>('/api/state')).body.appliance.phase === 'recording');
    const recordingState = (await scout.api<{ appliance: { leds: Record<string, { mode: string }> } }>('/api/state')).body;
    expect(recordingState.appliance.leds.record?.mode).toBe('on');
    await sleep(2000);
    expect(await scout.button('toggle')).toBe(202);
    const saved = await waitFor(async () => (await recordings()).find((r) => SAVED.includes(r.status)));

    expect(saved.preRollMs).toBeGreaterThanOrEqual(450);
    expect(saved.preRollMs).toBeLessThanOrEqual(500);
    // 2 s between presses plus the pre-roll; the HTTP round trips add a little.
    expect(saved.durationMs).toBeGreaterThanOrEqual(2400);
    expect(saved.durationMs).toBeLessThan(3500);

    const wav = await fetchWav(saved.id);
    expect(wav.header.format.sampleRateHz).toBe(16_000);
    expect(wav.header.format.channels).toBe(1);
    expect(Math.abs((wav.samples.length / 16) - (saved.durationMs ?? 0))).toBeLessThanOrEqual(1);
    // The simulator mic speaks: the recording is not silence.
    expect(rmsDbfs(wav.samples)).toBeGreaterThan(-45);
    // sox, an independent reader, agrees it is a valid WAV of that length.
    const path = join(scout.dataDir, 'wav-check.wav');
    await writeFile(path, wav.bytes);
    const { stdout } = await run('soxi', ['-D', path]);
    expect(Math.abs(Number(stdout.trim()) * 1000 - (saved.durationMs ?? 0))).toBeLessThan(5);

    // Range requests work (players seek with them).
    const partial = await fetch(`http://127.0.0.1:${scout.port}/api/recordings/${saved.id}/audio`, { headers: { ...scout.authHeaders, range: 'bytes=0-43' } });
    expect(partial.status).toBe(206);
    expect(Buffer.from(await partial.arrayBuffer()).subarray(0, 4).toString('ascii')).toBe('RIFF');
  });

  it('a long press while recording cancels and discards the recording', async () => {
    const before = await recordings();
    expect(await scout.button('toggle')).toBe(202);
    await waitFor(async () => (await scout.api<{ appliance: { recordingId: string | null } }>('/api/state')).body.appliance.recordingId);
    await sleep(500);
    expect(await scout.button('press')).toBe(202);
    await sleep(2300);
    expect(await scout.button('release')).toBe(202);
    await waitFor(async () => (await scout.api<{ appliance: { phase: string } }>('/api/state')).body.appliance.phase === 'idle');
    await sleep(200);
    const after = await recordings();
    expect(after.map((r) => r.id)).toEqual(before.map((r) => r.id));
    const files = await readdir(join(scout.dataDir, 'recordings'));
    expect(files.filter((f) => f.endsWith('.wav'))).toHaveLength(before.length);
  });

  it('a burst of presses while a recording stops does no harm', async () => {
    const before = (await recordings()).length;
    expect(await scout.button('toggle')).toBe(202);
    await sleep(800);
    const statuses = await Promise.all(Array.from({ length: 9 }, () => scout.button('toggle')));
    expect(statuses.every((status) => status === 202)).toBe(true);
    // An odd number of toggles in all: it ends idle or recording; stop the last one if recording.
    await sleep(300);
    const state = (await scout.api<{ appliance: { phase: string } }>('/api/state')).body;
    if (state.appliance.phase === 'recording') await scout.button('toggle');
    const settled = await waitFor(async () => {
      const all = await recordings();
      return all.length > before && all.every((r) => SAVED.includes(r.status)) ? all : null;
    });
    for (const recording of settled.slice(0, settled.length - before)) {
      const wav = await fetchWav(recording.id);
      expect(wav.samples.length).toBeGreaterThan(0);
    }
    const health = await scout.api<{ status: string }>('/healthz');
    expect(health.status).toBe(200);
    expect(scout.logLines.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
  });

  it('answers bad requests with 4xx JSON, never a 500', async () => {
    const cases: [string, RequestInit | undefined, number][] = [
      ['/api/recordings/not-an-id', undefined, 404],
      ['/api/recordings/01zzzzzzzzzzzzzzzzzzzzzzzz', undefined, 404],
      ['/api/recordings/..%2F..%2Fetc%2Fpasswd/audio', undefined, 404],
      ['/api/recordings?limit=0', undefined, 400],
      ['/api/recordings?limit=abc', undefined, 400],
      ['/api/recordings?offset=-1', undefined, 400],
      ['/api/nope', undefined, 404],
      ['/api/button', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"action":"explode"}' }, 400],
      ['/api/button', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' }, 400],
      // State-changing calls must be JSON (a cross-site form can send text/plain or no type, not JSON).
      ['/api/button', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'press' }, 415],
      ['/api/button', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<press/>' }, 415],
      ['/api/button', { method: 'POST' }, 415],
      ['/api/button', { method: 'POST', headers: { 'content-type': 'application/json' } }, 400],
    ];
    for (const [path, init, expected] of cases) {
      const response = await scout.api<{ error: string; message: string }>(path, init);
      expect({ path, status: response.status }).toEqual({ path, status: expected });
      expect(typeof response.body.message).toBe('string');
    }
  });

  it('serves the simulator page', async () => {
    const page = await scout.api<string>('/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<button id="button"');
  });

  it('every log line names its module once (a repeated JSON key reads differently in each tool)', () => {
    const moduleKeys = (line: string): number => line.match(/"module":/g)?.length ?? 0;
    const lines = scout.rawLogLines.filter((line) => line.startsWith('{'));
    for (const module of ['appliance', 'transcription', 'lifecycle']) {
      expect(lines.some((line) => line.includes(`"module":"${module}"`))).toBe(true);
    }
    expect(lines.filter((line) => moduleKeys(line) > 1)).toEqual([]);
  });
});

describe('crash safety', () => {

  it('after kill -9 mid-recording, the recording comes back as recorded and plays up to the last flush', async () => {
    const dataDir = await makeDataDir();
    try {
      const first = await startScout({ dataDir });
      await sleep(800);
      await first.button('toggle');
      const id = await waitFor(async () => (await first.api<{ appliance: { recordingId: string | null } }>('/api/state')).body.appliance.recordingId);
      const startedAt = Date.now();
      await sleep(3200);
      const elapsedMs = Date.now() - startedAt;
      const enginePid = await waitFor(
        async () => (await first.api<{ transcription: { engine: { pid: number | null } } }>('/api/state')).body.transcription.engine.pid,
      );
      first.child.kill('SIGKILL');
      expect((await first.exited()).signal).toBe('SIGKILL');
      // The whisper-server child dies with it (PR_SET_PDEATHSIG), not left holding its memory.
      await waitFor(() => Promise.resolve(!existsSync(`/proc/${enginePid}`)), 5000);

      const second = await startScout({ dataDir });
      try {
        const recovered = (await second.api<Recording>(`/api/recordings/${id}`)).body;
        expect(SAVED).toContain(recovered.status);
        expect(recovered.error).toMatch(/^truncated: interrupted/);
        // At most one flush interval (1 s) lost; the pre-roll is in front.
        expect(recovered.durationMs).toBeGreaterThanOrEqual(elapsedMs + recovered.preRollMs - 1000 - 150);
        const bytes = await readFile(join(dataDir, 'recordings', recovered.audioPath));
        const header = parseWavHeader(bytes);
        expect(header.declaredDataBytes).toBe(bytes.length - header.dataOffset);
        const { stdout } = await run('soxi', ['-D', join(dataDir, 'recordings', recovered.audioPath)]);
        expect(Number(stdout.trim())).toBeGreaterThan(2);
        const log = second.logLines.find((line) => line.msg === 'recovered a recording interrupted by a crash');
        expect(log?.recordingId).toBe(id);
      } finally {
        await second.stop();
      }
    } finally {
      await removeDataDir(dataDir);
    }
  }, 60_000);
});

describe('configuration errors', () => {
  it('a config with several errors exits non-zero and lists every one of them', async () => {
    const dataDir = await makeDataDir();
    try {
      const configPath = join(dataDir, 'bad.json');
      await writeFile(
        configPath,
        JSON.stringify({ audio: { sampleRateHz: 44_100, periodMs: 'fast' }, recorder: { mode: 'sometimes' }, http: { port: 70_000 }, colour: 'blue' }),
      );
      const result = await run(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: { ...process.env, SCOUT_CONFIG: configPath, SCOUT_DATA_DIR: dataDir },
      }).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
      );
      expect(result.code).toBe(2);
      for (const expected of ['audio.sampleRateHz', 'audio.periodMs', 'recorder.mode', 'http.port', 'colour: unknown setting']) {
        expect(result.stderr).toContain(expected);
      }
    } finally {
      await removeDataDir(dataDir);
    }
  });
});
