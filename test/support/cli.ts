import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Database } from '../../src/platform/db/database.js';
import { migrate } from '../../src/platform/db/migrate.js';
import { PGliteDatabase } from '../../src/platform/db/pglite.js';
import { openTestDatabase } from './database.js';

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

export interface CliDatabase {
  /** The database the CLI will read; valid between `run` calls (on PGlite it is reopened after each). */
  readonly db: () => Database;
  /** Runs `lantau ARGS…` as an operator would, against this database. */
  run(args: readonly string[]): Promise<{ code: number; stdout: string }>;
  close(): Promise<void>;
}

/**
 * A database that a `lantau` CLI process can open too. On PostgreSQL that is the test's own database; on the
 * embedded backend the CLI is another process, so it needs a PGlite data directory, and only one process may have
 * it open at a time: `run` closes the test's handle and reopens it afterwards.
 */
export async function openCliDatabase(): Promise<CliDatabase> {
  const shared = await openTestDatabase();
  let db: Database = shared;
  let dataDir: string | undefined;
  let env: NodeJS.ProcessEnv;
  if (shared.url !== undefined) {
    env = { ...process.env, DATABASE_URL: shared.url };
  } else {
    await shared.close();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'lantau-cli-'));
    db = await PGliteDatabase.open({ dataDir: path.join(dataDir, 'pgdata') });
    await migrate(db);
    env = { ...process.env, LANTAU_DATA_DIR: dataDir };
    delete env.DATABASE_URL;
  }
  const pgdata = dataDir === undefined ? undefined : path.join(dataDir, 'pgdata');
  return {
    db: () => db,
    async run(args) {
      if (pgdata !== undefined) await db.close();
      try {
        const { stdout } = await execFileAsync(process.execPath, ['bin/lantau.js', ...args], {
          cwd: ROOT,
          env,
        });
        return { code: 0, stdout };
      } catch (error) {
        const failed = error as { code: number; stdout: string };
        return { code: failed.code, stdout: failed.stdout };
      } finally {
        if (pgdata !== undefined) db = await PGliteDatabase.open({ dataDir: pgdata });
      }
    },
    async close() {
      await db.close();
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
