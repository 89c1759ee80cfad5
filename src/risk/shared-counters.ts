/**
 * The merchant and device features: per merchant and per device or IP address, over 1 minute, 1 hour, 24 hours and 7
 * days, the authorizations (`_count_`), the approved ones' amounts (`_amount_`) and the declines (`_declines_`);
 * per merchant also the cards seen there for the first time over 1 hour and 24 hours (`merchant_new_cards_`).
 * Counted in each process's memory as its authorizations commit, and shared between processes through the rows of
 * `risk_counter_minutes` and `risk_counter_hours` (migrations 0016 and 0018), about once a second and off the
 * decision's path (incrementing a merchant's row in every authorization's transaction cost about 15% of
 * authorization throughput).
 *
 * What is exact and what lags:
 * - a process's own counts are current: an authorization counts for the process's next decision once `add` has it;
 * - other processes' counts are as of their last sync before this process's last sync: about two sync intervals
 *   late at most while syncs succeed;
 * - a key this process holds no counts of (never seen, seen only more than a week ago, or evicted, below) has zeros
 *   until the process counts it and then syncs: only then does it read what others counted under that key, its
 *   whole week. So after a restart a busy merchant's counts come back at the first sync after its first
 *   authorization here; what the stopped process counted but had not yet written (its last second, unless it
 *   synced as it stopped) is lost.
 *
 * Buckets: every authorization counts in its minute and in its hour. The 1-minute and 1-hour windows are summed over
 * minutes, the 24-hour and 7-day windows over hours: every bucket wholly inside the window, the current one (all of
 * whose counts are earlier than now), and the oldest one weighted by how much of it the window still covers, the
 * usual sliding-window estimate. So a 1-minute or 1-hour value is exact to within one minute's share, a 24-hour or
 * 7-day value to within one hour's; rounded to a whole number (amounts too: in the card's currency's minor units,
 * whatever the currency, a measure of activity rather than money).
 *
 * How a process counts the others' authorizations without counting its own twice: a bucket holds everyone's counts,
 * set at each read of its row to the row plus what this process has counted there since its last write. The row
 * holds everything this process has written there, because sync writes first and reads after, one statement each;
 * between reads the bucket takes this process's new counts as they come.
 *
 * What each sync reads: the rows written since its last read, and the whole history (an hour of minute rows and a
 * week of hour rows) of the keys first held since, not every row of every key held (a busy merchant has 230 rows in reach).
 * "Since" is by transaction: every row carries the id of the transaction that last wrote it (a trigger sets it) and
 * the process keeps its last read's snapshot; the next read asks for the rows that snapshot did not see, written by
 * transactions at or above its `xmax` or in its list of those still running. A change number from a sequence would
 * not do: a number taken by one write can commit after a larger one taken by another has been read, and a reader
 * going on from the larger would never see it. The snapshot says exactly which writes were still to commit, however
 * long they take, so no margin is needed; a write by a transaction that had committed was seen by that read or, if
 * its key was not held then, is read with the key's history. Re-reading a row, as the two parts of a read may, is
 * harmless: a bucket is set from its row, not added to. The read is of every key's changed rows, the
 * process keeping those of keys it holds: sending the keys held (up to `maxKeys` of each kind) would cost more than
 * the rows, which are as many as the processes wrote since (at most one per key and bucket, whatever the gap).
 *
 * Memory: minutes older than an hour and a minute, and hours older than a week and an hour, are dropped at each sync,
 * and with them keys that have no counts of this process's left (a week after this process last counted one). At
 * most `maxKeys` merchants and `maxKeys` devices are held (100,000 each by default), apart, so that devices, nearly
 * all seen once, never push out merchants: beyond that the key least recently counted is dropped, and features for
 * it are zeros until it is counted and synced again; its counts not yet written are still written at the next sync.
 * Measured on Node 20, a key takes about 650 bytes with one minute and one hour (a key seen once; its strings, map
 * entry, counter and buckets), and about 100 more for each further minute or hour held, whoever counted in it:
 * 130 MB for 200,000 keys seen once. A merchant counted in every minute of the last hour and every hour of the week
 * holds 61 minutes and 169 hours, about 25 KB; 100,000 of those would take 2.5 GB, so `maxKeys` is the bound to lower
 * where memory is short.
 *
 * Clock and timers are the caller's: every time is an argument, and the server calls `sync` on an interval.
 */
