import { mkdirSync } from 'node:fs';
import { PGlite, type PGliteInterface, type Transaction as PGliteTransaction } from '@electric-sql/pglite';
import {
  beginStatement,
  runAfterCommit,
  parseSafeInt8,
  toDriverParam,
  withRetries,
  type Database,
  type QueryResult,
  type SqlParam,
  type Transaction,
  type TransactionOptions,
} from './database.js';

export interface PGliteOptions {
  /** A directory to persist in; undefined keeps the database in memory. */
  readonly dataDir?: string;
  /** A dump (from `dumpDataDir`) to start from instead of running initdb: how tests get a migrated copy fast. */
  readonly loadDataDir?: Blob;
}

const INT8_OID = 20;
const parsers = { [INT8_OID]: parseSafeInt8 };

type PGliteQueryable = Pick<PGliteInterface, 'query' | 'exec'> | PGliteTransaction;

async function runQuery<Row>(
  target: PGliteQueryable,
  sql: string,
  params: readonly SqlParam[] = [],
): Promise<QueryResult<Row>> {
  const result = await target.query<Row>(sql, params.map(toDriverParam));
  return { rows: result.rows, rowCount: result.affectedRows ?? 0 };
}

class PGliteTx implements Transaction {
  readonly inTransaction = true as const;
  readonly committed: (() => void)[] = [];
  constructor(private readonly tx: PGliteTransaction) {}

  afterCommit(callback: () => void): void {
    this.committed.push(callback);
  }

  query<Row>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<Row>> {
    return runQuery<Row>(this.tx, sql, params);
  }

  async exec(sql: string): Promise<void> {
    await this.tx.exec(sql);
  }
}

/**
 * PGlite is one PostgreSQL backend in this process: one connection, so statements and transactions are queued
 * one after another. It never fsyncs; it suits development and the sandbox, not production money.
 */
export class PGliteDatabase implements Database {
  readonly backend = 'pglite' as const;

  private constructor(
    private readonly pglite: PGlite,
    private readonly onRetry?: (state: string) => void,
  ) {}

  static async open(options: PGliteOptions = {}, onRetry?: (state: string) => void): Promise<PGliteDatabase> {
    if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const pglite = await PGlite.create({
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.loadDataDir === undefined ? {} : { loadDataDir: options.loadDataDir }),
      parsers,
    });
    return new PGliteDatabase(pglite, onRetry);
  }

  query<Row>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<Row>> {
    return runQuery<Row>(this.pglite, sql, params);
  }

  async exec(sql: string): Promise<void> {
    await this.pglite.exec(sql);
  }

  transaction<T>(work: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return withRetries(
      options?.attempts ?? 3,
      async () => {
        let committed: readonly (() => void)[] = [];
        const result = await this.pglite.transaction(async (tx) => {
          if (options?.isolation !== undefined) {
            await tx.exec(beginStatement(options).replace(/^BEGIN/, 'SET TRANSACTION'));
          }
          const handle = new PGliteTx(tx);
          committed = handle.committed;
          return work(handle);
        });
        runAfterCommit(committed);
        return result;
      },
      this.onRetry,
    );
  }

  /** A tarball of the whole data directory, for starting other instances from this state. */
  async dump(): Promise<Blob> {
    return this.pglite.dumpDataDir('none');
  }

  async close(): Promise<void> {
    if (!this.pglite.closed) await this.pglite.close();
  }
}
