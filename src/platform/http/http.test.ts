import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../test/support/app.js';
import { emitEvent } from '../../records/outbox.js';
import { LantauError } from '../errors.js';
import { purgeIdempotencyKeys } from './idempotency.js';
import { errorResponses } from './schemas.js';

const WidgetBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 50 }),
    amount: Type.Integer({ minimum: 0 }),
    address: Type.Optional(Type.Object({ city: Type.String() }, { additionalProperties: false })),
    fail_with: Type.Optional(Type.Union([Type.Literal('refusal'), Type.Literal('crash')])),
  },
  { additionalProperties: false },
);

let api: TestApi;
let workRuns = 0;

beforeAll(async () => {
  // A route written the way every part's POST routes are: validated body, one transaction, an outbox event.
  api = await openTestApi({
    register: ({ app, clock, ids }) => {
      app.post(
        '/v1/test_widgets',
        {
          schema: {
            body: WidgetBody,
            response: {
              201: Type.Object({ id: Type.String(), name: Type.String(), amount: Type.Integer() }),
              ...errorResponses,
            },
          },
        },
        async (request, reply) =>
          reply.mutate(201, async (tx) => {
            workRuns += 1;
            if (request.body.fail_with === 'refusal') {
              throw new LantauError('widget_refused', 'Widgets named like this are refused', {
                param: 'name',
              });
            }
            if (request.body.fail_with === 'crash') throw new Error('database went away');
            const widget = { id: ids('wid'), name: request.body.name, amount: request.body.amount };
            await emitEvent(tx, { clock, ids }, { type: 'widget.created', programId: null, object: widget });
            return widget;
          }),
      );
    },
  });
});
afterAll(async () => api.close());

function post(body: unknown, headers: Record<string, string> = {}) {
  return api.app.inject({
    method: 'POST',
    url: '/v1/test_widgets',
    headers: { ...api.operatorHeaders, ...headers },
    payload: body as object,
  });
}

async function countEvents(type: string): Promise<number> {
  const { rows } = await api.db.query<{ count: number }>(
    'SELECT count(*)::int AS count FROM events WHERE type = $1',
    [type],
  );
  return rows[0]?.count ?? 0;
}

