import { json, RerunTransaction, rerunOnUniqueViolation, type Transaction } from '../platform/db/database.js';
import { LantauError, invalidRequest } from '../platform/errors.js';
import { findCurrency, isPositiveAmount } from '../platform/money.js';
import { flattenResults, getAccount, submitTransfers, type TransferCommand } from '../ledger/index.js';
import { programAccountId } from '../issuing/programs.js';
import { emitEvent } from '../records/outbox.js';
import { AUTHORIZATION_COLUMNS, type AuthorizationRow, type Merchant } from './authorizations.js';
import { findCard, type CardReference, type ProcessingContext } from './authorize.js';
import { captureCeiling } from './clearing-tolerance.js';
import { amountTooLargeAsBadInput } from './fx.js';
import {
  announceUpdated,
  inCardCurrency,
  lockAuthorization,
  releaseLapsedHolds,
  secondsLeft,
} from './lifecycle.js';
import {
  TRANSACTION_COLUMNS,
  transactionFromRow,
  type CardTransaction,
  type TransactionFlag,
  type TransactionRow,
  type TransactionType,
} from './transactions.js';

/** What the network presents: an amount in the merchant's or the card's currency, and its own identity. */
export interface Presentment {
  readonly amount: number;
  readonly currency: string;
  /** The presenter's identity of this record (a clearing file's record id): presented again, it is a repeat. */
  readonly clearingKey?: string;
  readonly source: 'api' | 'file';
}

export interface CaptureInput extends Presentment {
  /** False keeps the rest of the hold for later captures (a multi-shipment order); true (the default) releases it. */
  readonly final?: boolean;
}

export type RefundInput = Presentment & { readonly programId?: string } & (
    { readonly authorizationId: string } | { readonly card: CardReference; readonly merchant: Merchant }
  );

export interface ForcePostInput extends Presentment {
  readonly programId?: string;
  readonly card: CardReference;
  readonly merchant: Merchant;
}

const CLEARING_KEY = /^[\x21-\x7e]{1,200}$/;

function validatePresentment(input: Presentment): void {
  if (!isPositiveAmount(input.amount)) {
    throw invalidRequest(
      'amount_invalid',
      'A clearing amount is a positive whole number of minor units',
      'amount',
    );
  }
  if (findCurrency(input.currency) === undefined) {
    throw invalidRequest(
      'currency_invalid',
      `${input.currency} is not an ISO 4217 currency code`,
      'currency',
    );
  }
  if (input.clearingKey !== undefined && !CLEARING_KEY.test(input.clearingKey)) {
    throw invalidRequest(
      'clearing_key_invalid',
      'A clearing key is 1 to 200 printable ASCII characters',
      'id',
    );
  }
}

/**
 * A record presented again answers with what the first one did; the same key on a different record is a
 * conflict the presenter must see, never a silent second posting.
 */
async function priorPresentment(
  tx: Transaction,
  input: Presentment,
  expected: {
    readonly type: TransactionType;
    readonly programId: string;
    readonly cardId: string;
    readonly authorizationId: string | null;
  },
): Promise<CardTransaction | undefined> {
  if (input.clearingKey === undefined) return undefined;
  const found = await tx.query<TransactionRow>(
    `SELECT ${TRANSACTION_COLUMNS} FROM transactions WHERE program_id = $1 AND clearing_key = $2`,
    [expected.programId, input.clearingKey],
  );
  const row = found.rows[0];
  if (row === undefined) return undefined;
  if (
    row.type !== expected.type ||
    row.card_id !== expected.cardId ||
    row.authorization_id !== expected.authorizationId ||
    row.merchant_amount !== input.amount ||
    row.merchant_currency !== input.currency
  ) {
    throw new LantauError(
      'clearing_key_reused',
      'A different record was already applied under this clearing key',
      { status: 409, param: 'id' },
    );
  }
  return transactionFromRow(row);
}

