import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../platform/clock.js';
import type { Database, Queryable, Transaction } from '../platform/db/database.js';
import { json, rerunOnUniqueViolation } from '../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../platform/errors.js';
import type { IdGenerator } from '../platform/ids.js';
import { findCurrency } from '../platform/money.js';
import { flattenResults, getAccount, submitTransfers, type TransferResult } from '../ledger/index.js';
import { emitEvent } from '../records/outbox.js';
import { programAccountId } from '../issuing/programs.js';
import { cardFromRow, CARD_COLUMNS } from '../issuing/cards.js';
import { isExpired, expiryYYMM } from '../issuing/pan.js';
import type { SpendingControls } from '../issuing/spending-controls.js';
import { loadCvkPair } from '../vault/cvk-pairs.js';
import { CVV2_SERVICE_CODE, computeCvv } from '../vault/cvv.js';
import type { Keyring } from '../vault/keyring.js';
import {
  AUTHORIZATION_COLUMNS,
  authorizationFromRow,
  type Authorization,
  type AuthorizationRow,
  type EntryMode,
  type Merchant,
} from './authorizations.js';
import {
  APPROVED,
  DECLINES,
  PARTIALLY_APPROVED,
  VERIFIED,
  type Check,
  type DeclineReason,
} from './declines.js';
import { amountTooLargeAsBadInput } from './fx.js';
import { limitsAllow } from './limits.js';
import {
  verdictOf,
  type AuthorizationRequestPayload,
  type ProgramDecisions,
  type ProgramVerdict,
} from './program-decision.js';

/** Converts a merchant amount into the card's currency (fx.ts); undefined when no rate exists. */
export type Converter = (
  db: Transaction,
  input: {
    readonly merchantAmount: number;
    readonly merchantCurrency: string;
    readonly cardCurrency: string;
    readonly markupBps: number;
    readonly at: Date;
  },
) => Promise<{ amount: number; rate: string; markupBps: number; source: string } | undefined>;

export interface ProcessingContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly vault: Keyring;
  readonly convert: Converter;
  /** The programmes' real-time decision endpoints (delivery implements it); absent: the engine decides alone. */
  readonly programDecisions?: ProgramDecisions;
}

/**
 * What happened before the transaction that records the decision: the programme's verdict with the authorization id
 * it was shown, or the decision itself when the engine could take it without asking (a decline on its own checks,
 * or a network repeat), already recorded.
 */
export type AskedProgram =
  | { readonly kind: 'asked'; readonly id: string; readonly verdict: ProgramVerdict }
  | { readonly kind: 'decided'; readonly authorization: Authorization };

/** Rolls back a preview: the engine's decision, made to be shown to the programme, must leave nothing behind. */
class PreviewRollback extends Error {
  constructor(readonly payload: AuthorizationRequestPayload) {
    super('preview rolled back');
    this.name = 'PreviewRollback';
  }
}

/** How the network (or the simulator) names a card: by id, or by number with what the cardholder typed. */
export type CardReference =
  | { readonly id: string }
  | { readonly pan: string; readonly expMonth?: number; readonly expYear?: number; readonly cvv2?: string };

/** The network's identity of a message: a repeat with the same identity gets the first answer. */
export interface NetworkIdentity {
  readonly acquirerId: string;
  readonly stan: string;
  readonly rrn: string;
  readonly transmissionTime: string;
}

export interface AuthorizationRequest {
  /** The programme the caller speaks for (a programme key); undefined for the network, which may name any card. */
  readonly programId?: string;
  readonly card: CardReference;
  /** In the merchant's currency, minor units; 0 is an account verification. */
  readonly amount: number;
  readonly currency: string;
  readonly merchant: Merchant;
  readonly entryMode: EntryMode;
  readonly partialAllowed: boolean;
  readonly network?: NetworkIdentity;
}

/** Lodging and car rental hold longer (DESIGN.md): 7011 and the hotel chains 3501–3999; 7512 and 3351–3500. */
export function extendedHoldMcc(mcc: string): boolean {
  const code = Number(mcc);
  return mcc === '7011' || mcc === '7512' || (code >= 3351 && code <= 3999);
}

export function networkKey(network: NetworkIdentity | undefined): string | null {
  return network === undefined
    ? null
    : [network.acquirerId, network.stan, network.rrn, network.transmissionTime].join('|');
}