describe('HTTP conventions', () => {
  it('refuses an unknown field with a 400 naming it, and changes nothing', async () => {
    const before = await countEvents('widget.created');
    const response = await post({ name: 'a', amount: 1, colour: 'red' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      error: {
        type: 'invalid_request_error',
        code: 'parameter_unknown',
        param: 'colour',
        request_id: response.headers['request-id'],
      },
    });
    expect(await countEvents('widget.created')).toBe(before);
  });

  it('refuses a wrongly typed field without coercing it, naming nested fields Stripe-style', async () => {
    const typed = await post({ name: 'a', amount: '100' });
    expect(typed.statusCode).toBe(400);
    expect(typed.json()).toMatchObject({ error: { code: 'parameter_invalid', param: 'amount' } });

    const nested = await post({ name: 'a', amount: 1, address: { city: 7 } });
    expect(nested.json()).toMatchObject({ error: { code: 'parameter_invalid', param: 'address[city]' } });

    const unknownNested = await post({ name: 'a', amount: 1, address: { city: 'x', zip: '1' } });
    expect(unknownNested.json()).toMatchObject({
      error: { code: 'parameter_unknown', param: 'address[zip]' },
    });

    const missing = await post({ name: 'a' });
    expect(missing.json()).toMatchObject({ error: { code: 'parameter_missing', param: 'amount' } });
  });

  it('answers malformed JSON, an unsupported body type and an unknown route in the error shape', async () => {
    const malformed = await api.app.inject({
      method: 'POST',
      url: '/v1/test_widgets',
      headers: { ...api.operatorHeaders, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ error: { code: 'invalid_json' } });

    // No body at all, or an empty one sent as JSON, is an empty object: the fields it lacks are named.
    for (const headers of [
      api.operatorHeaders,
      { ...api.operatorHeaders, 'content-type': 'application/json' },
    ]) {
      const empty = await api.app.inject({ method: 'POST', url: '/v1/test_widgets', headers, payload: '' });
      expect(empty.statusCode).toBe(400);
      expect(empty.json()).toMatchObject({ error: { code: 'parameter_missing', param: 'name' } });
    }
    const poisoned = await api.app.inject({
      method: 'POST',
      url: '/v1/test_widgets',
      headers: { ...api.operatorHeaders, 'content-type': 'application/json' },
      payload: '{"name": "w", "amount": 1, "__proto__": {"admin": true}}',
    });
    expect(poisoned.statusCode).toBe(400);

    const text = await api.app.inject({
      method: 'POST',
      url: '/v1/test_widgets',
      headers: { ...api.operatorHeaders, 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });

    const missing = await api.app.inject({
      method: 'GET',
      url: '/v1/nothing_here',
      headers: api.operatorHeaders,
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({
      error: { type: 'invalid_request_error', code: 'route_not_found' },
    });
  });

  it('needs a valid bearer key on /v1 routes', async () => {
    const none = await api.app.inject({ method: 'GET', url: '/v1/events' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ error: { type: 'authentication_error', code: 'api_key_missing' } });
    const wrong = await api.app.inject({
      method: 'GET',
      url: '/v1/events',
      headers: { authorization: 'Bearer lantau_op_nope' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ error: { code: 'api_key_invalid' } });
    const basic = await api.app.inject({
      method: 'GET',
      url: '/v1/events',
      headers: { authorization: 'Basic abc' },
    });
    expect(basic.statusCode).toBe(401);
  });

  it('replays the first answer for the same key and body, and does the work once', async () => {
    const runsBefore = workRuns;
    const eventsBefore = await countEvents('widget.created');
    const first = await post({ name: 'first', amount: 5 }, { 'idempotency-key': 'key-replay' });
    const second = await post({ amount: 5, name: 'first' }, { 'idempotency-key': 'key-replay' });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(second.json()).toEqual(first.json());
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(workRuns - runsBefore).toBe(1);
    expect(await countEvents('widget.created')).toBe(eventsBefore + 1);
  });

  it('answers 409 when a key is reused with another body, and changes nothing', async () => {
    await post({ name: 'one', amount: 1 }, { 'idempotency-key': 'key-conflict' });
    const eventsBefore = await countEvents('widget.created');
    const reused = await post({ name: 'two', amount: 1 }, { 'idempotency-key': 'key-conflict' });
    expect(reused.statusCode).toBe(409);
    expect(reused.json()).toMatchObject({
      error: { type: 'idempotency_error', code: 'idempotency_key_reused' },
    });
    expect(await countEvents('widget.created')).toBe(eventsBefore);
  });

  it('does the work once when the same key arrives twice at the same moment', async () => {
    const runsBefore = workRuns;
    const [a, b] = await Promise.all([
      post({ name: 'race', amount: 2 }, { 'idempotency-key': 'key-race' }),
      post({ name: 'race', amount: 2 }, { 'idempotency-key': 'key-race' }),
    ]);
    expect(a.statusCode).toBe(201);
    expect(b.statusCode).toBe(201);
    expect(a.json()).toEqual(b.json());
    expect(workRuns - runsBefore).toBe(1);
  });

  it('replays a refusal, but lets a failure on our side be retried', async () => {
    const refused = await post(
      { name: 'x', amount: 1, fail_with: 'refusal' },
      { 'idempotency-key': 'key-refusal' },
    );
    expect(refused.statusCode).toBe(400);
    const runsBefore = workRuns;
    const again = await post(
      { name: 'x', amount: 1, fail_with: 'refusal' },
      { 'idempotency-key': 'key-refusal' },
    );
    expect(again.statusCode).toBe(400);
    expect(again.json()).toEqual(refused.json());
    expect(workRuns).toBe(runsBefore);

    const crashed = await post(
      { name: 'y', amount: 1, fail_with: 'crash' },
      { 'idempotency-key': 'key-crash' },
    );
    expect(crashed.statusCode).toBe(500);
    expect(crashed.json()).toMatchObject({ error: { type: 'api_error', code: 'internal_error' } });
    expect(crashed.body).not.toContain('database went away');
    const retried = await post(
      { name: 'y', amount: 1, fail_with: 'crash' },
      { 'idempotency-key': 'key-crash' },
    );
    expect(retried.statusCode).toBe(500);
    expect(workRuns).toBe(runsBefore + 2);
  });

  it('keeps keys 24 hours, then forgets them', async () => {
    await post({ name: 'kept', amount: 1 }, { 'idempotency-key': 'key-expiry' });
    api.clock.advance(24 * 60 * 60 * 1000 - 1);
    await purgeIdempotencyKeys(api.db, api.clock);
    const replay = await post({ name: 'other', amount: 1 }, { 'idempotency-key': 'key-expiry' });
    expect(replay.statusCode).toBe(409);
    api.clock.advance(2);
    expect(await purgeIdempotencyKeys(api.db, api.clock)).toBeGreaterThan(0);
    const fresh = await post({ name: 'other', amount: 1 }, { 'idempotency-key': 'key-expiry' });
    expect(fresh.statusCode).toBe(201);
  });

  it('refuses a malformed Idempotency-Key', async () => {
    const response = await post({ name: 'k', amount: 1 }, { 'idempotency-key': 'x'.repeat(256) });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      error: { type: 'idempotency_error', code: 'idempotency_key_invalid' },
    });
  });
});

describe('cursor pagination', () => {
  it('pages forwards and backwards over inserted rows without gaps or repeats', async () => {
    const created: string[] = [];
    for (let index = 0; index < 25; index += 1) {
      api.clock.advance(1);
      const response = await post({ name: `page-${index}`, amount: index });
      created.push(response.json<{ id: string }>().id);
    }
    const list = async (query: string) => {
      const response = await api.app.inject({
        method: 'GET',
        url: `/v1/events?type=widget.created&${query}`,
        headers: api.operatorHeaders,
      });
      expect(response.statusCode).toBe(200);
      return response.json<{
        has_more: boolean;
        data: { id: string; data: { object: { id: string; name: string } } }[];
      }>();
    };
    const pageNames = (page: Awaited<ReturnType<typeof list>>) =>
      page.data.map((event) => event.data.object.name).filter((name) => name.startsWith('page-'));

    // Forwards: newest first, pages of 10.
    const seen: string[] = [];
    let page = await list('limit=10');
    const pages = [page];
    seen.push(...pageNames(page));
    while (page.has_more) {
      page = await list(`limit=10&starting_after=${page.data.at(-1)?.id ?? ''}`);
      pages.push(page);
      seen.push(...pageNames(page));
    }
    const expected = Array.from({ length: 25 }, (_, index) => `page-${24 - index}`);
    expect(seen).toEqual(expected);
    expect(pages.at(-1)?.has_more).toBe(false);

    // Backwards from the oldest: each page is still newest-first, and has_more looks towards newer objects.
    const oldest = pages.at(-1)?.data.at(-1)?.id ?? '';
    const back: string[] = [];
    let cursor = oldest;
    let backPage: Awaited<ReturnType<typeof list>>;
    do {
      backPage = await list(`limit=7&ending_before=${cursor}`);
      back.unshift(...pageNames(backPage));
      cursor = backPage.data[0]?.id ?? cursor;
    } while (backPage.has_more);
    const oldestName = pages.at(-1)?.data.at(-1)?.data.object.name;
    expect(back).toEqual(seen.filter((name) => name !== oldestName));
  });

  it('refuses both cursors at once, a bad cursor and an out-of-range limit', async () => {
    const id = 'evt_01arz3ndektsv4rrffq69g5fav';
    const both = await api.app.inject({
      method: 'GET',
      url: `/v1/events?starting_after=${id}&ending_before=${id}`,
      headers: api.operatorHeaders,
    });
    expect(both.json()).toMatchObject({ error: { code: 'parameters_exclusive' } });
    const bad = await api.app.inject({
      method: 'GET',
      url: '/v1/events?starting_after=nope',
      headers: api.operatorHeaders,
    });
    expect(bad.json()).toMatchObject({ error: { code: 'parameter_invalid', param: 'starting_after' } });
    const big = await api.app.inject({
      method: 'GET',
      url: '/v1/events?limit=101',
      headers: api.operatorHeaders,
    });
    expect(big.json()).toMatchObject({ error: { code: 'parameter_invalid', param: 'limit' } });
  });

  it('finds one event by id, and answers 404 in the error shape for an unknown one', async () => {
    const list = await api.app.inject({
      method: 'GET',
      url: '/v1/events?limit=1',
      headers: api.operatorHeaders,
    });
    const [first] = list.json<{ data: { id: string }[] }>().data;
    const found = await api.app.inject({
      method: 'GET',
      url: `/v1/events/${first?.id ?? ''}`,
      headers: api.operatorHeaders,
    });
    expect(found.json()).toMatchObject({ id: first?.id, type: 'widget.created' });
    const missing = await api.app.inject({
      method: 'GET',
      url: '/v1/events/evt_01arz3ndektsv4rrffq69g5fav',
      headers: api.operatorHeaders,
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'resource_missing', param: 'id' } });
  });
});

describe('operations endpoints', () => {
  it('serves health, readiness, metrics and the OpenAPI 3.1 document without a key', async () => {
    expect((await api.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await api.app.inject('/readyz')).json()).toEqual({
      status: 'ready',
      database: 'ok',
      migrations: 'current',
    });
    const metrics = await api.app.inject('/metrics');
    expect(metrics.body).toContain('lantau_http_requests_total');
    const openapi = (await api.app.inject('/v1/openapi.json')).json<{
      openapi: string;
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>
      >;
    }>();
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/v1/events', '/v1/events/{id}', '/v1/test_widgets']),
    );
    // The document carries the very schema that validates requests.
    expect(
      openapi.paths['/v1/test_widgets']?.post?.requestBody?.content['application/json']?.schema,
    ).toMatchObject({
      additionalProperties: false,
      required: ['name', 'amount'],
    });
    expect(Object.keys(openapi.paths)).not.toContain('/healthz');
  });
});
