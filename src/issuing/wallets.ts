import type { Queryable, Transaction } from '../platform/db/database.js';
import { UNIQUE_VIOLATION, json, sqlState } from '../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../platform/errors.js';
import { isPositiveAmount } from '../platform/money.js';
import { createAccounts, flattenResults, submitTransfers } from '../ledger/index.js';
import { appendAudit } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import type { KycStatus } from '../compliance/kyc/status.js';
import { loadRefusal, loadYearStart } from '../compliance/kyc/tiers.js';
import { lockCardholderReference } from './cardholders.js';
import { caseHold, screeningHold, type ScreeningStatus } from './screening-holds.js';
import { getProgram, programAccountId, type Actor, type IssuingContext } from './programs.js';

/**
 * Wallets: a cardholder's stored value in one currency, shown by the API as an `account`. The money itself lives in
 * the ledger (an account of kind `wallet` that may never pay out more than was paid in); this table says whose it
 * is. Loads and unloads move money between the programme's funding account and the wallet.
 */
export const WALLET_ID_PREFIX = 'acct';
export const LOAD_ID_PREFIX = 'load';
export const UNLOAD_ID_PREFIX = 'unld';
export const LOAD_DECLINE_ID_PREFIX = 'ldcl';
export const WALLET_LEDGER_KIND = 'wallet';
export const WALLET_STATUSES = ['active', 'inactive', 'frozen'] as const;
export type WalletStatus = (typeof WALLET_STATUSES)[number];
/** What a programme may set; `frozen` is set only by a confirmed sanctions match (issuing/screening-alerts.ts). */
export const SETTABLE_WALLET_STATUSES = ['active', 'inactive'] as const;
export const MOVEMENT_KINDS = ['load', 'unload'] as const;
export type MovementKind = (typeof MOVEMENT_KINDS)[number];
export const DESCRIPTION_LENGTH_MAX = 500;

/** Minor units, from the wallet's ledger account (see `balanceOf`). */
export interface WalletBalance {
  readonly available: number;
  readonly pending: number;
  readonly posted: number;
}

export interface Wallet {
  readonly id: string;
  readonly object: 'account';
  readonly program_id: string;
  readonly cardholder_id: string;
  readonly currency: string;
  readonly status: WalletStatus;
  readonly balance: WalletBalance;
  readonly metadata: Readonly<Record<string, string>>;
  readonly created: string;
  readonly updated: string;
}

