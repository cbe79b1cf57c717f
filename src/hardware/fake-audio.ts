import { performance } from 'node:perf_hooks';
import { Backoff } from '../util/backoff.js';
import type { AudioSource, AudioSourceEvent, AudioSourceState, AudioSourceStatus, PcmFormat } from './types.js';
import { SourceListeners } from './source-listeners.js';

export interface FakeAudioSourceOptions {
  readonly format: PcmFormat;
  /**
   * Paced mode: emit a chunk of this many ms on a real-time clock, like a mic would. Without it
   * the source only emits what `push()` gives it.
   */
  readonly chunkMs?: number;
  /**
   * Interleaved S16 samples in `format` that the paced mic plays; silence when absent or when a
   * non-looping clip has ended. Decoded PCM, not a file: reading WAVs is the audio layer's job
   * (the simulator decodes its clip with audio/wav.ts and passes the samples here).
   */
  readonly clip?: Int16Array;
  /** Play the clip again from the start when it ends. Default false. */
  readonly loop?: boolean;
  /** Retry pacing while unplugged, as the real backend's restart backoff. Default 50..1000 ms. */
  readonly restart?: { readonly initialMs: number; readonly maxMs: number };
  /**
   * Paced mode: a clock gap longer than this (a blocked event loop) drops audio and counts an
   * overrun, as a real device buffer of this size would. Default 500 ms.
   */
  readonly maxCatchUpMs?: number;
  /** Wall clock for `lastFrameAtMs`. Default Date.now. Pacing itself uses the monotonic clock. */
  readonly now?: () => number;
}

/**
 * An AudioSource for tests and the simulator, with the same contract as ArecordSource:
 * whole frames only, no listener calls after stop(), the same states, and fault injection
 * (`unplug`, `replug`, `stall`, `overrun`) that behaves as the real backend does.
 */
export class FakeAudioSource implements AudioSource {
  readonly format: PcmFormat;
  private readonly frameBytes: number;
  // A listener's bug must not stop the mic; the real backend logs it, the fake stays quiet.
  private readonly listeners = new SourceListeners();
  private readonly backoff: Backoff;
  private readonly now: () => number;

  private state: AudioSourceState = 'stopped';
  private restarts = 0;
  private overruns = 0;
  private lastFrameAtMs: number | null = null;
  private lastError: string | null = null;
  private unplugged = false;
  private stalled = false;
  private retryTimer: NodeJS.Timeout | null = null;

