import { randomInt } from 'node:crypto';
import { luhnValid } from '../platform/redact.js';

/** The Luhn check digit that makes `digits` + it pass the check. */
export function luhnCheckDigit(digits: string): string {
  let sum = 0;
  // Walking right to left over the payload, the check digit's neighbour is doubled first.
  for (let index = digits.length - 1, double = true; index >= 0; index -= 1, double = !double) {
    let digit = digits.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) throw new RangeError('a PAN is digits only');
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return String((10 - (sum % 10)) % 10);
}

/**
 * A new PAN: the programme's BIN, then uniformly random account digits from the CSPRNG (never sequential, so one
 * card number says nothing about the next), then the Luhn check digit. Uniqueness is the database's job: the
 * caller retries on a blind-index collision.
 */
export function generatePan(bin: string, panLength: number): string {
  const randomDigits = panLength - bin.length - 1;
  if (!/^\d{6,8}$/.test(bin) || randomDigits < 3 || panLength > 19) {
    throw new RangeError('a PAN needs a 6 to 8 digit BIN and at least 3 account digits');
  }
  let account = '';
  for (let index = 0; index < randomDigits; index += 1) account += String(randomInt(10));
  const payload = bin + account;
  const pan = payload + luhnCheckDigit(payload);
  if (!luhnValid(pan)) throw new Error('generated PAN fails the Luhn check');
  return pan;
}

export interface Expiry {
  readonly month: number;
  readonly year: number;
}

/** A card is valid through the last day of its expiry month, `validityMonths` after issue (UTC). */
export function expiryFrom(issued: Date, validityMonths: number): Expiry {
  const months = issued.getUTCFullYear() * 12 + issued.getUTCMonth() + validityMonths;
  return { month: (months % 12) + 1, year: Math.floor(months / 12) };
}

/** YYMM, as the CVV method and ISO 8583 field 14 write an expiry. */
export function expiryYYMM(expiry: Expiry): string {
  return `${String(expiry.year % 100).padStart(2, '0')}${String(expiry.month).padStart(2, '0')}`;
}

/** True once the expiry month has ended. */
export function isExpired(expiry: Expiry, at: Date): boolean {
  const nowMonths = at.getUTCFullYear() * 12 + at.getUTCMonth();
  return nowMonths > expiry.year * 12 + (expiry.month - 1);
}
