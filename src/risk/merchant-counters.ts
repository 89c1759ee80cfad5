/**
 * The merchant features (`merchant_count_1m`, `merchant_count_1h`, `merchant_declines_1h`,
 * `merchant_new_cards_1h`) from per-minute counters shared by every process (`risk_merchant_minutes`). A window
 * is summed over its minutes: every minute wholly inside it, the current one (all of whose counts are earlier than
 * now), and the oldest one weighted by how much of it the window still covers, the usual sliding-window estimate.
 * So a count is exact to within the counts of one minute's share; rounded to a whole number.
 *
 * Writes are increments, one row per merchant and minute per group of decisions, in key order so that two groups
 * touching the same merchants wait for each other instead of deadlocking; run them with the group's other hot-row
 * writes, last (`runTogether`), so a busy merchant's row is held only until the commit.
 */
import type { Queryable } from '../platform/db/database.js';
import type { Statement } from '../platform/db/statements.js';
import { WINDOW_MS } from './features.js';

const MINUTE_MS = 60_000;

export interface MerchantFeatures {
  readonly merchant_count_1m: number;
  readonly merchant_count_1h: number;
  readonly merchant_declines_1h: number;
  readonly merchant_new_cards_1h: number;
}

export const NO_MERCHANT_ACTIVITY: MerchantFeatures = {
  merchant_count_1m: 0,
  merchant_count_1h: 0,
  merchant_declines_1h: 0,
  merchant_new_cards_1h: 0,
};

/** One authorization as the counters see it. */
export interface MerchantActivity {
  readonly merchantKey: string;
  readonly at: Date;
  readonly declined: boolean;
  /** The card's first authorization at this merchant. */
  readonly newCard: boolean;
}

const minuteOf = (time: number): number => Math.floor(time / MINUTE_MS) * MINUTE_MS;

/** How much of the minute starting at `start` a window of `length` ending at `now` covers, 0 to 1. */
function weight(start: number, now: number, length: number): number {
  if (start >= minuteOf(now)) return 1;
  const from = now - length;
  const covered = Math.min(start + MINUTE_MS, now) - Math.max(start, from);
  return Math.max(0, Math.min(1, covered / MINUTE_MS));
}

interface MinuteRow {
  merchant_key: string;
  minute: Date;
  authorizations: number;
  declines: number;
  new_cards: number;
}

/** The features of many merchants at `now`, in one statement. A merchant with no activity has zeros. */
export async function merchantFeatures(
  db: Queryable,
  merchantKeys: readonly string[],
  now: Date,
): Promise<Map<string, MerchantFeatures>> {
  const keys = [...new Set(merchantKeys)];
  const found = new Map<string, MerchantFeatures>(keys.map((key) => [key, NO_MERCHANT_ACTIVITY]));
  if (keys.length === 0) return found;
  const hour = WINDOW_MS['1h'];
  const rows = await db.query<MinuteRow>(
    `SELECT merchant_key, minute, authorizations, declines, new_cards FROM risk_merchant_minutes
     WHERE merchant_key = ANY($1::text[]) AND minute > $2 AND minute <= $3`,
    [keys, new Date(now.getTime() - hour - MINUTE_MS), now],
  );
  const sums = new Map<string, { m1: number; count: number; declines: number; newCards: number }>();
  const t = now.getTime();
  for (const row of rows.rows) {
    const start = row.minute.getTime();
    const sum = sums.get(row.merchant_key) ?? { m1: 0, count: 0, declines: 0, newCards: 0 };
    const inHour = weight(start, t, hour);
    sum.m1 += row.authorizations * weight(start, t, WINDOW_MS['1m']);
    sum.count += row.authorizations * inHour;
    sum.declines += row.declines * inHour;
    sum.newCards += row.new_cards * inHour;
    sums.set(row.merchant_key, sum);
  }
  for (const [key, sum] of sums) {
    found.set(key, {
      merchant_count_1m: Math.round(sum.m1),
      merchant_count_1h: Math.round(sum.count),
      merchant_declines_1h: Math.round(sum.declines),
      merchant_new_cards_1h: Math.round(sum.newCards),
    });
  }
  return found;
}

/** The increments for a group's authorizations, one row per merchant and minute, in key order. */
export function merchantCountersIncrement(activity: readonly MerchantActivity[]): Statement | undefined {
  if (activity.length === 0) return undefined;
  const rows = new Map<string, { merchant_key: string; minute: string; a: number; d: number; n: number }>();
  for (const each of activity) {
    const minute = new Date(minuteOf(each.at.getTime())).toISOString();
    const key = `${each.merchantKey}\u0000${minute}`;
    const row = rows.get(key) ?? { merchant_key: each.merchantKey, minute, a: 0, d: 0, n: 0 };
    row.a += 1;
    if (each.declined) row.d += 1;
    if (each.newCard) row.n += 1;
    rows.set(key, row);
  }
  const ordered = [...rows.values()].sort((x, y) =>
    x.merchant_key !== y.merchant_key
      ? x.merchant_key < y.merchant_key
        ? -1
        : 1
      : x.minute < y.minute
        ? -1
        : x.minute > y.minute
          ? 1
          : 0,
  );
  return {
    sql: `INSERT INTO risk_merchant_minutes (merchant_key, minute, authorizations, declines, new_cards)
      SELECT merchant_key, minute, a, d, n
      FROM json_to_recordset($1::json) AS r(merchant_key text, minute timestamptz, a integer, d integer, n integer)
      ORDER BY merchant_key COLLATE "C", minute
      ON CONFLICT (merchant_key, minute) DO UPDATE SET
        authorizations = risk_merchant_minutes.authorizations + EXCLUDED.authorizations,
        declines = risk_merchant_minutes.declines + EXCLUDED.declines,
        new_cards = risk_merchant_minutes.new_cards + EXCLUDED.new_cards`,
    params: [JSON.stringify(ordered)],
  };
}

/** Deletes minutes no window reaches any more (older than an hour and a minute); returns how many. */
export async function pruneMerchantCounters(db: Queryable, now: Date): Promise<number> {
  const deleted = await db.query('DELETE FROM risk_merchant_minutes WHERE minute <= $1', [
    new Date(minuteOf(now.getTime()) - WINDOW_MS['1h'] - MINUTE_MS),
  ]);
  return deleted.rowCount;
}
