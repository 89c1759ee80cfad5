import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import { loadTestSanctionsList } from '../../../../test/support/sanctions.js';
import { createApiKey } from '../../../issuing/api-keys.js';
import { createProgram } from '../../../issuing/programs.js';
import { verifyLedger } from '../../../ledger/verify.js';

let api: TestApi;
beforeAll(async () => {
  api = await openTestApi();
  // Live programmes load only screened cardholders' wallets.
  await loadTestSanctionsList(api);
});
afterAll(async () => api.close());

describe('programme funding', () => {
  it('lets wallets be loaded only with money the programme deposited', async () => {
    const by = { actor: { type: 'system' as const, id: 'test' } };
    const { program, secret } = await api.db.transaction(async (tx) => {
      const created = await createProgram(
        tx,
        api.issuing,
        { name: 'Unfunded', bin: '400000', currencies: ['HKD'], region: 'hk', mode: 'live' },
        by,
      );
      const key = await createApiKey(tx, api.issuing, { programId: created.id, scopes: ['*'] }, by);
      return { program: created, secret: key.secret };
    });
    const headers = { authorization: `Bearer ${secret}` };
    const call = async (method: 'GET' | 'POST', url: string, who: object, payload?: object) => {
      const response = await api.app.inject({
        method,
        url,
        headers: { ...who },
        ...(payload ? { payload } : {}),
      });
      return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
    };
    const holder = await call('POST', '/v1/cardholders', headers, { name: 'Lee Ka Yan' });
    const wallet = await call('POST', '/v1/accounts', headers, {
      cardholder_id: holder.body.id,
      currency: 'HKD',
    });
    const load = (amount: number) =>
      call('POST', `/v1/accounts/${String(wallet.body.id)}/loads`, headers, { amount, currency: 'HKD' });

    const unfunded = await load(100);
    expect(unfunded.status).toBe(400);
    expect(unfunded.body).toMatchObject({ error: { code: 'program_funds_insufficient', param: 'amount' } });

    const byProgramme = await call('POST', `/v1/programs/${program.id}/fundings`, headers, {
      amount: 10_000,
      currency: 'HKD',
    });
    expect(byProgramme.status).toBe(403);
    const funded = await call('POST', `/v1/programs/${program.id}/fundings`, api.operatorHeaders, {
      amount: 10_000,
      currency: 'HKD',
      reference: 'wire 2026-03-01',
    });
    expect(funded.status).toBe(201);
    expect(funded.body).toMatchObject({ object: 'program_funding', amount: 10_000, currency: 'HKD' });
    expect((await load(6_000)).status).toBe(201);
    expect((await load(5_000)).body).toMatchObject({ error: { code: 'program_funds_insufficient' } });
    const balances = await call('GET', `/v1/programs/${program.id}/balances`, headers);
    expect(balances.body).toEqual({
      object: 'list',
      data: [{ object: 'program_balance', currency: 'HKD', available: 4_000 }],
    });
    const wrongCurrency = await call('POST', `/v1/programs/${program.id}/fundings`, api.operatorHeaders, {
      amount: 1,
      currency: 'USD',
    });
    expect(wrongCurrency.body).toMatchObject({ error: { code: 'currency_unsupported', param: 'currency' } });
    expect((await verifyLedger(api.db)).ok).toBe(true);
  });
});
