import { FEATURE_NAMES } from '../features.js';
import { RISK_MODEL_FORMAT, type RiskModelArtefact } from '../model.js';
import type { GbtModel } from './gbt.js';

/**
 * Node values keep 9 significant digits: the artefact shrinks by a third and scores move by under 1e-8 in log-odds.
 * Thresholds are kept exact, so a split sends the same values the same way it did in training.
 */
function compact(value: number): number {
  return Number(value.toPrecision(9));
}

export function toArtefact(
  model: GbtModel,
  version: string,
  metrics: Readonly<Record<string, unknown>>,
  training: Readonly<Record<string, unknown>>,
): RiskModelArtefact {
  return {
    format: RISK_MODEL_FORMAT,
    version,
    features: [...FEATURE_NAMES],
    base_score: model.baseScore,
    trees: model.trees.map((tree) => ({
      feature: tree.feature,
      threshold: tree.threshold,
      missing_left: tree.missingLeft,
      left: tree.left,
      right: tree.right,
      value: tree.value.map(compact),
      cover: tree.cover,
    })),
    metrics,
    training,
  };
}
