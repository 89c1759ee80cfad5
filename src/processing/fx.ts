import type { Actor } from '../issuing/programs.js';
import type { Queryable, QueryResult, SqlParam, Transaction } from '../platform/db/database.js';
import { LantauError, invalidRequest } from '../platform/errors.js';
import { findCurrency, type Currency } from '../platform/money.js';
import { appendAudit } from '../records/audit.js';
import type { RecordsContext } from '../records/outbox.js';

/**
 * Foreign exchange for authorizations in a currency other than the card's (DESIGN.md, "Conventions"): `rate` is
 * card-currency units per ONE merchant-currency unit, a decimal string; the card amount is the merchant amount ×
 * rate × (1 + markup_bps / 10,000), rounded half-up to the card currency's minor unit. All of it in BigInt: a
 * float cannot hold 0.1, and money that is off by a cent once in a million conversions is still wrong.
 */

/**
 * A rate as stored and accepted: digits, an optional point and 1 to 12 digits after it; no sign, exponent,
 * leading zeros or spaces. At most 9 digits before the point (below 1,000,000,000: the largest real cross rates,
 * such as Iranian rials per Kuwaiti dinar, are in the millions) and 12 after it (the smallest, the inverse, are
 * around 10^-7, which keeps 5 or more significant digits). Zero is refused separately.
 */
export const RATE_PATTERN_SOURCE = '^(0|[1-9][0-9]{0,8})(\\.[0-9]{1,12})?$';
const RATE_PATTERN = new RegExp(RATE_PATTERN_SOURCE);
export const RATE_FRACTION_DIGITS_MAX = 12;

/** The programme's markup is from 0 to 10,000 basis points (0 to 100 %), as programs.fx_markup_bps allows. */
export const MARKUP_BPS_MAX = 10_000;
const BPS_PER_UNIT = 10_000n;

/** A source names where a rate came from: `ecb`, `operator`, a provider. `identity` is kept for same-currency. */
export const SOURCE_PATTERN_SOURCE = '^[a-z][a-z0-9_]{0,31}$';
const SOURCE_PATTERN = new RegExp(SOURCE_PATTERN_SOURCE);
export const IDENTITY_SOURCE = 'identity';

/** valid_from may be back-dated (to record a rate late) but not before 1970, nor more than a year ahead. */
const VALID_FROM_MIN_MS = 0;
const VALID_FROM_AHEAD_MAX_MS = 366 * 24 * 60 * 60 * 1000;

/**
 * The canonical text of a rate, without trailing zeros after the point ("7.81250" is "7.8125", "2.0" is "2"),
 * or undefined when the text is not a positive rate of the accepted shape.
 */
export function normaliseRate(text: string): string | undefined {
  const match = RATE_PATTERN.exec(text);
  if (match === null) return undefined;
  const integer = match[1] ?? '';
  const fraction = (match[2] ?? '').slice(1).replace(/0+$/, '');
  if (integer === '0' && fraction === '') return undefined;
  return fraction === '' ? integer : `${integer}.${fraction}`;
}

/** A rate as an exact fraction: `units / 10^scale`. */
interface ExactRate {
  readonly units: bigint;
  readonly scale: number;
}

function exactRate(text: string): ExactRate {
  const normal = normaliseRate(text);
  if (normal === undefined) {
    throw new RangeError(`rate ${JSON.stringify(text)} is not a positive decimal of the accepted shape`);
  }
  const [integer = '', fraction = ''] = normal.split('.');
  return { units: BigInt(integer + fraction), scale: fraction.length };
}

function currencyOf(code: string, what: string): Currency {
  const currency = findCurrency(code);
  if (currency === undefined) throw new RangeError(`${what} ${JSON.stringify(code)} is not an ISO 4217 code`);
  return currency;
}

function checkMarkupBps(markupBps: number): void {
  if (!Number.isInteger(markupBps) || markupBps < 0 || markupBps > MARKUP_BPS_MAX) {
    throw new RangeError(`markupBps ${markupBps} must be an integer from 0 to ${MARKUP_BPS_MAX}`);
  }
}

export interface ConversionInput {
  /** Minor units of the merchant's currency: a safe integer, 0 or more. */
  readonly merchantAmount: number;
  readonly merchantCurrency: string;
  readonly cardCurrency: string;
  /** Card-currency units per one merchant-currency unit, as a decimal string. */
  readonly rate: string;
  readonly markupBps: number;
}

