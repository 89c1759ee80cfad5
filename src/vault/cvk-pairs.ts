import type { Clock } from '../platform/clock.js';
import type { Queryable, Transaction } from '../platform/db/database.js';
import { invalidRequest } from '../platform/errors.js';
import type { IdGenerator } from '../platform/ids.js';
import { cvkPairAad } from './encrypted-columns.js';
import { cvkCheckValue, generateCvkPair, type CvkPair } from './cvv.js';
import type { Keyring } from './keyring.js';
import { Secret } from './secret.js';

/** What may be said about a programme's CVK pair: everything but the keys. */
export interface CvkPairInfo {
  readonly id: string;
  readonly programId: string;
  readonly checkValue: string;
  readonly createdAt: Date;
}

export type StoredCvkPair = CvkPairInfo & CvkPair;

/**
 * Stores a programme's CVK pair, encrypted under the `cvk` data key and bound to its row: the given pair (a
 * sandbox's fixed `LANTAU_SANDBOX_CVK`, or one exchanged with a network) or a new random one. One pair per
 * programme; a second is refused. Returns what the caller's audit entry needs, never the keys.
 */
export async function createCvkPair(
  tx: Transaction,
  vault: Keyring,
  programId: string,
  ids: IdGenerator,
  clock: Clock,
  given?: CvkPair,
): Promise<CvkPairInfo> {
  const pair = given ?? generateCvkPair();
  const id = ids('cvk');
  const plaintext = Buffer.concat([pair.cvkA.expose(), pair.cvkB.expose()]);
  let encrypted: Buffer;
  try {
    encrypted = vault.encrypt('cvk', plaintext, cvkPairAad(id));
  } finally {
    plaintext.fill(0);
  }
  const info: CvkPairInfo = { id, programId, checkValue: cvkCheckValue(pair), createdAt: clock.now() };
  const inserted = await tx.query(
    `INSERT INTO vault_cvk_pairs (id, program_id, cvk_encrypted, check_value, created_at)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (program_id) DO NOTHING`,
    [info.id, info.programId, encrypted, info.checkValue, info.createdAt],
  );
  if (inserted.rowCount !== 1) {
    throw invalidRequest('cvk_pair_exists', `programme ${programId} already has a CVK pair`, 'program_id');
  }
  return info;
}

/** The programme's CVK pair, decrypted, or undefined when it has none. */
export async function loadCvkPair(
  db: Queryable,
  vault: Keyring,
  programId: string,
): Promise<StoredCvkPair | undefined> {
  const result = await db.query<{
    id: string;
    program_id: string;
    cvk_encrypted: Uint8Array;
    check_value: string;
    created_at: Date;
  }>(
    'SELECT id, program_id, cvk_encrypted, check_value, created_at FROM vault_cvk_pairs WHERE program_id = $1',
    [programId],
  );
  const row = result.rows[0];
  if (row === undefined) return undefined;
  const plaintext = await vault.decrypt(row.cvk_encrypted, cvkPairAad(row.id));
  try {
    return {
      id: row.id,
      programId: row.program_id,
      checkValue: row.check_value,
      createdAt: row.created_at,
      cvkA: new Secret(Buffer.from(plaintext.subarray(0, 8))),
      cvkB: new Secret(Buffer.from(plaintext.subarray(8, 16))),
    };
  } finally {
    plaintext.fill(0);
  }
}
