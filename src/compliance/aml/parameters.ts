/**
 * The AML scenarios' parameters, as data: one TypeBox schema per scenario (the shape a programme's settings are
 * stored and shown in) and the defaults a programme starts from. `parseScenarioSettings` checks what a programme
 * sends, refusing an unknown scenario or parameter and any value out of range with an error that names the path
 * (`structuring[thresholds][HKD][1]`), and merges what it gives over the defaults (or over the programme's current
 * settings).
 *
 * Units are in the names: windows in whole hours, shares in whole percent, amounts in integer minor units of the
 * currency they are listed under. A rule's amounts are per currency, and a cardholder's activity is added up across
 * all their wallets whatever their currencies: an amount in a currency the rule names is watched in that currency,
 * and one in any other currency is watched in the programme's `reporting_currency`, converted at the rate of its
 * time (the monitor converts; an amount with no rate to convert it at is watched only where its own currency is
 * named). AMLO's thresholds are "HKD 8,000 or its equivalent in any other currency": naming HKD alone, as the
 * defaults do, adds every currency together in HKD; naming USD as well watches USD apart. The defaults are for Hong
 * Kong dollars (DESIGN.md's reference facts):
 *
 * - structuring watches for amounts just under AMLO's thresholds: HKD 8,000 (wire transfers) and HKD 120,000
 *   (occasional transactions), linked transactions counted together;
 * - tier-limit probing reads the cardholder's KYC tier caps (`CardholderActivity.caps`), never a fixed figure;
 * - the counts and windows were set against the benign population of `npm run bench -- aml` (the risk model's
 *   generator, every alert a false positive there): each scenario at most a few alerts per 1,000 cardholders a
 *   month, and the most sensitive setting that stays so. The figures behind each choice are beside it.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { invalidRequest } from '../../platform/errors.js';
import { isCurrencyCode } from '../../platform/money.js';
import { isRecord } from '../../platform/records.js';

export const SCENARIOS = [
  'structuring',
  'tier_limit_probing',
  'rapid_movement',
  'card_rotation',
  'shared_device',
  'capture_abuse',
  'cross_border',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** A window may look back at most half a year: its activity is read twice as far back (scenarios.ts). */
export const WINDOW_HOURS_MAX = 4_392;
export const COUNT_MAX = 1_000;
/** Currencies a per-currency parameter may list, and reporting thresholds per currency. */
export const CURRENCIES_MAX = 20;
export const THRESHOLDS_MAX = 5;
const AMOUNT_MAX = Number.MAX_SAFE_INTEGER;

const Enabled = Type.Boolean({ description: 'Whether the scenario runs' });

const Hours = (description: string) =>
  Type.Integer({ minimum: 1, maximum: WINDOW_HOURS_MAX, description: `${description}, whole hours` });

const Count = (description: string, minimum = 1) =>
  Type.Integer({ minimum, maximum: COUNT_MAX, description });

const Percent = (description: string, minimum: number, maximum: number) =>
  Type.Integer({ minimum, maximum, description: `${description}, whole percent` });

const Amount = Type.Integer({ minimum: 1, maximum: AMOUNT_MAX, description: 'Minor units' });

/** Written out rather than with Type.Record, whose key pattern lets other keys through unchecked. */
const ByCurrency = <T extends TSchema>(value: T, description: string) =>
  Type.Unsafe<Record<string, Static<T>>>({
    type: 'object',
    propertyNames: { pattern: '^[A-Z]{3}$' },
    additionalProperties: value,
    maxProperties: CURRENCIES_MAX,
    description: `${description}, by currency (ISO 4217)`,
  });

const Thresholds = Type.Array(Amount, { maxItems: THRESHOLDS_MAX });

export const StructuringSchema = Type.Object(
  {
    enabled: Enabled,
    thresholds: ByCurrency(
      Thresholds,
      'Reporting thresholds in minor units (an empty list: none in that currency)',
    ),
    margin_percent: Percent('How far under a threshold counts as just under it', 1, 50),
    count_min: Count('Loads (or payments) just under one threshold within the window that raise a hit', 2),
    window_hours: Hours('The window for just-under amounts'),
    linked_part_percent_min: Percent(
      'The smallest part of a threshold that counts as a linked amount',
      1,
      99,
    ),
    linked_count_min: Count('Linked amounts (each under the threshold) that together reach it', 2),
    linked_window_hours: Hours('The window within which amounts are linked'),
  },
  { additionalProperties: false },
);

