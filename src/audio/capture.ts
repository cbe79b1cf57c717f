import type { AudioSource } from '../hardware/types.js';
import type { Logger } from '../log.js';
import { SPEECH_RATE_HZ } from '../domain/transcript.js';
import { CaptureDsp } from './dsp.js';
import type { LevelSlot } from './level.js';
import { PcmRing } from './ring-buffer.js';


export interface CaptureOptions {
  readonly source: AudioSource;
  readonly ringSeconds: number;
  /** Largest chunk the source may hand over, in frames; sizes the DSP's preallocated buffers. */
  readonly maxChunkFrames: number;
  readonly level: LevelSlot;
  readonly logger: Logger;
}

/**
 * The always-on capture path: device frames -> downmix + decimate to 16 kHz mono -> the ring.
 * It runs whether or not a recording is in progress, so a recording can start with pre-roll.
 * Everything it touches per chunk was allocated here, once.
 */
export class CapturePipeline {
  readonly ring: PcmRing;
  private readonly dsp: CaptureDsp;
  private readonly listeners: ((writtenTotal: number) => void)[] = [];

  constructor(private readonly options: CaptureOptions) {
    const { source } = options;
    this.dsp = new CaptureDsp({
      inputRateHz: source.format.sampleRateHz,
      channels: source.format.channels,
      maxChunkFrames: options.maxChunkFrames,
      level: options.level,
    });
    this.ring = new PcmRing(options.ringSeconds * SPEECH_RATE_HZ);
  }

  /** Called after each chunk lands in the ring; recorders drain the ring from here. */
  onChunk(listener: (writtenTotal: number) => void): void {
    this.listeners.push(listener);
  }

  async start(): Promise<void> {
    this.options.source.onFrames((pcm) => this.handleFrames(pcm));
    await this.options.source.start();
  }

  async stop(): Promise<void> {
    await this.options.source.stop();
  }

  private handleFrames(pcm: Buffer): void {
    const maxBytes = this.options.maxChunkFrames * this.options.source.format.channels * 2;
    // A source may hand over more than one period at once after a stall; split it rather than
    // allocate a bigger buffer on the hot path.
    for (let offset = 0; offset < pcm.length; offset += maxBytes) {
      const piece = offset === 0 && pcm.length <= maxBytes ? pcm : pcm.subarray(offset, Math.min(pcm.length, offset + maxBytes));
      const mono = this.dsp.process(piece);
      this.ring.write(mono);
    }
    for (const listener of this.listeners) {
      try {
        listener(this.ring.writtenTotal);
      } catch (error) {
        // A consumer's bug must not stop capture for everyone else.
        this.options.logger.error({ err: error }, 'capture listener failed');
      }
    }
  }
}
