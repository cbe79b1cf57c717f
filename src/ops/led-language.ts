/**
 * The LED language: what each LED shows in each situation, as timings, in one place. The
 * presenter (src/app/leds.ts) only gathers the situation; the backends play the patterns; the
 * page's mirror plays the same steps; docs/LEDS.md is this file as tables.
 *
 * Two layouts: the normal one (a green status LED and a red recording LED) and a one-LED
 * fallback for a box with only the status LED wired. Error codes are blink counts so a person
 * can tell what is wrong without the page: N blinks, a pause, again.
 */
import { REPEAT_FOREVER, type LedPattern, type LedStep } from '../hardware/types.js';
import type { Fault } from './faults.js';

/** Blink counts of the error codes. The lowest code wins when several apply: it is the most basic. */
export const ERROR_CODES = {
  /** No microphone (or it keeps failing): nothing can be recorded. */
  noMicrophone: 2,
  /** Disk nearly full, or the card refuses writes: nothing can be saved. */
  storage: 3,
  /** No usable Whisper model: recordings are kept, nothing is transcribed. */
  noModel: 4,
  /** The transcription engine is down (breaker open, or whisper-server not built). */
  engineDown: 5,
  /** Any other fault the page names. */
  other: 6,
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** Which fault keys (FaultBoard) mean which code; a fault not listed falls back by its severity. */
const CODE_BY_FAULT_KEY: Readonly<Record<string, ErrorCode>> = {
  audio: ERROR_CODES.noMicrophone,
  disk: ERROR_CODES.storage,
  storage: ERROR_CODES.storage,
  model: ERROR_CODES.noModel,
  engine: ERROR_CODES.engineDown,
  'engine-binary': ERROR_CODES.engineDown,
};

const ERROR_BLINK_ON_MS = 200;
const ERROR_BLINK_OFF_MS = 200;
/** Long enough that the count is clearly over, short enough to count again soon. */
const ERROR_PAUSE_MS = 1400;

function pattern(steps: readonly LedStep[], repeat: number = REPEAT_FOREVER): LedPattern {
  return { mode: 'pattern', steps, repeat };
}

function blink(onMs: number, offMs: number): LedPattern {
  return { mode: 'blink', onMs, offMs };
}

/** N blinks of 200 ms, 200 ms apart, then 1.4 s dark, forever (N = 2: "255 200 0 200 255 200 0 1400"). */
export function errorCodePattern(code: number): LedPattern {
  const steps: LedStep[] = [];
  for (let blinkIndex = 0; blinkIndex < code; blinkIndex += 1) {
    steps.push({ on: true, ms: ERROR_BLINK_ON_MS });
    steps.push({ on: false, ms: blinkIndex === code - 1 ? ERROR_PAUSE_MS : ERROR_BLINK_OFF_MS });
  }
  return pattern(steps);
}

/** Every pattern of the language by name; the tables in docs/LEDS.md list the same. */
export const LED_PATTERNS = {
  off: { mode: 'off' },
  on: { mode: 'on' },
  /** Scout is starting (before that the kernel's heartbeat from config.txt shows the Pi is up). */
  booting: blink(250, 250),
  /** Saving a take or transcribing: slow and calm. */
  busy: blink(500, 500),
  /** Works, degraded: hot, throttled or overloaded. One short flash every 2 s. */
  degradedHot: blink(100, 1900),
  /** Works, degraded: the power supply sags (under-voltage now). Two short flashes every 2 s. */
  underVoltage: pattern([
    { on: true, ms: 100 },
    { on: false, ms: 100 },
    { on: true, ms: 100 },
    { on: false, ms: 1700 },
  ]),
  /** Recording LED, the last seconds before the maximum length. */
  ending: blink(250, 250),
  /** Recording LED: three quick flashes, "that take was thrown away". */
  cancelled: pattern(
    [
      { on: true, ms: 100 },
      { on: false, ms: 100 },
    ],
    3,
  ),
  /** One-LED layout: recording, a short wink every second so it differs from ready (steady). */
  oneLedRecording: blink(900, 100),
  /** One-LED layout: recording, the last seconds before the maximum length. */
  oneLedEnding: blink(100, 100),
  noMicrophone: errorCodePattern(ERROR_CODES.noMicrophone),
  storage: errorCodePattern(ERROR_CODES.storage),
  noModel: errorCodePattern(ERROR_CODES.noModel),
  engineDown: errorCodePattern(ERROR_CODES.engineDown),
  otherFault: errorCodePattern(ERROR_CODES.other),
} as const satisfies Record<string, LedPattern>;

/** How long the cancel flash lasts (LED_PATTERNS.cancelled, once through its repeats). */
export const CANCEL_FLASH_MS = 600;

/** The error code a fault stands for, or null for a fault that only degrades. */
export function faultCode(fault: Fault): ErrorCode | null {
  const byKey = CODE_BY_FAULT_KEY[fault.key];
  if (byKey !== undefined) return byKey;
  return fault.severity === 'degraded' ? null : ERROR_CODES.other;
}

export type DegradedKind = 'under-voltage' | 'hot';

/**
 * What a degrading fault is about. The degradation fault's message carries the policy's reasons
 * (src/transcribe/degrade.ts: "under-voltage now", "temperature >= 70 C", "CPU throttled now", ...);
 * anything that is not about power is shown like heat (it is load or heat either way).
 */
export function degradedKind(fault: Fault): DegradedKind {
  return /under-?voltage/i.test(fault.message) ? 'under-voltage' : 'hot';
}

/** Everything the LEDs depend on, gathered by the presenter. */
export interface LedSituation {
  readonly phase: 'starting' | 'idle' | 'recording' | 'stopped' | (string & {});
  readonly endingSoon: boolean;
  /** Saving a take or transcribing in the background. */
  readonly busy: boolean;
  /** A long press just threw a take away. */
  readonly cancelFlash: boolean;
  readonly faults: readonly Fault[];
}

/** The code to show: the lowest of all faults' codes, or null. */
export function activeErrorCode(faults: readonly Fault[]): ErrorCode | null {
  let lowest: ErrorCode | null = null;
  for (const fault of faults) {
    const code = faultCode(fault);
    if (code !== null && (lowest === null || code < lowest)) lowest = code;
  }
  return lowest;
}

/** Under-voltage beats heat: it is the one a person can fix at once (another power supply). */
function activeDegraded(faults: readonly Fault[]): DegradedKind | null {
  let kind: DegradedKind | null = null;
  for (const fault of faults) {
    if (faultCode(fault) !== null || fault.severity !== 'degraded') continue;
    const next = degradedKind(fault);
    if (next === 'under-voltage') return next;
    kind = next;
  }
  return kind;
}

export function errorCodeLedPattern(code: ErrorCode): LedPattern {
  switch (code) {
    case ERROR_CODES.noMicrophone:
      return LED_PATTERNS.noMicrophone;
    case ERROR_CODES.storage:
      return LED_PATTERNS.storage;
    case ERROR_CODES.noModel:
      return LED_PATTERNS.noModel;
    case ERROR_CODES.engineDown:
      return LED_PATTERNS.engineDown;
    case ERROR_CODES.other:
      return LED_PATTERNS.otherFault;
  }
}

/** Status LED below the error codes: degraded > busy > ready. */
function calmStatus(situation: LedSituation): LedPattern {
  const degraded = activeDegraded(situation.faults);
  if (degraded === 'under-voltage') return LED_PATTERNS.underVoltage;
  if (degraded === 'hot') return LED_PATTERNS.degradedHot;
  if (situation.busy) return LED_PATTERNS.busy;
  return LED_PATTERNS.on;
}

/**
 * The normal layout. Status (green): booting, then error code > degraded > busy > ready.
 * Recording (red): lit exactly while audio is kept, whatever else is wrong, so a glance answers
 * "is it recording?"; the cancel flash; dark otherwise (the codes are on the green LED).
 */
export function twoLedPatterns(situation: LedSituation): { status: LedPattern; record: LedPattern } {
  if (situation.phase === 'stopped') return { status: LED_PATTERNS.off, record: LED_PATTERNS.off };
  const code = activeErrorCode(situation.faults);
  let record: LedPattern = LED_PATTERNS.off;
  if (situation.phase === 'recording') record = situation.endingSoon ? LED_PATTERNS.ending : LED_PATTERNS.on;
  else if (situation.cancelFlash) record = LED_PATTERNS.cancelled;
  if (situation.phase === 'starting') return { status: LED_PATTERNS.booting, record };
  return { status: code !== null ? errorCodeLedPattern(code) : calmStatus(situation), record };
}

/**
 * The one-LED fallback: booting, then recording (a wink every second, fast at the end: audio
 * being kept is never hidden) > cancel flash > error code > degraded > busy > ready (steady).
 */
export function oneLedPattern(situation: LedSituation): LedPattern {
  if (situation.phase === 'stopped') return LED_PATTERNS.off;
  if (situation.phase === 'starting') return LED_PATTERNS.booting;
  if (situation.phase === 'recording') return situation.endingSoon ? LED_PATTERNS.oneLedEnding : LED_PATTERNS.oneLedRecording;
  if (situation.cancelFlash) return LED_PATTERNS.cancelled;
  const code = activeErrorCode(situation.faults);
  return code !== null ? errorCodeLedPattern(code) : calmStatus(situation);
}
