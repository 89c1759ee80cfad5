import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../../../test/support/programs.js';
import { FEATURE_NAMES } from '../../../risk/features.js';
import { enabledRules } from '../../../risk/rule-store.js';

interface RuleJson {
  readonly id: string;
  readonly object: 'risk_rule';
  readonly program_id: string;
  readonly version: number;
  readonly status: 'enabled' | 'disabled';
  readonly name: string;
  readonly action: string;
  readonly mode: string;
  readonly priority: number;
  readonly conditions: { field: string; operator: string; value: unknown }[];
}

interface ErrorJson {
  readonly error: {
    readonly type: string;
    readonly code: string;
    readonly message: string;
    readonly param?: string;
  };
}

let api: TestApi;
let main: TestProgram;
let other: TestProgram;

beforeAll(async () => {
  api = await openTestApi();
  main = await createTestProgram(api);
  other = await createTestProgram(api);
});
afterAll(async () => api.close());

async function send(method: 'GET' | 'POST' | 'PATCH', url: string, headers: object, body?: unknown) {
  const response = await api.app.inject({
    method,
    url,
    headers: { ...headers },
    ...(body === undefined ? {} : { payload: body as object }),
  });
  return { status: response.statusCode, body: response.json<unknown>() };
}

const cardTesting = {
  name: 'Card testing at one merchant',
  action: 'decline',
  conditions: [
    { field: 'merchant_new_cards_1h', operator: '>=', value: 10 },
    { field: 'amount', operator: '<', value: 500 },
  ],
};

async function rulesVersion(programId: string): Promise<number> {
  const found = await api.db.query<{ risk_rules_version: number }>(
    'SELECT risk_rules_version FROM programs WHERE id = $1',
    [programId],
  );
  return found.rows[0]?.risk_rules_version ?? -1;
}

