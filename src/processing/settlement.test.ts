import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../test/support/programs.js';
import { getAccount } from '../ledger/index.js';
import { verifyLedger } from '../ledger/verify.js';
import { programAccountId } from '../issuing/programs.js';
import { runSettlement, settleDue, type REPORT_CSV_COLUMNS, type Settlement } from './settlement.js';

/**
 * The daily settlement driven through the simulator: clearings on both sides of the programme's local midnight,
 * in two currencies and two programmes, settled, reconciled against sums taken straight from the ledger, reported
 * as JSON and CSV, and run again to show nothing changes.
 */

interface Json {
  [key: string]: unknown;
}

type Headers = { readonly authorization: string };

const DINER = { name: 'Yung Kee', mcc: '5812', country: 'HK', acceptor_id: 'YKR000000000001' };
const SHOP = { name: 'Eslite', mcc: '5942', country: 'HK', acceptor_id: 'ESL000000000001' };
// Network text the CSV must escape: a delimiter, quotes, and a name a spreadsheet would run as a formula.
const AWKWARD = { name: 'Tai Cheong, "Egg" Tarts', mcc: '5814', country: 'HK' };
const FORMULA = { name: '=HYPERLINK("http://x.invalid")', mcc: '5999', country: 'HK' };

let api: TestApi;
let hk: TestProgram;
let other: TestProgram;

beforeAll(async () => {
  api = await openTestApi();
  // The clock starts at 2026-03-01T00:00Z, 08:00 on 1 March in Hong Kong (UTC+8, no daylight saving).
  hk = await createTestProgram(api);
  other = await createTestProgram(api);
});
afterAll(async () => api.close());

async function call(
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  payload?: unknown,
  headers: Headers = hk.headers,
) {
  return api.app.inject({
    method,
    url,
    headers: { ...headers },
    ...(payload === undefined ? {} : { payload: payload as Json }),
  });
}

async function post(url: string, payload: unknown, headers: Headers = hk.headers): Promise<Json> {
  const response = await call('POST', url, payload, headers);
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response.json<Json>();
}

let people = 0;
async function walletWithCard(
  load: number,
  currency = 'HKD',
  headers: Headers = hk.headers,
): Promise<{ account: string; card: string }> {
  people += 1;
  const holder = await post('/v1/cardholders', { name: `Wong Ka Yan ${people}` }, headers);
  const account = await post('/v1/accounts', { cardholder_id: holder.id, currency }, headers);
  if (load > 0) await post(`/v1/accounts/${String(account.id)}/loads`, { amount: load, currency }, headers);
  const card = await post(
    '/v1/cards',
    { cardholder_id: holder.id, account_id: account.id, type: 'multi_use' },
    headers,
  );
  return { account: String(account.id), card: String(card.id) };
}

async function authorize(card: string, amount: number, currency = 'HKD', headers = hk.headers) {
  const authorization = await post(
    '/v1/simulate/authorizations',
    { card_id: card, amount, currency, merchant: currency === 'HKD' ? DINER : SHOP },
    headers,
  );
  expect(authorization.approved).toBe(true);
  return String(authorization.id);
}

async function clear(auth: string, amount: number, options: { currency?: string; final?: boolean } = {}) {
  return post(`/v1/simulate/authorizations/${auth}/clear`, {
    amount,
    currency: options.currency ?? 'HKD',
    ...(options.final === undefined ? {} : { final: options.final }),
  });
}

async function forcePost(
  card: string,
  amount: number,
  merchant: Json = SHOP,
  currency = 'HKD',
  headers = hk.headers,
) {
  return post('/v1/simulate/force_posts', { card_id: card, amount, currency, merchant }, headers);
}

async function settle(date: string, currency = 'HKD', headers: Headers = hk.headers) {
  return call('POST', '/v1/settlements', { currency, date }, headers);
}

/** The day's clearing movements on the card-settlement account, straight from the ledger's transfers. */
async function ledgerDay(
  program: TestProgram,
  currency: string,
  window: { start: string; end: string },
): Promise<{ capture: number; refund: number; force_post: number; net: number }> {
  const account = programAccountId(program.program.id, 'card_settlement', currency);
  const found = await api.db.query<{ code: string; total: number }>(
    `SELECT code, sum(CASE WHEN credit_account_id = $1 THEN amount ELSE -amount END)::bigint AS total
     FROM ledger_transfers
     WHERE (credit_account_id = $1 OR debit_account_id = $1) AND code LIKE 'clearing\\_%'
       AND created_at >= $2 AND created_at < $3
     GROUP BY code`,
    [account, window.start, window.end],
  );
  const total = (code: string) => found.rows.find((row) => row.code === code)?.total ?? 0;
  const capture = total('clearing_capture');
  const refund = 0 - total('clearing_refund');
  const forcePosted = total('clearing_force_post');
  return { capture, refund, force_post: forcePosted, net: capture + forcePosted - refund };
}

