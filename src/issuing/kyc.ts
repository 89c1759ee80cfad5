import type { Transaction } from '../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../platform/errors.js';
import { appendAudit } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import {
  BUILT_IN_PROVIDERS,
  REASON_PATTERN,
  REASONS_MAX,
  assertAnswer,
  defaultProviderName,
  type ProviderAnswer,
  type VerificationProviders,
  type VerificationSubject,
} from '../compliance/kyc/providers.js';
import {
  kycMoveAllowed,
  outcomeMove,
  startRefusal,
  type KycStatus,
  type VerificationStatus,
} from '../compliance/kyc/status.js';
import {
  insertVerification,
  lockVerification,
  openVerificationOf,
  updateVerification,
  verificationFromRow,
  verificationOwner,
  type KycVerification,
  type VerificationTarget,
} from '../compliance/kyc/verifications.js';
import {
  CARDHOLDER_SUMMARY_COLUMNS,
  cardholderSummaryFromRow,
  getCardholder,
  type Cardholder,
  type CardholderRow,
} from './cardholders.js';
import { getProgram, type Actor, type IssuingContext } from './programs.js';

/**
 * KYC on a cardholder: a verification started with a provider (compliance/kyc/providers.ts) and its later outcomes,
 * each moving the cardholder's `kyc_status` (compliance/kyc/status.ts) in the same transaction as the verification's
 * row, with `cardholder.kyc_updated` and an audit entry. The cardholder's row is locked first, as every writer on
 * the cardholder's money does, so a status change and a load or an authorization never interleave.
 */

export interface VerificationRequest {
  /** `sandbox` or `manual` (built in); default the sandbox in a sandbox programme, manual review in a live one. */
  readonly provider?: string;
  /** Sandbox only: the outcome to answer with. */
  readonly test_outcome?: VerificationStatus;
}

/** A provider's first answer, asked before the transaction that records it. */
export interface PreparedVerification {
  readonly cardholderId: string;
  readonly provider: string;
  readonly answer: ProviderAnswer;
}

function subjectOf(cardholder: Cardholder): VerificationSubject {
  return {
    cardholderId: cardholder.id,
    programId: cardholder.program_id,
    name: cardholder.name,
    email: cardholder.email,
    phoneNumber: cardholder.phone_number,
    dateOfBirth: cardholder.date_of_birth,
    nationality: cardholder.nationality,
    address: cardholder.address,
  };
}

/**
 * Asks the provider to start a verification of the cardholder, outside any transaction (a vendor's answer may take
 * seconds, and no lock should wait on it). A cardholder who may not start one is refused before the provider is
 * asked; `recordVerification` checks again under the lock.
 */
export async function prepareVerification(
  context: IssuingContext,
  cardholderId: string,
  programScope: string | undefined,
  request: VerificationRequest,
  providers: VerificationProviders = BUILT_IN_PROVIDERS,
): Promise<PreparedVerification> {
  const cardholder = await getCardholder(context.db, context.vault, cardholderId, programScope);
  const program = await getProgram(context.db, cardholder.program_id);
  const name = request.provider ?? defaultProviderName(program.mode);
  const provider = providers.get(name);
  if (provider === undefined) {
    throw invalidRequest(
      'provider_unknown',
      `No verification provider is called ${name}; there are ${[...providers.keys()].join(', ')}`,
      'provider',
    );
  }
  if (!provider.modes.includes(program.mode)) {
    throw invalidRequest(
      'provider_unavailable',
      `The ${name} provider is for ${provider.modes.join(' and ')} programmes; this programme is ${program.mode}`,
      'provider',
    );
  }
  if (request.test_outcome !== undefined && !provider.testOutcomes) {
    throw invalidRequest(
      'test_outcome_unavailable',
      `test_outcome is for the sandbox provider; the ${name} provider decides for itself`,
      'test_outcome',
    );
  }
  const refusal = startRefusal(cardholder.kyc_status, await openVerificationOf(context.db, cardholder.id));
  if (refusal !== undefined) throw refusal;
  const answer = await provider.start(
    subjectOf(cardholder),
    request.test_outcome === undefined ? {} : { testOutcome: request.test_outcome },
  );
  assertAnswer(name, answer);
  return { cardholderId: cardholder.id, provider: name, answer };
}

type KycHolderRow = Omit<CardholderRow, 'pii_encrypted'>;

