import { isIP } from 'node:net';
import { isCountryCode } from '../platform/countries.js';
import { invalidRequest } from '../platform/errors.js';
import { isRecord } from '../platform/records.js';

/**
 * A cardholder's personal data: what the PDPO (Cap. 486) protects, so it is stored only as one encrypted document
 * (cardholders.pii_encrypted) and found only by keyed blind indexes. Every message here names the field at fault
 * and never repeats its value: errors are logged and stored as idempotent answers, and must not leak it there.
 */
export interface Address {
  readonly line1: string;
  readonly line2: string | null;
  readonly city: string;
  readonly state: string | null;
  readonly postal_code: string | null;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
}

export interface PersonalData {
  readonly name: string;
  readonly email: string | null;
  /** E.164: `+` and up to 15 digits. */
  readonly phone_number: string | null;
  /** YYYY-MM-DD, a real date in the past. */
  readonly date_of_birth: string | null;
  /** ISO 3166-1 alpha-2. */
  readonly nationality: string | null;
  /** As the cardholder stated it: due diligence weighs what passes through the card against it. */
  readonly occupation: string | null;
  readonly address: Address | null;
  /** The address the cardholder onboarded from, in its canonical form (IPv6 compressed, lower case). */
  readonly ip_address: string | null;
  readonly device_id: string | null;
}

export interface AddressInput {
  readonly line1: string;
  readonly line2?: string | null;
  readonly city: string;
  readonly state?: string | null;
  readonly postal_code?: string | null;
  readonly country: string;
}

/** Personal fields as a caller gives them: absent or null means none. */
export interface PersonalDataInput {
  readonly name: string;
  readonly email?: string | null;
  readonly phone_number?: string | null;
  readonly date_of_birth?: string | null;
  readonly nationality?: string | null;
  readonly occupation?: string | null;
  readonly address?: AddressInput | null;
  readonly ip_address?: string | null;
  readonly device_id?: string | null;
}

export const PERSONAL_FIELDS = [
  'name',
  'email',
  'phone_number',
  'date_of_birth',
  'nationality',
  'occupation',
  'address',
  'ip_address',
  'device_id',
] as const satisfies readonly (keyof PersonalData)[];

/** What the blind indexes are keyed by: one HMAC domain each, so equal strings of two kinds never match. */
export const BLIND_INDEX_DOMAINS = {
  email: 'email',
  phone_number: 'phone',
  device_id: 'device',
  ip_address: 'ip',
} as const;

export const NAME_LENGTH_MAX = 200;
export const EMAIL_LENGTH_MAX = 254;
export const ADDRESS_FIELD_LENGTH_MAX = 200;
export const DEVICE_ID_LENGTH_MAX = 200;
export const OCCUPATION_LENGTH_MAX = 200;
export const E164 = /^\+[1-9][0-9]{1,14}$/;
// Deliberately loose (one @, a dot in the domain, no spaces): the schema's `email` format is the strict check at
// the HTTP edge; this one guards callers that reach the domain directly.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Nobody alive was born before this; a date before it is a typo. */
const BIRTH_DATE_MIN = '1900-01-01';

