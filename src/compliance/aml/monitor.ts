import { createHash } from 'node:crypto';
import type { Database, Queryable, Transaction } from '../../platform/db/database.js';
import { consumeEvents, emitEvent, type RecordsContext } from '../../records/outbox.js';
import { tierOf, type KycStatus, KYC_STATUSES } from '../kyc/status.js';
import { limitsFor } from '../kyc/tiers.js';
import type { Activity, CardholderActivity, DeviceKind, TierCaps } from './activity.js';
import { readEvent, type CardholderFact, type ReadActivity } from './events-to-activity.js';
import { caseForAlert } from './cases.js';
import {
  DEFAULT_SCENARIO_SETTINGS,
  readStoredScenarioSettings,
  type ScenarioSettings,
} from './parameters.js';
import {
  activityLookback,
  compareActivities,
  evaluateScenarios,
  evaluateSharedDevice,
  type ScenarioHit,
} from './scenarios.js';

/**
 * AML transaction monitoring: a consumer of the outbox (`aml_monitoring`), never on the authorization path. Each
 * batch of events becomes activity rows (its own tables: compliance reads no other part's), and every cardholder
 * the batch touched is evaluated against their programme's scenarios over their activity across all their cards
 * and wallets. A hit is an alert listing the activity that caused it, raised once (its fingerprint) however often
 * later events re-evaluate the cardholder. The activity, the alerts and the cursor commit together.
 */

export const AML_CONSUMER = 'aml_monitoring';
export const AML_ALERT_PREFIX = 'amla';
/** Events per batch: a batch is one transaction, holding the consumer's cursor. */
export const AML_BATCH = 500;

/**
 * Where an authorization came from, as a keyed blind index of its device or IP (hex): kept by processing, which
 * compliance does not read; the edge that runs the monitor supplies it. Without it, shared devices go unseen.
 */
export interface DeviceSource {
  authorizationDevices(tx: Transaction, ids: readonly string[]): Promise<ReadonlyMap<string, DeviceReading>>;
  /**
   * The cardholder's device and IP address as they gave them (each when given), and when the cardholder last
   * changed (epoch ms); undefined for a cardholder not found.
   */
  cardholderDevices(tx: Transaction, cardholderId: string): Promise<OnboardingDevices | undefined>;
}

export interface OnboardingDevices {
  readonly devices: readonly { readonly key: string; readonly kind: DeviceKind }[];
  readonly updatedAt: number;
}

export interface DeviceReading {
  readonly key: string;
  /** Null for an authorization decided before kinds were stored (migration 0024): the key's other rows tell. */
  readonly kind: DeviceKind | null;
}

/**
 * Exchange rates, kept by processing (its operator's rates): what an amount is in another currency at the rate
 * valid at a time, or null when there is no rate. Without it, amounts in different currencies are never added up.
 */
export interface RateSource {
  convert(tx: Transaction, amount: number, from: string, to: string, at: Date): Promise<number | null>;
}

export interface MonitorContext extends RecordsContext {
  readonly db: Database;
  readonly devices?: DeviceSource;
  readonly rates?: RateSource;
  /** Activity read for one evaluation at most (default `ACTIVITY_READ_MAX`). */
  readonly activityReadMax?: number;
}

/**
 * Activity read for one evaluation at most, the latest kept: a cardholder with more within the lookback (hundreds a
 * day for months) is judged on their latest, and the batch stays bounded in time and memory.
 */
export const ACTIVITY_READ_MAX = 10_000;

export interface AmlAlert {
  readonly id: string;
  readonly object: 'aml_alert';
  readonly program_id: string;
  readonly cardholder_id: string;
  readonly scenario: string;
  readonly reason: string;
  readonly summary: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly activity: readonly string[];
  readonly settings_version: number;
  readonly case_id: string;
  readonly created: string;
}

export interface AmlAlertRow {
  id: string;
  program_id: string;
  cardholder_id: string;
  scenario: string;
  reason: string;
  summary: string;
  window_from: Date;
  window_to: Date;
  activity_ids: string[];
  settings_version: number;
  case_id: string;
  created_at: Date;
}

