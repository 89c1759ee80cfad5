import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import { loadTestSanctionsList } from '../../../../test/support/sanctions.js';
import {
  createTestProgram,
  withoutProtections,
  type TestProgram,
} from '../../../../test/support/programs.js';
import { verifyLedger } from '../../../ledger/verify.js';
import { DECLINES, type DeclineReason } from '../../../processing/declines.js';
import { convertForCard } from '../../../processing/fx.js';
import { expireAuthorizations } from '../../../processing/lifecycle.js';
import { loadCvkPair } from '../../../vault/cvk-pairs.js';
import { CVV2_SERVICE_CODE, computeCvv } from '../../../vault/cvv.js';

/**
 * The simulate and read API of the authorization engine (issue 6), end to end over HTTP: every check and decline
 * code, the lifecycle before clearing, network repeats, malformed requests, sandbox-only and programme isolation.
 * After every step the wallet's three balances and the ledger's invariants are checked.
 */

interface Json {
  [key: string]: unknown;
}

interface Balance {
  readonly available: number;
  readonly pending: number;
  readonly posted: number;
}

interface CheckJson {
  readonly check: string;
  readonly result: string;
  readonly detail?: string;
}

interface AuthorizationJson {
  readonly id: string;
  readonly object: 'authorization';
  readonly card_id: string;
  readonly cardholder_id: string;
  readonly account_id: string;
  readonly status: string;
  readonly approved: boolean;
  readonly response_code: string;
  readonly decline_reason: string | null;
  readonly decline_message: string | null;
  readonly requested_amount: number;
  readonly approved_amount: number;
  readonly amount: number;
  readonly currency: string;
  readonly merchant_amount: number;
  readonly merchant_currency: string;
  readonly fx_rate: string | null;
  readonly fx_markup_bps: number | null;
  readonly fx_source: string | null;
  readonly merchant: Json;
  readonly expires_at: string | null;
  readonly checks: CheckJson[];
  readonly created: string;
}

type Headers = Readonly<Record<string, string>>;

let api: TestApi;
let main: TestProgram;
let other: TestProgram;

beforeAll(async () => {
  api = await openTestApi();
  // Live programmes issue only to screened cardholders.
  await loadTestSanctionsList(api);
  // Many authorizations on one card at one instant, on purpose: the burst protection is not what is tested here.
  main = await withoutProtections(api, await createTestProgram(api));
  other = await createTestProgram(api);
});
afterAll(async () => api.close());

async function send(method: 'GET' | 'POST' | 'PATCH', headers: Headers, url: string, payload?: unknown) {
  const response = await api.app.inject({
    method,
    url,
    headers: { ...headers },
    ...(payload === undefined ? {} : { payload: payload as Json }),
  });
  return { status: response.statusCode, body: response.json<Json>() };
}

const post = (headers: Headers, url: string, payload?: unknown) => send('POST', headers, url, payload);
const patch = (headers: Headers, url: string, payload: unknown) => send('PATCH', headers, url, payload);
const get = (headers: Headers, url: string) => send('GET', headers, url);

const DINER = {
  name: 'Tai Cheong Bakery',
  mcc: '5812',
  country: 'HK',
  city: 'Hong Kong',
  acceptor_id: 'TCB000000000001',
  acquirer_id: '40000000001',
};
const GROCER = {
  name: 'Wellcome',
  mcc: '5411',
  country: 'HK',
  city: 'Hong Kong',
  acceptor_id: 'WEL000000000001',
  acquirer_id: '40000000001',
};

/** The checks in the engine's order. */
const CHECK_ORDER = [
  'program',
  'card_status',
  'expiry',
  'cvv2',
  'cardholder',
  'screening',
  'account',
  'merchant_lock',
  'merchant_category',
  'merchant_country',
  'currency_conversion',
  'spending_limits',
  'kyc_limit',
  'risk',
  'balance',
] as const;
type CheckName = (typeof CHECK_ORDER)[number];

/**
 * What `checks` should read: each check before `fail` passes (or is skipped when it does not apply, as CVV2 without
 * a CVV2 and the merchant lock on an ordinary card), `fail` fails, and everything after it is skipped.
 */
function story(
  fail: CheckName | undefined,
  notApplicable: readonly CheckName[] = ['cvv2', 'merchant_lock'],
): { check: string; result: string }[] {
  const failedAt = fail === undefined ? CHECK_ORDER.length : CHECK_ORDER.indexOf(fail);
  return CHECK_ORDER.map((check, index) => ({
    check,
    result:
      index < failedAt
        ? notApplicable.includes(check)
          ? 'skipped'
          : 'pass'
        : index === failedAt
          ? 'fail'
          : 'skipped',
  }));
}

function results(authorization: AuthorizationJson): { check: string; result: string }[] {
  return authorization.checks.map(({ check, result }) => ({ check, result }));
}

let people = 0;
interface Holder {
  readonly cardholder: string;
  readonly account: string;
}

