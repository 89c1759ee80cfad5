import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../../../test/support/programs.js';
import { createApiKey } from '../../../issuing/api-keys.js';
import { ENV_OPERATOR_KEY_ID } from '../../../issuing/authenticator.js';
import { FxRateSchema, registerFxRateRoutes } from './fx-rates.js';

interface FxRateJson {
  readonly id: string;
  readonly object: 'fx_rate';
  readonly base: string;
  readonly quote: string;
  readonly rate: string;
  readonly source: string;
  readonly valid_from: string;
  readonly created: string;
}

interface ListJson<T> {
  readonly object: 'list';
  readonly url: string;
  readonly has_more: boolean;
  readonly data: T[];
}

type Headers = Readonly<Record<string, string>>;

let api: TestApi;
let program: TestProgram;

beforeAll(async () => {
  api = await openTestApi({
    // Until src/edges/http/api.ts registers these itself; then this does nothing.
    register: ({ app, issuing }) => {
      if (app.getSchema('FxRate') === undefined) app.addSchema(FxRateSchema);
      if (!app.hasRoute({ method: 'POST', url: '/v1/fx_rates' })) registerFxRateRoutes(app, issuing);
    },
  });
  program = await createTestProgram(api);
});
afterAll(async () => api.close());

function send(method: 'GET' | 'POST', url: string, headers: Headers, body?: unknown) {
  return api.app.inject({
    method,
    url,
    headers: { ...headers },
    ...(body === undefined ? {} : { payload: body as object }),
  });
}

const publish = (body: unknown, headers: Headers = api.operatorHeaders) =>
  send('POST', '/v1/fx_rates', headers, body);

async function count(table: 'fx_rates' | 'audit_log'): Promise<number> {
  const { rows } = await api.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]?.n ?? 0;
}

