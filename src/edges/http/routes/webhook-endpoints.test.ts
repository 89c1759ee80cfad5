import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../../../test/support/programs.js';
import { ENDPOINTS_PER_PROGRAM_MAX } from '../../../delivery/webhooks/endpoints.js';
import { createApiKey } from '../../../issuing/api-keys.js';

interface EndpointJson {
  readonly id: string;
  readonly object: 'webhook_endpoint';
  readonly program_id: string;
  readonly url: string;
  readonly description: string | null;
  readonly enabled_events: string[];
  readonly status: 'enabled' | 'disabled';
  readonly metadata: Record<string, string>;
  readonly created: string;
  readonly updated: string;
  readonly secret?: string;
}

interface ListJson<T> {
  readonly object: 'list';
  readonly has_more: boolean;
  readonly data: T[];
}

interface ErrorJson {
  readonly error: { readonly type: string; readonly code: string; readonly param?: string };
}

type Headers = Readonly<Record<string, string>>;

let api: TestApi;
let main: TestProgram;
let other: TestProgram;
let live: TestProgram;

beforeAll(async () => {
  api = await openTestApi();
  main = await createTestProgram(api);
  other = await createTestProgram(api);
  live = await createTestProgram(api, { mode: 'live' });
});
afterAll(async () => api.close());

async function send(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  headers: Headers,
  body?: unknown,
) {
  const response = await api.app.inject({
    method,
    url,
    headers: { ...headers },
    ...(body === undefined ? {} : { payload: body as object }),
  });
  return { status: response.statusCode, body: response.json<unknown>(), text: response.body };
}

const create = (body: unknown, headers: Headers = main.headers) =>
  send('POST', '/v1/webhook_endpoints', headers, body);

async function created(body: unknown, headers: Headers = main.headers): Promise<EndpointJson> {
  const response = await create(body, headers);
  expect(response.status, response.text).toBe(201);
  return response.body as EndpointJson;
}

async function counts(): Promise<{ endpoints: number; audit: number; events: number }> {
  const { rows } = await api.db.query<{ endpoints: number; audit: number; events: number }>(
    `SELECT (SELECT count(*)::int FROM webhook_endpoints) AS endpoints,
            (SELECT count(*)::int FROM audit_log) AS audit,
            (SELECT count(*)::int FROM events) AS events`,
  );
  const row = rows[0];
  if (row === undefined) throw new Error('no counts');
  return row;
}

