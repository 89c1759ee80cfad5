import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { callJson, openTestApi, type TestApi } from '../../../../test/support/app.js';
import {
  createTestProgram,
  withoutProtections,
  type TestProgram,
} from '../../../../test/support/programs.js';
import { verifyLedger } from '../../../ledger/index.js';
import { convertForCard, createFxRate } from '../../../processing/fx.js';
import { expireAuthorizations } from '../../../processing/lifecycle.js';
import { readFileSync } from 'node:fs';
import {
  ISO8583_1987_ASCII,
  pack,
  parseProfile,
  unpack,
  type IsoMessage,
  type Iso8583Profile,
} from '../codec/index.js';
import { connectIso8583Client, type Iso8583Client } from '../transport/client.js';
import type { Iso8583Server } from '../transport/server.js';
import { approvalCode, conversionRateField } from './handler.js';
import {
  answerKey,
  asRepeat,
  authorizationAdvice,
  authorizationRequest,
  networkManagement,
  requestKey,
  reversal,
  type CardPresentment,
} from './messages.js';
import { startNetworkInterface } from './start.js';

/**
 * Issue 12's end-to-end test: a network on a real TCP socket authorizes, repeats, reverses, advises and echoes, and
 * the wallet's balances and the ledger are right after each step.
 */

const profile = ISO8583_1987_ASCII;
let api: TestApi;
let main: TestProgram;
let server: Iso8583Server;
let client: Iso8583Client;
const registry = new Registry();

interface Card {
  readonly account: string;
  readonly cardId: string;
  readonly pan: string;
  readonly cvv2: string;
  readonly expiry: string;
}

interface Balance {
  readonly available: number;
  readonly pending: number;
  readonly posted: number;
}

let people = 0;
async function fundedCard(load: number, currency = 'HKD', type = 'multi_use'): Promise<Card> {
  people += 1;
  const headers = main.headers;
  const holder = await callJson(api.app, 'POST', '/v1/cardholders', headers, {
    name: `Lee Siu Ming ${people}`,
  });
  const account = await callJson(api.app, 'POST', '/v1/accounts', headers, {
    cardholder_id: holder.body.id,
    currency,
  });
  if (load > 0) {
    const loaded = await callJson(api.app, 'POST', `/v1/accounts/${String(account.body.id)}/loads`, headers, {
      amount: load,
      currency,
    });
    expect(loaded.status).toBe(201);
  }
  const card = await callJson(api.app, 'POST', '/v1/cards', headers, {
    cardholder_id: holder.body.id,
    account_id: account.body.id,
    type,
  });
  expect(card.status).toBe(201);
  const revealed = await callJson(api.app, 'POST', `/v1/cards/${String(card.body.id)}/reveal`, headers);
  const {
    pan,
    cvv2,
    exp_month: month,
    exp_year: year,
  } = revealed.body as {
    pan: string;
    cvv2: string;
    exp_month: number;
    exp_year: number;
  };
  return {
    account: String(account.body.id),
    cardId: String(card.body.id),
    pan,
    cvv2,
    expiry: `${String(year % 100).padStart(2, '0')}${String(month).padStart(2, '0')}`,
  };
}

async function balanceOf(account: string): Promise<Balance> {
  const found = await callJson(api.app, 'GET', `/v1/accounts/${account}`, main.headers);
  return found.body.balance as Balance;
}

async function expectBalance(account: string, balance: Balance): Promise<void> {
  expect(await balanceOf(account)).toEqual(balance);
  const report = await verifyLedger(api.db);
  expect(report.problems).toEqual([]);
}

let stan = 0;
function keys(): Pick<CardPresentment, 'stan' | 'rrn' | 'transmissionTime' | 'acquirerId'> {
  stan += 1;
  return {
    stan: String(stan).padStart(6, '0'),
    rrn: `633500${String(stan).padStart(6, '0')}`,
    transmissionTime: '1126093000',
    acquirerId: '400001',
  };
}

function purchase(card: Card, amount: number, extra: Partial<CardPresentment> = {}): CardPresentment {
  return {
    ...keys(),
    pan: card.pan,
    expiry: card.expiry,
    cvv2: card.cvv2,
    amount,
    currency: 'HKD',
    mcc: '5812',
    merchantName: 'Tai Cheong Bakery',
    city: 'Hong Kong',
    country: 'HK',
    acceptorId: 'TCB000000000001',
    terminalId: 'TCB00001',
    entryMode: 'ecommerce',
    ...extra,
  };
}

