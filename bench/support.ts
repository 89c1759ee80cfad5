import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresDatabase } from '../src/platform/db/postgres.js';
import { envKek } from '../src/vault/kek-env.js';
import type { KeyEncryptionKey } from '../src/vault/kek.js';
import { Secret } from '../src/vault/secret.js';

/** What every benchmark group shares: a fixed-concurrency driver, a rate printer and one KEK. */

export function rate(count: number, ms: number): string {
  return Math.round((count / ms) * 1000).toLocaleString('en-US');
}

/**
 * Runs `step` from `concurrency` callers until `seconds` pass; each step returns how many operations it completed.
 * Returns the operations completed and the elapsed milliseconds.
 */
export async function drive(
  seconds: number,
  concurrency: number,
  step: (caller: number) => Promise<number>,
): Promise<{ operations: number; ms: number }> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let operations = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, caller) => {
      while (performance.now() < deadline) {
        // Not `operations += await step()`: that reads `operations` before the await and loses the other callers' counts.
        const done = await step(caller);
        operations += done;
      }
    }),
  );
  return { operations, ms: performance.now() - started };
}

/**
 * A fixed KEK for benchmarks: the data keys a database holds are wrapped by whichever KEK first opened it, so every
 * bench that opens a keyring on the same database must use this one (never for anything but benchmarks).
 */
export function benchKek(): KeyEncryptionKey {
  return envKek(new Secret(createHash('sha256').update('lantau bench kek, not a secret').digest()));
}

export interface ScratchPostgres {
  readonly name: string;
  readonly db: PostgresDatabase;
  /** Closes the pool and drops the database. */
  dispose(): Promise<void>;
}

/**
 * A database of the caller's own on the PostgreSQL server at `serverUrl` (`prefix`, the process id and a random
 * suffix), created now and dropped by `dispose`, so a run never meets another's rows. Not migrated.
 */
export async function openScratchPostgres(
  serverUrl: string,
  prefix: string,
  options: { readonly maxConnections?: number } = {},
): Promise<ScratchPostgres> {
  const name = `${prefix}_${String(process.pid)}_${randomBytes(3).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = new PostgresDatabase({ connectionString: url.toString(), ...options });
  return {
    name,
    db,
    dispose: async () => {
      await db.close();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
