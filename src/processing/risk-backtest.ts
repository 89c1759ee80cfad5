/**
 * Backtests (`POST /v1/risk/rules/{id}/backtest`): what one version of a rule would have matched among a
 * programme's stored authorizations in a time range. The features are computed again by their definitions
 * (risk/feature-tracker.ts, the reference every computation must match) from the programme's own history,
 * replayed in time order from a week before the range, so every window is complete; the model scores each one as
 * the decision would. Nothing is written.
 */
import { encodeTime } from 'ulid';
import type { Queryable } from '../platform/db/database.js';
import { invalidRequest, notFound } from '../platform/errors.js';
import { WINDOW_MS } from '../risk/features.js';
import { ruleValues } from '../risk/assess.js';
import { scoreRisk } from '../risk/model.js';
import { readRule, readRuleVersions } from '../risk/rule-store.js';
import { ruleMatches, type RuleAction } from '../risk/rules.js';
import { merchantKey, type Merchant } from './authorizations.js';
import { homeCountryOf, riskModel } from './risk-in-decision.js';
import { FeatureTracker, type AuthorizationEvent } from '../risk/feature-tracker.js';

/** The most authorizations one backtest replays, history included: a request's worth of work, not a batch job's. */
export const BACKTEST_AUTHORIZATIONS_MAX = 200_000;
/** The longest range a backtest covers. */
export const BACKTEST_RANGE_MAX_MS = 31 * 24 * 60 * 60 * 1000;
const SAMPLE_SIZE = 20;

export interface BacktestRange {
  readonly from: Date;
  readonly to: Date;
}

export interface BacktestMatch {
  readonly authorization_id: string;
  readonly created: string;
  readonly approved: boolean;
  readonly amount: number;
  readonly currency: string;
  readonly merchant_name: string;
  readonly risk_score: number;
}

export interface RuleBacktest {
  readonly object: 'risk_rule_backtest';
  readonly rule_id: string;
  readonly version: number;
  readonly action: RuleAction;
  readonly from: string;
  readonly to: string;
  /** Authorizations in the range the rule was evaluated on. */
  readonly evaluated: number;
  readonly matched: number;
  /** Of those matched, the ones that had been approved: what a decline rule would have turned down. */
  readonly matched_approved: number;
  readonly matched_declined: number;
  /** The first matches, oldest first. */
  readonly sample: BacktestMatch[];
}

interface HistoryRow {
  id: string;
  card_id: string;
  cardholder_id: string;
  created_at: Date;
  currency: string;
  requested_amount: number;
  merchant_amount: number;
  merchant_currency: string;
  approved: boolean;
  merchant: Merchant;
  entry_mode: AuthorizationEvent['entryMode'];
  device_index: Uint8Array | null;
}

/**
 * The smallest authorization id made at `time` less a minute: ids begin with their creation time (platform/ids.ts),
 * so the programme's index on (program_id, id) finds the range without reading the programme's whole history.
 */
function idsFrom(time: Date): string {
  return `auth_${encodeTime(Math.max(0, time.getTime() - 60_000), 10).toLowerCase()}`;
}

