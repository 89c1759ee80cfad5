import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SanctionsEntry } from './entry.js';
import { countryCodes, detectListFormat, ListFormatError, type ParsedList } from './list-format.js';
import { ofacBirthDate, parseOfacSdn, programsOf } from './ofac-list.js';

/**
 * The OFAC SDN list parser, on the real sdn.csv of 3 May 2024 (14,965 records) and on small malformed files, each
 * of which must be refused with the record and line it went wrong on.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SANCTIONS_DIR = process.env.LANTAU_SANCTIONS_DIR ?? path.resolve(ROOT, '../shared/data/sanctions');
const SNAPSHOT = path.join(SANCTIONS_DIR, 'ofac-sdn-2024-05-03.csv');

function parsed(result: ParsedList | ListFormatError): ParsedList {
  if (result instanceof ListFormatError) throw new Error(`expected a list, got: ${result.message}`);
  return result;
}

function refused(result: ParsedList | ListFormatError): ListFormatError {
  if (!(result instanceof ListFormatError)) throw new Error('expected the file to be refused');
  return result;
}

/** One sdn.csv record as OFAC writes it: quoted text, `-0- ` for empty. */
function row(entNum: string, name: string, type = '-0- ', program = 'SDGT', remarks = '-0- '): string {
  const quote = (text: string): string => (text === '-0- ' ? text : `"${text.replace(/"/gu, '""')}"`);
  const empty = Array.from({ length: 7 }, () => '-0- ');
  return [entNum, quote(name), quote(type), quote(program), ...empty, quote(remarks)].join(',');
}

const CRLF = '\r\n';
const GOOD = row('36', 'AEROCARIBBEAN AIRLINES', '-0- ', 'CUBA');

