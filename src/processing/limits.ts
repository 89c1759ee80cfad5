import type { Transaction } from '../platform/db/database.js';
import type { SpendingControls, SpendingLimitInterval } from '../issuing/spending-controls.js';

/**
 * Where a spending limit's window begins, in UTC as Stripe Issuing counts them: the day, the week (from Monday),
 * the month and the year so far; `all_time` from the beginning.
 */
export function windowStart(interval: Exclude<SpendingLimitInterval, 'per_authorization'>, now: Date): Date {
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth();
  const day = now.getUTCDate();
  switch (interval) {
    case 'daily':
      return new Date(Date.UTC(year, month, day));
    case 'weekly': {
      const sinceMonday = (now.getUTCDay() + 6) % 7;
      return new Date(Date.UTC(year, month, day - sinceMonday));
    }
    case 'monthly':
      return new Date(Date.UTC(year, month, 1));
    case 'yearly':
      return new Date(Date.UTC(year, 0, 1));
    case 'all_time':
      return new Date(0);
  }
}

export interface LimitCheck {
  readonly cardId: string;
  readonly cardControls: SpendingControls;
  readonly cardholderId: string;
  readonly cardholderControls: SpendingControls;
  readonly currency: string;
  readonly mcc: string;
  /** What this request adds to what is held. */
  readonly amount: number;
  /** The whole authorization after this request: what a per-authorization limit compares (an increment adds up). */
  readonly authorizationTotal: number;
  readonly now: Date;
}

/** A window of past authorizations a limit counts: one card's or one cardholder's, since a time, maybe some MCCs. */
export interface UsageWindow {
  readonly column: 'card_id' | 'cardholder_id';
  readonly id: string;
  readonly currency: string;
  readonly since: Date;
  readonly categories: readonly string[] | undefined;
}

/** The same window gives the same key: a group of decisions reads each window once. */
export function usageKey(window: UsageWindow): string {
  return [
    window.column,
    window.id,
    window.currency,
    window.since.toISOString(),
    window.categories?.join(',') ?? '*',
  ].join('|');
}

type LimitVisit = (window: UsageWindow | undefined, limit: { readonly amount: number }) => boolean;

/** Visits every limit that applies to the check, with its window (undefined for a per-authorization limit). */
function eachLimit(check: LimitCheck, visit: LimitVisit): boolean {
  const scopes = [
    { controls: check.cardControls, column: 'card_id' as const, id: check.cardId },
    { controls: check.cardholderControls, column: 'cardholder_id' as const, id: check.cardholderId },
  ];
  for (const scope of scopes) {
    for (const limit of scope.controls.spending_limits ?? []) {
      if (limit.categories !== undefined && !limit.categories.includes(check.mcc)) continue;
      const window =
        limit.interval === 'per_authorization'
          ? undefined
          : {
              column: scope.column,
              id: scope.id,
              currency: check.currency,
              since: windowStart(limit.interval, check.now),
              categories: limit.categories,
            };
      if (!visit(window, limit)) return false;
    }
  }
  return true;
}

/** The windows whose usage `fitsLimits` will ask for. */
export function usageWindows(check: LimitCheck): UsageWindow[] {
  const windows: UsageWindow[] = [];
  eachLimit(check, (window) => {
    if (window !== undefined) windows.push(window);
    return true;
  });
  return windows;
}

/** Whether `amount` more fits every limit, given what each window has used so far. Pure. */
export function fitsLimits(check: LimitCheck, used: (window: UsageWindow) => number): boolean {
  return eachLimit(check, (window, limit) =>
    window === undefined
      ? check.authorizationTotal <= limit.amount
      : used(window) + check.amount <= limit.amount,
  );
}

/**
 * Whether `amount` more fits every spending limit of the card and of the cardholder (all cards together), for a
 * new authorization and an increment alike.
 */
export async function limitsAllow(tx: Transaction, check: LimitCheck): Promise<boolean> {
  const used = await usagesSince(tx, usageWindows(check));
  return fitsLimits(check, (window) => used.get(usageKey(window)) ?? 0);
}

/**
 * What each window has authorized: what a card, or all of a cardholder's cards together, hold now (a reversal gives
 * its part back) plus what has cleared (so a capture does not free its amount for spending again) since the window's start in one currency, optionally only in some merchant categories, keyed by
 * `usageKey`. One statement for all of a group's windows. Read under the cardholders' locks, so two authorizations
 * can never both fit under the same limit.
 */
export async function usagesSince(
  tx: Transaction,
  windows: readonly UsageWindow[],
): Promise<Map<string, number>> {
  const unique = new Map(windows.map((window) => [usageKey(window), window]));
  const used = new Map<string, number>();
  if (unique.size === 0) return used;
  const list = [...unique.entries()];
  // One sub-select per scope, so each uses its own index (a CASE inside one WHERE would use neither).
  const found = await tx.query<{ key: string; used: number }>(
    `SELECT q.key, (CASE WHEN q.scope = 'card_id' THEN
         (SELECT coalesce(sum(a.amount + a.cleared_amount), 0) FROM authorizations a
          WHERE a.card_id = q.id AND a.approved AND a.currency = q.currency AND a.created_at >= q.since
            AND (q.categories IS NULL OR a.mcc = ANY(string_to_array(q.categories, ','))))
       ELSE
         (SELECT coalesce(sum(a.amount + a.cleared_amount), 0) FROM authorizations a
          WHERE a.cardholder_id = q.id AND a.approved AND a.currency = q.currency AND a.created_at >= q.since
            AND (q.categories IS NULL OR a.mcc = ANY(string_to_array(q.categories, ','))))
       END)::bigint AS used
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
       AS q(key, scope, id, currency, since, categories)`,
    [
      list.map(([key]) => key),
      list.map(([, window]) => window.column),
      list.map(([, window]) => window.id),
      list.map(([, window]) => window.currency),
      list.map(([, window]) => window.since.toISOString()),
      // MCCs are four digits: a comma cannot occur in one.
      list.map(([, window]) => window.categories?.join(',') ?? null),
    ],
  );
  for (const row of found.rows) used.set(row.key, row.used);
  return used;
}
