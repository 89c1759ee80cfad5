import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openTestApi, type TestApi } from '../../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../../test/support/programs.js';
import { emitEvent, type LantauEvent } from '../../records/outbox.js';
import { ATTEMPTS_MAX, RETRY_DELAYS_MS } from './backoff.js';
import { dispatchDue, type DispatchContext } from './dispatcher.js';
import { fanOutEvents } from './fan-out.js';

/** What a receiver saw of one request, whatever it answered. */
interface Request {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly event: LantauEvent;
  readonly at: Date;
  readonly status: number;
}

/**
 * A webhook receiver as a programme would run one: it verifies every request's signature with the Standard
 * Webhooks reference implementation against the secrets it has been given, and answers 500 to its first
 * `failFirst` valid requests (or to all, with `failAlways`). A request whose signature does not verify is
 * answered 400 and counted in `unverified`.
 */
class Receiver {
  secrets: string[] = [];
  failFirst = 0;
  failAlways = false;
  /** Answer every valid request with this status instead. */
  answerWith: number | undefined;
  /** Runs before answering, inside the request: a check that needs the dispatcher mid-attempt. */
  during: (() => Promise<void>) | undefined;
  readonly requests: Request[] = [];
  readonly unverified: string[] = [];
  private valid = 0;

  private readonly server: Server;
  url = '';

  private constructor(clock: TestApi['clock']) {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        void (async () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = await this.answer(request.headers, body, clock.now());
          response.writeHead(status, { 'content-type': 'text/plain' }).end('a body the sender must ignore');
        })();
      });
    });
  }

  static async start(clock: TestApi['clock']): Promise<Receiver> {
    const receiver = new Receiver(clock);
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.server.address() as AddressInfo;
    receiver.url = `http://127.0.0.1:${port}/hooks`;
    return receiver;
  }

  /** Every secret the receiver holds that verifies this request (the library checks the timestamp against now). */
  verifying(headers: IncomingHttpHeaders, body: string, at: Date, secrets = this.secrets): string[] {
    const plain = Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(',') : (value ?? ''),
      ]),
    );
    // The reference library compares webhook-timestamp with Date.now(); the sender signed at the manual clock's now.
    vi.setSystemTime(at);
    try {
      return secrets.filter((secret) => {
        try {
          new Webhook(secret).verify(body, plain);
          return true;
        } catch {
          return false;
        }
      });
    } finally {
      vi.useRealTimers();
    }
  }

  private async answer(headers: IncomingHttpHeaders, body: string, at: Date): Promise<number> {
    if (this.verifying(headers, body, at).length === 0) {
      this.unverified.push(body);
      return 400;
    }
    await this.during?.();
    this.valid += 1;
    const status = this.answerWith ?? (this.failAlways || this.valid <= this.failFirst ? 500 : 200);
    this.requests.push({ headers, body, event: JSON.parse(body) as LantauEvent, at, status });
    return status;
  }

  /** The event ids answered 2xx, in the order they were first received. */
  delivered(): string[] {
    return [...new Set(this.requests.filter((each) => each.status === 200).map((each) => each.event.id))];
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let api: TestApi;
let dispatch: DispatchContext;
const receivers: Receiver[] = [];

beforeAll(async () => {
  api = await openTestApi();
  dispatch = { db: api.db, clock: api.clock, vault: api.vault, timeoutMs: 2_000 };
});
// Every request any receiver got carried a signature that verified with the secret it was given.
afterEach(() => {
  for (const receiver of receivers) expect(receiver.unverified).toEqual([]);
});
afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await api.close();
});

async function receiver(): Promise<Receiver> {
  const started = await Receiver.start(api.clock);
  receivers.push(started);
  return started;
}

interface EndpointJson {
  readonly id: string;
  readonly secret: string;
  readonly program_id: string;
}