async function postedBalance(
  program: TestProgram,
  kind: 'card_settlement' | 'program_bank',
  currency: string,
) {
  const account = await getAccount(api.db, programAccountId(program.program.id, kind, currency));
  if (account === undefined) throw new Error(`no ${kind} account`);
  return account.creditsPosted - account.debitsPosted;
}

async function count(sql: string, params: (string | null)[] = []): Promise<number> {
  const found = await api.db.query<{ n: number }>(sql, params);
  return found.rows[0]?.n ?? 0;
}

async function expectLedgerSound(): Promise<void> {
  expect((await verifyLedger(api.db)).problems).toEqual([]);
}

function expectMatchesLedger(
  settlement: Settlement | Json,
  ledger: { capture: number; refund: number; force_post: number; net: number },
) {
  expect(settlement).toMatchObject({
    capture_amount: ledger.capture,
    refund_amount: ledger.refund,
    force_post_amount: ledger.force_post,
    net_amount: ledger.net,
  });
}

type CsvLine = Record<(typeof REPORT_CSV_COLUMNS)[number], string>;

/** The CSV back to totals: sums of its transaction lines, and its total lines. */
function csvTotals(text: string) {
  const lines = parse<CsvLine>(text, { columns: true });
  const transactions = lines.filter((line) => line.id !== 'total');
  const totals = Object.fromEntries(
    lines
      .filter((line) => line.id === 'total')
      .map((line) => [
        line.type,
        { amount: Number(line.amount), count: line.count === '' ? null : Number(line.count) },
      ]),
  );
  const sum = (type: string) =>
    transactions.filter((line) => line.type === type).reduce((total, line) => total + Number(line.amount), 0);
  const lineCount = (type: string) => transactions.filter((line) => line.type === type).length;
  return { lines: transactions, totals, sum, lineCount };
}

const HK_DAY_1 = { start: '2026-02-28T16:00:00.000Z', end: '2026-03-01T16:00:00.000Z' };
const HK_DAY_2 = { start: '2026-03-01T16:00:00.000Z', end: '2026-03-02T16:00:00.000Z' };