describe('POST /v1/fx_rates', () => {
  it('publishes a rate, normalised, valid from now by default, and audits it', async () => {
    api.clock.advance(1_000);
    const response = await publish({ base: 'USD', quote: 'HKD', rate: '7.81250', source: 'ecb' });
    expect(response.statusCode, response.body).toBe(201);
    const rate = response.json<FxRateJson>();
    const now = api.clock.now().toISOString();
    expect(rate).toEqual({
      id: expect.stringMatching(/^fxr_[0-9a-hjkmnp-tv-z]{26}$/) as string,
      object: 'fx_rate',
      base: 'USD',
      quote: 'HKD',
      rate: '7.8125',
      source: 'ecb',
      valid_from: now,
      created: now,
    });
    const { rows } = await api.db.query(
      `SELECT action, actor_type, actor_id, program_id, target_type, request_id, details
       FROM audit_log WHERE target_id = $1`,
      [rate.id],
    );
    expect(rows).toEqual([
      {
        action: 'fx_rate.created',
        actor_type: 'operator',
        actor_id: ENV_OPERATOR_KEY_ID,
        program_id: null,
        target_type: 'fx_rate',
        request_id: response.headers['request-id'],
        details: { base: 'USD', quote: 'HKD', rate: '7.8125', source: 'ecb', valid_from: now },
      },
    ]);
    const stored = await api.db.query<{ rate: string; created_by: string }>(
      'SELECT rate::text AS rate, created_by FROM fx_rates WHERE id = $1',
      [rate.id],
    );
    expect(stored.rows).toEqual([{ rate: '7.8125', created_by: ENV_OPERATOR_KEY_ID }]);
  });

  it('takes valid_from in any offset and answers in UTC', async () => {
    const response = await publish({
      base: 'JPY',
      quote: 'HKD',
      rate: '0.0512',
      source: 'operator',
      valid_from: '2026-02-01T08:00:00+08:00',
    });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json<FxRateJson>()).toMatchObject({
      rate: '0.0512',
      valid_from: '2026-02-01T00:00:00.000Z',
    });
  });

  it('replays the first answer for the same Idempotency-Key', async () => {
    const headers = { ...api.operatorHeaders, 'idempotency-key': 'fx-replay-1' };
    const body = { base: 'BHD', quote: 'HKD', rate: '20.7468', source: 'ecb' };
    const first = await publish(body, headers);
    const rates = await count('fx_rates');
    const again = await publish(body, headers);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json<FxRateJson>().id).toBe(first.json<FxRateJson>().id);
    expect(await count('fx_rates')).toBe(rates);
    const other = await publish({ ...body, rate: '20.75' }, headers);
    expect(other.statusCode).toBe(409);
  });

  const good = { base: 'USD', quote: 'HKD', rate: '7.8', source: 'ecb' };
  it.each([
    ['a number as rate', { rate: 7.8 }, 'parameter_invalid', 'rate'],
    ['rate 0', { rate: '0' }, 'rate_invalid', 'rate'],
    ['rate 0.000', { rate: '0.000' }, 'rate_invalid', 'rate'],
    ['a negative rate', { rate: '-7.8' }, 'parameter_invalid', 'rate'],
    ['an exponent', { rate: '7.8e0' }, 'parameter_invalid', 'rate'],
    ['NaN', { rate: 'NaN' }, 'parameter_invalid', 'rate'],
    ['Infinity', { rate: 'Infinity' }, 'parameter_invalid', 'rate'],
    ['13 digits after the point', { rate: '7.8000000000001' }, 'parameter_invalid', 'rate'],
    ['1,000,000,000', { rate: '1000000000' }, 'parameter_invalid', 'rate'],
    ['an empty rate', { rate: '' }, 'parameter_invalid', 'rate'],
    ['no rate', { rate: undefined }, 'parameter_missing', 'rate'],
    ['a lower-case currency', { base: 'usd' }, 'parameter_invalid', 'base'],
    ['an unknown currency', { base: 'ABC' }, 'currency_invalid', 'base'],
    ['gold', { quote: 'XAU' }, 'currency_invalid', 'quote'],
    ['one currency twice', { quote: 'USD' }, 'currencies_identical', 'quote'],
    ['an upper-case source', { source: 'ECB' }, 'parameter_invalid', 'source'],
    ['the identity source', { source: 'identity' }, 'source_invalid', 'source'],
    ['a date that is not RFC 3339', { valid_from: 'yesterday' }, 'parameter_invalid', 'valid_from'],
    ['a time with no offset', { valid_from: '2026-03-01T00:00:00' }, 'parameter_invalid', 'valid_from'],
    ['a leap second', { valid_from: '2016-12-31T23:59:60Z' }, 'valid_from_invalid', 'valid_from'],
    ['a time two years ahead', { valid_from: '2028-03-02T00:00:00Z' }, 'valid_from_invalid', 'valid_from'],
    [
      'an unknown field',
      { program_id: 'prog_01hzzzzzzzzzzzzzzzzzzzzzzz' },
      'parameter_unknown',
      'program_id',
    ],
  ] as [string, Record<string, unknown>, string, string][])(
    'refuses %s with a 400 naming the field, and stores nothing',
    async (_name, change, code, param) => {
      const [rates, entries] = [await count('fx_rates'), await count('audit_log')];
      const response = await publish({ ...good, ...change });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({
        error: { type: 'invalid_request_error', code, param, request_id: response.headers['request-id'] },
      });
      expect([await count('fx_rates'), await count('audit_log')]).toEqual([rates, entries]);
    },
  );

  it('is for the operator only: a programme key, even with every scope, gets a 403', async () => {
    const rates = await count('fx_rates');
    const response = await publish(good, program.headers);
    expect(response.statusCode, response.body).toBe(403);
    expect(response.json()).toMatchObject({ error: { type: 'permission_error', code: 'forbidden' } });
    expect(await send('POST', '/v1/fx_rates', {}, good).then((r) => r.statusCode)).toBe(401);
    expect(await count('fx_rates')).toBe(rates);
  });

  it('needs fx_rates:write: an operator user with read scopes only gets a 403', async () => {
    const created = await publish(good, api.operatorHeaders);
    expect(created.statusCode).toBe(201);
    const user = await send('POST', '/v1/operator_users', api.operatorHeaders, {
      name: 'Support',
      email: 'support.fx@lantau.example',
      role: 'support',
    });
    expect(user.statusCode, user.body).toBe(201);
    const headers = { authorization: `Bearer ${user.json<{ secret: string }>().secret}` };
    const response = await publish(good, headers);
    expect(response.statusCode, response.body).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'scope_missing' } });
    expect((await send('GET', '/v1/fx_rates', headers)).statusCode).toBe(200);
  });
});

