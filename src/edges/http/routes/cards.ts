import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { createRevealSession, revealCard } from '../../../issuing/card-reveal.js';
import {
  CARD_COLUMNS,
  CARD_STATUSES,
  CLIENT_STATUS_REASONS,
  CARD_TYPES,
  RENEWAL_REASONS,
  cardFromRow,
  createCard,
  getCard,
  renewCard,
  updateCard,
} from '../../../issuing/cards.js';
import type { IssuingContext } from '../../../issuing/programs.js';
import { SpendingControlsSchema } from '../../../issuing/spending-controls.js';
import { ListFilters, listPage } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import { MetadataInput } from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { actorOf, programKeyOf, programScopeOf } from '../actor.js';

const Metadata = MetadataInput;

export const CardSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('card'),
    cardholder_id: Type.String(),
    account_id: Type.String(),
    type: StringEnum(CARD_TYPES),
    status: StringEnum(CARD_STATUSES),
    status_reason: Type.Union([Type.String(), Type.Null()]),
    currency: Type.String(),
    last4: Type.String(),
    exp_month: Type.Integer(),
    exp_year: Type.Integer(),
    spending_controls: SpendingControlsSchema,
    memo: Type.Union([Type.String(), Type.Null()]),
    metadata: Type.Record(Type.String(), Type.String()),
    replaces: Type.Union([Type.String(), Type.Null()]),
    replaced_by: Type.Union([Type.String(), Type.Null()]),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
  },
  { $id: 'Card', title: 'Card' },
);

const CardDetailsSchema = Type.Object(
  {
    object: Type.Literal('card_details'),
    card_id: Type.String(),
    pan: Type.String(),
    cvv2: Type.String(),
    exp_month: Type.Integer(),
    exp_year: Type.Integer(),
  },
  { $id: 'CardDetails', title: 'CardDetails' },
);

const RevealSessionSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('card_reveal_session'),
    card_id: Type.String(),
    url: Type.String(),
    expires_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'CardRevealSession', title: 'CardRevealSession' },
);

export const cardSchemas = [CardSchema, CardDetailsSchema, RevealSessionSchema];

const CreateCardBody = Type.Object(
  {
    cardholder_id: IdString(),
    account_id: IdString(),
    type: StringEnum(CARD_TYPES),
    currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$', description: 'Defaults to the account’s' })),
    spending_controls: Type.Optional(SpendingControlsSchema),
    memo: Type.Optional(Type.String({ maxLength: 500 })),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const UpdateCardBody = Type.Object(
  {
    status: Type.Optional(StringEnum(CARD_STATUSES)),
    status_reason: Type.Optional(StringEnum(CLIENT_STATUS_REASONS)),
    spending_controls: Type.Optional(SpendingControlsSchema),
    memo: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false, minProperties: 1 },
);

const RenewBody = Type.Object(
  { reason: Type.Optional(StringEnum(RENEWAL_REASONS)) },
  { additionalProperties: false },
);

const RevealSessionBody = Type.Object(
  {
    allowed_origin: Type.Optional(
      Type.String({
        pattern: '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$',
        maxLength: 300,
        description: 'The origin allowed to frame the reveal page (CSP frame-ancestors); none when absent',
      }),
    ),
  },
  { additionalProperties: false },
);

const CardListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    cardholder_id: Type.Optional(IdString()),
    account_id: Type.Optional(IdString()),
    status: Type.Optional(StringEnum(CARD_STATUSES)),
    type: Type.Optional(StringEnum(CARD_TYPES)),
  },
  { additionalProperties: false },
);

const CardParams = Type.Object({ id: IdString('card') });

/** Where links to the reveal page point: LANTAU_PUBLIC_URL, or the address this request reached. */
function baseUrl(request: FastifyRequest, publicUrl: string | undefined): string {
  return publicUrl ?? `${request.protocol}://${request.host}`;
}

