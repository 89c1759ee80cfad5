/**
 * A programme's fraud rules, as data: each rule is a list of conditions over an authorization's fields and risk
 * features, all of which must hold, and an action. Lithic's Auth Rules and Stripe Radar's rules are the models: a
 * condition names a field, an operator and a value; an allow rule lets an authorization past every later rule.
 *
 * Evaluation order: active rules by ascending `priority`, then by id (the order they were created). The first
 * matching `decline` declines and the first matching `allow` allows; either ends the evaluation, so an allow rule
 * put before a decline rule (or before the built-in protections, which run after every programme rule) is an
 * allowlist. A matching `review` approves as far as risk is concerned, raises an alert, and evaluation goes on.
 * Shadow rules are all evaluated, always, and only recorded: what they would have done, never what happened.
 * A condition on a value the authorization does not have (no device, say) does not hold, whatever its operator.
 */
import { invalidRequest, type LantauError } from '../platform/errors.js';
import { FEATURES } from './features.js';
import { isRecord } from '../platform/records.js';

export const RULE_ACTIONS = ['decline', 'review', 'allow'] as const;
export type RuleAction = (typeof RULE_ACTIONS)[number];

export const RULE_MODES = ['active', 'shadow'] as const;
export type RuleMode = (typeof RULE_MODES)[number];

export const OPERATORS = ['is_one_of', 'is_not_one_of', '>', '>=', '<', '<=', '='] as const;
export type Operator = (typeof OPERATORS)[number];

export type FieldValue = number | boolean | string;

export interface RuleCondition {
  readonly field: string;
  readonly operator: Operator;
  readonly value: FieldValue | readonly FieldValue[];
}

/** What a programme writes: the rule without its identity. */
export interface RuleDefinition {
  readonly name: string;
  readonly action: RuleAction;
  readonly mode: RuleMode;
  /** Lower runs first; ties run in id order. */
  readonly priority: number;
  readonly conditions: readonly RuleCondition[];
}

/** A rule as evaluated: one version of it. A change makes a new version; decisions name the version they used. */
export interface RuleVersion extends RuleDefinition {
  readonly id: string;
  readonly version: number;
}

export type FieldType = 'number' | 'boolean' | 'string';

export interface RuleField {
  readonly name: string;
  readonly type: FieldType;
  /** For a string with a closed set of values. */
  readonly values?: readonly string[];
  /** For a string with an open set of values of one shape. */
  readonly pattern?: RegExp;
  readonly description: string;
}

const AMOUNT_MAX = Number.MAX_SAFE_INTEGER;

/** The authorization's own fields; the risk features follow them in `RULE_FIELDS`. */
const AUTHORIZATION_FIELDS: readonly RuleField[] = [
  {
    name: 'merchant_amount',
    type: 'number',
    description: "The amount asked, the merchant's currency, minor units",
  },
  {
    name: 'merchant_currency',
    type: 'string',
    pattern: /^[A-Z]{3}$/,
    description: "The merchant's currency (ISO 4217)",
  },
  { name: 'currency', type: 'string', pattern: /^[A-Z]{3}$/, description: "The card's currency (ISO 4217)" },
  {
    name: 'merchant.mcc',
    type: 'string',
    pattern: /^[0-9]{4}$/,
    description: 'The merchant category code',
  },
  {
    name: 'merchant.country',
    type: 'string',
    pattern: /^[A-Z]{2}$/,
    description: "The merchant's country (ISO 3166-1 alpha-2)",
  },
  {
    name: 'merchant.acceptor_id',
    type: 'string',
    pattern: /^.{1,64}$/,
    description: "The merchant's card acceptor id",
  },
  { name: 'merchant.name', type: 'string', pattern: /^.{1,200}$/, description: "The merchant's name" },
  { name: 'card.id', type: 'string', pattern: /^card_[0-9a-z]{26}$/, description: 'The card' },
  { name: 'cardholder.id', type: 'string', pattern: /^chd_[0-9a-z]{26}$/, description: 'The cardholder' },
  {
    name: 'risk_score',
    type: 'number',
    description: "The model's score, 0 (least likely fraud) to 99 (most likely)",
  },
];

