import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SanctionsEntry, SanctionsName } from './entry.js';
import {
  buildScreeningIndex,
  editDistance,
  explainEntry,
  jaroWinkler,
  POTENTIAL_MATCH_THRESHOLD,
  screen,
  tokenSimilarity,
  type ScreeningQuery,
  type ScreeningResult,
} from './matching.js';
import { canonicalToken } from './normalize.js';

/**
 * The matcher on hand-made entries among 12,000 generated ones (so token rarity behaves as on the real lists, where
 * the same properties are checked by labelled-screening.test.ts): each robustness property the issue names, the date
 * of birth and nationality effects, legal forms, common names, and that a check never throws.
 */

function individual(
  list: 'un' | 'ofac',
  reference: string,
  names: readonly (string | SanctionsName)[],
  details: Partial<Pick<SanctionsEntry, 'birthDates' | 'nationalities'>> = {},
): SanctionsEntry {
  return entry(list, reference, 'individual', names, details);
}

function entry(
  list: 'un' | 'ofac',
  reference: string,
  kind: SanctionsEntry['kind'],
  names: readonly (string | SanctionsName)[],
  details: Partial<Pick<SanctionsEntry, 'birthDates' | 'nationalities'>> = {},
): SanctionsEntry {
  return {
    list,
    reference,
    kind,
    names: names.map((name, k) =>
      typeof name === 'string' ? { name, role: k === 0 ? 'primary' : 'alias', quality: 'strong' } : name,
    ),
    birthDates: details.birthDates ?? [],
    nationalities: details.nationalities ?? [],
    programs: ['TEST'],
  };
}

const LISTED: readonly SanctionsEntry[] = [
  individual(
    'un',
    'QDi.006',
    [
      'AYMAN MUHAMMAD RABI AL-ZAWAHIRI',
      'Ayman Al-Zawahari',
      { name: 'Abu Fatima', role: 'alias', quality: 'weak' },
    ],
    {
      birthDates: [{ fromYear: 1951, toYear: 1951, month: 6, day: 19 }],
      nationalities: ['EG'],
    },
  ),
  individual('ofac', '2676', ['AL ZAWAHIRI, Dr. Ayman'], {
    birthDates: [{ fromYear: 1951, toYear: 1951, month: 6, day: 19 }],
  }),
  individual('un', 'QDi.037', ['ABDUL RAHMAN YASIN'], {
    birthDates: [{ fromYear: 1958, toYear: 1962 }],
    nationalities: ['US'],
  }),
  individual('un', 'KPi.033', ['RI WON HO'], {
    birthDates: [{ fromYear: 1964, toYear: 1964, month: 7, day: 17 }],
    nationalities: ['KP'],
  }),
  individual('un', 'QDi.417', ['MOHAMAD RAFI BIN UDIN']),
  individual('ofac', '7001', ['SHCHERBAKOV, Dmitriy Aleksandrovich']),
  individual('ofac', '7002', ['QADHAFI, Hannibal Muammar']),
  individual('ofac', '7003', ['HUSSEIN, Saddam Abd al-Majid']),
  individual('ofac', '7004', ['BAKR, Zarqa Hussaini']),
  individual('un', 'QDi.900', [
    { name: 'Zarqa Hussaini Bakr', role: 'alias', quality: 'weak' },
    'Tamim Faruqi Nadir',
  ]),
  entry('ofac', '173', 'entity', ['ANGLO-CARIBBEAN CO., LTD.']),
  entry('ofac', '306', 'entity', ['BANCO NACIONAL DE CUBA', { name: 'BNC', role: 'alias', quality: 'weak' }]),
  entry('ofac', '8001', 'entity', ['TADBIR INVESTMENT COMPANY']),
  entry('ofac', '8002', 'entity', [
    'OBSHCHESTVO S OGRANICHENNOI OTVETSTVENNOSTYU STROITELNAYA KOMPANIYA VOLGA',
  ]),
  entry('ofac', '8003', 'vessel', ['EBANO ZARQAWI']),
];

