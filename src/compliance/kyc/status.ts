import { LantauError, invalidRequest } from '../../platform/errors.js';

/**
 * KYC statuses and the machine that moves them. A cardholder's `kyc_status` is always the status of their latest
 * verification (`unverified` before the first): a verification starts when the cardholder has none open, and its
 * provider's later answers move it on until it closes, verified or rejected.
 *
 *   cardholder      may become                                  how
 *   unverified      pending, verified, rejected, docs_required  a verification starts (its first answer)
 *   rejected        the same (rejected again: no change)        a new verification starts
 *   pending         verified, rejected, documents_required      the open verification's outcome
 *   documents_req.  pending, verified, rejected                 the open verification's outcome
 *   verified        nothing                                     (a later issue may add re-verification)
 */
export const KYC_STATUSES = ['unverified', 'pending', 'verified', 'rejected', 'documents_required'] as const;
export type KycStatus = (typeof KYC_STATUSES)[number];

/** What a verification can be: a provider's answer. Pending and documents_required are open. */
export const VERIFICATION_STATUSES = ['pending', 'verified', 'rejected', 'documents_required'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

/**
 * The limit tiers. Everyone not (yet) verified is held to the unverified tier's limits: pending, documents_required
 * and rejected included, as an SVF's simplified due diligence does until identity is confirmed.
 */
export const KYC_TIERS = ['unverified', 'verified'] as const;
export type KycTier = (typeof KYC_TIERS)[number];

export function tierOf(status: KycStatus): KycTier {
  return status === 'verified' ? 'verified' : 'unverified';
}

export const KYC_TRANSITIONS: Readonly<Record<KycStatus, readonly KycStatus[]>> = {
  unverified: ['pending', 'verified', 'rejected', 'documents_required'],
  rejected: ['pending', 'verified', 'documents_required'],
  pending: ['verified', 'rejected', 'documents_required'],
  documents_required: ['pending', 'verified', 'rejected'],
  verified: [],
};

/** A verification's own moves: from an open status to any other; a closed one never moves again. */
export const VERIFICATION_TRANSITIONS: Readonly<Record<VerificationStatus, readonly VerificationStatus[]>> = {
  pending: ['verified', 'rejected', 'documents_required'],
  documents_required: ['pending', 'verified', 'rejected'],
  verified: [],
  rejected: [],
};

export function isKycStatus(value: unknown): value is KycStatus {
  return typeof value === 'string' && (KYC_STATUSES as readonly string[]).includes(value);
}

export function isVerificationStatus(value: unknown): value is VerificationStatus {
  return typeof value === 'string' && (VERIFICATION_STATUSES as readonly string[]).includes(value);
}

export function isOpen(status: VerificationStatus): boolean {
  return status === 'pending' || status === 'documents_required';
}

/** Whether the cardholder's status may become `next` (staying the same is always allowed: nothing changes). */
export function kycMoveAllowed(from: KycStatus, next: KycStatus): boolean {
  return from === next || KYC_TRANSITIONS[from].includes(next);
}

/**
 * Why a cardholder with this status cannot start a verification, or undefined when they can: only someone with no
 * verification open and not verified already may start one.
 */
export function startRefusal(status: KycStatus, openVerification?: string): LantauError | undefined {
  if (status === 'verified') {
    return invalidRequest('cardholder_already_verified', 'The cardholder is already verified');
  }
  if (status === 'pending' || status === 'documents_required') {
    return invalidRequest(
      'verification_open',
      `The cardholder has a verification open${openVerification === undefined ? '' : ` (${openVerification})`}, ` +
        `${status === 'pending' ? 'pending' : 'waiting for documents'}: its outcome comes first`,
    );
  }
  return undefined;
}

/**
 * Whether a verification may move from `current` to `next`: `unchanged` for the same status (a provider repeats
 * its callbacks, so applying an answer twice changes nothing), a refusal for a closed verification.
 */
export function outcomeMove(
  current: VerificationStatus,
  next: VerificationStatus,
): 'move' | 'unchanged' | LantauError {
  if (current === next) return 'unchanged';
  if (VERIFICATION_TRANSITIONS[current].includes(next)) return 'move';
  return new LantauError(
    'verification_closed',
    `The verification is ${current} and closed: its outcome can no longer change (start a new verification instead)`,
    { param: 'outcome' },
  );
}