export async function backtestRule(
  db: Queryable,
  ruleId: string,
  programScope: string | undefined,
  options: { readonly range: BacktestRange; readonly version?: number | undefined },
): Promise<RuleBacktest> {
  const { from, to } = options.range;
  if (!(from.getTime() < to.getTime()))
    throw invalidRequest('range_invalid', 'from must be before to', 'from');
  if (to.getTime() - from.getTime() > BACKTEST_RANGE_MAX_MS) {
    throw invalidRequest('range_invalid', 'A backtest covers at most 31 days', 'from');
  }
  const rule = await readRule(db, ruleId, programScope);
  if (rule === undefined) throw notFound('risk rule', ruleId);
  const versions = await readRuleVersions(db, rule.id);
  const version = versions.find((each) => each.version === (options.version ?? rule.version));
  if (version === undefined) {
    throw invalidRequest(
      'version_unknown',
      `Rule ${rule.id} has no version ${String(options.version)}`,
      'version',
    );
  }
  const program = await db.query<{ region: string }>('SELECT region FROM programs WHERE id = $1', [
    rule.program_id,
  ]);
  // Until KYC records where a cardholder lives (issue 10), the programme's region stands for it, as in the decision.
  const homeCountry = homeCountryOf(program.rows[0]?.region ?? '');
  const historyFrom = new Date(from.getTime() - WINDOW_MS['7d']);
  const rows = await db.query<HistoryRow>(
    `SELECT id, card_id, cardholder_id, created_at, currency, requested_amount, merchant_amount,
       merchant_currency, approved, merchant, entry_mode, device_index
     FROM authorizations
     WHERE program_id = $1 AND id >= $5 AND created_at > $2 AND created_at <= $3
     ORDER BY created_at, id
     LIMIT $4`,
    [rule.program_id, historyFrom, to, BACKTEST_AUTHORIZATIONS_MAX + 1, idsFrom(historyFrom)],
  );
  if (rows.rows.length > BACKTEST_AUTHORIZATIONS_MAX) {
    throw invalidRequest(
      'backtest_too_large',
      `The range and the week before it hold more than ${String(BACKTEST_AUTHORIZATIONS_MAX)} authorizations: backtest a shorter range`,
      'from',
    );
  }
  const tracker = new FeatureTracker();
  const scorer = riskModel();
  let evaluated = 0;
  let matchedApproved = 0;
  let matchedDeclined = 0;
  const sample: BacktestMatch[] = [];
  for (const row of rows.rows) {
    const event: AuthorizationEvent = {
      time: row.created_at.getTime(),
      cardId: row.card_id,
      cardholderId: row.cardholder_id,
      cardholderCountry: homeCountry ?? '',
      merchantId: merchantKey(row.merchant),
      mcc: row.merchant.mcc,
      merchantCountry: row.merchant.country ?? '',
      entryMode: row.entry_mode,
      deviceId: row.device_index === null ? null : Buffer.from(row.device_index).toString('hex'),
      // What was asked, in the card's currency, as the decision saw it (`amount` is what is held now).
      amount: row.requested_amount,
      approved: row.approved,
    };
    const tracked = tracker.next(event);
    // As the decision does, a cardholder's country not known leaves foreign_merchant missing.
    const features =
      homeCountry === null
        ? Object.fromEntries(Object.entries(tracked).filter(([name]) => name !== 'foreign_merchant'))
        : tracked;
    if (row.created_at.getTime() <= from.getTime()) continue;
    evaluated += 1;
    const score = scoreRisk(scorer, features).risk_score;
    const values = ruleValues(
      features,
      {
        merchant_amount: row.merchant_amount,
        merchant_currency: row.merchant_currency,
        currency: row.currency,
        'merchant.mcc': row.merchant.mcc,
        'merchant.country': row.merchant.country,
        'merchant.acceptor_id': row.merchant.acceptor_id,
        'merchant.name': row.merchant.name,
        'card.id': row.card_id,
        'cardholder.id': row.cardholder_id,
      },
      score,
    );
    if (!ruleMatches(version, values)) continue;
    if (row.approved) matchedApproved += 1;
    else matchedDeclined += 1;
    if (sample.length < SAMPLE_SIZE) {
      sample.push({
        authorization_id: row.id,
        created: row.created_at.toISOString(),
        approved: row.approved,
        amount: row.requested_amount,
        currency: row.currency,
        merchant_name: row.merchant.name,
        risk_score: score,
      });
    }
  }
  return {
    object: 'risk_rule_backtest',
    rule_id: rule.id,
    version: version.version,
    action: version.action,
    from: from.toISOString(),
    to: to.toISOString(),
    evaluated,
    matched: matchedApproved + matchedDeclined,
    matched_approved: matchedApproved,
    matched_declined: matchedDeclined,
    sample,
  };
}
