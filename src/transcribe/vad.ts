/**
 * Silence gate: does a clip hold speech at all? Whisper hallucinates on silence ("thank you"),
 * and an engine call on an empty window costs hundreds of ms for nothing; a window that fails
 * this gate is not sent, and its transcript is empty with the reason "no speech".
 *
 * Per 20 ms frame: RMS energy and zero-crossing rate. A frame is speech-like when it is
 *  - above an absolute floor (digital silence, -60 dBFS hiss and room tone never pass),
 *  - well above the clip's own noise floor (its 10th-percentile frame energy: steady noise such
 *    as mains hum or a fan sits at the floor, speech rises and falls around syllables), and
 *  - in the zero-crossing band of speech (hum crosses zero too rarely, white noise too often).
 * A clip needs `minSpeechMs` of such frames. Energy + ZCR is the classic cheap detector; Silero
 * VAD would add an ONNX runtime (tens of MB) to a box that already runs Whisper.
 */

export interface SilenceGateOptions {
  readonly sampleRateHz: number;
  /** Speech-like frames needed for "speech". Default 200. */
  readonly minSpeechMs?: number;
  readonly frameMs?: number;
  /** Frames quieter than this are never speech. Default -50 dBFS. */
  readonly absoluteFloorDb?: number;
  /** How far above the clip's noise floor a speech frame must be. Default 9 dB. */
  readonly aboveNoiseDb?: number;
  /** Zero crossings per sample accepted as speech. Default [0.01, 0.35]. */
  readonly minZcr?: number;
  readonly maxZcr?: number;
}

export interface SilenceGateResult {
  readonly speech: boolean;
  readonly speechMs: number;
  readonly frames: number;
  readonly noiseFloorDb: number;
  /** 'no speech' when speech is false. */
  readonly reason: string | null;
}

const FULL_SCALE_SQ = 32768 * 32768;
const SILENCE_DB = -120;
const NOISE_PERCENTILE = 0.1;

export function detectSpeech(samples: Int16Array, options: SilenceGateOptions): SilenceGateResult {
  const frameMs = options.frameMs ?? 20;
  const frameSamples = Math.max(2, Math.round((options.sampleRateHz * frameMs) / 1000));
  const frames = Math.floor(samples.length / frameSamples);
  const minSpeechMs = options.minSpeechMs ?? 200;
  if (frames === 0) return { speech: false, speechMs: 0, frames: 0, noiseFloorDb: SILENCE_DB, reason: 'no speech' };

  const energyDb = new Float32Array(frames);
  const zcr = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    const from = f * frameSamples;
    let sumSq = 0;
    let crossings = 0;
    let previous = samples[from] ?? 0;
    for (let i = from; i < from + frameSamples; i++) {
      const s = samples[i] ?? 0;
      sumSq += s * s;
      // Count sign changes; exact zeros do not count (digital silence is not "crossing").
      if ((s > 0 && previous < 0) || (s < 0 && previous > 0)) crossings++;
      if (s !== 0) previous = s;
    }
    const meanSq = sumSq / frameSamples;
    energyDb[f] = meanSq > 0 ? Math.max(SILENCE_DB, 10 * Math.log10(meanSq / FULL_SCALE_SQ)) : SILENCE_DB;
    zcr[f] = crossings / frameSamples;
  }

  const sorted = Float32Array.from(energyDb).sort();
  const noiseFloorDb = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * NOISE_PERCENTILE))] ?? SILENCE_DB;
  const absoluteFloorDb = options.absoluteFloorDb ?? -50;
  const aboveNoiseDb = options.aboveNoiseDb ?? 9;
  const minZcr = options.minZcr ?? 0.01;
  const maxZcr = options.maxZcr ?? 0.35;

  let speechFrames = 0;
  for (let f = 0; f < frames; f++) {
    const e = energyDb[f] ?? SILENCE_DB;
    const z = zcr[f] ?? 0;
    if (e > absoluteFloorDb && e > noiseFloorDb + aboveNoiseDb && z >= minZcr && z <= maxZcr) speechFrames++;
  }
  const speechMs = speechFrames * frameMs;
  const speech = speechMs >= minSpeechMs;
  return { speech, speechMs, frames, noiseFloorDb, reason: speech ? null : 'no speech' };
}
