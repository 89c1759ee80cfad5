import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import * as ajvFormats from 'ajv-formats';
import { ParseOption, XmlDocument, XmlLibError, XsdValidator, type ErrorDetail } from 'libxml2-wasm';
import { isCountryCode } from '../../platform/countries.js';
import { LantauError, invalidRequest } from '../../platform/errors.js';
import { findCurrency, type Currency } from '../../platform/money.js';
import { isRecord } from '../../platform/records.js';
import {
  KYC_STATUSES,
  VERIFICATION_STATUSES,
  type KycStatus,
  type VerificationStatus,
} from '../kyc/status.js';

/**
 * The suspicious-transaction report (STR) package: what a case decided `reported` hands to the JFIU, Hong Kong's
 * Joint Financial Intelligence Unit (disclosures under OSCO, DTROP and UNATMO go to it through STREAMS 2). One pure
 * function builds it as JSON and as XML from what the caller gathered (the case, its alerts, the cardholder with
 * their personal data already decrypted, their wallets, cards and transactions, the analyst's grounds); two
 * validators check either form against its schema in `schemas/`.
 *
 * The layout is the usual FIU report's (goAML's and the JFIU's STR proforma): report details, reporting institution,
 * reporting officer, subject, accounts, transactions, reason for suspicion, action taken. STREAMS 2's own XML schema
 * is issued to registered reporting institutions and not published, so this is Lantau's format, carrying every
 * field the proforma asks for, that a filing maps onto it.
 *
 * The package holds personal data in the clear: it is for filing, never for logs. Errors name the field at fault
 * and never repeat its value, as personal-data.ts does, since errors are logged.
 */

// ---- What the caller gives ----------------------------------------------------------------------------------------

/** An instant: ISO 8601 (RFC 3339) with an offset, or a Date as the database returns a timestamptz. */
export type StrTime = string | Date;

/**
 * The money movements an STR lists: the monitor's activity kinds (activity.ts) less card events and onboarding. A
 * `load_declined` is an attempted load the KYC tier refused: no money moved, and FIU reports list attempts too.
 */
export const STR_TRANSACTION_KINDS = [
  'load',
  'load_declined',
  'unload',
  'authorization',
  'capture',
  'force_post',
  'refund',
] as const;
export type StrTransactionKind = (typeof STR_TRANSACTION_KINDS)[number];

/** Seen from the cardholder's wallet: loads and refunds put money in, the rest take it out (or ask to). */
const DIRECTION_OF: Readonly<Record<StrTransactionKind, 'credit' | 'debit'>> = {
  load: 'credit',
  load_declined: 'credit',
  unload: 'debit',
  authorization: 'debit',
  capture: 'debit',
  force_post: 'debit',
  refund: 'credit',
};

export interface StrInstitution {
  readonly programId: string;
  readonly programName: string;
  /** The issuer's stored value facility licence number (Cap. 584), as the programme configured it. */
  readonly licenceNumber: string;
  /**
   * The licensed institution's own particulars, as the programme configured them. Absent, null or blank: not
   * configured, and the package says null rather than guess (the programme's name is not the institution's).
   */
  readonly name?: string | null;
  readonly address?: string | null;
  /** Whom the JFIU may call about the institution's reports (its MLRO, say), beside the analyst who decided. */
  readonly contactName?: string | null;
  /** E.164. */
  readonly contactPhone?: string | null;
  readonly contactEmail?: string | null;
  /** The software that produced the package. */
  readonly platform: { readonly name: string; readonly version: string };
}

export interface StrAddress {
  readonly line1: string;
  readonly line2?: string | null;
  readonly city: string;
  readonly state?: string | null;
  readonly postalCode?: string | null;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
}

/**
 * A KYC verification of the subject: the identification evidence Lantau holds. It keeps no document numbers; the
 * provider's reference finds the provider's own record of what was checked.
 */
export interface StrIdentityVerification {
  readonly id: string;
  /** The provider's name, as verifications name it (`kyc_verifications.provider`). */
  readonly provider: string;
  readonly status: VerificationStatus;
  readonly reference?: string | null;
  readonly startedAt: StrTime;
  /** When it was verified or rejected; null while it is open. */
  readonly decidedAt?: StrTime | null;
}

/** The cardholder, personal data decrypted by the caller. Absent or null: the cardholder never gave it. */
export interface StrSubject {
  readonly id: string;
  readonly name: string;
  /** YYYY-MM-DD. */
  readonly dateOfBirth?: string | null;
  /** ISO 3166-1 alpha-2. */
  readonly nationality?: string | null;
  readonly occupation?: string | null;
  readonly address?: StrAddress | null;
  readonly email?: string | null;
  /** E.164. */
  readonly phoneNumber?: string | null;
  readonly kycStatus: KycStatus;
  /** Every verification of the subject, open ones too; absent: none. */
  readonly identityVerifications?: readonly StrIdentityVerification[];
}

/** A wallet. */
export interface StrAccount {
  readonly id: string;
  readonly currency: string;
  /** Posted balance, in the currency's minor units. */
  readonly balance: number;
  readonly status: string;
}

export interface StrCard {
  readonly id: string;
  readonly last4: string;
  readonly status: string;
}

export interface StrMerchant {
  readonly name?: string | null;
  /** ISO 3166-1 alpha-2. */
  readonly country?: string | null;
  /** Four digits. */
  readonly mcc?: string | null;
}

export interface StrTransaction {
  readonly id: string;
  readonly kind: StrTransactionKind;
  readonly at: StrTime;
  /** In `currency`'s minor units: HKD 12.50 is 1250. */
  readonly amount: number;
  readonly currency: string;
  /** Authorizations only: whether it was approved. */
  readonly approved?: boolean | null;
  /** The card it was made with, one of the package's cards (null for loads and unloads). */
  readonly cardId?: string | null;
  /** The wallet it moved, one of the package's accounts. */
  readonly accountId?: string | null;
  readonly merchant?: StrMerchant | null;
}

/** An alert behind the case, as the monitor raised it (monitor.ts's AmlAlert). */
export interface StrAlert {
  readonly id: string;
  readonly scenario: string;
  readonly reason: string;
  readonly summary: string;
  readonly window: { readonly from: StrTime; readonly to: StrTime };
  /** The transactions and card events it listed. */
  readonly activityIds: readonly string[];
}