describe('daily settlement in Asia/Hong_Kong', () => {
  let multi: string;
  let firstAuth: string;
  let usdCard: string;
  let spender: { account: string; card: string };
  let day1: Json;

  it('programmes default to Asia/Hong_Kong', () => {
    expect(hk.program.time_zone).toBe('Asia/Hong_Kong');
  });

  it('day 1: captures (whole, partial, several, over with shortfall), refunds and force posts, in HKD and USD', async () => {
    spender = await walletWithCard(100_000);
    const { card } = spender;
    firstAuth = await authorize(card, 2_500);
    await clear(firstAuth, 2_500);
    const partial = await authorize(card, 4_000);
    await clear(partial, 3_000);
    multi = await authorize(card, 6_000);
    await clear(multi, 1_000, { final: false });
    await clear(multi, 2_000, { final: false });
    const poor = await walletWithCard(5_000);
    const over = await authorize(poor.card, 5_000);
    const shortfall = await clear(over, 5_900);
    expect(shortfall).toMatchObject({ wallet_amount: 5_000, shortfall_amount: 900 });
    await post('/v1/simulate/refunds', { authorization_id: firstAuth, amount: 500, currency: 'HKD' });
    await post('/v1/simulate/refunds', { card_id: card, amount: 700, currency: 'HKD', merchant: AWKWARD });
    await forcePost(card, 1_234, AWKWARD);
    // Not yet cleared: a hold is not a settlement movement.
    await authorize(card, 9_999);

    const usd = await walletWithCard(50_000, 'USD');
    usdCard = usd.card;
    const usdAuth = await authorize(usd.card, 1_500, 'USD');
    await clear(usdAuth, 1_500, { currency: 'USD' });
    await forcePost(usd.card, 250, FORMULA, 'USD');

    const elsewhere = await walletWithCard(10_000, 'HKD', other.headers);
    await forcePost(elsewhere.card, 4_321, SHOP, 'HKD', other.headers);

    // 23:59:59.999 in Hong Kong: still day 1. Midnight itself belongs to day 2.
    api.clock.set('2026-03-01T15:59:59.999Z');
    await forcePost(card, 111, FORMULA);
    await forcePost(usd.card, 11, SHOP, 'USD');
  });

  it('refuses a day that has not ended, and changes nothing', async () => {
    const response = await settle('2026-03-01');
    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: Json }>().error).toMatchObject({
      code: 'settlement_day_not_ended',
      param: 'date',
    });
    expect(await count('SELECT count(*)::bigint AS n FROM settlements')).toBe(0);
    expect(
      await count('SELECT count(*)::bigint AS n FROM transactions WHERE settlement_id IS NOT NULL'),
    ).toBe(0);
  });

  it('day 2 starts at local midnight', async () => {
    api.clock.set('2026-03-01T16:00:00.000Z');
    await forcePost(spender.card, 222);
    await clear(multi, 3_000);
    await post('/v1/simulate/refunds', { authorization_id: firstAuth, amount: 100, currency: 'HKD' });
    api.clock.set('2026-03-02T10:00:00.000Z');
    await forcePost(usdCard, 5, SHOP, 'USD');
  });

  it('refuses bad input with a 4xx and changes nothing', async () => {
    const cases: [Json, Headers, number, string][] = [
      [{ currency: 'HKD', date: '2026-02-30' }, hk.headers, 400, 'date_invalid'],
      [{ currency: 'HKD', date: '1999-12-31' }, hk.headers, 400, 'date_invalid'],
      [{ currency: 'HKD', date: '01/03/2026' }, hk.headers, 400, 'parameter_invalid'],
      [{ currency: 'EUR', date: '2026-03-01' }, hk.headers, 400, 'currency_unsupported'],
      [{ currency: 'XXZ', date: '2026-03-01' }, hk.headers, 400, 'currency_invalid'],
      [{ currency: 'HKD', date: '2026-02-28' }, hk.headers, 400, 'settlement_date_before_program'],
      [{ currency: 'HKD', date: '2026-03-02' }, hk.headers, 400, 'settlement_day_not_ended'],
      [{ currency: 'HKD', date: '2026-03-01', extra: 1 }, hk.headers, 400, 'parameter_unknown'],
      [{ currency: 'HKD', date: '2026-03-01' }, api.operatorHeaders, 400, 'program_id_required'],
      [
        { currency: 'HKD', date: '2026-03-01', program_id: 'prog_00000000000000000000000000' },
        api.operatorHeaders,
        404,
        'resource_missing',
      ],
      [
        { currency: 'HKD', date: '2026-03-01', program_id: other.program.id },
        hk.headers,
        404,
        'resource_missing',
      ],
    ];
    for (const [body, headers, status, code] of cases) {
      const response = await call('POST', '/v1/settlements', body, headers);
      expect(response.statusCode, JSON.stringify(body)).toBe(status);
      expect(response.json<{ error: Json }>().error.code, JSON.stringify(body)).toBe(code);
    }
    expect(await count('SELECT count(*)::bigint AS n FROM settlements')).toBe(0);
  });

  it('settles day 1: totals equal the ledger’s movements for the day, and the net moves to the programme’s bank', async () => {
    api.clock.set('2026-03-02T16:00:00.001Z');
    const settlementBefore = await postedBalance(hk, 'card_settlement', 'HKD');
    const bankBefore = await postedBalance(hk, 'program_bank', 'HKD');
    const response = await settle('2026-03-01');
    expect(response.statusCode, response.body).toBe(201);
    day1 = response.json<Json>();
    expect(day1).toMatchObject({
      object: 'settlement',
      program_id: hk.program.id,
      currency: 'HKD',
      settlement_date: '2026-03-01',
      time_zone: 'Asia/Hong_Kong',
      window_start: HK_DAY_1.start,
      window_end: HK_DAY_1.end,
      capture_count: 5,
      capture_amount: 2_500 + 3_000 + 1_000 + 2_000 + 5_900,
      refund_count: 2,
      refund_amount: 500 + 700,
      force_post_count: 2,
      force_post_amount: 1_234 + 111,
      shortfall_amount: 900,
      net_amount: 14_400 + 1_345 - 1_200,
      transaction_count: 9,
    });
    const ledger = await ledgerDay(hk, 'HKD', HK_DAY_1);
    expectMatchesLedger(day1, ledger);
    expect(day1.reconciliation).toMatchObject({
      source: 'ledger',
      matched: true,
      account_id: programAccountId(hk.program.id, 'card_settlement', 'HKD'),
      capture: { count: 5, amount: ledger.capture, shortfall_amount: 900 },
      refund: { count: 2, amount: ledger.refund, shortfall_amount: 0 },
      force_post: { count: 2, amount: ledger.force_post, shortfall_amount: 0 },
      net_amount: ledger.net,
    });
    expect(await postedBalance(hk, 'card_settlement', 'HKD')).toBe(settlementBefore - 14_545);
    expect(await postedBalance(hk, 'program_bank', 'HKD')).toBe(bankBefore + 14_545);
    const transfer = await api.db.query<{ code: string; reference: string; amount: number }>(
      'SELECT code, reference, amount FROM ledger_transfers WHERE id = $1',
      [String(day1.transfer_id)],
    );
    expect(transfer.rows[0]).toEqual({ code: 'settlement', reference: day1.id, amount: 14_545 });

    const listed = (await call('GET', `/v1/transactions?settlement_id=${String(day1.id)}&limit=100`)).json<{
      data: Json[];
    }>();
    expect(listed.data).toHaveLength(9);
    expect(listed.data.every((txn) => String(txn.created) < HK_DAY_1.end)).toBe(true);
    const event = await api.db.query<{ n: number }>(
      `SELECT count(*)::bigint AS n FROM events WHERE type = 'settlement.created' AND data->'object'->>'id' = $1`,
      [String(day1.id)],
    );
    expect(event.rows[0]?.n).toBe(1);
    await expectLedgerSound();
  });

  it('settling the same day again returns the same settlement and changes nothing', async () => {
    const before = {
      settlements: await count('SELECT count(*)::bigint AS n FROM settlements'),
      transfers: await count('SELECT count(*)::bigint AS n FROM ledger_transfers'),
      events: await count('SELECT count(*)::bigint AS n FROM events'),
    };
    const again = await settle('2026-03-01');
    expect(again.statusCode).toBe(201);
    expect(again.json<Json>()).toEqual(day1);
    const direct = await runSettlement(api.issuing, {
      programId: hk.program.id,
      currency: 'HKD',
      date: '2026-03-01',
    });
    expect(direct).toEqual(day1);
    expect({
      settlements: await count('SELECT count(*)::bigint AS n FROM settlements'),
      transfers: await count('SELECT count(*)::bigint AS n FROM ledger_transfers'),
      events: await count('SELECT count(*)::bigint AS n FROM events'),
    }).toEqual(before);
  });

  it('settles days in order: day 3 waits for day 2', async () => {
    api.clock.set('2026-03-03T16:00:00.000Z');
    const response = await settle('2026-03-03');
    expect(response.statusCode).toBe(409);
    expect(response.json<{ error: Json }>().error).toMatchObject({ code: 'settlement_out_of_order' });
    expect(response.json<{ error: Json }>().error.message).toContain('2026-03-02');
  });

  it('day 2 begins where day 1 ended, and after it card settlement holds nothing of the settled days', async () => {
    // The operator settles a programme's day by naming it.
    const response = await call(
      'POST',
      '/v1/settlements',
      { currency: 'HKD', date: '2026-03-02', program_id: hk.program.id },
      api.operatorHeaders,
    );
    expect(response.statusCode, response.body).toBe(201);
    const day2 = response.json<Json>();
    expect(day2).toMatchObject({
      window_start: day1.window_end,
      window_end: HK_DAY_2.end,
      capture_count: 1,
      capture_amount: 3_000,
      refund_count: 1,
      refund_amount: 100,
      force_post_count: 1,
      force_post_amount: 222,
      net_amount: 3_122,
    });
    expectMatchesLedger(day2, await ledgerDay(hk, 'HKD', HK_DAY_2));
    // Every clearing so far is settled: the account's posted balance is back to zero (holds are pending only).
    expect(await postedBalance(hk, 'card_settlement', 'HKD')).toBe(0);
    await expectLedgerSound();
  });

  it('an empty day still settles, with zeros; a day of refunds only is owed to the programme', async () => {
    // Midnight in Hong Kong: the first moment of 4 March.
    expect(api.clock.now().toISOString()).toBe('2026-03-03T16:00:00.000Z');
    await post('/v1/simulate/refunds', {
      card_id: spender.card,
      amount: 2_000,
      currency: 'HKD',
      merchant: SHOP,
    });
    api.clock.set('2026-03-05T00:00:00.000Z');
    const day3 = (await settle('2026-03-03')).json<Json>();
    expect(day3).toMatchObject({
      settlement_date: '2026-03-03',
      transaction_count: 0,
      capture_amount: 0,
      refund_amount: 0,
      force_post_amount: 0,
      net_amount: 0,
      transfer_id: null,
      reconciliation: { matched: true, net_amount: 0 },
    });
    const bankBefore = await postedBalance(hk, 'program_bank', 'HKD');
    const day4 = (await settle('2026-03-04')).json<Json>();
    expect(day4).toMatchObject({ refund_count: 1, refund_amount: 2_000, net_amount: -2_000 });
    expect(await postedBalance(hk, 'program_bank', 'HKD')).toBe(bankBefore - 2_000);
    expect(await postedBalance(hk, 'card_settlement', 'HKD')).toBe(0);
    await expectLedgerSound();
  });

  it('settleDue settles every other ended day of every programme and currency, once', async () => {
    const result = await settleDue(api.issuing);
    expect(result.failed).toEqual([]);
    const made = result.settled.map((s) => `${s.program_id} ${s.currency} ${s.settlement_date}`).sort();
    const expected = [hk, other].flatMap((program) =>
      ['HKD', 'USD'].flatMap((currency) =>
        ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04']
          .filter(() => program !== hk || currency !== 'HKD')
          .map((date) => `${program.program.id} ${currency} ${date}`),
      ),
    );
    expect(made).toEqual(expected.sort());
    const usd1 = result.settled.find(
      (s) => s.program_id === hk.program.id && s.currency === 'USD' && s.settlement_date === '2026-03-01',
    );
    expect(usd1).toMatchObject({
      capture_count: 1,
      capture_amount: 1_500,
      force_post_count: 2,
      force_post_amount: 261,
      net_amount: 1_761,
    });
    if (usd1 === undefined) throw new Error('no USD settlement');
    expectMatchesLedger(usd1, await ledgerDay(hk, 'USD', HK_DAY_1));
    const otherDay1 = result.settled.find(
      (s) => s.program_id === other.program.id && s.currency === 'HKD' && s.settlement_date === '2026-03-01',
    );
    expect(otherDay1).toMatchObject({ force_post_count: 1, force_post_amount: 4_321, net_amount: 4_321 });
    expect(await postedBalance(hk, 'card_settlement', 'USD')).toBe(0);
    expect(await postedBalance(other, 'card_settlement', 'HKD')).toBe(0);

    const again = await settleDue(api.issuing);
    expect(again).toEqual({ settled: [], failed: [], more: false });
    await expectLedgerSound();
  });

  it('lists newest first with filters, and a programme sees only its own', async () => {
    const page = (await call('GET', '/v1/settlements?currency=HKD&limit=2')).json<{
      data: Json[];
      has_more: boolean;
    }>();
    expect(page.data.map((s) => s.settlement_date)).toEqual(['2026-03-04', '2026-03-03']);
    expect(page.has_more).toBe(true);
    const next = (
      await call('GET', `/v1/settlements?currency=HKD&limit=10&starting_after=${String(page.data[1]?.id)}`)
    ).json<{ data: Json[] }>();
    expect(next.data.map((s) => s.settlement_date)).toEqual(['2026-03-02', '2026-03-01']);
    const byDate = (await call('GET', '/v1/settlements?settlement_date=2026-03-01')).json<{ data: Json[] }>();
    expect(byDate.data.map((s) => s.currency).sort()).toEqual(['HKD', 'USD']);
    expect(byDate.data.every((s) => s.program_id === hk.program.id)).toBe(true);
    const operator = (
      await call(
        'GET',
        `/v1/settlements?program_id=${other.program.id}&limit=100`,
        undefined,
        api.operatorHeaders,
      )
    ).json<{ data: Json[] }>();
    expect(operator.data).toHaveLength(8);
    expect((await call('GET', '/v1/settlements?settlement_date=2026-02-31')).statusCode).toBe(400);

    const theirs = operator.data[0];
    for (const suffix of ['', '/report', '/report.csv']) {
      const response = await call('GET', `/v1/settlements/${String(theirs?.id)}${suffix}`);
      expect(response.statusCode).toBe(404);
    }
    expect((await call('GET', `/v1/settlements?program_id=${other.program.id}`)).statusCode).toBe(404);
    expect(
      (await call('GET', `/v1/settlements/${String(day1.id)}`, undefined, api.operatorHeaders)).json(),
    ).toEqual(day1);
  });

  it('reports as JSON and as CSV that parses back to the same totals', async () => {
    const report = (await call('GET', `/v1/settlements/${String(day1.id)}/report`)).json<{
      object: string;
      settlement: Json;
      transactions: Json[];
    }>();
    expect(report.object).toBe('settlement_report');
    expect(report.settlement).toEqual(day1);
    expect(report.transactions).toHaveLength(9);
    const jsonSum = (type: string) =>
      report.transactions.filter((t) => t.type === type).reduce((sum, t) => sum + Number(t.amount), 0);
    expect(jsonSum('capture')).toBe(day1.capture_amount);

    const response = await call('GET', `/v1/settlements/${String(day1.id)}/report.csv`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(response.headers['content-disposition']).toContain('settlement-2026-03-01-HKD-');
    expect(response.body.split('\r\n')[0]).toBe(
      'id,type,card_id,authorization_id,amount,currency,merchant_amount,merchant_currency,merchant_name,mcc,created,count',
    );
    const csv = csvTotals(response.body);
    expect(csv.lines.map((line) => line.id)).toEqual(report.transactions.map((t) => t.id));
    for (const [type, amount, n] of [
      ['capture', day1.capture_amount, day1.capture_count],
      ['refund', day1.refund_amount, day1.refund_count],
      ['force_post', day1.force_post_amount, day1.force_post_count],
    ] as const) {
      expect(csv.sum(type)).toBe(amount);
      expect(csv.lineCount(type)).toBe(n);
      expect(csv.totals[type]).toEqual({ amount, count: n });
    }
    expect(csv.totals.net).toEqual({ amount: day1.net_amount, count: 9 });
    expect(csv.totals.shortfall).toEqual({ amount: 900, count: null });
    expect(csv.sum('capture') + csv.sum('force_post') - csv.sum('refund')).toBe(day1.net_amount);
    const names = csv.lines.map((line) => line.merchant_name);
    expect(names).toContain(AWKWARD.name);
    // Parsed back, the formula is inert text: an apostrophe keeps a spreadsheet from running it.
    expect(names).toContain(`'${FORMULA.name}`);
    expect(names).not.toContain(FORMULA.name);

    // A day whose net is negative keeps its sign in the CSV.
    const day4 = (await call('GET', '/v1/settlements?settlement_date=2026-03-04&currency=HKD')).json<{
      data: Json[];
    }>().data[0];
    const negative = csvTotals((await call('GET', `/v1/settlements/${String(day4?.id)}/report.csv`)).body);
    expect(negative.totals.net).toEqual({ amount: -2_000, count: 1 });
  });

  it('the OpenAPI document describes the settlement routes', async () => {
    const document = (await call('GET', '/v1/openapi.json')).json<{ paths: Record<string, Json> }>();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/settlements',
        '/v1/settlements/{id}',
        '/v1/settlements/{id}/report',
        '/v1/settlements/{id}/report.csv',
      ]),
    );
  });
});

