import type { Led, LedPattern } from '../hardware/types.js';
import type { Appliance, RecordingOutcome } from '../appliance.js';
import type { FaultBoard } from '../ops/faults.js';
import { CANCEL_FLASH_MS, LED_PATTERNS, oneLedPattern, twoLedPatterns, type LedSituation } from '../ops/led-language.js';

/** 'two': green status + red recording LED (normal); 'one': only the status LED is wired. */
export type LedLayout = 'two' | 'one';

export interface LedPresenterOptions {
  readonly leds: { readonly status: Led; readonly record: Led };
  readonly appliance: Pick<Appliance, 'snapshot' | 'onChange' | 'onOutcome'>;
  readonly faults: FaultBoard;
  /** Default 'two'. With 'one', the record LED is never touched (it may not be wired). */
  readonly layout?: LedLayout;
  readonly now?: () => number;
}

/**
 * Drives the LEDs from events: the appliance's phase, the fault board and background work. What
 * each situation looks like is the LED language (src/ops/led-language.ts, docs/LEDS.md). The
 * state machine never touches an LED, so another indicator (a buzzer, a display) is another
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
    if (this.twoLeds) await leds.record.start();
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
    if (this.twoLeds) leds.record.set(LED_PATTERNS.off);
    leds.status.set(LED_PATTERNS.off);
    if (this.twoLeds) await leds.record.stop();
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

  /** By LED name; with one LED, the record LED shows as off (it is not driven). */
  patterns(): Record<string, LedPattern> {
    const { status, record } = this.options.leds;
    return { [status.name]: status.current(), [record.name]: this.twoLeds ? record.current() : LED_PATTERNS.off };
  }

  private get twoLeds(): boolean {
    return (this.options.layout ?? 'two') === 'two';
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
    const situation: LedSituation = {
      phase: snapshot.phase,
      endingSoon: snapshot.endingSoon,
      busy: snapshot.savesInFlight > 0 || this.busyReasons.size > 0,
      cancelFlash: this.now() < this.cancelFlashUntilMs,
      faults: faults.list(),
    };
    if (this.twoLeds) {
      const next = twoLedPatterns(situation);
      show(leds.record, next.record);
      show(leds.status, next.status);
    } else {
      show(leds.status, oneLedPattern(situation));
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/** Only a change is sent: setting the same pattern again would restart a blink code mid-count. */
function show(led: Led, pattern: LedPattern): void {
  if (led.current() !== pattern) led.set(pattern);
}
