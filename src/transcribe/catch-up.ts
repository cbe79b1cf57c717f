/**
 * Catch-up: transcripts made at a lower model tier (under heat or memory pressure) are redone at
 * the normal tier in the background, once the box is calm again.
 *
 * Rules (each looked at before a recording is picked, and by the queue before every catch-up job):
 *  - enabled (config `transcription.catchUp`; the composer also turns it off on the placeholder
 *    model, whose text is not speech anyway);
 *  - the degradation level is 0 and the engine runs the normal tier (a box with only the
 *    constrained model installed would redo the same transcripts for ever);
 *  - nothing is being recorded;
 *  - to pick the next recording: no other job is pending (the queue is idle) and no catch-up is
 *    under way (one recording at a time).
 * The oldest transcript below normal whose audio still exists is picked; its windows go back to
 * the queue as catch-up jobs, which the queue takes after every other due job and only while the
 * rules above hold. A catch-up job already running when a recording starts finishes (see
 * ./queue.ts for why it is not aborted); the next one waits until the recording is over.
 *
 * The recording stays `transcribed` throughout and keeps its old transcript until the new one is
 * stored; then the old one moves to the history in the same transaction (./assemble.ts).
 *
 * Looks every `checkEveryMs`, and at once on `wake()` (the level changed, a recording ended) and
 * whenever the queue becomes idle.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { RecordingsRepo } from '../store/recordings.js';
import type { TranscriptsRepo } from '../store/transcripts.js';
import type { Transcriber, TranscriptionProgress } from './transcriber.js';
import type { CurrentModel } from './window-job.js';

export interface CatchUpOptions {
  /** False: never redo anything (config `transcription.catchUp`, or a placeholder model). */
  readonly enabled: boolean;
  readonly transcriber: Pick<Transcriber, 'gateCatchUp' | 'queueCatchUp' | 'catchUpPending' | 'status' | 'onProgress' | 'wake'>;
  readonly transcripts: Pick<TranscriptsRepo, 'catchUpCandidates'>;
  readonly recordings: Pick<RecordingsRepo, 'get'>;
  readonly recordingsDir: string;
  /** The degradation level now (0 = normal). */
  readonly level: () => number;
  /** True while the appliance records a take. */
  readonly isRecording: () => boolean;
  readonly currentModel: () => CurrentModel;
  /** How often to look without a wake-up. Default 30 000. */
  readonly checkEveryMs?: number;
  readonly logger: Logger;
}

export interface CatchUpStatus {
  readonly enabled: boolean;
  /** The rules allow catch-up work now. */
  readonly allowed: boolean;
  /** Catch-up jobs queued or running. */
  readonly pending: number;
}

// Candidates read per look; those whose audio is gone are remembered and skipped, so a long run
// of deleted files only costs one look each.
const CANDIDATES_PER_LOOK = 50;

export class CatchUp {
  private started = false;
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private again = false;
  private removeGate: (() => void) | null = null;
  private listening = false;
  private readonly audioMissing = new Set<string>();

  constructor(private readonly options: CatchUpOptions) {}

  async start(): Promise<void> {
    if (this.started || !this.options.enabled) return;
    this.started = true;
    this.removeGate = this.options.transcriber.gateCatchUp(() => this.allowed());
    // The transcriber has no way to remove a listener: subscribe once, act only while started.
    if (!this.listening) {
      this.listening = true;
      this.options.transcriber.onProgress((progress) => this.onProgress(progress));
    }
    this.timer = setInterval(() => this.wake(), this.options.checkEveryMs ?? 30_000);
    this.timer.unref();
    this.wake();
    await Promise.resolve();
  }

  /** Stops looking; a catch-up job in the queue waits (its gate is removed). Safe twice. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.timer = null;
    this.soon = null;
    this.removeGate?.();
    this.removeGate = null;
    await this.checking;
  }

  /** Look now (the level changed, a recording ended). Cheap; looks are never run in parallel. */
  wake(): void {
    if (!this.started || this.soon) return;
    // A timer rather than a direct call: wake() is called from other parts' event paths.
    this.soon = setTimeout(() => {
      this.soon = null;
      this.runCheck();
    }, 0);
  }

  /** The rules for catch-up work, apart from "the queue is idle" (the queue orders jobs itself). */
  allowed(): boolean {
    const { enabled, level, isRecording, currentModel } = this.options;
    return this.started && enabled && level() === 0 && !isRecording() && currentModel().tier === 'normal';
  }

  status(): CatchUpStatus {
    return { enabled: this.options.enabled, allowed: this.allowed(), pending: this.options.transcriber.catchUpPending() };
  }

  private onProgress(progress: TranscriptionProgress): void {
    // Idle: nothing pending and nothing running (a catch-up job ending reads the same way).
    if (progress.kind === 'pending' && progress.count === 0 && progress.running === null) this.wake();
  }

  private runCheck(): void {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = this.check()
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'catch-up look failed'))
      .finally(() => {
        this.checking = null;
        if (this.again && this.started) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async check(): Promise<void> {
    const { transcriber, transcripts, recordings, recordingsDir, logger } = this.options;
    if (!this.allowed() || transcriber.status().queueSize > 0) return;
    if (transcriber.catchUpPending() > 0) {
      // One under way: make sure the queue looks at it now that the gate is open.
      transcriber.wake();
      return;
    }
    for (const recordingId of transcripts.catchUpCandidates(CANDIDATES_PER_LOOK)) {
      if (this.audioMissing.has(recordingId)) continue;
      const recording = recordings.get(recordingId);
      if (!recording) continue;
      try {
        await access(join(recordingsDir, recording.audioPath));
      } catch {
        this.audioMissing.add(recordingId);
        logger.info({ recordingId }, 'catch-up skips a transcript whose audio is gone');
        continue;
      }
      // The file check awaited: a recording may have started or the level risen meanwhile.
      if (!this.allowed() || transcriber.status().queueSize > 0) return;
      if (transcriber.queueCatchUp(recordingId) > 0) return;
    }
  }
}
