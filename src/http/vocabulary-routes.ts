/**
 * Vocabulary routes (the names and terms sent to whisper as its prompt, edited on the page):
 *   GET /api/vocabulary  -> 200 { terms, limits: { maxTerms, maxTermChars, maxPromptChars } }
 *   PUT /api/vocabulary  { terms: string[] }
 *        -> 200 the same shape, with the list as stored (trimmed, deduplicated);
 *           400 { error: 'bad_request', message, problems: [{ index, message }] } with every
 *           problem at once, so the page can mark each bad term.
 * The bounds and why: src/domain/vocabulary.ts. An edit applies to the next window sent to the
 * engine; transcripts already made keep the list they were made with.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { normaliseVocabulary, VOCABULARY_LIMITS } from '../domain/vocabulary.js';
import type { VocabularyRepo } from '../store/vocabulary.js';

export interface VocabularyRouteDeps {
  readonly vocabulary: Pick<VocabularyRepo, 'get' | 'set'>;
}

// The schema checks the shape only, with room above the bounds: a list a little too long
// must reach normaliseVocabulary, which names every problem, instead of ajv's first message.
// The server's body limit (16 KiB) bounds the rest.
const PutBody = Type.Object(
  { terms: Type.Array(Type.String({ maxLength: 1000 }), { maxItems: 500 }) },
  { additionalProperties: false },
);

function view(terms: readonly string[]): { terms: readonly string[]; limits: typeof VOCABULARY_LIMITS } {
  return { terms, limits: VOCABULARY_LIMITS };
}

// Generic over the logger so the server's instance (typed with our pino Logger) fits as it is.
export function registerVocabularyRoutes<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  deps: VocabularyRouteDeps,
): void {
  app.get('/api/vocabulary', () => view(deps.vocabulary.get()));

  app.put<{ Body: Static<typeof PutBody> }>('/api/vocabulary', { schema: { body: PutBody } }, (request, reply) => {
    const check = normaliseVocabulary(request.body.terms);
    if (!check.ok) {
      return reply.code(400).send({
        error: 'bad_request',
        message: check.problems.map((problem) => problem.message).join('; '),
        problems: check.problems,
      });
    }
    return reply.code(200).send(view(deps.vocabulary.set(check.terms)));
  });
}
