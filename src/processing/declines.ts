/**
 * Every reason the engine declines, with its ISO 8583 response code (DESIGN.md's table) and words for people. The
 * code is what the network sees; the reason is what the programme branches on; the message is for its support team.
 */
export const DECLINES = {
  card_not_found: { code: '14', message: 'No card has this number' },
  expiry_mismatch: { code: '54', message: 'The expiry date does not match the card' },
  card_expired: { code: '54', message: 'The card has expired' },
  cvv2_mismatch: { code: 'N7', message: 'The CVV2 does not match' },
  card_paused: { code: '62', message: 'The card is paused' },
  card_closed: { code: '62', message: 'The card is closed' },
  card_lost: { code: '41', message: 'The card was reported lost' },
  card_stolen: { code: '43', message: 'The card was reported stolen' },
  cardholder_inactive: { code: '62', message: 'The cardholder is not active' },
  account_inactive: { code: '62', message: 'The card’s account is not active' },
  account_frozen: { code: '62', message: 'The card’s account is frozen after a confirmed sanctions match' },
  compliance_hold: {
    code: '62',
    message:
      'The cardholder has a sanctions screening match: a potential one under review, or a confirmed one',
  },
  program_suspended: { code: '62', message: 'The card programme is suspended' },
  merchant_category_blocked: {
    code: '57',
    message: 'Purchases of this category are not allowed on this card',
  },
  merchant_country_blocked: {
    code: '57',
    message: 'Purchases from this country are not allowed on this card',
  },
  merchant_locked: { code: '57', message: 'The card is locked to another merchant' },
  spending_limit_exceeded: { code: '61', message: 'The amount exceeds a spending limit' },
  kyc_limit_exceeded: {
    code: '61',
    message: 'The amount exceeds the per-transaction maximum of the cardholder’s KYC tier',
  },
  suspected_fraud: { code: '59', message: 'Declined as suspected fraud' },
  fx_rate_unavailable: { code: '05', message: 'No exchange rate for this currency' },
  insufficient_funds: { code: '51', message: 'The account’s balance is too low' },
  authorization_not_pending: { code: '12', message: 'The authorization is no longer open' },
  stand_in_declined: { code: '05', message: 'The network declined in stand-in, on the issuer’s behalf' },
  webhook_declined: { code: '05', message: 'The card programme declined the authorization' },
  webhook_timeout: {
    code: '05',
    message: 'The card programme did not answer in time, and its stand-in is to decline',
  },
  webhook_error: {
    code: '05',
    message: 'The card programme’s answer could not be used, and its stand-in is to decline',
  },
} as const;

export type DeclineReason = keyof typeof DECLINES;

/** A potential or confirmed sanctions match stops spending; not_screened does not (see issuing/screening-holds.ts). */
export function screeningAllows(status: string): boolean {
  return status !== 'potential_match' && status !== 'confirmed_match';
}

export const APPROVED = '00';
export const PARTIALLY_APPROVED = '10';
/** Account verification (amount 0) that passed every check: "no reason to decline". */
export const VERIFIED = '85';

export type CheckResult = 'pass' | 'fail' | 'skipped';

/** One check the engine ran, in order: the answer's `checks`, so a decline explains itself. */
export interface Check {
  readonly check: string;
  readonly result: CheckResult;
  readonly detail?: string;
}
