/** Ranking metrics for a fraud model, on held-out scores: higher score means more likely fraud. */

/**
 * Area under the precision-recall curve as average precision: the mean, over fraud rows, of the precision at the
 * threshold that first includes them. Tied scores enter together (one step), so ties are not broken in the
 * model's favour. Robust to the rarity of fraud, where ROC AUC flatters.
 */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[b] ?? 0) - (scores[a] ?? 0) || a - b,
  );
  let positives = 0;
  for (let i = 0; i < labels.length; i += 1) positives += labels[i] ?? 0;
  if (positives === 0) return NaN;
  let truePositives = 0;
  let seen = 0;
  let sum = 0;
  let i = 0;
  while (i < order.length) {
    const score = scores[order[i] ?? 0] ?? 0;
    let groupPositives = 0;
    while (i < order.length && (scores[order[i] ?? 0] ?? 0) === score) {
      groupPositives += labels[order[i] ?? 0] ?? 0;
      seen += 1;
      i += 1;
    }
    truePositives += groupPositives;
    sum += groupPositives * (truePositives / seen);
  }
  return sum / positives;
}

export interface OperatingPoint {
  /** Decline when the score is above this. */
  readonly threshold: number;
  /** Share of fraud rows above the threshold. */
  readonly recall: number;
  /** Share of legitimate rows above the threshold (at most the share asked for). */
  readonly falsePositiveRate: number;
}

/** The threshold that declines at most `rate` of legitimate rows, and the share of fraud it catches. */
export function recallAtFalsePositiveRate(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  rate: number,
): OperatingPoint {
  const legitimate: number[] = [];
  let fraud = 0;
  for (let i = 0; i < scores.length; i += 1) {
    if ((labels[i] ?? 0) === 1) fraud += 1;
    else legitimate.push(scores[i] ?? 0);
  }
  legitimate.sort((a, b) => b - a);
  const allowed = Math.floor(rate * legitimate.length);
  // Declining above the (allowed + 1)-th highest legitimate score declines at most `allowed` legitimate rows.
  const threshold = legitimate[allowed] ?? -Infinity;
  let caught = 0;
  let falsePositives = 0;
  for (let i = 0; i < scores.length; i += 1) {
    if ((scores[i] ?? 0) <= threshold) continue;
    if ((labels[i] ?? 0) === 1) caught += 1;
    else falsePositives += 1;
  }
  return {
    threshold,
    recall: fraud > 0 ? caught / fraud : NaN,
    falsePositiveRate: legitimate.length > 0 ? falsePositives / legitimate.length : NaN,
  };
}
