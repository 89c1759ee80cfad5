import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import { ENV_OPERATOR_KEY_ID } from '../../../issuing/authenticator.js';

interface OperatorUserJson {
  readonly id: string;
  readonly object: 'operator_user';
  readonly name: string;
  readonly email: string;
  readonly role: 'admin' | 'analyst' | 'support';
  readonly created: string;
  readonly disabled: string | null;
  readonly secret?: string;
}

interface ListJson<T> {
  readonly object: 'list';
  readonly url: string;
  readonly has_more: boolean;
  readonly data: T[];
}

interface AuditRow {
  readonly action: string;
  readonly actor_type: string;
  readonly actor_id: string;
  readonly program_id: string | null;
  readonly target_type: string | null;
  readonly target_id: string | null;
  readonly request_id: string | null;
  readonly details: Record<string, unknown>;
}

type Headers = Readonly<Record<string, string>>;
type User = OperatorUserJson & { readonly secret: string; readonly headers: Headers };

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

function withSecret(response: Reply, status = 201): User {
  expect(response.statusCode, response.body).toBe(status);
  const user = response.json<OperatorUserJson>();
  if (user.secret === undefined) throw new Error('the answer carries no secret');
  secrets.push(user.secret);
  return { ...user, secret: user.secret, headers: bearer(user.secret) };
}

let userCount = 0;
async function createUser(
  role: OperatorUserJson['role'],
  headers: Headers = api.operatorHeaders,
  email?: string,
): Promise<User> {
  userCount += 1;
  const response = await call('POST', '/v1/operator_users', headers, {
    name: `${role} ${userCount}`,
    email: email ?? `${role}.${userCount}@lantau.example`,
    role,
  });
  return withSecret(response);
}

let programCount = 0;
function programBody(): Record<string, unknown> {
  programCount += 1;
  return {
    name: `Programme ${programCount}`,
    bin: '45678901',
    currencies: ['HKD'],
    region: 'hk',
    mode: 'sandbox',
  };
}

async function createProgram(headers: Headers = api.operatorHeaders): Promise<{ id: string }> {
  const response = await call('POST', '/v1/programs', headers, programBody());
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string }>();
}

async function audit(where: string, params: string[]): Promise<AuditRow[]> {
  const { rows } = await api.db.query<AuditRow>(
    `SELECT action, actor_type, actor_id, program_id, target_type, target_id, request_id, details
     FROM audit_log WHERE ${where} ORDER BY seq`,
    params,
  );
  return rows;
}