export const TierLimitProbingSchema = Type.Object(
  {
    enabled: Enabled,
    balance_percent_min: Percent(
      "A load that brings a wallet's balance to this share of max_balance",
      1,
      100,
    ),
    balance_count_min: Count('Loads near max_balance within the window that raise a hit'),
    yearly_percent_min: Percent(
      "A load after which the year's loads reach this share of max_loads_per_year",
      1,
      100,
    ),
    yearly_count_min: Count('Loads near max_loads_per_year within the window that raise a hit'),
    refused_count_min: Count("Loads refused at the tier's caps within the window that raise a hit"),
    window_hours: Hours('The window'),
  },
  { additionalProperties: false },
);

export const RapidMovementSchema = Type.Object(
  {
    enabled: Enabled,
    movement_window_hours: Hours('How soon after a load spending or unloading it counts as moving it on'),
    moved_percent_min: Percent('The share of a load spent or unloaded that moves it on', 1, 100),
    load_amount_min: ByCurrency(Amount, 'The smallest load watched, minor units'),
    count_min: Count('Loads moved on within the window that raise a hit'),
    window_hours: Hours('The window for repeated movement'),
    load_amount_large: ByCurrency(Amount, 'A load this large moved on raises a hit by itself, minor units'),
  },
  { additionalProperties: false },
);

export const CardRotationSchema = Type.Object(
  {
    enabled: Enabled,
    window_hours: Hours('The window'),
    created_count_min: Count('Cards created within the window that raise a hit', 2),
    closed_count_min: Count('Cards closed within the window that raise a hit', 2),
    used_cards_min: Count('Distinct cards used within the window that raise a hit', 2),
  },
  { additionalProperties: false },
);

export const SharedDeviceSchema = Type.Object(
  {
    enabled: Enabled,
    window_hours: Hours('The window'),
    cardholders_min: Count('Distinct cardholders of the programme on one device that raise a hit', 2),
    ip_cardholders_min: Count(
      'Distinct cardholders of the programme on one IP address (when no device was given) that raise a hit',
      2,
    ),
    ip_cardholders_max: Count(
      'More distinct cardholders than this on one IP address within the lookback make it a public gateway (a carrier NAT): no hit',
      2,
    ),
  },
  { additionalProperties: false },
);

export const CaptureAbuseSchema = Type.Object(
  {
    enabled: Enabled,
    window_hours: Hours('The window'),
    late_clearing_count_min: Count('Clearings after their hold expired within the window that raise a hit'),
    over_capture_percent_min: Percent(
      'How far above its authorization a capture counts as far above',
      1,
      1_000,
    ),
    over_capture_count_min: Count(
      'Captures far above their authorization within the window that raise a hit',
    ),
    force_post_count_min: Count('Force posts within the window that raise a hit'),
  },
  { additionalProperties: false },
);

export const CrossBorderSchema = Type.Object(
  {
    enabled: Enabled,
    window_hours: Hours('The window'),
    foreign_count_min: Count("Payments at merchants outside the programme's home country that raise a hit"),
    countries_min: Count('Distinct foreign countries those payments must span'),
    foreign_share_percent_min: Percent('The share of all spending made abroad that raises a hit', 1, 100),
    foreign_amount_min: ByCurrency(Amount, 'The least foreign spending for the share to count, minor units'),
  },
  { additionalProperties: false },
);

const ReportingCurrency = Type.String({
  pattern: '^[A-Z]{3}$',
  description:
    "The currency a rule watches an amount in when the rule names no amount in the amount's own currency (ISO 4217)",
});

export const ScenarioSettingsSchema = Type.Object(
  {
    reporting_currency: ReportingCurrency,
    structuring: StructuringSchema,
    tier_limit_probing: TierLimitProbingSchema,
    rapid_movement: RapidMovementSchema,
    card_rotation: CardRotationSchema,
    shared_device: SharedDeviceSchema,
    capture_abuse: CaptureAbuseSchema,
    cross_border: CrossBorderSchema,
  },
  { additionalProperties: false, title: 'AmlScenarioSettings' },
);

type DeepReadonly<T> = T extends readonly (infer Item)[]
  ? readonly DeepReadonly<Item>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** A programme's settings for every scenario, whole (parsed and merged over the defaults). */
export type ScenarioSettings = DeepReadonly<Static<typeof ScenarioSettingsSchema>>;

const HOURS_PER_DAY = 24;

