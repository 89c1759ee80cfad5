import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../../../test/support/programs.js';
import { luhnValid } from '../../../platform/redact.js';
import { loadCvkPair } from '../../../vault/cvk-pairs.js';
import { computeCvv } from '../../../vault/cvv.js';

let api: TestApi;
let main: TestProgram;
let other: TestProgram;

interface Json {
  [key: string]: unknown;
}

async function post(headers: object, url: string, payload?: unknown, extra: Record<string, string> = {}) {
  const response = await api.app.inject({
    method: 'POST',
    url,
    headers: { ...headers, ...extra },
    ...(payload === undefined ? {} : { payload: payload as Json }),
  });
  return { status: response.statusCode, body: response.json<Json>(), headers: response.headers };
}

async function get(headers: object, url: string) {
  const response = await api.app.inject({ method: 'GET', url, headers: { ...headers } });
  return { status: response.statusCode, body: response.json<Json>() };
}

async function patch(headers: object, url: string, payload: unknown) {
  const response = await api.app.inject({
    method: 'PATCH',
    url,
    headers: { ...headers },
    payload: payload as Json,
  });
  return { status: response.statusCode, body: response.json<Json>() };
}

let people = 0;
/** A cardholder with an HKD wallet, through the API as a programme would make them. */
async function holderWithWallet(
  program: TestProgram,
  currency = 'HKD',
): Promise<{ cardholder: string; account: string }> {
  people += 1;
  const holder = await post(program.headers, '/v1/cardholders', {
    name: `Chan Tai Man ${people}`,
    email: `person${people}@example.com`,
    phone_number: '+85291234567',
    date_of_birth: '1990-01-31',
    nationality: 'HK',
    address: { line1: '1 Queen’s Road Central', city: 'Hong Kong', country: 'HK' },
  });
  expect(holder.status, JSON.stringify(holder.body)).toBe(201);
  const account = await post(program.headers, '/v1/accounts', { cardholder_id: holder.body.id, currency });
  expect(account.status, JSON.stringify(account.body)).toBe(201);
  return { cardholder: String(holder.body.id), account: String(account.body.id) };
}

async function countCards(): Promise<number> {
  const { rows } = await api.db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM cards');
  return rows[0]?.n ?? 0;
}

beforeAll(async () => {
  api = await openTestApi();
  main = await createTestProgram(api, { card_validity_months: 36 });
  other = await createTestProgram(api);
});
afterAll(async () => api.close());

