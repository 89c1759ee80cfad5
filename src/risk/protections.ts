/**
 * Built-in protections: on for every programme unless it tunes them, run after the programme's own rules (so an
 * allow rule before them is an allowlist). Each declines with `suspected_fraud` (ISO 8583 59).
 *
 * - Card testing: a fraudster with a list of stolen numbers tries each for a small amount at one merchant to find
 *   the live ones, or keeps trying one card until something passes. Seen as many cards new to one merchant in an
 *   hour with this one small, or as many declines on one card in an hour.
 * - Burst: many authorizations on one card within a minute or an hour, faster than a person shops.
 */
import type { RiskFeatures } from './features.js';

export interface ProtectionSettings {
  readonly card_testing: {
    readonly enabled: boolean;
    /** Cards new to the merchant within the hour, before this one, from which a small amount is declined. */
    readonly new_cards_at_merchant_1h: number;
    /** What counts as small, card currency minor units (inclusive). */
    readonly small_amount: number;
    /** Declines on the card within the hour, before this one, from which any amount is declined. */
    readonly declines_on_card_1h: number;
  };
  readonly burst: {
    readonly enabled: boolean;
    /** Authorizations on the card within the minute, before this one, from which it is declined. */
    readonly per_card_1m: number;
    readonly per_card_1h: number;
  };
}

/**
 * Defaults set so ordinary shopping never meets them: a busy merchant sees many cards, but not ten it has never
 * seen before each paying under HKD 10 within an hour unless someone is testing; a person does not make six
 * purchases a minute or forty an hour.
 */
export const DEFAULT_PROTECTIONS: ProtectionSettings = {
  card_testing: { enabled: true, new_cards_at_merchant_1h: 10, small_amount: 1_000, declines_on_card_1h: 5 },
  burst: { enabled: true, per_card_1m: 5, per_card_1h: 40 },
};

export const PROTECTION_NAMES = ['card_testing', 'burst'] as const;
export type ProtectionName = (typeof PROTECTION_NAMES)[number];

export interface ProtectionHit {
  readonly protection: ProtectionName;
  /** Which signal, for the authorization's explanation. */
  readonly signal: string;
}

const numberOf = (features: RiskFeatures, name: string): number => {
  const value = features[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
};

/** The first protection the authorization trips, or undefined. */
export function trippedProtection(
  settings: ProtectionSettings,
  features: RiskFeatures,
): ProtectionHit | undefined {
  const testing = settings.card_testing;
  if (testing.enabled) {
    if (
      numberOf(features, 'merchant_new_cards_1h') >= testing.new_cards_at_merchant_1h &&
      features.first_time_merchant === true &&
      numberOf(features, 'amount') <= testing.small_amount
    ) {
      return { protection: 'card_testing', signal: 'many cards new to this merchant, small amounts' };
    }
    if (numberOf(features, 'card_declines_1h') >= testing.declines_on_card_1h) {
      return { protection: 'card_testing', signal: 'many declines on this card' };
    }
  }
  const burst = settings.burst;
  if (burst.enabled) {
    if (numberOf(features, 'card_count_1m') >= burst.per_card_1m) {
      return { protection: 'burst', signal: 'many authorizations on this card within a minute' };
    }
    if (numberOf(features, 'card_count_1h') >= burst.per_card_1h) {
      return { protection: 'burst', signal: 'many authorizations on this card within an hour' };
    }
  }
  return undefined;
}
