import type { FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { LantauError, invalidRequest } from '../../../platform/errors.js';
import { canonicalIp } from '../../../issuing/personal-data.js';
import { ListFilters, listPage, timeQuery } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import {
  AUTHORIZATION_COLUMNS,
  ENTRY_MODES,
  authorizationFromRow,
  getAuthorization,
  type Merchant,
} from '../../../processing/authorizations.js';
import {
  askProgram,
  authorize,
  authorizeIn,
  type AskedProgram,
  type AuthorizationRequest,
  type ProcessingContext,
} from '../../../processing/authorize.js';
import {
  expireAuthorizationIn,
  incrementAuthorizationIn,
  reverseAuthorizationIn,
} from '../../../processing/lifecycle.js';
import { programKeyOf, programScopeOf } from '../actor.js';

const STATUSES = ['pending', 'closed', 'reversed', 'expired', 'declined'] as const;
const Amount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Minor units' });
export const PositiveAmount = Type.Integer({
  minimum: 1,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'Minor units',
});
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217' });
const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength });

export const MerchantSchema = Type.Object(
  {
    name: Text(100),
    mcc: Type.String({ pattern: '^[0-9]{4}$' }),
    country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
    city: Type.Optional(Text(100)),
    acceptor_id: Type.Optional(Text(15)),
    acquirer_id: Type.Optional(Type.String({ pattern: '^[0-9]{1,11}$' })),
  },
  { additionalProperties: false },
);

const NetworkSchema = Type.Object(
  {
    stan: Type.String({ pattern: '^[0-9]{6}$', description: 'System trace audit number (field 11)' }),
    rrn: Type.String({ pattern: '^[0-9A-Za-z]{12}$', description: 'Retrieval reference number (field 37)' }),
    transmission_time: Type.String({ pattern: '^[0-9]{10}$', description: 'MMDDhhmmss (field 7)' }),
  },
  {
    additionalProperties: false,
    description: 'The network message’s identity: a repeat gets the first answer',
  },
);

const RuleMatchSchema = Type.Object({
  id: Type.String(),
  version: Type.Integer(),
  name: Type.String(),
  action: StringEnum(['decline', 'review', 'allow'] as const),
  mode: StringEnum(['active', 'shadow'] as const),
});

const RiskSchema = Type.Object(
  {
    risk_score: Type.Integer({
      minimum: 0,
      maximum: 99,
      description: 'The model’s score: 0 least, 99 most likely fraud',
    }),
    model_version: Type.String(),
    top_features: Type.Array(
      Type.Object({
        feature: Type.String(),
        value: Type.Union([Type.Number(), Type.Boolean(), Type.String(), Type.Null()]),
        contribution: Type.Number({
          description: 'Its share of the score’s log-odds; positive raises the risk',
        }),
      }),
      { description: 'The features that moved the score most, largest first' },
    ),
    verdict: StringEnum(['decline', 'review', 'pass'] as const),
    rules: Type.Array(RuleMatchSchema, { description: 'Active rules that matched, in evaluation order' }),
    shadow_rules: Type.Array(RuleMatchSchema, {
      description: 'Shadow rules that matched: what they would have done',
    }),
    protection: Type.Union([
      Type.Object({ protection: StringEnum(['card_testing', 'burst'] as const), signal: Type.String() }),
      Type.Null(),
    ]),
  },
  { description: 'The risk assessment; null for authorizations decided before risk existed' },
);

export const AuthorizationSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('authorization'),
    card_id: Type.String(),
    cardholder_id: Type.String(),
    account_id: Type.String(),
    status: StringEnum(STATUSES),
    approved: Type.Boolean(),
    response_code: Type.String(),
    decline_reason: Type.Union([Type.String(), Type.Null()]),
    decline_message: Type.Union([Type.String(), Type.Null()]),
    requested_amount: Type.Integer(),
    approved_amount: Type.Integer(),
    amount: Type.Integer(),
    currency: Type.String(),
    merchant_amount: Type.Integer(),
    merchant_currency: Type.String(),
    fx_rate: Type.Union([Type.String(), Type.Null()]),
    fx_markup_bps: Type.Union([Type.Integer(), Type.Null()]),
    fx_source: Type.Union([Type.String(), Type.Null()]),
    merchant: Type.Object({
      name: Type.String(),
      mcc: Type.String(),
      country: Type.Union([Type.String(), Type.Null()]),
      city: Type.Union([Type.String(), Type.Null()]),
      acceptor_id: Type.Union([Type.String(), Type.Null()]),
      acquirer_id: Type.Union([Type.String(), Type.Null()]),
    }),
    entry_mode: StringEnum(ENTRY_MODES),
    partial_allowed: Type.Boolean(),
    expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    checks: Type.Array(
      Type.Object({ check: Type.String(), result: Type.String(), detail: Type.Optional(Type.String()) }),
    ),
    request_history: Type.Array(
      Type.Object({
        kind: StringEnum(['authorization', 'increment', 'reversal', 'expiry', 'advice'] as const),
        requested_amount: Type.Integer(),
        amount: Type.Integer(),
        approved: Type.Boolean(),
        response_code: Type.String(),
        decline_reason: Type.Union([Type.String(), Type.Null()]),
        created: Type.String({ format: 'date-time' }),
      }),
      { description: 'Every request this authorization answered, in order, each with its own answer' },
    ),
    cleared_amount: Type.Integer({ description: 'Captured so far, card currency' }),
    program_decision: Type.Union([
      Type.Object({
        outcome: StringEnum(['approved', 'declined', 'webhook_timeout', 'webhook_error'] as const),
        amount: Type.Union([Type.Integer(), Type.Null()]),
        stand_in: Type.Union([StringEnum(['approve', 'decline'] as const), Type.Null()]),
        latency_ms: Type.Integer(),
        error: Type.Union([Type.String(), Type.Null()]),
      }),
      Type.Null(),
    ]),
    risk: Type.Union([RiskSchema, Type.Null()]),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
  },
  { $id: 'Authorization', title: 'Authorization' },
);