/** The operator user who decided to report: the JFIU's contact for the report. */
export interface StrAnalyst {
  readonly userId: string;
  readonly name: string;
  readonly email: string;
}

export interface StrInput {
  readonly reportId: string;
  readonly caseId: string;
  /** When the analyst decided to report. */
  readonly decidedAt: StrTime;
  readonly institution: StrInstitution;
  readonly subject: StrSubject;
  readonly accounts: readonly StrAccount[];
  readonly cards: readonly StrCard[];
  /** At least one: an STR reports transactions. */
  readonly transactions: readonly StrTransaction[];
  readonly alerts: readonly StrAlert[];
  /** The analyst's written reasons for suspicion. */
  readonly grounds: string;
  readonly analyst: StrAnalyst;
  /** What the institution did about it (cards paused, relationship ended), in words. */
  readonly actionTaken?: string | null;
}

// ---- What the package is (schemas/str-package.schema.json) --------------------------------------------------------

export interface StrWindowJson {
  readonly from: string;
  readonly to: string;
}

export interface StrIdentityVerificationJson {
  readonly id: string;
  readonly provider: string;
  readonly status: VerificationStatus;
  readonly reference: string | null;
  readonly started_at: string;
  readonly decided_at: string | null;
}

export interface StrSubjectJson {
  readonly cardholder_id: string;
  readonly name: string;
  readonly date_of_birth: string | null;
  readonly nationality: string | null;
  readonly occupation: string | null;
  readonly address: {
    readonly line1: string;
    readonly line2: string | null;
    readonly city: string;
    readonly state: string | null;
    readonly postal_code: string | null;
    readonly country: string;
  } | null;
  readonly email: string | null;
  readonly phone_number: string | null;
  readonly kyc_status: KycStatus;
  readonly identity_verifications: readonly StrIdentityVerificationJson[];
}

export interface StrAccountJson {
  readonly id: string;
  readonly currency: string;
  readonly balance: number;
  readonly status: string;
}

export interface StrCardJson {
  readonly id: string;
  readonly last4: string;
  readonly status: string;
}

export interface StrTransactionJson {
  readonly id: string;
  readonly kind: StrTransactionKind;
  readonly direction: 'credit' | 'debit';
  readonly at: string;
  readonly amount: number;
  readonly currency: string;
  readonly approved: boolean | null;
  readonly card_id: string | null;
  readonly account_id: string | null;
  readonly merchant: {
    readonly name: string | null;
    readonly country: string | null;
    readonly mcc: string | null;
  } | null;
}

export interface StrTotalJson {
  readonly currency: string;
  readonly kind: StrTransactionKind;
  readonly count: number;
  readonly amount: number;
}

export interface StrAlertJson {
  readonly id: string;
  readonly scenario: string;
  readonly reason: string;
  readonly summary: string;
  readonly window: StrWindowJson;
  readonly activity_ids: readonly string[];
}

export interface StrPackageJson {
  readonly object: 'str_package';
  readonly format_version: 1;
  readonly report: {
    readonly id: string;
    readonly kind: 'suspicious_transaction_report';
    readonly recipient: 'HK-JFIU';
    readonly case_id: string;
    readonly decided_at: string;
    /** From the first transaction to the last. */
    readonly period: StrWindowJson;
  };
  readonly reporting_entity: {
    readonly program_id: string;
    readonly program_name: string;
    readonly licence_number: string;
    /** Null: the programme did not configure it. */
    readonly name: string | null;
    readonly address: string | null;
    readonly contact_name: string | null;
    readonly contact_phone: string | null;
    readonly contact_email: string | null;
    readonly platform: { readonly name: string; readonly version: string };
  };
  readonly reporting_officer: { readonly user_id: string; readonly name: string; readonly email: string };
  readonly subject: StrSubjectJson;
  readonly accounts: readonly StrAccountJson[];
  readonly cards: readonly StrCardJson[];
  readonly transactions: readonly StrTransactionJson[];
  readonly totals: readonly StrTotalJson[];
  readonly alerts: readonly StrAlertJson[];
  readonly reason_for_suspicion: string;
  readonly action_taken: string | null;
}

export interface StrPackage {
  readonly json: StrPackageJson;
  /** XML with its UTF-8 declaration (schemas/str-package.xsd): written out as UTF-8 bytes, as declared. */
  readonly xml: string;
}

export const STR_XML_NAMESPACE = 'urn:lantau:str-package:1';

// ---- Limits -------------------------------------------------------------------------------------------------------

// Every list has a bound: a report larger than these is a case to split or narrow, not a file to send.
const ACCOUNTS_MAX = 100;
const CARDS_MAX = 1_000;
const TRANSACTIONS_MAX = 10_000;
const ALERTS_MAX = 1_000;
const ACTIVITY_IDS_MAX = 10_000;
const IDENTITY_VERIFICATIONS_MAX = 100;
/** Validators report at most this many problems: past a few, more say nothing new. */
const PROBLEMS_MAX = 50;

const NAME_LENGTH_MAX = 200;
const LABEL_LENGTH_MAX = 64;
const EMAIL_LENGTH_MAX = 254;
const INSTITUTION_ADDRESS_LENGTH_MAX = 500;
/** As long as a provider's reference may be (compliance/kyc/providers.ts). */
const REFERENCE_LENGTH_MAX = 255;
const ALERT_REASON_LENGTH_MAX = 500;
const ALERT_SUMMARY_LENGTH_MAX = 2_000;
const ACTION_LENGTH_MAX = 4_000;
const GROUNDS_LENGTH_MAX = 20_000;

// ---- Reading the input --------------------------------------------------------------------------------------------

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;
const STATUS = /^[a-z][a-z0-9_]{0,31}$/;
const SCENARIO = /^[a-z][a-z0-9_]{0,63}$/;
/** A KYC provider's name, as compliance/kyc/providers.ts allows it. */
const PROVIDER = /^[a-z][a-z0-9_]{0,31}$/;
const FOUR_DIGITS = /^[0-9]{4}$/;
const E164 = /^\+[1-9][0-9]{1,14}$/;
// Loose on purpose (one @, a dot in the domain, no spaces), as personal-data.ts checks: the package reports what
// the cardholder gave, and the schemas hold it to the same rule.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
/** A character XML 1.0 cannot carry: C0 controls but tab and line ends, lone surrogates, U+FFFE and U+FFFF. */
const XML_UNSAFE = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function missing(param: string): LantauError {
  return invalidRequest(
    'parameter_missing',
    `${param} is required for a suspicious-transaction report`,
    param,
  );
}

