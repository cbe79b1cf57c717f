/**
 * Recording routes: list and search, name, delete, export.
 *
 *   GET    /api/recordings?limit=&before=&offset=&q=&from=&to=
 *          Newest first, cursor pages (`nextCursor` -> `before`). With `q`: only recordings whose
 *          title or transcript holds every word (plain words, no operators), each item with a
 *          `snippet`: an array of `{ text, match }` parts (render `match` parts highlighted, all
 *          of them as text: nothing in it is markup). 400 for a query with no words in it.
 *   PATCH  /api/recordings/:id   {"title": "..." | null}
 *          200 the recording; trimmed, empty or null clears it; 404 unknown.
 *   DELETE /api/recordings/:id
 *          200 {deleted, id, audioRemoved}; 404 unknown; 409 while it is being recorded. The rows
 *          go in one transaction, then the file (src/store/delete-recording.ts); a file that
 *          cannot be removed now is removed at the next start-up, and the answer is still 200.
 *   GET    /api/export?from=&to=
 *          A tar archive, streamed: for each recording started in [from, to) its WAV and its
 *          transcript as txt, srt, vtt and json, and a manifest.json (written last, so it lists
 *          what the archive really holds), with its Content-Length (src/http/export-archive.ts).
 *          400 for a missing, empty or too long range or too many recordings in it.
 *
 * Times (`from`, `to`) are epoch milliseconds or ISO 8601 (`2026-12-02`, `2026-12-02T10:00:00Z`,
 * with an offset or without one, which means UTC); `from` is inclusive, `to` exclusive, both
 * against the recording's start. Ids are checked with isRecordingId before any lookup, and only
 * paths stored in the database reach the filesystem.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, RawServerDefault } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { TITLE_MAX_LENGTH, type Recording } from '../domain/recording.js';
import type { Logger } from '../log.js';
import { deleteRecording } from '../store/delete-recording.js';
import { isRecordingId } from '../store/ids.js';
import { InvalidCursorError } from '../store/recordings.js';
import { InvalidSearchError } from '../store/search.js';
import type { Store } from '../store/store.js';
import { planExport, streamExport } from './export-archive.js';

export interface RecordingRouteDeps {
  readonly store: Store;
  readonly recordingsDir: string;
  /** A recording's title changed or it was deleted: live views (the event hub) follow. */
  readonly onChange?: (change: { readonly kind: 'changed' | 'deleted'; readonly id: string; readonly recording?: Recording }) => void;
  /** For files that could not be deleted or exported; the request logger has no place here after the reply. */
  readonly logger: Logger;
  /** At most this many recordings per export (default 500). */
  readonly maxExportRecordings?: number;
  /** At most this long a range per export (default 366 days). */
  readonly maxExportRangeMs?: number;
  readonly nowMs?: () => number;
}

const DAY_MS = 86_400_000;
const TIME = Type.String({ minLength: 1, maxLength: 40 });

const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    from: Type.Optional(TIME),
    to: Type.Optional(TIME),
  },
  { additionalProperties: false },
);

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

// No control characters: a title is shown in the page, the manifest and file managers.
const TitleBody = Type.Object(
  { title: Type.Union([Type.String({ maxLength: TITLE_MAX_LENGTH, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }), Type.Null()]) },
  { additionalProperties: false },
);

const ExportQuery = Type.Object({ from: TIME, to: TIME }, { additionalProperties: false });

const ISO_PATTERN = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** Epoch ms or ISO 8601 (no offset means UTC); undefined for anything else. */
function parseTimeMs(value: string): number | undefined {
  if (/^\d{1,15}$/.test(value)) return Number(value);
  const match = ISO_PATTERN.exec(value);
  if (!match) return undefined;
  // Date.parse reads a date-time without an offset as local time; the API says UTC everywhere.
  const hasTime = value.includes('T');
  const ms = Date.parse(hasTime && match[1] === undefined ? `${value}Z` : value);
  return Number.isFinite(ms) ? ms : undefined;
}

class BadRequest extends Error {}

function timeRange(from: string | undefined, to: string | undefined): { fromMs?: number; toMs?: number } {
  const fromMs = from === undefined ? undefined : parseTimeMs(from);
  const toMs = to === undefined ? undefined : parseTimeMs(to);
  if (from !== undefined && fromMs === undefined) throw new BadRequest(`from: not epoch ms or ISO 8601: ${JSON.stringify(from)}`);
  if (to !== undefined && toMs === undefined) throw new BadRequest(`to: not epoch ms or ISO 8601: ${JSON.stringify(to)}`);
  if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) throw new BadRequest('the range is empty: from must be before to');
  return { ...(fromMs === undefined ? {} : { fromMs }), ...(toMs === undefined ? {} : { toMs }) };
}

