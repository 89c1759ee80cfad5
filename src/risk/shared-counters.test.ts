import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import type { Queryable, SqlParam } from '../platform/db/database.js';
import { NO_MERCHANT_ACTIVITY, RiskCounters, type CounterActivity } from './shared-counters.js';

// One database for the file: every test uses merchant and device keys of its own.
let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => db.close());

/** The minute 12:00 and times after it. */
const noon = Date.parse('2026-03-02T12:00:00.000Z');
const MINUTE = 60_000;
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
    ...extra,
  }));
}

/** The table's rows under a counter key, as `minute offset from noon: authorizations/declines/new cards`. */
async function rows(counterKey: string): Promise<string[]> {
  const found = await db.query<{ minute: Date; authorizations: number; declines: number; new_cards: number }>(
    `SELECT minute, authorizations, declines, new_cards FROM risk_counter_minutes WHERE counter_key = $1
     ORDER BY minute`,
    [counterKey],
  );
  return found.rows.map(
    (row) =>
      `${(row.minute.getTime() - noon) / MINUTE}: ${row.authorizations}/${row.declines}/${row.new_cards}`,
  );
}

/** The database, with the first word of every statement run through it kept in `statements`. */
function recording(): { db: Queryable; statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    db: {
      query<Row>(sql: string, params?: readonly SqlParam[]) {
        statements.push(sql.trim().split(/\s/)[0] ?? '');
        return db.query<Row>(sql, params);
      },
      exec: (sql) => db.exec(sql),
    },
  };
}

/** The database, except that statements starting with one of `failing` fail. */
function failingOn(...failing: string[]): Queryable {
  return {
    query<Row>(sql: string, params?: readonly SqlParam[]) {
      return failing.some((word) => sql.trim().startsWith(word))
        ? Promise.reject(new Error('connection lost'))
        : db.query<Row>(sql, params);
    },
    exec: (sql) => db.exec(sql),
  };
}

/**
 * `inner`, except that the first statement starting with `word` waits for `release()`; `entered` resolves when it
 * starts waiting. `mostAtOnce()`: the most statements that were running at once.
 */