export const DEFAULT_SCENARIO_SETTINGS: ScenarioSettings = {
  // A Hong Kong SVF licensee's (DESIGN.md): AMLO and the JFIU count in Hong Kong dollars.
  reporting_currency: 'HKD',
  structuring: {
    enabled: true,
    // AMLO (Cap. 615): wire transfers of HKD 8,000 or more, occasional transactions of HKD 120,000 or more.
    thresholds: { HKD: [8_000_00, 120_000_00] },
    // HKD 7,200 to 7,999.99 is just under HKD 8,000: the band people split into.
    margin_percent: 10,
    // Two amounts just under a threshold happen; three in a week is a pattern.
    count_min: 3,
    window_hours: 7 * HOURS_PER_DAY,
    // HKD 8,000 split in three or more (each at least HKD 3,200) within a day, as AMLO counts linked transactions.
    // Two parts (linked_count_min 2) raised 47 alerts per 1,000 cardholders a month on a population of 2,000 from
    // the bench's generator, from two large top-ups or purchases on one day; three, 2.5.
    linked_part_percent_min: 40,
    linked_count_min: 3,
    linked_window_hours: HOURS_PER_DAY,
  },
  tier_limit_probing: {
    enabled: true,
    // Top-ups in round amounts when the balance runs low rarely land within 5% of the cap; aiming at it does, and
    // three times in a month is aiming.
    balance_percent_min: 95,
    balance_count_min: 3,
    // The last tenth of the year's allowance, reached again and again: loading up to the tier instead of verifying.
    yearly_percent_min: 90,
    yearly_count_min: 3,
    // A top-up refused once is a misjudged balance; a third refusal in a month is feeling for the cap.
    refused_count_min: 3,
    window_hours: 30 * HOURS_PER_DAY,
  },
  rapid_movement: {
    enabled: true,
    movement_window_hours: HOURS_PER_DAY,
    moved_percent_min: 90,
    // Below this a load is the everyday top-up of a prepaid card, spent soon by design.
    load_amount_min: { HKD: 5_000_00 },
    count_min: 3,
    window_hours: 30 * HOURS_PER_DAY,
    // A quarter of the verified tier's balance cap passed straight through (the bench's heaviest spenders do it:
    // about 2 alerts per 1,000 cardholders a month).
    load_amount_large: { HKD: 50_000_00 },
  },
  card_rotation: {
    enabled: true,
    window_hours: 7 * HOURS_PER_DAY,
    created_count_min: 5,
    closed_count_min: 5,
    used_cards_min: 5,
  },
  shared_device: {
    enabled: true,
    window_hours: 7 * HOURS_PER_DAY,
    // A household shares a tablet; four people of one programme on one device in a week rarely do.
    cardholders_min: 4,
    // An IP address is shared far more innocently: offices, campuses and homes put several people behind one, so
    // ten in a week; a mobile carrier's NAT puts thousands, so one that more than 50 of the programme's cardholders
    // used within the lookback is a gateway and raises nothing (the bench's carrier addresses: 41 to 367 a week).
    ip_cardholders_min: 10,
    ip_cardholders_max: 50,
  },
  capture_abuse: {
    enabled: true,
    window_hours: 30 * HOURS_PER_DAY,
    // One late presentment is a merchant's delay; a second within a month is a pattern.
    late_clearing_count_min: 2,
    // Restaurants may capture up to 20% above; half as much again is far above any tolerance.
    over_capture_percent_min: 50,
    over_capture_count_min: 2,
    force_post_count_min: 3,
  },
  cross_border: {
    enabled: true,
    window_hours: 7 * HOURS_PER_DAY,
    // Online merchants are often acquired abroad: ordinary online shoppers pay in four to six countries a week (on a
    // population of 2,000 from the bench's generator, 10 payments in 4 countries raised 116 alerts per 1,000 a
    // month, 20 in 6 raised 7.7, 20 in 7 raised 0.9).
    foreign_count_min: 20,
    countries_min: 7,
    // A cardholder living abroad spends most of their money there: what stands out is a large sum.
    foreign_share_percent_min: 90,
    foreign_amount_min: { HKD: 50_000_00 },
  },
};

// ---- Checking a programme's settings ----

const SCHEMAS: Readonly<Record<ScenarioName, { readonly properties: Readonly<Record<string, TSchema>> }>> = {
  structuring: StructuringSchema,
  tier_limit_probing: TierLimitProbingSchema,
  rapid_movement: RapidMovementSchema,
  card_rotation: CardRotationSchema,
  shared_device: SharedDeviceSchema,
  capture_abuse: CaptureAbuseSchema,
  cross_border: CrossBorderSchema,
};

