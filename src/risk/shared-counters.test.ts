import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import type { Queryable, SqlParam } from '../platform/db/database.js';
import {
  NO_DEVICE_ACTIVITY,
  NO_MERCHANT_ACTIVITY,
  RiskCounters,
  type CounterActivity,
  type DeviceFeatures,
  type MerchantFeatures,
} from './shared-counters.js';

// One database for the file: every test uses merchant and device keys of its own.
let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => db.close());

/** The minute 12:00 and times around it. */
const noon = Date.parse('2026-03-02T12:00:00.000Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const at = (offsetMs: number): number => noon + offsetMs;
const date = (offsetMs: number): Date => new Date(at(offsetMs));

/** A device's key as the decision makes it: 64 hex digits of a blind index. */
const deviceKey = (label: string): string => createHash('sha256').update(label).digest('hex');

function tries(
  merchantKey: string,
  time: number,
  count: number,
  extra: Partial<CounterActivity> = {},
): CounterActivity[] {
  return Array.from({ length: count }, () => ({
    merchantKey,
    deviceKey: null,
    at: time,
    declined: false,
    newCard: false,
    amount: 0,
    ...extra,
  }));
}

/** A measure over 1m, 1h, 24h and 7d. */
type Windows = readonly [number, number, number, number];
const all = (value: number): Windows => [value, value, value, value];

function merchant(
  count: Windows,
  amount: Windows = [0, 0, 0, 0],
  declines: Windows = [0, 0, 0, 0],
  newCards: readonly [number, number] = [0, 0],
): MerchantFeatures {
  return {
    merchant_count_1m: count[0],
    merchant_count_1h: count[1],
    merchant_count_24h: count[2],
    merchant_count_7d: count[3],
    merchant_amount_1m: amount[0],
    merchant_amount_1h: amount[1],
    merchant_amount_24h: amount[2],
    merchant_amount_7d: amount[3],
    merchant_declines_1m: declines[0],
    merchant_declines_1h: declines[1],
    merchant_declines_24h: declines[2],
    merchant_declines_7d: declines[3],
    merchant_new_cards_1h: newCards[0],
    merchant_new_cards_24h: newCards[1],
  };
}

function device(
  count: Windows,
  amount: Windows = [0, 0, 0, 0],
  declines: Windows = [0, 0, 0, 0],
): DeviceFeatures {
  return {
    device_count_1m: count[0],
    device_count_1h: count[1],
    device_count_24h: count[2],
    device_count_7d: count[3],
    device_amount_1m: amount[0],
    device_amount_1h: amount[1],
    device_amount_24h: amount[2],
    device_amount_7d: amount[3],
    device_declines_1m: declines[0],
    device_declines_1h: declines[1],
    device_declines_24h: declines[2],
    device_declines_7d: declines[3],
  };
}

interface TableRow {
  start: Date;
  authorizations: number;
  declines: number;
  new_cards: number;
  amount: number;
}

/** A table's rows under a counter key, as `offset from noon: authorizations/declines/new cards/amount`. */
async function tableRows(table: 'minutes' | 'hours', counterKey: string): Promise<string[]> {
  const column = table === 'minutes' ? 'minute' : 'hour';
  const found = await db.query<TableRow>(
    `SELECT ${column} AS start, authorizations, declines, new_cards, amount FROM risk_counter_${table}
     WHERE counter_key = $1 ORDER BY ${column}`,
    [counterKey],
  );
  const unit = table === 'minutes' ? MINUTE : HOUR;
  return found.rows.map(
    (row) =>
      `${(row.start.getTime() - noon) / unit}: ${row.authorizations}/${row.declines}/${row.new_cards}/${row.amount}`,
  );
}
/** In minutes from noon. */
const minuteRows = (counterKey: string) => tableRows('minutes', counterKey);
/** In hours from noon. */
const hourRows = (counterKey: string) => tableRows('hours', counterKey);

/** What a statement the counters run does. */
function kind(sql: string): 'write' | 'read' | 'prune' {
  if (/^WITH minutes AS \(INSERT/.test(sql.trim())) return 'write';
  if (/^WITH minutes AS \(DELETE/.test(sql.trim())) return 'prune';
  return 'read';
}

interface ReadRow {
  span: string;
  counter_key: string;
  start: number;
}

/**
 * The database, with what every statement run through it does kept in `statements`, and the rows every read
 * returned (its snapshot apart) in `reads`, as `m|h <key> <offset from noon in minutes or hours>`, sorted.
 */
function recording(): { db: Queryable; statements: string[]; reads: string[][] } {
  const statements: string[] = [];
  const reads: string[][] = [];
  return {
    statements,
    reads,
    db: {
      async query<Row>(sql: string, params?: readonly SqlParam[]) {
        statements.push(kind(sql));
        const result = await db.query<Row>(sql, params);
        if (kind(sql) === 'read') {
          reads.push(
            (result.rows as unknown as ReadRow[])
              .filter((row) => row.span !== 's')
              .map(
                (row) =>
                  `${row.span} ${row.counter_key} ${(row.start - noon) / (row.span === 'm' ? MINUTE : HOUR)}`,
              )
              .sort(),
          );
        }
        return result;
      },
      exec: (sql) => db.exec(sql),
    },
  };
}

/** `inner`, except that the statements of the kinds `failing` fail. */
function failingOn(inner: Queryable, ...failing: ReturnType<typeof kind>[]): Queryable {
  return {
    query<Row>(sql: string, params?: readonly SqlParam[]) {
      return failing.includes(kind(sql))
        ? Promise.reject(new Error('connection lost'))
        : inner.query<Row>(sql, params);
    },
    exec: (sql) => inner.exec(sql),
  };
}

/**
 * `inner`, except that the first statement of kind `waiting` waits for `release()`; `entered` resolves when it
 * starts waiting. `mostAtOnce()`: the most statements that were running at once.
 */
function held(inner: Queryable, waiting: ReturnType<typeof kind>) {
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  let enter = (): void => undefined;
  const entered = new Promise<void>((resolve) => (enter = resolve));
  let waited = false;
  let running = 0;
  let most = 0;
  const statements: string[] = [];
  const db: Queryable = {
    async query<Row>(sql: string, params?: readonly SqlParam[]) {
      running += 1;
      most = Math.max(most, running);
      statements.push(kind(sql));
      try {
        if (!waited && kind(sql) === waiting) {
          waited = true;
          enter();
          await released;
        }
        return await inner.query<Row>(sql, params);
      } finally {
        running -= 1;
      }
    },
    exec: (sql) => inner.exec(sql),
  };
  return { db, entered, release, statements, mostAtOnce: () => most };
}

/** The 1-minute and 1-hour merchant counts only, for tests about syncing rather than windows. */
const counts1h = (features: MerchantFeatures) => [features.merchant_count_1m, features.merchant_count_1h];

describe('shared risk counters', () => {
  it('counts what is added at once, before any sync, and nothing of keys never seen', async () => {
    const counters = new RiskCounters();
    const phone = deviceKey('local-phone');
    counters.add([
      ...tries('M-local', at(5_000), 3, { deviceKey: phone, amount: 1_000 }),
      // A decline's amount is not counted.
      ...tries('M-local', at(6_000), 2, { declined: true, newCard: true, amount: 999 }),
      ...tries('M-local-b', at(7_000), 1, { newCard: true, deviceKey: phone, amount: 250 }),
    ]);
    expect(counters.merchantFeatures('M-local', at(10_000))).toEqual(
      merchant(all(5), all(3_000), all(2), [2, 2]),
    );
    expect(counters.merchantFeatures('M-local-b', at(10_000))).toEqual(
      merchant(all(1), all(250), all(0), [1, 1]),
    );
    expect(counters.deviceFeatures(phone, at(10_000))).toEqual(device(all(4), all(3_250)));
    expect(counters.merchantFeatures('M-local-none', at(10_000))).toEqual(NO_MERCHANT_ACTIVITY);
    expect(counters.deviceFeatures(deviceKey('local-none'), at(10_000))).toEqual(NO_DEVICE_ACTIVITY);
    expect(NO_MERCHANT_ACTIVITY).toEqual(merchant(all(0)));
    expect(NO_DEVICE_ACTIVITY).toEqual(device(all(0)));
    expect(counters.size).toEqual({ merchants: 2, devices: 1 });
    // Nothing reaches the tables, nor another process, before a sync.
    expect(await minuteRows('merchant:M-local')).toEqual([]);
    expect(await hourRows('merchant:M-local')).toEqual([]);
    expect(new RiskCounters().merchantFeatures('M-local', at(10_000))).toEqual(NO_MERCHANT_ACTIVITY);
  });

  it('weighs the minute at the far edge of the 1-minute and 1-hour windows by how much of it they still cover', async () => {
    const counters = new RiskCounters();
    const laptop = deviceKey('edge-laptop');
    // Ten in the minute from 11:00, six in the minute from 11:59; read at 12:00:30.
    counters.add([
      ...tries('M-edge', at(-MINUTE * 60 + 1), 10, { deviceKey: laptop, amount: 100 }),
      ...tries('M-edge', at(-MINUTE + 1), 6, { declined: true }),
    ]);
    // The hour from 11:00:30 covers half of the 11:00 minute; the minute from 11:59:30 half of the 11:59 one. The
    // day and the week cover the whole of the 11:00 hour, which holds both.
    expect(counters.merchantFeatures('M-edge', at(30_000))).toEqual(
      merchant([3, 11, 16, 16], [0, 500, 1_000, 1_000], [3, 6, 6, 6]),
    );
    expect(counters.deviceFeatures(laptop, at(30_000))).toEqual(
      device([0, 5, 10, 10], [0, 500, 1_000, 1_000]),
    );

    // Another process, once both have synced, sees the same windows (plus its own).
    await counters.sync(db, date(30_000));
    const other = new RiskCounters();
    other.add(tries('M-edge', at(20_000), 1, { deviceKey: laptop, amount: 7 }));
    await other.sync(db, date(30_000));
    expect(other.merchantFeatures('M-edge', at(30_000))).toEqual(
      merchant([4, 12, 17, 17], [7, 507, 1_007, 1_007], [3, 6, 6, 6]),
    );
    expect(other.deviceFeatures(laptop, at(30_000))).toEqual(device([1, 6, 11, 11], [7, 507, 1_007, 1_007]));

    // At 12:01:30 the 11:00 minute is out of the hour, and the 11:59 one out of the minute; not out of the day.
    expect(counters.merchantFeatures('M-edge', at(90_000))).toEqual(
      merchant([0, 6, 16, 16], [0, 0, 1_000, 1_000], [0, 6, 6, 6]),
    );
    expect(counters.deviceFeatures(laptop, at(90_000))).toEqual(device([0, 0, 10, 10], [0, 0, 1_000, 1_000]));
    // The current minute counts whole; a later hour not at all.
    counters.add([...tries('M-edge', at(95_000), 4), ...tries('M-edge', at(HOUR), 7)]);
    expect(counters.merchantFeatures('M-edge', at(100_000))).toEqual(
      merchant([4, 10, 20, 20], [0, 0, 1_000, 1_000], [0, 6, 6, 6]),
    );
  });

  it('weighs the hour at the far edge of the 24-hour and 7-day windows by how much of it they still cover', async () => {
    const counters = new RiskCounters();
    const phone = deviceKey('hour-edge-phone');
    counters.add([
      // The hour from 12:00 a week ago.
      ...tries('M-hours', at(-7 * DAY + 1), 6, { amount: 100, deviceKey: phone }),
      // 12:00 three days ago.
      ...tries('M-hours', at(-3 * DAY), 5, { declined: true, newCard: true }),
      // The hour from 12:00 yesterday.
      ...tries('M-hours', at(-DAY + 1), 10, { amount: 20, newCard: true, deviceKey: phone }),
      // 10:00 today.
      ...tries('M-hours', at(-2 * HOUR), 4, { amount: 5 }),
    ]);
    // At 12:30 the day from 12:30 yesterday covers half of yesterday's 12:00 hour, the week half of the one a week ago.
    const expected = merchant([0, 0, 9, 22], [0, 0, 120, 520], [0, 0, 0, 5], [0, 5]);
    expect(counters.merchantFeatures('M-hours', at(30 * MINUTE))).toEqual(expected);
    expect(counters.deviceFeatures(phone, at(30 * MINUTE))).toEqual(device([0, 0, 5, 13], [0, 0, 100, 500]));
    // At 13:00 both edge hours are out.
    expect(counters.merchantFeatures('M-hours', at(HOUR))).toEqual(
      merchant([0, 0, 4, 19], [0, 0, 20, 220], [0, 0, 0, 5], [0, 0]),
    );
    expect(counters.deviceFeatures(phone, at(HOUR))).toEqual(device([0, 0, 0, 10], [0, 0, 0, 200]));

    // Written as hours only: their minutes are out of every window already.
    await counters.sync(db, date(30 * MINUTE));
    expect(await minuteRows('merchant:M-hours')).toEqual([]);
    expect(await hourRows('merchant:M-hours')).toEqual([
      '-168: 6/0/0/600',
      '-72: 5/5/5/0',
      '-24: 10/0/10/200',
      '-2: 4/0/0/20',
    ]);
    expect(await hourRows(`device:${phone}`)).toEqual(['-168: 6/0/0/600', '-24: 10/0/0/200']);
    // Another process counting the merchant now learns its week at its first sync, and weighs it alike.
    const other = new RiskCounters();
    other.add(tries('M-hours', at(30 * MINUTE), 1, { amount: 3, deviceKey: phone }));
    await other.sync(db, date(30 * MINUTE));
    expect(other.merchantFeatures('M-hours', at(30 * MINUTE))).toEqual(
      merchant([1, 1, 10, 23], [3, 3, 123, 523], [0, 0, 0, 5], [0, 5]),
    );
    expect(other.deviceFeatures(phone, at(30 * MINUTE))).toEqual(device([1, 1, 6, 14], [3, 3, 103, 503]));
    await counters.sync(db, date(30 * MINUTE));
    expect(counters.merchantFeatures('M-hours', at(30 * MINUTE))).toEqual(
      other.merchantFeatures('M-hours', at(30 * MINUTE)),
    );
  });

  it('shares every window between processes through the tables, each counting its own once', async () => {
    const a = new RiskCounters();
    const b = new RiskCounters();
    const shared = deviceKey('shared-device');
    // Read at 12:01 (everything counted here is in the 12:00 or 12:01 minute, or hours earlier): the minute from 12:00
    // covers the whole of 12:00's, and the hour, day and week cover everything.
    const t = (ms: number) => at(MINUTE + ms);
    const d = (ms: number) => date(MINUTE + ms);
    a.add([
      ...tries('M-shared', at(1_000), 3, { newCard: true, deviceKey: shared, amount: 100 }),
      ...tries('M-shared', at(-3 * DAY), 4, { declined: true }),
    ]);
    b.add([
      ...tries('M-shared', at(2_000), 1, { declined: true }),
      ...tries('M-shared', t(0), 1, { amount: 50 }),
      ...tries('M-shared', at(-5 * HOUR), 2, { amount: 1_000, deviceKey: shared }),
    ]);
    const aAlone = merchant([3, 3, 3, 7], [300, 300, 300, 300], [0, 0, 0, 4], [3, 3]);
    const bAlone = merchant([2, 2, 4, 4], [50, 50, 2_050, 2_050], [1, 1, 1, 1]);
    const both = merchant([5, 5, 7, 11], [350, 350, 2_350, 2_350], [1, 1, 1, 5], [3, 3]);
    const bothDevice = device([3, 3, 5, 5], [300, 300, 2_300, 2_300]);
    expect(a.merchantFeatures('M-shared', t(0))).toEqual(aAlone);
    expect(b.merchantFeatures('M-shared', t(0))).toEqual(bAlone);

    await a.sync(db, d(1_100));
    // b has written nothing yet.
    expect(a.merchantFeatures('M-shared', t(0))).toEqual(aAlone);
    await b.sync(db, d(1_200));
    expect(b.merchantFeatures('M-shared', t(0))).toEqual(both);
    expect(b.deviceFeatures(shared, t(0))).toEqual(bothDevice);
    await a.sync(db, d(1_300));
    expect(a.merchantFeatures('M-shared', t(0))).toEqual(both);
    expect(a.deviceFeatures(shared, t(0))).toEqual(bothDevice);
    // Syncing again changes nothing: a process never takes its own written counts for the others'.
    await a.sync(db, d(1_400));
    await b.sync(db, d(1_500));
    await a.sync(db, d(1_600));
    expect(a.merchantFeatures('M-shared', t(0))).toEqual(both);
    expect(b.merchantFeatures('M-shared', t(0))).toEqual(both);
    expect(b.deviceFeatures(shared, t(0))).toEqual(bothDevice);
    expect(await minuteRows('merchant:M-shared')).toEqual(['0: 4/1/3/300', '1: 1/0/0/50']);
    expect(await hourRows('merchant:M-shared')).toEqual(['-72: 4/4/0/0', '-5: 2/0/0/2000', '0: 5/1/3/350']);
    expect(await minuteRows(`device:${shared}`)).toEqual(['0: 3/0/0/300']);
    expect(await hourRows(`device:${shared}`)).toEqual(['-5: 2/0/0/2000', '0: 3/0/0/300']);

    // A new count is the counting process's at once, and the other's after both have synced.
    b.add(tries('M-shared', t(2_000), 2, { deviceKey: shared, amount: 1 }));
    const more = merchant([7, 7, 9, 13], [352, 352, 2_352, 2_352], [1, 1, 1, 5], [3, 3]);
    const moreDevice = device([5, 5, 7, 7], [302, 302, 2_302, 2_302]);
    expect(b.merchantFeatures('M-shared', t(0))).toEqual(more);
    expect(b.deviceFeatures(shared, t(0))).toEqual(moreDevice);
    await a.sync(db, d(2_100));
    expect(a.merchantFeatures('M-shared', t(0))).toEqual(both);
    await b.sync(db, d(2_200));
    await a.sync(db, d(2_300));
    expect(a.merchantFeatures('M-shared', t(0))).toEqual(more);
    expect(a.deviceFeatures(shared, t(0))).toEqual(moreDevice);

    // A third process, counting the merchant for the first time (a new one, or one restarted), learns the others'
    // counts at its next sync, its whole week; the device, never counted there, is still unknown to it.
    const c = new RiskCounters();
    c.add(tries('M-shared', t(3_000), 1, { amount: 10 }));
    expect(c.merchantFeatures('M-shared', t(0))).toEqual(merchant(all(1), all(10)));
    await c.sync(db, d(3_100));
    const three = merchant([8, 8, 10, 14], [362, 362, 2_362, 2_362], [1, 1, 1, 5], [3, 3]);
    expect(c.merchantFeatures('M-shared', t(0))).toEqual(three);
    expect(c.deviceFeatures(shared, t(0))).toEqual(NO_DEVICE_ACTIVITY);

    // All three counting at once and syncing in turn agree, and count everything once.
    a.add(tries('M-shared', t(4_000), 1, { deviceKey: shared, amount: 1_000 }));
    b.add(tries('M-shared', t(4_000), 1, { declined: true, deviceKey: shared, amount: 1_000 }));
    c.add(tries('M-shared', t(4_000), 1, { newCard: true, deviceKey: shared, amount: 100 }));
    for (let round = 0; round < 2; round += 1) {
      await a.sync(db, d(4_100 + round * 300));
      await c.sync(db, d(4_200 + round * 300));
      await b.sync(db, d(4_300 + round * 300));
    }
    const final = merchant([11, 11, 13, 17], [1_462, 1_462, 3_462, 3_462], [2, 2, 2, 6], [4, 4]);
    const finalDevice = device([8, 8, 10, 10], [1_402, 1_402, 3_402, 3_402], [1, 1, 1, 1]);
    for (const counters of [a, b, c]) {
      expect(counters.merchantFeatures('M-shared', t(0))).toEqual(final);
      expect(counters.deviceFeatures(shared, t(0))).toEqual(finalDevice);
    }
    expect(await minuteRows('merchant:M-shared')).toEqual(['0: 4/1/3/300', '1: 7/1/1/1162']);
    expect(await hourRows('merchant:M-shared')).toEqual(['-72: 4/4/0/0', '-5: 2/0/0/2000', '0: 11/2/4/1462']);
    expect(await hourRows(`device:${shared}`)).toEqual(['-5: 2/0/0/2000', '0: 8/1/0/1402']);
  });

  it('reads at each sync only the rows written since its last read, and a key’s whole week when first held', async () => {
    const writer = new RiskCounters();
    // A week of hours for one merchant (every twelfth hour), the last hour's minutes for another.
    for (let hour = 0; hour < 168; hour += 12)
      writer.add(tries('M-inc-1', at(-hour * HOUR), 1, { amount: 10 }));
    for (let minute = 0; minute < 60; minute += 10) writer.add(tries('M-inc-2', at(-minute * MINUTE), 1));
    await writer.sync(db, date(0));

    const { db: watched, reads } = recording();
    const reader = new RiskCounters();
    reader.add(tries('M-inc-1', at(1_000), 1));
    await reader.sync(watched, date(2_000));
    // Its first read: the merchant's whole history, its own write in it; nothing else.
    const hours = Array.from({ length: 14 }, (_, index) => `h merchant:M-inc-1 ${-index * 12}`);
    expect(reads).toEqual([['m merchant:M-inc-1 0', ...hours].sort()]);
    expect(reader.merchantFeatures('M-inc-1', at(2_000))).toEqual(
      merchant([2, 2, 4, 15], [10, 10, 30, 140], all(0)),
    );

    // Nothing written since: nothing read.
    await reader.sync(watched, date(3_000));
    expect(reads.at(-1)).toEqual([]);
    // Rows another process wrote since: those rows (a merchant it does not hold too, which it ignores), and only those.
    writer.add([...tries('M-inc-1', at(3_000), 2, { amount: 5 }), ...tries('M-inc-2', at(3_000), 1)]);
    await writer.sync(db, date(3_500));
    await reader.sync(watched, date(4_000));
    expect(reads.at(-1)).toEqual([
      'h merchant:M-inc-1 0',
      'h merchant:M-inc-2 0',
      'm merchant:M-inc-1 0',
      'm merchant:M-inc-2 0',
    ]);
    expect(reader.merchantFeatures('M-inc-1', at(4_000))).toEqual(
      merchant([4, 4, 6, 17], [20, 20, 40, 150], all(0)),
    );
    expect(reader.size).toEqual({ merchants: 1, devices: 0 });
    // Its own writes come back as written since: read again, harmlessly.
    reader.add(tries('M-inc-1', at(5_000), 1));
    await reader.sync(watched, date(5_500));
    expect(reads.at(-1)).toEqual(['h merchant:M-inc-1 0', 'm merchant:M-inc-1 0']);
    expect(reader.merchantFeatures('M-inc-1', at(5_500))).toEqual(
      merchant([5, 5, 7, 18], [20, 20, 40, 150], all(0)),
    );
    // A key held for the first time is read whole, with the rows written since.
    reader.add(tries('M-inc-2', at(6_000), 1));
    writer.add(tries('M-inc-1', at(6_000), 1));
    await writer.sync(db, date(6_000));
    await reader.sync(watched, date(6_500));
    expect(reads.at(-1)).toEqual(
      [
        'h merchant:M-inc-1 0',
        'm merchant:M-inc-1 0',
        'h merchant:M-inc-2 0',
        'h merchant:M-inc-2 -1',
        ...[0, -10, -20, -30, -40, -50].map((minute) => `m merchant:M-inc-2 ${minute}`),
        // Read twice: written since, and the history of a key held for the first time.
        'h merchant:M-inc-2 0',
        'm merchant:M-inc-2 0',
      ].sort(),
    );
    expect(reader.merchantFeatures('M-inc-1', at(6_500))).toEqual(
      merchant([6, 6, 8, 19], [20, 20, 40, 150], all(0)),
    );
    expect(reader.merchantFeatures('M-inc-2', at(6_500))).toEqual(merchant([3, 8, 8, 8]));
  });

  it('learns a write that commits after a later one was read (PostgreSQL: two connections)', async (test) => {
    if (db.url === undefined) return test.skip('needs two connections: PostgreSQL only');
    const reader = new RiskCounters();
    reader.add([...tries('M-race-late', at(1_000), 1), ...tries('M-race-early', at(1_000), 1)]);
    await reader.sync(db, date(1_000));
    // The slow writer has just pruned: it will not prune inside its transaction.
    const slow = new RiskCounters();
    await slow.sync(db, date(1_000));

    // The slow writer's write is left uncommitted...
    slow.add(tries('M-race-late', at(2_000), 2, { amount: 300 }));
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let enter = (): void => undefined;
    const entered = new Promise<void>((resolve) => (enter = resolve));
    const slowTransaction = db.transaction(async (tx) => {
      await slow.sync(tx, date(2_000));
      enter();
      await released;
    });
    await entered;
    // ...while a later transaction writes, commits and is read.
    const fast = new RiskCounters();
    fast.add(tries('M-race-early', at(3_000), 3, { amount: 40 }));
    await fast.sync(db, date(3_000));
    await reader.sync(db, date(3_500));
    expect(counts1h(reader.merchantFeatures('M-race-early', at(3_500)))).toEqual([4, 4]);
    expect(counts1h(reader.merchantFeatures('M-race-late', at(3_500)))).toEqual([1, 1]);

    // The earlier transaction commits: its rows' transaction id is lower than one the reader has read past.
    release();
    await slowTransaction;
    const written = await db.query<{ counter_key: string; txid: string }>(
      `SELECT counter_key, txid::text AS txid FROM risk_counter_minutes
       WHERE counter_key IN ('merchant:M-race-late', 'merchant:M-race-early')`,
    );
    const txid = (key: string) => BigInt(written.rows.find((row) => row.counter_key === key)?.txid ?? '0');
    expect(txid('merchant:M-race-late')).toBeLessThan(txid('merchant:M-race-early'));
    // Not lost: it was still running when the reader read, and the next read asks for it.
    await reader.sync(db, date(4_000));
    expect(reader.merchantFeatures('M-race-late', at(4_000))).toEqual(merchant(all(3), all(600)));
    expect(reader.merchantFeatures('M-race-early', at(4_000))).toEqual(merchant(all(4), all(120)));
  });

  it('keeps the increments of a failed write for the next sync, which writes them once', async () => {
    const counters = new RiskCounters();
    counters.add(tries('M-fail', at(1_000), 4, { declined: true }));
    await expect(counters.sync(failingOn(db, 'write', 'read', 'prune'), date(2_000))).rejects.toThrow(
      'connection lost',
    );
    expect(counts1h(counters.merchantFeatures('M-fail', at(2_000)))).toEqual([4, 4]);
    expect(await minuteRows('merchant:M-fail')).toEqual([]);
    counters.add(tries('M-fail', at(2_500), 1, { amount: 9 }));
    await counters.sync(db, date(3_000));
    await counters.sync(db, date(4_000));
    expect(await minuteRows('merchant:M-fail')).toEqual(['0: 5/4/0/9']);
    expect(await hourRows('merchant:M-fail')).toEqual(['0: 5/4/0/9']);
    expect(counters.merchantFeatures('M-fail', at(4_000))).toEqual(merchant(all(5), all(9), all(4)));

    // A write that succeeded is not repeated when the read after it fails.
    counters.add(tries('M-fail', at(5_000), 2));
    await expect(counters.sync(failingOn(db, 'read'), date(6_000))).rejects.toThrow('connection lost');
    expect(await minuteRows('merchant:M-fail')).toEqual(['0: 7/4/0/9']);
    // And the next read is made from where the last one that succeeded left off: what another process wrote
    // meanwhile is learned.
    const other = new RiskCounters();
    other.add(tries('M-fail', at(6_000), 3));
    await other.sync(db, date(6_500));
    await counters.sync(db, date(7_000));
    expect(await minuteRows('merchant:M-fail')).toEqual(['0: 10/4/0/9']);
    expect(counters.merchantFeatures('M-fail', at(7_000))).toEqual(merchant(all(10), all(9), all(4)));
  });

  it('makes no write when nothing was added, and prunes the tables at most once a minute', async () => {
    const { db: watched, statements } = recording();
    const counters = new RiskCounters();
    counters.add(tries('M-idle', at(1_000), 1));
    await counters.sync(watched, date(2_000));
    expect(statements).toEqual(['write', 'read', 'prune']);
    statements.length = 0;
    await counters.sync(watched, date(3_000));
    await counters.sync(watched, date(61_999));
    expect(statements).toEqual(['read', 'read']);
    statements.length = 0;
    await counters.sync(watched, date(62_000));
    expect(statements).toEqual(['read', 'prune']);

    // A process that holds nothing reads nothing.
    const { db: idle, statements: idleStatements } = recording();
    const nothing = new RiskCounters();
    await nothing.sync(idle, date(2_000));
    await nothing.sync(idle, date(3_000));
    expect(idleStatements).toEqual(['prune']);
  });

  it('deletes minutes and hours no window reaches, and forgets keys a week after it last counted them', async () => {
    const insert = (table: 'minutes' | 'hours', offsets: readonly number[]) =>
      db.query(
        `INSERT INTO risk_counter_${table} (counter_key, ${table === 'minutes' ? 'minute' : 'hour'}, authorizations,
           declines, new_cards)
         SELECT 'merchant:M-prune', start, n, 0, 0 FROM unnest($1::timestamptz[]) WITH ORDINALITY AS u(start, n)`,
        [offsets.map((offset) => new Date(at(offset)))],
      );
    // Minutes numbered 1 to 3, hours 1 to 4, in the order given.
    await insert('minutes', [-120 * MINUTE, -61 * MINUTE, -60 * MINUTE]);
    await insert('hours', [-8 * DAY, -7 * DAY - HOUR, -7 * DAY, -DAY]);
    const counters = new RiskCounters();
    counters.add(tries('M-prune', at(0), 2));
    await counters.sync(db, date(30_000));
    // At 12:00:30, 10:59 is out of every minute's window and 11:00 half in the hour; 11:00 a week ago is out of
    // every hour's window and 12:00 a week ago nearly all in the week.
    expect(await minuteRows('merchant:M-prune')).toEqual(['-60: 3/0/0/0', '0: 2/0/0/0']);
    expect(await hourRows('merchant:M-prune')).toEqual(['-168: 3/0/0/0', '-24: 4/0/0/0', '0: 2/0/0/0']);
    expect(counters.merchantFeatures('M-prune', at(30_000))).toEqual(merchant([2, 4, 6, 9]));

    // At 13:00:30 its own minute is half in the hour; at 13:01:30 out of it, but the key is held for a week.
    expect(counts1h(counters.merchantFeatures('M-prune', at(HOUR + 30_000)))).toEqual([0, 1]);
    await counters.sync(db, date(HOUR + 90_000));
    expect(counters.merchantFeatures('M-prune', at(HOUR + 90_000))).toEqual(merchant([0, 0, 2, 6]));
    expect(await minuteRows('merchant:M-prune')).toEqual([]);
    // A week on, its own hour is nearly all in the week; an hour later out of it, and the key forgotten.
    await counters.sync(db, date(7 * DAY + 30_000));
    expect(counters.merchantFeatures('M-prune', at(7 * DAY + 30_000))).toEqual(merchant([0, 0, 0, 2]));
    expect(counters.size).toEqual({ merchants: 1, devices: 0 });
    expect(await hourRows('merchant:M-prune')).toEqual(['0: 2/0/0/0']);
    const { db: watched, statements } = recording();
    await counters.sync(watched, date(7 * DAY + HOUR + 30_000));
    expect(counters.size).toEqual({ merchants: 0, devices: 0 });
    expect(counters.merchantFeatures('M-prune', at(7 * DAY + HOUR))).toEqual(NO_MERCHANT_ACTIVITY);
    // Read nothing for it: a process holding nothing reads nothing.
    expect(statements).toEqual(['prune']);
    expect(await hourRows('merchant:M-prune')).toEqual([]);

    // Counted again, it is read whole again: the others' counts in reach come back.
    const other = new RiskCounters();
    other.add(tries('M-prune', at(7 * DAY + HOUR), 5));
    await other.sync(db, date(7 * DAY + HOUR + 40_000));
    counters.add(tries('M-prune', at(7 * DAY + HOUR + 50_000), 1));
    await counters.sync(watched, date(7 * DAY + HOUR + 60_000));
    expect(counts1h(counters.merchantFeatures('M-prune', at(7 * DAY + HOUR + 60_000)))).toEqual([6, 6]);

    // Counts not written before no window reaches them are dropped, not written: a minute's after an hour, an
    // hour's after a week.
    const late = new RiskCounters();
    late.add([...tries('M-prune-late', at(-2 * HOUR), 3), ...tries('M-prune-old', at(-8 * DAY), 4)]);
    await late.sync(db, date(0));
    expect(await minuteRows('merchant:M-prune-late')).toEqual([]);
    expect(await hourRows('merchant:M-prune-late')).toEqual(['-2: 3/0/0/0']);
    expect(await hourRows('merchant:M-prune-old')).toEqual([]);
    expect(late.size).toEqual({ merchants: 1, devices: 0 });
  });

  it('holds at most maxKeys merchants and devices, dropping the least recently counted, whose counts are still written', async () => {
    const counters = new RiskCounters({ maxKeys: 2 });
    counters.add([...tries('M-cap-1', at(1_000), 1), ...tries('M-cap-2', at(1_000), 1)]);
    counters.add([...tries('M-cap-1', at(2_000), 1), ...tries('M-cap-3', at(2_000), 1)]);
    // M-cap-2 was the least recently counted.
    expect(counters.size).toEqual({ merchants: 2, devices: 0 });
    expect(counters.merchantFeatures('M-cap-2', at(3_000))).toEqual(NO_MERCHANT_ACTIVITY);
    expect(counters.merchantFeatures('M-cap-1', at(3_000))).toEqual(merchant(all(2)));
    // Counted again after it was dropped: the same rows written once, with both counts.
    counters.add(tries('M-cap-2', at(3_000), 1, { amount: 5 }));
    expect(counters.merchantFeatures('M-cap-2', at(3_000))).toEqual(merchant(all(1), all(5)));
    await counters.sync(db, date(4_000));
    expect(await minuteRows('merchant:M-cap-1')).toEqual(['0: 2/0/0/0']);
    expect(await minuteRows('merchant:M-cap-2')).toEqual(['0: 2/0/0/5']);
    expect(await hourRows('merchant:M-cap-2')).toEqual(['0: 2/0/0/5']);
    expect(await minuteRows('merchant:M-cap-3')).toEqual(['0: 1/0/0/0']);
    // What the dropped key had written comes back as counted elsewhere: not lost, not twice.
    expect(counters.merchantFeatures('M-cap-2', at(4_000))).toEqual(merchant(all(2), all(5)));
    await counters.sync(db, date(5_000));
    expect(counters.merchantFeatures('M-cap-2', at(5_000))).toEqual(merchant(all(2), all(5)));

    const devices = Array.from({ length: 3 }, (_, index) => deviceKey(`cap-device-${index}`));
    counters.add(devices.flatMap((each) => tries('M-cap-2', at(6_000), 1, { deviceKey: each })));
    expect(counters.size).toEqual({ merchants: 2, devices: 2 });
    expect(devices.map((each) => counters.deviceFeatures(each, at(6_000)).device_count_7d)).toEqual([
      0, 1, 1,
    ]);
  });

  it('never runs two syncs at once: a call during one waits for it and syncs again', async () => {
    const slow = held(db, 'write');
    const counters = new RiskCounters();
    counters.add(tries('M-busy', at(1_000), 1));
    const first = counters.sync(slow.db, date(2_000));
    await slow.entered;
    // Counted while the first write runs: the first does not write it, the next does.
    counters.add(tries('M-busy', at(2_500), 2));
    const second = counters.sync(slow.db, date(3_000));
    const third = counters.sync(slow.db, date(3_500));
    expect(third).toBe(second);
    slow.release();
    await Promise.all([first, second]);
    expect(slow.mostAtOnce()).toBe(1);
    expect(slow.statements).toEqual(['write', 'read', 'prune', 'write', 'read']);
    expect(await minuteRows('merchant:M-busy')).toEqual(['0: 3/0/0/0']);
    expect(counters.merchantFeatures('M-busy', at(4_000))).toEqual(merchant(all(3)));

    // A failed sync does not stop the one waiting for it, which writes what the failed one could not.
    counters.add(tries('M-busy', at(4_000), 1));
    const failing = held(failingOn(db, 'write'), 'write');
    const failed = counters.sync(failing.db, date(5_000));
    const refused = expect(failed).rejects.toThrow('connection lost');
    await failing.entered;
    const after = counters.sync(db, date(5_500));
    failing.release();
    await refused;
    await after;
    expect(await minuteRows('merchant:M-busy')).toEqual(['0: 4/0/0/0']);
    expect(await hourRows('merchant:M-busy')).toEqual(['0: 4/0/0/0']);
  });

  it('refuses keys, times and amounts the tables cannot hold, counting the rest', async () => {
    const counters = new RiskCounters();
    const valid = deviceKey('refuse-device');
    expect(() =>
      counters.add([
        ...tries('', at(1_000), 1),
        ...tries('M'.repeat(201), at(1_000), 1),
        ...tries('M-refuse\u0000', at(1_000), 1),
        ...tries('M-refuse\ud800', at(1_000), 1),
        ...tries('M-refuse', at(1_000), 1, { deviceKey: valid.toUpperCase() }),
        ...tries('M-refuse', Number.NaN, 1),
        ...tries('M-refuse', at(1_000), 1, { amount: -1 }),
        ...tries('M-refuse', at(1_000), 1, { amount: 1.5 }),
        ...tries('M-refuse', at(1_000), 1, { amount: 2 ** 53 }),
        // A decline's amount is not counted, so not checked.
        ...tries('M-refuse', at(1_000), 1, { declined: true, amount: Number.NaN }),
        ...tries('M-refuse', at(1_000), 1, { deviceKey: valid, amount: 12 }),
      ]),
    ).toThrow(/^risk counters refused 9: merchant key "", merchant key "M{40}", merchant key/);
    expect(counters.merchantFeatures('M-refuse', at(2_000))).toEqual(merchant(all(3), all(12), all(1)));
    expect(counters.deviceFeatures(valid, at(2_000))).toEqual(device(all(1), all(12)));
    expect(counters.size).toEqual({ merchants: 1, devices: 1 });
    expect(() => counters.add(tries('M-refuse', at(1_000), 1, { amount: -5 }))).toThrow('amount -5');
    // A key of 200 characters, and one in Chinese, are written.
    counters.add([...tries('M'.repeat(200), at(1_000), 1), ...tries('M-refuse-鏞記', at(1_000), 1)]);
    await counters.sync(db, date(2_000));
    expect(await minuteRows('merchant:M-refuse')).toEqual(['0: 3/1/0/12']);
    expect(await minuteRows(`merchant:${'M'.repeat(200)}`)).toEqual(['0: 1/0/0/0']);
    expect(await hourRows('merchant:M-refuse-鏞記')).toEqual(['0: 1/0/0/0']);
  });

  it('keeps the tables’ rules: keys of 1 to 240 characters, whole minutes and hours, counts that add up', async () => {
    for (const [table, column, start] of [
      ['minutes', 'minute', date(0)],
      ['hours', 'hour', date(HOUR)],
    ] as const) {
      const insert = (key: string, authorizations: number, declines: number, newCards: number, amount = 0) =>
        db.query(
          `INSERT INTO risk_counter_${table} (counter_key, ${column}, authorizations, declines, new_cards, amount)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [key, start, authorizations, declines, newCards, amount],
        );
      await insert(`device:${'a'.repeat(233)}`, 1, 0, 0);
      await expect(insert(`device:${'a'.repeat(234)}`, 1, 0, 0)).rejects.toThrow();
      await expect(insert('', 1, 0, 0)).rejects.toThrow();
      await expect(insert('merchant:M-bad', 1, 2, 0)).rejects.toThrow();
      await expect(insert('merchant:M-bad', 1, 0, 2)).rejects.toThrow();
      await expect(insert('merchant:M-bad', 1, 0, 0, -1)).rejects.toThrow();
      await expect(
        db.query(
          `INSERT INTO risk_counter_${table} (counter_key, ${column}, authorizations, declines, new_cards)
           VALUES ('merchant:M-bad', $1, 1, 0, 0)`,
          [new Date(start.getTime() + (table === 'minutes' ? 1_000 : MINUTE))],
        ),
      ).rejects.toThrow();

      // Every write marks the row with its transaction, whoever writes it.
      const txid = async () =>
        BigInt(
          (
            await db.query<{ txid: string }>(
              `SELECT txid::text AS txid FROM risk_counter_${table} WHERE counter_key = $1`,
              [`device:${'a'.repeat(233)}`],
            )
          ).rows[0]?.txid ?? '0',
        );
      const before = await txid();
      await db.query(
        `UPDATE risk_counter_${table} SET authorizations = authorizations + 1, txid = '1' WHERE counter_key = $1`,
        [`device:${'a'.repeat(233)}`],
      );
      expect(await txid()).toBeGreaterThan(before);
    }
    const old = await db.query<{ present: boolean }>(
      `SELECT to_regclass('risk_merchant_minutes') IS NOT NULL AS present`,
    );
    expect(old.rows[0]?.present).toBe(false);
  });
});
