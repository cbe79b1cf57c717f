import type { ButtonEdge, Led, LedPattern } from './hardware/types.js';
import type { Logger } from './log.js';
import type { Recorder, TakeResult } from './audio/recorder.js';
import type { RecordingsRepo } from './store/recordings.js';
import type { LiveTranscription } from './transcribe/transcriber.js';

/**
 * The appliance's state machine and the only place that knows the order of the steps:
 * button -> recorder -> store (-> transcription, later) and what the LEDs show.
 *
 *   idle --press--> recording --press+release--> (saving in background) --> idle
 *                       |--press held >= longPressCancelMs--> cancelled --> idle
 *
 * Button edges are handled in order on one chain, so a burst of presses while a recording is
 * being saved cannot interleave two starts or two stops.
 */

export type Phase = 'starting' | 'idle' | 'recording' | 'stopped';

export interface ApplianceSnapshot {
  readonly phase: Phase;
  readonly recordingId: string | null;
  readonly recordingStartedAtMs: number | null;
  readonly savesInFlight: number;
  /** Problems the user should see (LED error pattern); empty when all is well. */
  readonly faults: readonly string[];
  /** Background work in progress (saving, transcribing). */
  readonly busy: readonly string[];
  readonly leds: Readonly<Record<string, LedPattern>>;
  readonly lastEvent: string | null;
}

export interface ApplianceOptions {
  readonly mode: 'toggle' | 'hold';
  readonly longPressCancelMs: number;
  readonly maxDurationMs: number;
  readonly minFreeBytes: number;
  readonly sampleRateHz: number;
  readonly recorder: Recorder;
  readonly recordings: RecordingsRepo;
  readonly leds: { readonly status: Led; readonly record: Led };
  /** Live transcription: windows are cut and sent while the take is recorded. Absent = recordings only. */
  readonly transcription?: { beginRecording(id: string): LiveTranscription } | null;
  readonly newId: () => string;
  /** Free bytes where recordings go; checked before each recording. */
  readonly freeBytes: () => Promise<number>;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** How a take ended: kept, thrown away by the user, or lost to an error. */
export interface RecordingOutcome {
  readonly id: string;
  readonly outcome: 'completed' | 'discarded' | 'failed';
  /** Audio kept, for completed takes. */
  readonly durationMs: number | null;
}

/**
 * What the LEDs say (hardware/README.md has the table). The red LED is steady only while audio is
 * being kept, so a glance answers "is it recording?"; the green one tells the rest, with
 * precedence fatal > error > degraded > busy > idle.
 */
export const LED_PATTERNS = {
  off: { mode: 'off' },
  on: { mode: 'on' },
  /** Status, start-up: Scout is taking over from the kernel's heartbeat. */
  starting: { mode: 'blink', onMs: 250, offMs: 250 },
  /** Status, saving or transcribing: slow, calm. */
  busy: { mode: 'blink', onMs: 500, offMs: 500 },
  /** Status, works but health says degraded (hot, throttled, engine queueing, disk low). */
  degraded: { mode: 'blink', onMs: 100, offMs: 1900 },
  /**
   * Status: a part is broken but recording works (no usable model).
   * Record: cannot record (no microphone, disk full, storage failing); also the cancel flash.
   */
  error: { mode: 'blink', onMs: 100, offMs: 100 },
  /** Record LED, the last seconds before the maximum length. */
  ending: { mode: 'blink', onMs: 250, offMs: 250 },
} as const satisfies Record<string, LedPattern>;

/**
 * 'fatal': the box cannot record (mic gone, disk full, storage failing);
 * 'error': it records, but a part is broken (no usable model: nothing gets transcribed);
 * 'degraded': it works, with reduced quality or delays (hot, throttled, engine queueing).
 */
export type FaultSeverity = 'fatal' | 'error' | 'degraded';

const CANCEL_FLASH_MS = 600;
const ENDING_WARNING_MS = 10_000;

export class Appliance {
  private phase: Phase = 'starting';
  private current: { id: string; startedAtMs: number; live: LiveTranscription | null } | null = null;
  private savesInFlight = 0;
  private readonly faults = new Map<string, { message: string; severity: FaultSeverity }>();
  private readonly busyReasons = new Set<string>();
  private cancelFlashUntilMs = 0;
  private flashTimer: NodeJS.Timeout | null = null;
  private endingTimer: NodeJS.Timeout | null = null;
  private nearMaxDuration = false;
  private chain: Promise<void> = Promise.resolve();
  private pressedAtMs: number | null = null;
  private pressStartedRecording = false;
  private cancelTimer: NodeJS.Timeout | null = null;
  private maxDurationTimer: NodeJS.Timeout | null = null;
  private lastEvent: string | null = null;
  private readonly outcomeListeners: ((outcome: RecordingOutcome) => void)[] = [];
  private readonly changeListeners: (() => void)[] = [];
  private readonly now: () => number;

