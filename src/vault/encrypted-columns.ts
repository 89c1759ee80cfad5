import type { Queryable } from '../platform/db/database.js';
import { HEADER_BYTES, type AssociatedData } from './ciphertext.js';
import type { EncryptionPurpose } from './purposes.js';

/**
 * Where ciphertexts live. Parts that store encrypted data (issuing's PANs and cardholder data, delivery's webhook
 * secrets) describe their columns here, and the composition root registers them; re-encryption walks the
 * registered columns, and a key version cannot be retired while any of them still holds a ciphertext under it.
 * A column missing from the registry is the one way to lose data at retirement: register every one.
 */
export interface EncryptedColumn {
  readonly table: string;
  /** A text primary key (Lantau's prefixed ids): re-encryption walks rows in its order. */
  readonly idColumn: string;
  /** A bytea column of ciphertexts from `Keyring.encrypt`; NULLs are skipped. */
  readonly column: string;
  readonly purpose: EncryptionPurpose;
  /** The associated data each row's ciphertext was written with, from the row's id; none when absent. */
  readonly aad?: (id: string) => AssociatedData;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Binds a ciphertext to its table, column and row, so it cannot be copied into another row and still open. */
export function bindToRow(table: string, column: string): (id: string) => string {
  return (id) => `${table}.${column}:${id}`;
}

/** The associated data of a programme's CVK pair: its row. */
export const cvkPairAad = bindToRow('vault_cvk_pairs', 'cvk_encrypted');

/** The vault's own ciphertexts: programmes' CVK pairs. Every registry starts with it. */
export const CVK_PAIRS_COLUMN: EncryptedColumn = {
  table: 'vault_cvk_pairs',
  idColumn: 'id',
  column: 'cvk_encrypted',
  purpose: 'cvk',
  aad: cvkPairAad,
};

export class EncryptedColumnRegistry {
  private readonly columns = new Map<string, EncryptedColumn>();

  constructor(columns: readonly EncryptedColumn[] = []) {
    this.register(CVK_PAIRS_COLUMN);
    for (const column of columns) this.register(column);
  }

  register(column: EncryptedColumn): void {
    for (const name of [column.table, column.idColumn, column.column]) {
      if (!IDENTIFIER.test(name)) {
        throw new RangeError(`${JSON.stringify(name)} is not a plain lower-case SQL identifier`);
      }
    }
    const key = `${column.table}.${column.column}`;
    if (this.columns.has(key)) throw new RangeError(`${key} is already registered`);
    this.columns.set(key, column);
  }

  list(): readonly EncryptedColumn[] {
    return [...this.columns.values()];
  }
}

/** Identifiers were checked against IDENTIFIER at registration; quoting keeps reserved words safe too. */
export function columnSql(column: EncryptedColumn): { table: string; id: string; value: string } {
  return { table: `"${column.table}"`, id: `"${column.idColumn}"`, value: `"${column.column}"` };
}

/**
 * The id of one row whose ciphertext names the key version with this header, or undefined. A full scan: it runs
 * only when a version is retired.
 */
export async function findRowUnderKey(
  db: Queryable,
  column: EncryptedColumn,
  header: Buffer,
): Promise<string | undefined> {
  const sql = columnSql(column);
  const result = await db.query<{ id: string }>(
    `SELECT ${sql.id}::text AS id FROM ${sql.table}
     WHERE ${sql.value} IS NOT NULL AND substring(${sql.value} FROM 1 FOR ${HEADER_BYTES}) = $1
     LIMIT 1`,
    [header],
  );
  return result.rows[0]?.id;
}
