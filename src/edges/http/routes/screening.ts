import { Type } from 'typebox';
import {
  ALERT_COLUMNS,
  ALERT_STATUSES,
  SCREENING_TRIGGERS,
  presentAlert,
  type ScreeningAlertRow,
} from '../../../issuing/cardholder-screening.js';
import type { IssuingContext } from '../../../issuing/programs.js';
import {
  GROUNDS_LENGTH_MAX,
  decideScreeningAlert,
  getScreeningAlert,
  type AlertDecision,
} from '../../../issuing/screening-alerts.js';
import { LantauError } from '../../../platform/errors.js';
import { ListFilters, listPage } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { listVersions } from '../../../compliance/sanctions/list-store.js';
import { screenName } from '../../../compliance/sanctions/screening.js';
import { actorOf, programScopeOf } from '../actor.js';

const CheckBody = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 300,
      description: 'The name to screen, in any order and script',
    }),
    date_of_birth: Type.Optional(
      Type.String({ format: 'date', description: 'YYYY-MM-DD: raises or lowers a score' }),
    ),
    country: Type.Optional(
      Type.String({
        pattern: '^[A-Z]{2}$',
        description: 'Nationality, ISO 3166-1 alpha-2: weak evidence either way',
      }),
    ),
    kind: Type.Optional(StringEnum(['individual', 'entity'] as const)),
  },
  { additionalProperties: false },
);

const Candidate = Type.Object({
  list: Type.String(),
  reference: Type.String({
    description: 'As the list publishes it: the UN reference number, the OFAC entity number',
  }),
  kind: Type.String(),
  matched_name: Type.String({ description: 'The name or alias that matched' }),
  score: Type.Number({ minimum: 0, maximum: 100 }),
  reasons: Type.Array(Type.String()),
});

const CheckSchema = Type.Object({
  object: Type.Literal('screening_check'),
  decision: StringEnum(['clear', 'potential_match'] as const),
  candidates: Type.Array(Candidate),
  lists: Type.Array(
    Type.Object({ list: Type.String(), version: Type.String(), entry_count: Type.Integer() }),
  ),
});

const VersionSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('sanctions_list_version'),
  list: StringEnum(['un', 'ofac'] as const),
  published_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  entry_count: Type.Integer(),
  sha256: Type.String(),
  loaded_at: Type.String({ format: 'date-time' }),
  loaded_by: Type.String(),
});

const AlertSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('screening_alert'),
    program_id: Type.String(),
    cardholder_id: Type.String(),
    status: StringEnum(ALERT_STATUSES),
    trigger: StringEnum(SCREENING_TRIGGERS, {
      description:
        'What screened the cardholder: their creation, a change of name, date of birth or nationality, a list version loaded',
    }),
    candidates: Type.Array(Candidate),
    lists: Type.Array(
      Type.Object({ list: Type.String(), version: Type.String(), entry_count: Type.Integer() }),
    ),
    paused_cards: Type.Array(Type.String(), {
      description: 'The cards this alert paused: resumed when it is cleared, closed when it is confirmed',
    }),
    version: Type.Integer({ description: 'Moves on with every change; a decision names the one reviewed' }),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
    decided: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    decided_by: Type.Union([Type.String({ description: 'The operator user who decided' }), Type.Null()]),
    grounds: Type.Union([Type.String(), Type.Null()], {
      description: 'The decision’s written grounds: shown to the operator, null for a programme',
    }),
  },
  { $id: 'ScreeningAlert', title: 'ScreeningAlert' },
);

const AlertListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    status: Type.Optional(StringEnum(ALERT_STATUSES)),
    cardholder_id: Type.Optional(IdString('chd')),
    program_id: Type.Optional(IdString('prog')),
  },
  { additionalProperties: false },
);

const AlertParams = Type.Object({ id: IdString('scra') }, { additionalProperties: false });

const DecisionBody = Type.Object(
  {
    grounds: Type.String({
      minLength: 1,
      maxLength: GROUNDS_LENGTH_MAX,
      description: 'Why, in words: what was compared and what settled it',
    }),
    version: Type.Integer({
      minimum: 1,
      description:
        'The alert’s version that was reviewed: a decision on an alert that has changed since is refused',
    }),
  },
  { additionalProperties: false },
);