async function count(table: 'operator_users' | 'api_keys' | 'programs' | 'audit_log'): Promise<number> {
  const { rows } = await api.db.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${table}`);
  return rows[0]?.count ?? 0;
}

describe('operator users', () => {
  let admin: User;

  beforeAll(async () => {
    admin = await createUser('admin');
  });

  it('creates a user with a secret shown once, and audits it without personal data', async () => {
    api.clock.advance(1_000);
    const response = await call('POST', '/v1/operator_users', api.operatorHeaders, {
      name: 'Wing Chan',
      email: 'Wing.Chan@Lantau.Example',
      role: 'support',
    });
    const user = withSecret(response);
    expect(user.secret).toMatch(/^lantau_opu_[A-Za-z0-9_-]{43}$/);
    expect(user).toMatchObject({
      id: expect.stringMatching(/^opu_[0-9a-hjkmnp-tv-z]{26}$/) as string,
      object: 'operator_user',
      name: 'Wing Chan',
      email: 'wing.chan@lantau.example',
      role: 'support',
      created: api.clock.now().toISOString(),
      disabled: null,
    });
    const entries = await audit('target_id = $1', [user.id]);
    expect(entries).toEqual([
      {
        action: 'operator_user.created',
        actor_type: 'operator',
        actor_id: ENV_OPERATOR_KEY_ID,
        program_id: null,
        target_type: 'operator_user',
        target_id: user.id,
        request_id: response.headers['request-id'],
        details: { role: 'support' },
      },
    ]);
    expect(JSON.stringify(entries)).not.toMatch(/wing/i);

    // Neither the list nor the user's page shows the secret again.
    const { secret: _secret, headers: _headers, ...shown } = user;
    const one = await call('GET', `/v1/operator_users/${user.id}`, api.operatorHeaders);
    expect(one.json()).toEqual(shown);
    const list = await call('GET', '/v1/operator_users?limit=100', api.operatorHeaders);
    expect(list.statusCode).toBe(200);
    const page = list.json<ListJson<OperatorUserJson>>();
    expect(page).toMatchObject({ object: 'list', url: '/v1/operator_users', has_more: false });
    expect(page.data.find((item) => item.id === user.id)).toEqual(shown);
    for (const secret of secrets) expect(list.body).not.toContain(secret);
    expectError(await call('GET', `/v1/operator_users/${api.ids('opu')}`, api.operatorHeaders), 404, {
      code: 'resource_missing',
    });
  });

  it('lets an admin user act, and names them in the audit log', async () => {
    expect((await call('GET', '/v1/operator_users', admin.headers)).statusCode).toBe(200);
    const response = await call('POST', '/v1/programs', admin.headers, programBody());
    expect(response.statusCode, response.body).toBe(201);
    const program = response.json<{ id: string }>();
    const byUser = { actor_type: 'user', actor_id: admin.id, request_id: response.headers['request-id'] };
    expect(await audit('program_id = $1', [program.id])).toEqual([
      expect.objectContaining({ action: 'program.created', ...byUser }),
      expect.objectContaining({ action: 'cvk_pair.created', ...byUser }),
    ]);

    const key = await call('POST', `/v1/programs/${program.id}/api_keys`, admin.headers, { scopes: ['*'] });
    expect(key.statusCode).toBe(201);
    const { id: keyId, secret } = key.json<{ id: string; secret: string }>();
    secrets.push(secret);
    expect((await audit('target_id = $1', [keyId]))[0]).toMatchObject({
      action: 'api_key.created',
      actor_type: 'user',
      actor_id: admin.id,
    });
    const created = await api.db.query<{ created_by: string }>(
      'SELECT created_by FROM api_keys WHERE id = $1',
      [keyId],
    );
    expect(created.rows[0]?.created_by).toBe(admin.id);

    const patched = await call('PATCH', `/v1/programs/${program.id}`, admin.headers, {
      name: 'Renamed by Ada',
    });
    expect(patched.statusCode).toBe(200);
    expect((await audit('program_id = $1', [program.id])).at(-1)).toMatchObject({
      action: 'program.updated',
      actor_type: 'user',
      actor_id: admin.id,
    });

    const analyst = await createUser('analyst', admin.headers);
    expect((await audit('target_id = $1', [analyst.id]))[0]).toMatchObject({
      action: 'operator_user.created',
      actor_type: 'user',
      actor_id: admin.id,
    });
  });

  it('lets analysts and support read, but not create or change programmes, keys or users', async () => {
    const program = await createProgram();
    for (const role of ['analyst', 'support'] as const) {
      const user = await createUser(role);
      expect((await call('GET', '/v1/programs', user.headers)).statusCode).toBe(200);
      expect((await call('GET', `/v1/programs/${program.id}`, user.headers)).statusCode).toBe(200);
      expect((await call('GET', `/v1/programs/${program.id}/api_keys`, user.headers)).statusCode).toBe(200);
      expect((await call('GET', '/v1/events', user.headers)).statusCode).toBe(200);
      const before = await Promise.all([count('programs'), count('api_keys'), count('operator_users')]);
      const refused: [Reply, string][] = [
        [await call('POST', '/v1/programs', user.headers, programBody()), 'programs:write'],
        [await call('PATCH', `/v1/programs/${program.id}`, user.headers, { name: 'x' }), 'programs:write'],
        [
          await call('POST', `/v1/programs/${program.id}/api_keys`, user.headers, { scopes: ['cards:read'] }),
          'api_keys:write',
        ],
        [
          await call('POST', '/v1/operator_users', user.headers, {
            name: 'Self-made admin',
            email: `self.${role}@lantau.example`,
            role: 'admin',
          }),
          'operator_users:write',
        ],
        [await call('POST', `/v1/operator_users/${user.id}/roll_key`, user.headers), 'operator_users:write'],
        [await call('POST', `/v1/operator_users/${admin.id}/disable`, user.headers), 'operator_users:write'],
      ];
      for (const [response, scope] of refused) {
        expectError(response, 403, { type: 'permission_error', code: 'scope_missing' });
        expect(response.json<{ error: { message: string } }>().error.message).toContain(scope);
      }
      expect(await Promise.all([count('programs'), count('api_keys'), count('operator_users')])).toEqual(
        before,
      );
    }
  });

  it('keeps operator users away from programme keys, and programme keys away from operator users', async () => {
    const program = await createProgram();
    const key = await call('POST', `/v1/programs/${program.id}/api_keys`, api.operatorHeaders, {
      scopes: ['*'],
    });
    const secret = key.json<{ secret: string }>().secret;
    secrets.push(secret);
    for (const [method, url] of [
      ['GET', '/v1/operator_users'],
      ['GET', `/v1/operator_users/${admin.id}`],
      ['POST', '/v1/operator_users'],
      ['POST', `/v1/operator_users/${admin.id}/roll_key`],
      ['POST', `/v1/operator_users/${admin.id}/disable`],
    ] as const) {
      const body =
        url === '/v1/operator_users' && method === 'POST'
          ? { name: 'Intruder', email: 'intruder@lantau.example', role: 'admin' }
          : undefined;
      expectError(await call(method, url, bearer(secret), body), 403, {
        type: 'permission_error',
        code: 'forbidden',
      });
    }
    expect((await call('GET', '/v1/operator_users', admin.headers)).statusCode).toBe(200);
  });

  it('refuses a second user with the same email, in any case, and creates nothing', async () => {
    await createUser('support', api.operatorHeaders, 'shared.desk@lantau.example');
    const before = await Promise.all([count('operator_users'), count('api_keys'), count('audit_log')]);
    const response = await call('POST', '/v1/operator_users', api.operatorHeaders, {
      name: 'Another desk',
      email: 'Shared.Desk@LANTAU.example',
      role: 'analyst',
    });
    expectError(response, 409, { code: 'email_taken', param: 'email' });
    expect(await Promise.all([count('operator_users'), count('api_keys'), count('audit_log')])).toEqual(
      before,
    );
  });

  it('refuses bad input with the field named', async () => {
    const good = { name: 'Pat', email: 'pat@lantau.example', role: 'analyst' };
    const refusals: [Record<string, unknown>, string, string][] = [
      [{ ...good, role: 'root' }, 'parameter_invalid', 'role'],
      [{ ...good, email: 'not an email' }, 'parameter_invalid', 'email'],
      [{ ...good, name: '' }, 'parameter_invalid', 'name'],
      [{ ...good, scopes: ['*'] }, 'parameter_unknown', 'scopes'],
      [{ name: 'Pat', role: 'analyst' }, 'parameter_missing', 'email'],
    ];
    const before = await count('operator_users');
    for (const [body, code, param] of refusals) {
      expectError(await call('POST', '/v1/operator_users', api.operatorHeaders, body), 400, { code, param });
    }
    expect(await count('operator_users')).toBe(before);
  });

  it('disables a user: their key stops at once, and they get no new one', async () => {
    const analyst = await createUser('analyst');
    expect((await call('GET', '/v1/programs', analyst.headers)).statusCode).toBe(200);
    api.clock.advance(1_000);
    const disabledAt = api.clock.now().toISOString();
    const response = await call('POST', `/v1/operator_users/${analyst.id}/disable`, api.operatorHeaders);
    expect(response.statusCode, response.body).toBe(200);
    const { secret: _secret, headers: _headers, ...shown } = analyst;
    expect(response.json()).toEqual({ ...shown, disabled: disabledAt });
    expect(response.json()).not.toHaveProperty('secret');
    expectError(await call('GET', '/v1/programs', analyst.headers), 401, {
      type: 'authentication_error',
      code: 'api_key_invalid',
    });

    api.clock.advance(1_000);
    const again = await call('POST', `/v1/operator_users/${analyst.id}/disable`, api.operatorHeaders);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ disabled: disabledAt });
    expect((await audit(`target_id = $1 AND action = 'operator_user.disabled'`, [analyst.id])).length).toBe(
      1,
    );

    expectError(await call('POST', `/v1/operator_users/${analyst.id}/roll_key`, api.operatorHeaders), 409, {
      code: 'operator_user_disabled',
    });
    expectError(await call('GET', '/v1/programs', analyst.headers), 401, { code: 'api_key_invalid' });
    expectError(
      await call('POST', `/v1/operator_users/${api.ids('opu')}/disable`, api.operatorHeaders),
      404,
      {
        code: 'resource_missing',
      },
    );
  });

  it('rolls a key: the old secret stops at once and the new one works', async () => {
    const support = await createUser('support');
    const response = await call('POST', `/v1/operator_users/${support.id}/roll_key`, admin.headers);
    const rolled = withSecret(response, 200);
    expect(rolled.id).toBe(support.id);
    expect(rolled.secret).toMatch(/^lantau_opu_/);
    expect(rolled.secret).not.toBe(support.secret);
    expectError(await call('GET', '/v1/programs', support.headers), 401, { code: 'api_key_invalid' });
    expect((await call('GET', '/v1/programs', rolled.headers)).statusCode).toBe(200);
    expect((await audit('target_id = $1', [support.id])).at(-1)).toMatchObject({
      action: 'operator_user.key_rolled',
      actor_type: 'user',
      actor_id: admin.id,
    });

    const rollOnce = { ...api.operatorHeaders, 'idempotency-key': 'roll-once' };
    const twice = withSecret(await call('POST', `/v1/operator_users/${support.id}/roll_key`, rollOnce), 200);
    // A retry replays the answer without the secret, and issues no third key.
    const replayed = await call('POST', `/v1/operator_users/${support.id}/roll_key`, rollOnce);
    expect(replayed.statusCode).toBe(200);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.json()).not.toHaveProperty('secret');
    expect(replayed.json()).toMatchObject({ id: support.id });
    expectError(await call('GET', '/v1/programs', rolled.headers), 401, { code: 'api_key_invalid' });
    expect((await call('GET', '/v1/programs', twice.headers)).statusCode).toBe(200);
    const live = await api.db.query(
      'SELECT id FROM api_keys WHERE operator_user_id = $1 AND revoked_at IS NULL',
      [support.id],
    );
    expect(live.rows).toHaveLength(1);
    expectError(
      await call('POST', `/v1/operator_users/${api.ids('opu')}/roll_key`, api.operatorHeaders),
      404,
      {
        code: 'resource_missing',
      },
    );
  });

  it('replays a creation under one Idempotency-Key without the secret, per operator user', async () => {
    const body = { name: 'Replayed', email: 'replayed@lantau.example', role: 'support' };
    const headers = { ...api.operatorHeaders, 'idempotency-key': 'create-user-once' };
    const first = withSecret(await call('POST', '/v1/operator_users', headers, body));
    const second = await call('POST', '/v1/operator_users', headers, body);
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    const { secret: _secret, headers: _headers, ...shown } = first;
    expect(second.json()).toEqual(shown);
    expect((await call('GET', '/v1/programs', first.headers)).statusCode).toBe(200);
    expectError(
      await call('POST', '/v1/operator_users', headers, { ...body, email: 'other@lantau.example' }),
      409,
      { code: 'idempotency_key_reused' },
    );

    // Each operator user has an Idempotency-Key space of their own, apart from the root key's.
    const before = await count('programs');
    const mine = { 'idempotency-key': 'shared-key' };
    const byRoot = await call('POST', '/v1/programs', { ...api.operatorHeaders, ...mine }, programBody());
    const byAdmin = await call('POST', '/v1/programs', { ...admin.headers, ...mine }, programBody());
    expect(byRoot.statusCode).toBe(201);
    expect(byAdmin.statusCode).toBe(201);
    expect(byAdmin.headers['idempotent-replayed']).toBeUndefined();
    expect(await count('programs')).toBe(before + 2);
  });
});

describe('secrets at rest', () => {
  it('stores no operator user secret in the clear: only its SHA-256', async () => {
    expect(secrets.length).toBeGreaterThan(10);
    const hashes = await api.db.query<{ key_hash: Uint8Array }>('SELECT key_hash FROM api_keys');
    const stored = hashes.rows.map((row) => Buffer.from(row.key_hash));
    for (const secret of secrets) {
      const digest = createHash('sha256').update(secret, 'utf8').digest();
      expect(stored.some((hash) => hash.equals(Buffer.from(secret, 'utf8')))).toBe(false);
      expect(stored.some((hash) => hash.equals(digest))).toBe(true);
    }
    for (const table of ['api_keys', 'operator_users', 'idempotency_keys', 'audit_log', 'events']) {
      const { rows } = await api.db.query<{ row: string }>(`SELECT t::text AS row FROM ${table} t`);
      expect(rows.length).toBeGreaterThan(0);
      for (const { row } of rows) {
        for (const secret of secrets) expect(row.includes(secret), `${table} holds a secret`).toBe(false);
      }
    }
  });
});
