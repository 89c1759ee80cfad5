/**
 * OFAC's Specially Designated Nationals list as published in `sdn.csv`: no header, 12 fields (ent_num, SDN_Name,
 * SDN_Type, Program, Title, Call_Sign, Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks), `-0-` for empty, CRLF
 * line ends, and a DOS end-of-file byte (0x1A) after the last record.
 *
 * - reference = ent_num; kind from SDN_Type (`individual`, `vessel`, `aircraft`; `-0-` is an entity).
 * - The primary name is SDN_Name as published (individuals `SURNAME, Given Names`: matching handles the order).
 * - Aliases are the Remarks' `a.k.a. '…'`, `f.k.a. '…'` and `n.k.a. '…'`, all **weak**: in the CSV, DEL, FF and PIP
 *   formats OFAC puts only its weak AKAs in Remarks (OFAC FAQ 123); the strong ones are in the companion alt.csv,
 *   which this parser does not read.
 * - Dates of birth from `DOB …` and `alt. DOB …` (`01 Jan 1960`, `Jan 1960`, `1960`, `circa 1960`, `1958 to 1962`,
 *   `01 Jan 1958 to 31 Dec 1962`, `circa 1958-1962`).
 * - Nationalities from `nationality …`, `citizen …` (and their `alt.` forms), `nationality: …` and `Nationality of
 *   Registration …`, as alpha-2 codes. The vessel flag (Vess_flag) is not a nationality and is not read.
 * - programs from Program (`SDGT] [IRGC` once the CSV quoting is gone: split at `] [`).
 *
 * Refused whole: CSV that cannot be read, a record without 12 fields, an ent_num that is not a number, an empty
 * SDN_Name, an SDN_Type OFAC does not use, an ent_num seen twice, no records at all.
 */

import { parse as parseCsv } from 'csv-parse/sync';
import type { ListedBirthDate, SanctionsEntry, SanctionsEntryKind, SanctionsName } from './entry.js';
import {
  addBirthDate,
  collapse,
  countryCodes,
  decodeList,
  exactDate,
  ListFormatError,
  monthNumber,
  OFAC_FIELDS,
  shorten,
  yearRange,
  type ListWarning,
  type ParsedList,
} from './list-format.js';

const EMPTY = '-0-';

const KINDS: Readonly<Record<string, SanctionsEntryKind>> = {
  [EMPTY]: 'entity',
  individual: 'individual',
  vessel: 'vessel',
  aircraft: 'aircraft',
};

/** A refusal waiting for where it happened: the line is found only for the record refused. */
type Refusal = (at: { text: string; record: number }) => ListFormatError;

/** csv-parse's messages quote the field they stopped at: ours say what is wrong, the excerpt shows the text. */
const CSV_SYNTAX: Readonly<Partial<Record<string, string>>> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is never closed',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by something other than a comma',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: 'a closing quote is followed by something other than a comma',
  INVALID_OPENING_QUOTE: 'a quote inside an unquoted field',
};

export interface OfacFiles {
  /**
   * OFAC's `alt.csv` from the same publication: the strong aliases (ent_num, alt_num, alt_type, alt_name,
   * alt_remarks). Without it an entry has its primary name and the weak aliases of its Remarks only.
   */
  readonly alt?: string | Buffer;
}

