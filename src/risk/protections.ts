/**
 * Built-in protections: on for every programme unless it tunes them, run after the programme's own rules (so an
 * allow rule before them is an allowlist). Each declines with `suspected_fraud` (ISO 8583 59).
 *
 * - Card testing: a fraudster with a list of stolen numbers tries each for a small amount at one merchant to find
 *   the live ones, or keeps trying one card until something passes. Seen as many cards new to one merchant in an
 *   hour, three times or more its usual hourly number over the day, with this one small and card-not-present
 *   (e-commerce or keyed); or as many declines on one card in an hour.
 * - Burst: many authorizations on one card within a minute or an hour, faster than a person shops.
 */
import { LantauError, invalidRequest } from '../platform/errors.js';
import type { RiskFeatures } from './features.js';
import { MAX_HOLDER_EVENTS } from './holder-state.js';
import { isRecord } from '../platform/records.js';

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

/**
 * A tester has numbers, not cards: the merchant pattern is looked for where no card is present. A transit gate or a
 * convenience store sees many cards new to it, each paying a little, tapped by their owners.
 */
const CARD_NOT_PRESENT: ReadonlySet<string> = new Set(['ecommerce', 'keyed']);

/** How many times its usual hourly number of new cards a merchant's hour must be to look like testing. */
const SPIKE_FACTOR = 3;

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
    const newCards = numberOf(features, 'merchant_new_cards_1h');
    // The hour against the merchant's usual: an app store sees our cards for the first time all day long, a
    // tester's merchant all at once. Over the 23 hours before this one, its hourly average of new cards.
    const usualNewCards = Math.max(0, numberOf(features, 'merchant_new_cards_24h') - newCards) / 23;
    if (
      newCards >= testing.new_cards_at_merchant_1h &&
      newCards >= SPIKE_FACTOR * usualNewCards &&
      features.first_time_merchant === true &&
      numberOf(features, 'amount') <= testing.small_amount &&
      CARD_NOT_PRESENT.has(String(features.entry_mode))
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

const SETTING_MAX = 1_000_000;
const AMOUNT_MAX = Number.MAX_SAFE_INTEGER;

/**
 * Each protection's numeric settings and the largest value each takes. A card's counts come from its cardholder's
 * risk state, which keeps their last 512 authorizations in the week: a per-card threshold above that could never
 * be reached, and would be a protection silently off.
 */
const NUMERIC_SETTINGS = {
  card_testing: {
    new_cards_at_merchant_1h: SETTING_MAX,
    small_amount: AMOUNT_MAX,
    declines_on_card_1h: MAX_HOLDER_EVENTS,
  },
  burst: { per_card_1m: MAX_HOLDER_EVENTS, per_card_1h: MAX_HOLDER_EVENTS },
} as const;

/**
 * A programme's change to its protections, over what it has now (`current`): any protection and any of its
 * settings may be left out, and keeps its value. Every setting is a whole number of at least 1 (a threshold of 0
 * would decline everything; turn the protection off instead). Refused whole, naming the setting, when any part is
 * wrong.
 */
export function parseProtectionSettings(
  input: unknown,
  current: ProtectionSettings = DEFAULT_PROTECTIONS,
): ProtectionSettings | LantauError {
  if (!isRecord(input)) return invalidRequest('protections_invalid', 'Protections are a JSON object');
  const result: {
    -readonly [K in ProtectionName]: {
      -readonly [S in keyof ProtectionSettings[K]]: ProtectionSettings[K][S];
    };
  } = {
    card_testing: { ...current.card_testing },
    burst: { ...current.burst },
  };

  for (const [name, given] of Object.entries(input)) {
    if (!(PROTECTION_NAMES as readonly string[]).includes(name)) {
      return invalidRequest(
        'protections_invalid',
        `Unknown protection '${name}': one of ${PROTECTION_NAMES.join(', ')}`,
        name,
      );
    }
    const protection = name as ProtectionName;
    if (!isRecord(given)) return invalidRequest('protections_invalid', `${name} is a JSON object`, name);
    const limits: Readonly<Record<string, number>> = NUMERIC_SETTINGS[protection];
    const target: Record<string, number | boolean> = result[protection];
    for (const [setting, value] of Object.entries(given)) {
      const param = `${name}.${setting}`;
      if (setting === 'enabled') {
        if (typeof value !== 'boolean')
          return invalidRequest('protections_invalid', `${param} is true or false`, param);
        target.enabled = value;
        continue;
      }
      const max = Object.hasOwn(limits, setting) ? limits[setting] : undefined;
      if (max === undefined) {
        return invalidRequest(
          'protections_invalid',
          `${name} has no setting '${setting}': enabled, ${Object.keys(limits).join(', ')}`,
          param,
        );
      }
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
        return invalidRequest(
          'protections_invalid',
          `${param} is a whole number from 1 to ${String(max)}`,
          param,
        );
      }
      target[setting] = value;
    }
  }
  return result;
}

/** What is stored (`programs.risk_protections`) as settings; NULL, or anything unreadable, is the defaults. */
export function storedProtections(stored: unknown): ProtectionSettings {
  if (stored === null || stored === undefined) return DEFAULT_PROTECTIONS;
  const parsed = parseProtectionSettings(stored);
  return parsed instanceof LantauError ? DEFAULT_PROTECTIONS : parsed;
}
