/**
 * Fake button and LED with the same contract as the kernel and onoff backends, for tests and
 * the simulator. Drive the button with `press()/release()/click()/hold()`; read what an LED
 * showed with `history()`.
 */
import type { Button, ButtonEdge, Led, LedPattern } from './types.js';
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

export class FakeLed implements Led {
  private desired: LedPattern = { mode: 'off' };
  private lifecycle: Lifecycle = 'new';
  private readonly shown: LedHistoryEntry[] = [];

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

  private show(pattern: LedPattern): void {
    this.shown.push({ atMs: this.clock(), pattern });
  }
}
