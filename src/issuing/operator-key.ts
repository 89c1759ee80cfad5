import { randomBytes } from 'node:crypto';
import type { Database } from '../platform/db/database.js';
import { hashSecret } from '../platform/http/auth.js';
import { appendAudit } from '../records/audit.js';
import type { RecordsContext } from '../records/outbox.js';

export const OPERATOR_KEY_PREFIX = 'lantau_op_';

export function generateOperatorKey(): string {
  return `${OPERATOR_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/**
 * The platform operator's key. When LANTAU_OPERATOR_KEY is set, it alone is the key and any generated one is
 * revoked. When it is not, a key is generated on first start, stored only as its hash, and returned so the caller
 * can print it that one time.
 */
export async function ensureOperatorKey(
  db: Database,
  context: RecordsContext,
  configured: string | undefined,
): Promise<{ readonly generated: string | undefined }> {
  return db.transaction(async (tx) => {
    if (configured !== undefined) {
      const revoked = await tx.query<{ id: string }>(
        `UPDATE api_keys SET revoked_at = $1 WHERE kind = 'operator' AND revoked_at IS NULL RETURNING id`,
        [context.clock.now()],
      );
      for (const { id } of revoked.rows) {
        await appendAudit(tx, context, {
          actor: { type: 'system', id: 'startup' },
          action: 'operator_key.revoked',
          target: { type: 'api_key', id },
          details: { reason: 'LANTAU_OPERATOR_KEY is set' },
        });
      }
      return { generated: undefined };
    }
    const active = await tx.query(
      `SELECT 1 FROM api_keys WHERE kind = 'operator' AND revoked_at IS NULL LIMIT 1`,
    );
    if (active.rows.length > 0) return { generated: undefined };
    const secret = generateOperatorKey();
    const id = context.ids('key');
    await tx.query(
      `INSERT INTO api_keys (id, kind, program_id, key_hash, last4, created_at) VALUES ($1, 'operator', NULL, $2, $3, $4)`,
      [id, hashSecret(secret), secret.slice(-4), context.clock.now()],
    );
    await appendAudit(tx, context, {
      actor: { type: 'system', id: 'startup' },
      action: 'operator_key.created',
      target: { type: 'api_key', id },
    });
    return { generated: secret };
  });
}
