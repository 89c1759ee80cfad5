import { Type } from 'typebox';
import type { IssuingContext } from '../../../issuing/programs.js';
import { notFound } from '../../../platform/errors.js';
import { ListFilters, listPage, timeQuery } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { backtestRule } from '../../../processing/risk-backtest.js';
import {
  createRiskRule,
  readRiskProtections,
  updateRiskProtections,
  updateRiskRule,
} from '../../../processing/risk-rules.js';
import {
  RULE_SELECT,
  RULE_STATUSES,
  readRule,
  readRuleVersions,
  riskRuleFromRow,
} from '../../../risk/rule-store.js';
import { MAX_HOLDER_EVENTS } from '../../../risk/holder-state.js';
import { OPERATORS, RULE_ACTIONS, RULE_MODES, describeRuleFields } from '../../../risk/rules.js';
import { actorOf, programOfWrite, programScopeOf } from '../actor.js';

const Condition = Type.Object(
  {
    field: Type.String({
      description: 'A field GET /v1/risk/fields lists, such as merchant.mcc or card_count_1h',
    }),
    operator: StringEnum(OPERATORS),
    value: Type.Unknown({
      description:
        'A number, string or boolean as the field is; a list of them for is_one_of and is_not_one_of',
    }),
  },
  { additionalProperties: false },
);

const definitionProperties = {
  name: Type.String({ minLength: 1, maxLength: 100 }),
  action: StringEnum(RULE_ACTIONS, {
    description: 'decline; review (approve and raise an alert); allow (no later rule runs)',
  }),
  mode: Type.Optional(
    StringEnum(RULE_MODES, {
      description: 'shadow: evaluated and recorded as what it would have done, never acted on',
    }),
  ),
  priority: Type.Optional(
    Type.Integer({
      minimum: -1_000_000,
      maximum: 1_000_000,
      description: 'Lower runs first (default 0); rules of equal priority run in the order they were created',
    }),
  ),
  conditions: Type.Array(Condition, {
    minItems: 1,
    maxItems: 20,
    description: 'All must hold for the rule to match',
  }),
};

export const RiskRuleSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('risk_rule'),
    program_id: Type.String(),
    version: Type.Integer({ description: 'Moves on with every change to what the rule says' }),
    status: StringEnum(RULE_STATUSES),
    name: Type.String(),
    action: StringEnum(RULE_ACTIONS),
    mode: StringEnum(RULE_MODES),
    priority: Type.Integer(),
    conditions: Type.Array(
      Type.Object({ field: Type.String(), operator: StringEnum(OPERATORS), value: Type.Unknown() }),
    ),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
  },
  { $id: 'RiskRule', title: 'RiskRule' },
);

const RiskRuleVersionSchema = Type.Object({
  object: Type.Literal('risk_rule_version'),
  rule_id: Type.String(),
  version: Type.Integer(),
  name: Type.String(),
  action: StringEnum(RULE_ACTIONS),
  mode: StringEnum(RULE_MODES),
  priority: Type.Integer(),
  conditions: Type.Array(
    Type.Object({ field: Type.String(), operator: StringEnum(OPERATORS), value: Type.Unknown() }),
  ),
  created: Type.String({ format: 'date-time' }),
  created_by: Type.String(),
});

const CreateRuleBody = Type.Object(
  { ...definitionProperties, program_id: Type.Optional(IdString('prog')) },
  { additionalProperties: false },
);

const UpdateRuleBody = Type.Object(
  {
    name: Type.Optional(definitionProperties.name),
    action: Type.Optional(definitionProperties.action),
    mode: definitionProperties.mode,
    priority: definitionProperties.priority,
    conditions: Type.Optional(definitionProperties.conditions),
    status: Type.Optional(StringEnum(RULE_STATUSES, { description: 'disabled: kept, never evaluated' })),
  },
  { additionalProperties: false },
);

const RuleParams = Type.Object({ id: IdString('rule') }, { additionalProperties: false });

const ListRulesQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    program_id: Type.Optional(IdString('prog')),
    status: Type.Optional(StringEnum(RULE_STATUSES)),
  },
  { additionalProperties: false },
);