describe('GET /v1/fx_rates', () => {
  const published: FxRateJson[] = [];

  beforeAll(async () => {
    for (const [base, quote, rate] of [
      ['EUR', 'HKD', '8.45'],
      ['EUR', 'USD', '1.08'],
      ['GBP', 'HKD', '9.87'],
      ['EUR', 'HKD', '8.46'],
      ['EUR', 'HKD', '8.47'],
    ] as const) {
      api.clock.advance(1_000);
      const response = await publish({ base, quote, rate, source: 'ecb' });
      expect(response.statusCode, response.body).toBe(201);
      published.push(response.json<FxRateJson>());
    }
  });

  const list = async (query: string, headers: Headers = api.operatorHeaders) => {
    const response = await send('GET', `/v1/fx_rates${query}`, headers);
    expect(response.statusCode, response.body).toBe(200);
    return response.json<ListJson<FxRateJson>>();
  };

  it('lists newest first, filtered by base and quote, a page at a time', async () => {
    const eurHkd = published.filter((rate) => rate.base === 'EUR' && rate.quote === 'HKD').reverse();
    const first = await list('?base=EUR&quote=HKD&limit=2');
    expect(first).toEqual({ object: 'list', url: '/v1/fx_rates', has_more: true, data: eurHkd.slice(0, 2) });
    const last = first.data.at(-1)?.id ?? '';
    const second = await list(`?base=EUR&quote=HKD&limit=2&starting_after=${last}`);
    expect(second).toMatchObject({ has_more: false, data: eurHkd.slice(2) });
    const back = await list(`?base=EUR&quote=HKD&limit=2&ending_before=${eurHkd[2]?.id ?? ''}`);
    expect(back.data).toEqual(eurHkd.slice(0, 2));

    expect((await list('?base=EUR')).data.map((rate) => rate.rate)).toEqual(['8.47', '8.46', '1.08', '8.45']);
    expect((await list('?quote=HKD&limit=100')).data.every((rate) => rate.quote === 'HKD')).toBe(true);
    expect((await list('?base=GBP')).data.map((rate) => rate.rate)).toEqual(['9.87']);
    expect((await list('?base=CHF')).data).toEqual([]);
    expect((await list('?limit=100')).data.length).toBe(await count('fx_rates'));
  });

  it('is open to programme keys, which see the platform’s rates', async () => {
    expect((await list('?base=GBP', program.headers)).data.map((rate) => rate.id)).toEqual([
      published[2]?.id,
    ]);
  });

  it('needs fx_rates:read', async () => {
    const { secret } = await api.db.transaction((tx) =>
      createApiKey(
        tx,
        api.issuing,
        { programId: program.program.id, scopes: ['cards:read'] },
        { actor: { type: 'system', id: 'test' } },
      ),
    );
    const response = await send('GET', '/v1/fx_rates', { authorization: `Bearer ${secret}` });
    expect(response.statusCode, response.body).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'scope_missing' } });
  });

  it.each([
    ['?base=ABC', 'currency_invalid', 'base'],
    ['?quote=XAU', 'currency_invalid', 'quote'],
    ['?base=eur', 'parameter_invalid', 'base'],
    ['?rate=1', 'parameter_unknown', 'rate'],
    ['?limit=0', 'parameter_invalid', 'limit'],
  ])('refuses %s with a 400 naming the field', async (query, code, param) => {
    const response = await send('GET', `/v1/fx_rates${query}`, api.operatorHeaders);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: { code, param } });
  });
});

describe('the OpenAPI document', () => {
  it('describes both routes and the FxRate object from the schemas that validate them', async () => {
    const response = await send('GET', '/v1/openapi.json', {});
    expect(response.statusCode).toBe(200);
    const document = response.json<{
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    }>();
    expect(Object.keys(document.paths['/v1/fx_rates'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(document.components.schemas).toHaveProperty('FxRate');
    expect(JSON.stringify(document.paths['/v1/fx_rates']?.post)).toContain('(0|[1-9][0-9]{0,8})');
  });
});
