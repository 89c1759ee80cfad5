/**
 * Reading a network's message into the engine's terms: the card, the amount and currency, the merchant, how the card
 * was presented, and the network's identity of the message (for repeats and reversals). A field that is missing or
 * malformed is a `FieldProblem` naming it; the handler answers it with response code 30 (format error).
 *
 * Layouts are those of ISO 8583:1987 as Visa and Mastercard fill them:
 * - 14 expiry YYMM; 22 POS entry mode (its first two digits: 01 keyed, 02/90 magnetic stripe, 05 chip,
 *   07/91 contactless, 10/81 e-commerce and credentials on file);
 * - 43 card acceptor name and location: name in positions 1–25, city 26–38, ISO 3166 alpha-2 country 39–40;
 * - 60 additional POS information: position 10 is `1` when the terminal accepts a partial approval (Visa's 60.10);
 * - 90 original data elements: original MTI (4), STAN (6), transmission date and time (10), acquirer id (11),
 *   forwarding institution id (11);
 * - 95 replacement amounts: its first 12 digits are the amount actually completed, for a partial reversal.
 */
import type { EntryMode, Merchant } from '../../../processing/authorizations.js';
import type { AuthorizationRequest, NetworkIdentity } from '../../../processing/authorize.js';
import { isCountryCode } from '../../../platform/countries.js';
import { currencyFromNumeric } from '../../../platform/money.js';
import { readCvv2, type IsoMessage, type Iso8583Profile } from '../codec/index.js';

/** A field the message needs that is missing or malformed. Names the field, never its value. */
export class FieldProblem extends Error {
  constructor(
    readonly field: number,
    readonly reason: string,
  ) {
    super(`ISO 8583 field ${field}: ${reason}`);
    this.name = 'FieldProblem';
  }
}

export function textField(message: IsoMessage, field: number): string | undefined {
  const value = message.fields.get(field);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new FieldProblem(field, 'expected text, found binary content');
  return value;
}

export function requiredField(message: IsoMessage, field: number): string {
  const value = textField(message, field);
  if (value === undefined || value.trim() === '') throw new FieldProblem(field, 'required and missing');
  return value;
}

/** An amount field (4, 6, 95's first part): 12 digits of minor units, within the safe integers. */
export function amountOf(field: number, digits: string): number {
  if (!/^[0-9]{1,12}$/.test(digits)) throw new FieldProblem(field, 'an amount is up to 12 digits');
  return Number(digits);
}

export function amountField(value: number): string {
  return String(value).padStart(12, '0');
}

const ENTRY_MODES_BY_CODE: Readonly<Record<string, EntryMode>> = {
  // 00 unknown, 03 bar code, 04 OCR: counted as keyed, the least assured presentment.
  '00': 'keyed',
  '01': 'keyed',
  '03': 'keyed',
  '04': 'keyed',
  // 80: a chip card read by its magnetic stripe (fallback); 95: chip with unreliable CVV.
  '80': 'magstripe',
  '95': 'chip',
  '02': 'magstripe',
  '90': 'magstripe',
  '05': 'chip',
  '07': 'contactless',
  '91': 'contactless',
  '10': 'ecommerce',
  '81': 'ecommerce',
};

const CODES_BY_ENTRY_MODE: Readonly<Record<EntryMode, string>> = {
  keyed: '012',
  magstripe: '902',
  chip: '051',
  contactless: '071',
  ecommerce: '812',
};

/** Field 22's first two digits. An advice reports a decision already made, so it is read leniently (as keyed). */
export function entryModeOf(code: string, lenient = false): EntryMode {
  const mode = ENTRY_MODES_BY_CODE[code.slice(0, 2)];
  if (mode !== undefined) return mode;
  if (lenient) return 'keyed';
  throw new FieldProblem(22, 'an unknown PAN entry mode');
}

export function entryModeCode(mode: EntryMode): string {
  return CODES_BY_ENTRY_MODE[mode];
}

const NAME_LENGTH = 25;
const CITY_LENGTH = 13;

export function merchantLocation(merchant: Pick<Merchant, 'name' | 'city' | 'country'>): string {
  return (
    merchant.name.slice(0, NAME_LENGTH).padEnd(NAME_LENGTH) +
    (merchant.city ?? '').slice(0, CITY_LENGTH).padEnd(CITY_LENGTH) +
    (merchant.country ?? '  ')
  );
}

function merchantOf(message: IsoMessage): Merchant {
  const mcc = requiredField(message, 18);
  if (!/^[0-9]{4}$/.test(mcc)) throw new FieldProblem(18, 'a merchant category code is 4 digits');
  const location = textField(message, 43) ?? '';
  const acceptor = textField(message, 42)?.trim();
  const acquirer = textField(message, 32)?.trim();
  const name = location.slice(0, NAME_LENGTH).trim();
  const city = location.slice(NAME_LENGTH, NAME_LENGTH + CITY_LENGTH).trim();
  const country = location.slice(NAME_LENGTH + CITY_LENGTH, NAME_LENGTH + CITY_LENGTH + 2);
  return {
    name: name !== '' ? name : acceptor !== undefined && acceptor !== '' ? acceptor : 'Unknown merchant',
    mcc,
    // A country the location names wrongly is left unknown rather than refused: controls on it then decline.
    country: isCountryCode(country) ? country : null,
    city: city === '' ? null : city,
    acceptor_id: acceptor === undefined || acceptor === '' ? null : acceptor,
    acquirer_id: acquirer === undefined || acquirer === '' ? null : acquirer,
  };
}

