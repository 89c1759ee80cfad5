/**
 * Gradient-boosted decision trees for binary classification (logistic loss), written out here because no machine
 * learning library on npm is kept well enough to build the fraud model on. Histogram-based, like LightGBM and
 * XGBoost's `hist`: each feature's values are cut into at most 255 quantile bins once, and each split is searched
 * over bin boundaries from per-node histograms of gradient and hessian sums (a child's histogram is its parent's
 * minus its sibling's, so only the smaller child is scanned). Trees grow level by level to a maximum depth, leaf
 * weights carry L2 regularisation, each child needs a minimum hessian, and each split learns which way missing
 * values (NaN) go. Training stops early when the validation loss has not improved for a number of rounds.
 * Everything is deterministic: no sampling, ties broken by feature order.
 */

export interface GbtParams {
  readonly maxRounds: number;
  readonly learningRate: number;
  readonly maxDepth: number;
  /** L2 regularisation of leaf weights. */
  readonly lambda: number;
  /** Least sum of hessians in a child. */
  readonly minChildHessian: number;
  /** Least loss reduction for a split. */
  readonly minSplitGain: number;
  /** At most 255: bin 255 holds missing values. */
  readonly maxBins: number;
  /** Stop when the validation loss has not improved for this many rounds. */
  readonly earlyStoppingRounds: number;
}

export const DEFAULT_GBT_PARAMS: GbtParams = {
  maxRounds: 300,
  learningRate: 0.1,
  maxDepth: 6,
  lambda: 1,
  minChildHessian: 1,
  minSplitGain: 0,
  maxBins: 255,
  earlyStoppingRounds: 30,
};

/** Rows of features, row-major: `values[row * columns + column]`; NaN is missing. */
export interface Matrix {
  readonly rows: number;
  readonly columns: number;
  readonly values: Float64Array;
}

/**
 * A tree as parallel arrays, node 0 the root, children after their parent. A leaf has feature -1. An internal node
 * sends a row left when its value is below the threshold, and a missing value left when `missingLeft`. `value` is
 * the node's expected raw output over the training rows that reached it (a leaf's is its weight), which is what
 * explanations credit each split with; `cover` is how many training rows reached it.
 */
export interface GbtTree {
  readonly feature: number[];
  readonly threshold: number[];
  readonly missingLeft: boolean[];
  readonly left: number[];
  readonly right: number[];
  readonly value: number[];
  readonly cover: number[];
}

export interface GbtModel {
  /** The raw score (log-odds) before any tree. */
  readonly baseScore: number;
  readonly trees: readonly GbtTree[];
}

export interface TrainingHistory {
  readonly rounds: number;
  readonly bestRound: number;
  readonly trainLoss: number[];
  readonly validationLoss: number[];
}

export interface TrainOptions {
  readonly params?: Partial<GbtParams>;
  readonly validation?: { readonly matrix: Matrix; readonly labels: Uint8Array };
  /** Called after each round, for progress output. */
  readonly onRound?: (round: number, trainLoss: number, validationLoss: number | undefined) => void;
}

const MISSING_BIN = 255;
const BIN_SLOTS = 256;
/** Gradient sum, hessian sum and row count per bin. */
const STATS = 3;

/** Cut points per column: bin(v) is how many thresholds are <= v, so bin(v) <= k exactly when v < thresholds[k]. */
export function quantileThresholds(matrix: Matrix, column: number, maxBins: number): Float64Array {
  const finite: number[] = [];
  for (let row = 0; row < matrix.rows; row += 1) {
    const value = matrix.values[row * matrix.columns + column] ?? NaN;
    if (!Number.isNaN(value)) finite.push(value);
  }
  if (finite.length === 0) return new Float64Array(0);
  const sorted = Float64Array.from(finite).sort();
  const distinct: number[] = [];
  const counts: number[] = [];
  for (const value of sorted) {
    if (distinct.length > 0 && distinct[distinct.length - 1] === value)
      counts[counts.length - 1] = (counts.at(-1) ?? 0) + 1;
    else {
      distinct.push(value);
      counts.push(1);
    }
  }
  const cuts: number[] = [];
  const midpoint = (i: number): number => ((distinct[i] ?? 0) + (distinct[i + 1] ?? 0)) / 2;
  if (distinct.length <= maxBins) {
    for (let i = 0; i + 1 < distinct.length; i += 1) cuts.push(midpoint(i));
  } else {
    const perBin = sorted.length / maxBins;
    let inBin = 0;
    for (let i = 0; i + 1 < distinct.length && cuts.length < maxBins - 1; i += 1) {
      inBin += counts[i] ?? 0;
      if (inBin >= perBin) {
        cuts.push(midpoint(i));
        inBin = 0;
      }
    }
  }
  return Float64Array.from(cuts);
}

