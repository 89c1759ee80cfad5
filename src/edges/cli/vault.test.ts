import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { encryptedColumns } from './vault.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => db.close());

describe('the registry of encrypted columns', () => {
  it('names every encrypted column in the schema, so rotation re-encrypts all of them and retirement checks all', async () => {
    const { rows } = await db.query<{ name: string }>(
      `SELECT table_name || '.' || column_name AS name FROM information_schema.columns
       WHERE table_schema = 'public' AND data_type = 'bytea' AND column_name LIKE '%\\_encrypted'
       ORDER BY 1`,
    );
    const registered = encryptedColumns()
      .list()
      .map((column) => `${column.table}.${column.column}`)
      .sort();
    expect(rows.map((row) => row.name)).toEqual(registered);
    expect(registered).toContain('cards.pan_encrypted');
  });
});
