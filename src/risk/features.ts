/**
 * The features risk decides on: what rules test and what the model scores. One catalogue names each feature, its
 * kind and what it means, so rule validation, the model's input vector, the transaction generator the model is
 * trained on and the engine that computes them in production all agree. Every count and amount is of what came
 * BEFORE the authorization being decided (it does not count itself), over a window that ends at its time.
 *
 * The windowed features are a full grid: for each scope (`card`; `cardholder`, all of their cards; `merchant`, the
 * acceptor, every card; `device`, the device fingerprint or IP address, every card) and each window (`1m`, `1h`,
 * `24h`, `7d`), `${scope}_count_${window}`, `${scope}_amount_${window}` and `${scope}_declines_${window}`; and
 * `merchant_new_cards_1h` and `merchant_new_cards_24h`.
 *
 * The definitions in full, which the reference computation (feature-tracker.ts) implements and any other
 * computation must match:
 * - A window of length W for an authorization at time t holds the earlier authorizations at times s with
 *   t - W < s <= t: of two in the same millisecond, the first counts for the second.
 * - `*_count_*` counts approved and declined authorizations; `*_amount_*` sums the amounts asked of approved ones
 *   (card currency minor units); `*_declines_*` counts declined ones.
 * - `merchant_new_cards_*` counts the merchant's authorizations in the window that were their card's first there.
 * - `first_time_merchant`, `country_changed` and `impossible_travel` look at the card's history, approved or
 *   declined: a declined attempt still says where the card, or a copy of it, was.
 * - `impossible_travel` follows travel.ts: card present (contactless, chip or magstripe) in a country other than
 *   that of the card's previous card-present authorization, sooner than the minimum travel time between the two.
 * - `minutes_since_last` is fractional; every `device_*` feature is missing when the authorization carries no
 *   device or IP address (no device is not a device never seen); `local_hour` is Hong Kong's (UTC+8), the zone the
 *   model was trained in.
 */

/** The windows counts and amounts are kept over. */
export const WINDOWS = ['1m', '1h', '24h', '7d'] as const;
export type FeatureWindow = (typeof WINDOWS)[number];
export const WINDOW_MS: Readonly<Record<FeatureWindow, number>> = {
  '1m': 60_000,
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 604_800_000,
};

/** How an authorization was presented, as the model encodes it (the index is its value). */
export const ENTRY_MODE_CODES = ['ecommerce', 'contactless', 'chip', 'magstripe', 'keyed'] as const;

/** Merchant category risk classes, as the model encodes them (the index is its value). */
export const MCC_RISK_CLASSES = ['low', 'medium', 'high'] as const;
export type MccRiskClass = (typeof MCC_RISK_CLASSES)[number];

/**
 * Categories where fraud concentrates (cash-like value, resale, remote goods), by the schemes' and acquirers'
 * common high-risk lists: money transfer and quasi-cash (4829, 6051, 6540), gambling and lotteries (7995, 7800,
 * 7801, 7802), dating and escort (7273), inbound telemarketing and direct marketing (5962, 5966, 5967), digital
 * goods and games (5815, 5816, 5817, 5818), crypto and securities brokers (6211).
 */
const HIGH_RISK_MCCS = new Set([
  '4829',
  '5815',
  '5816',
  '5817',
  '5818',
  '5962',
  '5966',
  '5967',
  '6051',
  '6211',
  '6540',
  '7273',
  '7800',
  '7801',
  '7802',
  '7995',
]);

/** Easily resold goods and travel, bought with stolen cards more than most: electronics, jewellery, airlines, travel. */
const MEDIUM_RISK_MCCS = new Set(['4722', '4511', '5045', '5732', '5734', '5944', '5945', '5947', '7011']);

export function mccRiskClass(mcc: string): MccRiskClass {
  if (HIGH_RISK_MCCS.has(mcc)) return 'high';
  if (MEDIUM_RISK_MCCS.has(mcc)) return 'medium';
  return 'low';
}

export type FeatureKind = 'number' | 'boolean' | 'category';

export interface FeatureDefinition {
  readonly name: string;
  readonly kind: FeatureKind;
  /** For a category: its values; the model encodes each as its index here. */
  readonly values?: readonly string[];
  readonly description: string;
}

/** Whose authorizations a windowed feature counts. */
export const FEATURE_SCOPES = ['card', 'cardholder', 'merchant', 'device'] as const;
export type FeatureScope = (typeof FEATURE_SCOPES)[number];

/** What a windowed feature measures over its scope's authorizations in the window. */
export const FEATURE_MEASURES = ['count', 'amount', 'declines'] as const;
export type FeatureMeasure = (typeof FEATURE_MEASURES)[number];

/** The name of a grid feature: `${scope}_${measure}_${window}`, e.g. `card_count_1h`. */
export function windowedFeatureName(
  scope: FeatureScope,
  measure: FeatureMeasure,
  window: FeatureWindow,
): string {
  return `${scope}_${measure}_${window}`;
}

const SCOPE_TEXT: Readonly<Record<FeatureScope, string>> = {
  card: 'This card',
  cardholder: "All of the cardholder's cards",
  merchant: 'This merchant (acceptor), every card',
  device: 'This device or IP address, every card',
};

