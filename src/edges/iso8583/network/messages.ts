/**
 * Requests as a card network sends them: what the network simulator, the fuzzer and the tests put on the wire. The
 * layouts are fields.ts's; each builder returns an `IsoMessage` to pack with the connection's profile.
 */
import type { EntryMode } from '../../../processing/authorizations.js';
import { currencyNumeric } from '../../../platform/money.js';
import { cvv2FieldValue, ISO8583_1987_ASCII, type IsoMessage, type Iso8583Profile } from '../codec/index.js';
import { amountField, entryModeCode, merchantLocation, originalDataElements } from './fields.js';

/** The network's keys of one message. */
export interface MessageKeys {
  /** System trace audit number, 6 digits. */
  readonly stan: string;
  /** Retrieval reference number, 12 characters. */
  readonly rrn: string;
  /** Transmission date and time, MMDDhhmmss (UTC). */
  readonly transmissionTime: string;
  /** Acquiring institution id, up to 11 digits. */
  readonly acquirerId: string;
}

export interface CardPresentment extends MessageKeys {
  readonly pan: string;
  /** YYMM. */
  readonly expiry?: string;
  readonly cvv2?: string;
  /** Minor units of `currency`. */
  readonly amount: number;
  /** ISO 4217 alphabetic; sent as its numeric code. */
  readonly currency: string;
  readonly mcc: string;
  readonly merchantName: string;
  readonly city?: string;
  /** ISO 3166 alpha-2. */
  readonly country?: string;
  readonly terminalId?: string;
  readonly acceptorId?: string;
  readonly entryMode?: EntryMode;
  readonly partialAllowed?: boolean;
}

/** MMDDhhmmss in UTC, as field 7 carries it. */
export function transmissionTimeOf(at: Date): string {
  const two = (value: number): string => String(value).padStart(2, '0');
  return (
    two(at.getUTCMonth() + 1) +
    two(at.getUTCDate()) +
    two(at.getUTCHours()) +
    two(at.getUTCMinutes()) +
    two(at.getUTCSeconds())
  );
}

function numericCurrency(currency: string): string {
  const numeric = currencyNumeric(currency);
  if (numeric === undefined) throw new RangeError(`${currency} is not an ISO 4217 currency a card can hold`);
  return numeric;
}

function presentmentFields(
  presentment: CardPresentment,
  profile: Iso8583Profile,
): Map<number, string | Uint8Array> {
  const fields = new Map<number, string | Uint8Array>([
    [2, presentment.pan],
    [3, '000000'],
    [4, amountField(presentment.amount)],
    [7, presentment.transmissionTime],
    [11, presentment.stan],
    [12, presentment.transmissionTime.slice(4)],
    [13, presentment.transmissionTime.slice(0, 4)],
  ]);
  if (presentment.expiry !== undefined) fields.set(14, presentment.expiry);
  fields.set(18, presentment.mcc);
  fields.set(22, entryModeCode(presentment.entryMode ?? 'ecommerce'));
  fields.set(32, presentment.acquirerId);
  fields.set(37, presentment.rrn);
  fields.set(41, (presentment.terminalId ?? 'TERM0001').padEnd(8).slice(0, 8));
  fields.set(42, (presentment.acceptorId ?? 'MERCHANT0000001').padEnd(15).slice(0, 15));
  fields.set(
    43,
    merchantLocation({
      name: presentment.merchantName,
      city: presentment.city ?? null,
      country: presentment.country ?? null,
    }),
  );
  if (presentment.cvv2 !== undefined)
    fields.set(profile.cvv2.field, cvv2FieldValue(profile, presentment.cvv2));
  fields.set(49, numericCurrency(presentment.currency));
  if (presentment.partialAllowed === true) fields.set(60, '0000000001');
  return new Map([...fields].sort(([a], [b]) => a - b));
}

/** 0100: an authorization request. */
export function authorizationRequest(
  presentment: CardPresentment,
  profile: Iso8583Profile = ISO8583_1987_ASCII,
): IsoMessage {
  return { mti: '0100', fields: presentmentFields(presentment, profile) };
}

