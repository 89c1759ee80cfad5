import { Type, type Static } from 'typebox';
import { backtestScenarioSettings, type AmlBacktest } from '../../../compliance/aml/backtest.js';
import { AML_ALERT_COLUMNS, amlAlertFromRow, type AmlAlertRow } from '../../../compliance/aml/monitor.js';
import { SCENARIOS, ScenarioSettingsSchema } from '../../../compliance/aml/parameters.js';
import {
  readScenarioSettings,
  updateScenarioSettings,
  type AmlScenarioSettings,
} from '../../../compliance/aml/settings-store.js';
import { actorOf } from '../actor.js';
import {
  ATTACHMENT_BYTES_MAX,
  CASE_COLUMNS,
  CASE_DECISIONS,
  CASE_STATUSES,
  COMMENT_LENGTH_MAX,
  GROUNDS_LENGTH_MAX,
  caseNote,
  caseNotes,
  caseReport,
  findCase,
  presentCase,
  type CaseRow,
} from '../../../compliance/aml/cases.js';
import { addNote, assignCase } from '../../../compliance/aml/cases.js';
import { caseContext, decideAmlCase, pauseCaseCards } from '../../../issuing/aml-cases.js';
import { getOperatorUser } from '../../../issuing/operator-users.js';
import type { IssuingContext } from '../../../issuing/programs.js';
import { LantauError, notFound } from '../../../platform/errors.js';
import { appendAudit } from '../../../records/audit.js';
import { ListFilters, listPage } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';

/**
 * Reading the issuer's AML work (alerts, cases, what analysts wrote, report packages) takes `cases:write`, which
 * analysts and admins hold: `*:read`, which support staff and read-only keys hold, does not reach it.
 */
const CASE_READ_SCOPE = 'cases:write';

const AmlAlertSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('aml_alert'),
    program_id: Type.String(),
    cardholder_id: Type.String(),
    scenario: StringEnum(SCENARIOS),
    reason: Type.String({ description: 'A code for what the scenario saw' }),
    summary: Type.String({ description: 'The figures, in words' }),
    window: Type.Object({
      from: Type.String({ format: 'date-time' }),
      to: Type.String({ format: 'date-time' }),
    }),
    activity: Type.Array(Type.String(), {
      description: 'The loads, unloads, authorizations, transactions and cards that caused it',
    }),
    settings_version: Type.Integer({
      description: 'The programme’s scenario settings it was raised under (0: defaults)',
    }),
    case_id: Type.String({ description: 'The case the alert joined' }),
    created: Type.String({ format: 'date-time' }),
  },
  { $id: 'AmlAlert', title: 'AmlAlert' },
);

const AlertQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    program_id: Type.Optional(IdString('prog')),
    cardholder_id: Type.Optional(IdString('chd')),
    scenario: Type.Optional(StringEnum(SCENARIOS)),
  },
  { additionalProperties: false },
);

const SettingsSchema = Type.Object({
  object: Type.Literal('aml_scenario_settings'),
  program_id: Type.String(),
  version: Type.Integer({ description: '0 until the programme first changes a setting: the defaults' }),
  scenarios: ScenarioSettingsSchema,
  created: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_by: Type.Union([Type.String(), Type.Null()]),
});

/** Checked whole by compliance/aml/parameters.ts, which names the scenario and parameter that are wrong. */
const SettingsChanges = Type.Record(Type.String(), Type.Unknown(), {
  description:
    'Per scenario, the parameters to change (e.g. { "structuring": { "count_min": 4 } }); the rest stay as they are',
  minProperties: 1,
});

const BacktestBody = Type.Object(
  {
    scenarios: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description:
          'Changes over the current settings, as POST …/aml_scenarios takes them; left out, the current settings are backtested',
      }),
    ),
    from: Type.Optional(
      Type.String({ format: 'date-time', description: 'Start of the range (default 30 days before `to`)' }),
    ),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'End of the range (default now)' })),
  },
  { additionalProperties: false },
);

