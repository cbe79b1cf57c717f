/**
 * Memory against the 215 MB budget (systemd MemoryMax covers the service's whole cgroup: the Node
 * appliance AND its whisper-server child).
 *
 * 1. whisper-server alone, per lever: peak RSS (VmHWM) after the model is loaded, after a 5 s clip
 *    and after a full 30 s window (the largest request the transcriber sends; a 90 s recording is
 *    windows of at most 30 s), for f16 / q8_0 (made by whisper.cpp's own quantize tool when it is
 *    built), flash attention on / off, audio_ctx cut / full.
 * 2. The appliance as it runs in production: compiled JS (`tsc -p tsconfig.build.json`, into
 *    .cache/bench/app), simulator hardware (48 kHz mic clip in real time, fake GPIO), the tiny-shaped
 *    model installed as the normal tier; a 5 s and a 35 s recording through the HTTP button, each
 *    transcribed; then VmRSS/VmHWM of node and of its whisper-server, per set of Node flags.
 *
 * Run: npm run bench -- memory      Writes .cache/bench/memory.json. About 3 minutes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { validateConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { audioCtxFor, WhisperEngine } from '../src/transcribe/engine.js';
import { sleep } from '../src/util/sleep.js';
import { ensureModel, ensureWhisperBuilt, repoDir } from '../test/helpers/whisper.js';
import { buildApp } from './lib/app.js';
import { q8Model } from './lib/models.js';
import { childPids, loadAverage, procMemory, processName, unpinSelf } from './lib/proc.js';
import { composeUtterance, SAMPLE_RATE_HZ, SENTENCES, sentencePcm } from './lib/speech.js';
import { mb } from './lib/stats.js';

const BUDGET_MB = 215;
const THREADS = 2;
const outFile = join(repoDir, '.cache', 'bench', 'memory.json');

function log(line: string): void {
  console.log(line);
}

interface ServerRow {
  readonly variant: string;
  readonly modelMb: number;
  readonly loadedKb: number;
  readonly after5sKb: number;
  readonly after30sKb: number;
  readonly ms5s: number;
  readonly ms30s: number;
}

async function measureServer(
  serverPath: string,
  variant: { name: string; model: string; flashAttention: boolean; cutCtx: boolean },
  clip5s: Int16Array,
  window30s: Int16Array,
): Promise<ServerRow> {
  const engine = new WhisperEngine({
    serverPath,
    modelPath: variant.model,
    threads: THREADS,
    flashAttention: variant.flashAttention,
    niceness: 0,
    restart: { initialMs: 500, maxMs: 5000 },
    readyTimeoutMs: 60_000,
    requestTimeoutMs: 120_000,
    logger: silentLogger(),
  });
  await engine.start();
  try {
    const pid = engine.status().pid ?? 0;
    const loadedKb = procMemory(pid)?.hwmKb ?? 0;
    const r5 = await engine.transcribe({ pcm: clip5s, audioCtx: variant.cutCtx ? audioCtxFor((clip5s.length / SAMPLE_RATE_HZ) * 1000) : 0 });
    const after5sKb = procMemory(pid)?.hwmKb ?? 0;
    const r30 = await engine.transcribe({ pcm: window30s, audioCtx: variant.cutCtx ? audioCtxFor((window30s.length / SAMPLE_RATE_HZ) * 1000) : 0 });
    const after30sKb = procMemory(pid)?.hwmKb ?? 0;
    const { size } = await stat(variant.model);
    return { variant: variant.name, modelMb: size / 1_048_576, loadedKb, after5sKb, after30sKb, ms5s: r5.processingMs, ms30s: r30.processingMs };
  } finally {
    await engine.stop();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface ApplianceRow {
  readonly flags: string;
  readonly nodeRssKb: number;
  readonly nodeHwmKb: number;
  readonly serverRssKb: number;
  readonly serverHwmKb: number;
  /** Sum of the two peaks: an upper bound of the cgroup's anonymous peak (the peaks need not coincide). */
  readonly sumHwmKb: number;
  readonly sumRssKb: number;
  /** Largest sum of both processes' RSS / anonymous RSS seen together (sampled every 100 ms). */
  readonly peakSumRssKb: number;
  readonly peakSumAnonKb: number;
  readonly nodeAnonKb: number;
  readonly serverAnonKb: number;
  readonly recordings: number;
  readonly transcribed: number;
  /** The model file the appliance's engine reported loading (checked against the one linked). */
  readonly loadedModel: string;
}

interface ListedRecording {
  readonly id: string;
  readonly status: string;
}

