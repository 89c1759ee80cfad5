/**
 * Generates labelled-screening.json, the labelled set screening is measured on: listed names from the real UN and
 * OFAC snapshots in altered forms (expected: a potential match on that entry), and ordinary names that are not
 * listed (expected: clear). Deterministic: a fixed seed and the snapshots in, the same file out.
 *
 *     node --import tsx src/compliance/sanctions/labelled-screening.gen.ts
 *
 * The alterations are written from how names are misspelt and re-romanised in practice, not from the normaliser's
 * rules (several, such as kh → h, double letters dropped inside names, or "Khalid" → "Halid", are things
 * normalize.ts does not fold). Negatives are generated from common names of the customer populations Lantau serves
 * (Hong Kong, mainland China, Korea, the Arab world, South Asia, Russia, the West, Latin America) and from company
 * names built of generic words with, at most, one generic word of a listed entity; a negative whose canonical tokens
 * equal those of a listed name is left out, since it is then a listed name.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import { seededRandom } from '../../platform/seeded-random.js';
import type { SanctionsEntry } from './entry.js';
import { ListFormatError } from './list-format.js';
import type { LabelledScreeningQuery, LabelledScreeningSet } from './matching.js';
import { normalizeName, withinOneEdit } from './normalize.js';
import { parseOfacSdn } from './ofac-list.js';
import { parseUnList } from './un-list.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../../..');
const SANCTIONS_DIR = process.env.LANTAU_SANCTIONS_DIR ?? path.resolve(ROOT, '../shared/data/sanctions');
export const UN_SNAPSHOT = 'un-consolidated-2020-11-30.xml';
export const OFAC_SNAPSHOT = 'ofac-sdn-2024-05-03.csv';
const OUTPUT = path.join(HERE, 'labelled-screening.json');
export const LABELLED_SET_SEED = 20_240_503;
const UN_POSITIVES = 120;
const OFAC_POSITIVES = 180;
const NEGATIVES = 200;

/** Both snapshots parsed, UN first. */
export function loadSnapshotEntries(dir = SANCTIONS_DIR): { un: SanctionsEntry[]; ofac: SanctionsEntry[] } {
  const un = parseUnList(readFileSync(path.join(dir, UN_SNAPSHOT)));
  const ofac = parseOfacSdn(readFileSync(path.join(dir, OFAC_SNAPSHOT)));
  if (un instanceof ListFormatError) throw un;
  if (ofac instanceof ListFormatError) throw ofac;
  return { un: [...un.entries], ofac: [...ofac.entries] };
}

