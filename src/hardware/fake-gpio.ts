/**
 * Fake button and LED with the same contract as the kernel and onoff backends, for tests and
 * the simulator. Drive the button with `press()/release()/click()/hold()`; read what an LED
 * showed with `history()`.
 */
import { REPEAT_FOREVER, type Button, type ButtonEdge, type Led, type LedPattern } from './types.js';
import { StepPlayer, blinkSteps } from './step-player.js';
import { sleep } from '../util/sleep.js';

type Lifecycle = 'new' | 'started' | 'stopped';

export class FakeButton implements Button {
  private readonly listeners: Array<(edge: ButtonEdge, atMs: number) => void> = [];
  private lifecycle: Lifecycle = 'new';
  private pressed = false;
  private readonly stopSignal = new AbortController();

  /** `clock` gives the edge time when the caller does not; default `Date.now`. */
  constructor(private readonly clock: () => number = Date.now) {}

  start(): Promise<void> {
    if (this.lifecycle === 'new') this.lifecycle = 'started';
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.lifecycle = 'stopped';
    this.stopSignal.abort();
    return Promise.resolve();
  }

  onEdge(listener: (edge: ButtonEdge, atMs: number) => void): void {
    this.listeners.push(listener);
  }

  /** True while the (fake) contact is closed. */
  get isPressed(): boolean {
    return this.pressed;
  }

  /**
   * Closes the contact. Like the hardware, edges alternate: a second press without a release
   * changes nothing. Before `start()` or after `stop()` the contact moves but nobody hears it.
   */
  press(atMs: number = this.clock()): void {
    this.edge('press', atMs);
  }

  release(atMs: number = this.clock()): void {
    this.edge('release', atMs);
  }

  /** A short press: press and release now. */
  click(): void {
    const atMs = this.clock();
    this.press(atMs);
    this.release(atMs);
  }

  /** Press, keep it down for `ms` of real time, release. A `stop()` meanwhile ends the wait early. */
  async hold(ms: number): Promise<void> {
    this.press();
    await sleep(ms, this.stopSignal.signal);
    this.release();
  }

  private edge(edge: ButtonEdge, atMs: number): void {
    const wantPressed = edge === 'press';
    if (this.pressed === wantPressed) return;
    this.pressed = wantPressed;
    if (this.lifecycle !== 'started') return;
    for (const listener of this.listeners) listener(edge, atMs);
  }
}

export interface LedHistoryEntry {
  readonly atMs: number;
  readonly pattern: LedPattern;
}

/** One change of the fake LED's light: lit or dark from `atMs`. */
export interface LedLevelEntry {
  readonly atMs: number;
  readonly on: boolean;
}

/** Levels kept for `timeline()`; older ones are dropped so a long simulator run stays small. */
const TIMELINE_LIMIT = 2_000;

/**
 * Blinks and patterns are played by the same service-side timer as the onoff backend (the pattern
 * as the LED would show it), so `timeline()` is what a person would have seen.
 */
export class FakeLed implements Led {
  private desired: LedPattern = { mode: 'off' };
  private lifecycle: Lifecycle = 'new';
  private readonly shown: LedHistoryEntry[] = [];
  private readonly levels: LedLevelEntry[] = [];
  private readonly player = new StepPlayer((on) => this.level(on));

  constructor(
    readonly name: string,
    private readonly clock: () => number = Date.now,
  ) {}

  start(): Promise<void> {
    if (this.lifecycle === 'new') {
      this.lifecycle = 'started';
      this.show(this.desired);
    }
    return Promise.resolve();
  }

  /** Turns the LED off (as the real backends do), once. */
  stop(): Promise<void> {
    if (this.lifecycle === 'started') this.show({ mode: 'off' });
    this.lifecycle = 'stopped';
    this.player.stop();
    return Promise.resolve();
  }

  set(pattern: LedPattern): void {
    this.desired = pattern;
    if (this.lifecycle === 'started') this.show(pattern);
  }

  current(): LedPattern {
    return this.desired;
  }

  /** What the LED showed, oldest first: the pattern at start, every `set` while running, off at stop. */
  history(): readonly LedHistoryEntry[] {
    return this.shown;
  }

  /** The pattern the LED shows now (off when not running). */
  showing(): LedPattern {
    return this.lifecycle === 'started' ? this.desired : { mode: 'off' };
  }

  /** Every change of the light, oldest first (the last TIMELINE_LIMIT of them). */
  timeline(): readonly LedLevelEntry[] {
    return this.levels;
  }

  /** True while a timer is playing a blink or pattern. */
  get animating(): boolean {
    return this.player.playing;
  }

  private show(pattern: LedPattern): void {
    this.shown.push({ atMs: this.clock(), pattern });
    this.player.stop();
    switch (pattern.mode) {
      case 'off':
        this.level(false);
        break;
      case 'on':
        this.level(true);
        break;
      case 'blink':
        this.player.play(blinkSteps(pattern.onMs, pattern.offMs), REPEAT_FOREVER);
        break;
      case 'pattern':
        this.player.play(pattern.steps, pattern.repeat);
        break;
    }
  }

  private level(on: boolean): void {
    const last = this.levels.at(-1);
    if (last?.on === on) return;
    this.levels.push({ atMs: this.clock(), on });
    if (this.levels.length > TIMELINE_LIMIT) this.levels.splice(0, this.levels.length - TIMELINE_LIMIT);
  }
}
