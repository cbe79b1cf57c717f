/**
 * What a window job reads for each window it sends (the degradation level's decoding settings),
 * so a level change reaches the next window without touching the engine process. Its own module
 * so the window job can import it without importing the pipeline that provides it.
 */
export interface WindowSettings {
  /** 1 = greedy. */
  readonly beamSize: number;
  /** Encoder frames sent beyond the window's own: `audioCtxFor(durationMs, audioCtxMarginFrames)`. */
  readonly audioCtxMarginFrames: number;
}

/** The window settings of a degradation decision (the composer and the pipeline both read them). */
export function windowSettingsOf(decision: WindowSettings): WindowSettings {
  return { beamSize: decision.beamSize, audioCtxMarginFrames: decision.audioCtxMarginFrames };
}