describe('reconciliation', () => {
  it('refuses to settle a day whose transactions disagree with the ledger, and writes nothing', async () => {
    const program = await createTestProgram(api);
    const { card } = await walletWithCard(10_000, 'HKD', program.headers);
    const forced = await forcePost(card, 1_000, SHOP, 'HKD', program.headers);
    api.clock.advance(2 * 86_400_000);
    // A transaction row edited behind the ledger's back: what a bug in clearing would leave.
    await api.db.query('UPDATE transactions SET amount = 1001, wallet_amount = 1001 WHERE id = $1', [
      String(forced.id),
    ]);
    const before = await count('SELECT count(*)::bigint AS n FROM ledger_transfers');
    const day = await api.db.query<{ day: string }>(
      `SELECT to_char((created_at AT TIME ZONE 'Asia/Hong_Kong')::date, 'YYYY-MM-DD') AS day
       FROM transactions WHERE id = $1`,
      [String(forced.id)],
    );
    const date = day.rows[0]?.day ?? '';
    // The transaction's day is refused; the programme's other days wait behind it.
    const result = await settleDue(api.issuing, { programId: program.program.id, currency: 'HKD' });
    const failure = result.failed[0];
    expect(failure).toMatchObject({ date, code: 'settlement_unreconciled' });
    expect(failure?.message).toContain(`${String(forced.id)} (transactions 1001, ledger 1000)`);
    expect(result.settled.every((s) => s.settlement_date < date)).toBe(true);
    const response = await settle(date, 'HKD', program.headers);
    expect(response.statusCode).toBe(500);
    expect(response.json<{ error: Json }>().error.code).toBe('settlement_unreconciled');
    expect(
      await count(
        'SELECT count(*)::bigint AS n FROM settlements WHERE settlement_date = $1::date AND program_id = $2',
        [date, program.program.id],
      ),
    ).toBe(0);
    expect(
      await count('SELECT count(*)::bigint AS n FROM transactions WHERE id = $1 AND settlement_id IS NULL', [
        String(forced.id),
      ]),
    ).toBe(1);
    expect(await count('SELECT count(*)::bigint AS n FROM ledger_transfers')).toBe(before);

    await api.db.query('UPDATE transactions SET amount = 1000, wallet_amount = 1000 WHERE id = $1', [
      String(forced.id),
    ]);
    const settled = await settle(date, 'HKD', program.headers);
    expect(settled.statusCode, settled.body).toBe(201);
    expect(settled.json<Json>()).toMatchObject({ force_post_amount: 1_000, net_amount: 1_000 });
    await expectLedgerSound();
  });
});

