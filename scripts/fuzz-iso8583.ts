/**
 * `npm run fuzz:iso8583`: feeds random and mutated ISO 8583 frames to a server and checks every outcome (see
 * src/edges/iso8583/network/fuzz.ts for the rules and the generators).
 *
 *   --frames N        frames to send (default 1,000,000)
 *   --seed S          a 32-bit seed (default: random, printed); the same seed and samples give the same frames
 *   --first I         the index of the first frame (default 0): `--first I --frames 1` reproduces finding I
 *   --connections C   connections, one frame in flight on each (default 16)
 *   --timeout-ms T    a frame unanswered (and its connection not closed) this long is a hang (default 5,000)
 *   --profile P       ISO8583_1987_ASCII (default) or ISO8583_1987_BCD, or a JSON profile file
 *   --weights W       the generators' relative weights, e.g. `random=15,mti_random=20,mutation=50,valid=12,framing=3`
 *   --host H --port P fuzz a running server (`lantau serve` with ISO 8583 on); the valid samples then carry a card
 *                     number the server does not know
 *
 * Without --port it starts its own: the ISO 8583 interface in this process over a scratch database (embedded PGlite
 * in memory, or a new database on the DATABASE_URL server, dropped at the end), with a sandbox programme, funded
 * wallets, FX rates and a few cards, so that valid and mutated-but-parseable frames reach the engine; afterwards the
 * ledger must verify. Exits 1 on any finding (mismatch, hang, answer 96, crash), 2 on bad arguments.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { updateKycTiers } from '../src/compliance/kyc/tiers.js';
import { buildApi } from '../src/edges/http/api.js';
import {
  formatFuzzReport,
  FUZZ_GENERATORS,
  runFuzz,
  sampleMessages,
  type FuzzCard,
  type FuzzGeneratorName,
  type FuzzReport,
} from '../src/edges/iso8583/network/fuzz.js';
import { profileNamed, startNetworkInterface } from '../src/edges/iso8583/network/start.js';
import type { TransportLogger } from '../src/edges/iso8583/transport/server.js';
import { createApiKey } from '../src/issuing/api-keys.js';
import { apiKeyAuthenticator } from '../src/issuing/authenticator.js';
import { fundProgram } from '../src/issuing/funding.js';
import { createProgram, type Actor, type IssuingContext } from '../src/issuing/programs.js';
import { verifyLedger } from '../src/ledger/index.js';
import { systemClock } from '../src/platform/clock.js';
import type { Database } from '../src/platform/db/database.js';
import { migrate } from '../src/platform/db/migrate.js';
import { PGliteDatabase } from '../src/platform/db/pglite.js';
import { createIdGenerator } from '../src/platform/ids.js';
import { createLogger } from '../src/platform/logger.js';
import { openScratchPostgres } from '../bench/support.js';
import { createMetrics } from '../src/platform/metrics.js';
import { convertForCard } from '../src/processing/fx.js';
import { updateRiskProtections } from '../src/processing/risk-rules.js';
import { envKek } from '../src/vault/kek-env.js';
import { Keyring } from '../src/vault/keyring.js';
import { Secret } from '../src/vault/secret.js';

const BY: Actor = { actor: { type: 'system', id: 'fuzz' } };
const CARDS = 4;
const LOAD = 100_000_000_00;

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Anything that looks like a card number, masked: server-side error messages are printed. */
function scrub(text: string): string {
  return text.replace(/[0-9]{12,19}/g, (digits) => `${digits.slice(0, 6)}…${digits.slice(-4)}`);
}

function integer(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const parsed = Number(value.replace(/[_,]/g, ''));
  if (!Number.isSafeInteger(parsed) || parsed < min) {
    process.stderr.write(`--${name} must be an integer of at least ${min}, got ${value}\n`);
    process.exit(2);
  }
  return parsed;
}

/** Server-side errors (a handler that threw, an answer that could not be packed), counted and the first few kept. */
class ErrorLog implements TransportLogger {
  readonly kept: string[] = [];
  count = 0;
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(object: object, message: string): void {
    this.count += 1;
    if (this.kept.length >= 10) return;
    const err = (object as { err?: unknown }).err;
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : '';
    const mti = (object as { mti?: unknown }).mti;
    this.kept.push(
      scrub(
        `${message}${typeof mti === 'string' ? ` (MTI ${mti})` : ''}${detail === '' ? '' : `: ${detail}`}`,
      ),
    );
  }
}

