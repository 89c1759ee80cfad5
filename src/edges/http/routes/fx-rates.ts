import { Type } from 'typebox';
import type { Database } from '../../../platform/db/database.js';
import { ListFilters, listPage } from '../../../platform/http/pagination.js';
import { ListOf, PaginationQuery, errorResponses } from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import type { RecordsContext } from '../../../records/outbox.js';
import {
  FX_RATE_COLUMNS,
  RATE_PATTERN_SOURCE,
  SOURCE_PATTERN_SOURCE,
  checkRateCurrency,
  createFxRate,
  fxRateFromRow,
} from '../../../processing/fx.js';
import { actorOf } from '../actor.js';

const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 alpha-3' });

export const FxRateSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('fx_rate'),
    base: Type.String({ description: 'The merchant’s currency: what the rate converts from' }),
    quote: Type.String({ description: 'The card’s currency: what the rate converts to' }),
    rate: Type.String({
      description: 'Quote-currency units per one base-currency unit, an exact decimal without trailing zeros',
    }),
    source: Type.String(),
    valid_from: Type.String({ format: 'date-time' }),
    created: Type.String({ format: 'date-time' }),
  },
  { $id: 'FxRate', title: 'FxRate' },
);

const CreateFxRateBody = Type.Object(
  {
    base: Currency,
    quote: Currency,
    rate: Type.String({
      pattern: RATE_PATTERN_SOURCE,
      maxLength: 22,
      description:
        'Quote-currency units per ONE base-currency unit, as a decimal string ("7.8125"): above 0, below 1,000,000,000, at most 12 digits after the point; no sign, exponent or leading zeros',
    }),
    source: Type.String({
      pattern: SOURCE_PATTERN_SOURCE,
      description: 'Where the rate comes from, such as "ecb" or "operator"',
    }),
    valid_from: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'RFC 3339; from when the rate applies (default now), at most a year ahead',
      }),
    ),
  },
  { additionalProperties: false },
);

const ListFxRatesQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    base: Type.Optional(Currency),
    quote: Type.Optional(Currency),
  },
  { additionalProperties: false },
);

/**
 * The platform's exchange rates. The operator publishes them (no programme has rates of its own: each adds its
 * markup); anyone with fx_rates:read may list them, so a programme can see the rate its cardholders are given.
 */
export function registerFxRateRoutes(
  app: LantauApp,
  context: RecordsContext & { readonly db: Database },
): void {
  app.post(
    '/v1/fx_rates',
    {
      config: { auth: 'operator', scope: 'fx_rates:write' },
      schema: {
        summary: 'Publish an exchange rate',
        tags: ['fx_rates'],
        body: CreateFxRateBody,
        response: { 201: Type.Ref('FxRate'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(201, (tx) => createFxRate(tx, context, request.body, actorOf(request))),
  );

  app.get(
    '/v1/fx_rates',
    {
      config: { auth: 'any', scope: 'fx_rates:read' },
      schema: {
        summary: 'List exchange rates, newest first',
        tags: ['fx_rates'],
        querystring: ListFxRatesQuery,
        response: { 200: ListOf(Type.Ref('FxRate')), ...errorResponses },
      },
    },
    async (request) => {
      const { base, quote, ...page } = request.query;
      if (base !== undefined) checkRateCurrency(base, 'base');
      if (quote !== undefined) checkRateCurrency(quote, 'quote');
      const { where, params } = new ListFilters().add('base = $?', base).add('quote = $?', quote);
      return listPage(
        context.db,
        { select: `SELECT ${FX_RATE_COLUMNS} FROM fx_rates`, where, params },
        page,
        '/v1/fx_rates',
        fxRateFromRow,
      );
    },
  );
}
