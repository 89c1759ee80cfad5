/**
 * `npm run bench [-- NAME…] [-- options]`: prints figures for this machine. Benchmarks, not tests: nothing
 * here fails on a number; README ("Benchmarks") says what each figure means.
 *   records  outbox events written per second, one per transaction and 64 per transaction, on each backend
 *   audit    audit-log entries appended per second (each takes the chain lock), on each backend
 *   ledger   transfers applied per second: one per transaction and 64 per transaction, spread or through one hot
 *            account, and two-phase holds that are posted
 *   issuing  cardholders created, wallet loads, cards issued and card reveals per second (domain functions, 16 callers)
 *   authorizations  issue 8's figures against its targets (bench/authorizations.ts): pgbench TPC-B on the same
 *            server, then per backend and population a bulk-seeded card population, the engine in-process (closed
 *            loop, then 1,000/s offered open loop) and `lantau serve` driven over HTTP, each with the ledger check
 *   vault    encryptions, blind-index computations and lookups, CVV2 computations, HSM wraps and unwraps
 *   http     requests per second and latency through the full HTTP stack (autocannon over loopback)
 *   risk     what risk adds to each authorization in-process (bench/risk.ts): state, features, model, rules,
 *            protections, per authorization of a generated population, p50 to max
 *   screening  sanctions screening in-process (bench/screening.ts): both lists parsed and indexed (time, heap), the
 *            labelled set's recall and false-positive rate, per-check latency p50 to max against its target, and
 *            checks per second on one core
 *   aml      AML scenarios over a benign generated population (bench/aml.ts): per scenario the alerts per 1,000
 *            cardholders a month and the share of cardholders alerted (all false positives there), and the time of
 *            one evaluation of one cardholder
 *   iso8583  the ISO 8583 codec (bench/iso8583.ts): pack and unpack rates of a typical 0100 in each profile, beside
 *            the npm `iso_8583` package measured in the same run
 * Options:
 *   --seconds N           each measured run (default 3; the authorizations bench's phases default to 10)
 *   --backend B           postgres, pglite or both (default both)
 *   --cards LIST          authorizations: population sizes, comma-separated (default 10000,1000000 on PostgreSQL,
 *                         10000 on PGlite, which holds its whole database in this process's memory)
 *   --concurrency N       authorizations: callers in-process and connections over HTTP (default 64)
 *   --pgbench-seconds N   authorizations: pgbench's run (default 20; 0 skips it and the ratios)
 * PostgreSQL figures use BENCH_DATABASE_URL, else DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres;
 * databases of the bench's own are created there and dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { buildApi } from '../src/edges/http/api.js';
import { apiKeyAuthenticator } from '../src/issuing/authenticator.js';
import { systemClock } from '../src/platform/clock.js';
import type { Database } from '../src/platform/db/database.js';
import { migrate } from '../src/platform/db/migrate.js';
import { PGliteDatabase } from '../src/platform/db/pglite.js';
import { createIdGenerator } from '../src/platform/ids.js';
import { createLogger } from '../src/platform/logger.js';
import { createMetrics } from '../src/platform/metrics.js';
import { appendAudit } from '../src/records/audit.js';
import { emitEvents } from '../src/records/outbox.js';
import { Keyring } from '../src/vault/keyring.js';
import { benchLedger } from './ledger.js';
import { benchVault } from './vault.js';
import { benchAml } from './aml.js';
import { benchIso8583 } from './iso8583.js';
import { benchAuthorizations } from './authorizations.js';
import { benchIssuing } from './issuing.js';
import { benchRisk } from './risk.js';
import { benchScreening } from './screening.js';
import { benchKek, drive as driveFor, openScratchPostgres, rate, type ScratchPostgres } from './support.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string' },
    backend: { type: 'string', default: 'both' },
    cards: { type: 'string' },
    concurrency: { type: 'string', default: '64' },
    'pgbench-seconds': { type: 'string', default: '20' },
  },
});

/** A whole number in [min, max], or a message naming the option. */
function wholeNumber(option: string, text: string, min: number, max: number): number {
  const value = Number(text.replace(/_/g, ''));
  if (!/^[0-9_]+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(
      `--${option} must be a whole number from ${String(min)} to ${max.toLocaleString('en-US')} (got ${JSON.stringify(text)})`,
    );
  }
  return value;
}

const givenSeconds = values.seconds === undefined ? undefined : Number(values.seconds);
if (givenSeconds !== undefined && (!Number.isFinite(givenSeconds) || givenSeconds <= 0 || givenSeconds > 600))
  throw new Error('--seconds must be more than 0 and at most 600');
const seconds = givenSeconds ?? 3;
const BACKENDS = { both: ['pglite', 'postgres'], postgres: ['postgres'], pglite: ['pglite'] } as const;
const backendChoice = values.backend;
if (backendChoice !== 'both' && backendChoice !== 'postgres' && backendChoice !== 'pglite')
  throw new Error(`--backend must be postgres, pglite or both (got ${JSON.stringify(backendChoice)})`);
const backendNames: readonly ('pglite' | 'postgres')[] = BACKENDS[backendChoice];
const cardsGiven = values.cards?.split(',').map((part) => wholeNumber('cards', part.trim(), 1, 10_000_000));
const concurrency = wholeNumber('concurrency', values.concurrency, 1, 4_096);
const pgbenchSeconds = wholeNumber('pgbench-seconds', values['pgbench-seconds'], 0, 600);
const selected = new Set(
  positionals.length > 0
    ? positionals
    : [
        'records',
        'audit',
        'ledger',
        'issuing',
        'authorizations',
        'http',
        'vault',
        'risk',
        'screening',
        'aml',
        'iso8583',
      ],
);
const serverUrl =
  process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const clock = systemClock;