/** The parts of JSON Schema the parameters use, read from the TypeBox schemas. */
interface SchemaView {
  readonly type?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly maxItems?: number;
  readonly maxProperties?: number;
  readonly items?: SchemaView;
  readonly additionalProperties?: SchemaView;
}

const isScenario = (name: string): name is ScenarioName => (SCENARIOS as readonly string[]).includes(name);

const describe = (value: unknown): string =>
  typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : typeof value === 'string'
      ? `the text ${JSON.stringify(value.slice(0, 40))}`
      : Array.isArray(value)
        ? 'a list'
        : value === null
          ? 'null'
          : `a ${typeof value}`;

const count = (n: number): string => n.toLocaleString('en-US');

function refuse(message: string, param?: string): never {
  throw invalidRequest('scenario_parameter_invalid', message, param);
}

/** Throws the first thing wrong with `value` as the parameter at `path` (its schema is `schema`). */
function checkValue(schema: SchemaView, value: unknown, path: string): void {
  switch (schema.type) {
    case 'boolean':
      if (typeof value !== 'boolean') refuse(`${path} must be true or false, not ${describe(value)}`, path);
      return;
    case 'integer': {
      const minimum = schema.minimum ?? 0;
      const maximum = schema.maximum ?? AMOUNT_MAX;
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum || value > maximum) {
        refuse(
          `${path} must be a whole number from ${count(minimum)} to ${count(maximum)}, not ${describe(value)}`,
          path,
        );
      }
      return;
    }
    case 'array': {
      const itemsMax = schema.maxItems ?? 0;
      if (!Array.isArray(value) || value.length > itemsMax) {
        refuse(`${path} must be a list of at most ${count(itemsMax)} amounts, not ${describe(value)}`, path);
      }
      const items = schema.items;
      if (items === undefined) throw new Error(`${path}: a list parameter without an item schema`);
      (value as unknown[]).forEach((item, index) => checkValue(items, item, `${path}[${index}]`));
      return;
    }
    case 'object': {
      const entriesMax = schema.maxProperties ?? 0;
      if (!isRecord(value))
        refuse(`${path} must be an object by currency (ISO 4217), not ${describe(value)}`, path);
      const entries = Object.entries(value);
      if (entries.length > entriesMax)
        refuse(`${path} may name at most ${count(entriesMax)} currencies`, path);
      const each = schema.additionalProperties;
      if (each === undefined) throw new Error(`${path}: a currency map without a value schema`);
      for (const [currency, entry] of entries) {
        if (!isCurrencyCode(currency)) {
          refuse(
            `${path}[${currency}]: '${currency}' is not an ISO 4217 currency code`,
            `${path}[${currency}]`,
          );
        }
        // null takes the currency out of the map: the rule then leaves that currency alone.
        if (entry !== null) checkValue(each, entry, `${path}[${currency}]`);
      }
      return;
    }
    default:
      throw new Error(`${path}: parameters of type ${String(schema.type)} are not checked`);
  }
}

/** Thresholds once each, smallest first: the order they are given in means nothing. */
const tidyThresholds = (amounts: readonly number[]): number[] => [...new Set(amounts)].sort((a, b) => a - b);

/**
 * A given parameter over the current one. Maps by currency merge: a currency given replaces that currency only, and
 * one given as null is taken out.
 */
function merged(current: unknown, given: unknown, name: string): unknown {
  if (!isRecord(current) || !isRecord(given)) return given;
  const result = new Map(Object.entries(current));
  for (const [currency, value] of Object.entries(given)) {
    if (value === null) result.delete(currency);
    else
      result.set(
        currency,
        name === 'thresholds' && Array.isArray(value) ? tidyThresholds(value as number[]) : value,
      );
  }
  return Object.fromEntries(result);
}

/** Checks a programme's reporting currency (a string of an ISO 4217 code). */
function checkReportingCurrency(value: unknown): string {
  if (typeof value !== 'string' || !isCurrencyCode(value)) {
    refuse(
      `reporting_currency must be an ISO 4217 currency code, not ${describe(value)}`,
      'reporting_currency',
    );
  }
  return value;
}

/**
 * Checks scenario settings (parsed JSON) and returns them whole over `base`; `replaceMaps` takes a map by currency
 * as given (whole stored settings) instead of merging it into base's.
 */
