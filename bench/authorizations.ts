/**
 * Issue 8's authorization figures, measured against its targets. For each backend and population size:
 *   seed        a realistic population (population.ts) in a database of its own, timed
 *   in-process  CONCURRENCY callers (closed loop) calling `authorize` for the run's seconds, after a warm-up:
 *               rate, p50/p99/max, approvals and declines, this process's peak RSS, the ratio to pgbench TPC-B
 *   open loop   the same engine offered 1,000 authorizations a second on a fixed schedule, latency measured from
 *               each scheduled arrival (so a stall counts against every arrival it delays)
 *   HTTP        `lantau serve` started as a child process on the same database, driven by autocannon with
 *               CONCURRENCY connections posting fresh random bodies to /v1/simulate/authorizations: rate,
 *               p50/p99/max, non-2xx, and the server's peak memory (VmHWM)
 * and after each, the ledger check: what the wallets hold equals what the pending approvals say they hold. On the
 * first population of each backend, the older figures the README quotes: authorizations with 16 callers, captures
 * of what they approved, and the simulate endpoint in-process with and without a programme's real-time endpoint.
 * pgbench TPC-B runs first on the same PostgreSQL server; every rate is printed as a ratio to it, beside the target.
 * Nothing here fails on a number: it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import autocannon from 'autocannon';
import pg from 'pg';
import { putAuthorizationEndpoint } from '../src/delivery/authorization-endpoint.js';
import { buildApi } from '../src/edges/http/api.js';
import { apiKeyAuthenticator } from '../src/issuing/authenticator.js';
import type { Actor, IssuingContext } from '../src/issuing/programs.js';
import { verifyLedger } from '../src/ledger/index.js';
import { systemClock } from '../src/platform/clock.js';
import type { Database, Queryable } from '../src/platform/db/database.js';
import { migrate } from '../src/platform/db/migrate.js';
import { embeddedDataPath } from '../src/platform/db/open.js';
import { PGliteDatabase } from '../src/platform/db/pglite.js';
import { PostgresDatabase } from '../src/platform/db/postgres.js';
import { createIdGenerator, type IdGenerator } from '../src/platform/ids.js';
import { createLogger } from '../src/platform/logger.js';
import { createMetrics } from '../src/platform/metrics.js';
import { authorize, type ProcessingContext } from '../src/processing/authorize.js';
import { captureAuthorizationIn } from '../src/processing/clearing.js';
import { convertForCard } from '../src/processing/fx.js';
import { softwareKekId } from '../src/vault/kek-software.js';
import { Keyring } from '../src/vault/keyring.js';
import { runPgbench } from './pgbench.js';
import {
  merchantPool,
  purchaseBody,
  randomPurchase,
  seedPopulation,
  type MerchantProfile,
  type Population,
} from './population.js';
import { benchKek } from './support.js';

export type BackendName = 'postgres' | 'pglite';

export interface AuthorizationBenchOptions {
  readonly backends: readonly BackendName[];
  /** The PostgreSQL server: its bench databases and pgbench's are created there. */
  readonly serverUrl: string;
  readonly seconds: number;
  /** Population sizes, per backend. */
  readonly cards: Readonly<Record<BackendName, readonly number[]>>;
  readonly concurrency: number;
  readonly pgbenchSeconds: number;
}

const BY: Actor = { actor: { type: 'system', id: 'bench' } };
const WARMUP_SECONDS = 2;
const HTTP_WARMUP_SECONDS = 1;
const OPEN_LOOP_PER_SECOND = 1_000;
/** An open loop against a stalled engine would pile up arrivals without end: past this many in flight, drop. */
const OPEN_LOOP_IN_FLIGHT_MAX = 10_000;
/** How long after a run's end its last calls may take before the bench stops waiting and says so. */
const DRAIN_GRACE_MS = 30_000;
const RSS_SAMPLE_MS = 50;
const SERVER_START_TIMEOUT_MS = 120_000;
const SERVER_STOP_TIMEOUT_MS = 30_000;
const STDERR_KEPT_BYTES = 8_192;
const REFUSAL_SHOWN_CHARS = 300;
/** The older figures (README): fewer callers, as they were measured. */
const LEGACY_CALLERS = 16;
const LEGACY_CONNECTIONS = 32;

/** Issue 8's targets. */
const TARGET = {
  inProcessRatio: 4,
  httpRatio: 2,
  pgliteInProcessRatio: 1,
  closedP99Ms: 25,
  openP99Ms: 5,
  largeShareOfSmall: 0.8,
  serverMemoryMb: 512,
} as const;

const LANTAU_BIN = fileURLToPath(new URL('../bin/lantau.js', import.meta.url));

// ---- Small helpers ----

const count = (value: number) => Math.round(value).toLocaleString('en-US');
const mb = (bytes: number) => `${count(bytes / 1024 / 1024)} MB`;
const ms = (value: number | undefined) =>
  value === undefined ? '-' : value >= 100 ? value.toFixed(0) : value.toFixed(1);
const mark = (met: boolean) => (met ? '✓' : '✗');