interface CardContext {
  readonly card: ReturnType<typeof cardFromRow>;
  readonly programId: string;
  readonly cardType: string;
  readonly lockedMerchant: string | null;
  readonly statusReason: string | null;
  readonly program: {
    readonly status: string;
    readonly fx_markup_bps: number;
    readonly hold_days: number;
    readonly extended_hold_days: number;
  };
  readonly cardholder: { readonly status: string; readonly spending_controls: SpendingControls };
  readonly wallet: { readonly status: string; readonly ledger_account_id: string };
}

/** A card and the cardholder whose lock its authorizations take first. */
export interface CardOwner {
  readonly cardId: string;
  readonly cardholderId: string;
  readonly programId: string;
}

/** Finds the card and its cardholder: by id within the caller's programme, or by its number's blind index. */
export async function findCard(
  tx: Queryable,
  context: Pick<ProcessingContext, 'vault'>,
  request: { readonly programId?: string | undefined; readonly card: CardReference },
): Promise<CardOwner> {
  if ('id' in request.card) {
    const found = await tx.query<{ cardholder_id: string; program_id: string }>(
      'SELECT cardholder_id, program_id FROM cards WHERE id = $1 AND ($2::text IS NULL OR program_id = $2)',
      [request.card.id, request.programId ?? null],
    );
    const row = found.rows[0];
    if (row === undefined) throw notFound('card', request.card.id, 'card_id');
    return { cardId: request.card.id, cardholderId: row.cardholder_id, programId: row.program_id };
  }
  const found = await tx.query<{ id: string; cardholder_id: string; program_id: string }>(
    'SELECT id, cardholder_id, program_id FROM cards WHERE pan_index = $1 AND ($2::text IS NULL OR program_id = $2)',
    [context.vault.blindIndex(request.card.pan, 'pan'), request.programId ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) {
    // ISO 8583 answers this with 14; over HTTP an unknown card is a 404 like any unknown object.
    throw new LantauError('card_not_found', 'No card has this number', { status: 404, param: 'pan' });
  }
  return { cardId: row.id, cardholderId: row.cardholder_id, programId: row.program_id };
}

/**
 * Locks what one authorization decides on, always in one order: the cardholder (limits span all of the
 * cardholder's cards, so their authorizations queue here), then the card (its state, single-use and merchant lock),
 * then, through the ledger, the wallet's account.
 */
async function lockCardContext(tx: Transaction, { cardId, cardholderId }: CardOwner): Promise<CardContext> {
  const cardholder = await tx.query<{ status: string; spending_controls: SpendingControls }>(
    'SELECT status, spending_controls FROM cardholders WHERE id = $1 FOR UPDATE',
    [cardholderId],
  );
  const cards = await tx.query<Parameters<typeof cardFromRow>[0] & { locked_merchant: string | null }>(
    `SELECT ${CARD_COLUMNS}, locked_merchant FROM cards WHERE id = $1 FOR UPDATE`,
    [cardId],
  );
  const cardRow = cards.rows[0];
  const cardholderRow = cardholder.rows[0];
  if (cardRow === undefined || cardholderRow === undefined) throw notFound('card', cardId, 'card_id');
  const program = await tx.query<CardContext['program']>(
    'SELECT status, fx_markup_bps, hold_days, extended_hold_days FROM programs WHERE id = $1',
    [cardRow.program_id],
  );
  const wallet = await tx.query<CardContext['wallet']>(
    'SELECT status, ledger_account_id FROM wallets WHERE id = $1',
    [cardRow.account_id],
  );
  const programRow = program.rows[0];
  const walletRow = wallet.rows[0];
  if (programRow === undefined || walletRow === undefined)
    throw new Error(`card ${cardId} lost its programme or wallet`);
  return {
    card: cardFromRow(cardRow),
    programId: cardRow.program_id,
    cardType: cardRow.type,
    lockedMerchant: cardRow.locked_merchant,
    statusReason: cardRow.status_reason,
    program: programRow,
    cardholder: cardholderRow,
    wallet: walletRow,
  };
}

function merchantKey(merchant: Merchant): string {
  return merchant.acceptor_id ?? `${merchant.name}|${merchant.country ?? ''}`;
}

function categoryAllowed(controls: SpendingControls, mcc: string): boolean {
  const allowed = controls.allowed_categories ?? [];
  if (allowed.length > 0 && !allowed.includes(mcc)) return false;
  return !(controls.blocked_categories ?? []).includes(mcc);
}

function countryAllowed(controls: SpendingControls, country: string | null): boolean {
  const allowed = controls.allowed_merchant_countries ?? [];
  if (allowed.length > 0 && (country === null || !allowed.includes(country))) return false;
  return country === null || !(controls.blocked_merchant_countries ?? []).includes(country);
}

/** Records each check in order; after the first failure the rest are `skipped`, so `checks` reads as a story. */
class CheckList {
  readonly checks: Check[] = [];
  failed: DeclineReason | undefined;

  run(check: string, outcome: () => DeclineReason | undefined | 'skipped', detail?: string): void {
    if (this.failed !== undefined) {
      this.checks.push({ check, result: 'skipped' });
      return;
    }
    const result = outcome();
    if (result === 'skipped') {
      this.checks.push({ check, result: 'skipped', ...(detail === undefined ? {} : { detail }) });
    } else if (result === undefined) {
      this.checks.push({ check, result: 'pass', ...(detail === undefined ? {} : { detail }) });
    } else {
      this.failed = result;
      this.checks.push({ check, result: 'fail', detail: detail ?? DECLINES[result].message });
    }
  }

  async runAsync(
    check: string,
    outcome: () => Promise<DeclineReason | undefined | 'skipped'>,
  ): Promise<void> {
    if (this.failed !== undefined) {
      this.checks.push({ check, result: 'skipped' });
      return;
    }
    const result = await outcome();
    this.run(check, () => result);
  }
}

function statusDecline(context: CardContext): DeclineReason | undefined {
  if (context.card.status === 'paused') return 'card_paused';
  if (context.card.status === 'closed') {
    if (context.statusReason === 'lost') return 'card_lost';
    if (context.statusReason === 'stolen') return 'card_stolen';
    return 'card_closed';
  }
  return undefined;
}

async function cvvMatches(
  tx: Transaction,
  context: ProcessingContext,
  programId: string,
  pan: string,
  expiry: { month: number; year: number },
  cvv2: string,
): Promise<boolean> {
  const cvk = await loadCvkPair(tx, context.vault, programId);
  if (cvk === undefined) return false;
  const expected = computeCvv({
    pan,
    expiryYYMM: expiryYYMM(expiry),
    serviceCode: CVV2_SERVICE_CODE,
    cvkA: cvk.cvkA,
    cvkB: cvk.cvkB,
  });
  return expected.length === cvv2.length && timingSafeEqual(Buffer.from(expected), Buffer.from(cvv2));
}

function holdSeconds(card: CardContext, mcc: string): number {
  const days = extendedHoldMcc(mcc) ? card.program.extended_hold_days : card.program.hold_days;
  return days * 24 * 60 * 60;
}

function singleResult(results: Awaited<ReturnType<typeof submitTransfers>>): TransferResult {
  const [result] = flattenResults(results);
  if (result === undefined) throw new Error('the ledger gave no result for one transfer');
  return result;
}

/**
 * The decision, end to end (DESIGN.md): card, expiry, CVV2, state, controls, conversion, limits, the programme's
 * own real-time decision when it has an endpoint, balance; then the hold, the authorization and its event in one
 * transaction. A well-formed request about a card that fails a check is a decline, recorded like an approval; only
 * malformed requests and unknown cards are errors.
 */
export async function authorize(
  context: ProcessingContext,
  request: AuthorizationRequest,
): Promise<Authorization> {
  const asked = await askProgram(context, request);
  return context.db.transaction((tx) => authorizeIn(tx, context, request, asked));
}

/**
 * When the card's programme has a real-time endpoint: decides as the engine would in a transaction that is rolled
 * back (the hold and every lock released), then, with no transaction open, asks the programme and returns its
 * verdict for `authorizeIn` to apply. A request the engine declines on its own checks, or a repeat, is answered
 * there and then (`decided`). Undefined when the programme has no endpoint.
 */
export async function askProgram(
  context: ProcessingContext,
  request: AuthorizationRequest,
): Promise<AskedProgram | undefined> {
  const decisions = context.programDecisions;
  if (decisions === undefined) return undefined;
  const owner = await findCard(context.db, context, request);
  const endpoint = await decisions.endpointFor(owner.programId);
  if (endpoint === undefined) return undefined;
  let payload: AuthorizationRequestPayload;
  try {
    // A decline on the engine's own checks (or a repeat) is the answer: it commits here and is never decided twice.
    // An approval is rolled back, to be decided again with the programme's verdict.
    const decided = await context.db.transaction(async (tx) => {
      const preview = await decideIn(tx, context, request, { preview: true });
      if (preview.object === 'authorization_request') throw new PreviewRollback(preview);
      return preview;
    });
    return { kind: 'decided', authorization: decided };
  } catch (error) {
    if (!(error instanceof PreviewRollback)) throw error;
    payload = error.payload;
  }
  const answer = await decisions.ask(endpoint, payload);
  return { kind: 'asked', id: payload.id, verdict: verdictOf(endpoint, payload, answer) };
}

/**
 * `authorize` in the caller's transaction (an idempotent HTTP mutation, a batch), applying the programme's
 * verdict when `askProgram` asked for one first.
 */
export async function authorizeIn(
  tx: Transaction,
  context: ProcessingContext,
  request: AuthorizationRequest,
  asked?: AskedProgram,
): Promise<Authorization> {
  if (asked === undefined) return recorded(await decideIn(tx, context, request, {}));
  if (asked.kind === 'decided') return asked.authorization;
  return recorded(await decideIn(tx, context, request, { asked }));
}

function recorded(decided: Authorization | AuthorizationRequestPayload): Authorization {
  if (decided.object !== 'authorization')
    throw new Error('a decision that records nothing asked for no preview');
  return decided;
}

interface DecideOptions {
  /** Stop before recording an approval and return what the programme would be asked (the caller rolls back). */
  readonly preview?: boolean;
  readonly asked?: Extract<AskedProgram, { kind: 'asked' }>;
}

async function decideIn(
  tx: Transaction,
  context: ProcessingContext,
  request: AuthorizationRequest,
  options: DecideOptions,
): Promise<Authorization | AuthorizationRequestPayload> {
  // An unknown currency is bad input, not a decline: no rate could ever exist for it (and conversion would throw).
  if (findCurrency(request.currency) === undefined) {
    throw invalidRequest(
      'currency_invalid',
      `${request.currency} is not an ISO 4217 currency code`,
      'currency',
    );
  }
  const key = networkKey(request.network);
  {
    const card = await lockCardContext(tx, await findCard(tx, context, request));
    if (key !== null) {
      // Under the cardholder's lock a repeat sees its first answer, committed or not yet begun.
      const first = await tx.query<AuthorizationRow>(
        `SELECT ${AUTHORIZATION_COLUMNS} FROM authorizations WHERE network_key = $1`,
        [key],
      );
      const repeated = first.rows[0];
      if (repeated !== undefined) {
        // The same identity for another card is not a repeat, and must not show that card's answer (it may be
        // another programme's): ISO 8583's 94, duplicate transmission.
        if (repeated.card_id !== card.card.id) {
          throw new LantauError(
            'duplicate_transmission',
            'A message with this network identity was already answered for another card',
            { status: 409, param: 'network' },
          );
        }
        return authorizationFromRow(repeated);
      }
    }
    const now = context.clock.now();
    const id = options.asked?.id ?? context.ids('auth');
    const checks = new CheckList();
    const { merchant } = request;

    checks.run('program', () => (card.program.status === 'active' ? undefined : 'program_suspended'));
    checks.run('card_status', () => statusDecline(card));
    checks.run('expiry', () => {
      const expiry = { month: card.card.exp_month, year: card.card.exp_year };
      if (
        'pan' in request.card &&
        request.card.expMonth !== undefined &&
        request.card.expYear !== undefined
      ) {
        if (request.card.expMonth !== expiry.month || request.card.expYear !== expiry.year)
          return 'expiry_mismatch';
      }
      return isExpired(expiry, now) ? 'card_expired' : undefined;
    });
    const cvv2 = 'pan' in request.card ? request.card.cvv2 : undefined;
    await checks.runAsync('cvv2', async () => {
      if (cvv2 === undefined || !('pan' in request.card)) return 'skipped';
      const matches = await cvvMatches(
        tx,
        context,
        card.programId,
        request.card.pan,
        {
          month: card.card.exp_month,
          year: card.card.exp_year,
        },
        cvv2,
      );
      return matches ? undefined : 'cvv2_mismatch';
    });
    checks.run('cardholder', () => (card.cardholder.status === 'active' ? undefined : 'cardholder_inactive'));
    checks.run('account', () => (card.wallet.status === 'active' ? undefined : 'account_inactive'));
    checks.run('merchant_lock', () => {
      if (card.cardType !== 'merchant_locked') return 'skipped';
      return card.lockedMerchant === null || card.lockedMerchant === merchantKey(merchant)
        ? undefined
        : 'merchant_locked';
    });
    checks.run('merchant_category', () =>
      categoryAllowed(card.card.spending_controls, merchant.mcc) &&
      categoryAllowed(card.cardholder.spending_controls, merchant.mcc)
        ? undefined
        : 'merchant_category_blocked',
    );
    checks.run('merchant_country', () =>
      countryAllowed(card.card.spending_controls, merchant.country) &&
      countryAllowed(card.cardholder.spending_controls, merchant.country)
        ? undefined
        : 'merchant_country_blocked',
    );
    // Converted even after a failed check, so a decline records what was asked in the card's currency too.
    const converted = await context
      .convert(tx, {
        merchantAmount: request.amount,
        merchantCurrency: request.currency,
        cardCurrency: card.card.currency,
        markupBps: card.program.fx_markup_bps,
        at: now,
      })
      // The currencies are known and the markup is checked by the database.
      .catch(amountTooLargeAsBadInput);
    checks.run('currency_conversion', () => (converted === undefined ? 'fx_rate_unavailable' : undefined));
    const amount = converted?.amount ?? 0;
    await checks.runAsync('spending_limits', async () =>
      (await limitsAllow(tx, {
        cardId: card.card.id,
        cardControls: card.card.spending_controls,
        cardholderId: card.card.cardholder_id,
        cardholderControls: card.cardholder.spending_controls,
        currency: card.card.currency,
        mcc: merchant.mcc,
        amount,
        authorizationTotal: amount,
        now,
      }))
        ? undefined
        : 'spending_limit_exceeded',
    );

    const verdict = options.asked?.verdict;
    if (verdict !== undefined) {
      checks.run('program_decision', () => verdict.decline, verdict.detail);
    }
    // The programme may approve less than asked: the hold is what it approved (a partial approval, code 10).
    const holdAmount = verdict?.amount === undefined ? amount : Math.min(amount, verdict.amount);

    // Written by the balance check below (TypeScript does not follow assignments made inside a callback).
    const outcome: { holdId: string | null; approvedAmount: number } = { holdId: null, approvedAmount: 0 };
    const timeoutSeconds = holdSeconds(card, merchant.mcc);
    await checks.runAsync('balance', async () => {
      if (amount === 0) return 'skipped';
      const hold = async (value: number): Promise<TransferResult> =>
        singleResult(
          await submitTransfers(tx, context.clock, [
            {
              id: context.ids('hold'),
              kind: 'pending',
              debitAccountId: card.wallet.ledger_account_id,
              creditAccountId: programAccountId(card.programId, 'card_settlement', card.card.currency),
              amount: value,
              currency: card.card.currency,
              timeoutSeconds,
              code: 'authorization_hold',
              reference: id,
            },
          ]),
        );
      // A hold beyond 2^53 - 1 minor units is more than any wallet holds: short of funds like exceeds_credits.
      const short = (result: TransferResult) =>
        result.status === 'failed' &&
        (result.error === 'exceeds_credits' || result.error === 'overflows_balance');
      let held = await hold(holdAmount);
      if (short(held) && request.partialAllowed) {
        // A partial approval (code 10): hold what the wallet has, when it has anything.
        const account = await getAccount(tx, card.wallet.ledger_account_id);
        const available =
          account === undefined ? 0 : account.creditsPosted - account.debitsPosted - account.debitsPending;
        if (available <= 0) return 'insufficient_funds';
        held = await hold(Math.min(available, holdAmount));
      }
      if (held.status === 'failed') {
        if (short(held)) return 'insufficient_funds';
        throw new Error(`the ledger refused a hold: ${held.error}`);
      }
      outcome.holdId = held.transfer.id;
      outcome.approvedAmount = held.transfer.amount;
      return undefined;
    });

    const { holdId, approvedAmount } = outcome;
    const declined = checks.failed;
    if (options.preview === true && declined === undefined) {
      return {
        id,
        object: 'authorization_request',
        program_id: card.programId,
        card_id: card.card.id,
        cardholder_id: card.card.cardholder_id,
        account_id: card.card.account_id,
        amount: approvedAmount,
        requested_amount: amount,
        currency: card.card.currency,
        merchant_amount: request.amount,
        merchant_currency: request.currency,
        fx_rate: converted?.rate ?? null,
        merchant,
        entry_mode: request.entryMode,
        partial_allowed: request.partialAllowed,
        checks: checks.checks,
        created: now.toISOString(),
      };
    }
    const approved = declined === undefined;
    const responseCode = !approved
      ? DECLINES[declined].code
      : amount === 0
        ? VERIFIED
        : approvedAmount < amount
          ? PARTIALLY_APPROVED
          : APPROVED;
    const status = !approved ? 'declined' : amount === 0 ? 'closed' : 'pending';
    const heldIds: string[] = holdId === null ? [] : [holdId];
    const inserted = await tx
      .query<AuthorizationRow>(
        `INSERT INTO authorizations (id, program_id, card_id, cardholder_id, account_id, status, approved, response_code,
         decline_reason, decline_message, requested_amount, approved_amount, amount, currency, merchant_amount,
         merchant_currency, fx_rate, fx_markup_bps, fx_source, merchant, mcc, merchant_country, entry_mode,
         partial_allowed, network_key, hold_ids, expires_at, checks, created_at, updated_at, request_history,
         program_decision)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16::numeric, $17, $18,
         $19::jsonb, $20, $21, $22, $23, $24, $25::text[], $26, $27::jsonb, $28, $28, $29::jsonb, $30::jsonb)
       RETURNING ${AUTHORIZATION_COLUMNS}`,
        [
          id,
          card.programId,
          card.card.id,
          card.card.cardholder_id,
          card.card.account_id,
          status,
          approved,
          responseCode,
          declined ?? null,
          declined === undefined ? null : DECLINES[declined].message,
          amount,
          approvedAmount,
          card.card.currency,
          request.amount,
          request.currency,
          converted?.rate ?? null,
          converted?.markupBps ?? null,
          converted?.source ?? null,
          json(merchant),
          merchant.mcc,
          merchant.country,
          request.entryMode,
          request.partialAllowed,
          key,
          heldIds,
          holdId === null ? null : new Date(now.getTime() + timeoutSeconds * 1000),
          json(checks.checks),
          now,
          json([
            {
              kind: 'authorization',
              requested_amount: amount,
              amount: approvedAmount,
              approved,
              response_code: responseCode,
              decline_reason: declined ?? null,
              created: now.toISOString(),
            },
          ]),
          verdict === undefined ? null : json(verdict.record),
        ],
      )
      // The same network identity arriving at once for two cardholders: neither saw the other's row. Re-running the
      // transaction finds the first and answers as a repeat would.
      .catch(rerunOnUniqueViolation('a message with the same network identity was decided concurrently'));
    const row = inserted.rows[0];
    if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
    const authorization = authorizationFromRow(row);
    await emitEvent(tx, context, {
      type: 'authorization.created',
      programId: card.programId,
      object: authorization,
    });
    if (approved) await afterApproval(tx, context, card, merchant, now, approvedAmount);
    return authorization;
  }
}

/**
 * Single-use cards close after their first approval that holds money; merchant-locked cards lock to their first
 * merchant.
 */
async function afterApproval(
  tx: Transaction,
  context: ProcessingContext,
  card: CardContext,
  merchant: Merchant,
  now: Date,
  approvedAmount: number,
): Promise<void> {
  let changed: { rows: Parameters<typeof cardFromRow>[0][] } | undefined;
  // An account verification (amount 0, code 85) holds nothing and does not use the card up: merchants verify a
  // card before the purchase that follows.
  if (card.cardType === 'single_use' && approvedAmount > 0) {
    changed = await tx.query(
      `UPDATE cards SET status = 'closed', status_reason = 'single_use_used', closed_at = $2, updated_at = $2
       WHERE id = $1 RETURNING ${CARD_COLUMNS}`,
      [card.card.id, now],
    );
  } else if (card.cardType === 'merchant_locked' && card.lockedMerchant === null) {
    changed = await tx.query(
      `UPDATE cards SET locked_merchant = $2, updated_at = $3 WHERE id = $1 RETURNING ${CARD_COLUMNS}`,
      [card.card.id, merchantKey(merchant), now],
    );
  }
  const row = changed?.rows[0];
  if (row !== undefined) {
    await emitEvent(tx, context, {
      type: 'card.updated',
      programId: card.programId,
      object: cardFromRow(row),
    });
  }
}
