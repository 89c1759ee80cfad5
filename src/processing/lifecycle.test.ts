import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../test/support/programs.js';
import { verifyLedger } from '../ledger/verify.js';
import { authorize, type AuthorizationRequest, type ProcessingContext } from './authorize.js';
import type { Merchant } from './authorizations.js';
import { getAuthorization } from './authorizations.js';
import { convertForCard } from './fx.js';
import {
  expireAuthorization,
  expireAuthorizations,
  incrementAuthorization,
  reverseAuthorization,
} from './lifecycle.js';

/**
 * The lifecycle before clearing, in-process: the scheduled expiry job (7 days, 31 for lodging), increments and
 * reversals in a foreign currency at the authorization's own rate, and network repeats of increments and reversals.
 * This file has a database of its own, so the job sees only its holds.
 */

interface Json {
  [key: string]: unknown;
}

interface Balance {
  readonly available: number;
  readonly pending: number;
  readonly posted: number;
}

type Headers = Readonly<Record<string, string>>;

const DAY_MS = 86_400_000;

let api: TestApi;
let program: TestProgram;
let context: ProcessingContext;

beforeAll(async () => {
  api = await openTestApi();
  program = await createTestProgram(api);
  context = { ...api.issuing, convert: convertForCard };
});
afterAll(async () => api.close());

async function post(headers: Headers, url: string, payload?: unknown) {
  const response = await api.app.inject({
    method: 'POST',
    url,
    headers: { ...headers },
    ...(payload === undefined ? {} : { payload: payload as Json }),
  });
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response.json<Json>();
}

const DINER: Merchant = {
  name: 'Yung Kee',
  mcc: '5812',
  country: 'HK',
  city: 'Hong Kong',
  acceptor_id: 'YKR000000000001',
  acquirer_id: '40000000001',
};
const HOTEL: Merchant = { ...DINER, name: 'Mandarin Oriental', mcc: '7011', acceptor_id: 'MOH000000000001' };
const CAR_RENTAL: Merchant = { ...DINER, name: 'Avis', mcc: '7512', acceptor_id: 'AVS000000000001' };

let people = 0;
/** A cardholder, an HKD wallet with `load` and one card. */
async function walletWithCard(load = 10_000): Promise<{ account: string; card: string }> {
  people += 1;
  const holder = await post(program.headers, '/v1/cardholders', { name: `Lee Ka Yan ${people}` });
  const account = await post(program.headers, '/v1/accounts', { cardholder_id: holder.id, currency: 'HKD' });
  await post(program.headers, `/v1/accounts/${String(account.id)}/loads`, { amount: load, currency: 'HKD' });
  const card = await post(program.headers, '/v1/cards', {
    cardholder_id: holder.id,
    account_id: account.id,
    type: 'multi_use',
  });
  return { account: String(account.id), card: String(card.id) };
}