// Reset by each generation, so a set depends on its seed alone.
let random = seededRandom(LABELLED_SET_SEED);
const below = (n: number): number => Math.floor(random() * n);
const chance = (p: number): boolean => random() < p;
function pick<T>(items: readonly T[]): T {
  const item = items[below(items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

const isLatin = (text: string): boolean => /^[\p{Script=Latin}\p{N}\p{P}\p{Zs}\p{S}]+$/u.test(text);
const words = (text: string): string[] => text.split(/\s+/).filter((word) => word.length > 0);

// -------------------------------------------------------------------------------------------------------------
// Alterations of a listed name

const KEYBOARD: Readonly<Record<string, string>> = {
  a: 'qswz',
  b: 'vghn',
  c: 'xdfv',
  d: 'serfcx',
  e: 'wsdr',
  f: 'drtgvc',
  g: 'ftyhbv',
  h: 'gyujnb',
  i: 'ujko',
  j: 'huikmn',
  k: 'jiolm',
  l: 'kop',
  m: 'njk',
  n: 'bhjm',
  o: 'iklp',
  p: 'ol',
  q: 'wa',
  r: 'edft',
  s: 'awedxz',
  t: 'rfgy',
  u: 'yhji',
  v: 'cfgb',
  w: 'qase',
  x: 'zsdc',
  y: 'tghu',
  z: 'asx',
};

function typo(word: string): string {
  const at = 1 + below(Math.max(1, word.length - 2));
  const letter = word[at] ?? 'a';
  const lower = letter.toLowerCase();
  const upper = letter !== lower;
  switch (below(4)) {
    case 0: {
      const near = KEYBOARD[lower] ?? 'e';
      const replacement = near[below(near.length)] ?? 'e';
      return word.slice(0, at) + (upper ? replacement.toUpperCase() : replacement) + word.slice(at + 1);
    }
    case 1:
      return word.slice(0, at) + word.slice(at + 1);
    case 2:
      return word.slice(0, at) + letter + word.slice(at);
    default:
      return at + 1 < word.length
        ? word.slice(0, at) + (word[at + 1] ?? '') + letter + word.slice(at + 2)
        : word;
  }
}

/** Spelling variants met in practice, each as [pattern, replacement] on a lower-case word. */
const VARIANTS: readonly (readonly [RegExp, string])[] = [
  [/^muhammad$/, 'mohammed'],
  [/^mohammed$/, 'muhammad'],
  [/^mohamed$/, 'mohammad'],
  [/^mohammad$/, 'mohamed'],
  [/^muhammed$/, 'mohamad'],
  [/^ahmed$/, 'ahmad'],
  [/^ahmad$/, 'ahmed'],
  [/^abdul$/, 'abdel'],
  [/^abdel$/, 'abdul'],
  [/^abd$/, 'abdul'],
  [/^hussein$/, 'husain'],
  [/^husayn$/, 'hussein'],
  [/^hussain$/, 'hussein'],
  [/^hasan$/, 'hassan'],
  [/^hassan$/, 'hasan'],
  [/^yusuf$/, 'youssef'],
  [/^yousef$/, 'yusuf'],
  [/^usama$/, 'osama'],
  [/^osama$/, 'usama'],
  [/^umar$/, 'omar'],
  [/^omar$/, 'umar'],
  [/^said$/, 'saeed'],
  [/^saeed$/, 'said'],
  [/^khalid$/, 'khaled'],
  [/^mahmoud$/, 'mahmud'],
  [/^mahmud$/, 'mahmood'],
  [/^mustafa$/, 'mostafa'],
  [/^ibrahim$/, 'ebrahim'],
  [/^ali$/, 'aly'],
  [/^abu$/, 'abou'],
  [/^bin$/, 'ben'],
  [/^ibn$/, 'bin'],
  [/^al$/, 'el'],
  [/^al-/, 'el-'],
  [/^el-/, 'al-'],
  [/^abd al-/, 'abdul'],
  [/ou/, 'u'],
  [/([^aeiou])u([^aeiou])/, '$1ou$2'],
  [/ee/, 'i'],
  [/ph/, 'f'],
  [/q/, 'k'],
  [/k/, 'q'],
  [/ov$/, 'off'],
  [/ev$/, 'yev'],
  [/iy$/, 'y'],
  [/y$/, 'iy'],
  [/ii$/, 'y'],
  [/sch/, 'sh'],
  [/^j/, 'dj'],
  [/ay/, 'ei'],
  [/ei/, 'ay'],
  [/([bdfglmnprstz])\1/, '$1'],
  [/([aeiou])([dlmnrs])([aeiou])/, '$1$2$2$3'],
  [/^ri$/, 'lee'],
  [/^pak$/, 'park'],
  [/^choe$/, 'choi'],
  [/^jong$/, 'jung'],
  [/^kim$/, 'gim'],
  [/kh/, 'h'],
  [/^ks/, 'x'],
  [/ks/, 'x'],
  [/x/, 'ks'],
  [/ij$/, 'iy'],
];

function transliterate(name: string): string | null {
  const parts = words(name);
  const order = parts.map((_, k) => k).sort(() => random() - 0.5);
  for (const k of order) {
    const word = parts[k] ?? '';
    const lower = word.toLowerCase();
    const applicable = VARIANTS.filter(([pattern]) => pattern.test(lower));
    if (applicable.length === 0) continue;
    const [pattern, replacement] = pick(applicable);
    const changed = lower.replace(pattern, replacement);
    if (changed === lower) continue;
    const cased =
      word === word.toUpperCase()
        ? changed.toUpperCase()
        : changed.charAt(0).toUpperCase() + changed.slice(1);
    parts[k] = cased;
    return parts.join(' ');
  }
  return null;
}

const ACCENTED: Readonly<Record<string, string>> = { a: 'á', e: 'é', i: 'í', o: 'ö', u: 'ü', n: 'ñ', c: 'ç' };

function addAccents(name: string): string | null {
  // Code points (Array.from): the names are Latin-script text, no grapheme clusters to keep whole.
  const chars = Array.from(name);
  const positions = chars
    .map((c, k) => (ACCENTED[c.toLowerCase()] !== undefined ? k : -1))
    .filter((k) => k > 0);
  if (positions.length === 0) return null;
  for (let n = 0; n < 2; n++) {
    const at = pick(positions);
    const c = chars[at] ?? '';
    const accented = ACCENTED[c.toLowerCase()] ?? c;
    chars[at] = c === c.toUpperCase() ? accented.toUpperCase() : accented;
  }
  return chars.join('');
}

function removeAccents(name: string): string | null {
  const plain = name.normalize('NFKD').replace(/\p{M}/gu, '');
  return plain === name ? null : plain;
}

function changeCase(name: string): string {
  switch (below(3)) {
    case 0:
      return name.toLowerCase();
    case 1:
      return name.toUpperCase();
    default:
      return name
        .toLowerCase()
        .replace(/(^|[\s-])(\p{L})/gu, (_, before: string, letter: string) => before + letter.toUpperCase());
  }
}

function punctuate(name: string): string | null {
  if (/[-'’]/.test(name) && chance(0.5)) return name.replace(/[-'’]/g, chance(0.5) ? ' ' : '');
  const parts = words(name);
  if (parts.length < 2) return `${name}.`;
  const at = below(parts.length - 1);
  const joiner = pick(['-', ', ', ' - ', '. ']);
  return [
    ...parts.slice(0, at),
    `${parts[at] ?? ''}${joiner}${parts[at + 1] ?? ''}`,
    ...parts.slice(at + 2),
  ].join(' ');
}

/** Words people do not run into a neighbour or split: particles and legal forms. */
const NOT_RESPACED =
  /^(the|of|and|for|de|del|la|al|el|bin|ibn|abu|co|ltd|limited|company|llc|liability|joint|stock|closed|open|public|sa|inc|corp|corporation|jsc|pjsc|ojsc|plc|gmbh|fze|llp|pte|pvt|sdn|bhd|sal|lp)[.,]*$/i;

function respace(name: string): string | null {
  const parts = words(name);
  const long = parts
    .map((word, k) => (word.length >= 8 && !NOT_RESPACED.test(word) ? k : -1))
    .filter((k) => k >= 0);
  if (parts.length >= 2 && chance(0.5)) {
    const at = below(parts.length - 1);
    const first = parts[at] ?? '';
    const second = parts[at + 1] ?? '';
    if (first.length >= 2 && second.length >= 2 && !NOT_RESPACED.test(first) && !NOT_RESPACED.test(second)) {
      return [...parts.slice(0, at), `${parts[at] ?? ''}${parts[at + 1] ?? ''}`, ...parts.slice(at + 2)].join(
        ' ',
      );
    }
  }
  if (long.length > 0) {
    const k = pick(long);
    const word = parts[k] ?? '';
    const cut = 3 + below(word.length - 5);
    parts[k] = `${word.slice(0, cut)} ${word.slice(cut)}`;
    return parts.join('  ');
  }
  return parts.length > 1 ? `  ${parts.join('   ')} ` : null;
}

function reorder(name: string): string | null {
  const parts = words(name.replace(/,/g, ' '));
  if (parts.length < 2) return null;
  if (chance(0.5)) return [...parts.slice(-1), ...parts.slice(0, -1)].join(' ');
  return [...parts.slice(1), parts[0] ?? ''].join(' ');
}

function initial(name: string): string | null {
  const parts = words(name.replace(/,/g, ' '));
  if (parts.length < 3) return null;
  const at = below(parts.length - 1);
  const word = parts[at] ?? '';
  // Particles are not written as initials.
  if (word.length < 3 || /^(bin|ibn|abu|abd|al|el|de|del|van|von)$/i.test(word)) return null;
  parts[at] = `${word.charAt(0).toUpperCase()}.`;
  return parts.join(' ');
}

function typos(name: string, count: number): string | null {
  const parts = words(name);
  const candidates = parts
    .map((word, k) => (word.replace(/[^\p{L}]/gu, '').length >= 5 ? k : -1))
    .filter((k) => k >= 0);
  if (candidates.length === 0) return null;
  for (let n = 0; n < count; n++) {
    const k = pick(candidates);
    parts[k] = typo(parts[k] ?? '');
  }
  return parts.join(' ');
}

function dropMiddle(name: string): string | null {
  const parts = words(name.replace(/,/g, ' '));
  if (parts.length < 4) return null;
  const at = 1 + below(parts.length - 2);
  return [...parts.slice(0, at), ...parts.slice(at + 1)].join(' ');
}

const LEGAL_FORMS =
  /[,\s]+(CO\.?,? LTD\.?|COMPANY LIMITED|LTD\.?|LIMITED|L\.?L\.?C\.?|S\.A\.?|SA|INC\.?|CORP\.?|CORPORATION|JSC|PJSC|OJSC|PLC|GMBH|FZE|LLP|S\.A\.L\.?|COMPANY)$/i;

function changeLegalForm(name: string): string | null {
  const found = LEGAL_FORMS.exec(name);
  const replacements = [
    'Ltd',
    'Limited',
    'Co., Ltd.',
    'Company Limited',
    'LLC',
    'L.L.C.',
    'S.A.',
    'Inc.',
    'Corp',
    'JSC',
    'GmbH',
    'FZE',
  ];
  if (found !== null) {
    const stem = name.slice(0, found.index);
    return chance(0.3) ? stem : `${stem} ${pick(replacements)}`;
  }
  return `${name} ${pick(replacements)}`;
}

type Alteration = readonly [string, (name: string) => string | null];

const INDIVIDUAL_ALTERATIONS: readonly Alteration[] = [
  ['case', changeCase],
  ['accents_added', addAccents],
  ['accents_removed', removeAccents],
  ['punctuation', punctuate],
  ['spacing', respace],
  ['token_order', reorder],
  ['initial', initial],
  ['transliteration', transliterate],
  ['transliteration', transliterate],
  ['typo', (name) => typos(name, 1)],
  ['typo', (name) => typos(name, 1)],
  ['two_typos', (name) => typos(name, 2)],
  ['middle_name_dropped', dropMiddle],
];

const ENTITY_ALTERATIONS: readonly Alteration[] = [
  ['case', changeCase],
  ['punctuation', punctuate],
  ['spacing', respace],
  ['legal_form', changeLegalForm],
  ['legal_form', changeLegalForm],
  ['typo', (name) => typos(name, 1)],
  ['two_typos', (name) => typos(name, 2)],
  ['transliteration', transliterate],
  ['accents_added', addAccents],
];

/** "SURNAME, Given Names" → "Given Names SURNAME", as a customer writes it. */
function givenNamesFirst(name: string): string {
  const comma = name.indexOf(',');
  if (comma < 0) return name;
  return `${name.slice(comma + 1).trim()} ${name.slice(0, comma).trim()}`.trim();
}

function birthDateOf(entry: SanctionsEntry): string | undefined {
  const listed = entry.birthDates[0];
  if (listed === undefined) return undefined;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (listed.month !== undefined && listed.day !== undefined)
    return `${String(listed.fromYear)}-${pad(listed.month)}-${pad(listed.day)}`;
  const year = listed.fromYear + below(listed.toYear - listed.fromYear + 1);
  return `${String(year)}-01-01`;
}

function positives(
  entries: readonly SanctionsEntry[],
  count: number,
  prefix: string,
): LabelledScreeningQuery[] {
  const pool = entries.filter((entry) => entry.kind === 'individual' || entry.kind === 'entity');
  const chosen = new Set<number>();
  const out: LabelledScreeningQuery[] = [];
  let guard = 0;
  while (out.length < count && guard++ < count * 50) {
    const at = below(pool.length);
    if (chosen.has(at)) continue;
    const entry = pool[at];
    if (entry === undefined) continue;
    const names = entry.names.filter(
      (name) =>
        name.quality === 'strong' && isLatin(name.name) && normalizeName(name.name).join('').length >= 5,
    );
    const primary = names.find((name) => name.role === 'primary');
    const listed =
      chance(0.7) && primary !== undefined ? primary : names.length > 0 ? pick(names) : undefined;
    if (listed === undefined) continue;
    const individual = entry.kind === 'individual';
    let name = individual && chance(0.85) ? givenNamesFirst(listed.name) : listed.name;
    const applied: string[] = [];
    const wanted = chance(0.45) ? 2 : 1;
    const alterations = individual ? INDIVIDUAL_ALTERATIONS : ENTITY_ALTERATIONS;
    for (let attempt = 0; attempt < 12 && applied.length < wanted; attempt++) {
      const [label, alter] = pick(alterations);
      if (applied.includes(label)) continue;
      const altered = alter(name);
      if (altered === null || altered.trim() === '' || altered === name) continue;
      name = altered;
      applied.push(label);
    }
    if (applied.length === 0) continue;
    chosen.add(at);
    const query: { name: string; dateOfBirth?: string; country?: string; kind?: 'individual' | 'entity' } = {
      name,
    };
    if (individual && chance(0.4)) {
      const date = birthDateOf(entry);
      if (date !== undefined) {
        query.dateOfBirth = date;
        applied.push('with_dob');
      }
    }
    const nationality = entry.nationalities[0];
    if (individual && nationality !== undefined && chance(0.4)) {
      query.country = nationality;
      applied.push('with_nationality');
    }
    if (chance(0.5)) query.kind = individual ? 'individual' : 'entity';
    out.push({
      id: `${prefix}${String(out.length + 1).padStart(3, '0')}`,
      query,
      expected: { decision: 'potential_match', list: entry.list, reference: entry.reference },
      listed_name: listed.name,
      alterations: applied,
    });
  }
  return out;
}

// -------------------------------------------------------------------------------------------------------------
// Names that are not listed

interface NamePool {
  readonly label: string;
  readonly given: readonly string[];
  readonly family: readonly string[];
  /** Family name first (Chinese, Korean). */
  readonly familyFirst: boolean;
  readonly middle?: readonly string[];
  readonly country: string;
}

const POOLS: readonly NamePool[] = [
  {
    label: 'hong_kong',
    family: [
      'Chan',
      'Wong',
      'Cheung',
      'Lau',
      'Leung',
      'Lam',
      'Tsang',
      'Ng',
      'Ho',
      'Yeung',
      'Chow',
      'Tse',
      'Kwok',
      'Lai',
      'Mak',
      'Fung',
      'Yip',
      'Tang',
    ],
    given: [
      'Tai Man',
      'Siu Ming',
      'Ka Ho',
      'Wing Yan',
      'Chi Keung',
      'Mei Ling',
      'Kwok Wai',
      'Hoi Yan',
      'Ka Yan',
      'Chun Kit',
      'Wai Lun',
      'Yuk Lan',
      'Man Kit',
      'Sze Wing',
      'Pui Shan',
      'Ho Yin',
    ],
    familyFirst: true,
    country: 'HK',
  },
  {
    label: 'mainland_china',
    family: [
      'Wang',
      'Li',
      'Zhang',
      'Liu',
      'Chen',
      'Yang',
      'Huang',
      'Zhao',
      'Wu',
      'Zhou',
      'Xu',
      'Sun',
      'Ma',
      'Zhu',
      'Hu',
      'Guo',
      'He',
      'Lin',
      'Luo',
      'Gao',
    ],
    given: [
      'Wei',
      'Fang',
      'Na',
      'Xiuying',
      'Min',
      'Jing',
      'Qiang',
      'Lei',
      'Jun',
      'Yang',
      'Yong',
      'Yan',
      'Jie',
      'Tao',
      'Ming',
      'Chao',
      'Xiaoming',
      'Haoran',
      'Yuxuan',
      'Zihan',
    ],
    familyFirst: true,
    country: 'CN',
  },
  {
    label: 'korea',
    family: [
      'Kim',
      'Lee',
      'Park',
      'Choi',
      'Jung',
      'Kang',
      'Cho',
      'Yoon',
      'Jang',
      'Lim',
      'Han',
      'Shin',
      'Seo',
      'Kwon',
      'Hwang',
    ],
    given: [
      'Min-jun',
      'Seo-yeon',
      'Ji-hoon',
      'Ha-eun',
      'Do-yoon',
      'Ji-woo',
      'Seo-jun',
      'Su-bin',
      'Ye-jin',
      'Hyun-woo',
      'Ji-min',
      'Eun-ji',
      'Sung-min',
      'Jae-won',
    ],
    familyFirst: true,
    country: 'KR',
  },
  {
    label: 'arabic',
    given: [
      'Mohammed',
      'Ahmed',
      'Ali',
      'Omar',
      'Khalid',
      'Youssef',
      'Ibrahim',
      'Hassan',
      'Fatima',
      'Aisha',
      'Mariam',
      'Layla',
      'Tariq',
      'Karim',
      'Sami',
      'Nadia',
      'Rami',
      'Hamza',
      'Bilal',
      'Zainab',
    ],
    middle: ['Mohammed', 'Ahmed', 'Ali', 'Hassan', 'Abdullah', 'Saleh', 'Mahmoud'],
    family: [
      'Hassan',
      'Al-Sayed',
      'Haddad',
      'Khoury',
      'Mansour',
      'Nasser',
      'Saleh',
      'Al-Farsi',
      'Al-Amin',
      'Darwish',
      'Haddad',
      'Aziz',
      'Qasim',
      'Al-Harbi',
      'Al-Otaibi',
      'Barakat',
      'Suleiman',
      'Farouk',
      'Mahmoud',
      'Abdallah',
    ],
    familyFirst: false,
    country: 'AE',
  },
  {
    // Parts that are frequent on the lists themselves (a customer sharing two or three of them with a listed name).
    label: 'arabic_listed_parts',
    given: [
      'Muhammad',
      'Ahmad',
      'Ali',
      'Abdullah',
      'Hasan',
      'Husayn',
      'Umar',
      'Ibrahim',
      'Khalid',
      'Abd al-Rahman',
      'Yusuf',
      'Mahmud',
      'Salih',
      'Said',
      'Hamid',
      'Abu Bakr',
    ],
    middle: ['Muhammad', 'Ahmad', 'Ali', 'Abdallah', 'Hasan', 'Salim'],
    family: [
      'Al-Tamimi',
      'Al-Zahrani',
      'Hasan',
      'Ali',
      'Ahmad',
      'Al-Masri',
      'Al-Iraqi',
      'Ismail',
      'Mustafa',
      'Al-Shami',
      'Al-Qahtani',
      'Al-Ansari',
      'Abbas',
      'Al-Libi',
      'Salim',
    ],
    familyFirst: false,
    country: 'SA',
  },
  {
    label: 'south_asia',
    given: [
      'Ali',
      'Muhammad',
      'Ahmed',
      'Imran',
      'Usman',
      'Bilal',
      'Ayesha',
      'Sana',
      'Rahul',
      'Priya',
      'Amit',
      'Sunita',
      'Arjun',
      'Farhan',
      'Zubair',
      'Hira',
      'Nadeem',
      'Asif',
    ],
    middle: ['Muhammad', 'Ali', 'Kumar', 'Ahmed'],
    family: [
      'Khan',
      'Ahmed',
      'Hussain',
      'Malik',
      'Sheikh',
      'Qureshi',
      'Chaudhry',
      'Butt',
      'Sharma',
      'Patel',
      'Singh',
      'Gupta',
      'Iqbal',
      'Raza',
      'Siddiqui',
      'Mirza',
    ],
    familyFirst: false,
    country: 'PK',
  },
  {
    label: 'russia',
    given: [
      'Ivan',
      'Sergei',
      'Alexei',
      'Dmitry',
      'Andrei',
      'Mikhail',
      'Nikolai',
      'Pavel',
      'Yuri',
      'Maxim',
      'Artem',
      'Roman',
    ],
    middle: ['Ivanovich', 'Sergeyevich', 'Petrovich', 'Dmitrievich', 'Andreyevich', 'Nikolaevich'],
    family: [
      'Petrov',
      'Smirnov',
      'Kuznetsov',
      'Popov',
      'Sokolov',
      'Lebedev',
      'Kozlov',
      'Novikov',
      'Morozov',
      'Volkov',
      'Pavlov',
      'Semenov',
      'Fedorov',
      'Orlov',
      'Vasiliev',
    ],
    familyFirst: false,
    country: 'RU',
  },
  {
    label: 'russia',
    given: [
      'Olga',
      'Natalia',
      'Elena',
      'Tatiana',
      'Anna',
      'Irina',
      'Svetlana',
      'Ekaterina',
      'Maria',
      'Yulia',
    ],
    middle: ['Ivanovna', 'Sergeyevna', 'Alexandrovna', 'Nikolaevna', 'Andreyevna'],
    family: [
      'Petrova',
      'Smirnova',
      'Kuznetsova',
      'Popova',
      'Sokolova',
      'Lebedeva',
      'Kozlova',
      'Novikova',
      'Morozova',
      'Volkova',
      'Pavlova',
      'Semenova',
      'Fedorova',
      'Orlova',
    ],
    familyFirst: false,
    country: 'RU',
  },
  {
    label: 'western',
    given: [
      'John',
      'James',
      'David',
      'Michael',
      'Sarah',
      'Emma',
      'Olivia',
      'William',
      'Thomas',
      'Laura',
      'Peter',
      'Daniel',
      'Sophie',
      'Lucas',
      'Hannah',
    ],
    middle: ['Robert', 'Marie', 'Lee', 'Anne', 'Paul'],
    family: [
      'Smith',
      'Jones',
      'Brown',
      'Taylor',
      'Wilson',
      'Johnson',
      'Miller',
      'Davies',
      'Evans',
      'Thomas',
      'Roberts',
      'Walker',
      'Wright',
      'Clarke',
      'Müller',
      'Schneider',
      'Dubois',
      'Rossi',
    ],
    familyFirst: false,
    country: 'GB',
  },
  {
    label: 'latin_america',
    given: [
      'José',
      'Juan',
      'Carlos',
      'Luis',
      'María',
      'Ana',
      'Jorge',
      'Miguel',
      'Sofía',
      'Valentina',
      'Diego',
      'Camila',
      'Andrés',
      'Gabriela',
    ],
    middle: ['Luis', 'Antonio', 'Fernanda', 'Alejandro', 'Isabel'],
    family: [
      'García',
      'Rodríguez',
      'Martínez',
      'López',
      'González',
      'Pérez',
      'Sánchez',
      'Ramírez',
      'Torres',
      'Flores',
      'Rivera',
      'Gómez',
      'Díaz',
      'Morales',
    ],
    familyFirst: false,
    country: 'MX',
  },
];

const COMPANY_WORDS = [
  'Golden',
  'Dragon',
  'Pacific',
  'Star',
  'Harbour',
  'Sunrise',
  'Pearl',
  'Oriental',
  'Jade',
  'Victoria',
  'Kowloon',
  'Lotus',
  'Phoenix',
  'Silver',
  'Maple',
  'Summit',
  'Evergreen',
  'Blue Ocean',
  'Green Valley',
  'Horizon',
  'Crescent',
  'Al Noor',
  'Al Amal',
  'Baraka',
  'Zenith',
];
const COMPANY_TRADES = [
  'Trading',
  'General Trading',
  'Logistics',
  'Shipping',
  'Import Export',
  'Electronics',
  'Textiles',
  'Foods',
  'Restaurant',
  'Investment',
  'Holdings',
  'Technology',
  'Construction',
  'Travel',
  'Garments',
  'Jewellery',
  'Consulting',
  'Pharmacy',
];
const COMPANY_FORMS = [
  'Ltd',
  'Limited',
  'Co., Ltd.',
  'Company Limited',
  'LLC',
  'L.L.C.',
  'Inc.',
  'FZE',
  'JSC',
  'S.A.',
  'GmbH',
  '',
];
/** Words of listed entities' names that are generic: a company sharing one is not thereby listed. */
const SHARED_GENERIC = [
  'International',
  'Bank',
  'Petroleum',
  'Industrial',
  'Group',
  'Development',
  'Commercial',
  'Marine',
  'Iran',
  'Syria',
  'Cuba',
  'Global',
  'Energy',
  'Aviation',
];

const HAND_PICKED: readonly (readonly [string, 'individual' | 'entity' | undefined])[] = [
  ['Mohammed Hassan Trading Ltd', 'entity'],
  ['Kim Min-jun', 'individual'],
  ['Ali Khan', undefined],
  ['Chan Tai Man', 'individual'],
  ['Wong Siu Ming', undefined],
  ['Lee Ka Shing', undefined],
  ['Muhammad Ali', 'individual'],
  ['Ahmed Khan', undefined],
  ['Abdul Rahman', undefined],
  ['Ivan Ivanov', 'individual'],
  ['Kim Ji-woo', undefined],
  ['Park Ji-hoon', 'individual'],
  ['Maria Garcia', undefined],
  ['John Smith', undefined],
  ['Hong Kong Trading Company Limited', 'entity'],
  ['Golden Dragon Trading Co., Ltd.', 'entity'],
  ['Al Noor General Trading LLC', 'entity'],
  ['Pacific Star Shipping Limited', undefined],
  ['Fatima Ahmed', undefined],
  ['Omar Abdullah', undefined],
];

function personName(pool: NamePool): string {
  const given = pick(pool.given);
  const family = pick(pool.family);
  if (pool.familyFirst) return `${family} ${given}`;
  const middle = pool.middle !== undefined && chance(0.35) ? ` ${pick(pool.middle)}` : '';
  return `${given}${middle} ${family}`;
}

function companyName(): string {
  const parts = [pick(COMPANY_WORDS)];
  if (chance(0.3)) parts.push(pick(SHARED_GENERIC));
  parts.push(pick(COMPANY_TRADES));
  const form = pick(COMPANY_FORMS);
  if (form !== '') parts.push(form);
  return parts.join(' ');
}

/**
 * Ordinary names expected clear. A generated name is left out when every one of its canonical tokens is in one
 * listed name (it is that name, or that name without some parts, which screening is meant to flag); the
 * hand-picked ones (the examples) are kept whatever the lists hold, as common names that must not match on
 * their own.
 */
function negatives(entries: readonly SanctionsEntry[], count: number): LabelledScreeningQuery[] {
  const listedNames: Set<string>[] = [];
  const byToken = new Map<string, number[]>();
  for (const entry of entries) {
    const mode = entry.kind === 'individual' ? 'keep' : 'strip';
    for (const name of entry.names) {
      for (const part of name.name.split(';')) {
        const tokens = new Set(normalizeName(part, { legalForms: mode }));
        const at = listedNames.length;
        listedNames.push(tokens);
        for (const token of tokens) {
          let list = byToken.get(token);
          if (list === undefined) {
            list = [];
            byToken.set(token, list);
          }
          list.push(at);
        }
      }
    }
  }
  const isListed = (name: string, kind: 'individual' | 'entity' | undefined, whole: boolean): boolean => {
    const tokens = [
      ...new Set(normalizeName(name, { legalForms: kind === 'entity' ? 'strip' : 'trailing' })),
    ];
    const first = tokens[0];
    if (first === undefined) return false;
    if (whole) {
      return (byToken.get(first) ?? []).some((at) => {
        const listed = listedNames[at] ?? new Set<string>();
        return tokens.every((token) => listed.has(token)) && listed.size === tokens.length;
      });
    }
    // Every token equal to, or one edit from, a token of one listed name.
    const near = (token: string, listed: Set<string>): boolean =>
      listed.has(token) || [...listed].some((other) => withinOneEdit(token, other));
    const candidates = new Set<number>();
    for (const [token, list] of byToken)
      if (withinOneEdit(first, token)) for (const at of list) candidates.add(at);
    return [...candidates].some((at) =>
      tokens.every((token) => near(token, listedNames[at] ?? new Set<string>())),
    );
  };
  const out: LabelledScreeningQuery[] = [];
  const seen = new Set<string>();
  const add = (
    name: string,
    kind: 'individual' | 'entity' | undefined,
    label: string,
    extra: { dateOfBirth?: string; country?: string } = {},
  ): void => {
    if (seen.has(name.toLowerCase()) || isListed(name, kind, label === 'hand_picked')) return;
    seen.add(name.toLowerCase());
    out.push({
      id: `n${String(out.length + 1).padStart(3, '0')}`,
      query: { name, ...(kind === undefined ? {} : { kind }), ...extra },
      expected: { decision: 'clear' },
      alterations: [label],
    });
  };
  for (const [name, kind] of HAND_PICKED) add(name, kind, 'hand_picked');
  let guard = 0;
  while (out.length < count && guard++ < count * 20) {
    if (chance(0.25)) {
      add(companyName(), chance(0.5) ? 'entity' : undefined, 'company');
      continue;
    }
    const pool = pick(POOLS);
    const extra: { dateOfBirth?: string; country?: string } = {};
    if (chance(0.3))
      extra.dateOfBirth = `${String(1950 + below(55))}-${String(1 + below(12)).padStart(2, '0')}-${String(1 + below(28)).padStart(2, '0')}`;
    if (chance(0.3)) extra.country = pool.country;
    add(personName(pool), chance(0.5) ? 'individual' : undefined, pool.label, extra);
  }
  return out;
}

/** The labelled set of a seed, from both lists' entries. */
export function generateLabelledSet(
  un: readonly SanctionsEntry[],
  ofac: readonly SanctionsEntry[],
  seed = LABELLED_SET_SEED,
): LabelledScreeningSet {
  random = seededRandom(seed);
  return {
    description:
      'Labelled screening queries: listed names from the UN consolidated list (2020-11-30) and the OFAC SDN list ' +
      '(2024-05-03) in altered forms, each expected to be a potential match on its entry, and ordinary names that ' +
      'are not listed, expected clear. Generated by labelled-screening.gen.ts; do not edit by hand.',
    sources: [UN_SNAPSHOT, OFAC_SNAPSHOT],
    seed,
    queries: [
      ...positives(un, UN_POSITIVES, 'u'),
      ...positives(ofac, OFAC_POSITIVES, 'o'),
      ...negatives([...un, ...ofac], NEGATIVES),
    ],
  };
}

/** The file's text for a set, formatted as the repository formats JSON (so `prettier --check` passes). */
export async function labelledSetText(set: LabelledScreeningSet, file = OUTPUT): Promise<string> {
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(JSON.stringify(set), { ...options, parser: 'json' });
}

/**
 * `--seed N --out FILE` make another set of the same design (a held-out check that tuning on the committed set did
 * not overfit it); without them, the committed set.
 */
async function main(): Promise<void> {
  const option = (flag: string): string | undefined => {
    const at = process.argv.indexOf(flag);
    return at >= 0 ? process.argv[at + 1] : undefined;
  };
  const output = option('--out') ?? OUTPUT;
  const { un, ofac } = loadSnapshotEntries();
  const set = generateLabelledSet(un, ofac, Number(option('--seed') ?? LABELLED_SET_SEED));
  writeFileSync(output, await labelledSetText(set));
  const count = (decision: string): number =>
    set.queries.filter((query) => query.expected.decision === decision).length;
  process.stdout.write(
    `${output}: ${String(count('potential_match'))} positives, ${String(count('clear'))} negatives\n`,
  );
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  await main();
