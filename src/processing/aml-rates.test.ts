import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { amlRates } from './aml-rates.js';
import { convertAmount, convertByInverseRate, createFxRate } from './fx.js';

describe('convertByInverseRate', () => {
  it('divides by a rate quoted the other way, rounding half up', () => {
    // HKD 7,800.00 at USD→HKD 7.8 is USD 1,000.00.
    expect(convertByInverseRate(780_000, 'HKD', 'USD', '7.8')).toBe(100_000);
    // HKD 0.39 / 7.8 = USD 0.05 exactly; HKD 0.40 / 7.8 = 0.0512… → USD 0.05.
    expect(convertByInverseRate(39, 'HKD', 'USD', '7.8')).toBe(5);
    expect(convertByInverseRate(40, 'HKD', 'USD', '7.8')).toBe(5);
    // JPY has no minor unit: JPY 1000 at HKD→JPY 19.1234 is HKD 52.2919… → HKD 52.29.
    expect(convertByInverseRate(1_000, 'JPY', 'HKD', '19.1234')).toBe(5_229);
    // Half up: HKD 0.01 at USD→HKD 2 is USD 0.005 → USD 0.01.
    expect(convertByInverseRate(1, 'HKD', 'USD', '2')).toBe(1);
    expect(() => convertByInverseRate(-1, 'HKD', 'USD', '7.8')).toThrow(RangeError);
    expect(() => convertByInverseRate(1, 'XXZ', 'USD', '7.8')).toThrow(RangeError);
    expect(() => convertByInverseRate(Number.MAX_SAFE_INTEGER, 'HKD', 'USD', '0.000001')).toThrow(RangeError);
  });

  it('comes back within a minor unit (and the rounding of the way there) of where it started', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000_000 }),
        fc.integer({ min: 1, max: 99_999 }),
        (amount, units) => {
          const rate = (units / 10_000).toFixed(4);
          const there = convertAmount({
            merchantAmount: amount,
            merchantCurrency: 'USD',
            cardCurrency: 'HKD',
            rate,
            markupBps: 0,
          });
          const back = convertByInverseRate(there, 'HKD', 'USD', rate);
          // Rounding there moves the amount by up to half a minor unit of HKD: 0.5 / rate in USD.
          expect(Math.abs(back - amount)).toBeLessThanOrEqual(Math.ceil(0.5 / Number(rate)) + 1);
        },
      ),
      { seed: 20_261_126, numRuns: 300 },
    );
  });
});

describe('amlRates', () => {
  let db: TestDatabase;
  const clock = new ManualClock('2026-03-01T00:00:00.000Z');
  const ids = createIdGenerator(clock);
  const operator = { actor: { type: 'operator' as const, id: 'key_test_operator' } };
  const at = new Date('2026-03-02T00:00:00.000Z');

  beforeAll(async () => {
    db = await openTestDatabase();
    await db.transaction((tx) =>
      createFxRate(
        tx,
        { clock, ids },
        { base: 'USD', quote: 'HKD', rate: '7.8', source: 'operator' },
        operator,
      ),
    );
  });
  afterAll(async () => db.close());

  const convert = (amount: number, from: string, to: string, when = at) =>
    db.transaction((tx) => amlRates.convert(tx, amount, from, to, when));

  it('converts at the rate valid then, directly or the other way round, without markup', async () => {
    expect(await convert(990_00, 'USD', 'HKD')).toBe(7_722_00);
    expect(await convert(7_722_00, 'HKD', 'USD')).toBe(990_00);
  });

  it('answers null where no rate applies: none for the pair, none yet, or a currency unknown', async () => {
    expect(await convert(100, 'EUR', 'HKD')).toBeNull();
    expect(await convert(100, 'USD', 'HKD', new Date('2026-02-01T00:00:00.000Z'))).toBeNull();
    expect(await convert(100, 'ZZZ', 'HKD')).toBeNull();
  });
});
