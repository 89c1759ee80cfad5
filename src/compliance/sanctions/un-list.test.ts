import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SanctionsEntry } from './entry.js';
import {
  countryCodes,
  describeWarning,
  detectListFormat,
  ListFormatError,
  type ParsedList,
} from './list-format.js';
import { namesWithin, parseUnList } from './un-list.js';

/**
 * The UN Security Council Consolidated List parser, on the real snapshot of 30 November 2020 (713 individuals and
 * 305 entities) and on small malformed documents, each of which must be refused with where it went wrong.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SANCTIONS_DIR = process.env.LANTAU_SANCTIONS_DIR ?? path.resolve(ROOT, '../shared/data/sanctions');
const SNAPSHOT = path.join(SANCTIONS_DIR, 'un-consolidated-2020-11-30.xml');

function parsed(result: ParsedList | ListFormatError): ParsedList {
  if (result instanceof ListFormatError) throw new Error(`expected a list, got: ${result.message}`);
  return result;
}

function refused(result: ParsedList | ListFormatError): ListFormatError {
  if (!(result instanceof ListFormatError)) throw new Error('expected the file to be refused');
  return result;
}

/** A well-formed document around the given records. */
function document(individuals: string, entities = ''): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<CONSOLIDATED_LIST dateGenerated="2020-11-30T20:31:19.923-05:00">',
    `<INDIVIDUALS>${individuals}</INDIVIDUALS>`,
    `<ENTITIES>${entities}</ENTITIES>`,
    '</CONSOLIDATED_LIST>',
  ].join('\n');
}

function individual(reference: string, first = 'JOHN', extra = ''): string {
  return `<INDIVIDUAL><FIRST_NAME>${first}</FIRST_NAME><UN_LIST_TYPE>DPRK</UN_LIST_TYPE><REFERENCE_NUMBER>${reference}</REFERENCE_NUMBER>${extra}</INDIVIDUAL>`;
}

