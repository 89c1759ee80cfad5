import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ENTRY_MODE_CODES,
  FEATURES,
  FEATURE_NAMES,
  MCC_RISK_CLASSES,
  type RiskFeatures,
} from './features.js';
import {
  RISK_MODEL_FORMAT,
  TOP_FEATURE_COUNT,
  explainRisk,
  loadRiskModel,
  loadRiskModelFile,
  riskModelPath,
  scoreRisk,
} from './model.js';

/** Splits on `amount` at 1,000: missing goes right. */
function tinyArtefact(): Record<string, unknown> {
  return {
    format: RISK_MODEL_FORMAT,
    version: 'test-v1',
    features: [...FEATURE_NAMES],
    base_score: -5,
    trees: [
      {
        feature: [0, -1, -1],
        threshold: [1000, 0, 0],
        missing_left: [false, false, false],
        left: [1, -1, -1],
        right: [2, -1, -1],
        value: [0.1, -0.5, 2.1],
        cover: [10, 8, 2],
      },
    ],
    metrics: {},
    training: {},
  };
}

function withTree(change: (tree: Record<string, unknown>) => void): Record<string, unknown> {
  const artefact = tinyArtefact();
  const trees = artefact.trees as Record<string, unknown>[];
  const tree = trees[0];
  if (tree === undefined) throw new Error('no tree');
  change(tree);
  return artefact;
}

const ORDINARY: RiskFeatures = {
  amount: 8_500,
  amount_ratio: 0.9,
  card_count_1m: 0,
  card_count_1h: 0,
  card_count_24h: 1,
  card_count_7d: 9,
  card_amount_1m: 0,
  card_amount_1h: 0,
  card_amount_24h: 6_000,
  card_amount_7d: 80_000,
  card_declines_1m: 0,
  card_declines_1h: 0,
  card_declines_24h: 0,
  card_declines_7d: 0,
  cardholder_count_1m: 0,
  cardholder_count_1h: 0,
  cardholder_count_24h: 1,
  cardholder_count_7d: 9,
  cardholder_amount_1m: 0,
  cardholder_amount_1h: 0,
  cardholder_amount_24h: 6_000,
  cardholder_amount_7d: 80_000,
  cardholder_declines_1m: 0,
  cardholder_declines_1h: 0,
  cardholder_declines_24h: 0,
  cardholder_declines_7d: 0,
  merchant_count_1m: 0,
  merchant_count_1h: 2,
  merchant_count_24h: 30,
  merchant_count_7d: 200,
  merchant_amount_1m: 0,
  merchant_amount_1h: 17_000,
  merchant_amount_24h: 250_000,
  merchant_amount_7d: 1_700_000,
  merchant_declines_1m: 0,
  merchant_declines_1h: 0,
  merchant_declines_24h: 0,
  merchant_declines_7d: 2,
  merchant_new_cards_1h: 0,
  merchant_new_cards_24h: 3,
  minutes_since_last: 600,
  first_time_merchant: false,
  mcc_risk_class: 'low',
  foreign_merchant: false,
  country_changed: false,
  impossible_travel: false,
  entry_mode: 'contactless',
  local_hour: 13,
};

const CARD_TESTING: RiskFeatures = {
  ...ORDINARY,
  amount: 100,
  amount_ratio: 0.01,
  card_count_24h: 0,
  card_amount_24h: 0,
  merchant_count_1m: 12,
  merchant_count_1h: 45,
  merchant_count_24h: 60,
  merchant_amount_1m: 600,
  merchant_amount_1h: 2_000,
  merchant_amount_24h: 20_000,
  merchant_declines_1m: 6,
  merchant_declines_1h: 25,
  merchant_declines_24h: 25,
  merchant_declines_7d: 27,
  merchant_new_cards_1h: 44,
  merchant_new_cards_24h: 50,
  device_count_1m: 11,
  device_count_1h: 40,
  device_count_24h: 40,
  device_count_7d: 40,
  device_amount_1m: 500,
  device_amount_1h: 1_800,
  device_amount_24h: 1_800,
  device_amount_7d: 1_800,
  device_declines_1m: 6,
  device_declines_1h: 22,
  device_declines_24h: 22,
  device_declines_7d: 22,
  minutes_since_last: 3_000,
  first_time_merchant: true,
  entry_mode: 'ecommerce',
  local_hour: 3,
};

