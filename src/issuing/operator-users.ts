import { randomBytes } from 'node:crypto';
import type { Queryable, Transaction } from '../platform/db/database.js';
import { UNIQUE_VIOLATION, sqlState } from '../platform/db/database.js';
import { LantauError, notFound } from '../platform/errors.js';
import { hashSecret } from '../platform/http/auth.js';
import { appendAudit } from '../records/audit.js';
import type { Actor, IssuingContext } from './programs.js';
import type { OperatorRole } from './roles.js';

/** Named people who run the platform, each with a role and a secret of their own, so the audit log names a person. */
export interface OperatorUser {
  readonly id: string;
  readonly object: 'operator_user';
  readonly name: string;
  readonly email: string;
  readonly role: OperatorRole;
  readonly created: string;
  readonly disabled: string | null;
}

interface OperatorUserRow {
  id: string;
  name: string;
  email: string;
  role: OperatorRole;
  created_at: Date;
  disabled_at: Date | null;
}

export const OPERATOR_USER_COLUMNS = 'id, name, email, role, created_at, disabled_at';
export const OPERATOR_USER_KEY_PREFIX = 'lantau_opu_';

export function operatorUserFromRow(row: OperatorUserRow): OperatorUser {
  return {
    id: row.id,
    object: 'operator_user',
    name: row.name,
    email: row.email,
    role: row.role,
    created: row.created_at.toISOString(),
    disabled: row.disabled_at?.toISOString() ?? null,
  };
}

async function issueSecret(
  tx: Transaction,
  context: Pick<IssuingContext, 'clock' | 'ids'>,
  userId: string,
  by: Actor,
): Promise<string> {
  const secret = `${OPERATOR_USER_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  await tx.query(
    `INSERT INTO api_keys (id, kind, operator_user_id, key_hash, last4, created_at, created_by)
     VALUES ($1, 'operator_user', $2, $3, $4, $5, $6)`,
    [context.ids('key'), userId, hashSecret(secret), secret.slice(-4), context.clock.now(), by.actor.id],
  );
  return secret;
}

export async function createOperatorUser(
  tx: Transaction,
  context: Pick<IssuingContext, 'clock' | 'ids'>,
  input: { readonly name: string; readonly email: string; readonly role: OperatorRole },
  by: Actor,
): Promise<{ readonly user: OperatorUser; readonly secret: string }> {
  const id = context.ids('opu');
  let row: OperatorUserRow | undefined;
  try {
    const inserted = await tx.query<OperatorUserRow>(
      `INSERT INTO operator_users (id, name, email, role, created_at) VALUES ($1, $2, $3, $4, $5)
       RETURNING ${OPERATOR_USER_COLUMNS}`,
      [id, input.name, input.email.toLowerCase(), input.role, context.clock.now()],
    );
    row = inserted.rows[0];
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) {
      throw new LantauError('email_taken', 'An operator user with this email already exists', {
        param: 'email',
        status: 409,
      });
    }
    throw error;
  }
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const secret = await issueSecret(tx, context, id, by);
  await appendAudit(tx, context, {
    ...by,
    action: 'operator_user.created',
    target: { type: 'operator_user', id },
    details: { role: input.role },
  });
  return { user: operatorUserFromRow(row), secret };
}

/** A new secret for the user; every earlier one stops working at once. */
export async function rollOperatorUserKey(
  tx: Transaction,
  context: Pick<IssuingContext, 'clock' | 'ids'>,
  userId: string,
  by: Actor,
): Promise<{ readonly user: OperatorUser; readonly secret: string }> {
  const user = await getOperatorUser(tx, userId);
  if (user.disabled !== null) {
    throw new LantauError('operator_user_disabled', 'A disabled operator user gets no new key', {
      status: 409,
    });
  }
  await tx.query(`UPDATE api_keys SET revoked_at = $2 WHERE operator_user_id = $1 AND revoked_at IS NULL`, [
    userId,
    context.clock.now(),
  ]);
  const secret = await issueSecret(tx, context, userId, by);
  await appendAudit(tx, context, {
    ...by,
    action: 'operator_user.key_rolled',
    target: { type: 'operator_user', id: userId },
  });
  return { user, secret };
}

export async function disableOperatorUser(
  tx: Transaction,
  context: Pick<IssuingContext, 'clock' | 'ids'>,
  userId: string,
  by: Actor,
): Promise<OperatorUser> {
  const now = context.clock.now();
  const updated = await tx.query<OperatorUserRow>(
    `UPDATE operator_users SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL RETURNING ${OPERATOR_USER_COLUMNS}`,
    [userId, now],
  );
  const row = updated.rows[0];
  if (row === undefined) return getOperatorUser(tx, userId);
  await tx.query(`UPDATE api_keys SET revoked_at = $2 WHERE operator_user_id = $1 AND revoked_at IS NULL`, [
    userId,
    now,
  ]);
  await appendAudit(tx, context, {
    ...by,
    action: 'operator_user.disabled',
    target: { type: 'operator_user', id: userId },
  });
  return operatorUserFromRow(row);
}

export async function getOperatorUser(db: Queryable, id: string): Promise<OperatorUser> {
  const found = await db.query<OperatorUserRow>(
    `SELECT ${OPERATOR_USER_COLUMNS} FROM operator_users WHERE id = $1`,
    [id],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('operator_user', id);
  return operatorUserFromRow(row);
}
