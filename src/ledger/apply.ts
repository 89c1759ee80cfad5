/**
 * The ledger's state machine, pure: given the rows a batch touches (locked by the caller) and the batch's commands,
 * it decides every command's result and the new balances, with no I/O. The write path (`submit.ts`) loads the rows,
 * calls this, and writes what changed in one statement per table. Keeping the rules here means they are tested
 * without a database and cannot differ between backends.
 */
import { isCurrencyCode, isPositiveAmount } from '../platform/money.js';
import { LedgerError } from './errors.js';
import {
  BATCH_TRANSFERS_MAX,
  type Account,
  type BatchItem,
  type BatchResult,
  type LedgerErrorCode,
  type PendingState,
  type Transfer,
  type TransferCommand,
  type TransferResult,
} from './types.js';

/** Transfer ids are the caller's idempotency keys: printable, no spaces, short enough to index. */
export const TRANSFER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const CODE_PATTERN = /^[a-z][a-z0-9_.]{0,63}$/;
const REFERENCE_LENGTH_MAX = 255;
// PostgreSQL text cannot hold NUL, and no reference needs a control character: refuse them as bad input.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
/** A year: holds last days (31 for lodging); anything longer is a mistake, not a hold. */
export const TIMEOUT_SECONDS_MAX = 366 * 24 * 60 * 60;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type WorkingAccount = Mutable<Account>;

export interface LedgerRows {
  /** Every account the batch names (or whose pending transfers it names), locked. */
  readonly accounts: ReadonlyMap<string, Account>;
  /** Every existing transfer whose id the batch uses, as a new id or as a `pendingId`, locked. */
  readonly transfers: ReadonlyMap<string, Transfer>;
}

export interface AppliedBatch {
  readonly results: BatchResult[];
  /** New transfers in the order they were accepted, each in its final state (a hold may be resolved already). */
  readonly created: Transfer[];
  /** Pending transfers that existed before the batch and that it resolved, in their new state. */
  readonly resolved: Transfer[];
  /** Accounts whose balances changed, with their new balances. */
  readonly changedAccounts: Account[];
}

function failure(error: LedgerErrorCode, message: string): TransferResult {
  return { status: 'failed', error, message };
}

/** The checks that need no ledger state. Returns undefined when the command is well formed. */
export function validateCommand(command: TransferCommand): TransferResult | undefined {
  if (typeof command.id !== 'string' || !TRANSFER_ID_PATTERN.test(command.id)) {
    return failure('id_invalid', 'A transfer id is 1 to 128 characters: letters, digits, _ . : -');
  }
  const code = command.code ?? null;
  if (code !== null && (typeof code !== 'string' || !CODE_PATTERN.test(code))) {
    return failure('code_invalid', 'A transfer code is snake_case, at most 64 characters');
  }
  const reference = command.reference ?? null;
  if (
    reference !== null &&
    (typeof reference !== 'string' ||
      reference.length > REFERENCE_LENGTH_MAX ||
      CONTROL_CHARACTER.test(reference))
  ) {
    return failure(
      'reference_invalid',
      `A transfer reference is text of at most ${REFERENCE_LENGTH_MAX} characters, without control characters`,
    );
  }
  switch (command.kind) {
    case 'posted':
    case 'pending': {
      if (!isPositiveAmount(command.amount)) {
        return failure(
          'amount_invalid',
          'The amount must be a positive whole number of minor units, at most 2^53 - 1',
        );
      }
      if (typeof command.currency !== 'string' || !isCurrencyCode(command.currency)) {
        return failure('currency_invalid', 'The currency must be an ISO 4217 code such as HKD');
      }
      if (command.debitAccountId === command.creditAccountId) {
        return failure('accounts_must_be_different', 'A transfer moves money between two different accounts');
      }
      const timeout = command.timeoutSeconds ?? null;
      if (timeout !== null) {
        if (command.kind !== 'pending') {
          return failure('timeout_reserved_for_pending', 'Only a pending transfer has a timeout');
        }
        if (!Number.isSafeInteger(timeout) || timeout < 1 || timeout > TIMEOUT_SECONDS_MAX) {
          return failure(
            'timeout_invalid',
            `The timeout is a whole number of seconds from 1 to ${TIMEOUT_SECONDS_MAX}`,
          );
        }
      }
      return undefined;
    }
    case 'post_pending':
      if (command.amount !== undefined && !isPositiveAmount(command.amount)) {
        return failure('amount_invalid', 'The amount to post must be a positive whole number of minor units');
      }
      return validatePendingId(command.pendingId);
    case 'void_pending':
      return validatePendingId(command.pendingId);
    default:
      return failure('id_invalid', 'Unknown transfer kind');
  }
}

