import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../../test/support/app.js';
import {
  createTestProgram,
  withoutProtections,
  type TestProgram,
} from '../../../../test/support/programs.js';
import { verifyLedger } from '../../../ledger/index.js';
import { convertForCard, createFxRate } from '../../../processing/fx.js';
import {
  ISO8583_1987_ASCII,
  ISO8583_1987_BCD,
  pack,
  type IsoMessage,
  type Iso8583Profile,
} from '../codec/index.js';
import { resolveFraming } from '../transport/framing.js';
import type { Iso8583Server } from '../transport/server.js';
import {
  expectationOf,
  formatFuzzReport,
  FUZZ_GENERATORS,
  FuzzFrames,
  runFuzz,
  sampleMessages,
  type FuzzCard,
} from './fuzz.js';
import { authorizationRequest, networkManagement } from './messages.js';
import { startNetworkInterface } from './start.js';

/**
 * The short version of `npm run fuzz:iso8583` (scripts/fuzz-iso8583.ts): a few thousand random and mutated frames
 * with a fixed seed against the ISO 8583 interface over this run's test database, with real cards so that valid and
 * mutated-but-parseable frames reach the engine. No frame may get an outcome the handler's rules do not predict, none
 * may hang, the server must still answer an echo, and the ledger must verify afterwards.
 */

type Json = Record<string, unknown>;

let api: TestApi;
let program: TestProgram;
let cards: FuzzCard[];
const servers: Iso8583Server[] = [];

async function post(url: string, payload?: Json): Promise<Json> {
  const response = await api.app.inject({
    method: 'POST',
    url,
    headers: { ...program.headers },
    ...(payload === undefined ? {} : { payload }),
  });
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response.json<Json>();
}

/** A card on a wallet of its own holding `load`, revealed as the network would present it. */
async function fundedCard(currency: string, load: number): Promise<FuzzCard> {
  const holder = await post('/v1/cardholders', { name: `Fuzz Holder ${currency} ${load}` });
  const account = await post('/v1/accounts', { cardholder_id: holder.id, currency });
  if (load > 0) await post(`/v1/accounts/${String(account.id)}/loads`, { amount: load, currency });
  const card = await post('/v1/cards', {
    cardholder_id: holder.id,
    account_id: account.id,
    type: 'multi_use',
  });
  const revealed = await post(`/v1/cards/${String(card.id)}/reveal`);
  return {
    pan: String(revealed.pan),
    cvv2: String(revealed.cvv2),
    expiry: `${String(Number(revealed.exp_year) % 100).padStart(2, '0')}${String(Number(revealed.exp_month)).padStart(2, '0')}`,
  };
}

async function serve(profile: Iso8583Profile): Promise<Iso8583Server> {
  const server = await startNetworkInterface({
    context: { ...api.issuing, convert: convertForCard },
    port: 0,
    host: '127.0.0.1',
    profile,
  });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  api = await openTestApi();
  program = await withoutProtections(api, await createTestProgram(api));
  // Rates both ways, so mutated amounts in another currency are converted, billed (6, 10, 51) and may overflow 6.
  await api.db.transaction(async (tx) => {
    for (const [base, quote, rate] of [
      ['USD', 'HKD', '7.8125'],
      ['HKD', 'USD', '0.128'],
      ['JPY', 'HKD', '0.052'],
    ] as const) {
      await createFxRate(
        tx,
        api.issuing,
        { base, quote, rate, source: 'test' },
        { actor: { type: 'system', id: 'test' } },
      );
    }
  });
  cards = [
    await fundedCard('HKD', 50_000_00),
    await fundedCard('HKD', 1_000_00),
    await fundedCard('HKD', 0),
    await fundedCard('USD', 10_000_00),
  ];
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await api.close();
});