function currencyMismatch(row: AuthorizationRow, input: Presentment): LantauError {
  return invalidRequest(
    'currency_mismatch',
    `The authorization is in ${row.merchant_currency} (card ${row.currency}); ${input.currency} cannot clear it`,
    'currency',
  );
}

/** A refund of an authorization in the card's currency, at the authorization's own rate when in the merchant's. */
function refundAmount(row: AuthorizationRow, input: Presentment): number {
  if (input.currency === row.currency) return input.amount;
  if (input.currency === row.merchant_currency) return inCardCurrency(row, input.amount);
  throw currencyMismatch(row, input);
}

/**
 * An authorization's presentment in the card's currency, at the authorization's own rate when in the merchant's.
 * Partial captures in the merchant's currency convert cumulatively (what all of them convert to, less what the
 * earlier ones were charged), so rounding never makes the parts cost more than the whole.
 */
async function authorizationAmount(
  tx: Transaction,
  row: AuthorizationRow,
  input: Presentment,
): Promise<number> {
  if (input.currency === row.currency) return input.amount;
  if (input.currency !== row.merchant_currency) throw currencyMismatch(row, input);
  const prior = await tx.query<{ merchant: number; card: number }>(
    `SELECT COALESCE(SUM(merchant_amount), 0)::bigint AS merchant, COALESCE(SUM(amount), 0)::bigint AS card
     FROM transactions WHERE authorization_id = $1 AND type = 'capture' AND merchant_currency = $2`,
    [row.id, input.currency],
  );
  const before = prior.rows[0] ?? { merchant: 0, card: 0 };
  return Math.max(0, inCardCurrency(row, before.merchant + input.amount) - before.card);
}

/**
 * Locks the wallet's ledger account. Clearing is never declined, so what the wallet cannot pay must be known before
 * posting: the lock keeps `walletAvailable` true until the transaction commits. The wallet account sorts before the
 * programme's accounts (`acct_…` < `prog_…`), the order the ledger takes them in.
 */
async function lockWalletAccount(tx: Transaction, walletId: string): Promise<string> {
  const locked = await tx.query<{ ledger_account_id: string }>(
    `SELECT w.ledger_account_id FROM wallets w JOIN ledger_accounts a ON a.id = w.ledger_account_id
     WHERE w.id = $1 FOR UPDATE OF a`,
    [walletId],
  );
  const accountId = locked.rows[0]?.ledger_account_id;
  if (accountId === undefined) throw new Error(`wallet ${walletId} is missing`);
  return accountId;
}

async function walletAvailable(tx: Transaction, accountId: string): Promise<number> {
  const account = await getAccount(tx, accountId);
  if (account === undefined) throw new Error(`ledger account ${accountId} is missing`);
  return Math.max(0, account.creditsPosted - account.debitsPosted - account.debitsPending);
}

/**
 * The postings of money leaving a wallet to the network: what the wallet can cover, and the rest against the
 * programme's cardholder-receivable account (DESIGN.md: the wallet's own limit is never breached).
 */
function payToNetwork(input: {
  readonly transactionId: string;
  readonly programId: string;
  readonly currency: string;
  readonly walletAccountId: string;
  readonly available: number;
  readonly amount: number;
  readonly code: string;
  readonly ids: (prefix: string) => string;
}): { commands: TransferCommand[]; walletAmount: number; shortfall: number } {
  const walletAmount = Math.min(input.amount, input.available);
  const shortfall = input.amount - walletAmount;
  const settlement = programAccountId(input.programId, 'card_settlement', input.currency);
  const commands: TransferCommand[] = [];
  if (walletAmount > 0) {
    commands.push({
      id: input.ids('xfer'),
      kind: 'posted',
      debitAccountId: input.walletAccountId,
      creditAccountId: settlement,
      amount: walletAmount,
      currency: input.currency,
      code: input.code,
      reference: input.transactionId,
    });
  }
  if (shortfall > 0) {
    commands.push({
      id: input.ids('xfer'),
      kind: 'posted',
      debitAccountId: programAccountId(input.programId, 'cardholder_receivable', input.currency),
      creditAccountId: settlement,
      amount: shortfall,
      currency: input.currency,
      code: input.code,
      reference: input.transactionId,
    });
  }
  return { commands, walletAmount, shortfall };
}

