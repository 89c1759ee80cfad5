import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../test/support/app.js';
import { createTestProgram, withoutProtections, type TestProgram } from '../../../test/support/programs.js';
import { verifyLedger } from '../../ledger/index.js';
import { convertForCard } from '../../processing/fx.js';
import { startNetworkInterface } from '../iso8583/network/start.js';
import type { Iso8583Server } from '../iso8583/transport/server.js';
import {
  formatSimulationReport,
  planFromOptions,
  runNetworkSimulation,
  setUpCardsOverHttp,
  SimulationOptionError,
  type SimulatedCard,
} from './network.js';

/**
 * `lantau network simulate`'s engine against the real interface: cards set up over the HTTP API of an in-process
 * app, the ISO 8583 interface on the same engine and database, a count-based run of the full mix.
 */

let api: TestApi;
let program: TestProgram;
let apiUrl: string;
let server: Iso8583Server;
let cards: SimulatedCard[];

beforeAll(async () => {
  api = await openTestApi();
  program = await withoutProtections(api, await createTestProgram(api));
  apiUrl = await api.app.listen({ port: 0, host: '127.0.0.1' });
  server = await startNetworkInterface({
    context: { ...api.issuing, convert: convertForCard },
    port: 0,
    host: '127.0.0.1',
  });
  cards = await setUpCardsOverHttp({
    api: apiUrl,
    key: program.secret,
    cards: 24,
    currency: 'HKD',
    load: 3_000_00,
  });
});

afterAll(async () => {
  await server.close();
  await api.close();
});

describe('network simulate', () => {
  it('sets up revealed, funded cards through the HTTP API', () => {
    expect(cards).toHaveLength(24);
    for (const card of cards) {
      expect(card.pan).toMatch(/^424242[0-9]{10}$/);
      expect(card.cvv2).toMatch(/^[0-9]{3}$/);
      expect(card.balance).toBe(3_000_00);
      expect(card.currency).toBe('HKD');
    }
  });

  it('answers every message of the mix, repeats as their originals, and leaves the ledger sound', async () => {
    const report = await runNetworkSimulation({
      port: server.port,
      cards,
      connections: 3,
      load: { kind: 'closed', concurrency: 6 },
      messages: 400,
      seed: 12_345,
      // More of the rarer kinds than a real network sends, so that a few hundred messages show each of them.
      mix: {
        purchase: 50,
        wrongCvv2: 6,
        overBalance: 8,
        repeat: 10,
        reversal: 10,
        reversalAdvice: 4,
        advice: 6,
        echo: 6,
      },
      partialShare: 0.4,
    });
    const lines = formatSimulationReport(report).join('\n');

    expect(report.sent, lines).toBe(400);
    expect(report.answered, lines).toBe(400);
    expect(report.timeouts + report.failed + report.notSent, lines).toBe(0);
    expect(Object.keys(report.byMti).sort(), lines).toEqual(['0100', '0101', '0120', '0400', '0420', '0800']);

    const purchases = report.byMti['0100']?.codes ?? {};
    for (const code of ['00', '10', '51', 'N7']) expect(purchases[code], lines).toBeGreaterThan(0);
    for (const mti of ['0120', '0400', '0420', '0800']) {
      expect(report.byMti[mti]?.codes, `${mti}\n${lines}`).toEqual({ '00': report.byMti[mti]?.sent });
    }
    // Every repeat got its original's 39 and 38.
    expect(report.repeats.checked, lines).toBe(report.byMti['0101']?.answered);
    expect(report.repeats.mismatched, lines).toBe(0);
    // What the simulator could predict came as predicted (protections are off; the risk model may still decline).
    const unmet = Object.entries(report.expectations.unmet).filter(([what]) => !what.endsWith('-> 59'));
    expect(unmet, lines).toEqual([]);
    expect(report.expectations.checked, lines).toBeGreaterThan(300);

    // The report names no card data.
    for (const card of cards) {
      expect(lines).not.toContain(card.pan);
    }
    expect(lines).toMatch(/p50 .* ms, p90 .* ms, p99 .* ms, max .* ms/);

    // The simulator's reckoning of each wallet is the ledger's: approvals held, partial approvals held in part,
    // advices held as the network decided, reversals (in full and in part) released.
    const available = await Promise.all(
      cards.map(async (card) => {
        const response = await api.app.inject({
          method: 'GET',
          url: `/v1/accounts/${card.accountId ?? ''}`,
          headers: program.headers,
        });
        return response.json<{ balance: { available: number } }>().balance.available;
      }),
    );
    expect(available).toEqual(report.available);
    expect(available.some((amount, index) => amount < (cards[index]?.balance ?? 0))).toBe(true);

    const ledger = await verifyLedger(api.db);
    expect(ledger.problems).toEqual([]);
    expect(ledger.ok).toBe(true);
  });

  it('paces an open loop and stops at the count', async () => {
    const report = await runNetworkSimulation({
      port: server.port,
      cards,
      connections: 2,
      load: { kind: 'open', rate: 400 },
      messages: 60,
      seed: 7,
    });
    expect(report.sent).toBe(60);
    expect(report.answered).toBe(60);
    expect(report.byMti['0100']?.codes['00']).toBeGreaterThan(0);
    expect((await verifyLedger(api.db)).ok).toBe(true);
  });

  it('plays only against a sandbox programme', async () => {
    const live = await createTestProgram(api, { mode: 'live' });
    await expect(
      setUpCardsOverHttp({ api: apiUrl, key: live.secret, cards: 1, currency: 'HKD', load: 100 }),
    ).rejects.toThrow(/runs only in a sandbox/);
  });

  it('refuses options that make no sense, naming the option', async () => {
    const base = {
      host: '127.0.0.1',
      port: '8583',
      rate: '50',
      duration: '10',
      api: 'http://localhost:8080',
      key: 'lantau_sk_test',
      cards: '20',
      connections: '4',
      currency: 'HKD',
      load: '300000',
      lengthHeader: 'binary2',
      profile: 'iso8583-1987-ascii',
      timeout: '5000',
    };
    expect(planFromOptions(base, {}).simulation.load).toEqual({ kind: 'open', rate: 50 });
    expect(planFromOptions({ ...base, concurrency: '8' }, {}).simulation.load).toEqual({
      kind: 'closed',
      concurrency: 8,
    });
    for (const [change, message] of [
      [{ rate: 'fast' }, /--rate/],
      [{ port: '70000' }, /--port/],
      [{ cards: '0' }, /--cards/],
      [{ lengthHeader: 'binary4' }, /--length-header/],
      [{ profile: 'no-such-profile.json' }, /--profile/],
      [{ api: 'localhost' }, /--api/],
      [{ key: undefined }, /--key/],
    ] as const) {
      expect(() => planFromOptions({ ...base, ...change }, {})).toThrow(message);
    }
    expect(planFromOptions({ ...base, key: undefined }, { LANTAU_SANDBOX_SECRET_KEY: 'k' }).setup.key).toBe(
      'k',
    );
    await expect(
      runNetworkSimulation({ port: server.port, cards: [], load: { kind: 'open', rate: 1 }, messages: 1 }),
    ).rejects.toThrow(SimulationOptionError);
  });
});
