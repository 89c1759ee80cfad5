import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  DELIVERY_STATUSES,
  WEBHOOK_DELIVERY_COLUMNS,
  webhookDeliveryFromRow,
  type WebhookDeliveryRow,
} from '../../../delivery/webhooks/deliveries.js';
import {
  DESCRIPTION_LENGTH_MAX,
  ENABLED_EVENTS_MAX,
  EVENT_TYPE_PATTERN_SOURCE,
  PREVIOUS_SECRET_GRACE_MAX_S,
  URL_LENGTH_MAX,
  WEBHOOK_ENDPOINT_COLUMNS,
  WEBHOOK_ENDPOINT_STATUSES,
  createWebhookEndpoint,
  currentEndpointSecret,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
  rotateWebhookEndpointSecret,
  updateWebhookEndpoint,
  webhookEndpointFromRow,
  type WebhookEndpoint,
  type WebhookEndpointRow,
} from '../../../delivery/webhooks/endpoints.js';
import { findProgram, type IssuingContext } from '../../../issuing/programs.js';
import type { Queryable } from '../../../platform/db/database.js';
import { LantauError, notFound } from '../../../platform/errors.js';
import type { ErrorPayload } from '../../../platform/http/errors.js';
import { ListFilters, listPage } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  MetadataInput,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { actorOf, programOfWrite, programScopeOf } from '../actor.js';

const NullableString = Type.Union([Type.String(), Type.Null()]);
const EndpointStatus = StringEnum(WEBHOOK_ENDPOINT_STATUSES);

export const WebhookEndpointSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('webhook_endpoint'),
    program_id: Type.String(),
    url: Type.String(),
    description: NullableString,
    enabled_events: Type.Array(Type.String()),
    status: EndpointStatus,
    metadata: Type.Record(Type.String(), Type.String()),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
    secret: Type.Optional(
      Type.String({
        description:
          'The signing secret (whsec_ + base64), in the answers to create and rotate_secret only: keep it, it is never shown again',
      }),
    ),
  },
  { $id: 'WebhookEndpoint', title: 'WebhookEndpoint' },
);

export const WebhookDeliverySchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('webhook_delivery'),
    program_id: Type.String(),
    webhook_endpoint_id: Type.String(),
    event_id: Type.String(),
    status: StringEnum(DELIVERY_STATUSES),
    attempts: Type.Integer(),
    next_attempt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    last_attempt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    last_status_code: Type.Union([Type.Integer(), Type.Null()]),
    last_error: NullableString,
    manual: Type.Boolean({ description: 'A redelivery someone asked for: tried once' }),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
  },
  { $id: 'WebhookDelivery', title: 'WebhookDelivery' },
);

/** Adds the schemas once, whichever of the routes that use them registers first. */
export function addWebhookSchemas(app: LantauApp): void {
  if (app.getSchema('WebhookEndpoint') === undefined) app.addSchema(WebhookEndpointSchema);
  if (app.getSchema('WebhookDelivery') === undefined) app.addSchema(WebhookDeliverySchema);
}

const Url = Type.String({
  minLength: 1,
  maxLength: URL_LENGTH_MAX,
  description:
    'Where events are POSTed: an absolute http or https URL without credentials (https, on a public address, for a live programme)',
});
const EnabledEvents = Type.Array(Type.String({ maxLength: 100, pattern: EVENT_TYPE_PATTERN_SOURCE }), {
  minItems: 1,
  maxItems: ENABLED_EVENTS_MAX,
  description: 'The event types to send, such as card.created, or ["*"] for every type',
});
const Description = Type.String({ maxLength: DESCRIPTION_LENGTH_MAX });

const CreateEndpointBody = Type.Object(
  {
    url: Url,
    enabled_events: EnabledEvents,
    description: Type.Optional(Description),
    metadata: Type.Optional(MetadataInput),
    program_id: Type.Optional({
      ...IdString('prog'),
      description:
        'The programme the endpoint is for: the operator must give it; a programme key may omit it',
    }),
  },
  { additionalProperties: false },
);

