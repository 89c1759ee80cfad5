/**
 * What the list parsers (un-list.ts, ofac-list.ts) share: the parsed list, the error that refuses a file, which list
 * a file is, and the small readers both need (text as published, dates of birth, country names).
 *
 * A file is taken whole or refused whole: a parser that skipped a record it could not read would drop a listed
 * person from screening without anyone noticing. Only optional details (a date of birth, a nationality) may be
 * skipped, and each skip is counted in `warnings`.
 */

import countries from 'i18n-iso-countries';
import { parse as parseCsv } from 'csv-parse/sync';
import { SaxesParser } from 'saxes';
import type { ListedBirthDate, SanctionsEntry, SanctionsListId } from './entry.js';

export interface ListWarning {
  /** The entry's reference as published, or null for the file as a whole. */
  readonly reference: string | null;
  readonly field: 'birthDate' | 'nationality' | 'alias' | 'publishedAt';
  /** The value that was skipped, as published (shortened). */
  readonly text: string;
  readonly message: string;
}

/** One line for a log or a command's output: `QDi.291: a date of birth not read ("30-35 years old")`. */
export function describeWarning(warning: ListWarning): string {
  return `${warning.reference ?? 'the list'}: ${warning.message} (${JSON.stringify(warning.text)})`;
}

export interface ParsedList {
  readonly list: SanctionsListId;
  /** When the publisher generated the file (the UN's `dateGenerated`); null where the format carries none (OFAC). */
  readonly publishedAt: Date | null;
  readonly entries: readonly SanctionsEntry[];
  /** Optional details that could not be read and were left out; never a whole entry. */
  readonly warnings: readonly ListWarning[];
}

export interface ListFormatErrorDetails {
  readonly list?: SanctionsListId | null;
  /** One-based. */
  readonly line?: number;
  /** One-based, in characters. */
  readonly column?: number;
  /** XML: where in the document, such as `CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL[12]/REFERENCE_NUMBER`. */
  readonly element?: string;
  /** CSV: the one-based record number. */
  readonly record?: number;
  /** The offending text alone (shortened), never the surrounding record. */
  readonly excerpt?: string;
}

/** Why a list file was refused. Parsers return it (they never throw on bad input); it is an Error so it can be thrown. */
export class ListFormatError extends Error {
  override readonly name = 'ListFormatError';
  readonly list: SanctionsListId | null;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly element: string | undefined;
  readonly record: number | undefined;
  readonly excerpt: string | undefined;

  constructor(message: string, details: ListFormatErrorDetails = {}) {
    super(message);
    this.list = details.list ?? null;
    this.line = details.line;
    this.column = details.column;
    this.element = details.element;
    this.record = details.record;
    this.excerpt = details.excerpt === undefined ? undefined : shorten(details.excerpt);
  }
}

const EXCERPT_MAX = 80;

export function shorten(text: string, max = EXCERPT_MAX): string {
  const collapsed = collapse(text);
  return collapsed.length <= max ? collapsed : `${collapsed.slice(0, max - 1)}…`;
}

/** Whitespace trimmed and collapsed: how names and values are kept. */
export function collapse(text: string): string {
  const trimmed = text.trim();
  return MESSY_SPACE.test(trimmed) ? trimmed.replace(/\s+/gu, ' ') : trimmed;
}

/** Whitespace other than single spaces (most values have none: no need to rewrite them). */
const MESSY_SPACE = /\s\s|[^\S ]/u;

/**
 * The bytes as text: UTF-8, a leading byte order mark dropped. Invalid UTF-8 refuses the file rather than keeping
 * names with replacement characters in them.
 */
