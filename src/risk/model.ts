import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FEATURES, FEATURE_NAMES, featureVector, type RiskFeatures } from './features.js';
import { isRecord } from '../platform/records.js';

/**
 * The fraud-scoring model: its artefact format, loading and inference. The artefact is JSON written by
 * `npm run risk:train` (src/risk/training/train.ts) and committed under src/risk/models; a process loads it once at
 * start and scores every authorization with it in a few microseconds.
 *
 * Format `lantau-gbt/1`: gradient-boosted trees over the feature catalogue (features.ts) in catalogue order. The
 * raw score (log-odds of fraud) is `base_score` plus every tree's output. Each tree is parallel arrays, one entry
 * per node, node 0 the root and every child after its parent:
 * - `feature`: the index into `features` that an internal node splits on; -1 for a leaf.
 * - `threshold`: an internal node sends a value below it left, others right.
 * - `missing_left`: whether a missing (NaN) value goes left.
 * - `left`, `right`: child node indices; -1 for a leaf.
 * - `value`: the node's expected raw output over the training rows that reached it (for a leaf, its output).
 * - `cover`: how many training rows reached it.
 */

export const RISK_MODEL_FORMAT = 'lantau-gbt/1';
export const riskModelPath = fileURLToPath(new URL('./models/risk-model-v2.json', import.meta.url));

export interface RiskModelTreeArtefact {
  readonly feature: readonly number[];
  readonly threshold: readonly number[];
  readonly missing_left: readonly boolean[];
  readonly left: readonly number[];
  readonly right: readonly number[];
  readonly value: readonly number[];
  readonly cover: readonly number[];
}

export interface RiskModelArtefact {
  readonly format: typeof RISK_MODEL_FORMAT;
  readonly version: string;
  readonly features: readonly string[];
  readonly base_score: number;
  readonly trees: readonly RiskModelTreeArtefact[];
  /** Held-out figures the trainer measured; informative, not used in scoring. */
  readonly metrics: Readonly<Record<string, unknown>>;
  /** How it was trained (data, parameters, rounds); informative. */
  readonly training: Readonly<Record<string, unknown>>;
}

/** A loaded model: every tree's nodes in flat typed arrays, children as absolute node indices. */
export interface RiskModel {
  readonly version: string;
  readonly baseScore: number;
  readonly metrics: Readonly<Record<string, unknown>>;
  readonly roots: Int32Array;
  readonly feature: Int32Array;
  readonly threshold: Float64Array;
  readonly missingLeft: Uint8Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  readonly value: Float64Array;
  /** Per-feature contributions of the score being computed, reused so scoring allocates little. */
  readonly scratch: Float64Array;
}

export interface FeatureContribution {
  readonly feature: string;
  /** The value scored, as given; null when it was missing or of the wrong type (scored as missing). */
  readonly value: number | boolean | string | null;
  /** Its share of the raw score (log-odds). */
  readonly contribution: number;
}

export interface RiskScore {
  /** 0..99. */
  readonly risk_score: number;
  readonly probability: number;
  /** Log-odds of fraud. */
  readonly raw_score: number;
  readonly top_features: readonly FeatureContribution[];
  readonly model_version: string;
}

export interface RiskExplanation {
  readonly raw_score: number;
  /** The raw score every authorization starts from: base score plus each tree's expected output. */
  readonly bias: number;
  /** Per feature, in catalogue order; bias plus their sum is the raw score. */
  readonly contributions: readonly FeatureContribution[];
}

/** How many features a score names as its reasons. */
export const TOP_FEATURE_COUNT = 5;
const MAX_NODES = 2_000_000;

export class RiskModelError extends Error {
  constructor(message: string) {
    super(`risk model: ${message}`);
    this.name = 'RiskModelError';
  }
}

/** A value as JSON for an error message; `absent` when there is none. */
function shown(value: unknown, absent: string): string {
  return value === undefined ? absent : JSON.stringify(value);
}

function numberArray(
  value: unknown,
  where: string,
  check: (n: number) => boolean,
  expected: string,
): number[] {
  if (!Array.isArray(value)) throw new RiskModelError(`${where} must be an array`);
  value.forEach((item: unknown, index) => {
    if (typeof item !== 'number' || !check(item)) {
      throw new RiskModelError(`${where}[${index}] must be ${expected}, got ${shown(item, 'nothing')}`);
    }
  });
  return value as number[];
}

