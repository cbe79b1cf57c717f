import { join } from 'node:path';
import Fastify, { LogController, type FastifyError } from 'fastify';
import fastifyStatic from '@fastify/static';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../log.js';
import { healthHttpStatus, type HealthReport } from '../domain/health.js';
import { isRecordingId } from '../store/ids.js';
import { pathOf, registerAuth } from './auth.js';
import type { EventHub } from '../ops/events.js';
import type { RecordingsRepo } from '../store/recordings.js';
import type { Store } from '../store/store.js';
import { registerEventRoutes } from './events.js';
import { registerIntegrationRoutes, type IntegrationRouteDeps } from './integrations-routes.js';
import { registerRecordingRoutes, type RecordingRouteDeps } from './recording-routes.js';
import { registerSummaryRoutes, type SummaryRouteDeps } from './summary-routes.js';
import { registerTranscriptRoutes, transcriptView, type TranscriptRouteDeps } from './transcript-routes.js';
import { registerVocabularyRoutes } from './vocabulary-routes.js';

/**
 * The LAN API and the simulator page. Everything a person or a script needs without SSH:
 * recordings and their audio, the button, the appliance state, health.
 * Every bad request is a 4xx JSON answer; nothing a client sends can reach a 500 or a crash.
 * Who may call what is decided in auth.ts, before any route runs.
 */

export interface HttpDeps {
  /** The shared repositories: recordings, transcripts, jobs, deletions. */
  readonly store: Store;
  readonly recordingsDir: string;
  /** Transcripts; absent when transcription is disabled. */
  readonly transcriber?: TranscriptRouteDeps['transcriber'] | null;
  readonly webDir: string;
  /** The same entry point as the physical button. */
  readonly button: (action: ButtonAction) => void;
  readonly state: () => unknown;
  readonly health: () => Promise<HealthReport>;
  /** Prometheus text exposition; absent until metrics are wired. */
  readonly metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Recording count, bytes and duration for GET /api/summary; absent: no such route. */
  readonly summary?: SummaryRouteDeps['totals'];
  /** Live events for GET /api/events. */
  readonly events: EventHub;
  /** A title set or a recording deleted through the API. */
  readonly onRecordingChange?: RecordingRouteDeps['onChange'];
  /** Integration sinks and their deliveries for GET /api/integrations; absent: none configured. */
  readonly integrations?: IntegrationRouteDeps | null;
  /** The API token (never logged) and whether /metrics needs it. */
  readonly auth: { readonly token: string; readonly metricsAuth: boolean };
  readonly logger: Logger;
}

const ButtonBody = Type.Object(
  { action: Type.Union([Type.Literal('press'), Type.Literal('release'), Type.Literal('toggle')]) },
  { additionalProperties: false },
);
export type ButtonAction = Static<typeof ButtonBody>['action'];

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export type HttpServer = ReturnType<typeof createHttpServer>;