export const AML_ALERT_COLUMNS = `id, program_id, cardholder_id, scenario, reason, summary, window_from, window_to,
  activity_ids, settings_version, case_id, created_at`;

export function amlAlertFromRow(row: AmlAlertRow): AmlAlert {
  return {
    id: row.id,
    object: 'aml_alert',
    program_id: row.program_id,
    cardholder_id: row.cardholder_id,
    scenario: row.scenario,
    reason: row.reason,
    summary: row.summary,
    window: { from: row.window_from.toISOString(), to: row.window_to.toISOString() },
    activity: row.activity_ids,
    settings_version: row.settings_version,
    case_id: row.case_id,
    created: row.created_at.toISOString(),
  };
}

async function recordCardholder(tx: Transaction, fact: CardholderFact): Promise<void> {
  await tx.query(
    `INSERT INTO aml_cardholders (cardholder_id, program_id, kyc_status) VALUES ($1, $2, $3)
     ON CONFLICT (cardholder_id) DO UPDATE SET kyc_status = excluded.kyc_status`,
    [fact.cardholderId, fact.programId, fact.kycStatus],
  );
}

/** The signed effect of an activity on its wallet's posted balance, as the ledger posts it. */
function balanceEffect(activity: ReadActivity): number {
  switch (activity.kind) {
    case 'load':
    case 'unload':
      return activity.kind === 'load' ? activity.amount : -activity.amount;
    case 'refund':
      return activity.walletAmount;
    case 'capture':
    case 'force_post':
      // What the wallet paid: a shortfall beyond it is on the programme's receivable account.
      return -activity.walletAmount;
    default:
      return 0;
  }
}

/**
 * Forgets the device and IP keys of a cardholder whose personal data is purged (retention): a blind index is
 * pseudonymous personal data too. Their activity stays, with no key.
 */
export async function forgetCardholderDevices(tx: Transaction, cardholderId: string): Promise<void> {
  await tx.query(
    `UPDATE aml_activity SET device_key = NULL, device_kind = NULL
     WHERE cardholder_id = $1 AND device_key IS NOT NULL`,
    [cardholderId],
  );
}

/** The amount in the reporting currency, when it is in another and a rate is known (parameters.ts). */
async function convertedOf(
  tx: Transaction,
  context: MonitorContext,
  activity: Pick<ReadActivity, 'amount' | 'currency' | 'at'>,
  reportingCurrency: string,
): Promise<Activity['converted']> {
  if (context.rates === undefined || activity.amount === 0 || activity.currency === '') return null;
  if (activity.currency === reportingCurrency) return null;
  const amount = await context.rates.convert(
    tx,
    activity.amount,
    activity.currency,
    reportingCurrency,
    new Date(activity.at),
  );
  return amount === null ? null : { amount, currency: reportingCurrency };
}

/**
 * Activity converted when recorded into a reporting currency the programme has since changed from, converted again
 * into the current one (and stored so): patterns across a change of currency are still added up.
 */
async function inReportingCurrency(
  tx: Transaction,
  context: MonitorContext,
  activities: Activity[],
  reportingCurrency: string,
): Promise<Activity[]> {
  const result: Activity[] = [];
  for (const activity of activities) {
    if (activity.converted === null || activity.converted.currency === reportingCurrency) {
      result.push(activity);
      continue;
    }
    const converted = await convertedOf(tx, context, activity, reportingCurrency);
    await tx.query(
      `UPDATE aml_activity SET converted_amount = $3, converted_currency = $4 WHERE kind = $1 AND id = $2`,
      [activity.kind, activity.id, converted?.amount ?? null, converted?.currency ?? null],
    );
    result.push({ ...activity, converted });
  }
  return result;
}