async function exchange(
  message: IsoMessage,
  over: { client: Iso8583Client; profile: Iso8583Profile } = { client, profile },
): Promise<IsoMessage> {
  const answer = await over.client.request(pack(over.profile, message), requestKey(message));
  return unpack(over.profile, answer);
}

function field(message: IsoMessage, number: number): string | undefined {
  const value = message.fields.get(number);
  return typeof value === 'string' ? value : undefined;
}

async function authorizationOf(cardId: string): Promise<Record<string, unknown>[]> {
  const listed = await callJson(api.app, 'GET', `/v1/authorizations?card_id=${cardId}`, main.headers);
  return listed.body.data as Record<string, unknown>[];
}

beforeAll(async () => {
  api = await openTestApi();
  main = await withoutProtections(api, await createTestProgram(api));
  server = await startNetworkInterface({
    context: { ...api.issuing, convert: convertForCard },
    registry,
  });
  client = await connectIso8583Client({
    port: server.port,
    keyOf: (frame) => answerKey(unpack(profile, frame)),
  });
});

afterAll(async () => {
  await client.close();
  await server.close();
  await api.close();
});

describe('ISO 8583 over TCP, end to end', () => {
  it('answers sign-on, echo and sign-off with 0810, echoing 7, 11 and 70', async () => {
    for (const code of ['sign_on', 'echo', 'sign_off'] as const) {
      const request = networkManagement(code, { stan: keys().stan, transmissionTime: '1126093000' });
      const answer = await exchange(request);
      expect(answer.mti).toBe('0810');
      expect(field(answer, 39)).toBe('00');
      expect(field(answer, 11)).toBe(field(request, 11));
      expect(field(answer, 7)).toBe('1126093000');
      expect(field(answer, 70)).toBe(field(request, 70));
    }
  });

  it('authorizes, answers a repeat and an identical message from the first decision, reverses once', async () => {
    const card = await fundedCard(10_000);
    const presentment = purchase(card, 2_500);
    const request = authorizationRequest(presentment);
    const answer = await exchange(request);
    expect(answer.mti).toBe('0110');
    expect(field(answer, 39)).toBe('00');
    const [authorization] = await authorizationOf(card.cardId);
    expect(field(answer, 38)).toBe(approvalCode(String(authorization?.id)));
    expect(field(answer, 4)).toBe('000000002500');
    for (const echoed of [2, 3, 7, 11, 37, 41, 42, 49]) {
      expect(field(answer, echoed), `field ${echoed}`).toBe(field(request, echoed));
    }
    // Billing: HKD card, HKD purchase, rate 1.
    expect(field(answer, 6)).toBe('000000002500');
    expect(field(answer, 10)).toBe('61000000');
    expect(field(answer, 51)).toBe('344');
    await expectBalance(card.account, { available: 7_500, pending: 2_500, posted: 10_000 });

    const repeated = await exchange(asRepeat(request));
    expect(repeated.mti).toBe('0110');
    expect(field(repeated, 38)).toBe(field(answer, 38));
    const identical = await exchange(request);
    expect(field(identical, 38)).toBe(field(answer, 38));
    expect(await authorizationOf(card.cardId)).toHaveLength(1);
    await expectBalance(card.account, { available: 7_500, pending: 2_500, posted: 10_000 });

    const undo = reversal({ ...keys(), original: presentment });
    const reversed = await exchange(undo);
    expect(reversed.mti).toBe('0410');
    expect(field(reversed, 39)).toBe('00');
    expect(field(reversed, 90)).toBe(field(undo, 90));
    await expectBalance(card.account, { available: 10_000, pending: 0, posted: 10_000 });
    const again = await exchange(asRepeat(undo));
    expect(again.mti).toBe('0410');
    expect(field(again, 39)).toBe('00');
    await expectBalance(card.account, { available: 10_000, pending: 0, posted: 10_000 });
    const [after] = await authorizationOf(card.cardId);
    expect(after?.status).toBe('reversed');
  });

  it('reverses part of a hold through 95, and matches a reversal without 90 by the original keys', async () => {
    const card = await fundedCard(10_000);
    const presentment = purchase(card, 4_000);
    expect(field(await exchange(authorizationRequest(presentment)), 39)).toBe('00');
    const partial = await exchange(reversal({ ...keys(), original: presentment, completedAmount: 1_500 }));
    expect(field(partial, 39)).toBe('00');
    await expectBalance(card.account, { available: 8_500, pending: 1_500, posted: 10_000 });

    const advice = await exchange(
      reversal({ ...presentment, original: presentment, advice: true, withOriginalData: false }),
    );
    expect(advice.mti).toBe('0430');
    expect(field(advice, 39)).toBe('00');
    await expectBalance(card.account, { available: 10_000, pending: 0, posted: 10_000 });

    const unknown = await exchange(
      reversal({ ...keys(), original: { ...presentment, stan: '999999', rrn: '999999999999' } }),
    );
    expect(field(unknown, 39)).toBe('25');
  });

  it('declines with the engine’s codes and approves part of an amount when the terminal allows it', async () => {
    const card = await fundedCard(1_000);
    expect(field(await exchange(authorizationRequest(purchase(card, 5_000))), 39)).toBe('51');
    const wrongCvv = card.cvv2 === '999' ? '998' : '999';
    expect(field(await exchange(authorizationRequest(purchase(card, 100, { cvv2: wrongCvv }))), 39)).toBe(
      'N7',
    );
    expect(field(await exchange(authorizationRequest(purchase(card, 100, { expiry: '3001' }))), 39)).toBe(
      '54',
    );
    const stranger = { ...card, pan: `${card.pan.slice(0, 15)}${(Number(card.pan.at(-1)) + 1) % 10}` };
    expect(field(await exchange(authorizationRequest(purchase(stranger, 100))), 39)).toBe('14');

    const before = await balanceOf(card.account);
    const partial = await exchange(authorizationRequest(purchase(card, 5_000, { partialAllowed: true })));
    expect(field(partial, 39)).toBe('10');
    expect(field(partial, 4)).toBe(String(before.available).padStart(12, '0'));
    await expectBalance(card.account, {
      available: 0,
      pending: before.pending + before.available,
      posted: 1_000,
    });
  });

  it('bills a foreign purchase in the card’s currency: 6, 10 and 51', async () => {
    await api.db.transaction((tx) =>
      createFxRate(
        tx,
        api.issuing,
        { base: 'USD', quote: 'HKD', rate: '7.8', source: 'test' },
        { actor: { type: 'system', id: 'test' } },
      ),
    );
    const card = await fundedCard(100_000);
    const answer = await exchange(
      authorizationRequest(
        purchase(card, 1_000, { currency: 'USD', merchantName: 'Blue Bottle', country: 'US' }),
      ),
    );
    expect(field(answer, 39)).toBe('00');
    expect(field(answer, 49)).toBe('840');
    expect(field(answer, 4)).toBe('000000001000');
    const [authorization] = await authorizationOf(card.cardId);
    expect(field(answer, 6)).toBe(String(authorization?.approved_amount).padStart(12, '0'));
    expect(field(answer, 10)).toBe(
      conversionRateField(String(authorization?.fx_rate), Number(authorization?.fx_markup_bps)),
    );
    expect(field(answer, 51)).toBe('344');
  });

  it('applies a stand-in approval advice to the ledger even beyond the balance, and records a declined one', async () => {
    const card = await fundedCard(1_000);
    const approved = await exchange(authorizationAdvice(purchase(card, 3_000), '00'));
    expect(approved.mti).toBe('0130');
    expect(field(approved, 39)).toBe('00');
    // The network approved 3,000 on the issuer's behalf: the wallet holds what it has, the rest is owed at clearing.
    await expectBalance(card.account, { available: 0, pending: 1_000, posted: 1_000 });
    const [recorded] = await authorizationOf(card.cardId);
    expect(recorded).toMatchObject({
      approved: true,
      approved_amount: 3_000,
      amount: 1_000,
      response_code: '00',
    });
    const checks = recorded?.checks as { check: string; result: string; detail?: string }[];
    expect(checks.at(-1)).toMatchObject({ check: 'network_stand_in', result: 'pass' });
    expect(checks.at(-1)?.detail).toContain('insufficient_funds');

    const advice = authorizationAdvice(purchase(card, 200), '05');
    expect(field(await exchange(advice), 39)).toBe('00');
    expect(field(await exchange(asRepeat(advice)), 39)).toBe('00');
    const all = await authorizationOf(card.cardId);
    expect(all).toHaveLength(2);
    expect(all.find((entry) => entry.response_code === '05')).toMatchObject({
      approved: false,
      decline_reason: 'stand_in_declined',
    });
    await expectBalance(card.account, { available: 0, pending: 1_000, posted: 1_000 });
  });

  it('answers a readable message it cannot parse with 30, an unsupported one with 12', async () => {
    const card = await fundedCard(1_000);
    const request = authorizationRequest(purchase(card, 100));
    const missing = new Map(request.fields);
    missing.delete(22);
    const answer = await exchange({ mti: '0100', fields: missing });
    expect(answer.mti).toBe('0110');
    expect(field(answer, 39)).toBe('30');
    expect(field(answer, 11)).toBe(field(request, 11));

    // Field 4 with a letter in it: unpack fails there, after 2 and 3; the answer echoes what was read before.
    const bytes = pack(profile, request);
    const broken = Buffer.from(bytes);
    const at = broken.indexOf(Buffer.from('000000000100'));
    broken[at] = 'X'.charCodeAt(0);
    const garbled = unpack(profile, await client.request(broken, `11||`));
    expect(garbled.mti).toBe('0110');
    expect(field(garbled, 39)).toBe('30');
    expect(garbled.fields.has(2)).toBe(false);

    const financial = await exchange({ mti: '0200', fields: request.fields });
    expect(financial.mti).toBe('0210');
    expect(field(financial, 39)).toBe('12');
    await expectBalance(card.account, { available: 1_000, pending: 0, posted: 1_000 });
  });

  it('closes the connection on a frame whose message type cannot be read, after its answers', async () => {
    const other = await connectIso8583Client({
      port: server.port,
      keyOf: (frame) => answerKey(unpack(profile, frame)),
    });
    const echo = networkManagement('echo', { stan: keys().stan, transmissionTime: '1126093000' });
    const answered = other.request(pack(profile, echo), requestKey(echo));
    await other.send(new Uint8Array([0x41, 0x42, 0x43, 0x44, 0x00]));
    // The echo sent before the unreadable frame is still answered; then the server closes.
    expect(field(unpack(profile, await answered), 39)).toBe('00');
    await other.closed;
    expect(other.isClosed).toBe(true);
    // The server goes on serving others.
    const still = await exchange(
      networkManagement('echo', { stan: keys().stan, transmissionTime: '1126093000' }),
    );
    expect(field(still, 39)).toBe('00');
  });

  it('counts messages by type and response code', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/lantau_iso8583_messages_total\{mti="0100",response_code="00"\} \d+/);
    expect(text).toMatch(/lantau_iso8583_messages_total\{mti="0100",response_code="51"\} \d+/);
    expect(text).toMatch(/lantau_iso8583_messages_total\{mti="0800",response_code="00"\} \d+/);
    expect(text).toContain('lantau_iso8583_connections_closed_total{reason="unreadable_message"} 1');
    expect(text).not.toContain(
      (await fundedCard(0)).pan, // no card number ever reaches a metric label
    );
  });
});

