import { json, type JsonParam, type Transaction } from '../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../platform/errors.js';
import { isPositiveAmount } from '../platform/money.js';
import {
  expirePendingTransfers,
  flattenResults,
  getAccount,
  submitTransfers,
  type Transfer,
  type TransferCommand,
  type TransferResult,
} from '../ledger/index.js';
import { programAccountId } from '../issuing/programs.js';
import { emitEvent } from '../records/outbox.js';
import {
  AUTHORIZATION_COLUMNS,
  authorizationFromRow,
  type Authorization,
  type AuthorizationRow,
} from './authorizations.js';
import {
  extendedHoldMcc,
  networkKey,
  type NetworkIdentity,
  type NetworkStandIn,
  type ProcessingContext,
} from './authorize.js';
import { amountTooLargeAsBadInput, convertAmount } from './fx.js';
import { APPROVED, DECLINES, screeningAllows } from './declines.js';
import { limitsAllow } from './limits.js';
import type { SpendingControls } from '../issuing/spending-controls.js';
import type { KycStatus } from '../compliance/kyc/status.js';
import { perTransactionLimit } from '../compliance/kyc/tiers.js';

/**
 * Locks an authorization with its cardholder first (the order `authorize` uses), so an increment, a reversal and
 * a new authorization on the same cardholder never interleave.
 */
export async function lockAuthorization(
  tx: Transaction,
  programId: string | undefined,
  id: string,
): Promise<AuthorizationRow> {
  const owner = await tx.query<{ cardholder_id: string }>(
    'SELECT cardholder_id FROM authorizations WHERE id = $1 AND ($2::text IS NULL OR program_id = $2)',
    [id, programId ?? null],
  );
  const cardholderId = owner.rows[0]?.cardholder_id;
  if (cardholderId === undefined) throw notFound('authorization', id);
  await tx.query('SELECT 1 FROM cardholders WHERE id = $1 FOR UPDATE', [cardholderId]);
  const locked = await tx.query<AuthorizationRow>(
    `SELECT ${AUTHORIZATION_COLUMNS} FROM authorizations WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = locked.rows[0];
  if (row === undefined) throw notFound('authorization', id);
  return row;
}

function assertPending(row: AuthorizationRow): void {
  if (row.status !== 'pending') {
    throw new LantauError('authorization_not_pending', `The authorization is ${row.status}, no longer open`, {
      status: 409,
    });
  }
}

/**
 * Pending and still within its hold: past `expires_at` the hold is expired all the same, swept by the job or not
 * (the ledger refuses to void it or to tie more to it), so an increment or a reversal finds nothing open.
 */
function assertOpen(row: AuthorizationRow, now: Date): void {
  assertPending(row);
  if (row.expires_at !== null && row.expires_at.getTime() <= now.getTime()) {
    throw new LantauError('authorization_not_pending', 'The authorization has expired, no longer open', {
      status: 409,
    });
  }
}

/** A merchant amount in the card's currency at the authorization's own rate, so later steps match the first. */
export function inCardCurrency(row: AuthorizationRow, merchantAmount: number): number {
  if (row.merchant_currency === row.currency) return merchantAmount;
  if (row.fx_rate === null) {
    // Only a decline can lack a rate across two currencies, and nothing of a decline is captured or reversed.
    throw new LantauError(
      'fx_rate_unavailable',
      'The authorization has no exchange rate to convert this amount with',
      { status: 409, param: 'amount' },
    );
  }
  try {
    return convertAmount({
      merchantAmount,
      merchantCurrency: row.merchant_currency,
      cardCurrency: row.currency,
      rate: row.fx_rate,
      markupBps: row.fx_markup_bps ?? 0,
    });
  } catch (error) {
    // The authorization's own rate and currencies are sound.
    return amountTooLargeAsBadInput(error);
  }
}

async function recordUpdate(
  tx: Transaction,
  context: ProcessingContext,
  row: AuthorizationRow,
  update: {
    readonly kind: 'increment' | 'reversal' | 'expiry' | 'advice';
    readonly requested: number;
    readonly amount: number;
    readonly approved: boolean;
    readonly responseCode: string;
    readonly declineReason: string | null;
    readonly networkKey: string | null;
  },
): Promise<AuthorizationRow> {
  const now = context.clock.now();
  await tx.query(
    `INSERT INTO authorization_updates (id, program_id, authorization_id, kind, requested_amount, amount, approved,
       response_code, decline_reason, network_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      context.ids('authu'),
      row.program_id,
      row.id,
      update.kind,
      update.requested,
      update.amount,
      update.approved,
      update.responseCode,
      update.declineReason,
      update.networkKey,
      now,
    ],
  );
  const entry = {
    kind: update.kind,
    requested_amount: update.requested,
    amount: update.amount,
    approved: update.approved,
    response_code: update.responseCode,
    decline_reason: update.declineReason,
    created: now.toISOString(),
  };
  const updated = await tx.query<AuthorizationRow>(
    `UPDATE authorizations SET request_history = request_history || $2::jsonb WHERE id = $1
     RETURNING ${AUTHORIZATION_COLUMNS}`,
    [row.id, json([entry])],
  );
  const next = updated.rows[0];
  if (next === undefined) throw new Error('UPDATE … RETURNING returned no row');
  return next;
}