// The return type is inferred: fastify's instance type carries our pino Logger type.
export function createHttpServer(deps: HttpDeps) {
  const app = Fastify({
    // Nothing logs request headers today; the redaction keeps the token out if something starts to,
    // and a logged request carries its path only (a refused query token is still in the URL).
    loggerInstance: deps.logger.child(
      {},
      {
        redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
        serializers: { req: (request: { method?: string; url?: string }) => ({ method: request.method, path: pathOf(request.url ?? '') }) },
      },
    ),
    // The page polls every half second; a line per request would drown the journal.
    logController: new LogController({ disableRequestLogging: true }),
    // Recordings are tiny JSON; a large body is a mistake or an attack.
    bodyLimit: 16 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: true } },
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      return reply.code(400).send({ error: 'bad_request', message: error.message });
    }
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error, path: pathOf(request.url) }, 'request failed');
    return reply.code(status).send({ error: status === 500 ? 'internal' : 'bad_request', message: error.message });
  });

  // Bodiless POST/DELETE still send content-type: application/json (the CSRF rule in auth.ts);
  // fastify's own parser answers an empty JSON body with 400, this one reads it as no body.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    // fastify's parser is synchronous (it calls done); its type allows a promise.
    void parseJson(request, text, done);
  });

  const auth = registerAuth(app, { token: deps.auth.token, metricsAuth: deps.auth.metricsAuth, logger: app.log });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route for ${request.method} ${pathOf(request.url)}` }),
  );

  void app.register(fastifyStatic, { root: deps.webDir, prefix: '/', index: ['index.html'], decorateReply: true });

  // The list with search, date filters and cursor pages; PATCH (title), DELETE and the export.
  registerRecordingRoutes(app, {
    store: deps.store,
    recordingsDir: deps.recordingsDir,
    logger: deps.logger,
    ...(deps.onRecordingChange ? { onChange: deps.onRecordingChange } : {}),
  });
  registerEventRoutes(app, { hub: deps.events, logger: deps.logger });
  if (deps.summary) registerSummaryRoutes(app, { totals: deps.summary, recordingsDir: deps.recordingsDir });

  app.get<{ Params: Static<typeof IdParams> }>('/api/recordings/:id', { schema: { params: IdParams } }, (request, reply) => {
    const recording = findRecording(deps, request.params.id);
    if (!recording) return reply.code(404).send(notFound(request.params.id));
    const transcriber = deps.transcriber;
    if (!transcriber) return recording;
    return { ...recording, transcript: transcriptView({ recordings: deps.store.recordings, transcriber }, recording) };
  });

  app.get<{ Params: Static<typeof IdParams> }>('/api/recordings/:id/audio', { schema: { params: IdParams } }, (request, reply) => {
    const recording = findRecording(deps, request.params.id);
    if (!recording) return reply.code(404).send(notFound(request.params.id));
    if (recording.status === 'recording') {
      return reply.code(409).send({ error: 'conflict', message: 'recording still in progress' });
    }
    if (recording.audioRemovedAtMs !== undefined) {
      return reply.code(410).send({ error: 'gone', message: 'the audio was deleted by the retention policy; the transcript is kept' });
    }
    // sendFile handles Range, ETag and HEAD; the path comes from the database, never from the URL.
    return reply
      .header('content-type', 'audio/wav')
      .header('content-disposition', `inline; filename="${recording.id}.wav"`)
      .sendFile(recording.audioPath, deps.recordingsDir, { acceptRanges: true, cacheControl: false });
  });

  app.post<{ Body: Static<typeof ButtonBody> }>('/api/button', { schema: { body: ButtonBody } }, (request, reply) => {
    deps.button(request.body.action);
    return reply.code(202).send({ accepted: request.body.action });
  });

  if (deps.transcriber) registerTranscriptRoutes(app, { recordings: deps.store.recordings, transcriber: deps.transcriber });

  registerVocabularyRoutes(app, { vocabulary: deps.store.vocabulary });
  registerIntegrationRoutes(app, deps.integrations ?? null);

  app.get('/api/state', () => deps.state());

  app.get('/healthz', async (request, reply) => {
    const report = await deps.health();
    // Anyone may learn whether the box is well; what is wrong with it (paths, devices) needs the token.
    const body = auth.isAuthenticated(request) ? report : { status: report.status, checkedAt: report.checkedAt };
    return reply.code(healthHttpStatus(report)).send(body);
  });

  app.get('/metrics', async (_request, reply) => {
    if (!deps.metrics) return reply.code(404).send({ error: 'not_found', message: 'metrics are not enabled' });
    const { contentType, body } = await deps.metrics();
    return reply.header('content-type', contentType).send(body);
  });

  return app;
}

function findRecording(deps: HttpDeps, id: string): ReturnType<RecordingsRepo['get']> {
  // Ids are generated by us; anything else cannot exist, and never reaches the filesystem.
  if (!isRecordingId(id)) return undefined;
  return deps.store.recordings.get(id);
}

function notFound(id: string): { error: string; message: string } {
  return { error: 'not_found', message: `no recording ${JSON.stringify(id)}` };
}

export function defaultWebDir(projectRoot: string): string {
  return join(projectRoot, 'src', 'http', 'web');
}