function validatePendingId(pendingId: unknown): TransferResult | undefined {
  return typeof pendingId === 'string' && TRANSFER_ID_PATTERN.test(pendingId)
    ? undefined
    : failure(
        'pending_id_invalid',
        'pendingId must be a transfer id: 1 to 128 characters, letters, digits, _ . : -',
      );
}

export function batchCommands(items: readonly BatchItem[]): TransferCommand[] {
  return items.flatMap((item): TransferCommand[] => (isChain(item) ? [...item] : [item]));
}

export function isChain(item: BatchItem): item is readonly TransferCommand[] {
  return Array.isArray(item);
}

function sameCommon(command: TransferCommand, existing: Transfer): boolean {
  return (
    existing.kind === command.kind &&
    existing.code === (command.code ?? null) &&
    existing.reference === (command.reference ?? null)
  );
}

/**
 * Whether `command` asks for exactly what `existing` (a transfer with the same id) already did. For a post with
 * no amount, "the whole pending amount" is what it asked for.
 */
function sameFields(
  command: TransferCommand,
  existing: Transfer,
  transfers: ReadonlyMap<string, Transfer>,
): boolean {
  if (!sameCommon(command, existing)) return false;
  switch (command.kind) {
    case 'posted':
    case 'pending':
      return (
        existing.debitAccountId === command.debitAccountId &&
        existing.creditAccountId === command.creditAccountId &&
        existing.amount === command.amount &&
        existing.currency === command.currency &&
        existing.timeoutSeconds === (command.timeoutSeconds ?? null)
      );
    case 'post_pending': {
      if (existing.pendingId !== command.pendingId) return false;
      const asked = command.amount ?? transfers.get(command.pendingId)?.amount;
      return existing.amount === asked;
    }
    case 'void_pending':
      return existing.pendingId === command.pendingId;
  }
}

function exceedsLimit(account: Account): 'exceeds_credits' | 'exceeds_debits' | undefined {
  if (
    account.flags.debitsMustNotExceedCredits &&
    account.debitsPending + account.debitsPosted > account.creditsPosted
  ) {
    return 'exceeds_credits';
  }
  if (
    account.flags.creditsMustNotExceedDebits &&
    account.creditsPending + account.creditsPosted > account.debitsPosted
  ) {
    return 'exceeds_debits';
  }
  return undefined;
}

function overflows(account: Account): boolean {
  return (
    !Number.isSafeInteger(account.debitsPending + account.debitsPosted) ||
    !Number.isSafeInteger(account.creditsPending + account.creditsPosted)
  );
}

const LIMIT_MESSAGES: Record<'exceeds_credits' | 'exceeds_debits', string> = {
  exceeds_credits: 'The debit account would pay out more than it holds',
  exceeds_debits: 'The credit account would take in more than its debits allow',
};

/**
 * A batch's working state: copies of the locked rows, changed in place, with an undo log so that a linked chain,
 * or a caller's unit of work spanning several items (one authorization in a group commit), can be taken back.
 */
export class LedgerState {
  private readonly accounts = new Map<string, WorkingAccount>();
  private readonly transfers: Map<string, Transfer>;
  private readonly createdOrder: string[] = [];
  private readonly createdIds = new Set<string>();
  private readonly touchedAccounts = new Set<string>();
  private readonly resolvedExisting = new Set<string>();
  private readonly undo: (() => void)[] = [];

