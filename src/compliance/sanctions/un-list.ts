/**
 * The UN Security Council Consolidated List in its published XML (`CONSOLIDATED_LIST`, with `INDIVIDUALS/INDIVIDUAL`
 * and `ENTITIES/ENTITY`), read by a streaming parser (saxes) that knows where it is, so that a refusal names the line,
 * the column and the element.
 *
 * - Individuals: the primary name is FIRST_NAME..FOURTH_NAME joined in order (the UN writes them in the order the
 *   person's name is said, which for many is family name first: "RI WON HO"); NAME_ORIGINAL_SCRIPT is a strong alias;
 *   INDIVIDUAL_ALIAS with QUALITY `Good` is strong and `Low` weak.
 * - Entities: FIRST_NAME is the name; ENTITY_ALIAS with QUALITY `a.k.a.` or `f.k.a.` is strong (a former name is
 *   still one the entity trades under in old contracts and accounts).
 * - Dates of birth from INDIVIDUAL_DATE_OF_BIRTH (EXACT with DATE or YEAR, APPROXIMATELY with YEAR, BETWEEN with
 *   FROM_YEAR and TO_YEAR; where only a NOTE is given, "Nov. 1973", a Hijri date or an age at listing) and from the
 *   DATE_OF_BIRTH of an alias (the date that goes with a false passport in that name).
 * - reference = REFERENCE_NUMBER, programs = UN_LIST_TYPE, publishedAt = the root's dateGenerated.
 *
 * Refused whole: XML that is not well-formed or is truncated, a root other than CONSOLIDATED_LIST, an INDIVIDUAL or
 * ENTITY without a REFERENCE_NUMBER or a name, one out of its place, a reference seen twice, no entries at all.
 */

import { SaxesParser } from 'saxes';
import type { ListedBirthDate, SanctionsEntry, SanctionsEntryKind, SanctionsName } from './entry.js';
import {
  addBirthDate,
  collapse,
  countryCodes,
  decodeList,
  exactDate,
  ListFormatError,
  monthNumber,
  shorten,
  validYear,
  xmlSyntaxError,
  yearRange,
  type ListWarning,
  type ParsedList,
} from './list-format.js';

const ROOT = 'CONSOLIDATED_LIST';

/** Where each kind of record sits, and what it is. */
const RECORDS: Readonly<Record<string, { parent: string; kind: SanctionsEntryKind }>> = {
  INDIVIDUAL: { parent: 'INDIVIDUALS', kind: 'individual' },
  ENTITY: { parent: 'ENTITIES', kind: 'entity' },
};

/** One element of a record, as far as the record goes: the list is read a record at a time. */
interface XmlNode {
  readonly name: string;
  readonly path: string;
  readonly line: number;
  readonly column: number;
  text: string;
  readonly children: XmlNode[];
}

export function parseUnList(xml: string | Buffer): ParsedList | ListFormatError {
  const text = decodeList(xml, 'un');
  if (text instanceof ListFormatError) return text;

  const parser = new SaxesParser();
  const entries: SanctionsEntry[] = [];
  const warnings: ListWarning[] = [];
  const seen = new Map<string, string>();
  const path: string[] = [];
  const counts = new Map<string, number>();
  /** The open elements of the record being read, innermost last. */
  const open: XmlNode[] = [];
  let publishedAt: Date | null = null;
  let rootSeen = false;

  const fail = (error: ListFormatError): never => {
    throw error;
  };

  parser.on('error', (error) => {
    fail(xmlSyntaxError(error, parser, text, 'un', path));
  });

  parser.on('opentagstart', (tag) => {
    const column = parser.column - tag.name.length - 1;
    const line = parser.line;
    if (!rootSeen) {
      rootSeen = true;
      if (tag.name !== ROOT) {
        fail(
          new ListFormatError(
            `the root element is ${tag.name}, not ${ROOT}: this is not a UN consolidated list`,
            { list: 'un', line, column, element: tag.name, excerpt: tag.name },
          ),
        );
      }
    }
    const record = RECORDS[tag.name];
    let step = tag.name;
    if (record !== undefined && open.length === 0) {
      const n = (counts.get(tag.name) ?? 0) + 1;
      counts.set(tag.name, n);
      step = `${tag.name}[${n}]`;
      if (path.length !== 2 || path[0] !== ROOT || path[1] !== record.parent) {
        fail(
          new ListFormatError(
            `an ${tag.name} outside ${ROOT}/${record.parent} (line ${line}, column ${column})`,
            { list: 'un', line, column, element: [...path, step].join('/'), excerpt: tag.name },
          ),
        );
      }
    }
    path.push(step);
    if (open.length > 0 || record !== undefined) {
      const node: XmlNode = { name: tag.name, path: path.join('/'), line, column, text: '', children: [] };
      open.at(-1)?.children.push(node);
      open.push(node);
    }
  });

  parser.on('opentag', (tag) => {
    if (path.length === 1 && tag.name === ROOT) {
      const generated = tag.attributes.dateGenerated;
      if (typeof generated === 'string' && generated !== '') {
        const date = new Date(generated);
        if (Number.isNaN(date.getTime())) {
          warnings.push({
            reference: null,
            field: 'publishedAt',
            text: shorten(generated),
            message: 'dateGenerated is not a date',
          });
        } else publishedAt = date;
      }
    }
  });

  const addText = (chunk: string): void => {
    const node = open.at(-1);
    if (node !== undefined) node.text += chunk;
  };
  parser.on('text', addText);
  parser.on('cdata', addText);

  parser.on('closetag', () => {
    path.pop();
    const node = open.pop();
    if (node !== undefined && open.length === 0) {
      const kind = RECORDS[node.name]?.kind;
      if (kind !== undefined) {
        const entry = readRecord(node, kind, warnings);
        if (entry instanceof ListFormatError) fail(entry);
        else {
          const earlier = seen.get(entry.reference);
          if (earlier !== undefined) {
            fail(
              new ListFormatError(
                `reference ${entry.reference} appears twice (${earlier} and ${node.path}, line ${node.line})`,
                {
                  list: 'un',
                  line: node.line,
                  column: node.column,
                  element: node.path,
                  excerpt: entry.reference,
                },
              ),
            );
          }
          seen.set(entry.reference, node.path);
          entries.push(entry);
        }
      }
    }
  });

  try {
    parser.write(text).close();
  } catch (error) {
    if (error instanceof ListFormatError) return error;
    return new ListFormatError(`the XML could not be read: ${String(error)}`, { list: 'un' });
  }
  if (entries.length === 0) {
    return new ListFormatError(
      'the list has no INDIVIDUAL and no ENTITY: refused rather than clear screening',
      {
        list: 'un',
      },
    );
  }
  return { list: 'un', publishedAt, entries, warnings };
}