describe('a time zone with daylight saving (Europe/London)', () => {
  it('cuts at local midnight on both sides of the clocks going forward, a 23-hour day between', async () => {
    api.clock.set('2026-03-28T12:00:00.000Z');
    const london = await createTestProgram(api, { currencies: ['GBP'], time_zone: 'Europe/London' });
    const { card } = await walletWithCard(100_000, 'GBP', london.headers);
    const at = async (time: string, amount: number) => {
      api.clock.set(time);
      await forcePost(card, amount, SHOP, 'GBP', london.headers);
    };
    await at('2026-03-28T23:59:59.999Z', 1); // 23:59:59.999 GMT on the 28th
    await at('2026-03-29T00:00:00.000Z', 10); // midnight GMT: the 29th
    await at('2026-03-29T22:59:59.999Z', 100); // 23:59:59.999 BST, still the 29th
    await at('2026-03-29T23:00:00.000Z', 1_000); // midnight BST: the 30th
    api.clock.set('2026-03-30T22:59:59.999Z');
    const early = await settleDue(api.issuing, { programId: london.program.id });
    expect(early.settled.map((s) => s.settlement_date)).toEqual(['2026-03-28', '2026-03-29']);
    api.clock.set('2026-03-30T23:00:00.000Z');
    const late = await settleDue(api.issuing, { programId: london.program.id });
    const days = [...early.settled, ...late.settled];
    expect(days.map((s) => [s.settlement_date, s.window_start, s.window_end, s.force_post_amount])).toEqual([
      ['2026-03-28', '2026-03-28T00:00:00.000Z', '2026-03-29T00:00:00.000Z', 1],
      ['2026-03-29', '2026-03-29T00:00:00.000Z', '2026-03-29T23:00:00.000Z', 110],
      ['2026-03-30', '2026-03-29T23:00:00.000Z', '2026-03-30T23:00:00.000Z', 1_000],
    ]);
    for (const day of days) {
      expectMatchesLedger(
        day,
        await ledgerDay(london, 'GBP', { start: day.window_start, end: day.window_end }),
      );
    }
    expect(await postedBalance(london, 'card_settlement', 'GBP')).toBe(0);
  });

  it('a change of time zone takes effect at the next cut-off, with no moment settled twice or never', async () => {
    const program = await createTestProgram(api, { currencies: ['HKD'] });
    const { card } = await walletWithCard(100_000, 'HKD', program.headers);
    // Created at 2026-03-30T23:00Z, 07:00 on the 31st in Hong Kong.
    await forcePost(card, 7, SHOP, 'HKD', program.headers);
    api.clock.set('2026-03-31T16:00:00.000Z');
    const first = await settleDue(api.issuing, { programId: program.program.id });
    expect(first.settled.map((s) => [s.settlement_date, s.window_end])).toEqual([
      ['2026-03-31', '2026-03-31T16:00:00.000Z'],
    ]);
    const patched = await call(
      'PATCH',
      `/v1/programs/${program.program.id}`,
      { time_zone: 'Europe/London' },
      api.operatorHeaders,
    );
    expect(patched.statusCode, patched.body).toBe(200);
    // 18:00 BST on 1 April: after Hong Kong's cut-off, before London's.
    api.clock.set('2026-04-01T17:00:00.000Z');
    await forcePost(card, 70, SHOP, 'HKD', program.headers);
    api.clock.set('2026-04-01T23:00:00.000Z');
    const second = await settleDue(api.issuing, { programId: program.program.id });
    expect(second.failed).toEqual([]);
    expect(second.settled.map((s) => [s.settlement_date, s.time_zone, s.window_start, s.window_end])).toEqual(
      [['2026-04-01', 'Europe/London', '2026-03-31T16:00:00.000Z', '2026-04-01T23:00:00.000Z']],
    );
    expect(second.settled[0]).toMatchObject({ force_post_amount: 70 });
    expect(await postedBalance(program, 'card_settlement', 'HKD')).toBe(0);
    await expectLedgerSound();
  });
});