describe('the OFAC SDN snapshot', () => {
  let list: ParsedList;
  let milliseconds: number;
  const entry = (reference: string): SanctionsEntry | undefined =>
    list.entries.find((e) => e.reference === reference);

  beforeAll(() => {
    const bytes = readFileSync(SNAPSHOT);
    const start = performance.now();
    list = parsed(parseOfacSdn(bytes));
    milliseconds = performance.now() - start;
    console.log(`OFAC SDN list: ${list.entries.length} entries parsed in ${milliseconds.toFixed(0)} ms`);
  });

  it('has every record, of each kind', () => {
    expect(list.list).toBe('ofac');
    expect(list.publishedAt).toBeNull();
    expect(list.entries).toHaveLength(14_965);
    const kinds = Object.fromEntries(
      ['individual', 'entity', 'vessel', 'aircraft'].map((kind) => [
        kind,
        list.entries.filter((e) => e.kind === kind).length,
      ]),
    );
    expect(kinds).toEqual({ individual: 6854, entity: 6884, vessel: 851, aircraft: 376 });
    // A ceiling against a pathological slow-down, not a benchmark (typically 250-450 ms).
    expect(milliseconds).toBeLessThan(5000);
  });

  it('gives each entry a unique numeric reference, its name first and its programmes', () => {
    const references = new Set<string>();
    for (const e of list.entries) {
      expect(e.reference).toMatch(/^\d+$/u);
      references.add(e.reference);
      expect(e.names[0]?.role).toBe('primary');
      expect(e.names[0]?.quality).toBe('strong');
      for (const n of e.names) expect(n.name).toMatch(/^\S(?:.*\S)?$/u);
      expect(e.names.slice(1).every((n) => n.role === 'alias' && n.quality === 'weak')).toBe(true);
      expect(e.programs.length).toBeGreaterThan(0);
      // SDGT, RUSSIA-EO14024, SOUTH SUDAN, CAATSA - IRAN: never a bracket left over.
      for (const p of e.programs) expect(p).toMatch(/^[A-Z0-9][A-Z0-9 -]*[A-Z0-9]$/u);
      for (const date of e.birthDates) expect(date.fromYear).toBeLessThanOrEqual(date.toYear);
      for (const code of e.nationalities) expect(code).toMatch(/^[A-Z]{2}$/u);
    }
    expect(references.size).toBe(14_965);
  });

  it('reads every date of birth and nationality in the Remarks', () => {
    expect(list.warnings).toEqual([]);
    const aliases = list.entries.flatMap((e) => e.names.filter((n) => n.role === 'alias'));
    expect(aliases.length).toBe(3666);
  });

  it('reads an individual: weak aliases (nicknames in quotes), four dates, a citizenship', () => {
    // DOB 14 Mar 1974; alt. DOB 13 Apr 1974; alt. DOB 14 Apr 1974; alt. DOB 01 Aug 1970; POB Zanzibar, Tanzania;
    // citizen Tanzania; a.k.a. 'AHMED, A.'; a.k.a. 'KHABAR, Abu'; a.k.a. 'BAKR, Abu'; a.k.a. ''FOOPIE''; ...
    expect(entry('6925')).toEqual({
      list: 'ofac',
      reference: '6925',
      kind: 'individual',
      names: [
        { name: 'GHAILANI, Ahmed Khalfan', role: 'primary', quality: 'strong' },
        { name: 'AHMED, A.', role: 'alias', quality: 'weak' },
        { name: 'KHABAR, Abu', role: 'alias', quality: 'weak' },
        { name: 'BAKR, Abu', role: 'alias', quality: 'weak' },
        { name: "'FOOPIE'", role: 'alias', quality: 'weak' },
        { name: "'FUPI'", role: 'alias', quality: 'weak' },
        { name: "'AHMED THE TANZANIAN'", role: 'alias', quality: 'weak' },
      ],
      birthDates: [
        { fromYear: 1974, toYear: 1974, month: 3, day: 14 },
        { fromYear: 1974, toYear: 1974, month: 4, day: 13 },
        { fromYear: 1974, toYear: 1974, month: 4, day: 14 },
        { fromYear: 1970, toYear: 1970, month: 8, day: 1 },
      ],
      nationalities: ['TZ'],
      programs: ['SDGT'],
    });
  });

  it('reads circa dates, two programmes and a name that starts with an ayn', () => {
    expect(entry('11170')).toEqual({
      list: 'ofac',
      reference: '11170',
      kind: 'individual',
      names: [
        { name: "AL-KABI, Arkam 'Abbas", role: 'primary', quality: 'strong' },
        { name: 'ABU-MUHAMMAD', role: 'alias', quality: 'weak' },
        { name: 'KARUMI', role: 'alias', quality: 'weak' },
        // a.k.a. ''ALI, Abu'
        { name: "'ALI, Abu", role: 'alias', quality: 'weak' },
      ],
      birthDates: [
        { fromYear: 1976, toYear: 1976, approximate: true },
        { fromYear: 1973, toYear: 1973, approximate: true },
        { fromYear: 1977, toYear: 1977, month: 7, day: 17 },
      ],
      nationalities: ['IQ'],
      programs: ['SDGT', 'IRAQ3'],
    });
  });

  it('reads ranges of dates of birth', () => {
    // DOB circa 1979-1982; alt. DOB 1982
    expect(entry('11748')?.birthDates).toEqual([
      { fromYear: 1979, toYear: 1982, approximate: true },
      { fromYear: 1982, toYear: 1982 },
    ]);
    // DOB 01 Jan 1961 to 31 Dec 1962
    expect(entry('15962')?.birthDates).toEqual([{ fromYear: 1961, toYear: 1962 }]);
    // DOB circa 07 Jul 1966
    expect(entry('7929')?.birthDates).toEqual([
      { fromYear: 1966, toYear: 1966, month: 7, day: 7, approximate: true },
    ]);
  });

  it('reads entities and vessels, with former and new names', () => {
    expect(entry('306')).toEqual({
      list: 'ofac',
      reference: '306',
      kind: 'entity',
      names: [
        { name: 'BANCO NACIONAL DE CUBA', role: 'primary', quality: 'strong' },
        { name: 'BNC', role: 'alias', quality: 'weak' },
      ],
      birthDates: [],
      nationalities: [],
      programs: ['CUBA'],
    });
    expect(entry('4243')).toEqual({
      list: 'ofac',
      reference: '4243',
      kind: 'vessel',
      names: [
        { name: 'EBANO', role: 'primary', quality: 'strong' },
        { name: 'ANA I', role: 'alias', quality: 'weak' },
        { name: 'SAND SWAN', role: 'alias', quality: 'weak' },
      ],
      birthDates: [],
      nationalities: [],
      programs: ['CUBA'],
    });
    // n.k.a. 'LGOK'
    expect(entry('41920')?.names[1]).toEqual({ name: 'LGOK', role: 'alias', quality: 'weak' });
    // Nationality of Registration Korea, North
    expect(entry('23149')?.nationalities).toEqual(['KP']);
  });

  it("reads OFAC's country names and forms", () => {
    // nationality Region: Gaza
    expect(entry('45917')?.nationalities).toEqual(['PS']);
    // nationality Eritrea; ... (Following data derived from an Eritrean passport ...: nationality: Eritrean; ...)
    expect(entry('11313')?.nationalities).toEqual(['ER']);
    expect(countryCodes('Korea, North')).toEqual(['KP']);
    expect(countryCodes('Burma')).toEqual(['MM']);
    expect(countryCodes('Congo, Democratic Republic of the')).toEqual(['CD']);
    expect(countryCodes('North Macedonia, The Republic of')).toEqual(['MK']);
    expect(countryCodes('Man, Isle of')).toEqual(['IM']);
    expect(countryCodes('Virgin Islands, British')).toEqual(['VG']);
    expect(countryCodes('possibly Palestinian')).toEqual(['PS']);
  });

  it('is recognised as the OFAC list', () => {
    expect(detectListFormat(readFileSync(SNAPSHOT))).toBe('ofac');
  });
});