const SimulateBody = Type.Object(
  {
    card_id: Type.Optional(IdString('card')),
    pan: Type.Optional(Type.String({ pattern: '^[0-9]{13,19}$' })),
    exp_month: Type.Optional(Type.Integer({ minimum: 1, maximum: 12 })),
    exp_year: Type.Optional(Type.Integer({ minimum: 2000, maximum: 2200 })),
    cvv2: Type.Optional(Type.String({ pattern: '^[0-9]{3}$' })),
    amount: Amount,
    currency: Currency,
    merchant: MerchantSchema,
    entry_mode: Type.Optional(StringEnum(ENTRY_MODES)),
    partial_allowed: Type.Optional(Type.Boolean()),
    ip_address: Type.Optional(
      Type.String({
        minLength: 2,
        maxLength: 45,
        pattern: '^[0-9A-Fa-f:.]+$',
        description: 'The IPv4 or IPv6 address the purchase came from (e-commerce); risk counts per address',
      }),
    ),
    device_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'The device fingerprint, counted before the IP address',
      }),
    ),
    network: Type.Optional(NetworkSchema),
  },
  { additionalProperties: false },
);

const AuthorizationParams = Type.Object({ id: IdString('auth') });

const ListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    card_id: Type.Optional(IdString('card')),
    cardholder_id: Type.Optional(IdString()),
    status: Type.Optional(StringEnum(STATUSES)),
    'created[gte]': Type.Optional(Type.String({ format: 'date-time' })),
    'created[lte]': Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);

/** The simulator is for sandbox programmes, as Lithic's and Stripe's test helpers are for test mode. */
export function sandboxProgram(request: FastifyRequest): string {
  const principal = programKeyOf(request);
  if (principal.mode !== 'sandbox') {
    throw new LantauError('sandbox_only', 'The simulator works on sandbox programmes only', {
      type: 'permission_error',
      status: 403,
    });
  }
  return principal.programId;
}

/** An IP address in the one form its blind index is taken of, as a cardholder's is (monitoring joins them). */
function ipAddressOf(given: string): string {
  const ip = canonicalIp(given);
  if (ip === undefined) {
    throw invalidRequest('ip_address_invalid', 'ip_address must be an IPv4 or IPv6 address', 'ip_address');
  }
  return ip;
}

/** A merchant as the engine records it: every field present, absent ones null. */
export function merchantFromBody(merchant: Static<typeof MerchantSchema>): Merchant {
  return {
    name: merchant.name,
    mcc: merchant.mcc,
    country: merchant.country ?? null,
    city: merchant.city ?? null,
    acceptor_id: merchant.acceptor_id ?? null,
    acquirer_id: merchant.acquirer_id ?? null,
  };
}