const MEASURE_TEXT: Readonly<Record<FeatureMeasure, string>> = {
  count: 'authorizations (approved or declined)',
  amount: 'approved amounts',
  declines: 'declined authorizations',
};

const WINDOW_TEXT: Readonly<Record<FeatureWindow, string>> = {
  '1m': 'minute',
  '1h': 'hour',
  '24h': '24 hours',
  '7d': '7 days',
};

/** What follows the window in a description, by measure and scope. */
function descriptionNotes(scope: FeatureScope, measure: FeatureMeasure): string {
  const units = measure === 'amount' ? ' (as asked, card currency minor units)' : '';
  const device = scope === 'device' ? '; missing when the authorization carries no device or IP address' : '';
  return `${units}${device}`;
}

function windowed(scope: FeatureScope, measure: FeatureMeasure, window: FeatureWindow): FeatureDefinition {
  return {
    name: windowedFeatureName(scope, measure, window),
    kind: 'number',
    description: `${SCOPE_TEXT[scope]}: ${MEASURE_TEXT[measure]} in the last ${WINDOW_TEXT[window]}${descriptionNotes(scope, measure)}`,
  };
}

/** Each scope's count, amount and declines over each window: by scope, then measure, then window. */
const WINDOWED_FEATURES: readonly FeatureDefinition[] = FEATURE_SCOPES.flatMap((scope) =>
  FEATURE_MEASURES.flatMap((measure) => WINDOWS.map((window) => windowed(scope, measure, window))),
);

/** The windows `merchant_new_cards_*` is kept over. */
export const NEW_CARD_WINDOWS = ['1h', '24h'] as const satisfies readonly FeatureWindow[];

const NEW_CARD_FEATURES: readonly FeatureDefinition[] = NEW_CARD_WINDOWS.map((window) => ({
  name: `merchant_new_cards_${window}`,
  kind: 'number',
  description: `This merchant (acceptor): authorizations in the last ${WINDOW_TEXT[window]} that were their card's first there`,
}));

/**
 * The catalogue, in the order of the model's input vector: the amount and its ratio; the grid (card, cardholder,
 * merchant, device; within each, counts, amounts, declines; within each, 1m, 1h, 24h, 7d); the merchant's new
 * cards; then the card's history and the authorization's context.
 */
export const FEATURES: readonly FeatureDefinition[] = [
  { name: 'amount', kind: 'number', description: 'The amount asked, card currency minor units' },
  {
    name: 'amount_ratio',
    kind: 'number',
    description:
      "The amount against the cardholder's average approved amount over 7 days (1 with no history there)",
  },
  ...WINDOWED_FEATURES,
  ...NEW_CARD_FEATURES,
  {
    name: 'minutes_since_last',
    kind: 'number',
    description: "Minutes since the card's previous authorization (10,080, a week, when there was none)",
  },
  {
    name: 'first_time_merchant',
    kind: 'boolean',
    description: 'The card has had no authorization at this merchant before',
  },
  {
    name: 'mcc_risk_class',
    kind: 'category',
    values: MCC_RISK_CLASSES,
    description: "The merchant category's risk class",
  },
  {
    name: 'foreign_merchant',
    kind: 'boolean',
    description: "The merchant's country is not the cardholder's",
  },
  {
    name: 'country_changed',
    kind: 'boolean',
    description: "The merchant's country is not that of the card's previous authorization",
  },
  {
    name: 'impossible_travel',
    kind: 'boolean',
    description:
      'Card present in a different country from the previous card-present authorization, sooner than travel allows',
  },
  {
    name: 'entry_mode',
    kind: 'category',
    values: ENTRY_MODE_CODES,
    description: 'How the card was presented',
  },
  {
    name: 'local_hour',
    kind: 'number',
    description: 'The hour of the day (0-23) in Hong Kong (UTC+8)',
  },
];

export const FEATURE_NAMES: readonly string[] = FEATURES.map((feature) => feature.name);

/** One authorization's features, by name: numbers, booleans and category values as the catalogue says. */
export type RiskFeatures = Readonly<Record<string, number | boolean | string>>;

const FEATURE_BY_NAME = new Map(FEATURES.map((feature) => [feature.name, feature]));

export function featureDefinition(name: string): FeatureDefinition | undefined {
  return FEATURE_BY_NAME.get(name);
}

/**
 * The model's input: every feature in catalogue order as a number (booleans 0 or 1, a category its index). A
 * missing or mistyped feature is NaN, which the model sends down each split's "missing" branch.
 */
export function featureVector(features: RiskFeatures): Float64Array {
  const vector = new Float64Array(FEATURES.length);
  FEATURES.forEach((feature, index) => {
    const value = features[feature.name];
    if (feature.kind === 'number') vector[index] = typeof value === 'number' ? value : NaN;
    else if (feature.kind === 'boolean') vector[index] = typeof value === 'boolean' ? Number(value) : NaN;
    else {
      const position = typeof value === 'string' ? (feature.values ?? []).indexOf(value) : -1;
      vector[index] = position >= 0 ? position : NaN;
    }
  });
  return vector;
}