/** `random=15,mutation=50,…`: the generators' relative weights (the others keep their defaults). */
function weightsOf(text: string | undefined): Partial<Record<FuzzGeneratorName, number>> {
  const weights: Partial<Record<FuzzGeneratorName, number>> = {};
  if (text === undefined) return weights;
  for (const part of text.split(',')) {
    const [name = '', value = ''] = part.split('=');
    const generator = FUZZ_GENERATORS.find((candidate) => candidate === name.trim());
    const weight = Number(value);
    if (generator === undefined || !Number.isFinite(weight) || weight < 0) {
      process.stderr.write(
        `--weights takes name=weight pairs of ${FUZZ_GENERATORS.join(', ')}; got ${part}\n`,
      );
      process.exit(2);
    }
    weights[generator] = weight;
  }
  return weights;
}

interface Scratch {
  readonly db: Database;
  readonly where: string;
  dispose(): Promise<void>;
}

async function scratchDatabase(): Promise<Scratch> {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl === undefined || serverUrl === '') {
    const db = await PGliteDatabase.open({});
    return { db, where: 'PGlite in memory', dispose: () => db.close() };
  }
  const scratch = await openScratchPostgres(serverUrl, 'lantau_fuzz');
  return {
    db: scratch.db,
    where: `PostgreSQL, scratch database ${scratch.name}`,
    dispose: () => scratch.dispose(),
  };
}

type Json = Record<string, unknown>;