const UpdateEndpointBody = Type.Object(
  {
    url: Type.Optional(Url),
    enabled_events: Type.Optional(EnabledEvents),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    status: Type.Optional(EndpointStatus),
    metadata: Type.Optional(MetadataInput),
  },
  { additionalProperties: false, minProperties: 1 },
);

const RotateSecretBody = Type.Object(
  {
    expire_previous_secret_in: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: PREVIOUS_SECRET_GRACE_MAX_S,
        description:
          'Seconds the previous secret keeps signing too (a second signature in webhook-signature); default 0, at most a day',
      }),
    ),
  },
  { additionalProperties: false },
);

const EndpointListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    program_id: Type.Optional(IdString('prog')),
    status: Type.Optional(EndpointStatus),
  },
  { additionalProperties: false },
);

const DeliveryListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    status: Type.Optional(StringEnum(DELIVERY_STATUSES)),
    event_id: Type.Optional(IdString('evt')),
  },
  { additionalProperties: false },
);

const EndpointParams = Type.Object({ id: IdString('we') });

const DeletedEndpoint = Type.Object({
  id: Type.String(),
  object: Type.Literal('webhook_endpoint'),
  deleted: Type.Literal(true),
});

/**
 * A mutation whose transaction decrypts with keys already in memory (a rotation re-seals the previous secret). If
 * another process rotated the credential key since this one last reloaded, reload and run it once more.
 */
async function withFreshKeys<T>(context: IssuingContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof LantauError) || error.code !== 'data_key_unknown') throw error;
    await context.vault.refresh();
    return run();
  }
}

async function programMode(db: Queryable, programId: string, param = 'program_id') {
  const program = await findProgram(db, programId);
  if (program === undefined) throw notFound('program', programId, param);
  return program.mode;
}

/**
 * The answer to create or rotate: the stored answer of an Idempotency-Key replay holds the endpoint without its
 * secret (a secret is never at rest in the clear), so a replay reads the endpoint's current secret again.
 */
async function withSecret(
  context: IssuingContext,
  request: FastifyRequest,
  answer: WebhookEndpoint | ErrorPayload,
  secret: string | undefined,
): Promise<WebhookEndpoint | ErrorPayload | (WebhookEndpoint & { secret: string })> {
  if ('error' in answer) return answer;
  const shown = secret ?? (await currentEndpointSecret(context, answer.id, programScopeOf(request)));
  return shown === undefined ? answer : { ...answer, secret: shown };
}