describe('/v1/risk/rules', () => {
  it('creates a rule as version 1, with its event and audit entry, and moves the programme’s rules version on', async () => {
    const before = await rulesVersion(main.program.id);
    const created = await send('POST', '/v1/risk/rules', main.headers, cardTesting);
    expect(created.status).toBe(201);
    const rule = created.body as RuleJson;
    expect(rule).toMatchObject({
      object: 'risk_rule',
      program_id: main.program.id,
      version: 1,
      status: 'enabled',
      mode: 'active',
      priority: 0,
      name: cardTesting.name,
      conditions: cardTesting.conditions,
    });
    expect(rule.id).toMatch(/^rule_[0-9a-z]{26}$/);
    expect(await rulesVersion(main.program.id)).toBe(before + 1);
    const events = await api.db.query<{ type: string }>(
      `SELECT type FROM events WHERE data->'object'->>'id' = $1`,
      [rule.id],
    );
    expect(events.rows.map((row) => row.type)).toEqual(['risk_rule.created']);
    const audit = await api.db.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE target_id = $1`,
      [rule.id],
    );
    expect(audit.rows.map((row) => row.action)).toEqual(['risk_rule.created']);
    expect(await send('GET', `/v1/risk/rules/${rule.id}`, main.headers)).toMatchObject({
      status: 200,
      body: { id: rule.id, version: 1 },
    });
  });

  it('makes a new version when what a rule says changes, keeps every version, and none for a no-op', async () => {
    const rule = (await send('POST', '/v1/risk/rules', main.headers, cardTesting)).body as RuleJson;
    const before = await rulesVersion(main.program.id);
    const changed = await send('PATCH', `/v1/risk/rules/${rule.id}`, main.headers, {
      conditions: [{ field: 'merchant_new_cards_1h', operator: '>=', value: 5 }],
      mode: 'shadow',
    });
    expect(changed).toMatchObject({
      status: 200,
      body: { version: 2, mode: 'shadow', conditions: [{ field: 'merchant_new_cards_1h', value: 5 }] },
    });
    expect(await rulesVersion(main.program.id)).toBe(before + 1);
    const same = await send('PATCH', `/v1/risk/rules/${rule.id}`, main.headers, { mode: 'shadow' });
    expect(same).toMatchObject({ status: 200, body: { version: 2 } });
    // Nothing changed: no version, no event, and caches keep what they hold.
    expect(await rulesVersion(main.program.id)).toBe(before + 1);
    const disabled = await send('PATCH', `/v1/risk/rules/${rule.id}`, main.headers, { status: 'disabled' });
    expect(disabled).toMatchObject({ status: 200, body: { version: 2, status: 'disabled' } });
    const versions = await send('GET', `/v1/risk/rules/${rule.id}/versions`, main.headers);
    expect(versions.status).toBe(200);
    expect((versions.body as { data: { version: number; mode: string }[] }).data).toMatchObject([
      { version: 2, mode: 'shadow' },
      { version: 1, mode: 'active' },
    ]);
    const events = await api.db.query<{ type: string }>(
      `SELECT type FROM events WHERE data->'object'->>'id' = $1 ORDER BY seq`,
      [rule.id],
    );
    expect(events.rows.map((row) => row.type)).toEqual([
      'risk_rule.created',
      'risk_rule.updated',
      'risk_rule.updated',
    ]);
    // A disabled rule is kept, and listed, but never evaluated.
    expect((await enabledRules(api.db, main.program.id)).map((each) => each.id)).not.toContain(rule.id);
  });

  it('refuses a bad rule with a 400 that names the part at fault, and changes nothing', async () => {
    const before = await rulesVersion(main.program.id);
    const unknownField = await send('POST', '/v1/risk/rules', main.headers, {
      ...cardTesting,
      conditions: [cardTesting.conditions[0], { field: 'merchant.colour', operator: '=', value: 'red' }],
    });
    expect(unknownField.status).toBe(400);
    expect((unknownField.body as ErrorJson).error).toMatchObject({
      code: 'rule_field_unknown',
      param: 'conditions[1].field',
    });
    const wrongType = await send('POST', '/v1/risk/rules', main.headers, {
      ...cardTesting,
      conditions: [{ field: 'merchant.mcc', operator: '>', value: '5000' }],
    });
    expect((wrongType.body as ErrorJson).error).toMatchObject({
      code: 'rule_operator_invalid',
      param: 'conditions[0].operator',
      message: 'merchant.mcc is a string: its operators are =, is_one_of, is_not_one_of',
    });
    const wrongValue = await send('POST', '/v1/risk/rules', main.headers, {
      ...cardTesting,
      conditions: [{ field: 'amount', operator: '>', value: '100' }],
    });
    expect((wrongValue.body as ErrorJson).error).toMatchObject({
      code: 'rule_value_invalid',
      param: 'conditions[0].value',
    });
    const badAction = await send('POST', '/v1/risk/rules', main.headers, { ...cardTesting, action: 'block' });
    expect(badAction.status).toBe(400);
    expect(await rulesVersion(main.program.id)).toBe(before);
    const rule = (await send('POST', '/v1/risk/rules', main.headers, cardTesting)).body as RuleJson;
    const badPatch = await send('PATCH', `/v1/risk/rules/${rule.id}`, main.headers, {
      conditions: [{ field: 'first_time_merchant', operator: '=', value: 'yes' }],
    });
    expect((badPatch.body as ErrorJson).error).toMatchObject({ param: 'conditions[0].value' });
    expect(await send('GET', `/v1/risk/rules/${rule.id}`, main.headers)).toMatchObject({
      body: { version: 1 },
    });
  });

  it('keeps each programme to its own rules', async () => {
    const rule = (await send('POST', '/v1/risk/rules', main.headers, cardTesting)).body as RuleJson;
    expect((await send('GET', `/v1/risk/rules/${rule.id}`, other.headers)).status).toBe(404);
    expect(
      (await send('PATCH', `/v1/risk/rules/${rule.id}`, other.headers, { status: 'disabled' })).status,
    ).toBe(404);
    const listed = await send('GET', '/v1/risk/rules?limit=100', other.headers);
    expect((listed.body as { data: RuleJson[] }).data.map((each) => each.id)).not.toContain(rule.id);
    const mine = await send('GET', '/v1/risk/rules?limit=100', main.headers);
    expect((mine.body as { data: RuleJson[] }).data.map((each) => each.id)).toContain(rule.id);
    const operatorMade = await send('POST', '/v1/risk/rules', api.operatorHeaders, {
      ...cardTesting,
      program_id: other.program.id,
    });
    expect(operatorMade).toMatchObject({ status: 201, body: { program_id: other.program.id } });
    // Another programme's id is answered as if it did not exist.
    expect(
      (await send('POST', '/v1/risk/rules', main.headers, { ...cardTesting, program_id: other.program.id }))
        .status,
    ).toBe(404);
  });

  it('backtests a version of a rule over the programme’s authorizations, features computed from its history', async () => {
    const program = await createTestProgram(api);
    const post = async (url: string, body: unknown) => {
      const answer = await send('POST', url, program.headers, body);
      expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
      return answer.body as { id: string; approved?: boolean };
    };
    const newCard = async () => {
      const holder = await post('/v1/cardholders', { name: 'Chan Tai Man' });
      const wallet = await post('/v1/accounts', { cardholder_id: holder.id, currency: 'HKD' });
      await post(`/v1/accounts/${wallet.id}/loads`, { amount: 100_000, currency: 'HKD' });
      return (await post('/v1/cards', { cardholder_id: holder.id, account_id: wallet.id, type: 'multi_use' }))
        .id;
    };
    const tester = { name: 'Gift Codes Online', mcc: '5816', country: 'HK', acceptor_id: 'GCO000000000001' };
    const bakery = { name: 'Tai Cheong Bakery', mcc: '5812', country: 'HK', acceptor_id: 'TCB000000000001' };
    const cards = [];
    for (let n = 0; n < 6; n += 1) cards.push(await newCard());
    // Six cards each try one small amount at one merchant, a second apart; the first card also buys bread.
    for (const [n, cardId] of cards.entries()) {
      api.clock.advance(1_000);
      await post('/v1/simulate/authorizations', {
        card_id: cardId,
        amount: 100 + n,
        currency: 'HKD',
        merchant: tester,
        entry_mode: 'ecommerce',
      });
    }
    api.clock.advance(1_000);
    await post('/v1/simulate/authorizations', {
      card_id: cards[0],
      amount: 4_500,
      currency: 'HKD',
      merchant: bakery,
      entry_mode: 'contactless',
    });
    api.clock.advance(1_000);
    const rule = await post('/v1/risk/rules', {
      name: 'Several new cards at one merchant',
      action: 'decline',
      mode: 'shadow',
      conditions: [
        { field: 'merchant_new_cards_1h', operator: '>=', value: 3 },
        { field: 'first_time_merchant', operator: '=', value: true },
      ],
    });
    const backtest = await send('POST', `/v1/risk/rules/${rule.id}/backtest`, program.headers);
    expect(backtest.status, JSON.stringify(backtest.body)).toBe(200);
    // The fourth, fifth and sixth cards came after three new cards at the merchant; the bread did not match.
    expect(backtest.body).toMatchObject({
      object: 'risk_rule_backtest',
      rule_id: rule.id,
      version: 1,
      action: 'decline',
      evaluated: 7,
      matched: 3,
      matched_approved: 3,
      matched_declined: 0,
    });
    const sample = (backtest.body as { sample: { amount: number; risk_score: number }[] }).sample;
    expect(sample.map((each) => each.amount)).toEqual([103, 104, 105]);
    for (const each of sample) expect(each.risk_score).toBeGreaterThanOrEqual(0);
    // Version 2 asks for more than there were: nothing; version 1 can still be run by number.
    await send('PATCH', `/v1/risk/rules/${rule.id}`, program.headers, {
      conditions: [{ field: 'merchant_new_cards_1h', operator: '>=', value: 6 }],
    });
    expect(await send('POST', `/v1/risk/rules/${rule.id}/backtest`, program.headers, {})).toMatchObject({
      body: { version: 2, matched: 0, evaluated: 7 },
    });
    expect(
      await send('POST', `/v1/risk/rules/${rule.id}/backtest`, program.headers, { version: 1 }),
    ).toMatchObject({ body: { version: 1, matched: 3 } });
    // Only what is inside the range is evaluated; a bad range is refused.
    const now = api.clock.now().getTime();
    expect(
      await send('POST', `/v1/risk/rules/${rule.id}/backtest`, program.headers, {
        from: new Date(now - 3_500).toISOString(),
        version: 1,
      }),
    ).toMatchObject({ body: { evaluated: 3, matched: 2 } });
    expect(
      await send('POST', `/v1/risk/rules/${rule.id}/backtest`, program.headers, {
        from: new Date(now).toISOString(),
        to: new Date(now - 1_000).toISOString(),
      }),
    ).toMatchObject({ status: 400, body: { error: { code: 'range_invalid' } } });
    expect((await send('POST', `/v1/risk/rules/${rule.id}/backtest`, other.headers)).status).toBe(404);
  });

  it('lists the fields conditions can test, with their operators', async () => {
    const fields = await send('GET', '/v1/risk/fields', main.headers);
    expect(fields.status).toBe(200);
    const data = (
      fields.body as { data: { name: string; type: string; operators: string[]; values?: string[] }[] }
    ).data;
    expect(data.find((field) => field.name === 'merchant.mcc')).toMatchObject({
      type: 'string',
      operators: ['=', 'is_one_of', 'is_not_one_of'],
    });
    expect(data.find((field) => field.name === 'card_count_1h')).toMatchObject({ type: 'number' });
    // The whole catalogue: every scope's counts, amounts and declines over every window among them.
    expect(data.map((field) => field.name)).toEqual(expect.arrayContaining([...FEATURE_NAMES]));
    expect(data.find((field) => field.name === 'device_declines_7d')).toMatchObject({ type: 'number' });
    expect(data.find((field) => field.name === 'merchant_new_cards_24h')).toMatchObject({ type: 'number' });
    expect(data.find((field) => field.name === 'entry_mode')?.values).toContain('ecommerce');
  });
});
