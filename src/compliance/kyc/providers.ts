import { randomBytes } from 'node:crypto';
import { isVerificationStatus, type VerificationStatus } from './status.js';

/**
 * Verification providers: whoever checks that a cardholder is who they say (a vendor such as Onfido or Jumio, a
 * person reviewing documents, or the sandbox). Lantau asks a provider to start; the provider answers at once with
 * an outcome, which may be final or `pending` / `documents_required`, and its later answers are applied to the
 * verification with `applyVerificationOutcome` (issuing/kyc.ts): through the API for the providers whose outcomes
 * are recorded there (the sandbox's test helper, a person's review), from the provider's callback for a vendor.
 */

/** Who is being verified: the cardholder's identity as the programme gave it, decrypted for this call only. */
export interface VerificationSubject {
  readonly cardholderId: string;
  readonly programId: string;
  readonly name: string;
  readonly email: string | null;
  readonly phoneNumber: string | null;
  readonly dateOfBirth: string | null;
  readonly nationality: string | null;
  readonly address: {
    readonly line1: string;
    readonly line2: string | null;
    readonly city: string;
    readonly state: string | null;
    readonly postal_code: string | null;
    readonly country: string;
  } | null;
}

export interface StartOptions {
  /** The outcome a sandbox verification should have (see the sandbox provider); refused by every other provider. */
  readonly testOutcome?: VerificationStatus;
}

/** A provider's answer, to start with and later. */
export interface ProviderAnswer {
  /** The provider's own id for the verification, by which its later answers find it; null if it has none. */
  readonly reference: string | null;
  readonly outcome: VerificationStatus;
  /** Codes, such as `id_document_required`: never personal data (they are stored in the clear). */
  readonly reasons: readonly string[];
}

export interface VerificationProvider {
  /** How verifications name it (`kyc_verifications.provider`): lower-case letters, digits and `_`. */
  readonly name: string;
  /** Whether a programme in this mode may use it: test values never decide a live programme's cardholders. */
  readonly modes: readonly ('sandbox' | 'live')[];
  /** Whether its later outcomes are recorded through the API (`POST …/verifications/{id}/outcome`). */
  readonly outcomesThroughApi: boolean;
  /** Whether a request may choose its outcome (`test_outcome`): the sandbox's documented test values. */
  readonly testOutcomes: boolean;
  /**
   * Starts a verification. Called outside any database transaction (it may be a network call to a vendor) and
   * before anything is recorded; only when the answer is recorded does the cardholder's status move.
   */
  start(subject: VerificationSubject, options: StartOptions): Promise<ProviderAnswer>;
}

export const REASON_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
export const REASONS_MAX = 20;
export const PROVIDER_NAME_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

/** What a provider answered must be something Lantau can record; a provider that breaks this is a bug, not input. */
export function assertAnswer(provider: string, answer: ProviderAnswer): void {
  if (!isVerificationStatus(answer.outcome)) {
    throw new Error(`KYC provider ${provider} answered an unknown outcome`);
  }
  if (answer.reasons.length > REASONS_MAX || !answer.reasons.every((reason) => REASON_PATTERN.test(reason))) {
    throw new Error(`KYC provider ${provider} answered reasons that are not codes`);
  }
  if (answer.reference !== null && (answer.reference.length === 0 || answer.reference.length > 255)) {
    throw new Error(`KYC provider ${provider} answered a reference of ${answer.reference.length} characters`);
  }
}

/** The reasons the sandbox gives with each outcome, as a vendor would. */
export const SANDBOX_REASONS: Readonly<Record<VerificationStatus, readonly string[]>> = {
  verified: [],
  pending: [],
  rejected: ['identity_not_confirmed'],
  documents_required: ['id_document_required'],
};

/**
 * The sandbox provider (sandbox programmes only): its outcome is the request's `test_outcome` (`verified`,
 * `rejected`, `documents_required` or `pending`), `verified` without one, with the reasons in `SANDBOX_REASONS`.
 * A pending or documents_required verification then takes the outcome the test gives it through the API, as a
 * vendor's later callback would.
 */
export const sandboxProvider: VerificationProvider = {
  name: 'sandbox',
  modes: ['sandbox'],
  outcomesThroughApi: true,
  testOutcomes: true,
  start: async (_subject, options) => {
    const outcome = options.testOutcome ?? 'verified';
    return {
      reference: `sandbox_${randomBytes(12).toString('hex')}`,
      outcome,
      reasons: SANDBOX_REASONS[outcome],
    };
  },
};

/**
 * Review by a person (the programme's compliance team, or the operator's analysts): the verification starts
 * pending, and the reviewer records the outcome through the API. Works in live programmes without a vendor.
 */
export const manualProvider: VerificationProvider = {
  name: 'manual',
  modes: ['sandbox', 'live'],
  outcomesThroughApi: true,
  testOutcomes: false,
  start: async () => ({ reference: null, outcome: 'pending', reasons: [] }),
};

export type VerificationProviders = ReadonlyMap<string, VerificationProvider>;

export const BUILT_IN_PROVIDERS: VerificationProviders = new Map(
  [sandboxProvider, manualProvider].map((provider) => [provider.name, provider]),
);

/** The provider a verification uses when the request names none: the sandbox in a sandbox programme. */
export function defaultProviderName(mode: 'sandbox' | 'live'): string {
  return mode === 'sandbox' ? sandboxProvider.name : manualProvider.name;
}
