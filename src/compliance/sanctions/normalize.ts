/**
 * Name normalisation for sanctions screening: the same function turns a listed name and a name being screened into
 * canonical tokens, so every rule here applies to both sides alike (a rule can only merge spellings, never make two
 * spellings of the same name differ).
 *
 * The steps, in order:
 *  1. fold: Unicode NFKD, lower case, diacritics stripped, letters without a decomposition mapped (ß→ss, ø→o, ł→l,
 *     æ→ae…), Cyrillic transliterated (so "Сергей" meets "Sergei"), Arabic-script letter variants unified;
 *  2. dotted acronyms joined where they are a legal form (S.A., L.L.C.) or the name is an entity's;
 *  3. apostrophes (and the transliterations' ʿ ʾ) removed, joining the word ("Ma'mun" = "Mamun");
 *  4. Arabic articles: "al", "el", "ul" tokens dropped, and assimilated forms written with a hyphen before the same
 *     consonant ("ad-Din", "ar-Rahman", "az-Zawahiri") dropped too; hyphenated Korean syllables ("Un-ok") are not
 *     articles and are kept;
 *  5. every other punctuation mark and hyphen is a space ("Abdul-Rahman" → "abdul rahman"; the joined spelling
 *     "Abdulrahman" meets it through the matcher's joined-token comparison and the `abd` rule below);
 *  6. honorifics dropped (mr, dr, haji, sheikh, mullah, maulvi…) unless nothing else would remain, and particles
 *     that carry no identity (of, the, de, van, von…);
 *  7. legal forms (ltd, limited, llc, co, company, corp, inc, gmbh, sa, jsc, pjsc, plc, fze, llp, "company limited",
 *     "obshchestvo s ogranichennoi otvetstvennostyu"…) stripped anywhere in an entity's name, only at the ends of a
 *     name whose kind is unknown, never in an individual's;
 *  8. each token put in a canonical spelling (`canonicalToken`): ph→f, sch→sh, dj/dzh→j, dh→d, q→k, x→ks, ou/oo→u, ee→i,
 *     ay/ey/ei→ai, doubled letters single, -iy/-ij/-yi/-y endings → i, -off/-ow → -ov, -yev/-iev → -ev, the
 *     Muhammad family (mohammed, mohamed, muhammad, mohammad, muhammed, mohd…) → "muhamad", the Abd family (abdul,
 *     abdel, abd al, abdur-, abdus-…) → "abd", -ullah/-allah → "ulah", -uddin/-eddin → "din", ibn/ben → "bin",
 *     abou/abo → "abu".
 *
 * Rules were chosen for the romanisations that sanctions lists mix (Arabic, Persian, Russian, Korean) and kept to
 * those that merge spellings of one name: kh/h, zh/j, th/s, w/v, e/a are not folded (Khan/Han, Zhang/Jiang are
 * different names), and vowel differences are left to the matcher's fuzzy comparison. The tests check that common
 * distinct names stay distinct.
 */

/** How legal forms are treated: stripped anywhere (entities), only at the ends (kind unknown), or kept. */
export type LegalFormMode = 'strip' | 'trailing' | 'keep';

export interface NormalizeOptions {
  readonly legalForms?: LegalFormMode;
}

const SPECIAL_LETTERS: Readonly<Record<string, string>> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  đ: 'd',
  ð: 'd',
  ł: 'l',
  ı: 'i',
  þ: 'th',
  ħ: 'h',
  ŀ: 'l',
  ŋ: 'ng',
  ĸ: 'k',
  ſ: 's',
  ƒ: 'f',
  ə: 'e',
  ɨ: 'i',
  ʉ: 'u',
};

const CYRILLIC: Readonly<Record<string, string>> = {
  а: 'a',
  б: 'b',
  в: 'v',
  г: 'g',
  д: 'd',
  е: 'e',
  ё: 'e',
  ж: 'zh',
  з: 'z',
  и: 'i',
  й: 'i',
  к: 'k',
  л: 'l',
  м: 'm',
  н: 'n',
  о: 'o',
  п: 'p',
  р: 'r',
  с: 's',
  т: 't',
  у: 'u',
  ф: 'f',
  х: 'kh',
  ц: 'ts',
  ч: 'ch',
  ш: 'sh',
  щ: 'shch',
  ъ: '',
  ы: 'y',
  ь: '',
  э: 'e',
  ю: 'yu',
  я: 'ya',
  і: 'i',
  ї: 'yi',
  є: 'ye',
  ґ: 'g',
  ў: 'u',
  ђ: 'dj',
  ј: 'j',
  љ: 'lj',
  њ: 'nj',
  ћ: 'c',
  џ: 'dz',
};