/** One pool for every population, so the 10,000- and 1,000,000-card runs buy the same things. */
const MERCHANTS_POOL = merchantPool();
const MERCHANTS_DESCRIBED = `${count(MERCHANTS_POOL.length)} merchants across ${String(new Set(MERCHANTS_POOL.map((m) => m.merchant.mcc)).size)} MCCs, ${String(new Set(MERCHANTS_POOL.map((m) => m.merchant.country)).size)} countries and ${String(new Set(MERCHANTS_POOL.map((m) => m.currency)).size)} currencies`;

function percentile(sorted: Float64Array, fraction: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

/** Latencies appended without boxing each one: a long run at tens of thousands a second is millions of them. */
class Latencies {
  private values = new Float64Array(65_536);
  private length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length] = value;
    this.length += 1;
  }

  sorted(): Float64Array {
    return this.values.slice(0, this.length).sort();
  }
}

/**
 * A full garbage collection, so that what seeding a million cards left on the heap is not reported as the engine's
 * memory (a server never seeds in-process). `npm run bench` runs node without --expose-gc; the flag can still be set
 * at run time, which V8 documents as unsupported but which works for this one. Skipped, and said, if it does not.
 */
function collectGarbage(): string {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    if (typeof gc !== 'function') return ' (no forced GC available)';
    (gc as () => void)();
    return '';
  } catch {
    return ' (no forced GC available)';
  }
}

