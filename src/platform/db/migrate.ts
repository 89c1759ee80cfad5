import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Database, Queryable } from './database.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

/** Any fixed number works; every Lantau process uses this one so only one migrates at a time. */
const MIGRATION_LOCK_KEY = 0x4c414e544155; // "LANTAU"

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

export interface MigrationStatus {
  readonly applied: readonly number[];
  readonly pending: readonly Migration[];
  /** Applied migrations whose file has since changed: a deployment mistake to stop on. */
  readonly changed: readonly number[];
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .map((file) => {
      const match = FILE_PATTERN.exec(file);
      if (match === null) throw new Error(`migration file ${file} must be named NNNN_name.sql`);
      const sql = readFileSync(`${dir}/${file}`, 'utf8');
      return {
        version: Number(match[1]),
        name: match[2] ?? file,
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `migrations must be numbered 0001, 0002, … without gaps; found ${migration.version} at ${index + 1}`,
      );
    }
  });
  return migrations;
}

const CREATE_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS lantau_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`;

async function appliedMigrations(db: Queryable): Promise<Map<number, string>> {
  const exists = await db.query<{ present: boolean }>(
    `SELECT to_regclass('lantau_migrations') IS NOT NULL AS present`,
  );
  if (exists.rows[0]?.present !== true) return new Map();
  const result = await db.query<{ version: number; checksum: string }>(
    'SELECT version, checksum FROM lantau_migrations ORDER BY version',
  );
  return new Map(result.rows.map((row) => [row.version, row.checksum]));
}

export async function migrationStatus(
  db: Queryable,
  migrations = loadMigrations(),
): Promise<MigrationStatus> {
  const applied = await appliedMigrations(db);
  return {
    applied: [...applied.keys()],
    pending: migrations.filter((migration) => !applied.has(migration.version)),
    changed: migrations
      .filter((migration) => {
        const checksum = applied.get(migration.version);
        return checksum !== undefined && checksum !== migration.checksum;
      })
      .map((migration) => migration.version),
  };
}

/**
 * Applies pending migrations, each in its own transaction under one advisory lock, so several processes
 * starting at once apply each migration exactly once and a failed migration leaves nothing half done.
 */
export async function migrate(db: Database, migrations = loadMigrations()): Promise<Migration[]> {
  const applied: Migration[] = [];
  for (const migration of migrations) {
    const ran = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await tx.exec(CREATE_MIGRATIONS_TABLE);
      const existing = await tx.query<{ checksum: string }>(
        'SELECT checksum FROM lantau_migrations WHERE version = $1',
        [migration.version],
      );
      const checksum = existing.rows[0]?.checksum;
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new Error(
            `migration ${migration.version} (${migration.name}) was changed after it was applied; add a new migration instead`,
          );
        }
        return false;
      }
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO lantau_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      return true;
    });
    if (ran) applied.push(migration);
  }
  return applied;
}
