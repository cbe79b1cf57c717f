/**
 * The capture hot path - downmix, anti-aliasing decimation to 16 kHz, level, ring write - for
 * 48 kHz stereo, over 10 minutes of audio per case, in the chunk sizes capture really sees:
 *   - 3840 bytes: one 20 ms ALSA period;
 *   - 4096 bytes: what arecord's writes to a pipe arrive as;
 *   - 65536 bytes: Node's stream read size when the event loop fell behind.
 *
 * Measured for our code (CaptureDsp + PcmRing) and, side by side, for a straightforward version
 * that allocates its arrays per chunk and runs the FIR at the full input rate. Both are fed the
 * SAME preallocated input Buffer, so input allocation (which is Node's, not ours) is excluded.
 *
 * Throughput: CPU time of the loop (one pinned core, see run.ts), as multiples of real time.
 * Allocation: V8's used heap and external memory after the loop minus before, plus everything each
 * GC during the loop freed (v8.GCProfiler reports the heap before and after every GC), divided by
 * the chunk count.
 *
 * Run: npm run bench -- dsp   (needs --expose-gc, which the npm script passes)
 * Writes .cache/bench/dsp.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { CaptureDsp, OUTPUT_RATE_HZ, PASSBAND_EDGE_HZ, STOPBAND_ATTENUATION_DB, STOPBAND_EDGE_HZ } from '../src/audio/dsp.js';
import { designLowPass } from '../src/audio/fir.js';
import { LevelSlot } from '../src/audio/level.js';
import { PcmRing } from '../src/audio/ring-buffer.js';

const INPUT_RATE_HZ = 48_000;
const CHANNELS = 2;
const AUDIO_SECONDS = 600;
const MAX_CHUNK_FRAMES = 16_384;
const RING_SAMPLES = OUTPUT_RATE_HZ * 30;
const CHUNK_BYTES = [3840, 4096, 65536] as const;
const TARGET_X_REAL_TIME = 1000;

function gc(): void {
  const collect = globalThis.gc;
  if (collect === undefined) throw new Error('run with node --expose-gc (npm run bench does)');
  // Without options gc() is a synchronous full collection; only { execution: 'async' } returns a Promise.
  void collect();
}

interface Processor {
  process(pcm: Buffer): void;
}

/** Ours: CaptureDsp into a PcmRing. */
function ours(): Processor {
  const dsp = new CaptureDsp({ inputRateHz: INPUT_RATE_HZ, channels: CHANNELS, maxChunkFrames: MAX_CHUNK_FRAMES, level: new LevelSlot() });
  const ring = new PcmRing(RING_SAMPLES);
  return {
    process(pcm: Buffer): void {
      ring.write(dsp.process(pcm));
    },
  };
}

/**
 * The straightforward version: the same filter and the same results, written the obvious way - a
 * new typed array for each step, the FIR evaluated at every input sample and then decimated, level
 * through array helpers, history kept with slice().
 */