/**
 * Locks the programme's card-settlement account and reads the clearing's instant under that lock: its transfers
 * and its transaction row carry that instant, and settlement reads its cut-off under the same lock
 * (settlement.ts), so no clearing is in flight across a cut-off being settled. Taken after the wallet's lock, the
 * order every writer takes accounts in (`acct_…` before `prog_…`).
 */
async function clearingInstant(
  tx: Transaction,
  context: ProcessingContext,
  settlement: { readonly programId: string; readonly currency: string },
): Promise<Date> {
  await tx.query('SELECT 1 FROM ledger_accounts WHERE id = $1 FOR UPDATE', [
    programAccountId(settlement.programId, 'card_settlement', settlement.currency),
  ]);
  return context.clock.now();
}

async function post(
  tx: Transaction,
  at: Date,
  chain: TransferCommand[],
): Promise<{ transferIds: string[]; at: Date }> {
  if (chain.length === 0) return { transferIds: [], at };
  const results = flattenResults(await submitTransfers(tx, { now: () => at }, [chain]));
  // A hold the expiry job had locked when the capture released its lapsed holds: re-run, and it is released then.
  if (results.some((result) => result.status === 'failed' && result.error === 'pending_transfer_expired')) {
    throw new RerunTransaction('a hold lapsed while the clearing ran: a re-run releases it first');
  }
  // Under the wallet's lock, with what it can pay worked out first, every posting fits: a refusal is a bug.
  for (const result of results) {
    if (result.status === 'failed') throw new Error(`the ledger refused a clearing posting: ${result.error}`);
  }
  return { transferIds: chain.map((command) => command.id), at };
}

interface NewTransaction {
  readonly id: string;
  readonly programId: string;
  readonly type: TransactionType;
  readonly cardId: string;
  readonly cardholderId: string;
  readonly accountId: string;
  readonly authorizationId: string | null;
  readonly amount: number;
  readonly walletAmount: number;
  readonly shortfall: number;
  readonly currency: string;
  readonly presentment: Presentment;
  readonly fxRate: string | null;
  readonly fxMarkupBps: number | null;
  readonly merchant: Merchant;
  readonly flags: readonly TransactionFlag[];
  readonly posted: { readonly transferIds: readonly string[]; readonly at: Date };
}

async function recordTransaction(
  tx: Transaction,
  context: ProcessingContext,
  item: NewTransaction,
): Promise<CardTransaction> {
  const inserted = await tx
    .query<TransactionRow>(
      `INSERT INTO transactions (id, program_id, type, card_id, cardholder_id, account_id, authorization_id, amount,
         wallet_amount, shortfall_amount, currency, merchant_amount, merchant_currency, fx_rate, fx_markup_bps,
         merchant, flags, source, clearing_key, transfer_ids, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::numeric, $15, $16::jsonb, $17::text[],
         $18, $19, $20::text[], $21)
       RETURNING ${TRANSACTION_COLUMNS}`,
      [
        item.id,
        item.programId,
        item.type,
        item.cardId,
        item.cardholderId,
        item.accountId,
        item.authorizationId,
        item.amount,
        item.walletAmount,
        item.shortfall,
        item.currency,
        item.presentment.amount,
        item.presentment.currency,
        item.fxRate,
        item.fxMarkupBps,
        json(item.merchant),
        [...(item.shortfall > 0 ? [...item.flags, 'shortfall'] : item.flags)],
        item.presentment.source,
        item.presentment.clearingKey ?? null,
        [...item.posted.transferIds],
        item.posted.at,
      ],
    )
    .catch(rerunOnUniqueViolation('a record with the same clearing key was applied concurrently'));
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const transaction = transactionFromRow(row);
  await emitEvent(tx, context, {
    type: 'transaction.created',
    programId: item.programId,
    object: transaction,
  });
  return transaction;
}

