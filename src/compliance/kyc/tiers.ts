import type { Queryable, Transaction } from '../../platform/db/database.js';
import { json } from '../../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../../platform/errors.js';
import { formatMoney } from '../../platform/money.js';
import { appendAudit, type AuditActor } from '../../records/audit.js';
import { emitEvent, type RecordsContext } from '../../records/outbox.js';
import { KYC_TIERS, tierOf, type KycStatus, type KycTier } from './status.js';
import { isRecord } from '../../platform/records.js';

/**
 * A programme's KYC tier limits (HKMA's tiered approach for stored value facilities, DESIGN.md's reference facts):
 * per tier and per currency, in that currency's minor units,
 *
 * - `max_balance`: the most one wallet may hold (its posted balance) after a load;
 * - `max_loads_per_year`: the most the cardholder may load into all of their wallets in that currency over the year
 *   up to now (since the same moment a year earlier);
 * - `max_per_transaction`: the largest authorization (in the card's currency) the decision approves.
 *
 * Limits are per currency: Lantau converts nothing to apply them (the rates belong to processing, and a limit
 * should not move with a rate). HKD has defaults, the industry practice DESIGN.md gives: unverified HKD 3,000 stored
 * value and HKD 25,000 loads a year, verified HKD 200,000 and HKD 1,200,000; the per-transaction maximum defaults
 * to the tier's balance cap. Any other currency has limits only once the programme sets them: until then loads in
 * it are refused (`kyc_limits_unset`), and authorizations are not limited by tier (money reaches such a wallet only
 * through a refund). A programme holding several currencies sets each so that together they stay within the rules.
 */