async function lockKycHolder(
  tx: Transaction,
  id: string,
  programScope: string | undefined,
): Promise<KycHolderRow> {
  const found = await tx.query<KycHolderRow>(
    `SELECT ${CARDHOLDER_SUMMARY_COLUMNS} FROM cardholders
     WHERE id = $1 AND ($2::text IS NULL OR program_id = $2) FOR UPDATE`,
    [id, programScope ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('cardholder', id);
  return row;
}

/** Moves the cardholder's status to their latest verification's, if it differs, with its event and audit entry. */
async function moveKycStatus(
  tx: Transaction,
  context: IssuingContext,
  holder: KycHolderRow,
  next: KycStatus,
  verificationId: string,
  by: Actor,
): Promise<void> {
  if (holder.kyc_status === next) return;
  // The verification's own machine and the start rule allow only moves the cardholder's machine allows.
  if (!kycMoveAllowed(holder.kyc_status, next)) {
    throw new Error(`kyc_status may not move from ${holder.kyc_status} to ${next}`);
  }
  const updated = await tx.query<KycHolderRow>(
    `UPDATE cardholders SET kyc_status = $2, updated_at = $3 WHERE id = $1 RETURNING ${CARDHOLDER_SUMMARY_COLUMNS}`,
    [holder.id, next, context.clock.now()],
  );
  const row = updated.rows[0];
  if (row === undefined) throw new Error('UPDATE … RETURNING returned no row');
  await emitEvent(tx, context, {
    type: 'cardholder.kyc_updated',
    programId: row.program_id,
    object: cardholderSummaryFromRow(row),
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'cardholder.kyc_updated',
    programId: row.program_id,
    target: { type: 'cardholder', id: row.id },
    details: { from: holder.kyc_status, to: next, verification: verificationId },
  });
}

/**
 * Records the provider's first answer as a verification and moves the cardholder's status to it, in the caller's
 * transaction, after checking under the cardholder's lock that they may still start one.
 */
export async function recordVerification(
  tx: Transaction,
  context: IssuingContext,
  prepared: PreparedVerification,
  programScope: string | undefined,
  by: Actor,
): Promise<KycVerification> {
  const holder = await lockKycHolder(tx, prepared.cardholderId, programScope);
  const refusal = startRefusal(holder.kyc_status, await openVerificationOf(tx, holder.id));
  if (refusal !== undefined) throw refusal;
  const verification = await insertVerification(
    tx,
    context,
    {
      programId: holder.program_id,
      cardholderId: holder.id,
      provider: prepared.provider,
      answer: prepared.answer,
    },
    by,
  );
  await moveKycStatus(tx, context, holder, verification.status, verification.id, by);
  return verification;
}

export interface VerificationOutcome {
  readonly status: VerificationStatus;
  /** Codes such as `id_document_required`; default none. */
  readonly reasons?: readonly string[];
}

function checkReasons(reasons: readonly string[]): void {
  if (reasons.length > REASONS_MAX) {
    throw invalidRequest('parameter_invalid', `At most ${REASONS_MAX} reasons`, 'reasons');
  }
  reasons.forEach((reason, index) => {
    if (!REASON_PATTERN.test(reason)) {
      throw invalidRequest(
        'parameter_invalid',
        'A reason is a code of lower-case letters, digits and _ (at most 64), never personal data',
        `reasons[${index}]`,
      );
    }
  });
}

/**
 * Applies a provider's later answer (or a reviewer's outcome) to a verification and moves the cardholder's status
 * with it, in the caller's transaction. Applying the answer the verification already has changes nothing and
 * answers it as it is: providers repeat their callbacks. A closed verification (verified or rejected) is refused.
 */
export async function applyVerificationOutcome(
  tx: Transaction,
  context: IssuingContext,
  target: VerificationTarget,
  outcome: VerificationOutcome,
  by: Actor,
): Promise<KycVerification> {
  const reasons = outcome.reasons ?? [];
  checkReasons(reasons);
  const owner = await verificationOwner(tx, target);
  if (owner === undefined) throw notFound('verification', 'id' in target ? target.id : target.reference);
  const holder = await lockKycHolder(tx, owner.cardholder_id, undefined);
  const current = await lockVerification(tx, owner.id);
  const move = outcomeMove(current.status, outcome.status);
  if (move instanceof LantauError) throw move;
  if (move === 'unchanged') return verificationFromRow(current);
  const verification = await updateVerification(
    tx,
    context,
    current,
    { status: outcome.status, reasons },
    by,
  );
  await moveKycStatus(tx, context, holder, verification.status, verification.id, by);
  return verification;
}
