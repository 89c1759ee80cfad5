import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { LantauError } from '../platform/errors.js';
import { createIdGenerator, type IdGenerator } from '../platform/ids.js';
import { findCurrency } from '../platform/money.js';
import {
  convertAmount,
  convertForCard,
  createFxRate,
  findRate,
  normaliseRate,
  type ConversionInput,
  type NewFxRate,
} from './fx.js';

const seed = Number(process.env.LANTAU_FC_SEED ?? 20_260_301);

describe('convertAmount: worked examples', () => {
  const cases: [string, ConversionInput, number][] = [
    // 10.00 × 7.8125 = 78.125; × 1.015 = 79.296875 → HKD 79.30.
    [
      'USD 10.00 → HKD at 7.8125 with 150 bps',
      { merchantAmount: 1_000, merchantCurrency: 'USD', cardCurrency: 'HKD', rate: '7.8125', markupBps: 150 },
      7_930,
    ],
    // JPY has no minor unit: 1000 × 0.0512 = 51.2 → HKD 51.20.
    [
      'JPY 1000 → HKD at 0.0512',
      { merchantAmount: 1_000, merchantCurrency: 'JPY', cardCurrency: 'HKD', rate: '0.0512', markupBps: 0 },
      5_120,
    ],
    // BHD has three decimals: 1.000 × 20.7468 = 20.7468 → HKD 20.75.
    [
      'BHD 1.000 → HKD at 20.7468',
      { merchantAmount: 1_000, merchantCurrency: 'BHD', cardCurrency: 'HKD', rate: '20.7468', markupBps: 0 },
      2_075,
    ],
    // 1.234 × 20.7468 = 25.6015512; × 1.015 = 25.985574468 → HKD 25.99.
    [
      'BHD 1.234 → HKD at 20.7468 with 150 bps',
      {
        merchantAmount: 1_234,
        merchantCurrency: 'BHD',
        cardCurrency: 'HKD',
        rate: '20.7468',
        markupBps: 150,
      },
      2_599,
    ],
    // Into a card currency with no minor unit: 100.00 × 19.1234 = 1912.34; × 1.02 = 1950.5868 → JPY 1951.
    [
      'HKD 100.00 → JPY at 19.1234 with 200 bps',
      {
        merchantAmount: 10_000,
        merchantCurrency: 'HKD',
        cardCurrency: 'JPY',
        rate: '19.1234',
        markupBps: 200,
      },
      1_951,
    ],
    // Into three decimals: 10000 × 0.00251 = 25.1 → BHD 25.100.
    [
      'JPY 10000 → BHD at 0.00251',
      { merchantAmount: 10_000, merchantCurrency: 'JPY', cardCurrency: 'BHD', rate: '0.00251', markupBps: 0 },
      25_100,
    ],
    // Ties round up, never to even: 0.10 × 7.85 = 0.785 → HKD 0.79; 1.00 × 19.5 = 19.5 → JPY 20; 18.5 → 19.
    [
      'a tie: USD 0.10 → HKD at 7.85',
      { merchantAmount: 10, merchantCurrency: 'USD', cardCurrency: 'HKD', rate: '7.85', markupBps: 0 },
      79,
    ],
    [
      'a tie: HKD 1.00 → JPY at 19.5',
      { merchantAmount: 100, merchantCurrency: 'HKD', cardCurrency: 'JPY', rate: '19.5', markupBps: 0 },
      20,
    ],
    [
      'a tie: HKD 1.00 → JPY at 18.5 (banker’s rounding would give 18)',
      { merchantAmount: 100, merchantCurrency: 'HKD', cardCurrency: 'JPY', rate: '18.5', markupBps: 0 },
      19,
    ],
    // A tie made by the markup: 1.00 × 1.005 = 1.005 → 1.01.
    [
      'a tie from the markup: USD 1.00 → EUR at 1 with 50 bps',
      { merchantAmount: 100, merchantCurrency: 'USD', cardCurrency: 'EUR', rate: '1', markupBps: 50 },
      101,
    ],
    // Just below a tie stays down: 0.10 × 7.849999999999 = 0.7849999999999 → HKD 0.78.
    [
      'just below a tie',
      {
        merchantAmount: 10,
        merchantCurrency: 'USD',
        cardCurrency: 'HKD',
        rate: '7.849999999999',
        markupBps: 0,
      },
      78,
    ],
    [
      'the smallest rate',
      {
        merchantAmount: 1,
        merchantCurrency: 'USD',
        cardCurrency: 'HKD',
        rate: '0.000000000001',
        markupBps: 0,
      },
      0,
    ],
    [
      'trailing zeros change nothing',
      {
        merchantAmount: 1_000,
        merchantCurrency: 'USD',
        cardCurrency: 'HKD',
        rate: '7.81250000',
        markupBps: 150,
      },
      7_930,
    ],
    [
      'amount 0 (account verification) is 0',
      { merchantAmount: 0, merchantCurrency: 'USD', cardCurrency: 'HKD', rate: '7.8', markupBps: 300 },
      0,
    ],
    [
      'the whole markup range: 100 % doubles',
      { merchantAmount: 1_000, merchantCurrency: 'USD', cardCurrency: 'HKD', rate: '7.8', markupBps: 10_000 },
      15_600,
    ],
    [
      'exactly the largest safe integer',
      {
        merchantAmount: Number.MAX_SAFE_INTEGER,
        merchantCurrency: 'HKD',
        cardCurrency: 'USD',
        rate: '1',
        markupBps: 0,
      },
      Number.MAX_SAFE_INTEGER,
    ],
  ];

  it.each(cases)('%s', (_name, input, expected) => {
    expect(convertAmount(input)).toBe(expected);
    // The reference the properties below compare against agrees with the hand-worked answers.
    expect(reference(input)).toBe(BigInt(expected));
  });

  it('refuses a result beyond the safe integer range', () => {
    expect(() =>
      convertAmount({
        merchantAmount: Number.MAX_SAFE_INTEGER,
        merchantCurrency: 'HKD',
        cardCurrency: 'USD',
        rate: '1',
        markupBps: 1,
      }),
    ).toThrow(RangeError);
    expect(() =>
      convertAmount({
        merchantAmount: 1_000_000_000_000,
        merchantCurrency: 'JPY',
        cardCurrency: 'BHD',
        rate: '999999999',
        markupBps: 0,
      }),
    ).toThrow(/beyond the safe integer range/);
  });

  const base: ConversionInput = {
    merchantAmount: 100,
    merchantCurrency: 'USD',
    cardCurrency: 'HKD',
    rate: '7.8',
    markupBps: 0,
  };
  it.each([
    ['a negative amount', { merchantAmount: -1 }],
    ['a fractional amount', { merchantAmount: 1.5 }],
    ['an unsafe amount', { merchantAmount: 2 ** 53 }],
    ['NaN as amount', { merchantAmount: Number.NaN }],
    ['an unknown merchant currency', { merchantCurrency: 'ABC' }],
    ['a lower-case card currency', { cardCurrency: 'hkd' }],
    ['gold', { cardCurrency: 'XAU' }],
    ['a negative markup', { markupBps: -1 }],
    ['a markup above 100 %', { markupBps: 10_001 }],
    ['a fractional markup', { markupBps: 1.5 }],
    ['rate 0', { rate: '0' }],
    ['rate 0.000', { rate: '0.000' }],
    ['a negative rate', { rate: '-7.8' }],
    ['an exponent', { rate: '7.8e0' }],
    ['NaN as rate', { rate: 'NaN' }],
    ['Infinity', { rate: 'Infinity' }],
    ['13 digits after the point', { rate: '0.0000000000001' }],
    ['a rate of 1,000,000,000', { rate: '1000000000' }],
    ['a leading zero', { rate: '07.8' }],
    ['a bare point', { rate: '7.' }],
    ['a leading point', { rate: '.5' }],
    ['spaces', { rate: ' 7.8' }],
    ['a comma', { rate: '7,8' }],
  ] as [string, Partial<ConversionInput>][])('refuses %s with a RangeError', (_name, change) => {
    expect(() => convertAmount({ ...base, ...change })).toThrow(RangeError);
  });
});