function straightforward(ring = new PcmRing(RING_SAMPLES)): Processor {
  const factor = INPUT_RATE_HZ / OUTPUT_RATE_HZ;
  const { taps } = designLowPass({
    sampleRateHz: INPUT_RATE_HZ,
    passbandEdgeHz: PASSBAND_EDGE_HZ,
    stopbandEdgeHz: STOPBAND_EDGE_HZ,
    stopbandAttenuationDb: STOPBAND_ATTENUATION_DB,
    tapMultiple: factor,
  });
  const level = new LevelSlot();
  let history = new Float32Array(taps.length - 1);
  let phase = 0;
  return {
    process(pcm: Buffer): void {
      const frames = pcm.length / (CHANNELS * 2);
      const interleaved = new Int16Array(frames * CHANNELS);
      for (let i = 0; i < interleaved.length; i++) interleaved[i] = pcm.readInt16LE(i * 2);
      const mono = new Float32Array(frames);
      for (let i = 0; i < frames; i++) mono[i] = ((interleaved[2 * i] ?? 0) + (interleaved[2 * i + 1] ?? 0)) / 2;
      const x = new Float32Array(history.length + frames);
      x.set(history);
      x.set(mono, history.length);
      const filtered = new Float32Array(frames);
      for (let n = 0; n < frames; n++) {
        let acc = 0;
        for (let k = 0; k < taps.length; k++) acc += (taps[k] ?? 0) * (x[n + taps.length - 1 - k] ?? 0);
        filtered[n] = acc;
      }
      const picked: number[] = [];
      for (let n = phase; n < frames; n += factor) picked.push(Math.max(-32768, Math.min(32767, Math.round(filtered[n] ?? 0))));
      phase = (phase - frames) % factor;
      if (phase < 0) phase += factor;
      const out = Int16Array.from(picked);
      history = x.slice(x.length - history.length);
      const peak = Array.from(mono, Math.abs).reduce((a, b) => Math.max(a, b), 0);
      const rms = Math.sqrt(Array.from(mono).reduce((a, s) => a + s * s, 0) / frames);
      level.writeLinear(peak / 32768, rms / 32768);
      ring.write(out);
    },
  };
}

/** A speech-like test chunk: a few harmonics plus some high-frequency content, both channels different. */
function inputChunk(bytes: number): Buffer {
  const buf = Buffer.alloc(bytes);
  const frames = bytes / (CHANNELS * 2);
  for (let i = 0; i < frames; i++) {
    const t = i / INPUT_RATE_HZ;
    const v = 0.3 * Math.sin(2 * Math.PI * 220 * t) + 0.1 * Math.sin(2 * Math.PI * 1_760 * t) + 0.05 * Math.sin(2 * Math.PI * 11_000 * t);
    buf.writeInt16LE(Math.round(v * 32767), i * 4);
    buf.writeInt16LE(Math.round(v * 0.8 * 32767), i * 4 + 2);
  }
  return buf;
}

/** Does nothing: what the measurement itself allocates (the stats objects it reads), for reference. */
function baseline(): Processor {
  return {
    process(_pcm: Buffer): void {
      // nothing
    },
  };
}

interface Row {
  readonly impl: 'ours' | 'straightforward' | 'empty loop';
  readonly chunkBytes: number;
  readonly chunks: number;
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
  readonly xRealTime: number;
  /** Heap + external bytes allocated during the whole measured loop. */
  readonly totalBytes: number;
  readonly heapBytesPerChunk: number;
  readonly externalBytesPerChunk: number;
  readonly gcs: number;
}

function measure(impl: Row['impl'], chunkBytes: number): Row {
  const processor = impl === 'ours' ? ours() : impl === 'straightforward' ? straightforward() : baseline();
  const input = inputChunk(chunkBytes);
  const chunks = Math.round((AUDIO_SECONDS * INPUT_RATE_HZ * CHANNELS * 2) / chunkBytes);
  // Warm-up: let the JIT tier up (its code objects live on the heap too) and the output views get cached.
  for (let i = 0; i < 10_000; i++) processor.process(input);
  gc();
  gc();
  const profiler = new v8.GCProfiler();
  profiler.start();
  const heapBefore = v8.getHeapStatistics();
  const cpuBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  for (let i = 0; i < chunks; i++) processor.process(input);
  const wallNs = process.hrtime.bigint() - wallBefore;
  const cpu = process.cpuUsage(cpuBefore);
  const heapAfter = v8.getHeapStatistics();
  const { statistics } = profiler.stop();
  let heapFreed = 0;
  let externalFreed = 0;
  for (const gcEvent of statistics) {
    heapFreed += gcEvent.beforeGC.heapStatistics.usedHeapSize - gcEvent.afterGC.heapStatistics.usedHeapSize;
    externalFreed += gcEvent.beforeGC.heapStatistics.externalMemory - gcEvent.afterGC.heapStatistics.externalMemory;
  }
  const heapAllocated = Math.max(0, heapAfter.used_heap_size - heapBefore.used_heap_size + heapFreed);
  const externalAllocated = Math.max(0, heapAfter.external_memory - heapBefore.external_memory + externalFreed);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    impl,
    chunkBytes,
    chunks,
    cpuSeconds,
    wallSeconds: Number(wallNs) / 1e9,
    xRealTime: AUDIO_SECONDS / cpuSeconds,
    totalBytes: heapAllocated + externalAllocated,
    heapBytesPerChunk: heapAllocated / chunks,
    externalBytesPerChunk: externalAllocated / chunks,
    gcs: statistics.length,
  };
}