/** 0120: the network's advice of a decision it took in stand-in, with its response code in field 39. */
export function authorizationAdvice(
  presentment: CardPresentment,
  responseCode: string,
  profile: Iso8583Profile = ISO8583_1987_ASCII,
): IsoMessage {
  const fields = presentmentFields(presentment, profile);
  fields.set(39, responseCode);
  return { mti: '0120', fields: new Map([...fields].sort(([a], [b]) => a - b)) };
}

/** A reversal's own keys; its RRN (37) is always the original's, as networks send it and 90 does not carry one. */
export interface ReversalInput extends Omit<MessageKeys, 'rrn'> {
  /** What is reversed: the original request's presentment (its amount is field 4). */
  readonly original: CardPresentment;
  /** 0420, a reversal advice, rather than 0400. */
  readonly advice?: boolean;
  /** For a partial reversal: the amount actually completed (field 95); the rest is given back. */
  readonly completedAmount?: number;
  /** Without 90 the reversal is matched by its own keys, which must then be the original's. */
  readonly withOriginalData?: boolean;
}

/** 0400 or 0420: undoes an authorization, matched through field 90 (or, without it, the original's keys). */
export function reversal(input: ReversalInput, profile: Iso8583Profile = ISO8583_1987_ASCII): IsoMessage {
  const { original } = input;
  const fields = presentmentFields({ ...original, ...keysOf({ ...input, rrn: original.rrn }) }, profile);
  fields.delete(profile.cvv2.field);
  fields.delete(14);
  fields.delete(60);
  if (input.withOriginalData ?? true) fields.set(90, originalDataElements('0100', original));
  if (input.completedAmount !== undefined) {
    fields.set(95, amountField(input.completedAmount) + '0'.repeat(30));
  }
  return {
    mti: input.advice === true ? '0420' : '0400',
    fields: new Map([...fields].sort(([a], [b]) => a - b)),
  };
}

function keysOf(keys: MessageKeys): MessageKeys {
  return {
    stan: keys.stan,
    rrn: keys.rrn,
    transmissionTime: keys.transmissionTime,
    acquirerId: keys.acquirerId,
  };
}

export type NetworkManagementCode = 'sign_on' | 'sign_off' | 'echo';

const MANAGEMENT_CODES: Readonly<Record<NetworkManagementCode, string>> = {
  sign_on: '001',
  sign_off: '002',
  echo: '301',
};

/** 0800: sign-on, sign-off or echo test. */
export function networkManagement(
  code: NetworkManagementCode,
  keys: Pick<MessageKeys, 'stan' | 'transmissionTime'>,
): IsoMessage {
  return {
    mti: '0800',
    fields: new Map([
      [7, keys.transmissionTime],
      [11, keys.stan],
      [70, MANAGEMENT_CODES[code]],
    ]),
  };
}

/** The repeat of a request (0101, 0121, 0401, 0421): the same message, sent again when no answer came. */
export function asRepeat(message: IsoMessage): IsoMessage {
  if (!/^0[14][02]0$/.test(message.mti)) throw new RangeError(`${message.mti} has no repeat`);
  return { mti: message.mti.slice(0, 3) + '1', fields: message.fields };
}

/** The key that matches an answer to its request: the response MTI's class and function, and the STAN and RRN. */
export function answerKey(message: IsoMessage): string {
  const stan = message.fields.get(11);
  const rrn = message.fields.get(37);
  const text = (value: string | Uint8Array | undefined): string => (typeof value === 'string' ? value : '');
  return `${message.mti.slice(1, 3)}|${text(stan)}|${text(rrn)}`;
}

/** The key under which a request's answer arrives (see `answerKey`). */
export function requestKey(message: IsoMessage): string {
  return answerKey({ mti: responseMti(message.mti) ?? message.mti, fields: message.fields });
}

/**
 * The MTI of the answer to a request or an advice (function digit 0 or 2): the function digit plus one, and a
 * repeat answered as its original (0101 → 0110). Undefined for an MTI that is neither (a response, 1993's 4–9).
 */
export function responseMti(mti: string): string | undefined {
  const functionDigit = mti.charAt(2);
  if (functionDigit !== '0' && functionDigit !== '2') return undefined;
  return `${mti.slice(0, 2)}${Number(functionDigit) + 1}0`;
}