describe('normaliseRate', () => {
  it.each([
    ['7.8125', '7.8125'],
    ['7.81250', '7.8125'],
    ['2.0', '2'],
    ['1000.000000000000', '1000'],
    ['0.000000000001', '0.000000000001'],
    ['999999999.999999999999', '999999999.999999999999'],
    ['0', undefined],
    ['0.000000000000', undefined],
    ['+1', undefined],
    ['1e3', undefined],
    ['', undefined],
  ])('%j is %j', (text, expected) => {
    expect(normaliseRate(text)).toBe(expected);
  });
});

/**
 * An independent reference: the product of the three decimals written out in full (it always has a finite
 * decimal expansion, every denominator being a power of ten), then rounded half-up by looking at the first digit
 * dropped, as by hand. convertAmount instead compares a BigInt remainder with half the divisor.
 */
function reference(input: ConversionInput): bigint {
  const merchantExponent = findCurrency(input.merchantCurrency)?.exponent ?? Number.NaN;
  const cardExponent = findCurrency(input.cardCurrency)?.exponent ?? Number.NaN;
  const [integer = '', fraction = ''] = input.rate.split('.');
  const product =
    BigInt(input.merchantAmount) * BigInt(integer + fraction) * BigInt(10_000 + input.markupBps);
  // The exact value is product / 10^decimals major units of the card's currency.
  const decimals = merchantExponent + fraction.length + 4;
  const dropped = decimals - cardExponent; // digits below the card's minor unit
  const digits = product.toString().padStart(dropped + 1, '0');
  const kept = BigInt(digits.slice(0, digits.length - dropped));
  const firstDropped = dropped === 0 ? '0' : (digits[digits.length - dropped] ?? '0');
  return firstDropped >= '5' ? kept + 1n : kept;
}

