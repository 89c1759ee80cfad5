import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import {
  createTestProgram,
  withoutProtections,
  type TestProgram,
} from '../../../../test/support/programs.js';
import type { VerificationProvider, VerificationProviders } from '../../../compliance/kyc/providers.js';
import { BUILT_IN_PROVIDERS } from '../../../compliance/kyc/providers.js';
import { DEFAULT_KYC_TIERS } from '../../../compliance/kyc/tiers.js';
import { applyVerificationOutcome, prepareVerification, recordVerification } from '../../../issuing/kyc.js';
import { verifyLedger } from '../../../ledger/verify.js';
import { DECLINES } from '../../../processing/declines.js';

/**
 * KYC (issue 10) end to end over HTTP: verifications with the sandbox and manual providers moving a cardholder's
 * kyc_status through its machine, the tier limits on loads (balance, a rolling year's loads) and on authorizations
 * (the per-transaction maximum), and the programme's tier settings. Refusals change nothing.
 */

interface Json {
  [key: string]: unknown;
}

type Headers = Readonly<Record<string, string>>;

let api: TestApi;
/** A sandbox programme (HKD, USD) with the default tiers: HKD has limits, USD none until set. */
let sandbox: TestProgram;
let live: TestProgram;
let other: TestProgram;
let keys = 0;

beforeAll(async () => {
  api = await openTestApi();
  sandbox = await withoutProtections(api, await createTestProgram(api, {}, { kyc: 'defaults' }));
  live = await createTestProgram(api, { mode: 'live', currencies: ['HKD'] }, { kyc: 'defaults' });
  other = await createTestProgram(api, {}, { kyc: 'defaults' });
});
afterAll(async () => api.close());
afterEach(async () => {
  const report = await verifyLedger(api.db);
  expect(report.problems).toEqual([]);
});

async function send(method: 'GET' | 'POST', headers: Headers, url: string, payload?: unknown) {
  const response = await api.app.inject({
    method,
    url,
    headers: { ...headers },
    ...(payload === undefined ? {} : { payload: payload as Json }),
  });
  return { status: response.statusCode, body: response.json<Json>(), headers: response.headers };
}
const post = (headers: Headers, url: string, payload?: unknown) => send('POST', headers, url, payload);
const get = (headers: Headers, url: string) => send('GET', headers, url);
const withKey = (headers: Headers): Headers => ({ ...headers, 'idempotency-key': `kyc-${(keys += 1)}` });