interface DeliveryJson {
  readonly id: string;
  readonly webhook_endpoint_id: string;
  readonly event_id: string;
  readonly status: string;
  readonly attempts: number;
  readonly manual: boolean;
  readonly last_status_code: number | null;
  readonly last_error: string | null;
  readonly next_attempt: string | null;
}

async function send(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  headers: object,
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

async function endpoint(
  program: TestProgram,
  target: Receiver,
  enabledEvents: readonly string[] = ['*'],
): Promise<EndpointJson> {
  const response = await send('POST', '/v1/webhook_endpoints', program.headers, {
    url: target.url,
    enabled_events: enabledEvents,
  });
  expect(response.status, response.text).toBe(201);
  const created = response.body as EndpointJson;
  target.secrets = [created.secret];
  return created;
}

let objects = 0;
/** Events about made-up objects, each in its own transaction as separate changes would be. */
async function emit(
  program: TestProgram,
  type: string,
  object: Record<string, unknown> = {},
): Promise<LantauEvent> {
  objects += 1;
  api.clock.advance(1);
  return api.db.transaction((tx) =>
    emitEvent(tx, api.issuing, {
      type,
      programId: program.program.id,
      object: { id: `obj_${objects}`, ...object },
    }),
  );
}

/**
 * Fans the outbox out until the consumer has read every committed event. On PostgreSQL the outbox hands out only
 * events older than every transaction still running on the server (other test files' included), so an event
 * committed a moment ago may wait briefly: this polls, bounded, for that real-time condition only.
 */
async function fanOutAll(): Promise<number> {
  let read = 0;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    read += await fanOutEvents(api);
    const { rows } = await api.db.query<{ behind: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM events e, outbox_consumers c
         WHERE c.name = 'webhooks' AND (e.txid, e.seq) > (c.last_txid, c.last_seq)) AS behind`,
    );
    if (rows[0]?.behind !== true) return read;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the outbox was not fanned out within 20 s');
}

/**
 * Fans out and dispatches until nothing is pending, moving the manual clock to each next attempt: the whole retry
 * schedule runs in moments, with no sleeping and no timers. Returns how far the clock moved.
 */
async function drain(stepsMax = 300): Promise<number> {
  const start = api.clock.now().getTime();
  for (let step = 0; step < stepsMax; step += 1) {
    const read = await fanOutAll();
    const sent = await dispatchDue(dispatch, { limit: 50 });
    if (read > 0 || sent.attempted + sent.closed > 0) continue;
    // Nothing was due: move to the next attempt (a delivery waiting behind an older one about its object is
    // overdue already, so only future times count).
    const { rows } = await api.db.query<{ pending: number; next: Date | null }>(
      `SELECT count(*)::int AS pending, min(next_attempt_at) FILTER (WHERE next_attempt_at > $1) AS next
       FROM webhook_deliveries WHERE status = 'pending'`,
      [api.clock.now()],
    );
    const { pending, next } = rows[0] ?? { pending: 0, next: null };
    if (pending === 0) return api.clock.now().getTime() - start;
    if (next === null) throw new Error(`${pending} deliveries pending and none due later: stuck`);
    api.clock.set(next);
  }
  throw new Error(`deliveries still pending after ${stepsMax} steps`);
}

async function programEvents(program: TestProgram, since: string): Promise<LantauEvent[]> {
  const response = await send('GET', '/v1/events?limit=100', program.headers);
  const events = (response.body as { data: LantauEvent[] }).data;
  return events.filter((event) => event.created >= since);
}

async function deliveries(endpointId: string, headers: object): Promise<DeliveryJson[]> {
  const response = await send('GET', `/v1/webhook_endpoints/${endpointId}/deliveries?limit=100`, headers);
  expect(response.status, response.text).toBe(200);
  return (response.body as { data: DeliveryJson[] }).data;
}

describe('webhook delivery', () => {
  it('delivers every event of a programme, verified, at least once past a receiver failing its first attempts, and none of another programme’s', async () => {
    const [alpha, beta] = [await createTestProgram(api), await createTestProgram(api)];
    const [toAlpha, toBeta] = [await receiver(), await receiver()];
    toAlpha.failFirst = 3;
    toBeta.failFirst = 1;
    api.clock.advance(1);
    const since = api.clock.now().toISOString();
    const alphaEndpoint = await endpoint(alpha, toAlpha);
    const betaEndpoint = await endpoint(beta, toBeta);
    // Real changes through the API as well as events made directly.
    for (const program of [alpha, beta]) {
      api.clock.advance(1);
      const holder = await send('POST', '/v1/cardholders', program.headers, { name: 'Chan Tai Man' });
      expect(holder.status, holder.text).toBe(201);
      const id = (holder.body as { id: string }).id;
      api.clock.advance(1);
      expect(
        (await send('PATCH', `/v1/cardholders/${id}`, program.headers, { name: 'Chan Siu Ming' })).status,
      ).toBe(200);
      await emit(program, 'card.created');
      await emit(program, 'card.updated');
    }
    await drain();

    for (const [program, target, other] of [
      [alpha, toAlpha, beta],
      [beta, toBeta, alpha],
    ] as const) {
      expect(target.unverified).toEqual([]);
      const expected = (await programEvents(program, since)).map((event) => event.id).sort();
      expect(expected.length).toBeGreaterThanOrEqual(5);
      expect([...target.delivered()].sort()).toEqual(expected);
      expect(target.requests.every((each) => each.event.program_id === program.program.id)).toBe(true);
      const foreign = new Set((await programEvents(other, since)).map((event) => event.id));
      expect(target.requests.filter((each) => foreign.has(each.event.id))).toEqual([]);
    }
    expect(toAlpha.requests.filter((each) => each.status === 500)).toHaveLength(3);
    const alphaDeliveries = await deliveries(alphaEndpoint.id, alpha.headers);
    expect(alphaDeliveries.every((delivery) => delivery.status === 'succeeded')).toBe(true);
    expect(alphaDeliveries.some((delivery) => delivery.attempts > 1)).toBe(true);
    expect(
      (await deliveries(betaEndpoint.id, beta.headers)).every((each) => each.status === 'succeeded'),
    ).toBe(true);
  });

  it('sends the envelope exactly as /v1/events shows it, with the event id as webhook-id on every attempt', async () => {
    const program = await createTestProgram(api);
    const target = await receiver();
    target.failFirst = 2;
    await endpoint(program, target, ['card.created']);
    const event = await emit(program, 'card.created', { last4: '4242', nested: { a: [1, 2] } });
    await drain();
    const requests = target.requests.filter((each) => each.event.id === event.id);
    expect(requests.map((each) => each.status)).toEqual([500, 500, 200]);
    const shown = await send('GET', `/v1/events/${event.id}`, program.headers);
    for (const request of requests) {
      expect(request.body).toBe(JSON.stringify(shown.body));
      expect(request.headers['webhook-id']).toBe(event.id);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toMatch(/^Lantau-Webhooks\//);
      expect(request.headers['webhook-timestamp']).toBe(String(Math.floor(request.at.getTime() / 1000)));
    }
  });

  it('sends "*" endpoints every type and others only the types they list', async () => {
    const program = await createTestProgram(api);
    const [all, cards, none] = [await receiver(), await receiver(), await receiver()];
    await endpoint(program, all, ['*']);
    await endpoint(program, cards, ['card.created', 'card.closed']);
    await endpoint(program, none, ['dispute.created']);
    const created = await emit(program, 'card.created');
    const updated = await emit(program, 'card.updated');
    const holder = await emit(program, 'cardholder.created');
    const closed = await emit(program, 'card.closed');
    await drain();
    expect(all.delivered()).toEqual(expect.arrayContaining([created.id, updated.id, holder.id, closed.id]));
    expect(cards.delivered().sort()).toEqual([created.id, closed.id].sort());
    expect(none.requests).toEqual([]);
  });

  it('sends nothing for events from before an endpoint existed, or with no programme', async () => {
    const program = await createTestProgram(api);
    const early = await emit(program, 'card.created');
    await fanOutAll();
    const late = await emit(program, 'card.updated');
    api.clock.advance(1);
    const target = await receiver();
    await endpoint(program, target);
    api.clock.advance(1);
    const orphan = await api.db.transaction((tx) =>
      emitEvent(tx, api.issuing, { type: 'platform.notice', programId: null, object: { id: 'x' } }),
    );
    const after = await emit(program, 'card.closed');
    await drain();
    const delivered = target.delivered();
    expect(delivered).toContain(after.id);
    for (const missing of [early.id, late.id, orphan.id]) expect(delivered).not.toContain(missing);
  });

  it('keeps each object’s events in order while earlier ones are retried', async () => {
    const program = await createTestProgram(api);
    const target = await receiver();
    target.failFirst = 2;
    await endpoint(program, target, ['card.updated']);
    const sequence: LantauEvent[] = [];
    for (let n = 1; n <= 4; n += 1) {
      sequence.push(await emit(program, 'card.updated', { id: 'card_same', n }));
      if (n === 2) sequence.push(await emit(program, 'card.updated', { id: 'card_other', n: 1 }));
    }
    await drain();
    const same = target.requests
      .filter((each) => (each.event.data.object as { id: string }).id === 'card_same')
      .map((each) => ({ n: (each.event.data.object as { n: number }).n, status: each.status }));
    // Each event about the object is sent only once every earlier one has been answered 2xx.
    let highestDelivered = 0;
    for (const request of same) {
      expect(request.n).toBeLessThanOrEqual(highestDelivered + 1);
      if (request.status === 200) highestDelivered = Math.max(highestDelivered, request.n);
    }
    expect(highestDelivered).toBe(4);
    expect(same.filter((each) => each.status === 500).length).toBeGreaterThan(0);
    expect(new Set(target.delivered())).toEqual(new Set(sequence.map((event) => event.id)));
    // The fan-out reads no event data: the object's id comes from the statement that matches endpoints.
    const recorded = await api.db.query<{ object_id: string | null }>(
      'SELECT object_id FROM webhook_deliveries WHERE event_id = ANY($1::text[]) ORDER BY event_seq',
      [sequence.map((event) => event.id)],
    );
    expect(recorded.rows.map((row) => row.object_id)).toEqual([
      'card_same',
      'card_same',
      'card_other',
      'card_same',
      'card_same',
    ]);
  });

  it('retries on the documented schedule for about three days, then marks the delivery failed', async () => {
    const program = await createTestProgram(api);
    const target = await receiver();
    target.failAlways = true;
    const created = await endpoint(program, target);
    const event = await emit(program, 'card.created');
    const moved = await drain();
    const attempts = target.requests.filter((each) => each.event.id === event.id);
    expect(attempts).toHaveLength(ATTEMPTS_MAX);
    const gaps = attempts
      .slice(1)
      .map((each, index) => each.at.getTime() - (attempts[index]?.at.getTime() ?? 0));
    expect(gaps).toEqual(RETRY_DELAYS_MS);
    const total = RETRY_DELAYS_MS.reduce((sum, delay) => sum + delay, 0);
    expect(total).toBeGreaterThan(2.9 * 24 * 60 * 60 * 1000);
    expect(total).toBeLessThan(3.1 * 24 * 60 * 60 * 1000);
    expect(moved).toBeGreaterThanOrEqual(total);
    const [delivery] = (await deliveries(created.id, program.headers)).filter(
      (each) => each.event_id === event.id,
    );
    expect(delivery).toMatchObject({
      status: 'failed',
      attempts: ATTEMPTS_MAX,
      last_status_code: 500,
      last_error: 'HTTP 500',
      next_attempt: null,
      manual: false,
    });
    expect(target.unverified).toEqual([]);
  });

  it('records refused connections and timeouts as failed attempts, never a response body', async () => {
    const program = await createTestProgram(api);
    const closed = await receiver();
    const created = await endpoint(program, closed);
    await closed.close();
    const event = await emit(program, 'card.created');
    await fanOutAll();
    await dispatchDue(dispatch);
    const [refused] = (await deliveries(created.id, program.headers)).filter(
      (each) => each.event_id === event.id,
    );
    expect(refused).toMatchObject({
      status: 'pending',
      attempts: 1,
      last_status_code: null,
      last_error: 'ECONNREFUSED',
    });
    expect((await send('DELETE', `/v1/webhook_endpoints/${created.id}`, program.headers)).status).toBe(200);
    const { rows: afterDelete } = await api.db.query<{ status: string; last_error: string }>(
      'SELECT status, last_error FROM webhook_deliveries WHERE endpoint_id = $1',
      [created.id],
    );
    expect(afterDelete.length).toBeGreaterThan(0);
    for (const row of afterDelete) expect(row).toEqual({ status: 'failed', last_error: 'endpoint deleted' });

    const slow = await receiver();
    slow.during = () => new Promise((resolve) => setTimeout(resolve, 1_000));
    const slowEndpoint = await endpoint(program, slow);
    const late = await emit(program, 'card.updated');
    await fanOutAll();
    await dispatchDue({ ...dispatch, timeoutMs: 100 });
    const [timedOut] = (await deliveries(slowEndpoint.id, program.headers)).filter(
      (each) => each.event_id === late.id,
    );
    expect(timedOut).toMatchObject({ status: 'pending', attempts: 1, last_error: 'timeout after 100 ms' });
    slow.during = undefined;
    await drain();
    const { rows } = await api.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM webhook_deliveries WHERE last_error LIKE '%body%'`,
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('counts a redirect as a failed attempt, and does not follow it', async () => {
    const program = await createTestProgram(api);
    const target = await receiver();
    target.answerWith = 307;
    const created = await endpoint(program, target, ['card.created']);
    const event = await emit(program, 'card.created');
    await fanOutAll();
    await dispatchDue(dispatch);
    const [delivery] = await deliveries(created.id, program.headers);
    expect(delivery).toMatchObject({
      event_id: event.id,
      status: 'pending',
      last_status_code: 307,
      last_error: 'HTTP 307',
    });
    target.answerWith = undefined;
    await drain();
    expect(target.delivered()).toEqual([event.id]);
  });

  it('never sends one delivery twice when dispatchers run at once', async () => {
    const program = await createTestProgram(api);
    const target = await receiver();
    await endpoint(program, target, ['card.created']);
    const events: LantauEvent[] = [];
    for (let n = 0; n < 30; n += 1) events.push(await emit(program, 'card.created'));
    await fanOutAll();
    const results = await Promise.all([1, 2, 3].map(() => dispatchDue(dispatch, { limit: 12 })));
    expect(results.reduce((sum, result) => sum + result.attempted, 0)).toBe(30);
    expect(target.requests).toHaveLength(30);
    expect(new Set(target.delivered())).toEqual(new Set(events.map((event) => event.id)));
  });

  it('holds no transaction or row lock while a request is out', async () => {
    const program = await createTestProgram(api);
    const target = await receiver();
    let checked = 0;
    target.during = async () => {
      // On PGlite one connection serves everything: a transaction left open by the sender would block this.
      await api.db.transaction((tx) =>
        tx.query(`SELECT id FROM webhook_deliveries WHERE status = 'pending' FOR UPDATE NOWAIT`),
      );
      checked += 1;
    };
    await endpoint(program, target, ['card.created']);
    await emit(program, 'card.created');
    await drain();
    expect(checked).toBe(1);
    expect(target.delivered()).toHaveLength(1);
  });

  it('sends nothing more to a disabled or deleted endpoint: its pending deliveries fail', async () => {
    const program = await createTestProgram(api);
    const target = await receiver();
    target.failAlways = true;
    const created = await endpoint(program, target, ['card.created', 'card.updated']);
    const first = await emit(program, 'card.created');
    await fanOutAll();
    await dispatchDue(dispatch);
    expect(target.requests).toHaveLength(1);
    const disabled = await send('PATCH', `/v1/webhook_endpoints/${created.id}`, program.headers, {
      status: 'disabled',
    });
    expect(disabled.status).toBe(200);
    await emit(program, 'card.updated');
    await drain();
    expect(target.requests).toHaveLength(1);
    const all = await deliveries(created.id, program.headers);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ event_id: first.id, status: 'failed', last_error: 'endpoint disabled' });

    // Disabled between fan-out and sending (another process's change racing the fan-out): failed unsent.
    const racing = await endpoint(program, target, ['card.closed']);
    const raced = await emit(program, 'card.closed');
    await fanOutAll();
    await api.db.query(`UPDATE webhook_endpoints SET status = 'disabled' WHERE id = $1`, [racing.id]);
    const result = await dispatchDue(dispatch);
    expect(result).toMatchObject({ attempted: 0, closed: 1 });
    expect(await deliveries(racing.id, program.headers)).toMatchObject([
      { event_id: raced.id, status: 'failed', attempts: 0, last_error: 'endpoint disabled' },
    ]);
    expect(target.requests).toHaveLength(1);
  });

  it('fans each event out once, however often the outbox is read again', async () => {
    const program = await createTestProgram(api);
    const target = await receiver();
    await endpoint(program, target, ['card.created', 'card.updated']);
    await emit(program, 'card.created');
    await emit(program, 'card.updated');
    await drain();
    const count = async () =>
      (await api.db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_deliveries')).rows[0]?.n;
    const before = await count();
    await api.db.query(`UPDATE outbox_consumers SET last_txid = '0', last_seq = 0 WHERE name = 'webhooks'`);
    await drain();
    expect(await count()).toBe(before);
    expect(target.delivered()).toHaveLength(2);
  });

  it('signs with the new secret after a rotation, and with both during a grace period', async () => {
    const program = await createTestProgram(api);
    const target = await receiver();
    const created = await endpoint(program, target);
    const old = created.secret;
    const rotate = async (body: object) => {
      const response = await send(
        'POST',
        `/v1/webhook_endpoints/${created.id}/rotate_secret`,
        program.headers,
        body,
      );
      expect(response.status, response.text).toBe(200);
      return (response.body as EndpointJson).secret;
    };

    const graced = await rotate({ expire_previous_secret_in: 3_600 });
    target.secrets = [graced];
    const during = await emit(program, 'card.created');
    await drain();
    const duringRequest = target.requests.find((each) => each.event.id === during.id);
    if (duringRequest === undefined) throw new Error('not delivered');
    expect(
      target.verifying(duringRequest.headers, duringRequest.body, duringRequest.at, [graced, old]),
    ).toEqual([graced, old]);
    expect(String(duringRequest.headers['webhook-signature']).split(' ')).toHaveLength(2);

    // After the grace period only the new secret signs.
    api.clock.advance(3_601_000);
    const afterGrace = await emit(program, 'card.updated');
    await drain();
    const afterRequest = target.requests.find((each) => each.event.id === afterGrace.id);
    if (afterRequest === undefined) throw new Error('not delivered');
    expect(target.verifying(afterRequest.headers, afterRequest.body, afterRequest.at, [graced, old])).toEqual(
      [graced],
    );

    const fresh = await rotate({});
    target.secrets = [fresh];
    const next = await emit(program, 'card.closed');
    await drain();
    const nextRequest = target.requests.find((each) => each.event.id === next.id);
    if (nextRequest === undefined) throw new Error('not delivered');
    expect(
      target.verifying(nextRequest.headers, nextRequest.body, nextRequest.at, [fresh, graced, old]),
    ).toEqual([fresh]);
    expect(target.unverified).toEqual([]);
  });
});

