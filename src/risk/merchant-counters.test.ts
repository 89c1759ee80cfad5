import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { runTogether } from '../platform/db/statements.js';
import {
  NO_MERCHANT_ACTIVITY,
  merchantCountersIncrement,
  merchantFeatures,
  pruneMerchantCounters,
  type MerchantActivity,
} from './merchant-counters.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => db.close());

/** The minute 12:00 and times after it. */
const noon = Date.parse('2026-03-02T12:00:00.000Z');
const at = (offsetMs: number) => new Date(noon + offsetMs);
const MINUTE = 60_000;

async function record(activity: MerchantActivity[]): Promise<void> {
  await db.transaction((tx) => runTogether(tx, [merchantCountersIncrement(activity)]));
}

function tries(
  key: string,
  time: Date,
  count: number,
  extra: Partial<MerchantActivity> = {},
): MerchantActivity[] {
  return Array.from({ length: count }, () => ({
    merchantKey: key,
    at: time,
    declined: false,
    newCard: false,
    ...extra,
  }));
}

describe('merchant counters', () => {
  it('counts what groups add, per merchant, and reads many merchants at once', async () => {
    await record([
      ...tries('M-a', at(5_000), 3),
      ...tries('M-a', at(6_000), 2, { declined: true, newCard: true }),
      ...tries('M-b', at(7_000), 1, { newCard: true }),
    ]);
    await record(tries('M-a', at(8_000), 4, { newCard: true }));
    const features = await merchantFeatures(db, ['M-a', 'M-b', 'M-none'], at(10_000));
    expect(features.get('M-a')).toEqual({
      merchant_count_1m: 9,
      merchant_count_1h: 9,
      merchant_declines_1h: 2,
      merchant_new_cards_1h: 6,
    });
    expect(features.get('M-b')).toEqual({
      merchant_count_1m: 1,
      merchant_count_1h: 1,
      merchant_declines_1h: 0,
      merchant_new_cards_1h: 1,
    });
    expect(features.get('M-none')).toEqual(NO_MERCHANT_ACTIVITY);
  });

  it('weighs the minute at a window’s far edge by how much of it the window still covers', async () => {
    // Ten in the minute from 11:00, six in the minute from 11:59; read at 12:00:30.
    await record([...tries('M-edge', at(-MINUTE * 60 + 1), 10), ...tries('M-edge', at(-MINUTE + 1), 6)]);
    const features = (await merchantFeatures(db, ['M-edge'], at(30_000))).get('M-edge');
    // The hour from 11:00:30 covers half of the 11:00 minute; the minute from 11:59:30 half of the 11:59 one.
    expect(features).toEqual({
      merchant_count_1m: 3,
      merchant_count_1h: 11,
      merchant_declines_1h: 0,
      merchant_new_cards_1h: 0,
    });
    // At 12:01:30 the 11:00 minute is out of the hour, and the 11:59 one out of the minute.
    expect((await merchantFeatures(db, ['M-edge'], at(90_000))).get('M-edge')).toMatchObject({
      merchant_count_1m: 0,
      merchant_count_1h: 6,
    });
  });

  it('prunes minutes no window reaches any more', async () => {
    await record([...tries('M-old', at(-MINUTE * 120), 2), ...tries('M-old', at(-MINUTE * 30), 1)]);
    expect(await pruneMerchantCounters(db, at(0))).toBeGreaterThanOrEqual(1);
    const left = await db.query<{ minute: Date }>(
      `SELECT minute FROM risk_merchant_minutes WHERE merchant_key = 'M-old'`,
    );
    expect(left.rows.map((row) => row.minute.toISOString())).toEqual([at(-MINUTE * 30).toISOString()]);
  });

  it('refuses counts that do not add up', async () => {
    await expect(
      db.query(
        `INSERT INTO risk_merchant_minutes (merchant_key, minute, authorizations, declines, new_cards)
         VALUES ('M-bad', $1, 1, 2, 0)`,
        [at(0)],
      ),
    ).rejects.toThrow();
  });
});
