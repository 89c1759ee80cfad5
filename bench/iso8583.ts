/**
 * ISO 8583 figures for `npm run bench` (bench/index.ts registers `benchIso8583`):
 *   codec    pack and unpack rates of a typical 0100 (18 fields: PAN, amounts, dates, track 2, merchant data, PIN
 *            block) through Lantau's codec in both built-in profiles, and the same message through the npm
 *            `iso_8583` package measured in the same run for comparison. One core, synchronous loops.
 *   TCP      authorizations over TCP: an in-process database (PGlite, or a database of the bench's own on the
 *            DATABASE_URL server), the ISO 8583 interface `lantau serve` runs (startNetworkInterface) on loopback, cards
 *            set up in-process, then the network simulator (src/edges/cli/network.ts) in a closed loop of 0100s over
 *            several connections with many in flight for a fixed time: authorizations/s, latency, response codes, and
 *            the ledger check afterwards.
 * Nothing here fails on a number.
 */
import { createRequire } from 'node:module';
import { updateKycTiers } from '../src/compliance/kyc/tiers.js';
import {
  formatSimulationReport,
  runNetworkSimulation,
  type SimulatedCard,
} from '../src/edges/cli/network.js';
import {
  ISO8583_1987_ASCII,
  ISO8583_1987_BCD,
  pack,
  unpack,
  type Iso8583Profile,
  type IsoMessage,
} from '../src/edges/iso8583/codec/index.js';
import { startNetworkInterface } from '../src/edges/iso8583/network/start.js';
import { revealCard } from '../src/issuing/card-reveal.js';
import { createCardholder } from '../src/issuing/cardholders.js';
import { createCard } from '../src/issuing/cards.js';
import { fundProgram } from '../src/issuing/funding.js';
import { createProgram, type Actor, type IssuingContext } from '../src/issuing/programs.js';
import { createWallet, loadWallet } from '../src/issuing/wallets.js';
import { verifyLedger } from '../src/ledger/index.js';
import { systemClock } from '../src/platform/clock.js';
import type { Database } from '../src/platform/db/database.js';
import { migrate } from '../src/platform/db/migrate.js';
import { PGliteDatabase } from '../src/platform/db/pglite.js';
import { createIdGenerator } from '../src/platform/ids.js';
import { convertForCard } from '../src/processing/fx.js';
import { updateRiskProtections } from '../src/processing/risk-rules.js';
import { Keyring } from '../src/vault/keyring.js';
import { benchKek, openScratchPostgres } from './support.js';

/** Synchronous loops look at the time once per this many operations, so reading the clock costs little. */
const CHECK_EVERY = 256;

const PAN = '4000123456789010';

const LANTAU_MESSAGE: IsoMessage = {
  mti: '0100',
  fields: new Map<number, string | Uint8Array>([
    [2, PAN],
    [3, '000000'],
    [4, '000000012345'],
    [7, '0101123045'],
    [11, '000001'],
    [12, '123045'],
    [13, '0101'],
    [14, '2812'],
    [18, '5999'],
    [22, '051'],
    [32, '123456'],
    [35, `${PAN}=28121010000`],
    [37, '000000000001'],
    [41, 'TERM0001'],
    [42, 'MERCHANT0000001'],
    [43, 'LANTAU CAFE                    HONG KONG'],
    [49, '344'],
    [52, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])],
  ]),
};

/** The same message in iso_8583's shape (field number → string; 49 numeric, its default; 52 as hex). */
const LIBRARY_MESSAGE: Record<number, string> = {
  0: '0100',
  2: PAN,
  3: '000000',
  4: '000000012345',
  7: '0101123045',
  11: '000001',
  12: '123045',
  13: '0101',
  14: '2812',
  18: '5999',
  22: '051',
  32: '123456',
  35: `${PAN}=28121010000`,
  37: '000000000001',
  41: 'TERM0001',
  42: 'MERCHANT0000001',
  43: 'LANTAU CAFE                    HONG KONG',
  49: '344',
  52: '0102030405060708',
};

/** The slice of iso_8583's (untyped, CommonJS) API used here. */
interface Iso8583Library {
  new (data?: Record<number, string>): {
    getRawMessage(): Buffer | { error: string };
    getIsoJSON(buffer: Buffer, config: { lenHeader: boolean }): Record<string, string> | { error: string };
  };
}

function rate(count: number, ms: number): string {
  return Math.round((count / ms) * 1000).toLocaleString('en-US');
}

function loop(seconds: number, step: () => unknown): { operations: number; ms: number } {
  // Warm up so the JIT has compiled the path being measured.
  for (let index = 0; index < 10 * CHECK_EVERY; index += 1) step();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let operations = 0;
  while (performance.now() < deadline) {
    for (let index = 0; index < CHECK_EVERY; index += 1) step();
    operations += CHECK_EVERY;
  }
  return { operations, ms: performance.now() - started };
}