import { json, type Queryable } from '../platform/db/database.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;
const DEFAULT_MAX_KEYS = 100_000;
/** The longest merchant key 0015 allowed; with `merchant:` in front it fits the table's 240 characters. */
const MAX_MERCHANT_KEY = 200;
const DEVICE_KEY = /^[0-9a-f]{64}$/;
/** What a PostgreSQL text value cannot hold: NUL, and a lone UTF-16 surrogate (JSON would carry it as an escape). */
const UNSTORABLE = /[\0\p{Cs}]/u;
/** The last millisecond of year 9999: later times are not written as the table's timestamps. */
const LAST_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** One committed authorization as the counters see it. */
export interface CounterActivity {
  /** The acceptor id, or the merchant's name where there is none: 1 to 200 characters. */
  readonly merchantKey: string;
  /** The blind index of the device or IP address, 64 lowercase hex digits; null when the channel carried none. */
  readonly deviceKey: string | null;
  /** Epoch milliseconds. */
  readonly at: number;
  readonly declined: boolean;
  /** The card's first authorization at this merchant. */
  readonly newCard: boolean;
  /**
   * The approved amount, in the card's currency's minor units: a non-negative safe integer. Neither counted nor
   * checked when declined (declines count no amount).
   */
  readonly amount: number;
}

export interface MerchantFeatures {
  readonly merchant_count_1m: number;
  readonly merchant_count_1h: number;
  readonly merchant_count_24h: number;
  readonly merchant_count_7d: number;
  readonly merchant_amount_1m: number;
  readonly merchant_amount_1h: number;
  readonly merchant_amount_24h: number;
  readonly merchant_amount_7d: number;
  readonly merchant_declines_1m: number;
  readonly merchant_declines_1h: number;
  readonly merchant_declines_24h: number;
  readonly merchant_declines_7d: number;
  readonly merchant_new_cards_1h: number;
  readonly merchant_new_cards_24h: number;
}

export interface DeviceFeatures {
  readonly device_count_1m: number;
  readonly device_count_1h: number;
  readonly device_count_24h: number;
  readonly device_count_7d: number;
  readonly device_amount_1m: number;
  readonly device_amount_1h: number;
  readonly device_amount_24h: number;
  readonly device_amount_7d: number;
  readonly device_declines_1m: number;
  readonly device_declines_1h: number;
  readonly device_declines_24h: number;
  readonly device_declines_7d: number;
}

export const NO_MERCHANT_ACTIVITY: MerchantFeatures = Object.freeze({
  merchant_count_1m: 0,
  merchant_count_1h: 0,
  merchant_count_24h: 0,
  merchant_count_7d: 0,
  merchant_amount_1m: 0,
  merchant_amount_1h: 0,
  merchant_amount_24h: 0,
  merchant_amount_7d: 0,
  merchant_declines_1m: 0,
  merchant_declines_1h: 0,
  merchant_declines_24h: 0,
  merchant_declines_7d: 0,
  merchant_new_cards_1h: 0,
  merchant_new_cards_24h: 0,
});

export const NO_DEVICE_ACTIVITY: DeviceFeatures = Object.freeze({
  device_count_1m: 0,
  device_count_1h: 0,
  device_count_24h: 0,
  device_count_7d: 0,
  device_amount_1m: 0,
  device_amount_1h: 0,
  device_amount_24h: 0,
  device_amount_7d: 0,
  device_declines_1m: 0,
  device_declines_1h: 0,
  device_declines_24h: 0,
  device_declines_7d: 0,
});

export interface RiskCountersOptions {
  /** The most merchants, and separately the most devices, held in memory (default 100,000). */
  readonly maxKeys?: number;
}

const startOf = (time: number, span: number): number => Math.floor(time / span) * span;

/** The buckets no window reaches: minutes, and hours, starting at or before these (epoch ms). */
interface Reach {
  readonly minute: number;
  readonly hour: number;
}