/** Stores one activity (once: a replayed event changes nothing), with the wallet balance after it for loads. */
async function recordActivity(
  tx: Transaction,
  context: MonitorContext,
  activity: ReadActivity,
  reportingCurrency: string,
): Promise<void> {
  const exists = await tx.query<{ amount: number }>(
    'SELECT amount FROM aml_activity WHERE kind = $1 AND id = $2',
    [activity.kind, activity.id],
  );
  const stored = exists.rows[0];
  if (stored !== undefined) {
    // An authorization read again (its update): an increment grows what was approved.
    if (activity.kind === 'authorization' && activity.amount > stored.amount) {
      const converted = await convertedOf(tx, context, activity, reportingCurrency);
      await tx.query(
        `UPDATE aml_activity SET amount = $3, converted_amount = $4, converted_currency = $5
         WHERE kind = $1 AND id = $2`,
        [activity.kind, activity.id, activity.amount, converted?.amount ?? null, converted?.currency ?? null],
      );
    }
    return;
  }
  const converted = await convertedOf(tx, context, activity, reportingCurrency);
  let balanceAfter: number | null = null;
  const effect = balanceEffect(activity);
  if (activity.walletId !== null && effect !== 0) {
    const balance = await tx.query<{ balance: number }>(
      `INSERT INTO aml_wallets (wallet_id, cardholder_id, currency, balance) VALUES ($1, $2, $3, $4)
       ON CONFLICT (wallet_id) DO UPDATE SET balance = aml_wallets.balance + excluded.balance
       RETURNING balance`,
      [activity.walletId, activity.cardholderId, activity.currency, effect],
    );
    if (activity.kind === 'load') balanceAfter = balance.rows[0]?.balance ?? null;
  }
  let authorizedAmount: number | null = null;
  if (activity.kind === 'capture' && activity.authorizationId !== null) {
    const authorized = await tx.query<{ amount: number }>(
      `SELECT amount FROM aml_activity WHERE kind = 'authorization' AND id = $1`,
      [activity.authorizationId],
    );
    authorizedAmount = authorized.rows[0]?.amount ?? null;
  }
  await tx.query(
    `INSERT INTO aml_activity (kind, id, program_id, cardholder_id, at, amount, currency, card_id, wallet_id,
       approved, merchant_country, merchant_name, merchant_mcc, authorized_amount, flags, balance_after, device_key,
       device_kind, converted_amount, converted_currency)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
     ON CONFLICT (kind, id) DO NOTHING`,
    [
      activity.kind,
      activity.id,
      activity.programId,
      activity.cardholderId,
      new Date(activity.at),
      activity.amount,
      activity.currency,
      activity.cardId,
      activity.walletId,
      activity.approved,
      activity.merchantCountry,
      activity.merchantName,
      activity.merchantMcc,
      authorizedAmount,
      [...activity.flags],
      balanceAfter,
      activity.deviceKey === null ? null : Buffer.from(activity.deviceKey, 'hex'),
      activity.deviceKey === null ? null : activity.deviceKind,
      converted?.amount ?? null,
      converted?.currency ?? null,
    ],
  );
}

export interface ActivityRow {
  kind: Activity['kind'];
  id: string;
  program_id: string;
  cardholder_id: string;
  at: Date;
  amount: number;
  currency: string;
  card_id: string | null;
  wallet_id: string | null;
  approved: boolean | null;
  merchant_country: string | null;
  authorized_amount: number | null;
  flags: string[];
  balance_after: number | null;
  device_key: Uint8Array | null;
  device_kind: DeviceKind | null;
  converted_amount: number | null;
  converted_currency: string | null;
}

export const ACTIVITY_COLUMNS = `kind, id, program_id, cardholder_id, at, amount, currency, card_id, wallet_id, approved,
  merchant_country, authorized_amount, flags, balance_after, device_key, device_kind, converted_amount,
  converted_currency`;

export function activityFromRow(row: ActivityRow): Activity {
  return {
    id: row.id,
    kind: row.kind,
    programId: row.program_id,
    cardholderId: row.cardholder_id,
    at: row.at.getTime(),
    amount: row.amount,
    currency: row.currency,
    cardId: row.card_id,
    walletId: row.wallet_id,
    approved: row.approved,
    merchantCountry: row.merchant_country,
    authorizedAmount: row.authorized_amount,
    flags: row.flags,
    balanceAfter: row.balance_after,
    deviceKey: row.device_key === null ? null : Buffer.from(row.device_key).toString('hex'),
    deviceKind: row.device_key === null ? null : row.device_kind,
    converted:
      row.converted_amount === null || row.converted_currency === null
        ? null
        : { amount: row.converted_amount, currency: row.converted_currency },
  };
}