function report(label: string, result: { operations: number; ms: number }): number {
  const perSecond = (result.operations / result.ms) * 1000;
  console.log(`iso8583  ${label}: ${rate(result.operations, result.ms)} messages/s`);
  return perSecond;
}

export async function benchIso8583(seconds = 2): Promise<void> {
  benchCodec(seconds);
  await benchAuthorizationsOverTcp(Math.max(seconds, TCP_SECONDS_MIN));
}

function benchCodec(seconds: number): void {
  const figures: Record<string, number> = {};
  for (const profile of [ISO8583_1987_ASCII, ISO8583_1987_BCD] as Iso8583Profile[]) {
    const bytes = pack(profile, LANTAU_MESSAGE);
    figures[`pack ${profile.name}`] = report(
      `lantau pack   ${profile.name} (${bytes.length} bytes)`,
      loop(seconds, () => pack(profile, LANTAU_MESSAGE)),
    );
    figures[`unpack ${profile.name}`] = report(
      `lantau unpack ${profile.name}`,
      loop(seconds, () => unpack(profile, bytes)),
    );
  }

  const require = createRequire(import.meta.url);
  const Library = require('iso_8583') as Iso8583Library;
  const raw = new Library(LIBRARY_MESSAGE).getRawMessage();
  if (!Buffer.isBuffer(raw)) {
    console.log(`iso8583  iso_8583 could not pack the message: ${raw.error}`);
    return;
  }
  const decoded = new Library().getIsoJSON(raw, { lenHeader: false });
  if ('error' in decoded) {
    console.log(`iso8583  iso_8583 could not unpack its own message: ${decoded.error}`);
    return;
  }
  const libraryPack = report(
    `iso_8583 pack   (${raw.length} bytes)`,
    loop(seconds, () => new Library(LIBRARY_MESSAGE).getRawMessage()),
  );
  const libraryUnpack = report(
    'iso_8583 unpack',
    loop(seconds, () => new Library().getIsoJSON(raw, { lenHeader: false })),
  );
  const asciiPack = figures[`pack ${ISO8583_1987_ASCII.name}`] ?? 0;
  const asciiUnpack = figures[`unpack ${ISO8583_1987_ASCII.name}`] ?? 0;
  console.log(
    `iso8583  ${ISO8583_1987_ASCII.name} against iso_8583: pack ${(asciiPack / libraryPack).toFixed(1)}x, ` +
      `unpack ${(asciiUnpack / libraryUnpack).toFixed(1)}x`,
  );
}

// ---- Authorizations over TCP ----

/** The TCP run lasts at least this long (the codec's figures default to 3 s a figure). */
const TCP_SECONDS_MIN = 5;
const TCP_CARDS = 256;
const TCP_CONNECTIONS = 8;
const TCP_IN_FLIGHT = 64;
const TCP_WARMUP_MESSAGES = 500;
/** Each wallet holds HKD 1,000,000: a run never empties one, so the codes are the engine's, not the balances'. */
const TCP_LOAD = 100_000_000;
const TCP_SETUP_CALLERS = 16;
const BY: Actor = { actor: { type: 'system', id: 'bench iso8583' } };

interface TcpDatabase {
  readonly name: string;
  readonly db: Database;
  dispose(): Promise<void>;
}

/** PGlite in memory, or a database of the bench's own on the DATABASE_URL server, dropped afterwards. */
async function openTcpDatabase(): Promise<TcpDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl === undefined || serverUrl === '') {
    const db = await PGliteDatabase.open();
    await migrate(db);
    return { name: 'pglite', db, dispose: () => db.close() };
  }
  const scratch = await openScratchPostgres(serverUrl, 'lantau_bench_iso', { maxConnections: 16 });
  try {
    await migrate(scratch.db);
  } catch (error) {
    await scratch.dispose();
    throw error;
  }
  return { name: 'postgres', db: scratch.db, dispose: () => scratch.dispose() };
}

