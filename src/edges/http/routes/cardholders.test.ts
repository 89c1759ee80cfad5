import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_OPERATOR_KEY, openTestApi, type TestApi } from '../../../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../../../test/support/programs.js';
import { createApiKey } from '../../../issuing/api-keys.js';
import { apiKeyAuthenticator } from '../../../issuing/authenticator.js';
import { createLogger } from '../../../platform/logger.js';
import { createMetrics } from '../../../platform/metrics.js';
import { ciphertextKey } from '../../../vault/ciphertext.js';
import { ROTATION_GRACE_MS } from '../../../vault/keyring.js';
import { reencrypt } from '../../../vault/reencrypt.js';
import { cardholderPiiAad } from '../../../issuing/cardholders.js';
import { encryptedColumns } from '../../cli/vault.js';
import { buildApi } from '../api.js';

let api: TestApi;
let alpha: TestProgram;
let beta: TestProgram;
let keyCounter = 0;

beforeAll(async () => {
  api = await openTestApi();
  alpha = await createTestProgram(api, { currencies: ['HKD', 'USD'] });
  beta = await createTestProgram(api, { currencies: ['HKD'] });
});
afterAll(async () => api.close());

type Headers = Readonly<Record<string, string>>;

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

function createCardholder(body: unknown, headers: Headers = alpha.headers, key?: string) {
  return send('POST', '/v1/cardholders', withKey(headers, key), body);
}

function nextKey(): string {
  keyCounter += 1;
  return `test-key-${keyCounter}`;
}