export interface ProgrammeView {
  readonly homeCountry: string | null;
  readonly kycTiers: unknown;
  readonly settings: ScenarioSettings;
  readonly settingsVersion: number;
}

/** A programme's scenario settings (latest version; 0 is the defaults), its home country and its KYC tiers. */
export async function programmeView(tx: Queryable, programId: string): Promise<ProgrammeView> {
  const found = await tx.query<{
    region: string;
    kyc_tiers: unknown;
    settings: unknown;
    version: number | null;
  }>(
    `SELECT p.region, p.kyc_tiers, s.settings, s.version
     FROM programs p LEFT JOIN LATERAL (
       SELECT settings, version FROM aml_scenario_settings WHERE program_id = p.id ORDER BY version DESC LIMIT 1
     ) s ON true
     WHERE p.id = $1`,
    [programId],
  );
  const row = found.rows[0];
  return {
    homeCountry: row !== undefined && /^[a-z]{2}$/.test(row.region) ? row.region.toUpperCase() : null,
    kycTiers: row?.kyc_tiers ?? null,
    settings: row?.settings == null ? DEFAULT_SCENARIO_SETTINGS : readStoredScenarioSettings(row.settings),
    settingsVersion: row?.version ?? 0,
  };
}

/** What the scenarios judge one cardholder on: their activity, their programme's home and their tier's caps. */
export function cardholderView(
  programme: ProgrammeView,
  programId: string,
  cardholderId: string,
  kycStatus: string | undefined,
  activities: readonly Activity[],
): CardholderActivity {
  return {
    cardholderId,
    programId,
    homeCountry: programme.homeCountry,
    caps: capsFor(
      programme.kycTiers,
      kycStatus ?? 'unverified',
      new Set(activities.map((activity) => activity.currency).filter((currency) => currency !== '')),
    ),
    activities,
  };
}

function capsFor(
  kycTiers: unknown,
  kycStatus: string,
  currencies: Iterable<string>,
): Record<string, TierCaps> {
  const status = (KYC_STATUSES as readonly string[]).includes(kycStatus)
    ? (kycStatus as KycStatus)
    : 'unverified';
  const caps: Record<string, TierCaps> = {};
  for (const currency of currencies) {
    const limits = limitsFor(kycTiers, tierOf(status), currency);
    if (limits !== undefined) {
      caps[currency] = { maxBalance: limits.max_balance, maxLoadsPerYear: limits.max_loads_per_year };
    }
  }
  return caps;
}

/** What makes a hit the same alert: raised once however often it is found. */
export function alertFingerprint(hit: ScenarioHit): Buffer {
  return createHash('sha256')
    .update(`${hit.scenario}\u001f${hit.reason}\u001f${[...hit.activityIds].sort().join(',')}`)
    .digest();
}

/** Raises the hit as an alert on the cardholder's case, unless it was raised before; true when raised. */
async function raiseAlert(
  tx: Transaction,
  context: MonitorContext,
  hit: ScenarioHit,
  settingsVersion: number,
): Promise<boolean> {
  const print = alertFingerprint(hit);
  const seen = await tx.query(
    'SELECT 1 FROM aml_alerts WHERE cardholder_id = $1 AND scenario = $2 AND fingerprint = $3',
    [hit.cardholderId, hit.scenario, print],
  );
  if (seen.rows.length > 0) return false;
  const caseId = await caseForAlert(tx, context, hit.programId, hit.cardholderId);
  const inserted = await tx.query<AmlAlertRow>(
    `INSERT INTO aml_alerts (id, program_id, cardholder_id, scenario, reason, summary, window_from, window_to,
       activity_ids, settings_version, fingerprint, case_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     RETURNING ${AML_ALERT_COLUMNS}`,
    [
      context.ids(AML_ALERT_PREFIX),
      hit.programId,
      hit.cardholderId,
      hit.scenario,
      hit.reason,
      hit.summary,
      new Date(hit.window.from),
      new Date(hit.window.to),
      [...hit.activityIds],
      settingsVersion,
      print,
      caseId,
      context.clock.now(),
    ],
  );
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  // Platform-wide (no programme): the issuer's compliance work, never sent to a programme's webhooks.
  await emitEvent(tx, context, { type: 'aml_alert.created', programId: null, object: amlAlertFromRow(row) });
  return true;
}