async function saveAuthorization(
  tx: Transaction,
  context: ProcessingContext,
  id: string,
  changes: { status: string; amount: number; approvedAmount: number; holdIds: readonly string[] },
): Promise<Authorization> {
  const updated = await tx.query<AuthorizationRow>(
    `UPDATE authorizations SET status = $2, amount = $3, approved_amount = $4, hold_ids = $5::text[], updated_at = $6
     WHERE id = $1 RETURNING ${AUTHORIZATION_COLUMNS}`,
    [id, changes.status, changes.amount, changes.approvedAmount, [...changes.holdIds], context.clock.now()],
  );
  return announceUpdated(tx, context, updated.rows[0]);
}

/** The row an UPDATE … RETURNING gave back, as the API shows it, with its `authorization.updated` event. */
export async function announceUpdated(
  tx: Transaction,
  context: ProcessingContext,
  row: AuthorizationRow | undefined,
): Promise<Authorization> {
  if (row === undefined) throw new Error('UPDATE … RETURNING returned no row');
  const authorization = authorizationFromRow(row);
  await emitEvent(tx, context, {
    type: 'authorization.updated',
    programId: row.program_id,
    object: authorization,
  });
  return authorization;
}

async function repeatOf(tx: Transaction, key: string | null): Promise<boolean> {
  if (key === null) return false;
  const found = await tx.query('SELECT 1 FROM authorization_updates WHERE network_key = $1', [key]);
  return found.rows.length > 0;
}

function only(results: Awaited<ReturnType<typeof submitTransfers>>): TransferResult[] {
  return flattenResults(results);
}

/**
 * An increment meets the same limits as a new authorization, its per-authorization limits on the new total, and
 * so does the KYC tier's per-transaction maximum: a transaction may not grow past it by increments.
 */
async function incrementRefusal(
  tx: Transaction,
  row: AuthorizationRow,
  amount: number,
  now: Date,
): Promise<'spending_limit_exceeded' | 'kyc_limit_exceeded' | 'compliance_hold' | undefined> {
  const controls = await tx.query<{
    card: SpendingControls;
    cardholder: SpendingControls;
    kyc_status: KycStatus;
    screening_status: string;
    kyc_tiers: unknown;
  }>(
    `SELECT c.spending_controls AS card, h.spending_controls AS cardholder, h.kyc_status, h.screening_status,
       p.kyc_tiers
     FROM cards c JOIN cardholders h ON h.id = c.cardholder_id JOIN programs p ON p.id = c.program_id
     WHERE c.id = $1`,
    [row.card_id],
  );
  const found = controls.rows[0];
  if (found === undefined) return 'spending_limit_exceeded';
  if (!screeningAllows(found.screening_status)) return 'compliance_hold';
  const fits = await limitsAllow(tx, {
    cardId: row.card_id,
    cardControls: found.card,
    cardholderId: row.cardholder_id,
    cardholderControls: found.cardholder,
    currency: row.currency,
    mcc: row.merchant.mcc,
    amount,
    authorizationTotal: row.amount + amount,
    now,
  });
  if (!fits) return 'spending_limit_exceeded';
  const kyc = perTransactionLimit(found.kyc_tiers, found.kyc_status, row.currency, row.amount + amount);
  return kyc.within === false ? 'kyc_limit_exceeded' : undefined;
}