function badRequest(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(400).send({ error: 'bad_request', message });
}

function notFound(reply: FastifyReply, id: string): FastifyReply {
  return reply.code(404).send({ error: 'not_found', message: `no recording ${JSON.stringify(id)}` });
}

// Generic over the logger so the server's instance (typed with our pino Logger) fits as it is.
export function registerRecordingRoutes<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  deps: RecordingRouteDeps,
): void {
  const { store } = deps;
  const nowMs = deps.nowMs ?? Date.now;
  // The server coerces types (right for query strings), which would turn {"title": 5} into "5"
  // and {"title": false} into "false". A JSON body has real types, so the PATCH is checked
  // without coercion.
  const strictAjv = new Ajv({ allErrors: true, coerceTypes: false, removeAdditional: false, strict: false });

  app.get<{ Querystring: Static<typeof ListQuery> }>('/api/recordings', { schema: { querystring: ListQuery } }, (request, reply) => {
    const { limit, before, offset, q, from, to } = request.query;
    try {
      const range = timeRange(from, to);
      return q === undefined ? store.recordings.list({ limit, before, offset, ...range }) : store.recordings.search({ q, limit, before, offset, ...range });
    } catch (error) {
      if (error instanceof BadRequest || error instanceof InvalidCursorError || error instanceof InvalidSearchError) return badRequest(reply, error.message);
      throw error;
    }
  });

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof TitleBody> }>(
    '/api/recordings/:id',
    { schema: { params: IdParams, body: TitleBody }, validatorCompiler: ({ schema }) => strictAjv.compile(schema) },
    (request, reply) => {
      const { id } = request.params;
      const updated = isRecordingId(id) ? store.recordings.setTitle(id, request.body.title) : undefined;
      if (!updated) return notFound(reply, id);
      deps.onChange?.({ kind: 'changed', id, recording: updated });
      return updated;
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>('/api/recordings/:id', { schema: { params: IdParams } }, async (request, reply) => {
    const { id } = request.params;
    // Not one of our ids: it cannot exist, and it goes nowhere near the database or the disk.
    if (!isRecordingId(id)) return notFound(reply, id);
    const result = await deleteRecording(store, deps.recordingsDir, id, deps.logger, nowMs);
    switch (result.kind) {
      case 'not_found':
        return notFound(reply, id);
      case 'recording':
        return reply.code(409).send({ error: 'conflict', message: 'recording still in progress; stop it first' });
      case 'deleted':
        deps.onChange?.({ kind: 'deleted', id });
        return { deleted: true, id, audioRemoved: result.audioRemoved };
    }
  });

  app.get<{ Querystring: Static<typeof ExportQuery> }>('/api/export', { schema: { querystring: ExportQuery } }, async (request, reply) => {
    let fromMs: number;
    let toMs: number;
    try {
      const range = timeRange(request.query.from, request.query.to);
      if (range.fromMs === undefined || range.toMs === undefined) throw new BadRequest('from and to are required');
      ({ fromMs, toMs } = range);
    } catch (error) {
      if (error instanceof BadRequest) return badRequest(reply, error.message);
      throw error;
    }
    const maxRangeMs = deps.maxExportRangeMs ?? 366 * DAY_MS;
    if (toMs - fromMs > maxRangeMs) return badRequest(reply, `the range is longer than ${Math.round(maxRangeMs / DAY_MS)} days`);
    const maxCount = deps.maxExportRecordings ?? 500;
    // One more than allowed tells "too many" without counting the whole table.
    const page = store.recordings.list({ limit: Math.min(maxCount + 1, 1000), fromMs, toMs });
    if (page.items.length > maxCount) return badRequest(reply, `more than ${maxCount} recordings in the range; export a shorter one`);
    // Oldest first: the order a person reads an archive listing in.
    const recordings = [...page.items].reverse();
    const folder = `scout-export-${compactTime(fromMs)}-${compactTime(toMs)}`;
    const plan = await planExport({ ...deps, nowMs }, recordings, folder, { fromMs, toMs });
    const archive = Readable.from(streamExport(plan), { objectMode: false });
    archive.on('error', (error) => deps.logger.error({ err: error }, 'export archive failed part-way; the client gets a truncated download'));
    return reply
      .header('content-type', 'application/x-tar')
      .header('content-disposition', `attachment; filename="${folder}.tar"`)
      .header('content-length', plan.bytes)
      .send(archive);
  });
}

/** 2026-12-02T10:00:00.000Z -> 20261202T100000Z: safe in a file name on every system. */
function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z').replace(/[-:]/g, '');
}
