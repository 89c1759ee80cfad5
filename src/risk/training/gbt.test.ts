import { describe, expect, it } from 'vitest';
import { predictRaw, quantileThresholds, trainGbt, type Matrix } from './gbt.js';
import { Random } from './random.js';

function matrixOf(rows: readonly (readonly number[])[]): Matrix {
  const columns = rows[0]?.length ?? 0;
  const values = new Float64Array(rows.length * columns);
  rows.forEach((row, i) => values.set(row, i * columns));
  return { rows: rows.length, columns, values };
}

function predictions(model: Parameters<typeof predictRaw>[0], matrix: Matrix): number[] {
  return Array.from({ length: matrix.rows }, (_, row) =>
    predictRaw(model, matrix.values, row * matrix.columns),
  );
}

/** Two noise columns and one that decides the label. */
function dataset(seed: number, rows: number, label: (x: number, random: Random) => number, missing = 0) {
  const random = new Random(seed);
  const values: number[][] = [];
  const labels = new Uint8Array(rows);
  for (let i = 0; i < rows; i += 1) {
    const x = random.next();
    const isMissing = random.chance(missing);
    values.push([random.normal(), isMissing ? NaN : x, random.int(0, 5)]);
    labels[i] = isMissing ? 1 : label(x, random);
  }
  return { matrix: matrixOf(values), labels };
}

describe('quantileThresholds', () => {
  it('cuts between distinct values when there are few, and into quantiles when many', () => {
    expect(Array.from(quantileThresholds(matrixOf([[1], [3], [3], [NaN], [2]]), 0, 255))).toEqual([1.5, 2.5]);
    const many = matrixOf(Array.from({ length: 1000 }, (_, i) => [i]));
    const cuts = quantileThresholds(many, 0, 10);
    expect(cuts.length).toBe(9);
    expect(cuts[0]).toBe(99.5);
  });
});

describe('trainGbt', () => {
  it('learns a separable rule', () => {
    const train = dataset(1, 2000, (x) => (x > 0.6 ? 1 : 0));
    const test = dataset(2, 500, (x) => (x > 0.6 ? 1 : 0));
    const { model } = trainGbt(train.matrix, train.labels, { params: { maxRounds: 30, learningRate: 0.3 } });
    const scores = predictions(model, test.matrix);
    const errors = scores.filter((raw, i) => (raw > 0 ? 1 : 0) !== test.labels[i]).length;
    expect(errors).toBeLessThanOrEqual(3);
    // Every split of the first tree that matters is on the deciding column.
    expect(model.trees[0]?.feature[0]).toBe(1);
    expect(model.trees[0]?.threshold[0]).toBeCloseTo(0.6, 2);
  });

  it('learns which way missing values go', () => {
    // Missing means fraud here; present values are fraud only when small.
    const train = dataset(3, 3000, (x) => (x < 0.1 ? 1 : 0), 0.2);
    const { model } = trainGbt(train.matrix, train.labels, { params: { maxRounds: 40, learningRate: 0.3 } });
    const missing = predictRaw(model, Float64Array.from([0, NaN, 2]));
    const large = predictRaw(model, Float64Array.from([0, 0.8, 2]));
    const small = predictRaw(model, Float64Array.from([0, 0.05, 2]));
    expect(missing).toBeGreaterThan(3);
    expect(small).toBeGreaterThan(3);
    expect(large).toBeLessThan(-3);
  });

  it('stops early on the validation loss and keeps the best round', () => {
    const noisy = (x: number, random: Random): number => (random.chance(x > 0.5 ? 0.7 : 0.3) ? 1 : 0);
    const train = dataset(4, 1000, noisy);
    const validation = dataset(5, 1000, noisy);
    const { model, history } = trainGbt(train.matrix, train.labels, {
      params: { maxRounds: 300, learningRate: 0.3, earlyStoppingRounds: 10 },
      validation,
    });
    expect(history.rounds).toBeLessThan(300);
    expect(model.trees.length).toBe(history.bestRound + 1);
    expect(history.rounds).toBe(history.bestRound + 11);
  });

  it('is deterministic, and node values are the row-weighted means of their children', () => {
    const train = dataset(6, 1000, (x) => (x > 0.3 ? 1 : 0));
    const first = trainGbt(train.matrix, train.labels, { params: { maxRounds: 5 } });
    const second = trainGbt(train.matrix, train.labels, { params: { maxRounds: 5 } });
    expect(second.model).toEqual(first.model);
    const tree = first.model.trees[0];
    if (tree === undefined) throw new Error('no tree');
    expect(tree.cover[0]).toBe(1000);
    const [left, right] = [tree.left[0] ?? 0, tree.right[0] ?? 0];
    const weighted =
      ((tree.value[left] ?? 0) * (tree.cover[left] ?? 0) +
        (tree.value[right] ?? 0) * (tree.cover[right] ?? 0)) /
      1000;
    expect(tree.value[0]).toBeCloseTo(weighted, 12);
  });
});
