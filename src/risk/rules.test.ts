import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LantauError } from '../platform/errors.js';
import {
  evaluateRules,
  evaluationOrder,
  parseRuleDefinition,
  ruleMatches,
  RULE_FIELDS,
  type RuleCondition,
  type RuleDefinition,
  type RuleValues,
  type RuleVersion,
} from './rules.js';

function parsed(input: unknown): RuleDefinition {
  const result = parseRuleDefinition(input);
  if (result instanceof LantauError) throw new Error(`refused: ${result.message} at ${String(result.param)}`);
  return result;
}

function refused(input: unknown): LantauError {
  const result = parseRuleDefinition(input);
  if (!(result instanceof LantauError)) throw new Error('accepted a rule that should be refused');
  return result;
}

const one = (condition: unknown): unknown => ({ name: 'r', action: 'decline', conditions: [condition] });

const matches = (condition: RuleCondition, values: RuleValues): boolean =>
  ruleMatches(parsed(one(condition)), values);

let nextId = 0;
function rule(definition: Partial<RuleDefinition> & Pick<RuleDefinition, 'conditions'>): RuleVersion {
  nextId += 1;
  return {
    id: `rule_${String(nextId).padStart(26, '0')}`,
    version: 1,
    name: definition.name ?? `rule ${String(nextId)}`,
    action: definition.action ?? 'decline',
    mode: definition.mode ?? 'active',
    priority: definition.priority ?? 0,
    conditions: definition.conditions,
  };
}

const always: RuleCondition = { field: 'amount', operator: '>=', value: 0 };
const never: RuleCondition = { field: 'amount', operator: '<', value: 0 };

describe('rule conditions', () => {
  it('compares numbers with >, >=, <, <= and =', () => {
    const values = { amount: 500 };
    expect(matches({ field: 'amount', operator: '>', value: 499 }, values)).toBe(true);
    expect(matches({ field: 'amount', operator: '>', value: 500 }, values)).toBe(false);
    expect(matches({ field: 'amount', operator: '>=', value: 500 }, values)).toBe(true);
    expect(matches({ field: 'amount', operator: '>=', value: 501 }, values)).toBe(false);
    expect(matches({ field: 'amount', operator: '<', value: 501 }, values)).toBe(true);
    expect(matches({ field: 'amount', operator: '<', value: 500 }, values)).toBe(false);
    expect(matches({ field: 'amount', operator: '<=', value: 500 }, values)).toBe(true);
    expect(matches({ field: 'amount', operator: '<=', value: 499 }, values)).toBe(false);
    expect(matches({ field: 'amount', operator: '=', value: 500 }, values)).toBe(true);
    expect(matches({ field: 'amount', operator: '=', value: 501 }, values)).toBe(false);
  });

  it('tests membership with is_one_of and is_not_one_of, for text and numbers', () => {
    const values = { 'merchant.mcc': '7995', card_count_1h: 3 };
    expect(matches({ field: 'merchant.mcc', operator: 'is_one_of', value: ['7995', '6051'] }, values)).toBe(
      true,
    );
    expect(matches({ field: 'merchant.mcc', operator: 'is_one_of', value: ['5411'] }, values)).toBe(false);
    expect(matches({ field: 'merchant.mcc', operator: 'is_not_one_of', value: ['5411'] }, values)).toBe(true);
    expect(matches({ field: 'merchant.mcc', operator: 'is_not_one_of', value: ['7995'] }, values)).toBe(
      false,
    );
    expect(matches({ field: 'card_count_1h', operator: 'is_one_of', value: [1, 2, 3] }, values)).toBe(true);
    expect(matches({ field: 'card_count_1h', operator: 'is_not_one_of', value: [1, 2, 3] }, values)).toBe(
      false,
    );
  });

  it('compares booleans and categories with =', () => {
    const values = { first_time_merchant: true, entry_mode: 'ecommerce', mcc_risk_class: 'high' };
    expect(matches({ field: 'first_time_merchant', operator: '=', value: true }, values)).toBe(true);
    expect(matches({ field: 'first_time_merchant', operator: '=', value: false }, values)).toBe(false);
    expect(matches({ field: 'entry_mode', operator: '=', value: 'ecommerce' }, values)).toBe(true);
    expect(
      matches({ field: 'mcc_risk_class', operator: 'is_one_of', value: ['medium', 'high'] }, values),
    ).toBe(true);
  });

  it('never holds on a value the authorization does not have, whatever the operator', () => {
    for (const condition of [
      { field: 'device_count_1h', operator: '>=', value: 0 },
      { field: 'device_count_1h', operator: 'is_not_one_of', value: [5] },
      { field: 'merchant.country', operator: 'is_not_one_of', value: ['HK'] },
    ] as const) {
      expect(matches(condition, {})).toBe(false);
      expect(matches(condition, { [condition.field]: null })).toBe(false);
    }
  });

  it('needs every condition of a rule to hold', () => {
    const both = parsed({
      name: 'small and new',
      action: 'decline',
      conditions: [
        { field: 'amount', operator: '<', value: 200 },
        { field: 'first_time_merchant', operator: '=', value: true },
      ],
    });
    expect(ruleMatches(both, { amount: 100, first_time_merchant: true })).toBe(true);
    expect(ruleMatches(both, { amount: 100, first_time_merchant: false })).toBe(false);
    expect(ruleMatches(both, { amount: 300, first_time_merchant: true })).toBe(false);
  });

  it('is_one_of and is_not_one_of are each other’s opposites wherever the value is present', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 8 }),
        (amount, list) => {
          const inList = matches({ field: 'amount', operator: 'is_one_of', value: list }, { amount });
          const notIn = matches({ field: 'amount', operator: 'is_not_one_of', value: list }, { amount });
          return inList !== notIn && inList === list.includes(amount);
        },
      ),
    );
  });
});

