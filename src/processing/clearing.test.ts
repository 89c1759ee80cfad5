import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../test/support/programs.js';
import { getAccount } from '../ledger/index.js';
import { verifyLedger } from '../ledger/verify.js';
import { programAccountId } from '../issuing/programs.js';
import { createFxRate } from './fx.js';

/**
 * Every clearing path through the simulator, with the wallet, the programme's settlement and receivable accounts
 * and the ledger's invariants checked after every step (DESIGN.md, "The card lifecycle on the ledger").
 */

interface Json {
  [key: string]: unknown;
}

interface Balance {
  readonly available: number;
  readonly pending: number;
  readonly posted: number;
}

const DAY_MS = 86_400_000;
const BY_TEST = { actor: { type: 'system', id: 'test' } } as const;

let api: TestApi;
let program: TestProgram;

beforeAll(async () => {
  api = await openTestApi();
  program = await createTestProgram(api);
});
afterAll(async () => api.close());

async function call(
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  payload?: unknown,
  headers = program.headers,
) {
  return api.app.inject({
    method,
    url,
    headers: { ...headers },
    ...(payload === undefined ? {} : { payload: payload as Json }),
  });
}

async function post(url: string, payload?: unknown): Promise<Json> {
  const response = await call('POST', url, payload);
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response.json<Json>();
}

const DINER = { name: 'Yung Kee', mcc: '5812', country: 'HK', acceptor_id: 'YKR000000000001' };
const SHOP = { name: 'Eslite', mcc: '5942', country: 'HK', acceptor_id: 'ESL000000000001' };

let people = 0;
async function walletWithCard(load: number): Promise<{ account: string; card: string }> {
  people += 1;
  const holder = await post('/v1/cardholders', { name: `Chan Siu Ming ${people}` });
  const account = await post('/v1/accounts', { cardholder_id: holder.id, currency: 'HKD' });
  if (load > 0) await post(`/v1/accounts/${String(account.id)}/loads`, { amount: load, currency: 'HKD' });
  const card = await post('/v1/cards', {
    cardholder_id: holder.id,
    account_id: account.id,
    type: 'multi_use',
  });
  return { account: String(account.id), card: String(card.id) };
}

async function authorize(card: string, amount: number, merchant = DINER): Promise<Json> {
  const authorization = await post('/v1/simulate/authorizations', {
    card_id: card,
    amount,
    currency: 'HKD',
    merchant,
  });
  expect(authorization.approved).toBe(true);
  return authorization;
}

async function ledgerBalance(kind: 'card_settlement' | 'cardholder_receivable'): Promise<number> {
  const account = await getAccount(api.db, programAccountId(program.program.id, kind, 'HKD'));
  if (account === undefined) throw new Error(`no ${kind} account`);
  return kind === 'card_settlement'
    ? account.creditsPosted - account.debitsPosted
    : account.debitsPosted - account.creditsPosted;
}

/** The wallet's balance and the ledger's invariants, after every step. */
async function expectWallet(account: string, balance: Balance): Promise<void> {
  const response = await call('GET', `/v1/accounts/${account}`);
  expect(response.json<{ balance: Balance }>().balance).toEqual(balance);
  const report = await verifyLedger(api.db);
  expect(report.problems).toEqual([]);
}

async function authorization(id: unknown): Promise<Json> {
  return (await call('GET', `/v1/authorizations/${String(id)}`)).json<Json>();
}