// --- One record ----------------------------------------------------------------------------------------------------

function child(node: XmlNode, name: string): XmlNode | undefined {
  return node.children.find((c) => c.name === name);
}

function childrenNamed(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c) => c.name === name);
}

function textOf(node: XmlNode | undefined): string {
  return node === undefined ? '' : collapse(node.text);
}

function readRecord(
  node: XmlNode,
  kind: SanctionsEntryKind,
  warnings: ListWarning[],
): SanctionsEntry | ListFormatError {
  const referenceNode = child(node, 'REFERENCE_NUMBER');
  const reference = textOf(referenceNode);
  if (reference === '') {
    const where = referenceNode ?? node;
    return new ListFormatError(
      `an ${node.name} without a REFERENCE_NUMBER (line ${node.line}, column ${node.column})`,
      {
        list: 'un',
        line: where.line,
        column: where.column,
        element: referenceNode?.path ?? node.path,
      },
    );
  }

  const nameParts = ['FIRST_NAME', 'SECOND_NAME', 'THIRD_NAME', 'FOURTH_NAME'].map((part) =>
    textOf(child(node, part)),
  );
  const primary = collapse(kind === 'individual' ? nameParts.join(' ') : (nameParts[0] ?? ''));
  if (primary === '') {
    const first = child(node, 'FIRST_NAME');
    return new ListFormatError(
      `${node.name} ${reference} has no name (${kind === 'individual' ? 'FIRST_NAME to FOURTH_NAME are' : 'FIRST_NAME is'} empty; line ${node.line})`,
      {
        list: 'un',
        line: first?.line ?? node.line,
        column: first?.column ?? node.column,
        element: first?.path ?? node.path,
        excerpt: reference,
      },
    );
  }

  const names: SanctionsName[] = [];
  const addOne = (name: string, role: SanctionsName['role'], quality: SanctionsName['quality']): void => {
    if (name === '') return;
    const known = names.findIndex((n) => n.name === name);
    if (known === -1) names.push({ name, role, quality });
    else if (quality === 'strong' && names[known]?.quality === 'weak') names[known] = { name, role, quality };
  };
  const addName = (name: string, role: SanctionsName['role'], quality: SanctionsName['quality']): void => {
    addOne(name, role, quality);
    for (const variant of namesWithin(name)) addOne(variant, 'alias', quality);
  };
  addName(primary, 'primary', 'strong');
  addName(textOf(child(node, 'NAME_ORIGINAL_SCRIPT')), 'alias', 'strong');

  const birthDates: ListedBirthDate[] = [];
  const listedYear = Number.parseInt(textOf(child(node, 'LISTED_ON')).slice(0, 4), 10);

  for (const alias of childrenNamed(node, kind === 'individual' ? 'INDIVIDUAL_ALIAS' : 'ENTITY_ALIAS')) {
    const name = textOf(child(alias, 'ALIAS_NAME'));
    if (name === '') continue;
    const quality = textOf(child(alias, 'QUALITY'));
    const weak = quality.toLowerCase() === 'low';
    if (!weak && !KNOWN_QUALITIES.has(quality.toLowerCase())) {
      warnings.push({
        reference,
        field: 'alias',
        text: shorten(quality),
        message: `alias quality ${quality} is not one the UN uses: the alias is kept as strong`,
      });
    }
    addName(name, 'alias', weak ? 'weak' : 'strong');
    const aliasBirth = textOf(child(alias, 'DATE_OF_BIRTH'));
    if (aliasBirth !== '') {
      const date = isoDateOrYear(aliasBirth);
      if (date === null) {
        warnings.push({
          reference,
          field: 'birthDate',
          text: shorten(aliasBirth),
          message: "an alias's DATE_OF_BIRTH that is not a date",
        });
      } else addBirthDate(birthDates, date);
    }
  }

  for (const dob of childrenNamed(node, 'INDIVIDUAL_DATE_OF_BIRTH')) {
    const dates = readBirthDate(dob, Number.isNaN(listedYear) ? null : listedYear);
    if (typeof dates === 'string') {
      warnings.push({
        reference,
        field: 'birthDate',
        text: shorten(dates),
        message: 'a date of birth not read',
      });
    } else for (const date of dates) addBirthDate(birthDates, date);
  }

  const nationalities: string[] = [];
  for (const nationality of childrenNamed(node, 'NATIONALITY')) {
    for (const value of childrenNamed(nationality, 'VALUE')) {
      const raw = textOf(value);
      const codes = countryCodes(raw);
      if (codes === null) {
        warnings.push({
          reference,
          field: 'nationality',
          text: shorten(raw),
          message: 'a nationality that names no ISO 3166 country',
        });
      } else for (const code of codes) if (!nationalities.includes(code)) nationalities.push(code);
    }
  }

  const program = textOf(child(node, 'UN_LIST_TYPE'));
  return {
    list: 'un',
    reference,
    kind,
    names,
    birthDates,
    nationalities,
    programs: program === '' ? [] : [program],
  };
}

