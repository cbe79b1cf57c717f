/**
 * Transcript routes, registered by the HTTP server:
 *   GET  /api/recordings/:id/transcript?format=txt|json|srt|vtt  (default json)
 *        200 the transcript; 404 unknown recording or no transcript (yet); 409 while it is being
 *        recorded or transcribed, with the partial transcript (windows done so far) as JSON.
 *   GET  /api/recordings/:id/transcripts
 *        200 { current, history }: the current transcript (null if none) and those it replaced
 *        (catch-up at the normal tier, a re-transcription), newest first, each with
 *        `replacedAtMs` and `reason`; 404 unknown recording. Every transcript shows its `tier`.
 *   POST /api/recordings/:id/transcribe
 *        202 queued (again); 404 unknown; 409 while it is still being recorded.
 * `transcriptView` gives the transcript part of `GET /api/recordings/:id`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { isRecordingId } from '../store/ids.js';
import type { Recording } from '../domain/recording.js';
import type { Transcript } from '../domain/transcript.js';
import type { RecordingsRepo } from '../store/recordings.js';
import { renderTranscript, TRANSCRIPT_FORMATS } from '../transcribe/formats.js';
import { RecordingInProgressError, UnknownRecordingError } from '../transcribe/recording-errors.js';
import type { PartialTranscript, Transcriber } from '../transcribe/transcriber.js';

export interface TranscriptRouteDeps {
  readonly recordings: Pick<RecordingsRepo, 'get'>;
  readonly transcriber: Pick<Transcriber, 'transcript' | 'partial' | 'enqueueRecording' | 'history'>;
}

/** The transcript as shown inside a recording's JSON. */
export type TranscriptView =
  | { readonly state: 'none' }
  | ({ readonly state: 'partial' } & PartialTranscript)
  | ({ readonly state: 'done' } & Transcript);

export function transcriptView(deps: TranscriptRouteDeps, recording: Pick<Recording, 'id' | 'status'>): TranscriptView {
  if (recording.status === 'recording' || recording.status === 'transcribing') {
    return { state: 'partial', ...deps.transcriber.partial(recording.id) };
  }
  const transcript = deps.transcriber.transcript(recording.id);
  return transcript ? { state: 'done', ...transcript } : { state: 'none' };
}

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const FormatQuery = Type.Object(
  { format: Type.Union(TRANSCRIPT_FORMATS.map((format) => Type.Literal(format)), { default: 'json' }) },
  { additionalProperties: false },
);

// Generic over the logger so the server's instance (typed with our pino Logger) fits as it is.
export function registerTranscriptRoutes<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  deps: TranscriptRouteDeps,
): void {
  const lookup = (id: string): Recording | undefined => (isRecordingId(id) ? deps.recordings.get(id) : undefined);

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof FormatQuery> }>(
    '/api/recordings/:id/transcript',
    { schema: { params: IdParams, querystring: FormatQuery } },
    (request, reply) => {
      const recording = lookup(request.params.id);
      if (!recording) return reply.code(404).send({ error: 'not_found', message: `no recording ${request.params.id}` });
      if (recording.status === 'recording' || recording.status === 'transcribing') {
        return reply.code(409).send({
          error: recording.status,
          message: `recording is ${recording.status}; partial transcript attached`,
          status: recording.status,
          partial: deps.transcriber.partial(recording.id),
        });
      }
      const transcript = deps.transcriber.transcript(recording.id);
      if (!transcript) {
        return reply.code(404).send({
          error: 'no_transcript',
          message: recording.status === 'failed' ? `transcription failed: ${recording.error ?? 'unknown error'}` : 'no transcript yet',
          status: recording.status,
        });
      }
      const rendered = renderTranscript(transcript, request.query.format);
      return reply.code(200).type(rendered.contentType).send(rendered.body);
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>('/api/recordings/:id/transcripts', { schema: { params: IdParams } }, (request, reply) => {
    const recording = lookup(request.params.id);
    if (!recording) return reply.code(404).send({ error: 'not_found', message: `no recording ${request.params.id}` });
    const history = deps.transcriber.history(recording.id).map((entry) => ({ ...entry.transcript, replacedAtMs: entry.replacedAtMs, reason: entry.reason }));
    return reply.code(200).send({ current: deps.transcriber.transcript(recording.id) ?? null, history });
  });

  app.post<{ Params: Static<typeof IdParams> }>('/api/recordings/:id/transcribe', { schema: { params: IdParams } }, async (request, reply) => {
    const recording = lookup(request.params.id);
    if (!recording) return reply.code(404).send({ error: 'not_found', message: `no recording ${request.params.id}` });
    if (recording.status === 'recording') {
      return reply.code(409).send({ error: 'recording', message: 'recording is still in progress; it is transcribed when it ends' });
    }
    try {
      const windows = await deps.transcriber.enqueueRecording(recording.id);
      return await reply.code(202).send({ queued: true, id: recording.id, windows });
    } catch (error) {
      // The recording changed between the lookup and the queueing.
      if (error instanceof UnknownRecordingError) return reply.code(404).send({ error: 'not_found', message: error.message });
      if (error instanceof RecordingInProgressError) return reply.code(409).send({ error: 'recording', message: error.message });
      throw error;
    }
  });
}