export interface NewWallet {
  readonly cardholder_id: string;
  readonly currency: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface WalletChanges {
  readonly status?: (typeof SETTABLE_WALLET_STATUSES)[number];
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A load or an unload, as the API shows it and its event carries. */
export interface Movement {
  readonly id: string;
  readonly object: MovementKind;
  readonly program_id: string;
  readonly account_id: string;
  readonly cardholder_id: string;
  readonly amount: number;
  readonly currency: string;
  readonly description: string | null;
  readonly metadata: Readonly<Record<string, string>>;
  readonly created: string;
}

export interface NewMovement {
  readonly amount: number;
  readonly currency: string;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface WalletRow {
  id: string;
  program_id: string;
  cardholder_id: string;
  currency: string;
  ledger_account_id: string;
  status: WalletStatus;
  metadata: Record<string, string>;
  created_at: Date;
  updated_at: Date;
  debits_pending: number;
  debits_posted: number;
  credits_posted: number;
}

/** Wallet columns with the ledger balances they are shown with: one join, one read per page. */
export const WALLET_SELECT = `SELECT w.id, w.program_id, w.cardholder_id, w.currency, w.ledger_account_id, w.status,
    w.metadata, w.created_at, w.updated_at, a.debits_pending, a.debits_posted, a.credits_posted
  FROM wallets w JOIN ledger_accounts a ON a.id = w.ledger_account_id`;

/**
 * Posted is what has settled in (credits) less what has settled out (debits); pending is what holds reserve
 * (authorizations not yet cleared); available is what a new authorization or unload may still take. Pending
 * credits (none yet: refunds post at once) would not count until posted.
 */
export function balanceOf(
  row: Pick<WalletRow, 'debits_pending' | 'debits_posted' | 'credits_posted'>,
): WalletBalance {
  const posted = row.credits_posted - row.debits_posted;
  const pending = row.debits_pending;
  return { available: posted - pending, pending, posted };
}

export function walletFromRow(row: WalletRow): Wallet {
  return {
    id: row.id,
    object: 'account',
    program_id: row.program_id,
    cardholder_id: row.cardholder_id,
    currency: row.currency,
    status: row.status,
    balance: balanceOf(row),
    metadata: row.metadata,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

interface MovementRow {
  id: string;
  program_id: string;
  wallet_id: string;
  cardholder_id: string;
  kind: MovementKind;
  amount: number;
  currency: string;
  description: string | null;
  metadata: Record<string, string>;
  created_at: Date;
}

export const MOVEMENT_COLUMNS =
  'id, program_id, wallet_id, cardholder_id, kind, amount, currency, description, metadata, created_at';

export function movementFromRow(row: MovementRow): Movement {
  return {
    id: row.id,
    object: row.kind,
    program_id: row.program_id,
    account_id: row.wallet_id,
    cardholder_id: row.cardholder_id,
    amount: row.amount,
    currency: row.currency,
    description: row.description,
    metadata: row.metadata,
    created: row.created_at.toISOString(),
  };
}

async function findWalletRow(
  db: Queryable,
  id: string,
  programScope: string | undefined,
  lock = '',
): Promise<WalletRow | undefined> {
  const found = await db.query<WalletRow>(
    `${WALLET_SELECT} WHERE w.id = $1 AND ($2::text IS NULL OR w.program_id = $2) ${lock}`,
    [id, programScope ?? null],
  );
  return found.rows[0];
}

/** A wallet the caller may see (`programScope` undefined: the operator); another programme's is a 404. */
export async function getWallet(
  db: Queryable,
  id: string,
  programScope: string | undefined,
): Promise<Wallet> {
  const row = await findWalletRow(db, id, programScope);
  if (row === undefined) throw notFound('account', id);
  return walletFromRow(row);
}

/**
 * Opens a wallet for a cardholder of the programme in one of its currencies: the ledger account and the wallet row,
 * with the event and audit entry, in the caller's transaction. One wallet per cardholder and currency.
 */
export async function createWallet(
  tx: Transaction,
  context: IssuingContext,
  programId: string,
  input: NewWallet,
  by: Actor,
): Promise<Wallet> {
  const program = await getProgram(tx, programId);
  if (!program.currencies.includes(input.currency)) {
    throw invalidRequest(
      'currency_unsupported',
      `The programme holds ${program.currencies.join(', ')}; open accounts in one of them`,
      'currency',
    );
  }
  const cardholder = await lockCardholderReference(tx, input.cardholder_id, programId);
  if (cardholder.status !== 'active') {
    throw invalidRequest(
      'cardholder_inactive',
      'Accounts can only be opened for an active cardholder',
      'cardholder_id',
    );
  }
  const existing = await tx.query<{ id: string }>(
    'SELECT id FROM wallets WHERE cardholder_id = $1 AND currency = $2',
    [cardholder.id, input.currency],
  );
  const taken = () =>
    invalidRequest(
      'account_exists',
      `The cardholder already has an ${input.currency} account${existing.rows[0] === undefined ? '' : ` (${existing.rows[0].id})`}`,
      'currency',
    );
  if (existing.rows.length > 0) throw taken();

  const id = context.ids(WALLET_ID_PREFIX);
  const now = context.clock.now();
  // The wallet's id names its ledger account too: one id to follow from the API to the books.
  await createAccounts(tx, context, [
    {
      id,
      programId,
      currency: input.currency,
      kind: WALLET_LEDGER_KIND,
      ownerId: cardholder.id,
      flags: { debitsMustNotExceedCredits: true },
    },
  ]);
  try {
    await tx.query(
      `INSERT INTO wallets (id, program_id, cardholder_id, currency, ledger_account_id, status, metadata, created_at,
         updated_at)
       VALUES ($1, $2, $3, $4, $1, 'active', $5::jsonb, $6, $6)`,
      [id, programId, cardholder.id, input.currency, json(input.metadata ?? {}), now],
    );
  } catch (error) {
    // Two requests for the same cardholder and currency at once: the unique index decides, the loser is told why.
    if (sqlState(error) === UNIQUE_VIOLATION) throw taken();
    throw error;
  }
  const wallet = await getWallet(tx, id, programId);
  await emitEvent(tx, context, { type: 'account.created', programId, object: wallet });
  await appendAudit(tx, context, {
    ...by,
    action: 'account.created',
    programId,
    target: { type: 'account', id },
    details: { cardholder: cardholder.id, currency: input.currency },
  });
  return wallet;
}

export async function updateWallet(
  tx: Transaction,
  context: IssuingContext,
  id: string,
  programScope: string | undefined,
  changes: WalletChanges,
  by: Actor,
): Promise<Wallet> {
  const row = await findWalletRow(tx, id, programScope, 'FOR UPDATE OF w');
  if (row === undefined) throw notFound('account', id);
  if (row.status === 'frozen' && changes.status !== undefined) {
    throw invalidRequest(
      'account_frozen',
      'This account is frozen after a confirmed sanctions match; its status cannot be changed',
      'status',
    );
  }
  await tx.query('UPDATE wallets SET status = $2, metadata = $3::jsonb, updated_at = $4 WHERE id = $1', [
    id,
    changes.status ?? row.status,
    json(changes.metadata ?? row.metadata),
    context.clock.now(),
  ]);
  const wallet = await getWallet(tx, id, programScope);
  await emitEvent(tx, context, { type: 'account.updated', programId: wallet.program_id, object: wallet });
  await appendAudit(tx, context, {
    ...by,
    action: 'account.updated',
    programId: wallet.program_id,
    target: { type: 'account', id },
    details: { fields: Object.keys(changes).sort().join(','), status: wallet.status },
  });
  return wallet;
}

function checkMovement(input: NewMovement, wallet: WalletRow): void {
  if (!isPositiveAmount(input.amount)) {
    throw invalidRequest('amount_invalid', 'amount must be a positive whole number of minor units', 'amount');
  }
  if (input.currency !== wallet.currency) {
    throw invalidRequest(
      'currency_mismatch',
      `This account holds ${wallet.currency}; the currency must be ${wallet.currency}`,
      'currency',
    );
  }
  if (input.description !== undefined && input.description.length > DESCRIPTION_LENGTH_MAX) {
    throw invalidRequest(
      'parameter_invalid',
      `description is longer than ${DESCRIPTION_LENGTH_MAX} characters`,
      'description',
    );
  }
}

interface MovingHolder {
  readonly id: string;
  readonly kyc_status: KycStatus;
  readonly screening_status: ScreeningStatus;
  readonly kyc_tiers: unknown;
  readonly mode: string;
}

/**
 * A movement's cardholder, locked FOR UPDATE, with their KYC status and their programme's tier limits. The lock is the
 * one the authorization path and clearing take first (processing/decide.ts `lockOwners`): two loads, or a load and
 * a refund, for the same cardholder queue there, so they cannot both fit under a limit that has room for one. Taken
 * before the wallet's row, in the order every writer on this path locks. Undefined when the wallet is not found.
 */
async function lockMovingHolder(
  tx: Transaction,
  walletId: string,
  programScope: string | undefined,
): Promise<MovingHolder | undefined> {
  const found = await tx.query<MovingHolder>(
    `SELECT h.id, h.kyc_status, h.screening_status, p.kyc_tiers, p.mode
     FROM wallets w JOIN cardholders h ON h.id = w.cardholder_id JOIN programs p ON p.id = w.program_id
     WHERE w.id = $1 AND ($2::text IS NULL OR w.program_id = $2)
     FOR UPDATE OF h`,
    [walletId, programScope ?? null],
  );
  return found.rows[0];
}

/** What the cardholder loaded into their wallets in `currency` since `since` (wallet_movements_cardholder). */
async function loadedSince(
  tx: Transaction,
  cardholderId: string,
  currency: string,
  since: Date,
): Promise<number> {
  const found = await tx.query<{ loaded: number }>(
    `SELECT coalesce(sum(amount), 0)::bigint AS loaded FROM wallet_movements
     WHERE cardholder_id = $1 AND created_at > $2 AND kind = 'load' AND currency = $3`,
    [cardholderId, since, currency],
  );
  return found.rows[0]?.loaded ?? 0;
}

/**
 * Moves money between the programme's funding account and the wallet as one posted ledger transfer, recorded as
 * a movement with its event and audit entry, all in the caller's transaction. The movement's id is the transfer's
 * id, so the books and the record cannot diverge. An unload beyond the available balance is refused by the ledger
 * (the wallet's debits may not exceed its credits) and becomes `insufficient_funds`, changing nothing. A load must
 * fit the cardholder's KYC tier (compliance/kyc/tiers.ts): the wallet's balance after it, and the cardholder's loads
 * in the currency over the year up to now with it, within the tier's limits; else it is refused, changing nothing.
 */
export async function moveMoney(
  tx: Transaction,
  context: IssuingContext,
  kind: MovementKind,
  walletId: string,
  programScope: string | undefined,
  input: NewMovement,
  by: Actor,
): Promise<Movement> {
  // Unloads lock the cardholder too: a sanctions screening changing their status must not interleave.
  const holder = await lockMovingHolder(tx, walletId, programScope);
  // FOR SHARE of the wallet row only: a concurrent status change waits, concurrent movements do not. The ledger
  // locks the two accounts itself, in id order.
  const wallet = await findWalletRow(tx, walletId, programScope, 'FOR SHARE OF w');
  if (wallet === undefined) throw notFound('account', walletId);
  checkMovement(input, wallet);
  if (wallet.status === 'frozen') {
    throw invalidRequest(
      'account_frozen',
      'This account is frozen after a confirmed sanctions match: nothing is loaded into it or paid out of it',
      'id',
    );
  }
  if (kind === 'load' && wallet.status !== 'active') {
    // Unloads stay open on an inactive wallet: paying out what remains is how one is wound down.
    throw invalidRequest('account_inactive', 'This account is inactive and cannot be loaded', 'id');
  }
  if (holder !== undefined) {
    const hold = screeningHold(
      holder.screening_status,
      holder.mode === 'live',
      kind === 'load' ? 'The account is not loaded' : 'Nothing is paid out of the account',
      'id',
    );
    if (hold !== undefined) throw hold;
    const held = await caseHold(
      tx,
      holder.id,
      kind === 'load' ? 'The account is not loaded' : 'Nothing is paid out of the account',
      'id',
    );
    if (held !== undefined) throw held;
  }
  if (holder !== undefined && kind === 'load') {
    // The balance a tier caps is the posted one, what the wallet holds: a hold still awaiting its clearing is money
    // the wallet still has. Read under the cardholder's lock, after it was taken, so it is the latest.
    const refusal = loadRefusal(holder.kyc_tiers, {
      status: holder.kyc_status,
      currency: wallet.currency,
      amount: input.amount,
      balance: balanceOf(wallet).posted,
      loadedInYear: await loadedSince(tx, holder.id, wallet.currency, loadYearStart(context.clock.now())),
    });
    if (refusal !== undefined) throw refusal;
  }
  const id = context.ids(kind === 'load' ? LOAD_ID_PREFIX : UNLOAD_ID_PREFIX);
  const funding = programAccountId(wallet.program_id, 'funding', wallet.currency);
  const [result] = flattenResults(
    await submitTransfers(tx, context.clock, [
      {
        id,
        kind: 'posted',
        debitAccountId: kind === 'load' ? funding : wallet.ledger_account_id,
        creditAccountId: kind === 'load' ? wallet.ledger_account_id : funding,
        amount: input.amount,
        currency: wallet.currency,
        code: kind,
        reference: wallet.id,
      },
    ]),
  );
  if (result === undefined) throw new Error('submitTransfers returned no result for one transfer');
  if (result.status === 'failed') {
    if (result.error === 'exceeds_credits') {
      // A load draws on the programme's deposits; an unload on the wallet's balance.
      throw kind === 'load'
        ? new LantauError(
            'program_funds_insufficient',
            'The programme has not deposited enough to load this amount',
            {
              param: 'amount',
            },
          )
        : new LantauError('insufficient_funds', 'The amount is more than the account’s available balance', {
            param: 'amount',
          });
    }
    if (result.error === 'overflows_balance') {
      throw new LantauError(
        'amount_too_large',
        'The amount would take a balance beyond what can be recorded',
        {
          param: 'amount',
        },
      );
    }
    // Anything else (a missing funding account) is a fault on our side, not the caller's.
    throw new Error(`the ledger refused a ${kind}: ${result.error}`);
  }
  if (result.status === 'exists') throw new Error(`movement id ${id} was already a ledger transfer`);
  const inserted = await tx.query<MovementRow>(
    `INSERT INTO wallet_movements (id, program_id, wallet_id, cardholder_id, kind, amount, currency, description,
       metadata, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
     RETURNING ${MOVEMENT_COLUMNS}`,
    [
      id,
      wallet.program_id,
      wallet.id,
      wallet.cardholder_id,
      kind,
      input.amount,
      wallet.currency,
      input.description ?? null,
      json(input.metadata ?? {}),
      result.transfer.createdAt,
    ],
  );
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const movement = movementFromRow(row);
  const action = kind === 'load' ? 'account.loaded' : 'account.unloaded';
  await emitEvent(tx, context, { type: action, programId: wallet.program_id, object: movement });
  await appendAudit(tx, context, {
    ...by,
    action,
    programId: wallet.program_id,
    target: { type: kind, id },
    details: { account: wallet.id, amount: input.amount, currency: wallet.currency },
  });
  return movement;
}

/** The refusals of a load at the cardholder's KYC tier (compliance/kyc/tiers.ts `loadRefusal`). */
const KYC_LOAD_REFUSALS: ReadonlySet<string> = new Set([
  'kyc_balance_limit_exceeded',
  'kyc_annual_load_limit_exceeded',
]);

/** A load refused at a KYC cap, as `account.load_declined` carries it. */
export interface LoadDecline {
  readonly id: string;
  readonly object: 'account_load_decline';
  readonly program_id: string;
  readonly account_id: string;
  readonly cardholder_id: string;
  readonly amount: number;
  readonly currency: string;
  readonly decline_reason: string;
  readonly created: string;
}

/**
 * Records a load that `loadWallet` refused at the cardholder's KYC tier cap, as an `account.load_declined` event
 * in a transaction of its own (the load's rolled back): loading again and again into a cap is how a tier is
 * probed, and AML monitoring must see the attempts, not only the loads that passed. Any other error is left alone.
 * Called once per refused request: a retry under the same Idempotency-Key is answered from the first refusal
 * without reaching the load, so it records nothing more.
 */
export async function recordLoadDecline(
  context: Pick<IssuingContext, 'db' | 'clock' | 'ids'>,
  walletId: string,
  programScope: string | undefined,
  input: Pick<NewMovement, 'amount'>,
  error: unknown,
): Promise<LoadDecline | undefined> {
  if (!(error instanceof LantauError) || !KYC_LOAD_REFUSALS.has(error.code)) return undefined;
  return context.db.transaction(async (tx) => {
    const wallet = await findWalletRow(tx, walletId, programScope);
    if (wallet === undefined) return undefined;
    const decline: LoadDecline = {
      id: context.ids(LOAD_DECLINE_ID_PREFIX),
      object: 'account_load_decline',
      program_id: wallet.program_id,
      account_id: wallet.id,
      cardholder_id: wallet.cardholder_id,
      amount: input.amount,
      currency: wallet.currency,
      decline_reason: error.code,
      created: context.clock.now().toISOString(),
    };
    await emitEvent(tx, context, {
      type: 'account.load_declined',
      programId: wallet.program_id,
      object: decline,
    });
    return decline;
  });
}

export function loadWallet(
  tx: Transaction,
  context: IssuingContext,
  walletId: string,
  programScope: string | undefined,
  input: NewMovement,
  by: Actor,
): Promise<Movement> {
  return moveMoney(tx, context, 'load', walletId, programScope, input, by);
}

export function unloadWallet(
  tx: Transaction,
  context: IssuingContext,
  walletId: string,
  programScope: string | undefined,
  input: NewMovement,
  by: Actor,
): Promise<Movement> {
  return moveMoney(tx, context, 'unload', walletId, programScope, input, by);
}
