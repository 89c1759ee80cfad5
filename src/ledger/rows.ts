/** SQL rows to ledger objects and back. One place names the columns, so every query reads the same shape. */
import type { Account, PendingState, Transfer, TransferKind } from './types.js';

export const ACCOUNT_COLUMNS = `id, program_id, currency, kind, owner_id, debits_must_not_exceed_credits,
  credits_must_not_exceed_debits, debits_pending, debits_posted, credits_pending, credits_posted, created_at`;

export const TRANSFER_COLUMNS = `id, program_id, kind, debit_account_id, credit_account_id, amount, currency,
  pending_id, timeout_seconds, expires_at, code, reference, created_at, state, resolved_at, resolved_by`;

/**
 * The account columns of the table aliased `alias`, each renamed `<prefix><column>`: for a statement that reads
 * (and locks) accounts beside other rows whose column names they share. `accountFromPrefixedRow` reads them back.
 */
export function prefixedAccountColumns(alias: string, prefix: string): string {
  return ACCOUNT_COLUMNS.split(',')
    .map((column) => `${alias}.${column.trim()} AS ${prefix}${column.trim()}`)
    .join(', ');
}

export type PrefixedAccountRow<Prefix extends string> = {
  [Column in keyof AccountRow as `${Prefix}${Column}`]: AccountRow[Column];
};

export function accountFromPrefixedRow<Prefix extends string>(
  row: PrefixedAccountRow<Prefix>,
  prefix: Prefix,
): Account {
  const column = <Column extends keyof AccountRow>(name: Column): AccountRow[Column] =>
    (row as Record<string, unknown>)[`${prefix}${name}`] as AccountRow[Column];
  return accountFromRow({
    id: column('id'),
    program_id: column('program_id'),
    currency: column('currency'),
    kind: column('kind'),
    owner_id: column('owner_id'),
    debits_must_not_exceed_credits: column('debits_must_not_exceed_credits'),
    credits_must_not_exceed_debits: column('credits_must_not_exceed_debits'),
    debits_pending: column('debits_pending'),
    debits_posted: column('debits_posted'),
    credits_pending: column('credits_pending'),
    credits_posted: column('credits_posted'),
    created_at: column('created_at'),
  });
}

export interface AccountRow {
  id: string;
  program_id: string;
  currency: string;
  kind: string;
  owner_id: string | null;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
  debits_pending: number;
  debits_posted: number;
  credits_pending: number;
  credits_posted: number;
  created_at: Date;
}

export interface TransferRow {
  id: string;
  program_id: string;
  kind: TransferKind;
  debit_account_id: string;
  credit_account_id: string;
  amount: number;
  currency: string;
  pending_id: string | null;
  timeout_seconds: number | null;
  expires_at: Date | null;
  code: string | null;
  reference: string | null;
  created_at: Date;
  state: PendingState | null;
  resolved_at: Date | null;
  resolved_by: string | null;
}

export function accountFromRow(row: AccountRow): Account {
  return {
    id: row.id,
    programId: row.program_id,
    currency: row.currency,
    kind: row.kind,
    ownerId: row.owner_id,
    flags: {
      debitsMustNotExceedCredits: row.debits_must_not_exceed_credits,
      creditsMustNotExceedDebits: row.credits_must_not_exceed_debits,
    },
    debitsPending: row.debits_pending,
    debitsPosted: row.debits_posted,
    creditsPending: row.credits_pending,
    creditsPosted: row.credits_posted,
    createdAt: row.created_at,
  };
}

export function transferFromRow(row: TransferRow): Transfer {
  return {
    id: row.id,
    programId: row.program_id,
    kind: row.kind,
    debitAccountId: row.debit_account_id,
    creditAccountId: row.credit_account_id,
    amount: row.amount,
    currency: row.currency,
    pendingId: row.pending_id,
    timeoutSeconds: row.timeout_seconds,
    expiresAt: row.expires_at,
    code: row.code,
    reference: row.reference,
    createdAt: row.created_at,
    state: row.state,
    resolvedAt: row.resolved_at,
    resolvedBy: row.resolved_by,
  };
}
