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

/**
 * This process's environment without any Lantau setting or DATABASE_URL, so a developer's own settings never leak
 * into the processes a test starts.
 */
export function environmentWithoutLantau(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('LANTAU_') && name !== 'DATABASE_URL'),
  );
}

export interface CliDatabase {
  /** The database the CLI will read; valid between `run` calls (on PGlite it is reopened after each). */
  readonly db: () => Database;
  /** The environment a `lantau` process needs to reach this database (and its own data directory for key files). */
  readonly env: NodeJS.ProcessEnv;
  /** The data directory: the embedded database (on PGlite) and the local KEK file. */
  readonly dataDir: string;
  /** Runs `lantau ARGS…` as an operator would, against this database. */
  run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs `work` while this process has the database closed, so another process can open a PGlite data directory. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
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
  // Key files live here on both backends, never in the repository's ./data.
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lantau-cli-'));
  const env: NodeJS.ProcessEnv = {
    ...environmentWithoutLantau(),
    LANTAU_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  };
  let pgdata: string | undefined;
  if (shared.url !== undefined) {
    env.DATABASE_URL = shared.url;
  } else {
    await shared.close();
    pgdata = path.join(dataDir, 'pgdata');
    db = await PGliteDatabase.open({ dataDir: pgdata });
    await migrate(db);
    delete env.DATABASE_URL;
  }
  const exclusive = async <T>(work: () => Promise<T>): Promise<T> => {
    if (pgdata === undefined) return work();
    await db.close();
    try {
      return await work();
    } finally {
      db = await PGliteDatabase.open({ dataDir: pgdata });
    }
  };
  return {
    db: () => db,
    env,
    dataDir,
    exclusive,
    run: (args) =>
      exclusive(async () => {
        try {
          const { stdout, stderr } = await execFileAsync(process.execPath, ['bin/lantau.js', ...args], {
            cwd: ROOT,
            env,
          });
          return { code: 0, stdout, stderr };
        } catch (error) {
          const failed = error as { code: number; stdout: string; stderr: string };
          return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
        }
      }),
    async close() {
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