function lockedAuthorizationIsDeclined(row: AuthorizationRow): void {
  if (!row.approved) {
    throw new LantauError(
      'authorization_declined',
      'The authorization was declined: nothing was approved to clear (present it as a force post)',
      { status: 409 },
    );
  }
}

/**
 * A capture against an authorization (DESIGN.md, "The card lifecycle on the ledger"): every open hold is voided
 * and, in the same linked chain, what cleared is posted and (for a capture that is not final) the rest held again.
 * Above what was approved it is posted all the same and flagged by the MCC's tolerance; presented after the hold
 * lapsed or was reversed, it is posted from whatever the wallet has, the shortfall to the receivable account.
 */
export async function captureAuthorizationIn(
  tx: Transaction,
  context: ProcessingContext,
  programId: string | undefined,
  authorizationId: string,
  input: CaptureInput,
): Promise<CardTransaction> {
  validatePresentment(input);
  let row = await lockAuthorization(tx, programId, authorizationId);
  const prior = await priorPresentment(tx, input, {
    type: 'capture',
    programId: row.program_id,
    cardId: row.card_id,
    authorizationId: row.id,
  });
  if (prior !== undefined) return prior;
  lockedAuthorizationIsDeclined(row);
  const walletAccountId = await lockWalletAccount(tx, row.account_id);
  const now = await clearingInstant(tx, context, { programId: row.program_id, currency: row.currency });
  row = await releaseLapsedHolds(tx, { ...context, clock: { now: () => now } }, row);
  const amount = await authorizationAmount(tx, row, input);
  if (amount === 0) {
    throw invalidRequest(
      'amount_too_small',
      'The amount converts to less than one minor unit of the card’s currency',
      'amount',
    );
  }
  const available = await walletAvailable(tx, walletAccountId);
  const open = row.status === 'pending';
  const held = open ? row.amount : 0;
  const id = context.ids('txn');
  const chain: TransferCommand[] = (open ? row.hold_ids : []).map((holdId) => ({
    id: context.ids('void'),
    kind: 'void_pending',
    pendingId: holdId,
    code: 'authorization_capture',
    reference: row.id,
  }));
  const pay = payToNetwork({
    transactionId: id,
    programId: row.program_id,
    currency: row.currency,
    walletAccountId,
    available: available + held,
    amount,
    code: 'clearing_capture',
    ids: context.ids,
  });
  chain.push(...pay.commands);
  const final = input.final ?? true;
  const remaining = open && !final ? Math.max(0, held - amount) : 0;
  let rest: string | undefined;
  if (remaining > 0) {
    rest = context.ids('hold');
    chain.push({
      id: rest,
      kind: 'pending',
      debitAccountId: walletAccountId,
      creditAccountId: programAccountId(row.program_id, 'card_settlement', row.currency),
      amount: remaining,
      currency: row.currency,
      timeoutSeconds: secondsLeft(row, now),
      code: 'authorization_hold',
      reference: row.id,
    });
  }
  const posted = await post(tx, now, chain);

  const flags: TransactionFlag[] = [];
  const clearedTotal = row.cleared_amount + amount;
  if (clearedTotal > row.approved_amount) {
    flags.push(
      clearedTotal <= captureCeiling(row.approved_amount, row.merchant.mcc)
        ? 'over_capture_within_tolerance'
        : 'over_capture_beyond_tolerance',
    );
  }
  if (!open) flags.push('cleared_without_open_hold');

  const updated = await tx.query<AuthorizationRow>(
    `UPDATE authorizations SET status = $2, amount = $3, hold_ids = $4::text[], cleared_amount = $5, updated_at = $6
     WHERE id = $1 RETURNING ${AUTHORIZATION_COLUMNS}`,
    [
      row.id,
      open ? (remaining > 0 ? 'pending' : 'closed') : row.status,
      open ? remaining : row.amount,
      open ? (rest === undefined ? [] : [rest]) : row.hold_ids,
      clearedTotal,
      now,
    ],
  );
  await announceUpdated(tx, context, updated.rows[0]);
  return recordTransaction(tx, context, {
    id,
    programId: row.program_id,
    type: 'capture',
    cardId: row.card_id,
    cardholderId: row.cardholder_id,
    accountId: row.account_id,
    authorizationId: row.id,
    amount,
    walletAmount: pay.walletAmount,
    shortfall: pay.shortfall,
    currency: row.currency,
    presentment: input,
    fxRate: row.merchant_currency === input.currency ? row.fx_rate : null,
    fxMarkupBps: row.merchant_currency === input.currency ? row.fx_markup_bps : null,
    merchant: row.merchant,
    flags,
    posted,
  });
}