describe('the UN consolidated list snapshot', () => {
  let list: ParsedList;
  let milliseconds: number;
  const entry = (reference: string): SanctionsEntry | undefined =>
    list.entries.find((e) => e.reference === reference);

  beforeAll(() => {
    const bytes = readFileSync(SNAPSHOT);
    const start = performance.now();
    list = parsed(parseUnList(bytes));
    milliseconds = performance.now() - start;
    console.log(
      `UN consolidated list: ${list.entries.length} entries parsed in ${milliseconds.toFixed(0)} ms`,
    );
  });

  it('has every individual and entity, and when it was generated', () => {
    expect(list.list).toBe('un');
    expect(list.entries).toHaveLength(1018);
    expect(list.entries.filter((e) => e.kind === 'individual')).toHaveLength(713);
    expect(list.entries.filter((e) => e.kind === 'entity')).toHaveLength(305);
    expect(list.publishedAt?.toISOString()).toBe('2020-12-01T01:31:19.923Z');
    // A ceiling against a pathological slow-down, not a benchmark (typically ~100 ms).
    expect(milliseconds).toBeLessThan(5000);
  });

  it('gives each entry a unique reference, a primary name first and a programme', () => {
    const references = new Set<string>();
    for (const e of list.entries) {
      expect(e.list).toBe('un');
      expect(e.reference).toMatch(/^[A-Z]{2}[ie]\.\d{3}$/u);
      references.add(e.reference);
      expect(e.names[0]?.role).toBe('primary');
      expect(e.names.filter((n) => n.role === 'primary')).toHaveLength(1);
      for (const n of e.names) expect(n.name).toMatch(/^\S(?:.*\S)?$/u);
      for (const n of e.names) expect(n.name).not.toMatch(/\s\s|[\n\t]/u);
      expect(e.programs).toHaveLength(1);
      for (const date of e.birthDates) expect(date.fromYear).toBeLessThanOrEqual(date.toYear);
      for (const code of e.nationalities) expect(code).toMatch(/^[A-Z]{2}$/u);
    }
    expect(references.size).toBe(1018);
  });

  it('keeps the qualities the UN gives: Good strong, Low weak, entity a.k.a. and f.k.a. strong', () => {
    const weak = list.entries.flatMap((e) => e.names.filter((n) => n.quality === 'weak'));
    expect(weak.length).toBeGreaterThanOrEqual(616);
    expect(list.entries.filter((e) => e.kind === 'entity').flatMap((e) => e.names)).not.toContainEqual(
      expect.objectContaining({ quality: 'weak' }),
    );
  });

  it('reads every date of birth and nationality but one that names no country today', () => {
    expect(list.warnings.map(describeWarning)).toEqual([
      'QDi.290: a nationality that names no ISO 3166 country ("USSR (until 1991)")',
    ]);
    // The 38 without one have an empty INDIVIDUAL_DATE_OF_BIRTH.
    expect(list.entries.filter((e) => e.kind === 'individual' && e.birthDates.length === 0)).toHaveLength(38);
  });

  it('reads a DPRK official: names trimmed, an exact date, a UN country name', () => {
    // <FIRST_NAME> RI </FIRST_NAME><SECOND_NAME>WON HO</SECOND_NAME>, an empty INDIVIDUAL_ALIAS.
    expect(entry('KPi.033')).toEqual({
      list: 'un',
      reference: 'KPi.033',
      kind: 'individual',
      names: [{ name: 'RI WON HO', role: 'primary', quality: 'strong' }],
      birthDates: [{ fromYear: 1964, toYear: 1964, month: 7, day: 17 }],
      nationalities: ['KP'],
      programs: ['DPRK'],
    });
    // Published as "KPi.034 ".
    expect(entry('KPi.034')?.names[0]?.name).toBe('JO YONG CHOL');
  });

  it('reads names in several scripts, a date only in words and two nationalities', () => {
    expect(entry('QDi.306')).toEqual({
      list: 'un',
      reference: 'QDi.306',
      kind: 'individual',
      names: [
        { name: 'MUSTAFA HAJJI MUHAMMAD KHAN', role: 'primary', quality: 'strong' },
        { name: 'مصطفى حجي محمد خان', role: 'alias', quality: 'strong' },
        // As published, then the names it holds.
        { name: 'حسن غول (Hassan Ghul; Hassan Gul; Hasan Gul)', role: 'alias', quality: 'strong' },
        { name: 'حسن غول', role: 'alias', quality: 'strong' },
        { name: 'Hassan Ghul', role: 'alias', quality: 'strong' },
        { name: 'Hassan Gul', role: 'alias', quality: 'strong' },
        { name: 'Hasan Gul', role: 'alias', quality: 'strong' },
        { name: 'Khalid Mahmud', role: 'alias', quality: 'strong' },
        { name: 'Ahmad Shahji', role: 'alias', quality: 'weak' },
        { name: 'Mustafa Muhammad', role: 'alias', quality: 'weak' },
        { name: 'Abu Gharib al-Madani', role: 'alias', quality: 'weak' },
        { name: 'أبو شيماء (Abu-Shaima; Abu- Shayma)', role: 'alias', quality: 'weak' },
        { name: 'أبو شيماء', role: 'alias', quality: 'weak' },
        { name: 'Abu-Shaima', role: 'alias', quality: 'weak' },
        { name: 'Abu- Shayma', role: 'alias', quality: 'weak' },
      ],
      // "Between Aug. and Sep. 1977" (EXACT, NOTE only), then YEAR 1976.
      birthDates: [
        { fromYear: 1977, toYear: 1977 },
        { fromYear: 1976, toYear: 1976 },
      ],
      // "Pakistan", "Saudi Arabian".
      nationalities: ['PK', 'SA'],
      programs: ['Al-Qaida'],
    });
  });

  it('reads an age at listing as a range of years, and a language label as no name', () => {
    expect(entry('LYi.022')).toEqual({
      list: 'un',
      reference: 'LYi.022',
      kind: 'individual',
      names: [
        { name: 'Fitiwi Abdelrazak', role: 'primary', quality: 'strong' },
        { name: 'ፍትዊ ዓብዱረዛቕ (Tigrinya)', role: 'alias', quality: 'strong' },
        { name: 'ፍትዊ ዓብዱረዛቕ', role: 'alias', quality: 'strong' },
        { name: 'Abdurezak, Abdelrazaq, Abdulrazak, Abdrazzak', role: 'alias', quality: 'strong' },
        { name: 'Fitwi Esmail Abdelrazak', role: 'alias', quality: 'weak' },
      ],
      // APPROXIMATELY, "30-35 years old", listed 2018-06-07.
      birthDates: [{ fromYear: 1982, toYear: 1988, approximate: true }],
      nationalities: ['ER'],
      programs: ['Libya'],
    });
  });

  it('reads a Hijri date, APPROXIMATELY and BETWEEN', () => {
    // 24/06/1402 (Hijri Calendar) beside its Gregorian equivalents 1982-04-18 and 1982-04-19.
    expect(entry('QDi.291')?.birthDates).toEqual([
      { fromYear: 1982, toYear: 1982, month: 4, day: 19 },
      { fromYear: 1982, toYear: 1982, month: 4, day: 18 },
      { fromYear: 1982, toYear: 1982 },
    ]);
    expect(entry('TAi.004')?.birthDates).toContainEqual({ fromYear: 1966, toYear: 1966, approximate: true });
    const between = list.entries.flatMap((e) => e.birthDates).filter((d) => d.fromYear < d.toYear);
    expect(between.length).toBeGreaterThanOrEqual(32);
  });

  it('reads entities: FIRST_NAME the name, former names strong, a name on two lines collapsed', () => {
    expect(entry('QDe.001')).toEqual({
      list: 'un',
      reference: 'QDe.001',
      kind: 'entity',
      names: [
        { name: 'ABU SAYYAF GROUP', role: 'primary', quality: 'strong' },
        { name: 'Al Harakat Al Islamiyya', role: 'alias', quality: 'strong' },
      ],
      birthDates: [],
      nationalities: [],
      programs: ['Al-Qaida'],
    });
    expect(entry('CDe.001')?.names).toEqual([
      { name: 'ADF', role: 'primary', quality: 'strong' },
      { name: 'Allied Democratic Forces', role: 'alias', quality: 'strong' },
      {
        name: 'Forces Démocratiques Alliées-Armée Nationale de Libération de l’Ouganda',
        role: 'alias',
        quality: 'strong',
      },
      { name: 'ADF/NALU', role: 'alias', quality: 'strong' },
      { name: 'NALU', role: 'alias', quality: 'strong' },
    ]);
  });

  it('is recognised as the UN list', () => {
    expect(detectListFormat(readFileSync(SNAPSHOT))).toBe('un');
  });
});

