import { Type } from 'typebox';
import { assertSameProgram } from '../../../issuing/programs.js';
import { ListFilters, listPage } from '../../../platform/http/pagination.js';
import { IdString, ListOf, PaginationQuery, errorResponses } from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import {
  SETTLEMENT_COLUMNS,
  checkSettlementDate,
  getSettlement,
  settleDayIn,
  settlementFromRow,
  settlementReport,
  settlementReportCsv,
  settlementTransactions,
  type SettlementContext,
} from '../../../processing/settlement.js';
import { actorOf, programOfWrite, programScopeOf } from '../actor.js';
import { Currency } from './authorizations.js';

const Amount = (description: string) => Type.Integer({ description });
const LocalDate = Type.String({
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$',
  description: 'A day in the programme’s time zone, YYYY-MM-DD',
});

const LedgerFigures = Type.Object({
  count: Type.Integer(),
  amount: Amount('Card currency, minor units'),
  shortfall_amount: Amount('Carried by the cardholder-receivable account'),
});

export const SettlementSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('settlement'),
    program_id: Type.String(),
    currency: Type.String(),
    settlement_date: Type.String({ description: 'The programme’s local day, YYYY-MM-DD' }),
    time_zone: Type.String({ description: 'The programme’s time zone when the day was settled' }),
    window_start: Type.String({ format: 'date-time', description: 'Local midnight that began the day, UTC' }),
    window_end: Type.String({ format: 'date-time', description: 'Local midnight that ended it (excluded)' }),
    transaction_count: Type.Integer(),
    capture_count: Type.Integer(),
    capture_amount: Amount('Card currency, minor units'),
    refund_count: Type.Integer(),
    refund_amount: Amount('Card currency, minor units'),
    force_post_count: Type.Integer(),
    force_post_amount: Amount('Card currency, minor units'),
    shortfall_amount: Amount(
      'Of captures and force posts, what wallets could not cover (on the cardholder-receivable account)',
    ),
    net_amount: Amount(
      'Captures + force posts − refunds: what the programme owes the network; negative, what it is owed',
    ),
    transfer_id: Type.Union([Type.String(), Type.Null()], {
      description:
        'The ledger transfer between card settlement and the programme’s bank; null when the net is 0',
    }),
    reconciliation: Type.Object(
      {
        source: Type.Literal('ledger'),
        account_id: Type.String(),
        capture: LedgerFigures,
        refund: LedgerFigures,
        force_post: LedgerFigures,
        net_amount: Type.Integer(),
        matched: Type.Literal(true),
      },
      { description: 'The same totals computed from the ledger’s postings alone' },
    ),
    created: Type.String({ format: 'date-time' }),
  },
  { $id: 'Settlement', title: 'Settlement' },
);

const SettlementReportSchema = Type.Object({
  object: Type.Literal('settlement_report'),
  settlement: Type.Ref('Settlement'),
  transactions: Type.Array(Type.Ref('Transaction')),
});

const ListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    program_id: Type.Optional(IdString('prog')),
    currency: Type.Optional(Currency),
    settlement_date: Type.Optional(LocalDate),
  },
  { additionalProperties: false },
);

const CreateBody = Type.Object(
  {
    currency: Currency,
    date: LocalDate,
    program_id: Type.Optional({
      ...IdString('prog'),
      description: 'The programme to settle: the operator must give it; a programme key may omit it',
    }),
  },
  { additionalProperties: false },
);

const Params = Type.Object({ id: IdString('stl') });

/** Daily settlements per programme and currency, and their reports (JSON and CSV). */
export function registerSettlementRoutes(app: LantauApp, context: SettlementContext): void {
  app.post(
    '/v1/settlements',
    {
      config: { auth: 'any', scope: 'settlements:write' },
      schema: {
        summary:
          'Settle a programme’s ended local day in one currency now (the scheduler does it after every midnight); a day already settled is returned as it was',
        tags: ['settlements'],
        body: CreateBody,
        response: { 201: Type.Ref('Settlement'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { program_id: given, currency, date } = request.body;
      const programId = programOfWrite(request, given, 'settles a programme’s day');
      return reply.mutate(201, (tx) =>
        settleDayIn(tx, context, { programId, currency, date }, actorOf(request)),
      );
    },
  );

  app.get(
    '/v1/settlements',
    {
      config: { auth: 'any', scope: 'settlements:read' },
      schema: {
        summary: 'List settlements, newest first',
        tags: ['settlements'],
        querystring: ListQuery,
        response: { 200: ListOf(Type.Ref('Settlement')), ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query;
      const scope = programScopeOf(request);
      if (scope !== undefined && query.program_id !== undefined) assertSameProgram(scope, query.program_id);
      const { where, params } = new ListFilters()
        .add('program_id = $?', scope ?? query.program_id)
        .add('currency = $?', query.currency)
        .add(
          'settlement_date = $?::date',
          query.settlement_date === undefined
            ? undefined
            : checkSettlementDate(query.settlement_date, 'settlement_date'),
        );
      return listPage(
        context.db,
        { select: `SELECT ${SETTLEMENT_COLUMNS} FROM settlements`, where, params },
        query,
        '/v1/settlements',
        settlementFromRow,
      );
    },
  );

  app.get(
    '/v1/settlements/:id',
    {
      config: { auth: 'any', scope: 'settlements:read' },
      schema: {
        summary: 'Retrieve a settlement',
        tags: ['settlements'],
        params: Params,
        response: { 200: Type.Ref('Settlement'), ...errorResponses },
      },
    },
    async (request) => getSettlement(context.db, programScopeOf(request), request.params.id),
  );

  app.get(
    '/v1/settlements/:id/report',
    {
      config: { auth: 'any', scope: 'settlements:read' },
      schema: {
        summary: 'A settlement’s report: its totals, the ledger’s figures and one line per transaction',
        tags: ['settlements'],
        params: Params,
        response: { 200: SettlementReportSchema, ...errorResponses },
      },
    },
    async (request) => {
      const settlement = await getSettlement(context.db, programScopeOf(request), request.params.id);
      return settlementReport(settlement, await settlementTransactions(context.db, settlement));
    },
  );

  app.get(
    '/v1/settlements/:id/report.csv',
    {
      config: { auth: 'any', scope: 'settlements:read' },
      schema: {
        summary:
          'The report as CSV: a line per transaction (amounts in minor units), then total lines (id "total")',
        tags: ['settlements'],
        params: Params,
        response: {
          200: {
            description: 'RFC 4180 CSV',
            content: { 'text/csv': { schema: Type.String() } },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const settlement = await getSettlement(context.db, programScopeOf(request), request.params.id);
      const csv = settlementReportCsv(settlement, await settlementTransactions(context.db, settlement));
      void reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header(
          'content-disposition',
          `attachment; filename="settlement-${settlement.settlement_date}-${settlement.currency}-${settlement.id}.csv"`,
        );
      return csv;
    },
  );
}