/**
 * An incremental authorization (a hotel extends a stay): a further hold tied to the same authorization, checked
 * against the balance and the spending limits like a new one. A refusal leaves the authorization as it was.
 */
export async function incrementAuthorization(
  context: ProcessingContext,
  programId: string | undefined,
  id: string,
  input: { readonly amount: number; readonly network?: NetworkIdentity },
): Promise<Authorization> {
  return context.db.transaction((tx) => incrementAuthorizationIn(tx, context, programId, id, input));
}

export async function incrementAuthorizationIn(
  tx: Transaction,
  context: ProcessingContext,
  programId: string | undefined,
  id: string,
  input: { readonly amount: number; readonly network?: NetworkIdentity },
): Promise<Authorization> {
  if (!isPositiveAmount(input.amount)) {
    throw invalidRequest(
      'amount_invalid',
      'An increment is a positive whole number of minor units',
      'amount',
    );
  }
  const key = networkKey(input.network);
  {
    const row = await lockAuthorization(tx, programId, id);
    if (await repeatOf(tx, key)) return authorizationFromRow(row);
    const now = context.clock.now();
    assertOpen(row, now);
    const amount = inCardCurrency(row, input.amount);
    const remainingSeconds = secondsLeft(row, now);
    let refused: keyof typeof DECLINES | undefined = await incrementRefusal(tx, row, amount, now);
    let holdId: string | undefined;
    if (refused === undefined) {
      const [held] = only(
        await submitTransfers(tx, context.clock, [
          {
            id: context.ids('hold'),
            kind: 'pending',
            debitAccountId: await walletLedgerAccount(tx, row.account_id),
            creditAccountId: programAccountId(row.program_id, 'card_settlement', row.currency),
            amount,
            currency: row.currency,
            timeoutSeconds: remainingSeconds,
            code: 'authorization_hold',
            reference: row.id,
          },
        ]),
      );
      if (held?.status === 'created') holdId = held.transfer.id;
      else if (
        held?.status === 'failed' &&
        (held.error === 'exceeds_credits' || held.error === 'overflows_balance')
      )
        refused = 'insufficient_funds';
      else
        throw new Error(
          `the ledger refused an increment: ${held?.status === 'failed' ? held.error : 'no result'}`,
        );
    }
    const recorded = await recordUpdate(tx, context, row, {
      kind: 'increment',
      requested: amount,
      amount: refused === undefined ? amount : 0,
      approved: refused === undefined,
      responseCode: refused === undefined ? APPROVED : DECLINES[refused].code,
      declineReason: refused ?? null,
      networkKey: key,
    });
    if (refused !== undefined || holdId === undefined) {
      // Unchanged but for its request history, whose last entry says why the increment was declined.
      const unchanged = authorizationFromRow(recorded);
      await emitEvent(tx, context, {
        type: 'authorization.increment_declined',
        programId: row.program_id,
        object: unchanged,
      });
      return unchanged;
    }
    return saveAuthorization(tx, context, row.id, {
      status: 'pending',
      amount: row.amount + amount,
      approvedAmount: row.approved_amount + amount,
      holdIds: [...row.hold_ids, holdId],
    });
  }
}

/** A later hold of an authorization expires with the first: the time the authorization has left, at least 1 s. */
export function secondsLeft(row: AuthorizationRow, now: Date): number {
  return Math.max(1, Math.ceil(((row.expires_at?.getTime() ?? now.getTime()) - now.getTime()) / 1000));
}

export async function walletLedgerAccount(tx: Transaction, walletId: string): Promise<string> {
  const found = await tx.query<{ ledger_account_id: string }>(
    'SELECT ledger_account_id FROM wallets WHERE id = $1',
    [walletId],
  );
  const account = found.rows[0]?.ledger_account_id;
  if (account === undefined) throw new Error(`wallet ${walletId} is missing`);
  return account;
}

