import type { Database } from '../platform/db/database.js';
import { HEADER_BYTES } from './ciphertext.js';
import { columnSql, type EncryptedColumn, type EncryptedColumnRegistry } from './encrypted-columns.js';
import type { Keyring } from './keyring.js';

export interface ReencryptOptions {
  /** Rows per transaction (default 500): small enough that row locks are held for milliseconds. */
  readonly batchSize?: number;
  /** Only columns of these purposes (default: all). */
  readonly purposes?: readonly EncryptedColumn['purpose'][];
}

export interface ColumnReencryption {
  readonly table: string;
  readonly column: string;
  readonly purpose: EncryptedColumn['purpose'];
  /** The version ciphertexts were moved to. */
  readonly version: number;
  readonly rewritten: number;
  readonly batches: number;
}

export const REENCRYPT_BATCH_SIZE_DEFAULT = 500;
const REENCRYPT_BATCH_SIZE_MAX = 10_000;

/**
 * Moves every registered column's ciphertexts to its purpose's active version, walking rows in id order in small
 * batches, each in its own transaction: rows are locked (FOR UPDATE) only while their batch is rewritten, so a
 * concurrent writer waits milliseconds and never loses its update. It can stop and be run again at any time;
 * rows already under the active version are skipped by comparing the 6-byte header in SQL.
 * Returns what it did per column, for the caller's audit entry.
 */
export async function reencrypt(
  db: Database,
  keyring: Keyring,
  registry: EncryptedColumnRegistry,
  options: ReencryptOptions = {},
): Promise<ColumnReencryption[]> {
  const batchSize = options.batchSize ?? REENCRYPT_BATCH_SIZE_DEFAULT;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > REENCRYPT_BATCH_SIZE_MAX) {
    throw new RangeError(`batchSize must be from 1 to ${REENCRYPT_BATCH_SIZE_MAX}`);
  }
  const results: ColumnReencryption[] = [];
  for (const column of registry.list()) {
    if (options.purposes !== undefined && !options.purposes.includes(column.purpose)) continue;
    results.push(await reencryptColumn(db, keyring, column, batchSize));
  }
  return results;
}

async function reencryptColumn(
  db: Database,
  keyring: Keyring,
  column: EncryptedColumn,
  batchSize: number,
): Promise<ColumnReencryption> {
  const sql = columnSql(column);
  const select = `SELECT ${sql.id}::text AS id, ${sql.value} AS ciphertext FROM ${sql.table}
    WHERE ${sql.value} IS NOT NULL
      AND substring(${sql.value} FROM 1 FOR ${HEADER_BYTES}) <> $1
      AND ($2::text IS NULL OR ${sql.id} COLLATE "C" > $2::text)
    ORDER BY ${sql.id} COLLATE "C"
    LIMIT $3
    FOR UPDATE`;
  const update = `UPDATE ${sql.table} AS t SET ${sql.value} = decode(u.ciphertext, 'hex')
    FROM unnest($1::text[], $2::text[]) AS u(id, ciphertext)
    WHERE t.${sql.id} = u.id`;
  let after: string | null = null;
  let rewritten = 0;
  let batches = 0;
  // Reload before starting, so a rotation made by another process is the target; inside the transactions the
  // keyring must not query (decryptLoaded), and any version a row names was loaded here or is retired.
  await keyring.refresh();
  const version = keyring.activeVersion(column.purpose);
  const header = keyring.activeHeader(column.purpose);
  for (;;) {
    const batch = await db.transaction(async (tx) => {
      const rows = await tx.query<{ id: string; ciphertext: Uint8Array }>(select, [header, after, batchSize]);
      const ids: string[] = [];
      const ciphertexts: string[] = [];
      for (const row of rows.rows) {
        const aad = column.aad?.(row.id);
        const plaintext = keyring.decryptLoaded(row.ciphertext, aad);
        try {
          ids.push(row.id);
          ciphertexts.push(keyring.encrypt(column.purpose, plaintext, aad).toString('hex'));
        } finally {
          plaintext.fill(0);
        }
      }
      if (ids.length > 0) await tx.query(update, [ids, ciphertexts]);
      return { count: ids.length, last: ids.at(-1) };
    });
    if (batch.last === undefined) break;
    // Ids strictly increase (byte order, as COLLATE "C" sorts and as JavaScript compares ASCII), so the walk ends:
    // each batch starts after the last row of the one before., so the walk ends: each batch starts after the last row of the one before.
    if (after !== null && batch.last <= after) throw new Error('re-encryption cursor did not advance');
    after = batch.last;
    rewritten += batch.count;
    batches += 1;
    if (batch.count < batchSize) break;
  }
  return { table: column.table, column: column.column, purpose: column.purpose, version, rewritten, batches };
}