interface LockedCard {
  readonly cardId: string;
  readonly programId: string;
  readonly cardholderId: string;
  readonly accountId: string;
  readonly currency: string;
  readonly fxMarkupBps: number;
}

/** Finds a card and takes its cardholder's lock first, the order every authorization takes. */
async function lockCard(
  tx: Transaction,
  context: ProcessingContext,
  programId: string | undefined,
  card: CardReference,
): Promise<LockedCard> {
  const owner = await findCard(tx, context, { programId, card });
  await tx.query('SELECT 1 FROM cardholders WHERE id = $1 FOR UPDATE', [owner.cardholderId]);
  const found = await tx.query<{
    program_id: string;
    account_id: string;
    currency: string;
    fx_markup_bps: number;
  }>(
    `SELECT c.program_id, c.account_id, c.currency, p.fx_markup_bps
     FROM cards c JOIN programs p ON p.id = c.program_id WHERE c.id = $1`,
    [owner.cardId],
  );
  const row = found.rows[0];
  if (row === undefined) throw new Error(`card ${owner.cardId} vanished under its cardholder's lock`);
  return {
    cardId: owner.cardId,
    programId: row.program_id,
    cardholderId: owner.cardholderId,
    accountId: row.account_id,
    currency: row.currency,
    fxMarkupBps: row.fx_markup_bps,
  };
}

/** An unlinked presentment in the card's currency: as given, or converted at today's rate and the programme's markup. */
async function cardAmount(
  tx: Transaction,
  context: ProcessingContext,
  card: LockedCard,
  input: Presentment,
): Promise<{ amount: number; rate: string | null; markupBps: number | null }> {
  if (input.currency === card.currency) return { amount: input.amount, rate: null, markupBps: null };
  const converted = await context
    .convert(tx, {
      merchantAmount: input.amount,
      merchantCurrency: input.currency,
      cardCurrency: card.currency,
      markupBps: card.fxMarkupBps,
      at: context.clock.now(),
    })
    .catch(amountTooLargeAsBadInput);
  if (converted === undefined) {
    throw new LantauError(
      'fx_rate_unavailable',
      `No exchange rate from ${input.currency} to ${card.currency}: add one at /v1/fx_rates`,
      { status: 409, param: 'currency' },
    );
  }
  return { amount: converted.amount, rate: converted.rate, markupBps: converted.markupBps };
}

/** A clearing with no authorization: posted from whatever the wallet has, the shortfall to the receivable account. */
export async function forcePostIn(
  tx: Transaction,
  context: ProcessingContext,
  input: ForcePostInput,
): Promise<CardTransaction> {
  validatePresentment(input);
  const card = await lockCard(tx, context, input.programId, input.card);
  const prior = await priorPresentment(tx, input, {
    type: 'force_post',
    programId: card.programId,
    cardId: card.cardId,
    authorizationId: null,
  });
  if (prior !== undefined) return prior;
  const { amount, rate, markupBps } = await cardAmount(tx, context, card, input);
  const walletAccountId = await lockWalletAccount(tx, card.accountId);
  const at = await clearingInstant(tx, context, card);
  const id = context.ids('txn');
  const pay = payToNetwork({
    transactionId: id,
    programId: card.programId,
    currency: card.currency,
    walletAccountId,
    available: await walletAvailable(tx, walletAccountId),
    amount,
    code: 'clearing_force_post',
    ids: context.ids,
  });
  const posted = await post(tx, at, pay.commands);
  return recordTransaction(tx, context, {
    id,
    programId: card.programId,
    type: 'force_post',
    cardId: card.cardId,
    cardholderId: card.cardholderId,
    accountId: card.accountId,
    authorizationId: null,
    amount,
    walletAmount: pay.walletAmount,
    shortfall: pay.shortfall,
    currency: card.currency,
    presentment: input,
    fxRate: rate,
    fxMarkupBps: markupBps,
    merchant: input.merchant,
    flags: [],
    posted,
  });
}