const LATIN = /\p{Script=Latin}/u;
const OTHER_SCRIPT = /[^\p{Script=Latin}\p{Script=Common}\p{Script=Inherited}]/u;

function scriptOf(text: string): 'latin' | 'other' | 'mixed' | 'none' {
  const latin = LATIN.test(text);
  const other = OTHER_SCRIPT.test(text);
  if (latin && other) return 'mixed';
  if (latin) return 'latin';
  return other ? 'other' : 'none';
}

/**
 * The separate names one published value holds, beside the value itself (which is kept as published): the UN
 * sometimes writes several in one ALIAS_NAME, separated by `;` ("Abdul Rehman; Abd Ur-Rehman; Abdur Rahman"), or a
 * name with its transliteration in brackets ("حسن غول (Hassan Ghul; Hassan Gul)", "Akrin Saleh Akrin (أقرين صالح
 * أقرين)"). Brackets are split only between two scripts, and not when they hold a single word: otherwise they hold an
 * acronym, a place or a language ("(AAB)", "(INDONESIA)", "(Tigrinya)"), which is no name.
 */
export function namesWithin(name: string): string[] {
  const found: string[] = [];
  const add = (part: string): void => {
    const text = collapse(part);
    if (text !== '' && text !== name && !found.includes(text)) found.push(text);
  };
  const bracketed = /^([^()]+?)\s*\(([^()]+)\)$/u.exec(name);
  if (bracketed !== null) {
    const outside = bracketed[1] ?? '';
    const inside = bracketed[2] ?? '';
    const outer = scriptOf(outside);
    const inner = scriptOf(inside);
    if ((outer === 'latin' && inner === 'other') || (outer === 'other' && inner === 'latin')) {
      add(outside);
      const parts = inside.split(';');
      // One word alone in brackets is a language's name ("(Tigrinya)") more often than a name.
      if (parts.length > 1 || collapse(inside).includes(' ')) for (const part of parts) add(part);
      return found;
    }
  }
  if (name.includes(';')) for (const part of name.split(';')) add(part);
  return found;
}

/** `Good` (individuals) and `a.k.a.`/`f.k.a.` (entities) are strong, `Low` weak; an empty quality is strong. */
const KNOWN_QUALITIES = new Set(['', 'good', 'a.k.a.', 'f.k.a.', 'n.k.a.']);

function yearOf(text: string): number | null {
  return /^\d{4}$/u.test(text) ? Number(text) : null;
}

