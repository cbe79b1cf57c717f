/**
 * The seam between Scout and the Pi's hardware. Everything behind these interfaces has a
 * real backend (ALSA, kernel GPIO, onoff) and a fake one with the same contract, so the
 * appliance, the simulator and the tests run the same code.
 *
 * Contract for every device:
 * - constructors only assign; `start()` acquires the device, `stop()` releases it;
 * - `stop()` is safe to call twice and before `start()`;
 * - listeners are never called after `stop()` resolves;
 * - a device failure never throws into a listener's caller: it is reported through `status()`
 *   and the device's own error event, and the device tries to recover by itself.
 */

/** PCM as it comes from the device: signed 16-bit little-endian, interleaved. */
export interface PcmFormat {
  readonly sampleRateHz: number;
  readonly channels: number;
}

export type AudioSourceState = 'stopped' | 'starting' | 'running' | 'restarting' | 'failed';

export interface AudioSourceStatus {
  readonly state: AudioSourceState;
  /** Times the capture process was (re)started after the first start. */
  readonly restarts: number;
  /** xruns the device reported (arecord: "overrun!!!" on stderr). */
  readonly overruns: number;
  /** Wall-clock ms of the last chunk of frames; null before the first. */
  readonly lastFrameAtMs: number | null;
  /** Human-readable reason for the last failure, if any. */
  readonly lastError: string | null;
}

export type AudioSourceEvent =
  | { readonly kind: 'state'; readonly state: AudioSourceState; readonly reason?: string }
  | { readonly kind: 'overrun'; readonly total: number }
  | { readonly kind: 'error'; readonly message: string };

export interface AudioSource {
  readonly format: PcmFormat;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Chunks of S16_LE interleaved frames, always a whole number of frames. The Buffer is only
   * valid during the call: copy what you keep (the DSP path copies into preallocated memory).
   */
  onFrames(listener: (pcm: Buffer) => void): void;
  onEvent(listener: (event: AudioSourceEvent) => void): void;
  status(): AudioSourceStatus;
}

export type ButtonEdge = 'press' | 'release';

export interface Button {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `atMs` is the time of the edge as the hardware saw it (kernel timestamp where available). */
  onEdge(listener: (edge: ButtonEdge, atMs: number) => void): void;
}

/** One step of a pattern: the LED on or off for `ms` milliseconds. */
export interface LedStep {
  readonly on: boolean;
  readonly ms: number;
}

/** `repeat` of a pattern that never ends (the kernel pattern trigger's `repeat` = -1). */
export const REPEAT_FOREVER = -1;

/**
 * What an LED shows. Blinking is done by the backend (kernel `timer` or `pattern` trigger on the
 * Pi) so it keeps going if Node stalls; where the kernel has no pattern trigger, a timer in the
 * service plays the steps. `pattern` plays `steps` in order, `repeat` times (REPEAT_FOREVER:
 * until the next `set`), then holds the last step.
 */
export type LedPattern =
  | { readonly mode: 'off' }
  | { readonly mode: 'on' }
  | { readonly mode: 'blink'; readonly onMs: number; readonly offMs: number }
  | { readonly mode: 'pattern'; readonly steps: readonly LedStep[]; readonly repeat: number };

export interface Led {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  set(pattern: LedPattern): void;
  current(): LedPattern;
}