/** A sandbox programme with unlimited KYC tiers and no burst protection, FX rates, and cards revealed for the samples. */
async function seed(db: Database, issuing: IssuingContext): Promise<FuzzCard[]> {
  const operatorKey = `lantau_op_fuzz_${randomBytes(24).toString('hex')}`;
  const app = await buildApi(
    {
      db,
      clock: issuing.clock,
      ids: issuing.ids,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ collectDefaults: false }),
      authenticator: apiKeyAuthenticator(db, operatorKey),
    },
    issuing,
  );
  await app.ready();
  try {
    const { programId, secret } = await db.transaction(async (tx) => {
      const program = await createProgram(
        tx,
        issuing,
        { name: 'ISO 8583 fuzz', bin: '424242', currencies: ['HKD', 'USD'], region: 'hk', mode: 'sandbox' },
        BY,
      );
      for (const currency of program.currencies) {
        await fundProgram(tx, issuing, program.id, { amount: 1_000_000_000_000, currency }, BY);
      }
      const unlimited = {
        max_balance: Number.MAX_SAFE_INTEGER,
        max_loads_per_year: Number.MAX_SAFE_INTEGER,
        max_per_transaction: Number.MAX_SAFE_INTEGER,
      };
      const tiers = Object.fromEntries(program.currencies.map((currency) => [currency, unlimited]));
      await updateKycTiers(tx, issuing, program.id, { unverified: tiers, verified: tiers }, BY);
      await updateRiskProtections(
        tx,
        issuing,
        program.id,
        { card_testing: { enabled: false }, burst: { enabled: false } },
        BY,
      );
      const key = await createApiKey(tx, issuing, { programId: program.id, scopes: ['*'] }, BY);
      return { programId: program.id, secret: key.secret };
    });
    const call = async (authorization: string, url: string, body?: Json): Promise<Json> => {
      const response = await app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${authorization}` },
        ...(body === undefined ? {} : { payload: body }),
      });
      if (response.statusCode >= 300)
        throw new Error(`POST ${url}: ${response.statusCode} ${scrub(response.body)}`);
      return response.json<Json>();
    };
    for (const [base, rate] of [
      ['USD', '7.8125'],
      ['JPY', '0.052'],
      ['EUR', '8.4567'],
    ] as const) {
      await call(operatorKey, '/v1/fx_rates', { base, quote: 'HKD', rate, source: 'fuzz' });
    }
    await call(operatorKey, '/v1/fx_rates', { base: 'HKD', quote: 'USD', rate: '0.128', source: 'fuzz' });
    const cards: FuzzCard[] = [];
    for (let index = 0; index < CARDS; index += 1) {
      const currency = index === CARDS - 1 ? 'USD' : 'HKD';
      const holder = await call(secret, '/v1/cardholders', { name: `Fuzz Holder ${index + 1}` });
      const account = await call(secret, '/v1/accounts', { cardholder_id: holder.id, currency });
      await call(secret, `/v1/accounts/${String(account.id)}/loads`, { amount: LOAD, currency });
      const card = await call(secret, '/v1/cards', {
        cardholder_id: holder.id,
        account_id: account.id,
        type: 'multi_use',
      });
      const revealed = await call(secret, `/v1/cards/${String(card.id)}/reveal`);
      const expYear = Number(revealed.exp_year);
      const expMonth = Number(revealed.exp_month);
      cards.push({
        pan: String(revealed.pan),
        cvv2: String(revealed.cvv2),
        expiry: `${String(expYear % 100).padStart(2, '0')}${String(expMonth).padStart(2, '0')}`,
      });
    }
    print(
      `seeded programme ${programId}: ${cards.length} cards (3 HKD, 1 USD), FX rates USD/JPY/EUR→HKD, HKD→USD`,
    );
    return cards;
  } finally {
    await app.close();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      frames: { type: 'string' },
      seed: { type: 'string' },
      first: { type: 'string' },
      connections: { type: 'string' },
      'timeout-ms': { type: 'string' },
      profile: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      weights: { type: 'string' },
    },
    strict: true,
  });
  const frames = integer('frames', values.frames, 1_000_000);
  const seedValue = integer('seed', values.seed, randomBytes(4).readUInt32BE(0));
  const first = integer('first', values.first, 0);
  const connections = integer('connections', values.connections, 16, 1);
  const timeoutMs = integer('timeout-ms', values['timeout-ms'], 5_000, 1);
  const profile = profileNamed(values.profile ?? 'ISO8583_1987_ASCII');
  const weights = weightsOf(values.weights);
  const runOptions = {
    frames,
    seed: seedValue,
    first,
    connections,
    timeoutMs,
    profile,
    weights,
    onProgress: (progress: { sent: number; frames: number; seconds: number; findings: number }) =>
      print(
        `  ${progress.sent.toLocaleString('en-US')} of ${progress.frames.toLocaleString('en-US')} frames, ${progress.seconds.toFixed(0)} s, ${Math.round(progress.sent / progress.seconds).toLocaleString('en-US')}/s, ${progress.findings} findings`,
      ),
    progressEveryMs: 10_000,
  };
  print(
    `iso8583 fuzz: ${frames.toLocaleString('en-US')} frames, seed ${seedValue}, first ${first}, ${connections} connections, ${profile.name}`,
  );

  if (values.port !== undefined) {
    const port = integer('port', values.port, 0, 1);
    const host = values.host ?? '127.0.0.1';
    const report = await runFuzz({ ...runOptions, host, port, validSamples: sampleMessages([], profile) });
    print(formatFuzzReport(report));
    return report.ok ? 0 : 1;
  }

  const scratch = await scratchDatabase();
  const { db } = scratch;
  let report: FuzzReport | undefined;
  let ledgerOk = false;
  const errors = new ErrorLog();
  try {
    await migrate(db);
    const clock = systemClock;
    const ids = createIdGenerator(clock);
    const vault = await Keyring.open({
      db,
      kek: envKek(new Secret(randomBytes(32))),
      clock,
      ids,
      refreshIntervalMs: 0,
    });
    try {
      const issuing: IssuingContext = { db, clock, ids, vault, regions: ['hk'] };
      const cards = await seed(db, issuing);
      const server = await startNetworkInterface({
        context: { ...issuing, convert: convertForCard },
        port: 0,
        host: '127.0.0.1',
        profile,
        logger: errors,
      });
      print(`ISO 8583 interface on 127.0.0.1:${server.port} over ${scratch.where}`);
      try {
        report = await runFuzz({
          ...runOptions,
          port: server.port,
          validSamples: sampleMessages(cards, profile),
        });
      } finally {
        const stats = server.stats();
        await server.close();
        print(
          `server: ${stats.connectionsAccepted.toLocaleString('en-US')} connections, ${stats.framesIn.toLocaleString('en-US')} frames in, ${stats.framesOut.toLocaleString('en-US')} out, ${stats.framingErrors} framing errors, ${stats.handlerErrors} handler errors, ${stats.answersDropped} answers dropped, ${errors.count} errors logged`,
        );
        for (const line of errors.kept) print(`  server error: ${line}`);
      }
      const ledger = await verifyLedger(db);
      ledgerOk = ledger.ok;
      print(
        `ledger: ${ledger.ok ? 'verifies' : `${ledger.problems.length} PROBLEMS`} (${ledger.accounts.toLocaleString('en-US')} accounts, ${ledger.transfers.toLocaleString('en-US')} transfers)`,
      );
      for (const problem of ledger.problems.slice(0, 5)) print(`  ${problem.subject}: ${problem.problem}`);
    } finally {
      vault.close();
    }
  } finally {
    await scratch.dispose();
  }
  print(formatFuzzReport(report));
  return report.ok && ledgerOk && errors.count === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `fuzz:iso8583 crashed: ${scrub(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`,
    );
    process.exitCode = 1;
  },
);
