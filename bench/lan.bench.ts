/**
 * The LAN API under load while the appliance records and transcribes: 100 API clients and 20
 * live-event (SSE) clients against the real service, compiled JS started with `node` as systemd
 * does, with the simulator's paced mic and the tiny.en-shaped q8_0 model (the normal tier).
 *
 *   - API clients: each loops over what the page and scripts ask (list, search, one recording,
 *     its transcript, the state, /healthz, audio ranges), with a short think time, keep-alive.
 *   - SSE clients: subscribed for the whole run; events counted, drops counted (client side and
 *     the service's scout_events_clients_dropped_total).
 *   - A driver presses the button through the API: takes of 3-5 s, each waited for until its
 *     transcript is stored.
 *   - Measured: per-request latency (p50, p99, max), errors (socket errors, timeouts, and any
 *     status that is not 2xx/3xx and not an expected 404/409), capture overruns and ring
 *     overwrites (metrics and /api/state, before and after), event-loop lag, RSS of node and of
 *     whisper-server before and after.
 *
 * The model the engine really loaded is read back from /api/state and checked against the file
 * installed, and every transcript must hold the model's engineered text: no figures otherwise.
 *
 * Run: npm run bench -- lan      Writes .cache/bench/lan.json. About 2 minutes.
 * SCOUT_BENCH_LAN_S=<s> the load phase (default 60), SCOUT_BENCH_LAN_CLIENTS / _SSE the counts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { Agent, request, type IncomingMessage } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { sleep } from '../src/util/sleep.js';
import { ensureModel, repoDir } from '../test/helpers/whisper.js';
import { buildApp, parseMetrics } from './lib/app.js';
import { q8Model } from './lib/models.js';
import { childPids, loadAverage, procMemory, processName, unpinSelf, type ProcMemory } from './lib/proc.js';
import { mb, percentile } from './lib/stats.js';

const LOAD_S = Number(process.env['SCOUT_BENCH_LAN_S'] ?? 60);
const API_CLIENTS = Number(process.env['SCOUT_BENCH_LAN_CLIENTS'] ?? 100);
const SSE_CLIENTS = Number(process.env['SCOUT_BENCH_LAN_SSE'] ?? 20);
/** Between one client's requests: the page polls every 500 ms; scripts are quicker. */
const THINK_MS = { min: 50, max: 450 };
const REQUEST_TIMEOUT_MS = 10_000;
const TAKES_S: readonly number[] = [3, 4, 5];
const TRANSCRIPT_TIMEOUT_MS = 60_000;
const DECODE_TOKENS = 64;
const NODE_FLAGS = ['--max-semi-space-size=2'];
const outFile = join(repoDir, '.cache', 'bench', 'lan.json');

function log(line: string): void {
  console.log(line);
}

type Kind = 'list' | 'search' | 'get' | 'transcript' | 'state' | 'healthz' | 'audio';
/** How often each request comes, out of the sum: the page's polls (state, list) dominate. */
const MIX: readonly [Kind, number][] = [
  ['state', 25],
  ['list', 20],
  ['get', 15],
  ['audio', 12],
  ['transcript', 10],
  ['search', 8],
  ['healthz', 10],
];
const SEARCH_WORDS = ['the', 'plumber', 'meeting', 'note', 'tuesday', 'coffee', 'zzzz'];

interface Service {
  readonly child: ChildProcess;
  readonly port: number;
  readonly token: string;
  readonly logLines: Record<string, unknown>[];
  readonly exited: Promise<unknown>;
}

