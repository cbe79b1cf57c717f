/**
 * Cuts a recording into transcription windows while it is being recorded.
 *
 * Whisper sees at most 30 s at once, and a long recording should be transcribed while it is
 * still being made, so that at release only a short tail is left. A window is closed at a pause
 * (a run of low-energy frames) once it holds enough speech, in the middle of that pause, so no
 * word is split; if nobody pauses, it is closed at `maxWindowMs` at the quietest point of the
 * last few seconds.
 *
 * All state is allocated in the constructor (a ring of frame energies covering one window); `feed`
 * allocates nothing, so it can run on the capture path after every chunk.
 */

export interface WindowCutterOptions {
  readonly sampleRateHz: number;
  /** A pause only closes a window that already holds this much speech. */
  readonly minSpeechMs: number;
  /** Hard limit of a window (whisper's is 30 s). */
  readonly maxWindowMs: number;
  /** Low-energy run that counts as a pause. Default 300. */
  readonly minPauseMs?: number;
  /** Energy frame. Default 20. */
  readonly frameMs?: number;
  /** A forced cut looks this far back for the quietest point. Default 3000. */
  readonly searchBackMs?: number;
}

/** Samples [startSample, endSample) of the recording, counted from its first sample. */
export interface CutWindow {
  readonly seq: number;
  readonly startSample: number;
  readonly endSample: number;
  /** Why it ended: a pause after enough speech, the length limit, or the end of the recording. */
  readonly reason: 'pause' | 'forced' | 'end';
}

// Frames quieter than this are never speech, whatever the noise floor (digital silence, -60 dBFS hiss).
const ABSOLUTE_SPEECH_FLOOR_DB = -55;
const SILENCE_DB = -100;
// The noise floor follows quieter frames at once and rises slowly (0.01 dB per 20 ms frame =
// 0.5 dB/s), so speech does not drag it up but a fan switched on is learnt within half a minute.
const NOISE_RISE_DB_PER_FRAME = 0.01;
// The speech level decays slowly from the loudest recent frames.
const SPEECH_DECAY_DB_PER_FRAME = 0.02;
const FULL_SCALE_SQ = 32768 * 32768;

export class WindowCutter {
  readonly frameSamples: number;
  private readonly minSpeechFrames: number;
  private readonly maxWindowFrames: number;
  private readonly minPauseFrames: number;
  private readonly searchBackFrames: number;
  private readonly capacity: number;
  /** Per frame (ring by absolute frame index): energy in dBFS. */
  private readonly energyDb: Float32Array;
  /** Per frame: 1 = speech-like. */
  private readonly speech: Uint8Array;

  private frameSumSq = 0;
  private frameFill = 0;
  /** Absolute index of the next frame to complete. */
  private frameIndex = 0;
  private windowStartFrame = 0;
  private speechFramesInWindow = 0;
  private pauseRun = 0;
  private noiseDb = SILENCE_DB;
  private speechDb = SILENCE_DB;
  private seq = 0;
  private finished = false;

  constructor(
    private readonly options: WindowCutterOptions,
    private readonly onCut: (window: CutWindow) => void,
  ) {
    const frameMs = options.frameMs ?? 20;
    this.frameSamples = Math.max(1, Math.round((options.sampleRateHz * frameMs) / 1000));
    const frames = (ms: number): number => Math.max(1, Math.floor(ms / frameMs));
    this.minSpeechFrames = frames(options.minSpeechMs);
    this.maxWindowFrames = frames(options.maxWindowMs);
    this.minPauseFrames = frames(options.minPauseMs ?? 300);
    this.searchBackFrames = Math.min(this.maxWindowFrames - 1, frames(options.searchBackMs ?? 3000));
    this.capacity = this.maxWindowFrames + 2;
    this.energyDb = new Float32Array(this.capacity);
    this.speech = new Uint8Array(this.capacity);
  }

  /** Samples fed so far (the recording's length as far as the cutter knows). */
  get samplesFed(): number {
    return this.frameIndex * this.frameSamples + this.frameFill;
  }

  /** Start of the window that is still open. */
  get openWindowStart(): number {
    return this.windowStartFrame * this.frameSamples;
  }

