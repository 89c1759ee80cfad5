import type { Queryable, Transaction } from '../platform/db/database.js';
import type { KeyPurpose } from './purposes.js';

/**
 * The `vault_data_keys` table. A version is `active` (new encryptions use it; one per purpose), `decrypt_only`
 * (rotated out; old ciphertexts still open) or `retired` (no ciphertext uses it; no process unwraps it).
 */
export type DataKeyState = 'active' | 'decrypt_only' | 'retired';

/** What may be said about a data key: everything but its material. */
export interface DataKeyInfo {
  readonly id: string;
  readonly purpose: KeyPurpose;
  readonly version: number;
  readonly state: DataKeyState;
  readonly kekId: string;
  readonly createdAt: Date;
  readonly deactivatedAt: Date | null;
  readonly retiredAt: Date | null;
}

export interface DataKeyRecord extends DataKeyInfo {
  readonly wrappedKey: Buffer;
}

interface DataKeyRow {
  id: string;
  purpose: KeyPurpose;
  version: number;
  state: DataKeyState;
  kek_id: string;
  wrapped_key: Uint8Array;
  created_at: Date;
  deactivated_at: Date | null;
  retired_at: Date | null;
}

const COLUMNS = 'id, purpose, version, state, kek_id, wrapped_key, created_at, deactivated_at, retired_at';

function recordFromRow(row: DataKeyRow): DataKeyRecord {
  return {
    id: row.id,
    purpose: row.purpose,
    version: row.version,
    state: row.state,
    kekId: row.kek_id,
    wrappedKey: Buffer.from(row.wrapped_key),
    createdAt: row.created_at,
    deactivatedAt: row.deactivated_at,
    retiredAt: row.retired_at,
  };
}

/** Every change to the set of data keys takes this lock, so two processes never both create or rotate. */
const DATA_KEYS_LOCK_KEY = 0x5641554c54; // "VAULT"

export async function lockDataKeys(tx: Transaction): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [DATA_KEYS_LOCK_KEY]);
}

export async function loadDataKeys(db: Queryable): Promise<DataKeyRecord[]> {
  const result = await db.query<DataKeyRow>(
    `SELECT ${COLUMNS} FROM vault_data_keys ORDER BY purpose, version`,
  );
  return result.rows.map(recordFromRow);
}

export async function findDataKey(
  tx: Transaction,
  purpose: KeyPurpose,
  version: number,
): Promise<DataKeyRecord | undefined> {
  const result = await tx.query<DataKeyRow>(
    `SELECT ${COLUMNS} FROM vault_data_keys WHERE purpose = $1 AND version = $2 FOR UPDATE`,
    [purpose, version],
  );
  const row = result.rows[0];
  return row === undefined ? undefined : recordFromRow(row);
}

export async function latestDataKey(
  tx: Transaction,
  purpose: KeyPurpose,
): Promise<DataKeyRecord | undefined> {
  const result = await tx.query<DataKeyRow>(
    `SELECT ${COLUMNS} FROM vault_data_keys WHERE purpose = $1 ORDER BY version DESC LIMIT 1 FOR UPDATE`,
    [purpose],
  );
  const row = result.rows[0];
  return row === undefined ? undefined : recordFromRow(row);
}

export async function insertDataKey(
  tx: Transaction,
  key: Omit<DataKeyRecord, 'state' | 'deactivatedAt' | 'retiredAt'>,
): Promise<void> {
  await tx.query(
    `INSERT INTO vault_data_keys (id, purpose, version, state, kek_id, wrapped_key, created_at)
     VALUES ($1, $2, $3, 'active', $4, $5, $6)`,
    [key.id, key.purpose, key.version, key.kekId, key.wrappedKey, key.createdAt],
  );
}

export async function deactivateDataKey(tx: Transaction, id: string, at: Date): Promise<void> {
  const result = await tx.query(
    `UPDATE vault_data_keys SET state = 'decrypt_only', deactivated_at = $2 WHERE id = $1 AND state = 'active'`,
    [id, at],
  );
  if (result.rowCount !== 1) throw new Error(`data key ${id} was not active`);
}

export async function markDataKeyRetired(tx: Transaction, id: string, at: Date): Promise<void> {
  const result = await tx.query(
    `UPDATE vault_data_keys SET state = 'retired', retired_at = $2 WHERE id = $1 AND state = 'decrypt_only'`,
    [id, at],
  );
  if (result.rowCount !== 1) throw new Error(`data key ${id} was not decrypt_only`);
}