/**
 * Activity matching `where` ($1 is `subject`, $5 `extra`) within `lookbackMs` before `now`, oldest first, the latest
 * `cap` at most. `horizon` is the time of the oldest row kept when the cap cut the read short (else
 * -Infinity): a hit whose window begins before it may be missing activity, and is not raised, or it would come back
 * with other activity on every evaluation as the horizon moves on.
 */
async function readCapped(
  tx: Transaction,
  where: string,
  subject: string | Buffer,
  now: number,
  lookbackMs: number,
  cap: number,
  extra?: string,
): Promise<{ activities: Activity[]; horizon: number }> {
  const rows = await tx.query<ActivityRow>(
    `SELECT ${ACTIVITY_COLUMNS} FROM aml_activity WHERE ${where} AND at > $2 AND at <= $3
     ORDER BY at DESC, kind DESC, id DESC LIMIT $4`,
    [subject, new Date(now - lookbackMs), new Date(now), cap, ...(extra === undefined ? [] : [extra])],
  );
  const activities = rows.rows.map(activityFromRow).reverse();
  const oldest = activities[0];
  return {
    activities,
    horizon: rows.rows.length >= cap && oldest !== undefined ? oldest.at : -Infinity,
  };
}

interface SeenDevice {
  readonly device: DeviceReading;
  readonly programId: string;
  readonly at: number;
}

/** Many cardholders of one programme on one device or IP: every key the batch saw, with all its activity. */
async function evaluateDevices(
  tx: Transaction,
  context: MonitorContext,
  devices: ReadonlyMap<string, SeenDevice>,
  programmes: Map<string, ProgrammeView>,
): Promise<{ raised: number; capped: number }> {
  let raised = 0;
  let capped = 0;
  for (const [, { device, programId, at }] of [...devices].sort(([a], [b]) => a.localeCompare(b))) {
    const programme = await programmeFor(tx, programId, programmes);
    // The lookback the scenarios need (a shorter read would cut a run short and raise it again, moved). Keys of
    // the two kinds never collide: their blind indexes are keyed apart.
    const { activities, horizon } = await readCapped(
      tx,
      'device_key = $1 AND program_id = $5',
      Buffer.from(device.key, 'hex'),
      at,
      activityLookback(programme.settings).devices,
      context.activityReadMax ?? ACTIVITY_READ_MAX,
      programId,
    );
    if (horizon > -Infinity) capped += 1;
    for (const hit of evaluateSharedDevice(activities, programme.settings, at)) {
      if (hit.window.from < horizon) continue;
      if (await raiseAlert(tx, context, hit, programme.settingsVersion)) raised += 1;
    }
  }
  return { raised, capped };
}

/**
 * The device and IP address a cardholder gave at onboarding (or changed to since), as activity of kind
 * `onboarding` (id `chd_…:device` or `chd_…:ip`, then `chd_…:device:<ms>` for a change): a ring onboarding many
 * identities from one phone shows before any of them pays. Recorded again only when the key changed, at the time of
 * the event that changed it.
 */