async function count(table: string, where = 'TRUE', params: unknown[] = []): Promise<number> {
  const { rows } = await api.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`,
    params as string[],
  );
  return rows[0]?.n ?? 0;
}

let people = 0;
interface Holder {
  readonly cardholder: string;
  readonly account: string;
  readonly program: TestProgram;
}

async function holder(program: TestProgram = sandbox, currency = 'HKD'): Promise<Holder> {
  people += 1;
  const created = await post(program.headers, '/v1/cardholders', { name: `Wong Siu Ming ${people}` });
  expect(created.status).toBe(201);
  const account = await post(program.headers, '/v1/accounts', { cardholder_id: created.body.id, currency });
  expect(account.status, JSON.stringify(account.body)).toBe(201);
  return { cardholder: String(created.body.id), account: String(account.body.id), program };
}

function load(owner: Holder, amount: number, currency = 'HKD') {
  return post(owner.program.headers, `/v1/accounts/${owner.account}/loads`, { amount, currency });
}

async function loaded(owner: Holder, amount: number, currency = 'HKD'): Promise<void> {
  const answer = await load(owner, amount, currency);
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
}

async function posted(owner: Holder): Promise<number> {
  const found = await get(owner.program.headers, `/v1/accounts/${owner.account}`);
  return (found.body.balance as { posted: number }).posted;
}

async function kycStatus(owner: Holder): Promise<string> {
  const found = await get(owner.program.headers, `/v1/cardholders/${owner.cardholder}`);
  return String(found.body.kyc_status);
}

function verify(owner: Holder, body: Json = {}, headers: Headers = owner.program.headers) {
  return post(headers, `/v1/cardholders/${owner.cardholder}/verifications`, body);
}

function outcome(owner: Holder, verification: string, body: Json, headers: Headers = owner.program.headers) {
  return post(headers, `/v1/cardholders/${owner.cardholder}/verifications/${verification}/outcome`, body);
}

async function card(owner: Holder): Promise<string> {
  const created = await post(owner.program.headers, '/v1/cards', {
    cardholder_id: owner.cardholder,
    account_id: owner.account,
    type: 'multi_use',
  });
  expect(created.status).toBe(201);
  return String(created.body.id);
}

async function authorize(owner: Holder, cardId: string, amount: number) {
  const answer = await post(owner.program.headers, '/v1/simulate/authorizations', {
    card_id: cardId,
    amount,
    currency: 'HKD',
    merchant: { name: 'Fortress', mcc: '5732', country: 'HK' },
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body;
}

async function setTiers(program: TestProgram, body: Json): Promise<void> {
  const answer = await post(program.headers, `/v1/programs/${program.program.id}/kyc_tiers`, body);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
}

/** What a refused request must leave as it was: the wallet, its movements, the cardholder, events and audit. */
async function lastEvent(): Promise<{ type: string; object: unknown }> {
  const found = await api.db.query<{ type: string; object: unknown }>(
    `SELECT type, data->'object' AS object FROM events ORDER BY seq DESC LIMIT 1`,
  );
  return found.rows[0] ?? { type: '', object: null };
}

async function snapshot(owner: Holder) {
  return {
    posted: await posted(owner),
    movements: await count('wallet_movements', 'wallet_id = $1', [owner.account]),
    kyc: await kycStatus(owner),
    verifications: await count('kyc_verifications', 'cardholder_id = $1', [owner.cardholder]),
    events: await count('events'),
    audit: await count('audit_log'),
  };
}

describe('KYC limits on loads (HKD 3,000 stored value, HKD 25,000 a year unverified)', () => {
  it('refuses an unverified cardholder’s load past the balance cap, changing nothing; after verification it passes', async () => {
    const owner = await holder();
    expect(await kycStatus(owner)).toBe('unverified');
    await loaded(owner, 2_500_00);
    const before = await snapshot(owner);
    const refused = await load(owner, 600_00);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'kyc_balance_limit_exceeded', param: 'amount' });
    const message = String((refused.body.error as Json).message);
    expect(message).toContain('unverified');
    expect(message).toContain('HKD 3,000.00');
    expect(message).toContain('HKD 3,100.00');
    // Nothing moved: the one thing recorded is the attempt, for AML monitoring (tier-limit probing).
    expect(await snapshot(owner)).toEqual({ ...before, events: before.events + 1 });
    expect(await lastEvent()).toMatchObject({
      type: 'account.load_declined',
      object: { amount: 600_00, decline_reason: 'kyc_balance_limit_exceeded', account_id: owner.account },
    });
    // Up to the cap exactly is fine.
    await loaded(owner, 500_00);
    expect(await posted(owner)).toBe(3_000_00);

    const verification = await verify(owner);
    expect(verification.status).toBe(201);
    expect(verification.body).toMatchObject({
      object: 'kyc_verification',
      cardholder_id: owner.cardholder,
      program_id: sandbox.program.id,
      provider: 'sandbox',
      status: 'verified',
      reasons: [],
    });
    expect(verification.body.id).toMatch(/^kyc_/);
    expect(verification.body.completed).not.toBeNull();
    expect(await kycStatus(owner)).toBe('verified');
    await loaded(owner, 600_00);
    expect(await posted(owner)).toBe(3_600_00);
    // The verified tier's own cap: HKD 200,000.
    const over = await load(owner, 200_000_00 - 3_600_00 + 1);
    expect(over.body.error).toMatchObject({ code: 'kyc_balance_limit_exceeded' });
    expect(String((over.body.error as Json).message)).toContain('HKD 200,000.00');
  });

  it('refuses a load past the year’s loads, counting unloaded money too, until the year has rolled on', async () => {
    const owner = await holder();
    // HKD 24,000 loaded in eight rounds, each paid out again: the balance stays low, the year's loads do not.
    for (let round = 0; round < 8; round += 1) {
      await loaded(owner, 3_000_00);
      const unload = await post(sandbox.headers, `/v1/accounts/${owner.account}/unloads`, {
        amount: 3_000_00,
        currency: 'HKD',
      });
      expect(unload.status).toBe(201);
    }
    await loaded(owner, 1_000_00);
    const before = await snapshot(owner);
    const refused = await load(owner, 1);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'kyc_annual_load_limit_exceeded', param: 'amount' });
    const message = String((refused.body.error as Json).message);
    expect(message).toContain('HKD 25,000.00');
    expect(message).toContain('HKD 25,000.01');
    expect(await snapshot(owner)).toEqual({ ...before, events: before.events + 1 });
    expect(await lastEvent()).toMatchObject({
      type: 'account.load_declined',
      object: { amount: 1, decline_reason: 'kyc_annual_load_limit_exceeded' },
    });

    // A year and a moment later the first loads have left the window.
    api.clock.advance(366 * 24 * 60 * 60 * 1000);
    await loaded(owner, 1_000_00);
  });

  it('lets only one of concurrent loads through when the cap has room for one (the cardholder’s lock)', async () => {
    const owner = await holder();
    const answers = await Promise.all(Array.from({ length: 6 }, () => load(owner, 2_000_00)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 400, 400, 400, 400, 400]);
    expect(await posted(owner)).toBe(2_000_00);
  });

  it('refuses loads in a currency with no limits for the tier until the programme sets them', async () => {
    const owner = await holder(sandbox, 'USD');
    const before = await snapshot(owner);
    const refused = await load(owner, 100_00, 'USD');
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'kyc_limits_unset', param: 'currency' });
    expect(await snapshot(owner)).toEqual(before);
    const limits = { max_balance: 384_61, max_loads_per_year: 3_205_12, max_per_transaction: 384_61 };
    await setTiers(sandbox, {
      unverified: { USD: limits },
      verified: { USD: { ...limits, max_balance: 25_641_02 } },
    });
    await loaded(owner, 300_00, 'USD');
    expect((await load(owner, 100_00, 'USD')).body.error).toMatchObject({
      code: 'kyc_balance_limit_exceeded',
    });
  });
});

describe('KYC limits on authorizations (the tier’s per-transaction maximum)', () => {
  it('declines above the maximum with kyc_limit_exceeded (61) and its reason, approves up to it and after verification', async () => {
    const program = await withoutProtections(api, await createTestProgram(api, {}, { kyc: 'defaults' }));
    await setTiers(program, { unverified: { HKD: { max_per_transaction: 1_000_00 } } });
    const owner = await holder(program);
    await loaded(owner, 2_500_00);
    const cardId = await card(owner);

    const declined = await authorize(owner, cardId, 1_500_00);
    expect(declined).toMatchObject({
      approved: false,
      status: 'declined',
      response_code: '61',
      decline_reason: 'kyc_limit_exceeded',
      decline_message: DECLINES.kyc_limit_exceeded.message,
      approved_amount: 0,
    });
    expect(String(declined.decline_message)).toContain('per-transaction maximum');
    const checks = declined.checks as { check: string; result: string; detail?: string }[];
    const kycCheck = checks.find((check) => check.check === 'kyc_limit');
    expect(kycCheck?.result).toBe('fail');
    expect(kycCheck?.detail).toContain('HKD 1,000.00');
    expect(kycCheck?.detail).toContain('HKD 1,500.00');
    expect(checks.map((check) => check.check).indexOf('kyc_limit')).toBe(
      checks.map((check) => check.check).indexOf('spending_limits') + 1,
    );
    // Nothing held.
    const account = await get(program.headers, `/v1/accounts/${owner.account}`);
    expect(account.body.balance).toEqual({ available: 2_500_00, pending: 0, posted: 2_500_00 });

    const atLimit = await authorize(owner, cardId, 1_000_00);
    expect(atLimit).toMatchObject({ approved: true, response_code: '00' });
    expect(
      (atLimit.checks as { check: string; result: string }[]).find((check) => check.check === 'kyc_limit'),
    ).toEqual({ check: 'kyc_limit', result: 'pass' });

    // An increment may not take the transaction past the maximum either.
    const increment = await post(
      program.headers,
      `/v1/simulate/authorizations/${String(atLimit.id)}/increment`,
      { amount: 1 },
    );
    expect(increment.status).toBe(200);
    expect(increment.body.amount).toBe(1_000_00);
    const history = increment.body.request_history as { decline_reason: string | null }[];
    expect(history.at(-1)?.decline_reason).toBe('kyc_limit_exceeded');

    expect((await verify(owner)).body.status).toBe('verified');
    expect(await authorize(owner, cardId, 1_500_00)).toMatchObject({ approved: true });
  });

  it('skips the check, saying why, where the card’s currency has no limits for the tier', async () => {
    const program = await createTestProgram(api, { currencies: ['HKD', 'USD'] }, { kyc: 'defaults' });
    const owner = await holder(program, 'USD');
    const cardId = await card(owner);
    const answer = await post(program.headers, '/v1/simulate/authorizations', {
      card_id: cardId,
      amount: 0,
      currency: 'USD',
      merchant: { name: 'Apple', mcc: '5734', country: 'US' },
    });
    expect(answer.status).toBe(201);
    const checks = answer.body.checks as { check: string; result: string; detail?: string }[];
    expect(checks.find((check) => check.check === 'kyc_limit')).toEqual({
      check: 'kyc_limit',
      result: 'skipped',
      detail: 'no unverified-tier limits for USD',
    });
  });
});

describe('verifications: the status machine', () => {
  it('follows the sandbox’s test values and the outcomes recorded later; refused moves change nothing', async () => {
    const owner = await holder();
    const started = await verify(owner, { test_outcome: 'pending' });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ status: 'pending', completed: null, provider: 'sandbox' });
    expect(String(started.body.provider_reference)).toMatch(/^sandbox_/);
    const id = String(started.body.id);
    expect(await kycStatus(owner)).toBe('pending');

    // A second verification while one is open is refused.
    let before = await snapshot(owner);
    const twice = await verify(owner, { test_outcome: 'verified' });
    expect(twice.status).toBe(400);
    expect(twice.body.error).toMatchObject({ code: 'verification_open' });
    expect(String((twice.body.error as Json).message)).toContain(id);
    expect(await snapshot(owner)).toEqual(before);

    const documents = await outcome(owner, id, {
      outcome: 'documents_required',
      reasons: ['proof_of_address'],
    });
    expect(documents.status).toBe(200);
    expect(documents.body).toMatchObject({ status: 'documents_required', reasons: ['proof_of_address'] });
    expect(await kycStatus(owner)).toBe('documents_required');
    expect((await outcome(owner, id, { outcome: 'pending' })).body.status).toBe('pending');
    expect(await kycStatus(owner)).toBe('pending');
    const verified = await outcome(owner, id, { outcome: 'verified' });
    expect(verified.body).toMatchObject({ status: 'verified', reasons: [] });
    expect(verified.body.completed).not.toBeNull();
    expect(await kycStatus(owner)).toBe('verified');

    // The same outcome again (a provider repeating itself) changes nothing and answers the verification.
    before = await snapshot(owner);
    const repeat = await outcome(owner, id, { outcome: 'verified' });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(verified.body);
    expect(await snapshot(owner)).toEqual(before);

    // A closed verification does not move again, and a verified cardholder starts no new one.
    const reopened = await outcome(owner, id, { outcome: 'rejected' });
    expect(reopened.status).toBe(400);
    expect(reopened.body.error).toMatchObject({ code: 'verification_closed', param: 'outcome' });
    const again = await verify(owner);
    expect(again.status).toBe(400);
    expect(again.body.error).toMatchObject({ code: 'cardholder_already_verified' });
    expect(await snapshot(owner)).toEqual(before);

    // Each move had its event and audit entry; the cardholder's events carry no personal data.
    const moves = await api.db.query<{ data: { object: Json } }>(
      `SELECT data FROM events WHERE type = 'cardholder.kyc_updated' AND data->'object'->>'id' = $1 ORDER BY id`,
      [owner.cardholder],
    );
    expect(moves.rows.map((row) => row.data.object.kyc_status)).toEqual([
      'pending',
      'documents_required',
      'pending',
      'verified',
    ]);
    expect(moves.rows[0]?.data.object).not.toHaveProperty('name');
    // Created, then three updates.
    expect(await count('events', `type LIKE 'kyc_verification.%' AND data->'object'->>'id' = $1`, [id])).toBe(
      4,
    );
    expect(
      await count('audit_log', `action = 'cardholder.kyc_updated' AND target_id = $1`, [owner.cardholder]),
    ).toBe(4);

    const list = await get(sandbox.headers, `/v1/cardholders/${owner.cardholder}/verifications`);
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ object: 'list', has_more: false, data: [{ id, status: 'verified' }] });
    const one = await get(sandbox.headers, `/v1/cardholders/${owner.cardholder}/verifications/${id}`);
    expect(one.body).toEqual(verified.body);
  });

  it('lets a rejected cardholder try again; a rejection carries its reasons', async () => {
    const owner = await holder();
    const rejected = await verify(owner, { test_outcome: 'rejected' });
    expect(rejected.body).toMatchObject({ status: 'rejected', reasons: ['identity_not_confirmed'] });
    expect(await kycStatus(owner)).toBe('rejected');
    // Still the unverified tier's limits.
    await loaded(owner, 3_000_00);
    expect((await load(owner, 1)).body.error).toMatchObject({ code: 'kyc_balance_limit_exceeded' });
    const documents = await verify(owner, { test_outcome: 'documents_required' });
    expect(documents.body).toMatchObject({ status: 'documents_required', reasons: ['id_document_required'] });
    expect(await kycStatus(owner)).toBe('documents_required');
    await outcome(owner, String(documents.body.id), { outcome: 'verified' });
    expect(await kycStatus(owner)).toBe('verified');
    await loaded(owner, 1);
    const list = await get(sandbox.headers, `/v1/cardholders/${owner.cardholder}/verifications?limit=1`);
    expect(list.body).toMatchObject({ has_more: true, data: [{ id: documents.body.id }] });
  });

  it('verifies a live programme’s cardholders by manual review, never by test values', async () => {
    const owner = await holder(live);
    for (const [body, code, param] of [
      [{ test_outcome: 'verified' }, 'test_outcome_unavailable', 'test_outcome'],
      [{ provider: 'sandbox' }, 'provider_unavailable', 'provider'],
      [{ provider: 'onfido' }, 'provider_unknown', 'provider'],
      [{ provider: 'Sandbox' }, 'parameter_invalid', 'provider'],
      [{ test_outcome: 'approved' }, 'parameter_invalid', 'test_outcome'],
      [{ colour: 'blue' }, 'parameter_unknown', 'colour'],
    ] as const) {
      const before = await snapshot(owner);
      const refused = await verify(owner, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error, JSON.stringify(body)).toMatchObject({ code, param });
      expect(await snapshot(owner)).toEqual(before);
    }
    const started = await verify(owner);
    expect(started.body).toMatchObject({ provider: 'manual', status: 'pending', provider_reference: null });
    expect(await kycStatus(owner)).toBe('pending');
    const badReason = await outcome(owner, String(started.body.id), {
      outcome: 'rejected',
      reasons: ['Name does not match'],
    });
    expect(badReason.body.error).toMatchObject({ code: 'parameter_invalid', param: 'reasons[0]' });
    // The operator's analyst records the review.
    const reviewed = await outcome(
      owner,
      String(started.body.id),
      { outcome: 'verified' },
      api.operatorHeaders,
    );
    expect(reviewed.body).toMatchObject({ status: 'verified' });
    expect(await kycStatus(owner)).toBe('verified');
  });

  it('keeps programmes apart and asks for the kyc scopes', async () => {
    const owner = await holder();
    const started = await verify(owner, { test_outcome: 'pending' });
    const id = String(started.body.id);
    expect((await verify(owner, {}, other.headers)).status).toBe(404);
    expect((await get(other.headers, `/v1/cardholders/${owner.cardholder}/verifications`)).status).toBe(404);
    expect((await get(other.headers, `/v1/cardholders/${owner.cardholder}/verifications/${id}`)).status).toBe(
      404,
    );
    expect((await outcome(owner, id, { outcome: 'verified' }, other.headers)).status).toBe(404);
    const reader = await post(sandbox.headers, `/v1/programs/${sandbox.program.id}/api_keys`, {
      scopes: ['kyc:read'],
    });
    const readerHeaders = { authorization: `Bearer ${String(reader.body.secret)}` };
    expect((await get(readerHeaders, `/v1/cardholders/${owner.cardholder}/verifications`)).status).toBe(200);
    expect((await outcome(owner, id, { outcome: 'verified' }, readerHeaders)).status).toBe(403);
    expect((await verify(owner, {}, readerHeaders)).status).toBe(403);
    expect(await kycStatus(owner)).toBe('pending');
  });

  it('replays a start with the same Idempotency-Key, without asking the provider again', async () => {
    const owner = await holder();
    const headers = withKey(sandbox.headers);
    const first = await verify(owner, { test_outcome: 'documents_required' }, headers);
    expect(first.status).toBe(201);
    const replay = await verify(owner, { test_outcome: 'documents_required' }, headers);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect(await count('kyc_verifications', 'cardholder_id = $1', [owner.cardholder])).toBe(1);
    const otherBody = await verify(owner, { test_outcome: 'verified' }, headers);
    expect(otherBody.status).toBe(409);
    expect(await kycStatus(owner)).toBe('documents_required');
  });

  it('applies a vendor’s callbacks by its reference, once, and refuses to take them through the API', async () => {
    const owner = await holder();
    const vendor: VerificationProvider = {
      name: 'vendor',
      modes: ['sandbox', 'live'],
      outcomesThroughApi: false,
      testOutcomes: false,
      start: async (subject) => {
        // The provider sees who it verifies; none of it is stored.
        expect(subject.name).toMatch(/^Wong Siu Ming/);
        return { reference: `vendor-${subject.cardholderId}`, outcome: 'pending', reasons: [] };
      },
    };
    const providers: VerificationProviders = new Map([...BUILT_IN_PROVIDERS, ['vendor', vendor]]);
    const by = { actor: { type: 'system' as const, id: 'test' } };
    const prepared = await prepareVerification(
      api.issuing,
      owner.cardholder,
      sandbox.program.id,
      { provider: 'vendor' },
      providers,
    );
    const started = await api.db.transaction((tx) =>
      recordVerification(tx, api.issuing, prepared, sandbox.program.id, by),
    );
    expect(started).toMatchObject({ provider: 'vendor', status: 'pending' });
    const viaApi = await outcome(owner, started.id, { outcome: 'verified' });
    expect(viaApi.body.error).toMatchObject({ code: 'outcome_from_provider' });
    expect(await kycStatus(owner)).toBe('pending');
    const callback = () =>
      api.db.transaction((tx) =>
        applyVerificationOutcome(
          tx,
          api.issuing,
          { provider: 'vendor', reference: `vendor-${owner.cardholder}` },
          { status: 'verified' },
          by,
        ),
      );
    expect((await callback()).status).toBe('verified');
    const events = await count('events');
    expect((await callback()).status).toBe('verified');
    expect(await count('events')).toBe(events);
    expect(await kycStatus(owner)).toBe('verified');
  });
});

describe('programme tier settings', () => {
  it('shows the defaults, in the programme’s currencies only', async () => {
    const tiers = await get(live.headers, `/v1/programs/${live.program.id}/kyc_tiers`);
    expect(tiers.status).toBe(200);
    expect(tiers.body).toEqual({
      object: 'kyc_tiers',
      program_id: live.program.id,
      unverified: {
        HKD: { max_balance: 300_000, max_loads_per_year: 2_500_000, max_per_transaction: 300_000 },
      },
      verified: {
        HKD: { max_balance: 20_000_000, max_loads_per_year: 120_000_000, max_per_transaction: 20_000_000 },
      },
    });
    expect(tiers.body.unverified).toEqual(DEFAULT_KYC_TIERS.unverified);
  });

  it('refuses bad settings with 400 naming the field, changing nothing', async () => {
    const program = await createTestProgram(api, {}, { kyc: 'defaults' });
    const url = `/v1/programs/${program.program.id}/kyc_tiers`;
    const before = (await get(program.headers, url)).body;
    const hkd = (limits: Json) => ({ unverified: { HKD: limits } });
    const usd = { max_balance: 100, max_loads_per_year: 1_000, max_per_transaction: 100 };
    for (const [body, code, param] of [
      [hkd({ max_balance: -1 }), 'parameter_invalid', 'unverified[HKD][max_balance]'],
      [hkd({ max_balance: 1.5 }), 'parameter_invalid', 'unverified[HKD][max_balance]'],
      [hkd({ max_balance: '300000' }), 'parameter_invalid', 'unverified[HKD][max_balance]'],
      [hkd({ max_balance: 2 ** 53 }), 'parameter_invalid', 'unverified[HKD][max_balance]'],
      [hkd({ max_total: 1 }), 'parameter_unknown', 'unverified[HKD][max_total]'],
      [hkd({}), 'parameter_invalid', 'unverified[HKD]'],
      [{ unverified: { hkd: { max_balance: 1 } } }, 'parameter_invalid', 'unverified'],
      [{ basic: {} }, 'parameter_unknown', 'basic'],
      [{}, 'parameter_invalid', undefined],
      [{ unverified: { EUR: usd }, verified: { EUR: usd } }, 'currency_unsupported', 'unverified[EUR]'],
      [
        { unverified: { USD: { max_balance: 100 } } },
        'parameter_missing',
        'unverified[USD][max_loads_per_year]',
      ],
      [{ unverified: { USD: usd } }, 'kyc_tier_incomplete', 'verified[USD]'],
      [
        { unverified: { USD: usd }, verified: { USD: { ...usd, max_per_transaction: 99 } } },
        'kyc_tier_order',
        'verified[USD][max_per_transaction]',
      ],
      [hkd({ max_balance: 200_000_01 }), 'kyc_tier_order', 'verified[HKD][max_balance]'],
    ] as const) {
      const events = await count('events');
      const refused = await post(program.headers, url, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error, JSON.stringify(body)).toMatchObject({ code });
      expect((refused.body.error as Json).param, JSON.stringify(body)).toBe(param);
      expect((await get(program.headers, url)).body).toEqual(before);
      expect(await count('events')).toBe(events);
    }
  });

  it('changes what the body names and keeps the rest, with its event and audit entry', async () => {
    const program = await createTestProgram(api, {}, { kyc: 'defaults' });
    const url = `/v1/programs/${program.program.id}/kyc_tiers`;
    const changed = await post(withKey(program.headers), url, {
      unverified: { HKD: { max_balance: 1_000_00 } },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.unverified).toEqual({
      HKD: { max_balance: 1_000_00, max_loads_per_year: 25_000_00, max_per_transaction: 3_000_00 },
    });
    expect(await get(program.headers, url)).toMatchObject({ body: changed.body });
    const audit = await api.db.query<{ details: Json }>(
      `SELECT details FROM audit_log WHERE action = 'kyc_tiers.updated' AND program_id = $1`,
      [program.program.id],
    );
    expect(audit.rows.map((row) => row.details)).toEqual([
      { 'unverified.HKD.max_balance': '300000 -> 100000' },
    ]);
    expect(
      await count('events', `type = 'kyc_tiers.updated' AND program_id = $1`, [program.program.id]),
    ).toBe(1);
    // The same again changes nothing.
    await setTiers(program, { unverified: { HKD: { max_balance: 1_000_00 } } });
    expect(
      await count('events', `type = 'kyc_tiers.updated' AND program_id = $1`, [program.program.id]),
    ).toBe(1);
    // Loads see it at once.
    const owner = await holder(program);
    expect((await load(owner, 1_000_01)).body.error).toMatchObject({ code: 'kyc_balance_limit_exceeded' });
    // Another programme's key cannot see or change it; the operator can.
    expect((await get(other.headers, url)).status).toBe(404);
    expect((await post(other.headers, url, { unverified: { HKD: { max_balance: 1 } } })).status).toBe(404);
    expect(
      (await post(api.operatorHeaders, url, { unverified: { HKD: { max_balance: 2_000_00 } } })).status,
    ).toBe(200);
  });
});
