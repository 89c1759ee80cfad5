import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../test/support/programs.js';
import { riskMemoryFor } from './risk-in-decision.js';

/**
 * Risk inside the decision, end to end through the simulator: the built-in protections, the programme's rules
 * (decline, review, allow, shadow), what an authorization records and shows, tuning, and the state features are
 * computed from (the cardholder's, kept with its row; the merchant's and device's, counted per process).
 */

interface RiskJson {
  readonly risk_score: number;
  readonly model_version: string;
  readonly top_features: { feature: string; value: unknown; contribution: number }[];
  readonly verdict: 'decline' | 'review' | 'pass';
  readonly rules: { id: string; version: number; name: string; action: string; mode: string }[];
  readonly shadow_rules: { id: string; name: string; action: string; mode: string }[];
  readonly protection: { protection: string; signal: string } | null;
}

interface AuthorizationJson {
  readonly id: string;
  readonly approved: boolean;
  readonly response_code: string;
  readonly decline_reason: string | null;
  readonly checks: { check: string; result: string; detail?: string }[];
  readonly risk: RiskJson | null;
}

let api: TestApi;

beforeAll(async () => {
  api = await openTestApi();
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

async function ok<T>(
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  headers: object,
  body?: unknown,
): Promise<T> {
  const answer = await send(method, url, headers, body);
  expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
  return answer.body as T;
}

let people = 0;
/** A cardholder with a loaded HKD wallet and one card. */
async function cardOf(program: TestProgram, load = 100_000): Promise<string> {
  people += 1;
  const holder = await ok<{ id: string }>('POST', '/v1/cardholders', program.headers, {
    name: `Chan Tai Man ${people}`,
  });
  const account = await ok<{ id: string }>('POST', '/v1/accounts', program.headers, {
    cardholder_id: holder.id,
    currency: 'HKD',
  });
  if (load > 0) {
    await ok('POST', `/v1/accounts/${account.id}/loads`, program.headers, { amount: load, currency: 'HKD' });
  }
  const card = await ok<{ id: string }>('POST', '/v1/cards', program.headers, {
    cardholder_id: holder.id,
    account_id: account.id,
    type: 'multi_use',
  });
  return card.id;
}

interface Purchase {
  readonly amount?: number;
  readonly merchant?: { name: string; mcc: string; country: string; acceptor_id: string };
  readonly ip_address?: string;
  readonly entry_mode?: string;
}

const GROCER = { name: 'Wellcome Central', mcc: '5411', country: 'HK', acceptor_id: 'WELL00000000001' };

async function authorize(
  program: TestProgram,
  card: string,
  purchase: Purchase = {},
): Promise<AuthorizationJson> {
  return ok<AuthorizationJson>('POST', '/v1/simulate/authorizations', program.headers, {
    card_id: card,
    amount: purchase.amount ?? 8_500,
    currency: 'HKD',
    merchant: purchase.merchant ?? GROCER,
    ...(purchase.ip_address === undefined ? {} : { ip_address: purchase.ip_address }),
    ...(purchase.entry_mode === undefined ? {} : { entry_mode: purchase.entry_mode }),
  });
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

describe('risk in the authorization', () => {
  it('declines a card-testing run across many cards at one merchant with 59 once the pattern is clear, while ordinary traffic passes', async () => {
    const program = await createTestProgram(api);
    const shop = { name: 'Tiny Gift Cards', mcc: '5999', country: 'HK', acceptor_id: 'TINY00000000001' };
    const testing = await Promise.all(Array.from({ length: 30 }, () => cardOf(program)));
    const shoppers = await Promise.all(Array.from({ length: 6 }, () => cardOf(program)));
    const ordinaryMerchants = [
      GROCER,
      { name: 'Tai Cheong Bakery', mcc: '5462', country: 'HK', acceptor_id: 'TAIC00000000001' },
      { name: 'MTR Octopus Top-up', mcc: '4111', country: 'HK', acceptor_id: 'MTRC00000000001' },
    ];
    const outcomes: AuthorizationJson[] = [];
    const ordinary: AuthorizationJson[] = [];
    for (const [index, card] of testing.entries()) {
      api.clock.advance(20 * SECOND);
      outcomes.push(await authorize(program, card, { amount: 100 + index, merchant: shop }));
      const shopper = shoppers[index % shoppers.length] ?? '';
      const merchant = ordinaryMerchants[index % ordinaryMerchants.length] ?? GROCER;
      ordinary.push(await authorize(program, shopper, { amount: 4_000 + index * 10, merchant }));
    }
    // Ten cards new to the merchant within the hour, each trying a small amount: the eleventh is the pattern.
    expect(outcomes.slice(0, 10).every((auth) => auth.approved)).toBe(true);
    for (const auth of outcomes.slice(10)) {
      expect(auth).toMatchObject({ approved: false, response_code: '59', decline_reason: 'suspected_fraud' });
      expect(auth.risk?.protection).toEqual({
        protection: 'card_testing',
        signal: 'many cards new to this merchant, small amounts',
      });
      expect(auth.checks.find((check) => check.check === 'risk')).toMatchObject({ result: 'fail' });
    }
    expect(ordinary.every((auth) => auth.approved && auth.risk?.verdict === 'pass')).toBe(true);
  });

  it('declines a card after many declines on it within the hour, and a burst on one card', async () => {
    const program = await createTestProgram(api);
    const empty = await cardOf(program, 0);
    const declines: AuthorizationJson[] = [];
    for (let i = 0; i < 7; i += 1) {
      api.clock.advance(2 * MINUTE);
      declines.push(await authorize(program, empty));
    }
    expect(declines.slice(0, 5).map((auth) => auth.decline_reason)).toEqual(
      Array(5).fill('insufficient_funds'),
    );
    expect(declines[5]).toMatchObject({ response_code: '59', decline_reason: 'suspected_fraud' });
    expect(declines[5]?.risk?.protection?.signal).toBe('many declines on this card');

    const busy = await cardOf(program);
    const burst: AuthorizationJson[] = [];
    for (let i = 0; i < 7; i += 1) {
      api.clock.advance(5 * SECOND);
      burst.push(await authorize(program, busy, { amount: 1_500 + i }));
    }
    expect(burst.slice(0, 5).every((auth) => auth.approved)).toBe(true);
    expect(burst[5]).toMatchObject({ approved: false, decline_reason: 'suspected_fraud' });
    expect(burst[5]?.risk?.protection).toEqual({
      protection: 'burst',
      signal: 'many authorizations on this card within a minute',
    });
  });

  it('runs the programme’s rules: decline, review with an alert, allow before the protections, and shadow', async () => {
    const program = await createTestProgram(api);
    const casino = {
      name: 'Lucky Casino Online',
      mcc: '7995',
      country: 'MO',
      acceptor_id: 'LUCK00000000001',
    };
    const decline = await ok<{ id: string }>('POST', '/v1/risk/rules', program.headers, {
      name: 'No gambling',
      action: 'decline',
      conditions: [{ field: 'merchant.mcc', operator: 'is_one_of', value: ['7995', '7800'] }],
    });
    const review = await ok<{ id: string }>('POST', '/v1/risk/rules', program.headers, {
      name: 'Large purchases',
      action: 'review',
      conditions: [{ field: 'amount', operator: '>=', value: 50_000 }],
    });
    const shadow = await ok<{ id: string }>('POST', '/v1/risk/rules', program.headers, {
      name: 'Would block the grocer',
      action: 'decline',
      mode: 'shadow',
      conditions: [{ field: 'merchant.acceptor_id', operator: '=', value: GROCER.acceptor_id }],
    });
    const allow = await ok<{ id: string }>('POST', '/v1/risk/rules', program.headers, {
      name: 'Trusted transit',
      action: 'allow',
      priority: -10,
      conditions: [{ field: 'merchant.mcc', operator: '=', value: '4111' }],
    });
    const card = await cardOf(program, 1_000_000);

    const gambled = await authorize(program, card, { merchant: casino });
    expect(gambled).toMatchObject({
      approved: false,
      response_code: '59',
      decline_reason: 'suspected_fraud',
    });
    expect(gambled.risk?.rules).toEqual([
      { id: decline.id, version: 1, name: 'No gambling', action: 'decline', mode: 'active' },
    ]);
    expect(gambled.checks.find((check) => check.check === 'risk')?.detail).toContain(decline.id);

    api.clock.advance(10 * MINUTE);
    const large = await authorize(program, card, { amount: 60_000 });
    expect(large.approved).toBe(true);
    expect(large.risk?.verdict).toBe('review');
    expect(large.risk?.rules.map((rule) => rule.id)).toEqual([review.id]);
    expect(large.risk?.shadow_rules.map((rule) => rule.id)).toEqual([shadow.id]);
    const alerts = await ok<{ data: { type: string; data: { object: { id: string } } }[] }>(
      'GET',
      '/v1/events?type=authorization.risk_alert',
      program.headers,
    );
    expect(alerts.data.map((event) => event.data.object.id)).toEqual([large.id]);

    // The allow rule comes before the burst protection: transit taps are never a burst.
    const transit = { name: 'MTR', mcc: '4111', country: 'HK', acceptor_id: 'MTRC00000000002' };
    const taps: AuthorizationJson[] = [];
    for (let i = 0; i < 8; i += 1)
      taps.push(await authorize(program, card, { amount: 1_200, merchant: transit }));
    expect(taps.every((auth) => auth.approved)).toBe(true);
    expect(taps[7]?.risk?.rules.map((rule) => rule.id)).toEqual([allow.id]);
    // Without it, the same card's next purchase elsewhere in the minute is a burst.
    const elsewhere = await authorize(program, card, { amount: 1_200 });
    expect(elsewhere.decline_reason).toBe('suspected_fraud');
  });

  it('uses a changed rule from the next decision on', async () => {
    const program = await createTestProgram(api);
    const card = await cardOf(program);
    const rule = await ok<{ id: string }>('POST', '/v1/risk/rules', program.headers, {
      name: 'Nothing over 50',
      action: 'decline',
      conditions: [{ field: 'amount', operator: '>', value: 5_000 }],
    });
    expect((await authorize(program, card)).decline_reason).toBe('suspected_fraud');
    await ok('PATCH', `/v1/risk/rules/${rule.id}`, program.headers, {
      conditions: [{ field: 'amount', operator: '>', value: 50_000 }],
    });
    api.clock.advance(5 * MINUTE);
    const after = await authorize(program, card);
    expect(after.approved).toBe(true);
    api.clock.advance(5 * MINUTE);
    const over = await authorize(program, card, { amount: 60_000 });
    expect(over.risk?.rules).toEqual([
      { id: rule.id, version: 2, name: 'Nothing over 50', action: 'decline', mode: 'active' },
    ]);
    await ok('PATCH', `/v1/risk/rules/${rule.id}`, program.headers, { status: 'disabled' });
    api.clock.advance(5 * MINUTE);
    expect((await authorize(program, card, { amount: 60_000 })).approved).toBe(true);
  });

  it('shows the score, its top features and the rules on GET /v1/authorizations/{id}', async () => {
    const program = await createTestProgram(api);
    const card = await cardOf(program);
    const made = await authorize(program, card);
    const shown = await ok<AuthorizationJson>('GET', `/v1/authorizations/${made.id}`, program.headers);
    expect(shown.risk).toEqual(made.risk);
    const risk = shown.risk;
    expect(risk).not.toBeNull();
    expect(Number.isInteger(risk?.risk_score)).toBe(true);
    expect(risk?.risk_score).toBeGreaterThanOrEqual(0);
    expect(risk?.risk_score).toBeLessThanOrEqual(99);
    expect(risk?.model_version).toMatch(/.+/);
    expect(risk?.top_features.length).toBeGreaterThan(0);
    expect(risk?.top_features.length).toBeLessThanOrEqual(3);
    expect(risk).toMatchObject({ verdict: 'pass', rules: [], shadow_rules: [], protection: null });
  });

  it('counts the cardholder’s history across decisions and a device across cards', async () => {
    const program = await createTestProgram(api);
    await ok('POST', '/v1/risk/rules', program.headers, {
      name: 'Fourth purchase in a day',
      action: 'decline',
      conditions: [{ field: 'card_count_24h', operator: '>=', value: 3 }],
    });
    await ok('POST', '/v1/risk/rules', program.headers, {
      name: 'Shared address',
      action: 'decline',
      conditions: [{ field: 'device_count_1h', operator: '>=', value: 3 }],
    });
    const card = await cardOf(program);
    const day: AuthorizationJson[] = [];
    for (let i = 0; i < 4; i += 1) {
      api.clock.advance(3 * 60 * MINUTE);
      day.push(await authorize(program, card));
    }
    expect(day.map((auth) => auth.approved)).toEqual([true, true, true, false]);

    api.clock.advance(2 * 24 * 60 * MINUTE);
    const others = await Promise.all(Array.from({ length: 4 }, () => cardOf(program)));
    const fromOneAddress: AuthorizationJson[] = [];
    for (const other of others) {
      api.clock.advance(MINUTE);
      fromOneAddress.push(await authorize(program, other, { ip_address: '203.0.113.7' }));
    }
    expect(fromOneAddress.map((auth) => auth.approved)).toEqual([true, true, true, false]);
    // Only once committed do a process's counters count a decision; a sync shares them with other processes.
    await riskMemoryFor(api.db).counters.sync(api.db, api.clock.now());
    const shared = await api.db.query<{ n: number }>(
      `SELECT sum(authorizations)::int AS n FROM risk_counter_minutes WHERE counter_key LIKE 'device:%'`,
    );
    expect(shared.rows[0]?.n).toBe(4);
  });

  it('starts a cardholder’s risk state again, with a warning, when the stored one cannot be read', async () => {
    const program = await createTestProgram(api);
    const card = await cardOf(program);
    const first = await authorize(program, card);
    await api.db.query(
      `UPDATE risk_cardholder_states SET state = '\\x09ff' WHERE cardholder_id = (
      SELECT cardholder_id FROM cards WHERE id = $1)`,
      [card],
    );
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      api.clock.advance(MINUTE);
      const second = await authorize(program, card);
      expect(second.approved).toBe(true);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(first.approved).toBe(true);
    expect(warnings).toContain('RiskStateWarning');
    const stored = await api.db.query<{ state: Uint8Array }>(
      'SELECT state FROM risk_cardholder_states WHERE cardholder_id = (SELECT cardholder_id FROM cards WHERE id = $1)',
      [card],
    );
    // Written again whole, from the authorization just decided.
    expect(stored.rows[0]?.state[0]).toBe(1);
  });

  it('tunes the protections per programme, and refuses bad settings naming the setting', async () => {
    const program = await createTestProgram(api);
    const defaults = await ok<Record<string, unknown>>('GET', '/v1/risk/protections', program.headers);
    expect(defaults).toMatchObject({
      object: 'risk_protections',
      program_id: program.program.id,
      card_testing: {
        enabled: true,
        new_cards_at_merchant_1h: 10,
        small_amount: 1_000,
        declines_on_card_1h: 5,
      },
      burst: { enabled: true, per_card_1m: 5, per_card_1h: 40 },
    });
    const bad = await send('POST', '/v1/risk/protections', program.headers, { burst: { per_card_1m: 0 } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('per_card_1m');
    const unknown = await send('POST', '/v1/risk/protections', program.headers, {
      velocity: { enabled: false },
    });
    expect(unknown.status).toBe(400);

    const card = await cardOf(program);
    const tuned = await ok<Record<string, unknown>>('POST', '/v1/risk/protections', program.headers, {
      burst: { per_card_1m: 2 },
    });
    expect(tuned).toMatchObject({ burst: { enabled: true, per_card_1m: 2, per_card_1h: 40 } });
    const three = [
      await authorize(program, card),
      await authorize(program, card),
      await authorize(program, card),
    ];
    expect(three.map((auth) => auth.approved)).toEqual([true, true, false]);

    await ok('POST', '/v1/risk/protections', program.headers, { burst: { enabled: false } });
    expect((await authorize(program, card)).approved).toBe(true);
    const events = await ok<{ data: unknown[] }>(
      'GET',
      '/v1/events?type=risk_protections.updated',
      program.headers,
    );
    expect(events.data).toHaveLength(2);
  });
});