async function recordOnboarding(
  tx: Transaction,
  context: MonitorContext,
  fact: CardholderFact,
): Promise<(Activity & { readonly device: DeviceReading })[]> {
  if (context.devices === undefined || fact.at === null) return [];
  const found = await context.devices.cardholderDevices(tx, fact.cardholderId);
  if (found === undefined) return [];
  // The cardholder as they are now: known so since their last change, which may be after this event (a monitor
  // catching up), so never dated earlier than that.
  const at = Math.max(fact.at, found.updatedAt);
  const recorded: (Activity & { readonly device: DeviceReading })[] = [];
  for (const device of found.devices) {
    const latest = await tx.query<{ device_key: Uint8Array }>(
      `SELECT device_key FROM aml_activity WHERE cardholder_id = $1 AND kind = 'onboarding' AND device_kind = $2
       ORDER BY at DESC, id DESC LIMIT 1`,
      [fact.cardholderId, device.kind],
    );
    const before = latest.rows[0];
    if (before !== undefined && Buffer.from(before.device_key).toString('hex') === device.key) continue;
    // Rows are never rewritten (an alert that listed one keeps meaning what it meant): a change is a row of its own.
    const id =
      before === undefined
        ? `${fact.cardholderId}:${device.kind}`
        : `${fact.cardholderId}:${device.kind}:${String(at)}`;
    const changed = await tx.query(
      `INSERT INTO aml_activity (kind, id, program_id, cardholder_id, at, amount, currency, device_key, device_kind)
       VALUES ('onboarding', $1, $2, $3, $4, 0, '', $5, $6)
       ON CONFLICT (kind, id) DO NOTHING
       RETURNING id`,
      [id, fact.programId, fact.cardholderId, new Date(at), Buffer.from(device.key, 'hex'), device.kind],
    );
    if (changed.rows.length === 0) continue;
    recorded.push({
      id,
      kind: 'onboarding',
      programId: fact.programId,
      cardholderId: fact.cardholderId,
      at,
      amount: 0,
      currency: '',
      converted: null,
      cardId: null,
      walletId: null,
      approved: null,
      merchantCountry: null,
      authorizedAmount: null,
      flags: [],
      balanceAfter: null,
      deviceKey: device.key,
      deviceKind: device.kind,
      device,
    });
  }
  return recorded;
}

async function programmeFor(
  tx: Transaction,
  programId: string,
  programmes: Map<string, ProgrammeView>,
): Promise<ProgrammeView> {
  let programme = programmes.get(programId);
  if (programme === undefined) {
    programme = await programmeView(tx, programId);
    programmes.set(programId, programme);
  }
  return programme;
}

/**
 * Evaluates one cardholder as of their latest activity (`now`: a monitor catching up after a pause judges each
 * window as it stood then, not against the clock) and raises the alerts not raised before.
 */
async function evaluateCardholder(
  tx: Transaction,
  context: MonitorContext,
  cardholderId: string,
  programId: string,
  now: number,
  programmes: Map<string, ProgrammeView>,
): Promise<{ raised: number; capped: boolean }> {
  const programme = await programmeFor(tx, programId, programmes);
  const lookback = activityLookback(programme.settings);
  // Loads a rolling year back for the yearly tier rule, everything else only as far as the windows need; each the
  // latest first, so a cap keeps the latest.
  const cap = context.activityReadMax ?? ACTIVITY_READ_MAX;
  const read = [
    await readCapped(tx, "cardholder_id = $1 AND kind = 'load'", cardholderId, now, lookback.loads, cap),
    await readCapped(tx, "cardholder_id = $1 AND kind <> 'load'", cardholderId, now, lookback.others, cap),
  ];
  const activities = await inReportingCurrency(
    tx,
    context,
    read.flatMap((part) => part.activities).sort(compareActivities),
    programme.settings.reporting_currency,
  );
  const horizon = Math.max(...read.map((part) => part.horizon));
  const holder = await tx.query<{ kyc_status: string }>(
    'SELECT kyc_status FROM aml_cardholders WHERE cardholder_id = $1',
    [cardholderId],
  );
  const view = cardholderView(programme, programId, cardholderId, holder.rows[0]?.kyc_status, activities);
  let raised = 0;
  for (const hit of evaluateScenarios(view, programme.settings, now)) {
    if (hit.window.from < horizon) continue;
    if (await raiseAlert(tx, context, hit, programme.settingsVersion)) raised += 1;
  }
  return { raised, capped: horizon > -Infinity };
}

const DAY_MS = 86_400_000;
/** Evaluations per cardholder per batch at most: a monitor far behind judges the latest days in full. */
const EVALUATIONS_PER_BATCH_MAX = 31;

/**
 * When to judge a cardholder whose activity this batch read: the scenarios keep the latest run of a pattern as of
 * the time they are asked, so a monitor that read days of activity at once (catching up after a pause, or at first
 * start over the whole outbox) asks as of each day's last activity, not only the latest, or a pattern followed by
 * quieter days would go unseen. Usually one time: a batch spans seconds.
 */