function reachAt(time: number): Reach {
  // The 1-hour window's oldest minute starts at the current minute's start less an hour, the 7-day window's oldest
  // hour at the current hour's start less a week: the bucket before each is out of every window.
  return {
    minute: startOf(time, MINUTE_MS) - HOUR_MS - MINUTE_MS,
    hour: startOf(time, HOUR_MS) - WEEK_MS - HOUR_MS,
  };
}

/**
 * One key's counts in one minute or hour, this process's and the others': declines and new cards are counted in
 * `count` too. Set from the bucket's row at each read of it, to the row (which holds everything this process wrote
 * there) plus what this process has counted there and not written yet.
 */
class Bucket {
  count = 0;
  amount = 0;
  declines = 0;
  newCards = 0;

  constructor(readonly start: number) {}
}

type Span = 'minute' | 'hour';

/** This process's counts in a bucket not yet written to its row. */
class Increment {
  count = 0;
  amount = 0;
  declines = 0;
  newCards = 0;

  constructor(
    readonly tableKey: string,
    readonly span: Span,
    readonly bucket: Bucket,
  ) {}
}

/** One key's minutes and hours, each oldest first. */
class Counter {
  readonly minutes: Bucket[] = [];
  readonly hours: Bucket[] = [];
  /** The start of the latest hour this process counted the key in: it holds the key a week after that. */
  lastHour = -Infinity;
  /** Whether the key's history has been read, at the first sync after it was first held. */
  loaded = false;

  /** `tableKey`: the key with its kind in front, as the tables hold it. */
  constructor(readonly tableKey: string) {}
}

/** The bucket starting at `start`, made if there is none. Nearly always the last one, or a new last one. */
function bucketAt(buckets: Bucket[], start: number): Bucket {
  let index = buckets.length;
  while (index > 0 && (buckets[index - 1]?.start ?? 0) > start) index -= 1;
  const before = buckets[index - 1];
  if (before?.start === start) return before;
  const bucket = new Bucket(start);
  buckets.splice(index, 0, bucket);
  return bucket;
}

function findBucket(buckets: readonly Bucket[], start: number): Bucket | undefined {
  for (let index = buckets.length - 1; index >= 0; index -= 1) {
    const bucket = buckets[index];
    if (bucket === undefined || bucket.start < start) return undefined;
    if (bucket.start === start) return bucket;
  }
  return undefined;
}

/** Drops the buckets starting at or before `reached`. */
function dropBefore(buckets: Bucket[], reached: number): void {
  let old = 0;
  while (old < buckets.length && (buckets[old]?.start ?? Infinity) <= reached) old += 1;
  if (old > 0) buckets.splice(0, old);
}

/** How much of the bucket starting at `start` a window of `length` ending at `now` covers, 0 to 1. */
function weight(start: number, span: number, now: number, length: number): number {
  if (start >= startOf(now, span)) return 1;
  const covered = start + span - Math.max(start, now - length);
  return Math.max(0, Math.min(1, covered / span));
}

/** A window's sums. */
class Sums {
  count = 0;
  amount = 0;
  declines = 0;
  newCards = 0;

  add(bucket: Bucket, weight: number): void {
    this.count += bucket.count * weight;
    this.amount += bucket.amount * weight;
    this.declines += bucket.declines * weight;
    this.newCards += bucket.newCards * weight;
  }
}

/** Sums buckets of `span` over a short and a long window ending at `now`. */
function sum(
  buckets: readonly Bucket[],
  span: number,
  now: number,
  short: number,
  long: number,
): [Sums, Sums] {
  const inShort = new Sums();
  const inLong = new Sums();
  for (let index = buckets.length - 1; index >= 0; index -= 1) {
    const bucket = buckets[index];
    if (bucket === undefined) break;
    if (bucket.start > now) continue;
    const longWeight = weight(bucket.start, span, now, long);
    // Older ones are further out still.
    if (longWeight === 0) break;
    inLong.add(bucket, longWeight);
    const shortWeight = weight(bucket.start, span, now, short);
    if (shortWeight > 0) inShort.add(bucket, shortWeight);
  }
  return [inShort, inLong];
}

/** A row as the read returns it; `span` 's' is the read's snapshot, in `counter_key`. */
interface ReadRow {
  span: 'm' | 'h' | 's';
  counter_key: string;
  start: number;
  authorizations: number;
  declines: number;
  new_cards: number;
  amount: number;
}