async function startService(mainJs: string, dataDir: string): Promise<Service> {
  const configPath = join(dataDir, 'scout.json');
  // Defaults, except niceness 0 like the other benches: on this shared 2-core box other
  // engineers' test runs would otherwise take the CPU from ggml's spinning threads.
  await writeFile(configPath, JSON.stringify({ transcription: { niceness: 0 } }));
  const token = randomBytes(24).toString('base64url');
  const env: NodeJS.ProcessEnv = { ...process.env, SCOUT_DATA_DIR: dataDir, SCOUT_HTTP_PORT: '0', SCOUT_HTTP_HOST: '127.0.0.1', SCOUT_LOG_LEVEL: 'info', SCOUT_CONFIG: configPath, SCOUT_API_TOKEN: token };
  delete env['NOTIFY_SOCKET'];
  const child = spawn(process.execPath, [...NODE_FLAGS, mainJs], { cwd: dirname(dirname(dirname(mainJs))), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = once(child, 'exit');
  const logLines: Record<string, unknown>[] = [];
  let resolveUp: (port: number) => void = () => undefined;
  const port = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not come up in 60 s: ${stderr.slice(-1500)}`)), 60_000);
    resolveUp = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    // After the resolve (the normal end of the run) this reject is a no-op.
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the service exited: ${stderr.slice(-1500)}`));
    });
  });
  createInterface({ input: child.stdout ?? process.stdin }).on('line', (text) => {
    try {
      const line = JSON.parse(text) as Record<string, unknown>;
      logLines.push(line);
      if (line['msg'] === 'scout is up' && typeof line['port'] === 'number') resolveUp(line['port']);
    } catch {
      logLines.push({ msg: text, unparsed: true });
    }
  });
  return { child, port: await port, token, logLines, exited };
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly ms: number;
}

class Client {
  constructor(
    private readonly port: number,
    private readonly token: string,
    private readonly agent: Agent,
  ) {}

  /** Resolves with the status and body, or rejects on a socket error or timeout. */
  send(method: string, path: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const startedAt = performance.now();
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, ...options.headers };
      if (options.body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(options.body));
      }
      const req = request({ host: '127.0.0.1', port: this.port, method, path, headers, agent: this.agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - startedAt }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timeout after ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(options.body);
    });
  }

  async json<T>(path: string): Promise<T> {
    const answer = await this.send('GET', path);
    if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${answer.body.slice(0, 200)}`);
    return JSON.parse(answer.body) as T;
  }
}

interface Snapshot {
  readonly node: ProcMemory | null;
  readonly whisper: ProcMemory | null;
  readonly overrunsMetric: number;
  readonly droppedMetric: number;
  readonly stateOverruns: number;
  readonly ringOverwriteEvents: number;
  readonly ringOverwrittenSamples: number;
  readonly eventLoopLagMaxS: number;
}

interface State {
  audio: { overruns: number; state: string };
  ring: { overwrites: { events: number; samples: number } };
  transcription: { model: { path: string; tier: string; placeholder: boolean }; engine: { state: string; model: string; pid: number | null; threads: number } } | null;
}

async function snapshot(client: Client, nodePid: number, whisperPid: number): Promise<Snapshot> {
  const metricsText = (await client.send('GET', '/metrics')).body;
  const metrics = parseMetrics(metricsText);
  const state = await client.json<State>('/api/state');
  return {
    node: procMemory(nodePid),
    whisper: procMemory(whisperPid),
    overrunsMetric: metrics.get('scout_audio_buffer_overruns_total') ?? Number.NaN,
    droppedMetric: metrics.get('scout_events_clients_dropped_total') ?? Number.NaN,
    stateOverruns: state.audio.overruns,
    ringOverwriteEvents: state.ring.overwrites.events,
    ringOverwrittenSamples: state.ring.overwrites.samples,
    eventLoopLagMaxS: metrics.get('nodejs_eventloop_lag_max_seconds') ?? Number.NaN,
  };
}

interface Listed {
  readonly id: string;
  readonly status: string;
}

/** One SSE subscriber: counts events; `dropped` when the stream ends before we close it. */
class SseCounter {
  events = 0;
  dropped = false;
  readonly kinds = new Map<string, number>();
  private closing = false;
  private destroy: () => void = () => undefined;
  private buffer = '';

  start(port: number, token: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/events', headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` } }, (res: IncomingMessage) => {
        if (res.statusCode !== 200) reject(new Error(`SSE answered ${res.statusCode}`));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.feed(chunk));
        res.on('close', () => {
          if (!this.closing) this.dropped = true;
        });
        resolve();
      });
      req.on('error', (error) => {
        if (!this.closing) this.dropped = true;
        reject(error);
      });
      this.destroy = () => req.destroy();
      req.end();
    });
  }

  close(): void {
    this.closing = true;
    this.destroy();
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const kind = /^event: (.*)$/m.exec(block)?.[1];
      if (kind === undefined) continue;
      this.events++;
      this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    }
  }
}

