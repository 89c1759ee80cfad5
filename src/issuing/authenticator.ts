import { timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../platform/db/database.js';
import { GroupCommit, type Settled } from '../platform/db/group-commit.js';
import { hashSecret, type Authenticator, type Principal } from '../platform/http/auth.js';
import { ROLE_SCOPES, ROOT_SCOPES, isOperatorRole } from './roles.js';

export const ENV_OPERATOR_KEY_ID = 'operator_env';

interface KeyRow {
  id: string;
  kind: 'operator' | 'operator_user' | 'program';
  program_id: string | null;
  mode: 'sandbox' | 'live' | null;
  scopes: string[];
  operator_user_id: string | null;
  role: string | null;
  user_disabled: boolean | null;
  program_status: string | null;
}

/**
 * Every bearer secret is found by its SHA-256 (keys are 256 random bits, so a fast hash suffices and the secret
 * is never stored). LANTAU_OPERATOR_KEY, when set, is compared in constant time and supersedes any generated root
 * key. A revoked key, a disabled operator user and a suspended programme's keys authenticate nobody.
 */
export function apiKeyAuthenticator(db: Queryable, configuredOperatorKey: string | undefined): Authenticator {
  const configuredHash = configuredOperatorKey === undefined ? undefined : hashSecret(configuredOperatorKey);
  // Requests arriving together are looked up together: one statement for all the keys presented in one turn of the
  // event loop (under load, many requests carry the same programme key). Always read fresh, so a revoked key stops
  // working at once in every process.
  const lookups = new GroupCommit<Buffer, KeyRow | undefined>(
    async (hashes) => {
      const found = await db.query<KeyRow & { key_hash: Uint8Array }>(
        `SELECT k.key_hash, k.id, k.kind, k.program_id, k.mode, k.scopes, k.operator_user_id, u.role,
                u.disabled_at IS NOT NULL AS user_disabled, p.status AS program_status
         FROM api_keys k
         LEFT JOIN operator_users u ON u.id = k.operator_user_id
         LEFT JOIN programs p ON p.id = k.program_id
         WHERE k.key_hash = ANY($1::bytea[]) AND k.revoked_at IS NULL`,
        [[...new Map(hashes.map((hash) => [hash.toString('hex'), hash])).values()]],
      );
      const byHash = new Map(found.rows.map((row) => [Buffer.from(row.key_hash).toString('hex'), row]));
      return hashes.map((hash): Settled<KeyRow | undefined> => ({
        ok: true,
        value: byHash.get(hash.toString('hex')),
      }));
    },
    { batchMax: 256, inFlightMax: 4, queuedMax: 16_384 },
  );
  return {
    async authenticate(secret): Promise<Principal | undefined> {
      const presented = hashSecret(secret);
      if (configuredHash !== undefined && timingSafeEqual(presented, configuredHash)) {
        return { kind: 'operator', keyId: ENV_OPERATOR_KEY_ID, userId: null, scopes: ROOT_SCOPES };
      }
      const row = await lookups.submit(presented);
      if (row === undefined) return undefined;
      switch (row.kind) {
        case 'operator':
          return configuredHash === undefined
            ? { kind: 'operator', keyId: row.id, userId: null, scopes: ROOT_SCOPES }
            : undefined;
        case 'operator_user':
          if (row.user_disabled !== false || row.role === null || !isOperatorRole(row.role)) return undefined;
          return {
            kind: 'operator',
            keyId: row.id,
            userId: row.operator_user_id,
            scopes: ROLE_SCOPES[row.role],
          };
        case 'program':
          if (row.program_id === null || row.mode === null || row.program_status !== 'active')
            return undefined;
          return {
            kind: 'program',
            keyId: row.id,
            programId: row.program_id,
            mode: row.mode,
            scopes: new Set(row.scopes),
          };
      }
    },
  };
}