export function decodeList(input: string | Buffer, list: SanctionsListId | null): string | ListFormatError {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      const lossy = new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
      const at = lossy.indexOf('\uFFFD');
      const { line, column } = lineAndColumn(lossy, Math.max(at, 0));
      return new ListFormatError(`the file is not valid UTF-8 (line ${line}, column ${column})`, {
        list,
        line,
        column,
      });
    }
  }
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let at = text.indexOf('\n'); at !== -1 && at < offset; at = text.indexOf('\n', at + 1)) {
    line += 1;
    lineStart = at + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

// --- Which list a file is ------------------------------------------------------------------------------------------

const DETECT_CHUNK = 16_384;

/**
 * `un` for XML whose root element is CONSOLIDATED_LIST, `ofac` for CSV whose first record has OFAC's 12 fields and
 * a numeric entity number first; anything else is an error saying what was found.
 */
export function detectListFormat(bytes: string | Buffer): SanctionsListId | ListFormatError {
  const text = decodeList(bytes, null);
  if (text instanceof ListFormatError) return text;
  const start = text.search(/\S/u);
  if (start === -1) return new ListFormatError('the file is empty');
  if (text[start] === '<') {
    const root = xmlRootElement(text);
    if (root instanceof ListFormatError) return root;
    if (root === 'CONSOLIDATED_LIST') return 'un';
    return new ListFormatError(
      `an XML file whose root element is ${root}: a UN consolidated list's root is CONSOLIDATED_LIST`,
      { element: root, excerpt: root },
    );
  }
  return detectOfac(text);
}

function xmlRootElement(text: string): string | ListFormatError {
  const parser = new SaxesParser();
  let root: string | undefined;
  let failure: ListFormatError | undefined;
  parser.on('opentagstart', (tag) => {
    root ??= tag.name;
  });
  parser.on('error', (error) => {
    failure ??= xmlSyntaxError(error, parser, text, null, []);
    throw failure;
  });
  try {
    for (let at = 0; root === undefined && at < text.length; at += DETECT_CHUNK) {
      parser.write(text.slice(at, at + DETECT_CHUNK));
    }
    if (root === undefined) parser.close();
  } catch (error) {
    if (error instanceof ListFormatError) return error;
    return new ListFormatError(`the XML could not be read: ${String(error)}`);
  }
  return root ?? new ListFormatError('an XML file without a root element');
}

function detectOfac(text: string): SanctionsListId | ListFormatError {
  // The first record alone: cut after the first line break outside quotes, at most a few kilobytes in.
  const firstLine = text.slice(0, DETECT_CHUNK).split(/\r?\n/u)[0] ?? '';
  let fields: string[] | undefined;
  try {
    [fields] = parseCsv(firstLine, { relax_column_count: true, trim: true, relax_quotes: true });
  } catch {
    fields = undefined;
  }
  if (fields === undefined) {
    return new ListFormatError('neither XML nor CSV that can be read', { line: 1 });
  }
  if (fields.length !== OFAC_FIELDS) {
    return new ListFormatError(
      `a CSV file whose first record has ${fields.length} fields: an OFAC sdn.csv record has ${OFAC_FIELDS}`,
      { line: 1, record: 1 },
    );
  }
  const first = fields[0] ?? '';
  if (!/^\d+$/u.test(first)) {
    return new ListFormatError(
      'a CSV file whose first field is not a number: an OFAC sdn.csv record starts with the entity number',
      { line: 1, record: 1, excerpt: first },
    );
  }
  return 'ofac';
}

/** OFAC's sdn.csv: ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign, Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks. */
export const OFAC_FIELDS = 12;

/** A saxes well-formedness error as a ListFormatError: its position, the path of open elements, the text there. */
export function xmlSyntaxError(
  error: Error,
  parser: { line: number; column: number },
  text: string,
  list: SanctionsListId | null,
  path: readonly string[],
): ListFormatError {
  // saxes prefixes "line:column: "; its column is that of the last character read, one-based.
  const reason = error.message.replace(/^\d+:\d+:\s*/u, '').replace(/\.$/u, '');
  const { line, column } = parser;
  const element = path.length > 0 ? path.join('/') : undefined;
  const where = `line ${line}, column ${column}${element === undefined ? '' : ` in ${element}`}`;
  return new ListFormatError(`the XML is not well-formed: ${reason} (${where})`, {
    list,
    line,
    column,
    ...(element === undefined ? {} : { element }),
    excerpt: sourceAround(text, line, column),
  });
}

/** The characters just before a position on its line: what the parser had read when it stopped. */
function sourceAround(text: string, line: number, column: number): string {
  let start = 0;
  for (let n = 1; n < line; n += 1) {
    const next = text.indexOf('\n', start);
    if (next === -1) break;
    start = next + 1;
  }
  const end = text.indexOf('\n', start);
  const lineText = text.slice(start, end === -1 ? text.length : end);
  const chars = Array.from(lineText);
  return chars.slice(Math.max(0, column - 40), column).join('');
}

// --- Dates of birth ------------------------------------------------------------------------------------------------

/** The earliest and latest year a date of birth may be (anything else is a typing error on the list). */
const YEAR_MIN = 1850;
const YEAR_MAX = 2100;

const MONTHS: Readonly<Record<string, number>> = {
  jan: 1,
  january: 1,
  feb: 2,
  february: 2,
  mar: 3,
  march: 3,
  apr: 4,
  april: 4,
  may: 5,
  jun: 6,
  june: 6,
  jul: 7,
  july: 7,
  aug: 8,
  august: 8,
  sep: 9,
  sept: 9,
  september: 9,
  oct: 10,
  october: 10,
  nov: 11,
  november: 11,
  dec: 12,
  december: 12,
};

/** A month's name or abbreviation (`Jan`, `Sept.`, `August`), or undefined. */
export function monthNumber(word: string): number | undefined {
  return MONTHS[word.toLowerCase().replace(/\.$/u, '')];
}

export function validYear(year: number): boolean {
  return Number.isInteger(year) && year >= YEAR_MIN && year <= YEAR_MAX;
}

/** An exact date, checked against the calendar (no 31 April). */
export function exactDate(
  year: number,
  month: number,
  day: number,
  approximate = false,
): ListedBirthDate | null {
  if (!validYear(year) || month < 1 || month > 12 || day < 1) return null;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return null;
  return { fromYear: year, toYear: year, month, day, ...(approximate ? { approximate } : {}) };
}

export function yearRange(fromYear: number, toYear: number, approximate = false): ListedBirthDate | null {
  if (!validYear(fromYear) || !validYear(toYear) || fromYear > toYear) return null;
  return { fromYear, toYear, ...(approximate ? { approximate } : {}) };
}

/** Equal dates once: lists repeat a date under several aliases. */
export function sameBirthDate(a: ListedBirthDate, b: ListedBirthDate): boolean {
  return (
    a.fromYear === b.fromYear &&
    a.toYear === b.toYear &&
    a.month === b.month &&
    a.day === b.day &&
    (a.approximate ?? false) === (b.approximate ?? false)
  );
}

export function addBirthDate(dates: ListedBirthDate[], date: ListedBirthDate): void {
  if (!dates.some((known) => sameBirthDate(known, date))) dates.push(date);
}

// --- Countries -----------------------------------------------------------------------------------------------------

/**
 * Names the lists use that i18n-iso-countries does not know (lower case). The UN writes the official short names of
 * the UN's terminology ("Iran (Islamic Republic of)"), OFAC the State Department's ("Korea, North", "Burma"); both
 * sometimes write an adjective ("Palestinian", "Afghan"). Former states (USSR, Yugoslavia, Serbia and Montenegro,
 * Netherlands Antilles) have no alpha-2 code today and are left out.
 */
const COUNTRY_OVERRIDES: Readonly<Record<string, string>> = {
  // UN official names
  "democratic people's republic of korea": 'KP',
  'united kingdom of great britain and northern ireland': 'GB',
  'iran (islamic republic of)': 'IR',
  'bolivia (plurinational state of)': 'BO',
  'venezuela (bolivarian republic of)': 'VE',
  'micronesia (federated states of)': 'FM',
  'republic of moldova': 'MD',
  'viet nam': 'VN',
  'state of palestine': 'PS',
  // OFAC's names
  burma: 'MM',
  'cabo verde': 'CV',
  'congo, democratic republic of the': 'CD',
  'congo, republic of the': 'CG',
  'korea, north': 'KP',
  'korea, south': 'KR',
  moldova: 'MD',
  'north macedonia, the republic of': 'MK',
  syria: 'SY',
  'man, isle of': 'IM',
  'st. kitts and nevis': 'KN',
  'bahamas, the': 'BS',
  'the gambia': 'GM',
  macau: 'MO',
  laos: 'LA',
  brunei: 'BN',
  'holy see': 'VA',
  'sint maarten': 'SX',
  'bonaire, sint eustatius, and saba': 'BQ',
  'region: gaza': 'PS',
  gaza: 'PS',
  'west bank': 'PS',
  // adjectives
  afghan: 'AF',
  algerian: 'DZ',
  egyptian: 'EG',
  eritrean: 'ER',
  ethiopian: 'ET',
  iranian: 'IR',
  iraqi: 'IQ',
  jordanian: 'JO',
  kuwaiti: 'KW',
  lebanese: 'LB',
  libyan: 'LY',
  moroccan: 'MA',
  pakistani: 'PK',
  palestinian: 'PS',
  'saudi arabian': 'SA',
  somali: 'SO',
  sudanese: 'SD',
  syrian: 'SY',
  tunisian: 'TN',
  yemeni: 'YE',
};

/** Values that say there is no nationality to read: not worth a warning. */
const NO_COUNTRY = new Set(['', 'na', 'n/a', 'n.a.', 'unknown', 'none', 'stateless']);

const countryCache = new Map<string, string | null>();

function lookUpCountry(name: string): string | null {
  const key = name.toLowerCase();
  const cached = countryCache.get(key);
  if (cached !== undefined) return cached;
  const code = COUNTRY_OVERRIDES[key] ?? countries.getSimpleAlpha2Code(name, 'en') ?? null;
  countryCache.set(key, code);
  return code;
}

/**
 * The alpha-2 codes a list's country text names, or null when none can be read. Tries the text as written, then
 * each sentence of it without parenthesised remarks and qualifiers ("Indonesia (as at Dec. 2003)", "Possibly
 * Ethiopian", "Sudanese by birth", "Kuwaiti citizenship withdrawn in 2002", "United States. Also believed to hold
 * Syrian nationality"): a former or possible nationality still tells who the person is. An empty array means the
 * text says there is none (`na`).
 */
export function countryCodes(text: string): string[] | null {
  const name = collapse(text).replace(/\.$/u, '');
  if (NO_COUNTRY.has(name.toLowerCase())) return [];
  const whole = lookUpCountry(name);
  if (whole !== null) return [whole];
  const codes: string[] = [];
  for (const sentence of name.replace(/\([^)]*\)/gu, ' ').split(/\.\s+|;\s*/u)) {
    const cleaned = collapse(
      sentence
        .replace(/\.$/u, '')
        .replace(/^(?:possibly|probably|reportedly|also believed to hold|believed to be)\s+/iu, '')
        .replace(/\s+(?:nationality|national|citizenship\b.*|by birth)$/iu, ''),
    );
    if (cleaned === '' || cleaned === name) continue;
    const code = lookUpCountry(cleaned);
    if (code !== null && !codes.includes(code)) codes.push(code);
  }
  return codes.length > 0 ? codes : null;
}
