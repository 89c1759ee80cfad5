import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { luhnValid } from '../platform/redact.js';
import { expiryFrom, expiryYYMM, generatePan, isExpired, luhnCheckDigit } from './pan.js';

describe('card numbers', () => {
  it('computes the Luhn check digit of known numbers', () => {
    expect(luhnCheckDigit('424242424242424')).toBe('2');
    expect(luhnCheckDigit('411111111111111')).toBe('1');
    expect(luhnCheckDigit('7992739871')).toBe('3');
  });

  it('generates Luhn-valid PANs that start with the BIN and have the programme’s length', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[1-9]\d{5}(\d{2})?$/),
        fc.integer({ min: 13, max: 19 }),
        (bin, length) => {
          fc.pre(length - bin.length - 1 >= 3);
          const pan = generatePan(bin, length);
          expect(pan).toHaveLength(length);
          expect(pan.startsWith(bin)).toBe(true);
          expect(luhnValid(pan)).toBe(true);
        },
      ),
      { seed: 11, numRuns: 500 },
    );
  });

  it('does not issue sequential numbers', () => {
    const pans = Array.from({ length: 50 }, () => generatePan('424242', 16));
    expect(new Set(pans).size).toBe(50);
    const accounts = pans.map((pan) => Number(pan.slice(6, 15)));
    const steps = accounts.slice(1).map((value, index) => Math.abs(value - (accounts[index] ?? 0)));
    expect(steps.filter((step) => step === 1)).toHaveLength(0);
  });

  it('expires at the end of the month, validity months after issue', () => {
    const expiry = expiryFrom(new Date('2026-03-15T10:00:00Z'), 36);
    expect(expiry).toEqual({ month: 3, year: 2029 });
    expect(expiryYYMM(expiry)).toBe('2903');
    expect(expiryFrom(new Date('2026-11-30T00:00:00Z'), 2)).toEqual({ month: 1, year: 2027 });
    expect(isExpired(expiry, new Date('2029-03-31T23:59:59Z'))).toBe(false);
    expect(isExpired(expiry, new Date('2029-04-01T00:00:00Z'))).toBe(true);
  });
});