/** Acquirer ids arrive as an LL field (32) and zero-padded to 11 digits (in 90): compared without leading zeros. */
export function acquirerKey(id: string): string {
  const trimmed = id.trim().replace(/^0+/, '');
  return trimmed === '' ? '0' : trimmed;
}

/** The message's own identity: acquirer (32), STAN (11), RRN (37), transmission date and time (7). */
export function identityOf(message: IsoMessage): NetworkIdentity {
  const stan = requiredField(message, 11);
  const transmissionTime = requiredField(message, 7);
  const rrn = requiredField(message, 37);
  const acquirer = requiredField(message, 32);
  return { acquirerId: acquirerKey(acquirer), stan, rrn: rrn.trim(), transmissionTime };
}

/** The identity of the message a reversal undoes: from field 90 when present, else the reversal's own keys. */
export function originalIdentityOf(message: IsoMessage): NetworkIdentity {
  const original = textField(message, 90);
  if (original === undefined) return identityOf(message);
  if (!/^[0-9]{42}$/.test(original)) throw new FieldProblem(90, 'original data elements are 42 digits');
  return {
    acquirerId: acquirerKey(original.slice(20, 31)),
    stan: original.slice(4, 10),
    rrn: requiredField(message, 37).trim(),
    transmissionTime: original.slice(10, 20),
  };
}

export function originalDataElements(mti: string, identity: NetworkIdentity): string {
  return (
    mti + identity.stan + identity.transmissionTime + identity.acquirerId.padStart(11, '0') + '0'.repeat(11)
  );
}

/**
 * What a partial reversal says the transaction finally came to (95's first 12 digits, the transaction's currency);
 * undefined for a full reversal (no 95, or 0 completed).
 */
export function completedAmountOf(message: IsoMessage): number | undefined {
  const original = amountOf(4, requiredField(message, 4));
  const replacement = textField(message, 95);
  if (replacement === undefined) return undefined;
  const completed = amountOf(95, replacement.slice(0, 12));
  if (completed === 0) return undefined;
  if (completed >= original) throw new FieldProblem(95, 'the completed amount is not less than field 4');
  return completed;
}

export function currencyOf(message: IsoMessage, field = 49): string {
  const numeric = requiredField(message, field);
  const code = currencyFromNumeric(numeric);
  if (code === undefined) throw new FieldProblem(field, 'not an ISO 4217 numeric currency code');
  return code;
}

/** Processing code (3): the first two digits say what kind of transaction; Lantau authorizes purchases (00). */
export function isPurchase(message: IsoMessage): boolean {
  const code = requiredField(message, 3);
  if (!/^[0-9]{6}$/.test(code)) throw new FieldProblem(3, 'a processing code is 6 digits');
  return code.startsWith('00');
}

/** An 0100 or 0120 as the engine takes it; an advice (`lenient`) takes an entry mode it does not know as keyed. */
export function authorizationRequestOf(
  profile: Iso8583Profile,
  message: IsoMessage,
  lenient = false,
): AuthorizationRequest {
  const pan = requiredField(message, 2);
  if (!/^[0-9]{12,19}$/.test(pan)) throw new FieldProblem(2, 'a card number is 12 to 19 digits');
  const expiry = textField(message, 14);
  if (expiry !== undefined && !/^[0-9]{2}(0[1-9]|1[0-2])$/.test(expiry)) {
    throw new FieldProblem(14, 'an expiry date is YYMM');
  }
  let cvv2: string | undefined;
  try {
    cvv2 = readCvv2(profile, message.fields);
  } catch {
    throw new FieldProblem(profile.cvv2.field, 'the CVV2 cannot be read');
  }
  if (cvv2 !== undefined && !/^[0-9]{3,4}$/.test(cvv2)) {
    throw new FieldProblem(profile.cvv2.field, 'a CVV2 is 3 or 4 digits');
  }
  const additional = textField(message, 60);
  return {
    card: {
      pan,
      ...(expiry === undefined
        ? {}
        : { expYear: 2000 + Number(expiry.slice(0, 2)), expMonth: Number(expiry.slice(2, 4)) }),
      ...(cvv2 === undefined ? {} : { cvv2 }),
    },
    amount: amountOf(4, requiredField(message, 4)),
    currency: currencyOf(message),
    merchant: merchantOf(message),
    entryMode: entryModeOf(requiredField(message, 22), lenient),
    partialAllowed: additional !== undefined && additional.charAt(9) === '1',
    network: identityOf(message),
  };
}
