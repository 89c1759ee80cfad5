import { LantauError } from '../platform/errors.js';
import type { LedgerErrorCode } from './types.js';

export type AccountErrorCode =
  | 'account_id_invalid'
  | 'program_id_invalid'
  | 'currency_invalid'
  | 'kind_invalid'
  | 'owner_id_invalid'
  | 'flags_exclusive'
  | 'account_exists_with_different_fields'
  | 'cursor_invalid';

const NOT_FOUND: ReadonlySet<string> = new Set([
  'debit_account_not_found',
  'credit_account_not_found',
  'pending_transfer_not_found',
]);

const CONFLICT: ReadonlySet<string> = new Set([
  'exists_with_different_fields',
  'account_exists_with_different_fields',
  'pending_transfer_already_posted',
  'pending_transfer_already_voided',
  'pending_transfer_expired',
]);

/**
 * A refusal by the ledger, typed by its code so callers can branch on it (a wallet's `exceeds_credits` becomes an
 * `insufficient_funds` decline upstream). Raising one changes nothing: it is thrown before anything is written,
 * or from inside the transaction that it rolls back.
 */
export class LedgerError extends LantauError {
  constructor(
    override readonly code: LedgerErrorCode | AccountErrorCode,
    message: string,
  ) {
    super(code, message, {
      status: NOT_FOUND.has(code) ? 404 : CONFLICT.has(code) ? 409 : 400,
    });
    this.name = 'LedgerError';
  }
}

/**
 * Two transactions created a transfer with the same id at once; the loser sees the unique index refuse it. The
 * SQLSTATE of a serialization failure makes the transaction re-run, and on the second run the transfer is
 * found and reported as existing, as if the requests had come one after another.
 */
export class TransferIdRace extends Error {
  readonly code = '40001';
  constructor(cause: unknown) {
    super('a transfer id was created concurrently; re-running the transaction', { cause });
    this.name = 'TransferIdRace';
  }
}