describe('rule evaluation order', () => {
  it('runs by priority, then by id, and the first decline decides', () => {
    const late = rule({ name: 'late', priority: 10, conditions: [always] });
    const early = rule({ name: 'early', priority: -5, conditions: [always] });
    const sameLater = rule({ name: 'same priority, created later', priority: 10, conditions: [always] });
    const order = evaluationOrder([sameLater, late, early]);
    expect(order.map((each) => each.name)).toEqual(['early', 'late', 'same priority, created later']);
    const outcome = evaluateRules(order, { amount: 1 });
    expect(outcome.action).toBe('decline');
    expect(outcome.decidedBy?.name).toBe('early');
    expect(outcome.matched.map((each) => each.name)).toEqual(['early']);
  });

  it('lets an allow rule before a decline rule allow, and a decline before an allow decline', () => {
    const allow = rule({ name: 'trusted merchant', action: 'allow', priority: 1, conditions: [always] });
    const decline = rule({ name: 'block', action: 'decline', priority: 2, conditions: [always] });
    expect(evaluateRules(evaluationOrder([decline, allow]), { amount: 1 })).toMatchObject({
      action: 'allow',
      decidedBy: { name: 'trusted merchant' },
    });
    const first = rule({ name: 'block first', action: 'decline', priority: 0, conditions: [always] });
    expect(evaluateRules(evaluationOrder([allow, first]), { amount: 1 })).toMatchObject({
      action: 'decline',
      decidedBy: { name: 'block first' },
    });
  });

  it('goes on past a review, which approves and raises an alert', () => {
    const review = rule({ name: 'look at it', action: 'review', priority: 1, conditions: [always] });
    const unmatched = rule({ name: 'no', action: 'decline', priority: 2, conditions: [never] });
    const decline = rule({ name: 'later decline', action: 'decline', priority: 3, conditions: [always] });
    const reviewed = evaluateRules(evaluationOrder([review, unmatched]), { amount: 1 });
    expect(reviewed).toMatchObject({ action: 'none', review: true });
    expect(reviewed.matched.map((each) => each.name)).toEqual(['look at it']);
    const both = evaluateRules(evaluationOrder([review, decline]), { amount: 1 });
    expect(both).toMatchObject({ action: 'decline', review: true });
    expect(both.matched.map((each) => each.name)).toEqual(['look at it', 'later decline']);
  });

  it('records what shadow rules would have done, always, and lets none of them change the outcome', () => {
    const shadowDecline = rule({ name: 'trial', mode: 'shadow', priority: -1, conditions: [always] });
    const allow = rule({ name: 'allow', action: 'allow', priority: 0, conditions: [always] });
    const shadowAfter = rule({ name: 'trial after', mode: 'shadow', priority: 5, conditions: [always] });
    const shadowNo = rule({ name: 'trial, no match', mode: 'shadow', priority: 6, conditions: [never] });
    const outcome = evaluateRules(evaluationOrder([shadowDecline, allow, shadowAfter, shadowNo]), {
      amount: 1,
    });
    expect(outcome.action).toBe('allow');
    expect(outcome.shadow.map((each) => [each.name, each.action])).toEqual([
      ['trial', 'decline'],
      ['trial after', 'decline'],
    ]);
    const alone = evaluateRules([shadowDecline], { amount: 1 });
    expect(alone).toMatchObject({ action: 'none', review: false, matched: [] });
  });
});