describe('the oracle', () => {
  const profile = ISO8583_1987_ASCII;
  const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
  const echo = networkManagement('echo', { stan: '000123', transmissionTime: '0301120000' });
  const purchase: IsoMessage = authorizationRequest({
    pan: '4000000000000002',
    stan: '000124',
    rrn: '000000000124',
    transmissionTime: '0301120000',
    acquirerId: '40000000001',
    amount: 100,
    currency: 'HKD',
    mcc: '5812',
    merchantName: 'Tai Cheong Bakery',
  });

  it('expects the response MTI for a request that unpacks, with 12 for one Lantau does not handle', () => {
    expect(expectationOf(profile, pack(profile, echo))).toMatchObject({
      kind: 'answer',
      mti: '0810',
      stan: '000123',
    });
    expect(expectationOf(profile, pack(profile, purchase))).toMatchObject({ kind: 'answer', mti: '0110' });
    expect(expectationOf(profile, pack(profile, { ...purchase, mti: '0200' }))).toMatchObject({
      kind: 'answer',
      mti: '0210',
      code: '12',
    });
  });

  it('expects a format error (30) when the MTI reads as a request and the rest does not', () => {
    const packed = pack(profile, purchase);
    expect(expectationOf(profile, packed.subarray(0, packed.length - 3))).toMatchObject({
      kind: 'answer',
      mti: '0110',
      code: '30',
      stan: '000124',
      parsed: false,
    });
    expect(expectationOf(profile, ascii('0100'))).toMatchObject({ kind: 'answer', mti: '0110', code: '30' });
  });

  it('expects the connection closed when the MTI does not read or is not a request', () => {
    expect(expectationOf(profile, ascii('01'))).toEqual({ kind: 'close', why: 'mti_unreadable' });
    expect(expectationOf(profile, ascii('01X0'))).toEqual({ kind: 'close', why: 'mti_unreadable' });
    expect(expectationOf(profile, pack(profile, { ...echo, mti: '0810' }))).toEqual({
      kind: 'close',
      why: 'not_a_request',
    });
    expect(expectationOf(profile, ascii('0130garbage'))).toEqual({ kind: 'close', why: 'not_a_request' });
  });

  it('makes every frame a pure function of the seed and its index', () => {
    const samples = sampleMessages([{ pan: '4242420000000001', expiry: '3001', cvv2: '123' }], profile);
    const framing = resolveFraming();
    const one = new FuzzFrames(profile, 7, samples, framing);
    const two = new FuzzFrames(profile, 7, samples, framing);
    const generators = new Set<string>();
    for (let index = 0; index < 500; index += 1) {
      const frame = one.frame(index);
      generators.add(frame.generator);
      expect(two.frame(index)).toEqual(frame);
    }
    expect([...generators].sort()).toEqual([...FUZZ_GENERATORS].sort());
    expect(new FuzzFrames(profile, 8, samples, framing).frame(3)).not.toEqual(one.frame(3));
  });
});

describe('fuzzing the ISO 8583 interface', () => {
  it('answers, format-errors or closes exactly as the rules say, never hangs, and the ledger verifies', async () => {
    const server = await serve(ISO8583_1987_ASCII);
    const report = await runFuzz({
      port: server.port,
      frames: 4_000,
      seed: 20_260_301,
      connections: 8,
      profile: ISO8583_1987_ASCII,
      validSamples: sampleMessages(cards, ISO8583_1987_ASCII),
    });
    const summary = formatFuzzReport(report);
    expect(report.findings, summary).toEqual([]);
    expect(report.ok, summary).toBe(true);
    expect(report.frames).toBe(4_000);
    expect(report.echo).toBe('ok');
    // The run reached every outcome: format errors, refusals, the engine's decisions and closes.
    expect(report.answersByCode['30'] ?? 0, summary).toBeGreaterThan(500);
    expect(report.answersByCode['12'] ?? 0, summary).toBeGreaterThan(0);
    expect(report.answersByCode['00'] ?? 0, summary).toBeGreaterThan(0);
    expect(report.expected.parsed, summary).toBeGreaterThan(200);
    expect(report.closes, summary).toBeGreaterThan(500);
    expect(server.stats().handlerErrors).toBe(0);
    const ledger = await verifyLedger(api.db);
    expect(ledger.problems).toEqual([]);
    expect(ledger.ok).toBe(true);
  });

  it('does the same with BCD numerics and length prefixes', async () => {
    const server = await serve(ISO8583_1987_BCD);
    const report = await runFuzz({
      port: server.port,
      frames: 1_500,
      seed: 8_583,
      connections: 8,
      profile: ISO8583_1987_BCD,
      validSamples: sampleMessages(cards, ISO8583_1987_BCD),
    });
    const summary = formatFuzzReport(report);
    expect(report.findings, summary).toEqual([]);
    expect(report.ok, summary).toBe(true);
    expect(report.closes, summary).toBeGreaterThan(0);
    expect(report.answersByCode['30'] ?? 0, summary).toBeGreaterThan(0);
    expect((await verifyLedger(api.db)).ok).toBe(true);
  });
});