export function registerCardRoutes(
  app: LantauApp,
  context: IssuingContext,
  options: { readonly publicUrl?: string } = {},
): void {
  app.post(
    '/v1/cards',
    {
      config: { auth: 'program', scope: 'cards:write' },
      schema: {
        summary: 'Issue a virtual card',
        tags: ['cards'],
        body: CreateCardBody,
        response: { 201: Type.Ref('Card'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(201, (tx) =>
        createCard(tx, context, programKeyOf(request).programId, request.body, actorOf(request)),
      ),
  );

  app.get(
    '/v1/cards',
    {
      config: { auth: 'any', scope: 'cards:read' },
      schema: {
        summary: 'List cards, newest first',
        tags: ['cards'],
        querystring: CardListQuery,
        response: { 200: ListOf(Type.Ref('Card')), ...errorResponses },
      },
    },
    async (request) => {
      const { where, params } = new ListFilters()
        .add('program_id = $?', programScopeOf(request))
        .add('cardholder_id = $?', request.query.cardholder_id)
        .add('account_id = $?', request.query.account_id)
        .add('status = $?', request.query.status)
        .add('type = $?', request.query.type);
      return listPage(
        context.db,
        { select: `SELECT ${CARD_COLUMNS} FROM cards`, where, params },
        request.query,
        '/v1/cards',
        cardFromRow,
      );
    },
  );

  app.get(
    '/v1/cards/:id',
    {
      config: { auth: 'any', scope: 'cards:read' },
      schema: {
        summary: 'Retrieve a card (never its number)',
        tags: ['cards'],
        params: CardParams,
        response: { 200: Type.Ref('Card'), ...errorResponses },
      },
    },
    async (request) => getCard(context.db, programScopeOf(request), request.params.id),
  );

  app.patch(
    '/v1/cards/:id',
    {
      config: { auth: 'program', scope: 'cards:write' },
      schema: {
        summary: 'Pause, resume or close a card; change its controls, memo or metadata',
        tags: ['cards'],
        params: CardParams,
        body: UpdateCardBody,
        response: { 200: Type.Ref('Card'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(200, (tx) =>
        updateCard(
          tx,
          context,
          programKeyOf(request).programId,
          request.params.id,
          request.body,
          actorOf(request),
        ),
      ),
  );

  app.post(
    '/v1/cards/:id/renew',
    {
      config: { auth: 'program', scope: 'cards:write' },
      schema: {
        summary: 'Issue a replacement with a new number and expiry, linked to this card',
        tags: ['cards'],
        params: CardParams,
        body: RenewBody,
        response: { 201: Type.Ref('Card'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(201, (tx) =>
        renewCard(
          tx,
          context,
          programKeyOf(request).programId,
          request.params.id,
          request.body.reason ?? 'expiring',
          actorOf(request),
        ),
      ),
  );

  app.post(
    '/v1/cards/:id/reveal',
    {
      config: { auth: 'program', scope: 'cards:reveal' },
      schema: {
        summary:
          'Show the card’s number, CVV2 and expiry (audited; never stored, even under an Idempotency-Key)',
        tags: ['cards'],
        params: CardParams,
        response: { 200: Type.Ref('CardDetails'), ...errorResponses },
      },
    },
    async (request, reply) => {
      // Not reply.mutate: an idempotency record would store the card number in the clear.
      void reply.header('cache-control', 'no-store');
      return revealCard(context, programKeyOf(request).programId, request.params.id, actorOf(request));
    },
  );

  app.post(
    '/v1/cards/:id/reveal_sessions',
    {
      config: { auth: 'program', scope: 'cards:reveal' },
      schema: {
        summary: 'A single-use link, valid 60 seconds, to a page that shows the card to its cardholder',
        tags: ['cards'],
        params: CardParams,
        body: RevealSessionBody,
        response: { 201: Type.Ref('CardRevealSession'), ...errorResponses },
      },
    },
    async (request, reply) => {
      // Not reply.mutate either: a replayed answer would hand out the same single-use link twice.
      void reply.code(201).header('cache-control', 'no-store');
      return createRevealSession(
        context,
        programKeyOf(request).programId,
        request.params.id,
        {
          baseUrl: baseUrl(request, options.publicUrl),
          ...(request.body.allowed_origin === undefined
            ? {}
            : { allowedOrigin: request.body.allowed_origin }),
        },
        actorOf(request),
      );
    },
  );
}
