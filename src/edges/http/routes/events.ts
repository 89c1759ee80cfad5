import { Type } from 'typebox';
import { redeliverEvent } from '../../../delivery/webhooks/fan-out.js';
import type { Database } from '../../../platform/db/database.js';
import { notFound } from '../../../platform/errors.js';
import { ListFilters, listPage } from '../../../platform/http/pagination.js';
import { IdString, ListOf, PaginationQuery, errorResponses } from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { eventFromRow, getEvent, type RecordsContext } from '../../../records/outbox.js';
import { actorOf, programScopeOf } from '../actor.js';
import { addWebhookSchemas } from './webhook-endpoints.js';

export const EventSchema = Type.Object(
  {
    id: Type.String(),
    type: Type.String(),
    created: Type.String({ format: 'date-time' }),
    program_id: Type.Union([Type.String(), Type.Null()]),
    data: Type.Object({ object: Type.Unknown() }),
  },
  { $id: 'Event', title: 'Event' },
);

const EventListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    type: Type.Optional(Type.String({ maxLength: 100, description: 'Only events of this type' })),
  },
  { additionalProperties: false },
);

const RedeliverBody = Type.Object(
  {
    webhook_endpoint_id: Type.Optional({
      ...IdString('we'),
      description: 'Only to this endpoint (it must be enabled and subscribe to the event’s type)',
    }),
  },
  { additionalProperties: false },
);

/** The outbox seen through the API, as Stripe's /v1/events: a programme sees its own events, the operator all. */
export function registerEventRoutes(app: LantauApp, deps: RecordsContext & { readonly db: Database }): void {
  addWebhookSchemas(app);
  app.get(
    '/v1/events',
    {
      config: { auth: 'any', scope: 'events:read' },
      schema: {
        summary: 'List events, newest first',
        tags: ['events'],
        querystring: EventListQuery,
        response: { 200: ListOf(Type.Ref('Event')), ...errorResponses },
      },
    },
    async (request) => {
      const principal = request.principal;
      const { where, params } = new ListFilters()
        .add('program_id = $?', principal?.kind === 'program' ? principal.programId : undefined)
        .add('type = $?', request.query.type);
      return listPage(
        deps.db,
        { select: 'SELECT id, type, program_id, created, data FROM events', where, params },
        request.query,
        '/v1/events',
        eventFromRow,
      );
    },
  );

  app.get(
    '/v1/events/:id',
    {
      config: { auth: 'any', scope: 'events:read' },
      schema: {
        summary: 'Retrieve an event',
        tags: ['events'],
        params: Type.Object({ id: IdString('evt') }),
        response: { 200: Type.Ref('Event'), ...errorResponses },
      },
    },
    async (request) => {
      const principal = request.principal;
      const event = await getEvent(
        deps.db,
        request.params.id,
        principal?.kind === 'program' ? principal.programId : undefined,
      );
      if (event === undefined) throw notFound('event', request.params.id);
      return event;
    },
  );

  app.post(
    '/v1/events/:id/redeliver',
    {
      config: { auth: 'any', scope: 'webhook_endpoints:write' },
      schema: {
        summary:
          'Send an event again to every enabled endpoint that subscribes to it, or to one; each new delivery is tried once',
        tags: ['events'],
        params: Type.Object({ id: IdString('evt') }),
        body: RedeliverBody,
        response: { 200: ListOf(Type.Ref('WebhookDelivery')), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(200, async (tx) => ({
        object: 'list' as const,
        url: `/v1/events/${request.params.id}/redeliver`,
        has_more: false,
        data: await redeliverEvent(
          tx,
          deps,
          request.params.id,
          programScopeOf(request),
          request.body.webhook_endpoint_id,
          actorOf(request),
        ),
      })),
  );
}