/**
 * Gives back all of an authorization's hold or part of it: every open hold is voided and, for a partial reversal,
 * the rest is held again, in one linked ledger chain, so the wallet is never briefly over- or under-held.
 */
export async function reverseAuthorization(
  context: ProcessingContext,
  programId: string | undefined,
  id: string,
  input: ReversalInput = {},
): Promise<Authorization> {
  return context.db.transaction((tx) => reverseAuthorizationIn(tx, context, programId, id, input));
}

export interface ReversalInput {
  /** What to give back, in the merchant's currency; absent: everything held. */
  readonly amount?: number;
  /**
   * Instead of `amount`: what the transaction finally came to, in the merchant's currency (ISO 8583 field 95). What
   * stays held is that, less what has cleared, and never more than is held now.
   */
  readonly completedAmount?: number;
  readonly network?: NetworkIdentity;
}

export async function reverseAuthorizationIn(
  tx: Transaction,
  context: ProcessingContext,
  programId: string | undefined,
  id: string,
  input: ReversalInput = {},
): Promise<Authorization> {
  if (input.amount !== undefined && input.completedAmount !== undefined) {
    throw invalidRequest(
      'amount_invalid',
      'Give the amount to reverse or the amount completed, not both',
      'amount',
    );
  }
  if (input.amount !== undefined && !isPositiveAmount(input.amount)) {
    throw invalidRequest('amount_invalid', 'A reversal is a positive whole number of minor units', 'amount');
  }
  const key = networkKey(input.network);
  {
    const row = await lockAuthorization(tx, programId, id);
    if (await repeatOf(tx, key)) return authorizationFromRow(row);
    const now = context.clock.now();
    assertOpen(row, now);
    const requested =
      input.completedAmount !== undefined
        ? row.amount -
          Math.min(row.amount, Math.max(0, inCardCurrency(row, input.completedAmount) - row.cleared_amount))
        : input.amount === undefined
          ? row.amount
          : inCardCurrency(row, input.amount);
    const reversed = Math.min(requested, row.amount);
    const remaining = row.amount - reversed;
    const chain: TransferCommand[] = row.hold_ids.map((holdId) => ({
      id: context.ids('void'),
      kind: 'void_pending',
      pendingId: holdId,
      code: 'authorization_reversal',
      reference: row.id,
    }));
    let rest: string | undefined;
    if (remaining > 0) {
      rest = context.ids('hold');
      chain.push({
        id: rest,
        kind: 'pending',
        debitAccountId: await walletLedgerAccount(tx, row.account_id),
        creditAccountId: programAccountId(row.program_id, 'card_settlement', row.currency),
        amount: remaining,
        currency: row.currency,
        timeoutSeconds: secondsLeft(row, now),
        code: 'authorization_hold',
        reference: row.id,
      });
    }
    const results = only(await submitTransfers(tx, context.clock, chain.length === 0 ? [] : [chain]));
    // Voids of this authorization's own open holds cannot fail under its lock: a failure here is a bug.
    for (const result of results) {
      if (result.status === 'failed' && result.error !== 'linked_event_failed') {
        throw new Error(`the ledger refused a reversal: ${result.error}`);
      }
    }
    await recordUpdate(tx, context, row, {
      kind: 'reversal',
      requested,
      amount: reversed,
      approved: true,
      responseCode: APPROVED,
      declineReason: null,
      networkKey: key,
    });
    return saveAuthorization(tx, context, row.id, {
      status: remaining === 0 ? 'reversed' : 'pending',
      amount: remaining,
      approvedAmount: row.approved_amount,
      holdIds: rest === undefined ? [] : [rest],
    });
  }
}

/** The simulator's "this hold has expired now": releases every hold and marks the authorization expired. */
export async function expireAuthorization(
  context: ProcessingContext,
  programId: string | undefined,
  id: string,
): Promise<Authorization> {
  return context.db.transaction((tx) => expireAuthorizationIn(tx, context, programId, id));
}

