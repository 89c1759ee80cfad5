import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import type { Database } from '../../src/platform/db/database.js';
import { PGliteDatabase } from '../../src/platform/db/pglite.js';
import { PostgresDatabase } from '../../src/platform/db/postgres.js';
import { TEST_DATABASE_PREFIX, adminUrl, dropDatabase } from './postgres-admin.js';

let pgliteDump: Blob | undefined;

export interface TestDatabase extends Database {
  /** For PostgreSQL, the URL of this database, so a child process can connect to it. */
  readonly url: string | undefined;
}

/**
 * A freshly migrated database of the backend this run tests, of its own: nothing another test file does can be
 * seen in it. `close()` disposes of it (and on PostgreSQL drops it).
 */
export async function openTestDatabase(): Promise<TestDatabase> {
  const template = inject('lantauTemplate');
  if (template.startsWith('pglite:')) {
    pgliteDump ??= new Blob([readFileSync(template.slice('pglite:'.length))]);
    const db = await PGliteDatabase.open({ loadDataDir: pgliteDump });
    return Object.assign(db, { url: undefined });
  }
  const templateUrl = new URL(template.slice('postgres:'.length));
  const templateName = templateUrl.pathname.slice(1);
  const runPid = /^lantau_test_(\d+)_/.exec(templateName)?.[1] ?? String(process.pid);
  const name = `${TEST_DATABASE_PREFIX}${runPid}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl(templateUrl.toString()) });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${templateName}`);
  } finally {
    await admin.end();
  }
  const url = new URL(templateUrl);
  url.pathname = `/${name}`;
  const db = new PostgresDatabase({ connectionString: url.toString(), maxConnections: 8 });
  const closePool = db.close.bind(db);
  return Object.assign(db, {
    url: url.toString(),
    close: async () => {
      await closePool();
      await dropDatabase(url.toString(), name);
    },
  });
}