describe('loadRiskModel', () => {
  it('loads a well-formed artefact', () => {
    const model = loadRiskModel(tinyArtefact());
    expect(model.version).toBe('test-v1');
    expect(scoreRisk(model, { amount: 500 }).raw_score).toBeCloseTo(-5.5, 12);
    expect(scoreRisk(model, { amount: 5_000 }).raw_score).toBeCloseTo(-2.9, 12);
    expect(scoreRisk(model, {}).raw_score).toBeCloseTo(-2.9, 12); // missing goes right
  });

  const refusals: [string, unknown, RegExp][] = [
    ['not an object', [], /artefact must be a JSON object/],
    [
      'another format',
      { ...tinyArtefact(), format: 'xgboost' },
      /format must be "lantau-gbt\/1", got "xgboost"/,
    ],
    ['no version', { ...tinyArtefact(), version: '' }, /version must be a non-empty string/],
    [
      'features out of order',
      { ...tinyArtefact(), features: [FEATURE_NAMES[1], FEATURE_NAMES[0], ...FEATURE_NAMES.slice(2)] },
      /features must equal the catalogue \(FEATURE_NAMES\) in order: at position 0 expected "amount", got "amount_ratio"/,
    ],
    [
      'a feature short',
      { ...tinyArtefact(), features: FEATURE_NAMES.slice(0, -1) },
      /at position 59 expected "local_hour", got the end/,
    ],
    [
      'a base score that is not a number',
      { ...tinyArtefact(), base_score: '1' },
      /base_score must be a finite number/,
    ],
    ['no trees', { ...tinyArtefact(), trees: [] }, /trees must be a non-empty array/],
    [
      'a feature index past the catalogue',
      withTree((tree) => (tree.feature = [60, -1, -1])),
      /trees\[0\]\.feature\[0\] must be -1 or a feature index below 60, got 60/,
    ],
    [
      'a non-finite threshold',
      withTree((tree) => (tree.threshold = [null, 0, 0])),
      /trees\[0\]\.threshold\[0\] must be a finite number, got null/,
    ],
    [
      'arrays of different lengths',
      withTree((tree) => (tree.value = [0.1, -0.5])),
      /trees\[0\]\.value has 2 entries, feature has 3/,
    ],
    [
      'missing_left that is not boolean',
      withTree((tree) => (tree.missing_left = [0, false, false])),
      /trees\[0\]\.missing_left\[0\] must be a boolean/,
    ],
    [
      'a child before its parent (a cycle)',
      withTree((tree) => (tree.left = [0, -1, -1])),
      /trees\[0\] node 0 has child 0, which does not come after it/,
    ],
    [
      'a node with two parents',
      withTree((tree) => (tree.left = [2, -1, -1])),
      /trees\[0\] node 1 has 0 parents, not 1/,
    ],
    [
      'a leaf with children',
      withTree((tree) => (tree.right = [2, 2, -1])),
      /trees\[0\] node 1 is a leaf with children/,
    ],
    ['metrics that are not an object', { ...tinyArtefact(), metrics: 3 }, /metrics must be an object/],
  ];
  it.each(refusals)('refuses %s, saying what is wrong', (_, artefact, message) => {
    expect(() => loadRiskModel(artefact)).toThrow(message);
  });

  it('names the file it cannot read', () => {
    expect(() => loadRiskModelFile('/nonexistent/risk-model.json')).toThrow(/cannot read \/nonexistent/);
  });
});