describe('POST /v1/webhook_endpoints', () => {
  it('creates an enabled endpoint, shows its whsec_ secret this once, and audits it with an event', async () => {
    const endpoint = await created({
      url: 'https://example.com/hooks',
      enabled_events: ['card.created', 'card.updated', 'card.created'],
      description: 'Card events',
      metadata: { team: 'cards' },
    });
    expect(endpoint).toMatchObject({
      object: 'webhook_endpoint',
      program_id: main.program.id,
      url: 'https://example.com/hooks',
      description: 'Card events',
      enabled_events: ['card.created', 'card.updated'],
      status: 'enabled',
      metadata: { team: 'cards' },
      created: api.clock.now().toISOString(),
    });
    expect(endpoint.id).toMatch(/^we_[0-9a-hjkmnp-tv-z]{26}$/);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const { rows: audit } = await api.db.query<{ action: string; actor_type: string; details: unknown }>(
      'SELECT action, actor_type, details FROM audit_log WHERE target_id = $1',
      [endpoint.id],
    );
    expect(audit).toEqual([
      {
        action: 'webhook_endpoint.created',
        actor_type: 'api_key',
        details: { enabled_events: 2, all_events: false },
      },
    ]);
    const { rows: events } = await api.db.query<{ type: string; data: { object: Record<string, unknown> } }>(
      `SELECT type, data FROM events WHERE data->'object'->>'id' = $1`,
      [endpoint.id],
    );
    expect(events.map((event) => event.type)).toEqual(['webhook_endpoint.created']);
    expect(events[0]?.data.object).not.toHaveProperty('secret');

    for (const shown of [
      await send('GET', `/v1/webhook_endpoints/${endpoint.id}`, main.headers),
      await send('GET', '/v1/webhook_endpoints', main.headers),
      await send('PATCH', `/v1/webhook_endpoints/${endpoint.id}`, main.headers, { description: 'x' }),
    ]) {
      expect(shown.status, shown.text).toBe(200);
      expect(shown.text).not.toContain('whsec_');
    }
  });

  it('keeps "*" alone when it is given with other types', async () => {
    const endpoint = await created({ url: 'https://example.com/all', enabled_events: ['card.created', '*'] });
    expect(endpoint.enabled_events).toEqual(['*']);
  });

  it('refuses bad input with a 400 naming the field, and changes nothing', async () => {
    const before = await counts();
    const cases: [unknown, string][] = [
      [{ url: 'ftp://example.com/hooks', enabled_events: ['*'] }, 'url'],
      [{ url: 'not a url', enabled_events: ['*'] }, 'url'],
      [{ url: '/relative/path', enabled_events: ['*'] }, 'url'],
      [{ url: 'https://user:pass@example.com/hooks', enabled_events: ['*'] }, 'url'],
      [{ url: `https://example.com/${'a'.repeat(2100)}`, enabled_events: ['*'] }, 'url'],
      [{ url: 'https://example.com/hooks', enabled_events: [] }, 'enabled_events'],
      [{ url: 'https://example.com/hooks' }, 'enabled_events'],
      [{ url: 'https://example.com/hooks', enabled_events: ['Card.Created'] }, 'enabled_events[0]'],
      [{ url: 'https://example.com/hooks', enabled_events: ['card'] }, 'enabled_events[0]'],
      [{ url: 'https://example.com/hooks', enabled_events: 'card.created' }, 'enabled_events'],
      [
        {
          url: 'https://example.com/hooks',
          enabled_events: Array.from({ length: 101 }, () => 'card.created'),
        },
        'enabled_events',
      ],
      [{ url: 'https://example.com/hooks', enabled_events: ['*'], secret: 'whsec_mine' }, 'secret'],
      [{ url: 'https://example.com/hooks', enabled_events: ['*'], status: 'disabled' }, 'status'],
      [
        { url: 'https://example.com/hooks', enabled_events: ['*'], description: 'd'.repeat(501) },
        'description',
      ],
    ];
    for (const [body, param] of cases) {
      const response = await create(body);
      expect(response.status, JSON.stringify(body).slice(0, 200)).toBe(400);
      expect((response.body as ErrorJson).error.param, response.text).toBe(param);
    }
    expect(await counts()).toEqual(before);
  });

  it('lets a live programme register only https endpoints on public addresses', async () => {
    const before = await counts();
    for (const [url, code] of [
      ['http://example.com/hooks', 'url_not_https'],
      ['https://localhost/hooks', 'url_not_public'],
      ['https://127.0.0.1/hooks', 'url_not_public'],
      ['https://169.254.169.254/latest', 'url_not_public'],
      ['https://10.1.2.3/hooks', 'url_not_public'],
      ['https://[::1]/hooks', 'url_not_public'],
    ] as const) {
      const response = await create({ url, enabled_events: ['*'] }, live.headers);
      expect(response.status, url).toBe(400);
      expect((response.body as ErrorJson).error).toMatchObject({ code, param: 'url' });
    }
    expect(await counts()).toEqual(before);
    await created({ url: 'https://hooks.example.com/lantau', enabled_events: ['*'] }, live.headers);
    // The sandbox may point at a developer's own machine.
    await created({ url: 'http://127.0.0.1:8080/hooks', enabled_events: ['*'] });
  });

  it('lets the operator create for a programme named by program_id, and only so', async () => {
    const missing = await create(
      { url: 'https://example.com/op', enabled_events: ['*'] },
      api.operatorHeaders,
    );
    expect(missing.status).toBe(400);
    expect((missing.body as ErrorJson).error).toMatchObject({
      code: 'program_id_required',
      param: 'program_id',
    });
    const unknown = await create(
      { url: 'https://example.com/op', enabled_events: ['*'], program_id: 'prog_00000000000000000000000000' },
      api.operatorHeaders,
    );
    expect(unknown.status).toBe(404);
    const endpoint = await created(
      { url: 'https://example.com/op', enabled_events: ['*'], program_id: other.program.id },
      api.operatorHeaders,
    );
    expect(endpoint.program_id).toBe(other.program.id);
    expect(endpoint.secret).toMatch(/^whsec_/);
    // A programme key may name its own programme, and no other.
    await created({ url: 'https://example.com/own', enabled_events: ['*'], program_id: main.program.id });
    const foreign = await create({
      url: 'https://example.com/own',
      enabled_events: ['*'],
      program_id: other.program.id,
    });
    expect(foreign.status).toBe(404);
  });

  it('needs webhook_endpoints:write, and reading needs webhook_endpoints:read', async () => {
    const readOnly = await api.db.transaction((tx) =>
      createApiKey(
        tx,
        api.issuing,
        { programId: main.program.id, scopes: ['webhook_endpoints:read'] },
        { actor: { type: 'system', id: 'test' } },
      ),
    );
    const headers = { authorization: `Bearer ${readOnly.secret}` };
    const refused = await create({ url: 'https://example.com/ro', enabled_events: ['*'] }, headers);
    expect(refused.status).toBe(403);
    expect((await send('GET', '/v1/webhook_endpoints', headers)).status).toBe(200);
    const none = await api.db.transaction((tx) =>
      createApiKey(
        tx,
        api.issuing,
        { programId: main.program.id, scopes: ['cards:read'] },
        { actor: { type: 'system', id: 'test' } },
      ),
    );
    expect(
      (await send('GET', '/v1/webhook_endpoints', { authorization: `Bearer ${none.secret}` })).status,
    ).toBe(403);
  });

  it('limits a programme to a bounded number of endpoints', async () => {
    const program = await createTestProgram(api);
    for (let n = 0; n < ENDPOINTS_PER_PROGRAM_MAX; n += 1) {
      await created({ url: `https://example.com/${n}`, enabled_events: ['*'] }, program.headers);
    }
    const refused = await create({ url: 'https://example.com/x', enabled_events: ['*'] }, program.headers);
    expect(refused.status).toBe(400);
    expect((refused.body as ErrorJson).error.code).toBe('webhook_endpoints_limit');
  });

  it('replays an Idempotency-Key with the same endpoint and its secret, creating nothing twice', async () => {
    const headers = { ...main.headers, 'idempotency-key': 'we-create-1' };
    const body = { url: 'https://example.com/idem', enabled_events: ['*'] };
    const first = await created(body, headers);
    const before = await counts();
    const again = await create(body, headers);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first);
    expect(await counts()).toEqual(before);
    const { rows } = await api.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM idempotency_keys WHERE response_body::text LIKE '%whsec_%'`,
    );
    expect(rows[0]?.n).toBe(0);
  });
});

describe('reading, updating and deleting endpoints', () => {
  it('keeps each programme to its own endpoints; the operator sees all and filters by programme', async () => {
    const mine = await created({ url: 'https://example.com/mine', enabled_events: ['*'] });
    const theirs = await created({ url: 'https://example.com/theirs', enabled_events: ['*'] }, other.headers);
    expect((await send('GET', `/v1/webhook_endpoints/${theirs.id}`, main.headers)).status).toBe(404);
    expect(
      (await send('PATCH', `/v1/webhook_endpoints/${theirs.id}`, main.headers, { status: 'disabled' }))
        .status,
    ).toBe(404);
    expect((await send('DELETE', `/v1/webhook_endpoints/${theirs.id}`, main.headers)).status).toBe(404);
    expect(
      (await send('POST', `/v1/webhook_endpoints/${theirs.id}/rotate_secret`, main.headers, {})).status,
    ).toBe(404);
    expect((await send('GET', `/v1/webhook_endpoints/${theirs.id}/deliveries`, main.headers)).status).toBe(
      404,
    );

    const list = (await send('GET', '/v1/webhook_endpoints?limit=100', main.headers))
      .body as ListJson<EndpointJson>;
    expect(list.data.every((endpoint) => endpoint.program_id === main.program.id)).toBe(true);
    expect(list.data.map((endpoint) => endpoint.id)).toContain(mine.id);

    const all = (await send('GET', '/v1/webhook_endpoints?limit=100', api.operatorHeaders))
      .body as ListJson<EndpointJson>;
    expect(all.data.map((endpoint) => endpoint.id)).toEqual(expect.arrayContaining([mine.id, theirs.id]));
    const filtered = (
      await send('GET', `/v1/webhook_endpoints?limit=100&program_id=${other.program.id}`, api.operatorHeaders)
    ).body as ListJson<EndpointJson>;
    expect(filtered.data.length).toBeGreaterThan(0);
    expect(filtered.data.every((endpoint) => endpoint.program_id === other.program.id)).toBe(true);
    const retrieved = await send('GET', `/v1/webhook_endpoints/${theirs.id}`, api.operatorHeaders);
    expect(retrieved.status).toBe(200);
    expect(retrieved.text).not.toContain('whsec_');
  });

  it('pages newest first', async () => {
    const program = await createTestProgram(api);
    const ids: string[] = [];
    for (let n = 0; n < 3; n += 1) {
      api.clock.advance(1);
      ids.push(
        (await created({ url: `https://example.com/p${n}`, enabled_events: ['*'] }, program.headers)).id,
      );
    }
    const first = (await send('GET', '/v1/webhook_endpoints?limit=2', program.headers))
      .body as ListJson<EndpointJson>;
    expect(first.data.map((endpoint) => endpoint.id)).toEqual([ids[2], ids[1]]);
    expect(first.has_more).toBe(true);
    const next = (
      await send('GET', `/v1/webhook_endpoints?limit=2&starting_after=${ids[1] ?? ''}`, program.headers)
    ).body as ListJson<EndpointJson>;
    expect(next.data.map((endpoint) => endpoint.id)).toEqual([ids[0]]);
    expect(next.has_more).toBe(false);
  });

  it('updates url, events, description, status and metadata, with an audit entry and an event', async () => {
    const endpoint = await created({
      url: 'https://example.com/u',
      enabled_events: ['*'],
      description: 'old',
    });
    api.clock.advance(1_000);
    const response = await send('PATCH', `/v1/webhook_endpoints/${endpoint.id}`, main.headers, {
      url: 'https://example.com/v2',
      enabled_events: ['authorization.created'],
      description: null,
      status: 'disabled',
      metadata: { a: 'b' },
    });
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({
      url: 'https://example.com/v2',
      enabled_events: ['authorization.created'],
      description: null,
      status: 'disabled',
      metadata: { a: 'b' },
      updated: api.clock.now().toISOString(),
    });
    const { rows } = await api.db.query<{ action: string; details: Record<string, unknown> }>(
      `SELECT action, details FROM audit_log WHERE target_id = $1 ORDER BY seq`,
      [endpoint.id],
    );
    expect(rows.map((row) => row.action)).toEqual(['webhook_endpoint.created', 'webhook_endpoint.updated']);
    expect(rows[1]?.details).toMatchObject({ status: 'disabled' });
    const { rows: events } = await api.db.query<{ type: string }>(
      `SELECT type FROM events WHERE data->'object'->>'id' = $1 ORDER BY seq`,
      [endpoint.id],
    );
    expect(events.map((event) => event.type)).toEqual([
      'webhook_endpoint.created',
      'webhook_endpoint.updated',
    ]);
  });

  it('refuses bad updates and changes nothing', async () => {
    const endpoint = await created({ url: 'https://example.com/keep', enabled_events: ['card.created'] });
    const before = await counts();
    for (const body of [
      {},
      { url: 'gopher://example.com' },
      { enabled_events: [] },
      { status: 'deleted' },
      { secret: 'whsec_x' },
      { program_id: other.program.id },
    ]) {
      const response = await send('PATCH', `/v1/webhook_endpoints/${endpoint.id}`, main.headers, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    const live1 = await created({ url: 'https://example.com/live', enabled_events: ['*'] }, live.headers);
    const insecure = await send('PATCH', `/v1/webhook_endpoints/${live1.id}`, live.headers, {
      url: 'http://example.com/live',
    });
    expect(insecure.status).toBe(400);
    expect((insecure.body as ErrorJson).error.code).toBe('url_not_https');
    const after = await counts();
    expect({
      ...after,
      endpoints: after.endpoints - 1,
      audit: after.audit - 1,
      events: after.events - 1,
    }).toEqual(before);
    const unchanged = await send('GET', `/v1/webhook_endpoints/${endpoint.id}`, main.headers);
    const { secret: _secret, ...shown } = endpoint;
    expect(unchanged.body).toEqual(shown);
  });

  it('deletes an endpoint: it is gone from the API, its row keeps no secret', async () => {
    const endpoint = await created({ url: 'https://example.com/del', enabled_events: ['*'] });
    const deleted = await send('DELETE', `/v1/webhook_endpoints/${endpoint.id}`, main.headers);
    expect(deleted.status, deleted.text).toBe(200);
    expect(deleted.body).toEqual({ id: endpoint.id, object: 'webhook_endpoint', deleted: true });
    expect((await send('GET', `/v1/webhook_endpoints/${endpoint.id}`, main.headers)).status).toBe(404);
    expect((await send('DELETE', `/v1/webhook_endpoints/${endpoint.id}`, main.headers)).status).toBe(404);
    const list = (await send('GET', '/v1/webhook_endpoints?limit=100', main.headers))
      .body as ListJson<EndpointJson>;
    expect(list.data.map((each) => each.id)).not.toContain(endpoint.id);
    const { rows } = await api.db.query<{ secret_encrypted: Uint8Array | null; status: string }>(
      'SELECT secret_encrypted, status FROM webhook_endpoints WHERE id = $1',
      [endpoint.id],
    );
    expect(rows).toEqual([{ secret_encrypted: null, status: 'disabled' }]);
    const { rows: events } = await api.db.query<{ type: string }>(
      `SELECT type FROM events WHERE data->'object'->>'id' = $1 ORDER BY seq`,
      [endpoint.id],
    );
    expect(events.map((event) => event.type)).toEqual([
      'webhook_endpoint.created',
      'webhook_endpoint.deleted',
    ]);
  });

  it('rotates the secret: a new one, shown once, stored encrypted; bad grace periods are refused', async () => {
    const endpoint = await created({ url: 'https://example.com/rot', enabled_events: ['*'] });
    const refused = await send('POST', `/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, main.headers, {
      expire_previous_secret_in: 86_401,
    });
    expect(refused.status).toBe(400);
    const rotated = await send(
      'POST',
      `/v1/webhook_endpoints/${endpoint.id}/rotate_secret`,
      main.headers,
      {},
    );
    expect(rotated.status, rotated.text).toBe(200);
    const secret = (rotated.body as EndpointJson).secret;
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(endpoint.secret);
    const { rows } = await api.db.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq`,
      [endpoint.id],
    );
    expect(rows.map((row) => row.action)).toContain('webhook_endpoint.secret_rotated');
  });

  it('never writes a secret into events, audit entries or the idempotency store', async () => {
    const endpoint = await created({ url: 'https://example.com/leak', enabled_events: ['*'] });
    const rotated = (
      await send(
        'POST',
        `/v1/webhook_endpoints/${endpoint.id}/rotate_secret`,
        {
          ...main.headers,
          'idempotency-key': 'rotate-leak',
        },
        { expire_previous_secret_in: 60 },
      )
    ).body as EndpointJson;
    for (const secret of [endpoint.secret, rotated.secret]) {
      expect(secret).toMatch(/^whsec_/);
      const body = (secret ?? '').slice('whsec_'.length);
      const { rows } = await api.db.query<{ n: number }>(
        `SELECT (SELECT count(*)::int FROM events WHERE data::text LIKE '%' || $1 || '%')
              + (SELECT count(*)::int FROM audit_log WHERE details::text LIKE '%' || $1 || '%')
              + (SELECT count(*)::int FROM idempotency_keys WHERE response_body::text LIKE '%' || $1 || '%') AS n`,
        [body],
      );
      expect(rows[0]?.n).toBe(0);
    }
  });
});
