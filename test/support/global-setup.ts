import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/platform/db/migrate.js';
import { PGliteDatabase } from '../../src/platform/db/pglite.js';
import { PostgresDatabase } from '../../src/platform/db/postgres.js';
import { TEST_DATABASE_PREFIX, adminUrl, dropDatabase, sweepAbandonedDatabases } from './postgres-admin.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `pglite:<path to a dump of a migrated database>` or `postgres:<url of a migrated template database>`. */
    lantauTemplate: string;
  }
}

/**
 * Migrates one template database per run; each test file then starts from a copy of it. On PGlite a copy is a
 * dump loaded into a fresh instance (a third of a second, against seconds for initdb); on PostgreSQL it is
 * CREATE DATABASE … TEMPLATE. Every database this run made is dropped at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl === undefined || databaseUrl === '') {
    const db = await PGliteDatabase.open();
    await migrate(db);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lantau-test-'));
    const dumpPath = path.join(dir, 'template.tar');
    writeFileSync(dumpPath, Buffer.from(await (await db.dump()).arrayBuffer()));
    await db.close();
    project.provide('lantauTemplate', `pglite:${dumpPath}`);
    return async () => rmSync(dir, { recursive: true, force: true });
  }

  await sweepAbandonedDatabases(databaseUrl);
  const template = `${TEST_DATABASE_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}_tmpl`;
  const admin = new pg.Client({ connectionString: adminUrl(databaseUrl) });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${template}`);
  } finally {
    await admin.end();
  }
  const url = new URL(databaseUrl);
  url.pathname = `/${template}`;
  const db = new PostgresDatabase({ connectionString: url.toString(), maxConnections: 1 });
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  project.provide('lantauTemplate', `postgres:${url.toString()}`);
  return async () => {
    await sweepAbandonedDatabases(databaseUrl, process.pid);
    await dropDatabase(databaseUrl, template);
  };
}