export function evaluationTimes(times: ReadonlySet<number>): number[] {
  const lastOfDay = new Map<number, number>();
  for (const at of times) {
    const day = Math.floor(at / DAY_MS);
    lastOfDay.set(day, Math.max(lastOfDay.get(day) ?? 0, at));
  }
  return [...lastOfDay.values()].sort((a, b) => a - b).slice(-EVALUATIONS_PER_BATCH_MAX);
}

/**
 * One batch of the outbox through monitoring: the events read, their activity stored, the cardholders touched
 * evaluated. Returns how many events were read (0: nothing new) and alerts raised.
 */
export async function monitorBatch(
  context: MonitorContext,
  batchSize = AML_BATCH,
): Promise<{ events: number; alerts: number; capped: number }> {
  let alerts = 0;
  let capped = 0;
  const events = await consumeEvents(context.db, context, AML_CONSUMER, batchSize, async (batch, tx) => {
    // Each cardholder the batch touched, with the time of their latest activity in it.
    const touched = new Map<string, { times: Set<number>; programId: string }>();
    const readings = batch.map(readEvent);
    const authorizationIds = readings.flatMap((reading) =>
      reading.kind === 'activity' && reading.activity.kind === 'authorization' ? [reading.activity.id] : [],
    );
    const deviceOf =
      context.devices === undefined || authorizationIds.length === 0
        ? new Map<string, DeviceReading>()
        : await context.devices.authorizationDevices(tx, authorizationIds);
    const programmes = new Map<string, ProgrammeView>();
    // Each device or IP the batch saw, with the latest time and the programme it was seen in.
    const devices = new Map<string, SeenDevice>();
    const seeDevice = (activity: Pick<Activity, 'programId' | 'at'>, device: DeviceReading): void => {
      // Per programme: one key seen in two programmes is judged in each (programmes are counted apart).
      const key = `${activity.programId}:${device.key}`;
      devices.set(key, {
        device,
        at: Math.max(devices.get(key)?.at ?? 0, activity.at),
        programId: activity.programId,
      });
    };
    const touch = ({ cardholderId, at, programId }: Pick<Activity, 'cardholderId' | 'at' | 'programId'>) => {
      const seen = touched.get(cardholderId) ?? { times: new Set<number>(), programId };
      seen.times.add(at);
      touched.set(cardholderId, seen);
    };
    for (const reading of readings) {
      if (reading.kind === 'cardholder') {
        await recordCardholder(tx, reading.fact);
        for (const onboarding of await recordOnboarding(tx, context, reading.fact)) {
          seeDevice(onboarding, onboarding.device);
        }
        continue;
      }
      if (reading.kind !== 'activity') continue;
      const device =
        reading.activity.kind === 'authorization' ? (deviceOf.get(reading.activity.id) ?? null) : null;
      const programme = await programmeFor(tx, reading.activity.programId, programmes);
      await recordActivity(
        tx,
        context,
        { ...reading.activity, deviceKey: device?.key ?? null, deviceKind: device?.kind ?? null },
        programme.settings.reporting_currency,
      );
      if (device !== null) seeDevice(reading.activity, device);
      touch(reading.activity);
    }
    for (const [cardholderId, { times, programId }] of [...touched].sort(([a], [b]) => a.localeCompare(b))) {
      for (const at of evaluationTimes(times)) {
        const done = await evaluateCardholder(tx, context, cardholderId, programId, at, programmes);
        alerts += done.raised;
        if (done.capped) capped += 1;
      }
    }
    const shared = await evaluateDevices(tx, context, devices, programmes);
    alerts += shared.raised;
    capped += shared.capped;
  });
  return { events, alerts, capped };
}

/** Runs batches until the outbox is read to its end (bounded: at most `batchesMax`). */
export async function monitorDue(
  context: MonitorContext,
  batchesMax = 100,
): Promise<{ events: number; alerts: number; capped: number }> {
  let events = 0;
  let alerts = 0;
  let capped = 0;
  for (let batch = 0; batch < batchesMax; batch += 1) {
    const done = await monitorBatch(context);
    events += done.events;
    alerts += done.alerts;
    capped += done.capped;
    if (done.events === 0) break;
  }
  return { events, alerts, capped };
}
