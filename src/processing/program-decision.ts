import type { EntryMode, Merchant, ProgramDecisionRecord } from './authorizations.js';
import type { Check, DeclineReason } from './declines.js';

/**
 * The programme's own real-time decision (Lithic's ASA, Stripe's `issuing_authorization.request`, Marqeta's
 * gateway JIT), seen from the engine: a port the delivery part implements over HTTP. The engine asks only after
 * its own checks pass, and never inside a database transaction: the answer may take up to the endpoint's timeout.
 */
export interface ProgramDecisions {
  /**
   * The programme's endpoint, or undefined when it has none (then the engine decides alone). `version` is the
   * endpoint's version as the decision read it, in the same statement as the card: an implementation may answer
   * from what it kept when the version matches, so a change made by any process is seen by the next decision.
   */
  endpointFor(programId: string, version?: string): Promise<ProgramEndpoint | undefined>;
  ask(endpoint: ProgramEndpoint, request: AuthorizationRequestPayload): Promise<ProgramAnswer>;
}

export interface ProgramEndpoint {
  readonly programId: string;
  /** What to answer when the endpoint is late or its reply unusable. */
  readonly standIn: 'approve' | 'decline';
}

/** What the programme is asked to decide: the authorization as Lantau would approve it. Amounts are minor units. */
export interface AuthorizationRequestPayload {
  readonly id: string;
  readonly object: 'authorization_request';
  readonly program_id: string;
  readonly card_id: string;
  readonly cardholder_id: string;
  readonly account_id: string;
  /** Card currency: what Lantau would hold (less than asked when the wallet allows only a partial approval). */
  readonly amount: number;
  readonly requested_amount: number;
  readonly currency: string;
  readonly merchant_amount: number;
  readonly merchant_currency: string;
  readonly fx_rate: string | null;
  readonly merchant: Merchant;
  readonly entry_mode: EntryMode;
  /** Whether the merchant takes a partial approval: only then may the programme approve less. */
  readonly partial_allowed: boolean;
  readonly checks: readonly Check[];
  readonly created: string;
}

/** The endpoint's reply, or why there is none. `amount` (card currency) approves less than asked. */
export type ProgramAnswer =
  | {
      readonly kind: 'answered';
      readonly approved: boolean;
      readonly amount?: number;
      readonly latencyMs: number;
    }
  | { readonly kind: 'timeout' | 'error'; readonly error: string; readonly latencyMs: number };

/** What the engine does with the answer: carried from the ask into the transaction that records the decision. */
export interface ProgramVerdict {
  readonly record: ProgramDecisionRecord;
  /** Undefined: approve (up to `amount` when set); otherwise the decline reason. */
  readonly decline:
    Extract<DeclineReason, 'webhook_declined' | 'webhook_timeout' | 'webhook_error'> | undefined;
  readonly amount: number | undefined;
  readonly detail: string;
}

/** Turns a reply (or its absence) into a verdict, applying the stand-in and checking the reply makes sense. */
export function verdictOf(
  endpoint: ProgramEndpoint,
  request: AuthorizationRequestPayload,
  answer: ProgramAnswer,
): ProgramVerdict {
  const latency = Math.max(0, Math.round(answer.latencyMs));
  if (answer.kind === 'answered') {
    const { amount } = answer;
    const amountError =
      amount === undefined || !answer.approved || amount === request.amount
        ? undefined
        : !Number.isSafeInteger(amount) || amount <= 0
          ? 'amount is not a positive whole number of minor units'
          : amount > request.amount
            ? 'amount is more than was asked'
            : undefined;
    if (amountError === undefined) {
      const partial = answer.approved && amount !== undefined && amount < request.amount ? amount : undefined;
      if (partial !== undefined && !request.partial_allowed) {
        return {
          record: {
            outcome: 'declined',
            amount: partial,
            stand_in: null,
            latency_ms: latency,
            error: null,
          },
          decline: 'webhook_declined',
          amount: undefined,
          detail: 'the programme approved less than asked, and the merchant takes no partial approval',
        };
      }
      return {
        record: {
          outcome: answer.approved ? 'approved' : 'declined',
          amount: partial ?? null,
          stand_in: null,
          latency_ms: latency,
          error: null,
        },
        decline: answer.approved ? undefined : 'webhook_declined',
        amount: partial,
        detail: answer.approved
          ? partial !== undefined
            ? `the programme approved ${String(partial)} of ${String(request.amount)}`
            : 'the programme approved'
          : 'the programme declined',
      };
    }
    return standIn(endpoint, 'webhook_error', amountError, latency);
  }
  return standIn(
    endpoint,
    answer.kind === 'timeout' ? 'webhook_timeout' : 'webhook_error',
    answer.error,
    latency,
  );
}

function standIn(
  endpoint: ProgramEndpoint,
  outcome: 'webhook_timeout' | 'webhook_error',
  error: string,
  latency: number,
): ProgramVerdict {
  return {
    record: { outcome, amount: null, stand_in: endpoint.standIn, latency_ms: latency, error },
    decline: endpoint.standIn === 'approve' ? undefined : outcome,
    amount: undefined,
    detail: `${outcome === 'webhook_timeout' ? 'no answer in time' : `unusable answer (${error})`}: stand-in ${endpoint.standIn}`,
  };
}
