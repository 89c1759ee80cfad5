/**
 * One authorization's risk assessment, from its features: the model scores it, the programme's rules run in their
 * evaluation order (rules.ts) with the score among their fields, then the built-in protections, unless a rule
 * allowed it first. Pure, so the decision, backtests and tests all assess the same way.
 */
import type { RiskFeatures } from './features.js';
import { scoreRisk, type FeatureContribution, type RiskModel } from './model.js';
import { trippedProtection, type ProtectionHit, type ProtectionSettings } from './protections.js';
import { evaluateRules, type RuleLookup, type RuleMatch, type RuleVersion } from './rules.js';

/** The authorization's own fields rules may test (rules.ts `AUTHORIZATION_FIELDS`). */
export interface AuthorizationFields {
  readonly merchant_amount: number;
  readonly merchant_currency: string;
  readonly currency: string;
  readonly 'merchant.mcc': string;
  readonly 'merchant.country': string | null;
  readonly 'merchant.acceptor_id': string | null;
  readonly 'merchant.name': string;
  readonly 'card.id': string;
  readonly 'cardholder.id': string;
}

/**
 * What rules read: the authorization's fields, its score, and its features, looked up by name rather than copied
 * into one object: every authorization is assessed, and copying some forty values each time was a tenth of risk's
 * cost.
 */
export function ruleValues(
  features: RiskFeatures,
  fields: AuthorizationFields,
  riskScore: number,
): RuleLookup {
  return (field) => {
    if (field === 'risk_score') return riskScore;
    if (Object.hasOwn(fields, field)) return fields[field as keyof AuthorizationFields];
    return features[field];
  };
}

/** How many contributing features an authorization records: enough to explain it, few enough to store on each. */
export const RECORDED_FEATURE_COUNT = 3;

/** What an authorization records of its assessment (`authorizations.risk`, shown by the API). */
export interface RiskRecord {
  readonly risk_score: number;
  readonly model_version: string;
  /** The features that moved the score most, largest first, with their values and shares of the log-odds. */
  readonly top_features: readonly FeatureContribution[];
  /** What risk asked of the decision: `decline`, `review` (approve and alert), or `pass`. */
  readonly verdict: 'decline' | 'review' | 'pass';
  /** Active rules that matched, in evaluation order, up to the one that declined or allowed. */
  readonly rules: readonly RuleMatch[];
  /** Shadow rules that matched: what they would have done, never what happened. */
  readonly shadow_rules: readonly RuleMatch[];
  /** The built-in protection that declined, when one did. */
  readonly protection: ProtectionHit | null;
}

export interface RiskAssessment {
  readonly record: RiskRecord;
  /** Why it is declined, for the decision's check detail; undefined unless the verdict is `decline`. */
  readonly declineDetail?: string;
}

export interface RiskPolicy {
  /** Enabled rules, current versions, in evaluation order. */
  readonly rules: readonly RuleVersion[];
  readonly protections: ProtectionSettings;
  readonly model: RiskModel;
}

const rounded = (value: number): number => Math.round(value * 10_000) / 10_000;

export function assessRisk(
  policy: RiskPolicy,
  features: RiskFeatures,
  fields: AuthorizationFields,
): RiskAssessment {
  const score = scoreRisk(policy.model, features);
  const rules = evaluateRules(policy.rules, ruleValues(features, fields, score.risk_score));
  // A rule that declined or allowed has decided; the protections run only after every rule passed it by.
  const protection = rules.action === 'none' ? trippedProtection(policy.protections, features) : undefined;
  const verdict =
    rules.action === 'decline' || protection !== undefined ? 'decline' : rules.review ? 'review' : 'pass';
  const record: RiskRecord = {
    risk_score: score.risk_score,
    model_version: score.model_version,
    top_features: score.top_features.slice(0, RECORDED_FEATURE_COUNT).map((each) => ({
      feature: each.feature,
      value: typeof each.value === 'number' ? rounded(each.value) : each.value,
      contribution: rounded(each.contribution),
    })),
    verdict,
    rules: rules.matched,
    shadow_rules: rules.shadow,
    protection: protection ?? null,
  };
  if (verdict !== 'decline') return { record };
  const declineDetail =
    rules.decidedBy !== undefined
      ? `risk rule ${rules.decidedBy.name} (${rules.decidedBy.id} v${rules.decidedBy.version})`
      : `${protection?.protection ?? 'protection'}: ${protection?.signal ?? ''}`;
  return { record, declineDetail };
}