function invalid(param: string, rule: string): LantauError {
  return invalidRequest('parameter_invalid', `${param} ${rule}`, param);
}

function readRecord(value: unknown, param: string): Record<string, unknown> {
  if (value === undefined || value === null) throw missing(param);
  if (!isRecord(value)) throw invalid(param, 'must be an object');
  return value;
}

function readList(value: unknown, param: string, max: number): readonly unknown[] {
  if (value === undefined || value === null) throw missing(param);
  if (!Array.isArray(value)) throw invalid(param, 'must be a list');
  if (value.length > max) throw invalid(param, `has more than ${max} items: narrow the report`);
  return value as readonly unknown[];
}

/** Text trimmed; blank is missing. Refused whole rather than cleaned: a filed report says what was recorded. */
function readText(value: unknown, param: string, max: number): string {
  if (value === undefined || value === null) throw missing(param);
  if (typeof value !== 'string') throw invalid(param, 'must be text');
  const text = value.trim();
  if (text === '') throw missing(param);
  if (text.length > max) throw invalid(param, `is longer than ${max} characters`);
  if (XML_UNSAFE.test(text)) {
    throw invalid(param, 'contains a character XML cannot carry (a control character or a lone surrogate)');
  }
  return text;
}

/** An optional field left out, null, or blank: the cardholder never gave it. */
function absent(value: unknown): value is undefined | null | '' {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

function readOptionalText(value: unknown, param: string, max: number): string | null {
  return absent(value) ? null : readText(value, param, max);
}

function readPattern(value: unknown, param: string, pattern: RegExp, rule: string): string {
  if (value === undefined || value === null || value === '') throw missing(param);
  if (typeof value !== 'string' || !pattern.test(value)) throw invalid(param, rule);
  return value;
}

function readOptionalPattern(value: unknown, param: string, pattern: RegExp, rule: string): string | null {
  return absent(value) ? null : readPattern(value, param, pattern, rule);
}

function readId(value: unknown, param: string): string {
  return readPattern(value, param, ID, 'must be an id (letters, digits and _ . : - only)');
}

function readOptionalId(value: unknown, param: string): string | null {
  return absent(value) ? null : readId(value, param);
}

function readStatus(value: unknown, param: string): string {
  return readPattern(value, param, STATUS, 'must be a status in snake_case');
}

function readEmail(value: unknown, param: string): string {
  const text = readText(value, param, EMAIL_LENGTH_MAX);
  if (!EMAIL.test(text)) throw invalid(param, 'must be an email address');
  return text;
}

function readOptionalEmail(value: unknown, param: string): string | null {
  return absent(value) ? null : readEmail(value, param);
}

function readOptionalPhone(value: unknown, param: string): string | null {
  return readOptionalPattern(value, param, E164, 'must be E.164');
}

function readCountry(value: unknown, param: string): string {
  if (value === undefined || value === null) throw missing(param);
  if (typeof value !== 'string' || !isCountryCode(value)) {
    throw invalidRequest('country_invalid', `${param} must be an ISO 3166-1 alpha-2 country code`, param);
  }
  return value;
}

function readOptionalCountry(value: unknown, param: string): string | null {
  return absent(value) ? null : readCountry(value, param);
}

function readCurrency(value: unknown, param: string): Currency {
  const currency = typeof value === 'string' ? findCurrency(value) : undefined;
  if (currency === undefined) {
    throw invalidRequest(
      'currency_invalid',
      `${param} must be an ISO 4217 currency code a card can hold`,
      param,
    );
  }
  return currency;
}

/** Integer minor units that a JavaScript number and a BIGINT hold exactly; 0 is an account verification. */
function readAmount(value: unknown, param: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidRequest(
      'amount_invalid',
      `${param} must be a whole number of the currency's minor unit, 0 or more (HKD 12.50 is 1250)`,
      param,
    );
  }
  return value;
}

function readDate(value: unknown, param: string): string | null {
  if (absent(value)) return null;
  const match = typeof value === 'string' ? DATE.exec(value) : null;
  if (match === null || !isCalendarDate(Number(match[1]), Number(match[2]), Number(match[3]))) {
    throw invalid(param, 'must be a real date written YYYY-MM-DD');
  }
  return match[0];
}

function isCalendarDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

// ---- Times --------------------------------------------------------------------------------------------------------

/**
 * Times are written in Hong Kong Time, the JFIU's: a fixed +08:00, since Hong Kong keeps no summer time. One offset
 * for the whole package, whatever offsets the caller's times had, so the same instant is always the same text.
 */
const REPORT_OFFSET_MS = 8 * 3_600_000;
const REPORT_OFFSET = '+08:00';
const TIME_MIN_MS = Date.UTC(1970, 0, 1);
/** Keeps every written year at four digits. */
const TIME_MAX_MS = Date.UTC(9998, 11, 31);
const RFC3339 =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:Z|([+-])([0-9]{2}):([0-9]{2}))$/;

interface Instant {
  readonly ms: number;
  readonly text: string;
}

/** Epoch milliseconds of an RFC 3339 time, or NaN. Date.parse alone would take 2023-02-30 as 2 March. */
function parseRfc3339(text: string): number {
  const match = RFC3339.exec(text);
  if (match === null) return Number.NaN;
  const field = (index: number): number => Number(match[index]);
  const [year, month, day, hour, minute, second] = [
    field(1),
    field(2),
    field(3),
    field(4),
    field(5),
    field(6),
  ];
  if (year < 1970 || !isCalendarDate(year, month, day) || hour > 23 || minute > 59 || second > 59) {
    return Number.NaN;
  }
  let offsetMs = 0;
  const sign = match[8];
  if (sign !== undefined) {
    const [offsetHour, offsetMinute] = [field(9), field(10)];
    if (offsetHour > 23 || offsetMinute > 59) return Number.NaN;
    offsetMs = (sign === '-' ? -1 : 1) * (offsetHour * 60 + offsetMinute) * 60_000;
  }
  // Milliseconds are as fine as a Date goes; further digits are dropped, not rounded.
  const ms = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMs;
}

