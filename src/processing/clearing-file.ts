/**
 * Clearing files: the network's presentments in bulk, modelled on Visa Base II (TC05 sales, TC06 credits) and
 * Mastercard IPM first presentments. One record per line (CSV, JSON Lines) or per element (a JSON array):
 *
 * | field              | when                                          | what                                           |
 * |--------------------|-----------------------------------------------|------------------------------------------------|
 * | `record_id`        | always                                        | the presenter's unique id for the record, 1–100 printable ASCII characters; the clearing key is `file:<record_id>`, so presenting it again is a repeat |
 * | `type`             | always                                        | `capture`, `refund` or `force_post`            |
 * | `authorization_id` | capture (required), refund (optional)         | `auth_…`; a refund without one is unlinked     |
 * | `card_id` / `pan`  | force post, unlinked refund (one, not both)   | `card_…`, or the card number (found by its blind index, never echoed); on a capture or linked refund, checked against the authorization's card |
 * | `amount`           | always                                        | whole minor units, 1 to 2^53 − 1               |
 * | `currency`         | always                                        | ISO 4217 (the merchant's or the card's)        |
 * | `final`            | capture only                                  | `true` (default) releases the rest of the hold |
 * | `merchant_name`, `mcc`, `acceptor_id` | force post, unlinked refund | the merchant (checked, and otherwise ignored, on a capture or linked refund: the authorization's merchant stands) |
 * | `merchant_country`, `merchant_city`, `acquirer_id` | optional          | ISO 3166 alpha-2; text; up to 11 digits        |
 * | `network_date`     | optional                                      | `YYYY-MM-DD`, checked and not stored           |
 *
 * CSV: a header row naming the columns (any order; an unknown, repeated or missing required column makes the file
 * unreadable), RFC 4180 quoting within a line, an empty cell is an absent field. A quoted field cannot span lines:
 * a clearing record is one line, and a stray quote must spoil that line only, not swallow the rest of the file.
 * JSON: `.json` is one array of record objects, `.jsonl` / `.ndjson` one object per line (null is absent). Lines
 * end in LF or CRLF; text is UTF-8 (a leading BOM is skipped); blank lines are skipped.
 *
 * Parsing streams: memory holds one record at a time (at most RECORD_BYTES_MAX), never the file.
 */
import { parse as parseCsvLine } from 'csv-parse/sync';
import type { Transaction } from '../platform/db/database.js';
import { LantauError } from '../platform/errors.js';
import { isCountryCode } from '../platform/countries.js';
import { isId } from '../platform/ids.js';
import { findCurrency } from '../platform/money.js';
import { luhnValid, maskCardNumbers } from '../platform/redact.js';
import { Secret } from '../vault/secret.js';
import type { Merchant } from './authorizations.js';
import type { CardReference, ProcessingContext } from './authorize.js';
import { captureAuthorizationIn, forcePostIn, refundIn, type Presentment } from './clearing.js';
import {
  TRANSACTION_TYPES,
  type CardTransaction,
  type TransactionFlag,
  type TransactionType,
} from './transactions.js';

export const CLEARING_FILE_FORMATS = ['csv', 'json', 'jsonl'] as const;
export type ClearingFileFormat = (typeof CLEARING_FILE_FORMATS)[number];

/** A record (line or element) bigger than this is refused unread: real ones are a few hundred bytes. */
export const RECORD_BYTES_MAX = 16_384;
/** The report lists this many problems at most; its counts stay exact. */
export const PROBLEMS_MAX = 10_000;