interface WriteRow {
  k: string;
  s: string;
  a: number;
  d: number;
  n: number;
  v: number;
}

const upsert = (table: string, column: string, param: string): string =>
  `INSERT INTO ${table} (counter_key, ${column}, authorizations, declines, new_cards, amount)
    SELECT k, s, a, d, n, v
    FROM json_to_recordset(${param}::json) AS r(k text, s timestamptz, a integer, d integer, n integer, v bigint)
    ORDER BY k COLLATE "C", s
    ON CONFLICT (counter_key, ${column}) DO UPDATE SET
      authorizations = ${table}.authorizations + EXCLUDED.authorizations,
      declines = ${table}.declines + EXCLUDED.declines,
      new_cards = ${table}.new_cards + EXCLUDED.new_cards,
      amount = ${table}.amount + EXCLUDED.amount
    RETURNING 1`;

/**
 * Both tables' increments in one statement, so that they commit together. In key order within each table, and the
 * minutes before the hours (the main query asks for the minutes' count first): processes writing the same rows
 * take their locks in the same order, and wait for each other instead of deadlocking.
 */
const WRITE = `WITH minutes AS (${upsert('risk_counter_minutes', 'minute', '$1')}),
  hours AS (${upsert('risk_counter_hours', 'hour', '$2')})
  SELECT (SELECT count(*) FROM minutes)::integer AS minutes, (SELECT count(*) FROM hours)::integer AS hours`;

/** A table's rows in reach ($3 or $4): written since snapshot $1 (at or above its xmax, or in its xip), or of keys $2. */
function reads(table: string, column: string, span: 'm' | 'h', reach: string): string[] {
  const select = `SELECT '${span}' AS span, counter_key, (extract(epoch FROM ${column}) * 1000)::bigint AS start,
    authorizations, declines, new_cards, amount FROM ${table}`;
  return [
    `${select} WHERE txid >= pg_snapshot_xmax($1::pg_snapshot) AND ${column} > ${reach}`,
    `${select} WHERE txid = ANY(ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot))) AND ${column} > ${reach}`,
    `${select} WHERE counter_key = ANY($2::text[]) AND ${column} > ${reach}`,
  ];
}

/** The read, with its snapshot, in one statement (one snapshot for all). See the file's comment. */
const READ = [
  `SELECT 's' AS span, pg_current_snapshot()::text COLLATE "C" AS counter_key, 0::bigint AS start,
    0 AS authorizations, 0 AS declines, 0 AS new_cards, 0::bigint AS amount`,
  ...reads('risk_counter_minutes', 'minute', 'm', '$3'),
  ...reads('risk_counter_hours', 'hour', 'h', '$4'),
].join('\nUNION ALL\n');

const PRUNE = `WITH minutes AS (DELETE FROM risk_counter_minutes WHERE minute <= $1)
  DELETE FROM risk_counter_hours WHERE hour <= $2`;

interface NextSync {
  db: Queryable;
  now: Date;
  promise: Promise<void>;
}

/** A process's merchant and device counters. One per process and database; see the file's comment. */
export class RiskCounters {
  private readonly maxKeys: number;
  /** By key, least recently counted first. */
  private readonly merchants = new Map<string, Counter>();
  private readonly devices = new Map<string, Counter>();
  /** Counts not yet written, by bucket, of held keys and of keys dropped since. */
  private pending = new Map<Bucket, Increment>();
  /**
   * The snapshot of the last read, from which the next reads the rows written since; null when no key held has
   * been read (the next read is of whole histories only).
   */
  private snapshot: string | null = null;
  /** When this process last deleted the rows no window reaches. */
  private prunedAt: number | undefined;
  /** The sync running or last run (never rejecting), and the one waiting for it. */
  private last: Promise<void> = Promise.resolve();
  private next: NextSync | undefined;

