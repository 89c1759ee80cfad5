import { Type } from 'typebox';
import {
  BUILT_IN_PROVIDERS,
  PROVIDER_NAME_PATTERN,
  REASONS_MAX,
  type VerificationProviders,
} from '../../../compliance/kyc/providers.js';
import { VERIFICATION_STATUSES } from '../../../compliance/kyc/status.js';
import { LIMIT_NAMES, readKycTiers, updateKycTiers } from '../../../compliance/kyc/tiers.js';
import {
  VERIFICATION_COLUMNS,
  getVerification,
  verificationFromRow,
} from '../../../compliance/kyc/verifications.js';
import {
  applyVerificationOutcome,
  prepareVerification,
  recordVerification,
  type PreparedVerification,
} from '../../../issuing/kyc.js';
import { assertSameProgram, type IssuingContext } from '../../../issuing/programs.js';
import { invalidRequest, notFound } from '../../../platform/errors.js';
import { listPage } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { actorOf, programScopeOf } from '../actor.js';

export const KycVerificationSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('kyc_verification'),
    program_id: Type.String(),
    cardholder_id: Type.String(),
    provider: Type.String(),
    provider_reference: Type.Union([Type.String(), Type.Null()]),
    status: StringEnum(VERIFICATION_STATUSES),
    reasons: Type.Array(Type.String()),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
    completed: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'KycVerification', title: 'KycVerification' },
);

const Reason = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'A code, never personal data' });

const StartBody = Type.Object(
  {
    provider: Type.Optional(
      Type.String({
        pattern: PROVIDER_NAME_PATTERN.source,
        description:
          'sandbox (sandbox programmes, the default there) or manual (review by a person; live default)',
      }),
    ),
    test_outcome: Type.Optional(
      StringEnum(VERIFICATION_STATUSES, {
        description: 'Sandbox provider only: the outcome to answer with (default verified)',
      }),
    ),
  },
  { additionalProperties: false },
);

const OutcomeBody = Type.Object(
  {
    outcome: StringEnum(VERIFICATION_STATUSES),
    reasons: Type.Optional(Type.Array(Reason, { maxItems: REASONS_MAX })),
  },
  { additionalProperties: false },
);

const CardholderParams = Type.Object({ id: IdString('chd') }, { additionalProperties: false });
const VerificationParams = Type.Object(
  { id: IdString('chd'), verification_id: IdString('kyc') },
  { additionalProperties: false },
);
const ProgramParams = Type.Object({ id: IdString('prog') }, { additionalProperties: false });

const LIMIT_MAX = Number.MAX_SAFE_INTEGER;
const limitDescriptions: Readonly<Record<(typeof LIMIT_NAMES)[number], string>> = {
  max_balance: 'The most one wallet may hold after a load, minor units',
  max_loads_per_year: 'The most the cardholder may load in the currency over a rolling year, minor units',
  max_per_transaction: 'The largest authorization approved, card currency minor units',
};

const LimitsSchema = Type.Object(
  Object.fromEntries(
    LIMIT_NAMES.map((name) => [name, Type.Integer({ description: limitDescriptions[name] })]),
  ) as Record<(typeof LIMIT_NAMES)[number], ReturnType<typeof Type.Integer>>,
);

/** A tier's changes: per ISO 4217 currency, any of the three limits (all three for a currency not set before). */
const TierChanges = Type.Unsafe<Record<string, Partial<Record<(typeof LIMIT_NAMES)[number], number>>>>({
  type: 'object',
  propertyNames: { pattern: '^[A-Z]{3}$' },
  maxProperties: 20,
  additionalProperties: {
    type: 'object',
    properties: Object.fromEntries(
      LIMIT_NAMES.map((name) => [
        name,
        { type: 'integer', minimum: 0, maximum: LIMIT_MAX, description: limitDescriptions[name] },
      ]),
    ),
    additionalProperties: false,
    minProperties: 1,
  },
  description: 'Per currency (ISO 4217), the limits to change',
});

const TiersBody = Type.Object(
  { unverified: Type.Optional(TierChanges), verified: Type.Optional(TierChanges) },
  { additionalProperties: false, minProperties: 1 },
);

const TiersSchema = Type.Object({
  object: Type.Literal('kyc_tiers'),
  program_id: Type.String(),
  unverified: Type.Record(Type.String(), LimitsSchema, {
    description: 'Applies to cardholders unverified, pending, documents_required or rejected',
  }),
  verified: Type.Record(Type.String(), LimitsSchema),
});

/**
 * KYC: verifications of a cardholder (`/v1/cardholders/{id}/verifications`) and a programme's tier limits
 * (`/v1/programs/{id}/kyc_tiers`). Scopes `kyc:read` and `kyc:write`; the operator's analysts hold them.
 */