  constructor(private readonly options: ApplianceOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    await this.options.leds.status.start();
    await this.options.leds.record.start();
    this.phase = 'idle';
    this.refreshLeds();
    this.changed();
  }

  /** Finishes (saves) a recording in progress, waits for saves, and turns the LEDs off. */
  async stop(): Promise<void> {
    if (this.phase === 'stopped') return;
    this.clearTimers();
    if (this.flashTimer) clearTimeout(this.flashTimer);
    await this.enqueue(async () => {
      if (this.current) await this.finishRecording('shutdown');
    });
    await this.chain;
    this.phase = 'stopped';
    this.cancelFlashUntilMs = 0;
    this.faults.clear();
    this.refreshLeds();
    await this.options.leds.record.stop();
    await this.options.leds.status.stop();
    this.changed();
  }

  /** A button edge, from the physical button or from the HTTP API: the same code path. */
  handleEdge(edge: ButtonEdge, atMs: number = this.now()): void {
    if (this.phase === 'starting' || this.phase === 'stopped') {
      this.options.logger.info({ edge, phase: this.phase }, 'button ignored: not running');
      return;
    }
    if (edge === 'press') this.onPress(atMs);
    else this.onRelease(atMs);
  }

  /** Press and release at once: what a short click of the button does. */
  toggle(): void {
    const atMs = this.now();
    this.handleEdge('press', atMs);
    this.handleEdge('release', atMs);
  }

  /** Resolves when every queued button action has run (tests and shutdown use it). */
  async settled(): Promise<void> {
    let seen: Promise<void> | null = null;
    while (seen !== this.chain) {
      seen = this.chain;
      await seen;
    }
  }

  /** Raises (or with `null` clears) a named fault; the LEDs and the state follow. */
  setFault(key: string, message: string | null, severity: FaultSeverity = 'fatal'): void {
    const before = this.faults.get(key);
    if (message === null) this.faults.delete(key);
    else this.faults.set(key, { message, severity });
    if (before?.message !== message || before?.severity !== severity) {
      this.refreshLeds();
      this.changed();
    }
  }

  /** Work in the background that the status LED should show (e.g. 'transcribing'). */
  setBusy(reason: string, busy: boolean): void {
    const had = this.busyReasons.has(reason);
    if (busy) this.busyReasons.add(reason);
    else this.busyReasons.delete(reason);
    if (had !== busy) {
      this.refreshLeds();
      this.changed();
    }
  }

  onOutcome(listener: (outcome: RecordingOutcome) => void): void {
    this.outcomeListeners.push(listener);
  }

  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  snapshot(): ApplianceSnapshot {
    return {
      phase: this.phase,
      recordingId: this.current?.id ?? null,
      recordingStartedAtMs: this.current?.startedAtMs ?? null,
      savesInFlight: this.savesInFlight,
      faults: [...this.faults.values()].map((fault) => fault.message),
      busy: [...this.busyReasons],
      leds: {
        [this.options.leds.status.name]: this.options.leds.status.current(),
        [this.options.leds.record.name]: this.options.leds.record.current(),
      },
      lastEvent: this.lastEvent,
    };
  }

  private onPress(atMs: number): void {
    this.pressedAtMs = atMs;
    this.pressStartedRecording = false;
    if (this.phase === 'idle') {
      this.pressStartedRecording = true;
      // Capture position at the press: the pre-roll counts back from here, not from when the action runs.
      const pressedAtPosition = this.options.recorder.position();
      // The phase changes now, not when the file is open, so a quick second press stops this take.
      this.phase = 'recording';
      this.changed();
      void this.enqueue(() => this.beginRecording(atMs, pressedAtPosition));
    }
    if (this.options.mode === 'toggle' && this.phase === 'recording') {
      this.clearCancelTimer();
      this.cancelTimer = setTimeout(() => {
        this.cancelTimer = null;
        void this.enqueue(() => this.cancelRecording('long press'));
      }, this.options.longPressCancelMs);
    }
  }