  constructor(options: RiskCountersOptions = {}) {
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1)
      throw new RangeError('maxKeys must be a positive integer');
    this.maxKeys = maxKeys;
  }

  /** The merchant's features at `now` (epoch ms); zeros for a merchant this process holds nothing of. */
  merchantFeatures(merchantKey: string, now: number): MerchantFeatures {
    const counter = this.merchants.get(merchantKey);
    if (counter === undefined) return NO_MERCHANT_ACTIVITY;
    const [m1, h1] = sum(counter.minutes, MINUTE_MS, now, MINUTE_MS, HOUR_MS);
    const [h24, d7] = sum(counter.hours, HOUR_MS, now, DAY_MS, WEEK_MS);
    return {
      merchant_count_1m: Math.round(m1.count),
      merchant_count_1h: Math.round(h1.count),
      merchant_count_24h: Math.round(h24.count),
      merchant_count_7d: Math.round(d7.count),
      merchant_amount_1m: Math.round(m1.amount),
      merchant_amount_1h: Math.round(h1.amount),
      merchant_amount_24h: Math.round(h24.amount),
      merchant_amount_7d: Math.round(d7.amount),
      merchant_declines_1m: Math.round(m1.declines),
      merchant_declines_1h: Math.round(h1.declines),
      merchant_declines_24h: Math.round(h24.declines),
      merchant_declines_7d: Math.round(d7.declines),
      merchant_new_cards_1h: Math.round(h1.newCards),
      merchant_new_cards_24h: Math.round(h24.newCards),
    };
  }

  /** The device's features at `now` (epoch ms); zeros for a device this process holds nothing of. */
  deviceFeatures(deviceKey: string, now: number): DeviceFeatures {
    const counter = this.devices.get(deviceKey);
    if (counter === undefined) return NO_DEVICE_ACTIVITY;
    const [m1, h1] = sum(counter.minutes, MINUTE_MS, now, MINUTE_MS, HOUR_MS);
    const [h24, d7] = sum(counter.hours, HOUR_MS, now, DAY_MS, WEEK_MS);
    return {
      device_count_1m: Math.round(m1.count),
      device_count_1h: Math.round(h1.count),
      device_count_24h: Math.round(h24.count),
      device_count_7d: Math.round(d7.count),
      device_amount_1m: Math.round(m1.amount),
      device_amount_1h: Math.round(h1.amount),
      device_amount_24h: Math.round(h24.amount),
      device_amount_7d: Math.round(d7.amount),
      device_declines_1m: Math.round(m1.declines),
      device_declines_1h: Math.round(h1.declines),
      device_declines_24h: Math.round(h24.declines),
      device_declines_7d: Math.round(d7.declines),
    };
  }

  /** How many merchants and devices are held. */
  get size(): { readonly merchants: number; readonly devices: number } {
    return { merchants: this.merchants.size, devices: this.devices.size };
  }

  /**
   * Adds committed authorizations: counted here at once, written to the tables at the next sync. A merchant key
   * that is empty, longer than 200 characters or not storable as text, a device key that is not 64 lowercase hex
   * digits, a time before 1970 or after 9999, or an approved amount that is not a non-negative safe integer, is not
   * counted (the table would refuse it, and with it every later sync's write): everything else is, and then a
   * RangeError says what was not.
   */
  add(activity: readonly CounterActivity[]): void {
    const refused: string[] = [];
    for (const each of activity) {
      const { merchantKey, deviceKey, at, declined } = each;
      if (!Number.isFinite(at) || at < 0 || at > LAST_TIME) {
        refused.push(`time ${at}`);
        continue;
      }
      const amount = declined ? 0 : each.amount;
      if (!Number.isSafeInteger(amount) || amount < 0) {
        refused.push(`amount ${amount}`);
        continue;
      }
      const minute = startOf(at, MINUTE_MS);
      const hour = startOf(at, HOUR_MS);
      if (merchantKey.length < 1 || merchantKey.length > MAX_MERCHANT_KEY || UNSTORABLE.test(merchantKey)) {
        refused.push(`merchant key ${JSON.stringify(merchantKey.slice(0, 40))}`);
      } else {
        const counter = this.counter(this.merchants, merchantKey, 'merchant:');
        this.count(counter, 'minute', bucketAt(counter.minutes, minute), amount, declined, each.newCard);
        this.count(counter, 'hour', bucketAt(counter.hours, hour), amount, declined, each.newCard);
        if (hour > counter.lastHour) counter.lastHour = hour;
      }
      if (deviceKey === null) continue;
      if (!DEVICE_KEY.test(deviceKey)) {
        refused.push(`device key ${JSON.stringify(deviceKey.slice(0, 80))}`);
        continue;
      }
      // A card's first authorization at a merchant is the merchant's count, not the device's.
      const counter = this.counter(this.devices, deviceKey, 'device:');
      this.count(counter, 'minute', bucketAt(counter.minutes, minute), amount, declined, false);
      this.count(counter, 'hour', bucketAt(counter.hours, hour), amount, declined, false);
      if (hour > counter.lastHour) counter.lastHour = hour;
    }
    if (refused.length > 0) {
      throw new RangeError(`risk counters refused ${refused.length}: ${refused.slice(0, 3).join(', ')}`);
    }
  }

  private count(
    counter: Counter,
    span: Span,
    bucket: Bucket,
    amount: number,
    declined: boolean,
    newCard: boolean,
  ): void {
    let increment = this.pending.get(bucket);
    if (increment === undefined) {
      increment = new Increment(counter.tableKey, span, bucket);
      this.pending.set(bucket, increment);
    }
    bucket.count += 1;
    increment.count += 1;
    bucket.amount += amount;
    increment.amount += amount;
    if (declined) {
      bucket.declines += 1;
      increment.declines += 1;
    }
    if (newCard) {
      bucket.newCards += 1;
      increment.newCards += 1;
    }
  }

  /** The key's counter, made the most recently counted, and the least recently counted dropped beyond `maxKeys`. */
  private counter(counters: Map<string, Counter>, key: string, kind: string): Counter {
    let counter = counters.get(key);
    if (counter === undefined) {
      counter = new Counter(kind + key);
      counters.set(key, counter);
      for (const [oldest] of counters) {
        if (counters.size <= this.maxKeys) break;
        counters.delete(oldest);
      }
    } else if (counters.size > 1) {
      counters.delete(key);
      counters.set(key, counter);
    }
    return counter;
  }

  /**
   * Writes what was added since the last sync (one statement for both tables, increments in key order, so processes
   * writing the same rows wait for each other instead of deadlocking); drops the buckets no window reaches from
   * memory, and keys with none of this process's counts left; then reads the rows written since the last read, and
   * the whole history of keys held for the first time, and learns from them what the other processes counted; at
   * most once a minute deletes the rows no window reaches. Writes nothing when nothing was added, and reads nothing
   * when nothing is held.
   *
   * Never runs twice at once: a call while one runs waits for it and then syncs again (calls meanwhile share that
   * one, at the latest `now` given), so what was added before a call is written when its promise resolves.
   *
   * A failed write keeps the increments for the next sync; a failed read is made again, from the same snapshot, by
   * the next. A write that committed but whose answer was lost (the connection dropped after the commit) is written
   * again then: those few counts are counted twice.
   */
  sync(db: Queryable, now: Date): Promise<void> {
    if (this.next !== undefined) {
      this.next.db = db;
      this.next.now = now;
      return this.next.promise;
    }
    const next: NextSync = { db, now, promise: Promise.resolve() };
    next.promise = this.last.then(() => {
      this.next = undefined;
      return this.syncNow(next.db, next.now);
    });
    this.next = next;
    this.last = next.promise.catch(() => undefined);
    return next.promise;
  }

  private async syncNow(db: Queryable, now: Date): Promise<void> {
    const time = now.getTime();
    const reach = reachAt(time);
    await this.write(db, reach);
    this.forget(reach);
    await this.read(db, reach);
    if (this.prunedAt === undefined || time - this.prunedAt >= MINUTE_MS || time < this.prunedAt) {
      await db.query(PRUNE, [new Date(reach.minute), new Date(reach.hour)]);
      this.prunedAt = time;
    }
  }

  /** Writes the counts not yet written as increments; on failure keeps them for the next sync. */
  private async write(db: Queryable, reach: Reach): Promise<void> {
    if (this.pending.size === 0) return;
    const writing = this.pending;
    // Counted while the write runs: for the next.
    this.pending = new Map();
    // One row per key and bucket: a key dropped and counted again has two buckets for it (ON CONFLICT refuses a
    // statement that updates a row twice).
    const minutes = new Map<string, WriteRow>();
    const hours = new Map<string, WriteRow>();
    for (const increment of writing.values()) {
      const { tableKey: k, span, bucket } = increment;
      // Counted too late for any window: dropped, not written.
      if (bucket.start <= (span === 'minute' ? reach.minute : reach.hour)) {
        writing.delete(bucket);
        continue;
      }
      const rows = span === 'minute' ? minutes : hours;
      const s = new Date(bucket.start).toISOString();
      const id = `${s} ${k}`;
      const row = rows.get(id) ?? { k, s, a: 0, d: 0, n: 0, v: 0 };
      row.a += increment.count;
      row.d += increment.declines;
      row.n += increment.newCards;
      row.v += increment.amount;
      rows.set(id, row);
    }
    if (writing.size === 0) return;
    try {
      await db.query(WRITE, [json([...minutes.values()]), json([...hours.values()])]);
    } catch (error) {
      for (const increment of writing.values()) {
        const since = this.pending.get(increment.bucket);
        if (since === undefined) {
          this.pending.set(increment.bucket, increment);
        } else {
          since.count += increment.count;
          since.amount += increment.amount;
          since.declines += increment.declines;
          since.newCards += increment.newCards;
        }
      }
      throw error;
    }
  }

  /** Drops the buckets no window reaches, and the keys with none of this process's counts left. */
  private forget(reach: Reach): void {
    for (const counters of [this.merchants, this.devices]) {
      for (const [key, counter] of counters) {
        // Every count is in an hour, which is kept longer than its minute.
        if (counter.lastHour <= reach.hour) {
          counters.delete(key);
          continue;
        }
        dropBefore(counter.minutes, reach.minute);
        dropBefore(counter.hours, reach.hour);
      }
    }
  }

  /** The counter a table's key names, if it is held. */
  private held(tableKey: string): Counter | undefined {
    if (tableKey.startsWith('merchant:')) return this.merchants.get(tableKey.slice('merchant:'.length));
    if (tableKey.startsWith('device:')) return this.devices.get(tableKey.slice('device:'.length));
    return undefined;
  }

  /** Reads the rows written since the last read, and the whole history of keys not read yet; see the file's comment. */
  private async read(db: Queryable, reach: Reach): Promise<void> {
    if (this.merchants.size === 0 && this.devices.size === 0) {
      // Every key held from now on is read whole first: nothing to read since.
      this.snapshot = null;
      return;
    }
    const fresh: Counter[] = [];
    for (const counters of [this.merchants, this.devices]) {
      for (const counter of counters.values()) if (!counter.loaded) fresh.push(counter);
    }
    if (fresh.length === 0 && this.snapshot === null) return;
    const result = await db.query<ReadRow>(READ, [
      this.snapshot,
      fresh.map((counter) => counter.tableKey),
      new Date(reach.minute),
      new Date(reach.hour),
    ]);
    let snapshot: string | undefined;
    for (const row of result.rows) {
      if (row.span === 's') {
        snapshot = row.counter_key;
        continue;
      }
      // Of a key not held (or dropped while the read ran), nothing to learn.
      const counter = this.held(row.counter_key);
      if (counter !== undefined) this.learn(row.span === 'm' ? counter.minutes : counter.hours, row);
    }
    if (snapshot === undefined) throw new Error('the risk counters read returned no snapshot');
    // Counted for the first time while the read ran: read whole at the next.
    for (const counter of fresh) counter.loaded = true;
    this.snapshot = snapshot;
  }

  /**
   * Sets a bucket from its row: the row holds everything this process wrote there (it wrote before it read), so the
   * bucket's counts are the row's plus what this process has counted there and not written yet.
   */
  private learn(buckets: Bucket[], row: ReadRow): void {
    let bucket = findBucket(buckets, row.start);
    const unwritten = bucket === undefined ? undefined : this.pending.get(bucket);
    const count = row.authorizations + (unwritten?.count ?? 0);
    if (bucket === undefined) {
      if (count === 0) return;
      bucket = bucketAt(buckets, row.start);
    }
    bucket.count = count;
    bucket.amount = row.amount + (unwritten?.amount ?? 0);
    bucket.declines = row.declines + (unwritten?.declines ?? 0);
    bucket.newCards = row.new_cards + (unwritten?.newCards ?? 0);
  }
}