  constructor(
    rows: LedgerRows,
    private readonly now: Date,
  ) {
    for (const [id, account] of rows.accounts) this.accounts.set(id, { ...account });
    this.transfers = new Map(rows.transfers);
  }

  /** A point to take the state back to with `undoTo`. */
  mark(): number {
    return this.undo.length;
  }

  undoTo(mark: number): void {
    while (this.undo.length > mark) this.undo.pop()?.();
  }

  /** The account as the batch has changed it so far; undefined when it was not loaded. */
  account(id: string): Account | undefined {
    return this.accounts.get(id);
  }

  /** Adds rows locked after the batch began (a group commit locks its hot accounts last). */
  load(rows: LedgerRows): void {
    for (const [id, account] of rows.accounts)
      if (!this.accounts.has(id)) this.accounts.set(id, { ...account });
    for (const [id, transfer] of rows.transfers)
      if (!this.transfers.has(id)) this.transfers.set(id, transfer);
  }

  /**
   * Applies one item in order. A plain item stands alone: its failure affects nothing else. A linked chain applies
   * whole or not at all; when one member fails, it reports its own error and every other member reports
   * `linked_event_failed`.
   */
  applyItem(item: BatchItem): BatchResult {
    if (!isChain(item)) return this.apply(item);
    if (item.length === 0)
      return [failure('linked_chain_empty', 'A linked chain needs at least one transfer')];
    const start = this.mark();
    const chain: TransferResult[] = [];
    for (const command of item) {
      const result = this.apply(command);
      chain.push(result);
      if (result.status === 'failed') {
        this.undoTo(start);
        return item.map((_, index) =>
          index === chain.length - 1
            ? result
            : failure('linked_event_failed', 'Not applied: another transfer of its linked chain failed'),
        );
      }
    }
    return chain;
  }

  apply(command: TransferCommand): TransferResult {
    const invalid = validateCommand(command);
    if (invalid !== undefined) return invalid;
    const existing = this.transfers.get(command.id);
    if (existing !== undefined) {
      return sameFields(command, existing, this.transfers)
        ? { status: 'exists', transfer: existing }
        : failure(
            'exists_with_different_fields',
            `Transfer ${command.id} already exists with other fields; use a new id for a new transfer`,
          );
    }
    switch (command.kind) {
      case 'posted':
      case 'pending':
        return this.create(command);
      case 'post_pending':
      case 'void_pending':
        return this.resolve(command);
    }
  }

  private create(command: Extract<TransferCommand, { kind: 'posted' | 'pending' }>): TransferResult {
    const debit = this.accounts.get(command.debitAccountId);
    if (debit === undefined) {
      return failure('debit_account_not_found', `No ledger account ${command.debitAccountId}`);
    }
    const credit = this.accounts.get(command.creditAccountId);
    if (credit === undefined) {
      return failure('credit_account_not_found', `No ledger account ${command.creditAccountId}`);
    }
    if (debit.currency !== command.currency || credit.currency !== command.currency) {
      return failure(
        'currency_mismatch',
        `The transfer is in ${command.currency}; the accounts hold ${debit.currency} and ${credit.currency}`,
      );
    }
    if (debit.programId !== credit.programId) {
      return failure('program_mismatch', 'A transfer moves money within one programme');
    }
    const pending = command.kind === 'pending';
    const moved = this.move(
      debit,
      credit,
      pending
        ? { debitsPending: command.amount, creditsPending: command.amount }
        : { debitsPosted: command.amount, creditsPosted: command.amount },
    );
    if (moved !== undefined) return moved;
    const timeoutSeconds = pending ? (command.timeoutSeconds ?? null) : null;
    return this.record({
      id: command.id,
      programId: debit.programId,
      kind: command.kind,
      debitAccountId: debit.id,
      creditAccountId: credit.id,
      amount: command.amount,
      currency: command.currency,
      pendingId: null,
      timeoutSeconds,
      expiresAt: timeoutSeconds === null ? null : new Date(this.now.getTime() + timeoutSeconds * 1000),
      code: command.code ?? null,
      reference: command.reference ?? null,
      createdAt: this.now,
      state: pending ? 'pending' : null,
      resolvedAt: null,
      resolvedBy: null,
    });
  }