describe('UN list documents that are refused', () => {
  it('refuses truncated XML, naming where it stopped', () => {
    const whole = document(individual('KPi.001') + individual('KPi.002'));
    const cut = whole.slice(0, whole.indexOf('KPi.002'));
    const error = refused(parseUnList(cut));
    expect(error.message).toMatch(/not well-formed/u);
    expect(error.line).toBe(3);
    expect(error.column).toBe(cut.split('\n')[2]?.length);
    expect(error.element).toBe('CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL[2]/REFERENCE_NUMBER');
  });

  it('refuses a mismatched closing tag with its line and column', () => {
    const xml = document(individual('KPi.001').replace('</FIRST_NAME>', '</FIRST>'));
    const error = refused(parseUnList(xml));
    expect(error.message).toMatch(/unexpected close tag/u);
    expect(error.line).toBe(3);
    // saxes closes the element it had open before it reports the mismatch: the path is the record's.
    expect(error.element).toBe('CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL[1]');
    expect(error.excerpt).toMatch(/<\/FIRST>$/u);
  });

  it('refuses another root element', () => {
    const error = refused(parseUnList('<?xml version="1.0"?>\n<sdnList><sdnEntry/></sdnList>'));
    expect(error.message).toMatch(/root element is sdnList/u);
    expect(error).toMatchObject({ line: 2, column: 1, element: 'sdnList', list: 'un' });
  });

  it('refuses an INDIVIDUAL without a REFERENCE_NUMBER', () => {
    const xml = document(individual('KPi.001') + '\n<INDIVIDUAL><FIRST_NAME>JANE</FIRST_NAME></INDIVIDUAL>');
    const error = refused(parseUnList(xml));
    expect(error.message).toMatch(/without a REFERENCE_NUMBER/u);
    expect(error).toMatchObject({
      line: 4,
      column: 1,
      element: 'CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL[2]',
    });
  });

  it('refuses an INDIVIDUAL whose names are all empty', () => {
    const xml = document(individual('KPi.001') + individual('KPi.002', '  ', '<SECOND_NAME/>'));
    const error = refused(parseUnList(xml));
    expect(error.message).toMatch(/KPi\.002 has no name/u);
    expect(error.element).toBe('CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL[2]/FIRST_NAME');
    expect(error.excerpt).toBe('KPi.002');
  });

  it('refuses an ENTITY without a name', () => {
    const xml = document(
      individual('KPi.001'),
      '<ENTITY><FIRST_NAME/><REFERENCE_NUMBER>KPe.001</REFERENCE_NUMBER></ENTITY>',
    );
    expect(refused(parseUnList(xml)).element).toBe('CONSOLIDATED_LIST/ENTITIES/ENTITY[1]/FIRST_NAME');
  });

  it('refuses a reference given twice', () => {
    const xml = document(individual('KPi.001') + individual('KPi.001 ', 'JANE'));
    const error = refused(parseUnList(xml));
    expect(error.message).toMatch(/KPi\.001 appears twice/u);
    expect(error.element).toBe('CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL[2]');
    expect(error.excerpt).toBe('KPi.001');
  });

  it('refuses an INDIVIDUAL out of its place rather than skip it', () => {
    const xml = document(individual('KPi.001'), individual('KPi.002'));
    const error = refused(parseUnList(xml));
    expect(error.message).toMatch(/INDIVIDUAL outside CONSOLIDATED_LIST\/INDIVIDUALS/u);
    expect(error.element).toBe('CONSOLIDATED_LIST/ENTITIES/INDIVIDUAL[2]');
  });

  it('refuses a list with no entries', () => {
    expect(refused(parseUnList(document(''))).message).toMatch(/no INDIVIDUAL and no ENTITY/u);
  });

  it('refuses bytes that are not UTF-8, and never throws on garbage', () => {
    const bytes = Buffer.concat([
      Buffer.from(document(individual('KPi.001')).slice(0, 60)),
      Buffer.from([0xff]),
    ]);
    expect(refused(parseUnList(bytes)).message).toMatch(/not valid UTF-8/u);
    for (const junk of ['', 'hello', '<', '<CONSOLIDATED_LIST>', '<?xml version="1.0"?>', '\u0000\u0001']) {
      expect(parseUnList(junk)).toBeInstanceOf(ListFormatError);
    }
  });

  it('skips an unreadable date of birth or nationality with a warning, keeping the person', () => {
    const xml = document(
      individual(
        'KPi.001',
        'KIM',
        '<NATIONALITY><VALUE>Atlantis</VALUE><VALUE>Democratic People&apos;s Republic of Korea</VALUE></NATIONALITY>' +
          '<INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>EXACT</TYPE_OF_DATE><DATE>1960-02-30</DATE></INDIVIDUAL_DATE_OF_BIRTH>' +
          '<INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>EXACT</TYPE_OF_DATE><DATE>1961-03-01</DATE></INDIVIDUAL_DATE_OF_BIRTH>',
      ),
    );
    const list = parsed(parseUnList(xml));
    expect(list.entries[0]).toMatchObject({
      birthDates: [{ fromYear: 1961, toYear: 1961, month: 3, day: 1 }],
      nationalities: ['KP'],
    });
    expect(list.warnings.map(describeWarning)).toEqual([
      'KPi.001: a date of birth not read ("1960-02-30")',
      'KPi.001: a nationality that names no ISO 3166 country ("Atlantis")',
    ]);
  });
});