export function parseOfacSdn(csv: string | Buffer, files: OfacFiles = {}): ParsedList | ListFormatError {
  const text = readCsv(csv, 'sdn.csv');
  if (text instanceof ListFormatError) return text;
  const rows = csvRows(text, 'sdn.csv');
  if (rows instanceof ListFormatError) return rows;
  if (rows.length === 0) {
    return new ListFormatError('the file has no records: refused rather than clear screening', {
      list: 'ofac',
    });
  }

  const entries: SanctionsEntry[] = [];
  const warnings: ListWarning[] = [];
  const seen = new Map<string, number>();
  for (const [index, fields] of rows.entries()) {
    const record = index + 1;
    const entry = readRecord(fields, warnings);
    if (typeof entry === 'function') return entry({ text, record });
    const earlier = seen.get(entry.reference);
    if (earlier !== undefined) {
      const line = lineOfRecord(text, record);
      return new ListFormatError(
        `ent_num ${entry.reference} appears twice (records ${earlier} and ${record}, line ${line})`,
        { list: 'ofac', line, record, excerpt: entry.reference },
      );
    }
    seen.set(entry.reference, record);
    entries.push(entry);
  }
  if (files.alt !== undefined) {
    const added = addAltNames(files.alt, entries);
    if (added instanceof ListFormatError) return added;
  }
  return { list: 'ofac', publishedAt: null, entries, warnings };
}

/** The text of one of OFAC's CSV files, without the DOS end-of-file byte OFAC ends them with. */
function readCsv(input: string | Buffer, file: string): string | ListFormatError {
  const decoded = decodeList(input, 'ofac');
  if (decoded instanceof ListFormatError) {
    return new ListFormatError(`${file}: ${decoded.message}`, {
      list: 'ofac',
      ...(decoded.line === undefined ? {} : { line: decoded.line }),
      ...(decoded.column === undefined ? {} : { column: decoded.column }),
    });
  }
  const end = decoded.trimEnd();
  return end.endsWith(DOS_EOF) ? end.slice(0, -1) : decoded;
}

function csvRows(text: string, file: string): string[][] | ListFormatError {
  try {
    return parseCsv(text, CSV_OPTIONS);
  } catch (error) {
    return csvSyntaxError(error, file);
  }
}

const DOS_EOF = String.fromCharCode(0x1a);

const ALT_FIELDS = 5;
const ALT_TYPES = new Set(['aka', 'fka', 'nka']);

/**
 * alt.csv's names as strong aliases of their entries. Refused whole when a record is malformed or names an ent_num
 * that sdn.csv does not have (the two files are not from the same publication).
 */
function addAltNames(input: string | Buffer, entries: SanctionsEntry[]): ListFormatError | null {
  const text = readCsv(input, 'alt.csv');
  if (text instanceof ListFormatError) return text;
  const rows = csvRows(text, 'alt.csv');
  if (rows instanceof ListFormatError) return rows;
  const byReference = new Map(entries.map((entry, index) => [entry.reference, index]));
  for (const [index, fields] of rows.entries()) {
    const record = index + 1;
    const fail = (message: string, excerpt?: string): ListFormatError => {
      const line = lineOfRecord(text, record);
      return new ListFormatError(`alt.csv record ${record} (line ${line}): ${message}`, {
        list: 'ofac',
        line,
        record,
        ...(excerpt === undefined ? {} : { excerpt }),
      });
    };
    if (fields.length !== ALT_FIELDS) return fail(`${fields.length} fields where alt.csv has ${ALT_FIELDS}`);
    const [entNum = '', , altType = '', altName] = fields;
    const reference = collapse(entNum);
    const at = byReference.get(reference);
    if (at === undefined) {
      return fail(
        /^\d+$/u.test(reference) ? `ent_num ${reference} is not in sdn.csv` : 'ent_num is not a number',
        reference,
      );
    }
    if (!ALT_TYPES.has(collapse(altType).toLowerCase()))
      return fail('alt_type is not aka, fka or nka', altType);
    const name = value(altName);
    if (name === '') return fail(`ent_num ${reference}: an alias without alt_name`, reference);
    const entry = entries[at];
    if (entry !== undefined && !entry.names.some((known) => known.name === name)) {
      entries[at] = { ...entry, names: [...entry.names, { name, role: 'alias', quality: 'strong' }] };
    }
  }
  return null;
}

const CSV_OPTIONS = { relax_column_count: true, skip_empty_lines: true } as const;

/**
 * The line a record ends on. Asked only when refusing a file: csv-parse's per-record line count costs a fifth of
 * the parse, and a quoted field may span lines, so the records are read again up to that one.
 */