  private onRelease(atMs: number): void {
    const heldMs = this.pressedAtMs === null ? 0 : atMs - this.pressedAtMs;
    const startedByThisPress = this.pressStartedRecording;
    this.pressedAtMs = null;
    this.pressStartedRecording = false;
    const cancelArmed = this.cancelTimer !== null;
    this.clearCancelTimer();
    if (this.phase !== 'recording') return;
    if (this.options.mode === 'hold') {
      void this.enqueue(() => this.finishRecording('release'));
      return;
    }
    // Toggle mode: the press that started the take does not end it; a later short press does.
    // Edges replayed with explicit times (HTTP, tests) can show a long hold without the timer having fired.
    if (startedByThisPress && heldMs < this.options.longPressCancelMs) return;
    if (heldMs >= this.options.longPressCancelMs && cancelArmed) {
      void this.enqueue(() => this.cancelRecording('long press'));
      return;
    }
    if (!startedByThisPress) void this.enqueue(() => this.finishRecording('button'));
  }

  private async beginRecording(pressedAtMs: number, pressedAtPosition: number): Promise<void> {
    const { recorder, recordings, logger } = this.options;
    const freeBytes = await this.options.freeBytes().catch(() => Number.POSITIVE_INFINITY);
    if (freeBytes < this.options.minFreeBytes) {
      this.phase = 'idle';
      this.noteEvent(`not recording: only ${Math.round(freeBytes / 1e6)} MB free`);
      this.setFault('disk', `disk nearly full: ${Math.round(freeBytes / 1e6)} MB free`);
      logger.warn({ freeBytes }, 'recording refused: disk nearly full');
      return;
    }
    this.setFault('disk', null);
    const id = this.options.newId();
    const startedAtMs = pressedAtMs;
    const live = this.options.transcription?.beginRecording(id) ?? null;
    this.current = { id, startedAtMs, live };
    try {
      const tap = live ? (samples: Int16Array, start: number, end: number): void => live.feed(samples, start, end) : null;
      const { audioPath, preRollMs } = recorder.begin(id, pressedAtPosition, tap);
      // The row comes before the file: if we crash after the file exists, start-up repair finds it by its status.
      recordings.create({ id, startedAtMs, audioPath, sampleRateHz: this.options.sampleRateHz, preRollMs });
      await recorder.open();
      this.setFault('storage', null);
      logger.info({ recordingId: id, preRollMs }, 'recording started');
      this.noteEvent(`recording ${id} started`);
      this.maxDurationTimer = setTimeout(() => {
        this.maxDurationTimer = null;
        void this.enqueue(() => this.finishRecording('maximum duration'));
      }, this.options.maxDurationMs);
      this.endingTimer = setTimeout(() => {
        this.endingTimer = null;
        this.nearMaxDuration = true;
        this.refreshLeds();
      }, Math.max(0, this.options.maxDurationMs - ENDING_WARNING_MS));
    } catch (error) {
      this.current = null;
      this.phase = 'idle';
      if (recorder.activeId() === id) await recorder.cancel().catch(() => undefined);
      live?.cancel();
      logger.error({ err: error, recordingId: id }, 'recording could not start');
      this.safely(() => recordings.markFailed(id, `could not start: ${(error as Error).message}`));
      this.emitOutcome({ id, outcome: 'failed', durationMs: null });
      this.setFault('storage', `cannot record: ${(error as Error).message}`);
    }
    this.refreshLeds();
    this.changed();
  }

  private async finishRecording(reason: string): Promise<void> {
    const current = this.current;
    if (!current || !this.options.recorder.isRecording()) {
      this.current = null;
      if (this.phase === 'recording') this.phase = 'idle';
      return;
    }
    this.clearTimers();
    this.current = null;
    this.phase = 'idle';
    this.savesInFlight += 1;
    this.refreshLeds();
    this.changed();
    const { logger, recordings } = this.options;
    const savingSinceMs = performance.now();
    try {
      const take: TakeResult = await this.options.recorder.end();
      recordings.finish(current.id, {
        endedAtMs: this.now(),
        durationMs: take.durationMs,
        bytes: take.bytes,
      });
      // After the row says 'recorded': only the tail since the last live window is left to send.
      current.live?.end(take.bytes / 2);
      logger.info(
        {
          recordingId: current.id,
          audioMs: take.durationMs,
          durationMs: Math.round(performance.now() - savingSinceMs),
          bytes: take.bytes,
          reason,
          lostSamples: take.overwrittenSamples + take.droppedSamples,
        },
        'recording saved',
      );
      this.noteEvent(`recording ${current.id} saved (${(take.durationMs / 1000).toFixed(1)} s)`);
      this.emitOutcome({ id: current.id, outcome: 'completed', durationMs: take.durationMs });
    } catch (error) {
      logger.error({ err: error, recordingId: current.id }, 'recording could not be saved');
      current.live?.cancel();
      this.safely(() => recordings.markFailed(current.id, `could not save: ${(error as Error).message}`));
      this.emitOutcome({ id: current.id, outcome: 'failed', durationMs: null });
      this.setFault('storage', `saving failed: ${(error as Error).message}`);
    } finally {
      this.savesInFlight -= 1;
      this.refreshLeds();
      this.changed();
    }
  }