function validateTree(tree: unknown, index: number, featureCount: number): RiskModelTreeArtefact {
  const where = `trees[${index}]`;
  if (!isRecord(tree)) throw new RiskModelError(`${where} must be an object`);
  const feature = numberArray(
    tree.feature,
    `${where}.feature`,
    (n) => Number.isInteger(n) && n >= -1 && n < featureCount,
    `-1 or a feature index below ${featureCount}`,
  );
  const size = feature.length;
  if (size === 0) throw new RiskModelError(`${where} has no nodes`);
  const threshold = numberArray(tree.threshold, `${where}.threshold`, Number.isFinite, 'a finite number');
  const child = (n: number): boolean => Number.isInteger(n) && n >= -1 && n < size;
  const left = numberArray(tree.left, `${where}.left`, child, `-1 or a node index below ${size}`);
  const right = numberArray(tree.right, `${where}.right`, child, `-1 or a node index below ${size}`);
  const value = numberArray(tree.value, `${where}.value`, Number.isFinite, 'a finite number');
  const cover = numberArray(
    tree.cover,
    `${where}.cover`,
    (n) => Number.isFinite(n) && n >= 0,
    'a number >= 0',
  );
  const missingLeft: unknown = tree.missing_left;
  if (!Array.isArray(missingLeft)) throw new RiskModelError(`${where}.missing_left must be an array`);
  missingLeft.forEach((item: unknown, node) => {
    if (typeof item !== 'boolean')
      throw new RiskModelError(`${where}.missing_left[${node}] must be a boolean`);
  });
  for (const [name, array] of [
    ['threshold', threshold],
    ['missing_left', missingLeft],
    ['left', left],
    ['right', right],
    ['value', value],
    ['cover', cover],
  ] as const) {
    if (array.length !== size) {
      throw new RiskModelError(`${where}.${name} has ${array.length} entries, feature has ${size}`);
    }
  }
  // A tree: every node but the root is the child of exactly one node that comes before it, so no cycles.
  const parents = new Array<number>(size).fill(0);
  for (let node = 0; node < size; node += 1) {
    const isLeaf = feature[node] === -1;
    const children = [left[node] ?? -1, right[node] ?? -1];
    if (isLeaf) {
      if (children.some((c) => c !== -1))
        throw new RiskModelError(`${where} node ${node} is a leaf with children`);
      continue;
    }
    for (const c of children) {
      if (c <= node)
        throw new RiskModelError(`${where} node ${node} has child ${c}, which does not come after it`);
      parents[c] = (parents[c] ?? 0) + 1;
    }
  }
  parents.forEach((count, node) => {
    if (node > 0 && count !== 1)
      throw new RiskModelError(`${where} node ${node} has ${count} parents, not 1`);
  });
  return { feature, threshold, missing_left: missingLeft as boolean[], left, right, value, cover };
}

/** Checks an artefact strictly, naming the first thing wrong, and builds the flat arrays inference runs on. */
export function loadRiskModel(json: unknown): RiskModel {
  if (!isRecord(json)) throw new RiskModelError('artefact must be a JSON object');
  if (json.format !== RISK_MODEL_FORMAT) {
    throw new RiskModelError(`format must be "${RISK_MODEL_FORMAT}", got ${shown(json.format, 'nothing')}`);
  }
  if (typeof json.version !== 'string' || json.version === '') {
    throw new RiskModelError('version must be a non-empty string');
  }
  const features: unknown = json.features;
  if (!Array.isArray(features)) throw new RiskModelError('features must be an array of feature names');
  if (features.length !== FEATURE_NAMES.length || features.some((name, i) => name !== FEATURE_NAMES[i])) {
    const at = FEATURE_NAMES.findIndex((name, i) => features[i] !== name);
    const position = at === -1 ? FEATURE_NAMES.length : at;
    throw new RiskModelError(
      `features must equal the catalogue (FEATURE_NAMES) in order: at position ${position} expected ` +
        `${shown(FEATURE_NAMES[position], 'the end')}, got ${shown(features[position], 'the end')}`,
    );
  }
  if (typeof json.base_score !== 'number' || !Number.isFinite(json.base_score)) {
    throw new RiskModelError('base_score must be a finite number');
  }
  if (!Array.isArray(json.trees) || json.trees.length === 0) {
    throw new RiskModelError('trees must be a non-empty array');
  }
  const metrics: unknown = json.metrics ?? {};
  if (!isRecord(metrics)) throw new RiskModelError('metrics must be an object when present');
  const trees = json.trees.map((tree: unknown, index) => validateTree(tree, index, FEATURES.length));
  const total = trees.reduce((sum, tree) => sum + tree.feature.length, 0);
  if (total > MAX_NODES) throw new RiskModelError(`${total} nodes is more than the ${MAX_NODES} allowed`);

  const model: RiskModel = {
    version: json.version,
    baseScore: json.base_score,
    metrics,
    roots: new Int32Array(trees.length),
    feature: new Int32Array(total),
    threshold: new Float64Array(total),
    missingLeft: new Uint8Array(total),
    left: new Int32Array(total),
    right: new Int32Array(total),
    value: new Float64Array(total),
    scratch: new Float64Array(FEATURES.length),
  };
  let offset = 0;
  trees.forEach((tree, index) => {
    model.roots[index] = offset;
    tree.feature.forEach((feature, node) => {
      const at = offset + node;
      model.feature[at] = feature;
      model.threshold[at] = tree.threshold[node] ?? 0;
      model.missingLeft[at] = tree.missing_left[node] === true ? 1 : 0;
      model.left[at] = feature < 0 ? -1 : offset + (tree.left[node] ?? 0);
      model.right[at] = feature < 0 ? -1 : offset + (tree.right[node] ?? 0);
      model.value[at] = tree.value[node] ?? 0;
    });
    offset += tree.feature.length;
  });
  return model;
}