/** This process's peak resident set while a run lasts, sampled every 50 ms. */
function rssSampler(): { readonly atStart: number; stop(): number } {
  const atStart = process.memoryUsage.rss();
  let peak = atStart;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, RSS_SAMPLE_MS);
  return {
    atStart,
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

/** Waits for `work`, or says after the grace period that it is still running (a stalled engine must not hang the bench). */
async function drained(work: Promise<unknown>, what: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), DRAIN_GRACE_MS);
  });
  const outcome = await Promise.race([work.then(() => 'done' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    console.log(
      `  !! ${what}: calls still unanswered ${String(DRAIN_GRACE_MS / 1000)} s after the run ended`,
    );
    return false;
  }
  return true;
}

interface Tally {
  approved: number;
  declined: number;
  errors: number;
  readonly reasons: Map<string, number>;
  firstError: string | undefined;
}

function newTally(): Tally {
  return { approved: 0, declined: 0, errors: 0, reasons: new Map(), firstError: undefined };
}

function describeTally(tally: Tally): string {
  const reasons = [...tally.reasons.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${count(n)}`)
    .join(', ');
  const errors =
    tally.errors > 0 ? `; ${count(tally.errors)} errors (first: ${tally.firstError ?? '?'})` : '';
  return `${count(tally.approved)} approved, ${count(tally.declined)} declined${reasons === '' ? '' : ` (${reasons})`}${errors}`;
}

interface Decided {
  readonly approved: boolean;
  readonly decline_reason: string | null;
}

/** Calls one authorization and records its outcome; an error is counted, not thrown, so a broken engine still reports. */
async function attempt(tally: Tally, call: () => Promise<Decided>): Promise<void> {
  try {
    const decided = await call();
    if (decided.approved) tally.approved += 1;
    else {
      tally.declined += 1;
      const reason = decided.decline_reason ?? 'unknown';
      tally.reasons.set(reason, (tally.reasons.get(reason) ?? 0) + 1);
    }
  } catch (error) {
    tally.errors += 1;
    tally.firstError ??= error instanceof Error ? error.message.split('\n')[0] : String(error);
  }
}

interface ClosedRun {
  readonly calls: number;
  readonly ms: number;
  readonly latencies: Float64Array;
  readonly tally: Tally;
  readonly peakRss: number;
  readonly startRss: number;
  /** CPU this process spent during the run (user and system), in milliseconds. */
  readonly cpuMs: number;
}

/** `concurrency` callers, each starting its next call when the last returns, until `seconds` pass. */
async function closedLoop(
  seconds: number,
  concurrency: number,
  call: () => Promise<Decided>,
): Promise<ClosedRun> {
  const latencies = new Latencies();
  const tally = newTally();
  const sampler = rssSampler();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let calls = 0;
  const callers = Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const begun = performance.now();
        await attempt(tally, call);
        latencies.push(performance.now() - begun);
        calls += 1;
      }
    }),
  );
  await drained(callers, 'closed loop');
  const elapsed = performance.now() - started;
  return {
    calls,
    ms: elapsed,
    latencies: latencies.sorted(),
    tally,
    peakRss: sampler.stop(),
    startRss: sampler.atStart,
    cpuMs: cpuMsSince(cpu),
  };
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** How busy a process was: cores used on average, and CPU per decision (where the time goes, engine or database). */
function cpuText(cpuMs: number, elapsedMs: number, decisions: number, whose: string): string {
  const perDecision = decisions > 0 ? `, ${(cpuMs / decisions).toFixed(2)} ms per decision` : '';
  return `CPU ${(cpuMs / elapsedMs).toFixed(2)} cores in ${whose}${perDecision}`;
}

interface OpenRun {
  readonly offered: number;
  readonly dropped: number;
  readonly ms: number;
  readonly latencies: Float64Array;
  /** How late each arrival was started: the bench's own share of the latency (timer granularity). */
  readonly lag: Float64Array;
  readonly tally: Tally;
  readonly peakRss: number;
  readonly startRss: number;
  readonly cpuMs: number;
}

/**
 * Arrivals on a fixed schedule, `perSecond` of them, whatever the engine's pace: latency runs from the scheduled
 * arrival, so time spent waiting behind a slow call is counted (a closed loop would hide it by slowing down).
 */
async function openLoop(seconds: number, perSecond: number, call: () => Promise<Decided>): Promise<OpenRun> {
  const latencies = new Latencies();
  const lag = new Latencies();
  const tally = newTally();
  const sampler = rssSampler();
  const cpu = process.cpuUsage();
  const interval = 1000 / perSecond;
  const total = Math.floor(seconds * perSecond);
  const start = performance.now() + 5;
  let next = 0;
  let inFlight = 0;
  let dropped = 0;
  let idle: (() => void) | undefined;
  while (next < total) {
    const now = performance.now();
    for (; next < total && start + next * interval <= now; next += 1) {
      const scheduled = start + next * interval;
      if (inFlight >= OPEN_LOOP_IN_FLIGHT_MAX) {
        dropped += 1;
        continue;
      }
      lag.push(now - scheduled);
      inFlight += 1;
      void attempt(tally, call).then(() => {
        latencies.push(performance.now() - scheduled);
        inFlight -= 1;
        if (inFlight === 0) idle?.();
      });
    }
    const wait = start + next * interval - performance.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
  }
  if (inFlight > 0) {
    await drained(
      new Promise<void>((resolve) => {
        idle = resolve;
      }),
      'open loop',
    );
  }
  return {
    offered: total,
    dropped,
    ms: performance.now() - start,
    latencies: latencies.sorted(),
    lag: lag.sorted(),
    tally,
    peakRss: sampler.stop(),
    startRss: sampler.atStart,
    cpuMs: cpuMsSince(cpu),
  };
}

// ---- The ledger check ----

/**
 * What the population's wallets hold (their pending debits; the seed left none) against what the approved, still
 * pending authorizations say they hold. Both sides are summed in the database, as exact decimals.
 */
async function ledgerCheck(db: Queryable, programId: string): Promise<boolean> {
  const found = await db.query<{ held: string; approved: string; pending: string }>(
    `SELECT
       (SELECT coalesce(sum(a.debits_pending), 0) FROM wallets w JOIN ledger_accounts a ON a.id = w.ledger_account_id
        WHERE w.program_id = $1)::text AS held,
       (SELECT coalesce(sum(amount), 0) FROM authorizations
        WHERE program_id = $1 AND status = 'pending' AND approved)::text AS approved,
       (SELECT count(*) FROM authorizations WHERE program_id = $1 AND status = 'pending' AND approved)::text AS pending`,
    [programId],
  );
  const row = found.rows[0];
  if (row === undefined) throw new Error('the ledger check returned no row');
  const held = BigInt(row.held);
  const approved = BigInt(row.approved);
  if (held === approved) {
    console.log(
      `  ledger check: held ${held.toLocaleString('en-US')} = approved ${approved.toLocaleString('en-US')} ✓ (${BigInt(row.pending).toLocaleString('en-US')} pending authorizations, minor units over all currencies)`,
    );
    return true;
  }
  console.log(
    `  !!!!!! LEDGER CHECK FAILED: wallets hold ${held.toLocaleString('en-US')} but pending approvals add up to ${approved.toLocaleString('en-US')} (difference ${(held - approved).toLocaleString('en-US')}) !!!!!!`,
  );
  return false;
}

/** Approvals and declines recorded since `since`: what the HTTP phase decided, read back from the database. */
async function recordedTally(db: Queryable, programId: string, since: Date): Promise<Tally> {
  const found = await db.query<{ approved: boolean; decline_reason: string | null; n: string }>(
    `SELECT approved, decline_reason, count(*)::text AS n FROM authorizations
     WHERE program_id = $1 AND created_at >= $2 GROUP BY approved, decline_reason`,
    [programId, since],
  );
  const tally = newTally();
  for (const row of found.rows) {
    const n = Number(row.n);
    if (row.approved) tally.approved += n;
    else {
      tally.declined += n;
      tally.reasons.set(row.decline_reason ?? 'unknown', n);
    }
  }
  return tally;
}

// ---- The server as a child process ----

interface ChildServer {
  readonly url: string;
  readonly pid: number;
  memory(): Promise<{ hwm: number; rss: number } | undefined>;
  cpuMs(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks, 100 a second on every mainstream kernel. */
const CLOCK_TICKS_PER_SECOND = 100;

/** A process's CPU time so far (user and system), in milliseconds; undefined where /proc is not there. */
async function processCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** VmHWM (peak) and VmRSS (now) of a process, in bytes; undefined where /proc is not there. */
async function processMemory(pid: number): Promise<{ hwm: number; rss: number } | undefined> {
  try {
    const status = await readFile(`/proc/${String(pid)}/status`, 'utf8');
    const kb = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return undefined;
  }
}

/** The variables that would steer the child away from the bench's database, KEK or quiet settings. */
const INHERITED_OUT = /^(DATABASE_URL|PORT|NATS_.*|LANTAU_.*|LOG_LEVEL)$/;

/**
 * `node bin/lantau.js serve` on the bench's database, the vault opened with the bench's KEK (from the
 * environment, as a deployment would), on a free loopback port. LOG_LEVEL=warn: the figures are the engine's, not
 * the cost of a log line per request. Resolves once the server prints that it is ready.
 */
async function startServer(database: { url: string } | { dataDir: string }): Promise<ChildServer> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !INHERITED_OUT.test(name)),
  );
  Object.assign(env, {
    PORT: '0',
    LANTAU_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    LANTAU_SANDBOX: 'false',
    LANTAU_KEK_PROVIDER: 'env',
    LANTAU_KEK: benchKekHex(),
    LANTAU_OPERATOR_KEY: `lantau_op_bench_${randomBytes(24).toString('hex')}`,
    ...('url' in database ? { DATABASE_URL: database.url } : { LANTAU_DATA_DIR: database.dataDir }),
  });
  const child = spawn(process.execPath, [LANTAU_BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEPT_BYTES);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    let found: string | undefined;
    const timer = setTimeout(() => {
      reject(
        new Error(`lantau serve did not say it was ready within ${String(SERVER_START_TIMEOUT_MS / 1000)} s`),
      );
    }, SERVER_START_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      stdout = (stdout + text).slice(-STDERR_KEPT_BYTES);
      found ??= /API:\s+(\S+)\/v1\b/.exec(stdout)?.[1];
      if (found !== undefined && /^Ready\.$/m.test(stdout)) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`lantau serve exited (${String(code)}) before it was ready:\n${stderr}`));
    });
  }).catch(async (error: unknown) => {
    await stopChild(child, exited);
    throw error;
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the server has no pid');
  return {
    url,
    pid,
    memory: () => processMemory(pid),
    cpuMs: () => processCpuMs(pid),
    stop: async () => {
      const code = await stopChild(child, exited);
      if (code !== 0) console.log(`  !! lantau serve exited with ${String(code)}:\n${stderr}`);
    },
  };
}

/** SIGTERM (the server finishes in-flight requests and closes the database), then SIGKILL if it will not go. */
async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), SERVER_STOP_TIMEOUT_MS);
  });
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome !== 'late') return outcome;
  console.log('  !! lantau serve did not stop within 30 s of SIGTERM: killed');
  child.kill('SIGKILL');
  return exited;
}

/**
 * The bench KEK (support.ts) as the child server reads it, 64 hex digits in LANTAU_KEK. Derived the same way, and
 * checked by its id: a drift would otherwise show only as the server failing to unwrap the data keys.
 */
function benchKekHex(): string {
  const material = createHash('sha256').update('lantau bench kek, not a secret').digest();
  if (softwareKekId(material) !== benchKek().id)
    throw new Error('bench KEK material differs from support.ts');
  return material.toString('hex');
}

// ---- One backend's database for one population ----

interface BenchDatabase {
  readonly backend: BackendName;
  /** Where `lantau serve` finds it. */
  readonly location: { url: string } | { dataDir: string };
  /** The open handle; PGlite's must be closed while the server has the data directory. */
  db(): Promise<Database>;
  release(): Promise<void>;
  dispose(): Promise<void>;
}

async function createBenchDatabase(
  backend: BackendName,
  serverUrl: string,
  label: string,
): Promise<BenchDatabase> {
  if (backend === 'pglite') {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'lantau-bench-'));
    let open: PGliteDatabase | undefined;
    const db = async () => (open ??= await PGliteDatabase.open({ dataDir: embeddedDataPath(dataDir) }));
    const release = async () => {
      await open?.close();
      open = undefined;
    };
    return {
      backend,
      location: { dataDir },
      db,
      release,
      dispose: async () => {
        await release();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `lantau_bench_auth_${label}_${String(process.pid)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let open: PostgresDatabase | undefined;
  // The pool `lantau serve` would have (openDatabase's defaults), so in-process and HTTP run the same engine.
  const db = async () => (open ??= new PostgresDatabase({ connectionString: url.toString() }));
  const release = async () => {
    await open?.close();
    open = undefined;
  };
  return {
    backend,
    location: { url: url.toString() },
    db,
    release,
    dispose: async () => {
      await release();
      const dropper = new pg.Client({ connectionString: serverUrl });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await dropper.end();
    },
  };
}

// ---- Figures and targets ----

interface Figure {
  readonly backend: BackendName;
  readonly cards: number;
  readonly phase: 'in-process' | 'open-loop' | 'http';
  readonly rate: number;
  readonly p99: number | undefined;
  readonly memory: number | undefined;
}

function ratio(rate: number, tps: number | undefined): number | undefined {
  return tps === undefined || tps <= 0 ? undefined : rate / tps;
}

function ratioText(rate: number, tps: number | undefined, target: number | undefined): string {
  const value = ratio(rate, tps);
  if (value === undefined) return '';
  return `, ${value.toFixed(2)}× TPC-B${target === undefined ? '' : ` (target ≥${target.toFixed(1)}× ${mark(value >= target)})`}`;
}

function rateTarget(backend: BackendName, phase: Figure['phase']): number | undefined {
  if (phase === 'in-process')
    return backend === 'postgres' ? TARGET.inProcessRatio : TARGET.pgliteInProcessRatio;
  if (phase === 'http' && backend === 'postgres') return TARGET.httpRatio;
  return undefined;
}

// ---- The phases ----

interface Run {
  readonly backend: BackendName;
  readonly cards: number;
  readonly population: Population;
  readonly merchants: readonly MerchantProfile[];
  readonly tps: number | undefined;
  readonly seconds: number;
  readonly concurrency: number;
  readonly figures: Figure[];
}

function tag(run: Pick<Run, 'backend' | 'cards'>): string {
  return `auth     ${run.backend.padEnd(8)} ${count(run.cards).padStart(9)} cards`;
}

async function processingContext(
  db: Database,
  ids: IdGenerator,
): Promise<{ processing: ProcessingContext; vault: Keyring }> {
  const vault = await Keyring.open({ db, kek: benchKek(), clock: systemClock, ids, refreshIntervalMs: 0 });
  const processing: ProcessingContext = { db, clock: systemClock, ids, vault, convert: convertForCard };
  return { processing, vault };
}

async function inProcessPhases(run: Run, processing: ProcessingContext): Promise<void> {
  const call = () => authorize(processing, randomPurchase(run.population, run.merchants));
  await closedLoop(WARMUP_SECONDS, run.concurrency, call);
  const closed = await closedLoop(run.seconds, run.concurrency, call);
  // Decisions only: calls that failed are counted apart, so a broken engine does not look fast.
  const closedRate = ((closed.tally.approved + closed.tally.declined) / closed.ms) * 1000;
  const p99 = percentile(closed.latencies, 0.99);
  const p99Target =
    run.backend === 'postgres'
      ? ` (target <${String(TARGET.closedP99Ms)} ms ${mark((p99 ?? Infinity) < TARGET.closedP99Ms)})`
      : '';
  console.log(
    `${tag(run)}  in-process, ${String(run.concurrency)} callers, ${String(run.seconds)} s: ${count(closedRate)}/s${ratioText(closedRate, run.tps, rateTarget(run.backend, 'in-process'))}; p50 ${ms(percentile(closed.latencies, 0.5))} ms, p99 ${ms(p99)} ms${p99Target}, max ${ms(percentile(closed.latencies, 1))} ms; peak RSS ${mb(closed.peakRss)} (this process${run.backend === 'pglite' ? ', PGlite included' : ''}; ${mb(closed.startRss)} when the run began)`,
  );
  console.log(
    `  ${describeTally(closed.tally)}; ${cpuText(closed.cpuMs, closed.ms, closed.tally.approved + closed.tally.declined, 'this process')}`,
  );
  run.figures.push({
    backend: run.backend,
    cards: run.cards,
    phase: 'in-process',
    rate: closedRate,
    p99,
    memory: closed.peakRss,
  });
  await ledgerCheck(processing.db, run.population.programId);

  const open = await openLoop(run.seconds, OPEN_LOOP_PER_SECOND, call);
  const openP99 = percentile(open.latencies, 0.99);
  console.log(
    `${tag(run)}  in-process, open loop ${count(OPEN_LOOP_PER_SECOND)}/s offered, ${String(run.seconds)} s: ${count(((open.tally.approved + open.tally.declined) / open.ms) * 1000)}/s decided; from scheduled arrival p50 ${ms(percentile(open.latencies, 0.5))} ms, p99 ${ms(openP99)} ms (target <${String(TARGET.openP99Ms)} ms ${mark((openP99 ?? Infinity) < TARGET.openP99Ms)}), max ${ms(percentile(open.latencies, 1))} ms; start lag p99 ${ms(percentile(open.lag, 0.99))} ms${open.dropped > 0 ? `; ${count(open.dropped)} arrivals dropped (over ${count(OPEN_LOOP_IN_FLIGHT_MAX)} in flight)` : ''}; peak RSS ${mb(open.peakRss)} (${mb(open.startRss)} at its start)`,
  );
  console.log(
    `  ${describeTally(open.tally)}; ${cpuText(open.cpuMs, open.ms, open.tally.approved + open.tally.declined, 'this process')}`,
  );
  run.figures.push({
    backend: run.backend,
    cards: run.cards,
    phase: 'open-loop',
    rate: ((open.tally.approved + open.tally.declined) / open.ms) * 1000,
    p99: openP99,
    memory: open.peakRss,
  });
  await ledgerCheck(processing.db, run.population.programId);
}

async function httpPhase(run: Run, database: BenchDatabase): Promise<void> {
  const server = await startServer(database.location);
  let since = new Date();
  let serverCpu = '';
  let firstRefusal: string | undefined;
  try {
    const options = {
      url: `${server.url}/v1/simulate/authorizations`,
      connections: run.concurrency,
      method: 'POST' as const,
      headers: { authorization: `Bearer ${run.population.apiKey}`, 'content-type': 'application/json' },
      requests: [
        {
          method: 'POST' as const,
          setupRequest: (request: autocannon.Request) => ({
            ...request,
            body: purchaseBody(run.population, run.merchants),
          }),
          // The first refusal's answer, to say why (an error body names its code, never a card number).
          onResponse: (status: number, body: string) => {
            if (status >= 300) firstRefusal ??= `${String(status)} ${body.slice(0, REFUSAL_SHOWN_CHARS)}`;
          },
        },
      ],
    };
    await autocannon({ ...options, duration: HTTP_WARMUP_SECONDS });
    since = new Date();
    const cpuBefore = await server.cpuMs();
    const result = await autocannon({ ...options, duration: run.seconds });
    const cpuAfter = await server.cpuMs();
    const memory = await server.memory();
    const rate = result['2xx'] / result.duration;
    // autocannon reports zeros when no response arrived within the run: no latency was measured, none was zero.
    const answered = result['2xx'] + result.non2xx > 0;
    const p99 = answered ? result.latency.p99 : undefined;
    const p99Target =
      run.backend === 'postgres'
        ? ` (target <${String(TARGET.closedP99Ms)} ms ${mark((p99 ?? Infinity) < TARGET.closedP99Ms)})`
        : '';
    const memoryText =
      memory === undefined
        ? 'server memory unknown (no /proc)'
        : `server peak memory ${mb(memory.hwm)}${run.backend === 'postgres' ? ` (target <${String(TARGET.serverMemoryMb)} MB ${mark(memory.hwm < TARGET.serverMemoryMb * 1024 * 1024)})` : ''}, ${mb(memory.rss)} at the end`;
    const failed = result.non2xx + result.errors;
    console.log(
      `${tag(run)}  HTTP POST /v1/simulate/authorizations, ${String(run.concurrency)} connections, ${String(run.seconds)} s: ${count(rate)}/s${ratioText(rate, run.tps, rateTarget(run.backend, 'http'))}; ${answered ? `p50 ${ms(result.latency.p50)} ms, p99 ${ms(p99)} ms${p99Target}, max ${ms(result.latency.max)} ms` : `no response within the run (${count(result.timeouts)} timeouts)`}; ${count(result.non2xx)} non-2xx${result.errors > 0 ? `, ${count(result.errors)} connection errors` : ''}; ${memoryText}`,
    );
    if (failed > 0 && result.statusCodeStats !== undefined) {
      const codes = Object.entries(result.statusCodeStats)
        .filter(([code]) => !code.startsWith('2'))
        .map(([code, stats]) => `${code}: ${count(stats.count ?? 0)}`)
        .join(', ');
      if (codes !== '') console.log(`  responses by status: ${codes}; the first: ${firstRefusal ?? '?'}`);
    }
    if (cpuBefore !== undefined && cpuAfter !== undefined) {
      serverCpu = cpuText(cpuAfter - cpuBefore, result.duration * 1000, result['2xx'], 'the server');
    }
    run.figures.push({
      backend: run.backend,
      cards: run.cards,
      phase: 'http',
      rate,
      p99,
      memory: memory?.hwm,
    });
  } finally {
    await server.stop();
  }
  const db = await database.db();
  const tally = await recordedTally(db, run.population.programId, since);
  console.log(`  ${describeTally(tally)}${serverCpu === '' ? '' : `; ${serverCpu}`}`);
  await ledgerCheck(db, run.population.programId);
}

/**
 * The figures the README has quoted since issue 7, on the smaller population: authorizations with 16 callers (the
 * approvals to capture), captures, and the simulate endpoint in-process with 32 connections, without and then with
 * the programme deciding through a real-time endpoint that approves at once.
 */
async function legacyPhases(run: Run, processing: ProcessingContext, vault: Keyring): Promise<void> {
  const { db, ids } = processing;
  const approved: { id: string; amount: number; currency: string }[] = [];
  const engine = await closedLoop(run.seconds, LEGACY_CALLERS, async () => {
    const decided = await authorize(processing, randomPurchase(run.population, run.merchants));
    if (decided.status === 'pending') {
      approved.push({ id: decided.id, amount: decided.merchant_amount, currency: decided.merchant_currency });
    }
    return decided;
  });
  console.log(
    `${tag(run)}  in-process, ${String(LEGACY_CALLERS)} callers: ${count((engine.calls / engine.ms) * 1000)}/s, p50 ${ms(percentile(engine.latencies, 0.5))} ms, p99 ${ms(percentile(engine.latencies, 0.99))} ms`,
  );

  // Each approval cleared once, for its full amount, in the merchant's currency: a capture voids the hold and
  // posts in one linked chain. Bounded by the run's seconds, not by how many there are to capture.
  const captures = new Latencies();
  const captureTally = newTally();
  const capturesStarted = performance.now();
  const captureDeadline = capturesStarted + run.seconds * 1000;
  await Promise.all(
    Array.from({ length: LEGACY_CALLERS }, async () => {
      for (
        let next = approved.pop();
        next !== undefined && performance.now() < captureDeadline;
        next = approved.pop()
      ) {
        const begun = performance.now();
        const { id, amount, currency } = next;
        await attempt(captureTally, async () => {
          await db.transaction((tx) =>
            captureAuthorizationIn(tx, processing, run.population.programId, id, {
              amount,
              currency,
              source: 'api',
            }),
          );
          return { approved: true, decline_reason: null };
        });
        captures.push(performance.now() - begun);
      }
    }),
  );
  const captured = captures.sorted();
  console.log(
    `${tag(run)}  captures in-process, ${String(LEGACY_CALLERS)} callers: ${count((captured.length / (performance.now() - capturesStarted)) * 1000)}/s, p50 ${ms(percentile(captured, 0.5))} ms, p99 ${ms(percentile(captured, 0.99))} ms${captureTally.errors > 0 ? `; ${count(captureTally.errors)} errors (first: ${captureTally.firstError ?? '?'})` : ''}`,
  );

  const issuing: IssuingContext = { db, clock: systemClock, ids, vault, regions: ['hk'] };
  const app = await buildApi(
    {
      db,
      clock: systemClock,
      ids,
      logger: createLogger({ level: 'warn' }),
      metrics: createMetrics(),
      authenticator: apiKeyAuthenticator(db, undefined),
    },
    issuing,
  );
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const post = async () => {
    const response = await fetch(`${address}/v1/simulate/authorizations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${run.population.apiKey}`, 'content-type': 'application/json' },
      body: purchaseBody(run.population, run.merchants),
    });
    const body = (await response.json()) as {
      approved?: boolean;
      decline_reason?: string | null;
      program_decision?: { outcome?: string } | null;
      error?: { message?: string };
    };
    if (response.status !== 201)
      throw new Error(`HTTP ${String(response.status)}: ${body.error?.message ?? ''}`);
    return { approved: body.approved === true, decline_reason: body.decline_reason ?? null, body };
  };
  try {
    const plain = await closedLoop(run.seconds, LEGACY_CONNECTIONS, post);
    console.log(
      `${tag(run)}  POST /v1/simulate/authorizations in-process, ${String(LEGACY_CONNECTIONS)} connections: ${count((plain.calls / plain.ms) * 1000)}/s, p50 ${ms(percentile(plain.latencies, 0.5))} ms, p99 ${ms(percentile(plain.latencies, 0.99))} ms${plain.tally.errors > 0 ? `; ${count(plain.tally.errors)} failed (first: ${plain.tally.firstError ?? '?'})` : ''}`,
    );

    // The programme deciding in real time: a local endpoint that approves at once, so the figure is Lantau's own
    // cost of asking (the preview, the signed request, the second decision).
    const endpoint = createServer((request, response) => {
      request.resume();
      request.on('end', () =>
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"approved":true}'),
      );
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    try {
      const port = (endpoint.address() as AddressInfo).port;
      await db.transaction((tx) =>
        putAuthorizationEndpoint(
          tx,
          issuing,
          { id: run.population.programId, mode: 'sandbox' },
          { url: `http://127.0.0.1:${String(port)}/decide`, timeoutMs: 2_000, standIn: 'decline' },
          BY,
        ),
      );
      let asked = 0;
      const withEndpoint = await closedLoop(run.seconds, LEGACY_CONNECTIONS, async () => {
        const decided = await post();
        if (decided.body.program_decision?.outcome === 'approved') asked += 1;
        return decided;
      });
      console.log(
        `${tag(run)}  POST /v1/simulate/authorizations in-process with a real-time endpoint, ${String(LEGACY_CONNECTIONS)} connections: ${count((withEndpoint.calls / withEndpoint.ms) * 1000)}/s, p50 ${ms(percentile(withEndpoint.latencies, 0.5))} ms, p99 ${ms(percentile(withEndpoint.latencies, 0.99))} ms (${count(asked)} decided by the endpoint)${withEndpoint.tally.errors > 0 ? `; ${count(withEndpoint.tally.errors)} failed (first: ${withEndpoint.tally.firstError ?? '?'})` : ''}`,
      );
    } finally {
      await new Promise((resolve) => endpoint.close(resolve));
    }
  } finally {
    await app.close();
  }
  await ledgerCheck(db, run.population.programId);
}

/** Runs one group of phases; a failure (an engine mid-rewrite) is printed and the next group still runs. */
async function phase(
  run: Pick<Run, 'backend' | 'cards'>,
  name: string,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    console.log(
      `${tag(run)}  !! ${name} FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  }
}

async function runPopulation(
  options: AuthorizationBenchOptions,
  backend: BackendName,
  cards: number,
  tps: number | undefined,
  legacy: boolean,
  figures: Figure[],
): Promise<void> {
  const ids = createIdGenerator(systemClock);
  const database = await createBenchDatabase(backend, options.serverUrl, String(cards));
  try {
    let db = await database.db();
    await migrate(db);
    let { processing, vault } = await processingContext(db, ids);
    const seeded = await seedPopulation(
      { db, clock: systemClock, ids, vault, regions: ['hk'] },
      cards,
      (line) => console.log(`${tag({ backend, cards })}  seeding: ${line}`),
    );
    const { population } = seeded;
    console.log(
      `${tag({ backend, cards })}  seeded in ${seeded.seconds.toFixed(1)} s: ${count(population.cards)} cards, ${count(population.cardholders)} cardholders, ${count(population.wallets)} wallets (HKD and USD), bulk SQL; ${MERCHANTS_DESCRIBED}`,
    );
    if (cards <= 100_000) {
      const started = performance.now();
      const report = await verifyLedger(db);
      console.log(
        `  verifyLedger after seeding: ${report.ok ? 'ok ✓' : `${String(report.problems.length)} PROBLEMS`} (${count(report.accounts)} accounts, ${count(report.transfers)} transfers, ${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
      for (const problem of report.problems.slice(0, 5))
        console.log(`    ${problem.subject}: ${problem.problem}`);
    }
    const run: Run = {
      backend,
      cards,
      population,
      merchants: MERCHANTS_POOL,
      tps,
      seconds: options.seconds,
      concurrency: options.concurrency,
      figures,
    };
    const before = process.memoryUsage.rss();
    const note = collectGarbage();
    console.log(
      `  this process: RSS ${mb(before)} after seeding, ${mb(process.memoryUsage.rss())} after a full GC${note}`,
    );
    await phase(run, 'in-process', () => inProcessPhases(run, processing));
    // PGlite allows one process per data directory: the server takes it over.
    vault.close();
    await database.release();
    await phase(run, 'HTTP', () => httpPhase(run, database));
    if (legacy) {
      db = await database.db();
      ({ processing, vault } = await processingContext(db, ids));
      await phase(run, 'legacy figures', () => legacyPhases(run, processing, vault));
      vault.close();
    }
  } finally {
    await database.dispose();
  }
}

function summary(figures: readonly Figure[], tps: number | undefined): void {
  console.log('auth     targets (issue 8); nothing fails on a number:');
  const line = (text: string, met: boolean | undefined) =>
    console.log(`  ${met === undefined ? '·' : mark(met)} ${text}`);
  for (const figure of figures) {
    const where = `${figure.backend} ${count(figure.cards)} cards`;
    const value = ratio(figure.rate, tps);
    const target = rateTarget(figure.backend, figure.phase);
    if (figure.phase !== 'open-loop' && value !== undefined && target !== undefined) {
      line(
        `${where} ${figure.phase}: ${value.toFixed(2)}× TPC-B, target ≥${target.toFixed(1)}×`,
        value >= target,
      );
    }
    if (figure.phase === 'open-loop') {
      line(
        `${where} 1,000/s offered: p99 ${ms(figure.p99)} ms, target <${String(TARGET.openP99Ms)} ms`,
        (figure.p99 ?? Infinity) < TARGET.openP99Ms,
      );
    } else if (figure.backend === 'postgres') {
      line(
        `${where} ${figure.phase}: p99 ${ms(figure.p99)} ms, target <${String(TARGET.closedP99Ms)} ms`,
        (figure.p99 ?? Infinity) < TARGET.closedP99Ms,
      );
    }
    if (figure.phase === 'http' && figure.backend === 'postgres' && figure.memory !== undefined) {
      line(
        `${where} server peak memory ${mb(figure.memory)}, target <${String(TARGET.serverMemoryMb)} MB`,
        figure.memory < TARGET.serverMemoryMb * 1024 * 1024,
      );
    }
  }
  // The large population against the small one, phase by phase, on each backend.
  for (const figure of figures) {
    if (figure.phase === 'open-loop') continue;
    const small = figures.find(
      (other) =>
        other.backend === figure.backend && other.phase === figure.phase && other.cards < figure.cards,
    );
    if (small === undefined || small.rate <= 0) continue;
    const share = figure.rate / small.rate;
    line(
      `${figure.backend} ${figure.phase}: ${count(figure.cards)} cards at ${(share * 100).toFixed(0)}% of the ${count(small.cards)}-card rate, target ≥${String(TARGET.largeShareOfSmall * 100)}%`,
      share >= TARGET.largeShareOfSmall,
    );
  }
}

export async function benchAuthorizations(options: AuthorizationBenchOptions): Promise<void> {
  const figures: Figure[] = [];
  // Every figure here shares the machine: whatever else runs meanwhile (tests, another bench) is in them too.
  console.log(
    `auth     machine: ${String(availableParallelism())} cores, load average ${(loadavg()[0] ?? 0).toFixed(2)} as the bench starts; ${String(options.seconds)} s per phase`,
  );
  let tps: number | undefined;
  let backends = options.backends;
  const admin = new pg.Client({ connectionString: options.serverUrl });
  try {
    await admin.connect();
    await admin.end();
    tps = (await runPgbench(options.serverUrl, options.pgbenchSeconds))?.tps;
  } catch (error) {
    console.log(
      `auth     postgres: skipped, no server at ${new URL(options.serverUrl).host} (${(error as Error).message}); no pgbench ratios`,
    );
    backends = backends.filter((backend) => backend !== 'postgres');
  }
  if (backends.includes('pglite')) {
    const sizes = options.cards.pglite.map(count).join(', ');
    console.log(
      options.cards.pglite.some((cards) => cards > 10_000)
        ? `auth     pglite: ${sizes} cards as asked; beware, PGlite holds its whole database in this process’s memory`
        : `auth     pglite: ${sizes} cards (PGlite holds its whole database in this process’s memory, so the million-card population is PostgreSQL's only; --cards overrides)`,
    );
  }
  for (const backend of backends) {
    let first = true;
    for (const cards of options.cards[backend]) {
      try {
        await runPopulation(options, backend, cards, tps, first, figures);
      } catch (error) {
        console.log(
          `${tag({ backend, cards })}  !! FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
      }
      first = false;
    }
  }
  summary(figures, tps);
}