function binOf(thresholds: Float64Array, value: number): number {
  if (Number.isNaN(value)) return MISSING_BIN;
  let low = 0;
  let high = thresholds.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((thresholds[middle] ?? 0) <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

function sigmoid(raw: number): number {
  return 1 / (1 + Math.exp(-raw));
}

/** Log loss from a raw score, without overflow for large scores. */
function logLoss(raw: number, label: number): number {
  return Math.max(raw, 0) - label * raw + Math.log1p(Math.exp(-Math.abs(raw)));
}

export function predictTree(tree: GbtTree, values: Float64Array, offset: number): number {
  let node = 0;
  for (;;) {
    const feature = tree.feature[node] ?? -1;
    if (feature < 0) return tree.value[node] ?? 0;
    const value = values[offset + feature] ?? NaN;
    const goLeft = Number.isNaN(value)
      ? (tree.missingLeft[node] ?? false)
      : value < (tree.threshold[node] ?? 0);
    node = (goLeft ? tree.left[node] : tree.right[node]) ?? 0;
  }
}

export function predictRaw(model: GbtModel, values: Float64Array, offset = 0): number {
  let raw = model.baseScore;
  for (const tree of model.trees) raw += predictTree(tree, values, offset);
  return raw;
}

interface Split {
  readonly gain: number;
  readonly feature: number;
  readonly bin: number;
  readonly missingLeft: boolean;
}

interface BuildNode {
  readonly id: number;
  readonly start: number;
  readonly end: number;
  readonly depth: number;
  readonly histogram: Float64Array;
  readonly gradient: number;
  readonly hessian: number;
}

class TreeBuilder {
  private readonly histogramSize: number;
  private readonly scratch: Uint32Array;

  constructor(
    private readonly bins: Uint8Array,
    private readonly columns: number,
    private readonly thresholds: readonly Float64Array[],
    private readonly indices: Uint32Array,
    private readonly params: GbtParams,
  ) {
    this.histogramSize = columns * BIN_SLOTS * STATS;
    this.scratch = new Uint32Array(indices.length);
  }

  /** Grows one tree on the current gradients, and adds its output to `raw` for every training row. */
  build(gradients: Float64Array, hessians: Float64Array, raw: Float64Array): GbtTree {
    const tree: GbtTree = {
      feature: [],
      threshold: [],
      missingLeft: [],
      left: [],
      right: [],
      value: [],
      cover: [],
    };
    const addNode = (): number => {
      tree.feature.push(-1);
      tree.threshold.push(0);
      tree.missingLeft.push(false);
      tree.left.push(-1);
      tree.right.push(-1);
      tree.value.push(0);
      tree.cover.push(0);
      return tree.feature.length - 1;
    };
    const rootHistogram = new Float64Array(this.histogramSize);
    this.accumulate(rootHistogram, 0, this.indices.length, gradients, hessians);
    let queue: BuildNode[] = [
      {
        id: addNode(),
        start: 0,
        end: this.indices.length,
        depth: 0,
        histogram: rootHistogram,
        ...this.totals(rootHistogram),
      },
    ];
    while (queue.length > 0) {
      const nextLevel: BuildNode[] = [];
      for (const node of queue) {
        tree.cover[node.id] = node.end - node.start;
        const split = node.depth < this.params.maxDepth ? this.bestSplit(node) : undefined;
        if (split === undefined) {
          const weight = (-node.gradient / (node.hessian + this.params.lambda)) * this.params.learningRate;
          tree.value[node.id] = weight;
          for (let i = node.start; i < node.end; i += 1) {
            const row = this.indices[i] ?? 0;
            raw[row] = (raw[row] ?? 0) + weight;
          }
          continue;
        }
        const middle = this.partition(node, split);
        const leftId = addNode();
        const rightId = addNode();
        tree.feature[node.id] = split.feature;
        tree.threshold[node.id] = this.thresholds[split.feature]?.[split.bin] ?? 0;
        tree.missingLeft[node.id] = split.missingLeft;
        tree.left[node.id] = leftId;
        tree.right[node.id] = rightId;
        // Scan the smaller child; the larger one's histogram is the parent's minus it, reusing the parent's array.
        const leftSmaller = middle - node.start <= node.end - middle;
        const small = new Float64Array(this.histogramSize);
        if (leftSmaller) this.accumulate(small, node.start, middle, gradients, hessians);
        else this.accumulate(small, middle, node.end, gradients, hessians);
        const large = node.histogram;
        for (let i = 0; i < large.length; i += 1) large[i] = (large[i] ?? 0) - (small[i] ?? 0);
        const leftHistogram = leftSmaller ? small : large;
        const rightHistogram = leftSmaller ? large : small;
        const depth = node.depth + 1;
        nextLevel.push(
          {
            id: leftId,
            start: node.start,
            end: middle,
            depth,
            histogram: leftHistogram,
            ...this.totals(leftHistogram),
          },
          {
            id: rightId,
            start: middle,
            end: node.end,
            depth,
            histogram: rightHistogram,
            ...this.totals(rightHistogram),
          },
        );
      }
      queue = nextLevel;
    }
    // An internal node's expected value is the row-weighted mean of its children's; children come after parents.
    for (let id = tree.feature.length - 1; id >= 0; id -= 1) {
      if ((tree.feature[id] ?? -1) < 0) continue;
      const left = tree.left[id] ?? 0;
      const right = tree.right[id] ?? 0;
      const leftCover = tree.cover[left] ?? 0;
      const rightCover = tree.cover[right] ?? 0;
      tree.value[id] =
        ((tree.value[left] ?? 0) * leftCover + (tree.value[right] ?? 0) * rightCover) /
        (leftCover + rightCover);
    }
    return tree;
  }

  private totals(histogram: Float64Array): { gradient: number; hessian: number } {
    // Every row falls in exactly one bin of column 0, so its bins sum to the node's totals.
    let gradient = 0;
    let hessian = 0;
    for (let bin = 0; bin < BIN_SLOTS; bin += 1) {
      gradient += histogram[bin * STATS] ?? 0;
      hessian += histogram[bin * STATS + 1] ?? 0;
    }
    return { gradient, hessian };
  }

  private accumulate(
    histogram: Float64Array,
    start: number,
    end: number,
    gradients: Float64Array,
    hessians: Float64Array,
  ): void {
    const columns = this.columns;
    const bins = this.bins;
    for (let i = start; i < end; i += 1) {
      const row = this.indices[i] ?? 0;
      const gradient = gradients[row] ?? 0;
      const hessian = hessians[row] ?? 0;
      const base = row * columns;
      for (let column = 0; column < columns; column += 1) {
        const slot = ((column << 8) + (bins[base + column] ?? 0)) * STATS;
        histogram[slot] = (histogram[slot] ?? 0) + gradient;
        histogram[slot + 1] = (histogram[slot + 1] ?? 0) + hessian;
        histogram[slot + 2] = (histogram[slot + 2] ?? 0) + 1;
      }
    }
  }

  private bestSplit(node: BuildNode): Split | undefined {
    const { lambda, minChildHessian, minSplitGain } = this.params;
    const histogram = node.histogram;
    const parentScore = (node.gradient * node.gradient) / (node.hessian + lambda);
    let best: Split | undefined;
    for (let column = 0; column < this.columns; column += 1) {
      const valueBins = (this.thresholds[column]?.length ?? 0) + 1;
      const offset = column * BIN_SLOTS * STATS;
      const missingSlot = offset + MISSING_BIN * STATS;
      const missingGradient = histogram[missingSlot] ?? 0;
      const missingHessian = histogram[missingSlot + 1] ?? 0;
      const missingCount = histogram[missingSlot + 2] ?? 0;
      let leftGradient = 0;
      let leftHessian = 0;
      for (let bin = 0; bin + 1 < valueBins; bin += 1) {
        const slot = offset + bin * STATS;
        leftGradient += histogram[slot] ?? 0;
        leftHessian += histogram[slot + 1] ?? 0;
        for (const missingLeft of missingCount > 0 ? [false, true] : [false]) {
          const gl = missingLeft ? leftGradient + missingGradient : leftGradient;
          const hl = missingLeft ? leftHessian + missingHessian : leftHessian;
          const gr = node.gradient - gl;
          const hr = node.hessian - hl;
          if (hl < minChildHessian || hr < minChildHessian) continue;
          const gain = 0.5 * ((gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parentScore);
          if (gain > minSplitGain && (best === undefined || gain > best.gain)) {
            // With no missing values here, send future ones the way most rows went.
            const defaultLeft = missingCount > 0 ? missingLeft : hl >= hr;
            best = { gain, feature: column, bin, missingLeft: defaultLeft };
          }
        }
      }
    }
    return best;
  }

  /** Reorders the node's rows, left child's first (stably), and returns where the right child's start. */
  private partition(node: BuildNode, split: Split): number {
    let leftEnd = node.start;
    let rightCount = 0;
    for (let i = node.start; i < node.end; i += 1) {
      const row = this.indices[i] ?? 0;
      const bin = this.bins[row * this.columns + split.feature] ?? 0;
      const goLeft = bin === MISSING_BIN ? split.missingLeft : bin <= split.bin;
      if (goLeft) {
        this.indices[leftEnd] = row;
        leftEnd += 1;
      } else {
        this.scratch[rightCount] = row;
        rightCount += 1;
      }
    }
    this.indices.set(this.scratch.subarray(0, rightCount), leftEnd);
    return leftEnd;
  }
}

export function trainGbt(
  matrix: Matrix,
  labels: Uint8Array,
  options: TrainOptions = {},
): { model: GbtModel; history: TrainingHistory } {
  const params: GbtParams = { ...DEFAULT_GBT_PARAMS, ...options.params };
  if (params.maxBins < 2 || params.maxBins > 255) throw new RangeError('maxBins must be within 2..255');
  if (labels.length !== matrix.rows) throw new RangeError('one label per row');
  if (matrix.values.length !== matrix.rows * matrix.columns) throw new RangeError('matrix size mismatch');
  const { rows, columns } = matrix;

  const thresholds = Array.from({ length: columns }, (_, column) =>
    quantileThresholds(matrix, column, params.maxBins),
  );
  const bins = new Uint8Array(rows * columns);
  for (let row = 0; row < rows; row += 1) {
    for (let column = 0; column < columns; column += 1) {
      const index = row * columns + column;
      bins[index] = binOf(thresholds[column] ?? new Float64Array(0), matrix.values[index] ?? NaN);
    }
  }

  let positives = 0;
  for (const label of labels) positives += label;
  const rate = Math.min(1 - 1e-6, Math.max(1e-6, positives / Math.max(1, rows)));
  const baseScore = Math.log(rate / (1 - rate));

  const raw = new Float64Array(rows).fill(baseScore);
  const gradients = new Float64Array(rows);
  const hessians = new Float64Array(rows);
  const indices = Uint32Array.from({ length: rows }, (_, i) => i);
  const builder = new TreeBuilder(bins, columns, thresholds, indices, params);

  const validation = options.validation;
  const validationRaw = validation ? new Float64Array(validation.matrix.rows).fill(baseScore) : undefined;
  const trees: GbtTree[] = [];
  const trainLoss: number[] = [];
  const validationLoss: number[] = [];
  let bestRound = -1;
  let bestLoss = Infinity;

  for (let round = 0; round < params.maxRounds; round += 1) {
    for (let row = 0; row < rows; row += 1) {
      const probability = sigmoid(raw[row] ?? 0);
      gradients[row] = probability - (labels[row] ?? 0);
      hessians[row] = Math.max(probability * (1 - probability), 1e-16);
    }
    const tree = builder.build(gradients, hessians, raw);
    trees.push(tree);

    let loss = 0;
    for (let row = 0; row < rows; row += 1) loss += logLoss(raw[row] ?? 0, labels[row] ?? 0);
    trainLoss.push(loss / Math.max(1, rows));

    let currentValidation: number | undefined;
    if (validation && validationRaw) {
      const { matrix: held, labels: heldLabels } = validation;
      let sum = 0;
      for (let row = 0; row < held.rows; row += 1) {
        const value = (validationRaw[row] ?? 0) + predictTree(tree, held.values, row * held.columns);
        validationRaw[row] = value;
        sum += logLoss(value, heldLabels[row] ?? 0);
      }
      currentValidation = sum / Math.max(1, held.rows);
      validationLoss.push(currentValidation);
    }
    options.onRound?.(round, trainLoss[round] ?? NaN, currentValidation);

    const monitored = currentValidation ?? trainLoss[round] ?? Infinity;
    if (monitored < bestLoss - 1e-12) {
      bestLoss = monitored;
      bestRound = round;
    } else if (validation && round - bestRound >= params.earlyStoppingRounds) {
      break;
    }
  }
  const kept = validation ? trees.slice(0, bestRound + 1) : trees;
  return {
    model: { baseScore, trees: kept },
    history: { rounds: trees.length, bestRound, trainLoss, validationLoss },
  };
}
