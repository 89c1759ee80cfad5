import { Type } from 'typebox';
import type { IssuingContext } from '../../../issuing/programs.js';
import {
  MOVEMENT_COLUMNS,
  WALLET_SELECT,
  SETTABLE_WALLET_STATUSES,
  WALLET_STATUSES,
  createWallet,
  getWallet,
  loadWallet,
  recordLoadDecline,
  movementFromRow,
  unloadWallet,
  updateWallet,
  walletFromRow,
  type MovementKind,
} from '../../../issuing/wallets.js';
import { ListFilters, listPage } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { actorOf, programScopeOf } from '../actor.js';
import { Currency, Metadata } from './cardholders.js';

const WalletStatus = StringEnum(WALLET_STATUSES);
const MinorUnits = Type.Integer({ description: 'Minor units of the currency (HKD 12.50 is 1250)' });

export const AccountSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('account'),
    program_id: Type.String(),
    cardholder_id: Type.String(),
    currency: Type.String(),
    status: WalletStatus,
    balance: Type.Object({
      available: MinorUnits,
      pending: MinorUnits,
      posted: MinorUnits,
    }),
    metadata: Type.Record(Type.String(), Type.String()),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
  },
  { $id: 'Account', title: 'Account' },
);

export const AccountMovementSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Union([Type.Literal('load'), Type.Literal('unload')]),
    program_id: Type.String(),
    account_id: Type.String(),
    cardholder_id: Type.String(),
    amount: MinorUnits,
    currency: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    metadata: Type.Record(Type.String(), Type.String()),
    created: Type.String({ format: 'date-time' }),
  },
  { $id: 'AccountMovement', title: 'AccountMovement' },
);

const CreateAccountBody = Type.Object(
  {
    cardholder_id: IdString('chd'),
    currency: Currency,
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const UpdateAccountBody = Type.Object(
  {
    status: Type.Optional(
      StringEnum(SETTABLE_WALLET_STATUSES, {
        description: 'frozen is not set here: only a confirmed sanctions match freezes an account',
      }),
    ),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false, minProperties: 1 },
);

const MovementBody = Type.Object(
  {
    amount: Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Minor units, positive',
    }),
    currency: Currency,
    description: Type.Optional(Type.String({ maxLength: 500 })),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const AccountListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    cardholder_id: Type.Optional(IdString('chd')),
    currency: Type.Optional(Currency),
    status: Type.Optional(WalletStatus),
    program_id: Type.Optional(IdString('prog')),
  },
  { additionalProperties: false },
);

const AccountParams = Type.Object({ id: IdString('acct') });

/** Wallets as `/v1/accounts`: balances from the ledger, loads and unloads against the programme's funding. */
export function registerAccountRoutes(app: LantauApp, context: IssuingContext): void {
  app.post(
    '/v1/accounts',
    {
      config: { auth: 'program', scope: 'accounts:write' },
      schema: {
        summary: 'Open an account (wallet) for a cardholder in one of the programme’s currencies',
        tags: ['accounts'],
        body: CreateAccountBody,
        response: { 201: Type.Ref('Account'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programId = programScopeOf(request);
      if (programId === undefined) throw new Error('a programme route without a programme principal');
      return reply.mutate(201, (tx) => createWallet(tx, context, programId, request.body, actorOf(request)));
    },
  );

  app.get(
    '/v1/accounts',
    {
      config: { auth: 'any', scope: 'accounts:read' },
      schema: {
        summary: 'List accounts, newest first',
        tags: ['accounts'],
        querystring: AccountListQuery,
        response: { 200: ListOf(Type.Ref('Account')), ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query;
      const { where, params } = new ListFilters()
        .add('w.program_id = $?', programScopeOf(request))
        .add('w.program_id = $?', query.program_id)
        .add('w.cardholder_id = $?', query.cardholder_id)
        .add('w.currency = $?', query.currency)
        .add('w.status = $?', query.status);
      return listPage(
        context.db,
        { select: WALLET_SELECT, where, params, idColumn: 'w.id' },
        query,
        '/v1/accounts',
        walletFromRow,
      );
    },
  );

  app.get(
    '/v1/accounts/:id',
    {
      config: { auth: 'any', scope: 'accounts:read' },
      schema: {
        summary: 'Retrieve an account with its balance',
        tags: ['accounts'],
        params: AccountParams,
        response: { 200: Type.Ref('Account'), ...errorResponses },
      },
    },
    async (request) => getWallet(context.db, request.params.id, programScopeOf(request)),
  );

  app.patch(
    '/v1/accounts/:id',
    {
      config: { auth: 'any', scope: 'accounts:write' },
      schema: {
        summary: 'Update an account’s status or metadata',
        tags: ['accounts'],
        params: AccountParams,
        body: UpdateAccountBody,
        response: { 200: Type.Ref('Account'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(200, (tx) =>
        updateWallet(tx, context, request.params.id, programScopeOf(request), request.body, actorOf(request)),
      ),
  );

  for (const [kind, path, move] of [
    ['load', 'loads', loadWallet],
    ['unload', 'unloads', unloadWallet],
  ] as const) {
    app.post(
      `/v1/accounts/:id/${path}`,
      {
        config: { auth: 'program', scope: 'accounts:write' },
        schema: {
          summary:
            kind === 'load'
              ? 'Load money into the account from the programme’s funding account'
              : 'Unload money from the account back to the programme’s funding account',
          tags: ['accounts'],
          params: AccountParams,
          body: MovementBody,
          response: { 201: Type.Ref('AccountMovement'), ...errorResponses },
        },
      },
      async (request, reply) => {
        try {
          return await reply.mutate(201, (tx) =>
            move(tx, context, request.params.id, programScopeOf(request), request.body, actorOf(request)),
          );
        } catch (error) {
          if (kind === 'load') {
            await recordLoadDecline(
              context,
              request.params.id,
              programScopeOf(request),
              request.body,
              error,
            ).catch((failure: unknown) => {
              // The caller is owed the refusal; monitoring missing one attempt is logged, not answered.
              request.log.error({ err: failure }, 'a refused load could not be recorded');
            });
          }
          throw error;
        }
      },
    );

    app.get(
      `/v1/accounts/:id/${path}`,
      {
        config: { auth: 'any', scope: 'accounts:read' },
        schema: {
          summary: `List the account’s ${path}, newest first`,
          tags: ['accounts'],
          params: AccountParams,
          querystring: PaginationQuery,
          response: { 200: ListOf(Type.Ref('AccountMovement')), ...errorResponses },
        },
      },
      async (request) => {
        const wallet = await getWallet(context.db, request.params.id, programScopeOf(request));
        const movementKind: MovementKind = kind;
        return listPage(
          context.db,
          {
            select: `SELECT ${MOVEMENT_COLUMNS} FROM wallet_movements`,
            where: ['wallet_id = $1', 'kind = $2'],
            params: [wallet.id, movementKind],
          },
          request.query,
          `/v1/accounts/${wallet.id}/${path}`,
          movementFromRow,
        );
      },
    );
  }
}
