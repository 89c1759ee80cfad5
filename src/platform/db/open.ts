import path from 'node:path';
import type { Config } from '../config.js';
import type { Database } from './database.js';
import { PGliteDatabase } from './pglite.js';
import { PostgresDatabase } from './postgres.js';

export function embeddedDataPath(dataDir: string): string {
  return path.join(dataDir, 'pgdata');
}

/** `DATABASE_URL` selects a PostgreSQL server; without it, PGlite persists under `LANTAU_DATA_DIR/pgdata`. */
export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  onRetry?: (state: string) => void,
): Promise<Database> {
  if (config.databaseUrl !== undefined) {
    return new PostgresDatabase({ connectionString: config.databaseUrl, ...(onRetry ? { onRetry } : {}) });
  }
  return PGliteDatabase.open({ dataDir: embeddedDataPath(config.dataDir) }, onRetry);
}