describe('captures', () => {
  it('a capture of the whole authorization posts it and closes the authorization', async () => {
    const { account, card } = await walletWithCard(10_000);
    const settlementBefore = await ledgerBalance('card_settlement');
    const auth = await authorize(card, 2_500);
    await expectWallet(account, { available: 7_500, pending: 2_500, posted: 10_000 });
    const txn = await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, {
      amount: 2_500,
      currency: 'HKD',
    });
    expect(txn).toMatchObject({
      object: 'transaction',
      type: 'capture',
      authorization_id: auth.id,
      amount: 2_500,
      wallet_amount: 2_500,
      shortfall_amount: 0,
      flags: [],
    });
    await expectWallet(account, { available: 7_500, pending: 0, posted: 7_500 });
    expect(await ledgerBalance('card_settlement')).toBe(settlementBefore + 2_500);
    expect(await authorization(auth.id)).toMatchObject({
      status: 'closed',
      amount: 0,
      cleared_amount: 2_500,
    });
  });

  it('what has cleared still counts against the card’s spending limits', async () => {
    const { card } = await walletWithCard(10_000);
    const limited = await call('PATCH', `/v1/cards/${card}`, {
      spending_controls: { spending_limits: [{ amount: 5_000, interval: 'daily' }] },
    });
    expect(limited.statusCode).toBe(200);
    const first = await authorize(card, 4_000);
    await post(`/v1/simulate/authorizations/${String(first.id)}/clear`, { amount: 4_000, currency: 'HKD' });
    // 4,000 spent today: 2,000 more would pass 5,000, captured or not.
    const second = await post('/v1/simulate/authorizations', {
      card_id: card,
      amount: 2_000,
      currency: 'HKD',
      merchant: DINER,
    });
    expect(second).toMatchObject({ approved: false, decline_reason: 'spending_limit_exceeded' });
  });

  it('a partial final capture releases the rest; a second capture after that has no open hold', async () => {
    const { account, card } = await walletWithCard(10_000);
    const auth = await authorize(card, 4_000, SHOP);
    await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, { amount: 3_000, currency: 'HKD' });
    await expectWallet(account, { available: 7_000, pending: 0, posted: 7_000 });
    expect(await authorization(auth.id)).toMatchObject({
      status: 'closed',
      amount: 0,
      cleared_amount: 3_000,
    });
    const late = await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, {
      amount: 500,
      currency: 'HKD',
    });
    expect(late.flags).toEqual(['cleared_without_open_hold']);
    await expectWallet(account, { available: 6_500, pending: 0, posted: 6_500 });
  });

  it('several captures with final: false keep the rest held, and the last one closes it', async () => {
    const { account, card } = await walletWithCard(10_000);
    const auth = await authorize(card, 6_000, SHOP);
    const first = `/v1/simulate/authorizations/${String(auth.id)}/clear`;
    await post(first, { amount: 1_000, currency: 'HKD', final: false });
    await expectWallet(account, { available: 4_000, pending: 5_000, posted: 9_000 });
    expect(await authorization(auth.id)).toMatchObject({
      status: 'pending',
      amount: 5_000,
      cleared_amount: 1_000,
    });
    await post(first, { amount: 2_000, currency: 'HKD', final: false });
    await expectWallet(account, { available: 4_000, pending: 3_000, posted: 7_000 });
    await post(first, { amount: 3_000, currency: 'HKD' });
    await expectWallet(account, { available: 4_000, pending: 0, posted: 4_000 });
    expect(await authorization(auth.id)).toMatchObject({
      status: 'closed',
      amount: 0,
      cleared_amount: 6_000,
    });
    const listed = (await call('GET', `/v1/transactions?authorization_id=${String(auth.id)}`)).json<{
      data: Json[];
    }>();
    expect(listed.data.map((item) => item.amount)).toEqual([3_000, 2_000, 1_000]);
  });

  it('an over-capture within the restaurant tolerance (20%) is posted and flagged within tolerance', async () => {
    const { account, card } = await walletWithCard(10_000);
    const auth = await authorize(card, 5_000);
    const txn = await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, {
      amount: 6_000,
      currency: 'HKD',
    });
    expect(txn).toMatchObject({
      amount: 6_000,
      wallet_amount: 6_000,
      flags: ['over_capture_within_tolerance'],
    });
    await expectWallet(account, { available: 4_000, pending: 0, posted: 4_000 });
  });

  it('an over-capture beyond tolerance is posted all the same and flagged beyond it', async () => {
    const { account, card } = await walletWithCard(10_000);
    const auth = await authorize(card, 5_000, SHOP);
    const txn = await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, {
      amount: 5_001,
      currency: 'HKD',
    });
    expect(txn.flags).toEqual(['over_capture_beyond_tolerance']);
    await expectWallet(account, { available: 4_999, pending: 0, posted: 4_999 });
    const dinner = await authorize(card, 1_000);
    const tipped = await post(`/v1/simulate/authorizations/${String(dinner.id)}/clear`, {
      amount: 1_201,
      currency: 'HKD',
    });
    expect(tipped.flags).toEqual(['over_capture_beyond_tolerance']);
  });

  it('an over-capture the wallet cannot cover empties it and posts the shortfall to the receivable account', async () => {
    const { account, card } = await walletWithCard(5_000);
    const receivableBefore = await ledgerBalance('cardholder_receivable');
    const auth = await authorize(card, 5_000);
    const txn = await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, {
      amount: 5_900,
      currency: 'HKD',
    });
    expect(txn).toMatchObject({
      amount: 5_900,
      wallet_amount: 5_000,
      shortfall_amount: 900,
      flags: ['over_capture_within_tolerance', 'shortfall'],
    });
    await expectWallet(account, { available: 0, pending: 0, posted: 0 });
    expect(await ledgerBalance('cardholder_receivable')).toBe(receivableBefore + 900);
  });

  it('a capture after the hold expired posts from what the wallet has, flagged', async () => {
    const { account, card } = await walletWithCard(3_000);
    const auth = await authorize(card, 2_000, SHOP);
    api.clock.advance(8 * DAY_MS);
    // The job has not run: the capture releases the lapsed hold itself before it posts.
    const txn = await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, {
      amount: 2_000,
      currency: 'HKD',
    });
    expect(txn).toMatchObject({
      wallet_amount: 2_000,
      shortfall_amount: 0,
      flags: ['cleared_without_open_hold'],
    });
    await expectWallet(account, { available: 1_000, pending: 0, posted: 1_000 });
    expect(await authorization(auth.id)).toMatchObject({ status: 'expired', cleared_amount: 2_000 });
  });

  it('a capture after a reversal, with the wallet since emptied, is a shortfall', async () => {
    const { account, card } = await walletWithCard(2_000);
    const auth = await authorize(card, 2_000, SHOP);
    await post(`/v1/simulate/authorizations/${String(auth.id)}/reverse`);
    await post(`/v1/accounts/${account}/unloads`, { amount: 1_500, currency: 'HKD' });
    await expectWallet(account, { available: 500, pending: 0, posted: 500 });
    const txn = await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, {
      amount: 2_000,
      currency: 'HKD',
    });
    expect(txn).toMatchObject({
      wallet_amount: 500,
      shortfall_amount: 1_500,
      flags: ['cleared_without_open_hold', 'shortfall'],
    });
    await expectWallet(account, { available: 0, pending: 0, posted: 0 });
  });

  it('clears in the merchant’s currency at the authorization’s own rate', async () => {
    await api.db.transaction((tx) =>
      createFxRate(tx, api.issuing, { base: 'USD', quote: 'HKD', rate: '7.8', source: 'test' }, BY_TEST),
    );
    const { account, card } = await walletWithCard(100_000);
    const auth = await post('/v1/simulate/authorizations', {
      card_id: card,
      amount: 1_000,
      currency: 'USD',
      merchant: SHOP,
    });
    expect(auth.amount).toBe(7_800);
    // The rate changes; the capture still converts at the authorization's.
    await api.db.transaction((tx) =>
      createFxRate(tx, api.issuing, { base: 'USD', quote: 'HKD', rate: '8.0', source: 'test' }, BY_TEST),
    );
    const txn = await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, {
      amount: 1_000,
      currency: 'USD',
    });
    expect(txn).toMatchObject({
      amount: 7_800,
      merchant_amount: 1_000,
      merchant_currency: 'USD',
      fx_rate: '7.8',
    });
    await expectWallet(account, { available: 92_200, pending: 0, posted: 92_200 });
    const wrong = await call('POST', `/v1/simulate/authorizations/${String(auth.id)}/clear`, {
      amount: 1_000,
      currency: 'EUR',
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json<{ error: Json }>().error.code).toBe('currency_mismatch');
  });

  it('partial captures in the merchant’s currency cost together what the whole converts to', async () => {
    await api.db.transaction((tx) =>
      createFxRate(tx, api.issuing, { base: 'USD', quote: 'HKD', rate: '7.8', source: 'test' }, BY_TEST),
    );
    const { account, card } = await walletWithCard(1_000);
    const auth = await post('/v1/simulate/authorizations', {
      card_id: card,
      amount: 3,
      currency: 'USD',
      merchant: SHOP,
    });
    expect(auth.amount).toBe(23); // 3 × 7.8 = 23.4
    const clear = `/v1/simulate/authorizations/${String(auth.id)}/clear`;
    const parts = [
      await post(clear, { amount: 1, currency: 'USD', final: false }),
      await post(clear, { amount: 1, currency: 'USD', final: false }),
      await post(clear, { amount: 1, currency: 'USD' }),
    ];
    // Each cent alone would be 7.8 → 8, three of them 24: converted cumulatively they are 8, 8 and 7.
    expect(parts.map((part) => part.amount)).toEqual([8, 8, 7]);
    expect(parts.every((part) => (part.flags as string[]).length === 0)).toBe(true);
    await expectWallet(account, { available: 977, pending: 0, posted: 977 });
  });

  it('refuses to clear a declined authorization and changes nothing', async () => {
    const { account, card } = await walletWithCard(1_000);
    const declined = await post('/v1/simulate/authorizations', {
      card_id: card,
      amount: 5_000,
      currency: 'HKD',
      merchant: SHOP,
    });
    expect(declined.approved).toBe(false);
    const response = await call('POST', `/v1/simulate/authorizations/${String(declined.id)}/clear`, {
      amount: 5_000,
      currency: 'HKD',
    });
    expect(response.statusCode).toBe(409);
    expect(response.json<{ error: Json }>().error.code).toBe('authorization_declined');
    await expectWallet(account, { available: 1_000, pending: 0, posted: 1_000 });
  });
});