function readTime(value: unknown, param: string): Instant {
  if (value === undefined || value === null) throw missing(param);
  const ms =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? parseRfc3339(value) : Number.NaN;
  if (!Number.isFinite(ms) || ms < TIME_MIN_MS || ms > TIME_MAX_MS) {
    throw invalid(param, 'must be an ISO 8601 time with an offset, such as 2026-03-01T09:30:00+08:00');
  }
  return { ms, text: reportTime(ms) };
}

/** `2026-03-01T09:30:00+08:00`, with milliseconds only when there are some. */
function reportTime(ms: number): string {
  const local = new Date(ms + REPORT_OFFSET_MS).toISOString();
  const millis = local.slice(19, 23);
  return `${local.slice(0, 19)}${millis === '.000' ? '' : millis}${REPORT_OFFSET}`;
}

function readWindow(value: unknown, param: string): StrWindowJson {
  const window = readRecord(value, param);
  const from = readTime(window.from, `${param}.from`);
  const to = readTime(window.to, `${param}.to`);
  if (to.ms < from.ms) throw invalid(`${param}.to`, `must not be before ${param}.from`);
  return { from: from.text, to: to.text };
}

// ---- Building the JSON --------------------------------------------------------------------------------------------

function institutionJson(value: unknown): StrPackageJson['reporting_entity'] {
  const institution = readRecord(value, 'institution');
  const platform = readRecord(institution.platform, 'institution.platform');
  return {
    program_id: readId(institution.programId, 'institution.programId'),
    program_name: readText(institution.programName, 'institution.programName', NAME_LENGTH_MAX),
    licence_number: readText(institution.licenceNumber, 'institution.licenceNumber', LABEL_LENGTH_MAX),
    name: readOptionalText(institution.name, 'institution.name', NAME_LENGTH_MAX),
    address: readOptionalText(institution.address, 'institution.address', INSTITUTION_ADDRESS_LENGTH_MAX),
    contact_name: readOptionalText(institution.contactName, 'institution.contactName', NAME_LENGTH_MAX),
    contact_phone: readOptionalPhone(institution.contactPhone, 'institution.contactPhone'),
    contact_email: readOptionalEmail(institution.contactEmail, 'institution.contactEmail'),
    platform: {
      name: readText(platform.name, 'institution.platform.name', LABEL_LENGTH_MAX),
      version: readText(platform.version, 'institution.platform.version', LABEL_LENGTH_MAX),
    },
  };
}

/** The analyst is who the JFIU calls back: a report without one is refused with its own code. */
function analystJson(value: unknown): StrPackageJson['reporting_officer'] {
  const refuse = (param: string) =>
    invalidRequest(
      'str_analyst_missing',
      `A suspicious-transaction report names the analyst who decided it: ${param} is missing or malformed`,
      param,
    );
  if (!isRecord(value)) throw refuse('analyst');
  try {
    return {
      user_id: readId(value.userId, 'analyst.userId'),
      name: readText(value.name, 'analyst.name', NAME_LENGTH_MAX),
      email: readEmail(value.email, 'analyst.email'),
    };
  } catch (error) {
    throw refuse(error instanceof LantauError ? (error.param ?? 'analyst') : 'analyst');
  }
}

function groundsText(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw invalidRequest(
      'str_grounds_missing',
      'A suspicious-transaction report needs the analyst’s written grounds for suspicion (grounds)',
      'grounds',
    );
  }
  return readText(value, 'grounds', GROUNDS_LENGTH_MAX);
}

function subjectJson(value: unknown): StrSubjectJson {
  const subject = readRecord(value, 'subject');
  const kycStatus = subject.kycStatus;
  if (typeof kycStatus !== 'string' || !(KYC_STATUSES as readonly string[]).includes(kycStatus)) {
    throw invalid('subject.kycStatus', `must be one of ${KYC_STATUSES.join(', ')}`);
  }
  return {
    cardholder_id: readId(subject.id, 'subject.id'),
    name: readText(subject.name, 'subject.name', NAME_LENGTH_MAX),
    date_of_birth: readDate(subject.dateOfBirth, 'subject.dateOfBirth'),
    nationality: readOptionalCountry(subject.nationality, 'subject.nationality'),
    occupation: readOptionalText(subject.occupation, 'subject.occupation', NAME_LENGTH_MAX),
    address: addressJson(subject.address),
    email: readOptionalEmail(subject.email, 'subject.email'),
    phone_number: readOptionalPhone(subject.phoneNumber, 'subject.phoneNumber'),
    kyc_status: kycStatus as KycStatus,
    identity_verifications: identityVerificationsJson(subject.identityVerifications),
  };
}

function identityVerificationsJson(value: unknown): StrIdentityVerificationJson[] {
  if (value === undefined || value === null) return [];
  const list = readList(value, 'subject.identityVerifications', IDENTITY_VERIFICATIONS_MAX);
  const verifications = list.map((item, index) => {
    const param = `subject.identityVerifications[${index}]`;
    const verification = readRecord(item, param);
    const status = verification.status;
    if (typeof status !== 'string' || !(VERIFICATION_STATUSES as readonly string[]).includes(status)) {
      throw invalid(`${param}.status`, `must be one of ${VERIFICATION_STATUSES.join(', ')}`);
    }
    const started = readTime(verification.startedAt, `${param}.startedAt`);
    const decided = absent(verification.decidedAt)
      ? null
      : readTime(verification.decidedAt, `${param}.decidedAt`);
    if (decided !== null && decided.ms < started.ms) {
      throw invalid(`${param}.decidedAt`, `must not be before ${param}.startedAt`);
    }
    return {
      id: readId(verification.id, `${param}.id`),
      provider: readPattern(
        verification.provider,
        `${param}.provider`,
        PROVIDER,
        'must be a provider name in snake_case',
      ),
      status: status as VerificationStatus,
      reference: readOptionalText(verification.reference, `${param}.reference`, REFERENCE_LENGTH_MAX),
      started_at: started.text,
      decided_at: decided?.text ?? null,
    };
  });
  assertUnique(verifications, 'subject.identityVerifications');
  return verifications.sort(byId);
}

