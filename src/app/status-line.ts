import type { ApplianceSnapshot } from '../appliance.js';
import type { Watchdog } from '../ops/watchdog.js';
import type { FaultBoard } from '../ops/faults.js';

export interface TranscriptionSummary {
  readonly queued: number;
  readonly transcribing: boolean;
}

/** One line of human state for `systemctl status`: "recording 00:12", "transcribing, 2 queued", "degraded: 82 C". */
export function describeStatus(
  snapshot: ApplianceSnapshot,
  nowMs: number,
  transcription: TranscriptionSummary | null = null,
  faults: readonly string[] = [],
): string {
  const parts: string[] = [];
  switch (snapshot.phase) {
    case 'starting':
      parts.push('starting');
      break;
    case 'stopped':
      parts.push('stopped');
      break;
    case 'recording': {
      const elapsedS = snapshot.recordingStartedAtMs === null ? 0 : Math.max(0, Math.floor((nowMs - snapshot.recordingStartedAtMs) / 1000));
      parts.push(`recording ${String(Math.floor(elapsedS / 60)).padStart(2, '0')}:${String(elapsedS % 60).padStart(2, '0')}`);
      break;
    }
    case 'idle':
      if (snapshot.savesInFlight > 0) parts.push('saving');
      else if (!transcription?.transcribing) parts.push('idle');
      break;
  }
  if (transcription?.transcribing) parts.push('transcribing');
  if (transcription && transcription.queued > (transcription.transcribing ? 1 : 0)) {
    parts.push(`${transcription.queued - (transcription.transcribing ? 1 : 0)} queued`);
  }
  if (faults.length > 0) parts.push(`degraded: ${faults.join('; ')}`);
  return parts.join(', ');
}

export interface StatusLineOptions {
  readonly appliance: { snapshot(): ApplianceSnapshot; onChange(listener: () => void): void };
  readonly faults: FaultBoard;
  readonly transcription: () => TranscriptionSummary | null;
  /** Through the watchdog, so a stall reason stays in front of the state while there is one. */
  readonly watchdog: Pick<Watchdog, 'status'>;
}

/** Keeps systemd's STATUS= line in step with the appliance; sends only when the text changes. */
export class StatusLine {
  private timer: NodeJS.Timeout | null = null;
  private last = '';

  constructor(private readonly options: StatusLineOptions) {}

  start(): Promise<void> {
    this.options.appliance.onChange(() => this.publish());
    this.options.faults.onChange(() => this.publish());
    // The recording clock ticks even when nothing else changes.
    this.timer = setInterval(() => this.publish(), 1000);
    this.timer.unref();
    this.publish();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return Promise.resolve();
  }

  private publish(): void {
    if (this.timer === null) return;
    const { appliance, faults, transcription, watchdog } = this.options;
    const line = describeStatus(appliance.snapshot(), Date.now(), transcription(), faults.messages());
    if (line === this.last) return;
    this.last = line;
    void watchdog.status(line);
  }
}