function lineOfRecord(text: string, record: number): number {
  let line = 0;
  parseCsv(text, {
    ...CSV_OPTIONS,
    to: record,
    on_record: (fields: string[], context) => {
      line = context.lines;
      return fields;
    },
  });
  return line;
}

function csvSyntaxError(error: unknown, file: string): ListFormatError {
  const fields = typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : {};
  const code = typeof fields.code === 'string' ? fields.code : '';
  const line = typeof fields.lines === 'number' ? fields.lines : undefined;
  const record = typeof fields.records === 'number' ? fields.records + 1 : undefined;
  const raw = typeof fields.raw === 'string' ? fields.raw : undefined;
  const reason = CSV_SYNTAX[code] ?? 'the CSV cannot be read';
  return new ListFormatError(
    `${file}: ${reason}${record === undefined ? '' : ` (record ${record}${line === undefined ? '' : `, line ${line}`})`}`,
    {
      list: 'ofac',
      ...(line === undefined ? {} : { line }),
      ...(record === undefined ? {} : { record }),
      ...(raw === undefined || raw === '' ? {} : { excerpt: raw }),
    },
  );
}

function refuse(message: string, excerpt?: string): Refusal {
  return ({ text, record }) => {
    const line = lineOfRecord(text, record);
    return new ListFormatError(`record ${record} (line ${line}): ${message}`, {
      list: 'ofac',
      line,
      record,
      ...(excerpt === undefined ? {} : { excerpt }),
    });
  };
}

function value(field: string | undefined): string {
  const text = collapse(field ?? '');
  return text === EMPTY ? '' : text;
}

function readRecord(fields: readonly string[], warnings: ListWarning[]): SanctionsEntry | Refusal {
  if (fields.length !== OFAC_FIELDS) {
    return refuse(`${fields.length} fields where sdn.csv has ${OFAC_FIELDS}`, fields[0]);
  }
  const [entNum = '', sdnName, sdnType = '', program, , , , , , , , remarks] = fields;
  const reference = collapse(entNum);
  if (!/^\d+$/u.test(reference)) return refuse('ent_num is not a number', reference);
  const name = value(sdnName);
  if (name === '') return refuse(`ent_num ${reference} has no SDN_Name`, reference);
  const kind = KINDS[collapse(sdnType).toLowerCase()];
  if (kind === undefined) {
    return refuse(`ent_num ${reference}: SDN_Type is not individual, vessel, aircraft or -0-`, sdnType);
  }

  const names: SanctionsName[] = [{ name, role: 'primary', quality: 'strong' }];
  const birthDates: ListedBirthDate[] = [];
  const nationalities: string[] = [];
  readRemarks(value(remarks), reference, { names, birthDates, nationalities }, warnings);

  return {
    list: 'ofac',
    reference,
    kind,
    names,
    birthDates,
    nationalities,
    programs: programsOf(value(program)),
  };
}

/** `SDGT] [IRGC` (the CSV keeps the inner brackets of `[SDGT] [IRGC]`), or `[SDGT] [IRGC]` whole. */
export function programsOf(text: string): string[] {
  const programs: string[] = [];
  for (const part of text.split(/\]\s*\[/u)) {
    const program = collapse(part.replace(/^\[|\]$/gu, ''));
    if (program !== '' && program !== EMPTY && !programs.includes(program)) programs.push(program);
  }
  return programs;
}

interface EntryDetails {
  readonly names: SanctionsName[];
  readonly birthDates: ListedBirthDate[];
  readonly nationalities: string[];
}

const ALIAS = /^[afn]\.k\.a\.\s*(.*)$/iu;
const DOB = /^(?:alt\.\s*)?DOB\s+(.+)$/iu;
const NATIONALITY =
  /^(?:alt\.\s*)?(?:nationality\s+of\s+registration|nationality|citizen)(?:\s*:\s*|\s+)(.+)$/iu;

