import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { json, sqlState } from './database.js';
import { migrate, migrationStatus } from './migrate.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
  await db.exec(
    `CREATE TABLE t_values (id text COLLATE "C" PRIMARY KEY, n bigint, r numeric, at timestamptz, j jsonb, b bytea, a text[])`,
  );
});
afterAll(async () => db.close());

describe(`database (${process.env.DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  it('returns the same JavaScript shapes on both backends', async () => {
    const at = new Date('2026-05-01T12:34:56.789Z');
    await db.query('INSERT INTO t_values VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)', [
      'a',
      9_007_199_254_740_991,
      '0.1234567890123',
      at,
      json({ nested: { x: [1, 'two'] } }),
      new Uint8Array([1, 2, 255]),
      ['p', 'q'],
    ]);
    const { rows } = await db.query('SELECT * FROM t_values WHERE id = $1', ['a']);
    const row = rows[0];
    expect(row?.n).toBe(9_007_199_254_740_991);
    expect(row?.r).toBe('0.1234567890123');
    expect(row?.at).toEqual(at);
    expect(row?.j).toEqual({ nested: { x: [1, 'two'] } });
    expect([...(row?.b as Uint8Array)]).toEqual([1, 2, 255]);
    expect(row?.a).toEqual(['p', 'q']);
  });

  it('refuses a bigint beyond the safe integer range instead of rounding it', async () => {
    await expect(db.query(`SELECT 9007199254740993::bigint AS n`)).rejects.toThrow(/safe integer/);
  });

  it('sorts ids in byte order', async () => {
    await db.query(`INSERT INTO t_values (id) VALUES ('x_B'), ('x_a'), ('x_Z')`);
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM t_values WHERE id LIKE 'x_%' ORDER BY id`,
    );
    expect(rows.map((row) => row.id)).toEqual(['x_B', 'x_Z', 'x_a']);
  });

  it('commits a transaction whole and rolls back a failed one whole', async () => {
    await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO t_values (id) VALUES ('c1')`);
      await tx.query(`INSERT INTO t_values (id) VALUES ('c2')`);
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO t_values (id) VALUES ('r1')`);
        await tx.query(`INSERT INTO t_values (id) VALUES ('c1')`); // duplicate key
      }),
    ).rejects.toSatisfy((error) => sqlState(error) === '23505');
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM t_values WHERE id IN ('c1', 'c2', 'r1') ORDER BY id`,
    );
    expect(rows.map((row) => row.id)).toEqual(['c1', 'c2']);
  });

  it('re-runs a transaction that hit a serialization failure', async () => {
    let attempts = 0;
    const result = await db.transaction(async (tx) => {
      attempts += 1;
      if (attempts === 1) {
        await tx.query(
          `DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$`,
        );
      }
      return 'done';
    });
    expect(result).toBe('done');
    expect(attempts).toBe(2);
  });

  it('runs after-commit callbacks once the transaction has committed, never for a rollback or a re-run attempt', async () => {
    const ran: string[] = [];
    const seenAtCallback: number[] = [];
    let attempts = 0;
    await db.transaction(async (tx) => {
      attempts += 1;
      tx.afterCommit(() => ran.push(`attempt ${attempts}`));
      await tx.query(`INSERT INTO t_values (id) VALUES ('ac${attempts}')`);
      if (attempts === 1) {
        await tx.query(
          `DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$`,
        );
      }
      tx.afterCommit(() => seenAtCallback.push(attempts));
    });
    expect(ran).toEqual(['attempt 2']);
    expect(seenAtCallback).toEqual([2]);
    await expect(
      db.transaction(async (tx) => {
        tx.afterCommit(() => ran.push('rolled back'));
        await tx.query(`INSERT INTO t_values (id) VALUES ('ac2')`); // duplicate key
      }),
    ).rejects.toSatisfy((error) => sqlState(error) === '23505');
    expect(ran).toEqual(['attempt 2']);
  });

  it('keeps a commit whose after-commit callback throws, and runs the others', async () => {
    const ran: string[] = [];
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const result = await db.transaction(async (tx) => {
        tx.afterCommit(() => {
          throw new Error('counter broke');
        });
        tx.afterCommit(() => ran.push('second'));
        await tx.query(`INSERT INTO t_values (id) VALUES ('ac_throw')`);
        return 'committed';
      });
      expect(result).toBe('committed');
      expect(ran).toEqual(['second']);
      const { rows } = await db.query(`SELECT id FROM t_values WHERE id = 'ac_throw'`);
      expect(rows).toHaveLength(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toContain('counter broke');
    } finally {
      process.off('warning', onWarning);
    }
  });
  it('has applied every migration, and applying again changes nothing', async () => {
    const before = await migrationStatus(db);
    expect(before.pending).toEqual([]);
    expect(before.changed).toEqual([]);
    expect(await migrate(db)).toEqual([]);
  });

  it('stops on a migration that changed after it was applied', async () => {
    const [first] = (await import('./migrate.js')).loadMigrations();
    if (first === undefined) throw new Error('no migrations');
    const edited = { ...first, checksum: 'edited' };
    await expect(migrate(db, [edited])).rejects.toThrow(/changed after it was applied/);
    expect((await migrationStatus(db, [edited])).changed).toEqual([first.version]);
  });
});
