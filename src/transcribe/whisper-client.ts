/**
 * HTTP client for one whisper.cpp `whisper-server` (1.9.1) on loopback: /health, /inference,
 * /load. Knows the wire format and nothing of processes; every failure is one of four typed
 * errors, so the engine decides what each means (restart, retry, give up).
 *
 * Every call can be bounded by the caller's signal and by a timeout: a server that accepts the
 * connection and never answers must not hold a request forever.
 */

export interface WhisperSegment {
  readonly startMs: number;
  readonly endMs: number;
  readonly text: string;
}

export interface WhisperTranscript {
  readonly text: string;
  readonly segments: WhisperSegment[];
}

export interface InferenceRequest {
  /** A WAV file whisper-server can read (16 kHz mono S16 here). */
  readonly wav: Buffer;
  /** Encoder frames; 0 = the full 30 s window. */
  readonly audioCtx: number;
  /** 1 = greedy; > 1 = beam search. */
  readonly beamSize: number;
  readonly language: string;
  /** whisper's initial prompt (names and terms to spell that way); not sent when empty or absent. */
  readonly prompt?: string;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

export class WhisperClientError extends Error {
  override readonly name: string = 'WhisperClientError';
}

/** No answer at all: connection refused or reset, the server died mid-request. */
export class WhisperTransportError extends WhisperClientError {
  override readonly name = 'WhisperTransportError';
}

/** The caller's signal ('aborted') or the call's timeout ('timeout') ended the call. */
export class WhisperAbortedError extends WhisperClientError {
  override readonly name = 'WhisperAbortedError';
  constructor(
    message: string,
    readonly reason: 'aborted' | 'timeout',
  ) {
    super(message);
  }
}

/** The server answered with a 4xx/5xx status. */
export class WhisperHttpError extends WhisperClientError {
  override readonly name = 'WhisperHttpError';
  constructor(
    message: string,
    readonly status: number,
    /** The start of the body, for messages. */
    readonly body: string,
  ) {
    super(message);
  }
}

/** The server answered 2xx with something we cannot read: not JSON, or JSON of the wrong shape. */
export class WhisperResponseError extends WhisperClientError {
  override readonly name = 'WhisperResponseError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** How much of a body an error message quotes. */
const BODY_PREVIEW_CHARS = 200;

export class WhisperClient {
  /** e.g. `http://127.0.0.1:8178`, no trailing slash. */
  constructor(readonly baseUrl: string) {}

  /**
   * True once the model is loaded. False when the server answers but is not ready (503 "loading
   * model" while it loads, or anything unexpected). Throws WhisperTransportError when nothing
   * answers (the server binds its port only after loading) and WhisperAbortedError.
   */
  async health(call: CallOptions = {}): Promise<boolean> {
    const answer = await this.request('/health', { method: 'GET' }, call);
    if (answer.status !== 200) return false;
    const json = parseJson(answer.body);
    return isRecord(json) && json['status'] === 'ok';
  }

  /** One transcription; `verbose_json` for segment times, without token timestamps or language detection. */
  async inference(request: InferenceRequest, call: CallOptions = {}): Promise<WhisperTranscript> {
    const form = new FormData();
    form.append('file', new Blob([request.wav], { type: 'audio/wav' }), 'clip.wav');
    form.append('response_format', 'verbose_json');
    form.append('temperature', '0');
    form.append('token_timestamps', 'false');
    form.append('language', request.language);
    form.append('audio_ctx', String(request.audioCtx));
    form.append('beam_size', String(request.beamSize));
    // An empty field would still be a prompt to whisper-server (it tokenises ""); leave it out.
    if (request.prompt !== undefined && request.prompt !== '') form.append('prompt', request.prompt);
    const answer = await this.request('/inference', { method: 'POST', body: form }, call);
    throwIfHttpError('/inference', answer);
    return parseVerboseJson(answer.body, answer.status);
  }

  /**
   * Swaps the model in place. whisper-server 1.9.1 frees the old model first and exits when the
   * new one fails to initialise: that surfaces here as a WhisperTransportError.
   */
  async load(modelPath: string, call: CallOptions = {}): Promise<void> {
    const form = new FormData();
    form.append('model', modelPath);
    const answer = await this.request('/load', { method: 'POST', body: form }, call);
    throwIfHttpError('/load', answer);
  }

  private async request(path: string, init: RequestInit, call: CallOptions): Promise<{ status: number; body: string }> {
    const timeout = call.timeoutMs === undefined ? null : AbortSignal.timeout(call.timeoutMs);
    const signals = [call.signal, timeout].filter((signal): signal is AbortSignal => signal !== undefined && signal !== null);
    const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    try {
      const response = await fetch(`${this.baseUrl}${path}`, { ...init, ...(signal ? { signal } : {}) });
      // The body is read under the same signal: a server may send headers and then stall.
      const body = await response.text();
      return { status: response.status, body };
    } catch (error) {
      if (call.signal?.aborted === true) throw new WhisperAbortedError(`${path} aborted`, 'aborted');
      if (timeout?.aborted === true) throw new WhisperAbortedError(`${path}: no answer within ${call.timeoutMs} ms`, 'timeout');
      throw new WhisperTransportError(`${path}: ${describe(error)}`, { cause: error });
    }
  }
}

/** Reads a verbose_json answer; anything but the expected shape is a WhisperResponseError. */
export function parseVerboseJson(body: string, status = 200): WhisperTranscript {
  const json = parseJson(body);
  if (json === undefined) throw new WhisperResponseError(`not JSON: ${preview(body)}`, status);
  if (!isRecord(json)) throw new WhisperResponseError(`not a JSON object: ${preview(body)}`, status);
  // whisper-server reports some failures as {"error": ...} rather than by status.
  if (typeof json['error'] === 'string') throw new WhisperResponseError(`server error: ${json['error']}`, status);
  const text = json['text'];
  const rawSegments = json['segments'];
  if (typeof text !== 'string' || !Array.isArray(rawSegments)) throw new WhisperResponseError(`missing text or segments: ${preview(body)}`, status);
  const segments = rawSegments.map((raw: unknown, index): WhisperSegment => {
    if (!isRecord(raw)) throw new WhisperResponseError(`segment ${index} is not an object`, status);
    const { start, end, text: segmentText } = raw;
    if (!isFiniteNumber(start) || !isFiniteNumber(end) || typeof segmentText !== 'string' || end < start || start < 0) {
      throw new WhisperResponseError(`segment ${index} needs start <= end (seconds) and text: ${preview(JSON.stringify(raw))}`, status);
    }
    return { startMs: Math.round(start * 1000), endMs: Math.round(end * 1000), text: segmentText.trim() };
  });
  return { text: text.trim(), segments };
}

function throwIfHttpError(path: string, answer: { status: number; body: string }): void {
  if (answer.status < 400) return;
  const json = parseJson(answer.body);
  const detail = isRecord(json) && typeof json['error'] === 'string' ? json['error'] : preview(answer.body);
  throw new WhisperHttpError(`${path} answered HTTP ${answer.status}: ${detail}`, answer.status, answer.body.slice(0, BODY_PREVIEW_CHARS));
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function preview(body: string): string {
  return body.length > BODY_PREVIEW_CHARS ? `${body.slice(0, BODY_PREVIEW_CHARS)}...` : body;
}

/** fetch's "fetch failed" hides the useful part (ECONNREFUSED, "other side closed") in its cause. */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}
