/**
 * Backtests of AML scenario settings (`POST /v1/programs/{id}/aml_scenarios/backtest`): the alerts a proposed change
 * would have raised among a programme's stored activity in a time range, beside those its current settings raise
 * over the same activity, per scenario, before an analyst team commits to the change. The monitor's evaluation
 * replayed: each cardholder (and each device or IP address) judged as of the last activity of each day in the range,
 * over the lookback the settings need, a hit counted once by the monitor's fingerprint. Nothing is written.
 */
import type { Queryable } from '../../platform/db/database.js';
import { invalidRequest, notFound } from '../../platform/errors.js';
import type { Activity } from './activity.js';
import {
  ACTIVITY_COLUMNS,
  activityFromRow,
  alertFingerprint,
  cardholderView,
  evaluationTimes,
  programmeView,
  type ActivityRow,
  type ProgrammeView,
} from './monitor.js';
import { SCENARIOS, parseScenarioSettings, type ScenarioName, type ScenarioSettings } from './parameters.js';
import {
  activityLookback,
  evaluateScenarios,
  evaluateSharedDevice,
  type ActivityLookback,
  type ScenarioHit,
} from './scenarios.js';

/** The most activity rows one backtest reads, lookback included: a request's worth of work, not a batch job's. */
export const AML_BACKTEST_ACTIVITY_MAX = 200_000;
/** The longest range a backtest covers. */
export const AML_BACKTEST_RANGE_MAX_MS = 31 * 24 * 60 * 60 * 1000;
const SAMPLE_SIZE = 20;

export interface AmlBacktestRequest {
  /** Changes over the current settings, as `POST …/aml_scenarios` takes them; none backtests the current ones. */
  readonly scenarios?: unknown;
  readonly from?: Date;
  readonly to?: Date;
}

export interface AlertCount {
  readonly alerts: number;
  readonly cardholders: number;
}

export interface BacktestAlert {
  readonly scenario: ScenarioName;
  readonly reason: string;
  readonly cardholder_id: string;
  readonly summary: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly activity: readonly string[];
}

export interface AmlBacktest {
  readonly object: 'aml_scenario_backtest';
  readonly program_id: string;
  readonly from: string;
  readonly to: string;
  /** The version the proposal was laid over (0: the defaults). */
  readonly current_version: number;
  readonly proposed: ScenarioSettings;
  readonly cardholders_evaluated: number;
  readonly activities_read: number;
  readonly scenarios: readonly {
    readonly scenario: ScenarioName;
    readonly current: AlertCount;
    readonly proposed: AlertCount;
  }[];
  /** Alerts the proposal raises that the current settings do not (the first, oldest first). */
  readonly added: readonly BacktestAlert[];
  /** Alerts the current settings raise that the proposal would not. */
  readonly removed: readonly BacktestAlert[];
}

/** The distinct alerts one set of settings raises, by fingerprint (hex). */
type Raised = Map<string, ScenarioHit>;

function widest(a: ActivityLookback, b: ActivityLookback): ActivityLookback {
  return {
    loads: Math.max(a.loads, b.loads),
    others: Math.max(a.others, b.others),
    devices: Math.max(a.devices, b.devices),
  };
}

/** What the monitor would have read at `now` for these settings: within the lookback, up to `now`. */
function readAt(activities: readonly Activity[], now: number, lookback: ActivityLookback): Activity[] {
  return activities.filter(
    (activity) =>
      activity.at <= now && activity.at > now - (activity.kind === 'load' ? lookback.loads : lookback.others),
  );
}

function raise(into: Raised, hits: readonly ScenarioHit[]): void {
  for (const hit of hits) {
    const key = alertFingerprint(hit).toString('hex');
    if (!into.has(key)) into.set(key, hit);
  }
}

function counted(raised: Raised, scenario: ScenarioName): AlertCount {
  const hits = [...raised.values()].filter((hit) => hit.scenario === scenario);
  return { alerts: hits.length, cardholders: new Set(hits.map((hit) => hit.cardholderId)).size };
}

function sampleOf(raised: Raised, other: Raised): BacktestAlert[] {
  return [...raised.entries()]
    .filter(([key]) => !other.has(key))
    .map(([, hit]) => hit)
    .sort((a, b) => a.window.to - b.window.to || a.cardholderId.localeCompare(b.cardholderId))
    .slice(0, SAMPLE_SIZE)
    .map((hit) => ({
      scenario: hit.scenario,
      reason: hit.reason,
      cardholder_id: hit.cardholderId,
      summary: hit.summary,
      window: { from: new Date(hit.window.from).toISOString(), to: new Date(hit.window.to).toISOString() },
      activity: hit.activityIds,
    }));
}

function rangeOf(request: AmlBacktestRequest, now: Date): { from: number; to: number } {
  const to = (request.to ?? now).getTime();
  const from = (request.from ?? new Date(to - 30 * 24 * 60 * 60 * 1000)).getTime();
  if (from >= to) throw invalidRequest('backtest_range_invalid', 'from must be before to', 'from');
  if (to - from > AML_BACKTEST_RANGE_MAX_MS) {
    throw invalidRequest('backtest_range_invalid', 'A backtest covers at most 31 days', 'from');
  }
  return { from, to };
}

