/**
 * Anti-aliasing low-pass design for the capture decimator: a Kaiser-windowed sinc.
 *
 * Designed once at construction from numbers in the code, not at run time from measurements, so
 * the same input always gives the same output on every machine.
 */

export interface LowPassSpec {
  /** Input sample rate the filter runs at. */
  readonly sampleRateHz: number;
  /** Highest frequency that must come through (within the Kaiser ripple). */
  readonly passbandEdgeHz: number;
  /** Lowest frequency that must be attenuated by `stopbandAttenuationDb`. */
  readonly stopbandEdgeHz: number;
  /** Minimum attenuation from `stopbandEdgeHz` up to Nyquist. */
  readonly stopbandAttenuationDb: number;
  /**
   * The tap count is rounded up to `2 * k * tapMultiple + 1` taps, so that the group delay
   * `(taps - 1) / 2` is a whole multiple of `tapMultiple` (the decimation factor): the delay is then a
   * whole number of output samples.
   */
  readonly tapMultiple: number;
}

export interface LowPassFilter {
  /** Symmetric (linear-phase) taps, DC gain exactly 1. */
  readonly taps: Float64Array;
  /** Group delay in input samples: `(taps.length - 1) / 2`. */
  readonly delayInputSamples: number;
  readonly kaiserBeta: number;
}

/** Zeroth-order modified Bessel function of the first kind (series; converges fast for beta < 20). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const halfX = x / 2;
  for (let k = 1; k < 64; k++) {
    term *= (halfX / k) * (halfX / k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** Kaiser's empirical beta for a given stopband attenuation (Oppenheim & Schafer, eq. 7.62). */
export function kaiserBeta(attenuationDb: number): number {
  if (attenuationDb > 50) return 0.1102 * (attenuationDb - 8.7);
  if (attenuationDb >= 21) return 0.5842 * Math.pow(attenuationDb - 21, 0.4) + 0.07886 * (attenuationDb - 21);
  return 0;
}

export function designLowPass(spec: LowPassSpec): LowPassFilter {
  const { sampleRateHz, passbandEdgeHz, stopbandEdgeHz, stopbandAttenuationDb, tapMultiple } = spec;
  if (!(passbandEdgeHz > 0 && stopbandEdgeHz > passbandEdgeHz && stopbandEdgeHz <= sampleRateHz / 2)) {
    throw new Error(
      `low-pass: need 0 < passband (${passbandEdgeHz} Hz) < stopband (${stopbandEdgeHz} Hz) <= Nyquist (${sampleRateHz / 2} Hz)`,
    );
  }
  if (!Number.isInteger(tapMultiple) || tapMultiple < 1) throw new Error(`low-pass: tapMultiple must be a positive integer`);
  const transitionRad = (2 * Math.PI * (stopbandEdgeHz - passbandEdgeHz)) / sampleRateHz;
  // Kaiser's formulas are estimates that can miss the attenuation by a fraction of a dB (measured
  // here: 69.7 dB for 70): design for 1 dB more so the spec holds.
  const designDb = stopbandAttenuationDb + 1;
  const order = Math.ceil((designDb - 8) / (2.285 * transitionRad));
  const halfSpan = Math.ceil(order / (2 * tapMultiple)) * tapMultiple;
  const tapCount = 2 * halfSpan + 1;
  const beta = kaiserBeta(designDb);
  // Cut-off in the middle of the transition band, as a fraction of the sample rate.
  const cutoff = (passbandEdgeHz + stopbandEdgeHz) / 2 / sampleRateHz;
  const taps = new Float64Array(tapCount);
  const i0Beta = besselI0(beta);
  let sum = 0;
  for (let n = 0; n < tapCount; n++) {
    const m = n - halfSpan;
    const sinc = m === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * m) / (Math.PI * m);
    const r = m / halfSpan;
    const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta;
    const tap = sinc * window;
    taps[n] = tap;
    sum += tap;
  }
  // Unity gain at DC, so a tone in the passband keeps its level.
  for (let n = 0; n < tapCount; n++) taps[n] = (taps[n] ?? 0) / sum;
  return { taps, delayInputSamples: halfSpan, kaiserBeta: beta };
}

/** Magnitude response in dB at one frequency (for tests and the bench, not the capture path). */
export function responseDb(taps: Float64Array, freqHz: number, sampleRateHz: number): number {
  const w = (2 * Math.PI * freqHz) / sampleRateHz;
  let re = 0;
  let im = 0;
  for (let n = 0; n < taps.length; n++) {
    const t = taps[n] ?? 0;
    re += t * Math.cos(w * n);
    im -= t * Math.sin(w * n);
  }
  return 20 * Math.log10(Math.max(Math.hypot(re, im), 1e-12));
}