describe('advices and reversals at the edges', () => {
  it('brings a decided authorization in line with a later advice of the network’s stand-in decision', async () => {
    const card = await fundedCard(1_000);
    // Lantau declined 3,000 (51), but its answer was late: the network approved in stand-in and advises it.
    const declinedFirst = purchase(card, 3_000);
    expect(field(await exchange(authorizationRequest(declinedFirst)), 39)).toBe('51');
    const advice = authorizationAdvice(declinedFirst, '00');
    expect(field(await exchange(advice), 39)).toBe('00');
    let [entry] = await authorizationOf(card.cardId);
    expect(entry).toMatchObject({ approved: true, status: 'pending', approved_amount: 3_000, amount: 1_000 });
    expect((entry?.request_history as { kind: string }[]).map((item) => item.kind)).toEqual([
      'authorization',
      'advice',
    ]);
    await expectBalance(card.account, { available: 0, pending: 1_000, posted: 1_000 });
    expect(field(await exchange(asRepeat(advice)), 39)).toBe('00');
    [entry] = await authorizationOf(card.cardId);
    expect(entry?.request_history).toHaveLength(2);

    // The other way: Lantau approved, the network declined in stand-in; the hold is given back.
    const other = await fundedCard(1_000);
    const approvedFirst = purchase(other, 400);
    expect(field(await exchange(authorizationRequest(approvedFirst)), 39)).toBe('00');
    await expectBalance(other.account, { available: 600, pending: 400, posted: 1_000 });
    expect(field(await exchange(authorizationAdvice(approvedFirst, '91')), 39)).toBe('00');
    const [declined] = await authorizationOf(other.cardId);
    expect(declined).toMatchObject({
      approved: false,
      status: 'declined',
      response_code: '91',
      decline_reason: 'stand_in_declined',
    });
    await expectBalance(other.account, { available: 1_000, pending: 0, posted: 1_000 });
  });

  it('refuses a stand-in approval it has no rate for, and records nothing', async () => {
    const card = await fundedCard(10_000);
    const answer = await exchange(authorizationAdvice(purchase(card, 1_000, { currency: 'EUR' }), '00'));
    expect(answer.mti).toBe('0130');
    expect(field(answer, 39)).toBe('91');
    expect(await authorizationOf(card.cardId)).toEqual([]);
    await expectBalance(card.account, { available: 10_000, pending: 0, posted: 10_000 });
  });

  it('keeps what a partial reversal says was completed held, even of a stand-in approval held short', async () => {
    const card = await fundedCard(1_000);
    const presentment = purchase(card, 3_000);
    expect(field(await exchange(authorizationAdvice(presentment, '00')), 39)).toBe('00');
    await expectBalance(card.account, { available: 0, pending: 1_000, posted: 1_000 });
    // 2,000 of the 3,000 was completed: all that is held (1,000) stays held.
    expect(
      field(await exchange(reversal({ ...keys(), original: presentment, completedAmount: 2_000 })), 39),
    ).toBe('00');
    await expectBalance(card.account, { available: 0, pending: 1_000, posted: 1_000 });
    // 500 completed: 500 stays held.
    expect(
      field(await exchange(reversal({ ...keys(), original: presentment, completedAmount: 500 })), 39),
    ).toBe('00');
    await expectBalance(card.account, { available: 500, pending: 500, posted: 1_000 });
  });

  it('reverses an authorization whose reversal arrives while it is still being decided', async () => {
    const card = await fundedCard(5_000);
    const presentment = purchase(card, 2_000);
    const request = authorizationRequest(presentment);
    const undo = reversal({ ...keys(), original: presentment });
    const [approved, reversed] = await Promise.all([exchange(request), exchange(undo)]);
    expect(field(approved, 39)).toBe('00');
    expect(field(reversed, 39)).toBe('00');
    await expectBalance(card.account, { available: 5_000, pending: 0, posted: 5_000 });
  });

  it('does not reverse an authorization of another card, whatever the keys say', async () => {
    const card = await fundedCard(5_000);
    const someoneElse = await fundedCard(5_000);
    const presentment = purchase(card, 2_000);
    expect(field(await exchange(authorizationRequest(presentment)), 39)).toBe('00');
    const forged = reversal({ ...keys(), original: { ...presentment, pan: someoneElse.pan } });
    expect(field(await exchange(forged), 39)).toBe('25');
    await expectBalance(card.account, { available: 3_000, pending: 2_000, posted: 5_000 });
  });

  it('leaves a closed single-use card’s reason alone when the network approves on it in stand-in', async () => {
    const card = await fundedCard(5_000, 'HKD', 'single_use');
    const closed = await callJson(api.app, 'PATCH', `/v1/cards/${card.cardId}`, main.headers, {
      status: 'closed',
      status_reason: 'stolen',
    });
    expect(closed.status).toBe(200);
    expect(field(await exchange(authorizationRequest(purchase(card, 100))), 39)).toBe('43');
    expect(field(await exchange(authorizationAdvice(purchase(card, 100), '00')), 39)).toBe('00');
    expect(field(await exchange(authorizationRequest(purchase(card, 100))), 39)).toBe('43');
  });

  it('refuses connections from peers it was not told to accept', async () => {
    const guarded = await startNetworkInterface({
      context: { ...api.issuing, convert: convertForCard },
      allowedPeers: ['10.9.9.9'],
    });
    try {
      const stranger = await connectIso8583Client({ port: guarded.port });
      await stranger.closed;
      expect(stranger.isClosed).toBe(true);
      expect(guarded.stats().connectionsRefused).toBe(1);
    } finally {
      await guarded.close();
    }
  });
});

