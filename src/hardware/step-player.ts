import { REPEAT_FOREVER, type LedStep } from './types.js';

/**
 * Plays an LED pattern's steps on Node timers, for the backends that have no kernel trigger to do
 * it (onoff, the fake, a kernel built without the `pattern` trigger). Each step is scheduled from
 * the pattern's start, not from the previous timer, so the rhythm does not drift on a busy box.
 * Timers are unref'd (a blinking LED never keeps the process alive) and `stop()` cancels the next
 * step, so nothing is left running after an LED is stopped.
 */
export class StepPlayer {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: (on: boolean) => void,
    private readonly clock: () => number = Date.now,
  ) {}

  /** True while a step is scheduled. */
  get playing(): boolean {
    return this.timer !== null;
  }

  /** Plays `steps` `repeat` times (REPEAT_FOREVER: until stopped), then holds the last step. */
  play(steps: readonly LedStep[], repeat: number): void {
    this.stop();
    // A zero-length step is an instant change: nothing to show.
    const playable = steps.filter((step) => step.ms > 0);
    if (playable.length === 0) return;
    const cycles = repeat === REPEAT_FOREVER ? Infinity : Math.max(1, Math.floor(repeat));
    const startMs = this.clock();
    let elapsedMs = 0;
    let index = 0;
    let cycle = 0;
    const next = (): void => {
      this.timer = null;
      const step = playable[index];
      if (!step) return;
      this.write(step.on);
      elapsedMs += step.ms;
      index += 1;
      if (index === playable.length) {
        index = 0;
        cycle += 1;
        // The last step of the last cycle is held, as the kernel's pattern trigger does.
        if (cycle >= cycles) return;
      }
      const delayMs = Math.max(0, startMs + elapsedMs - this.clock());
      this.timer = setTimeout(next, delayMs);
      this.timer.unref();
    };
    next();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** A blink as steps, so every pattern can be played the same way. */
export function blinkSteps(onMs: number, offMs: number): LedStep[] {
  return [
    { on: true, ms: onMs },
    { on: false, ms: offMs },
  ];
}
