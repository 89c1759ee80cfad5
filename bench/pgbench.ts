/**
 * pgbench's TPC-B on the bench's own PostgreSQL server: the yardstick issue 8's targets are ratios to, so that a
 * figure measured on a fast machine and one measured on a slow one can be compared. Runs in a scratch database of
 * its own, dropped afterwards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants } from 'node:fs/promises';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export const PGBENCH_PATH = '/usr/bin/pgbench';
export const PGBENCH_SCALE = 10;
export const PGBENCH_CLIENTS = 8;
const PGBENCH_THREADS = 2;
/** Initialising scale 10 (a million account rows) takes seconds; ten minutes means something is wrong. */
const INIT_TIMEOUT_MS = 10 * 60 * 1000;
/** pgbench's output is a few dozen lines; a bound keeps a runaway one from filling memory. */
const OUTPUT_BYTES_MAX = 4 * 1024 * 1024;

export interface PgbenchResult {
  readonly tps: number;
  readonly latencyAverageMs: number | undefined;
  readonly seconds: number;
}

/** pgbench takes its connection as libpq options and the password from the environment, never in argv. */
function connection(url: URL): { args: string[]; env: NodeJS.ProcessEnv } {
  const args = ['-h', url.hostname, '-p', url.port === '' ? '5432' : url.port];
  if (url.username !== '') args.push('-U', decodeURIComponent(url.username));
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (url.password !== '') env.PGPASSWORD = decodeURIComponent(url.password);
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode !== null) env.PGSSLMODE = sslmode;
  return { args, env };
}

/** "tps = 3212.301 (without initial connection time)": the figure every ratio is taken against. */
export function parsePgbenchOutput(output: string): { tps: number; latencyAverageMs: number | undefined } {
  const tps = /^tps = ([0-9]+(?:\.[0-9]+)?)/m.exec(output);
  if (tps?.[1] === undefined) throw new Error(`pgbench printed no "tps = …" line:\n${output}`);
  const latency = /^latency average = ([0-9]+(?:\.[0-9]+)?) ms/m.exec(output);
  return {
    tps: Number(tps[1]),
    latencyAverageMs: latency?.[1] === undefined ? undefined : Number(latency[1]),
  };
}

/**
 * TPC-B at scale 10 with 8 clients for `seconds` against `serverUrl`'s server; undefined (and says why) when
 * pgbench is not installed or `seconds` is 0.
 */
export async function runPgbench(serverUrl: string, seconds: number): Promise<PgbenchResult | undefined> {
  if (seconds <= 0) {
    console.log('pgbench: skipped (--pgbench-seconds 0): rates are printed without ratios');
    return undefined;
  }
  try {
    await access(PGBENCH_PATH, constants.X_OK);
  } catch {
    console.log(
      `pgbench: not found at ${PGBENCH_PATH} (Debian: postgresql-client): rates are printed without ratios`,
    );
    return undefined;
  }
  const server = new URL(serverUrl);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const name = `lantau_pgbench_${String(process.pid)}_${randomBytes(3).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const { args, env } = connection(server);
    await run(PGBENCH_PATH, ['-i', '-s', String(PGBENCH_SCALE), '-q', ...args, name], {
      env,
      timeout: INIT_TIMEOUT_MS,
      maxBuffer: OUTPUT_BYTES_MAX,
    });
    // Init's million dirty rows are flushed now rather than by a checkpoint in the middle of the measurement
    // (superuser or pg_checkpoint only; without it, pgbench runs as it would anyway).
    await admin.query('CHECKPOINT').catch(() => undefined);
    const measured = await run(
      PGBENCH_PATH,
      ['-c', String(PGBENCH_CLIENTS), '-j', String(PGBENCH_THREADS), '-T', String(seconds), ...args, name],
      // Connecting and the final report take moments; a minute past the run means pgbench hung.
      { env, timeout: (seconds + 60) * 1000, maxBuffer: OUTPUT_BYTES_MAX },
    );
    const parsed = parsePgbenchOutput(measured.stdout);
    console.log(
      `pgbench TPC-B scale ${String(PGBENCH_SCALE)}, ${String(PGBENCH_CLIENTS)} clients, ${String(seconds)} s: ${Math.round(parsed.tps).toLocaleString('en-US')} tps${parsed.latencyAverageMs === undefined ? '' : ` (latency average ${parsed.latencyAverageMs.toFixed(1)} ms)`}`,
    );
    return { ...parsed, seconds };
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}