describe('a profile written as a file', () => {
  it('reads BCD numerics and CVV2 from the tagged element the profile names, with an ASCII length header', async () => {
    const definition = JSON.parse(
      readFileSync(new URL('../codec/profiles/iso8583-1987-bcd.json', import.meta.url), 'utf8'),
    ) as Record<string, unknown>;
    const tagged = parseProfile(
      JSON.stringify({ ...definition, name: 'BCD_CVV2_IN_48_TAG_92', cvv2: { field: 48, tag: '92' } }),
    );
    const bcdServer = await startNetworkInterface({
      context: { ...api.issuing, convert: convertForCard },
      profile: tagged,
      lengthHeader: 'ascii4',
    });
    const bcdClient = await connectIso8583Client({
      port: bcdServer.port,
      framing: { header: 'ascii4' },
      keyOf: (frame) => answerKey(unpack(tagged, frame)),
    });
    try {
      const over = { client: bcdClient, profile: tagged };
      const card = await fundedCard(5_000);
      const request = authorizationRequest(purchase(card, 1_200), tagged);
      expect(request.fields.get(48)).toBe(`9203${card.cvv2}`);
      const approved = await exchange(request, over);
      expect(approved.mti).toBe('0110');
      expect(field(approved, 39)).toBe('00');
      const wrong = card.cvv2 === '123' ? '124' : '123';
      expect(
        field(await exchange(authorizationRequest(purchase(card, 100, { cvv2: wrong }), tagged), over), 39),
      ).toBe('N7');
      await expectBalance(card.account, { available: 3_800, pending: 1_200, posted: 5_000 });
    } finally {
      await bcdClient.close();
      await bcdServer.close();
    }
  });
});