/**
 * A refund: money back from the card-settlement account to the wallet, tied to the authorization it refunds when
 * the network names one, and otherwise to the card alone (refunds often arrive with no authorization).
 */
export async function refundIn(
  tx: Transaction,
  context: ProcessingContext,
  input: RefundInput,
): Promise<CardTransaction> {
  validatePresentment(input);
  let target: {
    card: LockedCard;
    authorizationId: string | null;
    amount: number;
    rate: string | null;
    markupBps: number | null;
    merchant: Merchant;
    flags: TransactionFlag[];
  };
  if ('authorizationId' in input) {
    const row = await lockAuthorization(tx, input.programId, input.authorizationId);
    lockedAuthorizationIsDeclined(row);
    const prior = await priorPresentment(tx, input, {
      type: 'refund',
      programId: row.program_id,
      cardId: row.card_id,
      authorizationId: row.id,
    });
    if (prior !== undefined) return prior;
    const amount = refundAmount(row, input);
    const refunded = await tx.query<{ total: number }>(
      `SELECT COALESCE(SUM(amount), 0)::bigint AS total FROM transactions
       WHERE authorization_id = $1 AND type = 'refund'`,
      [row.id],
    );
    const before = refunded.rows[0]?.total ?? 0;
    target = {
      card: {
        cardId: row.card_id,
        programId: row.program_id,
        cardholderId: row.cardholder_id,
        accountId: row.account_id,
        currency: row.currency,
        fxMarkupBps: row.fx_markup_bps ?? 0,
      },
      authorizationId: row.id,
      amount,
      rate: row.merchant_currency === input.currency ? row.fx_rate : null,
      markupBps: row.merchant_currency === input.currency ? row.fx_markup_bps : null,
      merchant: row.merchant,
      flags: before + amount > row.cleared_amount ? ['refund_exceeds_capture'] : [],
    };
  } else {
    const card = await lockCard(tx, context, input.programId, input.card);
    const prior = await priorPresentment(tx, input, {
      type: 'refund',
      programId: card.programId,
      cardId: card.cardId,
      authorizationId: null,
    });
    if (prior !== undefined) return prior;
    const converted = await cardAmount(tx, context, card, input);
    target = {
      card,
      authorizationId: null,
      amount: converted.amount,
      rate: converted.rate,
      markupBps: converted.markupBps,
      merchant: input.merchant,
      flags: [],
    };
  }
  const { card } = target;
  const id = context.ids('txn');
  const walletAccountId = await lockWalletAccount(tx, card.accountId);
  const at = await clearingInstant(tx, context, card);
  const posted = await post(tx, at, [
    {
      id: context.ids('xfer'),
      kind: 'posted',
      debitAccountId: programAccountId(card.programId, 'card_settlement', card.currency),
      creditAccountId: walletAccountId,
      amount: target.amount,
      currency: card.currency,
      code: 'clearing_refund',
      reference: id,
    },
  ]);
  return recordTransaction(tx, context, {
    id,
    programId: card.programId,
    type: 'refund',
    cardId: card.cardId,
    cardholderId: card.cardholderId,
    accountId: card.accountId,
    authorizationId: target.authorizationId,
    amount: target.amount,
    walletAmount: target.amount,
    shortfall: 0,
    currency: card.currency,
    presentment: input,
    fxRate: target.rate,
    fxMarkupBps: target.markupBps,
    merchant: target.merchant,
    flags: target.flags,
    posted,
  });
}
