import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import { ENV_OPERATOR_KEY_ID } from '../../../issuing/authenticator.js';
import { loadCvkPair } from '../../../vault/cvk-pairs.js';
import { cvkCheckValue } from '../../../vault/cvv.js';

interface ProgramJson {
  readonly id: string;
  readonly object: 'program';
  readonly name: string;
  readonly bin: string;
  readonly pan_length: number;
  readonly currencies: string[];
  readonly default_currency: string;
  readonly region: string;
  readonly card_validity_months: number;
  readonly mode: 'sandbox' | 'live';
  readonly time_zone: string;
  readonly status: 'active' | 'suspended';
  readonly metadata: Record<string, string>;
  readonly created: string;
  readonly updated: string;
}

interface ApiKeyJson {
  readonly id: string;
  readonly object: 'api_key';
  readonly program_id: string;
  readonly name: string | null;
  readonly scopes: string[];
  readonly mode: 'sandbox' | 'live';
  readonly last4: string;
  readonly created: string;
  readonly revoked: string | null;
  readonly secret?: string;
}

interface ListJson<T> {
  readonly object: 'list';
  readonly url: string;
  readonly has_more: boolean;
  readonly data: T[];
}

interface EventJson {
  readonly id: string;
  readonly type: string;
  readonly program_id: string | null;
  readonly data: { readonly object: { readonly id?: string } };
}

interface AuditRow {
  readonly action: string;
  readonly actor_type: string;
  readonly actor_id: string;
  readonly target_type: string | null;
  readonly target_id: string | null;
  readonly request_id: string | null;
  readonly details: Record<string, unknown>;
}

type Headers = Readonly<Record<string, string>>;

let api: TestApi;
/** Every secret this file was given, for the scan at the end. */
const secrets: string[] = [];

beforeAll(async () => {
  api = await openTestApi();
});
afterAll(async () => api.close());

const bearer = (secret: string): Headers => ({ authorization: `Bearer ${secret}` });

function call(method: 'GET' | 'POST' | 'PATCH', url: string, headers: Headers, body?: object) {
  return api.app.inject({ method, url, headers, ...(body === undefined ? {} : { payload: body }) });
}
type Reply = Awaited<ReturnType<typeof call>>;

function expectError(response: Reply, status: number, error: Record<string, string>): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.json()).toMatchObject({ error: { ...error, request_id: response.headers['request-id'] } });
}

let programCount = 0;
function programBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  programCount += 1;
  return {
    name: `Programme ${programCount}`,
    bin: '45678901',
    pan_length: 16,
    currencies: ['HKD', 'USD'],
    region: 'hk',
    card_validity_months: 36,
    mode: 'sandbox',
    ...overrides,
  };
}

async function createProgram(
  overrides: Record<string, unknown> = {},
  headers: Headers = api.operatorHeaders,
): Promise<ProgramJson> {
  const response = await call('POST', '/v1/programs', headers, programBody(overrides));
  expect(response.statusCode, response.body).toBe(201);
  return response.json<ProgramJson>();
}

async function createKey(
  programId: string,
  scopes: readonly string[],
  headers: Headers = api.operatorHeaders,
): Promise<ApiKeyJson & { readonly secret: string; readonly headers: Headers }> {
  const response = await call('POST', `/v1/programs/${programId}/api_keys`, headers, { scopes });
  expect(response.statusCode, response.body).toBe(201);
  const key = response.json<ApiKeyJson>();
  if (key.secret === undefined) throw new Error('a new key comes with its secret');
  secrets.push(key.secret);
  return { ...key, secret: key.secret, headers: bearer(key.secret) };
}

const COUNTED = [
  'programs',
  'vault_cvk_pairs',
  'ledger_accounts',
  'events',
  'audit_log',
  'api_keys',
] as const;