async function measureAppliance(mainJs: string, flags: readonly string[], modelPath: string, recordSeconds: readonly number[]): Promise<ApplianceRow> {
  const dataDir = await mkdtemp(join(tmpdir(), 'scout-bench-mem-'));
  await mkdir(join(dataDir, 'models'), { recursive: true });
  // The tiny-shaped model under the normal tier's default file name, so the real engine path runs
  // (a wrong name makes the simulator fall back to its placeholder: checked below, not assumed).
  const normalModel = validateConfig({ dataDir }).transcription.normalModel;
  const linkedModel = join(dataDir, 'models', normalModel);
  await symlink(modelPath, linkedModel);
  const token = randomBytes(24).toString('base64url');
  const configPath = join(dataDir, 'scout.json');
  // Defaults, except niceness: on this shared 2-core box other engineers' tests would starve a +10 engine.
  await writeFile(configPath, JSON.stringify({ transcription: { niceness: 0 } }));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, SCOUT_DATA_DIR: dataDir, SCOUT_HTTP_PORT: String(port), SCOUT_HTTP_HOST: '127.0.0.1', SCOUT_LOG_LEVEL: 'warn', SCOUT_CONFIG: configPath, SCOUT_API_TOKEN: token };
  delete env['NOTIFY_SOCKET'];
  const child: ChildProcess = spawn(process.execPath, [...flags, mainJs], { cwd: dirname(dirname(dirname(mainJs))), env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = once(child, 'exit');
  const base = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${token}`);
    const response = await fetch(base + path, { ...init, headers });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };
  const button = async (): Promise<void> => {
    await api('/api/button', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'toggle' }) });
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await api('/api/state');
        break;
      } catch {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`appliance did not come up: ${stderr.slice(-1000)}`);
        await sleep(200);
      }
    }
    const state = await api<{ transcription: { model: { path: string; placeholder: boolean } } | null }>('/api/state');
    const loadedModel = state.transcription?.model.path ?? '(transcription off)';
    if (loadedModel !== linkedModel || state.transcription?.model.placeholder !== false) {
      throw new Error(`the appliance runs ${loadedModel}, not the benchmark model ${linkedModel}: refusing to report its memory`);
    }
    const pid = child.pid ?? 0;
    const serverPid = async (): Promise<number> => {
      for (let i = 0; i < 300; i++) {
        const found = childPids(pid).find((p) => processName(p).startsWith('whisper-server'));
        if (found !== undefined) return found;
        await sleep(100);
      }
      throw new Error('no whisper-server child');
    };
    const server = await serverPid();
    let peakSumRssKb = 0;
    let peakSumAnonKb = 0;
    let items: ListedRecording[] = [];
    const sampler = setInterval(() => {
      const a = procMemory(pid);
      const b = procMemory(server);
      if (!a || !b) return;
      peakSumRssKb = Math.max(peakSumRssKb, a.rssKb + b.rssKb);
      peakSumAnonKb = Math.max(peakSumAnonKb, a.rssAnonKb + b.rssAnonKb);
    }, 100);
    try {
      for (const seconds of recordSeconds) {
        await button();
        await sleep(seconds * 1000);
        await button();
        await sleep(500);
      }
      const waitUntil = Date.now() + 120_000;
      while (Date.now() < waitUntil) {
        items = (await api<{ items: ListedRecording[] }>('/api/recordings?limit=20')).items;
        if (items.length === recordSeconds.length && items.every((r) => r.status === 'transcribed' || r.status === 'failed')) break;
        await sleep(250);
      }
      // Let the heap settle as it would between recordings.
      await sleep(2000);
    } finally {
      clearInterval(sampler);
    }
    const node = procMemory(pid);
    const whisper = procMemory(server);
    if (!node || !whisper) throw new Error('a process went away');
    return {
      flags: flags.length === 0 ? '(none)' : flags.join(' '),
      nodeRssKb: node.rssKb,
      nodeHwmKb: node.hwmKb,
      serverRssKb: whisper.rssKb,
      serverHwmKb: whisper.hwmKb,
      sumHwmKb: node.hwmKb + whisper.hwmKb,
      sumRssKb: node.rssKb + whisper.rssKb,
      peakSumRssKb,
      peakSumAnonKb,
      nodeAnonKb: node.rssAnonKb,
      serverAnonKb: whisper.rssAnonKb,
      recordings: items.length,
      transcribed: items.filter((r) => r.status === 'transcribed').length,
      loadedModel: basename(loadedModel),
    };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const cpusAllowed = await unpinSelf();
  const binDir = await ensureWhisperBuilt();
  const serverPath = join(binDir, 'whisper-server');
  const f16 = await ensureModel('tiny', { decodeTokens: 64 });
  const q8 = await q8Model(f16.path);
  const dir = await mkdtemp(join(tmpdir(), 'scout-bench-memory-'));
  const sentences: Int16Array[] = [];
  for (const [index, text] of SENTENCES.entries()) sentences.push(await sentencePcm(text, dir, `s${index}`));
  const clip5s = composeUtterance(sentences, 5, 0).pcm;
  const window30s = composeUtterance(sentences, 30, 1).pcm;
  const loadBefore = loadAverage();

  log(`whisper-server, ${THREADS} threads, nice 0; model tiny.en shapes (generated, 64 tokens/window); q8_0 ${q8 ? 'made by whisper-quantize' : 'SKIPPED: whisper-quantize not built'}`);
  const variants = [
    { name: 'f16, flash attention, audio_ctx cut (pipeline default)', model: f16.path, flashAttention: true, cutCtx: true },
    { name: 'f16, flash attention, audio_ctx full', model: f16.path, flashAttention: true, cutCtx: false },
    { name: 'f16, no flash attention, audio_ctx cut', model: f16.path, flashAttention: false, cutCtx: true },
    ...(q8 ? [{ name: 'q8_0, flash attention, audio_ctx cut', model: q8, flashAttention: true, cutCtx: true }] : []),
  ];
  const serverRows: ServerRow[] = [];
  for (const variant of variants) serverRows.push(await measureServer(serverPath, variant, clip5s, window30s));
  log('\n| whisper-server | model MB | peak RSS loaded MB | after 5 s clip MB | after 30 s window MB | 5 s ms | 30 s ms |');
  log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of serverRows) {
    log(`| ${r.variant} | ${r.modelMb.toFixed(1)} | ${mb(r.loadedKb)} | ${mb(r.after5sKb)} | ${mb(r.after30sKb)} | ${Math.round(r.ms5s)} | ${Math.round(r.ms30s)} |`);
  }

  log('\nbuilding the appliance (tsc -> .cache/bench/app/dist) ...');
  const mainJs = await buildApp('app', log);
  const recordSeconds = [5, 35];
  const flagSets: readonly (readonly string[])[] = [
    [],
    ['--max-semi-space-size=2'],
    ['--max-semi-space-size=2', '--max-old-space-size=64'],
  ];
  const models = [{ label: 'f16', path: f16.path }, ...(q8 ? [{ label: 'q8_0', path: q8 }] : [])];
  const applianceRows: (ApplianceRow & { model: string })[] = [];
  for (const model of models) {
    for (const flags of model.label === 'f16' ? flagSets : [flagSets[flagSets.length - 1] ?? []]) {
      const row = await measureAppliance(mainJs, flags, model.path, recordSeconds);
      applianceRows.push({ ...row, model: model.label });
      log(`appliance ${model.label} (engine loaded ${row.loadedModel}) ${row.flags}: node ${mb(row.nodeRssKb)}/${mb(row.nodeHwmKb)} MB, whisper-server ${mb(row.serverRssKb)}/${mb(row.serverHwmKb)} MB (${row.transcribed}/${row.recordings} transcribed)`);
    }
  }
  const loadAfter = loadAverage();
  log(`\nappliance (compiled JS, simulator, ${recordSeconds.join(' s + ')} s recordings transcribed; whisper-server defaults but nice 0): RSS now / peak (VmHWM), MB`);
  log(`load average before: ${loadBefore}; after: ${loadAfter}\n`);
  log(`| model (as loaded by the engine) | node flags | node RSS / peak / anon | whisper-server RSS / peak / anon | sum of peaks | peak of sum: RSS / anon | budget ${BUDGET_MB} MB (RSS, anon) |`);
  log('|---|---|---:|---:|---:|---:|---|');
  const verdict = (kb: number): string => (kb / 1024 <= BUDGET_MB ? 'within' : 'OVER');
  for (const r of applianceRows) {
    log(
      `| ${r.model} (${r.loadedModel}) | ${r.flags} | ${mb(r.nodeRssKb)} / ${mb(r.nodeHwmKb)} / ${mb(r.nodeAnonKb)} | ${mb(r.serverRssKb)} / ${mb(r.serverHwmKb)} / ${mb(r.serverAnonKb)} | ${mb(r.sumHwmKb)} | ${mb(r.peakSumRssKb)} / ${mb(r.peakSumAnonKb)} | ${verdict(r.peakSumRssKb)}, ${verdict(r.peakSumAnonKb)} |`,
    );
  }
  await rm(dir, { recursive: true, force: true });

  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    JSON.stringify(
      { benchmark: 'memory', at: new Date().toISOString(), node: process.version, cpusAllowed, budgetMb: BUDGET_MB, loadAverageBefore: loadBefore, loadAverageAfter: loadAfter, q8Model: q8 ? basename(q8) : null, serverRows, applianceRows },
      null,
      2,
    ) + '\n',
  );
  log(`wrote ${outFile}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