export function registerAuthorizationRoutes(app: LantauApp, context: ProcessingContext): void {
  app.post(
    '/v1/simulate/authorizations',
    {
      config: { auth: 'program', scope: 'authorizations:write' },
      schema: {
        summary: 'Simulate a card network asking to authorize a purchase (sandbox programmes)',
        tags: ['simulate'],
        body: SimulateBody,
        response: { 201: Type.Ref('Authorization'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programId = sandboxProgram(request);
      const body = request.body;
      if ((body.card_id === undefined) === (body.pan === undefined)) {
        throw new LantauError(
          'card_reference_invalid',
          'Give card_id or pan (with exp_month and exp_year), not both',
          {
            param: body.card_id === undefined ? 'card_id' : 'pan',
          },
        );
      }
      const merchant = merchantFromBody(body.merchant);
      const decision: AuthorizationRequest = {
        programId,
        card:
          body.card_id !== undefined
            ? { id: body.card_id }
            : {
                pan: body.pan ?? '',
                ...(body.exp_month === undefined ? {} : { expMonth: body.exp_month }),
                ...(body.exp_year === undefined ? {} : { expYear: body.exp_year }),
                ...(body.cvv2 === undefined ? {} : { cvv2: body.cvv2 }),
              },
        amount: body.amount,
        currency: body.currency,
        merchant,
        entryMode: body.entry_mode ?? 'ecommerce',
        partialAllowed: body.partial_allowed ?? false,
        ...(body.device_id === undefined ? {} : { deviceId: body.device_id }),
        ...(body.ip_address === undefined ? {} : { ipAddress: ipAddressOf(body.ip_address) }),
        ...(body.network === undefined
          ? {}
          : {
              network: {
                acquirerId: merchant.acquirer_id ?? '',
                stan: body.network.stan,
                rrn: body.network.rrn,
                transmissionTime: body.network.transmission_time,
              },
            }),
      };
      // Without an Idempotency-Key the request joins the group commit; with one, its key is stored in the same
      // transaction as its decision.
      if (request.headers['idempotency-key'] === undefined) {
        const authorization = await authorize(context, decision);
        return reply.code(201).send(authorization);
      }
      // The programme's endpoint is asked before the transaction opens, and not again for a replayed key.
      let asked: AskedProgram | undefined;
      return reply.mutate(
        201,
        (tx) => authorizeIn(tx, context, decision, asked),
        async () => {
          asked = await askProgram(context, decision);
        },
      );
    },
  );

  app.post(
    '/v1/simulate/authorizations/:id/increment',
    {
      config: { auth: 'program', scope: 'authorizations:write' },
      schema: {
        summary: 'Simulate an incremental authorization',
        tags: ['simulate'],
        params: AuthorizationParams,
        body: Type.Object({ amount: PositiveAmount }, { additionalProperties: false }),
        response: { 200: Type.Ref('Authorization'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programId = sandboxProgram(request);
      return reply.mutate(200, (tx) =>
        incrementAuthorizationIn(tx, context, programId, request.params.id, { amount: request.body.amount }),
      );
    },
  );

  app.post(
    '/v1/simulate/authorizations/:id/reverse',
    {
      config: { auth: 'program', scope: 'authorizations:write' },
      schema: {
        summary: 'Simulate a reversal: of `amount`, or of everything still held when it is absent',
        tags: ['simulate'],
        params: AuthorizationParams,
        body: Type.Object({ amount: Type.Optional(PositiveAmount) }, { additionalProperties: false }),
        response: { 200: Type.Ref('Authorization'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programId = sandboxProgram(request);
      return reply.mutate(200, (tx) =>
        reverseAuthorizationIn(
          tx,
          context,
          programId,
          request.params.id,
          request.body.amount === undefined ? {} : { amount: request.body.amount },
        ),
      );
    },
  );

  app.post(
    '/v1/simulate/authorizations/:id/expire',
    {
      config: { auth: 'program', scope: 'authorizations:write' },
      schema: {
        summary: 'Simulate the hold expiring now',
        tags: ['simulate'],
        params: AuthorizationParams,
        response: { 200: Type.Ref('Authorization'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programId = sandboxProgram(request);
      return reply.mutate(200, (tx) => expireAuthorizationIn(tx, context, programId, request.params.id));
    },
  );

  app.get(
    '/v1/authorizations/:id',
    {
      config: { auth: 'any', scope: 'authorizations:read' },
      schema: {
        summary: 'Retrieve an authorization with the checks that decided it',
        tags: ['authorizations'],
        params: AuthorizationParams,
        response: { 200: Type.Ref('Authorization'), ...errorResponses },
      },
    },
    async (request) => getAuthorization(context.db, programScopeOf(request), request.params.id),
  );

  app.get(
    '/v1/authorizations',
    {
      config: { auth: 'any', scope: 'authorizations:read' },
      schema: {
        summary: 'List authorizations, newest first',
        tags: ['authorizations'],
        querystring: ListQuery,
        response: { 200: ListOf(Type.Ref('Authorization')), ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query;
      const { where, params } = new ListFilters()
        .add('program_id = $?', programScopeOf(request))
        .add('card_id = $?', query.card_id)
        .add('cardholder_id = $?', query.cardholder_id)
        .add('status = $?', query.status)
        .add('created_at >= $?', timeQuery(query['created[gte]'], 'created[gte]'))
        .add('created_at <= $?', timeQuery(query['created[lte]'], 'created[lte]'));
      return listPage(
        context.db,
        { select: `SELECT ${AUTHORIZATION_COLUMNS} FROM authorizations`, where, params },
        query,
        '/v1/authorizations',
        authorizationFromRow,
      );
    },
  );
}