describe('POST /v1/events/{id}/redeliver', () => {
  it('sends an event again, once, with the same webhook-id, to every subscribed endpoint or the one named', async () => {
    const program = await createTestProgram(api);
    const [first, second] = [await receiver(), await receiver()];
    const firstEndpoint = await endpoint(program, first);
    const secondEndpoint = await endpoint(program, second, ['card.created']);
    const event = await emit(program, 'card.created');
    await drain();
    expect(first.delivered()).toContain(event.id);

    const again = await send('POST', `/v1/events/${event.id}/redeliver`, program.headers);
    expect(again.status, again.text).toBe(200);
    const made = (again.body as { data: DeliveryJson[] }).data;
    expect(made.map((each) => each.webhook_endpoint_id).sort()).toEqual(
      [firstEndpoint.id, secondEndpoint.id].sort(),
    );
    expect(made.every((each) => each.manual && each.status === 'pending' && each.event_id === event.id)).toBe(
      true,
    );
    await drain();
    expect(first.requests.filter((each) => each.headers['webhook-id'] === event.id)).toHaveLength(2);
    expect(second.requests.filter((each) => each.headers['webhook-id'] === event.id)).toHaveLength(2);

    const one = await send('POST', `/v1/events/${event.id}/redeliver`, program.headers, {
      webhook_endpoint_id: secondEndpoint.id,
    });
    expect(one.status).toBe(200);
    expect((one.body as { data: DeliveryJson[] }).data.map((each) => each.webhook_endpoint_id)).toEqual([
      secondEndpoint.id,
    ]);
    // A redelivery that fails is not retried for days: it was asked for once.
    second.failAlways = true;
    await drain();
    const manual = (await deliveries(secondEndpoint.id, program.headers)).find(
      (each) => each.manual && each.status !== 'succeeded',
    );
    expect(manual).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 500 });
    expect(first.unverified).toEqual([]);
    expect(second.unverified).toEqual([]);

    const { rows } = await api.db.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq`,
      [event.id],
    );
    expect(rows.map((row) => row.action)).toEqual([
      'event.redelivery_requested',
      'event.redelivery_requested',
    ]);
  });

  it('answers 404 for another programme’s event or endpoint, 400 for one that does not subscribe, and changes nothing', async () => {
    const [mine, theirs] = [await createTestProgram(api), await createTestProgram(api)];
    const target = await receiver();
    const ownEndpoint = await endpoint(mine, target, ['card.created']);
    const theirEndpoint = await endpoint(theirs, await receiver());
    const myEvent = await emit(mine, 'card.created');
    const myOtherEvent = await emit(mine, 'card.updated');
    const theirEvent = await emit(theirs, 'card.created');
    await drain();
    const count = async () =>
      (await api.db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_deliveries')).rows[0]?.n;
    const before = await count();
    expect((await send('POST', `/v1/events/${theirEvent.id}/redeliver`, mine.headers)).status).toBe(404);
    const foreignEndpoint = await send('POST', `/v1/events/${myEvent.id}/redeliver`, mine.headers, {
      webhook_endpoint_id: theirEndpoint.id,
    });
    expect(foreignEndpoint.status).toBe(404);
    const unsubscribed = await send('POST', `/v1/events/${myOtherEvent.id}/redeliver`, mine.headers, {
      webhook_endpoint_id: ownEndpoint.id,
    });
    expect(unsubscribed.status).toBe(400);
    expect((unsubscribed.body as { error: { code: string } }).error.code).toBe('event_type_not_enabled');
    expect(
      (await send('POST', `/v1/events/${myEvent.id}/redeliver`, mine.headers, { other: 1 })).status,
    ).toBe(400);
    expect(await count()).toBe(before);
    // The operator may redeliver any programme's event.
    const byOperator = await send('POST', `/v1/events/${theirEvent.id}/redeliver`, api.operatorHeaders);
    expect(byOperator.status).toBe(200);
    expect(
      (byOperator.body as { data: DeliveryJson[] }).data.map((each) => each.webhook_endpoint_id),
    ).toEqual([theirEndpoint.id]);
    await drain();
  });
});