describe('rule validation', () => {
  it('takes a whole rule, with defaults for mode and priority', () => {
    expect(
      parsed({
        name: 'Card testing at one merchant',
        action: 'decline',
        conditions: [
          { field: 'merchant_new_cards_1h', operator: '>=', value: 10 },
          { field: 'amount', operator: '<', value: 500 },
          { field: 'entry_mode', operator: 'is_one_of', value: ['ecommerce', 'keyed'] },
        ],
      }),
    ).toEqual({
      name: 'Card testing at one merchant',
      action: 'decline',
      mode: 'active',
      priority: 0,
      conditions: [
        { field: 'merchant_new_cards_1h', operator: '>=', value: 10 },
        { field: 'amount', operator: '<', value: 500 },
        { field: 'entry_mode', operator: 'is_one_of', value: ['ecommerce', 'keyed'] },
      ],
    });
  });

  it('refuses an unknown field, naming it and where it is', () => {
    const error = refused({
      name: 'r',
      action: 'decline',
      conditions: [always, { field: 'merchant.colour', operator: '=', value: 'red' }],
    });
    expect(error).toMatchObject({ status: 400, code: 'rule_field_unknown', param: 'conditions[1].field' });
    expect(error.message).toContain("'merchant.colour'");
  });

  it('refuses an operator the field’s type does not take, saying which it does', () => {
    const error = refused(one({ field: 'merchant.mcc', operator: '>', value: '5000' }));
    expect(error).toMatchObject({ code: 'rule_operator_invalid', param: 'conditions[0].operator' });
    expect(error.message).toBe('merchant.mcc is a string: its operators are =, is_one_of, is_not_one_of');
    expect(
      refused(one({ field: 'first_time_merchant', operator: 'is_one_of', value: [true] })),
    ).toMatchObject({
      code: 'rule_operator_invalid',
    });
  });

  it('refuses a value of the wrong type or shape, pointing at it', () => {
    expect(refused(one({ field: 'amount', operator: '>', value: '100' }))).toMatchObject({
      code: 'rule_value_invalid',
      param: 'conditions[0].value',
      message: 'amount is a number: the value must be a finite number, not a string',
    });
    expect(refused(one({ field: 'amount', operator: 'is_one_of', value: 100 }))).toMatchObject({
      code: 'rule_value_invalid',
      message: 'is_one_of takes a list of 1 to 1000 values, not a number',
    });
    expect(
      refused(one({ field: 'merchant.mcc', operator: 'is_one_of', value: ['7995', 7995] })),
    ).toMatchObject({
      param: 'conditions[0].value[1]',
    });
    expect(refused(one({ field: 'merchant.country', operator: '=', value: 'hk' }))).toMatchObject({
      param: 'conditions[0].value',
    });
    expect(refused(one({ field: 'entry_mode', operator: '=', value: 'telepathy' }))).toMatchObject({
      message: "entry_mode is one of ecommerce, contactless, chip, magstripe, keyed, never 'telepathy'",
    });
    expect(refused(one({ field: 'impossible_travel', operator: '=', value: 'yes' }))).toMatchObject({
      code: 'rule_value_invalid',
    });
  });

  it('refuses a bad action, mode, priority, name, condition list or property', () => {
    expect(refused({ name: 'r', action: 'block', conditions: [always] })).toMatchObject({ param: 'action' });
    expect(refused({ name: 'r', action: 'decline', mode: 'off', conditions: [always] })).toMatchObject({
      param: 'mode',
    });
    expect(refused({ name: 'r', action: 'decline', priority: 1.5, conditions: [always] })).toMatchObject({
      param: 'priority',
    });
    expect(refused({ name: '  ', action: 'decline', conditions: [always] })).toMatchObject({ param: 'name' });
    expect(refused({ name: 'r', action: 'decline', conditions: [] })).toMatchObject({ param: 'conditions' });
    expect(refused({ name: 'r', action: 'decline', conditions: [always], when: 'now' })).toMatchObject({
      param: 'when',
    });
    expect(refused(one({ field: 'amount', operator: '>', value: 1, note: 'x' }))).toMatchObject({
      param: 'conditions[0].note',
    });
    expect(refused(one({ field: 'amount', operator: '!=', value: 1 }))).toMatchObject({
      param: 'conditions[0].operator',
    });
    expect(refused([])).toMatchObject({ code: 'rule_invalid' });
  });

  it('never throws on any JSON: it returns a rule or a 400', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({
            name: fc.oneof(fc.string(), fc.jsonValue()),
            action: fc.constantFrom('decline', 'review', 'allow', 'nope'),
            conditions: fc.array(
              fc.record({
                field: fc.constantFrom(...RULE_FIELDS.map((field) => field.name), 'unknown'),
                operator: fc.constantFrom('is_one_of', 'is_not_one_of', '>', '>=', '<', '<=', '=', '~'),
                value: fc.jsonValue(),
              }),
              { maxLength: 4 },
            ),
          }),
        ),
        (input) => {
          const result = parseRuleDefinition(input);
          return result instanceof LantauError ? result.status === 400 : result.conditions.length > 0;
        },
      ),
    );
  });
});