function addressJson(value: unknown): StrSubjectJson['address'] {
  if (value === undefined || value === null) return null;
  const address = readRecord(value, 'subject.address');
  return {
    line1: readText(address.line1, 'subject.address.line1', NAME_LENGTH_MAX),
    line2: readOptionalText(address.line2, 'subject.address.line2', NAME_LENGTH_MAX),
    city: readText(address.city, 'subject.address.city', NAME_LENGTH_MAX),
    state: readOptionalText(address.state, 'subject.address.state', NAME_LENGTH_MAX),
    postal_code: readOptionalText(address.postalCode, 'subject.address.postalCode', NAME_LENGTH_MAX),
    country: readCountry(address.country, 'subject.address.country'),
  };
}

function byId<T extends { readonly id: string }>(a: T, b: T): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function assertUnique(items: readonly { readonly id: string }[], param: string): void {
  const seen = new Set<string>();
  items.forEach(({ id }, index) => {
    if (seen.has(id)) throw invalid(`${param}[${index}].id`, `repeats an id listed before it in ${param}`);
    seen.add(id);
  });
}

function accountsJson(value: unknown): StrAccountJson[] {
  const accounts = readList(value, 'accounts', ACCOUNTS_MAX).map((item, index) => {
    const param = `accounts[${index}]`;
    const account = readRecord(item, param);
    return {
      id: readId(account.id, `${param}.id`),
      currency: readCurrency(account.currency, `${param}.currency`).code,
      balance: readAmount(account.balance, `${param}.balance`),
      status: readStatus(account.status, `${param}.status`),
    };
  });
  assertUnique(accounts, 'accounts');
  return accounts.sort(byId);
}

function cardsJson(value: unknown): StrCardJson[] {
  const cards = readList(value, 'cards', CARDS_MAX).map((item, index) => {
    const param = `cards[${index}]`;
    const card = readRecord(item, param);
    return {
      id: readId(card.id, `${param}.id`),
      last4: readPattern(
        card.last4,
        `${param}.last4`,
        FOUR_DIGITS,
        'must be the last four digits of the card',
      ),
      status: readStatus(card.status, `${param}.status`),
    };
  });
  assertUnique(cards, 'cards');
  return cards.sort(byId);
}

function merchantJson(value: unknown, param: string): StrTransactionJson['merchant'] {
  if (value === undefined || value === null) return null;
  const merchant = readRecord(value, param);
  const json = {
    name: readOptionalText(merchant.name, `${param}.name`, NAME_LENGTH_MAX),
    country: readOptionalCountry(merchant.country, `${param}.country`),
    mcc: readOptionalPattern(merchant.mcc, `${param}.mcc`, FOUR_DIGITS, 'must be a four-digit MCC'),
  };
  return json.name === null && json.country === null && json.mcc === null ? null : json;
}

interface References {
  readonly cardIds: ReadonlySet<string>;
  readonly accountIds: ReadonlySet<string>;
}

interface TimedTransaction {
  readonly json: StrTransactionJson;
  readonly ms: number;
}

function transactionJson(value: unknown, param: string, references: References): TimedTransaction {
  const transaction = readRecord(value, param);
  const kind = transaction.kind;
  if (typeof kind !== 'string' || !(STR_TRANSACTION_KINDS as readonly string[]).includes(kind)) {
    throw invalid(`${param}.kind`, `must be one of ${STR_TRANSACTION_KINDS.join(', ')}`);
  }
  const approved = transaction.approved ?? null;
  if (approved !== null && (typeof approved !== 'boolean' || kind !== 'authorization')) {
    throw invalid(`${param}.approved`, 'is true or false, and for authorizations only');
  }
  const cardId = readOptionalId(transaction.cardId, `${param}.cardId`);
  if (cardId !== null && !references.cardIds.has(cardId)) {
    throw invalid(`${param}.cardId`, 'names no card in cards: list every card the transactions name');
  }
  const accountId = readOptionalId(transaction.accountId, `${param}.accountId`);
  if (accountId !== null && !references.accountIds.has(accountId)) {
    throw invalid(
      `${param}.accountId`,
      'names no account in accounts: list every account the transactions name',
    );
  }
  const at = readTime(transaction.at, `${param}.at`);
  const json: StrTransactionJson = {
    id: readId(transaction.id, `${param}.id`),
    kind: kind as StrTransactionKind,
    direction: DIRECTION_OF[kind as StrTransactionKind],
    at: at.text,
    amount: readAmount(transaction.amount, `${param}.amount`),
    currency: readCurrency(transaction.currency, `${param}.currency`).code,
    approved,
    card_id: cardId,
    account_id: accountId,
    merchant: merchantJson(transaction.merchant, `${param}.merchant`),
  };
  return { json, ms: at.ms };
}

/** In time order (then by id), whatever order the caller read them in. */
function transactionsJson(value: unknown, references: References): StrTransactionJson[] {
  const list = readList(value, 'transactions', TRANSACTIONS_MAX);
  if (list.length === 0) throw invalid('transactions', 'must list at least one transaction');
  const transactions = list.map((item, index) => transactionJson(item, `transactions[${index}]`, references));
  assertUnique(
    transactions.map((transaction) => transaction.json),
    'transactions',
  );
  return transactions
    .sort((a, b) => a.ms - b.ms || byId(a.json, b.json))
    .map((transaction) => transaction.json);
}

/** Per currency and kind: kinds are not added together, since a capture repeats its authorization's money. */
function totalsOf(transactions: readonly StrTransactionJson[]): StrTotalJson[] {
  const totals = new Map<
    string,
    { currency: string; kind: StrTransactionKind; count: number; amount: number }
  >();
  for (const transaction of transactions) {
    const key = `${transaction.currency} ${String(STR_TRANSACTION_KINDS.indexOf(transaction.kind))}`;
    const total = totals.get(key) ?? {
      currency: transaction.currency,
      kind: transaction.kind,
      count: 0,
      amount: 0,
    };
    total.count += 1;
    total.amount += transaction.amount;
    if (!Number.isSafeInteger(total.amount)) {
      throw invalidRequest(
        'amount_invalid',
        `the ${transaction.kind} transactions in ${transaction.currency} add up past the largest exact amount`,
        'transactions',
      );
    }
    totals.set(key, total);
  }
  return [...totals.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, total]) => ({
      currency: total.currency,
      kind: total.kind,
      count: total.count,
      amount: total.amount,
    }));
}

