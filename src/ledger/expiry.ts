import type { Transaction } from '../platform/db/database.js';
import { TRANSFER_COLUMNS, transferFromRow, type TransferRow } from './rows.js';
import { lockAccounts, markResolved, writeBalances } from './submit.js';
import type { Transfer } from './types.js';

export const EXPIRY_BATCH_MAX = 5_000;

/**
 * The ledger's own timeout (DESIGN.md): releases holds whose time has passed, up to `limit` of them, in the
 * caller's transaction, and returns them expired so the caller can record what the expiry means to it (an
 * authorization that expired, its event) in the same transaction. One scheduled job calls this with the current
 * time until it returns fewer than `limit`. Holds that another transaction has locked (being posted or voided
 * right now) are skipped, not waited for: that transaction decides them, and a later run sees the rest.
 */
export async function expirePendingTransfers(
  tx: Transaction,
  now: Date,
  limit: number = 1_000,
  /** Only these holds (a clearing releasing its own lapsed holds before it posts); all that are due when absent. */
  onlyIds?: readonly string[],
): Promise<Transfer[]> {
  if (!Number.isInteger(limit) || limit < 1 || limit > EXPIRY_BATCH_MAX) {
    throw new RangeError(`limit must be from 1 to ${EXPIRY_BATCH_MAX}`);
  }
  const due = await tx.query<TransferRow>(
    `SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers
     WHERE state = 'pending' AND expires_at <= $1 AND ($3::text[] IS NULL OR id = ANY($3::text[]))
     ORDER BY expires_at, id
     LIMIT $2
     FOR UPDATE SKIP LOCKED`,
    [now, limit, onlyIds === undefined ? null : [...onlyIds]],
  );
  if (due.rows.length === 0) return [];
  const holds = due.rows.map(transferFromRow);
  const accountIds = [
    ...new Set(holds.flatMap((hold) => [hold.debitAccountId, hold.creditAccountId])),
  ].sort();
  const accounts = await lockAccounts(tx, accountIds);
  for (const hold of holds) {
    const debit = accounts.get(hold.debitAccountId);
    const credit = accounts.get(hold.creditAccountId);
    if (debit === undefined || credit === undefined)
      throw new Error(`accounts of hold ${hold.id} are missing`);
    accounts.set(debit.id, { ...debit, debitsPending: debit.debitsPending - hold.amount });
    const creditNow = accounts.get(credit.id) ?? credit;
    accounts.set(credit.id, { ...creditNow, creditsPending: creditNow.creditsPending - hold.amount });
  }
  const expired = holds.map((hold): Transfer => ({
    ...hold,
    state: 'expired',
    resolvedAt: now,
    resolvedBy: null,
  }));
  await markResolved(tx, expired);
  await writeBalances(tx, [...accounts.values()]);
  return expired;
}