describe('any sequence of network messages', () => {
  type Step =
    | { readonly kind: 'authorize'; readonly amount: number; readonly partial: boolean }
    | { readonly kind: 'advice'; readonly amount: number; readonly approved: boolean }
    | {
        readonly kind: 'reverse';
        readonly pick: number;
        readonly completed: number;
        readonly advice: boolean;
      }
    | { readonly kind: 'repeat'; readonly pick: number };

  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      kind: fc.constant('authorize' as const),
      amount: fc.integer({ min: 0, max: 6_000 }),
      partial: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('advice' as const),
      amount: fc.integer({ min: 1, max: 6_000 }),
      approved: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('reverse' as const),
      pick: fc.nat(),
      completed: fc.integer({ min: 0, max: 3_000 }),
      advice: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('repeat' as const), pick: fc.nat() }),
  );

  it('keeps the wallet’s holds equal to its open authorizations, the ledger balanced, and repeats unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 10 }), async (steps) => {
        const card = await fundedCard(10_000);
        const sent: { request: IsoMessage; answer: IsoMessage; presentment: CardPresentment }[] = [];
        for (const next of steps) {
          if (next.kind === 'authorize' || next.kind === 'advice') {
            const presentment = purchase(card, next.amount, {
              partialAllowed: next.kind === 'authorize' && next.partial,
            });
            const request =
              next.kind === 'authorize'
                ? authorizationRequest(presentment)
                : authorizationAdvice(presentment, next.approved ? '00' : '05');
            sent.push({ request, answer: await exchange(request), presentment });
          } else if (sent.length > 0) {
            const earlier = sent[next.pick % sent.length];
            if (earlier === undefined) continue;
            if (next.kind === 'repeat') {
              const again = await exchange(
                earlier.request.mti.endsWith('0') ? asRepeat(earlier.request) : earlier.request,
              );
              expect(again.fields).toEqual(earlier.answer.fields);
            } else {
              const completed = next.completed < earlier.presentment.amount ? next.completed : 0;
              const answer = await exchange(
                reversal({
                  ...keys(),
                  original: earlier.presentment,
                  advice: next.advice,
                  ...(completed > 0 ? { completedAmount: completed } : {}),
                }),
              );
              expect(field(answer, 39)).toBe('00');
            }
          }
        }
        const open = (await authorizationOf(card.cardId)).filter((entry) => entry.status === 'pending');
        const held = open.reduce((sum, entry) => sum + Number(entry.amount), 0);
        const balance = await balanceOf(card.account);
        expect(balance.pending).toBe(held);
        expect(balance.posted).toBe(10_000);
        expect(balance.available).toBe(10_000 - held);
        expect((await verifyLedger(api.db)).problems).toEqual([]);
      }),
      { numRuns: 16, seed: 1126 },
    );
  });
});

describe('expiry', () => {
  it('lapses a stand-in approval the wallet could hold nothing of, as a held one would', async () => {
    const card = await fundedCard(0);
    expect(field(await exchange(authorizationAdvice(purchase(card, 700), '00')), 39)).toBe('00');
    const [open] = await authorizationOf(card.cardId);
    expect(open).toMatchObject({ status: 'pending', amount: 0, approved_amount: 700 });
    const before = api.clock.now();
    api.clock.advance(40 * 24 * 60 * 60 * 1000);
    try {
      await expireAuthorizations({ ...api.issuing, convert: convertForCard });
      const [lapsed] = await authorizationOf(card.cardId);
      expect(lapsed?.status).toBe('expired');
    } finally {
      api.clock.set(before);
    }
  });
});
