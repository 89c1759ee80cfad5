import { Type } from 'typebox';
import {
  API_KEY_COLUMNS,
  apiKeyFromRow,
  assertCanGrant,
  checkScopes,
  createApiKey,
  getApiKey,
  revokeApiKey,
} from '../../../issuing/api-keys.js';
import {
  PROGRAM_COLUMNS,
  assertSameProgram,
  createProgram,
  getProgram,
  programFromRow,
  updateProgram,
  type IssuingContext,
} from '../../../issuing/programs.js';
import { listPage } from '../../../platform/http/pagination.js';
import { IdString, ListOf, PaginationQuery, errorResponses } from '../../../platform/http/schemas.js';
import { MetadataInput } from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { fundProgram, programBalances } from '../../../issuing/funding.js';
import { actorOf, programScopeOf } from '../actor.js';

const Metadata = MetadataInput;
const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 alpha-3' });

export const ProgramSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('program'),
    name: Type.String(),
    bin: Type.String(),
    pan_length: Type.Integer(),
    currencies: Type.Array(Type.String()),
    default_currency: Type.String(),
    region: Type.String(),
    card_validity_months: Type.Integer(),
    mode: Type.Union([Type.Literal('sandbox'), Type.Literal('live')]),
    time_zone: Type.String(),
    status: Type.Union([Type.Literal('active'), Type.Literal('suspended')]),
    fx_markup_bps: Type.Integer(),
    hold_days: Type.Integer(),
    extended_hold_days: Type.Integer(),
    metadata: Type.Record(Type.String(), Type.String()),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
  },
  { $id: 'Program', title: 'Program' },
);

export const ApiKeySchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('api_key'),
    program_id: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
    scopes: Type.Array(Type.String()),
    mode: Type.Union([Type.Literal('sandbox'), Type.Literal('live')]),
    last4: Type.String(),
    created: Type.String({ format: 'date-time' }),
    revoked: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    secret: Type.Optional(
      Type.String({ description: 'Only in the answer to the request that created the key' }),
    ),
  },
  { $id: 'ApiKey', title: 'ApiKey' },
);

const CreateProgramBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    bin: Type.String({ pattern: '^[0-9]{6}([0-9]{2})?$', description: '6 or 8 digits' }),
    pan_length: Type.Optional(Type.Integer({ minimum: 13, maximum: 19, default: 16 })),
    currencies: Type.Array(Currency, { minItems: 1, maxItems: 20, description: 'The first is the default' }),
    region: Type.String({
      pattern: '^[a-z]{2}(-[a-z0-9]{1,16})?$',
      description: 'Where the programme’s data lives',
    }),
    card_validity_months: Type.Optional(Type.Integer({ minimum: 1, maximum: 120, default: 36 })),
    mode: Type.Union([Type.Literal('sandbox'), Type.Literal('live')]),
    time_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, default: 'Asia/Hong_Kong' })),
    fx_markup_bps: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_000,
        description: 'Added to currency conversions, basis points',
      }),
    ),
    hold_days: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 31, description: 'Authorization hold, days (7)' }),
    ),
    extended_hold_days: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 31, description: 'Hold for lodging and car rental, days (31)' }),
    ),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const UpdateProgramBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    currencies: Type.Optional(Type.Array(Currency, { minItems: 1, maxItems: 20 })),
    card_validity_months: Type.Optional(Type.Integer({ minimum: 1, maximum: 120 })),
    time_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])),
    fx_markup_bps: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_000,
        description: 'Added to currency conversions, basis points',
      }),
    ),
    hold_days: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 31, description: 'Authorization hold, days (7)' }),
    ),
    extended_hold_days: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 31, description: 'Hold for lodging and car rental, days (31)' }),
    ),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false, minProperties: 1 },
);

const CreateApiKeyBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    scopes: Type.Array(Type.String({ maxLength: 64 }), {
      minItems: 1,
      maxItems: 64,
      description: 'resource:read, resource:write, cards:reveal, *:read or *',
    }),
  },
  { additionalProperties: false },
);

const ProgramParams = Type.Object({ id: IdString('prog') });
const KeyParams = Type.Object({ id: IdString('prog'), key_id: IdString('key') });

