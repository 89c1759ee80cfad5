import type { Queryable } from '../platform/db/database.js';
import { LedgerError } from './errors.js';
import { TRANSFER_COLUMNS, transferFromRow, type TransferRow } from './rows.js';
import type { Balances, Transfer } from './types.js';

export async function getTransfers(db: Queryable, ids: readonly string[]): Promise<Map<string, Transfer>> {
  if (ids.length === 0) return new Map();
  const result = await db.query<TransferRow>(
    `SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = ANY($1::text[])`,
    [[...ids]],
  );
  return new Map(result.rows.map((row) => [row.id, transferFromRow(row)]));
}

export async function getTransfer(db: Queryable, id: string): Promise<Transfer | undefined> {
  return (await getTransfers(db, [id])).get(id);
}

export interface TransferPageQuery {
  /** 1 to 100; default 10. */
  readonly limit?: number;
  /** A transfer id: the page holds transfers older than it. */
  readonly startingAfter?: string;
  /** A transfer id: the page holds transfers newer than it. */
  readonly endingBefore?: string;
}

export interface TransferPage {
  /** Newest first. */
  readonly data: Transfer[];
  /** More transfers lie in the direction being paged. */
  readonly hasMore: boolean;
}

export const TRANSFER_PAGE_MAX = 100;

async function cursorSeq(db: Queryable, id: string): Promise<number> {
  const found = await db.query<{ seq: number }>('SELECT seq FROM ledger_transfers WHERE id = $1', [id]);
  const seq = found.rows[0]?.seq;
  if (seq === undefined) throw new LedgerError('cursor_invalid', `No transfer ${id} to page from`);
  return seq;
}

/**
 * An account's transfers (either side), newest first, in the order the ledger applied them. Each side is read
 * from its own index and the two merged, so a page costs the same on an account with millions of transfers.
 */
export async function listAccountTransfers(
  db: Queryable,
  accountId: string,
  query: TransferPageQuery = {},
): Promise<TransferPage> {
  const limit = query.limit ?? 10;
  if (!Number.isInteger(limit) || limit < 1 || limit > TRANSFER_PAGE_MAX) {
    throw new RangeError(`limit must be from 1 to ${TRANSFER_PAGE_MAX}`);
  }
  if (query.startingAfter !== undefined && query.endingBefore !== undefined) {
    throw new LedgerError('cursor_invalid', 'Give startingAfter or endingBefore, not both');
  }
  const ascending = query.endingBefore !== undefined;
  const cursor =
    query.startingAfter !== undefined
      ? await cursorSeq(db, query.startingAfter)
      : query.endingBefore !== undefined
        ? await cursorSeq(db, query.endingBefore)
        : null;
  const comparison = ascending ? '>' : '<';
  const order = ascending ? 'ASC' : 'DESC';
  const side = (column: string) =>
    `(SELECT ${TRANSFER_COLUMNS}, seq FROM ledger_transfers WHERE ${column} = $1 AND seq ${comparison} $2::bigint ORDER BY seq ${order} LIMIT $3)`;
  const result = await db.query<TransferRow & { seq: number }>(
    `SELECT * FROM (${side('debit_account_id')} UNION ALL ${side('credit_account_id')}) AS t
     ORDER BY seq ${order} LIMIT $3`,
    [accountId, cursor ?? Number.MAX_SAFE_INTEGER, limit + 1],
  );
  const rows = result.rows.slice(0, limit);
  if (ascending) rows.reverse();
  return { data: rows.map(transferFromRow), hasMore: result.rows.length > limit };
}

/**
 * An account's four balances as they stood at `at`, rebuilt from its transfers: posted transfers and posts created
 * by then, and holds created by then that had not been resolved by then.
 */
export async function accountBalancesAt(db: Queryable, accountId: string, at: Date): Promise<Balances> {
  const result = await db.query<{
    debits_pending: number;
    debits_posted: number;
    credits_pending: number;
    credits_posted: number;
  }>(
    `SELECT
       coalesce(sum(amount) FILTER (WHERE debit_account_id = $1 AND kind = 'pending'
         AND (resolved_at IS NULL OR resolved_at > $2)), 0)::bigint AS debits_pending,
       coalesce(sum(amount) FILTER (WHERE debit_account_id = $1 AND kind IN ('posted', 'post_pending')), 0)::bigint
         AS debits_posted,
       coalesce(sum(amount) FILTER (WHERE credit_account_id = $1 AND kind = 'pending'
         AND (resolved_at IS NULL OR resolved_at > $2)), 0)::bigint AS credits_pending,
       coalesce(sum(amount) FILTER (WHERE credit_account_id = $1 AND kind IN ('posted', 'post_pending')), 0)::bigint
         AS credits_posted
     FROM ledger_transfers
     WHERE (debit_account_id = $1 OR credit_account_id = $1) AND created_at <= $2`,
    [accountId, at],
  );
  const row = result.rows[0];
  if (row === undefined) throw new Error('an aggregate returned no row');
  return {
    debitsPending: row.debits_pending,
    debitsPosted: row.debits_posted,
    creditsPending: row.credits_pending,
    creditsPosted: row.credits_posted,
  };
}
