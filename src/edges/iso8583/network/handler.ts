/**
 * The ISO 8583 edge's mapping: a frame from the network in, the engine called, the answer out.
 *
 * - 0800 sign-on (001), sign-off (002) and echo (301) → 0810.
 * - 0100 → `authorize`, the same engine as the HTTP simulator → 0110 with 39, 38 on approval, 4 the approved amount
 *   in the transaction's currency (39 = 10 for a partial approval), 6/10/51 the amount, rate and currency billed.
 * - 0120, an advice of the network's stand-in decision → `adviseAuthorization` (the ledger follows the network) → 0130.
 * - 0400 and 0420 → `reverseAuthorization`, the original found through 90 or its own keys → 0410 and 0430.
 * - Repeats (0101, 0121, 0401, 0421) and identical messages: the engine keys every decision by the network's
 *   identity (acquirer, STAN, RRN, transmission time), so a repeat is answered from the first decision.
 * - A frame whose MTI reads but whose fields do not → the response MTI with 39 = 30 (format error), echoing the
 *   keys read before the fault; a frame whose MTI cannot be read, or a response sent to us, closes the connection.
 *
 * Nothing here logs a message's fields: errors name the field and the MTI only.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Counter, Histogram, type Registry } from 'prom-client';
import { LantauError } from '../../../platform/errors.js';
import { currencyNumeric } from '../../../platform/money.js';
import type { Authorization } from '../../../processing/authorizations.js';
import { adviseAuthorization } from '../../../processing/advices.js';
import {
  authorize,
  findCard,
  networkKey,
  type AuthorizationRequest,
  type NetworkIdentity,
  type ProcessingContext,
} from '../../../processing/authorize.js';
import { findAuthorizationByNetworkKey } from '../../../processing/authorizations.js';
import { reverseAuthorization } from '../../../processing/lifecycle.js';
import {
  ISO8583_1987_ASCII,
  Iso8583Error,
  pack,
  unpack,
  type IsoMessage,
  type Iso8583Profile,
} from '../codec/index.js';
import { CLOSE_CONNECTION, type FrameHandler, type TransportLogger } from '../transport/server.js';
import {
  amountField,
  authorizationRequestOf,
  FieldProblem,
  identityOf,
  isPurchase,
  originalIdentityOf,
  requiredField,
  completedAmountOf,
  textField,
} from './fields.js';
import { responseMti } from './messages.js';

export const RESPONSE = {
  approved: '00',
  partial: '10',
  invalidTransaction: '12',
  invalidAmount: '13',
  invalidCard: '14',
  recordNotFound: '25',
  formatError: '30',
  issuerUnavailable: '91',
  duplicate: '94',
  systemError: '96',
} as const;

export interface Iso8583MessageMetrics {
  readonly messages: Counter<'mti' | 'response_code'>;
  readonly duration: Histogram<'mti'>;
}

/** Per message type and response code; registered beside the transport's under the same prefix. */
export function createIso8583MessageMetrics(registry: Registry): Iso8583MessageMetrics {
  return {
    messages: new Counter({
      name: 'lantau_iso8583_messages_total',
      help: 'ISO 8583 messages answered, by request message type and response code (39)',
      labelNames: ['mti', 'response_code'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'lantau_iso8583_message_duration_seconds',
      help: 'Time to decide and answer an ISO 8583 message, by request message type',
      labelNames: ['mti'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
      registers: [registry],
    }),
  };
}

export interface NetworkHandlerOptions {
  readonly context: ProcessingContext;
  readonly profile?: Iso8583Profile;
  readonly metrics?: Iso8583MessageMetrics;
  readonly logger?: TransportLogger;
}

/** The request types Lantau answers itself (repeats included); another request or advice is answered 12. */
export const ANSWERED_MTIS: ReadonlySet<string> = new Set([
  '0100',
  '0101',
  '0120',
  '0121',
  '0400',
  '0401',
  '0420',
  '0421',
  '0800',
  '0801',
]);

/**
 * Response codes that approve (ISO 8583:1987): 00, 08 honour with identification, 10 partial, 11 VIP, 85 no reason
 * to decline (a verification), and the EMV offline approvals Y1 and Y3 a network may relay.
 */
const APPROVING_CODES = new Set(['00', '08', '10', '11', '85', 'Y1', 'Y3']);

/** Metric labels name only the message types Lantau answers: a peer cannot grow the label set. */
const metricMti = (mti: string): string => (ANSWERED_MTIS.has(mti) ? mti : 'other');

/** Fields every answer echoes from its request, when present. */
const ECHOED = [2, 3, 4, 7, 11, 32, 37, 41, 42, 49, 90] as const;
const MANAGEMENT_CODES = new Set(['001', '002', '301']);
const AMOUNT_FIELD_MAX = 999_999_999_999;

/** A stable six-character approval code (38) for an authorization: the same on every repeat of its answer. */
export function approvalCode(authorizationId: string): string {
  const digest = createHash('sha256').update(authorizationId).digest();
  return (digest.readUIntBE(0, 6) % 36 ** 6).toString(36).toUpperCase().padStart(6, '0');
}

/**
 * A rate as field 10 carries it: one digit saying how many of the other seven are decimals, then seven digits, as
 * many significant digits as fit, rounded half up.
 */
export function conversionRateField(rate: string, markupBps: number): string | undefined {
  const match = /^([0-9]+)(?:\.([0-9]+))?$/.exec(rate);
  if (match === null) return undefined;
  const fraction = match[2] ?? '';
  // The effective rate: rate × (10,000 + markup) / 10,000, as an exact fraction.
  const numerator = BigInt(`${match[1] ?? '0'}${fraction}`) * BigInt(10_000 + markupBps);
  const denominator = 10n ** BigInt(fraction.length) * 10_000n;
  for (let decimals = 7; decimals >= 0; decimals -= 1) {
    const scaled = numerator * 10n ** BigInt(decimals);
    const quotient = scaled / denominator;
    const rounded = 2n * (scaled % denominator) >= denominator ? quotient + 1n : quotient;
    if (rounded < 10_000_000n) return `${decimals}${rounded.toString().padStart(7, '0')}`;
  }
  return undefined;
}

function answerTo(request: IsoMessage, mti: string, responseCode: string): Map<number, string | Uint8Array> {
  const fields = new Map<number, string | Uint8Array>();
  for (const field of ECHOED) {
    const value = request.fields.get(field);
    if (value !== undefined) fields.set(field, value);
  }
  if (mti === '0810') fields.set(70, textField(request, 70) ?? '');
  fields.set(39, responseCode);
  return fields;
}

function sorted(mti: string, fields: Map<number, string | Uint8Array>): IsoMessage {
  return { mti, fields: new Map([...fields].sort(([a], [b]) => a - b)) };
}

/** The transaction-currency amount an authorization approved: field 4, scaled down for a partial approval. */
function approvedMerchantAmount(authorization: Authorization): number {
  if (authorization.approved_amount >= authorization.requested_amount) return authorization.merchant_amount;
  if (authorization.requested_amount === 0) return 0;
  return Number(
    (BigInt(authorization.merchant_amount) * BigInt(authorization.approved_amount)) /
      BigInt(authorization.requested_amount),
  );
}

function decisionAnswer(request: IsoMessage, mti: string, authorization: Authorization): IsoMessage {
  const fields = answerTo(request, mti, authorization.response_code);
  if (authorization.approved) {
    fields.set(38, approvalCode(authorization.id));
    fields.set(4, amountField(approvedMerchantAmount(authorization)));
  }
  const billingCurrency = currencyNumeric(authorization.currency);
  const rate =
    authorization.fx_rate === null
      ? undefined
      : conversionRateField(authorization.fx_rate, authorization.fx_markup_bps ?? 0);
  const billed = authorization.approved ? authorization.approved_amount : authorization.requested_amount;
  // Field 6 holds 12 digits: a billed amount beyond them (never a real one) is left out rather than failing the answer.
  if (billingCurrency !== undefined && rate !== undefined && billed <= AMOUNT_FIELD_MAX) {
    fields.set(6, amountField(billed));
    fields.set(10, rate);
    fields.set(51, billingCurrency);
  }
  return sorted(mti, fields);
}

/** An engine's refusal (not a decline: an unknown card, bad input) as a response code. */
function refusalCode(error: unknown): string | undefined {
  if (!(error instanceof LantauError)) return undefined;
  switch (error.code) {
    case 'card_not_found':
      return RESPONSE.invalidCard;
    case 'duplicate_transmission':
      return RESPONSE.duplicate;
    case 'amount_invalid':
    case 'amount_too_small':
      return RESPONSE.invalidAmount;
    case 'currency_invalid':
      return RESPONSE.formatError;
    case 'overloaded':
    case 'fx_rate_unavailable':
      return RESPONSE.issuerUnavailable;
    case 'not_found':
    case 'resource_missing':
      return RESPONSE.recordNotFound;
    default:
      return error.status < 500 ? RESPONSE.invalidTransaction : undefined;
  }
}

export function createNetworkHandler(options: NetworkHandlerOptions): FrameHandler {
  const { context, metrics, logger } = options;
  const profile = options.profile ?? ISO8583_1987_ASCII;
  /** Requests being decided in this process, by network identity. */
  const inFlight = new Map<string, Promise<IsoMessage>>();

  const finish = (requestMti: string, answer: IsoMessage, startedAt: number): Uint8Array => {
    const code = answer.fields.get(39);
    // Packed first: an answer that cannot be packed is answered again (96) and counted once, as that.
    const bytes = pack(profile, answer);
    const label = metricMti(requestMti);
    metrics?.messages.inc({ mti: label, response_code: typeof code === 'string' ? code : 'none' });
    metrics?.duration.observe({ mti: label }, (performance.now() - startedAt) / 1_000);
    return bytes;
  };

  const decide = async (message: IsoMessage, mti: string): Promise<IsoMessage> => {
    if (mti === '0810') {
      const code = requiredField(message, 70);
      if (!MANAGEMENT_CODES.has(code)) {
        return sorted(mti, answerTo(message, mti, RESPONSE.invalidTransaction));
      }
      requiredField(message, 11);
      logger?.debug({ code }, 'iso8583 network management');
      return sorted(mti, answerTo(message, mti, RESPONSE.approved));
    }
    if (mti === '0110' || mti === '0130') {
      if (!isPurchase(message)) return sorted(mti, answerTo(message, mti, RESPONSE.invalidTransaction));
      const request = authorizationRequestOf(profile, message, mti === '0130');
      const key = networkKey(request.network);
      const deciding =
        mti === '0110'
          ? authorize(context, request).then((authorization) => decisionAnswer(message, mti, authorization))
          : advise(message, mti, request);
      // A reversal of this request that arrives while it is being decided waits for it (see `reverse`).
      if (key !== null) inFlight.set(key, deciding);
      try {
        return await deciding;
      } finally {
        if (key !== null && inFlight.get(key) === deciding) inFlight.delete(key);
      }
    }
    // 0410, 0430: reversals.
    return reverse(message, mti);
  };

  const advise = async (
    message: IsoMessage,
    mti: string,
    request: AuthorizationRequest,
  ): Promise<IsoMessage> => {
    const networkCode = requiredField(message, 39);
    if (!/^[0-9A-Z]{2}$/.test(networkCode)) throw new FieldProblem(39, 'a response code is 2 characters');
    await adviseAuthorization(context, request, {
      approved: APPROVING_CODES.has(networkCode),
      responseCode: networkCode,
    });
    // The advice is acknowledged: its decision is recorded, whatever it was.
    return sorted(mti, answerTo(message, mti, RESPONSE.approved));
  };

  const reverse = async (message: IsoMessage, mti: string): Promise<IsoMessage> => {
    const original: NetworkIdentity = originalIdentityOf(message);
    const own = identityOf(message);
    const completed = completedAmountOf(message);
    const key = networkKey(original);
    if (key === null) return sorted(mti, answerTo(message, mti, RESPONSE.recordNotFound));
    // The original may still be being decided here (its answer was late, so the network reverses it): wait for it.
    await inFlight.get(key)?.catch(() => undefined);
    const found = await findAuthorizationByNetworkKey(context.db, key);
    if (found === undefined) return sorted(mti, answerTo(message, mti, RESPONSE.recordNotFound));
    const pan = textField(message, 2);
    if (pan !== undefined) {
      // The keys name an authorization; the card number must be its card's, or the reversal is not for it.
      const owner = await findCard(context.db, context, { card: { pan } }).catch(() => undefined);
      if (owner?.cardId !== found.card_id) {
        return sorted(mti, answerTo(message, mti, RESPONSE.recordNotFound));
      }
    }
    if (found.status !== 'pending') {
      // Nothing is held any more (reversed before, lapsed, or never approved): the reversal has nothing to undo.
      // An authorization already cleared cannot be reversed: that is a refund's job.
      const code =
        found.status === 'closed' && found.approved ? RESPONSE.invalidTransaction : RESPONSE.approved;
      return sorted(mti, answerTo(message, mti, code));
    }
    try {
      await reverseAuthorization(context, undefined, found.id, {
        ...(completed === undefined ? {} : { completedAmount: completed }),
        // The reversal's own identity, so its repeat releases nothing more; prefixed so that a reversal sent with
        // the original's keys (no field 90) is not mistaken for the original.
        network: { ...own, stan: `R${own.stan}` },
      });
    } catch (error) {
      if (error instanceof LantauError && error.code === 'authorization_not_pending') {
        return sorted(mti, answerTo(message, mti, RESPONSE.approved));
      }
      throw error;
    }
    return sorted(mti, answerTo(message, mti, RESPONSE.approved));
  };

  return async (frame) => {
    const startedAt = performance.now();
    let message: IsoMessage;
    try {
      message = unpack(profile, frame);
    } catch (error) {
      if (!(error instanceof Iso8583Error)) throw error;
      const mti = error.mti === undefined ? undefined : responseMti(error.mti);
      if (error.mti === undefined || mti === undefined) return CLOSE_CONNECTION;
      logger?.info({ mti: error.mti, field: error.field, offset: error.offset }, 'iso8583 format error');
      const fields = new Map<number, string | Uint8Array>(error.keys);
      fields.set(39, RESPONSE.formatError);
      return finish(error.mti, sorted(mti, fields), startedAt);
    }
    const mti = responseMti(message.mti);
    if (mti === undefined) return CLOSE_CONNECTION;
    if (!ANSWERED_MTIS.has(message.mti)) {
      return finish(message.mti, sorted(mti, answerTo(message, mti, RESPONSE.invalidTransaction)), startedAt);
    }
    try {
      return finish(message.mti, await decide(message, mti), startedAt);
    } catch (error) {
      if (error instanceof FieldProblem) {
        logger?.info({ mti: message.mti, field: error.field, reason: error.reason }, 'iso8583 format error');
        return finish(message.mti, sorted(mti, answerTo(message, mti, RESPONSE.formatError)), startedAt);
      }
      const code = refusalCode(error);
      if (code === undefined) {
        logger?.error({ err: error, mti: message.mti }, 'iso8583 message failed; answered 96');
      }
      return finish(
        message.mti,
        sorted(mti, answerTo(message, mti, code ?? RESPONSE.systemError)),
        startedAt,
      );
    }
  };
}