const DECISION_SUMMARIES: Readonly<Record<AlertDecision, string>> = {
  clear:
    'Clear a screening alert: the match is someone else. The cardholder is clear again and the cards it paused resume',
  confirm:
    'Confirm a screening alert: the cardholder is the listed person. Their cards close and their accounts freeze',
};

export function registerScreeningRoutes(app: LantauApp, context: IssuingContext): void {
  app.addSchema(AlertSchema);

  app.get(
    '/v1/screening/alerts',
    {
      config: { auth: 'any', scope: 'sanctions:read' },
      schema: {
        summary: 'List screening alerts, newest first',
        tags: ['screening'],
        querystring: AlertListQuery,
        response: { 200: ListOf(Type.Ref('ScreeningAlert')), ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query;
      const { where, params } = new ListFilters()
        .add('program_id = $?', programScopeOf(request))
        .add('program_id = $?', query.program_id)
        .add('cardholder_id = $?', query.cardholder_id)
        .add('status = $?', query.status);
      const page = await listPage(
        context.db,
        { select: `SELECT ${ALERT_COLUMNS} FROM screening_alerts`, where, params },
        query,
        '/v1/screening/alerts',
        (row: ScreeningAlertRow) => row,
      );
      const operator = programScopeOf(request) === undefined;
      return {
        ...page,
        data: await Promise.all(page.data.map((row) => presentAlert(context.vault, row, operator))),
      };
    },
  );

  app.get(
    '/v1/screening/alerts/:id',
    {
      config: { auth: 'any', scope: 'sanctions:read' },
      schema: {
        summary: 'Retrieve a screening alert',
        tags: ['screening'],
        params: AlertParams,
        response: { 200: Type.Ref('ScreeningAlert'), ...errorResponses },
      },
    },
    async (request) =>
      getScreeningAlert(context.db, context.vault, request.params.id, programScopeOf(request)),
  );

  for (const decision of ['clear', 'confirm'] as const) {
    app.post(
      `/v1/screening/alerts/:id/${decision}`,
      {
        // The operator's analysts decide, each under their own name (screening-alerts.ts refuses a bare key).
        config: { auth: 'operator', scope: 'sanctions:write' },
        schema: {
          summary: DECISION_SUMMARIES[decision],
          tags: ['screening'],
          params: AlertParams,
          body: DecisionBody,
          response: { 200: Type.Ref('ScreeningAlert'), ...errorResponses },
        },
      },
      async (request, reply) => {
        const answer = await reply.mutate(200, (tx) =>
          decideScreeningAlert(
            tx,
            context,
            request.params.id,
            { decision, grounds: request.body.grounds, version: request.body.version },
            actorOf(request),
          ),
        );
        // The stored answer has no grounds (personal data stays out of tables in the clear): read back with them.
        return 'error' in answer
          ? answer
          : getScreeningAlert(context.db, context.vault, answer.id, undefined);
      },
    );
  }

  app.post(
    '/v1/screening/checks',
    {
      config: { auth: 'any', scope: 'sanctions:read' },
      schema: {
        summary: 'Screen a name ad hoc against the sanctions lists in use (UN Security Council, OFAC SDN)',
        tags: ['screening'],
        body: CheckBody,
        response: { 200: CheckSchema, ...errorResponses },
      },
    },
    async (request) => {
      const check = await screenName(context.db, {
        name: request.body.name,
        ...(request.body.date_of_birth === undefined ? {} : { dateOfBirth: request.body.date_of_birth }),
        ...(request.body.country === undefined ? {} : { country: request.body.country }),
        ...(request.body.kind === undefined ? {} : { kind: request.body.kind }),
      });
      if (check.lists.length === 0) {
        throw new LantauError(
          'sanctions_lists_missing',
          'No sanctions list is loaded: run lantau sanctions load',
          {
            status: 503,
            type: 'api_error',
          },
        );
      }
      return {
        ...check,
        candidates: check.candidates.map((candidate) => ({ ...candidate, reasons: [...candidate.reasons] })),
        lists: [...check.lists],
      };
    },
  );

  app.get(
    '/v1/sanctions/lists',
    {
      config: { auth: 'any', scope: 'sanctions:read' },
      schema: {
        summary: 'The sanctions list versions loaded, newest first',
        tags: ['screening'],
        response: { 200: Type.Object({ object: Type.Literal('list'), data: Type.Array(VersionSchema) }) },
      },
    },
    async () => ({ object: 'list' as const, data: await listVersions(context.db) }),
  );
}
