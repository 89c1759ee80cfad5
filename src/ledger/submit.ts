import type { Clock } from '../platform/clock.js';
import { UNIQUE_VIOLATION, sqlState, type Transaction } from '../platform/db/database.js';
import type { Statement } from '../platform/db/statements.js';
import {
  LedgerState,
  TRANSFER_ID_PATTERN,
  applyBatch,
  batchCommands,
  checkBatchShape,
  type LedgerRows,
} from './apply.js';
import { TransferIdRace } from './errors.js';
import {
  ACCOUNT_COLUMNS,
  TRANSFER_COLUMNS,
  accountFromRow,
  transferFromRow,
  type AccountRow,
  type TransferRow,
} from './rows.js';
import type { Account, BatchItem, BatchResult, Transfer, TransferCommand } from './types.js';

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

const validId = (value: unknown): value is string =>
  typeof value === 'string' && TRANSFER_ID_PATTERN.test(value);

/**
 * The order every writer locks ledger accounts in: a programme's own accounts (its funding and card-settlement
 * accounts, which most transfers touch) after all others, then by id. Two writers wait for each other instead of
 * deadlocking, and a hot account is held for the shortest time: from the end of a writer's locking to its commit.
 */
export function accountLockOrder(alias?: string): string {
  const column = (name: string) => (alias === undefined ? name : `${alias}.${name}`);
  return `${column('owner_id')} IS NOT DISTINCT FROM ${column('program_id')}, ${column('id')}`;
}

export const ACCOUNT_LOCK_ORDER = accountLockOrder();

/** Reads and locks accounts in `ACCOUNT_LOCK_ORDER`. */
export async function lockAccounts(tx: Transaction, ids: readonly string[]): Promise<Map<string, Account>> {
  const accounts = new Map<string, Account>();
  const wanted = sortedUnique(ids.filter(validId));
  if (wanted.length === 0) return accounts;
  const found = await tx.query<AccountRow>(
    `SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = ANY($1::text[]) ORDER BY ${ACCOUNT_LOCK_ORDER} FOR UPDATE`,
    [wanted],
  );
  for (const row of found.rows) accounts.set(row.id, accountFromRow(row));
  return accounts;
}

/**
 * Reads and locks every row the batch can touch, always in the same order (transfers by id, then accounts in
 * `ACCOUNT_LOCK_ORDER`), so two batches wait for each other instead of deadlocking, and the expiry job (which skips
 * locked holds) never waits on a batch's transfer rows.
 */