/** Programmes (tenants) and their API keys. A programme key sees and manages only its own programme. */
export function registerProgramRoutes(app: LantauApp, context: IssuingContext): void {
  app.post(
    '/v1/programs',
    {
      config: { auth: 'operator', scope: 'programs:write' },
      schema: {
        summary: 'Create a programme',
        tags: ['programs'],
        body: CreateProgramBody,
        response: { 201: Type.Ref('Program'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(201, (tx) => createProgram(tx, context, request.body, actorOf(request))),
  );

  app.get(
    '/v1/programs',
    {
      config: { auth: 'any', scope: 'programs:read' },
      schema: {
        summary: 'List programmes, newest first',
        tags: ['programs'],
        querystring: PaginationQuery,
        response: { 200: ListOf(Type.Ref('Program')), ...errorResponses },
      },
    },
    async (request) => {
      const own = programScopeOf(request);
      return listPage(
        context.db,
        {
          select: `SELECT ${PROGRAM_COLUMNS} FROM programs`,
          where: own === undefined ? [] : ['id = $1'],
          params: own === undefined ? [] : [own],
        },
        request.query,
        '/v1/programs',
        programFromRow,
      );
    },
  );

  app.get(
    '/v1/programs/:id',
    {
      config: { auth: 'any', scope: 'programs:read' },
      schema: {
        summary: 'Retrieve a programme',
        tags: ['programs'],
        params: ProgramParams,
        response: { 200: Type.Ref('Program'), ...errorResponses },
      },
    },
    async (request) => {
      assertSameProgram(programScopeOf(request), request.params.id);
      return getProgram(context.db, request.params.id);
    },
  );

  app.patch(
    '/v1/programs/:id',
    {
      config: { auth: 'operator', scope: 'programs:write' },
      schema: {
        summary: 'Update a programme',
        tags: ['programs'],
        params: ProgramParams,
        body: UpdateProgramBody,
        response: { 200: Type.Ref('Program'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(200, (tx) =>
        updateProgram(tx, context, request.params.id, request.body, actorOf(request)),
      ),
  );

  app.post(
    '/v1/programs/:id/api_keys',
    {
      config: { auth: 'any', scope: 'api_keys:write' },
      schema: {
        summary: 'Create an API key; its secret is shown in this answer only',
        tags: ['api_keys'],
        params: ProgramParams,
        body: CreateApiKeyBody,
        response: { 201: Type.Ref('ApiKey'), ...errorResponses },
      },
    },
    async (request, reply) => {
      assertSameProgram(programScopeOf(request), request.params.id);
      // A scope that does not exist is named as such, whoever asks, before asking whether the key may grant it.
      checkScopes(request.body.scopes);
      if (request.principal?.kind === 'program')
        assertCanGrant(request.principal.scopes, request.body.scopes);
      // The secret is in this answer only: the answer stored for an Idempotency-Key replay holds the key without
      // it, so the secret is never at rest in the clear.
      const issued: { secret?: string } = {};
      const key = await reply.mutate(201, async (tx) => {
        const created = await createApiKey(
          tx,
          context,
          { programId: request.params.id, name: request.body.name ?? null, scopes: request.body.scopes },
          actorOf(request),
        );
        issued.secret = created.secret;
        return created.key;
      });
      return issued.secret === undefined ? key : { ...key, secret: issued.secret };
    },
  );

  app.get(
    '/v1/programs/:id/api_keys',
    {
      config: { auth: 'any', scope: 'api_keys:read' },
      schema: {
        summary: 'List a programme’s API keys (never their secrets)',
        tags: ['api_keys'],
        params: ProgramParams,
        querystring: PaginationQuery,
        response: { 200: ListOf(Type.Ref('ApiKey')), ...errorResponses },
      },
    },
    async (request) => {
      assertSameProgram(programScopeOf(request), request.params.id);
      await getProgram(context.db, request.params.id);
      return listPage(
        context.db,
        {
          select: `SELECT ${API_KEY_COLUMNS} FROM api_keys`,
          where: [`kind = 'program'`, 'program_id = $1'],
          params: [request.params.id],
        },
        request.query,
        `/v1/programs/${request.params.id}/api_keys`,
        apiKeyFromRow,
      );
    },
  );

  app.post(
    '/v1/programs/:id/api_keys/:key_id/revoke',
    {
      config: { auth: 'any', scope: 'api_keys:write' },
      schema: {
        summary: 'Revoke an API key at once',
        tags: ['api_keys'],
        params: KeyParams,
        response: { 200: Type.Ref('ApiKey'), ...errorResponses },
      },
    },
    async (request, reply) => {
      assertSameProgram(programScopeOf(request), request.params.id);
      const principal = request.principal;
      if (principal?.kind === 'program') {
        // A narrow key may not take away a broader one: it may revoke only keys whose scopes it could grant.
        const target = await getApiKey(context.db, request.params.id, request.params.key_id);
        assertCanGrant(principal.scopes, target.scopes);
      }
      return reply.mutate(200, (tx) =>
        revokeApiKey(tx, context, request.params.id, request.params.key_id, actorOf(request)),
      );
    },
  );

  app.post(
    '/v1/programs/:id/fundings',
    {
      config: { auth: 'operator', scope: 'programs:write' },
      schema: {
        summary: 'Record a deposit by the programme: loads into wallets draw on it',
        tags: ['programs'],
        params: ProgramParams,
        body: Type.Object(
          {
            amount: Type.Integer({
              minimum: 1,
              maximum: Number.MAX_SAFE_INTEGER,
              description: 'Minor units',
            }),
            currency: Type.String({ pattern: '^[A-Z]{3}$' }),
            reference: Type.Optional(
              Type.String({ minLength: 1, maxLength: 255, description: 'The bank transfer' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: ProgramFundingSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(201, (tx) => fundProgram(tx, context, request.params.id, request.body, actorOf(request))),
  );

  app.get(
    '/v1/programs/:id/balances',
    {
      config: { auth: 'any', scope: 'programs:read' },
      schema: {
        summary: 'What the programme has deposited and not yet loaded, per currency',
        tags: ['programs'],
        params: ProgramParams,
        response: {
          200: Type.Object({ object: Type.Literal('list'), data: Type.Array(ProgramBalanceSchema) }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      assertSameProgram(programScopeOf(request), request.params.id);
      return { object: 'list' as const, data: await programBalances(context.db, request.params.id) };
    },
  );
}

const ProgramFundingSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('program_funding'),
  program_id: Type.String(),
  amount: Type.Integer(),
  currency: Type.String(),
  reference: Type.Union([Type.String(), Type.Null()]),
  created: Type.String({ format: 'date-time' }),
});

const ProgramBalanceSchema = Type.Object({
  object: Type.Literal('program_balance'),
  currency: Type.String(),
  available: Type.Integer(),
});
