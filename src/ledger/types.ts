/**
 * The ledger's vocabulary, after TigerBeetle: accounts with four balances, and immutable transfers whose id is
 * their idempotency key. Amounts are integer minor units (safe integers; BIGINT in SQL).
 */

export interface AccountFlags {
  /** A stored-value wallet: it may never pay out (debit) more than was paid in (credited and posted). */
  readonly debitsMustNotExceedCredits: boolean;
  /** The mirror image, for an account that must never be credited beyond its debits. */
  readonly creditsMustNotExceedDebits: boolean;
}

export interface Balances {
  readonly debitsPending: number;
  readonly debitsPosted: number;
  readonly creditsPending: number;
  readonly creditsPosted: number;
}

export interface Account extends Balances {
  readonly id: string;
  readonly programId: string;
  readonly currency: string;
  /** What the account is for: `wallet`, `funding`, `card_settlement`, `cardholder_receivable`, … */
  readonly kind: string;
  /** The object the account belongs to (a cardholder, a programme), when it belongs to one. */
  readonly ownerId: string | null;
  readonly flags: AccountFlags;
  readonly createdAt: Date;
}

export interface NewAccount {
  /** Optional: the ledger makes one (`lacc_…`) when absent. With an id, creating it again is a no-op. */
  readonly id?: string;
  readonly programId: string;
  readonly currency: string;
  readonly kind: string;
  readonly ownerId?: string | null;
  readonly flags?: Partial<AccountFlags>;
}

/**
 * `posted` moves money at once; `pending` reserves it (a hold) until a `post_pending` or `void_pending` resolves
 * it or its timeout expires it.
 */
export type TransferKind = 'posted' | 'pending' | 'post_pending' | 'void_pending';
export type PendingState = 'pending' | 'posted' | 'voided' | 'expired';

export interface Transfer {
  readonly id: string;
  readonly programId: string;
  readonly kind: TransferKind;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: number;
  readonly currency: string;
  /** For `post_pending` and `void_pending`: the pending transfer resolved. */
  readonly pendingId: string | null;
  readonly timeoutSeconds: number | null;
  readonly expiresAt: Date | null;
  /** Why the money moved, in the caller's words: `load`, `authorization_hold`, `clearing`, … */
  readonly code: string | null;
  /** The caller's object this transfer belongs to (an authorization id, a load id). */
  readonly reference: string | null;
  readonly createdAt: Date;
  /** Pending transfers only: where the hold stands now. */
  readonly state: PendingState | null;
  readonly resolvedAt: Date | null;
  /** The `post_pending` or `void_pending` transfer that resolved this hold (null when it expired). */
  readonly resolvedBy: string | null;
}

interface CommandCommon {
  /** The idempotency key: the same id with the same fields returns the first result. */
  readonly id: string;
  readonly code?: string | null;
  readonly reference?: string | null;
}

export interface CreateTransfer extends CommandCommon {
  readonly kind: 'posted' | 'pending';
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: number;
  readonly currency: string;
  /** Pending only: the hold expires this many seconds after it is created. */
  readonly timeoutSeconds?: number | null;
}

export interface PostPendingTransfer extends CommandCommon {
  readonly kind: 'post_pending';
  readonly pendingId: string;
  /** At most the pending amount; the rest is released. Absent: the whole pending amount. */
  readonly amount?: number;
}

export interface VoidPendingTransfer extends CommandCommon {
  readonly kind: 'void_pending';
  readonly pendingId: string;
}

export type TransferCommand = CreateTransfer | PostPendingTransfer | VoidPendingTransfer;

/** A batch item: one transfer, or a linked chain whose transfers apply all together or not at all. */
export type BatchItem = TransferCommand | readonly TransferCommand[];

export type LedgerErrorCode =
  // The command itself is malformed: refused before the database is read.
  | 'id_invalid'
  | 'amount_invalid'
  | 'currency_invalid'
  | 'accounts_must_be_different'
  | 'timeout_invalid'
  | 'timeout_reserved_for_pending'
  | 'code_invalid'
  | 'reference_invalid'
  | 'pending_id_invalid'
  // The batch as a whole: thrown before anything is read, never a per-transfer result.
  | 'linked_chain_empty'
  | 'batch_too_large'
  // The command meets the ledger's state.
  | 'debit_account_not_found'
  | 'credit_account_not_found'
  | 'currency_mismatch'
  | 'program_mismatch'
  | 'exceeds_credits'
  | 'exceeds_debits'
  | 'overflows_balance'
  | 'exists_with_different_fields'
  | 'pending_transfer_not_found'
  | 'pending_transfer_not_pending'
  | 'pending_transfer_already_posted'
  | 'pending_transfer_already_voided'
  | 'pending_transfer_expired'
  | 'exceeds_pending_transfer_amount'
  // Another transfer of the same linked chain failed, so this one was not applied.
  | 'linked_event_failed';

export type TransferResult =
  | { readonly status: 'created'; readonly transfer: Transfer }
  /** The id was already used with the same fields: the first result, unchanged. */
  | { readonly status: 'exists'; readonly transfer: Transfer }
  | { readonly status: 'failed'; readonly error: LedgerErrorCode; readonly message: string };

/** One result per batch item, in order; a linked chain's result has one entry per member. */
export type BatchResult = TransferResult | readonly TransferResult[];

/** The most transfers one batch may carry: a bound on every loop and every statement's parameter arrays. */
export const BATCH_TRANSFERS_MAX = 8_190;