function held(inner: Queryable, word: string) {
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
      statements.push(sql.trim().split(/\s/)[0] ?? '');
      try {
        if (!waited && sql.trim().startsWith(word)) {
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

const counts = (count1m: number, count1h: number, declines = 0, newCards = 0) => ({
  merchant_count_1m: count1m,
  merchant_count_1h: count1h,
  merchant_declines_1h: declines,
  merchant_new_cards_1h: newCards,
});

describe('shared risk counters', () => {
  it('counts what is added at once, before any sync, and nothing of keys never seen', async () => {
    const counters = new RiskCounters();
    const phone = deviceKey('local-phone');
    counters.add([
      ...tries('M-local', at(5_000), 3, { deviceKey: phone }),
      ...tries('M-local', at(6_000), 2, { declined: true, newCard: true }),
      ...tries('M-local-b', at(7_000), 1, { newCard: true, deviceKey: phone }),
    ]);
    expect(counters.merchantFeatures('M-local', at(10_000))).toEqual(counts(5, 5, 2, 2));
    expect(counters.merchantFeatures('M-local-b', at(10_000))).toEqual(counts(1, 1, 0, 1));
    expect(counters.deviceCount1h(phone, at(10_000))).toBe(4);
    expect(counters.merchantFeatures('M-local-none', at(10_000))).toEqual(NO_MERCHANT_ACTIVITY);
    expect(counters.deviceCount1h(deviceKey('local-none'), at(10_000))).toBe(0);
    expect(counters.size).toEqual({ merchants: 2, devices: 1 });
    // Nothing reaches the table, nor another process, before a sync.
    expect(await rows('merchant:M-local')).toEqual([]);
    expect(new RiskCounters().merchantFeatures('M-local', at(10_000))).toEqual(NO_MERCHANT_ACTIVITY);
  });

  it('weighs the minute at a window’s far edge by how much of it the window still covers', async () => {
    const counters = new RiskCounters();
    const laptop = deviceKey('edge-laptop');
    // Ten in the minute from 11:00, six in the minute from 11:59; read at 12:00:30.
    counters.add([
      ...tries('M-edge', at(-MINUTE * 60 + 1), 10, { deviceKey: laptop }),
      ...tries('M-edge', at(-MINUTE + 1), 6),
    ]);
    // The hour from 11:00:30 covers half of the 11:00 minute; the minute from 11:59:30 half of the 11:59 one.
    expect(counters.merchantFeatures('M-edge', at(30_000))).toEqual(counts(3, 11));
    expect(counters.deviceCount1h(laptop, at(30_000))).toBe(5);

    // Another process, once both have synced, sees the same windows (plus its own).
    await counters.sync(db, date(30_000));
    const other = new RiskCounters();
    other.add(tries('M-edge', at(20_000), 1, { deviceKey: laptop }));
    await other.sync(db, date(30_000));
    expect(other.merchantFeatures('M-edge', at(30_000))).toEqual(counts(4, 12));
    expect(other.deviceCount1h(laptop, at(30_000))).toBe(6);

    // At 12:01:30 the 11:00 minute is out of the hour, and the 11:59 one out of the minute.
    expect(counters.merchantFeatures('M-edge', at(90_000))).toEqual(counts(0, 6));
    expect(counters.deviceCount1h(laptop, at(90_000))).toBe(0);
    // The current minute counts whole; a later minute not at all.
    counters.add([...tries('M-edge', at(95_000), 4), ...tries('M-edge', at(3 * MINUTE), 7)]);
    expect(counters.merchantFeatures('M-edge', at(100_000))).toEqual(counts(4, 10));
  });

  it('counts declines and new cards per merchant, and every authorization per device', () => {
    const counters = new RiskCounters();
    const tablet = deviceKey('kinds-tablet');
    counters.add([
      ...tries('M-kinds', at(1_000), 4, { declined: true, deviceKey: tablet }),
      ...tries('M-kinds', at(2_000), 3, { newCard: true, deviceKey: tablet }),
      ...tries('M-kinds', at(3_000), 2, { declined: true, newCard: true }),
      ...tries('M-kinds-b', at(4_000), 1, { deviceKey: tablet }),
    ]);
    expect(counters.merchantFeatures('M-kinds', at(5_000))).toEqual(counts(9, 9, 6, 5));
    expect(counters.deviceCount1h(tablet, at(5_000))).toBe(8);
  });

  it('shares counts between processes through the table, each counting its own once', async () => {
    const a = new RiskCounters();
    const b = new RiskCounters();
    const shared = deviceKey('shared-device');
    // In the minute from 12:00 and the one from 12:01; read early in the second, so 1m and 1h round alike.
    const t = (ms: number) => at(MINUTE + ms);
    const d = (ms: number) => date(MINUTE + ms);
    a.add(tries('M-shared', at(1_000), 3, { newCard: true, deviceKey: shared }));
    b.add([...tries('M-shared', at(2_000), 1, { declined: true }), ...tries('M-shared', t(0), 1)]);
    expect(a.merchantFeatures('M-shared', t(1_000))).toEqual(counts(3, 3, 0, 3));
    expect(b.merchantFeatures('M-shared', t(1_000))).toEqual(counts(2, 2, 1, 0));

    await a.sync(db, d(1_100));
    // b has written nothing yet.
    expect(a.merchantFeatures('M-shared', t(1_100))).toEqual(counts(3, 3, 0, 3));
    await b.sync(db, d(1_200));
    expect(b.merchantFeatures('M-shared', t(1_200))).toEqual(counts(5, 5, 1, 3));
    await a.sync(db, d(1_300));
    expect(a.merchantFeatures('M-shared', t(1_300))).toEqual(counts(5, 5, 1, 3));
    // Syncing again changes nothing: a process never takes its own written counts for the others'.
    await a.sync(db, d(1_400));
    await b.sync(db, d(1_500));
    await a.sync(db, d(1_600));
    expect(a.merchantFeatures('M-shared', t(1_600))).toEqual(counts(5, 5, 1, 3));
    expect(b.merchantFeatures('M-shared', t(1_600))).toEqual(counts(5, 5, 1, 3));
    expect(await rows('merchant:M-shared')).toEqual(['0: 4/1/3', '1: 1/0/0']);
    expect(await rows(`device:${shared}`)).toEqual(['0: 3/0/0']);

    // A new count is the counting process's at once, and the other's after both have synced.
    b.add(tries('M-shared', t(2_000), 2, { deviceKey: shared }));
    expect(b.merchantFeatures('M-shared', t(2_000))).toEqual(counts(7, 7, 1, 3));
    // b has not read the device's row yet: it held nothing of it at its last sync.
    expect(b.deviceCount1h(shared, t(2_000))).toBe(2);
    await a.sync(db, d(2_100));
    expect(a.merchantFeatures('M-shared', t(2_100))).toEqual(counts(5, 5, 1, 3));
    await b.sync(db, d(2_200));
    expect(b.deviceCount1h(shared, t(2_200))).toBe(5);
    await a.sync(db, d(2_300));
    expect(a.merchantFeatures('M-shared', t(2_300))).toEqual(counts(7, 7, 1, 3));
    expect(a.deviceCount1h(shared, t(2_300))).toBe(5);
    expect(await rows('merchant:M-shared')).toEqual(['0: 4/1/3', '1: 3/0/0']);

    // A process that counts the merchant for the first time (a new one, or one restarted) learns the others'
    // counts at its next sync, the whole hour of them.
    const c = new RiskCounters();
    c.add(tries('M-shared', t(3_000), 1));
    expect(c.merchantFeatures('M-shared', t(3_000))).toEqual(counts(1, 1));
    await c.sync(db, d(3_100));
    expect(c.merchantFeatures('M-shared', t(3_100))).toEqual(counts(8, 8, 1, 3));
    // The device, never counted there, is still unknown to it.
    expect(c.deviceCount1h(shared, t(3_100))).toBe(0);
  });

  it('keeps the increments of a failed write for the next sync, which writes them once', async () => {
    const counters = new RiskCounters();
    counters.add(tries('M-fail', at(1_000), 4, { declined: true }));
    await expect(counters.sync(failingOn('INSERT', 'SELECT', 'DELETE'), date(2_000))).rejects.toThrow(
      'connection lost',
    );
    expect(counters.merchantFeatures('M-fail', at(2_000))).toEqual(counts(4, 4, 4));
    expect(await rows('merchant:M-fail')).toEqual([]);
    counters.add(tries('M-fail', at(2_500), 1));
    await counters.sync(db, date(3_000));
    await counters.sync(db, date(4_000));
    expect(await rows('merchant:M-fail')).toEqual(['0: 5/4/0']);
    expect(counters.merchantFeatures('M-fail', at(4_000))).toEqual(counts(5, 5, 4));

    // A write that succeeded is not repeated when the read after it fails.
    counters.add(tries('M-fail', at(5_000), 2));
    await expect(counters.sync(failingOn('SELECT'), date(6_000))).rejects.toThrow('connection lost');
    expect(await rows('merchant:M-fail')).toEqual(['0: 7/4/0']);
    await counters.sync(db, date(7_000));
    expect(await rows('merchant:M-fail')).toEqual(['0: 7/4/0']);
    expect(counters.merchantFeatures('M-fail', at(7_000))).toEqual(counts(7, 7, 4));
  });

  it('makes no write when nothing was added, and prunes the table at most once a minute', async () => {
    const { db: watched, statements } = recording();
    const counters = new RiskCounters();
    counters.add(tries('M-idle', at(1_000), 1));
    await counters.sync(watched, date(2_000));
    expect(statements).toEqual(['INSERT', 'SELECT', 'DELETE']);
    statements.length = 0;
    await counters.sync(watched, date(3_000));
    await counters.sync(watched, date(61_999));
    expect(statements).toEqual(['SELECT', 'SELECT']);
    statements.length = 0;
    await counters.sync(watched, date(62_000));
    expect(statements).toEqual(['SELECT', 'DELETE']);

    // A process that holds nothing reads nothing.
    const { db: idle, statements: idleStatements } = recording();
    const nothing = new RiskCounters();
    await nothing.sync(idle, date(2_000));
    await nothing.sync(idle, date(3_000));
    expect(idleStatements).toEqual(['DELETE']);
  });

  it('deletes rows no window reaches, and forgets minutes and keys no window reaches', async () => {
    await db.query(
      `INSERT INTO risk_counter_minutes (counter_key, minute, authorizations, declines, new_cards)
       VALUES ('merchant:M-prune', $1, 2, 0, 0), ('merchant:M-prune', $2, 3, 0, 0), ('merchant:M-prune', $3, 1, 0, 0)`,
      [date(-MINUTE * 120), date(-MINUTE * 61), date(-MINUTE * 60)],
    );
    const counters = new RiskCounters();
    counters.add(tries('M-prune', at(0), 2));
    await counters.sync(db, date(30_000));
    // 10:59 is out of every window at 12:00:30; 11:00 is half in the hour.
    expect(await rows('merchant:M-prune')).toEqual(['-60: 1/0/0', '0: 2/0/0']);
    expect(counters.merchantFeatures('M-prune', at(30_000))).toEqual(counts(2, 3));

    // At 13:00:30 this process's own minute is half in the hour; at 13:01 it is out, and the key forgotten.
    expect(counters.merchantFeatures('M-prune', at(60 * MINUTE + 30_000))).toEqual(counts(0, 1));
    await counters.sync(db, date(60 * MINUTE + 30_000));
    expect(counters.size).toEqual({ merchants: 1, devices: 0 });
    expect(await rows('merchant:M-prune')).toEqual(['0: 2/0/0']);
    // Read nothing and wrote nothing for it: a process holding nothing reads nothing.
    const { db: watched, statements } = recording();
    await counters.sync(watched, date(61 * MINUTE + 30_000));
    expect(counters.size).toEqual({ merchants: 0, devices: 0 });
    expect(counters.merchantFeatures('M-prune', at(61 * MINUTE))).toEqual(NO_MERCHANT_ACTIVITY);
    expect(statements).toEqual(['DELETE']);
    expect(await rows('merchant:M-prune')).toEqual([]);

    // Counts not written before no window reaches them are dropped, not written.
    const late = new RiskCounters();
    late.add(tries('M-prune-late', at(-2 * 60 * MINUTE), 3));
    const { db: lateDb, statements: lateStatements } = recording();
    await late.sync(lateDb, date(0));
    expect(lateStatements).toEqual(['DELETE']);
    expect(late.size).toEqual({ merchants: 0, devices: 0 });
    expect(await rows('merchant:M-prune-late')).toEqual([]);
  });

  it('holds at most maxKeys merchants and devices, dropping the least recently counted, whose counts are still written', async () => {
    const counters = new RiskCounters({ maxKeys: 2 });
    counters.add([...tries('M-cap-1', at(1_000), 1), ...tries('M-cap-2', at(1_000), 1)]);
    counters.add([...tries('M-cap-1', at(2_000), 1), ...tries('M-cap-3', at(2_000), 1)]);
    // M-cap-2 was the least recently counted.
    expect(counters.size).toEqual({ merchants: 2, devices: 0 });
    expect(counters.merchantFeatures('M-cap-2', at(3_000))).toEqual(NO_MERCHANT_ACTIVITY);
    expect(counters.merchantFeatures('M-cap-1', at(3_000))).toEqual(counts(2, 2));
    // Counted again after it was dropped: the same row written once, with both counts.
    counters.add(tries('M-cap-2', at(3_000), 1));
    expect(counters.merchantFeatures('M-cap-2', at(3_000))).toEqual(counts(1, 1));
    await counters.sync(db, date(4_000));
    expect(await rows('merchant:M-cap-1')).toEqual(['0: 2/0/0']);
    expect(await rows('merchant:M-cap-2')).toEqual(['0: 2/0/0']);
    expect(await rows('merchant:M-cap-3')).toEqual(['0: 1/0/0']);
    // What the dropped key had written comes back as counted elsewhere: not lost, not twice.
    expect(counters.merchantFeatures('M-cap-2', at(4_000))).toEqual(counts(2, 2));
    await counters.sync(db, date(5_000));
    expect(counters.merchantFeatures('M-cap-2', at(5_000))).toEqual(counts(2, 2));

    const devices = Array.from({ length: 3 }, (_, index) => deviceKey(`cap-device-${index}`));
    counters.add(devices.flatMap((device) => tries('M-cap-2', at(6_000), 1, { deviceKey: device })));
    expect(counters.size).toEqual({ merchants: 2, devices: 2 });
    expect(devices.map((device) => counters.deviceCount1h(device, at(6_000)))).toEqual([0, 1, 1]);
  });

  it('never runs two syncs at once: a call during one waits for it and syncs again', async () => {
    const slow = held(db, 'INSERT');
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
    expect(slow.statements).toEqual(['INSERT', 'SELECT', 'DELETE', 'INSERT', 'SELECT']);
    expect(await rows('merchant:M-busy')).toEqual(['0: 3/0/0']);
    expect(counters.merchantFeatures('M-busy', at(4_000))).toEqual(counts(3, 3));

    // A failed sync does not stop the one waiting for it, which writes what the failed one could not.
    counters.add(tries('M-busy', at(4_000), 1));
    const failing = held(failingOn('INSERT'), 'INSERT');
    const failed = counters.sync(failing.db, date(5_000));
    const refused = expect(failed).rejects.toThrow('connection lost');
    await failing.entered;
    const after = counters.sync(db, date(5_500));
    failing.release();
    await refused;
    await after;
    expect(await rows('merchant:M-busy')).toEqual(['0: 4/0/0']);
  });

  it('refuses keys and times the table cannot hold, counting the rest', async () => {
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
        ...tries('M-refuse', at(1_000), 1, { deviceKey: valid }),
      ]),
    ).toThrow(RangeError);
    expect(counters.merchantFeatures('M-refuse', at(2_000))).toEqual(counts(2, 2));
    expect(counters.deviceCount1h(valid, at(2_000))).toBe(1);
    expect(counters.size).toEqual({ merchants: 1, devices: 1 });
    // A key of 200 characters, and one in Chinese, are written.
    counters.add([...tries('M'.repeat(200), at(1_000), 1), ...tries('M-refuse-鏞記', at(1_000), 1)]);
    await counters.sync(db, date(2_000));
    expect(await rows('merchant:M-refuse')).toEqual(['0: 2/0/0']);
    expect(await rows(`merchant:${'M'.repeat(200)}`)).toEqual(['0: 1/0/0']);
    expect(await rows('merchant:M-refuse-鏞記')).toEqual(['0: 1/0/0']);
  });

  it('keeps the table’s rules: keys of 1 to 240 characters, counts that add up', async () => {
    const insert = (key: string, authorizations: number, declines: number, newCards: number) =>
      db.query(
        `INSERT INTO risk_counter_minutes (counter_key, minute, authorizations, declines, new_cards)
         VALUES ($1, $2, $3, $4, $5)`,
        [key, date(0), authorizations, declines, newCards],
      );
    await insert(`device:${'a'.repeat(233)}`, 1, 0, 0);
    await expect(insert(`device:${'a'.repeat(234)}`, 1, 0, 0)).rejects.toThrow();
    await expect(insert('', 1, 0, 0)).rejects.toThrow();
    await expect(insert('merchant:M-bad', 1, 2, 0)).rejects.toThrow();
    await expect(insert('merchant:M-bad', 1, 0, 2)).rejects.toThrow();
    const old = await db.query<{ present: boolean }>(
      `SELECT to_regclass('risk_merchant_minutes') IS NOT NULL AS present`,
    );
    expect(old.rows[0]?.present).toBe(false);
  });
});