/** Each key's (cardholder's or device's) activity, in the order read. */
function groupBy(
  activities: readonly Activity[],
  key: (activity: Activity) => string | null,
): Map<string, Activity[]> {
  const groups = new Map<string, Activity[]>();
  for (const activity of activities) {
    const name = key(activity);
    if (name === null) continue;
    const group = groups.get(name);
    if (group === undefined) groups.set(name, [activity]);
    else group.push(activity);
  }
  return groups;
}

/** When the monitor would have judged a key's activity within the range: each day's last activity. */
const timesIn = (activities: readonly Activity[], from: number, to: number): number[] =>
  evaluationTimes(
    new Set(activities.filter((each) => each.at > from && each.at <= to).map((each) => each.at)),
  );

function evaluate(
  programme: ProgrammeView,
  settings: ScenarioSettings,
  programId: string,
  byHolder: ReadonlyMap<string, Activity[]>,
  byDevice: ReadonlyMap<string, Activity[]>,
  kycStatuses: ReadonlyMap<string, string>,
  range: { from: number; to: number },
): Raised {
  const raised: Raised = new Map();
  const lookback = activityLookback(settings);
  for (const [cardholderId, activities] of byHolder) {
    for (const now of timesIn(activities, range.from, range.to)) {
      const view = cardholderView(
        programme,
        programId,
        cardholderId,
        kycStatuses.get(cardholderId),
        readAt(activities, now, lookback),
      );
      raise(raised, evaluateScenarios(view, settings, now));
    }
  }
  for (const activities of byDevice.values()) {
    for (const now of timesIn(activities, range.from, range.to)) {
      const seen = activities.filter((each) => each.at <= now && each.at > now - lookback.devices);
      raise(raised, evaluateSharedDevice(seen, settings, now));
    }
  }
  return raised;
}

/**
 * Backtests `request.scenarios` (changes over the programme's current settings, checked as a change is) over the
 * programme's activity in [from, to] (default the 30 days before now). Refuses a range over 31 days, and a
 * programme whose activity in it (with its lookback) is more than `AML_BACKTEST_ACTIVITY_MAX` rows: a shorter range
 * then.
 */
export async function backtestScenarioSettings(
  db: Queryable,
  programId: string,
  request: AmlBacktestRequest,
  now: Date,
): Promise<AmlBacktest> {
  const exists = await db.query('SELECT 1 FROM programs WHERE id = $1', [programId]);
  if (exists.rows.length === 0) throw notFound('program', programId);
  const programme = await programmeView(db, programId);
  const proposed =
    request.scenarios === undefined
      ? programme.settings
      : parseScenarioSettings(request.scenarios, programme.settings);
  const range = rangeOf(request, now);
  const lookback = widest(activityLookback(programme.settings), activityLookback(proposed));
  const found = await db.query<ActivityRow>(
    `SELECT ${ACTIVITY_COLUMNS} FROM aml_activity
     WHERE program_id = $1 AND at <= $2 AND (at > $3 OR (kind = 'load' AND at > $4))
     ORDER BY at, kind, id LIMIT $5`,
    [
      programId,
      new Date(range.to),
      new Date(range.from - Math.max(lookback.others, lookback.devices)),
      new Date(range.from - lookback.loads),
      AML_BACKTEST_ACTIVITY_MAX + 1,
    ],
  );
  if (found.rows.length > AML_BACKTEST_ACTIVITY_MAX) {
    throw invalidRequest(
      'backtest_too_large',
      `The programme's activity in this range and its lookback is more than ${AML_BACKTEST_ACTIVITY_MAX.toLocaleString('en-US')} rows: backtest a shorter range`,
      'from',
    );
  }
  const activities = found.rows.map(activityFromRow);
  const statuses = await db.query<{ cardholder_id: string; kyc_status: string }>(
    'SELECT cardholder_id, kyc_status FROM aml_cardholders WHERE program_id = $1',
    [programId],
  );
  const kycStatuses = new Map(statuses.rows.map((row) => [row.cardholder_id, row.kyc_status]));
  const byHolder = groupBy(activities, (activity) => activity.cardholderId);
  const byDevice = groupBy(activities, (activity) => activity.deviceKey);
  const current = evaluate(programme, programme.settings, programId, byHolder, byDevice, kycStatuses, range);
  const next = evaluate(programme, proposed, programId, byHolder, byDevice, kycStatuses, range);
  return {
    object: 'aml_scenario_backtest',
    program_id: programId,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    current_version: programme.settingsVersion,
    proposed,
    cardholders_evaluated: [...byHolder.values()].filter(
      (each) => timesIn(each, range.from, range.to).length > 0,
    ).length,
    activities_read: activities.length,
    scenarios: SCENARIOS.map((scenario) => ({
      scenario,
      current: counted(current, scenario),
      proposed: counted(next, scenario),
    })),
    added: sampleOf(next, current),
    removed: sampleOf(current, next),
  };
}