/** Deterministic filler: entries of made-up names, with common name parts at realistic frequencies. */
function filler(count: number): SanctionsEntry[] {
  let state = 12_345;
  const next = (n: number): number => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return (state >>> 8) % n;
  };
  const syllables = [
    'ka',
    'lo',
    'mi',
    'ru',
    'te',
    'sa',
    'no',
    'bi',
    'de',
    'go',
    'pu',
    've',
    'zi',
    'ha',
    'jo',
    'xe',
  ];
  const word = (): string =>
    Array.from({ length: 2 + next(2) }, () => syllables[next(syllables.length)] ?? 'ka').join('');
  const common = [
    'Muhammad',
    'Ali',
    'Khan',
    'Hassan',
    'Ahmad',
    'Abdul',
    'Kim',
    'Wong',
    'Lee',
    'Omar',
    'Trading',
    'International',
  ];
  const out: SanctionsEntry[] = [];
  for (let k = 0; k < count; k++) {
    const parts = [word(), word(), word()];
    if (next(4) === 0) parts[next(3)] = common[next(common.length)] ?? 'Ali';
    if (next(6) === 0) parts.push(common[next(common.length)] ?? 'Khan');
    const kind = next(3) === 0 ? 'entity' : 'individual';
    out.push(entry('ofac', `F${String(k)}`, kind, [parts.join(' ')]));
  }
  return out;
}

const INDEX = buildScreeningIndex([...filler(12_000), ...LISTED]);

function check(query: ScreeningQuery | string): ScreeningResult {
  return screen(INDEX, typeof query === 'string' ? { name: query } : query);
}

function scoreOf(query: ScreeningQuery | string, reference: string): number | undefined {
  return check(query).candidates.find((candidate) => candidate.reference === reference)?.score;
}

function expectMatch(query: ScreeningQuery | string, reference: string): void {
  const result = check(query);
  const name = typeof query === 'string' ? query : query.name;
  expect(result.decision, name).toBe('potential_match');
  expect(
    result.candidates.map((candidate) => candidate.reference),
    name,
  ).toContain(reference);
}

function expectClear(query: ScreeningQuery | string): void {
  const result = check(query);
  expect(result, typeof query === 'string' ? query : query.name).toEqual({
    decision: 'clear',
    candidates: [],
  });
}

describe('the answer', () => {
  it('reports the list, the reference as published, the kind, the matched name, a score and reasons', () => {
    const result = check('Ayman al-Zawahiri');
    expect(result.decision).toBe('potential_match');
    expect(result.candidates).toEqual([
      {
        list: 'ofac',
        reference: '2676',
        kind: 'individual',
        matched_name: 'AL ZAWAHIRI, Dr. Ayman',
        score: 100,
        reasons: ['exact_name', 'token_order'],
      },
      {
        list: 'un',
        reference: 'QDi.006',
        kind: 'individual',
        matched_name: 'Ayman Al-Zawahari',
        score: expect.any(Number) as number,
        reasons: expect.arrayContaining(['alias']) as string[],
      },
    ]);
  });

  it('sorts candidates by score and keeps one per entry, its best name', () => {
    const { candidates } = check('Ayman Muhammad Rabi al-Zawahiri');
    expect(candidates.map((candidate) => candidate.score)).toEqual(
      [...candidates.map((candidate) => candidate.score)].sort((a, b) => b - a),
    );
    expect(new Set(candidates.map((candidate) => `${candidate.list}:${candidate.reference}`)).size).toBe(
      candidates.length,
    );
    expect(candidates[0]).toMatchObject({
      reference: 'QDi.006',
      matched_name: 'AYMAN MUHAMMAD RABI AL-ZAWAHIRI',
      score: 100,
    });
  });

  it('is clear with no candidates for an unrelated or empty name', () => {
    expectClear('Emily Thornbury');
    expectClear('');
    expectClear('  ,.-  ');
  });

  it('gives the same answer every time', () => {
    expect(check('Aymen Zawahri')).toEqual(check('Aymen Zawahri'));
  });

  it('explains an entry under the threshold', () => {
    const explained = explainEntry(INDEX, { name: 'Ayman Smith' }, 'ofac', '2676');
    expect(explained?.score).toBeLessThan(POTENTIAL_MATCH_THRESHOLD);
    expect(explained?.reasons).toContain('extra_query_parts');
    expect(explainEntry(INDEX, { name: 'Ayman' }, 'ofac', 'nope')).toBeUndefined();
  });

  it('refuses an index it did not build', () => {
    expect(() => screen({ stats: INDEX.stats }, { name: 'x' })).toThrow(/not an index/);
  });

  it('reports what it built', () => {
    expect(INDEX.stats).toMatchObject({
      entries: 12_000 + LISTED.length,
      names: expect.any(Number) as number,
    });
    expect(INDEX.stats.vocabulary).toBeGreaterThan(INDEX.stats.names / 2);
  });
});

