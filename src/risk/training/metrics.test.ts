import { describe, expect, it } from 'vitest';
import { averagePrecision, recallAtFalsePositiveRate } from './metrics.js';

describe('averagePrecision', () => {
  it('is 1 for a perfect ranking and the mean precision at each fraud otherwise', () => {
    expect(averagePrecision([0.9, 0.8, 0.1, 0.0], [1, 1, 0, 0])).toBe(1);
    // Fraud at ranks 1 and 3: (1/1 + 2/3) / 2.
    expect(averagePrecision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0])).toBeCloseTo(5 / 6, 12);
  });

  it('does not break ties in the model\u2019s favour', () => {
    expect(averagePrecision([0.5, 0.5], [1, 0])).toBe(0.5);
  });
});

describe('recallAtFalsePositiveRate', () => {
  it('declines at most the share of legitimate rows asked for', () => {
    const scores = [...Array.from({ length: 1000 }, (_, i) => i / 1000), 0.9995, 0.5];
    const labels = [...new Array<number>(1000).fill(0), 1, 1];
    const point = recallAtFalsePositiveRate(scores, labels, 0.001);
    expect(point.falsePositiveRate).toBeLessThanOrEqual(0.001);
    expect(point.recall).toBe(0.5);
    expect(point.threshold).toBe(0.998);
  });
});