/** Webhook endpoints (Stripe's /v1/webhook_endpoints): where a programme's events are sent, signed. */
export function registerWebhookEndpointRoutes(app: LantauApp, context: IssuingContext): void {
  addWebhookSchemas(app);

  app.post(
    '/v1/webhook_endpoints',
    {
      config: { auth: 'any', scope: 'webhook_endpoints:write' },
      schema: {
        summary: 'Create a webhook endpoint; its signing secret is shown in this answer only',
        tags: ['webhook_endpoints'],
        body: CreateEndpointBody,
        response: { 201: Type.Ref('WebhookEndpoint'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { program_id: given, ...input } = request.body;
      const programId = programOfWrite(request, given, 'creates an endpoint for a programme');
      const issued: { secret?: string } = {};
      const answer = await reply.mutate(201, async (tx) => {
        const mode = await programMode(tx, programId);
        const created = await createWebhookEndpoint(
          tx,
          context,
          { id: programId, mode },
          input,
          actorOf(request),
        );
        issued.secret = created.secret;
        return created.endpoint;
      });
      return withSecret(context, request, answer, issued.secret);
    },
  );

  app.get(
    '/v1/webhook_endpoints',
    {
      config: { auth: 'any', scope: 'webhook_endpoints:read' },
      schema: {
        summary: 'List webhook endpoints, newest first',
        tags: ['webhook_endpoints'],
        querystring: EndpointListQuery,
        response: { 200: ListOf(Type.Ref('WebhookEndpoint')), ...errorResponses },
      },
    },
    async (request) => {
      const { program_id: programId, status, ...page } = request.query;
      const { where, params } = new ListFilters()
        .add('program_id = $?', programScopeOf(request))
        .add('program_id = $?', programId)
        .add('status = $?', status);
      return listPage(
        context.db,
        {
          select: `SELECT ${WEBHOOK_ENDPOINT_COLUMNS} FROM webhook_endpoints`,
          where: ['deleted_at IS NULL', ...where],
          params,
        },
        page,
        '/v1/webhook_endpoints',
        (row: WebhookEndpointRow) => webhookEndpointFromRow(row),
      );
    },
  );

  app.get(
    '/v1/webhook_endpoints/:id',
    {
      config: { auth: 'any', scope: 'webhook_endpoints:read' },
      schema: {
        summary: 'Retrieve a webhook endpoint (never its secret)',
        tags: ['webhook_endpoints'],
        params: EndpointParams,
        response: { 200: Type.Ref('WebhookEndpoint'), ...errorResponses },
      },
    },
    async (request) => getWebhookEndpoint(context.db, request.params.id, programScopeOf(request)),
  );

  app.patch(
    '/v1/webhook_endpoints/:id',
    {
      config: { auth: 'any', scope: 'webhook_endpoints:write' },
      schema: {
        summary: 'Update a webhook endpoint’s url, events, description, status or metadata',
        tags: ['webhook_endpoints'],
        params: EndpointParams,
        body: UpdateEndpointBody,
        response: { 200: Type.Ref('WebhookEndpoint'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(200, (tx) =>
        updateWebhookEndpoint(
          tx,
          context,
          request.params.id,
          programScopeOf(request),
          (programId) => programMode(tx, programId),
          request.body,
          actorOf(request),
        ),
      ),
  );

  app.delete(
    '/v1/webhook_endpoints/:id',
    {
      config: { auth: 'any', scope: 'webhook_endpoints:write' },
      schema: {
        summary: 'Delete a webhook endpoint; its pending deliveries fail',
        tags: ['webhook_endpoints'],
        params: EndpointParams,
        response: { 200: DeletedEndpoint, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(200, (tx) =>
        deleteWebhookEndpoint(tx, context, request.params.id, programScopeOf(request), actorOf(request)),
      ),
  );

  app.post(
    '/v1/webhook_endpoints/:id/rotate_secret',
    {
      config: { auth: 'any', scope: 'webhook_endpoints:write' },
      schema: {
        summary: 'Replace the signing secret; the new one is shown in this answer only',
        tags: ['webhook_endpoints'],
        params: EndpointParams,
        body: RotateSecretBody,
        response: { 200: Type.Ref('WebhookEndpoint'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const issued: { secret?: string } = {};
      const answer = await withFreshKeys(context, () =>
        reply.mutate(200, async (tx) => {
          const rotated = await rotateWebhookEndpointSecret(
            tx,
            context,
            request.params.id,
            programScopeOf(request),
            { previousSecretGraceSeconds: request.body.expire_previous_secret_in ?? 0 },
            actorOf(request),
          );
          issued.secret = rotated.secret;
          return rotated.endpoint;
        }),
      );
      return withSecret(context, request, answer, issued.secret);
    },
  );

  app.get(
    '/v1/webhook_endpoints/:id/deliveries',
    {
      config: { auth: 'any', scope: 'webhook_endpoints:read' },
      schema: {
        summary: 'List an endpoint’s deliveries and their latest attempts, newest first',
        tags: ['webhook_endpoints'],
        params: EndpointParams,
        querystring: DeliveryListQuery,
        response: { 200: ListOf(Type.Ref('WebhookDelivery')), ...errorResponses },
      },
    },
    async (request) => {
      const endpoint = await getWebhookEndpoint(context.db, request.params.id, programScopeOf(request));
      const { status, event_id: eventId, ...page } = request.query;
      const { where, params } = new ListFilters()
        .add('endpoint_id = $?', endpoint.id)
        .add('status = $?', status)
        .add('event_id = $?', eventId);
      return listPage(
        context.db,
        { select: `SELECT ${WEBHOOK_DELIVERY_COLUMNS} FROM webhook_deliveries`, where, params },
        page,
        `/v1/webhook_endpoints/${endpoint.id}/deliveries`,
        (row: WebhookDeliveryRow) => webhookDeliveryFromRow(row),
      );
    },
  );
}
