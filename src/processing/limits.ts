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

/**
 * What a card, or all of a cardholder's cards together, have authorized since `since` in one currency (the amount
 * each approval holds now: a reversal gives its part back), optionally only in some merchant categories. Read under
 * the cardholder's lock, so two authorizations can never both fit under the same limit.
 */
export async function usageSince(
  tx: Transaction,
  scope: {
    readonly column: 'card_id' | 'cardholder_id';
    readonly id: string;
    readonly currency: string;
    readonly since: Date;
    readonly categories: readonly string[] | undefined;
  },
): Promise<number> {
  const found = await tx.query<{ used: number }>(
    `SELECT coalesce(sum(amount), 0)::bigint AS used FROM authorizations
     WHERE ${scope.column} = $1 AND approved AND currency = $2 AND created_at >= $3
       AND ($4::text[] IS NULL OR mcc = ANY($4::text[]))`,
    [scope.id, scope.currency, scope.since, scope.categories === undefined ? null : [...scope.categories]],
  );
  return found.rows[0]?.used ?? 0;
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

/**
 * Whether `amount` more fits every spending limit of the card and of the cardholder (all cards together), for a
 * new authorization and an increment alike.
 */
export async function limitsAllow(tx: Transaction, check: LimitCheck): Promise<boolean> {
  const scopes = [
    { controls: check.cardControls, column: 'card_id' as const, id: check.cardId },
    { controls: check.cardholderControls, column: 'cardholder_id' as const, id: check.cardholderId },
  ];
  for (const scope of scopes) {
    for (const limit of scope.controls.spending_limits ?? []) {
      if (limit.categories !== undefined && !limit.categories.includes(check.mcc)) continue;
      if (limit.interval === 'per_authorization') {
        if (check.authorizationTotal > limit.amount) return false;
        continue;
      }
      const used = await usageSince(tx, {
        column: scope.column,
        id: scope.id,
        currency: check.currency,
        since: windowStart(limit.interval, check.now),
        categories: limit.categories,
      });
      if (used + check.amount > limit.amount) return false;
    }
  }
  return true;
}