  /** Feeds samples[start, end) (the next samples of the recording, in order). Cuts are reported through onCut. */
  feed(samples: Int16Array, start = 0, end = samples.length): void {
    if (this.finished) throw new Error('WindowCutter.feed after finish');
    let sumSq = this.frameSumSq;
    let fill = this.frameFill;
    const frameSamples = this.frameSamples;
    for (let i = start; i < end; i++) {
      const s = samples[i] ?? 0;
      sumSq += s * s;
      fill++;
      if (fill === frameSamples) {
        this.completeFrame(sumSq / frameSamples);
        sumSq = 0;
        fill = 0;
      }
    }
    this.frameSumSq = sumSq;
    this.frameFill = fill;
  }

  /** The recording ended after `totalSamples`: the tail window (possibly empty). No more feeding. */
  finish(totalSamples: number): CutWindow {
    this.finished = true;
    const startSample = Math.min(this.openWindowStart, totalSamples);
    return { seq: this.seq, startSample, endSample: Math.max(startSample, totalSamples), reason: 'end' };
  }

  private completeFrame(meanSq: number): void {
    const db = meanSq > 0 ? 10 * Math.log10(meanSq / FULL_SCALE_SQ) : SILENCE_DB;
    const frame = this.frameIndex;
    this.frameIndex++;
    const slot = frame % this.capacity;
    this.energyDb[slot] = db;

    // Adaptive levels: a noise floor that drops at once and rises slowly, a speech level that
    // jumps up at once and decays slowly.
    if (this.noiseDb === SILENCE_DB && frame === 0) this.noiseDb = db;
    this.noiseDb = db < this.noiseDb ? db : this.noiseDb + NOISE_RISE_DB_PER_FRAME;
    this.speechDb = db > this.speechDb ? db : Math.max(this.noiseDb, this.speechDb - SPEECH_DECAY_DB_PER_FRAME);

    // Speech: clearly above the floor. Pause: in the lower third between floor and speech level.
    const isSpeech = db > ABSOLUTE_SPEECH_FLOOR_DB && db > this.noiseDb + 10;
    const pauseThresholdDb = Math.max(this.noiseDb + 6, this.noiseDb + (this.speechDb - this.noiseDb) * 0.35);
    const isPause = !isSpeech || db < pauseThresholdDb;
    this.speech[slot] = isSpeech ? 1 : 0;
    if (isSpeech) this.speechFramesInWindow++;
    this.pauseRun = isPause ? this.pauseRun + 1 : 0;

    const framesInWindow = this.frameIndex - this.windowStartFrame;
    if (this.speechFramesInWindow >= this.minSpeechFrames && this.pauseRun >= this.minPauseFrames) {
      // Middle of the pause run seen so far; the rest of the pause starts the next window.
      this.cutAt(this.frameIndex - Math.ceil(this.pauseRun / 2), 'pause');
    } else if (framesInWindow >= this.maxWindowFrames) {
      this.cutAt(this.quietestBoundary(), 'forced');
    }
  }

  /** The frame boundary in the last searchBackMs whose two neighbouring frames are quietest. */
  private quietestBoundary(): number {
    const last = this.frameIndex - 1;
    const first = Math.max(this.windowStartFrame + 1, last - this.searchBackFrames + 1);
    let best = last + 1;
    let bestPower = Infinity;
    for (let f = first; f <= last; f++) {
      // Sum of linear power of frames f-1 and f: a cut at the start of f falls between them.
      const power = 10 ** ((this.energyDb[(f - 1) % this.capacity] ?? 0) / 10) + 10 ** ((this.energyDb[f % this.capacity] ?? 0) / 10);
      // `<=` prefers the latest of equally quiet points: longer windows, fewer cuts.
      if (power <= bestPower) {
        bestPower = power;
        best = f;
      }
    }
    return best;
  }

  private cutAt(frame: number, reason: 'pause' | 'forced'): void {
    const startSample = this.windowStartFrame * this.frameSamples;
    const endSample = frame * this.frameSamples;
    this.onCut({ seq: this.seq, startSample, endSample, reason });
    this.seq++;
    this.windowStartFrame = frame;
    // The frames already seen past the cut belong to the new window.
    let speechFrames = 0;
    for (let f = frame; f < this.frameIndex; f++) speechFrames += this.speech[f % this.capacity] ?? 0;
    this.speechFramesInWindow = speechFrames;
    this.pauseRun = 0;
    for (let f = this.frameIndex - 1; f >= frame && (this.speech[f % this.capacity] ?? 0) === 0; f--) this.pauseRun++;
  }
}
