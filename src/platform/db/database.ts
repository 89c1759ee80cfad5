/**
 * The one database interface every part uses. Two adapters implement it: `pg` against a PostgreSQL server and
 * PGlite embedded in the process. Both speak the same SQL (PostgreSQL 15 is the oldest server we support, so
 * migrations use nothing newer) and return the same JavaScript shapes:
 * - bigint columns as numbers, refused when beyond Number.MAX_SAFE_INTEGER (money is safe integers);
 * - numeric as strings (exact decimals such as FX rates); timestamptz as Date; jsonb as parsed values.
 */
export type SqlParam = string | number | boolean | Date | null | Uint8Array | readonly SqlParam[] | JsonParam;

/** A value bound as JSON text: wrap objects in `json()` so both drivers send the same thing. */
export interface JsonParam {
  readonly __json: string;
}

export function json(value: unknown): JsonParam {
  return { __json: JSON.stringify(value) };
}

export interface QueryResult<Row> {
  readonly rows: Row[];
  /** Rows inserted, updated or deleted by the statement. */
  readonly rowCount: number;
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<Row>>;
  /** Runs a script of several statements with no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/**
 * A handle that exists only inside `Database.transaction`. Functions that must write in the caller's transaction
 * (an outbox event with the change it describes, an audit entry) take a `Transaction`, so the type checker
 * refuses a call outside one.
 */
export interface Transaction extends Queryable {
  readonly inTransaction: true;
  /**
   * Runs `callback` once the transaction has committed, and never if it rolls back (or is re-run after a
   * serialization failure: the re-run registers its own). For what lives outside the database and must follow
   * only committed changes, such as a process's in-memory counters. A callback that throws is reported as a
   * process warning: the commit stands, and the caller is not told it failed.
   */
  afterCommit(callback: () => void): void;
}

/** Runs the callbacks a committed transaction registered; one that throws does not stop the others. */
export function runAfterCommit(callbacks: readonly (() => void)[]): void {
  for (const callback of callbacks) {
    try {
      callback();
    } catch (error) {
      process.emitWarning(error instanceof Error ? error : String(error), 'AfterCommitWarning');
    }
  }
}

export type Backend = 'postgres' | 'pglite';

export interface TransactionOptions {
  /** Attempts in all when the database reports a serialization failure or deadlock (default 3). */
  readonly attempts?: number;
  readonly isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /**
   * `generic`: each prepared statement keeps one plan for every execution. For a hot path whose plans do not
   * depend on its parameters' values: PostgreSQL otherwise re-plans an `= ANY($1)` lookup on every execution,
   * because a plan for the array's exact length always looks cheaper than the generic one, and planning then
   * costs more than the statement. Where statements are planned each time anyway (PGlite), it changes nothing.
   */
  readonly planning?: 'generic';
}

export interface Database extends Queryable {
  readonly backend: Backend;
  transaction<T>(work: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

/** SQLSTATEs after which re-running the whole transaction is the documented remedy. */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export function isRetryable(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && RETRYABLE_SQLSTATES.has(state);
}

export const UNIQUE_VIOLATION = '23505';

/**
 * Thrown inside a transaction to have `Database.transaction` re-run it, as after a serialization failure: the state
 * it decided on changed under it (a twin inserted the same key first, a hold lapsed), and a re-run sees the change.
 */
export class RerunTransaction extends Error {
  readonly code = '40001';
  constructor(reason: string, cause?: unknown) {
    super(reason, cause === undefined ? undefined : { cause });
    this.name = 'RerunTransaction';
  }
}

/** A `.catch` for an INSERT racing a twin on a unique key: the re-run finds the twin's row and answers from it. */
export function rerunOnUniqueViolation(reason: string): (error: unknown) => never {
  return (error) => {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new RerunTransaction(reason, error);
    throw error;
  };
}

/** int8 text to number, refusing what a number cannot hold exactly. */
export function parseSafeInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`bigint value ${text} is beyond the safe integer range`);
  }
  return value;
}

export function toDriverParam(value: SqlParam): unknown {
  if (value !== null && typeof value === 'object' && '__json' in value) return value.__json;
  if (Array.isArray(value)) return value.map((item: SqlParam) => toDriverParam(item));
  return value;
}

/** Re-runs a whole transaction after a serialization failure or deadlock, with a short jittered pause. */
export async function withRetries<T>(
  attempts: number,
  run: () => Promise<T>,
  onRetry?: (state: string) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= attempts || !isRetryable(error)) throw error;
      onRetry?.(sqlState(error) ?? 'unknown');
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** attempt));
    }
  }
}

export function beginStatement(options: TransactionOptions | undefined): string {
  return options?.isolation === undefined
    ? 'BEGIN'
    : `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}`;
}

/** The setting `planning` asks for, in the same simple-protocol message as BEGIN, so it costs no round trip. */
export function planningStatement(options: TransactionOptions | undefined): string {
  return options?.planning === 'generic' ? '; SET LOCAL plan_cache_mode = force_generic_plan' : '';
}