describe('the committed model', () => {
  const model = loadRiskModelFile(riskModelPath);

  it('is risk-model-v2 over the catalogue', () => {
    expect(model.version).toBe('risk-model-v2');
    expect(model.roots.length).toBeGreaterThan(10);
  });

  it('scores card testing far above an ordinary purchase, and says why', () => {
    // Every feature the engine would give: an in-store purchase has no device.
    expect(
      FEATURE_NAMES.filter((name) => !(name in ORDINARY)).every((name) => name.startsWith('device_')),
    ).toBe(true);
    expect(FEATURE_NAMES.filter((name) => !(name in CARD_TESTING))).toEqual([]);
    const ordinary = scoreRisk(model, ORDINARY);
    const testing = scoreRisk(model, CARD_TESTING);
    expect(ordinary.risk_score).toBeLessThanOrEqual(2);
    expect(testing.risk_score).toBeGreaterThanOrEqual(50);
    expect(testing.raw_score - ordinary.raw_score).toBeGreaterThan(5);
    expect(testing.top_features).toHaveLength(TOP_FEATURE_COUNT);
    const named = testing.top_features.map((entry) => entry.feature);
    expect(named.some((name) => name.startsWith('merchant_') || name.startsWith('device_'))).toBe(true);
    expect(testing.model_version).toBe('risk-model-v2');
  });

  it('explains every score exactly: bias plus contributions is the raw score', () => {
    for (const features of [ORDINARY, CARD_TESTING, {}]) {
      const explanation = explainRisk(model, features);
      const sum = explanation.contributions.reduce(
        (total, entry) => total + entry.contribution,
        explanation.bias,
      );
      expect(Math.abs(sum - explanation.raw_score)).toBeLessThan(1e-9);
      expect(scoreRisk(model, features).raw_score).toBe(explanation.raw_score);
    }
  });

  const featureValue = (index: number): fc.Arbitrary<number | boolean | string | undefined> => {
    const feature = FEATURES[index];
    const anything = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 3 }), fc.double(), fc.boolean());
    if (feature === undefined) return anything;
    if (feature.kind === 'boolean') return fc.oneof(fc.boolean(), anything);
    if (feature.kind === 'category') {
      const values = feature.name === 'entry_mode' ? ENTRY_MODE_CODES : MCC_RISK_CLASSES;
      return fc.oneof(fc.constantFrom(...values), anything);
    }
    return fc.oneof(
      fc.double({ min: -1e12, max: 1e12, noNaN: true }),
      fc.integer({ min: 0, max: 1000 }),
      anything,
    );
  };
  const arbitraryFeatures = fc.tuple(...FEATURES.map((_, index) => featureValue(index))).map((values) => {
    const features: Record<string, number | boolean | string> = {};
    values.forEach((value, index) => {
      const name = FEATURE_NAMES[index];
      if (value !== undefined && name !== undefined) features[name] = value;
    });
    return features;
  });

  it('scores any feature values, missing or mistyped ones included, within 0..99, explained', () => {
    fc.assert(
      fc.property(arbitraryFeatures, (features) => {
        const score = scoreRisk(model, features);
        expect(Number.isInteger(score.risk_score)).toBe(true);
        expect(score.risk_score).toBeGreaterThanOrEqual(0);
        expect(score.risk_score).toBeLessThanOrEqual(99);
        expect(Number.isFinite(score.raw_score)).toBe(true);
        expect(score.probability).toBeGreaterThanOrEqual(0);
        expect(score.probability).toBeLessThanOrEqual(1);
        expect(score.top_features.length).toBeLessThanOrEqual(TOP_FEATURE_COUNT);
        const sizes = score.top_features.map((entry) => Math.abs(entry.contribution));
        expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
        const explanation = explainRisk(model, features);
        const sum = explanation.contributions.reduce(
          (total, entry) => total + entry.contribution,
          explanation.bias,
        );
        expect(Math.abs(sum - score.raw_score)).toBeLessThan(1e-9);
      }),
      { numRuns: 300 },
    );
  });
});
