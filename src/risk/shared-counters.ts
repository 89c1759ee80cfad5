/**
 * The merchant and device features (`merchant_count_1m`, `merchant_count_1h`, `merchant_declines_1h`,
 * `merchant_new_cards_1h`, `device_count_1h`), counted in each process's memory as its authorizations commit and
 * shared between processes through per-minute rows in `risk_counter_minutes`, about once a second and off the
 * decision's path (incrementing a merchant's row in every authorization's transaction cost about 15% of
 * authorization throughput).
 *
 * What is exact and what lags:
 * - a process's own counts are current: an authorization counts for the process's next decision once `add` has it;
 * - other processes' counts are as of their last sync before this process's last sync: about two sync intervals
 *   late at most while syncs succeed;
 * - a key this process holds no counts of (never seen, seen only more than an hour ago, or evicted, below) has
 *   zeros until the process counts it and then syncs: only then does it read what others counted under that key.
 *   So after a restart a busy merchant's counts come back at the first sync after its first authorization here;
 *   what the stopped process counted but had not yet written (its last second, unless it synced as it stopped)
 *   is lost.
 *
 * A window is summed over its minutes: every minute wholly inside it, the current one (all of whose counts are
 * earlier than now), and the oldest one weighted by how much of it the window still covers, the usual
 * sliding-window estimate. So a count is exact to within the counts of one minute's share; rounded to a whole
 * number.
 *
 * How a process tells its own counts from the others' in a row: it remembers, per key and minute, how much it has
 * written there; the row less that is the others' share. A window's value is this process's counts, written or
 * not, plus the others' share as of the last sync. Sync writes first and reads after, one statement each, so the
 * row it reads always holds everything this process remembers writing.
 *
 * Memory: minutes older than an hour and a minute are dropped at each sync, and with them keys that have no counts
 * of this process's left. At most `maxKeys` merchants and `maxKeys` devices are held (100,000 each by default),
 * apart, so that devices, nearly all seen once, never push out merchants: beyond that the key least recently counted
 * is dropped, and features for it are zeros until it is counted and synced again; its counts not yet written are
 * still written at the next sync. Measured on Node 20, a key takes about 480 bytes with one minute and 120 more for
 * each further minute: 100 MB for 200,000 keys counted once, 1.6 GB at worst (every one counted in every minute of
 * the hour). Every key held is read back at every sync, so `maxKeys` bounds that read too.
 *
 * Clock and timers are the caller's: every time is an argument, and the server calls `sync` on an interval.
 */
import { json, type Queryable } from '../platform/db/database.js';
import { WINDOW_MS } from './features.js';

const MINUTE_MS = 60_000;
const HOUR_MS = WINDOW_MS['1h'];
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
}

export interface MerchantFeatures {
  readonly merchant_count_1m: number;
  readonly merchant_count_1h: number;
  readonly merchant_declines_1h: number;
  readonly merchant_new_cards_1h: number;
}

export const NO_MERCHANT_ACTIVITY: MerchantFeatures = Object.freeze({
  merchant_count_1m: 0,
  merchant_count_1h: 0,
  merchant_declines_1h: 0,
  merchant_new_cards_1h: 0,
});

export interface RiskCountersOptions {
  /** The most merchants, and separately the most devices, held in memory (default 100,000). */
  readonly maxKeys?: number;
}

const minuteOf = (time: number): number => Math.floor(time / MINUTE_MS) * MINUTE_MS;

/** How much of the minute starting at `start` a window of `length` ending at `now` covers, 0 to 1. */
function weight(start: number, now: number, length: number): number {
  if (start >= minuteOf(now)) return 1;
  const from = now - length;
  const covered = Math.min(start + MINUTE_MS, now) - Math.max(start, from);
  return Math.max(0, Math.min(1, covered / MINUTE_MS));
}

/** One key's counts in one minute. Declines and new cards are counted in `count` too. */
class Minute {
  /** This process's counts, written to the table or not. */
  count = 0;
  declines = 0;
  newCards = 0;
  /** How much of them this process has written to the table. */
  writtenCount = 0;
  writtenDeclines = 0;
  writtenNewCards = 0;
  /** The other processes' share: the table's row at the last sync less what this process had written there. */
  otherCount = 0;
  otherDeclines = 0;
  otherNewCards = 0;

  constructor(
    readonly counter: Counter,
    readonly start: number,
  ) {}

  get unwritten(): boolean {
    return this.count > this.writtenCount;
  }
}

/** One key's minutes, oldest first. */
class Counter {
  readonly minutes: Minute[] = [];

  /** `tableKey`: the key with its kind in front, as the table holds it. */
  constructor(readonly tableKey: string) {}

