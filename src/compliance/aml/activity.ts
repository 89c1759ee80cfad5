/**
 * What AML monitoring sees of a cardholder: their money movements and card events, normalised from the outbox's
 * events (the monitor is a consumer of events, DESIGN.md) into one record shape that the scenarios read. Times are
 * epoch milliseconds, amounts integer minor units of `currency`.
 */

export const ACTIVITY_KINDS = [
  /** Money into a wallet from the programme (`load.created`). */
  'load',
  /** A load refused because it would pass the cardholder's KYC tier cap (`account.load_declined`). */
  'load_declined',
  /** Money out of a wallet back to the programme (`unload.created`). */
  'unload',
  /** An authorization decided (approved or not), `amount` in the card's currency. */
  'authorization',
  /** A clearing that captured an authorization. */
  'capture',
  /** A clearing with no authorization behind it. */
  'force_post',
  /** Money back to the wallet from a merchant. */
  'refund',
  'card_created',
  'card_closed',
  /** The device or IP address the cardholder gave when onboarded (or changed to since): no money. */
  'onboarding',
] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

export type DeviceKind = 'device' | 'ip';

export interface Activity {
  /** The source object's id (`load_…`, `auth_…`, `txn_…`, `card_…`): what an alert lists. */
  readonly id: string;
  readonly kind: ActivityKind;
  readonly programId: string;
  readonly cardholderId: string;
  readonly at: number;
  /** 0 for card events. */
  readonly amount: number;
  readonly currency: string;
  /**
   * The amount in the programme's reporting currency at the rate of its time, when `currency` is another and the
   * monitor found a rate; null otherwise. Rules read it to add up a cardholder's wallets in several currencies.
   */
  readonly converted: { readonly amount: number; readonly currency: string } | null;
  readonly cardId: string | null;
  readonly walletId: string | null;
  /** Authorizations only: approved or declined. */
  readonly approved: boolean | null;
  /** Authorizations and clearings: the merchant's country (ISO 3166-1 alpha-2), when known. */
  readonly merchantCountry: string | null;
  /** Captures: the amount the authorization approved (card currency); null elsewhere. */
  readonly authorizedAmount: number | null;
  /** Clearings: the processor's flags (`cleared_without_open_hold`, `over_capture_beyond_tolerance`, …). */
  readonly flags: readonly string[];
  /** Loads: the wallet's balance after the load, as the monitor has counted it. */
  readonly balanceAfter: number | null;
  /** A keyed blind index (hex) of the device or IP the activity came from; never the value. */
  readonly deviceKey: string | null;
  /**
   * What `deviceKey` indexes: a device's fingerprint or an IP address (shared far more innocently); null when not
   * known (stored before kinds were, migration 0024). The two are blind-indexed under different keys, so one key is
   * only ever one kind.
   */
  readonly deviceKind: DeviceKind | null;
}

/** The cardholder's KYC tier limits in a currency, for tier-limit probing (compliance/kyc/tiers.ts). */
export interface TierCaps {
  readonly maxBalance: number;
  readonly maxLoadsPerYear: number;
}

/** What a scenario is evaluated for: one cardholder's activity within the scenario's longest window. */
export interface CardholderActivity {
  readonly cardholderId: string;
  readonly programId: string;
  /** The programme's home country (ISO alpha-2) when its region is a country; cross-border is judged against it. */
  readonly homeCountry: string | null;
  /** Per currency. */
  readonly caps: Readonly<Record<string, TierCaps>>;
  /** Oldest first. */
  readonly activities: readonly Activity[];
}