/**
 * The card amount, in minor units of the card's currency, for a merchant amount. Pure and exact:
 *
 *   card_minor = merchant_minor / 10^e_merchant × rate × (10,000 + markup_bps) / 10,000 × 10^e_card
 *
 * With rate = units / 10^scale that is N / D for the integers N = merchant_minor × units × (10,000 + markup_bps)
 * × 10^e_card and D = 10^(e_merchant + scale) × 10,000. The quotient is taken in BigInt and rounded half-up
 * (a remainder of half of D or more rounds up, so 78.5 is 79 and 78.4999 is 78); every input is checked, and a
 * result beyond Number.MAX_SAFE_INTEGER is refused with a RangeError rather than rounded by a float.
 */
/**
 * A `.catch` (or catch block) for conversions whose currencies and rate are known good: the one failure left is an
 * amount that converts beyond the largest safe integer, which is bad input rather than a server fault.
 */
export function amountTooLargeAsBadInput(error: unknown): never {
  if (error instanceof RangeError) {
    throw new LantauError('amount_invalid', 'The amount is too large for the card’s currency', {
      param: 'amount',
      cause: error,
    });
  }
  throw error;
}

export function convertAmount(input: ConversionInput): number {
  const merchant = currencyOf(input.merchantCurrency, 'merchantCurrency');
  const card = currencyOf(input.cardCurrency, 'cardCurrency');
  if (!Number.isSafeInteger(input.merchantAmount) || input.merchantAmount < 0) {
    throw new RangeError(`merchantAmount ${input.merchantAmount} must be a safe integer, 0 or more`);
  }
  checkMarkupBps(input.markupBps);
  const rate = exactRate(input.rate);
  const numerator =
    BigInt(input.merchantAmount) *
    rate.units *
    (BPS_PER_UNIT + BigInt(input.markupBps)) *
    10n ** BigInt(card.exponent);
  const denominator = 10n ** BigInt(merchant.exponent + rate.scale) * BPS_PER_UNIT;
  const quotient = numerator / denominator;
  const remainder = numerator % denominator;
  const rounded = 2n * remainder >= denominator ? quotient + 1n : quotient;
  if (rounded > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(
      `${input.merchantAmount} ${merchant.code} at ${input.rate} is ${rounded} ${card.code} minor units, beyond the safe integer range`,
    );
  }
  return Number(rounded);
}

/**
 * An amount in `from` in minor units of `to`, by a rate quoted the other way (`from` units per one `to` unit, as a
 * `to`→`from` row stores it), rounded half-up: N = amount × 10^(e_to + scale), D = 10^e_from × units. For equivalents
 * (AML monitoring adds up a cardholder's currencies), never for money moved: 1 / rate is not exact. A RangeError
 * for a result beyond the safe integers.
 */
export function convertByInverseRate(amount: number, from: string, to: string, rate: string): number {
  const source = currencyOf(from, 'from');
  const target = currencyOf(to, 'to');
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new RangeError(`amount ${amount} must be a safe integer, 0 or more`);
  }
  const exact = exactRate(rate);
  const numerator = BigInt(amount) * 10n ** BigInt(target.exponent + exact.scale);
  const denominator = 10n ** BigInt(source.exponent) * exact.units;
  const quotient = numerator / denominator;
  const rounded = 2n * (numerator % denominator) >= denominator ? quotient + 1n : quotient;
  if (rounded > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`${amount} ${from} is beyond the safe integer range in ${to}`);
  }
  return Number(rounded);
}

/** A stored rate, as conversion uses it. */
export interface FoundRate {
  readonly id: string;
  readonly rate: string;
  readonly source: string;
  readonly validFrom: Date;
}

/**
 * The latest rate from `base` (the merchant's currency) to `quote` (the card's) with valid_from at or before
 * `at`; of two with the same valid_from, the one created later. Undefined when there is none: no inverse or
 * cross rate is derived, since 1 / rate is not an exact decimal and the operator names what is used.
 */
export async function findRate(
  db: Queryable,
  base: string,
  quote: string,
  at: Date,
): Promise<FoundRate | undefined> {
  const found = await db.query<RateRow>(FIND_RATE, [base, quote, at]);
  const row = found.rows[0];
  return row === undefined ? undefined : rateFromRow(row);
}

const FIND_RATE = `SELECT id, rate::text AS rate, source, valid_from FROM fx_rates
     WHERE base = $1 AND quote = $2 AND valid_from <= $3
     ORDER BY valid_from DESC, id DESC LIMIT 1`;

interface RateRow {
  id: string;
  rate: string;
  source: string;
  valid_from: Date;
}