describe('ofacBirthDate', () => {
  it('reads every form OFAC writes', () => {
    expect(ofacBirthDate('01 Jan 1960')).toEqual({ fromYear: 1960, toYear: 1960, month: 1, day: 1 });
    expect(ofacBirthDate('1960')).toEqual({ fromYear: 1960, toYear: 1960 });
    expect(ofacBirthDate('Jan 1960')).toEqual({ fromYear: 1960, toYear: 1960 });
    expect(ofacBirthDate('circa 1960')).toEqual({ fromYear: 1960, toYear: 1960, approximate: true });
    expect(ofacBirthDate('1958 to 1962')).toEqual({ fromYear: 1958, toYear: 1962 });
    expect(ofacBirthDate('Jan 1958 to Dec 1962')).toEqual({ fromYear: 1958, toYear: 1962 });
    expect(ofacBirthDate('26 Sep 1946 to 07 Dec 1946')).toEqual({ fromYear: 1946, toYear: 1946 });
    expect(ofacBirthDate('circa 1958-1962')).toEqual({ fromYear: 1958, toYear: 1962, approximate: true });
  });

  it('reads nothing from what is not a date', () => {
    for (const text of ['31 Feb 1960', '1962 to 1958', 'Foo 1960', 'unknown', '1960s', '01 Jan 60', '']) {
      expect(ofacBirthDate(text), text).toBeNull();
    }
  });
});

describe('programsOf', () => {
  it('splits the programmes with or without their outer brackets', () => {
    expect(programsOf('SDGT] [IRGC] [IFSR')).toEqual(['SDGT', 'IRGC', 'IFSR']);
    expect(programsOf('[SDGT] [IRGC]')).toEqual(['SDGT', 'IRGC']);
    expect(programsOf('CUBA')).toEqual(['CUBA']);
    expect(programsOf('')).toEqual([]);
  });
});

describe('OFAC files that are refused', () => {
  it('refuses a record with the wrong number of fields, with its record and line', () => {
    const csv = [GOOD, '173,"ANGLO-CARIBBEAN CO., LTD.",-0- ,"CUBA"', GOOD.replace('36', '37')].join(CRLF);
    const error = refused(parseOfacSdn(csv));
    expect(error.message).toBe('record 2 (line 2): 4 fields where sdn.csv has 12');
    expect(error).toMatchObject({ list: 'ofac', record: 2, line: 2, excerpt: '173' });
  });

  it('counts lines apart from records when a quoted field spans lines', () => {
    const csv = [row('1', 'A', '-0- ', 'SDGT', "a.k.a. 'X';\nDOB 1960."), row('2', 'B'), 'x,"C"'].join(CRLF);
    const error = refused(parseOfacSdn(csv));
    expect(error).toMatchObject({ record: 3, line: 4 });
  });

  it('refuses an ent_num that is not a number', () => {
    const error = refused(parseOfacSdn([GOOD, row('A17', 'SOMEONE')].join(CRLF)));
    expect(error.message).toBe('record 2 (line 2): ent_num is not a number');
    expect(error.excerpt).toBe('A17');
  });

  it('refuses an ent_num seen twice', () => {
    const error = refused(parseOfacSdn([GOOD, row('40', 'OTHER'), row('36', 'AGAIN')].join(CRLF)));
    expect(error.message).toBe('ent_num 36 appears twice (records 1 and 3, line 3)');
    expect(error).toMatchObject({ record: 3, line: 3, excerpt: '36' });
  });

  it('refuses a record without a name, or of a type OFAC does not use', () => {
    expect(refused(parseOfacSdn([GOOD, row('40', '-0- ')].join(CRLF))).message).toBe(
      'record 2 (line 2): ent_num 40 has no SDN_Name',
    );
    const error = refused(parseOfacSdn([GOOD, row('40', 'X', 'ship')].join(CRLF)));
    expect(error.message).toMatch(/SDN_Type is not individual, vessel, aircraft or -0-/u);
    expect(error.excerpt).toBe('ship');
  });

  it('refuses CSV that cannot be read, without quoting the record in the message', () => {
    const unclosed = refused(parseOfacSdn([GOOD, '40,"UNCLOSED NAME,-0- ,SDGT'].join(CRLF)));
    expect(unclosed.message).toBe('sdn.csv: a quoted field is never closed (record 2, line 2)');
    expect(unclosed).toMatchObject({ record: 2, line: 2 });
    const stray = refused(parseOfacSdn([GOOD, '40,"NAME" X,-0- ,SDGT'].join(CRLF)));
    expect(stray.message).toBe(
      'sdn.csv: a closing quote is followed by something other than a comma (record 2, line 2)',
    );
  });

  it('refuses an empty file, and never throws on garbage', () => {
    expect(refused(parseOfacSdn('')).message).toMatch(/no records/u);
    expect(refused(parseOfacSdn('\u001a')).message).toMatch(/no records/u);
    for (const junk of ['x', '"', '1,2,3', Buffer.from([0xc3, 0x28]), '<CONSOLIDATED_LIST/>']) {
      expect(parseOfacSdn(junk)).toBeInstanceOf(ListFormatError);
    }
  });

  it('reads the end-of-file byte and CRLF as OFAC writes them', () => {
    const list = parsed(parseOfacSdn(`${GOOD}${CRLF}${row('40', 'X', 'individual')}${CRLF}\u001a`));
    expect(list.entries.map((e) => [e.reference, e.kind])).toEqual([
      ['36', 'entity'],
      ['40', 'individual'],
    ]);
  });

  it('skips an unreadable date of birth or nationality with a warning, keeping the record', () => {
    const remarks = "DOB 31 Feb 1960; alt. DOB 1961; nationality Atlantis; citizen Iran; a.k.a. 'X'.";
    const list = parsed(parseOfacSdn(row('40', 'DOE, John', 'individual', 'SDGT', remarks)));
    expect(list.entries[0]).toMatchObject({
      birthDates: [{ fromYear: 1961, toYear: 1961 }],
      nationalities: ['IR'],
      names: [
        { name: 'DOE, John', role: 'primary', quality: 'strong' },
        { name: 'X', role: 'alias', quality: 'weak' },
      ],
    });
    expect(list.warnings).toEqual([
      { reference: '40', field: 'birthDate', text: '31 Feb 1960', message: 'a date of birth not read' },
      {
        reference: '40',
        field: 'nationality',
        text: 'Atlantis',
        message: 'a nationality that names no ISO 3166 country',
      },
    ]);
  });
});