interface Failure {
  readonly what: string;
  readonly count: number;
}

async function main(): Promise<void> {
  // The service and its whisper-server are children of this process: they need both cores.
  const cpusAllowed = await unpinSelf();
  const f16 = await ensureModel('tiny', { decodeTokens: DECODE_TOKENS });
  const q8 = await q8Model(f16.path);
  if (q8 === null) throw new Error('the q8_0 model needs whisper-quantize (scripts/build-whisper.sh builds it); refusing to run on another model');
  log('building the appliance (tsc -> .cache/bench/lan-app/dist) ...');
  const mainJs = await buildApp('lan-app', log);

  const dataDir = await mkdtemp(join(tmpdir(), 'scout-bench-lan-'));
  await mkdir(join(dataDir, 'models'), { recursive: true });
  // Installed as the normal tier under its default file name, so the real engine path runs.
  await symlink(q8, join(dataDir, 'models', 'ggml-tiny.en-q8_0.bin'));
  const service = await startService(mainJs, dataDir);
  const agent = new Agent({ keepAlive: true, maxSockets: API_CLIENTS + 8 });
  const control = new Client(service.port, service.token, agent);
  const sse: SseCounter[] = [];
  try {
    const nodePid = service.child.pid ?? 0;
    let state = await control.json<State>('/api/state');
    const readyBy = Date.now() + 60_000;
    while (state.transcription?.engine.state !== 'ready') {
      if (Date.now() > readyBy) throw new Error(`engine not ready in 60 s: ${JSON.stringify(state.transcription?.engine)}`);
      await sleep(250);
      state = await control.json<State>('/api/state');
    }
    const model = state.transcription.model;
    const engineModel = state.transcription.engine.model;
    // The figures are only worth something for the model they claim.
    if (model.placeholder || model.tier !== 'normal' || realpathSync(model.path) !== realpathSync(q8) || realpathSync(engineModel) !== realpathSync(q8)) {
      throw new Error(`the engine loaded ${engineModel} (${JSON.stringify(model)}), not ${q8}; refusing to report`);
    }
    const whisperPid = childPids(nodePid).find((pid) => processName(pid).startsWith('whisper-server'));
    if (whisperPid === undefined || whisperPid !== state.transcription.engine.pid) throw new Error(`no whisper-server child of ${nodePid}`);
    log(`service pid ${nodePid} (node ${NODE_FLAGS.join(' ')} ${basename(mainJs)}), whisper-server pid ${whisperPid}, ${state.transcription.engine.threads} thread(s), model ${basename(q8)} (tiny.en shapes, q8_0, ${DECODE_TOKENS} tokens/window)`);

    let ids: string[] = [];
    const takeDurationsS: number[] = [];
    const transcriptMs: number[] = [];
    let transcriptFailures = 0;
    const takeOnce = async (seconds: number): Promise<void> => {
      const before = new Set((await control.json<{ items: Listed[] }>('/api/recordings?limit=50')).items.map((r) => r.id));
      if ((await control.send('POST', '/api/button', { body: '{"action":"toggle"}' })).status !== 202) throw new Error('button press refused');
      await sleep(seconds * 1000);
      if ((await control.send('POST', '/api/button', { body: '{"action":"toggle"}' })).status !== 202) throw new Error('button release refused');
      const releasedAt = performance.now();
      const deadline = Date.now() + TRANSCRIPT_TIMEOUT_MS;
      for (;;) {
        const items = (await control.json<{ items: Listed[] }>('/api/recordings?limit=50')).items;
        const take = items.find((r) => !before.has(r.id));
        ids = items.map((r) => r.id);
        if (take?.status === 'transcribed') {
          transcriptMs.push(performance.now() - releasedAt);
          const text = (await control.send('GET', `/api/recordings/${take.id}/transcript?format=txt`)).body;
          if (!text.includes(f16.expectedText.trim())) throw new Error(`transcript of ${take.id} is not the model's text: ${text.slice(0, 200)}`);
          takeDurationsS.push(seconds);
          return;
        }
        if (take?.status === 'failed') {
          transcriptFailures++;
          return;
        }
        if (Date.now() > deadline) {
          transcriptFailures++;
          return;
        }
        await sleep(100);
      }
    };
    // A warm-up take, not counted: ids for the clients, the engine's first request out of the way.
    await takeOnce(3);
    takeDurationsS.length = 0;
    transcriptMs.length = 0;
    await sleep(2000);

    const loadBefore = loadAverage();
    const before = await snapshot(control, nodePid, whisperPid);

    for (let i = 0; i < SSE_CLIENTS; i++) {
      const counter = new SseCounter();
      await counter.start(service.port, service.token);
      sse.push(counter);
    }

    const latencies: number[] = [];
    const byKind = new Map<Kind, number[]>();
    const statuses = new Map<string, number>();
    const errors = new Map<string, number>();
    const countError = (what: string): void => {
      errors.set(what, (errors.get(what) ?? 0) + 1);
    };
    const totalWeight = MIX.reduce((sum, [, weight]) => sum + weight, 0);
    const pickKind = (): Kind => {
      let r = Math.random() * totalWeight;
      for (const [kind, weight] of MIX) {
        r -= weight;
        if (r < 0) return kind;
      }
      return 'state';
    };
    const pathFor = (kind: Kind): string => {
      const id = ids[Math.floor(Math.random() * ids.length)] ?? 'none';
      switch (kind) {
        case 'list':
          return `/api/recordings?limit=${Math.random() < 0.5 ? 20 : 50}`;
        case 'search':
          return `/api/recordings?q=${SEARCH_WORDS[Math.floor(Math.random() * SEARCH_WORDS.length)] ?? 'the'}`;
        case 'get':
          return `/api/recordings/${id}`;
        case 'transcript':
          return `/api/recordings/${id}/transcript?format=${['txt', 'json', 'srt', 'vtt'][Math.floor(Math.random() * 4)] ?? 'json'}`;
        case 'state':
          return '/api/state';
        case 'healthz':
          return '/healthz';
        case 'audio':
          return `/api/recordings/${id}/audio`;
      }
    };
    const loadEndsAt = Date.now() + LOAD_S * 1000;
    const apiClient = async (): Promise<void> => {
      // Spread the first requests over the first think time, as clients arriving would.
      await sleep(Math.random() * THINK_MS.max);
      while (Date.now() < loadEndsAt) {
        const kind = pickKind();
        const path = pathFor(kind);
        // A player asks for a slice: the first 64 KiB or one further on.
        const headers: Record<string, string> = kind === 'audio' ? { range: Math.random() < 0.5 ? 'bytes=0-65535' : `bytes=${44 + Math.floor(Math.random() * 64_000)}-${120_000 + Math.floor(Math.random() * 20_000)}` } : {};
        try {
          const answer = await control.send('GET', path, { headers });
          latencies.push(answer.ms);
          const list = byKind.get(kind) ?? [];
          list.push(answer.ms);
          byKind.set(kind, list);
          statuses.set(`${kind} ${answer.status}`, (statuses.get(`${kind} ${answer.status}`) ?? 0) + 1);
          // 404: no transcript yet or a take deleted; 409: still recording or transcribing; 416:
          // a range past the end of a short take. Anything else is an error.
          const expected = answer.status < 400 || ((kind === 'transcript' || kind === 'audio' || kind === 'get') && (answer.status === 404 || answer.status === 409)) || (kind === 'audio' && answer.status === 416);
          if (!expected) countError(`${kind} ${answer.status}`);
        } catch (error) {
          countError(`${kind} ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        }
        await sleep(THINK_MS.min + Math.random() * (THINK_MS.max - THINK_MS.min));
      }
    };
    const driver = async (): Promise<void> => {
      for (let i = 0; Date.now() < loadEndsAt - 8000; i++) {
        await takeOnce(TAKES_S[i % TAKES_S.length] ?? 3);
        await sleep(1000);
      }
    };
    log(`load: ${API_CLIENTS} API clients (think ${THINK_MS.min}-${THINK_MS.max} ms), ${SSE_CLIENTS} SSE clients, takes of ${TAKES_S.join('/')} s, ${LOAD_S} s; load average ${loadBefore}`);
    const startedAt = performance.now();
    await Promise.all([driver(), ...Array.from({ length: API_CLIENTS }, () => apiClient())]);
    const elapsedS = (performance.now() - startedAt) / 1000;
    // The events of the last take still arrive; then the streams are closed by us, not dropped.
    await sleep(1000);
    const sseEvents = sse.reduce((sum, c) => sum + c.events, 0);
    const sseDropped = sse.filter((c) => c.dropped).length;
    const sseKinds = new Map<string, number>();
    for (const c of sse) for (const [kind, n] of c.kinds) sseKinds.set(kind, (sseKinds.get(kind) ?? 0) + n);
    for (const c of sse) c.close();
    await sleep(2000);
    const after = await snapshot(control, nodePid, whisperPid);
    const loadAfter = loadAverage();
    const failedLines = service.logLines.filter((line) => line['msg'] === 'request failed').length;

    const sorted = [...latencies].sort((a, b) => a - b);
    const errorCount = [...errors.values()].reduce((sum, n) => sum + n, 0);
    const overruns = after.overrunsMetric - before.overrunsMetric;
    const stateOverruns = after.stateOverruns - before.stateOverruns;
    const ringEvents = after.ringOverwriteEvents - before.ringOverwriteEvents;
    const droppedMetric = after.droppedMetric - before.droppedMetric;

    const cpuModel = cpus()[0]?.model ?? 'unknown';
    log(`\n${cpuModel}, ${cpus().length} CPUs (allowed ${cpusAllowed}); Node ${process.version}; ${new Date().toISOString()}`);
    log(`load average before: ${loadBefore}; after: ${loadAfter}\n`);
    log('| what | figure |');
    log('|---|---:|');
    log(`| API requests (${API_CLIENTS} clients, ${elapsedS.toFixed(0)} s) | ${latencies.length} (${(latencies.length / elapsedS).toFixed(0)}/s) |`);
    log(`| latency p50 / p99 / max ms | ${percentile(sorted, 0.5).toFixed(1)} / ${percentile(sorted, 0.99).toFixed(1)} / ${(sorted[sorted.length - 1] ?? Number.NaN).toFixed(1)} |`);
    log(`| errors (socket, timeout, unexpected status) | ${errorCount}${errorCount > 0 ? ` ${JSON.stringify(Object.fromEntries(errors))}` : ''} |`);
    log(`| 'request failed' log lines (500s) | ${failedLines} |`);
    log(`| takes recorded and transcribed (3-5 s) | ${takeDurationsS.length}, transcript failures ${transcriptFailures} |`);
    const tSorted = [...transcriptMs].sort((a, b) => a - b);
    log(`| release to transcript listed ms, p50 / max (polled every 100 ms) | ${percentile(tSorted, 0.5).toFixed(0)} / ${(tSorted[tSorted.length - 1] ?? Number.NaN).toFixed(0)} |`);
    log(`| SSE clients / events received / dropped (client side, metric) | ${SSE_CLIENTS} / ${sseEvents} / ${sseDropped}, ${droppedMetric} |`);
    log(`| audio overruns (metric, /api/state) | ${overruns}, ${stateOverruns} |`);
    log(`| ring overwrites (events, samples) | ${ringEvents}, ${after.ringOverwrittenSamples - before.ringOverwrittenSamples} |`);
    log(`| event-loop lag max ms (during the load) | ${(after.eventLoopLagMaxS * 1000).toFixed(0)} |`);
    log(`| node RSS before / after MB (anon) | ${mb(before.node?.rssKb ?? 0)} / ${mb(after.node?.rssKb ?? 0)} (${mb(before.node?.rssAnonKb ?? 0)} / ${mb(after.node?.rssAnonKb ?? 0)}), peak ${mb(after.node?.hwmKb ?? 0)} |`);
    log(`| whisper-server RSS before / after MB (anon) | ${mb(before.whisper?.rssKb ?? 0)} / ${mb(after.whisper?.rssKb ?? 0)} (${mb(before.whisper?.rssAnonKb ?? 0)} / ${mb(after.whisper?.rssAnonKb ?? 0)}), peak ${mb(after.whisper?.hwmKb ?? 0)} |`);
    log('\n| request | n | p50 ms | p99 ms | max ms |');
    log('|---|---:|---:|---:|---:|');
    for (const [kind] of MIX) {
      const values = [...(byKind.get(kind) ?? [])].sort((a, b) => a - b);
      log(`| ${kind} | ${values.length} | ${percentile(values, 0.5).toFixed(1)} | ${percentile(values, 0.99).toFixed(1)} | ${(values[values.length - 1] ?? Number.NaN).toFixed(1)} |`);
    }
    log(`\nstatuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    log(`SSE events by kind: ${JSON.stringify(Object.fromEntries(sseKinds))}`);

    const failures: Failure[] = [
      { what: 'request errors', count: errorCount },
      { what: "'request failed' log lines", count: failedLines },
      { what: 'audio overruns', count: Math.max(overruns, stateOverruns) },
      { what: 'ring overwrites', count: ringEvents },
      { what: 'SSE clients dropped', count: Math.max(sseDropped, droppedMetric) },
      { what: 'transcript failures', count: transcriptFailures },
      { what: 'takes (none recorded)', count: takeDurationsS.length === 0 ? 1 : 0 },
    ].filter((f) => f.count !== 0 || Number.isNaN(f.count));

    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(
      outFile,
      JSON.stringify(
        {
          benchmark: 'lan',
          at: new Date().toISOString(),
          node: process.version,
          cpu: cpuModel,
          cpusAllowed,
          model: basename(q8),
          loadAverageBefore: loadBefore,
          loadAverageAfter: loadAfter,
          apiClients: API_CLIENTS,
          sseClients: SSE_CLIENTS,
          loadS: elapsedS,
          requests: latencies.length,
          latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? null },
          errors: Object.fromEntries(errors),
          statuses: Object.fromEntries(statuses),
          takes: takeDurationsS.length,
          transcriptFailures,
          sse: { events: sseEvents, droppedClientSide: sseDropped, droppedMetric, kinds: Object.fromEntries(sseKinds) },
          overruns: { metric: overruns, state: stateOverruns },
          ringOverwrites: { events: ringEvents, samples: after.ringOverwrittenSamples - before.ringOverwrittenSamples },
          eventLoopLagMaxMs: after.eventLoopLagMaxS * 1000,
          memory: { before: { node: before.node, whisper: before.whisper }, after: { node: after.node, whisper: after.whisper } },
        },
        null,
        2,
      ) + '\n',
    );
    log(`wrote ${outFile}`);
    if (failures.length > 0) {
      console.error(`FAIL: ${failures.map((f) => `${f.what} ${f.count}`).join(', ')}`);
      process.exitCode = 1;
    }
  } finally {
    for (const c of sse) c.close();
    agent.destroy();
    service.child.kill('SIGTERM');
    await Promise.race([service.exited, sleep(10_000)]);
    if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
