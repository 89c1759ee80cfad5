import type { Clock } from '../platform/clock.js';
import type { Database } from '../platform/db/database.js';
import type { IdGenerator } from '../platform/ids.js';
import { createAccounts, getAccount } from './accounts.js';
import { LedgerError } from './errors.js';
import { expirePendingTransfers } from './expiry.js';
import {
  accountBalancesAt,
  getTransfer,
  listAccountTransfers,
  type TransferPage,
  type TransferPageQuery,
} from './queries.js';
import { submitTransfers } from './submit.js';
import type {
  Account,
  Balances,
  BatchItem,
  BatchResult,
  NewAccount,
  Transfer,
  TransferCommand,
} from './types.js';

export interface LedgerContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
}

/**
 * The ledger as one service, each call in a transaction of its own (re-run on a serialization failure, deadlock
 * or a concurrent duplicate id). Parts that must write their own rows with a transfer (an authorization and its
 * event) call `submitTransfers` and friends in their own transaction instead.
 */
export class Ledger {
  constructor(private readonly context: LedgerContext) {}

  async createAccounts(inputs: readonly NewAccount[]): Promise<Account[]> {
    return this.context.db.transaction((tx) => createAccounts(tx, this.context, inputs));
  }

  async createAccount(input: NewAccount): Promise<Account> {
    const [account] = await this.createAccounts([input]);
    if (account === undefined) throw new Error('createAccounts returned nothing for one input');
    return account;
  }

  async submit(items: readonly BatchItem[]): Promise<BatchResult[]> {
    return this.context.db.transaction((tx) => submitTransfers(tx, this.context.clock, items));
  }

  /** One transfer; a refusal is thrown as a `LedgerError` with its code. Returns it created or as it existed. */
  async transfer(command: TransferCommand): Promise<Transfer> {
    const [result] = await this.submit([command]);
    if (result === undefined || Array.isArray(result))
      throw new Error('submit returned no result for one transfer');
    const single = result as Exclude<BatchResult, readonly unknown[]>;
    if (single.status === 'failed') throw new LedgerError(single.error, single.message);
    return single.transfer;
  }

  /** Releases holds past their timeout, up to `limit`; see `expirePendingTransfers`. */
  async expire(limit?: number): Promise<Transfer[]> {
    return this.context.db.transaction((tx) => expirePendingTransfers(tx, this.context.clock.now(), limit));
  }

  getAccount(id: string): Promise<Account | undefined> {
    return getAccount(this.context.db, id);
  }

  getTransfer(id: string): Promise<Transfer | undefined> {
    return getTransfer(this.context.db, id);
  }

  listTransfers(accountId: string, query?: TransferPageQuery): Promise<TransferPage> {
    return listAccountTransfers(this.context.db, accountId, query);
  }

  balancesAt(accountId: string, at: Date): Promise<Balances> {
    return accountBalancesAt(this.context.db, accountId, at);
  }
}
