import { Type, type Static } from 'typebox';
import { isCountryCode } from '../platform/countries.js';
import { invalidRequest } from '../platform/errors.js';

/**
 * Spending controls, in Stripe Issuing's shape (DESIGN.md): limits per interval, optionally per set of categories,
 * and allowed or blocked merchant categories (4-digit MCCs) and countries (ISO 3166 alpha-2). They apply to a card
 * and, on a cardholder, to all of the cardholder's cards together. Amounts are minor units of the card's currency.
 */
export const SPENDING_LIMIT_INTERVALS = [
  'per_authorization',
  'daily',
  'weekly',
  'monthly',
  'yearly',
  'all_time',
] as const;
export type SpendingLimitInterval = (typeof SPENDING_LIMIT_INTERVALS)[number];

const Mcc = Type.String({ pattern: '^[0-9]{4}$', description: 'A merchant category code: 4 digits' });
const Country = Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' });
export const SPENDING_LIMITS_MAX = 20;
const LIST_MAX = 500;

export const SpendingControlsSchema = Type.Object(
  {
    spending_limits: Type.Optional(
      Type.Array(
        Type.Object(
          {
            amount: Type.Integer({
              minimum: 1,
              maximum: Number.MAX_SAFE_INTEGER,
              description: 'Minor units',
            }),
            interval: Type.Unsafe<SpendingLimitInterval>({
              type: 'string',
              enum: [...SPENDING_LIMIT_INTERVALS],
            }),
            categories: Type.Optional(Type.Array(Mcc, { minItems: 1, maxItems: LIST_MAX })),
          },
          { additionalProperties: false },
        ),
        { maxItems: SPENDING_LIMITS_MAX },
      ),
    ),
    allowed_categories: Type.Optional(Type.Array(Mcc, { maxItems: LIST_MAX })),
    blocked_categories: Type.Optional(Type.Array(Mcc, { maxItems: LIST_MAX })),
    allowed_merchant_countries: Type.Optional(Type.Array(Country, { maxItems: LIST_MAX })),
    blocked_merchant_countries: Type.Optional(Type.Array(Country, { maxItems: LIST_MAX })),
  },
  { additionalProperties: false, title: 'SpendingControls' },
);

export type SpendingControls = Static<typeof SpendingControlsSchema>;

/** What a resource shows when no controls were set. */
export const NO_SPENDING_CONTROLS: SpendingControls = {
  spending_limits: [],
  allowed_categories: [],
  blocked_categories: [],
  allowed_merchant_countries: [],
  blocked_merchant_countries: [],
};

/**
 * The checks a schema cannot express: real countries, not both an allow list and a block list of one kind (as
 * Stripe refuses), and the same values once. Returns the controls in their full shape, lists sorted.
 */
export function normalizeSpendingControls(
  controls: SpendingControls | undefined,
  param = 'spending_controls',
): SpendingControls {
  if (controls === undefined) return NO_SPENDING_CONTROLS;
  for (const field of ['allowed_merchant_countries', 'blocked_merchant_countries'] as const) {
    (controls[field] ?? []).forEach((country, index) => {
      if (!isCountryCode(country)) {
        throw invalidRequest(
          'country_invalid',
          `${country} is not an ISO 3166-1 alpha-2 country code`,
          `${param}[${field}][${index}]`,
        );
      }
    });
  }
  for (const [allowed, blocked] of [
    ['allowed_categories', 'blocked_categories'],
    ['allowed_merchant_countries', 'blocked_merchant_countries'],
  ] as const) {
    if ((controls[allowed]?.length ?? 0) > 0 && (controls[blocked]?.length ?? 0) > 0) {
      throw invalidRequest(
        'spending_controls_conflict',
        `Give ${allowed} or ${blocked}, not both`,
        `${param}[${blocked}]`,
      );
    }
  }
  const unique = (values: readonly string[] | undefined) => [...new Set(values ?? [])].sort();
  return {
    spending_limits: (controls.spending_limits ?? []).map((limit) => ({
      amount: limit.amount,
      interval: limit.interval,
      ...(limit.categories === undefined ? {} : { categories: unique(limit.categories) }),
    })),
    allowed_categories: unique(controls.allowed_categories),
    blocked_categories: unique(controls.blocked_categories),
    allowed_merchant_countries: unique(controls.allowed_merchant_countries),
    blocked_merchant_countries: unique(controls.blocked_merchant_countries),
  };
}