/** A sandbox programme without KYC limits or burst protections, and `TCP_CARDS` funded cards, revealed. */
async function setUpTcpCards(context: IssuingContext): Promise<SimulatedCard[]> {
  const { db } = context;
  const program = await db.transaction((tx) =>
    createProgram(
      tx,
      context,
      { name: 'Bench ISO 8583', bin: '424242', currencies: ['HKD'], region: 'hk', mode: 'sandbox' },
      BY,
    ),
  );
  const unlimited = {
    HKD: {
      max_balance: Number.MAX_SAFE_INTEGER,
      max_loads_per_year: Number.MAX_SAFE_INTEGER,
      max_per_transaction: Number.MAX_SAFE_INTEGER,
    },
  };
  await db.transaction(async (tx) => {
    await fundProgram(tx, context, program.id, { amount: Number.MAX_SAFE_INTEGER, currency: 'HKD' }, BY);
    await updateKycTiers(tx, context, program.id, { unverified: unlimited, verified: unlimited }, BY);
    // A closed loop sends each card far more authorizations a minute than a person makes.
    await updateRiskProtections(
      tx,
      context,
      program.id,
      { card_testing: { enabled: false }, burst: { enabled: false } },
      BY,
    );
  });
  const cards: SimulatedCard[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: TCP_SETUP_CALLERS }, async () => {
      while (next < TCP_CARDS) {
        next += 1;
        const index = next;
        const cardholder = await db.transaction((tx) =>
          createCardholder(tx, context, program.id, { name: `Bench Network ${String(index)}` }, BY),
        );
        const wallet = await db.transaction((tx) =>
          createWallet(tx, context, program.id, { cardholder_id: cardholder.id, currency: 'HKD' }, BY),
        );
        await db.transaction((tx) =>
          loadWallet(tx, context, wallet.id, program.id, { amount: TCP_LOAD, currency: 'HKD' }, BY),
        );
        const card = await db.transaction((tx) =>
          createCard(
            tx,
            context,
            program.id,
            { cardholder_id: cardholder.id, account_id: wallet.id, type: 'multi_use' },
            BY,
          ),
        );
        const details = await revealCard(context, program.id, card.id, BY);
        cards.push({
          pan: details.pan,
          cvv2: details.cvv2,
          expMonth: details.exp_month,
          expYear: details.exp_year,
          currency: 'HKD',
          balance: TCP_LOAD,
          accountId: wallet.id,
        });
      }
    }),
  );
  return cards;
}

/** Purchases, with the few declines a network sees: a wrong CVV2, an amount beyond the wallet. */
const TCP_MIX = {
  purchase: 94,
  wrongCvv2: 2,
  overBalance: 4,
  repeat: 0,
  reversal: 0,
  reversalAdvice: 0,
  advice: 0,
  echo: 0,
} as const;

async function benchAuthorizationsOverTcp(seconds: number): Promise<void> {
  let database: TcpDatabase;
  try {
    database = await openTcpDatabase();
  } catch (error) {
    console.log(
      `iso8583  TCP: skipped, no database (${error instanceof Error ? error.message : String(error)})`,
    );
    return;
  }
  const { db } = database;
  const clock = systemClock;
  const ids = createIdGenerator(clock);
  const vault = await Keyring.open({ db, kek: benchKek(), clock, ids, refreshIntervalMs: 0 });
  try {
    const context: IssuingContext = { db, clock, ids, vault, regions: ['hk'] };
    const setupStarted = performance.now();
    const cards = await setUpTcpCards(context);
    const server = await startNetworkInterface({
      context: { ...context, convert: convertForCard },
      port: 0,
      host: '127.0.0.1',
    });
    try {
      const common = {
        port: server.port,
        cards,
        connections: TCP_CONNECTIONS,
        load: { kind: 'closed', concurrency: TCP_IN_FLIGHT },
        mix: TCP_MIX,
        partialShare: 0.1,
      } as const;
      // Warm-up: the JIT, the database's caches, the engine's card directory.
      const warmup = await runNetworkSimulation({ ...common, messages: TCP_WARMUP_MESSAGES });
      // The run starts from what the warm-up left (a partial approval takes all a wallet holds).
      const cardsNow = cards.map((card, index) => ({ ...card, balance: warmup.available[index] ?? 0 }));
      console.log(
        `iso8583  TCP ${database.name}: ${String(TCP_CARDS)} cards set up and warmed in ${((performance.now() - setupStarted) / 1_000).toFixed(1)} s; ` +
          `closed loop of 0100s, ${String(TCP_IN_FLIGHT)} in flight over ${String(TCP_CONNECTIONS)} connections, ${String(seconds)} s`,
      );
      const report = await runNetworkSimulation({ ...common, cards: cardsNow, durationSeconds: seconds });
      const purchases = report.byMti['0100'];
      const latency = purchases?.latency;
      const figure = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(1));
      console.log(
        `iso8583  TCP ${database.name}: ${Math.round(report.answeredRate).toLocaleString('en-US')} authorizations/s, ` +
          `latency p50 ${figure(latency?.p50)} ms, p99 ${figure(latency?.p99)} ms, max ${figure(latency?.max)} ms`,
      );
      for (const line of formatSimulationReport(report)) console.log(`iso8583  TCP   ${line}`);
      const ledger = await verifyLedger(db);
      console.log(
        `iso8583  TCP ${database.name}: ledger ${ledger.ok ? 'verified' : `has ${String(ledger.problems.length)} problem(s)`} ` +
          `(${ledger.transfers.toLocaleString('en-US')} transfers)`,
      );
    } finally {
      await server.close();
    }
  } finally {
    vault.close();
    await database.dispose();
  }
}
