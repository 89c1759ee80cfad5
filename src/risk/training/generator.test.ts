import { mccRiskClass } from '../features.js';
import { describe, expect, it } from 'vitest';
import { isCardPresent } from '../feature-tracker.js';
import { FRAUD_PATTERNS, generateAuthorizations, type GeneratedAuthorization } from './generator.js';

const SMALL = { cardholders: 400, days: 14, fraudRate: 15 } as const;
const data = generateAuthorizations({ ...SMALL, seed: 7 });
const rows = data.authorizations;

function ofPattern(pattern: string): GeneratedAuthorization[] {
  return rows.filter((row) => row.fraud === pattern);
}

describe('generateAuthorizations', () => {
  it('gives the same stream for the same seed and another for another seed', () => {
    const again = generateAuthorizations({ ...SMALL, seed: 7 });
    expect(again.authorizations).toEqual(rows);
    const other = generateAuthorizations({ ...SMALL, seed: 8 });
    expect(other.authorizations.slice(0, 50)).not.toEqual(rows.slice(0, 50));
  });

  it('is in time order, numbered, with integer amounts in cents, and within the days simulated', () => {
    const start = rows[0]?.time ?? 0;
    rows.forEach((row, index) => {
      expect(row.sequence).toBe(index);
      if (index > 0) expect(row.time).toBeGreaterThanOrEqual(rows[index - 1]?.time ?? 0);
    });
    expect(rows.every((row) => Number.isSafeInteger(row.amount) && row.amount > 0)).toBe(true);
    expect((rows.at(-1)?.time ?? 0) - start).toBeLessThan(SMALL.days * 86_400_000);
  });

  it('is mostly genuine, domestic and approved, with some declines, travel and e-commerce', () => {
    const genuine = rows.filter((row) => row.fraud === null);
    expect(genuine.length / rows.length).toBeGreaterThan(0.9);
    const share = (predicate: (row: GeneratedAuthorization) => boolean): number =>
      genuine.filter(predicate).length / genuine.length;
    expect(share((row) => !row.approved)).toBeGreaterThan(0.005);
    expect(share((row) => !row.approved)).toBeLessThan(0.05);
    expect(share((row) => row.cardholderCountry === 'HK')).toBeGreaterThan(0.8);
    expect(
      share((row) => isCardPresent(row.entryMode) && row.merchantCountry !== row.cardholderCountry),
    ).toBeGreaterThan(0.005);
    expect(share((row) => row.entryMode === 'ecommerce')).toBeGreaterThan(0.1);
    expect(share((row) => row.entryMode === 'contactless')).toBeGreaterThan(0.3);
  });

  it('keeps fraud a small share at the default rate', () => {
    const defaults = generateAuthorizations({ cardholders: 1500, days: 20, seed: 3 }).authorizations;
    const share = defaults.filter((row) => row.fraud !== null).length / defaults.length;
    expect(share).toBeGreaterThan(0.002);
    expect(share).toBeLessThan(0.012);
  });

  it('injects every fraud pattern, labelled', () => {
    for (const pattern of FRAUD_PATTERNS) expect(ofPattern(pattern).length, pattern).toBeGreaterThan(0);
  });

  it('card testing: one merchant, many cards, small amounts, minutes, many declined', () => {
    const byMerchant = new Map<string, GeneratedAuthorization[]>();
    for (const row of ofPattern('card_testing'))
      byMerchant.set(row.merchantId, [...(byMerchant.get(row.merchantId) ?? []), row]);
    const [attack] = [...byMerchant.values()].sort((a, b) => b.length - a.length);
    if (attack === undefined) throw new Error('no card testing');
    expect(new Set(attack.map((row) => row.cardId)).size).toBeGreaterThanOrEqual(12);
    expect(Math.max(...attack.map((row) => row.amount))).toBeLessThanOrEqual(1_200);
    const declined = attack.filter((row) => !row.approved).length / attack.length;
    expect(declined).toBeGreaterThan(0.1);
    const all = ofPattern('card_testing');
    expect(all.filter((row) => !row.approved).length / all.length).toBeGreaterThan(0.3);
  });

  it('account takeover: several larger e-commerce purchases on one card within hours', () => {
    const rowsOf = ofPattern('account_takeover');
    expect(rowsOf.every((row) => row.entryMode === 'ecommerce')).toBe(true);
    const median =
      [...rowsOf.map((row) => row.amount)].sort((a, b) => a - b)[Math.floor(rowsOf.length / 2)] ?? 0;
    expect(median).toBeGreaterThan(50_000);
  });

  it('impossible travel: card present abroad soon after card present at home', () => {
    const rowsOf = ofPattern('impossible_travel');
    expect(
      rowsOf.every((row) => isCardPresent(row.entryMode) && row.merchantCountry !== row.cardholderCountry),
    ).toBe(true);
  });

  it('high-risk bursts: high-risk categories only', () => {
    expect(ofPattern('high_risk_burst').every((row) => mccRiskClass(row.mcc) === 'high')).toBe(true);
  });
});