describe('cards', () => {
  it('issues a card that shows its last four digits and expiry, never its number', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const created = await post(main.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
      memo: 'travel',
      spending_controls: {
        spending_limits: [{ amount: 50_000, interval: 'daily' }],
        blocked_categories: ['7995'],
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      object: 'card',
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
      status: 'active',
      currency: 'HKD',
      exp_month: 3,
      exp_year: 2029,
      memo: 'travel',
      spending_controls: {
        spending_limits: [{ amount: 50_000, interval: 'daily' }],
        blocked_categories: ['7995'],
        allowed_categories: [],
      },
    });
    expect(created.body.last4).toMatch(/^\d{4}$/);
    expect(JSON.stringify(created.body)).not.toMatch(/\d{13,19}/);
    const events = await api.db.query<{ type: string }>(
      `SELECT type FROM events WHERE data->'object'->>'id' = $1`,
      [created.body.id as string],
    );
    expect(events.rows.map((row) => row.type)).toEqual(['card.created']);
  });

  it('reveals a Luhn-valid PAN on the BIN whose CVV2 follows the Visa method under the programme’s CVK', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const card = await post(main.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    const revealed = await post(main.headers, `/v1/cards/${String(card.body.id)}/reveal`);
    expect(revealed.status).toBe(200);
    expect(revealed.headers['cache-control']).toBe('no-store');
    const pan = String(revealed.body.pan);
    expect(pan).toMatch(/^424242\d{10}$/);
    expect(luhnValid(pan)).toBe(true);
    expect(pan.slice(-4)).toBe(card.body.last4);
    const cvk = await loadCvkPair(api.db, api.vault, main.program.id);
    if (cvk === undefined) throw new Error('no CVK');
    const yymm = `${String(Number(card.body.exp_year) % 100).padStart(2, '0')}${String(card.body.exp_month).padStart(2, '0')}`;
    expect(revealed.body.cvv2).toBe(computeCvv({ pan, expiryYYMM: yymm, serviceCode: '000', ...cvk }));
    const audit = await api.db.query<{ action: string; actor_id: string }>(
      `SELECT action, actor_id FROM audit_log WHERE target_id = $1 ORDER BY seq`,
      [card.body.id as string],
    );
    expect(audit.rows.map((row) => row.action)).toEqual(['card.created', 'card.revealed']);
    // The idempotency store never holds a revealed number, even when the caller sends a key.
    await post(main.headers, `/v1/cards/${String(card.body.id)}/reveal`, undefined, {
      'idempotency-key': 'reveal-1',
    });
    const stored = await api.db.query('SELECT 1 FROM idempotency_keys WHERE key = $1', ['reveal-1']);
    expect(stored.rows).toHaveLength(0);
  });

  it('reveals only with the cards:reveal permission', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const card = await post(main.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    const key = await post(main.headers, `/v1/programs/${main.program.id}/api_keys`, {
      scopes: ['cards:write'],
    });
    const headers = { authorization: `Bearer ${String(key.body.secret)}` };
    const refused = await post(headers, `/v1/cards/${String(card.body.id)}/reveal`);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'scope_missing' } });
    expect((await get(headers, `/v1/cards/${String(card.body.id)}`)).status).toBe(200);
  });

  it('opens a reveal link once, within 60 seconds', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const card = await post(main.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    const session = await post(main.headers, `/v1/cards/${String(card.body.id)}/reveal_sessions`, {
      allowed_origin: 'https://app.example.com',
    });
    expect(session.status).toBe(201);
    const path = new URL(String(session.body.url)).pathname;
    const first = await api.app.inject({ method: 'GET', url: path });
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-security-policy']).toContain('frame-ancestors https://app.example.com');
    expect(first.headers['cache-control']).toBe('no-store');
    const revealed = await post(main.headers, `/v1/cards/${String(card.body.id)}/reveal`);
    expect(first.body.replace(/\s/g, '')).toContain(String(revealed.body.pan));
    expect(first.body).toContain(String(revealed.body.cvv2));
    const again = await api.app.inject({ method: 'GET', url: path });
    expect(again.statusCode).toBe(410);
    expect(again.body).not.toContain(String(card.body.last4));

    const late = await post(main.headers, `/v1/cards/${String(card.body.id)}/reveal_sessions`);
    api.clock.advance(60_000);
    const expired = await api.app.inject({ method: 'GET', url: new URL(String(late.body.url)).pathname });
    expect(expired.statusCode).toBe(410);
    expect(expired.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('does not spend a reveal link on HEAD, and closes every link when the programme is suspended', async () => {
    const program = await createTestProgram(api);
    const { cardholder, account } = await holderWithWallet(program);
    const card = await post(program.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    const session = await post(program.headers, `/v1/cards/${String(card.body.id)}/reveal_sessions`);
    const path = new URL(String(session.body.url)).pathname;
    const head = await api.app.inject({ method: 'HEAD', url: path });
    expect(head.statusCode).not.toBe(200);
    const suspended = await patch(api.operatorHeaders, `/v1/programs/${program.program.id}`, {
      status: 'suspended',
    });
    expect(suspended.status).toBe(200);
    const page = await api.app.inject({ method: 'GET', url: path });
    expect(page.statusCode).toBe(410);
  });

  it('renews a paused card as paused, and refuses to renew for an inactive cardholder', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const card = await post(main.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    await patch(main.headers, `/v1/cards/${String(card.body.id)}`, {
      status: 'paused',
      status_reason: 'fraud',
    });
    const renewed = await post(main.headers, `/v1/cards/${String(card.body.id)}/renew`, {
      reason: 'expiring',
    });
    expect(renewed.body).toMatchObject({ status: 'paused', status_reason: 'fraud' });
    const other = await post(main.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    await patch(main.headers, `/v1/cardholders/${cardholder}`, { status: 'inactive' });
    const refused = await post(main.headers, `/v1/cards/${String(other.body.id)}/renew`, { reason: 'lost' });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: 'cardholder_inactive' } });
    expect((await get(main.headers, `/v1/cards/${String(other.body.id)}`)).body).toMatchObject({
      status: 'active',
    });
  });

  it('pauses, resumes and closes a card; a closed card stays closed', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const card = await post(main.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'single_use',
    });
    const url = `/v1/cards/${String(card.body.id)}`;
    expect((await patch(main.headers, url, { status: 'paused' })).body).toMatchObject({
      status: 'paused',
      status_reason: 'requested',
    });
    expect((await patch(main.headers, url, { status: 'active' })).body).toMatchObject({
      status: 'active',
      status_reason: null,
    });
    expect((await patch(main.headers, url, { status: 'closed', status_reason: 'lost' })).body).toMatchObject({
      status: 'closed',
      status_reason: 'lost',
    });
    const reopen = await patch(main.headers, url, { status: 'active' });
    expect(reopen.status).toBe(400);
    expect(reopen.body).toMatchObject({ error: { code: 'card_closed', param: 'status' } });
    expect((await post(main.headers, `${url}/reveal`)).status).toBe(400);
    expect((await patch(main.headers, url, { metadata: { note: 'kept' } })).status).toBe(200);
    const audit = await api.db.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq`,
      [card.body.id as string],
    );
    expect(audit.rows.map((row) => row.action)).toEqual([
      'card.created',
      'card.status_changed',
      'card.status_changed',
      'card.status_changed',
      'card.updated',
    ]);
  });

  it('renews a card with a new number and expiry, linked both ways', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const card = await post(main.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    api.clock.advance(40 * 24 * 3600 * 1000);
    const renewed = await post(main.headers, `/v1/cards/${String(card.body.id)}/renew`, { reason: 'stolen' });
    expect(renewed.status, JSON.stringify(renewed.body)).toBe(201);
    expect(renewed.body).toMatchObject({ replaces: card.body.id, status: 'active', account_id: account });
    const old = await get(main.headers, `/v1/cards/${String(card.body.id)}`);
    expect(old.body).toMatchObject({
      replaced_by: renewed.body.id,
      status: 'closed',
      status_reason: 'stolen',
    });
    const newPan = (await post(main.headers, `/v1/cards/${String(renewed.body.id)}/reveal`)).body.pan;
    expect(newPan).not.toBe(undefined);
    expect(String(newPan).slice(-4)).toBe(renewed.body.last4);
    expect([renewed.body.exp_year, renewed.body.exp_month]).not.toEqual([
      card.body.exp_year,
      card.body.exp_month,
    ]);
    const twice = await post(main.headers, `/v1/cards/${String(card.body.id)}/renew`);
    expect(twice.status).toBe(400);
  });

  it('keeps programmes apart: another programme’s key gets 404 and empty lists', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const card = await post(main.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    const url = `/v1/cards/${String(card.body.id)}`;
    expect((await get(other.headers, url)).status).toBe(404);
    expect((await patch(other.headers, url, { status: 'paused' })).status).toBe(404);
    expect((await post(other.headers, `${url}/reveal`)).status).toBe(404);
    const listed = await get(other.headers, '/v1/cards');
    expect(listed.body).toMatchObject({ data: [], has_more: false });
    const refused = await post(other.headers, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { param: 'cardholder_id' } });
  });

  it('lists a programme’s cards with filters and cursor pagination', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      const card = await post(main.headers, '/v1/cards', {
        cardholder_id: cardholder,
        account_id: account,
        type: 'multi_use',
      });
      ids.push(String(card.body.id));
    }
    const page = await get(main.headers, `/v1/cards?cardholder_id=${cardholder}&limit=3`);
    expect((page.body.data as Json[]).map((card) => card.id)).toEqual(ids.slice(2).reverse());
    expect(page.body.has_more).toBe(true);
    const next = await get(
      main.headers,
      `/v1/cards?cardholder_id=${cardholder}&limit=3&starting_after=${ids[2] ?? ''}`,
    );
    expect((next.body.data as Json[]).map((card) => card.id)).toEqual(ids.slice(0, 2).reverse());
    expect(next.body.has_more).toBe(false);
  });

  it('replays the same Idempotency-Key and body, and refuses the key with another body', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const body = { cardholder_id: cardholder, account_id: account, type: 'multi_use' };
    const before = await countCards();
    const first = await post(main.headers, '/v1/cards', body, { 'idempotency-key': 'card-once' });
    const second = await post(main.headers, '/v1/cards', body, { 'idempotency-key': 'card-once' });
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(await countCards()).toBe(before + 1);
    const conflict = await post(
      main.headers,
      '/v1/cards',
      { ...body, type: 'single_use' },
      { 'idempotency-key': 'card-once' },
    );
    expect(conflict.status).toBe(409);
    expect(await countCards()).toBe(before + 1);
  });

  it('refuses bad input with a 400 naming the field, and creates nothing', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const usd = await post(main.headers, '/v1/accounts', { cardholder_id: cardholder, currency: 'USD' });
    const someoneElse = await holderWithWallet(main);
    const base = { cardholder_id: cardholder, account_id: account, type: 'multi_use' };
    const cases: [unknown, string][] = [
      [{ ...base, cardholder_id: 'ich_00000000000000000000000000' }, 'cardholder_id'],
      [{ ...base, account_id: someoneElse.account }, 'account_id'],
      [{ ...base, account_id: usd.body.id, currency: 'HKD' }, 'currency'],
      [{ ...base, type: 'reusable' }, 'type'],
      [
        { ...base, spending_controls: { allowed_categories: ['59x2'] } },
        'spending_controls[allowed_categories][0]',
      ],
      [
        { ...base, spending_controls: { spending_limits: [{ amount: 100, interval: 'hourly' }] } },
        'spending_controls[spending_limits][0][interval]',
      ],
      [
        { ...base, spending_controls: { spending_limits: [{ amount: 10.5, interval: 'daily' }] } },
        'spending_controls[spending_limits][0][amount]',
      ],
      [
        { ...base, spending_controls: { spending_limits: [{ amount: '100', interval: 'daily' }] } },
        'spending_controls[spending_limits][0][amount]',
      ],
      [
        { ...base, spending_controls: { blocked_merchant_countries: ['XX'] } },
        'spending_controls[blocked_merchant_countries][0]',
      ],
      [{ ...base, colour: 'gold' }, 'colour'],
      [{ ...base, metadata: { 'a\nb': { nested: true } } }, 'metadata[a\nb]'],
      [{ ...base, metadata: { ['k'.repeat(41)]: 'v' } }, 'metadata'],
      [{ ...base, memo: 'nul\u0000byte' }, 'memo'],
      [{ ...base, status_reason: 'renewed' }, 'status_reason'],
    ];
    const before = await countCards();
    for (const [payload, param] of cases) {
      const refused = await post(main.headers, '/v1/cards', payload);
      expect(refused.status, JSON.stringify(payload)).toBe(400);
      expect(refused.body, JSON.stringify(payload)).toMatchObject({ error: { param } });
    }
    expect(await countCards()).toBe(before);
  });

  it('leaves card management to the programme: the operator reads but does not issue', async () => {
    const { cardholder, account } = await holderWithWallet(main);
    const refused = await post(api.operatorHeaders, '/v1/cards', {
      cardholder_id: cardholder,
      account_id: account,
      type: 'multi_use',
    });
    expect(refused.status).toBe(403);
    const listed = await get(api.operatorHeaders, '/v1/cards?limit=1');
    expect(listed.status).toBe(200);
  });
});
