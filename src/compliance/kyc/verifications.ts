import type { Queryable, Transaction } from '../../platform/db/database.js';
import { UNIQUE_VIOLATION, sqlState } from '../../platform/db/database.js';
import { invalidRequest, notFound } from '../../platform/errors.js';
import { appendAudit, type AuditActor } from '../../records/audit.js';
import { emitEvent, type RecordsContext } from '../../records/outbox.js';
import type { ProviderAnswer } from './providers.js';
import { isOpen, type VerificationStatus } from './status.js';

/**
 * The verifications table (`kyc_…`): one row per verification, its provider's latest answer, and when it closed.
 * What moves the cardholder's `kyc_status` with it is issuing/kyc.ts, which holds the cardholder's row lock.
 */
export const VERIFICATION_ID_PREFIX = 'kyc';

export interface KycVerification {
  readonly id: string;
  readonly object: 'kyc_verification';
  readonly program_id: string;
  readonly cardholder_id: string;
  readonly provider: string;
  readonly provider_reference: string | null;
  readonly status: VerificationStatus;
  readonly reasons: string[];
  readonly created: string;
  readonly updated: string;
  /** When it was verified or rejected; null while open. */
  readonly completed: string | null;
}

export interface VerificationRow {
  id: string;
  program_id: string;
  cardholder_id: string;
  provider: string;
  provider_reference: string | null;
  status: VerificationStatus;
  reasons: string[];
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

export const VERIFICATION_COLUMNS =
  'id, program_id, cardholder_id, provider, provider_reference, status, reasons, created_at, updated_at, completed_at';

export function verificationFromRow(row: VerificationRow): KycVerification {
  return {
    id: row.id,
    object: 'kyc_verification',
    program_id: row.program_id,
    cardholder_id: row.cardholder_id,
    provider: row.provider,
    provider_reference: row.provider_reference,
    status: row.status,
    reasons: row.reasons,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
    completed: row.completed_at?.toISOString() ?? null,
  };
}

interface By {
  readonly actor: AuditActor;
  readonly requestId?: string;
}

/** The cardholder's open verification (pending or documents_required), if any. */
export async function openVerificationOf(db: Queryable, cardholderId: string): Promise<string | undefined> {
  const found = await db.query<{ id: string }>(
    `SELECT id FROM kyc_verifications WHERE cardholder_id = $1 AND status IN ('pending', 'documents_required')`,
    [cardholderId],
  );
  return found.rows[0]?.id;
}

/**
 * Records a verification as its provider first answered, with its event and audit entry, in the caller's
 * transaction (which holds the cardholder's row lock and has checked that the cardholder may start one).
 */
export async function insertVerification(
  tx: Transaction,
  context: RecordsContext,
  input: {
    readonly programId: string;
    readonly cardholderId: string;
    readonly provider: string;
    readonly answer: ProviderAnswer;
  },
  by: By,
): Promise<KycVerification> {
  const now = context.clock.now();
  const id = context.ids(VERIFICATION_ID_PREFIX);
  const { answer } = input;
  let inserted;
  try {
    inserted = await tx.query<VerificationRow>(
      `INSERT INTO kyc_verifications (id, program_id, cardholder_id, provider, provider_reference, status, reasons,
         created_at, updated_at, completed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $8, $9)
       RETURNING ${VERIFICATION_COLUMNS}`,
      [
        id,
        input.programId,
        input.cardholderId,
        input.provider,
        answer.reference,
        answer.outcome,
        [...answer.reasons],
        now,
        isOpen(answer.outcome) ? null : now,
      ],
    );
  } catch (error) {
    // The caller checked under the cardholder's lock that none is open, so only a provider reusing a reference
    // gets here.
    if (sqlState(error) === UNIQUE_VIOLATION) {
      throw invalidRequest(
        'provider_reference_exists',
        `The ${input.provider} provider answered a reference another verification already has`,
      );
    }
    throw error;
  }
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const verification = verificationFromRow(row);
  await emitEvent(tx, context, {
    type: 'kyc_verification.created',
    programId: input.programId,
    object: verification,
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'kyc_verification.created',
    programId: input.programId,
    target: { type: 'kyc_verification', id },
    details: { cardholder: input.cardholderId, provider: input.provider, status: verification.status },
  });
  return verification;
}

/** Which verification an outcome is for: by id (as the caller may see it), or by the provider's reference. */
export type VerificationTarget =
  | {
      readonly id: string;
      /** The cardholder the path names: a verification of anyone else is a 404. */
      readonly cardholderId?: string;
      readonly programScope: string | undefined;
    }
  | { readonly provider: string; readonly reference: string };

/** The verification's cardholder, read without a lock: the caller locks the cardholder, then the verification. */
export async function verificationOwner(
  db: Queryable,
  target: VerificationTarget,
): Promise<{ id: string; cardholder_id: string } | undefined> {
  const found =
    'id' in target
      ? await db.query<{ id: string; cardholder_id: string }>(
          `SELECT id, cardholder_id FROM kyc_verifications
           WHERE id = $1 AND ($2::text IS NULL OR cardholder_id = $2) AND ($3::text IS NULL OR program_id = $3)`,
          [target.id, target.cardholderId ?? null, target.programScope ?? null],
        )
      : await db.query<{ id: string; cardholder_id: string }>(
          'SELECT id, cardholder_id FROM kyc_verifications WHERE provider = $1 AND provider_reference = $2',
          [target.provider, target.reference],
        );
  return found.rows[0];
}

export async function lockVerification(tx: Transaction, id: string): Promise<VerificationRow> {
  const found = await tx.query<VerificationRow>(
    `SELECT ${VERIFICATION_COLUMNS} FROM kyc_verifications WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('verification', id);
  return row;
}

/** Moves a verification to its provider's new answer (the caller checked the move), with its event and audit entry. */
export async function updateVerification(
  tx: Transaction,
  context: RecordsContext,
  current: VerificationRow,
  outcome: { readonly status: VerificationStatus; readonly reasons: readonly string[] },
  by: By,
): Promise<KycVerification> {
  const now = context.clock.now();
  const updated = await tx.query<VerificationRow>(
    `UPDATE kyc_verifications SET status = $2, reasons = $3::text[], updated_at = $4, completed_at = $5
     WHERE id = $1
     RETURNING ${VERIFICATION_COLUMNS}`,
    [current.id, outcome.status, [...outcome.reasons], now, isOpen(outcome.status) ? null : now],
  );
  const row = updated.rows[0];
  if (row === undefined) throw new Error('UPDATE … RETURNING returned no row');
  const verification = verificationFromRow(row);
  await emitEvent(tx, context, {
    type: 'kyc_verification.updated',
    programId: row.program_id,
    object: verification,
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'kyc_verification.updated',
    programId: row.program_id,
    target: { type: 'kyc_verification', id: row.id },
    details: { cardholder: row.cardholder_id, from: current.status, to: row.status },
  });
  return verification;
}

export async function getVerification(
  db: Queryable,
  id: string,
  cardholderId: string,
  programScope: string | undefined,
): Promise<KycVerification> {
  const found = await db.query<VerificationRow>(
    `SELECT ${VERIFICATION_COLUMNS} FROM kyc_verifications
     WHERE id = $1 AND cardholder_id = $2 AND ($3::text IS NULL OR program_id = $3)`,
    [id, cardholderId, programScope ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('verification', id);
  return verificationFromRow(row);
}
