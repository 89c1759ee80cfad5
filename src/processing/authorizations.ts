import type { Queryable } from '../platform/db/database.js';
import { notFound } from '../platform/errors.js';
import type { RiskRecord } from '../risk/assess.js';
import type { Check } from './declines.js';

export type AuthorizationStatus = 'pending' | 'closed' | 'reversed' | 'expired' | 'declined';
export const ENTRY_MODES = ['ecommerce', 'contactless', 'chip', 'magstripe', 'keyed'] as const;
export type EntryMode = (typeof ENTRY_MODES)[number];

export interface Merchant {
  readonly name: string;
  readonly mcc: string;
  readonly country: string | null;
  readonly city: string | null;
  readonly acceptor_id: string | null;
  readonly acquirer_id: string | null;
}

/** Who a merchant is, for merchant locks and risk's counts: its acceptor id, or its name and country without one. */
export function merchantKey(merchant: Pick<Merchant, 'acceptor_id' | 'name' | 'country'>): string {
  return merchant.acceptor_id ?? `${merchant.name}|${merchant.country ?? ''}`;
}

/**
 * One request the authorization answered: the first, then each increment, reversal or expiry, and an advice of the
 * network's stand-in decision that came after Lantau's own.
 */
export interface RequestHistoryEntry {
  readonly kind: 'authorization' | 'increment' | 'reversal' | 'expiry' | 'advice';
  /** Card currency, minor units: what was asked and what was approved (or released). */
  readonly requested_amount: number;
  readonly amount: number;
  readonly approved: boolean;
  readonly response_code: string;
  readonly decline_reason: string | null;
  readonly created: string;
}

/**
 * What the programme's real-time endpoint answered (Lithic's ASA, Stripe's issuing_authorization.request), when
 * the programme has one and Lantau's own checks passed. A stand-in is the programme's configured answer when the
 * endpoint was late (`webhook_timeout`) or answered something unusable (`webhook_error`).
 */
export interface ProgramDecisionRecord {
  readonly outcome: 'approved' | 'declined' | 'webhook_timeout' | 'webhook_error';
  /** The amount the programme approved when it approved less than asked (card currency). */
  readonly amount: number | null;
  readonly stand_in: 'approve' | 'decline' | null;
  readonly latency_ms: number;
  /** Why the answer was unusable, in words (never the endpoint's body). */
  readonly error: string | null;
}

/** An authorization as the API, its events and its webhooks show it. Amounts are minor units. */
export interface Authorization {
  readonly id: string;
  readonly object: 'authorization';
  readonly card_id: string;
  readonly cardholder_id: string;
  readonly account_id: string;
  readonly status: AuthorizationStatus;
  readonly approved: boolean;
  readonly response_code: string;
  readonly decline_reason: string | null;
  readonly decline_message: string | null;
  /** In the card's currency: asked for, approved (less on a partial approval), and held now. */
  readonly requested_amount: number;
  readonly approved_amount: number;
  readonly amount: number;
  readonly currency: string;
  readonly merchant_amount: number;
  readonly merchant_currency: string;
  readonly fx_rate: string | null;
  readonly fx_markup_bps: number | null;
  readonly fx_source: string | null;
  readonly merchant: Merchant;
  readonly entry_mode: EntryMode;
  readonly partial_allowed: boolean;
  readonly expires_at: string | null;
  readonly checks: readonly Check[];
  readonly request_history: readonly RequestHistoryEntry[];
  /** Captured so far against this authorization (card currency), over every partial capture. */
  readonly cleared_amount: number;
  readonly program_decision: ProgramDecisionRecord | null;
  /** The risk assessment: score, top features, matched rules; null for authorizations from before risk existed. */
  readonly risk: RiskRecord | null;
  readonly created: string;
  readonly updated: string;
}

export interface AuthorizationRow {
  id: string;
  program_id: string;
  card_id: string;
  cardholder_id: string;
  account_id: string;
  status: AuthorizationStatus;
  approved: boolean;
  response_code: string;
  decline_reason: string | null;
  decline_message: string | null;
  requested_amount: number;
  approved_amount: number;
  amount: number;
  currency: string;
  merchant_amount: number;
  merchant_currency: string;
  fx_rate: string | null;
  fx_markup_bps: number | null;
  fx_source: string | null;
  merchant: Merchant;
  entry_mode: EntryMode;
  partial_allowed: boolean;
  hold_ids: string[];
  expires_at: Date | null;
  checks: Check[];
  request_history: RequestHistoryEntry[];
  cleared_amount: number;
  program_decision: ProgramDecisionRecord | null;
  risk: RiskRecord | null;
  created_at: Date;
  updated_at: Date;
}

export const AUTHORIZATION_COLUMNS = `id, program_id, card_id, cardholder_id, account_id, status, approved, response_code,
  decline_reason, decline_message, requested_amount, approved_amount, amount, currency, merchant_amount,
  merchant_currency, fx_rate::text AS fx_rate, fx_markup_bps, fx_source, merchant, entry_mode, partial_allowed,
  hold_ids, expires_at, checks, request_history, cleared_amount, program_decision, risk, created_at, updated_at`;

export function authorizationFromRow(row: AuthorizationRow): Authorization {
  return {
    id: row.id,
    object: 'authorization',
    card_id: row.card_id,
    cardholder_id: row.cardholder_id,
    account_id: row.account_id,
    status: row.status,
    approved: row.approved,
    response_code: row.response_code,
    decline_reason: row.decline_reason,
    decline_message: row.decline_message,
    requested_amount: row.requested_amount,
    approved_amount: row.approved_amount,
    amount: row.amount,
    currency: row.currency,
    merchant_amount: row.merchant_amount,
    merchant_currency: row.merchant_currency,
    fx_rate: row.fx_rate,
    fx_markup_bps: row.fx_markup_bps,
    fx_source: row.fx_source,
    merchant: row.merchant,
    entry_mode: row.entry_mode,
    partial_allowed: row.partial_allowed,
    expires_at: row.expires_at?.toISOString() ?? null,
    checks: row.checks,
    request_history: row.request_history,
    cleared_amount: row.cleared_amount,
    program_decision: row.program_decision,
    risk: row.risk,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

export async function getAuthorization(
  db: Queryable,
  programId: string | undefined,
  id: string,
): Promise<Authorization> {
  const found = await db.query<AuthorizationRow>(
    `SELECT ${AUTHORIZATION_COLUMNS} FROM authorizations WHERE id = $1 AND ($2::text IS NULL OR program_id = $2)`,
    [id, programId ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('authorization', id);
  return authorizationFromRow(row);
}

/** The authorization a network message identified (`networkKey` of its acquirer, STAN, RRN and time), if any. */
export async function findAuthorizationByNetworkKey(
  db: Queryable,
  key: string,
): Promise<Authorization | undefined> {
  const found = await db.query<AuthorizationRow>(
    `SELECT ${AUTHORIZATION_COLUMNS} FROM authorizations WHERE network_key = $1`,
    [key],
  );
  const row = found.rows[0];
  return row === undefined ? undefined : authorizationFromRow(row);
}