describe('alt.csv', () => {
  const sdn = [GOOD, row('40', 'DOE, John', 'individual', 'SDGT', "a.k.a. 'JD'.")].join(CRLF);

  it('adds the strong aliases of the same publication', () => {
    const alt = [
      '40,101,"aka","DOE, Johnny",-0- ',
      '40,102,"fka","ROE, John",-0- ',
      '40,103,"aka","JD",-0- ',
    ];
    const list = parsed(parseOfacSdn(sdn, { alt: `${alt.join(CRLF)}${CRLF}\u001a` }));
    expect(list.entries[1]?.names).toEqual([
      { name: 'DOE, John', role: 'primary', quality: 'strong' },
      // OFAC calls it weak in the Remarks: it stays weak.
      { name: 'JD', role: 'alias', quality: 'weak' },
      { name: 'DOE, Johnny', role: 'alias', quality: 'strong' },
      { name: 'ROE, John', role: 'alias', quality: 'strong' },
    ]);
  });

  it('refuses an alias of an entry sdn.csv does not have', () => {
    const error = refused(parseOfacSdn(sdn, { alt: '40,101,"aka","X",-0- \r\n41,102,"aka","Y",-0- ' }));
    expect(error.message).toBe('alt.csv record 2 (line 2): ent_num 41 is not in sdn.csv');
    expect(error).toMatchObject({ record: 2, line: 2, excerpt: '41' });
  });

  it('refuses a malformed alt.csv record', () => {
    expect(refused(parseOfacSdn(sdn, { alt: '40,101,"aka"' })).message).toMatch(
      /3 fields where alt\.csv has 5/u,
    );
    expect(refused(parseOfacSdn(sdn, { alt: '40,101,"alias","X",-0- ' })).message).toMatch(/alt_type/u);
  });
});

describe('detectListFormat on CSV', () => {
  it('knows an sdn.csv by its first record', () => {
    expect(detectListFormat(`${GOOD}${CRLF}`)).toBe('ofac');
  });

  it('refuses CSV of another shape', () => {
    expect(detectListFormat('ent_num,SDN_Name\r\n36,"X"\r\n')).toMatchObject({ record: 1, line: 1 });
    const header = detectListFormat(GOOD.replace('36', 'ent_num'));
    expect(header).toBeInstanceOf(ListFormatError);
    expect(header).toMatchObject({ excerpt: 'ent_num' });
  });
});
