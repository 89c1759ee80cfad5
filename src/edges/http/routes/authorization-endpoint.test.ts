import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import {
  createTestProgram,
  withoutProtections,
  type TestProgram,
} from '../../../../test/support/programs.js';
import { verifyLedger } from '../../../ledger/verify.js';

/**
 * The programme's real-time decision (Lithic's ASA, Stripe's issuing_authorization.request) against a real HTTP
 * endpoint: in time it decides; late or garbled, the stand-in decides and says why; no transaction or lock is held
 * while Lantau waits.
 */

interface Json {
  [key: string]: unknown;
}

type Handler = (body: Json, response: ServerResponse) => Promise<void> | void;

const SHOP = { name: 'Eslite', mcc: '5942', country: 'HK', acceptor_id: 'ESL000000000001' };

let api: TestApi;
let program: TestProgram;
let server: Server;
let url: string;
let secret: string;
let handler: Handler;
const received: { body: Json; verified: boolean }[] = [];
/** Requests held open (the "late" endpoint), answered when the test ends so the server can close. */
const held: ServerResponse[] = [];

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeAll(async () => {
  api = await openTestApi();
  // Many authorizations on one card at one instant, on purpose: the burst protection is not what is tested here.
  program = await withoutProtections(api, await createTestProgram(api));
  server = createServer((request, response) => {
    void (async () => {
      const text = await readBody(request);
      // The reference implementation signs the same message and must get the same signature. (Its verify() also
      // checks the timestamp against the real time, which the tests' manual clock is not.)
      const id = String(request.headers['webhook-id']);
      const timestamp = new Date(Number(request.headers['webhook-timestamp']) * 1000);
      const verified = new Webhook(secret).sign(id, timestamp, text) === request.headers['webhook-signature'];
      const body = JSON.parse(text) as Json;
      received.push({ body, verified });
      await handler(body, response);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/decide`;
});

afterAll(async () => {
  for (const response of held) response.end('{}');
  await new Promise((resolve) => server.close(resolve));
  await api.close();
});

beforeEach(() => {
  received.length = 0;
});

function answer(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(body);
}

async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, payload?: unknown, extra = {}) {
  return api.app.inject({
    method,
    url: path,
    headers: { ...program.headers, ...extra },
    ...(payload === undefined ? {} : { payload: payload as Json }),
  });
}

async function setEndpoint(settings: Json): Promise<Json> {
  const response = await call('PUT', '/v1/authorization_endpoint', { url, ...settings });
  expect(response.statusCode, response.body).toBe(200);
  const endpoint = response.json<Json>();
  secret = String(endpoint.secret);
  return endpoint;
}

let people = 0;
async function walletWithCard(load: number): Promise<{ account: string; card: string }> {
  people += 1;
  const post = async (path: string, payload: Json) => (await call('POST', path, payload)).json<Json>();
  const holder = await post('/v1/cardholders', { name: `Wong Tai Sin ${people}` });
  const account = await post('/v1/accounts', { cardholder_id: holder.id, currency: 'HKD' });
  await post(`/v1/accounts/${String(account.id)}/loads`, { amount: load, currency: 'HKD' });
  const card = await post('/v1/cards', {
    cardholder_id: holder.id,
    account_id: account.id,
    type: 'multi_use',
  });
  return { account: String(account.id), card: String(card.id) };
}

async function authorize(card: string, amount: number, extra: Json = {}, headers = {}): Promise<Json> {
  const response = await call(
    'POST',
    '/v1/simulate/authorizations',
    { card_id: card, amount, currency: 'HKD', merchant: SHOP, ...extra },
    headers,
  );
  expect(response.statusCode, response.body).toBe(201);
  return response.json<Json>();
}

async function balance(account: string): Promise<Json> {
  return (await call('GET', `/v1/accounts/${account}`)).json<{ balance: Json }>().balance;
}

describe('the authorization endpoint setting', () => {
  it('PUT answers with a whsec_ secret, kept across updates unless rotated; GET never shows it', async () => {
    const first = await setEndpoint({ timeout_ms: 500, stand_in: 'approve' });
    expect(first).toMatchObject({
      object: 'authorization_endpoint',
      url,
      timeout_ms: 500,
      stand_in: 'approve',
    });
    expect(first.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const again = await setEndpoint({ timeout_ms: 800 });
    expect(again.secret).toBe(first.secret);
    expect(again).toMatchObject({ timeout_ms: 800, stand_in: 'decline' });
    const rotated = await setEndpoint({ rotate_secret: true });
    expect(rotated.secret).not.toBe(first.secret);
    // Under an Idempotency-Key the stored answer holds no secret; the replay shows the current one.
    const keyed = { 'idempotency-key': 'put-endpoint-1' };
    const stored = await call('PUT', '/v1/authorization_endpoint', { url, timeout_ms: 900 }, keyed);
    const replayed = await call('PUT', '/v1/authorization_endpoint', { url, timeout_ms: 900 }, keyed);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.json<Json>().secret).toBe(stored.json<Json>().secret);
    const kept = await api.db.query<{ body: string }>(
      `SELECT response_body::text AS body FROM idempotency_keys WHERE key = 'put-endpoint-1'`,
    );
    expect(kept.rows[0]?.body).not.toContain('whsec_');
    const shown = (await call('GET', '/v1/authorization_endpoint')).json<Json>();
    expect(shown).not.toHaveProperty('secret');
    expect(JSON.stringify(shown)).not.toContain(String(rotated.secret).slice(6));
  });

  it('refuses a deadline beyond 2 s, a bad stand-in, a bad URL or an unknown field, and changes nothing', async () => {
    await setEndpoint({ timeout_ms: 1_000 });
    for (const payload of [
      { url, timeout_ms: 2_001 },
      { url, timeout_ms: 50 },
      { url, stand_in: 'maybe' },
      { url: 'ftp://example.com/decide' },
      { url: 'not a url' },
      { url, colour: 'blue' },
    ]) {
      const response = await call('PUT', '/v1/authorization_endpoint', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect((await call('GET', '/v1/authorization_endpoint')).json<Json>().timeout_ms).toBe(1_000);
  });
});

describe('deciding with the programme', () => {
  it('an endpoint that approves in time decides, sees a signed request without card data, and nothing is held while it waits', async () => {
    await setEndpoint({ timeout_ms: 2_000, stand_in: 'decline' });
    const { account, card } = await walletWithCard(10_000);
    handler = async (_body, response) => {
      // A load on the same wallet while Lantau waits: it would block on the cardholder's or the wallet's lock if
      // the authorization held one.
      const load = await call('POST', `/v1/accounts/${account}/loads`, { amount: 1_000, currency: 'HKD' });
      expect(load.statusCode).toBe(201);
      answer(response, 200, JSON.stringify({ approved: true }));
    };
    const authorization = await authorize(card, 2_500);
    expect(authorization).toMatchObject({
      approved: true,
      response_code: '00',
      amount: 2_500,
      program_decision: { outcome: 'approved', stand_in: null, error: null },
    });
    expect(await balance(account)).toEqual({ available: 8_500, pending: 2_500, posted: 11_000 });
    expect(received).toHaveLength(1);
    const request = received[0];
    expect(request?.verified).toBe(true);
    expect(request?.body).toMatchObject({
      type: 'authorization.request',
      program_id: program.program.id,
      data: {
        object: { id: authorization.id, object: 'authorization_request', amount: 2_500, card_id: card },
      },
    });
    expect(JSON.stringify(request?.body)).not.toMatch(/424242\d{10}/);
    expect((await verifyLedger(api.db)).problems).toEqual([]);
  });

  it('an endpoint that declines declines with webhook_declined, holding nothing', async () => {
    await setEndpoint({ timeout_ms: 2_000, stand_in: 'approve' });
    const { account, card } = await walletWithCard(10_000);
    handler = (_body, response) => answer(response, 200, JSON.stringify({ approved: false }));
    const authorization = await authorize(card, 2_500);
    expect(authorization).toMatchObject({
      approved: false,
      status: 'declined',
      decline_reason: 'webhook_declined',
      response_code: '05',
      program_decision: { outcome: 'declined' },
    });
    expect(await balance(account)).toEqual({ available: 10_000, pending: 0, posted: 10_000 });
  });

  it('an endpoint may approve less when the merchant takes partial approvals, and not otherwise', async () => {
    await setEndpoint({ timeout_ms: 2_000, stand_in: 'approve' });
    const { account, card } = await walletWithCard(10_000);
    handler = (_body, response) => answer(response, 200, JSON.stringify({ approved: true, amount: 1_000 }));
    const partial = await authorize(card, 2_500, { partial_allowed: true });
    expect(partial).toMatchObject({
      approved: true,
      response_code: '10',
      requested_amount: 2_500,
      approved_amount: 1_000,
      amount: 1_000,
      program_decision: { outcome: 'approved', amount: 1_000 },
    });
    const refused = await authorize(card, 2_500);
    expect(refused).toMatchObject({ approved: false, decline_reason: 'webhook_declined' });
    expect(await balance(account)).toEqual({ available: 9_000, pending: 1_000, posted: 10_000 });
  });

  it('an endpoint that answers late gets the stand-in, recorded as webhook_timeout', async () => {
    await setEndpoint({ timeout_ms: 200, stand_in: 'decline' });
    const { account, card } = await walletWithCard(10_000);
    handler = (_body, response) => {
      held.push(response);
    };
    const declined = await authorize(card, 1_000);
    expect(declined).toMatchObject({
      approved: false,
      decline_reason: 'webhook_timeout',
      program_decision: { outcome: 'webhook_timeout', stand_in: 'decline' },
    });
    expect((declined.program_decision as Json).latency_ms).toBeGreaterThanOrEqual(190);
    await setEndpoint({ timeout_ms: 200, stand_in: 'approve' });
    const approved = await authorize(card, 1_000);
    expect(approved).toMatchObject({
      approved: true,
      response_code: '00',
      program_decision: { outcome: 'webhook_timeout', stand_in: 'approve' },
    });
    const check = (approved.checks as Json[]).find((item) => item.check === 'program_decision');
    expect(check).toMatchObject({ result: 'pass', detail: 'no answer in time: stand-in approve' });
    expect(await balance(account)).toEqual({ available: 9_000, pending: 1_000, posted: 10_000 });
  });

  it('garbage, an error status, too much, or nothing listening gets the stand-in with webhook_error', async () => {
    await setEndpoint({ timeout_ms: 2_000, stand_in: 'decline' });
    const { card } = await walletWithCard(10_000);
    const replies: [number, string][] = [
      [200, 'not json'],
      [200, '[true]'],
      [200, '{"approved":"yes"}'],
      [200, '{"approved":true,"amount":2.5}'],
      [200, '{"approved":true,"amount":99999}'],
      [500, '{"approved":true}'],
      [200, `{"approved":true,"pad":"${'x'.repeat(20_000)}"}`],
    ];
    for (const [status, text] of replies) {
      handler = (_body, response) => answer(response, status, text);
      const authorization = await authorize(card, 1_000);
      expect(authorization, text.slice(0, 40)).toMatchObject({
        approved: false,
        decline_reason: 'webhook_error',
        program_decision: { outcome: 'webhook_error', stand_in: 'decline' },
      });
    }
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const response = await call('PUT', '/v1/authorization_endpoint', {
      url: `http://127.0.0.1:${String(port)}/gone`,
      stand_in: 'approve',
    });
    expect(response.statusCode).toBe(200);
    const unreachable = await authorize(card, 1_000);
    expect(unreachable).toMatchObject({
      approved: true,
      program_decision: {
        outcome: 'webhook_error',
        stand_in: 'approve',
        error: 'the endpoint could not be reached',
      },
    });
  });

  it('is not asked when Lantau declines on its own checks, nor again for a replayed Idempotency-Key', async () => {
    await setEndpoint({ timeout_ms: 2_000, stand_in: 'decline' });
    const { card } = await walletWithCard(1_000);
    handler = (_body, response) => answer(response, 200, JSON.stringify({ approved: true }));
    const short = await authorize(card, 5_000);
    expect(short).toMatchObject({
      approved: false,
      decline_reason: 'insufficient_funds',
      program_decision: null,
    });
    expect(received).toHaveLength(0);
    const headers = { 'idempotency-key': 'asa-replay-1' };
    const first = await authorize(card, 100, {}, headers);
    const second = await authorize(card, 100, {}, headers);
    expect(second.id).toBe(first.id);
    expect(received).toHaveLength(1);
  });

  it('a twin with the same Idempotency-Key while the programme is being asked is told it is in progress', async () => {
    await setEndpoint({ timeout_ms: 2_000, stand_in: 'decline' });
    const { card } = await walletWithCard(1_000);
    const headers = { 'idempotency-key': 'asa-twin-1' };
    const payload = { card_id: card, amount: 100, currency: 'HKD', merchant: SHOP };
    let twin: { statusCode: number; body: string } | undefined;
    handler = async (_body, response) => {
      twin = await call('POST', '/v1/simulate/authorizations', payload, headers);
      answer(response, 200, JSON.stringify({ approved: true }));
    };
    const first = await call('POST', '/v1/simulate/authorizations', payload, headers);
    expect(first.statusCode).toBe(201);
    expect(twin?.statusCode).toBe(409);
    expect(JSON.parse(twin?.body ?? '{}')).toMatchObject({ error: { code: 'idempotency_key_in_use' } });
    expect(received).toHaveLength(1);
    const replayed = await call('POST', '/v1/simulate/authorizations', payload, headers);
    expect(replayed.statusCode).toBe(201);
    expect(replayed.json<Json>().id).toBe(first.json<Json>().id);
    expect(received).toHaveLength(1);
  });

  it('sees a change another process made to the endpoint at the next decision', async () => {
    await setEndpoint({ timeout_ms: 1_000, stand_in: 'decline' });
    handler = (_body, response) => answer(response, 200, JSON.stringify({ approved: true }));
    const { card } = await walletWithCard(1_000);
    expect(await authorize(card, 100)).toMatchObject({
      approved: true,
      program_decision: { outcome: 'approved' },
    });
    // Another process points the endpoint at a port nobody listens on, with an approving stand-in: nothing here
    // told this process, which kept the endpoint it used a moment ago.
    await api.db.query(
      `UPDATE authorization_endpoints SET url = 'http://127.0.0.1:9/decide', stand_in = 'approve' WHERE program_id = $1`,
      [program.program.id],
    );
    const after = await authorize(card, 100);
    expect(after).toMatchObject({
      approved: true,
      program_decision: { outcome: 'webhook_error', stand_in: 'approve' },
    });
    await setEndpoint({ timeout_ms: 1_000, stand_in: 'decline' });
  });

  it('after DELETE the engine decides alone', async () => {
    await setEndpoint({ timeout_ms: 200, stand_in: 'decline' });
    expect((await call('DELETE', '/v1/authorization_endpoint')).statusCode).toBe(200);
    const { card } = await walletWithCard(1_000);
    const authorization = await authorize(card, 100);
    expect(authorization).toMatchObject({ approved: true, program_decision: null });
    expect(received).toHaveLength(0);
    expect((await call('GET', '/v1/authorization_endpoint')).statusCode).toBe(404);
  });
});