export async function expireAuthorizationIn(
  tx: Transaction,
  context: ProcessingContext,
  programId: string | undefined,
  id: string,
): Promise<Authorization> {
  {
    const row = await lockAuthorization(tx, programId, id);
    assertPending(row);
    if (row.hold_ids.length > 0) {
      await submitTransfers(tx, context.clock, [
        row.hold_ids.map((holdId): TransferCommand => ({
          id: context.ids('void'),
          kind: 'void_pending',
          pendingId: holdId,
          code: 'authorization_expiry',
          reference: row.id,
        })),
      ]);
    }
    await recordUpdate(tx, context, row, {
      kind: 'expiry',
      requested: row.amount,
      amount: row.amount,
      approved: true,
      responseCode: APPROVED,
      declineReason: null,
      networkKey: null,
    });
    return saveAuthorization(tx, context, row.id, {
      status: 'expired',
      amount: 0,
      approvedAmount: row.approved_amount,
      holdIds: [],
    });
  }
}

/**
 * The scheduled job: the ledger expires holds past their timeout, and each authorization whose last hold expired
 * becomes `expired` (with its event) in the same transaction. Returns how many holds it released (at most
 * `limit`); the caller repeats while it returns a full batch.
 */
export async function expireAuthorizations(context: ProcessingContext, limit = 500): Promise<number> {
  const holds = await context.db.transaction(async (tx) => {
    const expired = await expirePendingTransfers(tx, context.clock.now(), limit);
    await recordExpiredHolds(tx, context, expired);
    return expired.length;
  });
  return holds + (await expireUnheld(context, limit));
}

/**
 * A stand-in approval the wallet could hold nothing of has no ledger hold to time out: it lapses here at its
 * `expires_at`, as a held one would. Each in a transaction of its own that takes its cardholder's lock first, as a
 * decision does (taken after the ledger's account locks, or several at once in another order, it could deadlock
 * with one).
 */
async function expireUnheld(context: ProcessingContext, limit: number): Promise<number> {
  const due = await context.db.query<{ id: string }>(
    `SELECT id FROM authorizations WHERE status = 'pending' AND cardinality(hold_ids) = 0 AND expires_at <= $1
     ORDER BY id LIMIT $2`,
    [context.clock.now(), limit],
  );
  let expired = 0;
  for (const { id } of due.rows) {
    const lapsed = await context.db.transaction(async (tx) => {
      const row = await lockAuthorization(tx, undefined, id);
      if (row.status !== 'pending' || row.hold_ids.length > 0) return false;
      await recordUpdate(tx, context, row, {
        kind: 'expiry',
        requested: 0,
        amount: 0,
        approved: true,
        responseCode: APPROVED,
        declineReason: null,
        networkKey: null,
      });
      await saveAuthorization(tx, context, row.id, {
        status: 'expired',
        amount: 0,
        approvedAmount: row.approved_amount,
        holdIds: [],
      });
      return true;
    });
    if (lapsed) expired += 1;
  }
  return expired;
}

/**
 * An advice (ISO 8583 0120) for an authorization Lantau had already decided: its answer reached the network too
 * late, the network decided in stand-in, and the network's decision is what the merchant was told. An approval of
 * what Lantau declined holds what the wallet has (up to the amount; the rest is collected at clearing); a decline
 * of what Lantau approved gives the hold back and marks the authorization declined. Either way the advice is an
 * update of its own, so a repeat changes nothing.
 */