/**
 * The Remarks: details separated by `;`, the last ending in a full stop. Only aliases, dates of birth and
 * nationalities are read; identity documents, addresses, links and the rest are left to the list itself.
 */
function readRemarks(
  remarks: string,
  reference: string,
  details: EntryDetails,
  warnings: ListWarning[],
): void {
  if (remarks === '') return;
  const segments = remarks.split(';');
  segments.forEach((raw, index) => {
    let segment = collapse(raw);
    if (index === segments.length - 1) segment = segment.replace(/\.$/u, '');
    if (segment === '') return;

    const alias = ALIAS.exec(segment);
    if (alias !== null) {
      // 'NAME', where NAME may itself start or end with an apostrophe (''ALI, Abu', ''FOOPIE'').
      const name = collapse((alias[1] ?? '').replace(/^'/u, '').replace(/'$/u, ''));
      if (name === '') {
        warnings.push({
          reference,
          field: 'alias',
          text: shorten(segment),
          message: 'an alias without a name',
        });
      } else if (!details.names.some((known) => known.name === name)) {
        details.names.push({ name, role: 'alias', quality: 'weak' });
      }
      return;
    }

    const dob = DOB.exec(segment);
    if (dob !== null) {
      const date = ofacBirthDate(dob[1] ?? '');
      if (date === null) {
        warnings.push({
          reference,
          field: 'birthDate',
          text: shorten(dob[1] ?? ''),
          message: 'a date of birth not read',
        });
      } else addBirthDate(details.birthDates, date);
      return;
    }

    const nationality = NATIONALITY.exec(segment);
    if (nationality !== null) {
      const country = nationality[1] ?? '';
      const codes = countryCodes(country);
      if (codes === null) {
        warnings.push({
          reference,
          field: 'nationality',
          text: shorten(country),
          message: 'a nationality that names no ISO 3166 country',
        });
      } else
        for (const code of codes) if (!details.nationalities.includes(code)) details.nationalities.push(code);
    }
  });
}

interface DatePart {
  readonly year: number;
  readonly month?: number;
  readonly day?: number;
}

/** `01 Jan 1960`, `Jan 1960` or `1960`. */
function datePart(text: string): DatePart | null {
  const parts = text.split(' ');
  const year = Number(parts.at(-1));
  if (!/^\d{4}$/u.test(parts.at(-1) ?? '')) return null;
  if (parts.length === 1) return { year };
  const month = monthNumber(parts.at(-2) ?? '');
  if (month === undefined) return null;
  if (parts.length === 2) return { year, month };
  if (parts.length === 3 && /^\d{1,2}$/u.test(parts[0] ?? '')) return { year, month, day: Number(parts[0]) };
  return null;
}

/**
 * An OFAC date of birth: one date (exact, month and year, or year), or a range `A to B` (or `YYYY-YYYY`), either
 * perhaps after `circa`. A month without a day keeps only the year, as does a range of exact dates.
 */
export function ofacBirthDate(input: string): ListedBirthDate | null {
  let text = collapse(input);
  const circa = /^circa\s+/iu.test(text);
  if (circa) text = text.replace(/^circa\s+/iu, '');
  const range = /^(.+?)\s+to\s+(.+)$/iu.exec(text) ?? /^(\d{4})\s*-\s*(\d{4})$/u.exec(text);
  if (range !== null) {
    const from = datePart(range[1] ?? '');
    const to = datePart(range[2] ?? '');
    if (from === null || to === null) return null;
    if (from.year === to.year && from.month === to.month && from.day === to.day && from.day !== undefined) {
      return exactDate(from.year, from.month ?? 0, from.day, circa);
    }
    return yearRange(from.year, to.year, circa);
  }
  const date = datePart(text);
  if (date === null) return null;
  if (date.month !== undefined && date.day !== undefined)
    return exactDate(date.year, date.month, date.day, circa);
  return yearRange(date.year, date.year, circa);
}