describe('concurrency', () => {
  it('runs of the same day at once make one settlement and one transfer', async () => {
    const program = await createTestProgram(api, { currencies: ['HKD'] });
    const { card } = await walletWithCard(10_000, 'HKD', program.headers);
    await forcePost(card, 300, SHOP, 'HKD', program.headers);
    const date = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Hong_Kong' }).format(api.clock.now());
    api.clock.advance(86_400_000);
    const input = { programId: program.program.id, currency: 'HKD', date };
    const runs = await Promise.all([1, 2, 3].map(() => runSettlement(api.issuing, input)));
    expect(new Set(runs.map((run) => run.id)).size).toBe(1);
    expect(runs[0]).toMatchObject({ force_post_amount: 300, net_amount: 300 });
    expect(
      await count('SELECT count(*)::bigint AS n FROM settlements WHERE program_id = $1', [
        program.program.id,
      ]),
    ).toBe(1);
    expect(
      await count(
        `SELECT count(*)::bigint AS n FROM ledger_transfers WHERE code = 'settlement' AND reference = $1`,
        [runs[0]?.id ?? ''],
      ),
    ).toBe(1);
    await expectLedgerSound();
  });
});

describe('a move across the date line', () => {
  it('gives a day that ends before the last settled one a window of a millisecond, and goes on', async () => {
    const program = await createTestProgram(api, { currencies: ['HKD'], time_zone: 'Pacific/Pago_Pago' });
    const { card } = await walletWithCard(100_000, 'HKD', program.headers);
    // Created at 2026-04-02T23:00Z: noon on 2 April in Pago Pago (UTC-11).
    api.clock.set('2026-04-03T11:00:00.000Z');
    const first = await settleDue(api.issuing, { programId: program.program.id });
    expect(first.settled.map((s) => [s.settlement_date, s.window_start, s.window_end])).toEqual([
      ['2026-04-02', '2026-04-02T11:00:00.000Z', '2026-04-03T11:00:00.000Z'],
    ]);
    const patched = await call(
      'PATCH',
      `/v1/programs/${program.program.id}`,
      { time_zone: 'Pacific/Kiritimati' },
      api.operatorHeaders,
    );
    expect(patched.statusCode, patched.body).toBe(200);
    // 02:00 on 4 April in Kiritimati (UTC+14): 3 April there ended at 10:00Z, before 2 April did in Pago Pago.
    api.clock.set('2026-04-03T12:00:00.000Z');
    await forcePost(card, 44, SHOP, 'HKD', program.headers);
    const second = await settleDue(api.issuing, { programId: program.program.id });
    expect(second.failed).toEqual([]);
    expect(second.settled.map((s) => [s.settlement_date, s.window_start, s.window_end])).toEqual([
      ['2026-04-03', '2026-04-03T11:00:00.000Z', '2026-04-03T11:00:00.001Z'],
    ]);
    api.clock.set('2026-04-04T10:00:00.000Z');
    const third = await settleDue(api.issuing, { programId: program.program.id });
    expect(
      third.settled.map((s) => [s.settlement_date, s.window_start, s.window_end, s.force_post_amount]),
    ).toEqual([['2026-04-04', '2026-04-03T11:00:00.001Z', '2026-04-04T10:00:00.000Z', 44]]);
    expect(await postedBalance(program, 'card_settlement', 'HKD')).toBe(0);
  });
});
