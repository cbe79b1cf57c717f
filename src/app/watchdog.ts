import type { AudioSource } from '../hardware/types.js';
import type { Logger } from '../log.js';
import type { ResourceMonitor } from '../ops/resources.js';
import type { Notifier } from '../ops/sd-notify.js';
import { eventLoopProgress, predicateProgress, Watchdog, type ProgressCheckResult } from '../ops/watchdog.js';
import type { TranscriptionPipeline } from '../transcribe/pipeline.js';

export interface WatchdogWiring {
  readonly notifier: Notifier;
  readonly source: AudioSource;
  readonly resources: ResourceMonitor;
  readonly transcription: TranscriptionPipeline | null;
  readonly maxEventLoopLagMs: number;
  readonly audioFreshMs: number;
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
}

/** The watchdog pings only while the event loop, the microphone and the engine make progress. */
export function buildWatchdog(wiring: WatchdogWiring): Watchdog {
  return new Watchdog({
    notifier: wiring.notifier,
    logger: wiring.logger,
    checks: [
      eventLoopProgress(() => wiring.resources.snapshot().eventLoopLagP99Ms, wiring.maxEventLoopLagMs),
      predicateProgress('audio', () => audioProgress(wiring.source, wiring.audioFreshMs)),
      predicateProgress('engine', () => engineProgress(wiring.transcription, wiring.requestTimeoutMs)),
    ],
  });
}

/**
 * A source that is restarting is being handled by its own supervisor (an unplugged mic):
 * restarting the whole service would not bring it back. Only a source that claims to run but
 * delivers nothing is wedged.
 */
function audioProgress(source: AudioSource, audioFreshMs: number): ProgressCheckResult {
  const status = source.status();
  if (status.state !== 'running') return { ok: true };
  const ageMs = status.lastFrameAtMs === null ? 0 : Date.now() - status.lastFrameAtMs;
  if (ageMs <= audioFreshMs) return { ok: true };
  return { ok: false, reason: `no audio frames for ${Math.round(ageMs / 1000)} s` };
}

/**
 * The engine kills and respawns a request past its own timeout by itself; one running far past
 * that means the supervision itself is stuck.
 */
function engineProgress(transcription: TranscriptionPipeline | null, requestTimeoutMs: number): ProgressCheckResult {
  const running = transcription?.status().queue.running;
  if (!running) return { ok: true };
  const limitMs = 2 * requestTimeoutMs + 30_000;
  const ageMs = Date.now() - running.startedAtMs;
  return ageMs <= limitMs ? { ok: true } : { ok: false, reason: `transcription job ${running.jobId} running for ${Math.round(ageMs / 1000)} s` };
}