export async function applyStandInIn(
  tx: Transaction,
  context: ProcessingContext,
  id: string,
  standIn: NetworkStandIn,
  network: NetworkIdentity,
): Promise<Authorization> {
  const row = await lockAuthorization(tx, undefined, id);
  const key = `advice|${networkKey(network) ?? ''}`;
  if (await repeatOf(tx, key)) return authorizationFromRow(row);
  const now = context.clock.now();
  const checks = (detail: string) =>
    json([...row.checks, { check: 'network_stand_in', result: standIn.approved ? 'pass' : 'fail', detail }]);
  if (standIn.approved && !row.approved) {
    if (row.merchant_currency !== row.currency && row.fx_rate === null) {
      throw new LantauError(
        'fx_rate_unavailable',
        `No exchange rate from ${row.merchant_currency} to ${row.currency}: the stand-in approval cannot be recorded`,
        { status: 422, param: 'currency' },
      );
    }
    const walletAccount = await walletLedgerAccount(tx, row.account_id);
    const account = await getAccount(tx, walletAccount);
    const available = Math.max(
      0,
      (account?.creditsPosted ?? 0) - (account?.debitsPosted ?? 0) - (account?.debitsPending ?? 0),
    );
    const holding = Math.min(available, row.requested_amount);
    const seconds = await holdSecondsFor(tx, row);
    const holdIds: string[] = [];
    if (holding > 0) {
      const hold = context.ids('hold');
      const [result] = only(
        await submitTransfers(tx, context.clock, [
          {
            id: hold,
            kind: 'pending',
            debitAccountId: walletAccount,
            creditAccountId: programAccountId(row.program_id, 'card_settlement', row.currency),
            amount: holding,
            currency: row.currency,
            timeoutSeconds: seconds,
            code: 'authorization_hold',
            reference: row.id,
          },
        ]),
      );
      if (result?.status !== 'created') throw new Error('the ledger refused a stand-in hold under its lock');
      holdIds.push(hold);
    }
    await recordUpdate(tx, context, row, {
      kind: 'advice',
      requested: row.requested_amount,
      amount: row.requested_amount,
      approved: true,
      responseCode: standIn.responseCode,
      declineReason: null,
      networkKey: key,
    });
    return finishStandIn(
      tx,
      context,
      row.id,
      {
        status: 'pending',
        approved: true,
        responseCode: standIn.responseCode,
        declineReason: null,
        approvedAmount: row.requested_amount,
        amount: holding,
        holdIds,
        expiresAt: new Date(now.getTime() + seconds * 1000),
      },
      checks(
        `approved by the network in stand-in (${standIn.responseCode}) after Lantau declined ` +
          `(${row.decline_reason ?? row.response_code})` +
          (holding < row.requested_amount
            ? `; ${row.requested_amount - holding} not held, short of funds`
            : ''),
      ),
    );
  }
  if (!standIn.approved && row.approved) {
    const chain: TransferCommand[] = (row.status === 'pending' ? row.hold_ids : []).map((holdId) => ({
      id: context.ids('void'),
      kind: 'void_pending',
      pendingId: holdId,
      code: 'authorization_reversal',
      reference: row.id,
    }));
    // Each hold alone: one that lapsed meanwhile must not keep the others from being given back.
    for (const result of only(await submitTransfers(tx, context.clock, chain))) {
      // A hold that lapsed meanwhile has nothing left to give back.
      if (result.status === 'failed' && result.error !== 'pending_transfer_expired') {
        throw new Error(`the ledger refused to void a hold: ${result.error}`);
      }
    }
    await recordUpdate(tx, context, row, {
      kind: 'advice',
      requested: row.amount,
      amount: row.amount,
      approved: false,
      responseCode: standIn.responseCode,
      declineReason: 'stand_in_declined',
      networkKey: key,
    });
    return finishStandIn(
      tx,
      context,
      row.id,
      {
        status: 'declined',
        approved: false,
        responseCode: standIn.responseCode,
        declineReason: 'stand_in_declined',
        approvedAmount: 0,
        amount: 0,
        holdIds: [],
        expiresAt: null,
      },
      checks(`declined by the network in stand-in (${standIn.responseCode}) after Lantau approved`),
    );
  }
  // The network decided as Lantau did: recorded, nothing moves.
  const recorded = await recordUpdate(tx, context, row, {
    kind: 'advice',
    requested: row.requested_amount,
    amount: row.approved_amount,
    approved: standIn.approved,
    responseCode: standIn.responseCode,
    declineReason: standIn.approved ? null : 'stand_in_declined',
    networkKey: key,
  });
  return authorizationFromRow(recorded);
}

async function holdSecondsFor(tx: Transaction, row: AuthorizationRow): Promise<number> {
  const program = await tx.query<{ hold_days: number; extended_hold_days: number }>(
    'SELECT hold_days, extended_hold_days FROM programs WHERE id = $1',
    [row.program_id],
  );
  const found = program.rows[0];
  if (found === undefined) throw new Error(`programme ${row.program_id} is missing`);
  return (extendedHoldMcc(row.merchant.mcc) ? found.extended_hold_days : found.hold_days) * 24 * 60 * 60;
}