function alertsJson(value: unknown): StrAlertJson[] {
  const alerts = readList(value, 'alerts', ALERTS_MAX).map((item, index) => {
    const param = `alerts[${index}]`;
    const alert = readRecord(item, param);
    return {
      id: readId(alert.id, `${param}.id`),
      scenario: readPattern(
        alert.scenario,
        `${param}.scenario`,
        SCENARIO,
        'must be a scenario name in snake_case',
      ),
      reason: readText(alert.reason, `${param}.reason`, ALERT_REASON_LENGTH_MAX),
      summary: readText(alert.summary, `${param}.summary`, ALERT_SUMMARY_LENGTH_MAX),
      window: readWindow(alert.window, `${param}.window`),
      activity_ids: readList(alert.activityIds, `${param}.activityIds`, ACTIVITY_IDS_MAX).map((id, at) =>
        readId(id, `${param}.activityIds[${at}]`),
      ),
    };
  });
  assertUnique(alerts, 'alerts');
  return alerts.sort(byId);
}

function packageJson(input: unknown): StrPackageJson {
  const source = readRecord(input, 'input');
  // The two a decision most often lacks first, each with its own code.
  const grounds = groundsText(source.grounds);
  const officer = analystJson(source.analyst);
  const accounts = accountsJson(source.accounts);
  const cards = cardsJson(source.cards);
  const references = {
    cardIds: new Set(cards.map((card) => card.id)),
    accountIds: new Set(accounts.map((account) => account.id)),
  };
  const transactions = transactionsJson(source.transactions, references);
  const first = transactions[0];
  const last = transactions[transactions.length - 1];
  if (first === undefined || last === undefined) throw new Error('transactionsJson returned none');
  return {
    object: 'str_package',
    format_version: 1,
    report: {
      id: readId(source.reportId, 'reportId'),
      kind: 'suspicious_transaction_report',
      recipient: 'HK-JFIU',
      case_id: readId(source.caseId, 'caseId'),
      decided_at: readTime(source.decidedAt, 'decidedAt').text,
      period: { from: first.at, to: last.at },
    },
    reporting_entity: institutionJson(source.institution),
    reporting_officer: officer,
    subject: subjectJson(source.subject),
    accounts,
    cards,
    transactions,
    totals: totalsOf(transactions),
    alerts: alertsJson(source.alerts),
    reason_for_suspicion: grounds,
    action_taken: readOptionalText(source.actionTaken, 'actionTaken', ACTION_LENGTH_MAX),
  };
}

// ---- Writing the XML ----------------------------------------------------------------------------------------------

/** An element: text, or children (null children are absent: a JSON null is an absent element). */
interface Element {
  readonly name: string;
  /** The root's default namespace, which every element below it is in. */
  readonly namespace?: string;
  readonly text?: string;
  readonly children?: readonly (Element | null)[];
}

function leaf(name: string, value: string | number | boolean | null): Element | null {
  return value === null ? null : { name, text: String(value) };
}

function branch(name: string, children: readonly (Element | null)[]): Element {
  return { name, children };
}

// Quotes need escaping only inside attribute values, which carry no data here. A carriage return is written as a
// reference because a parser turns a literal one into a line feed, and the XML must say what the JSON says.
const TEXT_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '\r': '&#13;',
};

function escapeText(text: string): string {
  return text.replace(/[&<>\r]/g, (character) => TEXT_ESCAPES[character] ?? character);
}

function writeElement(element: Element, depth: number, out: string[]): void {
  const indent = '  '.repeat(depth);
  if (element.text !== undefined) {
    out.push(`${indent}<${element.name}>${escapeText(element.text)}</${element.name}>`);
    return;
  }
  const start =
    element.namespace === undefined ? element.name : `${element.name} xmlns="${element.namespace}"`;
  const children = (element.children ?? []).filter((child): child is Element => child !== null);
  if (children.length === 0) {
    out.push(`${indent}<${start}/>`);
    return;
  }
  out.push(`${indent}<${start}>`);
  for (const child of children) writeElement(child, depth + 1, out);
  out.push(`${indent}</${element.name}>`);
}

