import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../../../test/support/programs.js';
import { programAccountId } from '../../../issuing/programs.js';
import { getAccount, submitTransfers, verifyLedger } from '../../../ledger/index.js';

let api: TestApi;
let alpha: TestProgram;
let beta: TestProgram;
let alphaHolder: string;
let betaHolder: string;
let keyCounter = 0;

type Headers = Readonly<Record<string, string>>;

interface Account {
  id: string;
  cardholder_id: string;
  currency: string;
  status: string;
  balance: { available: number; pending: number; posted: number };
}

function send(method: 'GET' | 'POST' | 'PATCH', url: string, headers: Headers, body?: unknown) {
  return api.app.inject({
    method,
    url,
    headers: { ...headers },
    ...(body === undefined ? {} : { payload: body as object }),
  });
}

const withKey = (headers: Headers, key?: string): Headers =>
  key === undefined ? headers : { ...headers, 'idempotency-key': key };

function nextKey(): string {
  keyCounter += 1;
  return `acct-key-${keyCounter}`;
}

async function count(table: string, where = 'TRUE', params: string[] = []): Promise<number> {
  const { rows } = await api.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`,
    params,
  );
  return rows[0]?.n ?? 0;
}

async function newCardholder(program: TestProgram, name = 'Account Holder'): Promise<string> {
  const response = await send('POST', '/v1/cardholders', program.headers, { name });
  expect(response.statusCode).toBe(201);
  return response.json<{ id: string }>().id;
}

async function openAccount(cardholderId: string, currency = 'HKD', program = alpha): Promise<Account> {
  const response = await send('POST', '/v1/accounts', program.headers, {
    cardholder_id: cardholderId,
    currency,
  });
  expect(response.statusCode).toBe(201);
  return response.json<Account>();
}

function move(
  kind: 'loads' | 'unloads',
  accountId: string,
  body: unknown,
  headers: Headers = alpha.headers,
  key?: string,
) {
  return send('POST', `/v1/accounts/${accountId}/${kind}`, withKey(headers, key), body);
}

async function balanceOf(accountId: string): Promise<Account['balance']> {
  const response = await send('GET', `/v1/accounts/${accountId}`, alpha.headers);
  expect(response.statusCode).toBe(200);
  return response.json<Account>().balance;
}

beforeAll(async () => {
  api = await openTestApi();
  alpha = await createTestProgram(api, { currencies: ['HKD', 'USD'] });
  beta = await createTestProgram(api, { currencies: ['HKD'] });
  alphaHolder = await newCardholder(alpha);
  betaHolder = await newCardholder(beta);
});
afterAll(async () => api.close());
afterEach(async () => {
  const report = await verifyLedger(api.db);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
});

describe('POST /v1/accounts', () => {
  it('opens a wallet backed by a ledger account of kind wallet that may not go below zero', async () => {
    const response = await send('POST', '/v1/accounts', withKey(alpha.headers, nextKey()), {
      cardholder_id: alphaHolder,
      currency: 'HKD',
      metadata: { purpose: 'main' },
    });
    expect(response.statusCode).toBe(201);
    const account = response.json<Account & Record<string, unknown>>();
    expect(account).toMatchObject({
      object: 'account',
      program_id: alpha.program.id,
      cardholder_id: alphaHolder,
      currency: 'HKD',
      status: 'active',
      balance: { available: 0, pending: 0, posted: 0 },
      metadata: { purpose: 'main' },
    });
    expect(account.id).toMatch(/^acct_/);
    const ledgerAccount = await getAccount(api.db, account.id);
    expect(ledgerAccount).toMatchObject({
      programId: alpha.program.id,
      currency: 'HKD',
      kind: 'wallet',
      ownerId: alphaHolder,
      flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false },
    });
    expect(
      await count('events', `type = 'account.created' AND data->'object'->>'id' = $1`, [account.id]),
    ).toBe(1);
    expect(await count('audit_log', `action = 'account.created' AND target_id = $1`, [account.id])).toBe(1);
  });

  it('refuses a second wallet in the same currency with account_exists', async () => {
    const before = await count('wallets');
    const response = await send('POST', '/v1/accounts', alpha.headers, {
      cardholder_id: alphaHolder,
      currency: 'HKD',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'account_exists', param: 'currency' } });
    expect(await count('wallets')).toBe(before);
    // Another of the programme's currencies is fine.
    expect((await openAccount(alphaHolder, 'USD')).currency).toBe('USD');
  });

  it('opens one wallet of two concurrent requests for the same cardholder and currency', async () => {
    const holder = await newCardholder(alpha, 'Racer');
    const answers = await Promise.all(
      [1, 2, 3].map(() =>
        send('POST', '/v1/accounts', alpha.headers, { cardholder_id: holder, currency: 'HKD' }),
      ),
    );
    expect(answers.map((a) => a.statusCode).sort()).toEqual([201, 400, 400]);
    expect(await count('wallets', 'cardholder_id = $1', [holder])).toBe(1);
    expect(await count('ledger_accounts', 'owner_id = $1', [holder])).toBe(1);
  });

  const refused: [
    label: string,
    body: () => Record<string, unknown>,
    status: number,
    code: string,
    param: string,
  ][] = [
    [
      'a currency the programme does not have',
      () => ({ cardholder_id: alphaHolder, currency: 'EUR' }),
      400,
      'currency_unsupported',
      'currency',
    ],
    [
      'a currency that is not a code',
      () => ({ cardholder_id: alphaHolder, currency: 'hkd' }),
      400,
      'parameter_invalid',
      'currency',
    ],
    [
      'another programme’s cardholder',
      () => ({ cardholder_id: betaHolder, currency: 'HKD' }),
      404,
      'resource_missing',
      'cardholder_id',
    ],
    [
      'a cardholder that does not exist',
      () => ({ cardholder_id: 'chd_01jzzzzzzzzzzzzzzzzzzzzzzz', currency: 'HKD' }),
      404,
      'resource_missing',
      'cardholder_id',
    ],
    [
      'something that is not a cardholder id',
      () => ({ cardholder_id: 'bob', currency: 'HKD' }),
      400,
      'parameter_invalid',
      'cardholder_id',
    ],
    [
      'an unknown field',
      () => ({ cardholder_id: alphaHolder, currency: 'HKD', balance: 100 }),
      400,
      'parameter_unknown',
      'balance',
    ],
    ['a missing currency', () => ({ cardholder_id: alphaHolder }), 400, 'parameter_missing', 'currency'],
  ];
  it.each(refused)('refuses %s and opens nothing', async (_label, body, status, code, param) => {
    const wallets = await count('wallets');
    const accounts = await count('ledger_accounts');
    const response = await send('POST', '/v1/accounts', alpha.headers, body());
    expect(response.statusCode).toBe(status);
    expect(response.json()).toMatchObject({ error: { code, param } });
    expect(await count('wallets')).toBe(wallets);
    expect(await count('ledger_accounts')).toBe(accounts);
  });

  it('refuses a wallet for an inactive cardholder', async () => {
    const holder = await newCardholder(alpha, 'Dormant');
    await send('PATCH', `/v1/cardholders/${holder}`, alpha.headers, { status: 'inactive' });
    const response = await send('POST', '/v1/accounts', alpha.headers, {
      cardholder_id: holder,
      currency: 'HKD',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'cardholder_inactive', param: 'cardholder_id' } });
  });

  it('is for programme keys: the operator reads but does not open', async () => {
    const response = await send('POST', '/v1/accounts', api.operatorHeaders, {
      cardholder_id: alphaHolder,
      currency: 'HKD',
    });
    expect(response.statusCode).toBe(403);
  });

  it('replays the first answer for the same Idempotency-Key and body', async () => {
    const holder = await newCardholder(alpha, 'Replayer');
    const key = nextKey();
    const body = { cardholder_id: holder, currency: 'HKD' };
    const first = await send('POST', '/v1/accounts', withKey(alpha.headers, key), body);
    const again = await send('POST', '/v1/accounts', withKey(alpha.headers, key), body);
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    expect(await count('wallets', 'cardholder_id = $1', [holder])).toBe(1);
    const other = await send('POST', '/v1/accounts', withKey(alpha.headers, key), {
      ...body,
      currency: 'USD',
    });
    expect(other.statusCode).toBe(409);
  });
});

describe('loads and unloads', () => {
  let account: Account;

  beforeAll(async () => {
    account = await openAccount(await newCardholder(alpha, 'Loader'));
  });

  it('loads from the programme’s funding account as one posted transfer, with its event and audit entry', async () => {
    const funding = programAccountId(alpha.program.id, 'funding', 'HKD');
    const fundingBefore = await getAccount(api.db, funding);
    const response = await move('loads', account.id, {
      amount: 1000_00,
      currency: 'HKD',
      description: 'Top-up',
      metadata: { channel: 'fps' },
    });
    expect(response.statusCode).toBe(201);
    const load = response.json<{ id: string }>();
    expect(load).toMatchObject({
      object: 'load',
      program_id: alpha.program.id,
      account_id: account.id,
      cardholder_id: account.cardholder_id,
      amount: 1000_00,
      currency: 'HKD',
      description: 'Top-up',
      metadata: { channel: 'fps' },
    });
    expect(load.id).toMatch(/^load_/);
    expect(await balanceOf(account.id)).toEqual({ available: 1000_00, pending: 0, posted: 1000_00 });

    const transfer = await api.db.query(
      'SELECT kind, debit_account_id, credit_account_id, amount, code FROM ledger_transfers WHERE id = $1',
      [load.id],
    );
    expect(transfer.rows).toEqual([
      {
        kind: 'posted',
        debit_account_id: funding,
        credit_account_id: account.id,
        amount: 1000_00,
        code: 'load',
      },
    ]);
    const fundingAfter = await getAccount(api.db, funding);
    expect((fundingAfter?.debitsPosted ?? 0) - (fundingBefore?.debitsPosted ?? 0)).toBe(1000_00);
    const event = await api.db.query<{ data: { object: unknown } }>(
      `SELECT data FROM events WHERE type = 'account.loaded' AND data->'object'->>'id' = $1`,
      [load.id],
    );
    expect(event.rows[0]?.data.object).toEqual(load);
    expect(await count('audit_log', `action = 'account.loaded' AND target_id = $1`, [load.id])).toBe(1);
  });

  it('unloads back to the funding account', async () => {
    const response = await move('unloads', account.id, { amount: 300_00, currency: 'HKD' });
    expect(response.statusCode).toBe(201);
    const unload = response.json<{ id: string }>();
    expect(unload).toMatchObject({ object: 'unload', amount: 300_00, description: null });
    expect(unload.id).toMatch(/^unld_/);
    expect(await balanceOf(account.id)).toEqual({ available: 700_00, pending: 0, posted: 700_00 });
    expect(
      await count('events', `type = 'account.unloaded' AND data->'object'->>'id' = $1`, [unload.id]),
    ).toBe(1);
  });

  it('refuses an unload beyond the available balance with insufficient_funds, changing nothing', async () => {
    const movements = await count('wallet_movements');
    const transfers = await count('ledger_transfers');
    const events = await count('events');
    const response = await move('unloads', account.id, { amount: 700_01, currency: 'HKD' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      error: { type: 'invalid_request_error', code: 'insufficient_funds', param: 'amount' },
    });
    expect(await balanceOf(account.id)).toEqual({ available: 700_00, pending: 0, posted: 700_00 });
    expect(await count('wallet_movements')).toBe(movements);
    expect(await count('ledger_transfers')).toBe(transfers);
    expect(await count('events')).toBe(events);
  });

  it('shows holds as pending and takes them out of what is available', async () => {
    const settlement = programAccountId(alpha.program.id, 'card_settlement', 'HKD');
    await api.db.transaction((tx) =>
      submitTransfers(tx, api.clock, [
        {
          id: 'test_hold_1',
          kind: 'pending',
          debitAccountId: account.id,
          creditAccountId: settlement,
          amount: 200_00,
          currency: 'HKD',
          timeoutSeconds: 3600,
        },
      ]),
    );
    expect(await balanceOf(account.id)).toEqual({ available: 500_00, pending: 200_00, posted: 700_00 });
    // The hold counts against an unload: 500.01 is more than is available though less than is posted.
    const response = await move('unloads', account.id, { amount: 500_01, currency: 'HKD' });
    expect(response.json()).toMatchObject({ error: { code: 'insufficient_funds' } });
    await api.db.transaction((tx) =>
      submitTransfers(tx, api.clock, [
        { id: 'test_hold_1_void', kind: 'void_pending', pendingId: 'test_hold_1' },
      ]),
    );
    expect(await balanceOf(account.id)).toEqual({ available: 700_00, pending: 0, posted: 700_00 });
  });

  const refused: [label: string, body: Record<string, unknown>, code: string, param: string][] = [
    ['an amount that is not an integer', { amount: 10.5, currency: 'HKD' }, 'parameter_invalid', 'amount'],
    ['an amount sent as a string', { amount: '100', currency: 'HKD' }, 'parameter_invalid', 'amount'],
    ['a zero amount', { amount: 0, currency: 'HKD' }, 'parameter_invalid', 'amount'],
    ['a negative amount', { amount: -5, currency: 'HKD' }, 'parameter_invalid', 'amount'],
    ['an amount beyond a safe integer', { amount: 2 ** 53, currency: 'HKD' }, 'parameter_invalid', 'amount'],
    ['a currency other than the wallet’s', { amount: 100, currency: 'USD' }, 'currency_mismatch', 'currency'],
    ['a missing currency', { amount: 100 }, 'parameter_missing', 'currency'],
    ['an unknown field', { amount: 100, currency: 'HKD', fee: 1 }, 'parameter_unknown', 'fee'],
    [
      'a description too long',
      { amount: 100, currency: 'HKD', description: 'x'.repeat(501) },
      'parameter_invalid',
      'description',
    ],
  ];
  it.each(refused)('refuses %s and moves nothing', async (_label, body, code, param) => {
    const balance = await balanceOf(account.id);
    const transfers = await count('ledger_transfers');
    for (const kind of ['loads', 'unloads'] as const) {
      const response = await move(kind, account.id, body);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: { code, param } });
    }
    expect(await balanceOf(account.id)).toEqual(balance);
    expect(await count('ledger_transfers')).toBe(transfers);
  });

  it('replays a load for the same Idempotency-Key and body: one ledger transfer; another body is a 409', async () => {
    const key = nextKey();
    const body = { amount: 50_00, currency: 'HKD' };
    const transfers = await count('ledger_transfers', 'credit_account_id = $1', [account.id]);
    const first = await move('loads', account.id, body, alpha.headers, key);
    const again = await move('loads', account.id, body, alpha.headers, key);
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(await count('ledger_transfers', 'credit_account_id = $1', [account.id])).toBe(transfers + 1);
    expect(await balanceOf(account.id)).toMatchObject({ posted: 750_00 });

    const other = await move('loads', account.id, { ...body, amount: 51_00 }, alpha.headers, key);
    expect(other.statusCode).toBe(409);
    expect(await balanceOf(account.id)).toMatchObject({ posted: 750_00 });
  });

  it('replays a refused unload as the same refusal', async () => {
    const key = nextKey();
    const first = await move(
      'unloads',
      account.id,
      { amount: 10_000_00, currency: 'HKD' },
      alpha.headers,
      key,
    );
    const again = await move(
      'unloads',
      account.id,
      { amount: 10_000_00, currency: 'HKD' },
      alpha.headers,
      key,
    );
    expect(first.statusCode).toBe(400);
    expect(again.statusCode).toBe(400);
    expect(again.json<{ error: { code: string } }>().error.code).toBe('insufficient_funds');
  });

  it('never overdraws under concurrent unloads: 20 unloads of 100 against 1,000 leave 10 paid', async () => {
    const wallet = await openAccount(await newCardholder(alpha, 'Concurrent'));
    expect((await move('loads', wallet.id, { amount: 1000, currency: 'HKD' })).statusCode).toBe(201);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        move('unloads', wallet.id, { amount: 100, currency: 'HKD' }, alpha.headers, nextKey()),
      ),
    );
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 201)).toHaveLength(10);
    expect(statuses.filter((s) => s === 400)).toHaveLength(10);
    for (const answer of answers.filter((a) => a.statusCode === 400)) {
      expect(answer.json()).toMatchObject({ error: { code: 'insufficient_funds' } });
    }
    expect(await balanceOf(wallet.id)).toEqual({ available: 0, pending: 0, posted: 0 });
    expect(await count('wallet_movements', `wallet_id = $1 AND kind = 'unload'`, [wallet.id])).toBe(10);
  });

  it('lists loads and unloads, newest first', async () => {
    const loads = await send('GET', `/v1/accounts/${account.id}/loads`, alpha.headers);
    expect(loads.statusCode).toBe(200);
    const page = loads.json<{ data: { object: string; amount: number }[] }>();
    expect(page.data.map((m) => [m.object, m.amount])).toEqual([
      ['load', 50_00],
      ['load', 1000_00],
    ]);
    const unloads = await send('GET', `/v1/accounts/${account.id}/unloads?limit=5`, alpha.headers);
    expect(unloads.json<{ data: { amount: number }[] }>().data.map((m) => m.amount)).toEqual([300_00]);
  });
});

describe('GET, PATCH and isolation of /v1/accounts', () => {
  let account: Account;
  let holder: string;

  beforeAll(async () => {
    holder = await newCardholder(alpha, 'Patched');
    account = await openAccount(holder);
    await move('loads', account.id, { amount: 500, currency: 'HKD' });
  });

  it('answers another programme 404 and empty lists', async () => {
    expect((await send('GET', `/v1/accounts/${account.id}`, beta.headers)).statusCode).toBe(404);
    expect((await send('GET', `/v1/accounts/${account.id}/loads`, beta.headers)).statusCode).toBe(404);
    expect(
      (await send('PATCH', `/v1/accounts/${account.id}`, beta.headers, { status: 'inactive' })).statusCode,
    ).toBe(404);
    const load = await move('loads', account.id, { amount: 100, currency: 'HKD' }, beta.headers);
    expect(load.statusCode).toBe(404);
    expect(load.json()).toMatchObject({ error: { code: 'resource_missing', param: 'id' } });
    const list = await send('GET', `/v1/accounts?cardholder_id=${holder}`, beta.headers);
    expect(list.json<{ data: unknown[] }>().data).toEqual([]);
    const all = await send('GET', '/v1/accounts?limit=100', beta.headers);
    expect(
      all.json<{ data: { program_id: string }[] }>().data.every((a) => a.program_id === beta.program.id),
    ).toBe(true);
    expect(await balanceOf(account.id)).toMatchObject({ posted: 500 });
  });

  it('lists by cardholder and currency, with balances; the operator sees them too', async () => {
    await openAccount(holder, 'USD');
    const byHolder = await send('GET', `/v1/accounts?cardholder_id=${holder}`, alpha.headers);
    const list = byHolder.json<{ data: Account[] }>().data;
    expect(list.map((a) => a.currency)).toEqual(['USD', 'HKD']);
    expect(list[1]?.balance).toEqual({ available: 500, pending: 0, posted: 500 });
    const hkd = await send('GET', `/v1/accounts?cardholder_id=${holder}&currency=HKD`, alpha.headers);
    expect(hkd.json<{ data: Account[] }>().data.map((a) => a.id)).toEqual([account.id]);
    const operator = await send('GET', `/v1/accounts?cardholder_id=${holder}`, api.operatorHeaders);
    expect(operator.json<{ data: Account[] }>().data).toEqual(list);
    expect((await send('GET', `/v1/accounts/${account.id}`, api.operatorHeaders)).statusCode).toBe(200);
    expect(
      (await move('loads', account.id, { amount: 1, currency: 'HKD' }, api.operatorHeaders)).statusCode,
    ).toBe(403);
  });

  it('updates metadata and status; an inactive wallet refuses loads but pays out', async () => {
    const response = await send('PATCH', `/v1/accounts/${account.id}`, alpha.headers, {
      status: 'inactive',
      metadata: { closing: 'yes' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      status: 'inactive',
      metadata: { closing: 'yes' },
      balance: { posted: 500 },
    });
    expect(
      await count('events', `type = 'account.updated' AND data->'object'->>'id' = $1`, [account.id]),
    ).toBe(1);
    const load = await move('loads', account.id, { amount: 100, currency: 'HKD' });
    expect(load.statusCode).toBe(400);
    expect(load.json()).toMatchObject({ error: { code: 'account_inactive' } });
    const unload = await move('unloads', account.id, { amount: 500, currency: 'HKD' });
    expect(unload.statusCode).toBe(201);
    expect(await balanceOf(account.id)).toEqual({ available: 0, pending: 0, posted: 0 });
  });

  it('refuses a bad update and changes nothing', async () => {
    for (const body of [{}, { status: 'closed' }, { currency: 'USD' }]) {
      const response = await send('PATCH', `/v1/accounts/${account.id}`, alpha.headers, body);
      expect(response.statusCode).toBe(400);
    }
    expect((await send('GET', `/v1/accounts/${account.id}`, alpha.headers)).json()).toMatchObject({
      status: 'inactive',
    });
  });
});

describe('the OpenAPI document', () => {
  it('describes cardholders and accounts from the schemas that validate them', async () => {
    const response = await send('GET', '/v1/openapi.json', {});
    expect(response.statusCode).toBe(200);
    const document = response.json<{ paths: Record<string, Record<string, unknown>> }>();
    for (const path of [
      '/v1/cardholders',
      '/v1/cardholders/{id}',
      '/v1/accounts',
      '/v1/accounts/{id}',
      '/v1/accounts/{id}/loads',
      '/v1/accounts/{id}/unloads',
    ]) {
      expect(Object.keys(document.paths)).toContain(path);
    }
    expect(Object.keys(document.paths['/v1/accounts/{id}/loads'] ?? {}).sort()).toEqual(['get', 'post']);
  });
});