async function count(table: string, where = 'TRUE', params: string[] = []): Promise<number> {
  const { rows } = await api.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`,
    params,
  );
  return rows[0]?.n ?? 0;
}

const person = {
  name: 'Chan Tai Man',
  email: 'tai.man.chan@example.hk',
  phone_number: '+85291234567',
  date_of_birth: '1990-05-17',
  nationality: 'HK',
  occupation: 'Chartered accountant',
  address: { line1: '1 Queen’s Road Central', city: 'Hong Kong', country: 'HK' },
  ip_address: '203.0.113.7',
  device_id: 'device-abc-123',
};

describe('POST /v1/cardholders', () => {
  it('creates a cardholder with every field, unverified and active, and emits a thin event', async () => {
    const response = await createCardholder({
      ...person,
      address: { ...person.address, line2: 'Floor 20', postal_code: '000000' },
      spending_controls: {
        spending_limits: [{ amount: 500_00, interval: 'daily' }],
        blocked_categories: ['7995', '5933', '7995'],
      },
      metadata: { customer_ref: 'c-1' },
    });
    expect(response.statusCode).toBe(201);
    const cardholder = response.json<{ id: string } & Record<string, unknown>>();
    expect(cardholder).toMatchObject({
      object: 'cardholder',
      program_id: alpha.program.id,
      name: person.name,
      email: person.email,
      phone_number: person.phone_number,
      date_of_birth: person.date_of_birth,
      nationality: 'HK',
      occupation: 'Chartered accountant',
      address: {
        line1: person.address.line1,
        line2: 'Floor 20',
        city: 'Hong Kong',
        state: null,
        postal_code: '000000',
        country: 'HK',
      },
      ip_address: '203.0.113.7',
      device_id: 'device-abc-123',
      kyc_status: 'unverified',
      status: 'active',
      spending_controls: {
        spending_limits: [{ amount: 500_00, interval: 'daily' }],
        blocked_categories: ['5933', '7995'],
        allowed_categories: [],
      },
      metadata: { customer_ref: 'c-1' },
    });
    expect(cardholder.id).toMatch(/^chd_/);

    const events = await api.db.query<{ data: { object: Record<string, unknown> }; program_id: string }>(
      `SELECT data, program_id FROM events WHERE type = 'cardholder.created' AND data->'object'->>'id' = $1`,
      [cardholder.id],
    );
    expect(events.rows).toHaveLength(1);
    const object = events.rows[0]?.data.object ?? {};
    expect(object).toMatchObject({ id: cardholder.id, status: 'active', kyc_status: 'unverified' });
    for (const field of [
      'name',
      'email',
      'phone_number',
      'date_of_birth',
      'occupation',
      'address',
      'ip_address',
      'device_id',
    ]) {
      expect(object).not.toHaveProperty(field);
    }
    expect(JSON.stringify(object)).not.toContain('accountant');
    const audit = await api.db.query<{ details: Record<string, unknown>; program_id: string }>(
      `SELECT details, program_id FROM audit_log WHERE action = 'cardholder.created' AND target_id = $1`,
      [cardholder.id],
    );
    expect(audit.rows[0]?.program_id).toBe(alpha.program.id);
    expect(JSON.stringify(audit.rows[0]?.details)).not.toMatch(/Chan|example|91234567|accountant/);
  });

  it('needs only a name; absent personal fields are null', async () => {
    const response = await createCardholder({ name: 'Lee Siu Ming' });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({
      email: null,
      phone_number: null,
      occupation: null,
      address: null,
      ip_address: null,
      spending_controls: { spending_limits: [], allowed_categories: [] },
      metadata: {},
    });
  });

  it('canonicalises an IPv6 onboarding address', async () => {
    const response = await createCardholder({ name: 'V6 Person', ip_address: '2001:DB8:0:0:0:0:0:1' });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ ip_address: '2001:db8::1' });
  });

  const refused: [label: string, body: Record<string, unknown>, param: string][] = [
    ['an unknown field', { ...person, favourite_colour: 'red' }, 'favourite_colour'],
    ['a missing name', { email: person.email }, 'name'],
    ['a bad email', { ...person, email: 'not-an-email' }, 'email'],
    ['a bad phone number', { ...person, phone_number: '91234567' }, 'phone_number'],
    ['a phone number too long', { ...person, phone_number: '+8529123456789012' }, 'phone_number'],
    ['a future date of birth', { ...person, date_of_birth: '2030-01-01' }, 'date_of_birth'],
    ['a date of birth of today', { ...person, date_of_birth: '2026-03-01' }, 'date_of_birth'],
    ['a date of birth that does not exist', { ...person, date_of_birth: '1990-02-30' }, 'date_of_birth'],
    ['a date of birth written otherwise', { ...person, date_of_birth: '17/05/1990' }, 'date_of_birth'],
    ['a nationality that is no country', { ...person, nationality: 'XX' }, 'nationality'],
    ['a lower-case nationality', { ...person, nationality: 'hk' }, 'nationality'],
    ['an empty occupation', { ...person, occupation: '' }, 'occupation'],
    ['an occupation too long', { ...person, occupation: 'Chartered accountant '.repeat(10) }, 'occupation'],
    ['an occupation that is not text', { ...person, occupation: 42 }, 'occupation'],
    [
      'an address country that is no country',
      { ...person, address: { ...person.address, country: 'ZZ' } },
      'address[country]',
    ],
    ['an address without a city', { ...person, address: { line1: 'x', country: 'HK' } }, 'address[city]'],
    ['an unknown address field', { ...person, address: { ...person.address, floor: '2' } }, 'address[floor]'],
    ['a bad IP address', { ...person, ip_address: '300.1.1.1' }, 'ip_address'],
    ['an IPv6 zone id', { ...person, ip_address: 'fe80::1%eth0' }, 'ip_address'],
    [
      'a bad MCC in spending controls',
      { ...person, spending_controls: { allowed_categories: ['12a4'] } },
      'spending_controls[allowed_categories][0]',
    ],
    [
      'a bad limit interval',
      { ...person, spending_controls: { spending_limits: [{ amount: 100, interval: 'hourly' }] } },
      'spending_controls[spending_limits][0][interval]',
    ],
    [
      'a limit amount that is not an integer',
      { ...person, spending_controls: { spending_limits: [{ amount: 10.5, interval: 'daily' }] } },
      'spending_controls[spending_limits][0][amount]',
    ],
    [
      'a merchant country that is no country',
      { ...person, spending_controls: { blocked_merchant_countries: ['XX'] } },
      'spending_controls[blocked_merchant_countries][0]',
    ],
    [
      'both allowed and blocked categories',
      { ...person, spending_controls: { allowed_categories: ['5411'], blocked_categories: ['7995'] } },
      'spending_controls[blocked_categories]',
    ],
    ['a status that does not exist', { ...person, status: 'closed' }, 'status'],
    ['a kyc_status (read-only)', { ...person, kyc_status: 'verified' }, 'kyc_status'],
    ['metadata that is not a string map', { ...person, metadata: { n: 1 } }, 'metadata[n]'],
  ];
  it.each(refused)(
    'refuses %s with a 400 naming the field, and creates nothing',
    async (_label, body, param) => {
      const before = await count('cardholders');
      const eventsBefore = await count('events');
      const response = await createCardholder(body);
      expect(response.statusCode).toBe(400);
      const error = response.json<{ error: { type: string; param: string; message: string } }>().error;
      expect(error).toMatchObject({ type: 'invalid_request_error', param });
      // Refusals are logged and stored: they never repeat the personal data they refuse.
      expect(error.message).not.toMatch(/example|91234567|1990|Queen|203\.0|accountant/);
      expect(await count('cardholders')).toBe(before);
      expect(await count('events')).toBe(eventsBefore);
    },
  );

  it('is for programme keys with cardholders:write only', async () => {
    const byOperator = await createCardholder(person, api.operatorHeaders);
    expect(byOperator.statusCode).toBe(403);
    const { secret } = await api.db.transaction((tx) =>
      createApiKey(
        tx,
        api.issuing,
        { programId: alpha.program.id, scopes: ['cardholders:read'] },
        { actor: { type: 'system', id: 'test' } },
      ),
    );
    const readOnly = { authorization: `Bearer ${secret}` };
    expect((await createCardholder(person, readOnly)).statusCode).toBe(403);
    expect((await send('GET', '/v1/cardholders', readOnly)).statusCode).toBe(200);
  });

  it('replays the first answer for the same Idempotency-Key and body, and refuses another body with 409', async () => {
    const key = nextKey();
    const before = await count('cardholders');
    const first = await createCardholder(person, alpha.headers, key);
    expect(first.statusCode).toBe(201);
    const again = await createCardholder(person, alpha.headers, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(await count('cardholders')).toBe(before + 1);
    expect(
      await count('events', `type = 'cardholder.created' AND data->'object'->>'id' = $1`, [
        first.json<{ id: string }>().id,
      ]),
    ).toBe(1);

    const other = await createCardholder({ ...person, name: 'Someone Else' }, alpha.headers, key);
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({
      error: { type: 'idempotency_error', code: 'idempotency_key_reused' },
    });
    expect(await count('cardholders')).toBe(before + 1);
  });

  it('replays a refusal for the same key too, without the personal data', async () => {
    const key = nextKey();
    const body = { ...person, phone_number: 'call me' };
    const first = await createCardholder(body, alpha.headers, key);
    const again = await createCardholder(body, alpha.headers, key);
    expect(first.statusCode).toBe(400);
    expect(again.statusCode).toBe(400);
    expect(again.json<{ error: { param: string } }>().error.param).toBe('phone_number');
  });
});

describe('GET and PATCH /v1/cardholders/{id}', () => {
  let id: string;

  beforeAll(async () => {
    const response = await createCardholder({ ...person, email: 'Mixed.Case@Example.HK' });
    id = response.json<{ id: string }>().id;
  });

  it('retrieves a cardholder for its programme and the operator; another programme gets 404', async () => {
    const own = await send('GET', `/v1/cardholders/${id}`, alpha.headers);
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ id, name: person.name, email: 'Mixed.Case@Example.HK' });
    const operator = await send('GET', `/v1/cardholders/${id}`, api.operatorHeaders);
    expect(operator.statusCode).toBe(200);
    expect(operator.json()).toEqual(own.json());
    const other = await send('GET', `/v1/cardholders/${id}`, beta.headers);
    expect(other.statusCode).toBe(404);
    expect(other.json()).toMatchObject({ error: { code: 'resource_missing', param: 'id' } });
    expect(
      (await send('PATCH', `/v1/cardholders/${id}`, beta.headers, { status: 'inactive' })).statusCode,
    ).toBe(404);
  });

  it('answers 404 for an id that does not exist and 400 for one that is not a cardholder id', async () => {
    const missing = await send('GET', '/v1/cardholders/chd_01jzzzzzzzzzzzzzzzzzzzzzzz', alpha.headers);
    expect(missing.statusCode).toBe(404);
    const malformed = await send('GET', '/v1/cardholders/card_01jzzzzzzzzzzzzzzzzzzzzzzz', alpha.headers);
    expect(malformed.statusCode).toBe(400);
  });

  it('updates personal fields, controls, metadata and status; null clears an optional field', async () => {
    api.clock.advance(1000);
    const key = nextKey();
    const body = {
      email: 'new.address@example.hk',
      phone_number: null,
      address: { line1: '2 Nathan Road', city: 'Kowloon', country: 'HK' },
      spending_controls: { allowed_categories: ['5411'] },
      metadata: { tier: 'gold' },
      status: 'inactive',
    };
    const response = await send('PATCH', `/v1/cardholders/${id}`, withKey(alpha.headers, key), body);
    expect(response.statusCode).toBe(200);
    const updated = response.json<{ created: string; updated: string }>();
    expect(updated).toMatchObject({
      id,
      name: person.name,
      email: 'new.address@example.hk',
      phone_number: null,
      date_of_birth: person.date_of_birth,
      address: { line1: '2 Nathan Road', line2: null, city: 'Kowloon', country: 'HK' },
      spending_controls: { allowed_categories: ['5411'], blocked_categories: [] },
      metadata: { tier: 'gold' },
      status: 'inactive',
      kyc_status: 'unverified',
    });
    expect(updated.updated > updated.created).toBe(true);
    const replay = await send('PATCH', `/v1/cardholders/${id}`, withKey(alpha.headers, key), body);
    expect(replay.json()).toEqual(updated);
    expect(await count('events', `type = 'cardholder.updated' AND data->'object'->>'id' = $1`, [id])).toBe(1);

    const reread = await send('GET', `/v1/cardholders/${id}`, alpha.headers);
    expect(reread.json()).toEqual(updated);
  });

  it('sets, changes and clears the occupation, which no event or audit entry carries', async () => {
    const made = await createCardholder({ name: 'Ho Occupation Test' });
    const holder = made.json<{ id: string }>().id;
    const url = `/v1/cardholders/${holder}`;
    const set = await send('PATCH', url, alpha.headers, { occupation: '  Croupier, casino  ' });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ occupation: 'Croupier, casino', name: 'Ho Occupation Test' });
    expect((await send('GET', url, alpha.headers)).json()).toMatchObject({ occupation: 'Croupier, casino' });
    // Another field changed leaves it be; null clears it; blank is none.
    expect((await send('PATCH', url, alpha.headers, { nationality: 'MO' })).json()).toMatchObject({
      occupation: 'Croupier, casino',
      nationality: 'MO',
    });
    const cleared = await send('PATCH', url, alpha.headers, { occupation: null });
    expect(cleared.json()).toMatchObject({ occupation: null, nationality: 'MO' });
    expect((await send('PATCH', url, alpha.headers, { occupation: '   ' })).json()).toMatchObject({
      occupation: null,
    });
    const tooLong = await send('PATCH', url, alpha.headers, { occupation: 'x'.repeat(201) });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json()).toMatchObject({ error: { param: 'occupation' } });
    expect(JSON.stringify(tooLong.json())).not.toContain('xxxx');

    const events = await api.db.query<{ data: unknown }>(
      `SELECT data FROM events WHERE type LIKE 'cardholder.%' AND data->'object'->>'id' = $1`,
      [holder],
    );
    expect(events.rows.length).toBeGreaterThanOrEqual(4);
    for (const row of events.rows) {
      expect(row.data).not.toHaveProperty('object.occupation');
      expect(JSON.stringify(row.data)).not.toContain('Croupier');
    }
    const audit = await api.db.query<{ details: unknown }>(
      'SELECT details FROM audit_log WHERE target_id = $1',
      [holder],
    );
    expect(JSON.stringify(audit.rows)).not.toContain('Croupier');
    expect(JSON.stringify(audit.rows)).toContain('occupation');
  });

  it('reads a document written before cardholders had an occupation as none given', async () => {
    const made = await createCardholder({ name: 'Before Occupation', nationality: 'HK' });
    const holder = made.json<{ id: string }>().id;
    // The document as it was written before the field existed: no `occupation` key at all.
    const earlier = {
      v: 1,
      name: 'Before Occupation',
      email: null,
      phone_number: null,
      date_of_birth: null,
      nationality: 'HK',
      address: null,
      ip_address: null,
      device_id: null,
    };
    await api.db.query('UPDATE cardholders SET pii_encrypted = $1 WHERE id = $2', [
      api.vault.encrypt('pii', Buffer.from(JSON.stringify(earlier), 'utf8'), cardholderPiiAad(holder)),
      holder,
    ]);
    const read = await send('GET', `/v1/cardholders/${holder}`, alpha.headers);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ name: 'Before Occupation', nationality: 'HK', occupation: null });
    const changed = await send('PATCH', `/v1/cardholders/${holder}`, alpha.headers, {
      occupation: 'Teacher',
    });
    expect(changed.json()).toMatchObject({
      name: 'Before Occupation',
      nationality: 'HK',
      occupation: 'Teacher',
    });
  });

  it('leaves the personal data alone when only metadata changes', async () => {
    const before = await api.db.query<{ pii_encrypted: Uint8Array }>(
      'SELECT pii_encrypted FROM cardholders WHERE id = $1',
      [id],
    );
    const response = await send('PATCH', `/v1/cardholders/${id}`, alpha.headers, {
      metadata: { tier: 'silver' },
    });
    expect(response.statusCode).toBe(200);
    const after = await api.db.query<{ pii_encrypted: Uint8Array }>(
      'SELECT pii_encrypted FROM cardholders WHERE id = $1',
      [id],
    );
    expect(Buffer.from(after.rows[0]?.pii_encrypted ?? [])).toEqual(
      Buffer.from(before.rows[0]?.pii_encrypted ?? []),
    );
    expect(response.json()).toMatchObject({ email: 'new.address@example.hk', metadata: { tier: 'silver' } });
  });

  it('lets the operator’s support staff update a cardholder', async () => {
    const response = await send('PATCH', `/v1/cardholders/${id}`, api.operatorHeaders, { status: 'active' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ status: 'active' });
  });

  const refusedChanges: [label: string, body: Record<string, unknown>, param: string][] = [
    ['an empty body', {}, ''],
    ['a bad email', { email: 'nope' }, 'email'],
    ['a future date of birth', { date_of_birth: '2027-01-01' }, 'date_of_birth'],
    ['clearing the name', { name: null }, 'name'],
    ['a kyc_status', { kyc_status: 'verified' }, 'kyc_status'],
    [
      'a bad category',
      { spending_controls: { blocked_categories: ['abc'] } },
      'spending_controls[blocked_categories][0]',
    ],
  ];
  it.each(refusedChanges)('refuses %s and changes nothing', async (_label, body, param) => {
    const before = await send('GET', `/v1/cardholders/${id}`, alpha.headers);
    const response = await send('PATCH', `/v1/cardholders/${id}`, alpha.headers, body);
    expect(response.statusCode).toBe(400);
    const error = response.json<{ error: { param?: string } }>().error;
    expect(error.param ?? '').toBe(param);
    expect((await send('GET', `/v1/cardholders/${id}`, alpha.headers)).json()).toEqual(before.json());
  });
});

describe('GET /v1/cardholders', () => {
  let gamma: TestProgram;
  const made: string[] = [];

  beforeAll(async () => {
    gamma = await createTestProgram(api, { currencies: ['HKD'] });
    for (const [index, email] of ['one@example.com', 'two@example.com', 'one@example.com'].entries()) {
      api.clock.advance(60_000);
      const response = await createCardholder({ name: `Person ${index}`, email }, gamma.headers);
      made.push(response.json<{ id: string }>().id);
    }
  });

  it('lists the programme’s own cardholders, newest first, with cursor pagination', async () => {
    const first = await send('GET', '/v1/cardholders?limit=2', gamma.headers);
    expect(first.statusCode).toBe(200);
    const page = first.json<{ has_more: boolean; data: { id: string; name: string }[] }>();
    expect(page.data.map((c) => c.id)).toEqual([made[2], made[1]]);
    expect(page.has_more).toBe(true);
    expect(page.data[0]?.name).toBe('Person 2');
    const next = await send('GET', `/v1/cardholders?limit=2&starting_after=${made[1] ?? ''}`, gamma.headers);
    const rest = next.json<{ has_more: boolean; data: { id: string }[] }>();
    expect(rest.data.map((c) => c.id)).toEqual([made[0]]);
    expect(rest.has_more).toBe(false);
  });

  it('filters by email through the blind index, ignoring case', async () => {
    const response = await send('GET', '/v1/cardholders?email=ONE@example.com', gamma.headers);
    const list = response.json<{ data: { id: string; email: string }[] }>();
    expect(list.data.map((c) => c.id)).toEqual([made[2], made[0]]);
    const none = await send('GET', '/v1/cardholders?email=three@example.com', gamma.headers);
    expect(none.json<{ data: unknown[] }>().data).toEqual([]);
  });

  it('finds a cardholder by the email it was changed to, not the one before', async () => {
    const old = await send(
      'GET',
      `/v1/cardholders?email=${encodeURIComponent('mixed.case@example.hk')}`,
      alpha.headers,
    );
    expect(old.json<{ data: unknown[] }>().data).toEqual([]);
    const current = await send(
      'GET',
      `/v1/cardholders?email=${encodeURIComponent('NEW.address@example.hk')}`,
      alpha.headers,
    );
    expect(current.json<{ data: unknown[] }>().data).toHaveLength(1);
  });

  it('filters by creation time', async () => {
    const second = await send('GET', `/v1/cardholders/${made[1] ?? ''}`, gamma.headers);
    const created = second.json<{ created: string }>().created;
    const since = await send(
      'GET',
      `/v1/cardholders?created[gte]=${encodeURIComponent(created)}`,
      gamma.headers,
    );
    expect(since.json<{ data: { id: string }[] }>().data.map((c) => c.id)).toEqual([made[2], made[1]]);
    const until = await send(
      'GET',
      `/v1/cardholders?created[lte]=${encodeURIComponent(created)}`,
      gamma.headers,
    );
    expect(until.json<{ data: { id: string }[] }>().data.map((c) => c.id)).toEqual([made[1], made[0]]);
    const bad = await send('GET', '/v1/cardholders?created[gte]=yesterday', gamma.headers);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { param: 'created[gte]' } });
  });

  it('shows another programme nothing, and the operator everything or one programme', async () => {
    const other = await send('GET', '/v1/cardholders?email=one@example.com', beta.headers);
    expect(other.json<{ data: unknown[] }>().data).toEqual([]);
    const sneaky = await send('GET', `/v1/cardholders?program_id=${gamma.program.id}`, beta.headers);
    expect(sneaky.json<{ data: unknown[] }>().data).toEqual([]);
    const operator = await send(
      'GET',
      `/v1/cardholders?program_id=${gamma.program.id}&limit=100`,
      api.operatorHeaders,
    );
    expect(operator.json<{ data: { id: string }[] }>().data.map((c) => c.id)).toEqual([...made].reverse());
  });
});

describe('personal data in logs', () => {
  it('never writes a cardholder’s name, email or phone number, even at info level', async () => {
    const lines: string[] = [];
    const logged = await buildApi(
      {
        db: api.db,
        clock: api.clock,
        ids: api.ids,
        logger: createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } }),
        metrics: createMetrics({ collectDefaults: false }),
        authenticator: apiKeyAuthenticator(api.db, TEST_OPERATOR_KEY),
      },
      api.issuing,
    );
    await logged.ready();
    try {
      const body = {
        name: 'Logged Person Quillon',
        email: 'quillon.logged@example.org',
        phone_number: '+85261234999',
        occupation: 'Quillon herder',
      };
      const inject = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
        logged.inject({ method, url, headers: alpha.headers, ...(payload === undefined ? {} : { payload }) });
      const created = await inject('POST', '/v1/cardholders', body);
      expect(created.statusCode).toBe(201);
      const id = created.json<{ id: string }>().id;
      expect(
        (await inject('GET', `/v1/cardholders?email=${encodeURIComponent(body.email)}`)).statusCode,
      ).toBe(200);
      expect((await inject('GET', `/v1/cardholders/${id}`)).statusCode).toBe(200);
      expect((await inject('PATCH', `/v1/cardholders/${id}`, { phone_number: 'Quillon' })).statusCode).toBe(
        400,
      );
      expect(
        (await inject('PATCH', `/v1/cardholders/${id}`, { occupation: 'Quillon '.repeat(30) })).statusCode,
      ).toBe(400);
      expect(
        (await inject('POST', '/v1/cardholders', { ...body, email: 'quillon at example' })).statusCode,
      ).toBe(400);
      const text = lines.join('').toLowerCase();
      expect(text).toContain('incoming request');
      expect(text).toContain('/v1/cardholders?email=[redacted]');
      for (const needle of ['quillon', '61234999', 'example.org']) expect(text).not.toContain(needle);
    } finally {
      await logged.close();
    }
  });
});

describe('personal data at rest', () => {
  it('is in no table in the clear: not the name, the email or the phone number', async () => {
    const secretPerson = {
      name: 'Wong Ka Yan Zephyrine',
      email: 'zephyrine.wong@secret-mail.example',
      phone_number: '+85298765432',
      date_of_birth: '1985-11-23',
      nationality: 'GB',
      occupation: 'Zephyrine lighthouse keeper',
      address: { line1: '88 Hidden Lane', city: 'Sai Kung', country: 'HK' },
      ip_address: '198.51.100.77',
      device_id: 'zephyrine-phone-1',
    };
    const created = await createCardholder(secretPerson, alpha.headers, nextKey());
    expect(created.statusCode).toBe(201);
    const id = created.json<{ id: string }>().id;
    const patched = await send('PATCH', `/v1/cardholders/${id}`, withKey(alpha.headers, nextKey()), {
      address: { line1: '89 Hidden Lane', city: 'Sai Kung', country: 'HK' },
    });
    expect(patched.statusCode).toBe(200);
    // A refusal stored under an idempotency key, for a body that carries the personal data.
    await createCardholder({ ...secretPerson, date_of_birth: '2099-01-01' }, alpha.headers, nextKey());

    const tables = await api.db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    expect(tables.rows.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['cardholders', 'events', 'idempotency_keys']),
    );
    const needles = [
      secretPerson.name,
      'Zephyrine',
      secretPerson.email,
      'zephyrine.wong',
      secretPerson.phone_number,
      '98765432',
      'Hidden Lane',
      '198.51.100.77',
      'zephyrine-phone',
      'lighthouse keeper',
    ].map((needle) => needle.toLowerCase());
    for (const { table_name: table } of tables.rows) {
      const { rows } = await api.db.query<{ text: string }>(`SELECT t::text AS text FROM "${table}" t`);
      for (const row of rows) {
        const text = row.text.toLowerCase();
        for (const needle of needles) {
          expect(text.includes(needle), `${table} holds ${needle}`).toBe(false);
        }
      }
    }
    // And yet it reads back whole.
    const read = await send('GET', `/v1/cardholders/${id}`, alpha.headers);
    expect(read.json()).toMatchObject({ ...secretPerson, address: { line1: '89 Hidden Lane' } });
  });

  it('binds each ciphertext to its row: moved to another cardholder, it does not open', async () => {
    const a = (await createCardholder({ name: 'Row A' })).json<{ id: string }>().id;
    const b = (await createCardholder({ name: 'Row B' })).json<{ id: string }>().id;
    const saved = await api.db.query<{ pii_encrypted: Uint8Array }>(
      'SELECT pii_encrypted FROM cardholders WHERE id = $1',
      [b],
    );
    const own = saved.rows[0]?.pii_encrypted ?? new Uint8Array();
    await api.db.query(
      'UPDATE cardholders SET pii_encrypted = (SELECT pii_encrypted FROM cardholders WHERE id = $1) WHERE id = $2',
      [a, b],
    );
    const response = await send('GET', `/v1/cardholders/${b}`, alpha.headers);
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('Row A');
    // Put B's own ciphertext back (A's was never changed), so later tests see a sound table.
    await api.db.query('UPDATE cardholders SET pii_encrypted = $1 WHERE id = $2', [own, b]);
    expect((await send('GET', `/v1/cardholders/${b}`, alpha.headers)).json()).toMatchObject({
      name: 'Row B',
    });
  });

  // Last in the file: it rotates the pii key of the shared keyring.
  it('rotates with the pii key: re-encrypted, still readable, and replays survive the old key’s retirement', async () => {
    const key = nextKey();
    const first = await createCardholder({ ...person, name: 'Rotated Person' }, alpha.headers, key);
    expect(first.statusCode).toBe(201);
    const id = first.json<{ id: string }>().id;

    const rotation = await api.vault.rotate('pii');
    const registry = encryptedColumns();
    const results = await reencrypt(api.db, api.vault, registry, { purposes: ['pii'] });
    expect(results.find((result) => result.table === 'cardholders')?.rewritten).toBeGreaterThan(0);
    const rows = await api.db.query<{ pii_encrypted: Uint8Array }>('SELECT pii_encrypted FROM cardholders');
    expect(rows.rows.every((row) => ciphertextKey(row.pii_encrypted).version === rotation.version)).toBe(
      true,
    );
    const read = await send('GET', `/v1/cardholders/${id}`, alpha.headers);
    expect(read.json()).toEqual(first.json());

    // The stored answer is still sealed under the previous version, which decrypts until it is retired.
    expect(
      (await createCardholder({ ...person, name: 'Rotated Person' }, alpha.headers, key)).json(),
    ).toEqual(first.json());

    await send('PATCH', `/v1/cardholders/${id}`, alpha.headers, { metadata: { after: 'rotation' } });
    api.clock.advance(ROTATION_GRACE_MS + 1);
    await api.vault.retire(registry, 'pii', rotation.previousVersion);
    // Its key retired, the sealed answer no longer opens: the replay answers the cardholder as it is now.
    const replay = await createCardholder({ ...person, name: 'Rotated Person' }, alpha.headers, key);
    expect(replay.statusCode).toBe(201);
    expect(replay.json()).toMatchObject({ id, name: 'Rotated Person', metadata: { after: 'rotation' } });
  });
});