describe('robust to how a name is written', () => {
  it('case and accents', () => {
    expectMatch('AYMAN AL-ZAWAHIRI', 'QDi.006');
    expectMatch('ayman al-zawahiri', 'QDi.006');
    expectMatch('Aymán al-Zawáhirí', 'QDi.006');
  });

  it('punctuation, hyphens, apostrophes and spacing', () => {
    expectMatch('Ayman, al Zawahiri.', 'QDi.006');
    expectMatch("  Ayman   al'Zawahiri ", 'QDi.006');
    expectMatch('Abdul-Rahman Yasin', 'QDi.037');
    expectMatch('Abdulrahman Yasin', 'QDi.037');
    expectMatch('Abd al-Rahman Yasin', 'QDi.037');
    expectMatch('Ayman Alzawahiri', '2676');
  });

  it('joined and split words', () => {
    expectMatch('Riwon Ho', 'KPi.033');
    expectMatch('Ri Wonho', 'KPi.033');
    expectMatch('Ayman al Zawa Hiri', '2676');
    // "SURNAME, Given" written "Given Surname" as one word.
    expectMatch('Hannibal Muammarqadhafi', '7002');
  });

  it('token order', () => {
    expectMatch('Zawahiri Ayman', 'QDi.006');
    expectMatch('Yasin Abdul Rahman', 'QDi.037');
    expectMatch('Dmitriy Aleksandrovich Shcherbakov', '7001');
    expect(check('Ayman Zawahiri').candidates.find((c) => c.reference === '2676')?.reasons).toContain(
      'token_order',
    );
  });

  it('initials', () => {
    expectMatch('M. Rafi bin Udin', 'QDi.417');
    expectMatch('A. al-Zawahiri', '2676');
    expectMatch('Dmitriy A. Shcherbakov', '7001');
    expect(check('M. Rafi bin Udin').candidates[0]?.reasons).toContain('initials');
  });

  it('missing middle names', () => {
    expectMatch('Ayman Zawahiri', 'QDi.006');
    expectMatch('Mohamad Rafi Udin', 'QDi.417');
    // Common parts alone are not enough, even with the name's other parts missing.
    expectClear('Mohamad Udin');
    expect(check('Mohamad Rafi Udin').candidates[0]?.reasons).toContain('missing_name_parts');
  });

  it('transliteration variants', () => {
    expectMatch('Aiman Mohammed Rabie el-Zawahiri', 'QDi.006');
    expectMatch('Muhammad Rafi Bin Uddin', 'QDi.417');
    expectMatch('Hanibal Muammar Gaddafi', '7002');
    expectMatch('Hannibal Moammar Kadhafi', '7002');
    expectMatch('Saddam Hussain Abdul Majeed', '7003');
    expectMatch('Dmitry Aleksandrovitch Sherbakov', '7001');
    expectMatch('Дмитрий Александрович Щербаков', '7001');
    expectMatch('Lee Won Ho', 'KPi.033');
    expectMatch('Abdel Rahman Yaseen', 'QDi.037');
  });

  it('one or two typos', () => {
    expectMatch('Ayman al-Zawahri', 'QDi.006');
    expectMatch('Aymna al-Zawahiri', 'QDi.006');
    expectMatch('Ayman al-Zawhairi', '2676');
    expectMatch('Abdul Rahman Yassin', 'QDi.037');
    expectMatch('Dmitriy Shcherbakob', '7001');
    expectMatch('Hannibal Muamar Qadafi', '7002');
  });
});

describe('entities and legal forms', () => {
  it('matches an entity whatever its legal form', () => {
    for (const name of [
      'Anglo-Caribbean Co., Ltd.',
      'ANGLO CARIBBEAN COMPANY LIMITED',
      'Anglo Caribbean LLC',
      'Anglo-Caribbean',
      'Anglo Caribbean Corp.',
    ]) {
      expect(scoreOf({ name, kind: 'entity' }, '173'), name).toBe(100);
      expect(scoreOf(name, '173'), name).toBe(100);
    }
    expectMatch('Tadbir Investment Co', '8001');
    expectMatch('TADBIR INVESTMENT LTD', '8001');
    expectMatch('LLC Stroitelnaya Kompaniya Volga', '8002');
    expectMatch({ name: 'Stroitelnaya Kompaniya Volga OOO', kind: 'entity' }, '8002');
  });

  it('does not match a company that only shares generic words with a listed one', () => {
    expectClear({ name: 'Pacific Investment Company Limited', kind: 'entity' });
    expectClear({ name: 'Golden Dragon Trading Co., Ltd.', kind: 'entity' });
    expectClear({ name: 'Banco Nacional de Mexico', kind: 'entity' });
  });

  it('does not match an entity name with a distinctive word the listed one lacks', () => {
    expectClear({ name: 'Anglo-Caribbean Rosewood Ltd', kind: 'entity' });
    expect(explainEntry(INDEX, { name: 'Anglo-Caribbean Rosewood Ltd' }, 'ofac', '173')?.reasons).toContain(
      'extra_query_parts',
    );
  });
});