  private resolve(
    command: Extract<TransferCommand, { kind: 'post_pending' | 'void_pending' }>,
  ): TransferResult {
    const pending = this.transfers.get(command.pendingId);
    if (pending === undefined) {
      return failure('pending_transfer_not_found', `No pending transfer ${command.pendingId}`);
    }
    if (pending.kind !== 'pending') {
      return failure(
        'pending_transfer_not_pending',
        `Transfer ${command.pendingId} is not a pending transfer`,
      );
    }
    const stateError = this.unresolvable(pending);
    if (stateError !== undefined) return stateError;
    const posting = command.kind === 'post_pending';
    const amount = posting ? (command.amount ?? pending.amount) : pending.amount;
    if (amount > pending.amount) {
      return failure(
        'exceeds_pending_transfer_amount',
        `Posting ${amount} exceeds the ${pending.amount} held by ${pending.id}`,
      );
    }
    const debit = this.accounts.get(pending.debitAccountId);
    const credit = this.accounts.get(pending.creditAccountId);
    if (debit === undefined || credit === undefined) {
      // The write path loads the accounts of every pending transfer a batch names; this is a bug if reached.
      throw new Error(`accounts of pending transfer ${pending.id} were not loaded`);
    }
    const moved = this.move(debit, credit, {
      debitsPending: -pending.amount,
      creditsPending: -pending.amount,
      ...(posting ? { debitsPosted: amount, creditsPosted: amount } : {}),
    });
    if (moved !== undefined) return moved;
    const state: PendingState = posting ? 'posted' : 'voided';
    this.replaceTransfer({ ...pending, state, resolvedAt: this.now, resolvedBy: command.id });
    return this.record({
      id: command.id,
      programId: pending.programId,
      kind: command.kind,
      debitAccountId: pending.debitAccountId,
      creditAccountId: pending.creditAccountId,
      amount,
      currency: pending.currency,
      pendingId: pending.id,
      timeoutSeconds: null,
      expiresAt: null,
      code: command.code ?? null,
      reference: command.reference ?? null,
      createdAt: this.now,
      state: null,
      resolvedAt: null,
      resolvedBy: null,
    });
  }

  private unresolvable(pending: Transfer): TransferResult | undefined {
    switch (pending.state) {
      case 'posted':
        return failure(
          'pending_transfer_already_posted',
          `Pending transfer ${pending.id} was already posted`,
        );
      case 'voided':
        return failure(
          'pending_transfer_already_voided',
          `Pending transfer ${pending.id} was already voided`,
        );
      case 'expired':
        return failure('pending_transfer_expired', `Pending transfer ${pending.id} expired`);
      default:
        // Past its timeout but not yet swept by the expiry job: it is expired all the same.
        if (pending.expiresAt !== null && pending.expiresAt.getTime() <= this.now.getTime()) {
          return failure('pending_transfer_expired', `Pending transfer ${pending.id} expired`);
        }
        return undefined;
    }
  }

  /** Applies balance changes to both sides, or none when a limit or the safe-integer range would be broken. */
  private move(
    debit: WorkingAccount,
    credit: WorkingAccount,
    change: {
      debitsPending?: number;
      debitsPosted?: number;
      creditsPending?: number;
      creditsPosted?: number;
    },
  ): TransferResult | undefined {
    const nextDebit: WorkingAccount = {
      ...debit,
      debitsPending: debit.debitsPending + (change.debitsPending ?? 0),
      debitsPosted: debit.debitsPosted + (change.debitsPosted ?? 0),
    };
    const nextCredit: WorkingAccount = {
      ...credit,
      creditsPending: credit.creditsPending + (change.creditsPending ?? 0),
      creditsPosted: credit.creditsPosted + (change.creditsPosted ?? 0),
    };
    if (overflows(nextDebit) || overflows(nextCredit)) {
      return failure('overflows_balance', 'The transfer would take a balance beyond 2^53 - 1 minor units');
    }
    for (const account of [nextDebit, nextCredit]) {
      const breach = exceedsLimit(account);
      if (breach !== undefined) return failure(breach, LIMIT_MESSAGES[breach]);
    }
    this.replaceAccount(nextDebit);
    this.replaceAccount(nextCredit);
    return undefined;
  }