/** `1964-07-17`, `1960-01-01-05:00` (a date with its time zone), or a year. */
function isoDateOrYear(text: string): ListedBirthDate | null {
  const date = /^(\d{4})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?$/u.exec(text);
  if (date !== null) return exactDate(Number(date[1]), Number(date[2]), Number(date[3]));
  const year = /^(\d{4})$/u.exec(text);
  return year === null ? null : yearRange(Number(year[1]), Number(year[1]));
}

/**
 * One INDIVIDUAL_DATE_OF_BIRTH: the dates it gives (none for an empty one), or the text that could not be read.
 * TYPE_OF_DATE EXACT gives DATE or YEAR, APPROXIMATELY a YEAR, BETWEEN FROM_YEAR and TO_YEAR; each may instead carry
 * only a NOTE.
 */
function readBirthDate(dob: XmlNode, listedYear: number | null): ListedBirthDate[] | string {
  const type = textOf(child(dob, 'TYPE_OF_DATE')).toUpperCase();
  const note = textOf(child(dob, 'NOTE'));
  const approximate = type === 'APPROXIMATELY' || /approximately|circa|about/iu.test(note);
  const dateText = textOf(child(dob, 'DATE'));
  const yearText = textOf(child(dob, 'YEAR'));
  const fromText = textOf(child(dob, 'FROM_YEAR'));
  const toText = textOf(child(dob, 'TO_YEAR'));

  if (dateText !== '') {
    const date = isoDateOrYear(dateText);
    if (date === null) return dateText;
    return [approximate ? { ...date, approximate } : date];
  }
  if (fromText !== '' || toText !== '') {
    const from = yearOf(fromText === '' ? toText : fromText);
    const to = yearOf(toText === '' ? fromText : toText);
    const range = from === null || to === null ? null : yearRange(from, to, approximate);
    return range === null ? `${fromText} to ${toText}` : [range];
  }
  if (yearText !== '') {
    // A NOTE may give the month ("Sep."); the entry keeps months only for exact dates.
    const year = yearOf(yearText);
    const range = year === null ? null : yearRange(year, year, approximate);
    return range === null ? yearText : [range];
  }
  if (note !== '') {
    const fromNote = birthDateFromNote(note, listedYear);
    return fromNote ?? note;
  }
  return [];
}

/**
 * A date of birth given only in words: "Nov. 1973", "Between Aug. and Sep. 1977", "24/06/1402 (Hijri Calendar)",
 * "30-35 years old" or "29 years old" (taken as the age when listed).
 */
function birthDateFromNote(note: string, listedYear: number | null): ListedBirthDate[] | null {
  const hijri = /^(\d{1,2})\/(\d{1,2})\/(\d{4})\s*\(hijri/iu.exec(note);
  if (hijri !== null) {
    const years = hijriToGregorianYears(Number(hijri[3]), Number(hijri[2]), Number(hijri[1]));
    const range = years === null ? null : yearRange(years[0], years[1]);
    return range === null ? null : [range];
  }
  const age = /^(\d{1,3})(?:\s*-\s*(\d{1,3}))?\s+years?\s+old$/iu.exec(note);
  if (age !== null) {
    if (listedYear === null) return null;
    const youngest = Number(age[1]);
    const oldest = age[2] === undefined ? youngest : Number(age[2]);
    // Aged n during the listing year: born in that year less n, or the year before.
    const range = yearRange(
      listedYear - Math.max(youngest, oldest) - 1,
      listedYear - Math.min(youngest, oldest),
      true,
    );
    return range === null ? null : [range];
  }
  const monthsAndYear = /^(?:between\s+)?([A-Za-z]+\.?)(?:\s+and\s+([A-Za-z]+\.?))?\s+(\d{4})$/iu.exec(note);
  if (monthsAndYear !== null) {
    const month = monthNumber(monthsAndYear[1] ?? '');
    const other = monthsAndYear[2] === undefined ? month : monthNumber(monthsAndYear[2]);
    const year = Number(monthsAndYear[3]);
    if (month === undefined || other === undefined || !validYear(year)) return null;
    const range = yearRange(year, year);
    return range === null ? null : [range];
  }
  return null;
}

/**
 * The Gregorian year(s) a Hijri date falls in, by the arithmetic (tabular) Islamic calendar. The calendar in use may
 * differ from it by a day or two, so a date that close to New Year gives both years.
 */
function hijriToGregorianYears(year: number, month: number, day: number): [number, number] | null {
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > 30) return null;
  const julianDay =
    day +
    Math.ceil(29.5 * (month - 1)) +
    (year - 1) * 354 +
    Math.floor((3 + 11 * year) / 30) +
    1_948_439.5 -
    1;
  const unixDays = julianDay - 2_440_587.5;
  const yearAt = (days: number): number => new Date(days * 86_400_000).getUTCFullYear();
  const low = yearAt(unixDays - 2);
  const high = yearAt(unixDays + 2);
  return validYear(low) && validYear(high) ? [low, high] : null;
}