describe('detectListFormat', () => {
  it('knows the UN list by its root, after a byte order mark, a declaration and a comment', () => {
    const xml = document(individual('KPi.001')).replace(
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<!-- x -->',
    );
    expect(detectListFormat(`\uFEFF<?xml version="1.0"?>\n${xml}`)).toBe('un');
    expect(detectListFormat('<CONSOLIDATED_LIST>')).toBe('un');
  });

  it('refuses other XML and what is neither list', () => {
    expect(detectListFormat('<sdnList></sdnList>')).toMatchObject({ element: 'sdnList' });
    expect(detectListFormat('<a><b></a>')).toBeInstanceOf(ListFormatError);
    expect(detectListFormat('')).toBeInstanceOf(ListFormatError);
    expect(detectListFormat('name,type\nx,y\n')).toBeInstanceOf(ListFormatError);
  });
});

describe('namesWithin', () => {
  it('splits names separated by semicolons and a transliteration in brackets', () => {
    expect(namesWithin('Abdul Rehman; Abd Ur-Rehman; Abdur Rahman')).toEqual([
      'Abdul Rehman',
      'Abd Ur-Rehman',
      'Abdur Rahman',
    ]);
    expect(namesWithin('Akrin Saleh Akrin (أقرين صالح أقرين)')).toEqual([
      'Akrin Saleh Akrin',
      'أقرين صالح أقرين',
    ]);
  });

  it('leaves acronyms, places, languages and honorifics in brackets alone', () => {
    expect(namesWithin('ABDALLAH AZZAM BRIGADES (AAB)')).toEqual([]);
    expect(namesWithin('AL-HARAMAIN FOUNDATION (INDONESIA)')).toEqual([]);
    expect(namesWithin('ኤርሚኣስ ግርማይ (Tigrinya)')).toEqual(['ኤርሚኣስ ግርማይ']);
    expect(namesWithin('(Sheikh) Musa Hilal')).toEqual([]);
    expect(namesWithin('Majeed, Abdul')).toEqual([]);
  });
});