async function finishStandIn(
  tx: Transaction,
  context: ProcessingContext,
  id: string,
  changes: {
    readonly status: string;
    readonly approved: boolean;
    readonly responseCode: string;
    readonly declineReason: string | null;
    readonly approvedAmount: number;
    readonly amount: number;
    readonly holdIds: readonly string[];
    readonly expiresAt: Date | null;
  },
  checks: JsonParam,
): Promise<Authorization> {
  const declineMessage = changes.declineReason === null ? null : DECLINES.stand_in_declined.message;
  const updated = await tx.query<AuthorizationRow>(
    `UPDATE authorizations SET status = $2, approved = $3, response_code = $4, decline_reason = $5,
       decline_message = $6, approved_amount = $7, amount = $8, hold_ids = $9::text[], expires_at = $10,
       checks = $11::jsonb, updated_at = $12
     WHERE id = $1 RETURNING ${AUTHORIZATION_COLUMNS}`,
    [
      id,
      changes.status,
      changes.approved,
      changes.responseCode,
      changes.declineReason,
      declineMessage,
      changes.approvedAmount,
      changes.amount,
      [...changes.holdIds],
      changes.expiresAt,
      checks,
      context.clock.now(),
    ],
  );
  return announceUpdated(tx, context, updated.rows[0]);
}

/**
 * Releases an authorization's holds whose time has passed but which the job has not swept yet, so what follows
 * (a clearing) sees the wallet as it really stands. Returns the authorization as it is afterwards.
 */
export async function releaseLapsedHolds(
  tx: Transaction,
  context: ProcessingContext,
  row: AuthorizationRow,
): Promise<AuthorizationRow> {
  if (row.status !== 'pending' || row.hold_ids.length === 0) return row;
  const holds = await expirePendingTransfers(tx, context.clock.now(), 1_000, row.hold_ids);
  if (holds.length === 0) return row;
  await recordExpiredHolds(tx, context, holds);
  const again = await tx.query<AuthorizationRow>(
    `SELECT ${AUTHORIZATION_COLUMNS} FROM authorizations WHERE id = $1`,
    [row.id],
  );
  return again.rows[0] ?? row;
}

/** Each authorization whose holds expired records the expiry; one whose last hold expired becomes `expired`. */
async function recordExpiredHolds(
  tx: Transaction,
  context: ProcessingContext,
  holds: readonly Transfer[],
): Promise<void> {
  const byAuthorization = new Map<string, string[]>();
  for (const hold of holds) {
    // Only the engine's holds: they name their authorization in `reference`.
    const reference = hold.code === 'authorization_hold' ? hold.reference : null;
    if (reference === null) continue;
    byAuthorization.set(reference, [...(byAuthorization.get(reference) ?? []), hold.id]);
  }
  for (const [authorizationId, expiredHolds] of [...byAuthorization.entries()].sort(([a], [b]) =>
    a < b ? -1 : 1,
  )) {
    const locked = await tx.query<AuthorizationRow>(
      `SELECT ${AUTHORIZATION_COLUMNS} FROM authorizations WHERE id = $1 FOR UPDATE`,
      [authorizationId],
    );
    const row = locked.rows[0];
    if (row?.status !== 'pending') continue;
    const open = row.hold_ids.filter((holdId) => !expiredHolds.includes(holdId));
    const released = holds
      .filter((hold) => expiredHolds.includes(hold.id))
      .reduce((sum, hold) => sum + hold.amount, 0);
    await recordUpdate(tx, context, row, {
      kind: 'expiry',
      requested: released,
      amount: released,
      approved: true,
      responseCode: APPROVED,
      declineReason: null,
      networkKey: null,
    });
    await saveAuthorization(tx, context, row.id, {
      status: open.length === 0 ? 'expired' : 'pending',
      amount: Math.max(0, row.amount - released),
      approvedAmount: row.approved_amount,
      holdIds: open,
    });
  }
}