const RECORD_ID = /^[\x21-\x7e]{1,100}$/;
const CLEARING_KEY_PREFIX = 'file:';
/** C0 and C1 controls and DEL: no field of a clearing record holds one. */
function hasControlCharacter(value: string): boolean {
  for (let at = 0; at < value.length; at += 1) {
    const code = value.charCodeAt(at);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

export const CLEARING_FIELDS = [
  'record_id',
  'type',
  'authorization_id',
  'card_id',
  'pan',
  'amount',
  'currency',
  'final',
  'merchant_name',
  'mcc',
  'merchant_country',
  'merchant_city',
  'acceptor_id',
  'acquirer_id',
  'network_date',
] as const;
type ClearingField = (typeof CLEARING_FIELDS)[number];
const FIELD_NAMES: ReadonlySet<string> = new Set(CLEARING_FIELDS);
const REQUIRED_COLUMNS: readonly ClearingField[] = ['record_id', 'type', 'amount', 'currency'];

/** The format a file's name implies: `.csv`, `.json`, or `.jsonl` / `.ndjson`. */
export function clearingFileFormat(fileName: string): ClearingFileFormat | undefined {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return undefined;
}

/** The card as a record names it; a number stays wrapped so that no report, log or error can print it. */
export type FileCardReference = { readonly id: string } | { readonly pan: Secret<string> };

export interface ClearingRecord {
  readonly recordId: string;
  readonly type: TransactionType;
  readonly authorizationId: string | undefined;
  readonly card: FileCardReference | undefined;
  readonly amount: number;
  readonly currency: string;
  readonly final: boolean | undefined;
  readonly merchant: Merchant | undefined;
  readonly networkDate: string | undefined;
}

/** Where a record sits: the physical line it starts on and, in a JSON array, its element index (from 0). */
export interface RecordPosition {
  readonly line: number;
  readonly index?: number;
}

export interface RecordIssue {
  readonly code: string;
  readonly message: string;
  readonly field?: string;
}

/** A record checked: valid, or with every issue found (and its id, when that much was readable). */
export type Validated =
  | { readonly record: ClearingRecord }
  | { readonly recordId?: string; readonly issues: readonly RecordIssue[] };

export type ParsedRecord = Validated & { readonly position: RecordPosition };

/** The file as a whole cannot be read (no header, not a JSON array, unreadable): nothing in it was applied. */
export class ClearingFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClearingFileError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading: bytes to physical lines (or JSON array elements), without holding more than one record.

type Chunk = Uint8Array | string;
export type ClearingFileSource = Chunk | AsyncIterable<Chunk> | Iterable<Chunk>;

async function* bytesOf(source: ClearingFileSource): AsyncGenerator<Uint8Array> {
  if (typeof source === 'string' || source instanceof Uint8Array) {
    yield typeof source === 'string' ? Buffer.from(source, 'utf8') : source;
    return;
  }
  for await (const chunk of source) yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decode(parts: readonly Uint8Array[]): string | undefined {
  try {
    return utf8.decode(Buffer.concat(parts));
  } catch {
    return undefined;
  }
}

const TOO_LONG: RecordIssue = {
  code: 'record_too_long',
  message: `the record is longer than ${RECORD_BYTES_MAX} bytes`,
};
const NOT_UTF8: RecordIssue = { code: 'encoding_invalid', message: 'the record is not valid UTF-8' };
const NUL_BYTE: RecordIssue = { code: 'nul_byte', message: 'the record contains a NUL byte' };

type PhysicalLine =
  { readonly line: number; readonly text: string } | { readonly line: number; readonly issue: RecordIssue };

/** Splits on LF (bytes, so a multi-byte character never straddles a split), dropping a CR before it. */
async function* physicalLines(source: ClearingFileSource): AsyncGenerator<PhysicalLine> {
  let parts: Uint8Array[] = [];
  let size = 0;
  let tooLong = false;
  let line = 0;
  const finish = (): PhysicalLine => {
    line += 1;
    if (tooLong) return { line, issue: TOO_LONG };
    const text = decode(parts);
    if (text === undefined) return { line, issue: NOT_UTF8 };
    const unbommed = line === 1 && text.startsWith('\uFEFF') ? text.slice(1) : text;
    return { line, text: unbommed.endsWith('\r') ? unbommed.slice(0, -1) : unbommed };
  };
  for await (const bytes of bytesOf(source)) {
    let start = 0;
    for (;;) {
      const newline = bytes.indexOf(0x0a, start);
      const end = newline === -1 ? bytes.length : newline;
      if (!tooLong && end > start) {
        size += end - start;
        if (size > RECORD_BYTES_MAX + 1) {
          tooLong = true;
          parts = [];
        } else {
          parts.push(bytes.subarray(start, end));
        }
      }
      if (newline === -1) break;
      yield finish();
      parts = [];
      size = 0;
      tooLong = false;
      start = newline + 1;
    }
  }
  if (size > 0) yield finish();
}

const isBlank = (text: string): boolean => /^[ \t]*$/.test(text);

async function* csvRecords(source: ClearingFileSource): AsyncGenerator<ParsedRecord> {
  let columns: readonly ClearingField[] | undefined;
  for await (const physical of physicalLines(source)) {
    if (columns === undefined) {
      if ('issue' in physical) {
        throw new ClearingFileError(`line ${physical.line}, the header row: ${physical.issue.message}`);
      }
      if (isBlank(physical.text)) continue;
      columns = csvHeader(physical.text, physical.line);
      continue;
    }
    const position = { line: physical.line };
    if ('issue' in physical) {
      yield { position, issues: [physical.issue] };
      continue;
    }
    if (isBlank(physical.text)) continue;
    if (physical.text.includes('\u0000')) {
      yield { position, issues: [NUL_BYTE] };
      continue;
    }
    const cells = csvCells(physical.text);
    if (!Array.isArray(cells)) {
      yield { position, issues: [cells] };
      continue;
    }
    if (cells.length !== columns.length) {
      yield {
        position,
        issues: [
          {
            code: 'field_count_invalid',
            message: `the line has ${cells.length} field(s) where the header names ${columns.length}`,
          },
        ],
      };
      continue;
    }
    const fields: Record<string, string> = {};
    columns.forEach((column, at) => {
      const cell = cells[at];
      if (cell !== undefined && cell !== '') fields[column] = cell;
    });
    yield { position, ...validateClearingRecord(fields, 'csv') };
  }
  if (columns === undefined) {
    throw new ClearingFileError(
      'the file is empty: a CSV clearing file starts with a header row of column names',
    );
  }
}

/** csv-parse's own messages quote the field they stopped at, which may be a card number: ours never do. */
const CSV_SYNTAX: Readonly<Partial<Record<string, string>>> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is not closed on its line',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by something other than a comma',
  INVALID_OPENING_QUOTE: 'a quote appears inside an unquoted field (quote the field and double the quote)',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: 'a closing quote is followed by something other than a comma',
  CSV_MAX_RECORD_SIZE: TOO_LONG.message,
};

function csvCells(text: string): string[] | RecordIssue {
  // Without a quote, RFC 4180 fields are the text between commas: ten times cheaper than a parser per line.
  if (!text.includes('"')) return text.split(',');
  try {
    const rows = parseCsvLine(text, {
      record_delimiter: '\n',
      relax_column_count: true,
      max_record_size: RECORD_BYTES_MAX,
    });
    const [row, ...more] = rows;
    if (row === undefined || more.length > 0) throw new Error('one line gave other than one CSV record');
    return row;
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
    return { code: 'csv_invalid', message: CSV_SYNTAX[code] ?? 'the line is not valid CSV' };
  }
}

function csvHeader(text: string, line: number): readonly ClearingField[] {
  if (text.includes('\u0000'))
    throw new ClearingFileError(`line ${line}, the header row: contains a NUL byte`);
  const cells = csvCells(text);
  if (!Array.isArray(cells)) throw new ClearingFileError(`line ${line}, the header row: ${cells.message}`);
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const name of cells) {
    if (!FIELD_NAMES.has(name)) problems.push(`unknown column ${displayName(name)}`);
    else if (seen.has(name)) problems.push(`column ${name} appears twice`);
    seen.add(name);
  }
  for (const name of REQUIRED_COLUMNS) if (!seen.has(name)) problems.push(`no ${name} column`);
  if (problems.length > 0) {
    throw new ClearingFileError(
      `line ${line}, the header row: ${problems.join('; ')} (columns are ${CLEARING_FIELDS.join(', ')})`,
    );
  }
  return cells.filter((name): name is ClearingField => FIELD_NAMES.has(name));
}

async function* jsonLinesRecords(source: ClearingFileSource): AsyncGenerator<ParsedRecord> {
  for await (const physical of physicalLines(source)) {
    const position = { line: physical.line };
    if ('issue' in physical) yield { position, issues: [physical.issue] };
    else if (!isBlank(physical.text)) yield { position, ...jsonRecord(physical.text) };
  }
}

function jsonRecord(text: string): Validated {
  if (text.includes('\u0000')) return { issues: [NUL_BYTE] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // V8's message quotes the text around the fault, which may hold a card number.
    return { issues: [{ code: 'json_invalid', message: 'the record is not valid JSON' }] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { issues: [{ code: 'json_invalid', message: 'a record is a JSON object' }] };
  }
  return validateClearingRecord(value as Readonly<Record<string, unknown>>, 'json');
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const [QUOTE, BACKSLASH, COMMA, OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET, NEWLINE] = [
  0x22, 0x5c, 0x2c, 0x7b, 0x7d, 0x5b, 0x5d, 0x0a,
];
const BOM = [0xef, 0xbb, 0xbf];

/**
 * The elements of one top-level JSON array, each parsed on its own: a bad element is one bad record, and the file
 * is never held whole. The scanner only tracks strings and nesting to find the commas between elements; a string
 * left open at a line break ends its element there (JSON strings cannot hold one), so an element broken that way
 * spoils itself and not the records on the lines after it (in an element written over several lines, the rest of
 * it is reported as one more bad element). A bracket left open is the one fault that can swallow the elements
 * after it: JSON Lines has no such fault.
 */
async function* jsonArrayRecords(source: ClearingFileSource): AsyncGenerator<ParsedRecord> {
  type State = 'before' | 'between' | 'element' | 'after';
  // In an object: the checker cannot follow assignments made across `yield`s and would narrow a plain `let`.
  const scan: { state: State } = { state: 'before' };
  let line = 1;
  let offset = 0;
  let index = 0;
  let expectElement = false;
  let trailing = false;
  let element = { line: 1, parts: [] as Uint8Array[], size: 0, tooLong: false, broken: false };
  let depth = 0;
  let inString = false;
  let escaped = false;

  const startElement = () => {
    element = { line, parts: [], size: 0, tooLong: false, broken: false };
    depth = 0;
    inString = false;
    escaped = false;
  };
  const finishElement = (): ParsedRecord => {
    const position = { line: element.line, index };
    index += 1;
    if (element.tooLong) return { position, issues: [TOO_LONG] };
    if (element.broken) {
      return {
        position,
        issues: [
          {
            code: 'json_invalid',
            message: 'the element is not valid JSON (a string or bracket is not closed)',
          },
        ],
      };
    }
    const text = decode(element.parts);
    if (text === undefined) return { position, issues: [NOT_UTF8] };
    return { position, ...jsonRecord(text) };
  };
  const emptyElement = (): ParsedRecord => {
    const position = { line, index };
    index += 1;
    return { position, issues: [{ code: 'json_invalid', message: 'an empty element (a stray comma)' }] };
  };

  for await (const bytes of bytesOf(source)) {
    let from = 0;
    for (let at = 0; at < bytes.length; at += 1) {
      const byte = bytes[at] ?? 0;
      if (scan.state === 'before' && offset < BOM.length && byte === BOM[offset]) {
        offset += 1;
        continue;
      }
      offset = BOM.length;
      if (scan.state === 'between' && !WHITESPACE.has(byte) && byte !== CLOSE_BRACKET && byte !== COMMA) {
        startElement();
        scan.state = 'element';
        from = at;
      }
      if (scan.state === 'element') {
        let ends: 'element' | 'array' | 'line' | undefined;
        if (inString) {
          if (escaped) escaped = false;
          else if (byte === BACKSLASH) escaped = true;
          else if (byte === QUOTE) inString = false;
          else if (byte === NEWLINE) {
            // The rest of the line was swallowed by the string: the element ends here, and the next line starts
            // afresh, so that a record written on the next line is still read.
            element.broken = true;
            ends = 'line';
          }
        } else if (byte === QUOTE) inString = true;
        else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth += 1;
        else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
          if (depth > 0) depth -= 1;
          else if (byte === CLOSE_BRACKET) ends = 'array';
          else element.broken = true;
        } else if (byte === COMMA && depth === 0) ends = 'element';
        if (ends === undefined) {
          element.size += 1;
          if (element.size > RECORD_BYTES_MAX && !element.tooLong) {
            element.tooLong = true;
            element.parts = [];
          }
        } else {
          if (!element.tooLong) element.parts.push(bytes.subarray(from, at));
          yield finishElement();
          scan.state = ends === 'array' ? 'after' : 'between';
          expectElement = ends === 'element';
        }
      } else if (!WHITESPACE.has(byte)) {
        if (scan.state === 'before') {
          if (byte !== OPEN_BRACKET) {
            throw new ClearingFileError(
              'a .json clearing file is one JSON array of records (for one object per line, name it .jsonl)',
            );
          }
          scan.state = 'between';
        } else if (scan.state === 'between') {
          // Only ] and , reach here: anything else started an element above.
          if (byte === COMMA || expectElement) yield emptyElement();
          if (byte === CLOSE_BRACKET) scan.state = 'after';
          else expectElement = true;
        } else if (!trailing) {
          trailing = true;
          yield {
            position: { line },
            issues: [{ code: 'json_invalid', message: 'text follows the array’s closing ]' }],
          };
        }
      }
      if (byte === NEWLINE) line += 1;
    }
    // Views, not copies: an element spans at most a few chunks, as it is at most RECORD_BYTES_MAX long.
    if (scan.state === 'element' && !element.tooLong) element.parts.push(bytes.subarray(from));
  }
  if (scan.state === 'before')
    throw new ClearingFileError('the file is empty: a .json clearing file is one JSON array');
  if (scan.state === 'element') {
    element.broken = true;
    yield finishElement();
  }
  if (scan.state === 'element' || scan.state === 'between') {
    yield {
      position: { line },
      issues: [
        { code: 'file_truncated', message: 'the file ends before the array’s closing ]: is it whole?' },
      ],
    };
  }
}

/**
 * The records of a clearing file, in order, each valid or with its issues. Throws `ClearingFileError` before the
 * first record when the file as a whole cannot be read.
 */
export function readClearingRecords(
  source: ClearingFileSource,
  format: ClearingFileFormat,
): AsyncGenerator<ParsedRecord> {
  switch (format) {
    case 'csv':
      return csvRecords(source);
    case 'jsonl':
      return jsonLinesRecords(source);
    case 'json':
      return jsonArrayRecords(source);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Validation: one record's fields, from CSV (strings, an empty cell already dropped) or JSON (typed values).

/** A field name as a report may show it: quoted, short, and with anything card-shaped masked. */
function displayName(name: string): string {
  const short = name.length > 40 ? `${name.slice(0, 40)}…` : name;
  return JSON.stringify(maskCardNumbers(short));
}

const TEXT_RULES = {
  record_id: { pattern: RECORD_ID, rule: '1 to 100 printable ASCII characters without spaces' },
  authorization_id: { test: (value: string) => isId(value, 'auth'), rule: 'an authorization id (auth_…)' },
  card_id: { test: (value: string) => isId(value, 'card'), rule: 'a card id (card_…)' },
  // Free text is padded with spaces in fixed-width network records: the padding is not part of the value.
  merchant_name: { max: 100, trim: true, rule: '1 to 100 characters' },
  mcc: { pattern: /^[0-9]{4}$/, rule: 'a 4-digit merchant category code' },
  merchant_country: { test: isCountryCode, rule: 'an ISO 3166 alpha-2 country code such as HK' },
  merchant_city: { max: 100, trim: true, rule: '1 to 100 characters' },
  acceptor_id: { max: 15, trim: true, rule: '1 to 15 characters (the card acceptor id, ISO 8583 field 42)' },
  acquirer_id: { pattern: /^[0-9]{1,11}$/, rule: '1 to 11 digits (ISO 8583 field 32)' },
  network_date: { test: isCalendarDate, rule: 'a date as YYYY-MM-DD' },
} satisfies Partial<
  Record<
    ClearingField,
    {
      readonly rule: string;
      readonly pattern?: RegExp;
      readonly max?: number;
      readonly trim?: boolean;
      readonly test?: (value: string) => boolean;
    }
  >
>;

function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

type Syntax = 'csv' | 'json';

/**
 * Checks one record. Every issue is collected, so a presenter fixes a record once; values are never quoted back
 * (a misplaced column may hold a card number), only field names and rules.
 */
export function validateClearingRecord(fields: Readonly<Record<string, unknown>>, syntax: Syntax): Validated {
  const issues: RecordIssue[] = [];
  const invalid = new Set<string>();
  const fail = (field: string, code: string, message: string) => {
    invalid.add(field);
    issues.push({ field, code, message });
  };
  for (const name of Object.keys(fields)) {
    if (!FIELD_NAMES.has(name)) fail(name, 'field_unknown', `unknown field ${displayName(name)}`);
  }
  const raw = (name: ClearingField): unknown => {
    const value = Object.hasOwn(fields, name) ? fields[name] : undefined;
    return value === null ? undefined : value;
  };
  const string = (name: ClearingField): string | undefined => {
    const value = raw(name);
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      fail(name, 'field_invalid', `${name} must be a string`);
      return undefined;
    }
    if (hasControlCharacter(value)) {
      fail(
        name,
        value.includes('\u0000') ? 'nul_byte' : 'field_invalid',
        `${name} contains a ${value.includes('\u0000') ? 'NUL byte' : 'control character'}`,
      );
      return undefined;
    }
    return value;
  };
  const text = (name: keyof typeof TEXT_RULES): string | undefined => {
    const given = string(name);
    if (given === undefined) return undefined;
    const spec: {
      rule: string;
      pattern?: RegExp;
      max?: number;
      trim?: boolean;
      test?: (value: string) => boolean;
    } = TEXT_RULES[name];
    const value = spec.trim === true ? given.trim() : given;
    const ok =
      value.length > 0 &&
      value.trim() === value &&
      (spec.max === undefined || value.length <= spec.max) &&
      (spec.pattern === undefined || spec.pattern.test(value)) &&
      (spec.test === undefined || spec.test(value));
    if (!ok) {
      fail(name, 'field_invalid', `${name} must be ${spec.rule}`);
      return undefined;
    }
    return value;
  };
  const required = <T>(name: ClearingField, value: T | undefined, why: string): T | undefined => {
    if (value === undefined && !invalid.has(name)) fail(name, 'field_missing', `${name} is missing: ${why}`);
    return value;
  };
  const forbidden = (name: ClearingField, why: string) => {
    if (raw(name) !== undefined && !invalid.has(name)) fail(name, 'field_not_allowed', `${name} ${why}`);
  };

  const recordId = required('record_id', text('record_id'), 'every record has its own id');
  const typeValue = string('type');
  let type: TransactionType | undefined;
  if (typeValue !== undefined) {
    type = TRANSACTION_TYPES.find((known) => known === typeValue);
    if (type === undefined) fail('type', 'type_invalid', `type must be ${TRANSACTION_TYPES.join(', ')}`);
  }
  required('type', type, `one of ${TRANSACTION_TYPES.join(', ')}`);

  const amount = required('amount', amountOf(raw('amount'), syntax, fail), 'the amount in minor units');
  const currencyValue = string('currency');
  if (currencyValue !== undefined && findCurrency(currencyValue) === undefined) {
    fail('currency', 'currency_invalid', 'currency must be an ISO 4217 code such as HKD');
  }
  const currency = required(
    'currency',
    invalid.has('currency') ? undefined : currencyValue,
    'the ISO 4217 code of the amount',
  );

  const authorizationId = text('authorization_id');
  const cardId = text('card_id');
  const pan = panOf(raw('pan'), fail);
  if (raw('card_id') !== undefined && raw('pan') !== undefined) {
    fail('pan', 'card_reference_invalid', 'give card_id or pan, not both');
  }
  const card: FileCardReference | undefined =
    cardId !== undefined ? { id: cardId } : pan !== undefined ? { pan } : undefined;

  const finalValue = raw('final');
  let final: boolean | undefined;
  if (finalValue !== undefined) {
    if (
      syntax === 'json' ? typeof finalValue === 'boolean' : finalValue === 'true' || finalValue === 'false'
    ) {
      final = finalValue === true || finalValue === 'true';
    } else {
      fail(
        'final',
        'field_invalid',
        `final must be true or false${syntax === 'json' ? ' (a JSON boolean)' : ''}`,
      );
    }
  }

  const name = text('merchant_name');
  const mcc = text('mcc');
  const country = text('merchant_country');
  const city = text('merchant_city');
  const acceptorId = text('acceptor_id');
  const acquirerId = text('acquirer_id');
  const networkDate = text('network_date');

  const unlinked = type === 'force_post' || (type === 'refund' && authorizationId === undefined);
  if (type === 'capture') {
    required('authorization_id', authorizationId, 'a capture clears an authorization');
  } else if (type !== undefined) {
    forbidden('final', 'applies to captures only');
  }
  if (type === 'force_post') {
    forbidden(
      'authorization_id',
      'is not part of a force post (present a capture to clear an authorization)',
    );
  }
  if (unlinked && !invalid.has('pan')) {
    const why =
      type === 'force_post'
        ? 'a force post names its card'
        : 'a refund without an authorization names its card';
    if (card === undefined && !invalid.has('card_id')) {
      fail('card_id', 'field_missing', `card_id or pan is missing: ${why}`);
    }
  }
  if (unlinked) {
    const why =
      type === 'force_post'
        ? 'a force post names its merchant'
        : 'a refund without an authorization names its merchant';
    const merchantFields: [ClearingField, string | undefined][] = [
      ['merchant_name', name],
      ['mcc', mcc],
      ['acceptor_id', acceptorId],
    ];
    const missing = merchantFields
      .filter(([field, value]) => value === undefined && !invalid.has(field))
      .map(([field]) => field);
    const [first] = missing;
    if (first !== undefined) {
      fail(
        first,
        'field_missing',
        `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing: ${why}`,
      );
    }
  }

  if (
    issues.length > 0 ||
    recordId === undefined ||
    type === undefined ||
    amount === undefined ||
    currency === undefined
  ) {
    return {
      ...(recordId === undefined ? {} : { recordId }),
      issues: issues.length > 0 ? issues : [{ code: 'record_invalid', message: 'the record is incomplete' }],
    };
  }
  const merchant: Merchant | undefined =
    name === undefined || mcc === undefined
      ? undefined
      : {
          name,
          mcc,
          country: country ?? null,
          city: city ?? null,
          acceptor_id: acceptorId ?? null,
          acquirer_id: acquirerId ?? null,
        };
  return {
    record: { recordId, type, authorizationId, card, amount, currency, final, merchant, networkDate },
  };
}

function amountOf(
  value: unknown,
  syntax: Syntax,
  fail: (field: string, code: string, message: string) => void,
): number | undefined {
  if (value === undefined) return undefined;
  const rule = `amount must be a whole number of minor units from 1 to ${Number.MAX_SAFE_INTEGER}`;
  let amount: number | undefined;
  if (syntax === 'json') {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) amount = value;
  } else if (typeof value === 'string' && /^[0-9]{1,40}$/.test(value)) {
    // Zero-padded amounts are how network files write them; BigInt keeps a long one from rounding into range.
    const big = BigInt(value);
    if (big > 0n && big <= BigInt(Number.MAX_SAFE_INTEGER)) amount = Number(big);
  }
  if (amount === undefined)
    fail('amount', 'amount_invalid', syntax === 'json' ? `${rule} (a JSON number)` : rule);
  return amount;
}

function panOf(
  value: unknown,
  fail: (field: string, code: string, message: string) => void,
): Secret<string> | undefined {
  if (value === undefined) return undefined;
  // Never quote the value back: it is, or may be, a card number.
  if (typeof value !== 'string' || !/^[0-9]{12,19}$/.test(value) || !luhnValid(value)) {
    fail('pan', 'pan_invalid', 'pan must be the card number: 12 to 19 digits with a valid check digit');
    return undefined;
  }
  return new Secret(value);
}

// ---------------------------------------------------------------------------------------------------------------
// Applying: each record in its own database transaction, so one record's failure never touches another's.

export type ProblemOutcome = 'malformed' | 'unmatched' | 'refused';

export interface ClearingProblem {
  readonly line: number;
  /** In a JSON array: the element's index, from 0. */
  readonly index?: number;
  readonly record_id?: string;
  readonly outcome: ProblemOutcome;
  readonly code: string;
  readonly message: string;
  readonly field?: string;
}

export interface ClearingReport {
  /** Records read, good or bad (blank lines and the CSV header are not records). */
  records: number;
  applied: number;
  applied_by_type: Record<TransactionType, number>;
  /** Transactions this run applied that carry each flag (a shortfall, an over-capture beyond tolerance, …). */
  flagged: Partial<Record<TransactionFlag, number>>;
  /** Already applied by an earlier run or line: the same record id with the same record. */
  repeated: number;
  /** No such authorization or card. */
  unmatched: number;
  /** Well formed, but clearing refused it: the record id reused for another record, a currency mismatch, … */
  refused: number;
  malformed: number;
  problems: ClearingProblem[];
  /** Problems past PROBLEMS_MAX, counted above but not listed. */
  problems_omitted: number;
  /** Set when the run stopped early (a database outage, a bug): what was applied stays applied. */
  stopped: { readonly line?: number; readonly index?: number; readonly message: string } | null;
}

export interface ApplyOptions {
  /** Only this programme's authorizations and cards match (a programme's own file). */
  readonly programId?: string;
  readonly problemsMax?: number;
}

export function emptyClearingReport(): ClearingReport {
  return {
    records: 0,
    applied: 0,
    applied_by_type: { capture: 0, refund: 0, force_post: 0 },
    flagged: {},
    repeated: 0,
    unmatched: 0,
    refused: 0,
    malformed: 0,
    problems: [],
    problems_omitted: 0,
    stopped: null,
  };
}

/** The clearing key of a file record: its own namespace, so no other presenter's key can collide with it. */
export function clearingKeyOf(recordId: string): string {
  return `${CLEARING_KEY_PREFIX}${recordId}`;
}

function cardReference(card: FileCardReference): CardReference {
  return 'id' in card ? { id: card.id } : { pan: card.pan.expose() };
}

/**
 * A record that names both an authorization and a card must name the authorization's card: the network's PAN is
 * its own check that the record is presented to the right account.
 */
async function checkCardOfAuthorization(
  tx: Transaction,
  context: ProcessingContext,
  programId: string | undefined,
  authorizationId: string,
  card: FileCardReference,
): Promise<void> {
  const found = await tx.query<{ same: boolean }>(
    `SELECT COALESCE(a.card_id = $3 OR c.pan_index = $4, false) AS same
     FROM authorizations a JOIN cards c ON c.id = a.card_id
     WHERE a.id = $1 AND ($2::text IS NULL OR a.program_id = $2)`,
    [
      authorizationId,
      programId ?? null,
      'id' in card ? card.id : null,
      'pan' in card ? context.vault.blindIndex(card.pan, 'pan') : null,
    ],
  );
  const row = found.rows[0];
  // No such authorization: the clearing itself says so, as for any record.
  if (row === undefined || row.same) return;
  throw new LantauError(
    'card_mismatch',
    `The record's card is not the card authorization ${authorizationId} was made on`,
    { status: 409, param: 'id' in card ? 'card_id' : 'pan' },
  );
}

async function applyRecord(
  tx: Transaction,
  context: ProcessingContext,
  record: ClearingRecord,
  programId: string | undefined,
): Promise<{ transaction: CardTransaction; repeated: boolean }> {
  const clearingKey = clearingKeyOf(record.recordId);
  const prior = await tx.query<{ id: string }>('SELECT id FROM transactions WHERE clearing_key = $1', [
    clearingKey,
  ]);
  const presentment: Presentment = {
    amount: record.amount,
    currency: record.currency,
    clearingKey,
    source: 'file',
  };
  const scope = programId === undefined ? {} : { programId };
  if (record.authorizationId !== undefined && record.card !== undefined) {
    await checkCardOfAuthorization(tx, context, programId, record.authorizationId, record.card);
  }
  let transaction: CardTransaction;
  if (record.type === 'capture') {
    if (record.authorizationId === undefined)
      throw new Error('a capture record passed without authorization_id');
    transaction = await captureAuthorizationIn(tx, context, programId, record.authorizationId, {
      ...presentment,
      ...(record.final === undefined ? {} : { final: record.final }),
    });
  } else if (record.type === 'refund' && record.authorizationId !== undefined) {
    transaction = await refundIn(tx, context, {
      ...presentment,
      ...scope,
      authorizationId: record.authorizationId,
    });
  } else {
    if (record.card === undefined || record.merchant === undefined) {
      throw new Error(`a ${record.type} record passed without its card and merchant`);
    }
    const unlinked = {
      ...presentment,
      ...scope,
      card: cardReference(record.card),
      merchant: record.merchant,
    };
    transaction =
      record.type === 'refund'
        ? await refundIn(tx, context, unlinked)
        : await forcePostIn(tx, context, unlinked);
  }
  return { transaction, repeated: prior.rows[0]?.id === transaction.id };
}

/** The file's name for the field a clearing error names: clearing speaks of `id` for the record or the authorization. */
function fieldOf(error: LantauError): string | undefined {
  if (error.param === 'id') return error.code === 'clearing_key_reused' ? 'record_id' : 'authorization_id';
  return error.param;
}

function describeError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return maskCardNumbers(text);
}

/**
 * Applies parsed records in order, each in its own transaction: a malformed, unmatched or refused record is
 * reported with its position and the rest go on. Anything else (the database gone, a bug) stops the run and says
 * where; what was applied stays applied, and running the file again is safe because each record's clearing key
 * makes a second presentment a repeat.
 */
export async function applyClearingRecords(
  context: ProcessingContext,
  records: AsyncIterable<ParsedRecord> | Iterable<ParsedRecord>,
  options: ApplyOptions = {},
): Promise<ClearingReport> {
  const report = emptyClearingReport();
  const problemsMax = options.problemsMax ?? PROBLEMS_MAX;
  const addProblem = (problem: ClearingProblem) => {
    report[problem.outcome] += 1;
    if (report.problems.length < problemsMax) report.problems.push(problem);
    else report.problems_omitted += 1;
  };
  const iterator =
    Symbol.asyncIterator in records ? records[Symbol.asyncIterator]() : records[Symbol.iterator]();
  let last: RecordPosition | undefined;
  try {
    for (;;) {
      let next: IteratorResult<ParsedRecord>;
      try {
        next = await iterator.next();
      } catch (error) {
        if (last === undefined) {
          if (error instanceof ClearingFileError) throw error;
          throw new ClearingFileError(`the file could not be read: ${describeError(error)}`, {
            cause: error,
          });
        }
        report.stopped = {
          ...last,
          message: `the file could not be read past line ${last.line}: ${describeError(error)}`,
        };
        return report;
      }
      if (next.done === true) return report;
      const parsed = next.value;
      const { position } = parsed;
      last = position;
      report.records += 1;
      const at = { line: position.line, ...(position.index === undefined ? {} : { index: position.index }) };
      if ('issues' in parsed) {
        const [first] = parsed.issues;
        addProblem({
          ...at,
          ...(parsed.recordId === undefined ? {} : { record_id: maskCardNumbers(parsed.recordId) }),
          outcome: 'malformed',
          code: first?.code ?? 'record_invalid',
          message: parsed.issues.map((issue) => issue.message).join('; '),
          ...(first?.field === undefined ? {} : { field: first.field }),
        });
        continue;
      }
      const { record } = parsed;
      try {
        const applied = await context.db.transaction((tx) =>
          applyRecord(tx, context, record, options.programId),
        );
        if (applied.repeated) {
          report.repeated += 1;
        } else {
          report.applied += 1;
          report.applied_by_type[record.type] += 1;
          for (const flag of applied.transaction.flags)
            report.flagged[flag] = (report.flagged[flag] ?? 0) + 1;
        }
      } catch (error) {
        if (!(error instanceof LantauError) || error.status >= 500) {
          report.stopped = {
            ...at,
            message: `stopped at record ${maskCardNumbers(record.recordId)}, not applied: ${describeError(error)}`,
          };
          return report;
        }
        const field = fieldOf(error);
        addProblem({
          ...at,
          record_id: maskCardNumbers(record.recordId),
          outcome: error.status === 404 ? 'unmatched' : 'refused',
          code: error.code,
          message: maskCardNumbers(error.message),
          ...(field === undefined ? {} : { field }),
        });
      }
    }
  } finally {
    // Closes the file when the run ends early.
    await iterator.return?.();
  }
}
