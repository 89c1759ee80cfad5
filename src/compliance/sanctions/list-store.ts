/**
 * Sanctions list versions: a publisher's file parsed and stored whole, and the latest version of each list read
 * back for screening. A file is refused before anything is written when it does not parse, so the version in use
 * stays the last good one; the same file loaded twice is one version.
 */
import { createHash } from 'node:crypto';
import type { Queryable, Transaction } from '../../platform/db/database.js';
import { json } from '../../platform/db/database.js';
import type { SanctionsEntry, SanctionsListId } from './entry.js';

export interface ListVersion {
  readonly id: string;
  readonly object: 'sanctions_list_version';
  readonly list: SanctionsListId;
  readonly published_at: string | null;
  readonly entry_count: number;
  readonly sha256: string;
  readonly loaded_at: string;
  readonly loaded_by: string;
}

interface VersionRow {
  id: string;
  list: SanctionsListId;
  published_at: Date | null;
  entry_count: number;
  sha256: Uint8Array;
  loaded_at: Date;
  loaded_by: string;
}

const VERSION_COLUMNS = 'id, list, published_at, entry_count, sha256, loaded_at, loaded_by';

function versionFromRow(row: VersionRow): ListVersion {
  return {
    id: row.id,
    object: 'sanctions_list_version',
    list: row.list,
    published_at: row.published_at?.toISOString() ?? null,
    entry_count: row.entry_count,
    sha256: Buffer.from(row.sha256).toString('hex'),
    loaded_at: row.loaded_at.toISOString(),
    loaded_by: row.loaded_by,
  };
}

export function fileDigest(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/**
 * Stores a parsed file as a new version, or answers the version it already is (`created: false`) when the same
 * bytes were loaded before.
 */
export async function storeListVersion(
  tx: Transaction,
  input: {
    readonly id: string;
    readonly list: SanctionsListId;
    readonly publishedAt: Date | null;
    readonly digest: Buffer;
    readonly entries: readonly SanctionsEntry[];
    readonly at: Date;
    readonly by: string;
  },
): Promise<{ version: ListVersion; created: boolean }> {
  const inserted = await tx.query<VersionRow>(
    `INSERT INTO sanctions_list_versions (id, list, published_at, sha256, entry_count, entries, loaded_at, loaded_by)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
     ON CONFLICT (list, sha256) DO NOTHING
     RETURNING ${VERSION_COLUMNS}`,
    [
      input.id,
      input.list,
      input.publishedAt,
      input.digest,
      input.entries.length,
      json(input.entries),
      input.at,
      input.by,
    ],
  );
  const row = inserted.rows[0];
  if (row !== undefined) return { version: versionFromRow(row), created: true };
  const existing = await tx.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM sanctions_list_versions WHERE list = $1 AND sha256 = $2`,
    [input.list, input.digest],
  );
  const found = existing.rows[0];
  if (found === undefined) throw new Error('a sanctions list version was neither inserted nor found');
  return { version: versionFromRow(found), created: false };
}

/** The version of each list screening uses: the one loaded last. */
export async function latestVersions(db: Queryable): Promise<ListVersion[]> {
  const found = await db.query<VersionRow>(
    `SELECT DISTINCT ON (list) ${VERSION_COLUMNS} FROM sanctions_list_versions ORDER BY list, loaded_at DESC, id DESC`,
  );
  return found.rows.map(versionFromRow);
}

export async function listVersions(db: Queryable, list?: SanctionsListId): Promise<ListVersion[]> {
  const found = await db.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM sanctions_list_versions WHERE ($1::text IS NULL OR list = $1)
     ORDER BY loaded_at DESC, id DESC`,
    [list ?? null],
  );
  return found.rows.map(versionFromRow);
}

export async function versionEntries(db: Queryable, id: string): Promise<SanctionsEntry[]> {
  const found = await db.query<{ entries: SanctionsEntry[] }>(
    'SELECT entries FROM sanctions_list_versions WHERE id = $1',
    [id],
  );
  return found.rows[0]?.entries ?? [];
}