function text(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

function checkLength(value: string | null, max: number, param: string): void {
  if (value !== null && value.length > max) {
    throw invalidRequest('parameter_invalid', `${param} is longer than ${max} characters`, param);
  }
}

/** A real calendar date (not 2023-02-30), from 1900 and before today in UTC. */
function checkBirthDate(value: string, today: Date): void {
  const match = DATE.exec(value);
  const [year, month, day] = [Number(match?.[1]), Number(match?.[2]), Number(match?.[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  const real =
    match !== null &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day;
  if (!real) {
    throw invalidRequest(
      'date_of_birth_invalid',
      'date_of_birth must be a real date written YYYY-MM-DD',
      'date_of_birth',
    );
  }
  if (value < BIRTH_DATE_MIN || value >= today.toISOString().slice(0, 10)) {
    throw invalidRequest(
      'date_of_birth_invalid',
      `date_of_birth must be in the past and not before ${BIRTH_DATE_MIN}`,
      'date_of_birth',
    );
  }
}

function checkCountry(value: string, param: string): void {
  if (!isCountryCode(value)) {
    throw invalidRequest('country_invalid', `${param} must be an ISO 3166-1 alpha-2 country code`, param);
  }
}

/**
 * One written form per address, so the same address always has the same blind index: IPv4 as dotted decimal,
 * IPv6 compressed in lower case (the URL parser's canonical form). Zone ids (`%eth0`) are refused: they name an
 * interface on the client's machine, not an address.
 */
export function canonicalIp(value: string): string | undefined {
  const version = isIP(value);
  if (version === 4) return value;
  if (version !== 6 || value.includes('%')) return undefined;
  try {
    return new URL(`http://[${value}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** How an email address is compared: case does not matter in practice, whatever RFC 5321 allows the local part. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Checks and tidies personal data (trimmed strings, canonical IP, absent as null). `today` bounds the date of birth.
 * Throws a 400 naming the field; never returns data it has not checked.
 */
export function normalizePersonalData(input: PersonalDataInput, today: Date): PersonalData {
  const name = text(input.name);
  if (name === null) throw invalidRequest('parameter_invalid', 'name must not be empty', 'name');
  checkLength(name, NAME_LENGTH_MAX, 'name');

  const email = text(input.email);
  checkLength(email, EMAIL_LENGTH_MAX, 'email');
  if (email !== null && !EMAIL.test(email)) {
    throw invalidRequest('email_invalid', 'email must be an email address', 'email');
  }

  const phone = text(input.phone_number);
  if (phone !== null && !E164.test(phone)) {
    throw invalidRequest(
      'phone_number_invalid',
      'phone_number must be in E.164 form: + and up to 15 digits',
      'phone_number',
    );
  }

  const dateOfBirth = text(input.date_of_birth);
  if (dateOfBirth !== null) checkBirthDate(dateOfBirth, today);

  const nationality = text(input.nationality);
  if (nationality !== null) checkCountry(nationality, 'nationality');

  const occupation = text(input.occupation);
  checkLength(occupation, OCCUPATION_LENGTH_MAX, 'occupation');

  let address: Address | null = null;
  if (input.address !== undefined && input.address !== null) {
    const given = input.address;
    const line1 = text(given.line1);
    const city = text(given.city);
    const country = text(given.country);
    if (line1 === null)
      throw invalidRequest('parameter_missing', 'address[line1] is required', 'address[line1]');
    if (city === null)
      throw invalidRequest('parameter_missing', 'address[city] is required', 'address[city]');
    if (country === null) {
      throw invalidRequest('parameter_missing', 'address[country] is required', 'address[country]');
    }
    checkCountry(country, 'address[country]');
    address = {
      line1,
      line2: text(given.line2),
      city,
      state: text(given.state),
      postal_code: text(given.postal_code),
      country,
    };
    for (const field of ['line1', 'line2', 'city', 'state', 'postal_code'] as const) {
      checkLength(address[field], ADDRESS_FIELD_LENGTH_MAX, `address[${field}]`);
    }
  }

  const ipGiven = text(input.ip_address);
  const ip = ipGiven === null ? null : canonicalIp(ipGiven);
  if (ip === undefined) {
    throw invalidRequest('ip_address_invalid', 'ip_address must be an IPv4 or IPv6 address', 'ip_address');
  }

  const deviceId = text(input.device_id);
  checkLength(deviceId, DEVICE_ID_LENGTH_MAX, 'device_id');

  return {
    name,
    email,
    phone_number: phone,
    date_of_birth: dateOfBirth,
    nationality,
    occupation,
    address,
    ip_address: ip,
    device_id: deviceId,
  };
}

/** The values the blind indexes are computed from, normalised so equal data indexes equally. */
export function blindIndexValues(
  data: PersonalData,
): Record<keyof typeof BLIND_INDEX_DOMAINS, string | null> {
  return {
    email: data.email === null ? null : normalizeEmail(data.email),
    phone_number: data.phone_number,
    device_id: data.device_id,
    ip_address: data.ip_address,
  };
}

/** The stored document: versioned, so a later change of shape can still read what was written before it. */
interface StoredPersonalData extends PersonalData {
  readonly v: 1;
}

export function serializePersonalData(data: PersonalData): Buffer {
  const stored: StoredPersonalData = { v: 1, ...data };
  return Buffer.from(JSON.stringify(stored), 'utf8');
}

const stringOrNull = (value: unknown): value is string | null => value === null || typeof value === 'string';

/**
 * Reads a decrypted document. AES-GCM already proved it is ours and unaltered, so a wrong shape means a bug or a
 * newer writer; either way it is refused rather than shown half-read. A field added since (`occupation`) is null in
 * a document written before it: the cardholder had not given it.
 */
export function parsePersonalData(plaintext: Buffer): PersonalData {
  const parsed: unknown = JSON.parse(plaintext.toString('utf8'));
  if (!isRecord(parsed) || parsed.v !== 1 || typeof parsed.name !== 'string') {
    throw new Error('stored personal data has an unknown shape');
  }
  const address = parsed.address;
  const addressOk =
    address === null ||
    (isRecord(address) &&
      typeof address.line1 === 'string' &&
      typeof address.city === 'string' &&
      typeof address.country === 'string' &&
      stringOrNull(address.line2) &&
      stringOrNull(address.state) &&
      stringOrNull(address.postal_code));
  const fieldsOk = (
    ['email', 'phone_number', 'date_of_birth', 'nationality', 'ip_address', 'device_id'] as const
  )
    .map((field) => parsed[field])
    .every(stringOrNull);
  const occupation = parsed.occupation ?? null;
  if (!addressOk || !fieldsOk || !stringOrNull(occupation)) {
    throw new Error('stored personal data has an unknown shape');
  }
  const { v: _version, ...data } = parsed as unknown as StoredPersonalData;
  return { ...data, occupation };
}