  private replaceAccount(next: WorkingAccount): void {
    const previous = this.accounts.get(next.id);
    const wasTouched = this.touchedAccounts.has(next.id);
    this.accounts.set(next.id, next);
    this.touchedAccounts.add(next.id);
    this.undo.push(() => {
      if (previous !== undefined) this.accounts.set(next.id, previous);
      if (!wasTouched) this.touchedAccounts.delete(next.id);
    });
  }

  private replaceTransfer(next: Transfer): void {
    const previous = this.transfers.get(next.id);
    const wasResolved = this.resolvedExisting.has(next.id);
    this.transfers.set(next.id, next);
    if (!this.createdIds.has(next.id)) this.resolvedExisting.add(next.id);
    this.undo.push(() => {
      if (previous !== undefined) this.transfers.set(next.id, previous);
      if (!wasResolved) this.resolvedExisting.delete(next.id);
    });
  }

  private record(transfer: Transfer): TransferResult {
    this.transfers.set(transfer.id, transfer);
    this.createdOrder.push(transfer.id);
    this.createdIds.add(transfer.id);
    this.undo.push(() => {
      this.transfers.delete(transfer.id);
      this.createdOrder.pop();
      this.createdIds.delete(transfer.id);
    });
    return { status: 'created', transfer };
  }

  finish(results: BatchResult[]): AppliedBatch {
    const final = (id: string): Transfer => {
      const transfer = this.transfers.get(id);
      if (transfer === undefined) throw new Error(`transfer ${id} vanished from the batch`);
      return transfer;
    };
    // A created hold that a later command resolved is written once, in its final state; results say so too.
    const created = this.createdOrder.map(final);
    const finalResults = results.map((result) =>
      isChainResult(result) ? result.map(withFinal) : withFinal(result),
    );
    function withFinal(result: TransferResult): TransferResult {
      return result.status === 'created'
        ? { status: 'created', transfer: final(result.transfer.id) }
        : result;
    }
    return {
      results: finalResults,
      created,
      resolved: [...this.resolvedExisting].map(final),
      changedAccounts: [...this.touchedAccounts].map((id) => {
        const account = this.accounts.get(id);
        if (account === undefined) throw new Error(`account ${id} vanished from the batch`);
        return account;
      }),
    };
  }
}

function isChainResult(result: BatchResult): result is readonly TransferResult[] {
  return Array.isArray(result);
}

/**
 * Refuses a batch whose shape is wrong as a whole (too many transfers, an empty linked chain) before anything is
 * read or locked: these are the caller's mistakes, not outcomes of individual transfers.
 */
export function checkBatchShape(items: readonly BatchItem[]): void {
  const count = batchCommands(items).length;
  if (count > BATCH_TRANSFERS_MAX) {
    throw new LedgerError(
      'batch_too_large',
      `A batch carries at most ${BATCH_TRANSFERS_MAX} transfers (got ${count})`,
    );
  }
  if (items.some((item) => isChain(item) && item.length === 0)) {
    throw new LedgerError('linked_chain_empty', 'A linked chain needs at least one transfer');
  }
}

/** Applies a batch in order (`LedgerState.applyItem`): every item its own result, linked chains whole or not at all. */
export function applyBatch(rows: LedgerRows, items: readonly BatchItem[], now: Date): AppliedBatch {
  checkBatchShape(items);
  const state = new LedgerState(rows, now);
  return state.finish(items.map((item) => state.applyItem(item)));
}

/** A batch's results with linked chains spread out: one result per transfer, in the order they were given. */
export function flattenResults(results: readonly BatchResult[]): TransferResult[] {
  return results.flatMap((result): TransferResult[] => (isChainResult(result) ? [...result] : [result]));
}