function parseOver(input: unknown, base: ScenarioSettings, replaceMaps: boolean): ScenarioSettings {
  if (!isRecord(input)) {
    refuse(`Scenario settings are an object of scenarios (${SCENARIOS.join(', ')}), not ${describe(input)}`);
  }
  const result: Record<string, unknown> = { reporting_currency: base.reporting_currency };
  for (const scenario of SCENARIOS) result[scenario] = base[scenario];
  for (const [scenario, given] of Object.entries(input)) {
    if (scenario === 'reporting_currency') {
      result.reporting_currency = checkReportingCurrency(given);
      continue;
    }
    if (!isScenario(scenario)) {
      throw invalidRequest(
        'scenario_unknown',
        `There is no scenario '${scenario}'; the scenarios are ${SCENARIOS.join(', ')}`,
        scenario,
      );
    }
    if (!isRecord(given))
      refuse(`${scenario} must be an object of its parameters, not ${describe(given)}`, scenario);
    const properties = SCHEMAS[scenario].properties;
    const current: Record<string, unknown> = { ...base[scenario] };
    for (const [name, value] of Object.entries(given)) {
      const path = `${scenario}[${name}]`;
      const schema = Object.hasOwn(properties, name) ? properties[name] : undefined;
      if (schema === undefined) {
        refuse(
          `${scenario} has no parameter '${name}'; its parameters are ${Object.keys(properties).join(', ')}`,
          path,
        );
      }
      checkValue(schema, value, path);
      current[name] = merged(replaceMaps ? {} : current[name], value, name);
    }
    result[scenario] = current;
  }
  return result as unknown as ScenarioSettings;
}

/**
 * Checks a programme's change to its scenario settings (parsed JSON: `{ "structuring": { "window_hours": 72 }, … }`)
 * and returns the settings whole: each given parameter over `base` (the defaults unless the programme's current
 * settings are given), a map by currency merged currency by currency (null takes a currency out). Nothing is
 * coerced. Throws a 400 `scenario_unknown` for a scenario that does not exist and `scenario_parameter_invalid` for
 * anything else wrong, naming the path (`param`).
 */
export function parseScenarioSettings(
  input: unknown,
  base: ScenarioSettings = DEFAULT_SCENARIO_SETTINGS,
): ScenarioSettings {
  const settings = parseOver(input, base, false);
  checkTogether(settings);
  return settings;
}

/** The parameters by currency, each with its scenario's name: where the reporting currency must be named. */
const CURRENCY_MAPS: readonly { readonly scenario: ScenarioName; readonly name: string }[] = [
  { scenario: 'structuring', name: 'thresholds' },
  { scenario: 'rapid_movement', name: 'load_amount_min' },
  { scenario: 'rapid_movement', name: 'load_amount_large' },
  { scenario: 'cross_border', name: 'foreign_amount_min' },
];

/** What no single parameter's range can say: the parameters against each other. */
function checkTogether(settings: ScenarioSettings): void {
  const reporting = settings.reporting_currency;
  for (const { scenario, name } of CURRENCY_MAPS) {
    const byCurrency = (
      settings[scenario] as unknown as Readonly<Record<string, Readonly<Record<string, unknown>>>>
    )[name];
    const named = Object.keys(byCurrency ?? {});
    // Amounts in currencies a rule does not name are watched in the reporting currency: a rule that names some but
    // not that one would watch them nowhere.
    if (named.length > 0 && !named.includes(reporting)) {
      refuse(
        `${scenario}[${name}] names amounts in ${named.sort().join(', ')} but none in the reporting currency ` +
          `${reporting}: amounts in other currencies would be watched nowhere (give one in ${reporting}, or none at all)`,
        `${scenario}[${name}]`,
      );
    }
  }
  const shared = settings.shared_device;
  if (shared.ip_cardholders_max < shared.ip_cardholders_min) {
    refuse(
      `shared_device[ip_cardholders_max] (${String(shared.ip_cardholders_max)}) must be at least ` +
        `shared_device[ip_cardholders_min] (${String(shared.ip_cardholders_min)})`,
      'shared_device[ip_cardholders_max]',
    );
  }
}

/**
 * Reads settings stored whole (a version `parseScenarioSettings` made): each parameter as stored, so a currency
 * taken out stays out; only a parameter added to Lantau after the version was stored comes from the defaults.
 */
export function readStoredScenarioSettings(stored: unknown): ScenarioSettings {
  return parseOver(stored, DEFAULT_SCENARIO_SETTINGS, true);
}