function rateFromRow(row: RateRow): FoundRate {
  return { id: row.id, rate: storedRate(row.rate), source: row.source, validFrom: row.valid_from };
}

/**
 * `db` with the rates of many currency pairs at one time read ahead in one statement: `findRate` for those pairs
 * at that time is answered from them, and every other query goes to `db`. A group of authorizations in many
 * currencies then converts with one round trip instead of one per pair, whatever `convert` the context has.
 */
export async function withRatesAhead(
  db: Transaction,
  pairs: readonly { readonly base: string; readonly quote: string }[],
  at: Date,
): Promise<Transaction> {
  const wanted = new Map(
    pairs.filter((pair) => pair.base !== pair.quote).map((pair) => [`${pair.base}/${pair.quote}`, pair]),
  );
  if (wanted.size === 0) return db;
  const found = await db.query<RateRow & { base: string; quote: string }>(
    `SELECT p.base, p.quote, r.id, r.rate, r.source, r.valid_from
     FROM unnest($1::text[], $2::text[]) AS p(base, quote)
     CROSS JOIN LATERAL (
       SELECT id, rate::text AS rate, source, valid_from FROM fx_rates
       WHERE base = p.base AND quote = p.quote AND valid_from <= $3
       ORDER BY valid_from DESC, id DESC LIMIT 1) r`,
    [[...wanted.values()].map((pair) => pair.base), [...wanted.values()].map((pair) => pair.quote), at],
  );
  const rows = new Map<string, RateRow[]>([...wanted.keys()].map((key) => [key, []]));
  for (const row of found.rows) rows.get(`${row.base}/${row.quote}`)?.push(row);
  return {
    inTransaction: true,
    afterCommit: (callback) => db.afterCommit(callback),
    query<Row>(sql: string, params: readonly SqlParam[] = []): Promise<QueryResult<Row>> {
      const [base, quote, when] = params;
      const answered =
        sql === FIND_RATE &&
        typeof base === 'string' &&
        typeof quote === 'string' &&
        when instanceof Date &&
        when.getTime() === at.getTime()
          ? rows.get(`${base}/${quote}`)
          : undefined;
      if (answered === undefined) return db.query<Row>(sql, params);
      return Promise.resolve({ rows: answered as Row[], rowCount: answered.length });
    },
    exec: (sql) => db.exec(sql),
  };
}

export interface CardConversionInput {
  readonly merchantAmount: number;
  readonly merchantCurrency: string;
  readonly cardCurrency: string;
  /** The programme's markup (programs.fx_markup_bps). */
  readonly markupBps: number;
  /** When the conversion happens (the authorization's time): the rate valid then is used. */
  readonly at: Date;
}

/** What an authorization records of its conversion (DESIGN.md: rate, markup and source). */
export interface CardConversion {
  /** Minor units of the card's currency. */
  readonly amount: number;
  readonly rate: string;
  readonly markupBps: number;
  readonly source: string;
  /** The fx_rates row used; null for a same-currency amount. */
  readonly rateId: string | null;
}

/**
 * The card amount for a merchant amount at the rate valid at `at`, with the programme's markup; undefined when
 * no rate exists (the authorization declines: `fx_rate_unavailable`). A merchant amount already in the card's
 * currency is not converted and carries no markup: rate "1", markup 0, source `identity`.
 */
export async function convertForCard(
  db: Queryable,
  input: CardConversionInput,
): Promise<CardConversion | undefined> {
  // The programme's setting is checked even when it does not apply, so a bad one shows on the first conversion.
  checkMarkupBps(input.markupBps);
  if (input.merchantCurrency === input.cardCurrency) {
    // Rate 1 with no markup is the amount itself (the same currency has the same exponent): no arithmetic to do.
    currencyOf(input.cardCurrency, 'cardCurrency');
    if (!Number.isSafeInteger(input.merchantAmount) || input.merchantAmount < 0) {
      throw new RangeError(`merchantAmount ${input.merchantAmount} must be a safe integer, 0 or more`);
    }
    return { amount: input.merchantAmount, rate: '1', markupBps: 0, source: IDENTITY_SOURCE, rateId: null };
  }
  // Checked before the query so that a bad currency is a RangeError whether or not a row exists.
  currencyOf(input.merchantCurrency, 'merchantCurrency');
  currencyOf(input.cardCurrency, 'cardCurrency');
  const found = await findRate(db, input.merchantCurrency, input.cardCurrency, input.at);
  if (found === undefined) return undefined;
  const amount = convertAmount({ ...input, rate: found.rate });
  return { amount, rate: found.rate, markupBps: input.markupBps, source: found.source, rateId: found.id };
}

