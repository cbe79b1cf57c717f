import type { AudioSourceEvent } from './types.js';

/**
 * The listener side of the AudioSource contract, shared by every backend: frames and events go
 * to each listener in order, and a listener that throws never stops the mic or the others.
 */
export class SourceListeners {
  private readonly frameListeners: ((pcm: Buffer) => void)[] = [];
  private readonly eventListeners: ((event: AudioSourceEvent) => void)[] = [];

  /** `onListenerError` hears what a listener threw (the real backend logs it). */
  constructor(private readonly onListenerError: (error: unknown, what: 'frames' | 'event') => void = () => undefined) {}

  addFrameListener(listener: (pcm: Buffer) => void): void {
    this.frameListeners.push(listener);
  }

  addEventListener(listener: (event: AudioSourceEvent) => void): void {
    this.eventListeners.push(listener);
  }

  frames(pcm: Buffer): void {
    for (const listener of this.frameListeners) {
      try {
        listener(pcm);
      } catch (error) {
        this.onListenerError(error, 'frames');
      }
    }
  }

  event(event: AudioSourceEvent): void {
    for (const listener of this.eventListeners) {
      try {
        listener(event);
      } catch (error) {
        this.onListenerError(error, 'event');
      }
    }
  }
}