/** A cardholder with a wallet holding `load`, made through the API as a programme would. */
async function holder(
  options: {
    program?: TestProgram;
    load?: number;
    currency?: string;
    spending_controls?: Json;
  } = {},
): Promise<Holder> {
  const program = options.program ?? main;
  const currency = options.currency ?? 'HKD';
  people += 1;
  const created = await post(program.headers, '/v1/cardholders', {
    name: `Chan Tai Man ${people}`,
    ...(options.spending_controls === undefined ? {} : { spending_controls: options.spending_controls }),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const account = await post(program.headers, '/v1/accounts', { cardholder_id: created.body.id, currency });
  expect(account.status, JSON.stringify(account.body)).toBe(201);
  const load = options.load ?? 10_000;
  if (load > 0) {
    const loaded = await post(program.headers, `/v1/accounts/${String(account.body.id)}/loads`, {
      amount: load,
      currency,
    });
    expect(loaded.status, JSON.stringify(loaded.body)).toBe(201);
  }
  return { cardholder: String(created.body.id), account: String(account.body.id) };
}

async function card(
  owner: Holder,
  options: { program?: TestProgram; type?: string; spending_controls?: Json } = {},
): Promise<string> {
  const created = await post((options.program ?? main).headers, '/v1/cards', {
    cardholder_id: owner.cardholder,
    account_id: owner.account,
    type: options.type ?? 'multi_use',
    ...(options.spending_controls === undefined ? {} : { spending_controls: options.spending_controls }),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return String(created.body.id);
}

/** A wallet with `load` and one card on it. */
async function walletWithCard(
  options: {
    load?: number;
    type?: string;
    spending_controls?: Json;
    cardholder_controls?: Json;
    program?: TestProgram;
  } = {},
): Promise<Holder & { card: string }> {
  const owner = await holder({
    ...(options.load === undefined ? {} : { load: options.load }),
    ...(options.cardholder_controls === undefined ? {} : { spending_controls: options.cardholder_controls }),
    ...(options.program === undefined ? {} : { program: options.program }),
  });
  const id = await card(owner, {
    ...(options.type === undefined ? {} : { type: options.type }),
    ...(options.spending_controls === undefined ? {} : { spending_controls: options.spending_controls }),
    ...(options.program === undefined ? {} : { program: options.program }),
  });
  return { ...owner, card: id };
}

async function balanceOf(account: string, program: TestProgram = main): Promise<Balance> {
  const found = await get(program.headers, `/v1/accounts/${account}`);
  expect(found.status).toBe(200);
  return found.body.balance as Balance;
}

async function expectLedgerOk(): Promise<void> {
  const report = await verifyLedger(api.db);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

/** The wallet's balances are these, and the ledger holds together. */
async function expectBalance(account: string, balance: Balance, program: TestProgram = main): Promise<void> {
  expect(await balanceOf(account, program)).toEqual(balance);
  await expectLedgerOk();
}

async function simulate(body: Json, headers: Headers = main.headers) {
  const response = await post(headers, '/v1/simulate/authorizations', body);
  return { status: response.status, body: response.body as unknown as AuthorizationJson & Json };
}

/** Simulates a purchase that must be answered (201), approved or not. */
async function authorize(body: Json, headers: Headers = main.headers): Promise<AuthorizationJson> {
  const response = await simulate({ currency: 'HKD', merchant: DINER, ...body }, headers);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

function expectDecline(authorization: AuthorizationJson, reason: DeclineReason): void {
  expect(authorization).toMatchObject({
    object: 'authorization',
    approved: false,
    status: 'declined',
    response_code: DECLINES[reason].code,
    decline_reason: reason,
    decline_message: DECLINES[reason].message,
    approved_amount: 0,
    amount: 0,
    expires_at: null,
  });
}

async function lifecycle(id: string, action: 'increment' | 'reverse' | 'expire', body?: Json) {
  const response = await post(main.headers, `/v1/simulate/authorizations/${id}/${action}`, body);
  return { status: response.status, body: response.body as unknown as AuthorizationJson & Json };
}

async function reveal(
  cardId: string,
): Promise<{ pan: string; cvv2: string; exp_month: number; exp_year: number }> {
  const revealed = await post(main.headers, `/v1/cards/${cardId}/reveal`);
  expect(revealed.status).toBe(200);
  return revealed.body as unknown as { pan: string; cvv2: string; exp_month: number; exp_year: number };
}

async function count(table: 'authorizations' | 'events' | 'ledger_transfers'): Promise<number> {
  const { rows } = await api.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]?.n ?? 0;
}

const FULL: Balance = { available: 10_000, pending: 0, posted: 10_000 };

describe('POST /v1/simulate/authorizations: approvals', () => {
  it('approves, holds the amount until the hold expires, records the event, and reads back with its checks', async () => {
    const { account, card: cardId, cardholder } = await walletWithCard();
    await expectBalance(account, FULL);
    const approved = await authorize({ card_id: cardId, amount: 2_500, entry_mode: 'contactless' });
    expect(approved).toMatchObject({
      object: 'authorization',
      card_id: cardId,
      cardholder_id: cardholder,
      account_id: account,
      status: 'pending',
      approved: true,
      response_code: '00',
      decline_reason: null,
      decline_message: null,
      requested_amount: 2_500,
      approved_amount: 2_500,
      amount: 2_500,
      currency: 'HKD',
      merchant_amount: 2_500,
      merchant_currency: 'HKD',
      fx_rate: '1',
      fx_markup_bps: 0,
      fx_source: 'identity',
      merchant: DINER,
      entry_mode: 'contactless',
      partial_allowed: false,
    });
    expect(approved.id).toMatch(/^auth_/);
    expect(results(approved)).toEqual(story(undefined));
    // A restaurant holds for the programme's default of 7 days.
    expect(approved.expires_at).toBe(new Date(api.clock.now().getTime() + 7 * 86_400_000).toISOString());
    await expectBalance(account, { available: 7_500, pending: 2_500, posted: 10_000 });

    const read = await get(main.headers, `/v1/authorizations/${approved.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(approved);
    const events = await api.db.query<{ type: string }>(
      `SELECT type FROM events WHERE data->'object'->>'id' = $1 ORDER BY id`,
      [approved.id],
    );
    expect(events.rows.map((row) => row.type)).toEqual(['authorization.created']);
  });

  it('holds 31 days for lodging (MCC 7011)', async () => {
    const { account, card: cardId } = await walletWithCard();
    const hotel = await authorize({
      card_id: cardId,
      amount: 4_000,
      merchant: { ...DINER, name: 'Peninsula', mcc: '7011', acceptor_id: 'PEN000000000001' },
    });
    expect(hotel.approved).toBe(true);
    expect(hotel.expires_at).toBe(new Date(api.clock.now().getTime() + 31 * 86_400_000).toISOString());
    await expectBalance(account, { available: 6_000, pending: 4_000, posted: 10_000 });
  });

  it('answers an account verification (amount 0) with 85 and holds nothing', async () => {
    const { account, card: cardId } = await walletWithCard();
    const transfers = await count('ledger_transfers');
    const verified = await authorize({ card_id: cardId, amount: 0 });
    expect(verified).toMatchObject({
      approved: true,
      response_code: '85',
      status: 'closed',
      amount: 0,
      approved_amount: 0,
      requested_amount: 0,
      expires_at: null,
    });
    expect(results(verified)).toEqual(
      story(undefined).map((check) => (check.check === 'balance' ? { ...check, result: 'skipped' } : check)),
    );
    expect(await count('ledger_transfers')).toBe(transfers);
    await expectBalance(account, FULL);
    // A verification still runs every check: a paused card declines it.
    await patch(main.headers, `/v1/cards/${cardId}`, { status: 'paused' });
    expectDecline(await authorize({ card_id: cardId, amount: 0 }), 'card_paused');
    await expectBalance(account, FULL);
  });

  it('approves part of the amount (code 10) when the request allows it and the balance is short', async () => {
    const { account, card: cardId } = await walletWithCard();
    expectDecline(await authorize({ card_id: cardId, amount: 15_000 }), 'insufficient_funds');
    await expectBalance(account, FULL);
    const partial = await authorize({ card_id: cardId, amount: 15_000, partial_allowed: true });
    expect(partial).toMatchObject({
      approved: true,
      response_code: '10',
      status: 'pending',
      requested_amount: 15_000,
      approved_amount: 10_000,
      amount: 10_000,
      partial_allowed: true,
    });
    expect(results(partial)).toEqual(story(undefined));
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
    // Nothing left: even a partial approval declines.
    const none = await authorize({ card_id: cardId, amount: 100, partial_allowed: true });
    expectDecline(none, 'insufficient_funds');
    expect(results(none)).toEqual(story('balance'));
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
  });

  it('finds a card by its number, checking expiry and CVV2: N7 for a wrong CVV2, 54 for a wrong expiry', async () => {
    const { account, card: cardId } = await walletWithCard();
    const { pan, cvv2, exp_month, exp_year } = await reveal(cardId);
    const cvk = await loadCvkPair(api.db, api.vault, main.program.id);
    if (cvk === undefined) throw new Error('the programme has no CVK');
    const yymm = `${String(exp_year % 100).padStart(2, '0')}${String(exp_month).padStart(2, '0')}`;
    expect(cvv2).toBe(computeCvv({ pan, expiryYYMM: yymm, serviceCode: CVV2_SERVICE_CODE, ...cvk }));
    const wrong = String((Number(cvv2) + 1) % 1000).padStart(3, '0');

    const mismatch = await authorize({ pan, exp_month, exp_year, cvv2: wrong, amount: 1_000 });
    expectDecline(mismatch, 'cvv2_mismatch');
    expect(mismatch.response_code).toBe('N7');
    expect(mismatch.card_id).toBe(cardId);
    expect(results(mismatch)).toEqual(story('cvv2'));
    await expectBalance(account, FULL);

    const badExpiry = await authorize({
      pan,
      exp_month: (exp_month % 12) + 1,
      exp_year,
      cvv2,
      amount: 1_000,
    });
    expectDecline(badExpiry, 'expiry_mismatch');
    expect(badExpiry.response_code).toBe('54');
    expect(results(badExpiry)).toEqual(story('expiry'));
    const badYear = await authorize({ pan, exp_month, exp_year: exp_year + 1, cvv2, amount: 1_000 });
    expectDecline(badYear, 'expiry_mismatch');
    await expectBalance(account, FULL);

    const right = await authorize({ pan, exp_month, exp_year, cvv2, amount: 1_000 });
    expect(right).toMatchObject({ approved: true, response_code: '00', card_id: cardId });
    expect(results(right)).toEqual(story(undefined, ['merchant_lock']));
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 });

    // Without a CVV2 (a card-present purchase) the check is skipped, not failed.
    const noCvv = await authorize({ pan, exp_month, exp_year, amount: 1_000, entry_mode: 'chip' });
    expect(noCvv.approved).toBe(true);
    expect(results(noCvv)).toEqual(story(undefined));
    await expectBalance(account, { available: 8_000, pending: 2_000, posted: 10_000 });
  });
});

describe('POST /v1/simulate/authorizations: each decline and its code', () => {
  it('declines a paused card (62) as an answer, not an error, and holds nothing', async () => {
    const { account, card: cardId } = await walletWithCard();
    await patch(main.headers, `/v1/cards/${cardId}`, { status: 'paused' });
    const response = await simulate({ card_id: cardId, amount: 1_000, currency: 'HKD', merchant: DINER });
    expect(response.status).toBe(201);
    expectDecline(response.body, 'card_paused');
    expect(response.body.response_code).toBe('62');
    expect(response.body.requested_amount).toBe(1_000);
    expect(results(response.body)).toEqual(story('card_status'));
    expect(response.body.checks[1]).toEqual({
      check: 'card_status',
      result: 'fail',
      detail: DECLINES.card_paused.message,
    });
    await expectBalance(account, FULL);
    const read = await get(main.headers, `/v1/authorizations/${response.body.id}`);
    expect(read.body).toEqual(response.body);
  });

  it.each([
    ['lost', 'card_lost', '41'],
    ['stolen', 'card_stolen', '43'],
    ['requested', 'card_closed', '62'],
    ['damaged', 'card_closed', '62'],
  ] as const)('declines a card closed as %s with %s (%s)', async (statusReason, reason, code) => {
    const { account, card: cardId } = await walletWithCard();
    const closed = await patch(main.headers, `/v1/cards/${cardId}`, {
      status: 'closed',
      status_reason: statusReason,
    });
    expect(closed.status).toBe(200);
    const declined = await authorize({ card_id: cardId, amount: 1_000 });
    expectDecline(declined, reason);
    expect(declined.response_code).toBe(code);
    expect(results(declined)).toEqual(story('card_status'));
    await expectBalance(account, FULL);
  });

  it('declines an inactive cardholder and an inactive account (62)', async () => {
    const first = await walletWithCard();
    expect(
      (await patch(main.headers, `/v1/cardholders/${first.cardholder}`, { status: 'inactive' })).status,
    ).toBe(200);
    const inactiveHolder = await authorize({ card_id: first.card, amount: 1_000 });
    expectDecline(inactiveHolder, 'cardholder_inactive');
    expect(inactiveHolder.response_code).toBe('62');
    expect(results(inactiveHolder)).toEqual(story('cardholder'));
    await expectBalance(first.account, FULL);

    const second = await walletWithCard();
    expect((await patch(main.headers, `/v1/accounts/${second.account}`, { status: 'inactive' })).status).toBe(
      200,
    );
    const inactiveAccount = await authorize({ card_id: second.card, amount: 1_000 });
    expectDecline(inactiveAccount, 'account_inactive');
    expect(inactiveAccount.response_code).toBe('62');
    expect(results(inactiveAccount)).toEqual(story('account'));
    await expectBalance(second.account, FULL);
  });

  it('declines blocked and not-allowed merchant categories (57), by the card’s controls and the cardholder’s', async () => {
    const blockedOnCard = await walletWithCard({ spending_controls: { blocked_categories: ['5812'] } });
    const declined = await authorize({ card_id: blockedOnCard.card, amount: 1_000 });
    expectDecline(declined, 'merchant_category_blocked');
    expect(declined.response_code).toBe('57');
    expect(results(declined)).toEqual(story('merchant_category'));
    await expectBalance(blockedOnCard.account, FULL);
    expect((await authorize({ card_id: blockedOnCard.card, amount: 1_000, merchant: GROCER })).approved).toBe(
      true,
    );
    await expectBalance(blockedOnCard.account, { available: 9_000, pending: 1_000, posted: 10_000 });

    const allowedOnCard = await walletWithCard({ spending_controls: { allowed_categories: ['5411'] } });
    expectDecline(
      await authorize({ card_id: allowedOnCard.card, amount: 1_000 }),
      'merchant_category_blocked',
    );
    await expectBalance(allowedOnCard.account, FULL);
    expect((await authorize({ card_id: allowedOnCard.card, amount: 1_000, merchant: GROCER })).approved).toBe(
      true,
    );
    await expectBalance(allowedOnCard.account, { available: 9_000, pending: 1_000, posted: 10_000 });

    const onHolder = await walletWithCard({ cardholder_controls: { blocked_categories: ['5812'] } });
    expectDecline(await authorize({ card_id: onHolder.card, amount: 1_000 }), 'merchant_category_blocked');
    await expectBalance(onHolder.account, FULL);
    const allowedOnHolder = await walletWithCard({ cardholder_controls: { allowed_categories: ['5411'] } });
    expectDecline(
      await authorize({ card_id: allowedOnHolder.card, amount: 1_000 }),
      'merchant_category_blocked',
    );
    expect(
      (await authorize({ card_id: allowedOnHolder.card, amount: 1_000, merchant: GROCER })).approved,
    ).toBe(true);
    await expectBalance(allowedOnHolder.account, { available: 9_000, pending: 1_000, posted: 10_000 });
  });

  it('declines blocked and not-allowed merchant countries (57), by the card’s controls and the cardholder’s', async () => {
    const abroad = { ...DINER, country: 'US', city: 'New York' };
    const blockedOnCard = await walletWithCard({ spending_controls: { blocked_merchant_countries: ['US'] } });
    const declined = await authorize({ card_id: blockedOnCard.card, amount: 1_000, merchant: abroad });
    expectDecline(declined, 'merchant_country_blocked');
    expect(declined.response_code).toBe('57');
    expect(results(declined)).toEqual(story('merchant_country'));
    await expectBalance(blockedOnCard.account, FULL);
    expect((await authorize({ card_id: blockedOnCard.card, amount: 1_000 })).approved).toBe(true);
    await expectBalance(blockedOnCard.account, { available: 9_000, pending: 1_000, posted: 10_000 });

    const onHolder = await walletWithCard({ cardholder_controls: { allowed_merchant_countries: ['HK'] } });
    expectDecline(
      await authorize({ card_id: onHolder.card, amount: 1_000, merchant: abroad }),
      'merchant_country_blocked',
    );
    // An allow list refuses a merchant that names no country.
    const { country: _country, ...nowhere } = DINER;
    expectDecline(
      await authorize({ card_id: onHolder.card, amount: 1_000, merchant: nowhere }),
      'merchant_country_blocked',
    );
    await expectBalance(onHolder.account, FULL);
    expect((await authorize({ card_id: onHolder.card, amount: 1_000 })).approved).toBe(true);
    await expectBalance(onHolder.account, { available: 9_000, pending: 1_000, posted: 10_000 });

    const blockedOnHolder = await walletWithCard({
      cardholder_controls: { blocked_merchant_countries: ['US'] },
    });
    expectDecline(
      await authorize({ card_id: blockedOnHolder.card, amount: 1_000, merchant: abroad }),
      'merchant_country_blocked',
    );
    await expectBalance(blockedOnHolder.account, FULL);
  });

  it('declines past a per-authorization limit (61)', async () => {
    const { account, card: cardId } = await walletWithCard({
      spending_controls: { spending_limits: [{ amount: 3_000, interval: 'per_authorization' }] },
    });
    const declined = await authorize({ card_id: cardId, amount: 3_001 });
    expectDecline(declined, 'spending_limit_exceeded');
    expect(declined.response_code).toBe('61');
    expect(results(declined)).toEqual(story('spending_limits'));
    await expectBalance(account, FULL);
    expect((await authorize({ card_id: cardId, amount: 3_000 })).approved).toBe(true);
    await expectBalance(account, { available: 7_000, pending: 3_000, posted: 10_000 });
    expect((await authorize({ card_id: cardId, amount: 3_000 })).approved).toBe(true);
    await expectBalance(account, { available: 4_000, pending: 6_000, posted: 10_000 });
  });

  it('counts a cardholder’s daily limit across all of the cardholder’s cards, and starts again the next day', async () => {
    const owner = await holder({
      load: 100_000,
      spending_controls: { spending_limits: [{ amount: 5_000, interval: 'daily' }] },
    });
    const first = await card(owner);
    const second = await card(owner);
    expect((await authorize({ card_id: first, amount: 3_000 })).approved).toBe(true);
    await expectBalance(owner.account, { available: 97_000, pending: 3_000, posted: 100_000 });
    const over = await authorize({ card_id: second, amount: 2_500 });
    expectDecline(over, 'spending_limit_exceeded');
    expect(results(over)).toEqual(story('spending_limits'));
    await expectBalance(owner.account, { available: 97_000, pending: 3_000, posted: 100_000 });
    expect((await authorize({ card_id: second, amount: 2_000 })).approved).toBe(true);
    await expectBalance(owner.account, { available: 95_000, pending: 5_000, posted: 100_000 });
    expectDecline(await authorize({ card_id: first, amount: 1 }), 'spending_limit_exceeded');
    // Declines do not count; the next UTC day is a new window.
    const now = api.clock.now();
    api.clock.advance(
      Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) - now.getTime(),
    );
    expect((await authorize({ card_id: first, amount: 5_000 })).approved).toBe(true);
    await expectBalance(owner.account, { available: 90_000, pending: 10_000, posted: 100_000 });
  });

  it('counts a limit with categories only in those categories', async () => {
    const { account, card: cardId } = await walletWithCard({
      load: 100_000,
      spending_controls: { spending_limits: [{ amount: 1_000, interval: 'daily', categories: ['5812'] }] },
    });
    expect((await authorize({ card_id: cardId, amount: 1_500, merchant: GROCER })).approved).toBe(true);
    await expectBalance(account, { available: 98_500, pending: 1_500, posted: 100_000 });
    expectDecline(await authorize({ card_id: cardId, amount: 1_500 }), 'spending_limit_exceeded');
    expect((await authorize({ card_id: cardId, amount: 800 })).approved).toBe(true);
    await expectBalance(account, { available: 97_700, pending: 2_300, posted: 100_000 });
    expectDecline(await authorize({ card_id: cardId, amount: 300 }), 'spending_limit_exceeded');
    expect((await authorize({ card_id: cardId, amount: 5_000, merchant: GROCER })).approved).toBe(true);
    await expectBalance(account, { available: 92_700, pending: 7_300, posted: 100_000 });
  });

  it('declines insufficient funds (51) and holds nothing', async () => {
    const { account, card: cardId } = await walletWithCard();
    const declined = await authorize({ card_id: cardId, amount: 10_001 });
    expectDecline(declined, 'insufficient_funds');
    expect(declined.response_code).toBe('51');
    expect(results(declined)).toEqual(story('balance'));
    await expectBalance(account, FULL);
    expect((await authorize({ card_id: cardId, amount: 10_000 })).approved).toBe(true);
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
  });

  it('declines (51) or partly approves an amount beyond any balance, never failing', async () => {
    const { account, card: cardId } = await walletWithCard();
    expect((await authorize({ card_id: cardId, amount: 1_000 })).approved).toBe(true);
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 });
    // Held on top of what is pending, the largest amount would take the wallet past 2^53 - 1.
    const huge = await authorize({ card_id: cardId, amount: Number.MAX_SAFE_INTEGER });
    expectDecline(huge, 'insufficient_funds');
    expect(huge.requested_amount).toBe(Number.MAX_SAFE_INTEGER);
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 });
    const partial = await authorize({
      card_id: cardId,
      amount: Number.MAX_SAFE_INTEGER,
      partial_allowed: true,
    });
    expect(partial).toMatchObject({
      approved: true,
      response_code: '10',
      approved_amount: 9_000,
      amount: 9_000,
    });
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
    const increment = await lifecycle(partial.id, 'increment', { amount: Number.MAX_SAFE_INTEGER });
    expect(increment.status).toBe(200);
    expect(increment.body.amount).toBe(9_000);
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
  });

  it('declines a currency with no rate (05), then converts at the operator’s rate with the programme’s markup', async () => {
    const program = await createTestProgram(api);
    const { account, card: cardId } = await walletWithCard({ program, load: 100_000 });
    const body = { card_id: cardId, amount: 1_000, currency: 'EUR', merchant: DINER };
    const noRate = await simulate(body, program.headers);
    expect(noRate.status).toBe(201);
    expectDecline(noRate.body, 'fx_rate_unavailable');
    expect(noRate.body).toMatchObject({
      response_code: '05',
      merchant_amount: 1_000,
      merchant_currency: 'EUR',
      currency: 'HKD',
      fx_rate: null,
    });
    expect(results(noRate.body)).toEqual(story('currency_conversion'));
    await expectBalance(account, { available: 100_000, pending: 0, posted: 100_000 }, program);

    // Programmes may not publish rates; the operator does.
    const rate = { base: 'EUR', quote: 'HKD', rate: '8.4567', source: 'ecb' };
    expect((await post(program.headers, '/v1/fx_rates', rate)).status).toBe(403);
    expect((await post(api.operatorHeaders, '/v1/fx_rates', rate)).status).toBe(201);
    const markup = await patch(api.operatorHeaders, `/v1/programs/${program.program.id}`, {
      fx_markup_bps: 150,
    });
    expect(markup.status, JSON.stringify(markup.body)).toBe(200);

    // EUR 10.00 × 8.4567 = 84.567; × 1.015 = 85.835505 → HKD 85.84.
    const converted = await simulate(body, program.headers);
    expect(converted.status).toBe(201);
    expect(converted.body).toMatchObject({
      approved: true,
      response_code: '00',
      merchant_amount: 1_000,
      merchant_currency: 'EUR',
      requested_amount: 8_584,
      approved_amount: 8_584,
      amount: 8_584,
      currency: 'HKD',
      fx_rate: '8.4567',
      fx_markup_bps: 150,
      fx_source: 'ecb',
    });
    expect(results(converted.body)).toEqual(story(undefined));
    await expectBalance(account, { available: 91_416, pending: 8_584, posted: 100_000 }, program);
    // The same currency as the card's is not converted and carries no markup.
    const local = await simulate({ ...body, currency: 'HKD' }, program.headers);
    expect(local.body).toMatchObject({
      amount: 1_000,
      fx_rate: '1',
      fx_markup_bps: 0,
      fx_source: 'identity',
    });
    await expectBalance(account, { available: 90_416, pending: 9_584, posted: 100_000 }, program);
  });

  it('declines an expired card (54), by the clock', async () => {
    const program = await createTestProgram(api, { card_validity_months: 1 });
    const { account, card: cardId } = await walletWithCard({ program });
    const created = await get(program.headers, `/v1/cards/${cardId}`);
    const expYear = Number(created.body.exp_year);
    const expMonth = Number(created.body.exp_month);
    // Valid through the last day of its expiry month...
    api.clock.set(new Date(Date.UTC(expYear, expMonth, 1) - 1_000));
    const last = await simulate(
      { card_id: cardId, amount: 1_000, currency: 'HKD', merchant: DINER },
      program.headers,
    );
    expect(last.body.approved).toBe(true);
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 }, program);
    // ...and not a second after.
    api.clock.advance(1_000);
    const expired = await simulate(
      { card_id: cardId, amount: 1_000, currency: 'HKD', merchant: DINER },
      program.headers,
    );
    expect(expired.status).toBe(201);
    expectDecline(expired.body, 'card_expired');
    expect(expired.body.response_code).toBe('54');
    expect(results(expired.body)).toEqual(story('expiry'));
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 }, program);
  });
});

describe('single-use and merchant-locked cards', () => {
  it('closes a single-use card after its first approval; the second is declined as closed (62)', async () => {
    const { account, card: cardId } = await walletWithCard({ type: 'single_use' });
    // A decline does not use the card up.
    expectDecline(await authorize({ card_id: cardId, amount: 20_000 }), 'insufficient_funds');
    expect((await get(main.headers, `/v1/cards/${cardId}`)).body.status).toBe('active');
    expect((await authorize({ card_id: cardId, amount: 1_000 })).approved).toBe(true);
    expect((await get(main.headers, `/v1/cards/${cardId}`)).body).toMatchObject({
      status: 'closed',
      status_reason: 'single_use_used',
    });
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 });
    const second = await authorize({ card_id: cardId, amount: 1_000 });
    expectDecline(second, 'card_closed');
    expect(second.response_code).toBe('62');
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 });
  });

  it('does not use up a single-use card on an account verification', async () => {
    const { account, card: cardId } = await walletWithCard({ type: 'single_use' });
    expect(await authorize({ card_id: cardId, amount: 0 })).toMatchObject({
      approved: true,
      response_code: '85',
    });
    expect((await get(main.headers, `/v1/cards/${cardId}`)).body.status).toBe('active');
    expect((await authorize({ card_id: cardId, amount: 1_000 })).response_code).toBe('00');
    expect((await get(main.headers, `/v1/cards/${cardId}`)).body.status).toBe('closed');
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 });
  });

  it('locks a merchant-locked card to its first approving merchant: another is declined (57), the first approved again', async () => {
    const { account, card: cardId } = await walletWithCard({ type: 'merchant_locked' });
    // A declined first attempt does not lock the card.
    expectDecline(
      await authorize({ card_id: cardId, amount: 20_000, merchant: GROCER }),
      'insufficient_funds',
    );
    const first = await authorize({ card_id: cardId, amount: 1_000 });
    expect(first.approved).toBe(true);
    expect(results(first)).toEqual(story(undefined, ['cvv2']));
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 });
    const elsewhere = await authorize({ card_id: cardId, amount: 1_000, merchant: GROCER });
    expectDecline(elsewhere, 'merchant_locked');
    expect(elsewhere.response_code).toBe('57');
    expect(results(elsewhere)).toEqual(story('merchant_lock', ['cvv2']));
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 });
    const again = await authorize({ card_id: cardId, amount: 2_000 });
    expect(again.approved).toBe(true);
    await expectBalance(account, { available: 7_000, pending: 3_000, posted: 10_000 });
  });
});

describe('the lifecycle before clearing', () => {
  it('increments within the balance, declines an increment past it and leaves the authorization unchanged', async () => {
    const { account, card: cardId } = await walletWithCard();
    const hotel = { ...DINER, name: 'Peninsula', mcc: '7011', acceptor_id: 'PEN000000000001' };
    const first = await authorize({ card_id: cardId, amount: 6_000, merchant: hotel });
    await expectBalance(account, { available: 4_000, pending: 6_000, posted: 10_000 });

    api.clock.advance(60_000);
    const past = await lifecycle(first.id, 'increment', { amount: 5_000 });
    expect(past.status).toBe(200);
    expect(past.body).toMatchObject({ status: 'pending', amount: 6_000, approved_amount: 6_000 });
    // The answer says why, in its request history; nothing else about the authorization changed.
    expect(past.body.request_history).toEqual([
      expect.objectContaining({ kind: 'authorization', approved: true, response_code: '00' }),
      expect.objectContaining({
        kind: 'increment',
        requested_amount: 5_000,
        amount: 0,
        approved: false,
        response_code: '51',
        decline_reason: 'insufficient_funds',
      }),
    ]);
    const { request_history: _history, ...rest } = (await get(main.headers, `/v1/authorizations/${first.id}`))
      .body as unknown as AuthorizationJson & { request_history: unknown };
    const { request_history: _firstHistory, ...firstRest } = first as AuthorizationJson & {
      request_history: unknown;
    };
    expect(rest).toEqual(firstRest);
    await expectBalance(account, { available: 4_000, pending: 6_000, posted: 10_000 });
    const declinedEvents = await api.db.query<{ decline_reason: string }>(
      `SELECT data->'object'->'request_history'->-1->>'decline_reason' AS decline_reason FROM events
       WHERE type = 'authorization.increment_declined' AND data->'object'->>'id' = $1`,
      [first.id],
    );
    expect(declinedEvents.rows).toEqual([{ decline_reason: 'insufficient_funds' }]);

    const within = await lifecycle(first.id, 'increment', { amount: 4_000 });
    expect(within.status).toBe(200);
    expect(within.body).toMatchObject({
      status: 'pending',
      amount: 10_000,
      approved_amount: 10_000,
      requested_amount: 6_000,
      expires_at: first.expires_at,
    });
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
    expect((await lifecycle(first.id, 'increment', { amount: 1 })).body.amount).toBe(10_000);
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
  });

  it('declines an increment past a spending limit and leaves the authorization unchanged', async () => {
    const { account, card: cardId } = await walletWithCard({
      spending_controls: { spending_limits: [{ amount: 5_000, interval: 'per_authorization' }] },
    });
    const first = await authorize({ card_id: cardId, amount: 4_000 });
    expect((await lifecycle(first.id, 'increment', { amount: 1_001 })).body.amount).toBe(4_000);
    await expectBalance(account, { available: 6_000, pending: 4_000, posted: 10_000 });
    expect((await lifecycle(first.id, 'increment', { amount: 1_000 })).body.amount).toBe(5_000);
    await expectBalance(account, { available: 5_000, pending: 5_000, posted: 10_000 });
  });

  it('reverses in part and in full; a merchant that dropped its hold to zero holds again', async () => {
    const { account, card: cardId } = await walletWithCard();
    const first = await authorize({ card_id: cardId, amount: 6_000 });
    expect((await lifecycle(first.id, 'increment', { amount: 1_000 })).body.amount).toBe(7_000);
    await expectBalance(account, { available: 3_000, pending: 7_000, posted: 10_000 });

    const part = await lifecycle(first.id, 'reverse', { amount: 2_500 });
    expect(part.status).toBe(200);
    expect(part.body).toMatchObject({ status: 'pending', amount: 4_500, approved_amount: 7_000 });
    await expectBalance(account, { available: 5_500, pending: 4_500, posted: 10_000 });

    const rest = await lifecycle(first.id, 'reverse');
    expect(rest.body).toMatchObject({ status: 'reversed', amount: 0, approved_amount: 7_000 });
    await expectBalance(account, FULL);
    // A reversed authorization is no longer open.
    for (const [action, body] of [
      ['increment', { amount: 100 }],
      ['reverse', {}],
      ['expire', undefined],
    ] as const) {
      const refused = await lifecycle(first.id, action, body);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ error: { code: 'authorization_not_pending' } });
    }
    await expectBalance(account, FULL);

    // The same merchant authorizes again: the whole balance is there to hold.
    const again = await authorize({ card_id: cardId, amount: 10_000 });
    expect(again.approved).toBe(true);
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
    // A reversal of more than is held gives back what is held.
    expect((await lifecycle(again.id, 'reverse', { amount: 50_000 })).body).toMatchObject({
      status: 'reversed',
      amount: 0,
    });
    await expectBalance(account, FULL);
  });

  it('gives a reversed amount back to the daily limit', async () => {
    const { account, card: cardId } = await walletWithCard({
      spending_controls: { spending_limits: [{ amount: 5_000, interval: 'daily' }] },
    });
    const first = await authorize({ card_id: cardId, amount: 5_000 });
    expectDecline(await authorize({ card_id: cardId, amount: 1_000 }), 'spending_limit_exceeded');
    await lifecycle(first.id, 'reverse', { amount: 1_000 });
    expect((await authorize({ card_id: cardId, amount: 1_000 })).approved).toBe(true);
    await expectBalance(account, { available: 5_000, pending: 5_000, posted: 10_000 });
  });

  it('expires at once through the simulator, releasing the hold', async () => {
    const { account, card: cardId } = await walletWithCard();
    const first = await authorize({ card_id: cardId, amount: 3_000 });
    await lifecycle(first.id, 'increment', { amount: 1_000 });
    await expectBalance(account, { available: 6_000, pending: 4_000, posted: 10_000 });
    const expired = await lifecycle(first.id, 'expire');
    expect(expired.status).toBe(200);
    expect(expired.body).toMatchObject({ status: 'expired', amount: 0, approved_amount: 4_000 });
    await expectBalance(account, FULL);
    expect((await get(main.headers, `/v1/authorizations/${first.id}`)).body).toMatchObject({
      status: 'expired',
    });
    expect((await lifecycle(first.id, 'expire')).status).toBe(409);
  });

  it('refuses to reverse or increment a hold past its expiry that the job has not yet swept (409, not 500)', async () => {
    const { account, card: cardId } = await walletWithCard();
    const first = await authorize({ card_id: cardId, amount: 3_000 });
    api.clock.advance(7 * 86_400_000);
    for (const [action, body] of [
      ['reverse', { amount: 1_000 }],
      ['reverse', {}],
      ['increment', { amount: 1_000 }],
    ] as const) {
      const refused = await lifecycle(first.id, action, body);
      expect(refused.status, JSON.stringify(refused.body)).toBe(409);
      expect(refused.body).toMatchObject({ error: { code: 'authorization_not_pending' } });
    }
    await expectBalance(account, { available: 7_000, pending: 3_000, posted: 10_000 });
    // The simulator's expiry marks it expired; the ledger's hold, past its timeout, is the job's to release.
    expect((await lifecycle(first.id, 'expire')).body).toMatchObject({ status: 'expired', amount: 0 });
    await expectLedgerOk();
    await expireAuthorizations({ ...api.issuing, convert: convertForCard });
    await expectBalance(account, FULL);
    expect((await get(main.headers, `/v1/authorizations/${first.id}`)).body).toMatchObject({
      status: 'expired',
    });
  });

  it('refuses bad lifecycle requests and unknown authorizations, changing nothing', async () => {
    const { account, card: cardId } = await walletWithCard();
    const first = await authorize({ card_id: cardId, amount: 3_000 });
    for (const [action, body, param] of [
      ['increment', { amount: 0 }, 'amount'],
      ['increment', { amount: -5 }, 'amount'],
      ['increment', {}, 'amount'],
      ['increment', { amount: 10, currency: 'HKD' }, 'currency'],
      ['reverse', { amount: 0 }, 'amount'],
      ['reverse', { amount: 1.5 }, 'amount'],
    ] as const) {
      const refused = await lifecycle(first.id, action, body);
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: { param } });
    }
    const unknown = await lifecycle('auth_00000000000000000000000000', 'reverse', {});
    expect(unknown.status).toBe(404);
    expect((await get(main.headers, `/v1/authorizations/${first.id}`)).body).toEqual(first);
    await expectBalance(account, { available: 7_000, pending: 3_000, posted: 10_000 });
  });
});

describe('Idempotency-Key', () => {
  it('replays the first answer for the same key and body, and holds once', async () => {
    const { account, card: cardId } = await walletWithCard();
    const body = { card_id: cardId, amount: 1_500, currency: 'HKD', merchant: DINER };
    const send = (payload: Json) =>
      api.app.inject({
        method: 'POST',
        url: '/v1/simulate/authorizations',
        headers: { ...main.headers, 'idempotency-key': `auth-${cardId}` },
        payload,
      });
    const first = await send(body);
    const again = await send(body);
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json<AuthorizationJson>().id).toBe(first.json<AuthorizationJson>().id);
    await expectBalance(account, { available: 8_500, pending: 1_500, posted: 10_000 });
    expect((await send({ ...body, amount: 1_600 })).statusCode).toBe(409);
    await expectBalance(account, { available: 8_500, pending: 1_500, posted: 10_000 });
  });
});

describe('network repeats', () => {
  const network = { stan: '000123', rrn: '605900000123', transmission_time: '0301093000' };

  it('answers a repeat with the first answer and never holds twice', async () => {
    const { account, card: cardId } = await walletWithCard();
    const body = { card_id: cardId, amount: 2_000, network };
    const first = await authorize(body);
    expect(first.approved).toBe(true);
    await expectBalance(account, { available: 8_000, pending: 2_000, posted: 10_000 });
    const authorizations = await count('authorizations');
    const repeat = await authorize(body);
    expect(repeat).toEqual(first);
    expect(await count('authorizations')).toBe(authorizations);
    await expectBalance(account, { available: 8_000, pending: 2_000, posted: 10_000 });

    // Another acquirer, or another STAN, is another message.
    const otherAcquirer = await authorize({ ...body, merchant: { ...DINER, acquirer_id: '40000000002' } });
    expect(otherAcquirer.id).not.toBe(first.id);
    const otherStan = await authorize({ ...body, network: { ...network, stan: '000124' } });
    expect(otherStan.id).not.toBe(first.id);
    await expectBalance(account, { available: 4_000, pending: 6_000, posted: 10_000 });

    // A repeat of a decline is the same decline, even once the card could approve it.
    const declinedBody = { ...body, amount: 50_000, network: { ...network, stan: '000125' } };
    const declined = await authorize(declinedBody);
    expectDecline(declined, 'insufficient_funds');
    await post(main.headers, `/v1/accounts/${account}/loads`, { amount: 100_000, currency: 'HKD' });
    expect(await authorize(declinedBody)).toEqual(declined);
    await expectBalance(account, { available: 104_000, pending: 6_000, posted: 110_000 });
  });

  it('does not answer another programme’s card with an authorization of this one', async () => {
    const mine = await walletWithCard();
    const theirs = await walletWithCard({ program: other });
    const identity = { stan: '000777', rrn: '605900000777', transmission_time: '0301101500' };
    const first = await authorize({ card_id: mine.card, amount: 1_000, network: identity });
    expect(first.approved).toBe(true);
    const response = await simulate(
      { card_id: theirs.card, amount: 1_000, currency: 'HKD', merchant: DINER, network: identity },
      other.headers,
    );
    expect(response.status).toBe(409);
    expect(response.body).toMatchObject({ error: { code: 'duplicate_transmission' } });
    expect(JSON.stringify(response.body)).not.toContain(first.id);
    expect(JSON.stringify(response.body)).not.toContain(mine.card);
    await expectBalance(theirs.account, FULL, other);
    await expectBalance(mine.account, { available: 9_000, pending: 1_000, posted: 10_000 });
  });

  it('answers one identity sent at once for two programmes’ cards once, and the other as a duplicate, never a 500', async () => {
    const mine = await walletWithCard();
    const theirs = await walletWithCard({ program: other });
    const identity = { stan: '000888', rrn: '605900000888', transmission_time: '0301101600' };
    const [a, b] = await Promise.all([
      simulate({ card_id: mine.card, amount: 1_000, currency: 'HKD', merchant: DINER, network: identity }),
      simulate(
        { card_id: theirs.card, amount: 1_000, currency: 'HKD', merchant: DINER, network: identity },
        other.headers,
      ),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    await expectLedgerOk();
  });
});

describe('malformed requests', () => {
  it('refuses them with a 4xx naming the field, and changes nothing', async () => {
    const { account, card: cardId } = await walletWithCard();
    const good = { card_id: cardId, amount: 1_000, currency: 'HKD', merchant: DINER };
    const rate = await post(api.operatorHeaders, '/v1/fx_rates', {
      base: 'GBP',
      quote: 'HKD',
      rate: '10.25',
      source: 'ecb',
    });
    expect(rate.status).toBe(201);
    const before = {
      authorizations: await count('authorizations'),
      events: await count('events'),
      transfers: await count('ledger_transfers'),
    };
    const cases: [string, Json, number, string][] = [
      ['unknown card id', { ...good, card_id: 'card_00000000000000000000000000' }, 404, 'card_id'],
      ['malformed card id', { ...good, card_id: 'ich_00000000000000000000000000' }, 400, 'card_id'],
      ['unknown PAN', { ...good, card_id: undefined, pan: '4242420000000000' }, 404, 'pan'],
      ['malformed PAN', { ...good, card_id: undefined, pan: '4242-4242-4242' }, 400, 'pan'],
      ['short PAN', { ...good, card_id: undefined, pan: '424242' }, 400, 'pan'],
      ['card id and PAN', { ...good, pan: '4242420000000000' }, 400, 'pan'],
      ['no card', { ...good, card_id: undefined }, 400, 'card_id'],
      ['negative amount', { ...good, amount: -1 }, 400, 'amount'],
      ['fractional amount', { ...good, amount: 10.5 }, 400, 'amount'],
      ['amount as text', { ...good, amount: '1000' }, 400, 'amount'],
      ['unknown currency', { ...good, currency: 'XYZ' }, 400, 'currency'],
      ['not a card currency', { ...good, currency: 'XAU' }, 400, 'currency'],
      [
        'an amount too large to convert',
        { ...good, currency: 'GBP', amount: Number.MAX_SAFE_INTEGER },
        400,
        'amount',
      ],
      ['lower-case currency', { ...good, currency: 'hkd' }, 400, 'currency'],
      ['unknown field', { ...good, tip: 100 }, 400, 'tip'],
      ['unknown merchant field', { ...good, merchant: { ...DINER, owner: 'x' } }, 400, 'merchant[owner]'],
      ['bad MCC', { ...good, merchant: { ...DINER, mcc: '58' } }, 400, 'merchant[mcc]'],
      ['bad entry mode', { ...good, entry_mode: 'telepathy' }, 400, 'entry_mode'],
      [
        'bad STAN',
        { ...good, network: { stan: '12', rrn: '605900000123', transmission_time: '0301093000' } },
        400,
        'network[stan]',
      ],
      ['no merchant', { ...good, merchant: undefined }, 400, 'merchant'],
    ];
    for (const [name, body, status, param] of cases) {
      const response = await simulate(JSON.parse(JSON.stringify(body)) as Json);
      expect(response.status, `${name}: ${JSON.stringify(response.body)}`).toBe(status);
      expect(response.body, name).toMatchObject({ error: { param } });
    }
    expect({
      authorizations: await count('authorizations'),
      events: await count('events'),
      transfers: await count('ledger_transfers'),
    }).toEqual(before);
    await expectBalance(account, FULL);
  });
});

describe('who may simulate and read', () => {
  it('refuses the simulator to live programmes and the operator (403)', async () => {
    const live = await createTestProgram(api, { mode: 'live' });
    const { account, card: cardId } = await walletWithCard({ program: live });
    const body = { card_id: cardId, amount: 1_000, currency: 'HKD', merchant: DINER };
    const refused = await simulate(body, live.headers);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'sandbox_only', type: 'permission_error' } });
    const operator = await simulate(body, api.operatorHeaders);
    expect(operator.status).toBe(403);
    await expectBalance(account, FULL, live);
  });

  it('keeps programmes apart: another programme’s key gets 404 and empty lists', async () => {
    const { account, card: cardId, cardholder } = await walletWithCard();
    const first = await authorize({ card_id: cardId, amount: 1_000 });
    expect((await get(other.headers, `/v1/authorizations/${first.id}`)).status).toBe(404);
    for (const action of ['increment', 'reverse', 'expire'] as const) {
      const response = await post(
        other.headers,
        `/v1/simulate/authorizations/${first.id}/${action}`,
        action === 'increment' ? { amount: 100 } : {},
      );
      expect(response.status).toBe(404);
    }
    const simulated = await simulate(
      { card_id: cardId, amount: 1_000, currency: 'HKD', merchant: DINER },
      other.headers,
    );
    expect(simulated.status).toBe(404);
    const { pan } = await reveal(cardId);
    const byPan = await simulate({ pan, amount: 1_000, currency: 'HKD', merchant: DINER }, other.headers);
    expect(byPan.status).toBe(404);
    for (const query of ['', `?card_id=${cardId}`, `?cardholder_id=${cardholder}`]) {
      const listed = await get(other.headers, `/v1/authorizations${query}`);
      expect(listed.status).toBe(200);
      expect(listed.body).toMatchObject({ data: [], has_more: false });
    }
    // The operator reads every programme's.
    expect((await get(api.operatorHeaders, `/v1/authorizations/${first.id}`)).body).toEqual(first);
    await expectBalance(account, { available: 9_000, pending: 1_000, posted: 10_000 });
  });
});

describe('concurrency through the simulator', () => {
  it('approves exactly what the wallet holds: 200 × 100 at once against 10,000 approves 100', async () => {
    const { account, card: cardId } = await walletWithCard();
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => authorize({ card_id: cardId, amount: 100, merchant: GROCER })),
    );
    expect(answers.filter((answer) => answer.approved)).toHaveLength(100);
    for (const answer of answers.filter((one) => !one.approved)) expectDecline(answer, 'insufficient_funds');
    await expectBalance(account, { available: 0, pending: 10_000, posted: 10_000 });
  });
});

describe('GET /v1/authorizations', () => {
  it('lists newest first, with filters by card, cardholder, status and time, and cursor pagination', async () => {
    const owner = await holder({ load: 100_000 });
    const first = await card(owner);
    const second = await card(owner);
    const start = api.clock.now();
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      api.clock.advance(1_000);
      ids.push((await authorize({ card_id: index % 2 === 0 ? first : second, amount: 100 })).id);
    }
    api.clock.advance(1_000);
    const declined = await authorize({ card_id: first, amount: 1_000_000 });
    const middle = new Date(start.getTime() + 2_500).toISOString();

    const all = await get(main.headers, `/v1/authorizations?cardholder_id=${owner.cardholder}`);
    expect((all.body.data as AuthorizationJson[]).map((row) => row.id)).toEqual([
      declined.id,
      ...[...ids].reverse(),
    ]);
    const byCard = await get(main.headers, `/v1/authorizations?card_id=${second}`);
    expect((byCard.body.data as AuthorizationJson[]).map((row) => row.id)).toEqual([ids[3], ids[1]]);
    const byStatus = await get(
      main.headers,
      `/v1/authorizations?cardholder_id=${owner.cardholder}&status=declined`,
    );
    expect((byStatus.body.data as AuthorizationJson[]).map((row) => row.id)).toEqual([declined.id]);
    const since = await get(
      main.headers,
      `/v1/authorizations?cardholder_id=${owner.cardholder}&status=pending&created[gte]=${encodeURIComponent(middle)}`,
    );
    expect((since.body.data as AuthorizationJson[]).map((row) => row.id)).toEqual(ids.slice(2).reverse());
    const until = await get(
      main.headers,
      `/v1/authorizations?cardholder_id=${owner.cardholder}&created[lte]=${encodeURIComponent(middle)}`,
    );
    expect((until.body.data as AuthorizationJson[]).map((row) => row.id)).toEqual(ids.slice(0, 2).reverse());

    const page = await get(main.headers, `/v1/authorizations?cardholder_id=${owner.cardholder}&limit=4`);
    expect((page.body.data as AuthorizationJson[]).map((row) => row.id)).toEqual([
      declined.id,
      ids[4],
      ids[3],
      ids[2],
    ]);
    expect(page.body.has_more).toBe(true);
    const next = await get(
      main.headers,
      `/v1/authorizations?cardholder_id=${owner.cardholder}&limit=4&starting_after=${ids[2] ?? ''}`,
    );
    expect((next.body.data as AuthorizationJson[]).map((row) => row.id)).toEqual([ids[1], ids[0]]);
    expect(next.body.has_more).toBe(false);

    const bad = await get(main.headers, '/v1/authorizations?status=approved');
    expect(bad.status).toBe(400);
    expect((await get(main.headers, '/v1/authorizations?colour=red')).status).toBe(400);
    await expectLedgerOk();
  });
});