describe('common names', () => {
  it('are clear on their own', () => {
    for (const name of [
      'Mohammed',
      'Muhammad Ali',
      'Ali Khan',
      'Mohammed Hassan',
      'Kim Min-jun',
      'Wong Siu Ming',
      'Omar Khan',
      'Abdul Rahman',
    ]) {
      expectClear(name);
    }
    expectClear({ name: 'Mohammed Hassan Trading Ltd', kind: 'entity' });
  });

  it('count, with a distinctive name beside them', () => {
    expectMatch('Muhammad Zawahiri', 'QDi.006');
  });
});

describe('date of birth', () => {
  const name = 'Ayman Zawahry';
  const base = scoreOf(name, 'QDi.006') ?? 0;
  // A name under the threshold, so that adjustments show whole (scores are clamped at 100).
  const near = { name: 'Ayman Zawahiri Ali Khan' };
  const explained = (query: ScreeningQuery): number =>
    explainEntry(INDEX, query, 'un', 'QDi.006')?.score ?? 0;

  it('raises the score when it is the listed date, less when only the year is', () => {
    const without = explained(near);
    expect(explained({ ...near, dateOfBirth: '1951-06-19' }) - without).toBeCloseTo(10, 5);
    expect(explained({ ...near, dateOfBirth: '1951-01-01' }) - without).toBeCloseTo(2, 5);
    expect(scoreOf({ name, dateOfBirth: '1951-06-19' }, 'QDi.006')).toBeGreaterThanOrEqual(base);
    expect(
      check({ name, dateOfBirth: '1951-06-19' }).candidates.find((c) => c.reference === 'QDi.006')?.reasons,
    ).toContain('dob_exact');
  });

  it('raises it for a year within a listed range', () => {
    const ranged = scoreOf({ name: 'Abdul Rahman Yasin', dateOfBirth: '1960-03-03' }, 'QDi.037');
    expect(ranged).toBe(100);
    expect(check({ name: 'Abdul Rahman Yasin', dateOfBirth: '1960-03-03' }).candidates[0]?.reasons).toContain(
      'dob_year',
    );
  });

  it('lowers it a little a year off, and a lot further off: an exact name with another generation is clear', () => {
    const yearOff = scoreOf({ name, dateOfBirth: '1952-06-19' }, 'QDi.006') ?? 0;
    expect(yearOff).toBeLessThan(base);
    expect(base - yearOff).toBeLessThanOrEqual(5);
    expect(explained(near) - explained({ ...near, dateOfBirth: '1970-06-19' })).toBeCloseTo(25, 5);
    expect(
      scoreOf({ name: 'Ayman Muhammad Rabi al-Zawahiri', dateOfBirth: '1985-02-02' }, 'QDi.006'),
    ).toBeUndefined();
    expect(
      explainEntry(
        INDEX,
        { name: 'Ayman Muhammad Rabi al-Zawahiri', dateOfBirth: '1985-02-02' },
        'un',
        'QDi.006',
      )?.reasons,
    ).toContain('dob_mismatch');
  });

  it('is neutral when absent, unreadable, or not listed', () => {
    expect(scoreOf({ name, dateOfBirth: 'sometime in 1951' }, 'QDi.006')).toBe(base);
    expect(scoreOf({ name, dateOfBirth: '1951-13-40' }, 'QDi.006')).toBe(base);
    const unlisted = scoreOf('Mohamad Rafi bin Udin', 'QDi.417');
    expect(scoreOf({ name: 'Mohamad Rafi bin Udin', dateOfBirth: '1990-01-01' }, 'QDi.417')).toBe(unlisted);
  });

  it('can bring a near name into the band, never a far one', () => {
    expect(explained(near)).toBeLessThan(POTENTIAL_MATCH_THRESHOLD);
    expectMatch({ ...near, dateOfBirth: '1951-06-19' }, 'QDi.006');
    expectClear({ name: 'Ayman Smith Jones', dateOfBirth: '1951-06-19' });
  });
});