/** Minor units as a decimal in the major unit, by digits alone (never through a float): 1250 HKD is 12.50. */
export function decimalAmount(amount: number, currency: string): string {
  const exponent = findCurrency(currency)?.exponent;
  if (exponent === undefined || !Number.isSafeInteger(amount) || amount < 0) {
    throw new RangeError('decimalAmount needs a known currency and a safe, non-negative amount');
  }
  if (exponent === 0) return String(amount);
  const digits = String(amount).padStart(exponent + 1, '0');
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

function windowElement(name: string, window: StrWindowJson): Element {
  return branch(name, [leaf('from', window.from), leaf('to', window.to)]);
}

function subjectElement(subject: StrSubjectJson): Element {
  const address = subject.address;
  return branch('subject', [
    leaf('cardholder_id', subject.cardholder_id),
    leaf('name', subject.name),
    leaf('date_of_birth', subject.date_of_birth),
    leaf('nationality', subject.nationality),
    leaf('occupation', subject.occupation),
    address === null
      ? null
      : branch('address', [
          leaf('line1', address.line1),
          leaf('line2', address.line2),
          leaf('city', address.city),
          leaf('state', address.state),
          leaf('postal_code', address.postal_code),
          leaf('country', address.country),
        ]),
    leaf('email', subject.email),
    leaf('phone_number', subject.phone_number),
    leaf('kyc_status', subject.kyc_status),
    branch(
      'identity_verifications',
      subject.identity_verifications.map((verification) =>
        branch('identity_verification', [
          leaf('id', verification.id),
          leaf('provider', verification.provider),
          leaf('status', verification.status),
          leaf('reference', verification.reference),
          leaf('started_at', verification.started_at),
          leaf('decided_at', verification.decided_at),
        ]),
      ),
    ),
  ]);
}

function transactionElement(transaction: StrTransactionJson): Element {
  const merchant = transaction.merchant;
  return branch('transaction', [
    leaf('id', transaction.id),
    leaf('kind', transaction.kind),
    leaf('direction', transaction.direction),
    leaf('at', transaction.at),
    leaf('amount', decimalAmount(transaction.amount, transaction.currency)),
    leaf('currency', transaction.currency),
    leaf('approved', transaction.approved),
    leaf('card_id', transaction.card_id),
    leaf('account_id', transaction.account_id),
    merchant === null
      ? null
      : branch('merchant', [
          leaf('name', merchant.name),
          leaf('country', merchant.country),
          leaf('mcc', merchant.mcc),
        ]),
  ]);
}

/** The JSON written as XML, element for element: one source, so both forms carry the same figures. */
function packageXml(json: StrPackageJson): string {
  const root: Element = {
    name: 'str_package',
    namespace: STR_XML_NAMESPACE,
    children: [
      leaf('format_version', json.format_version),
      branch('report', [
        leaf('id', json.report.id),
        leaf('kind', json.report.kind),
        leaf('recipient', json.report.recipient),
        leaf('case_id', json.report.case_id),
        leaf('decided_at', json.report.decided_at),
        windowElement('period', json.report.period),
      ]),
      branch('reporting_entity', [
        leaf('program_id', json.reporting_entity.program_id),
        leaf('program_name', json.reporting_entity.program_name),
        leaf('licence_number', json.reporting_entity.licence_number),
        leaf('name', json.reporting_entity.name),
        leaf('address', json.reporting_entity.address),
        leaf('contact_name', json.reporting_entity.contact_name),
        leaf('contact_phone', json.reporting_entity.contact_phone),
        leaf('contact_email', json.reporting_entity.contact_email),
        branch('platform', [
          leaf('name', json.reporting_entity.platform.name),
          leaf('version', json.reporting_entity.platform.version),
        ]),
      ]),
      branch('reporting_officer', [
        leaf('user_id', json.reporting_officer.user_id),
        leaf('name', json.reporting_officer.name),
        leaf('email', json.reporting_officer.email),
      ]),
      subjectElement(json.subject),
      branch(
        'accounts',
        json.accounts.map((account) =>
          branch('account', [
            leaf('id', account.id),
            leaf('currency', account.currency),
            leaf('balance', decimalAmount(account.balance, account.currency)),
            leaf('status', account.status),
          ]),
        ),
      ),
      branch(
        'cards',
        json.cards.map((card) =>
          branch('card', [leaf('id', card.id), leaf('last4', card.last4), leaf('status', card.status)]),
        ),
      ),
      branch('transactions', json.transactions.map(transactionElement)),
      branch(
        'totals',
        json.totals.map((total) =>
          branch('total', [
            leaf('currency', total.currency),
            leaf('kind', total.kind),
            leaf('count', total.count),
            leaf('amount', decimalAmount(total.amount, total.currency)),
          ]),
        ),
      ),
      branch(
        'alerts',
        json.alerts.map((alert) =>
          branch('alert', [
            leaf('id', alert.id),
            leaf('scenario', alert.scenario),
            leaf('reason', alert.reason),
            leaf('summary', alert.summary),
            windowElement('window', alert.window),
            branch(
              'activity_ids',
              alert.activity_ids.map((id) => leaf('activity_id', id)),
            ),
          ]),
        ),
      ),
      leaf('reason_for_suspicion', json.reason_for_suspicion),
      leaf('action_taken', json.action_taken),
    ],
  };
  const out: string[] = [];
  writeElement(root, 0, out);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${out.join('\n')}\n`;
}

// ---- Building -----------------------------------------------------------------------------------------------------

/**
 * The package for a case decided `reported`. Throws `invalidRequest` for input that cannot make a report
 * (`str_grounds_missing`, `str_analyst_missing`, `amount_invalid`, `currency_invalid`, `parameter_missing`,
 * `parameter_invalid`), naming the field and never its value. Pure: the same input gives the same bytes.
 */
export function buildStrPackage(input: StrInput): StrPackage {
  const json = packageJson(input);
  const xml = packageXml(json);
  // What was built must validate; if it does not, the bug is here, not in the caller's input.
  const problems = [...validateStrJson(json), ...validateStrXml(xml)];
  if (problems.length > 0) {
    throw new Error(`buildStrPackage built an invalid package: ${problems.join('; ')}`);
  }
  return { json, xml };
}

// ---- Validating ---------------------------------------------------------------------------------------------------

const SCHEMA_DIR = new URL('./schemas/', import.meta.url);

// ajv-formats is CommonJS with `exports.default`; under ESM that function sits one level down (as in validation.ts).
const addFormats = ajvFormats.default.default;

let jsonValidator: ValidateFunction | undefined;

/** Compiled on first use, once: most processes that import this never file a report. */
function compiledJsonSchema(): ValidateFunction {
  if (jsonValidator === undefined) {
    const schema: unknown = JSON.parse(readFileSync(new URL('str-package.schema.json', SCHEMA_DIR), 'utf8'));
    if (!isRecord(schema)) throw new Error('str-package.schema.json is not a JSON object');
    // verbose: errors carry their schema, for describeAjvError.
    const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
    addFormats(ajv);
    jsonValidator = ajv.compile(schema);
  }
  return jsonValidator;
}

/**
 * `/path: what is wrong`, from the keyword alone: ajv's `data` (the value, perhaps personal data) is never read. A
 * pattern is named by its schema's description rather than quoted as a regular expression.
 */
function describeAjvError(error: ErrorObject): string {
  const where = error.instancePath === '' ? '/' : error.instancePath;
  const extra: unknown = error.params.additionalProperty;
  const description: unknown = isRecord(error.parentSchema) ? error.parentSchema.description : undefined;
  const message =
    error.keyword === 'pattern' && typeof description === 'string'
      ? `must match its pattern: ${description}`
      : (error.message ?? 'is invalid');
  return `${where}: ${message}${typeof extra === 'string' ? ` (${extra})` : ''}`;
}

/** What the schema cannot say: known currencies, references that resolve, totals that add up, kinds that agree. */
function jsonConsistencyProblems(json: StrPackageJson): string[] {
  const problems: string[] = [];
  const currencyProblem = (currency: string, where: string) => {
    if (findCurrency(currency) === undefined) {
      problems.push(`${where}: must be an ISO 4217 currency a card can hold`);
    }
  };
  const windowProblem = (window: StrWindowJson, where: string) => {
    if (Date.parse(window.to) < Date.parse(window.from))
      problems.push(`${where}/to: must not be before from`);
  };
  const unique = (items: readonly { readonly id: string }[], where: string) => {
    const seen = new Set<string>();
    items.forEach(({ id }, index) => {
      if (seen.has(id)) problems.push(`${where}/${index}/id: repeats an earlier id`);
      seen.add(id);
    });
  };
  unique(json.accounts, '/accounts');
  unique(json.cards, '/cards');
  unique(json.transactions, '/transactions');
  json.accounts.forEach((account, index) => currencyProblem(account.currency, `/accounts/${index}/currency`));
  const cardIds = new Set(json.cards.map((card) => card.id));
  const accountIds = new Set(json.accounts.map((account) => account.id));
  json.transactions.forEach((transaction, index) => {
    const where = `/transactions/${index}`;
    currencyProblem(transaction.currency, `${where}/currency`);
    if (transaction.direction !== DIRECTION_OF[transaction.kind]) {
      problems.push(`${where}/direction: a ${transaction.kind} is a ${DIRECTION_OF[transaction.kind]}`);
    }
    if (transaction.approved !== null && transaction.kind !== 'authorization') {
      problems.push(`${where}/approved: must be null for a ${transaction.kind}`);
    }
    if (transaction.card_id !== null && !cardIds.has(transaction.card_id)) {
      problems.push(`${where}/card_id: names no card in /cards`);
    }
    if (transaction.account_id !== null && !accountIds.has(transaction.account_id)) {
      problems.push(`${where}/account_id: names no account in /accounts`);
    }
  });
  windowProblem(json.report.period, '/report/period');
  json.alerts.forEach((alert, index) => windowProblem(alert.window, `/alerts/${index}/window`));
  const times = json.transactions.map((transaction) => Date.parse(transaction.at));
  if (
    Date.parse(json.report.period.from) !== Math.min(...times) ||
    Date.parse(json.report.period.to) !== Math.max(...times)
  ) {
    problems.push('/report/period: must run from the first transaction to the last');
  }
  if (problems.length === 0) {
    let expected: StrTotalJson[] | undefined;
    try {
      expected = totalsOf(json.transactions);
    } catch {
      problems.push('/transactions: amounts add up past the largest exact amount');
    }
    if (expected !== undefined && JSON.stringify(expected) !== JSON.stringify(json.totals)) {
      problems.push('/totals: must be the transactions added up per currency and kind');
    }
  }
  return problems;
}

/** Problems with a JSON package (schemas/str-package.schema.json, then consistency); empty when it is valid. */
export function validateStrJson(json: unknown): string[] {
  const validate = compiledJsonSchema();
  if (!validate(json)) return (validate.errors ?? []).slice(0, PROBLEMS_MAX).map(describeAjvError);
  return jsonConsistencyProblems(json as StrPackageJson).slice(0, PROBLEMS_MAX);
}

interface CompiledXsd {
  /** Kept alive with the validator, which was parsed from it. */
  readonly document: XmlDocument;
  readonly validator: XsdValidator;
}

let xsd: CompiledXsd | undefined;

function compiledXsd(): CompiledXsd {
  if (xsd === undefined) {
    const document = XmlDocument.fromString(readFileSync(new URL('str-package.xsd', SCHEMA_DIR), 'utf8'));
    xsd = { document, validator: XsdValidator.fromDoc(document) };
  }
  return xsd;
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
/** The network stays shut and no external entity is read, whatever the document asks. */
const XML_PARSE_SAFE = (ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE) as ParseOption;

/**
 * libxml2's message without the offending value, which may be personal data: `The value '…' has a length …` and
 * `'…' is not a valid value of …` keep their wording around the value.
 */
function redactLibxmlMessage(message: string): string {
  const text = message.trim().replaceAll(`{${STR_XML_NAMESPACE}}`, '');
  const valueAt = text.indexOf("The value '");
  if (valueAt !== -1) return `${text.slice(0, valueAt)}The value breaks this rule.`;
  const typeAt = text.lastIndexOf(' is not a valid value of ');
  const elementEnd = text.indexOf("': ");
  if (typeAt !== -1 && elementEnd !== -1 && elementEnd < typeAt) {
    return `${text.slice(0, elementEnd + 3)}the value${text.slice(typeAt)}`;
  }
  return text;
}

function describeLibxmlDetails(details: readonly ErrorDetail[]): string[] {
  return details
    .slice(0, PROBLEMS_MAX)
    .map((detail) => `line ${detail.line}: ${redactLibxmlMessage(detail.message)}`);
}

/** XSD 1.0 cannot tie an amount's fraction digits to its sibling currency: HKD has exactly 2, JPY none. */
function xmlAmountProblems(document: XmlDocument): string[] {
  const problems: string[] = [];
  const namespaces = { s: STR_XML_NAMESPACE };
  for (const holder of document.find('//s:*[s:currency]', namespaces)) {
    const code = holder.get('s:currency', namespaces)?.content ?? '';
    const currency = findCurrency(code);
    if (currency === undefined) {
      problems.push(`line ${holder.line}: currency must be an ISO 4217 currency a card can hold`);
      continue;
    }
    for (const amount of holder.find('s:amount | s:balance', namespaces)) {
      const fraction = amount.content.split('.')[1] ?? '';
      if (fraction.length !== currency.exponent) {
        problems.push(
          `line ${amount.line}: an amount in ${currency.code} has exactly ${currency.exponent} decimal places`,
        );
      }
    }
  }
  return problems;
}

/** Problems with an XML package (schemas/str-package.xsd, then amounts' decimals); empty when it is valid. */
export function validateStrXml(xml: unknown): string[] {
  if (typeof xml !== 'string') return ['the package is not text'];
  if (!xml.startsWith(XML_DECLARATION)) return [`the document must begin with ${XML_DECLARATION}`];
  // An STR has no document type; refusing one keeps entity expansion out of the parser altogether.
  if (/<!DOCTYPE/i.test(xml)) return ['the document must not declare a document type'];
  let document: XmlDocument;
  try {
    document = XmlDocument.fromString(xml, { option: XML_PARSE_SAFE });
  } catch (error) {
    if (error instanceof XmlLibError) return describeLibxmlDetails(error.details);
    throw error;
  }
  try {
    compiledXsd().validator.validate(document);
    return xmlAmountProblems(document).slice(0, PROBLEMS_MAX);
  } catch (error) {
    if (error instanceof XmlLibError) return describeLibxmlDetails(error.details);
    throw error;
  } finally {
    document.dispose();
  }
}