const BacktestBody = Type.Object(
  {
    from: Type.Optional(
      Type.String({ format: 'date-time', description: 'RFC 3339; default a week before `to`' }),
    ),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'RFC 3339; default now' })),
    version: Type.Optional(
      Type.Integer({ minimum: 1, description: 'The version to run (default the current)' }),
    ),
  },
  { additionalProperties: false },
);

const BacktestSchema = Type.Object({
  object: Type.Literal('risk_rule_backtest'),
  rule_id: Type.String(),
  version: Type.Integer(),
  action: StringEnum(RULE_ACTIONS),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  evaluated: Type.Integer({ description: 'Authorizations in the range the rule was run on' }),
  matched: Type.Integer(),
  matched_approved: Type.Integer({ description: 'Matched ones that had been approved' }),
  matched_declined: Type.Integer(),
  sample: Type.Array(
    Type.Object({
      authorization_id: Type.String(),
      created: Type.String({ format: 'date-time' }),
      approved: Type.Boolean(),
      amount: Type.Integer(),
      currency: Type.String(),
      merchant_name: Type.String(),
      risk_score: Type.Integer(),
    }),
  ),
});

const FieldSchema = Type.Object({
  name: Type.String(),
  type: StringEnum(['number', 'boolean', 'string']),
  operators: Type.Array(StringEnum(OPERATORS)),
  values: Type.Optional(Type.Array(Type.String())),
  description: Type.String(),
});

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

/** A programme's fraud rules (Lithic's Auth Rules, Stripe Radar's rules): `/v1/risk/rules`. */
const Threshold = (description: string, maximum = 1_000_000) =>
  Type.Integer({ minimum: 1, maximum, description });

/** A card's counts come from a state that keeps 512 authorizations: a higher threshold could never be met. */
const CardThreshold = (description: string) => Threshold(description, MAX_HOLDER_EVENTS);

const protectionProperties = {
  card_testing: Type.Object(
    {
      enabled: Type.Boolean(),
      new_cards_at_merchant_1h: Threshold(
        'Cards new to the merchant within the hour, before this one, from which a small amount is declined',
      ),
      small_amount: Type.Integer({
        minimum: 1,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'What counts as small, card currency minor units (inclusive)',
      }),
      declines_on_card_1h: CardThreshold(
        'Declines on the card within the hour from which any amount is declined',
      ),
    },
    { additionalProperties: false },
  ),
  burst: Type.Object(
    {
      enabled: Type.Boolean(),
      per_card_1m: CardThreshold(
        'Authorizations on the card within the minute from which the next is declined',
      ),
      per_card_1h: CardThreshold(
        'Authorizations on the card within the hour from which the next is declined',
      ),
    },
    { additionalProperties: false },
  ),
};

const ProtectionsSchema = Type.Object({
  object: Type.Literal('risk_protections'),
  program_id: Type.String(),
  ...protectionProperties,
});

const ProtectionsBody = Type.Object(
  {
    program_id: Type.Optional(IdString('prog')),
    card_testing: Type.Optional(Type.Partial(protectionProperties.card_testing)),
    burst: Type.Optional(Type.Partial(protectionProperties.burst)),
  },
  { additionalProperties: false },
);