describe('nationality', () => {
  const name = 'Ayman Zawahry';
  const base = scoreOf(name, 'QDi.006') ?? 0;

  it('raises the score slightly when listed, lowers it slightly when only others are', () => {
    const same = scoreOf({ name, country: 'EG' }, 'QDi.006') ?? 0;
    const other = scoreOf({ name, country: 'fr' }, 'QDi.006') ?? 0;
    expect(same - base).toBeGreaterThan(0);
    expect(same - base).toBeLessThanOrEqual(3);
    expect(base - other).toBeGreaterThan(0);
    expect(base - other).toBeLessThanOrEqual(5);
    expect(
      check({ name, country: 'FR' }).candidates.find((c) => c.reference === 'QDi.006')?.reasons,
    ).toContain('nationality_mismatch');
  });

  it('is neutral when the entry lists none or the code is not one', () => {
    expect(scoreOf({ name, country: 'EG' }, '2676')).toBe(scoreOf(name, '2676'));
    expect(scoreOf({ name, country: 'Egypt' }, 'QDi.006')).toBe(base);
  });
});

describe('weak aliases and kinds', () => {
  it('a weak alias counts less than the same name listed strong', () => {
    const strong = scoreOf('Zarqa Hussaini Bakr', '7004') ?? 0;
    const weak = explainEntry(INDEX, { name: 'Zarqa Hussaini Bakr' }, 'un', 'QDi.900');
    expect(weak?.reasons).toContain('weak_alias');
    expect(weak?.score ?? 0).toBeLessThan(strong);
  });

  it('a weak alias of common words alone matches nothing', () => {
    expectClear('Abu Fatima');
  });

  it('a query of another kind scores lower', () => {
    const any = scoreOf('Ebano Zarqawi', '8003') ?? 0;
    const person = explainEntry(INDEX, { name: 'Ebano Zarqawi', kind: 'individual' }, 'ofac', '8003');
    expect(any).toBeGreaterThanOrEqual(POTENTIAL_MATCH_THRESHOLD);
    expect(person?.reasons).toContain('kind_mismatch');
    expect(person?.score ?? 100).toBeLessThan(POTENTIAL_MATCH_THRESHOLD);
  });
});

describe('token similarity', () => {
  it('is high for typos and spelling variants and nothing for different names', () => {
    const sim = (a: string, b: string): number => tokenSimilarity(canonicalToken(a), canonicalToken(b));
    expect(sim('zawahiri', 'zawahri')).toBeGreaterThan(0.9);
    expect(sim('osama', 'usama')).toBeGreaterThan(0.9);
    expect(sim('alzawahiri', 'zawahiri')).toBeGreaterThan(0.9);
    expect(sim('ri', 'lee')).toBe(0.9);
    expect(sim('khan', 'khanfurah')).toBe(0);
    expect(sim('nikolaevich', 'igorevich')).toBe(0);
    expect(sim('novikov', 'novichkov')).toBeLessThan(0.9);
    expect(sim('omar', 'amir')).toBe(0);
  });

  it('has the textbook Jaro–Winkler and edit distances', () => {
    expect(jaroWinkler('martha', 'marhta')).toBeCloseTo(0.961, 3);
    expect(jaroWinkler('dixon', 'dicksonx')).toBeCloseTo(0.813, 3);
    expect(editDistance('ca', 'ac')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('kitten', 'sitting', 1)).toBe(2);
  });
});

describe('never throws', () => {
  it('on any name, date of birth, country and kind', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
        fc.option(fc.string({ maxLength: 3 }), { nil: undefined }),
        fc.constantFrom(undefined, 'individual' as const, 'entity' as const),
        (name, dateOfBirth, country, kind) => {
          const result = screen(INDEX, { name, dateOfBirth, country, kind });
          expect(['clear', 'potential_match']).toContain(result.decision);
          for (const candidate of result.candidates) {
            expect(candidate.score).toBeGreaterThanOrEqual(POTENTIAL_MATCH_THRESHOLD);
            expect(candidate.score).toBeLessThanOrEqual(100);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('on names built from listed words, and on very long or odd input', () => {
    const words = [
      'Ayman',
      'al-Zawahiri',
      'M.',
      'bin',
      'Co.,',
      'Ltd',
      'Кирилл',
      'محمد',
      '金正恩',
      '-',
      "'",
      'Ri',
      '2',
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...words), { maxLength: 40 }), (parts) => {
        expect(() => screen(INDEX, { name: parts.join(' ') })).not.toThrow();
      }),
      { numRuns: 300 },
    );
    expect(() => screen(INDEX, { name: 'a'.repeat(100_000) })).not.toThrow();
    expect(() => screen(INDEX, { name: 'ab '.repeat(20_000) })).not.toThrow();
    expect(() => screen(INDEX, { name: '\u0000\uffff\ud800 \u200b' })).not.toThrow();
  });
});
