import { Type } from 'typebox';
import { LantauError } from '../../../platform/errors.js';
import { ListFilters, listPage, timeQuery } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import type { Merchant } from '../../../processing/authorizations.js';
import type { ProcessingContext } from '../../../processing/authorize.js';
import { captureAuthorizationIn, forcePostIn, refundIn } from '../../../processing/clearing.js';
import {
  TRANSACTION_COLUMNS,
  TRANSACTION_FLAGS,
  TRANSACTION_TYPES,
  getTransaction,
  transactionFromRow,
} from '../../../processing/transactions.js';
import { programScopeOf } from '../actor.js';
import {
  Currency,
  MerchantSchema,
  PositiveAmount,
  merchantFromBody,
  sandboxProgram,
} from './authorizations.js';

const MerchantShape = Type.Object({
  name: Type.String(),
  mcc: Type.String(),
  country: Type.Union([Type.String(), Type.Null()]),
  city: Type.Union([Type.String(), Type.Null()]),
  acceptor_id: Type.Union([Type.String(), Type.Null()]),
  acquirer_id: Type.Union([Type.String(), Type.Null()]),
});

export const TransactionSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('transaction'),
    type: StringEnum(TRANSACTION_TYPES),
    card_id: Type.String(),
    cardholder_id: Type.String(),
    account_id: Type.String(),
    authorization_id: Type.Union([Type.String(), Type.Null()]),
    amount: Type.Integer({ description: 'Card currency, minor units' }),
    wallet_amount: Type.Integer({ description: 'What the wallet paid (or got back)' }),
    shortfall_amount: Type.Integer({
      description:
        'What the wallet could not cover, carried by the programme’s cardholder-receivable account',
    }),
    currency: Type.String(),
    merchant_amount: Type.Integer(),
    merchant_currency: Type.String(),
    fx_rate: Type.Union([Type.String(), Type.Null()]),
    fx_markup_bps: Type.Union([Type.Integer(), Type.Null()]),
    merchant: MerchantShape,
    flags: Type.Array(StringEnum(TRANSACTION_FLAGS)),
    source: StringEnum(['api', 'file'] as const),
    settlement_id: Type.Union([Type.String(), Type.Null()]),
    created: Type.String({ format: 'date-time' }),
  },
  { $id: 'Transaction', title: 'Transaction' },
);

const ListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    card_id: Type.Optional(IdString('card')),
    cardholder_id: Type.Optional(IdString()),
    account_id: Type.Optional(IdString()),
    authorization_id: Type.Optional(IdString('auth')),
    settlement_id: Type.Optional(IdString()),
    type: Type.Optional(StringEnum(TRANSACTION_TYPES)),
    'created[gte]': Type.Optional(Type.String({ format: 'date-time' })),
    'created[lte]': Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);

/** Clearing as the network presents it (sandbox programmes), and the cleared transactions it leaves. */
export function registerTransactionRoutes(app: LantauApp, context: ProcessingContext): void {
  app.post(
    '/v1/simulate/authorizations/:id/clear',
    {
      config: { auth: 'program', scope: 'authorizations:write' },
      schema: {
        summary: 'Simulate the network clearing (capturing) an authorization: partial, several, or above it',
        tags: ['simulate'],
        params: Type.Object({ id: IdString('auth') }),
        body: Type.Object(
          {
            amount: PositiveAmount,
            currency: Currency,
            final: Type.Optional(
              Type.Boolean({
                description:
                  'False keeps the rest of the hold for later captures; true (default) releases it',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref('Transaction'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programId = sandboxProgram(request);
      const { amount, currency, final } = request.body;
      return reply.mutate(201, (tx) =>
        captureAuthorizationIn(tx, context, programId, request.params.id, {
          amount,
          currency,
          source: 'api',
          ...(final === undefined ? {} : { final }),
        }),
      );
    },
  );

  app.post(
    '/v1/simulate/refunds',
    {
      config: { auth: 'program', scope: 'authorizations:write' },
      schema: {
        summary: 'Simulate a refund: of an authorization, or to a card with no authorization',
        tags: ['simulate'],
        body: Type.Object(
          {
            authorization_id: Type.Optional(IdString('auth')),
            card_id: Type.Optional(IdString('card')),
            amount: PositiveAmount,
            currency: Currency,
            merchant: Type.Optional(MerchantSchema),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref('Transaction'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programId = sandboxProgram(request);
      const body = request.body;
      const { authorization_id: authorizationId, card_id: cardId, merchant } = body;
      let target: { authorizationId: string } | { card: { id: string }; merchant: Merchant };
      if (authorizationId !== undefined && cardId === undefined) {
        target = { authorizationId };
      } else if (cardId !== undefined && authorizationId === undefined) {
        if (merchant === undefined) {
          throw new LantauError('merchant_required', 'A refund with no authorization names its merchant', {
            param: 'merchant',
          });
        }
        target = { card: { id: cardId }, merchant: merchantFromBody(merchant) };
      } else {
        throw new LantauError(
          'refund_target_invalid',
          'Give authorization_id, or card_id with merchant, not both',
          { param: authorizationId === undefined ? 'card_id' : 'authorization_id' },
        );
      }
      return reply.mutate(201, (tx) =>
        refundIn(tx, context, {
          programId,
          amount: body.amount,
          currency: body.currency,
          source: 'api',
          ...target,
        }),
      );
    },
  );

  app.post(
    '/v1/simulate/force_posts',
    {
      config: { auth: 'program', scope: 'authorizations:write' },
      schema: {
        summary: 'Simulate a force post: a clearing with no authorization, never declined',
        tags: ['simulate'],
        body: Type.Object(
          { card_id: IdString('card'), amount: PositiveAmount, currency: Currency, merchant: MerchantSchema },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref('Transaction'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programId = sandboxProgram(request);
      const body = request.body;
      return reply.mutate(201, (tx) =>
        forcePostIn(tx, context, {
          programId,
          card: { id: body.card_id },
          amount: body.amount,
          currency: body.currency,
          merchant: merchantFromBody(body.merchant),
          source: 'api',
        }),
      );
    },
  );

  app.get(
    '/v1/transactions/:id',
    {
      config: { auth: 'any', scope: 'transactions:read' },
      schema: {
        summary: 'Retrieve a cleared transaction',
        tags: ['transactions'],
        params: Type.Object({ id: IdString('txn') }),
        response: { 200: Type.Ref('Transaction'), ...errorResponses },
      },
    },
    async (request) => getTransaction(context.db, programScopeOf(request), request.params.id),
  );

  app.get(
    '/v1/transactions',
    {
      config: { auth: 'any', scope: 'transactions:read' },
      schema: {
        summary: 'List cleared transactions (captures, refunds, force posts), newest first',
        tags: ['transactions'],
        querystring: ListQuery,
        response: { 200: ListOf(Type.Ref('Transaction')), ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query;
      const { where, params } = new ListFilters()
        .add('program_id = $?', programScopeOf(request))
        .add('card_id = $?', query.card_id)
        .add('cardholder_id = $?', query.cardholder_id)
        .add('account_id = $?', query.account_id)
        .add('authorization_id = $?', query.authorization_id)
        .add('settlement_id = $?', query.settlement_id)
        .add('type = $?', query.type)
        .add('created_at >= $?', timeQuery(query['created[gte]'], 'created[gte]'))
        .add('created_at <= $?', timeQuery(query['created[lte]'], 'created[lte]'));
      return listPage(
        context.db,
        { select: `SELECT ${TRANSACTION_COLUMNS} FROM transactions`, where, params },
        query,
        '/v1/transactions',
        transactionFromRow,
      );
    },
  );
}