export function registerKycRoutes(
  app: LantauApp,
  context: IssuingContext,
  providers: VerificationProviders = BUILT_IN_PROVIDERS,
): void {
  app.addSchema(KycVerificationSchema);

  app.post(
    '/v1/cardholders/:id/verifications',
    {
      config: { auth: 'any', scope: 'kyc:write' },
      schema: {
        summary:
          'Start verifying a cardholder: the provider’s first answer becomes the verification’s status and the cardholder’s kyc_status',
        tags: ['kyc'],
        params: CardholderParams,
        body: StartBody,
        response: { 201: Type.Ref('KycVerification'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programScope = programScopeOf(request);
      // The provider is asked outside the transaction, and not again for a replayed Idempotency-Key.
      let prepared: PreparedVerification | undefined;
      return reply.mutate(
        201,
        async (tx) => {
          if (prepared === undefined) throw new Error('the verification was not prepared');
          return recordVerification(tx, context, prepared, programScope, actorOf(request));
        },
        async () => {
          prepared = await prepareVerification(
            context,
            request.params.id,
            programScope,
            request.body,
            providers,
          );
        },
      );
    },
  );

  app.get(
    '/v1/cardholders/:id/verifications',
    {
      config: { auth: 'any', scope: 'kyc:read' },
      schema: {
        summary: 'List a cardholder’s verifications, newest first',
        tags: ['kyc'],
        params: CardholderParams,
        querystring: PaginationQuery,
        response: { 200: ListOf(Type.Ref('KycVerification')), ...errorResponses },
      },
    },
    async (request) => {
      const scope = programScopeOf(request);
      const holder = await context.db.query(
        'SELECT 1 FROM cardholders WHERE id = $1 AND ($2::text IS NULL OR program_id = $2)',
        [request.params.id, scope ?? null],
      );
      if (holder.rows.length === 0) throw notFound('cardholder', request.params.id);
      return listPage(
        context.db,
        {
          select: `SELECT ${VERIFICATION_COLUMNS} FROM kyc_verifications`,
          where: ['cardholder_id = $1'],
          params: [request.params.id],
        },
        request.query,
        `/v1/cardholders/${request.params.id}/verifications`,
        verificationFromRow,
      );
    },
  );

  app.get(
    '/v1/cardholders/:id/verifications/:verification_id',
    {
      config: { auth: 'any', scope: 'kyc:read' },
      schema: {
        summary: 'Retrieve a verification',
        tags: ['kyc'],
        params: VerificationParams,
        response: { 200: Type.Ref('KycVerification'), ...errorResponses },
      },
    },
    async (request) =>
      getVerification(context.db, request.params.verification_id, request.params.id, programScopeOf(request)),
  );

  app.post(
    '/v1/cardholders/:id/verifications/:verification_id/outcome',
    {
      config: { auth: 'any', scope: 'kyc:write' },
      schema: {
        summary:
          'Record an open verification’s outcome (a reviewer’s decision for the manual provider; the sandbox provider’s later answer in tests)',
        tags: ['kyc'],
        params: VerificationParams,
        body: OutcomeBody,
        response: { 200: Type.Ref('KycVerification'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programScope = programScopeOf(request);
      const { id, verification_id: verificationId } = request.params;
      return reply.mutate(200, async (tx) => {
        const verification = await getVerification(tx, verificationId, id, programScope);
        if (providers.get(verification.provider)?.outcomesThroughApi !== true) {
          throw invalidRequest(
            'outcome_from_provider',
            `The ${verification.provider} provider sends this verification’s outcome itself`,
            'outcome',
          );
        }
        return applyVerificationOutcome(
          tx,
          context,
          { id: verificationId, cardholderId: id, programScope },
          {
            status: request.body.outcome,
            ...(request.body.reasons === undefined ? {} : { reasons: request.body.reasons }),
          },
          actorOf(request),
        );
      });
    },
  );

  app.get(
    '/v1/programs/:id/kyc_tiers',
    {
      config: { auth: 'any', scope: 'kyc:read' },
      schema: {
        summary: 'Retrieve a programme’s KYC tier limits (its own over the defaults)',
        tags: ['kyc'],
        params: ProgramParams,
        response: { 200: TiersSchema, ...errorResponses },
      },
    },
    async (request) => {
      assertSameProgram(programScopeOf(request), request.params.id);
      return readKycTiers(context.db, request.params.id);
    },
  );

  app.post(
    '/v1/programs/:id/kyc_tiers',
    {
      config: { auth: 'any', scope: 'kyc:write' },
      schema: {
        summary: 'Change a programme’s KYC tier limits: what the body names changes, the rest stays',
        tags: ['kyc'],
        params: ProgramParams,
        body: TiersBody,
        response: { 200: TiersSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      assertSameProgram(programScopeOf(request), request.params.id);
      return reply.mutate(200, (tx) =>
        updateKycTiers(tx, context, request.params.id, request.body, actorOf(request)),
      );
    },
  );
}
