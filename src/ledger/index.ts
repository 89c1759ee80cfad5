/** The ledger part's public face: other parts import from here, not from its modules. */
export { createAccounts, getAccount, getAccounts } from './accounts.js';
export { LedgerError, type AccountErrorCode } from './errors.js';
export { expirePendingTransfers } from './expiry.js';
export { Ledger, type LedgerContext } from './ledger.js';
export {
  accountBalancesAt,
  getTransfer,
  getTransfers,
  listAccountTransfers,
  type TransferPage,
  type TransferPageQuery,
} from './queries.js';
export { flattenResults } from './apply.js';
export { LedgerWork, accountLockOrder, lockAccounts, submitTransfers } from './submit.js';
export { accountFromPrefixedRow, prefixedAccountColumns, type PrefixedAccountRow } from './rows.js';
export * from './types.js';
export { verifyLedger, type LedgerProblem, type LedgerReport } from './verify.js';