const CURRENCIES = ['HKD', 'USD', 'EUR', 'JPY', 'KRW', 'ISK', 'BHD', 'KWD', 'TND', 'CLF'] as const;
const currency = fc.constantFrom(...CURRENCIES);
const rateText = fc
  .stringMatching(/^(0|[1-9][0-9]{0,8})(\.[0-9]{1,12})?$/)
  .filter((text) => /[1-9]/.test(text));
const smallAmount = fc.integer({ min: 0, max: 1_000_000_000 });
const anyAmount = fc.oneof(smallAmount, fc.maxSafeNat());
const markup = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10_000 }));

describe('convertAmount: properties', () => {
  it('equals an independent high-precision computation, or refuses exactly when that is not a safe integer', () => {
    fc.assert(
      fc.property(
        anyAmount,
        currency,
        currency,
        rateText,
        markup,
        (merchantAmount, merchantCurrency, cardCurrency, rate, markupBps) => {
          const input = { merchantAmount, merchantCurrency, cardCurrency, rate, markupBps };
          const expected = reference(input);
          if (expected > BigInt(Number.MAX_SAFE_INTEGER)) {
            expect(() => convertAmount(input)).toThrow(RangeError);
          } else {
            expect(convertAmount(input)).toBe(Number(expected));
          }
        },
      ),
      { seed, numRuns: 2_000 },
    );
  });

  it('is monotone in the amount, the rate and the markup', () => {
    /** A rate as an integer count of 10^-12, for ordering two rates exactly. */
    const scaled = (rate: string) => {
      const [integer = '', fraction = ''] = rate.split('.');
      return BigInt(integer + fraction.padEnd(12, '0'));
    };
    const ordered = <T>(a: T, b: T, key: (value: T) => bigint): [T, T] =>
      key(a) <= key(b) ? [a, b] : [b, a];
    fc.assert(
      fc.property(
        fc.tuple(smallAmount, smallAmount),
        currency,
        currency,
        fc.tuple(rateText, rateText),
        fc.tuple(markup, markup),
        (amounts, merchantCurrency, cardCurrency, rates, markups) => {
          const [low, high] = ordered(amounts[0], amounts[1], BigInt);
          const [lowRate, highRate] = ordered(rates[0], rates[1], scaled);
          const [lowMarkup, highMarkup] = ordered(markups[0], markups[1], BigInt);
          const input = (merchantAmount: number, rate: string, markupBps: number) => ({
            merchantAmount,
            merchantCurrency,
            cardCurrency,
            rate,
            markupBps,
          });
          // Only where the largest of the four is a safe integer; refusal beyond that is tested above.
          fc.pre(reference(input(high, highRate, highMarkup)) <= BigInt(Number.MAX_SAFE_INTEGER));
          const convert = (merchantAmount: number, rate: string, markupBps: number) =>
            convertAmount(input(merchantAmount, rate, markupBps));
          expect(convert(low, lowRate, lowMarkup)).toBeLessThanOrEqual(convert(high, lowRate, lowMarkup));
          expect(convert(high, lowRate, lowMarkup)).toBeLessThanOrEqual(convert(high, highRate, lowMarkup));
          expect(convert(high, highRate, lowMarkup)).toBeLessThanOrEqual(convert(high, highRate, highMarkup));
        },
      ),
      { seed, numRuns: 1_000 },
    );
  });

  it('is the identity at rate 1 with no markup between currencies of the same exponent', () => {
    const sameExponent = fc.constantFrom(
      ['HKD', 'USD'],
      ['USD', 'EUR'],
      ['JPY', 'KRW'],
      ['ISK', 'JPY'],
      ['BHD', 'KWD'],
      ['HKD', 'HKD'],
    );
    fc.assert(
      fc.property(
        anyAmount,
        sameExponent,
        fc.constantFrom('1', '1.0', '1.000000000000'),
        (amount, [from, to], one) => {
          expect(
            convertAmount({
              merchantAmount: amount,
              merchantCurrency: from,
              cardCurrency: to,
              rate: one,
              markupBps: 0,
            }),
          ).toBe(amount);
        },
      ),
      { seed, numRuns: 500 },
    );
  });

  it('moves by whole minor units when the exponents differ: JPY 1 at rate 1 is HKD 1.00', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000_000 }), (yen) => {
        expect(
          convertAmount({
            merchantAmount: yen,
            merchantCurrency: 'JPY',
            cardCurrency: 'HKD',
            rate: '1',
            markupBps: 0,
          }),
        ).toBe(yen * 100);
      }),
      { seed, numRuns: 200 },
    );
  });
});

