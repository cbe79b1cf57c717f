/**
 * GET /api/integrations: each configured sink (MQTT, webhooks, the notes folder) with its
 * connection, queue length, counts and last error, and its newest deliveries (delivered or still
 * waiting, with attempts and the error of the last one). `?limit=` deliveries per sink (1..100,
 * default 20). 200 { sinks: [] } when none is configured.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { DeliveryView, SinkStatus } from '../integrations/integrations.js';

export interface IntegrationRouteDeps {
  readonly status: () => readonly SinkStatus[];
  readonly recent: (sink: string, limit: number) => readonly DeliveryView[];
}

const Query = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) }, { additionalProperties: false });

export function registerIntegrationRoutes<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  deps: IntegrationRouteDeps | null,
): void {
  app.get<{ Querystring: Static<typeof Query> }>('/api/integrations', { schema: { querystring: Query } }, (request) => {
    if (!deps) return { sinks: [] };
    const limit = request.query.limit ?? 20;
    return { sinks: deps.status().map((status) => ({ ...status, deliveries: deps.recent(status.sink, limit) })) };
  });
}