const ARABIC_SCRIPT: Readonly<Record<string, string>> = {
  أ: 'ا',
  إ: 'ا',
  آ: 'ا',
  ٱ: 'ا',
  ى: 'ي',
  ی: 'ي',
  ئ: 'ي',
  ک: 'ك',
  ة: 'ه',
  ؤ: 'و',
  ـ: '',
};

// Letters that NFKD leaves whole, Cyrillic (and the few Arabic-script letter variants) in one pass.
const MAPPED = new Map<string, string>([
  ...Object.entries(SPECIAL_LETTERS),
  ...Object.entries(CYRILLIC),
  ...Object.entries(ARABIC_SCRIPT),
]);
const MAPPED_PATTERN = new RegExp(`[${[...MAPPED.keys()].join('')}]`, 'gu');

/**
 * Unicode-folded text: NFKD, lower case, diacritics and other combining marks removed, letters without a
 * decomposition mapped, Cyrillic transliterated. Punctuation is kept (tokenisation decides about it).
 */
export function foldText(input: string): string {
  return input
    .normalize('NFKD')
    .toLowerCase()
    .replace(/\p{M}+/gu, '')
    .replace(MAPPED_PATTERN, (letter) => MAPPED.get(letter) ?? letter);
}

const APOSTROPHES = /['‘’ʼʻʾʿ`´′ʹ＇]/gu;

/** Assimilated Arabic articles written before a word that starts with the same consonant: "ad-Din", "ash-Sham". */
const ASSIMILATED_ARTICLE = /(^|[^\p{L}\p{N}])[aeu](d|r|s|sh|t|z|n|th|dh)[-‐‑‒–—]\s*(?=\2)/gu;

const ARTICLES = new Set(['al', 'el', 'ul']);

/** Particles that carry no identity in a name; Vietnamese and Chinese surnames (le, do, du, di, da) are kept. */
const PARTICLES = new Set([
  'the',
  'of',
  'and',
  'for',
  'de',
  'del',
  'della',
  'der',
  'den',
  'van',
  'von',
  'y',
  'et',
  'und',
  'des',
  'dos',
  'das',
  'los',
  'las',
]);

/** Honorifics and titles, as folded tokens before canonical spelling. Ranks are not here ("General Trading"). */
const HONORIFICS = new Set([
  'mr',
  'mrs',
  'ms',
  'miss',
  'mx',
  'dr',
  'prof',
  'professor',
  'sir',
  'madam',
  'dame',
  'haji',
  'hajji',
  'hadji',
  'hajj',
  'alhaj',
  'alhaji',
  'alhajj',
  'alhajji',
  'sheikh',
  'shaikh',
  'shaykh',
  'sheik',
  'cheikh',
  'shaik',
  'mullah',
  'mulla',
  'mollah',
  'molla',
  'maulana',
  'mawlana',
  'moulana',
  'maulvi',
  'mawlawi',
  'moulvi',
  'mawlavi',
  'maulavi',
  'molvi',
]);

/** Single-token legal forms, as folded tokens (dotted acronyms already joined). */
const LEGAL_FORM_TOKENS = new Set([
  'ltd',
  'limited',
  'llc',
  'co',
  'company',
  'corp',
  'corporation',
  'inc',
  'incorporated',
  'gmbh',
  'ag',
  'sa',
  'sas',
  'sarl',
  'srl',
  'spa',
  'sal',
  'sae',
  'bv',
  'nv',
  'jsc',
  'ojsc',
  'cjsc',
  'pjsc',
  'zao',
  'oao',
  'ooo',
  'pao',
  'tov',
  'too',
  'plc',
  'fze',
  'fzco',
  'fzc',
  'fzllc',
  'fz',
  'llp',
  'lp',
  'pte',
  'pty',
  'pvt',
  'bhd',
  'sdn',
  'kg',
  'kft',
  'ltda',
  'cia',
  'cv',
  'est',
  'wll',
  'ca',
  'lc',
  'ohg',
  'ab',
  'oy',
  'aps',
  'as',
  'doo',
  'sro',
]);

/** Multi-token legal forms (folded tokens), longest first so the longest one is taken. */
const LEGAL_FORM_PHRASES: readonly (readonly string[])[] = [
  ['obshchestvo', 's', 'ogranichennoi', 'otvetstvennostyu'],
  ['obshchestvo', 's', 'ogranichennoy', 'otvetstvennostyu'],
  ['obshchestvo', 's', 'ogranichennoi', 'otvetstvennostiu'],
  ['publichnoe', 'aktsionernoe', 'obshchestvo'],
  ['zakrytoe', 'aktsionernoe', 'obshchestvo'],
  ['otkrytoe', 'aktsionernoe', 'obshchestvo'],
  ['nepublichnoe', 'aktsionernoe', 'obshchestvo'],
  ['aktsionernoe', 'obshchestvo'],
  ['public', 'joint', 'stock', 'company'],
  ['closed', 'joint', 'stock', 'company'],
  ['open', 'joint', 'stock', 'company'],
  ['joint', 'stock', 'company'],
  ['limited', 'liability', 'company'],
  ['limited', 'liability', 'partnership'],
  ['limited', 'liability'],
  ['private', 'limited', 'company'],
  ['public', 'limited', 'company'],
  ['sociedad', 'anonima', 'de', 'capital', 'variable'],
  ['sociedad', 'anonima'],
  ['sociedad', 'limitada'],
  ['societe', 'anonyme'],
  ['company', 'limited'],
  ['private', 'limited'],
  ['co', 'ltd'],
  ['sa', 'de', 'cv'],
  ['s', 'de', 'rl'],
  ['s', 'a'],
  ['l', 'l', 'c'],
];

/** Forms written before the name (Russian and Ukrainian practice), stripped at the start in `trailing` mode. */
const LEADING_LEGAL_FORM_TOKENS = new Set([
  'ooo',
  'zao',
  'oao',
  'pao',
  'ao',
  'tov',
  'too',
  'pjsc',
  'ojsc',
  'cjsc',
  'jsc',
  'llc',
  'llp',
]);

/** Legal-form words long enough to be recognised with a typo ("Limmited", "Companiy", "Corporration"). */
const FUZZY_LEGAL_WORDS = ['limited', 'company', 'corporation', 'incorporated'];

/** Whether two words are at most one edit apart (substitution, insertion, deletion, adjacent transposition). */
export function withinOneEdit(a: string, b: string): boolean {
  if (a === b) return true;
  const la = a.length;
  const lb = b.length;
  if (Math.abs(la - lb) > 1) return false;
  let i = 0;
  while (i < la && i < lb && a[i] === b[i]) i++;
  if (la === lb) {
    if (a.slice(i + 1) === b.slice(i + 1)) return true;
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
  }
  return la > lb ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

/** A word of a legal-form phrase, or a typo of one where both are five letters or more. */
function legalWordMatches(token: string, word: string): boolean {
  return token === word || (word.length >= 5 && token.length >= 4 && withinOneEdit(token, word));
}

function isLegalFormToken(token: string): boolean {
  return (
    LEGAL_FORM_TOKENS.has(token) ||
    (token.length >= 6 && FUZZY_LEGAL_WORDS.some((word) => withinOneEdit(token, word)))
  );
}

/** Length of the legal-form phrase starting at `at` (0 when none). */
function legalFormAt(tokens: readonly string[], at: number): number {
  for (const phrase of LEGAL_FORM_PHRASES) {
    if (at + phrase.length > tokens.length) continue;
    let all = true;
    for (let k = 0; k < phrase.length; k++) {
      if (!legalWordMatches(tokens[at + k] ?? '', phrase[k] ?? '')) {
        all = false;
        break;
      }
    }
    if (all) return phrase.length;
  }
  const token = tokens[at];
  return token !== undefined && isLegalFormToken(token) ? 1 : 0;
}

/** Length of the legal-form phrase ending just before `end` (0 when none). */
function legalFormEndingAt(tokens: readonly string[], end: number): number {
  for (const phrase of LEGAL_FORM_PHRASES) {
    const start = end - phrase.length;
    if (start < 0) continue;
    let all = true;
    for (let k = 0; k < phrase.length; k++) {
      if (!legalWordMatches(tokens[start + k] ?? '', phrase[k] ?? '')) {
        all = false;
        break;
      }
    }
    if (all) return phrase.length;
  }
  const token = tokens[end - 1];
  return token !== undefined && isLegalFormToken(token) ? 1 : 0;
}

function stripLegalForms(tokens: readonly string[], mode: LegalFormMode): string[] {
  if (mode === 'keep') return [...tokens];
  if (mode === 'strip') {
    const kept: string[] = [];
    for (let at = 0; at < tokens.length;) {
      const length = legalFormAt(tokens, at);
      if (length > 0) {
        at += length;
        continue;
      }
      const token = tokens[at];
      if (token !== undefined) kept.push(token);
      at += 1;
    }
    return kept.length > 0 ? kept : [...tokens];
  }
  // Trailing: from the end while something remains, and the Russian forms from the start.
  let start = 0;
  let end = tokens.length;
  for (;;) {
    const length = legalFormEndingAt(tokens, end);
    if (length === 0 || end - length - start < 1) break;
    end -= length;
  }
  while (end - start > 1) {
    const first = tokens[start];
    if (first !== undefined && LEADING_LEGAL_FORM_TOKENS.has(first)) {
      start += 1;
      continue;
    }
    const phrase = legalFormAt(tokens, start);
    if (phrase > 1 && end - start - phrase >= 1) {
      start += phrase;
      continue;
    }
    break;
  }
  return tokens.slice(start, end);
}

/** Dotted acronyms joined ("s.a.", "i.p.c."): always legal forms and those of three letters, any in entity mode. */
function joinDottedAcronyms(text: string, all: boolean): string {
  return text.replace(/(?<![\p{L}\p{N}])(?:\p{L}\.){2,}(?:\p{L}(?![\p{L}\p{N}]))?/gu, (match) => {
    const joined = match.replace(/\./g, '');
    // Three letters or more are an acronym (I.P.C.); two may be a person's initials (J.R.).
    return all || joined.length >= 3 || isLegalFormToken(joined) ? `${joined} ` : match;
  });
}

/**
 * The folded tokens of a name before canonical spelling: punctuation, articles, honorifics, particles and legal
 * forms handled as described at the top of this file.
 */
export function nameTokens(name: string, options: NormalizeOptions = {}): string[] {
  const mode = options.legalForms ?? 'keep';
  let text = foldText(name);
  text = joinDottedAcronyms(text, mode === 'strip');
  text = text.replace(APOSTROPHES, '');
  text = text.replace(ASSIMILATED_ARTICLE, '$1al ');
  const raw = text.split(/[^\p{L}\p{N}]+/u).filter((token) => token.length > 0);
  let tokens = raw.filter((token) => !ARTICLES.has(token) && !PARTICLES.has(token));
  if (tokens.length === 0) tokens = raw;
  const withoutHonorifics = tokens.filter((token) => !HONORIFICS.has(token));
  if (withoutHonorifics.length > 0) tokens = withoutHonorifics;
  return stripLegalForms(tokens, mode);
}

const MUHAMMAD = /^m[ou]h[ae]m[ae]d$/;
const MUHAMMAD_ABBREVIATIONS = new Set([
  'mohd',
  'muhd',
  'mhd',
  'md',
  'mohmad',
  'mohamd',
  'muhamd',
  'mahomed',
]);
const ABD_ALONE = new Set([
  'abd',
  'abdu',
  'abdul',
  'abdel',
  'abdal',
  'abdol',
  'abdil',
  'abdur',
  'abdus',
  'abdun',
]);
const ABDULLAH = /^abd[aeiou]l+[aeiou]h?$/;

/**
 * A token's canonical spelling (see the top of this file). Idempotent on its own output for ordinary tokens; tokens
 * of digits, and tokens outside the Latin alphabet, are returned as they are.
 */
export function canonicalToken(input: string): string {
  if (!/^[a-z]+$/.test(input)) return input;
  let t = input;
  if (MUHAMMAD_ABBREVIATIONS.has(t)) return 'muhamad';
  t = t
    .replace(/ph/g, 'f')
    .replace(/t?sch/g, 'sh')
    .replace(/tch/g, 'ch')
    .replace(/dzh/g, 'j')
    .replace(/dj/g, 'j')
    .replace(/dh/g, 'd')
    .replace(/ck/g, 'k')
    .replace(/q/g, 'k')
    .replace(/x/g, 'ks')
    .replace(/ou|oo/g, 'u')
    .replace(/(?:iev|yev|jev)(a?)$/, 'ev$1')
    .replace(/ee/g, 'i')
    .replace(/yy/g, 'y')
    .replace(/([ae])y(?![aeiou])/g, '$1i')
    .replace(/ei/g, 'ai');
  // The Abd family, before doubled letters go: "abdurrahman" is abd + (ar-)rahman, "abdulaziz" abd + (al-)aziz.
  if (ABD_ALONE.has(t)) return 'abd';
  if (ABDULLAH.test(t)) return 'abdulah';
  if (t.startsWith('abd') && t.length >= 7) {
    const assimilated = /^abd[aeiou]([b-df-hj-np-tv-z])\1(?=[a-z]{2})/.exec(t);
    if (assimilated !== null) t = `abd${t.slice(assimilated[0].length - 1)}`;
    else if (/^abd[aeiou]l(?=[a-z]{3})/.test(t)) t = `abd${t.slice(5)}`;
  }
  t = t.replace(/(.)\1+/g, '$1');
  if (MUHAMMAD.test(t)) return 'muhamad';
  if (ABD_ALONE.has(t)) return 'abd';
  // -ullah / -allah / -ollah (Abdullah, Nasrallah, Hibatullah, Allah alone) and -uddin / -eddin (Nureddin).
  if (t === 'alah' || t === 'ulah' || t === 'olah') return 'ulah';
  t = t.replace(/^(.{3,}?)[aeiou]lah$/, '$1ulah');
  t = t.replace(/^(.{2,}?)[aeiou][ld]?din$/, '$1din');
  if (t === 'udin' || t === 'edin' || t === 'adin') return 'din';
  if (t === 'ibn' || t === 'ben' || t === 'bn') return 'bin';
  if (t === 'abo' || t === 'abou') return 'abu';
  if (t.length >= 4) {
    t = t
      .replace(/(?:iy|ij|yi|ii|ie)$/, 'i')
      .replace(/ich$|ych$/, 'ich')
      .replace(/(?:of|ow)$/, 'ov');
  }
  if (t.length >= 3) t = t.replace(/y$/, 'i');
  return t;
}

const LEGAL_FORM_WORDS = new Set([
  ...LEGAL_FORM_TOKENS,
  ...LEGAL_FORM_PHRASES.flat().filter((word) => word.length >= 4),
]);
const LONG_HONORIFICS = [...HONORIFICS].filter((word) => word.length >= 4);

/**
 * A folded word that says nothing about who a name is: a legal-form word or honorific, or a typo of one ("Limmited",
 * "Shayqh", "Hjaji"). The matcher gives such words, when a query has them and the listed name does not, little
 * weight.
 */
export function isIdentitylessWord(word: string): boolean {
  if (LEGAL_FORM_WORDS.has(word) || HONORIFICS.has(word) || PARTICLES.has(word) || ARTICLES.has(word))
    return true;
  if (word.length < 4) return false;
  if (isLegalFormToken(word)) return true;
  for (const legal of LEGAL_FORM_WORDS) if (legal.length >= 5 && withinOneEdit(word, legal)) return true;
  return LONG_HONORIFICS.some((honorific) => withinOneEdit(word, honorific));
}

/** Canonical tokens of a name: `nameTokens` then `canonicalToken`, empty tokens dropped. */
export function normalizeName(name: string, options: NormalizeOptions = {}): string[] {
  return normalizeNameWithInitials(name, options).tokens;
}

/**
 * Canonical tokens and, for each, the first letter of the word as written (folded): an initial is compared with
 * that, since canonical spelling can change a first letter ("Ould" → "uld", "Qasim" → "kasim").
 */
export function normalizeNameWithInitials(
  name: string,
  options: NormalizeOptions = {},
): { tokens: string[]; initials: string[]; identityless: boolean[] } {
  const tokens: string[] = [];
  const initials: string[] = [];
  const identityless: boolean[] = [];
  for (const token of nameTokens(name, options)) {
    const canonical = canonicalToken(token);
    if (canonical.length === 0) continue;
    tokens.push(canonical);
    initials.push(token.charAt(0));
    identityless.push(isIdentitylessWord(token));
  }
  return { tokens, initials, identityless };
}

/** Two adjacent canonical tokens written as one ("abd" + "rahman" → "abdrahman"). */
export function joinTokens(first: string, second: string): string {
  // Spelled again as one word ("alliance" + "energy" meets "allianceenergy"), except where the second part is short
  // enough for an ending rule to change it ("hu" + "jie" is not "huji").
  return second.length >= 4
    ? canonicalToken(`${first}${second}`)
    : `${first}${second}`.replace(/(.)\1+/g, '$1');
}

/**
 * A vowel-blind key: the first letter (any vowel as `a`), then the consonants, doubled ones single. Spellings that
 * differ only in vowels ("Usama"/"Osama", "Umar"/"Omar") share it; the matcher treats a shared key as a close, not
 * an exact, match, since distinct names share keys too ("Hasan"/"Husain").
 */
export function looseKey(token: string): string {
  if (!/^[a-z]+$/.test(token)) return token;
  const first = token[0] ?? '';
  const head = 'aeiouy'.includes(first) ? 'a' : first;
  return `${head}${token
    .slice(1)
    .replace(/[aeiouyw]/g, '')
    .replace(/h(?=$)/, '')}`.replace(/(.)\1+/g, '$1');
}

/**
 * Korean surname and syllable romanisations (South Korean, North Korean, McCune–Reischauer) that are one name:
 * Ri/Lee/Yi, Pak/Park/Bak, Choe/Choi… As canonical tokens (so "lee" is already "li").
 */
const KOREAN_VARIANTS: readonly (readonly string[])[] = [
  ['ri', 'li', 'yi', 'rhi', 'rhie'],
  ['pak', 'park', 'bak', 'bark'],
  ['kim', 'gim'],
  ['choe', 'choi', 'chwe'],
  ['jo', 'cho'],
  ['jong', 'jung', 'chung', 'jeong', 'chong', 'cheong'],
  ['kang', 'gang'],
  ['ryu', 'yu', 'ryo'],
  ['rim', 'lim', 'im'],
  ['ryang', 'yang'],
  ['ro', 'roh', 'noh', 'no'],
  ['kwon', 'gwon'],
  ['sin', 'shin'],
  ['ju', 'chu'],
  ['jon', 'jeon', 'chon', 'jun', 'chun'],
  ['ko', 'go', 'koh'],
  ['ku', 'gu'],
  ['kil', 'gil'],
  ['kye', 'gye'],
  ['ryom', 'yom', 'yeom'],
  ['so', 'seo', 'suh'],
  ['chol', 'cheol', 'chul'],
  ['ryong', 'yong'],
  ['ryol', 'yol', 'yeol'],
  ['hyon', 'hyun', 'hyeon'],
  ['son', 'sohn'],
  ['tong', 'dong'],
  ['kwak', 'gwak'],
  ['pyon', 'byun', 'byeon'],
  ['song', 'seong', 'sung'],
];

const KOREAN_GROUP = new Map<string, number>();
KOREAN_VARIANTS.forEach((group, index) => {
  for (const spelling of group) KOREAN_GROUP.set(spelling, index);
});

/** The other romanisations of a Korean surname or syllable, or none. */
export function koreanVariants(token: string): readonly string[] {
  const group = KOREAN_GROUP.get(token);
  if (group === undefined) return [];
  return (KOREAN_VARIANTS[group] ?? []).filter((spelling) => spelling !== token);
}

export function sameKoreanName(a: string, b: string): boolean {
  const group = KOREAN_GROUP.get(a);
  return group !== undefined && group === KOREAN_GROUP.get(b);
}

/**
 * Name parts that are common among customers whatever their frequency on the lists (a list's own token frequencies
 * say "Wong" or "John" is rare, which is true of the list and not of the people being screened). Their weight is
 * capped by the matcher. Written as people write them; canonical spellings are computed from these.
 */
const COMMON_NAME_PARTS = [
  // Arabic, Persian, South Asian given names and name elements
  'muhammad',
  'ahmad',
  'ahmed',
  'ali',
  'hassan',
  'hussein',
  'husain',
  'hussain',
  'omar',
  'umar',
  'abdullah',
  'abd',
  'abu',
  'bin',
  'bint',
  'ibrahim',
  'mahmoud',
  'mahmud',
  'mustafa',
  'khalid',
  'yusuf',
  'youssef',
  'said',
  'saeed',
  'salem',
  'salim',
  'khan',
  'hamid',
  'hamed',
  'rahman',
  'karim',
  'aziz',
  'jamal',
  'nasser',
  'nasir',
  'rashid',
  'osman',
  'othman',
  'usman',
  'ismail',
  'isa',
  'musa',
  'fatima',
  'aisha',
  'mariam',
  'hasan',
  'din',
  'shah',
  'malik',
  'sheikh',
  'syed',
  'sayed',
  'mohammad',
  'abdul',
  'ullah',
  'allah',
  'ahmadi',
  'hussaini',
  'rahim',
  'akbar',
  'iqbal',
  'singh',
  'kumar',
  'sharma',
  'patel',
  'das',
  'ram',
  'raj',
  // Chinese (Mandarin and Cantonese romanisations) surnames and common given-name syllables
  'wang',
  'li',
  'lee',
  'zhang',
  'chang',
  'liu',
  'lau',
  'chen',
  'chan',
  'yang',
  'yeung',
  'huang',
  'wong',
  'zhao',
  'chiu',
  'wu',
  'ng',
  'zhou',
  'chow',
  'xu',
  'hui',
  'sun',
  'ma',
  'zhu',
  'hu',
  'guo',
  'kwok',
  'he',
  'ho',
  'lin',
  'lam',
  'luo',
  'law',
  'gao',
  'ko',
  'liang',
  'leung',
  'zheng',
  'cheng',
  'tsang',
  'xie',
  'tse',
  'tang',
  'song',
  'han',
  'feng',
  'fung',
  'deng',
  'tang',
  'cao',
  'tso',
  'wei',
  'wai',
  'ming',
  'hong',
  'ying',
  'man',
  'kin',
  'ka',
  'chi',
  'yan',
  'jun',
  'hua',
  'jian',
  'ping',
  'yu',
  'fai',
  'kit',
  'lok',
  'siu',
  'tai',
  'mei',
  'ling',
  'na',
  'jing',
  'xin',
  'hao',
  // More Mandarin (pinyin) and Cantonese (Hong Kong) syllables frequent in names
  'fang',
  'fan',
  'xiao',
  'xiu',
  'hui',
  'lan',
  'li',
  'qing',
  'hong',
  'jie',
  'jun',
  'bin',
  'bo',
  'cheng',
  'chun',
  'dong',
  'fei',
  'gang',
  'guang',
  'guo',
  'hai',
  'hua',
  'jia',
  'jin',
  'kai',
  'lei',
  'liang',
  'long',
  'mei',
  'min',
  'ning',
  'peng',
  'qiang',
  'qin',
  'rong',
  'rui',
  'shan',
  'sheng',
  'shu',
  'tao',
  'ting',
  'wen',
  'xia',
  'xiang',
  'xue',
  'yi',
  'ying',
  'yong',
  'yu',
  'yuan',
  'yun',
  'zhen',
  'zhi',
  'zhong',
  'peng',
  'deng',
  'tian',
  'shi',
  'lu',
  'jiang',
  'su',
  'ye',
  'pan',
  'du',
  'dai',
  'xiong',
  'meng',
  'qian',
  'qiu',
  'yao',
  'lo',
  'tam',
  'kwan',
  'kwong',
  'yip',
  'mak',
  'fok',
  'lai',
  'tsui',
  'chu',
  'choi',
  'cheung',
  'ngai',
  'suen',
  'yuen',
  'yiu',
  'wing',
  'kwai',
  'shing',
  'keung',
  'chung',
  'hoi',
  'yee',
  'wah',
  'kam',
  'sze',
  'pui',
  'shan',
  'chiu',
  'tin',
  'yat',
  'yin',
  'ho',
  // Korean
  'kim',
  'park',
  'pak',
  'choi',
  'choe',
  'jung',
  'jong',
  'kang',
  'cho',
  'jo',
  'yoon',
  'jang',
  'lim',
  'ri',
  'min',
  'young',
  'yong',
  'chol',
  'hyun',
  'sung',
  'ji',
  'su',
  // Russian and East European
  'ivan',
  'ivanov',
  'sergei',
  'sergey',
  'alexander',
  'aleksandr',
  'dmitry',
  'vladimir',
  'andrei',
  'nikolai',
  'petrov',
  'smirnov',
  'kuznetsov',
  'popov',
  'volkov',
  'olga',
  'elena',
  'natalia',
  'tatiana',
  'vasily',
  'mikhail',
  'yuri',
  'viktor',
  'igor',
  'oleg',
  'alexei',
  'aleksei',
  'nikolaevich',
  'aleksandrovich',
  'vladimirovich',
  'sergeevich',
  'ivanovich',
  'yulia',
  'julia',
  'natalya',
  'ekaterina',
  'svetlana',
  'irina',
  'oksana',
  'ludmila',
  'galina',
  'marina',
  'anastasia',
  'nikolay',
  'dmitri',
  'andrey',
  'alexey',
  'pavel',
  'maxim',
  'artem',
  'roman',
  'evgeny',
  'anatoly',
  'valery',
  'gennady',
  'konstantin',
  'boris',
  'vadim',
  'ruslan',
  'denis',
  'sokolov',
  'lebedev',
  'kozlov',
  'novikov',
  'morozov',
  'fedorov',
  'mikhailov',
  'vasiliev',
  'pavlov',
  'semenov',
  'egorov',
  'stepanov',
  'nikolaev',
  'orlov',
  'andreev',
  'makarov',
  'zakharov',
  'alekseev',
  'romanov',
  'ivanova',
  'petrova',
  'smirnova',
  'kuznetsova',
  'popova',
  'sokolova',
  'volkova',
  'morozova',
  'novikova',
  'fedorova',
  'pavlova',
  'semenova',
  'ivanovna',
  'sergeevna',
  'aleksandrovna',
  'vladimirovna',
  'nikolaevna',
  // Arabic and Persian, more
  'abdulrahman',
  'youssef',
  'yousef',
  'amir',
  'reza',
  'hossein',
  'mehdi',
  'fatemeh',
  'zahra',
  'maryam',
  'layla',
  'nour',
  'noor',
  'sara',
  'hana',
  'amina',
  'khadija',
  'zainab',
  'tariq',
  'hamza',
  'bilal',
  'sami',
  'walid',
  'adel',
  'nabil',
  'faisal',
  'saleh',
  'sultan',
  'haddad',
  'mansour',
  'khoury',
  'nasser',
  'qasim',
  'harbi',
  'amin',
  'imran',
  'asif',
  'tariq',
  'farooq',
  'raza',
  'hussaini',
  'qureshi',
  'siddiqui',
  'chaudhry',
  'butt',
  'mirza',
  'sheikh',
  'ansari',
  // Western and Latin American, more
  'elizabeth',
  'jennifer',
  'linda',
  'susan',
  'karen',
  'laura',
  'emma',
  'olivia',
  'sophie',
  'sofia',
  'camila',
  'valentina',
  'isabel',
  'ana',
  'rosa',
  'carmen',
  'lucia',
  'gabriela',
  'fernanda',
  'daniel',
  'joseph',
  'charles',
  'george',
  'edward',
  'christopher',
  'andrew',
  'anthony',
  'francisco',
  'antonio',
  'manuel',
  'pedro',
  'miguel',
  'jorge',
  'alejandro',
  'andres',
  'diego',
  'fernando',
  'ramirez',
  'torres',
  'flores',
  'rivera',
  'gomez',
  'diaz',
  'morales',
  'reyes',
  'cruz',
  'ortiz',
  'moreno',
  'jimenez',
  'ruiz',
  'alvarez',
  'romero',
  'castro',
  'vargas',
  'mendoza',
  'herrera',
  'medina',
  // Western
  'john',
  'james',
  'david',
  'michael',
  'robert',
  'william',
  'richard',
  'thomas',
  'peter',
  'paul',
  'mark',
  'mary',
  'maria',
  'anna',
  'sarah',
  'smith',
  'jones',
  'brown',
  'johnson',
  'williams',
  'miller',
  'davis',
  'wilson',
  'taylor',
  'martin',
  'garcia',
  'rodriguez',
  'lopez',
  'martinez',
  'gonzalez',
  'hernandez',
  'perez',
  'sanchez',
  'jose',
  'juan',
  'carlos',
  'luis',
  'silva',
  'santos',
  // Generic words in company names
  'trading',
  'general',
  'international',
  'group',
  'holding',
  'holdings',
  'industries',
  'industrial',
  'enterprise',
  'enterprises',
  'services',
  'import',
  'export',
  'investment',
  'investments',
  'global',
  'shipping',
  'logistics',
  'technology',
  'development',
  'construction',
  'bank',
  'foundation',
  'organization',
  'association',
  'center',
  'centre',
  'hong',
  'kong',
  'china',
  'asia',
  'pacific',
  'golden',
  'star',
  'new',
  'east',
  'west',
  'royal',
  'united',
];

const COMMON_CANONICAL = new Set(COMMON_NAME_PARTS.map((part) => canonicalToken(part)));

/** True for a canonical token that is a common name part or a generic company word (see COMMON_NAME_PARTS). */
export function isCommonNamePart(token: string): boolean {
  return COMMON_CANONICAL.has(token);
}