  // Paced mode, set up in start().
  private chunk: Buffer | null = null;
  private chunkSamples: Int16Array | null = null;
  private chunkFrames = 0;
  private clipSamples = 0;
  private clipPosition = 0;
  private clockStartMs = 0;
  private clockFrames = 0;
  private paceTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: FakeAudioSourceOptions) {
    this.format = options.format;
    this.frameBytes = 2 * options.format.channels;
    this.now = options.now ?? Date.now;
    this.backoff = new Backoff(options.restart ?? { initialMs: 50, maxMs: 1000 });
  }

  onFrames(listener: (pcm: Buffer) => void): void {
    this.listeners.addFrameListener(listener);
  }

  onEvent(listener: (event: AudioSourceEvent) => void): void {
    this.listeners.addEventListener(listener);
  }

  status(): AudioSourceStatus {
    return {
      state: this.state,
      restarts: this.restarts,
      overruns: this.overruns,
      lastFrameAtMs: this.lastFrameAtMs,
      lastError: this.lastError,
    };
  }

  async start(): Promise<void> {
    if (this.state !== 'stopped') return;
    this.setState('starting');
    const { chunkMs, clip, format } = this.options;
    if (chunkMs !== undefined) {
      this.chunkFrames = Math.max(1, Math.round((chunkMs * format.sampleRateHz) / 1000));
      this.chunk = Buffer.alloc(this.chunkFrames * this.frameBytes);
      this.chunkSamples = new Int16Array(this.chunk.buffer, this.chunk.byteOffset, this.chunkFrames * format.channels);
      // A clip with a partial last frame plays whole frames only.
      this.clipSamples = clip === undefined ? 0 : clip.length - (clip.length % format.channels);
      this.clipPosition = 0;
      this.clockStartMs = performance.now();
      this.clockFrames = 0;
      this.schedulePace();
    }
    if (this.unplugged) {
      this.goUnplugged();
    } else {
      this.setState('running');
    }
    await Promise.resolve();
  }

  async stop(): Promise<void> {
    if (this.paceTimer !== null) clearTimeout(this.paceTimer);
    this.paceTimer = null;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setState('stopped', 'stop requested');
    await Promise.resolve();
  }

  /**
   * Emits `pcm` to the listeners now, as if the device had delivered it. Returns false (and drops
   * it) when the device would deliver nothing: stopped, unplugged or stalled.
   */
  push(pcm: Buffer): boolean {
    if (pcm.length % this.frameBytes !== 0) {
      throw new RangeError(`push of ${pcm.length} bytes is not a whole number of ${this.frameBytes}-byte frames`);
    }
    if (!this.delivering()) return false;
    this.emitFrames(pcm);
    return true;
  }

  /** The mic is pulled out: frames stop, state 'restarting', restarts counted on each retry until replug(). */
  unplug(): void {
    this.unplugged = true;
    if (this.state === 'running' || this.state === 'starting') this.goUnplugged();
  }

  /** The mic is back: the next retry succeeds and frames resume. */
  replug(): void {
    this.unplugged = false;
  }

  /** The device stops delivering while the state still says running (a wedged driver). */
  stall(): void {
    this.stalled = true;
  }

  unstall(): void {
    this.stalled = false;
  }

  /** Reports an overrun as the device would. */
  overrun(): void {
    this.overruns += 1;
    this.emit({ kind: 'overrun', total: this.overruns });
  }

  private isStopped(): boolean {
    return this.state === 'stopped';
  }

  private delivering(): boolean {
    return this.state === 'running' && !this.stalled;
  }

  private goUnplugged(): void {
    this.lastError = 'device unplugged';
    this.emit({ kind: 'error', message: this.lastError });
    this.setState('restarting', 'device unplugged');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state !== 'restarting') return;
      this.restarts += 1;
      if (this.unplugged) {
        this.emit({ kind: 'error', message: 'device unplugged' });
        this.scheduleRetry();
        return;
      }
      this.backoff.reset();
      this.setState('running');
    }, this.backoff.next());
  }

  private schedulePace(): void {
    const nextDueMs = this.clockStartMs + ((this.clockFrames + this.chunkFrames) * 1000) / this.format.sampleRateHz;
    // Scheduled from the start time, not by interval, so timer lateness never accumulates as drift.
    this.paceTimer = setTimeout(() => this.pace(), Math.max(0, nextDueMs - performance.now()));
  }

  private pace(): void {
    this.paceTimer = null;
    if (this.state === 'stopped') return;
    const rate = this.format.sampleRateHz;
    let dueFrames = Math.floor(((performance.now() - this.clockStartMs) * rate) / 1000) - this.clockFrames;
    const maxCatchUpFrames = Math.round(((this.options.maxCatchUpMs ?? 500) * rate) / 1000);
    if (dueFrames > maxCatchUpFrames + this.chunkFrames) {
      const lostFrames = dueFrames - this.chunkFrames;
      this.skipClip(lostFrames);
      this.clockFrames += lostFrames;
      dueFrames -= lostFrames;
      if (this.delivering()) this.overrun();
    }
    // A listener may call stop() while we emit, hence the re-check each chunk.
    while (dueFrames >= this.chunkFrames && !this.isStopped()) {
      this.clockFrames += this.chunkFrames;
      dueFrames -= this.chunkFrames;
      if (this.delivering()) {
        this.fillChunk();
        if (this.chunk !== null) this.emitFrames(this.chunk);
      } else {
        // The room goes on talking while the mic is away.
        this.skipClip(this.chunkFrames);
      }
    }
    if (!this.isStopped()) this.schedulePace();
  }

  private fillChunk(): void {
    const out = this.chunkSamples;
    if (out === null) return;
    const clip = this.options.clip;
    const loop = this.options.loop ?? false;
    let written = 0;
    while (written < out.length) {
      if (clip === undefined || this.clipSamples === 0 || (!loop && this.clipPosition >= this.clipSamples)) {
        out.fill(0, written);
        return;
      }
      const take = Math.min(out.length - written, this.clipSamples - this.clipPosition);
      out.set(clip.subarray(this.clipPosition, this.clipPosition + take), written);
      written += take;
      this.clipPosition += take;
      if (this.clipPosition >= this.clipSamples && loop) this.clipPosition = 0;
    }
  }

  private skipClip(frames: number): void {
    if (this.clipSamples === 0) return;
    const position = this.clipPosition + frames * this.format.channels;
    this.clipPosition = (this.options.loop ?? false) ? position % this.clipSamples : Math.min(position, this.clipSamples);
  }

  private emitFrames(pcm: Buffer): void {
    this.lastFrameAtMs = this.now();
    this.listeners.frames(pcm);
  }

  private setState(state: AudioSourceState, reason?: string): void {
    if (this.state === state) return;
    this.state = state;
    this.emit(reason === undefined ? { kind: 'state', state } : { kind: 'state', state, reason });
  }

  private emit(event: AudioSourceEvent): void {
    this.listeners.event(event);
  }
}