async function lockRows(tx: Transaction, items: readonly BatchItem[]): Promise<LedgerRows> {
  const commands = batchCommands(items);
  const transferIds = sortedUnique(
    commands.flatMap((command) => {
      const ids = [command.id];
      if (command.kind === 'post_pending' || command.kind === 'void_pending') ids.push(command.pendingId);
      return ids.filter(validId);
    }),
  );
  const transfers = new Map<string, Transfer>();
  if (transferIds.length > 0) {
    const found = await tx.query<TransferRow>(
      `SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
      [transferIds],
    );
    for (const row of found.rows) transfers.set(row.id, transferFromRow(row));
    await findConcurrentResolutions(tx, commands, transfers);
  }
  const accountIds = commands.flatMap((command) => {
    if (command.kind !== 'post_pending' && command.kind !== 'void_pending') {
      return [command.debitAccountId, command.creditAccountId];
    }
    const pending = transfers.get(command.pendingId);
    return pending === undefined ? [] : [pending.debitAccountId, pending.creditAccountId];
  });
  const accounts = await lockAccounts(tx, accountIds);
  return { accounts, transfers };
}

/**
 * A post or void sent twice at once: the second waited for the hold's row lock while the first resolved it, and
 * under READ COMMITTED the locking statement's snapshot predates the first one's new transfer row. A fresh
 * statement sees it, so the second is answered `exists` like any other replay instead of "already posted".
 */
async function findConcurrentResolutions(
  tx: Transaction,
  commands: readonly TransferCommand[],
  transfers: Map<string, Transfer>,
): Promise<void> {
  const resolvers = new Set<string>();
  for (const transfer of transfers.values())
    if (transfer.resolvedBy !== null) resolvers.add(transfer.resolvedBy);
  const unseen = sortedUnique(
    commands.map((command) => command.id).filter((id) => resolvers.has(id) && !transfers.has(id)),
  );
  if (unseen.length === 0) return;
  const found = await tx.query<TransferRow>(
    `SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = ANY($1::text[])`,
    [unseen],
  );
  for (const row of found.rows) transfers.set(row.id, transferFromRow(row));
}

const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());

/** The INSERT of new transfers, in id order (the order every batch uses, so two racing batches cannot deadlock). */
function transfersInsert(created: readonly Transfer[]): Statement | undefined {
  if (created.length === 0) return undefined;
  const rows = [...created].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  // One JSON document for all rows: the driver sends it as it is, with no per-element array escaping.
  return {
    sql: `INSERT INTO ledger_transfers (id, program_id, kind, debit_account_id, credit_account_id, amount, currency,
         pending_id, timeout_seconds, expires_at, code, reference, created_at, state, resolved_at, resolved_by)
       SELECT * FROM json_to_recordset($1::json) AS t(id text, program_id text, kind text, debit_account_id text,
         credit_account_id text, amount bigint, currency text, pending_id text, timeout_seconds integer,
         expires_at timestamptz, code text, reference text, created_at timestamptz, state text,
         resolved_at timestamptz, resolved_by text)`,
    params: [
      JSON.stringify(
        rows.map((t) => ({
          id: t.id,
          program_id: t.programId,
          kind: t.kind,
          debit_account_id: t.debitAccountId,
          credit_account_id: t.creditAccountId,
          amount: t.amount,
          currency: t.currency,
          pending_id: t.pendingId,
          timeout_seconds: t.timeoutSeconds,
          expires_at: iso(t.expiresAt),
          code: t.code,
          reference: t.reference,
          created_at: t.createdAt.toISOString(),
          state: t.state,
          resolved_at: iso(t.resolvedAt),
          resolved_by: t.resolvedBy,
        })),
      ),
    ],
  };
}

async function insertTransfers(tx: Transaction, created: readonly Transfer[]): Promise<void> {
  const statement = transfersInsert(created);
  if (statement === undefined) return;
  try {
    await tx.query(statement.sql, statement.params);
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new TransferIdRace(error);
    throw error;
  }
}

export async function markResolved(tx: Transaction, resolved: readonly Transfer[]): Promise<void> {
  if (resolved.length === 0) return;
  const updated = await tx.query(
    `UPDATE ledger_transfers t
     SET state = u.state, resolved_at = u.resolved_at, resolved_by = u.resolved_by
     FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS u(id, state, resolved_at, resolved_by)
     WHERE t.id = u.id AND t.state = 'pending'`,
    [
      resolved.map((t) => t.id),
      resolved.map((t) => t.state),
      resolved.map((t) => iso(t.resolvedAt)),
      resolved.map((t) => t.resolvedBy),
    ],
  );
  // Every hold was locked and seen pending by this transaction: anything else means balances would move without it.
  if (updated.rowCount !== resolved.length) {
    throw new Error(
      `resolved ${updated.rowCount} of ${resolved.length} holds: a hold changed under its lock`,
    );
  }
}

/** One statement for all of the batch's accounts: a hot account is written once per batch, not once per transfer. */
function balancesUpdate(accounts: readonly Account[]): Statement | undefined {
  if (accounts.length === 0) return undefined;
  return {
    sql: `UPDATE ledger_accounts a
     SET debits_pending = u.debits_pending, debits_posted = u.debits_posted,
         credits_pending = u.credits_pending, credits_posted = u.credits_posted
     FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
       AS u(id, debits_pending, debits_posted, credits_pending, credits_posted)
     WHERE a.id = u.id`,
    params: [
      accounts.map((a) => a.id),
      accounts.map((a) => a.debitsPending),
      accounts.map((a) => a.debitsPosted),
      accounts.map((a) => a.creditsPending),
      accounts.map((a) => a.creditsPosted),
    ],
  };
}

export async function writeBalances(tx: Transaction, accounts: readonly Account[]): Promise<void> {
  const statement = balancesUpdate(accounts);
  if (statement !== undefined) await tx.query(statement.sql, statement.params);
}

/**
 * Adds what a batch moved (each account's balances in `deltas`) to what is stored, and says for each whether the
 * result is still within the safe-integer range.
 */
function balancesIncrement(deltas: readonly Account[]): Statement | undefined {
  if (deltas.length === 0) return undefined;
  return {
    // The rows are locked in order before any is changed: an UPDATE alone changes them in whatever order its plan
    // visits them, and two groups incrementing the same two accounts could then wait for each other. NO KEY UPDATE
    // is the lock the UPDATE itself takes.
    sql: `WITH locked AS MATERIALIZED (
       SELECT id FROM ledger_accounts WHERE id = ANY($1::text[]) ORDER BY ${ACCOUNT_LOCK_ORDER} FOR NO KEY UPDATE)
     UPDATE ledger_accounts a
     SET debits_pending = a.debits_pending + u.debits_pending, debits_posted = a.debits_posted + u.debits_posted,
         credits_pending = a.credits_pending + u.credits_pending, credits_posted = a.credits_posted + u.credits_posted
     FROM locked l, unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
       AS u(id, debits_pending, debits_posted, credits_pending, credits_posted)
     WHERE a.id = l.id AND u.id = l.id
     RETURNING a.id, a.debits_pending + a.debits_posted <= 9007199254740991
       AND a.credits_pending + a.credits_posted <= 9007199254740991 AS safe`,
    params: [
      deltas.map((a) => a.id),
      deltas.map((a) => a.debitsPending),
      deltas.map((a) => a.debitsPosted),
      deltas.map((a) => a.creditsPending),
      deltas.map((a) => a.creditsPosted),
    ],
  };
}

/**
 * Applies a batch of transfers in the caller's transaction, so that what the caller records about them (an
 * authorization, its outbox event) commits or rolls back with them. Each plain item gets its own result; a linked
 * chain (an inner array) applies whole or not at all. A refused transfer is a result, not an exception: the rest
 * of the batch still applies.
 */
export async function submitTransfers(
  tx: Transaction,
  clock: Clock,
  items: readonly BatchItem[],
): Promise<BatchResult[]> {
  if (items.length === 0) return [];
  checkBatchShape(items);
  const rows = await lockRows(tx, items);
  // The time is read after the locks are held, so a hold can never be posted after the expiry job saw it expire.
  const applied = applyBatch(rows, items, clock.now());
  await insertTransfers(tx, applied.created);
  await markResolved(tx, applied.resolved);
  await writeBalances(tx, applied.changedAccounts);
  return applied.results;
}

/**
 * Ledger work spread over a caller's own logic (a group commit of authorizations): over accounts the caller locked
 * (and increment-only accounts it never locks), items are applied one at a time with their results at once (a
 * partial approval reads what is left), and a caller's unit of work can be taken back with `mark`/`undoTo`.
 * `writes` then gives the statements that store it all. Only new transfers: posting or voiding holds goes through
 * `submitTransfers`, which locks the holds.
 */
export class LedgerWork {
  private readonly state: LedgerState;
  private readonly incremented = new Set<string>();

  /** `now` is read after the first locks are held; `accounts` are what the caller read and locked (`lockAccounts`). */
  constructor(
    readonly now: Date,
    accounts: ReadonlyMap<string, Account> = new Map(),
  ) {
    this.state = new LedgerState({ accounts, transfers: new Map() }, now);
  }

  /**
   * Takes an account whose balance no rule reads (it has no limit flags: a programme's settlement account, which
   * every hold credits) without reading or locking it. Its changes are written as increments at the very end of
   * `write`, so its row is locked only from then to commit, and concurrent writers queue there for the shortest
   * time. `account` gives what never changes (id, programme, currency, flags); its balances are not used.
   */
  incrementOnly(account: Account): void {
    if (this.state.account(account.id) !== undefined) return;
    if (account.flags.debitsMustNotExceedCredits || account.flags.creditsMustNotExceedDebits) {
      throw new Error(`account ${account.id} has a balance limit: lock it instead`);
    }
    const zero = { debitsPending: 0, debitsPosted: 0, creditsPending: 0, creditsPosted: 0 };
    this.state.load({ accounts: new Map([[account.id, { ...account, ...zero }]]), transfers: new Map() });
    this.incremented.add(account.id);
  }

  account(id: string): Account | undefined {
    return this.incremented.has(id) ? undefined : this.state.account(id);
  }

  apply(item: BatchItem): BatchResult {
    checkBatchShape([item]);
    for (const command of batchCommands([item])) {
      if (command.kind === 'post_pending' || command.kind === 'void_pending') {
        throw new Error('LedgerWork creates transfers; post or void holds with submitTransfers');
      }
    }
    return this.state.applyItem(item);
  }

  mark(): number {
    return this.state.mark();
  }

  undoTo(mark: number): void {
    this.state.undoTo(mark);
  }

  /**
   * The work's writes, as statements for the caller to run with its own (`runTogether`) in one round trip: the
   * new transfers and the locked accounts' balances, and `last` the increments, which lock their rows in the
   * order every writer locks accounts. Run `last` after everything else, so a hot account is held only from there
   * to the commit, and hand `check` what it returned.
   */
  writes(): LedgerWrites {
    const applied = this.state.finish([]);
    const increments = applied.changedAccounts.filter((account) => this.incremented.has(account.id));
    return {
      statements: [
        transfersInsert(applied.created),
        balancesUpdate(applied.changedAccounts.filter((account) => !this.incremented.has(account.id))),
      ],
      last: balancesIncrement(increments),
      check(returned) {
        if (returned.length !== increments.length) throw new Error('an incremented account vanished');
        const unsafe = returned.find((row) => row.safe !== true);
        if (unsafe !== undefined) {
          throw new RangeError(`account ${String(unsafe.id)} would hold beyond 2^53 - 1 minor units`);
        }
      },
    };
  }
}

export interface LedgerWrites {
  readonly statements: readonly (Statement | undefined)[];
  readonly last: Statement | undefined;
  readonly check: (returnedByLast: readonly Record<string, unknown>[]) => void;
}
