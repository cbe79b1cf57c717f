/**
 * A whisper.cpp `whisper-server` elsewhere on the LAN (the same pinned build on a desktop, with a
 * larger model), spoken to over the same /inference API as the local child. Nothing is spawned or
 * supervised here: the remote is someone else's process, so all this side can do is ask, bound
 * every call, and say what failed in the engine's own error types (so the breaker counts the same
 * failures it counts for the local engine).
 *
 * whisper-server reports neither its model nor its thread count over HTTP: both come from the
 * config and are recorded per window as given.
 */
import { encodeWav } from '../audio/wav.js';
import { SPEECH_RATE_HZ } from '../domain/transcript.js';
import { EngineAbortedError, EngineRequestError, EngineUnavailableError, type TranscribeRequest, type TranscribeResult } from './engine.js';
import { WhisperAbortedError, WhisperClient, WhisperHttpError, WhisperResponseError } from './whisper-client.js';

export interface RemoteEngineOptions {
  /** Base URL of the remote whisper-server, e.g. `http://192.168.1.20:8080` (no trailing slash needed). */
  readonly url: string;
  /** Name of the model the remote runs (recorded per window: the server cannot tell). */
  readonly model: string;
  /** Threads the remote runs with (`-t`), recorded per window as given. */
  readonly threads: number;
  /** Longest one /inference may take before it counts as a timeout. */
  readonly requestTimeoutMs: number;
  /** Longest one /health may take. */
  readonly healthTimeoutMs: number;
}

/** `host:port` of a URL, for records and logs (never the path or any credentials in it). */
export function remoteHostOf(url: string): string {
  return new URL(url).host;
}

/** Shaped like the local engine's TranscriptionEngine (./window-job.ts), which it is not imported for: the window job reaches it through ./remote-tier.ts. */
export class RemoteWhisperEngine {
  private readonly client: WhisperClient;
  readonly host: string;

  constructor(private readonly options: RemoteEngineOptions) {
    this.client = new WhisperClient(options.url.replace(/\/+$/, ''));
    this.host = remoteHostOf(options.url);
  }

  status(): { readonly model: string; readonly threads: number } {
    return { model: this.options.model, threads: this.options.threads };
  }

  /** True when the remote answers /health with its model loaded; false (never a throw) otherwise, with why. */
  async health(signal?: AbortSignal): Promise<{ readonly ok: true } | { readonly ok: false; readonly reason: string }> {
    try {
      const ready = await this.client.health({ timeoutMs: this.options.healthTimeoutMs, ...(signal ? { signal } : {}) });
      return ready ? { ok: true } : { ok: false, reason: 'whisper-server answered /health but is not ready (loading its model?)' };
    } catch (error) {
      return { ok: false, reason: describe(error) };
    }
  }

  async transcribe(request: TranscribeRequest): Promise<TranscribeResult> {
    const wav = request.wav ?? (request.pcm ? encodeWav(request.pcm, SPEECH_RATE_HZ) : null);
    if (wav === null) throw new EngineRequestError('transcribe needs wav or pcm', null);
    const startedMs = performance.now();
    try {
      const transcript = await this.client.inference(
        {
          wav,
          audioCtx: request.audioCtx ?? 0,
          beamSize: request.beamSize ?? 1,
          language: request.language ?? 'en',
          ...(request.prompt === undefined ? {} : { prompt: request.prompt }),
        },
        { timeoutMs: this.options.requestTimeoutMs, ...(request.signal ? { signal: request.signal } : {}) },
      );
      return { text: transcript.text, segments: transcript.segments, processingMs: performance.now() - startedMs, threads: this.options.threads, model: this.options.model };
    } catch (error) {
      if (error instanceof WhisperAbortedError) throw new EngineAbortedError(`remote ${this.host}: ${error.message}`, error.reason);
      if (error instanceof WhisperHttpError) throw new EngineRequestError(`remote ${this.host} answered HTTP ${error.status}: ${error.body}`, error.status);
      if (error instanceof WhisperResponseError) throw new EngineRequestError(`unreadable answer from remote ${this.host}: ${error.message}`, error.status);
      // Refused, reset, the server died mid-request: the remote is not there (for now).
      throw new EngineUnavailableError(`remote ${this.host} failed: ${describe(error)}`);
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}
