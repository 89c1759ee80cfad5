/**
 * Trains the fraud model: `npm run risk:train`. Generates labelled authorizations with a fixed seed, computes their
 * features with the reference tracker, splits by time (train on the earlier days, stop early on the next ones,
 * measure on the last fifth, which the model never saw), trains gradient-boosted trees, writes the artefact to
 * src/risk/models and prints held-out figures. Same code, same artefact.
 */
import { writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { FEATURES, FEATURE_NAMES, type RiskFeatures } from '../features.js';
import { loadRiskModel, riskModelPath, scoreRisk } from '../model.js';
import { toArtefact } from './artefact.js';
import { FEATURE_HISTORY_MS, FeatureTracker } from '../feature-tracker.js';
import { DEFAULT_GBT_PARAMS, trainGbt, type GbtParams, type Matrix } from './gbt.js';
import { DEFAULT_GENERATOR_OPTIONS, FRAUD_PATTERNS, generateAuthorizations } from './generator.js';
import { averagePrecision, recallAtFalsePositiveRate } from './metrics.js';

const MODEL_VERSION = 'risk-model-v2';
const DAY = 86_400_000;
/** The first week only builds history: its authorizations' 7-day windows are not yet full. */
const WARM_UP_DAYS = FEATURE_HISTORY_MS / DAY;
const GENERATOR = { ...DEFAULT_GENERATOR_OPTIONS, days: 60 + WARM_UP_DAYS };
const TRAIN_DAYS = 36;
const VALIDATION_DAYS = 12;
const PARAMS: GbtParams = {
  ...DEFAULT_GBT_PARAMS,
  maxRounds: 400,
  learningRate: 0.08,
  maxDepth: 6,
  lambda: 1,
  minChildHessian: 0.5,
  earlyStoppingRounds: 40,
};

const print = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const percent = (share: number, digits = 2): string => `${(share * 100).toFixed(digits)}%`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

interface Split {
  readonly matrix: Matrix;
  readonly labels: Uint8Array;
  readonly patterns: (string | null)[];
}

function splitOf(
  rows: number[],
  vectors: Float64Array,
  labels: Uint8Array,
  patterns: (string | null)[],
): Split {
  const columns = FEATURES.length;
  const values = new Float64Array(rows.length * columns);
  const splitLabels = new Uint8Array(rows.length);
  rows.forEach((row, i) => {
    values.set(vectors.subarray(row * columns, (row + 1) * columns), i * columns);
    splitLabels[i] = labels[row] ?? 0;
  });
  return {
    matrix: { rows: rows.length, columns, values },
    labels: splitLabels,
    patterns: rows.map((row) => patterns[row] ?? null),
  };
}

/** The features a vector encodes, as the production engine would hand them to scoreRisk (NaN left out). */
function featuresOf(vector: Float64Array, offset: number): RiskFeatures {
  const features: Record<string, number | boolean | string> = {};
  FEATURES.forEach((feature, index) => {
    const value = vector[offset + index] ?? NaN;
    if (Number.isNaN(value)) return;
    if (feature.kind === 'number') features[feature.name] = value;
    else if (feature.kind === 'boolean') features[feature.name] = value === 1;
    else features[feature.name] = feature.values?.[value] ?? '';
  });
  return features;
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const data = generateAuthorizations(GENERATOR);
  const generatedAt = performance.now();

  const tracker = new FeatureTracker();
  const total = data.authorizations.length;
  const columns = FEATURES.length;
  const vectors = new Float64Array(total * columns).fill(NaN);
  const labels = new Uint8Array(total);
  const patterns: (string | null)[] = [];
  const trainRows: number[] = [];
  const validationRows: number[] = [];
  const heldOutRows: number[] = [];
  const firstDay = GENERATOR.start + WARM_UP_DAYS * DAY;
  data.authorizations.forEach((auth, row) => {
    const features = tracker.next(auth);
    FEATURES.forEach((feature, index) => {
      const value = features[feature.name];
      if (value === undefined) return;
      vectors[row * columns + index] =
        typeof value === 'number'
          ? value
          : typeof value === 'boolean'
            ? Number(value)
            : (feature.values ?? []).indexOf(value);
    });
    labels[row] = auth.fraud === null ? 0 : 1;
    patterns.push(auth.fraud);
    const day = Math.floor((auth.time - firstDay) / DAY);
    if (day < 0) return;
    if (day < TRAIN_DAYS) trainRows.push(row);
    else if (day < TRAIN_DAYS + VALIDATION_DAYS) validationRows.push(row);
    else heldOutRows.push(row);
  });
  const featuredAt = performance.now();

  const train = splitOf(trainRows, vectors, labels, patterns);
  const validation = splitOf(validationRows, vectors, labels, patterns);
  const heldOut = splitOf(heldOutRows, vectors, labels, patterns);
  const fraudShare = (split: Split): number =>
    split.labels.reduce((sum, label) => sum + label, 0) / split.labels.length;
  print(
    `generated ${total.toLocaleString('en')} authorizations (${data.cards.toLocaleString('en')} cards) in ${seconds(generatedAt - startedAt)}; features in ${seconds(featuredAt - generatedAt)}`,
  );
  for (const [name, split] of [
    ['train', train],
    ['validation', validation],
    ['held out', heldOut],
  ] as const) {
    print(
      `  ${name.padEnd(10)} ${split.matrix.rows.toLocaleString('en').padStart(8)} rows, fraud ${percent(fraudShare(split), 3)}`,
    );
  }

  const { model, history } = trainGbt(train.matrix, train.labels, {
    params: PARAMS,
    validation: { matrix: validation.matrix, labels: validation.labels },
    onRound: (round, trainLoss, validationLoss) => {
      if (round % 50 === 0) {
        print(
          `  round ${String(round).padStart(3)}: train loss ${trainLoss.toFixed(6)}, validation ${validationLoss?.toFixed(6) ?? '-'}`,
        );
      }
    },
  });
  const trainedAt = performance.now();
  const nodes = model.trees.reduce((sum, tree) => sum + tree.feature.length, 0);
  print(
    `trained ${history.rounds} rounds in ${seconds(trainedAt - featuredAt)}; kept ${model.trees.length} trees (best validation loss at round ${history.bestRound}), ${nodes.toLocaleString('en')} nodes`,
  );

  // Held-out figures come from the artefact as loaded, through the inference code the engine uses.
  const draft = toArtefact(model, MODEL_VERSION, {}, {});
  const loaded = loadRiskModel(JSON.parse(JSON.stringify(draft)));
  const scores = new Float64Array(heldOut.matrix.rows);
  const inferenceStart = performance.now();
  for (let row = 0; row < heldOut.matrix.rows; row += 1) {
    scores[row] = scoreRisk(loaded, featuresOf(heldOut.matrix.values, row * columns)).raw_score;
  }
  const inferenceMs = performance.now() - inferenceStart;

  const auprc = averagePrecision(scores, heldOut.labels);
  const strict = recallAtFalsePositiveRate(scores, heldOut.labels, 0.001);
  const loose = recallAtFalsePositiveRate(scores, heldOut.labels, 0.01);
  const toRiskScore = (raw: number): number => Math.min(99, Math.floor(100 / (1 + Math.exp(-raw))));
  const perPattern: Record<string, { rows: number; recall: number }> = {};
  for (const pattern of FRAUD_PATTERNS) {
    let rows = 0;
    let caught = 0;
    heldOut.patterns.forEach((label, row) => {
      if (label !== pattern) return;
      rows += 1;
      if ((scores[row] ?? 0) > strict.threshold) caught += 1;
    });
    perPattern[pattern] = { rows, recall: rows > 0 ? caught / rows : NaN };
  }

  print();
  print(
    `held out (last ${60 - TRAIN_DAYS - VALIDATION_DAYS} days): ${heldOut.matrix.rows.toLocaleString('en')} authorizations, fraud ${percent(fraudShare(heldOut), 3)}`,
  );
  print(`  AUPRC (average precision)                ${auprc.toFixed(4)}`);
  print(
    `  fraud caught at 0.1% of legitimate declined: ${percent(strict.recall, 1)} (legitimate declined ${percent(strict.falsePositiveRate, 3)}; raw > ${strict.threshold.toFixed(3)}, risk_score >= ~${toRiskScore(strict.threshold)})`,
  );
  print(
    `  fraud caught at 1% of legitimate declined:   ${percent(loose.recall, 1)} (legitimate declined ${percent(loose.falsePositiveRate, 3)}; raw > ${loose.threshold.toFixed(3)}, risk_score >= ~${toRiskScore(loose.threshold)})`,
  );
  print('  recall per pattern at 0.1% of legitimate declined:');
  for (const [pattern, figures] of Object.entries(perPattern)) {
    print(
      `    ${pattern.padEnd(18)} ${percent(figures.recall, 1).padStart(6)} of ${figures.rows} authorizations`,
    );
  }
  print(
    `  inference: ${((inferenceMs * 1000) / heldOut.matrix.rows).toFixed(1)} µs per score (feature object to score, through scoreRisk)`,
  );

  const metrics = {
    held_out_rows: heldOut.matrix.rows,
    held_out_fraud_share: fraudShare(heldOut),
    auprc,
    recall_at_0_1_percent_fpr: strict.recall,
    raw_threshold_at_0_1_percent_fpr: strict.threshold,
    recall_at_1_percent_fpr: loose.recall,
    raw_threshold_at_1_percent_fpr: loose.threshold,
    recall_by_pattern_at_0_1_percent_fpr: Object.fromEntries(
      Object.entries(perPattern).map(([pattern, figures]) => [pattern, figures.recall]),
    ),
  };
  const training = {
    script: 'src/risk/training/train.ts',
    generator: { ...GENERATOR, start: new Date(GENERATOR.start).toISOString() },
    split: {
      warm_up_days: WARM_UP_DAYS,
      train_days: TRAIN_DAYS,
      validation_days: VALIDATION_DAYS,
      held_out_days: 60 - TRAIN_DAYS - VALIDATION_DAYS,
    },
    rows: { train: train.matrix.rows, validation: validation.matrix.rows, held_out: heldOut.matrix.rows },
    params: PARAMS,
    rounds: history.rounds,
    best_round: history.bestRound,
    best_validation_loss: history.validationLoss[history.bestRound],
    feature_names: FEATURE_NAMES.length,
  };
  const artefact = toArtefact(model, MODEL_VERSION, metrics, training);
  const options = (await resolveConfig(riskModelPath)) ?? {};
  // Formatted as the repository's Prettier would, so `prettier --check .` passes on the committed file.
  const text = await format(JSON.stringify(artefact), { ...options, parser: 'json' });
  writeFileSync(riskModelPath, text);
  print();
  print(`wrote ${riskModelPath} (${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB)`);
  print(
    `total ${seconds(performance.now() - startedAt)}: generation ${seconds(generatedAt - startedAt)}, features ${seconds(featuredAt - generatedAt)}, training ${seconds(trainedAt - featuredAt)}`,
  );
}

await main();