async function expectBalance(account: string, balance: Balance): Promise<void> {
  const response = await api.app.inject({
    method: 'GET',
    url: `/v1/accounts/${account}`,
    headers: { ...program.headers },
  });
  expect(response.json<{ balance: Balance }>().balance).toEqual(balance);
  const report = await verifyLedger(api.db);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

function request(
  cardId: string,
  amount: number,
  extra: Partial<AuthorizationRequest> = {},
): AuthorizationRequest {
  return {
    card: { id: cardId },
    amount,
    currency: 'HKD',
    merchant: DINER,
    entryMode: 'ecommerce',
    partialAllowed: false,
    ...extra,
  };
}

const status = async (id: string) => (await getAuthorization(api.db, program.program.id, id)).status;

describe('expireAuthorizations (the scheduled job)', () => {
  it('releases holds past 7 days, and lodging and car rental past 31, marking each authorization expired', async () => {
    const { account, card } = await walletWithCard(100_000);
    const meal = await authorize(context, request(card, 2_000));
    const tab = await authorize(context, request(card, 1_000));
    api.clock.advance(60_000);
    // An increment a minute later expires with the authorization, not a minute after it.
    const incremented = await incrementAuthorization(context, program.program.id, tab.id, { amount: 500 });
    expect(incremented).toMatchObject({ amount: 1_500, expires_at: tab.expires_at });
    const stay = await authorize(context, request(card, 30_000, { merchant: HOTEL }));
    const car = await authorize(context, request(card, 5_000, { merchant: CAR_RENTAL }));
    expect(new Date(stay.expires_at ?? '').getTime() - new Date(stay.created).getTime()).toBe(31 * DAY_MS);
    expect(new Date(car.expires_at ?? '').getTime() - new Date(car.created).getTime()).toBe(31 * DAY_MS);
    await expectBalance(account, { available: 61_500, pending: 38_500, posted: 100_000 });

    // A second before the meal's hold runs out, nothing is due.
    api.clock.set(new Date(new Date(meal.expires_at ?? '').getTime() - 1_000));
    expect(await expireAuthorizations(context)).toBe(0);
    expect(await status(meal.id)).toBe('pending');
    await expectBalance(account, { available: 61_500, pending: 38_500, posted: 100_000 });

    // At 7 days the meal's hold and both of the tab's are released; lodging and the car rental hold on.
    api.clock.advance(1_000);
    expect(await expireAuthorizations(context)).toBe(3);
    expect(await getAuthorization(api.db, program.program.id, meal.id)).toMatchObject({
      status: 'expired',
      amount: 0,
      approved_amount: 2_000,
    });
    expect(await getAuthorization(api.db, program.program.id, tab.id)).toMatchObject({
      status: 'expired',
      amount: 0,
      approved_amount: 1_500,
    });
    expect(await status(stay.id)).toBe('pending');
    expect(await status(car.id)).toBe('pending');
    await expectBalance(account, { available: 65_000, pending: 35_000, posted: 100_000 });
    // Nothing more is due: the job is idempotent.
    expect(await expireAuthorizations(context)).toBe(0);
    await expectBalance(account, { available: 65_000, pending: 35_000, posted: 100_000 });

    api.clock.set(new Date(stay.expires_at ?? ''));
    expect(await expireAuthorizations(context)).toBe(2);
    expect(await status(stay.id)).toBe('expired');
    expect(await status(car.id)).toBe('expired');
    await expectBalance(account, { available: 100_000, pending: 0, posted: 100_000 });

    const events = await api.db.query<{ type: string; status: string }>(
      `SELECT type, data->'object'->>'status' AS status FROM events WHERE data->'object'->>'id' = $1 ORDER BY id`,
      [meal.id],
    );
    expect(events.rows).toEqual([
      { type: 'authorization.created', status: 'pending' },
      { type: 'authorization.updated', status: 'expired' },
    ]);
    const updates = await api.db.query<{ kind: string; amount: number }>(
      'SELECT kind, amount FROM authorization_updates WHERE authorization_id = $1 ORDER BY id',
      [tab.id],
    );
    expect(updates.rows).toEqual([
      { kind: 'increment', amount: 500 },
      { kind: 'expiry', amount: 1_500 },
    ]);
  });

  it('expires what a partial reversal left held, at the original expiry, in batches of `limit`', async () => {
    const { account, card } = await walletWithCard();
    const first = await authorize(context, request(card, 4_000));
    const second = await authorize(context, request(card, 1_000));
    const third = await authorize(context, request(card, 1_000));
    api.clock.advance(DAY_MS);
    const reversed = await reverseAuthorization(context, program.program.id, first.id, { amount: 1_500 });
    expect(reversed).toMatchObject({ status: 'pending', amount: 2_500, expires_at: first.expires_at });
    await expectBalance(account, { available: 5_500, pending: 4_500, posted: 10_000 });

    api.clock.set(new Date(first.expires_at ?? ''));
    // The oldest holds first: the two untouched ones, then the remainder held again at the reversal.
    expect(await expireAuthorizations(context, 2)).toBe(2);
    expect([await status(first.id), await status(second.id), await status(third.id)]).toEqual([
      'pending',
      'expired',
      'expired',
    ]);
    await expectBalance(account, { available: 7_500, pending: 2_500, posted: 10_000 });
    expect(await expireAuthorizations(context, 2)).toBe(1);
    expect(await expireAuthorizations(context, 2)).toBe(0);
    for (const id of [first.id, second.id, third.id]) expect(await status(id)).toBe('expired');
    await expectBalance(account, { available: 10_000, pending: 0, posted: 10_000 });
  });

  it('leaves alone what the simulator already expired or the merchant reversed', async () => {
    const { account, card } = await walletWithCard();
    const expired = await authorize(context, request(card, 1_000));
    const reversed = await authorize(context, request(card, 2_000));
    await expireAuthorization(context, program.program.id, expired.id);
    await reverseAuthorization(context, program.program.id, reversed.id);
    await expectBalance(account, { available: 10_000, pending: 0, posted: 10_000 });
    api.clock.advance(8 * DAY_MS);
    expect(await expireAuthorizations(context)).toBe(0);
    expect(await status(expired.id)).toBe('expired');
    expect(await status(reversed.id)).toBe('reversed');
    await expectBalance(account, { available: 10_000, pending: 0, posted: 10_000 });
  });
});

describe('hold lengths set per programme', () => {
  it('holds for the programme’s hold_days, and extended_hold_days for lodging and car rental', async () => {
    const changed = await api.app.inject({
      method: 'PATCH',
      url: `/v1/programs/${program.program.id}`,
      headers: { ...api.operatorHeaders },
      payload: { hold_days: 2, extended_hold_days: 10 },
    });
    expect(changed.statusCode, changed.body).toBe(200);
    try {
      const { account, card } = await walletWithCard();
      const meal = await authorize(context, request(card, 1_000));
      const stay = await authorize(context, request(card, 2_000, { merchant: HOTEL }));
      const chain = await authorize(context, request(card, 3_000, { merchant: { ...HOTEL, mcc: '3501' } }));
      const now = api.clock.now().getTime();
      expect(meal.expires_at).toBe(new Date(now + 2 * DAY_MS).toISOString());
      expect(stay.expires_at).toBe(new Date(now + 10 * DAY_MS).toISOString());
      expect(chain.expires_at).toBe(new Date(now + 10 * DAY_MS).toISOString());
      api.clock.advance(2 * DAY_MS);
      expect(await expireAuthorizations(context)).toBe(1);
      await expectBalance(account, { available: 5_000, pending: 5_000, posted: 10_000 });
      api.clock.advance(8 * DAY_MS);
      expect(await expireAuthorizations(context)).toBe(2);
      await expectBalance(account, { available: 10_000, pending: 0, posted: 10_000 });
    } finally {
      await api.app.inject({
        method: 'PATCH',
        url: `/v1/programs/${program.program.id}`,
        headers: { ...api.operatorHeaders },
        payload: { hold_days: 7, extended_hold_days: 31 },
      });
    }
  });
});

describe('increments and reversals', () => {
  it('converts a foreign increment and reversal at the authorization’s own rate, not today’s', async () => {
    const { account, card } = await walletWithCard(100_000);
    await post(api.operatorHeaders, '/v1/fx_rates', {
      base: 'USD',
      quote: 'HKD',
      rate: '7.8',
      source: 'ecb',
    });
    const first = await authorize(context, request(card, 1_000, { currency: 'USD', merchant: HOTEL }));
    expect(first).toMatchObject({ amount: 7_800, fx_rate: '7.8', merchant_amount: 1_000 });
    api.clock.advance(60_000);
    await post(api.operatorHeaders, '/v1/fx_rates', { base: 'USD', quote: 'HKD', rate: '8', source: 'ecb' });
    api.clock.advance(60_000);
    const incremented = await incrementAuthorization(context, program.program.id, first.id, { amount: 500 });
    expect(incremented).toMatchObject({ amount: 11_700, approved_amount: 11_700, fx_rate: '7.8' });
    await expectBalance(account, { available: 88_300, pending: 11_700, posted: 100_000 });
    const reversed = await reverseAuthorization(context, program.program.id, first.id, { amount: 250 });
    expect(reversed).toMatchObject({ status: 'pending', amount: 9_750 });
    await expectBalance(account, { available: 90_250, pending: 9_750, posted: 100_000 });
    // An amount too large to convert is bad input, and changes nothing.
    await expect(
      incrementAuthorization(context, program.program.id, first.id, { amount: Number.MAX_SAFE_INTEGER }),
    ).rejects.toMatchObject({ status: 400, code: 'amount_invalid', param: 'amount' });
    await expectBalance(account, { available: 90_250, pending: 9_750, posted: 100_000 });
    // A new authorization converts at the rate of its own time.
    const later = await authorize(context, request(card, 1_000, { currency: 'USD' }));
    expect(later).toMatchObject({ amount: 8_000, fx_rate: '8' });
    await expectBalance(account, { available: 82_250, pending: 17_750, posted: 100_000 });
  });

  it('answers network repeats of an increment and of a reversal once', async () => {
    const { account, card } = await walletWithCard();
    const first = await authorize(context, request(card, 2_000));
    const network = {
      acquirerId: '40000000001',
      stan: '000301',
      rrn: '605900000301',
      transmissionTime: '0301120000',
    };
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const answer = await incrementAuthorization(context, program.program.id, first.id, {
        amount: 1_000,
        network,
      });
      expect(answer.amount).toBe(3_000);
    }
    await expectBalance(account, { available: 7_000, pending: 3_000, posted: 10_000 });
    const reversal = { ...network, stan: '000302' };
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const answer = await reverseAuthorization(context, program.program.id, first.id, {
        amount: 500,
        network: reversal,
      });
      expect(answer.amount).toBe(2_500);
    }
    await expectBalance(account, { available: 7_500, pending: 2_500, posted: 10_000 });
  });

  it('keeps concurrent increments within the balance', async () => {
    const { account, card } = await walletWithCard();
    const first = await authorize(context, request(card, 1_000, { merchant: HOTEL }));
    const answers = await Promise.all(
      Array.from({ length: 30 }, () =>
        incrementAuthorization(context, program.program.id, first.id, { amount: 500 }),
      ),
    );
    expect(Math.max(...answers.map((answer) => answer.amount))).toBe(10_000);
    expect((await getAuthorization(api.db, program.program.id, first.id)).amount).toBe(10_000);
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
  });
});