describe('rates in the database', () => {
  let db: TestDatabase;
  let clock: ManualClock;
  let ids: IdGenerator;
  const operator = { actor: { type: 'operator' as const, id: 'key_test_operator' } };

  beforeAll(async () => {
    db = await openTestDatabase();
    clock = new ManualClock('2026-03-01T00:00:00.000Z');
    ids = createIdGenerator(clock);
  });
  afterAll(async () => db.close());

  const publish = (input: NewFxRate) =>
    db.transaction((tx) => createFxRate(tx, { clock, ids }, input, operator));

  async function count(): Promise<number> {
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fx_rates');
    return rows[0]?.n ?? 0;
  }

  it('stores a rate exactly, without trailing zeros, with its audit entry', async () => {
    const created = await publish({ base: 'EUR', quote: 'HKD', rate: '8.4567000', source: 'ecb' });
    expect(created).toEqual({
      id: expect.stringMatching(/^fxr_[0-9a-hjkmnp-tv-z]{26}$/) as string,
      object: 'fx_rate',
      base: 'EUR',
      quote: 'HKD',
      rate: '8.4567',
      source: 'ecb',
      valid_from: '2026-03-01T00:00:00.000Z',
      created: '2026-03-01T00:00:00.000Z',
    });
    const { rows } = await db.query<{ action: string; program_id: string | null; details: object }>(
      'SELECT action, program_id, details FROM audit_log WHERE target_id = $1',
      [created.id],
    );
    expect(rows).toEqual([
      {
        action: 'fx_rate.created',
        program_id: null,
        details: {
          base: 'EUR',
          quote: 'HKD',
          rate: '8.4567',
          source: 'ecb',
          valid_from: '2026-03-01T00:00:00.000Z',
        },
      },
    ]);
  });

  it('keeps the extremes of the accepted range exact', async () => {
    const largest = await publish({
      base: 'KWD',
      quote: 'IRR',
      rate: '999999999.999999999999',
      source: 'operator',
    });
    const smallest = await publish({ base: 'IRR', quote: 'KWD', rate: '0.000000000001', source: 'operator' });
    expect((await findRate(db, 'KWD', 'IRR', clock.now()))?.rate).toBe(largest.rate);
    expect((await findRate(db, 'IRR', 'KWD', clock.now()))?.rate).toBe(smallest.rate);
    expect(largest.rate).toBe('999999999.999999999999');
    expect(smallest.rate).toBe('0.000000000001');
  });

  it.each([
    ['rate 0', { rate: '0' }, 'rate_invalid', 'rate'],
    ['rate 0.00', { rate: '0.00' }, 'rate_invalid', 'rate'],
    ['a negative rate', { rate: '-1' }, 'rate_invalid', 'rate'],
    ['an exponent', { rate: '1e2' }, 'rate_invalid', 'rate'],
    ['NaN', { rate: 'NaN' }, 'rate_invalid', 'rate'],
    ['13 digits after the point', { rate: '1.0000000000001' }, 'rate_invalid', 'rate'],
    ['an unknown currency', { base: 'ABC' }, 'currency_invalid', 'base'],
    ['a metal', { quote: 'XAU' }, 'currency_invalid', 'quote'],
    ['one currency twice', { quote: 'USD' }, 'currencies_identical', 'quote'],
    ['the identity source', { source: 'identity' }, 'source_invalid', 'source'],
    ['an upper-case source', { source: 'ECB' }, 'source_invalid', 'source'],
    ['a leap second', { valid_from: '2016-12-31T23:59:60Z' }, 'valid_from_invalid', 'valid_from'],
    ['a time before 1970', { valid_from: '1969-12-31T23:59:59Z' }, 'valid_from_invalid', 'valid_from'],
    ['a time two years ahead', { valid_from: '2028-03-01T00:00:00Z' }, 'valid_from_invalid', 'valid_from'],
  ] as [string, Partial<NewFxRate>, string, string][])(
    'refuses %s and stores nothing',
    async (_name, change, code, param) => {
      const before = await count();
      const attempt = publish({ base: 'USD', quote: 'HKD', rate: '7.8', source: 'ecb', ...change });
      await expect(attempt).rejects.toBeInstanceOf(LantauError);
      await expect(attempt).rejects.toMatchObject({ code, param, status: 400 });
      expect(await count()).toBe(before);
    },
  );

  describe('choosing the rate', () => {
    const t = (iso: string) => new Date(iso);

    beforeAll(async () => {
      // Published out of order: selection goes by valid_from, not by when a rate was recorded.
      await publish({
        base: 'USD',
        quote: 'HKD',
        rate: '7.80',
        source: 'ecb',
        valid_from: '2026-02-02T00:00:00Z',
      });
      await publish({
        base: 'USD',
        quote: 'HKD',
        rate: '7.70',
        source: 'ecb',
        valid_from: '2026-02-01T00:00:00Z',
      });
      await publish({
        base: 'USD',
        quote: 'HKD',
        rate: '7.90',
        source: 'ecb',
        valid_from: '2026-02-03T00:00:00Z',
      });
      // A later correction with the same valid_from wins over the first.
      clock.advance(1_000);
      await publish({
        base: 'USD',
        quote: 'HKD',
        rate: '7.85',
        source: 'operator',
        valid_from: '2026-02-03T00:00:00Z',
      });
      // A scheduled rate, not yet valid.
      await publish({
        base: 'USD',
        quote: 'HKD',
        rate: '8',
        source: 'ecb',
        valid_from: '2026-06-01T00:00:00Z',
      });
      // The other direction is another pair.
      await publish({
        base: 'HKD',
        quote: 'USD',
        rate: '0.128',
        source: 'ecb',
        valid_from: '2026-01-01T00:00:00Z',
      });
    });

    it.each([
      ['2026-01-31T23:59:59.999Z', undefined],
      ['2026-02-01T00:00:00.000Z', '7.7'],
      ['2026-02-01T12:00:00.000Z', '7.7'],
      ['2026-02-02T00:00:00.000Z', '7.8'],
      ['2026-02-02T23:59:59.999Z', '7.8'],
      ['2026-02-03T00:00:00.000Z', '7.85'],
      ['2026-05-31T23:59:59.999Z', '7.85'],
      ['2026-06-01T00:00:00.000Z', '8'],
    ])('at %s the USD→HKD rate is %s', async (at, expected) => {
      expect((await findRate(db, 'USD', 'HKD', t(at)))?.rate).toBe(expected);
    });

    it('gives the row, its source and valid_from', async () => {
      const found = await findRate(db, 'USD', 'HKD', t('2026-03-01T00:00:00Z'));
      expect(found).toEqual({
        id: expect.stringMatching(/^fxr_/) as string,
        rate: '7.85',
        source: 'operator',
        validFrom: t('2026-02-03T00:00:00Z'),
      });
      expect((await findRate(db, 'HKD', 'USD', t('2026-03-01T00:00:00Z')))?.rate).toBe('0.128');
      expect(await findRate(db, 'USD', 'JPY', t('2026-03-01T00:00:00Z'))).toBeUndefined();
    });

    it('converts for a card with the rate valid then, and records rate, markup and source', async () => {
      const at = t('2026-03-01T00:00:00Z');
      const found = await findRate(db, 'USD', 'HKD', at);
      // 10.00 × 7.85 × 1.015 = 79.67775 → HKD 79.68.
      expect(
        await convertForCard(db, {
          merchantAmount: 1_000,
          merchantCurrency: 'USD',
          cardCurrency: 'HKD',
          markupBps: 150,
          at,
        }),
      ).toEqual({ amount: 7_968, rate: '7.85', markupBps: 150, source: 'operator', rateId: found?.id });
      // The rate of 2 February: 10.00 × 7.8 = 78.00.
      expect(
        await convertForCard(db, {
          merchantAmount: 1_000,
          merchantCurrency: 'USD',
          cardCurrency: 'HKD',
          markupBps: 0,
          at: t('2026-02-02T08:00:00Z'),
        }),
      ).toMatchObject({ amount: 7_800, rate: '7.8', source: 'ecb' });
    });

    it('answers undefined when there is no rate, and converts nothing in the same currency', async () => {
      const at = t('2026-03-01T00:00:00Z');
      expect(
        await convertForCard(db, {
          merchantAmount: 500,
          merchantCurrency: 'JPY',
          cardCurrency: 'HKD',
          markupBps: 0,
          at,
        }),
      ).toBeUndefined();
      expect(
        await convertForCard(db, {
          merchantAmount: 500,
          merchantCurrency: 'USD',
          cardCurrency: 'HKD',
          markupBps: 0,
          at: t('2025-01-01T00:00:00Z'),
        }),
      ).toBeUndefined();
      expect(
        await convertForCard(db, {
          merchantAmount: 12_345,
          merchantCurrency: 'HKD',
          cardCurrency: 'HKD',
          markupBps: 150,
          at,
        }),
      ).toEqual({ amount: 12_345, rate: '1', markupBps: 0, source: 'identity', rateId: null });
    });

    it('refuses bad input with a RangeError whether or not a rate exists', async () => {
      const at = t('2026-03-01T00:00:00Z');
      const input = { merchantAmount: 100, merchantCurrency: 'USD', cardCurrency: 'HKD', markupBps: 0, at };
      await expect(convertForCard(db, { ...input, markupBps: 10_001 })).rejects.toThrow(RangeError);
      await expect(
        convertForCard(db, { ...input, cardCurrency: 'HKD', merchantCurrency: 'HKD', markupBps: -1 }),
      ).rejects.toThrow(RangeError);
      await expect(convertForCard(db, { ...input, merchantCurrency: 'ABC' })).rejects.toThrow(RangeError);
      await expect(convertForCard(db, { ...input, merchantAmount: -5 })).rejects.toThrow(RangeError);
    });
  });
});
