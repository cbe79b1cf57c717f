import type { Led, LedPattern } from '../hardware/types.js';
import type { Appliance, RecordingOutcome } from '../appliance.js';
import type { FaultBoard } from '../ops/faults.js';

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

/** Three quick blinks of the red LED say "that one was thrown away". */
const CANCEL_FLASH_MS = 600;

export interface LedPresenterOptions {
  readonly leds: { readonly status: Led; readonly record: Led };
  readonly appliance: Pick<Appliance, 'snapshot' | 'onChange' | 'onOutcome'>;
  readonly faults: FaultBoard;
  readonly now?: () => number;
}

/**
 * Drives the two LEDs from events: the appliance's phase, the fault board and background work.
 * The state machine never touches an LED, so another indicator (a buzzer, a display) is another
 * consumer of the same events.
 */
export class LedPresenter {
  private readonly busyReasons = new Set<string>();
  private cancelFlashUntilMs = 0;
  private flashTimer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly options: LedPresenterOptions) {}

  /** Before the appliance starts: the status LED shows 'starting' from the first moment. */
  async start(): Promise<void> {
    const { leds, appliance, faults } = this.options;
    await leds.status.start();
    await leds.record.start();
    this.running = true;
    appliance.onChange(() => this.refresh());
    appliance.onOutcome((outcome) => this.onOutcome(outcome));
    faults.onChange(() => this.refresh());
    this.refresh();
  }

  /** After the appliance stopped: both LEDs off. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.flashTimer) clearTimeout(this.flashTimer);
    this.flashTimer = null;
    const { leds } = this.options;
    leds.record.set(LED_PATTERNS.off);
    leds.status.set(LED_PATTERNS.off);
    await leds.record.stop();
    await leds.status.stop();
  }

  /** Work in the background that the status LED should show (e.g. 'transcribing'). */
  setBusy(reason: string, busy: boolean): void {
    const had = this.busyReasons.has(reason);
    if (busy) this.busyReasons.add(reason);
    else this.busyReasons.delete(reason);
    if (had !== busy) this.refresh();
  }

  busy(): string[] {
    return [...this.busyReasons];
  }

  patterns(): Record<string, LedPattern> {
    const { status, record } = this.options.leds;
    return { [status.name]: status.current(), [record.name]: record.current() };
  }

  private onOutcome(outcome: RecordingOutcome): void {
    if (outcome.outcome !== 'discarded') return;
    this.cancelFlashUntilMs = this.now() + CANCEL_FLASH_MS;
    if (this.flashTimer) clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => {
      this.flashTimer = null;
      this.refresh();
    }, CANCEL_FLASH_MS);
    this.refresh();
  }

  private refresh(): void {
    if (!this.running) return;
    const { leds, appliance, faults } = this.options;
    const snapshot = appliance.snapshot();
    const fatal = faults.has('fatal');
    const flashing = this.now() < this.cancelFlashUntilMs;
    if (snapshot.phase === 'recording' && !fatal) leds.record.set(snapshot.endingSoon ? LED_PATTERNS.ending : LED_PATTERNS.on);
    else if (fatal || flashing) leds.record.set(LED_PATTERNS.error);
    else leds.record.set(LED_PATTERNS.off);

    if (snapshot.phase === 'starting') leds.status.set(LED_PATTERNS.starting);
    else if (snapshot.phase === 'stopped' || fatal) leds.status.set(LED_PATTERNS.off);
    else if (faults.has('error')) leds.status.set(LED_PATTERNS.error);
    else if (faults.has('degraded')) leds.status.set(LED_PATTERNS.degraded);
    else if (snapshot.savesInFlight > 0 || this.busyReasons.size > 0) leds.status.set(LED_PATTERNS.busy);
    else leds.status.set(LED_PATTERNS.on);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