  minute(start: number): Minute {
    const minutes = this.minutes;
    let index = minutes.length;
    // Nearly always the last one, or a new last one.
    while (index > 0 && (minutes[index - 1]?.start ?? 0) > start) index -= 1;
    const before = minutes[index - 1];
    if (before?.start === start) return before;
    const minute = new Minute(this, start);
    minutes.splice(index, 0, minute);
    return minute;
  }

  /** Whether this process has counted anything under the key in the minutes held. */
  get counted(): boolean {
    return this.minutes.some((minute) => minute.count > 0);
  }
}

interface MinuteRow {
  counter_key: string;
  minute: Date;
  authorizations: number;
  declines: number;
  new_cards: number;
}

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
  /** Minutes with counts not yet written, of held keys and of keys dropped since. */
  private readonly unwritten = new Set<Minute>();
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
    let m1 = 0;
    let count = 0;
    let declines = 0;
    let newCards = 0;
    for (const minute of counter.minutes) {
      if (minute.start > now) break;
      const inHour = weight(minute.start, now, HOUR_MS);
      if (inHour === 0) continue;
      const authorizations = minute.count + minute.otherCount;
      m1 += authorizations * weight(minute.start, now, WINDOW_MS['1m']);
      count += authorizations * inHour;
      declines += (minute.declines + minute.otherDeclines) * inHour;
      newCards += (minute.newCards + minute.otherNewCards) * inHour;
    }
    return {
      merchant_count_1m: Math.round(m1),
      merchant_count_1h: Math.round(count),
      merchant_declines_1h: Math.round(declines),
      merchant_new_cards_1h: Math.round(newCards),
    };
  }

  /** The device's authorizations in the hour before `now` (epoch ms); 0 for a device this process holds nothing of. */
  deviceCount1h(deviceKey: string, now: number): number {
    const counter = this.devices.get(deviceKey);
    if (counter === undefined) return 0;
    let count = 0;
    for (const minute of counter.minutes) {
      if (minute.start > now) break;
      count += (minute.count + minute.otherCount) * weight(minute.start, now, HOUR_MS);
    }
    return Math.round(count);
  }

  /** How many merchants and devices are held. */
  get size(): { readonly merchants: number; readonly devices: number } {
    return { merchants: this.merchants.size, devices: this.devices.size };
  }

  /**
   * Adds committed authorizations: counted here at once, written to the table at the next sync. A merchant key that
   * is empty, longer than 200 characters or not storable as text, a device key that is not 64 lowercase hex digits,
   * or a time before 1970 or after 9999, is not counted (the table would refuse it, and with it every later sync's
   * write): everything else is, and then a RangeError says what was not.
   */
  add(activity: readonly CounterActivity[]): void {
    const refused: string[] = [];
    for (const each of activity) {
      const { merchantKey, deviceKey, at } = each;
      if (!Number.isFinite(at) || at < 0 || at > LAST_TIME) {
        refused.push(`time ${at}`);
        continue;
      }
      const start = minuteOf(at);
      if (merchantKey.length < 1 || merchantKey.length > MAX_MERCHANT_KEY || UNSTORABLE.test(merchantKey)) {
        refused.push(`merchant key ${JSON.stringify(merchantKey.slice(0, 40))}`);
      } else {
        const minute = this.counter(this.merchants, merchantKey, 'merchant:').minute(start);
        minute.count += 1;
        if (each.declined) minute.declines += 1;
        if (each.newCard) minute.newCards += 1;
        this.unwritten.add(minute);
      }
      if (deviceKey === null) continue;
      if (!DEVICE_KEY.test(deviceKey)) {
        refused.push(`device key ${JSON.stringify(deviceKey.slice(0, 80))}`);
        continue;
      }
      // A card's first authorization at a merchant is the merchant's count, not the device's.
      const minute = this.counter(this.devices, deviceKey, 'device:').minute(start);
      minute.count += 1;
      if (each.declined) minute.declines += 1;
      this.unwritten.add(minute);
    }
    if (refused.length > 0) {
      throw new RangeError(`risk counters refused ${refused.length}: ${refused.slice(0, 3).join(', ')}`);
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
   * Writes what was added since the last sync (one statement, increments in key order, so processes writing the
   * same rows wait for each other instead of deadlocking), then reads the table's rows of every key held and learns
   * from them what the other processes counted; drops minutes older than an hour and a minute from memory, and
   * keys with none of this process's counts left; at most once a minute deletes the rows no window reaches. Adds
   * nothing, and writes nothing, when nothing was added.
   *
   * Never runs twice at once: a call while one runs waits for it and then syncs again (calls meanwhile share that
   * one, at the latest `now` given), so what was added before a call is written when its promise resolves.
   *
   * A failed write keeps the increments for the next sync. A write that committed but whose answer was lost (the
   * connection dropped after the commit) is written again then: those few counts are counted twice.
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
    // Minutes starting at or before this are reached by no window (the hour's oldest starts after now - 1h - 1m).
    const reached = minuteOf(time) - HOUR_MS - MINUTE_MS;
    await this.write(db, reached);
    this.forget(reached);
    await this.read(db, reached);
    if (this.prunedAt === undefined || time - this.prunedAt >= MINUTE_MS || time < this.prunedAt) {
      await db.query('DELETE FROM risk_counter_minutes WHERE minute <= $1', [new Date(reached)]);
      this.prunedAt = time;
    }
  }

  /** Writes the unwritten counts as increments; on success remembers them as written. */
  private async write(db: Queryable, reached: number): Promise<void> {
    const writes: { minute: Minute; count: number; declines: number; newCards: number }[] = [];
    for (const minute of this.unwritten) {
      if (minute.start <= reached) this.unwritten.delete(minute);
      else {
        writes.push({
          minute,
          count: minute.count - minute.writtenCount,
          declines: minute.declines - minute.writtenDeclines,
          newCards: minute.newCards - minute.writtenNewCards,
        });
      }
    }
    if (writes.length === 0) return;
    // One row per key and minute: a key dropped and counted again has two minutes for it (ON CONFLICT refuses a
    // statement that updates a row twice).
    const rows = new Map<string, { k: string; m: string; a: number; d: number; n: number }>();
    for (const write of writes) {
      const k = write.minute.counter.tableKey;
      const m = new Date(write.minute.start).toISOString();
      const id = `${m} ${k}`;
      const row = rows.get(id) ?? { k, m, a: 0, d: 0, n: 0 };
      row.a += write.count;
      row.d += write.declines;
      row.n += write.newCards;
      rows.set(id, row);
    }
    await db.query(
      `INSERT INTO risk_counter_minutes (counter_key, minute, authorizations, declines, new_cards)
       SELECT k, m, a, d, n FROM json_to_recordset($1::json) AS r(k text, m timestamptz, a integer, d integer, n integer)
       ORDER BY k COLLATE "C", m
       ON CONFLICT (counter_key, minute) DO UPDATE SET
         authorizations = risk_counter_minutes.authorizations + EXCLUDED.authorizations,
         declines = risk_counter_minutes.declines + EXCLUDED.declines,
         new_cards = risk_counter_minutes.new_cards + EXCLUDED.new_cards`,
      [json([...rows.values()])],
    );
    // Counted while the write ran: unwritten still.
    for (const write of writes) {
      const { minute } = write;
      minute.writtenCount += write.count;
      minute.writtenDeclines += write.declines;
      minute.writtenNewCards += write.newCards;
      if (!minute.unwritten) this.unwritten.delete(minute);
    }
  }

  /** Drops the minutes no window reaches, then the keys with none of this process's counts left. */
  private forget(reached: number): void {
    for (const counters of [this.merchants, this.devices]) {
      for (const [key, counter] of counters) {
        const minutes = counter.minutes;
        let old = 0;
        while (old < minutes.length && (minutes[old]?.start ?? Infinity) <= reached) old += 1;
        if (old > 0) minutes.splice(0, old);
        if (!counter.counted) counters.delete(key);
      }
    }
  }

  /** Reads the rows of every key held, and takes the others' share of each from them. */
  private async read(db: Queryable, reached: number): Promise<void> {
    const held = new Map<string, Counter>();
    for (const counters of [this.merchants, this.devices]) {
      for (const counter of counters.values()) held.set(counter.tableKey, counter);
    }
    if (held.size === 0) return;
    const rows = await db.query<MinuteRow>(
      `SELECT counter_key, minute, authorizations, declines, new_cards FROM risk_counter_minutes
       WHERE counter_key = ANY($1::text[]) AND minute > $2`,
      [[...held.keys()], new Date(reached)],
    );
    // Counted while the read ran: it changes only this process's counts, not what it had written.
    for (const counter of held.values()) {
      for (const minute of counter.minutes) {
        minute.otherCount = 0;
        minute.otherDeclines = 0;
        minute.otherNewCards = 0;
      }
    }
    for (const row of rows.rows) {
      const counter = held.get(row.counter_key);
      if (counter === undefined) continue;
      const minute = counter.minute(row.minute.getTime());
      // Never below zero: rows deleted or restored under this process would otherwise take from its own counts.
      minute.otherCount = Math.max(0, row.authorizations - minute.writtenCount);
      minute.otherDeclines = Math.max(0, row.declines - minute.writtenDeclines);
      minute.otherNewCards = Math.max(0, row.new_cards - minute.writtenNewCards);
    }
    for (const counter of held.values()) {
      const kept = counter.minutes.filter((minute) => minute.count > 0 || minute.otherCount > 0);
      if (kept.length < counter.minutes.length) counter.minutes.splice(0, counter.minutes.length, ...kept);
    }
  }
}