/** Both versions must compute the same thing, or the comparison means nothing: max difference in LSB. */
function checkSameOutput(): number {
  const dsp = new CaptureDsp({ inputRateHz: INPUT_RATE_HZ, channels: CHANNELS, maxChunkFrames: MAX_CHUNK_FRAMES, level: new LevelSlot() });
  const oursRing = new PcmRing(1 << 16);
  const refRing = new PcmRing(1 << 16);
  const reference = straightforward(refRing);
  const input = inputChunk(4096);
  for (let i = 0; i < 40; i++) {
    oursRing.write(dsp.process(input));
    reference.process(input);
  }
  if (oursRing.writtenTotal !== refRing.writtenTotal) {
    throw new Error(`output lengths differ: ${oursRing.writtenTotal} vs ${refRing.writtenTotal}`);
  }
  const a = new Int16Array(oursRing.writtenTotal);
  const b = new Int16Array(refRing.writtenTotal);
  oursRing.read(oursRing.cursorAt(0), a);
  refRing.read(refRing.cursorAt(0), b);
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return maxDiff;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${Math.round(bytes)} B`;
}

function main(): void {
  const maxDiff = checkSameOutput();
  const rows: Row[] = [];
  for (const chunkBytes of CHUNK_BYTES) {
    rows.push(measure('empty loop', chunkBytes));
    rows.push(measure('ours', chunkBytes));
    rows.push(measure('straightforward', chunkBytes));
  }
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  console.log(`48 kHz stereo -> 16 kHz mono, ${AUDIO_SECONDS / 60} min of audio per row; ${cpuModel}; Node ${process.version}`);
  console.log(`output of both versions differs by at most ${maxDiff} LSB\n`);
  console.log('| version | chunk bytes | chunks | CPU s | x real time | heap B/chunk | external B/chunk | total allocated | GCs |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.impl} | ${r.chunkBytes} | ${r.chunks} | ${r.cpuSeconds.toFixed(2)} | ${Math.round(r.xRealTime)} | ${r.heapBytesPerChunk.toFixed(1)} | ${r.externalBytesPerChunk.toFixed(1)} | ${formatBytes(r.totalBytes)} | ${r.gcs} |`,
    );
  }
  const oursRows = rows.filter((r) => r.impl === 'ours');
  const slowest = Math.min(...oursRows.map((r) => r.xRealTime));
  const mostBytes = Math.max(...oursRows.map((r) => r.heapBytesPerChunk + r.externalBytesPerChunk));
  console.log(
    `\nours: slowest ${Math.round(slowest)}x real time (target >= ${TARGET_X_REAL_TIME}x), at most ${mostBytes.toFixed(1)} bytes allocated per chunk (target ~0)`,
  );
  console.log("(the 'empty loop' rows are the measurement's own fixed cost: a few kB per run, not per chunk)");
  const outFile = join(dirname(fileURLToPath(import.meta.url)), '..', '.cache', 'bench', 'dsp.json');
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    JSON.stringify(
      {
        benchmark: 'dsp',
        at: new Date().toISOString(),
        node: process.version,
        cpu: cpuModel,
        inputRateHz: INPUT_RATE_HZ,
        channels: CHANNELS,
        audioSecondsPerRow: AUDIO_SECONDS,
        maxOutputDiffLsb: maxDiff,
        targets: { xRealTime: TARGET_X_REAL_TIME, bytesPerChunk: 0 },
        rows,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${outFile}`);
}

main();