async function counts(): Promise<Record<(typeof COUNTED)[number], number>> {
  const result = {} as Record<(typeof COUNTED)[number], number>;
  for (const table of COUNTED) {
    const { rows } = await api.db.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${table}`);
    result[table] = rows[0]?.count ?? 0;
  }
  return result;
}

async function auditOf(programId: string): Promise<AuditRow[]> {
  const { rows } = await api.db.query<AuditRow>(
    `SELECT action, actor_type, actor_id, target_type, target_id, request_id, details
     FROM audit_log WHERE program_id = $1 ORDER BY seq`,
    [programId],
  );
  return rows;
}

async function accountsOf(programId: string): Promise<string[]> {
  const { rows } = await api.db.query<{ id: string }>(
    'SELECT id FROM ledger_accounts WHERE program_id = $1 ORDER BY id',
    [programId],
  );
  return rows.map((row) => row.id);
}

function accountIds(programId: string, currencies: readonly string[]): string[] {
  return currencies
    .flatMap((currency) =>
      ['funding', 'card_settlement', 'cardholder_receivable', 'program_bank'].map(
        (kind) => `${programId}:${kind}:${currency}`,
      ),
    )
    .sort();
}

describe('POST /v1/programs', () => {
  it('creates a programme with its CVK pair, ledger accounts, event and audit entries', async () => {
    api.clock.advance(1_000);
    const before = await counts();
    const response = await call(
      'POST',
      '/v1/programs',
      api.operatorHeaders,
      programBody({ name: 'Harbour Prepaid', metadata: { team: 'retail' } }),
    );
    expect(response.statusCode, response.body).toBe(201);
    const program = response.json<ProgramJson>();
    const now = api.clock.now().toISOString();
    expect(program).toEqual({
      id: expect.stringMatching(/^prog_[0-9a-hjkmnp-tv-z]{26}$/) as string,
      object: 'program',
      name: 'Harbour Prepaid',
      bin: '45678901',
      pan_length: 16,
      currencies: ['HKD', 'USD'],
      default_currency: 'HKD',
      region: 'hk',
      card_validity_months: 36,
      mode: 'sandbox',
      time_zone: 'Asia/Hong_Kong',
      status: 'active',
      fx_markup_bps: 0,
      hold_days: 7,
      extended_hold_days: 31,
      metadata: { team: 'retail' },
      created: now,
      updated: now,
    });
    const fetched = await call('GET', `/v1/programs/${program.id}`, api.operatorHeaders);
    expect(fetched.json()).toEqual(program);

    // The CVK pair: one row, encrypted (the stored bytes hold neither key), with its check value.
    const cvkRows = await api.db.query<{ id: string; cvk_encrypted: Uint8Array; check_value: string }>(
      'SELECT id, cvk_encrypted, check_value FROM vault_cvk_pairs WHERE program_id = $1',
      [program.id],
    );
    expect(cvkRows.rows).toHaveLength(1);
    const stored = Buffer.from(cvkRows.rows[0]?.cvk_encrypted ?? new Uint8Array());
    const pair = await loadCvkPair(api.db, api.vault, program.id);
    if (pair === undefined) throw new Error('the programme has no CVK pair');
    const cvkA = pair.cvkA.expose();
    const cvkB = pair.cvkB.expose();
    expect(cvkA).toHaveLength(8);
    expect(stored.includes(cvkA)).toBe(false);
    expect(stored.includes(cvkB)).toBe(false);
    expect(stored.includes(Buffer.concat([cvkA, cvkB]))).toBe(false);
    expect(cvkRows.rows[0]?.check_value).toBe(cvkCheckValue(pair));

    // The ledger accounts: the four kinds in each currency.
    const accounts = await api.db.query<{
      id: string;
      program_id: string;
      currency: string;
      kind: string;
      credits_must_not_exceed_debits: boolean;
      debits_must_not_exceed_credits: boolean;
    }>(
      `SELECT id, program_id, currency, kind, credits_must_not_exceed_debits, debits_must_not_exceed_credits
       FROM ledger_accounts WHERE program_id = $1 ORDER BY id`,
      [program.id],
    );
    expect(accounts.rows.map((row) => row.id)).toEqual(accountIds(program.id, ['HKD', 'USD']));
    for (const row of accounts.rows) {
      expect(row.id).toBe(`${program.id}:${row.kind}:${row.currency}`);
      expect(row.credits_must_not_exceed_debits).toBe(row.kind === 'cardholder_receivable');
      // The funding account pays out only what the programme deposited.
      expect(row.debits_must_not_exceed_credits).toBe(row.kind === 'funding');
    }

    // The event carries the programme as the API shows it.
    const events = await api.db.query<{ type: string; data: unknown }>(
      'SELECT type, data FROM events WHERE program_id = $1',
      [program.id],
    );
    expect(events.rows).toEqual([{ type: 'program.created', data: { object: program } }]);

    // The audit log names the operator key and the request.
    const audit = await auditOf(program.id);
    const requestId = response.headers['request-id'];
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'program.created',
        actor_type: 'operator',
        actor_id: ENV_OPERATOR_KEY_ID,
        target_type: 'program',
        target_id: program.id,
        request_id: requestId,
      }),
      expect.objectContaining({
        action: 'cvk_pair.created',
        actor_type: 'operator',
        actor_id: ENV_OPERATOR_KEY_ID,
        target_type: 'cvk_pair',
        target_id: cvkRows.rows[0]?.id,
        request_id: requestId,
        details: { check_value: cvkCheckValue(pair), supplied: false },
      }),
    ]);

    expect(await counts()).toEqual({
      ...before,
      programs: before.programs + 1,
      vault_cvk_pairs: before.vault_cvk_pairs + 1,
      ledger_accounts: before.ledger_accounts + 8,
      events: before.events + 1,
      audit_log: before.audit_log + 2,
    });
  });

  it('creates a live programme with a 6-digit BIN in another served region, and fills in the defaults', async () => {
    const live = await createProgram({
      bin: '523456',
      pan_length: 19,
      currencies: ['SGD'],
      region: 'sg',
      card_validity_months: 60,
      mode: 'live',
      time_zone: 'Asia/Singapore',
    });
    expect(live).toMatchObject({
      bin: '523456',
      pan_length: 19,
      currencies: ['SGD'],
      default_currency: 'SGD',
      region: 'sg',
      card_validity_months: 60,
      mode: 'live',
      time_zone: 'Asia/Singapore',
      metadata: {},
    });
    expect(await accountsOf(live.id)).toEqual(accountIds(live.id, ['SGD']));

    const body = programBody();
    delete body.pan_length;
    delete body.card_validity_months;
    const response = await call('POST', '/v1/programs', api.operatorHeaders, body);
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toMatchObject({
      pan_length: 16,
      card_validity_months: 36,
      time_zone: 'Asia/Hong_Kong',
    });
  });

  it('gives every programme a CVK pair of its own', async () => {
    const first = await createProgram();
    const second = await createProgram();
    const a = await loadCvkPair(api.db, api.vault, first.id);
    const b = await loadCvkPair(api.db, api.vault, second.id);
    expect(a?.cvkA.expose().equals(b?.cvkA.expose() ?? Buffer.alloc(0))).toBe(false);
  });

  const refusals: [string, Record<string, unknown>, string, string][] = [
    ['a 7-digit BIN', { bin: '4567890' }, 'parameter_invalid', 'bin'],
    ['a BIN with letters', { bin: '45678a' }, 'parameter_invalid', 'bin'],
    ['an unknown field', { colour: 'red' }, 'parameter_unknown', 'colour'],
    ['a 9-digit PAN', { pan_length: 9 }, 'parameter_invalid', 'pan_length'],
    ['a PAN length sent as a string', { pan_length: '16' }, 'parameter_invalid', 'pan_length'],
    ['a currency ISO 4217 does not know', { currencies: ['XYZ'] }, 'currency_invalid', 'currencies[0]'],
    ['an unknown second currency', { currencies: ['HKD', 'XYZ'] }, 'currency_invalid', 'currencies[1]'],
    ['a lower-case currency', { currencies: ['hkd'] }, 'parameter_invalid', 'currencies[0]'],
    ['no currency', { currencies: [] }, 'parameter_invalid', 'currencies'],
    ['a currency twice', { currencies: ['HKD', 'USD', 'HKD'] }, 'currencies_repeated', 'currencies'],
    ['a region this deployment does not serve', { region: 'us' }, 'region_unavailable', 'region'],
    ['a time zone that does not exist', { time_zone: 'Mars/Base' }, 'time_zone_invalid', 'time_zone'],
    ['an unknown mode', { mode: 'production' }, 'parameter_invalid', 'mode'],
    ['a validity of 0 months', { card_validity_months: 0 }, 'parameter_invalid', 'card_validity_months'],
    ['an empty name', { name: '' }, 'parameter_invalid', 'name'],
    ['metadata that is not strings', { metadata: { tier: 1 } }, 'parameter_invalid', 'metadata[tier]'],
  ];

  it.each(refusals)(
    'refuses %s with a 400 naming the field, and creates nothing',
    async (_, change, code, param) => {
      const before = await counts();
      const response = await call('POST', '/v1/programs', api.operatorHeaders, programBody(change));
      expectError(response, 400, { type: 'invalid_request_error', code, param });
      expect(await counts()).toEqual(before);
    },
  );

  it('refuses a missing field', async () => {
    const body = programBody();
    delete body.bin;
    const before = await counts();
    const response = await call('POST', '/v1/programs', api.operatorHeaders, body);
    expectError(response, 400, { code: 'parameter_missing', param: 'bin' });
    expect(await counts()).toEqual(before);
  });
});

describe('GET and PATCH /v1/programs', () => {
  it('lists programmes newest first, pages them, and retrieves one', async () => {
    api.clock.advance(1_000);
    const older = await createProgram();
    api.clock.advance(1_000);
    const newer = await createProgram();
    const list = await call('GET', '/v1/programs?limit=100', api.operatorHeaders);
    expect(list.statusCode).toBe(200);
    const page = list.json<ListJson<ProgramJson>>();
    expect(page).toMatchObject({ object: 'list', url: '/v1/programs', has_more: false });
    const ids = page.data.map((program) => program.id);
    expect(ids.indexOf(newer.id)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(newer.id)).toBeLessThan(ids.indexOf(older.id));
    expect(page.data.find((program) => program.id === older.id)).toEqual(older);

    const first = (await call('GET', '/v1/programs?limit=1', api.operatorHeaders)).json<
      ListJson<ProgramJson>
    >();
    expect(first.data.map((program) => program.id)).toEqual([ids[0]]);
    expect(first.has_more).toBe(true);
    const second = await call(
      'GET',
      `/v1/programs?limit=1&starting_after=${ids[0] ?? ''}`,
      api.operatorHeaders,
    );
    expect(second.json<ListJson<ProgramJson>>().data.map((program) => program.id)).toEqual([ids[1]]);

    expect((await call('GET', `/v1/programs/${older.id}`, api.operatorHeaders)).json()).toEqual(older);
    expectError(await call('GET', `/v1/programs/${api.ids('prog')}`, api.operatorHeaders), 404, {
      code: 'resource_missing',
      param: 'id',
    });
    expectError(await call('GET', '/v1/programs/not_a_programme', api.operatorHeaders), 400, {
      code: 'parameter_invalid',
      param: 'id',
    });
  });

  it('changes the name, metadata and status, with an event and an audit entry', async () => {
    const program = await createProgram({ metadata: { tier: 'silver' } });
    api.clock.advance(60_000);
    const response = await call('PATCH', `/v1/programs/${program.id}`, api.operatorHeaders, {
      name: 'Renamed',
      metadata: { tier: 'gold' },
    });
    expect(response.statusCode, response.body).toBe(200);
    const updated = response.json<ProgramJson>();
    expect(updated).toEqual({
      ...program,
      name: 'Renamed',
      metadata: { tier: 'gold' },
      updated: api.clock.now().toISOString(),
    });
    expect((await call('GET', `/v1/programs/${program.id}`, api.operatorHeaders)).json()).toEqual(updated);

    const events = await api.db.query<{ type: string; data: unknown }>(
      `SELECT type, data FROM events WHERE program_id = $1 AND type = 'program.updated'`,
      [program.id],
    );
    expect(events.rows).toEqual([{ type: 'program.updated', data: { object: updated } }]);
    expect((await auditOf(program.id)).at(-1)).toMatchObject({
      action: 'program.updated',
      actor_type: 'operator',
      actor_id: ENV_OPERATOR_KEY_ID,
      request_id: response.headers['request-id'],
      details: { fields: 'metadata,name', status: 'active' },
    });

    // Suspending a programme stops its keys at once; reactivating it lets them in again.
    const key = await createKey(program.id, ['programs:read']);
    const suspended = await call('PATCH', `/v1/programs/${program.id}`, api.operatorHeaders, {
      status: 'suspended',
    });
    expect(suspended.json()).toMatchObject({ status: 'suspended' });
    expectError(await call('GET', `/v1/programs/${program.id}`, key.headers), 401, {
      type: 'authentication_error',
    });
    await call('PATCH', `/v1/programs/${program.id}`, api.operatorHeaders, { status: 'active' });
    expect((await call('GET', `/v1/programs/${program.id}`, key.headers)).statusCode).toBe(200);
  });

  it('adds a currency with its ledger accounts, but never removes one or changes the first', async () => {
    const program = await createProgram({ currencies: ['HKD', 'USD'] });
    const added = await call('PATCH', `/v1/programs/${program.id}`, api.operatorHeaders, {
      currencies: ['HKD', 'USD', 'SGD'],
    });
    expect(added.statusCode, added.body).toBe(200);
    expect(added.json()).toMatchObject({ currencies: ['HKD', 'USD', 'SGD'], default_currency: 'HKD' });
    expect(await accountsOf(program.id)).toEqual(accountIds(program.id, ['HKD', 'USD', 'SGD']));

    const refusals: [unknown, string, string][] = [
      [['HKD', 'SGD'], 'currency_removal_refused', 'currencies'],
      [['USD', 'HKD', 'SGD'], 'default_currency_fixed', 'currencies'],
      [['HKD', 'USD', 'SGD', 'XYZ'], 'currency_invalid', 'currencies[3]'],
      [['HKD', 'USD', 'SGD', 'USD'], 'currencies_repeated', 'currencies'],
    ];
    for (const [currencies, code, param] of refusals) {
      const before = await counts();
      const response = await call('PATCH', `/v1/programs/${program.id}`, api.operatorHeaders, { currencies });
      expectError(response, 400, { code, param });
      expect(await counts()).toEqual(before);
    }
    const after = (await call('GET', `/v1/programs/${program.id}`, api.operatorHeaders)).json<ProgramJson>();
    expect(after.currencies).toEqual(['HKD', 'USD', 'SGD']);
  });

  it('refuses to patch what cards depend on, an empty change, a bad time zone and an unknown programme', async () => {
    const program = await createProgram();
    for (const field of ['mode', 'bin', 'pan_length', 'region']) {
      const value = { mode: 'live', bin: '411111', pan_length: 19, region: 'sg' }[field];
      const response = await call('PATCH', `/v1/programs/${program.id}`, api.operatorHeaders, {
        [field]: value,
      });
      expectError(response, 400, { code: 'parameter_unknown', param: field });
    }
    expectError(await call('PATCH', `/v1/programs/${program.id}`, api.operatorHeaders, {}), 400, {
      code: 'parameter_invalid',
    });
    expectError(
      await call('PATCH', `/v1/programs/${program.id}`, api.operatorHeaders, { time_zone: 'Mars/Base' }),
      400,
      { code: 'time_zone_invalid', param: 'time_zone' },
    );
    expectError(
      await call('PATCH', `/v1/programs/${program.id}`, api.operatorHeaders, { status: 'closed' }),
      400,
      { code: 'parameter_invalid', param: 'status' },
    );
    expectError(
      await call('PATCH', `/v1/programs/${api.ids('prog')}`, api.operatorHeaders, { name: 'x' }),
      404,
      {
        code: 'resource_missing',
      },
    );
    expect((await call('GET', `/v1/programs/${program.id}`, api.operatorHeaders)).json()).toEqual(program);
  });
});

describe('API keys', () => {
  it('shows the secret once, sk_test_ for a sandbox programme and sk_live_ for a live one', async () => {
    const sandbox = await createProgram({ mode: 'sandbox' });
    const live = await createProgram({ mode: 'live' });
    api.clock.advance(1_000);
    const response = await call('POST', `/v1/programs/${sandbox.id}/api_keys`, api.operatorHeaders, {
      name: 'Backend',
      scopes: ['programs:read', 'api_keys:write', 'programs:read'],
    });
    expect(response.statusCode, response.body).toBe(201);
    const key = response.json<ApiKeyJson>();
    const secret = key.secret ?? '';
    secrets.push(secret);
    expect(secret).toMatch(/^sk_test_[A-Za-z0-9_-]{43}$/);
    expect(key).toEqual({
      id: expect.stringMatching(/^key_[0-9a-hjkmnp-tv-z]{26}$/) as string,
      object: 'api_key',
      program_id: sandbox.id,
      name: 'Backend',
      scopes: ['programs:read', 'api_keys:write'],
      mode: 'sandbox',
      last4: secret.slice(-4),
      created: api.clock.now().toISOString(),
      revoked: null,
      secret,
    });
    expect((await auditOf(sandbox.id)).at(-1)).toMatchObject({
      action: 'api_key.created',
      actor_type: 'operator',
      actor_id: ENV_OPERATOR_KEY_ID,
      target_type: 'api_key',
      target_id: key.id,
      details: { scopes: 'programs:read api_keys:write', mode: 'sandbox' },
    });

    const liveKey = await createKey(live.id, ['*']);
    expect(liveKey.secret).toMatch(/^sk_live_[A-Za-z0-9_-]{43}$/);
    expect(liveKey.mode).toBe('live');

    // The key works, and no listing ever shows a secret again.
    expect((await call('GET', `/v1/programs/${sandbox.id}`, bearer(secret))).json()).toEqual(sandbox);
    for (const headers of [api.operatorHeaders, liveKey.headers]) {
      const list = await call('GET', `/v1/programs/${live.id}/api_keys`, headers);
      expect(list.statusCode).toBe(200);
      expect(list.json<ListJson<ApiKeyJson>>().data.map((item) => item.id)).toEqual([liveKey.id]);
      expect(list.json<ListJson<ApiKeyJson>>().data[0]).not.toHaveProperty('secret');
      expect(list.body).not.toContain(liveKey.secret);
    }
    const sandboxList = await call('GET', `/v1/programs/${sandbox.id}/api_keys`, api.operatorHeaders);
    expect(sandboxList.json()).toMatchObject({
      object: 'list',
      url: `/v1/programs/${sandbox.id}/api_keys`,
      has_more: false,
    });
    const { secret: _shown, ...listed } = key;
    expect(sandboxList.json<ListJson<ApiKeyJson>>().data).toEqual([listed]);
    expect(sandboxList.body).not.toContain(secret);
  });

  it('revokes a key at once; revoking it again changes nothing', async () => {
    const program = await createProgram();
    const key = await createKey(program.id, ['programs:read']);
    const other = await createKey(program.id, ['*']);
    expect((await call('GET', `/v1/programs/${program.id}`, key.headers)).statusCode).toBe(200);

    api.clock.advance(1_000);
    const revokedAt = api.clock.now().toISOString();
    const revoked = await call(
      'POST',
      `/v1/programs/${program.id}/api_keys/${key.id}/revoke`,
      api.operatorHeaders,
    );
    expect(revoked.statusCode, revoked.body).toBe(200);
    const { secret: _secret, headers: _headers, ...shown } = key;
    expect(revoked.json()).toEqual({ ...shown, revoked: revokedAt });
    expectError(await call('GET', `/v1/programs/${program.id}`, key.headers), 401, {
      type: 'authentication_error',
      code: 'api_key_invalid',
    });

    api.clock.advance(1_000);
    const again = await call(
      'POST',
      `/v1/programs/${program.id}/api_keys/${key.id}/revoke`,
      api.operatorHeaders,
    );
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ id: key.id, revoked: revokedAt });
    expect((await auditOf(program.id)).filter((row) => row.action === 'api_key.revoked')).toEqual([
      expect.objectContaining({ actor_type: 'operator', target_id: key.id }),
    ]);
    // The other key is untouched, and can revoke itself.
    expect((await call('GET', `/v1/programs/${program.id}`, other.headers)).statusCode).toBe(200);
    const itself = await call(
      'POST',
      `/v1/programs/${program.id}/api_keys/${other.id}/revoke`,
      other.headers,
    );
    expect(itself.statusCode).toBe(200);
    expect((await call('GET', `/v1/programs/${program.id}`, other.headers)).statusCode).toBe(401);
    expect((await auditOf(program.id)).at(-1)).toMatchObject({
      action: 'api_key.revoked',
      actor_type: 'api_key',
      actor_id: other.id,
    });

    expectError(
      await call('POST', `/v1/programs/${program.id}/api_keys/${api.ids('key')}/revoke`, api.operatorHeaders),
      404,
      { code: 'resource_missing' },
    );
  });

  it('answers 404 for a key revoked under another programme, and leaves the key working', async () => {
    const first = await createProgram();
    const second = await createProgram();
    const key = await createKey(second.id, ['programs:read']);
    expectError(
      await call('POST', `/v1/programs/${first.id}/api_keys/${key.id}/revoke`, api.operatorHeaders),
      404,
      { code: 'resource_missing' },
    );
    expect((await call('GET', `/v1/programs/${second.id}`, key.headers)).statusCode).toBe(200);
    expectError(
      await call('POST', `/v1/programs/${api.ids('prog')}/api_keys`, api.operatorHeaders, { scopes: ['*'] }),
      404,
      { code: 'resource_missing' },
    );
  });

  it('refuses scopes that do not exist, naming the one at fault, and creates nothing', async () => {
    const program = await createProgram();
    const writer = await createKey(program.id, ['api_keys:write']);
    const refusals: [unknown, string, string][] = [
      [['cards:fly'], 'scope_invalid', 'scopes[0]'],
      [['cards:read', 'programs:reveal'], 'scope_invalid', 'scopes[1]'],
      [['*:write'], 'scope_invalid', 'scopes[0]'],
      [['cardholder:read'], 'scope_invalid', 'scopes[0]'],
      [['operator_users:write'], 'scope_invalid', 'scopes[0]'],
      [['Cards:read'], 'scope_invalid', 'scopes[0]'],
      [[], 'parameter_invalid', 'scopes'],
      [['cards:read', 7], 'parameter_invalid', 'scopes[1]'],
    ];
    for (const headers of [api.operatorHeaders, writer.headers]) {
      for (const [scopes, code, param] of refusals) {
        const before = await counts();
        const response = await call('POST', `/v1/programs/${program.id}/api_keys`, headers, { scopes });
        expectError(response, 400, { code, param });
        expect(await counts()).toEqual(before);
      }
    }
    expectError(
      await call('POST', `/v1/programs/${program.id}/api_keys`, api.operatorHeaders, {
        scopes: ['*'],
        mode: 'live',
      }),
      400,
      { code: 'parameter_unknown', param: 'mode' },
    );
    const accepted = await createKey(program.id, ['cards:reveal', '*:read', 'webhook_endpoints:write']);
    expect(accepted.scopes).toEqual(['cards:reveal', '*:read', 'webhook_endpoints:write']);
  });
});

describe('tenant isolation', () => {
  let a: ProgramJson;
  let b: ProgramJson;
  let aKey: Awaited<ReturnType<typeof createKey>>;
  let bKey: Awaited<ReturnType<typeof createKey>>;

  beforeAll(async () => {
    a = await createProgram({ name: 'Programme A' });
    b = await createProgram({ name: 'Programme B' });
    aKey = await createKey(a.id, ['*']);
    bKey = await createKey(b.id, ['*']);
  });

  it("answers 404 for another programme and its keys, whatever the key's scopes", async () => {
    expect((await call('GET', `/v1/programs/${a.id}`, aKey.headers)).json()).toEqual(a);
    expectError(await call('GET', `/v1/programs/${b.id}`, aKey.headers), 404, {
      code: 'resource_missing',
      param: 'id',
    });
    expectError(await call('GET', `/v1/programs/${b.id}/api_keys`, aKey.headers), 404, {
      code: 'resource_missing',
    });
    const before = await counts();
    expectError(await call('POST', `/v1/programs/${b.id}/api_keys`, aKey.headers, { scopes: ['*'] }), 404, {
      code: 'resource_missing',
    });
    expectError(await call('POST', `/v1/programs/${b.id}/api_keys/${bKey.id}/revoke`, aKey.headers), 404, {
      code: 'resource_missing',
    });
    expectError(await call('POST', `/v1/programs/${a.id}/api_keys/${bKey.id}/revoke`, aKey.headers), 404, {
      code: 'resource_missing',
    });
    expect(await counts()).toEqual(before);
    expect((await call('GET', `/v1/programs/${b.id}`, bKey.headers)).statusCode).toBe(200);
  });

  it('lists only its own programme', async () => {
    const list = await call('GET', '/v1/programs', aKey.headers);
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ object: 'list', url: '/v1/programs', has_more: false, data: [a] });
    const listB = await call('GET', '/v1/programs?limit=100', bKey.headers);
    expect(listB.json<ListJson<ProgramJson>>().data).toEqual([b]);
  });

  it("never shows another programme's events", async () => {
    const all = await call('GET', '/v1/events?type=program.created&limit=100', api.operatorHeaders);
    const created = all.json<ListJson<EventJson>>().data;
    const bEvent = created.find((event) => event.program_id === b.id);
    expect(bEvent).toBeDefined();
    expect(created.find((event) => event.program_id === a.id)).toBeDefined();

    const own = await call('GET', '/v1/events?limit=100', aKey.headers);
    expect(own.statusCode).toBe(200);
    const events = own.json<ListJson<EventJson>>().data;
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((event) => event.program_id === a.id)).toBe(true);
    expect(events.map((event) => event.type)).toContain('program.created');
    expect(own.body).not.toContain(b.id);

    expectError(await call('GET', `/v1/events/${bEvent?.id ?? ''}`, aKey.headers), 404, {
      code: 'resource_missing',
    });
    expect((await call('GET', `/v1/events/${bEvent?.id ?? ''}`, bKey.headers)).statusCode).toBe(200);
  });

  it('keeps each programme its own Idempotency-Key space', async () => {
    const headers = { 'idempotency-key': 'same-key-in-two-programmes' };
    const fromA = await call(
      'POST',
      `/v1/programs/${a.id}/api_keys`,
      { ...aKey.headers, ...headers },
      {
        scopes: ['cards:read'],
      },
    );
    const fromB = await call(
      'POST',
      `/v1/programs/${b.id}/api_keys`,
      { ...bKey.headers, ...headers },
      {
        scopes: ['cards:read'],
      },
    );
    expect(fromA.statusCode).toBe(201);
    expect(fromB.statusCode).toBe(201);
    expect(fromB.headers['idempotent-replayed']).toBeUndefined();
    expect(fromA.json<ApiKeyJson>().program_id).toBe(a.id);
    expect(fromB.json<ApiKeyJson>().program_id).toBe(b.id);
    secrets.push(fromA.json<ApiKeyJson>().secret ?? '', fromB.json<ApiKeyJson>().secret ?? '');
  });
});

describe('scopes', () => {
  let program: ProgramJson;
  beforeAll(async () => {
    program = await createProgram();
  });

  it('needs programs:read to see the programme and api_keys:write to make a key', async () => {
    const cardsOnly = await createKey(program.id, ['cards:read']);
    for (const [method, url] of [
      ['GET', `/v1/programs/${program.id}`],
      ['GET', '/v1/programs'],
      ['GET', `/v1/programs/${program.id}/api_keys`],
      ['POST', `/v1/programs/${program.id}/api_keys`],
      ['POST', `/v1/programs/${program.id}/api_keys/${cardsOnly.id}/revoke`],
      ['GET', '/v1/events'],
    ] as const) {
      const response = await call(
        method,
        url,
        cardsOnly.headers,
        method === 'POST' ? { scopes: ['*'] } : undefined,
      );
      expectError(response, 403, { type: 'permission_error', code: 'scope_missing' });
    }
    const programsRead = await createKey(program.id, ['programs:read']);
    expect((await call('GET', `/v1/programs/${program.id}`, programsRead.headers)).json()).toEqual(program);
    expectError(await call('GET', `/v1/programs/${program.id}/api_keys`, programsRead.headers), 403, {
      code: 'scope_missing',
    });
    const eventsRead = await createKey(program.id, ['events:read']);
    expect((await call('GET', '/v1/events', eventsRead.headers)).statusCode).toBe(200);
  });

  it('never lets a programme key create or change a programme', async () => {
    const star = await createKey(program.id, ['*']);
    const before = await counts();
    expectError(await call('POST', '/v1/programs', star.headers, programBody()), 403, {
      type: 'permission_error',
      code: 'forbidden',
    });
    expectError(await call('PATCH', `/v1/programs/${program.id}`, star.headers, { name: 'Mine now' }), 403, {
      code: 'forbidden',
    });
    expectError(
      await call('PATCH', `/v1/programs/${program.id}`, star.headers, { status: 'suspended' }),
      403,
      {
        code: 'forbidden',
      },
    );
    expect(await counts()).toEqual(before);
  });

  it('lets a key grant only what it holds', async () => {
    const writer = await createKey(program.id, ['api_keys:write']);
    for (const scopes of [['*'], ['*:read'], ['cards:read'], ['api_keys:read', 'cards:reveal']]) {
      const before = await counts();
      const response = await call('POST', `/v1/programs/${program.id}/api_keys`, writer.headers, { scopes });
      expectError(response, 400, { code: 'scope_not_grantable', param: 'scopes' });
      expect(await counts()).toEqual(before);
    }
    const reader = await createKey(program.id, ['api_keys:read'], writer.headers);
    expect(reader.scopes).toEqual(['api_keys:read']);
    expect((await auditOf(program.id)).at(-1)).toMatchObject({
      action: 'api_key.created',
      actor_type: 'api_key',
      actor_id: writer.id,
    });
    expect((await call('GET', `/v1/programs/${program.id}/api_keys`, reader.headers)).statusCode).toBe(200);
    expectError(
      await call('POST', `/v1/programs/${program.id}/api_keys`, reader.headers, {
        scopes: ['api_keys:read'],
      }),
      403,
      {
        code: 'scope_missing',
      },
    );
    // Write implies read, on the key's own resource.
    expect((await call('GET', `/v1/programs/${program.id}/api_keys`, writer.headers)).statusCode).toBe(200);
    await createKey(program.id, ['api_keys:write'], writer.headers);

    const broad = await createKey(program.id, ['*:read', 'api_keys:write']);
    await createKey(program.id, ['*:read'], broad.headers);
    await createKey(program.id, ['cards:read', 'events:read'], broad.headers);
    for (const scopes of [['cards:write'], ['cards:reveal'], ['*']]) {
      expectError(await call('POST', `/v1/programs/${program.id}/api_keys`, broad.headers, { scopes }), 400, {
        code: 'scope_not_grantable',
      });
    }
    const star = await createKey(program.id, ['*']);
    await createKey(program.id, ['*'], star.headers);
    await createKey(program.id, ['cards:reveal'], star.headers);
  });

  it('lets a key revoke only keys it could have granted', async () => {
    const writer = await createKey(program.id, ['api_keys:write']);
    const star = await createKey(program.id, ['*']);
    const narrow = await createKey(program.id, ['api_keys:read'], writer.headers);
    expectError(
      await call('POST', `/v1/programs/${program.id}/api_keys/${star.id}/revoke`, writer.headers),
      400,
      { code: 'scope_not_grantable' },
    );
    expect((await call('GET', `/v1/programs/${program.id}`, star.headers)).statusCode).toBe(200);
    const revoked = await call(
      'POST',
      `/v1/programs/${program.id}/api_keys/${narrow.id}/revoke`,
      writer.headers,
    );
    expect(revoked.statusCode).toBe(200);
  });

  it('grants every read with *:read, and no write', async () => {
    const allRead = await createKey(program.id, ['*:read']);
    expect((await call('GET', `/v1/programs/${program.id}`, allRead.headers)).statusCode).toBe(200);
    expect((await call('GET', '/v1/programs', allRead.headers)).statusCode).toBe(200);
    expect((await call('GET', `/v1/programs/${program.id}/api_keys`, allRead.headers)).statusCode).toBe(200);
    expect((await call('GET', '/v1/events', allRead.headers)).statusCode).toBe(200);
    const before = await counts();
    expectError(
      await call('POST', `/v1/programs/${program.id}/api_keys`, allRead.headers, { scopes: ['cards:read'] }),
      403,
      {
        code: 'scope_missing',
      },
    );
    expectError(
      await call('POST', `/v1/programs/${program.id}/api_keys/${allRead.id}/revoke`, allRead.headers),
      403,
      {
        code: 'scope_missing',
      },
    );
    expect(await counts()).toEqual(before);
  });
});

describe('idempotency', () => {
  it('replays a programme created twice under one Idempotency-Key, and creates one', async () => {
    const headers = { ...api.operatorHeaders, 'idempotency-key': 'create-programme-once' };
    const body = programBody({ name: 'Once only' });
    const before = await counts();
    const first = await call('POST', '/v1/programs', headers, body);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    api.clock.advance(1_000);
    const second = await call('POST', '/v1/programs', headers, { ...body });
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
    const { rows } = await api.db.query<{ id: string }>(`SELECT id FROM programs WHERE name = 'Once only'`);
    expect(rows.map((row) => row.id)).toEqual([first.json<ProgramJson>().id]);
    expect(await counts()).toEqual({
      ...before,
      programs: before.programs + 1,
      vault_cvk_pairs: before.vault_cvk_pairs + 1,
      ledger_accounts: before.ledger_accounts + 8,
      events: before.events + 1,
      audit_log: before.audit_log + 2,
    });

    const after = await counts();
    const reused = await call('POST', '/v1/programs', headers, { ...body, name: 'Another' });
    expectError(reused, 409, { type: 'idempotency_error', code: 'idempotency_key_reused' });
    expect(await counts()).toEqual(after);
  });

  it('replays a refusal', async () => {
    const headers = { ...api.operatorHeaders, 'idempotency-key': 'refused-programme' };
    const body = programBody({ region: 'us' });
    const first = await call('POST', '/v1/programs', headers, body);
    expectError(first, 400, { code: 'region_unavailable', param: 'region' });
    const second = await call('POST', '/v1/programs', headers, body);
    expect(second.statusCode).toBe(400);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
  });

  it('replays a key created twice without showing its secret again', async () => {
    const program = await createProgram();
    const headers = { ...api.operatorHeaders, 'idempotency-key': 'create-key-once' };
    const first = await call('POST', `/v1/programs/${program.id}/api_keys`, headers, {
      scopes: ['cards:read'],
    });
    expect(first.statusCode).toBe(201);
    const created = first.json<ApiKeyJson>();
    secrets.push(created.secret ?? '');
    expect(created.secret).toMatch(/^sk_test_/);
    const second = await call('POST', `/v1/programs/${program.id}/api_keys`, headers, {
      scopes: ['cards:read'],
    });
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    const { secret: _secret, ...withoutSecret } = created;
    expect(second.json()).toEqual(withoutSecret);
    const { rows } = await api.db.query('SELECT id FROM api_keys WHERE program_id = $1', [program.id]);
    expect(rows).toHaveLength(1);
  });
});

describe('secrets at rest', () => {
  it('stores no secret in the clear: only its SHA-256', async () => {
    expect(secrets.length).toBeGreaterThan(20);
    for (const secret of secrets) expect(secret).toMatch(/^sk_(test|live)_/);

    const hashes = await api.db.query<{ key_hash: Uint8Array }>('SELECT key_hash FROM api_keys');
    const stored = hashes.rows.map((row) => Buffer.from(row.key_hash));
    for (const secret of secrets) {
      const digest = createHash('sha256').update(secret, 'utf8').digest();
      expect(stored.some((hash) => hash.equals(Buffer.from(secret, 'utf8')))).toBe(false);
      expect(stored.some((hash) => hash.equals(digest))).toBe(true);
    }

    for (const table of ['api_keys', 'idempotency_keys', 'audit_log', 'events']) {
      const { rows } = await api.db.query<{ row: string }>(`SELECT t::text AS row FROM ${table} t`);
      expect(rows.length).toBeGreaterThan(0);
      for (const { row } of rows) {
        for (const secret of secrets) expect(row.includes(secret), `${table} holds a secret`).toBe(false);
      }
    }
  });
});