/** Every field a condition may name: the authorization's, then every risk feature. */
export const RULE_FIELDS: readonly RuleField[] = [
  ...AUTHORIZATION_FIELDS,
  ...FEATURES.map((feature): RuleField => {
    if (feature.kind === 'number')
      return { name: feature.name, type: 'number', description: feature.description };
    if (feature.kind === 'boolean')
      return { name: feature.name, type: 'boolean', description: feature.description };
    return {
      name: feature.name,
      type: 'string',
      values: feature.values ?? [],
      description: feature.description,
    };
  }),
];

const FIELD_BY_NAME = new Map(RULE_FIELDS.map((field) => [field.name, field]));

/** Operators each type of field takes. */
const OPERATORS_FOR: Readonly<Record<FieldType, readonly Operator[]>> = {
  number: ['>', '>=', '<', '<=', '=', 'is_one_of', 'is_not_one_of'],
  string: ['=', 'is_one_of', 'is_not_one_of'],
  boolean: ['='],
};

const NAME_LENGTH_MAX = 100;
const CONDITIONS_MAX = 20;
const LIST_LENGTH_MAX = 1_000;
export const PRIORITY_MAX = 1_000_000;

const describe = (value: unknown): string =>
  Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`;

/**
 * Checks a rule as a programme sent it (parsed JSON) and returns it typed, or the first thing wrong with it as a
 * 400 that names the part (`conditions[1].operator`) and says what is expected there. Nothing is coerced.
 */
export function parseRuleDefinition(input: unknown): RuleDefinition | LantauError {
  if (!isRecord(input)) return invalidRequest('rule_invalid', 'A rule is a JSON object');
  const known = new Set(['name', 'action', 'mode', 'priority', 'conditions']);
  const unknown = Object.keys(input).find((key) => !known.has(key));
  if (unknown !== undefined) {
    return invalidRequest('rule_invalid', `A rule has no property '${unknown}'`, unknown);
  }
  const { name, action, mode = 'active', priority = 0, conditions } = input;
  if (typeof name !== 'string' || name.trim().length === 0 || name.length > NAME_LENGTH_MAX) {
    return invalidRequest('rule_invalid', `name must be text of 1 to ${NAME_LENGTH_MAX} characters`, 'name');
  }
  if (typeof action !== 'string' || !(RULE_ACTIONS as readonly string[]).includes(action)) {
    return invalidRequest('rule_invalid', `action must be one of ${RULE_ACTIONS.join(', ')}`, 'action');
  }
  if (typeof mode !== 'string' || !(RULE_MODES as readonly string[]).includes(mode)) {
    return invalidRequest('rule_invalid', `mode must be one of ${RULE_MODES.join(', ')}`, 'mode');
  }
  if (typeof priority !== 'number' || !Number.isInteger(priority) || Math.abs(priority) > PRIORITY_MAX) {
    return invalidRequest(
      'rule_invalid',
      `priority must be a whole number from -${PRIORITY_MAX} to ${PRIORITY_MAX}`,
      'priority',
    );
  }
  if (!Array.isArray(conditions) || conditions.length === 0 || conditions.length > CONDITIONS_MAX) {
    return invalidRequest(
      'rule_invalid',
      `conditions must be a list of 1 to ${CONDITIONS_MAX} conditions, all of which must hold`,
      'conditions',
    );
  }
  const parsed: RuleCondition[] = [];
  for (const [index, condition] of (conditions as unknown[]).entries()) {
    const result = parseCondition(condition, `conditions[${index}]`);
    if (!('field' in result)) return result;
    parsed.push(result);
  }
  return {
    name,
    action: action as RuleAction,
    mode: mode as RuleMode,
    priority,
    conditions: parsed,
  };
}

function parseCondition(input: unknown, at: string): RuleCondition | LantauError {
  if (!isRecord(input)) {
    return invalidRequest('rule_invalid', 'A condition is an object with field, operator and value', at);
  }
  const unknown = Object.keys(input).find((key) => key !== 'field' && key !== 'operator' && key !== 'value');
  if (unknown !== undefined) {
    return invalidRequest('rule_invalid', `A condition has no property '${unknown}'`, `${at}.${unknown}`);
  }
  const { field: fieldName, operator, value } = input;
  if (typeof fieldName !== 'string') {
    return invalidRequest('rule_invalid', 'field must be the name of a field', `${at}.field`);
  }
  const field = FIELD_BY_NAME.get(fieldName);
  if (field === undefined) {
    return invalidRequest(
      'rule_field_unknown',
      `There is no field '${fieldName}'; GET /v1/risk/fields lists them`,
      `${at}.field`,
    );
  }
  if (typeof operator !== 'string' || !(OPERATORS as readonly string[]).includes(operator)) {
    return invalidRequest(
      'rule_invalid',
      `operator must be one of ${OPERATORS.join(', ')}`,
      `${at}.operator`,
    );
  }
  const allowed = OPERATORS_FOR[field.type];
  if (!(allowed as readonly string[]).includes(operator)) {
    return invalidRequest(
      'rule_operator_invalid',
      `${fieldName} is a ${field.type}: its operators are ${allowed.join(', ')}`,
      `${at}.operator`,
    );
  }
  const list = operator === 'is_one_of' || operator === 'is_not_one_of';
  if (list) {
    if (!Array.isArray(value) || value.length === 0 || value.length > LIST_LENGTH_MAX) {
      return invalidRequest(
        'rule_value_invalid',
        `${operator} takes a list of 1 to ${LIST_LENGTH_MAX} values, not ${describe(value)}`,
        `${at}.value`,
      );
    }
    for (const [index, each] of (value as unknown[]).entries()) {
      const problem = valueProblem(field, each);
      if (problem !== undefined)
        return invalidRequest('rule_value_invalid', problem, `${at}.value[${index}]`);
    }
    return { field: fieldName, operator, value: value as FieldValue[] };
  }
  const problem = valueProblem(field, value);
  if (problem !== undefined) return invalidRequest('rule_value_invalid', problem, `${at}.value`);
  return { field: fieldName, operator: operator as Operator, value: value as FieldValue };
}

function valueProblem(field: RuleField, value: unknown): string | undefined {
  switch (field.type) {
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= AMOUNT_MAX
        ? undefined
        : `${field.name} is a number: the value must be a finite number, not ${describe(value)}`;
    case 'boolean':
      return typeof value === 'boolean'
        ? undefined
        : `${field.name} is true or false: the value must be a boolean, not ${describe(value)}`;
    case 'string':
      if (typeof value !== 'string') {
        return `${field.name} is text: the value must be a string, not ${describe(value)}`;
      }
      if (field.values !== undefined && !field.values.includes(value)) {
        return `${field.name} is one of ${field.values.join(', ')}, never '${value}'`;
      }
      if (field.pattern !== undefined && !field.pattern.test(value)) {
        return `'${value}' is not a ${field.description.toLowerCase()}`;
      }
      return undefined;
  }
}

/** An authorization's values by field name; a field it does not have is absent (or null). */
export type RuleValues = Readonly<Record<string, FieldValue | null | undefined>>;

/** The same values as a function of the field's name, so a caller need not copy them into one object. */
export type RuleLookup = (field: string) => FieldValue | null | undefined;

function lookupOf(values: RuleValues | RuleLookup): RuleLookup {
  return typeof values === 'function' ? values : (field) => values[field];
}

function holds(condition: RuleCondition, valueOf: RuleLookup): boolean {
  const actual = valueOf(condition.field);
  if (actual === undefined || actual === null) return false;
  const expected = condition.value;
  switch (condition.operator) {
    case 'is_one_of':
      return Array.isArray(expected) && expected.includes(actual);
    case 'is_not_one_of':
      return Array.isArray(expected) && !expected.includes(actual);
    case '=':
      return actual === expected;
    case '>':
      return typeof actual === 'number' && typeof expected === 'number' && actual > expected;
    case '>=':
      return typeof actual === 'number' && typeof expected === 'number' && actual >= expected;
    case '<':
      return typeof actual === 'number' && typeof expected === 'number' && actual < expected;
    case '<=':
      return typeof actual === 'number' && typeof expected === 'number' && actual <= expected;
  }
}

export function ruleMatches(
  rule: Pick<RuleDefinition, 'conditions'>,
  values: RuleValues | RuleLookup,
): boolean {
  const valueOf = lookupOf(values);
  return rule.conditions.every((condition) => holds(condition, valueOf));
}

export interface RuleMatch {
  readonly id: string;
  readonly version: number;
  readonly name: string;
  readonly action: RuleAction;
  readonly mode: RuleMode;
}

export interface RulesOutcome {
  /** `none` when no active decline or allow rule matched (reviews may have). */
  readonly action: 'decline' | 'allow' | 'none';
  /** The rule that declined or allowed. */
  readonly decidedBy?: RuleMatch;
  /** Active rules that matched, in evaluation order, up to and including the one that decided. */
  readonly matched: readonly RuleMatch[];
  /** Whether an active review rule matched: approve, and raise an alert. */
  readonly review: boolean;
  /** Shadow rules that matched, with what they would have done. */
  readonly shadow: readonly RuleMatch[];
}

/** The order rules run in: priority, then id (ids sort by creation time). */
export function evaluationOrder<Rule extends Pick<RuleVersion, 'priority' | 'id'>>(
  rules: readonly Rule[],
): Rule[] {
  return [...rules].sort((a, b) =>
    a.priority !== b.priority ? a.priority - b.priority : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
  );
}

const matchOf = (rule: RuleVersion): RuleMatch => ({
  id: rule.id,
  version: rule.version,
  name: rule.name,
  action: rule.action,
  mode: rule.mode,
});

/** Evaluates a programme's rules, already in `evaluationOrder`, against one authorization's values. */
export function evaluateRules(
  ordered: readonly RuleVersion[],
  values: RuleValues | RuleLookup,
): RulesOutcome {
  const valueOf = lookupOf(values);
  const matched: RuleMatch[] = [];
  const shadow: RuleMatch[] = [];
  let decided: RuleMatch | undefined;
  let review = false;
  for (const rule of ordered) {
    if (rule.mode === 'shadow') {
      if (ruleMatches(rule, valueOf)) shadow.push(matchOf(rule));
      continue;
    }
    if (decided !== undefined || !ruleMatches(rule, valueOf)) continue;
    const match = matchOf(rule);
    matched.push(match);
    if (rule.action === 'review') review = true;
    else decided = match;
  }
  return {
    action: decided === undefined ? 'none' : decided.action === 'allow' ? 'allow' : 'decline',
    ...(decided === undefined ? {} : { decidedBy: decided }),
    matched,
    review,
    shadow,
  };
}

/** The catalogue as the API lists it (`GET /v1/risk/fields`). */
export function describeRuleFields(): {
  name: string;
  type: FieldType;
  operators: Operator[];
  values?: string[];
  description: string;
}[] {
  return RULE_FIELDS.map((field) => ({
    name: field.name,
    type: field.type,
    operators: [...OPERATORS_FOR[field.type]],
    ...(field.values === undefined ? {} : { values: [...field.values] }),
    description: field.description,
  }));
}
