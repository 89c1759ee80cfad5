import { createHash } from 'node:crypto';
import pg from 'pg';
import {
  beginStatement,
  runAfterCommit,
  planningStatement,
  parseSafeInt8,
  toDriverParam,
  withRetries,
  type Database,
  type QueryResult,
  type Queryable,
  type SqlParam,
  type Transaction,
  type TransactionOptions,
} from './database.js';

export interface PostgresOptions {
  readonly connectionString: string;
  readonly maxConnections?: number;
  readonly applicationName?: string;
  readonly onRetry?: (state: string) => void;
}

const INT8_OID = 20;

/** pg's own parsers, seen as what they are at run time: any type id in, a text parser out. */
const builtinParser = pg.types.getTypeParser as unknown as (
  oid: number,
  format: string,
) => (text: string) => unknown;

const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown {
    if (oid === INT8_OID) return parseSafeInt8;
    return builtinParser(oid, format ?? 'text');
  },
};

const statementNames = new Map<string, string>();
/** Texts whose names are kept: the code's own statements are far fewer; past this, names are hashed afresh. */
const STATEMENT_NAMES_MAX = 4_096;

/** Every query is a named prepared statement, named by a hash of its text, so each connection parses it once. */
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `l_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`;
    if (statementNames.size < STATEMENT_NAMES_MAX) statementNames.set(sql, name);
  }
  return name;
}

function driverParams(params: readonly SqlParam[]): unknown[] {
  return params.map((param) =>
    param instanceof Uint8Array && !Buffer.isBuffer(param) ? Buffer.from(param) : toDriverParam(param),
  );
}

async function runQuery<Row>(
  client: pg.Pool | pg.PoolClient,
  sql: string,
  params: readonly SqlParam[] = [],
): Promise<QueryResult<Row>> {
  const result = await client.query({
    name: statementName(sql),
    text: sql,
    values: driverParams(params),
    types: typeParsers,
  });
  return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
}

class PostgresTransaction implements Transaction {
  readonly inTransaction = true as const;
  readonly committed: (() => void)[] = [];
  constructor(private readonly client: pg.PoolClient) {}

  afterCommit(callback: () => void): void {
    this.committed.push(callback);
  }

  query<Row>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<Row>> {
    return runQuery<Row>(this.client, sql, params);
  }

  async exec(sql: string): Promise<void> {
    await this.client.query(sql);
  }
}

export class PostgresDatabase implements Database, Queryable {
  readonly backend = 'postgres' as const;
  private readonly pool: pg.Pool;

  constructor(private readonly options: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      application_name: options.applicationName ?? 'lantau',
      types: typeParsers,
    });
    // An idle client losing its server connection must not take the process down; the pool replaces it.
    this.pool.on('error', () => undefined);
  }

  query<Row>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<Row>> {
    return runQuery<Row>(this.pool, sql, params);
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  transaction<T>(work: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return withRetries(options?.attempts ?? 3, () => this.runOnce(work, options), this.options.onRetry);
  }

  private async runOnce<T>(work: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const client = await this.pool.connect();
    const tx = new PostgresTransaction(client);
    let broken: Error | undefined;
    let result: T;
    try {
      try {
        // Inside the rollback's reach: BEGIN and SET LOCAL are one message, and a failure of the second leaves
        // the first's transaction open and aborted on a connection that would otherwise go back to the pool.
        await client.query(beginStatement(options) + planningStatement(options));
        result = await work(tx);
        await client.query('COMMIT');
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError instanceof Error ? rollbackError : new Error('rollback failed');
        }
        throw error;
      }
    } finally {
      // A connection whose rollback failed is in an unknown state: destroy it rather than return it to the pool.
      client.release(broken);
    }
    // Outside the rollback's reach: what follows the commit can never undo it or have it run again.
    runAfterCommit(tx.committed);
    return result;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
