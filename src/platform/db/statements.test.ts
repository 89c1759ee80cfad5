import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { runTogether } from './statements.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
  await db.exec(`CREATE SEQUENCE t_order;
    CREATE TABLE t_a (k text, n bigint DEFAULT nextval('t_order'));
    CREATE TABLE t_b (k text, n bigint DEFAULT nextval('t_order'));
    CREATE TABLE t_c (k text PRIMARY KEY, v bigint, n bigint)`);
  await db.exec(`INSERT INTO t_c VALUES ('x', 1, 0), ('y', 2, 0)`);
});
afterAll(async () => db.close());

describe('runTogether', () => {
  it('runs its statements in the order given, in one statement, and returns each one’s RETURNING rows', async () => {
    const returned = await db.transaction((tx) =>
      runTogether(tx, [
        { sql: 'INSERT INTO t_a (k) SELECT unnest($1::text[])', params: [['a1', 'a2']] },
        undefined,
        { sql: 'INSERT INTO t_b (k) SELECT unnest($1::text[]) ORDER BY 1', params: [['b1', 'b2']] },
        {
          sql: `UPDATE t_c SET v = v + $2, n = nextval('t_order') WHERE k = ANY($1::text[]) RETURNING k, v`,
          params: [['x', 'y'], 10],
        },
      ]),
    );
    expect(returned[0]).toEqual([]);
    expect(returned[1]).toEqual([]);
    expect(returned[2]).toEqual([]);
    expect([...(returned[3] ?? [])].sort((a, b) => String(a.k).localeCompare(String(b.k)))).toEqual([
      { k: 'x', v: 11 },
      { k: 'y', v: 12 },
    ]);
    // The shared sequence numbers every row in the order the statements ran: all of t_a, then t_b, then t_c.
    const order = await db.query<{ k: string }>(
      `SELECT k FROM (SELECT k, n FROM t_a UNION ALL SELECT k, n FROM t_b UNION ALL SELECT k, n FROM t_c) rows
       ORDER BY n`,
    );
    const tables = order.rows.map((row) => row.k.slice(0, 1));
    expect(tables.join('')).toMatch(/^aabb[xy]{2}$/);
  });
});