const AlertCount = Type.Object({ alerts: Type.Integer(), cardholders: Type.Integer() });
const BacktestAlert = Type.Object({
  scenario: StringEnum(SCENARIOS),
  reason: Type.String(),
  cardholder_id: Type.String(),
  summary: Type.String(),
  window: Type.Object({
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time' }),
  }),
  activity: Type.Array(Type.String()),
});
const BacktestSchema = Type.Object({
  object: Type.Literal('aml_scenario_backtest'),
  program_id: Type.String(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  current_version: Type.Integer(),
  proposed: ScenarioSettingsSchema,
  cardholders_evaluated: Type.Integer(),
  activities_read: Type.Integer(),
  scenarios: Type.Array(
    Type.Object({ scenario: StringEnum(SCENARIOS), current: AlertCount, proposed: AlertCount }),
  ),
  added: Type.Array(BacktestAlert, {
    description: 'Alerts the proposal raises that the current settings do not',
  }),
  removed: Type.Array(BacktestAlert, {
    description: 'Alerts the current settings raise that the proposal would not',
  }),
});

/** The backtest as the response schema types it: the domain's is deeply read-only. */
function backtestResponse(backtest: AmlBacktest): Static<typeof BacktestSchema> {
  return JSON.parse(JSON.stringify(backtest)) as Static<typeof BacktestSchema>;
}

/** The settings as the response schema types them: the domain's are deeply read-only. */
function asResponse(settings: AmlScenarioSettings): Static<typeof SettingsSchema> {
  return JSON.parse(JSON.stringify(settings)) as Static<typeof SettingsSchema>;
}

const CaseSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('aml_case'),
    program_id: Type.String(),
    cardholder_id: Type.String(),
    status: StringEnum(CASE_STATUSES),
    assignee: Type.Union([Type.String({ description: 'An operator user' }), Type.Null()]),
    paused_cards: Type.Array(Type.String()),
    version: Type.Integer({ description: 'Moves on with every change; a decision names the one reviewed' }),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
    decided: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    decided_by: Type.Union([Type.String(), Type.Null()]),
    grounds: Type.Union([Type.String(), Type.Null()]),
    reported: Type.Boolean({ description: 'A report package was made: GET …/report' }),
  },
  { $id: 'AmlCase', title: 'AmlCase' },
);

const NoteSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('aml_case_note'),
  case_id: Type.String(),
  kind: StringEnum(['comment', 'attachment'] as const),
  author: Type.String(),
  created: Type.String({ format: 'date-time' }),
  size_bytes: Type.Integer(),
  content_type: Type.Union([Type.String(), Type.Null()]),
  text: Type.String({ description: 'A comment’s text; an attachment’s file name' }),
  content_base64: Type.Union([Type.String(), Type.Null()]),
});

const CaseDetailSchema = Type.Object({
  case: Type.Ref('AmlCase'),
  alerts: Type.Array(Type.Ref('AmlAlert')),
  notes: Type.Array(NoteSchema),
});

const CaseParams = Type.Object({ id: IdString('case') }, { additionalProperties: false });

const CaseQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    status: Type.Optional(StringEnum(CASE_STATUSES)),
    cardholder_id: Type.Optional(IdString('chd')),
    assignee: Type.Optional(IdString('opu')),
    program_id: Type.Optional(IdString('prog')),
  },
  { additionalProperties: false },
);

const ProgramParams = Type.Object({ id: IdString('prog') }, { additionalProperties: false });

/**
 * AML monitoring's alerts (compliance/aml/monitor.ts): the issuer's compliance work, read by the operator's
 * analysts (`cases:read`), not by programmes, so a cardholder is not tipped off through their programme.
 */