/** Loads the committed artefact (or another file). Synchronous: it runs once, at start. */
export function loadRiskModelFile(path: string = riskModelPath): RiskModel {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new RiskModelError(
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return loadRiskModel(json);
}

/**
 * Walks every tree, crediting each split on the path with the change in expected value it makes (Saabas' path
 * method), into `contributions`. Returns the raw score (base score plus each tree's leaf) and the bias (base score plus
 * each root's expected value); the bias plus the contributions is the raw score, up to rounding.
 */
function walk(
  model: RiskModel,
  vector: Float64Array,
  contributions: Float64Array,
): { readonly raw: number; readonly bias: number } {
  contributions.fill(0);
  const { roots, feature, threshold, missingLeft, left, right, value } = model;
  let bias = model.baseScore;
  let raw = model.baseScore;
  for (let tree = 0; tree < roots.length; tree += 1) {
    let node = roots[tree] ?? 0;
    bias += value[node] ?? 0;
    let split = feature[node] ?? -1;
    while (split >= 0) {
      const x = vector[split] ?? NaN;
      const next = (x !== x ? missingLeft[node] === 1 : x < (threshold[node] ?? 0))
        ? left[node]
        : right[node];
      const child = next ?? 0;
      contributions[split] = (contributions[split] ?? 0) + (value[child] ?? 0) - (value[node] ?? 0);
      node = child;
      split = feature[node] ?? -1;
    }
    raw += value[node] ?? 0;
  }
  return { raw, bias };
}

function sigmoid(raw: number): number {
  return 1 / (1 + Math.exp(-raw));
}

function givenValue(
  features: RiskFeatures,
  index: number,
  vector: Float64Array,
): number | boolean | string | null {
  const name = FEATURE_NAMES[index] ?? '';
  return Number.isNaN(vector[index] ?? NaN) ? null : (features[name] ?? null);
}

/**
 * Scores one authorization's features. The risk score is the model's probability of fraud in percent, floored and
 * capped at 99: min(99, floor(probability × 100)). The trees are fitted to log loss, so the probability is
 * calibrated to the fraud rate of the data it was trained on, and a rule such as "decline at 40" then reads as
 * "decline when the model puts the chance of fraud at 40% or more". The cost is resolution at the bottom: most
 * genuine authorizations score 0 or 1, which is where no decision is made anyway.
 */
export function scoreRisk(model: RiskModel, features: RiskFeatures): RiskScore {
  const vector = featureVector(features);
  const contributions = model.scratch;
  const { raw } = walk(model, vector, contributions);
  const probability = sigmoid(raw);
  const risk_score = Math.min(99, Math.max(0, Math.floor(probability * 100)));

  // The largest absolute contributions, by insertion into a short sorted list: every feature, 5 kept.
  const top: number[] = [];
  for (let i = 0; i < contributions.length; i += 1) {
    const size = Math.abs(contributions[i] ?? 0);
    if (size === 0) continue;
    let at = top.length;
    while (at > 0 && Math.abs(contributions[top[at - 1] ?? 0] ?? 0) < size) at -= 1;
    if (at >= TOP_FEATURE_COUNT) continue;
    top.splice(at, 0, i);
    if (top.length > TOP_FEATURE_COUNT) top.pop();
  }
  return {
    risk_score,
    probability,
    raw_score: raw,
    top_features: top.map((index) => ({
      feature: FEATURE_NAMES[index] ?? '',
      value: givenValue(features, index, vector),
      contribution: contributions[index] ?? 0,
    })),
    model_version: model.version,
  };
}

/** Every feature's contribution, for decision explanations and for checking the model. */
export function explainRisk(model: RiskModel, features: RiskFeatures): RiskExplanation {
  const vector = featureVector(features);
  const contributions = new Float64Array(FEATURES.length);
  const { raw, bias } = walk(model, vector, contributions);
  return {
    raw_score: raw,
    bias,
    contributions: FEATURE_NAMES.map((feature, index) => ({
      feature,
      value: givenValue(features, index, vector),
      contribution: contributions[index] ?? 0,
    })),
  };
}