describe('countryCodes', () => {
  it("maps the UN's official names and the qualified ones", () => {
    expect(countryCodes("Democratic People's Republic of Korea")).toEqual(['KP']);
    expect(countryCodes('Iran (Islamic Republic of)')).toEqual(['IR']);
    expect(countryCodes('Syrian Arab Republic')).toEqual(['SY']);
    expect(countryCodes('Russian Federation')).toEqual(['RU']);
    expect(countryCodes('United Kingdom of Great Britain and Northern Ireland')).toEqual(['GB']);
    expect(countryCodes('United Republic of Tanzania')).toEqual(['TZ']);
    expect(countryCodes('Indonesia (as at Dec. 2003)')).toEqual(['ID']);
    expect(countryCodes('Bahrain (citizenship revoked in Jan. 2015)')).toEqual(['BH']);
    expect(countryCodes('Kuwaiti citizenship withdrawn in 2002')).toEqual(['KW']);
    expect(countryCodes('United States. Also believed to hold Syrian nationality')).toEqual(['US', 'SY']);
    expect(countryCodes('Possibly Ethiopian')).toEqual(['ET']);
    expect(countryCodes('Sudanese by birth')).toEqual(['SD']);
  });

  it('gives none for "na" and null for what names no country', () => {
    expect(countryCodes(' na')).toEqual([]);
    expect(countryCodes('USSR (until 1991)')).toBeNull();
    expect(countryCodes('Atlantis')).toBeNull();
  });
});