// ---- The operator's rates ----

/** A rate as the API shows it. */
export interface FxRate {
  readonly id: string;
  readonly object: 'fx_rate';
  readonly base: string;
  readonly quote: string;
  readonly rate: string;
  readonly source: string;
  readonly valid_from: string;
  readonly created: string;
}

export interface NewFxRate {
  readonly base: string;
  readonly quote: string;
  readonly rate: string;
  readonly source: string;
  /** RFC 3339; now when absent. */
  readonly valid_from?: string;
}

interface FxRateRow {
  id: string;
  base: string;
  quote: string;
  rate: string;
  source: string;
  valid_from: Date;
  created_at: Date;
}

export const FX_RATE_COLUMNS = 'id, base, quote, rate::text AS rate, source, valid_from, created_at';

/** numeric comes back as text; the table's CHECK keeps it in shape, and this says so loudly if it ever is not. */
function storedRate(text: string): string {
  const normal = normaliseRate(text);
  if (normal === undefined) throw new Error(`fx_rates holds a rate out of shape: ${JSON.stringify(text)}`);
  return normal;
}

export function fxRateFromRow(row: FxRateRow): FxRate {
  return {
    id: row.id,
    object: 'fx_rate',
    base: row.base,
    quote: row.quote,
    rate: storedRate(row.rate),
    source: row.source,
    valid_from: row.valid_from.toISOString(),
    created: row.created_at.toISOString(),
  };
}

/** A currency code an operator may set a rate for, or a 400 naming `param`. */
export function checkRateCurrency(code: string, param: string): void {
  if (findCurrency(code) === undefined) {
    throw invalidRequest('currency_invalid', `${code} is not an ISO 4217 currency code`, param);
  }
}

function checkValidFrom(text: string | undefined, now: Date): Date {
  if (text === undefined) return now;
  const validFrom = new Date(text);
  const ms = validFrom.getTime();
  if (!Number.isFinite(ms)) {
    throw invalidRequest('valid_from_invalid', 'valid_from must be an RFC 3339 time', 'valid_from');
  }
  if (ms < VALID_FROM_MIN_MS || ms > now.getTime() + VALID_FROM_AHEAD_MAX_MS) {
    throw invalidRequest(
      'valid_from_invalid',
      'valid_from must be from 1970 on and at most a year ahead',
      'valid_from',
    );
  }
  return validFrom;
}

/** Records a rate the operator publishes, with its audit entry, in the caller's transaction. */
export async function createFxRate(
  tx: Transaction,
  context: RecordsContext,
  input: NewFxRate,
  by: Actor,
): Promise<FxRate> {
  checkRateCurrency(input.base, 'base');
  checkRateCurrency(input.quote, 'quote');
  if (input.base === input.quote) {
    throw invalidRequest('currencies_identical', 'base and quote must be different currencies', 'quote');
  }
  const rate = normaliseRate(input.rate);
  if (rate === undefined) {
    throw invalidRequest(
      'rate_invalid',
      `rate must be a decimal string above zero, below 1,000,000,000, with at most ${RATE_FRACTION_DIGITS_MAX} digits after the point, such as "7.8125"`,
      'rate',
    );
  }
  if (!SOURCE_PATTERN.test(input.source) || input.source === IDENTITY_SOURCE) {
    throw invalidRequest(
      'source_invalid',
      'source must be a lower-case name of up to 32 characters such as "ecb" or "operator" (not "identity")',
      'source',
    );
  }
  const now = context.clock.now();
  const validFrom = checkValidFrom(input.valid_from, now);
  const id = context.ids('fxr');
  const inserted = await tx.query<FxRateRow>(
    `INSERT INTO fx_rates (id, base, quote, rate, source, valid_from, created_at, created_by)
     VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8)
     RETURNING ${FX_RATE_COLUMNS}`,
    [id, input.base, input.quote, rate, input.source, validFrom, now, by.actor.id],
  );
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const fxRate = fxRateFromRow(row);
  await appendAudit(tx, context, {
    ...by,
    action: 'fx_rate.created',
    programId: null,
    target: { type: 'fx_rate', id },
    details: {
      base: fxRate.base,
      quote: fxRate.quote,
      rate: fxRate.rate,
      source: fxRate.source,
      valid_from: fxRate.valid_from,
    },
  });
  return fxRate;
}