export function registerAmlRoutes(app: LantauApp, context: IssuingContext): void {
  app.addSchema(AmlAlertSchema);

  app.addSchema(CaseSchema);
  const cases = caseContext(context);
  const readCase = async (id: string) => {
    const row = await findCase(context.db, id);
    return presentCase(cases.sealer, row);
  };
  const caseAction = {
    config: { auth: 'operator' as const, scope: 'cases:write' },
  };

  app.get(
    '/v1/aml/cases',
    {
      config: { auth: 'operator', scope: CASE_READ_SCOPE },
      schema: {
        summary: 'List AML cases, newest first',
        tags: ['aml'],
        querystring: CaseQuery,
        response: { 200: ListOf(Type.Ref('AmlCase')), ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query;
      const { where, params } = new ListFilters()
        .add('status = $?', query.status)
        .add('cardholder_id = $?', query.cardholder_id)
        .add('assignee_id = $?', query.assignee)
        .add('program_id = $?', query.program_id);
      const page = await listPage(
        context.db,
        { select: `SELECT ${CASE_COLUMNS} FROM aml_cases`, where, params },
        query,
        '/v1/aml/cases',
        (row: CaseRow) => row,
      );
      return { ...page, data: await Promise.all(page.data.map((row) => presentCase(cases.sealer, row))) };
    },
  );

  app.get(
    '/v1/aml/cases/:id',
    {
      config: { auth: 'operator', scope: CASE_READ_SCOPE },
      schema: {
        summary: 'A case with its alerts and its comments and attachments',
        tags: ['aml'],
        params: CaseParams,
        response: { 200: CaseDetailSchema, ...errorResponses },
      },
    },
    async (request) => {
      const found = await readCase(request.params.id);
      const alerts = await context.db.query<AmlAlertRow>(
        `SELECT ${AML_ALERT_COLUMNS} FROM aml_alerts WHERE case_id = $1 ORDER BY id`,
        [found.id],
      );
      return {
        case: found,
        alerts: alerts.rows.map(amlAlertFromRow),
        notes: await caseNotes(context.db, cases.sealer, found.id),
      };
    },
  );

  app.post(
    '/v1/aml/cases/:id/assign',
    {
      ...caseAction,
      schema: {
        summary: 'Assign a case to an analyst (null: to nobody)',
        tags: ['aml'],
        params: CaseParams,
        body: Type.Object(
          { assignee: Type.Union([IdString('opu'), Type.Null()]) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('AmlCase'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { assignee } = request.body;
      if (assignee !== null) await getOperatorUser(context.db, assignee);
      // The idempotency store keeps ids only (what analysts write is personal data): the answer is read back.
      const answer = await reply.mutate(200, async (tx) => ({
        id: (await assignCase(tx, context, request.params.id, assignee, actorOf(request))).id,
      }));
      return 'error' in answer ? answer : readCase(answer.id);
    },
  );

  app.post(
    '/v1/aml/cases/:id/comments',
    {
      ...caseAction,
      schema: {
        summary: 'Comment on a case',
        tags: ['aml'],
        params: CaseParams,
        body: Type.Object(
          { body: Type.String({ minLength: 1, maxLength: COMMENT_LENGTH_MAX }) },
          { additionalProperties: false },
        ),
        response: { 201: NoteSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const answer = await reply.mutate(201, async (tx) => ({
        id: (
          await addNote(
            tx,
            cases,
            request.params.id,
            { kind: 'comment', content: Buffer.from(request.body.body, 'utf8') },
            actorOf(request),
          )
        ).id,
      }));
      return 'error' in answer ? answer : caseNote(context.db, cases.sealer, answer.id);
    },
  );

  app.post(
    '/v1/aml/cases/:id/attachments',
    {
      ...caseAction,
      bodyLimit: Math.ceil((ATTACHMENT_BYTES_MAX * 4) / 3) + 4096,
      schema: {
        summary: 'Attach a file to a case (up to 1 MiB), base64',
        tags: ['aml'],
        params: CaseParams,
        body: Type.Object(
          {
            filename: Type.String({ minLength: 1, maxLength: 200 }),
            content_type: Type.String({ pattern: '^[a-z]+/[a-z0-9.+-]+$', maxLength: 100 }),
            content_base64: Type.String({
              minLength: 4,
              maxLength: Math.ceil((ATTACHMENT_BYTES_MAX * 4) / 3) + 4,
              pattern: '^[A-Za-z0-9+/]*={0,2}$',
            }),
          },
          { additionalProperties: false },
        ),
        response: { 201: NoteSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const answer = await reply.mutate(201, async (tx) => ({
        id: (
          await addNote(
            tx,
            cases,
            request.params.id,
            {
              kind: 'attachment',
              content: Buffer.from(request.body.content_base64, 'base64'),
              filename: request.body.filename,
              contentType: request.body.content_type,
            },
            actorOf(request),
          )
        ).id,
      }));
      return 'error' in answer ? answer : caseNote(context.db, cases.sealer, answer.id);
    },
  );

  app.post(
    '/v1/aml/cases/:id/pause_cards',
    {
      ...caseAction,
      schema: {
        summary: 'Pause every active card of the case’s cardholder while it is investigated',
        tags: ['aml'],
        params: CaseParams,
        response: { 200: Type.Ref('AmlCase'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const answer = await reply.mutate(200, async (tx) => ({
        id: (await pauseCaseCards(tx, context, request.params.id, actorOf(request))).id,
      }));
      return 'error' in answer ? answer : readCase(answer.id);
    },
  );

  app.post(
    '/v1/aml/cases/:id/decision',
    {
      ...caseAction,
      schema: {
        summary:
          'Decide a case with written grounds: false_positive (the cards it paused resume), escalated, or reported (a suspicious-transaction report package is made)',
        tags: ['aml'],
        params: CaseParams,
        body: Type.Object(
          {
            decision: StringEnum(CASE_DECISIONS),
            grounds: Type.String({ minLength: 1, maxLength: GROUNDS_LENGTH_MAX }),
            version: Type.Integer({ minimum: 1, description: 'The case’s version that was reviewed' }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('AmlCase'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const answer = await reply.mutate(200, async (tx) => {
        const decided = await decideAmlCase(tx, context, request.params.id, request.body, actorOf(request));
        // Kept in the idempotency store: without the grounds, which are read back below.
        return { id: decided.id };
      });
      return 'error' in answer ? answer : readCase(answer.id);
    },
  );

  app.get(
    '/v1/aml/cases/:id/report',
    {
      config: { auth: 'operator', scope: CASE_READ_SCOPE },
      schema: {
        summary: 'A reported case’s suspicious-transaction report package: JSON, or XML with ?format=xml',
        tags: ['aml'],
        params: CaseParams,
        querystring: Type.Object(
          { format: Type.Optional(StringEnum(['json', 'xml'] as const)) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const row = await findCase(context.db, request.params.id);
      const report = await caseReport(cases.sealer, row);
      if (report === undefined) {
        throw row.status === 'reported'
          ? new LantauError(
              'aml_case_report_purged',
              'This case was reported, and its report package was purged with the cardholder’s personal data after the retention period',
              { status: 410, param: 'id' },
            )
          : new LantauError('aml_case_not_reported', 'This case was not reported: it has no report package', {
              status: 404,
              param: 'id',
            });
      }
      // Reading a filed report (the subject's particulars) is itself on the record, as revealing a card is.
      const by = actorOf(request);
      await context.db.transaction((tx) =>
        appendAudit(tx, context, {
          ...by,
          action: 'aml_case.report_read',
          programId: row.program_id,
          target: { type: 'aml_case', id: row.id },
          details: { format: request.query.format ?? 'json' },
        }),
      );
      void reply.header('cache-control', 'no-store');
      if (request.query.format === 'xml') {
        return reply.type('application/xml; charset=utf-8').send(report.xml);
      }
      return report.json;
    },
  );

  app.get(
    '/v1/programs/:id/aml_scenarios',
    {
      config: { auth: 'operator', scope: CASE_READ_SCOPE },
      schema: {
        summary: 'A programme’s AML monitoring scenarios and their thresholds, at the current version',
        tags: ['aml'],
        params: ProgramParams,
        response: { 200: SettingsSchema, ...errorResponses },
      },
    },
    async (request) => asResponse(await readScenarioSettings(context.db, request.params.id)),
  );

  app.post(
    '/v1/programs/:id/aml_scenarios',
    {
      config: { auth: 'operator', scope: 'cases:write' },
      schema: {
        summary:
          'Change a programme’s AML scenario thresholds and windows: a new version; anything unknown is refused whole',
        tags: ['aml'],
        params: ProgramParams,
        body: SettingsChanges,
        response: { 200: SettingsSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(200, async (tx) =>
        asResponse(
          await updateScenarioSettings(tx, context, request.params.id, request.body, actorOf(request)),
        ),
      ),
  );

  app.post(
    '/v1/programs/:id/aml_scenarios/backtest',
    {
      config: { auth: 'operator', scope: 'cases:write' },
      schema: {
        summary:
          'The alerts a change to the scenarios would have raised over the programme’s activity in a range (at most 31 days), beside the current settings’; nothing is changed',
        tags: ['aml'],
        params: ProgramParams,
        body: BacktestBody,
        response: { 200: BacktestSchema, ...errorResponses },
      },
    },
    async (request) =>
      backtestResponse(
        await backtestScenarioSettings(
          context.db,
          request.params.id,
          {
            ...(request.body.scenarios === undefined ? {} : { scenarios: request.body.scenarios }),
            ...(request.body.from === undefined ? {} : { from: new Date(request.body.from) }),
            ...(request.body.to === undefined ? {} : { to: new Date(request.body.to) }),
          },
          context.clock.now(),
        ),
      ),
  );

  app.get(
    '/v1/aml/alerts',
    {
      config: { auth: 'operator', scope: CASE_READ_SCOPE },
      schema: {
        summary: 'List AML monitoring alerts, newest first',
        tags: ['aml'],
        querystring: AlertQuery,
        response: { 200: ListOf(Type.Ref('AmlAlert')), ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query;
      const { where, params } = new ListFilters()
        .add('program_id = $?', query.program_id)
        .add('cardholder_id = $?', query.cardholder_id)
        .add('scenario = $?', query.scenario);
      return listPage(
        context.db,
        { select: `SELECT ${AML_ALERT_COLUMNS} FROM aml_alerts`, where, params },
        query,
        '/v1/aml/alerts',
        (row: AmlAlertRow) => amlAlertFromRow(row),
      );
    },
  );

  app.get(
    '/v1/aml/alerts/:id',
    {
      config: { auth: 'operator', scope: CASE_READ_SCOPE },
      schema: {
        summary: 'Retrieve an AML monitoring alert',
        tags: ['aml'],
        params: Type.Object({ id: IdString('amla') }, { additionalProperties: false }),
        response: { 200: Type.Ref('AmlAlert'), ...errorResponses },
      },
    },
    async (request) => {
      const found = await context.db.query<AmlAlertRow>(
        `SELECT ${AML_ALERT_COLUMNS} FROM aml_alerts WHERE id = $1`,
        [request.params.id],
      );
      const row = found.rows[0];
      if (row === undefined) throw notFound('aml_alert', request.params.id);
      return amlAlertFromRow(row);
    },
  );
}
