import currencyCodes from 'currency-codes';

/**
 * Money is an integer count of a currency's minor unit (DESIGN.md): HKD 12.50 is 1250, JPY 1250 is 1250. The
 * exponent of each currency comes from the ISO 4217 table, never from a guess.
 */
export interface Currency {
  readonly code: string;
  /** Digits after the decimal point: HKD 2, JPY 0, BHD 3. */
  readonly exponent: number;
}

/** ISO 4217 codes that are not money a card can hold: precious metals, bond units, SDRs, testing, "no currency". */
const NOT_CARD_CURRENCIES = new Set([
  'XAU',
  'XAG',
  'XPT',
  'XPD',
  'XBA',
  'XBB',
  'XBC',
  'XBD',
  'XDR',
  'XSU',
  'XUA',
  'XTS',
  'XXX',
]);

const CURRENCY_CODE = /^[A-Z]{3}$/;

export function findCurrency(code: string): Currency | undefined {
  if (!CURRENCY_CODE.test(code) || NOT_CARD_CURRENCIES.has(code)) return undefined;
  const record = currencyCodes.code(code);
  return record === undefined ? undefined : { code: record.code, exponent: record.digits };
}

export function isCurrencyCode(code: string): boolean {
  return findCurrency(code) !== undefined;
}

/** A positive amount in minor units that a JavaScript number holds exactly (and so a BIGINT does too). */
export function isPositiveAmount(amount: unknown): amount is number {
  return typeof amount === 'number' && Number.isSafeInteger(amount) && amount > 0;
}

/**
 * An amount for people to read, as `HKD 3,000.00` or `JPY 1,250`: its minor units put back in the currency's major
 * unit by digits alone (never through a float). An unknown currency shows its minor units.
 */
export function formatMoney(amount: number, currency: string): string {
  const exponent = findCurrency(currency)?.exponent ?? 0;
  const sign = amount < 0 ? '-' : '';
  const digits = String(Math.abs(Math.trunc(amount))).padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const fraction = exponent === 0 ? '' : `.${digits.slice(digits.length - exponent)}`;
  return `${currency} ${sign}${whole}${fraction}`;
}

/** The ISO 4217 numeric code networks carry (ISO 8583 fields 49–51), such as `344` for HKD. */
export function currencyNumeric(code: string): string | undefined {
  return findCurrency(code) === undefined ? undefined : currencyCodes.code(code)?.number;
}

/** The alphabetic code for an ISO 4217 numeric code, when it is a currency a card can hold. */
export function currencyFromNumeric(numeric: string): string | undefined {
  if (!/^[0-9]{3}$/.test(numeric)) return undefined;
  const code = currencyCodes.number(numeric)?.code;
  return code !== undefined && findCurrency(code) !== undefined ? code : undefined;
}