export function registerRiskRuleRoutes(app: LantauApp, context: IssuingContext): void {
  app.addSchema(RiskRuleSchema);

  app.get(
    '/v1/risk/fields',
    {
      config: { auth: 'any', scope: 'risk:read' },
      schema: {
        summary: 'List the fields rule conditions can test, with their types and operators',
        tags: ['risk'],
        response: { 200: Type.Object({ object: Type.Literal('list'), data: Type.Array(FieldSchema) }) },
      },
    },
    () => ({ object: 'list' as const, data: describeRuleFields() }),
  );

  app.post(
    '/v1/risk/rules',
    {
      config: { auth: 'any', scope: 'risk:write' },
      schema: {
        summary: 'Create a rule',
        tags: ['risk'],
        body: CreateRuleBody,
        response: { 201: Type.Ref('RiskRule'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { program_id: given, ...definition } = request.body;
      const programId = programOfWrite(request, given, 'creates a rule for a programme');
      return reply.mutate(201, async (tx) => {
        const program = await tx.query('SELECT 1 FROM programs WHERE id = $1', [programId]);
        if (program.rows.length === 0) throw notFound('program', programId, 'program_id');
        return createRiskRule(tx, context, programId, definition, actorOf(request));
      });
    },
  );

  app.get(
    '/v1/risk/rules',
    {
      config: { auth: 'any', scope: 'risk:read' },
      schema: {
        summary: 'List rules (their current versions), newest first',
        tags: ['risk'],
        querystring: ListRulesQuery,
        response: { 200: ListOf(Type.Ref('RiskRule')), ...errorResponses },
      },
    },
    async (request) => {
      const { program_id: programId, status, ...page } = request.query;
      const { where, params } = new ListFilters()
        .add('r.program_id = $?', programScopeOf(request))
        .add('r.program_id = $?', programId)
        .add('r.status = $?', status);
      return listPage(
        context.db,
        { select: RULE_SELECT, where, params, idColumn: 'r.id' },
        page,
        '/v1/risk/rules',
        riskRuleFromRow,
      );
    },
  );

  app.get(
    '/v1/risk/rules/:id',
    {
      config: { auth: 'any', scope: 'risk:read' },
      schema: {
        summary: 'Retrieve a rule (its current version)',
        tags: ['risk'],
        params: RuleParams,
        response: { 200: Type.Ref('RiskRule'), ...errorResponses },
      },
    },
    async (request) => {
      const rule = await readRule(context.db, request.params.id, programScopeOf(request));
      if (rule === undefined) throw notFound('risk rule', request.params.id);
      return rule;
    },
  );

  app.get(
    '/v1/risk/rules/:id/versions',
    {
      config: { auth: 'any', scope: 'risk:read' },
      schema: {
        summary: 'List every version of a rule, newest first',
        tags: ['risk'],
        params: RuleParams,
        response: {
          200: Type.Object({ object: Type.Literal('list'), data: Type.Array(RiskRuleVersionSchema) }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const rule = await readRule(context.db, request.params.id, programScopeOf(request));
      if (rule === undefined) throw notFound('risk rule', request.params.id);
      return { object: 'list' as const, data: await readRuleVersions(context.db, rule.id) };
    },
  );

  app.post(
    '/v1/risk/rules/:id/backtest',
    {
      config: { auth: 'any', scope: 'risk:read' },
      schema: {
        summary:
          'What a version of the rule would have matched among the programme’s authorizations in a range (at most 31 days)',
        tags: ['risk'],
        params: RuleParams,
        body: BacktestBody,
        response: { 200: BacktestSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { body } = request;
      const to = timeQuery(body.to, 'to') ?? context.clock.now();
      const from = timeQuery(body.from, 'from') ?? new Date(to.getTime() - WEEK_MS);
      return backtestRule(context.db, request.params.id, programScopeOf(request), {
        range: { from, to },
        version: body.version,
      });
    },
  );

  app.patch(
    '/v1/risk/rules/:id',
    {
      config: { auth: 'any', scope: 'risk:write' },
      schema: {
        summary: 'Change a rule: a new version when what it says changes; enable or disable it',
        tags: ['risk'],
        params: RuleParams,
        body: UpdateRuleBody,
        response: { 200: Type.Ref('RiskRule'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(200, (tx) =>
        updateRiskRule(
          tx,
          context,
          request.params.id,
          programScopeOf(request),
          request.body,
          actorOf(request),
        ),
      ),
  );

  app.get(
    '/v1/risk/protections',
    {
      config: { auth: 'any', scope: 'risk:read' },
      schema: {
        summary: 'Retrieve the built-in protections (card testing, bursts) as a programme has them',
        tags: ['risk'],
        querystring: Type.Object(
          { program_id: Type.Optional(IdString('prog')) },
          { additionalProperties: false },
        ),
        response: { 200: ProtectionsSchema, ...errorResponses },
      },
    },
    async (request) =>
      readRiskProtections(
        context.db,
        programOfWrite(request, request.query.program_id, "reads a programme's protections"),
      ),
  );

  app.post(
    '/v1/risk/protections',
    {
      config: { auth: 'any', scope: 'risk:write' },
      schema: {
        summary: 'Tune the built-in protections: what is given changes, the rest stays',
        tags: ['risk'],
        body: ProtectionsBody,
        response: { 200: ProtectionsSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { program_id: given, ...settings } = request.body;
      const programId = programOfWrite(request, given, "tunes a programme's protections");
      return reply.mutate(200, (tx) =>
        updateRiskProtections(tx, context, programId, settings, actorOf(request)),
      );
    },
  );
}