const ids = createIdGenerator(clock);

/** Runs `step` with `concurrency` callers for the bench's duration. */
function drive(
  concurrency: number,
  step: () => Promise<number>,
): Promise<{ operations: number; ms: number }> {
  return driveFor(seconds, concurrency, step);
}

interface Backend {
  readonly name: string;
  readonly db: Database;
  dispose(): Promise<void>;
}

async function openBackends(): Promise<Backend[]> {
  const backends: Backend[] = [];
  if (backendNames.includes('pglite')) {
    const pglite = await PGliteDatabase.open();
    await migrate(pglite);
    backends.push({ name: 'pglite', db: pglite, dispose: () => pglite.close() });
  }
  if (!backendNames.includes('postgres')) return backends;

  let scratch: ScratchPostgres;
  try {
    scratch = await openScratchPostgres(serverUrl, 'lantau_bench', { maxConnections: 16 });
  } catch (error) {
    console.log(`postgres: skipped, no server at ${new URL(serverUrl).host} (${(error as Error).message})`);
    return backends;
  }
  await migrate(scratch.db);
  backends.push({ name: 'postgres', db: scratch.db, dispose: () => scratch.dispose() });
  return backends;
}

async function benchRecords(backend: Backend): Promise<void> {
  const event = (index: number) => ({
    type: 'bench.event',
    programId: 'prog_bench',
    object: { index, amount: 1250 },
  });
  for (const [concurrency, perTransaction] of [
    [1, 1],
    [16, 1],
    [16, 64],
  ] as const) {
    const result = await drive(concurrency, async () => {
      await backend.db.transaction((tx) =>
        emitEvents(
          tx,
          { clock, ids },
          Array.from({ length: perTransaction }, (_, index) => event(index)),
        ),
      );
      return perTransaction;
    });
    console.log(
      `records  ${backend.name.padEnd(8)} outbox events, ${String(perTransaction).padStart(2)} per transaction, ${String(concurrency).padStart(2)} callers: ${rate(result.operations, result.ms)}/s`,
    );
  }
}

async function benchAudit(backend: Backend): Promise<void> {
  const result = await drive(8, async () => {
    await backend.db.transaction((tx) =>
      appendAudit(
        tx,
        { clock, ids },
        { actor: { type: 'system', id: 'bench' }, action: 'bench.appended', details: { n: 1 } },
      ),
    );
    return 1;
  });
  console.log(
    `audit    ${backend.name.padEnd(8)} entries appended, 8 callers: ${rate(result.operations, result.ms)}/s`,
  );
}

async function benchHttp(backend: Backend): Promise<void> {
  const operatorKey = `lantau_op_bench_${randomBytes(16).toString('hex')}`;
  const vault = await Keyring.open({
    db: backend.db,
    kek: benchKek(),
    clock,
    ids,
    refreshIntervalMs: 0,
  });
  const app = await buildApi(
    {
      db: backend.db,
      clock,
      ids,
      logger: createLogger({ level: 'warn' }),
      metrics: createMetrics(),
      authenticator: apiKeyAuthenticator(backend.db, operatorKey),
    },
    { db: backend.db, clock, ids, vault, regions: ['hk'] },
  );
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    for (const [label, path, headers] of [
      ['GET /healthz', '/healthz', {}],
      [
        'GET /v1/events?limit=10 (authenticated, one query)',
        '/v1/events?limit=10',
        { authorization: `Bearer ${operatorKey}` },
      ],
    ] as const) {
      const result = await autocannon({
        url: `${address}${path}`,
        connections: 32,
        duration: seconds,
        headers,
      });
      const failed = result.non2xx + result.errors;
      console.log(
        `http     ${backend.name.padEnd(8)} ${label}: ${Math.round(result.requests.average).toLocaleString('en-US')} req/s, latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms${failed > 0 ? `, ${failed} failed` : ''}`,
      );
    }
  } finally {
    await app.close();
    vault.close();
  }
}

// The shared databases only when a bench uses them: the authorizations bench makes its own, one per population.
const backends = ['records', 'audit', 'ledger', 'issuing', 'http'].some((name) => selected.has(name))
  ? await openBackends()
  : [];
try {
  for (const backend of backends) {
    if (selected.has('records')) await benchRecords(backend);
    if (selected.has('audit')) await benchAudit(backend);
    if (selected.has('ledger')) await benchLedger(backend, seconds);
    if (selected.has('issuing')) await benchIssuing(backend, seconds);
    if (selected.has('http')) await benchHttp(backend);
  }
  if (selected.has('authorizations')) {
    await benchAuthorizations({
      // PostgreSQL first: its pgbench figure is the yardstick, and PGlite's large heap comes after.
      backends: [...backendNames].sort((a, b) => (a === 'postgres' ? -1 : b === 'postgres' ? 1 : 0)),
      serverUrl,
      seconds: givenSeconds ?? 10,
      cards: { postgres: cardsGiven ?? [10_000, 1_000_000], pglite: cardsGiven ?? [10_000] },
      concurrency,
      pgbenchSeconds,
    });
  }
  // The vault's figures open databases of their own (its lookups table, a SoftHSM2 token when one is installed).
  if (selected.has('vault')) await benchVault(seconds);
  if (selected.has('risk')) await benchRisk();
  if (selected.has('screening')) benchScreening(seconds);
  if (selected.has('aml')) benchAml();
  if (selected.has('iso8583')) await benchIso8583(seconds);
} finally {
  for (const backend of backends) await backend.dispose();
}