export const LIMIT_NAMES = ['max_balance', 'max_loads_per_year', 'max_per_transaction'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

export type TierLimits = Readonly<Record<LimitName, number>>;
/** Per currency code. */
export type CurrencyLimits = Readonly<Record<string, TierLimits>>;
export type KycTierSettings = Readonly<Record<KycTier, CurrencyLimits>>;

export const DEFAULT_KYC_TIERS: KycTierSettings = {
  unverified: {
    HKD: { max_balance: 3_000_00, max_loads_per_year: 25_000_00, max_per_transaction: 3_000_00 },
  },
  verified: {
    HKD: { max_balance: 200_000_00, max_loads_per_year: 1_200_000_00, max_per_transaction: 200_000_00 },
  },
};

/** A programme's tiers as the API shows them: the defaults with what the programme set over them. */
export interface KycTiers extends KycTierSettings {
  readonly object: 'kyc_tiers';
  readonly program_id: string;
}

/** What a programme stored (`programs.kyc_tiers`): whole entries for the currencies it set, nothing else. */
type StoredTiers = Partial<Record<KycTier, Record<string, TierLimits>>>;

const CURRENCIES_PER_TIER_MAX = 20;

function isLimit(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isTierLimits(value: unknown): value is TierLimits {
  return isRecord(value) && LIMIT_NAMES.every((name) => isLimit(value[name]));
}

/**
 * The programme's own limits for a tier and currency from the stored column (null: none set), or undefined. Only
 * `updateKycTiers` writes the column, whole entries checked; anything else there was written around it, and is
 * refused loudly rather than read as no limit.
 */
function storedEntry(stored: unknown, tier: KycTier, currency: string): TierLimits | undefined {
  if (stored === null || stored === undefined) return undefined;
  if (!isRecord(stored)) throw new Error('programs.kyc_tiers is not an object');
  const tierEntries = stored[tier];
  if (tierEntries === undefined) return undefined;
  if (!isRecord(tierEntries)) throw new Error(`programs.kyc_tiers.${tier} is not an object`);
  const entry = tierEntries[currency];
  if (entry === undefined) return undefined;
  if (!isTierLimits(entry)) throw new Error(`programs.kyc_tiers.${tier}.${currency} is malformed`);
  return entry;
}

/** The limits that apply to a tier in a currency: the programme's own, else the default, else none. */
export function limitsFor(stored: unknown, tier: KycTier, currency: string): TierLimits | undefined {
  return storedEntry(stored, tier, currency) ?? DEFAULT_KYC_TIERS[tier][currency];
}

function currenciesOf(stored: unknown, tier: KycTier): string[] {
  const own = isRecord(stored) && isRecord(stored[tier]) ? Object.keys(stored[tier]) : [];
  return [...new Set([...Object.keys(DEFAULT_KYC_TIERS[tier]), ...own])].sort();
}

/** Every tier's limits in every currency that has them (of `currencies` only, when given). */
export function effectiveTiers(stored: unknown, currencies?: readonly string[]): KycTierSettings {
  const settings: Record<string, Record<string, TierLimits>> = {};
  for (const tier of KYC_TIERS) {
    const limits: Record<string, TierLimits> = {};
    for (const currency of currenciesOf(stored, tier)) {
      if (currencies !== undefined && !currencies.includes(currency)) continue;
      const entry = limitsFor(stored, tier, currency);
      if (entry !== undefined) limits[currency] = { ...entry };
    }
    settings[tier] = limits;
  }
  return settings as KycTierSettings;
}

// ---- Enforcement ----

const TIER_WORDS: Readonly<Record<KycTier, string>> = {
  unverified: 'an unverified cardholder',
  verified: 'a verified cardholder',
};

function limitsUnset(tier: KycTier, currency: string): LantauError {
  return new LantauError(
    'kyc_limits_unset',
    `The programme has set no KYC limits for ${currency} in the ${tier} tier, so ${currency} cannot be loaded yet: ` +
      `set them with POST /v1/programs/{id}/kyc_tiers`,
    { param: 'currency' },
  );
}

/** What a load would make of the wallet and of the cardholder's year, to hold against the tier's limits. */
export interface LoadEffect {
  readonly status: KycStatus;
  readonly currency: string;
  readonly amount: number;
  /** The wallet's posted balance before the load. */
  readonly balance: number;
  /** What the cardholder loaded into their wallets in this currency over the year up to now, before this load. */
  readonly loadedInYear: number;
}

/**
 * Why the tier refuses a load, or undefined when it fits: the wallet's balance after it above `max_balance`, or the
 * year's loads with it above `max_loads_per_year`. The caller holds the cardholder's row lock, so two loads (or a
 * load and a refund) cannot both fit under the same limit.
 */
export function loadRefusal(stored: unknown, effect: LoadEffect): LantauError | undefined {
  const tier = tierOf(effect.status);
  const limits = limitsFor(stored, tier, effect.currency);
  if (limits === undefined) return limitsUnset(tier, effect.currency);
  const money = (amount: number) => formatMoney(amount, effect.currency);
  const balanceAfter = effect.balance + effect.amount;
  if (balanceAfter > limits.max_balance) {
    return new LantauError(
      'kyc_balance_limit_exceeded',
      `The cardholder is ${effect.status}: ${TIER_WORDS[tier]}’s ${effect.currency} account may hold at most ` +
        `${money(limits.max_balance)} (the ${tier} tier’s max_balance), and this load would make its balance ` +
        money(balanceAfter),
      { param: 'amount' },
    );
  }
  const loadedAfter = effect.loadedInYear + effect.amount;
  if (loadedAfter > limits.max_loads_per_year) {
    return new LantauError(
      'kyc_annual_load_limit_exceeded',
      `The cardholder is ${effect.status}: ${TIER_WORDS[tier]} may load at most ` +
        `${money(limits.max_loads_per_year)} a year (the ${tier} tier’s max_loads_per_year); ` +
        `${money(effect.loadedInYear)} was loaded in the last year, and this load would make it ${money(loadedAfter)}`,
      { param: 'amount' },
    );
  }
  return undefined;
}

/** Where the year whose loads count ends: now; it began at the same moment a year earlier (UTC). */
export function loadYearStart(now: Date): Date {
  const start = new Date(now.getTime());
  start.setUTCFullYear(start.getUTCFullYear() - 1);
  return start;
}

/**
 * The authorization decision's `kyc_limit` check: `within` is false when `amount` (card currency, minor units) is
 * above the tier's per-transaction maximum, undefined when the currency has no limits for the tier (the check is
 * skipped); `detail` says which limit and by how much, for the answer's `checks`.
 */
export function perTransactionLimit(
  stored: unknown,
  status: KycStatus,
  currency: string,
  amount: number,
): { readonly within: boolean | undefined; readonly detail?: string } {
  const tier = tierOf(status);
  const limits = limitsFor(stored, tier, currency);
  if (limits === undefined) {
    return { within: undefined, detail: `no ${tier}-tier limits for ${currency}` };
  }
  if (amount <= limits.max_per_transaction) return { within: true };
  return {
    within: false,
    detail:
      `${formatMoney(amount, currency)} is above the ${tier} tier’s per-transaction maximum of ` +
      `${formatMoney(limits.max_per_transaction, currency)} (the cardholder is ${status})`,
  };
}

// ---- Settings ----

function tierParam(tier: string, currency?: string, name?: string): string {
  return `${tier}${currency === undefined ? '' : `[${currency}]`}${name === undefined ? '' : `[${name}]`}`;
}

/**
 * Checks a change to a programme's tiers and merges it into what is stored: a given limit replaces that one, the
 * rest stay (a currency the programme has no limits for yet must be given whole). The result must still give each
 * currency limits in both tiers, and the verified tier at least what the unverified one allows: verifying a
 * cardholder may never lower their limits. Bad input is a `LantauError` naming the field, as `unverified[HKD][max_balance]`.
 */
export function mergeTierChanges(
  input: unknown,
  stored: unknown,
  programCurrencies: readonly string[],
): StoredTiers | LantauError {
  if (!isRecord(input)) return invalidRequest('parameter_invalid', 'The tiers must be an object');
  const next: Record<string, Record<string, TierLimits>> = {};
  for (const tier of KYC_TIERS) {
    const own = isRecord(stored) && isRecord(stored[tier]) ? stored[tier] : {};
    next[tier] = {};
    for (const currency of Object.keys(own)) {
      const entry = storedEntry(stored, tier, currency);
      if (entry !== undefined) next[tier][currency] = entry;
    }
  }
  for (const [tier, changes] of Object.entries(input)) {
    if (!(KYC_TIERS as readonly string[]).includes(tier)) {
      return new LantauError('parameter_unknown', `Received unknown parameter: ${tier}`, { param: tier });
    }
    if (!isRecord(changes)) {
      return invalidRequest('parameter_invalid', `${tier} must be an object of currencies`, tier);
    }
    const entries = Object.entries(changes);
    if (entries.length > CURRENCIES_PER_TIER_MAX) {
      return invalidRequest(
        'parameter_invalid',
        `${tier} may set at most ${CURRENCIES_PER_TIER_MAX} currencies`,
        tier,
      );
    }
    for (const [currency, given] of entries) {
      const param = tierParam(tier, currency);
      if (!programCurrencies.includes(currency)) {
        return invalidRequest(
          'currency_unsupported',
          `The programme holds ${programCurrencies.join(', ')}; ${currency} is not one of them`,
          param,
        );
      }
      if (!isRecord(given)) {
        return invalidRequest('parameter_invalid', `${param} must be an object of limits`, param);
      }
      for (const [name, value] of Object.entries(given)) {
        if (!(LIMIT_NAMES as readonly string[]).includes(name)) {
          return new LantauError(
            'parameter_unknown',
            `Received unknown parameter: ${tierParam(tier, currency, name)}`,
            {
              param: tierParam(tier, currency, name),
            },
          );
        }
        if (!isLimit(value)) {
          return invalidRequest(
            'parameter_invalid',
            `${tierParam(tier, currency, name)} must be a whole number of minor units, 0 or more`,
            tierParam(tier, currency, name),
          );
        }
      }
      const current = limitsFor(stored, tier as KycTier, currency);
      const merged: Partial<Record<LimitName, number>> = { ...current };
      for (const name of LIMIT_NAMES) {
        const value = given[name];
        if (isLimit(value)) merged[name] = value;
        if (merged[name] === undefined) {
          return new LantauError(
            'parameter_missing',
            `${currency} has no ${tier}-tier limits yet: give all of ${LIMIT_NAMES.join(', ')} ` +
              `(missing ${tierParam(tier, currency, name)})`,
            { param: tierParam(tier, currency, name) },
          );
        }
      }
      const tierEntries = next[tier];
      if (tierEntries !== undefined && isTierLimits(merged)) tierEntries[currency] = merged;
    }
  }
  return checkTierOrder(next) ?? next;
}

/** Each currency in both tiers, and the verified tier's limits never below the unverified tier's. */
function checkTierOrder(next: StoredTiers): LantauError | undefined {
  const currencies = new Set([...currenciesOf(next, 'unverified'), ...currenciesOf(next, 'verified')]);
  for (const currency of [...currencies].sort()) {
    const unverified = limitsFor(next, 'unverified', currency);
    const verified = limitsFor(next, 'verified', currency);
    if (unverified === undefined || verified === undefined) {
      const missing = unverified === undefined ? 'unverified' : 'verified';
      return invalidRequest(
        'kyc_tier_incomplete',
        `${currency} has limits in one tier only: set its ${missing}-tier limits too`,
        tierParam(missing, currency),
      );
    }
    for (const name of LIMIT_NAMES) {
      if (verified[name] < unverified[name]) {
        return invalidRequest(
          'kyc_tier_order',
          `The verified tier’s ${name} for ${currency} (${formatMoney(verified[name], currency)}) is below the ` +
            `unverified tier’s (${formatMoney(unverified[name], currency)}): verifying a cardholder may not lower ` +
            `their limits`,
          tierParam('verified', currency, name),
        );
      }
    }
  }
  return undefined;
}

/** The programme's tiers in its own currencies (the HKD defaults are not shown to a programme without HKD). */
function tiersObject(programId: string, stored: unknown, currencies: readonly string[]): KycTiers {
  return { object: 'kyc_tiers', program_id: programId, ...effectiveTiers(stored, currencies) };
}

export async function readKycTiers(db: Queryable, programId: string): Promise<KycTiers> {
  const found = await db.query<{ kyc_tiers: unknown; currencies: string[] }>(
    'SELECT kyc_tiers, currencies FROM programs WHERE id = $1',
    [programId],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('program', programId);
  return tiersObject(programId, row.kyc_tiers, row.currencies);
}

/** `unverified.HKD.max_balance: "300000 -> 500000"` for each limit a change moved: audit details are flat. */
function changedLimits(before: KycTierSettings, after: KycTierSettings): Record<string, string> {
  const changed: Record<string, string> = {};
  for (const tier of KYC_TIERS) {
    const currencies = new Set([...Object.keys(before[tier]), ...Object.keys(after[tier])]);
    for (const currency of [...currencies].sort()) {
      for (const name of LIMIT_NAMES) {
        const was = before[tier][currency]?.[name];
        const now = after[tier][currency]?.[name];
        if (was !== now)
          changed[`${tier}.${currency}.${name}`] = `${String(was ?? 'unset')} -> ${String(now)}`;
      }
    }
  }
  return changed;
}

/**
 * Changes a programme's tier limits (`mergeTierChanges`), with its event and audit entry, in the caller's
 * transaction. The programme's row is locked, so two changes do not lose one another's limits. Loads and
 * decisions read the limits in their own transactions, so they see the change from their next one on.
 */
export async function updateKycTiers(
  tx: Transaction,
  context: RecordsContext,
  programId: string,
  input: unknown,
  by: { readonly actor: AuditActor; readonly requestId?: string },
): Promise<KycTiers> {
  const found = await tx.query<{ kyc_tiers: unknown; currencies: string[] }>(
    'SELECT kyc_tiers, currencies FROM programs WHERE id = $1 FOR UPDATE',
    [programId],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('program', programId);
  const next = mergeTierChanges(input, row.kyc_tiers, row.currencies);
  if (next instanceof LantauError) throw next;
  const before = effectiveTiers(row.kyc_tiers);
  const tiers = tiersObject(programId, next, row.currencies);
  const changed = changedLimits(before, effectiveTiers(next));
  if (Object.keys(changed).length === 0) return tiers;
  await tx.query('UPDATE programs SET kyc_tiers = $2::jsonb WHERE id = $1', [programId, json(next)]);
  await emitEvent(tx, context, { type: 'kyc_tiers.updated', programId, object: tiers });
  await appendAudit(tx, context, {
    ...by,
    action: 'kyc_tiers.updated',
    programId,
    target: { type: 'program', id: programId },
    details: changed,
  });
  return tiers;
}
