import type { Queryable } from '../platform/db/database.js';
import { notFound } from '../platform/errors.js';
import type { Merchant } from './authorizations.js';

export const TRANSACTION_TYPES = ['capture', 'refund', 'force_post'] as const;
export type TransactionType = (typeof TRANSACTION_TYPES)[number];

export const TRANSACTION_FLAGS = [
  /** More was captured than approved, within the MCC's tolerance (tips, incidentals). */
  'over_capture_within_tolerance',
  /** More was captured than the MCC's tolerance allows: posted all the same, for review. */
  'over_capture_beyond_tolerance',
  /** Presented after the authorization's hold expired, was reversed or was already captured in full. */
  'cleared_without_open_hold',
  /** The wallet could not cover it: the rest is on the programme's cardholder-receivable account. */
  'shortfall',
  /** Refunds of an authorization exceed what was captured against it. */
  'refund_exceeds_capture',
] as const;
export type TransactionFlag = (typeof TRANSACTION_FLAGS)[number];

/**
 * A cleared item (Lithic's and Stripe's `transaction`): money that really moved. Amounts are minor units of the
 * card's currency; `wallet_amount` is what the wallet paid or got back and `shortfall_amount` what the programme's
 * cardholder-receivable account carries because the wallet could not.
 */
export interface CardTransaction {
  readonly id: string;
  readonly object: 'transaction';
  readonly type: TransactionType;
  readonly card_id: string;
  readonly cardholder_id: string;
  readonly account_id: string;
  readonly authorization_id: string | null;
  readonly amount: number;
  readonly wallet_amount: number;
  readonly shortfall_amount: number;
  readonly currency: string;
  readonly merchant_amount: number;
  readonly merchant_currency: string;
  readonly fx_rate: string | null;
  readonly fx_markup_bps: number | null;
  readonly merchant: Merchant;
  readonly flags: readonly TransactionFlag[];
  readonly source: 'api' | 'file';
  readonly settlement_id: string | null;
  readonly created: string;
}

export interface TransactionRow {
  id: string;
  program_id: string;
  type: TransactionType;
  card_id: string;
  cardholder_id: string;
  account_id: string;
  authorization_id: string | null;
  amount: number;
  wallet_amount: number;
  shortfall_amount: number;
  currency: string;
  merchant_amount: number;
  merchant_currency: string;
  fx_rate: string | null;
  fx_markup_bps: number | null;
  merchant: Merchant;
  flags: TransactionFlag[];
  source: 'api' | 'file';
  clearing_key: string | null;
  transfer_ids: string[];
  settlement_id: string | null;
  created_at: Date;
}

export const TRANSACTION_COLUMNS = `id, program_id, type, card_id, cardholder_id, account_id, authorization_id, amount,
  wallet_amount, shortfall_amount, currency, merchant_amount, merchant_currency, fx_rate::text AS fx_rate,
  fx_markup_bps, merchant, flags, source, clearing_key, transfer_ids, settlement_id, created_at`;

export function transactionFromRow(row: TransactionRow): CardTransaction {
  return {
    id: row.id,
    object: 'transaction',
    type: row.type,
    card_id: row.card_id,
    cardholder_id: row.cardholder_id,
    account_id: row.account_id,
    authorization_id: row.authorization_id,
    amount: row.amount,
    wallet_amount: row.wallet_amount,
    shortfall_amount: row.shortfall_amount,
    currency: row.currency,
    merchant_amount: row.merchant_amount,
    merchant_currency: row.merchant_currency,
    fx_rate: row.fx_rate,
    fx_markup_bps: row.fx_markup_bps,
    merchant: row.merchant,
    flags: row.flags,
    source: row.source,
    settlement_id: row.settlement_id,
    created: row.created_at.toISOString(),
  };
}

export async function getTransaction(
  db: Queryable,
  programId: string | undefined,
  id: string,
): Promise<CardTransaction> {
  const found = await db.query<TransactionRow>(
    `SELECT ${TRANSACTION_COLUMNS} FROM transactions WHERE id = $1 AND ($2::text IS NULL OR program_id = $2)`,
    [id, programId ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('transaction', id);
  return transactionFromRow(row);
}