  private async cancelRecording(reason: string): Promise<void> {
    const current = this.current;
    if (!current || !this.options.recorder.isRecording()) return;
    this.clearTimers();
    this.current = null;
    this.phase = 'idle';
    try {
      await this.options.recorder.cancel();
      current.live?.cancel();
      this.options.recordings.delete(current.id);
      this.options.logger.info({ recordingId: current.id, reason }, 'recording cancelled and discarded');
      this.noteEvent(`recording ${current.id} cancelled`);
      this.emitOutcome({ id: current.id, outcome: 'discarded', durationMs: null });
      this.flashCancel();
    } catch (error) {
      this.options.logger.error({ err: error, recordingId: current.id }, 'cancelling the recording failed');
      this.safely(() => this.options.recordings.markFailed(current.id, `cancel failed: ${(error as Error).message}`));
    }
    this.refreshLeds();
    this.changed();
  }

  private enqueue(action: () => Promise<void>): Promise<void> {
    const next = this.chain.then(action).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'button action failed');
    });
    this.chain = next;
    return next;
  }

  private refreshLeds(): void {
    const { status, record } = this.options.leds;
    const severities = [...this.faults.values()].map((fault) => fault.severity);
    const fatal = severities.includes('fatal');
    const flashing = this.now() < this.cancelFlashUntilMs;
    if (this.phase === 'recording' && !fatal) record.set(this.nearMaxDuration ? LED_PATTERNS.ending : LED_PATTERNS.on);
    else if (fatal || flashing) record.set(LED_PATTERNS.error);
    else record.set(LED_PATTERNS.off);

    if (this.phase === 'starting') status.set(LED_PATTERNS.starting);
    else if (this.phase === 'stopped' || fatal) status.set(LED_PATTERNS.off);
    else if (severities.includes('error')) status.set(LED_PATTERNS.error);
    else if (severities.includes('degraded')) status.set(LED_PATTERNS.degraded);
    else if (this.savesInFlight > 0 || this.busyReasons.size > 0) status.set(LED_PATTERNS.busy);
    else status.set(LED_PATTERNS.on);
  }

  /** Three quick blinks of the red LED: "that one was thrown away". */
  private flashCancel(): void {
    this.cancelFlashUntilMs = this.now() + CANCEL_FLASH_MS;
    if (this.flashTimer) clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => {
      this.flashTimer = null;
      this.refreshLeds();
    }, CANCEL_FLASH_MS);
  }

  private emitOutcome(outcome: RecordingOutcome): void {
    for (const listener of this.outcomeListeners) {
      try {
        listener(outcome);
      } catch (error) {
        this.options.logger.error({ err: error }, 'outcome listener failed');
      }
    }
  }

  private noteEvent(text: string): void {
    this.lastEvent = text;
  }

  private changed(): void {
    for (const listener of this.changeListeners) {
      try {
        listener();
      } catch (error) {
        this.options.logger.error({ err: error }, 'state listener failed');
      }
    }
  }

  private safely(action: () => void): void {
    try {
      action();
    } catch (error) {
      this.options.logger.error({ err: error }, 'store update failed');
    }
  }

  private clearCancelTimer(): void {
    if (this.cancelTimer) clearTimeout(this.cancelTimer);
    this.cancelTimer = null;
  }

  private clearTimers(): void {
    this.clearCancelTimer();
    if (this.maxDurationTimer) clearTimeout(this.maxDurationTimer);
    this.maxDurationTimer = null;
    if (this.endingTimer) clearTimeout(this.endingTimer);
    this.endingTimer = null;
    this.nearMaxDuration = false;
  }
}