describe('refunds and force posts', () => {
  it('a refund of an authorization goes back to the wallet; refunding more than captured is flagged', async () => {
    const { account, card } = await walletWithCard(10_000);
    const auth = await authorize(card, 3_000, SHOP);
    await post(`/v1/simulate/authorizations/${String(auth.id)}/clear`, { amount: 3_000, currency: 'HKD' });
    const refund = await post('/v1/simulate/refunds', {
      authorization_id: auth.id,
      amount: 1_000,
      currency: 'HKD',
    });
    expect(refund).toMatchObject({ type: 'refund', authorization_id: auth.id, amount: 1_000, flags: [] });
    await expectWallet(account, { available: 8_000, pending: 0, posted: 8_000 });
    const more = await post('/v1/simulate/refunds', {
      authorization_id: auth.id,
      amount: 2_500,
      currency: 'HKD',
    });
    expect(more.flags).toEqual(['refund_exceeds_capture']);
    await expectWallet(account, { available: 10_500, pending: 0, posted: 10_500 });
  });

  it('a refund with no authorization credits the card’s wallet', async () => {
    const { account, card } = await walletWithCard(0);
    const settlementBefore = await ledgerBalance('card_settlement');
    const refund = await post('/v1/simulate/refunds', {
      card_id: card,
      amount: 1_234,
      currency: 'HKD',
      merchant: SHOP,
    });
    expect(refund).toMatchObject({ type: 'refund', authorization_id: null, card_id: card, amount: 1_234 });
    await expectWallet(account, { available: 1_234, pending: 0, posted: 1_234 });
    expect(await ledgerBalance('card_settlement')).toBe(settlementBefore - 1_234);
  });

  it('a force post on an empty wallet is posted in full against the receivable account', async () => {
    const { account, card } = await walletWithCard(0);
    const receivableBefore = await ledgerBalance('cardholder_receivable');
    const forced = await post('/v1/simulate/force_posts', {
      card_id: card,
      amount: 4_200,
      currency: 'HKD',
      merchant: SHOP,
    });
    expect(forced).toMatchObject({
      type: 'force_post',
      authorization_id: null,
      amount: 4_200,
      wallet_amount: 0,
      shortfall_amount: 4_200,
      flags: ['shortfall'],
    });
    await expectWallet(account, { available: 0, pending: 0, posted: 0 });
    expect(await ledgerBalance('cardholder_receivable')).toBe(receivableBefore + 4_200);
  });

  it('a force post takes what the wallet has and leaves other holds alone', async () => {
    const { account, card } = await walletWithCard(5_000);
    await authorize(card, 1_000, SHOP);
    const forced = await post('/v1/simulate/force_posts', {
      card_id: card,
      amount: 4_500,
      currency: 'HKD',
      merchant: SHOP,
    });
    expect(forced).toMatchObject({ wallet_amount: 4_000, shortfall_amount: 500 });
    await expectWallet(account, { available: 0, pending: 1_000, posted: 1_000 });
  });

  it('refuses bad input and changes nothing', async () => {
    const { account, card } = await walletWithCard(1_000);
    const cases: [string, Json][] = [
      ['/v1/simulate/force_posts', { card_id: card, amount: 0, currency: 'HKD', merchant: SHOP }],
      ['/v1/simulate/force_posts', { card_id: card, amount: 100, currency: 'XXZ', merchant: SHOP }],
      ['/v1/simulate/force_posts', { card_id: card, amount: 100, currency: 'HKD' }],
      ['/v1/simulate/refunds', { card_id: card, amount: 100, currency: 'HKD' }],
      ['/v1/simulate/refunds', { amount: 100, currency: 'HKD' }],
      ['/v1/simulate/force_posts', { card_id: card, amount: 100, currency: 'JPY', merchant: SHOP }],
    ];
    for (const [url, payload] of cases) {
      const response = await call('POST', url, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBeGreaterThanOrEqual(400);
      expect(response.statusCode).toBeLessThan(500);
    }
    await expectWallet(account, { available: 1_000, pending: 0, posted: 1_000 });
    const listed = (await call('GET', `/v1/transactions?card_id=${card}`)).json<{ data: Json[] }>();
    expect(listed.data).toEqual([]);
  });

  it('another programme sees none of it', async () => {
    const { card } = await walletWithCard(1_000);
    const forced = await post('/v1/simulate/force_posts', {
      card_id: card,
      amount: 100,
      currency: 'HKD',
      merchant: SHOP,
    });
    const other = await createTestProgram(api);
    expect(
      (await call('GET', `/v1/transactions/${String(forced.id)}`, undefined, other.headers)).statusCode,
    ).toBe(404);
    const response = await call(
      'POST',
      '/v1/simulate/force_posts',
      { card_id: card, amount: 100, currency: 'HKD', merchant: SHOP },
      other.headers,
    );
    expect(response.statusCode).toBe(404);
  });
});
