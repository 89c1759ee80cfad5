/**
 * Name screening against the sanctions lists, in process: an index built once per list version
 * (`buildScreeningIndex`) and a check (`screen`) that answers `clear` or `potential_match` with the candidates.
 *
 * The index holds every listed name and alias as canonical tokens (normalize.ts), each name's adjacent tokens joined
 * (and its last with its first, for "SURNAME, Given" written "Given Surname"), every distinct token's weight (its
 * rarity across the entries, IDF, capped at COMMON_WEIGHT_CAP for name parts common among customers: normalize.ts),
 * and three ways into the vocabulary: exact, a vowel-blind key, and padded trigrams by token length.
 *
 * A check:
 *  1. Normalises the query the same way.
 *  2. Finds, for each query token, the vocabulary within a typo or two or a spelling variant (Korean romanisations,
 *     the vowel-blind key, an article written into the word, trigram candidates verified by `tokenSimilarity`), and
 *     for each pair of adjacent query tokens written as one, the vocabulary equal to it or to its vowel-blind key.
 *     Results are kept for the next checks (common name parts recur).
 *  3. Preselects the names those tokens point to whose score could still reach the threshold (see `preselect`).
 *  4. Scores each name: query and name tokens are aligned order-free (greedy, most similar first); a token may meet
 *     two adjacent tokens of the other side written as one ("Abdulrahman" / "Abdul Rahman"); an initial meets a token
 *     that starts with its letter as written ("M. Ali" / "Mohammed Ali"). Each aligned pair weighs the smaller of
 *     its two tokens' weights. With M the matched weight (each pair's weight × similarity^1.5), D the weight lost to
 *     imperfect similarity, Uq the weight of query tokens left unmatched (a legal form or honorific, or a typo of
 *     one, weighs 0.5) and Un that of the name's:
 *
 *       fit   = M / (M + D + Uq + min(0.2 Un, 0.15 M))      (entities: min(0.5 Un, 0.3 M): their words are their
 *                                                             identity; a person's missing middle names are not)
 *       gate  = min(1, E / 10)^0.5                          (E: M without initials; 6 instead of 10 when the whole
 *                                                             name matched exactly both ways)
 *       name score = 100 × fit × gate × (0.9 for a weak alias)
 *
 *     so a query word the name lacks costs its full weight, and a match made only of common parts ("Ali Khan",
 *     "Mohammed Ali") falls short of the threshold.
 *  5. An entry's score is its best name's, then date of birth (same date +10; year in the listed year or range +5,
 *     +2 when the listed exact date has another day; one year off −5; further −25: a clear mismatch takes an exact
 *     name under the threshold), nationality (listed +3; only others listed −5: weak evidence), and −25 when the
 *     query's kind (individual or entity) is not the entry's. Clamped to 0–100.
 *  6. `potential_match` when any entry scores POTENTIAL_MATCH_THRESHOLD or more; the candidates are those entries.
 */
import type { SanctionsEntry, SanctionsEntryKind, SanctionsListId } from './entry.js';
import {
  isCommonNamePart,
  joinTokens,
  koreanVariants,
  looseKey,
  normalizeNameWithInitials,
  sameKoreanName,
  type LegalFormMode,
} from './normalize.js';

export interface ScreeningQuery {
  readonly name: string;
  /** YYYY-MM-DD (a bare YYYY is taken as a year). Anything else is ignored. */
  readonly dateOfBirth?: string;
  /** ISO 3166-1 alpha-2 nationality. */
  readonly country?: string;
  readonly kind?: 'individual' | 'entity';
}

export interface ScreeningCandidate {
  readonly list: SanctionsListId;
  /** The entry's identifier as the list publishes it. */
  readonly reference: string;
  readonly kind: SanctionsEntryKind;
  /** The listed name or alias that matched, as published. */
  readonly matched_name: string;
  /** 0–100, one decimal. */
  readonly score: number;
  /**
   * Why, as codes: exact_name, alias, weak_alias, token_order, initials, joined_tokens, spelling_variant,
   * missing_name_parts, extra_query_parts, dob_exact, dob_year, dob_near_year, dob_mismatch, nationality_match,
   * nationality_mismatch, kind_mismatch.
   */
  readonly reasons: readonly string[];
}

export interface ScreeningResult {
  readonly decision: 'clear' | 'potential_match';
  /** Entries scoring at least the threshold, best first, one per entry (its best name); at most MAX_CANDIDATES. */
  readonly candidates: readonly ScreeningCandidate[];
}

/**
 * The score from which an entry is a potential match, chosen on the labelled set (labelled-screening.json) and
 * checked on sets of the same design from other seeds: 77 flagged 2–5% of ordinary names, 80 none of 800, for about
 * one point of recall.
 */
export const POTENTIAL_MATCH_THRESHOLD = 80;
export const MAX_CANDIDATES = 20;

export interface ScreeningIndexStats {
  readonly entries: number;
  readonly names: number;
  /** Distinct canonical tokens and joined token pairs. */
  readonly vocabulary: number;
  readonly buildMs: number;
}

/** Built by `buildScreeningIndex`; opaque otherwise. */
export interface ScreeningIndex {
  readonly stats: ScreeningIndexStats;
}

// Scoring constants (see the top of this file).
const SIMILARITY_POWER = 1.5;
const UNMATCHED_NAME_FACTOR = 0.2;
const UNMATCHED_NAME_CAP = 0.15;
const UNMATCHED_ENTITY_NAME_FACTOR = 0.5;
const UNMATCHED_ENTITY_NAME_CAP = 0.3;
const JOINED_FUZZY_PENALTY = 0.08;
const EVIDENCE_FULL = 10;
const EVIDENCE_WHOLE_NAME = 6;
const EVIDENCE_POWER = 0.5;
const WEAK_ALIAS_FACTOR = 0.9;
const COMMON_WEIGHT_CAP = 3;
/** A query word such as a legal form or honorific (or a typo of one) the listed name lacks. */
const IDENTITYLESS_WEIGHT = 0.5;
const MIN_TOKEN_SIMILARITY = 0.8;
const INITIAL_SIMILARITY = 0.85;
const MAX_TOKENS = 30;
const MAX_FUZZY_LENGTH = 40;
/** Query tokens whose similar vocabulary is kept between checks (common name parts recur in most checks). */
const SIMILAR_CACHE_SIZE = 4096;
const PRESELECT_MAX = 200;
/** Trigram candidates verified per query token, most trigrams shared first. */
const MAX_VERIFIED = 100;
/** Checks of listed names run at the end of a build (a few hundred ms), so the first real checks run compiled. */
const WARM_UP_CHECKS = 200;

const DOB_EXACT = 10;
const DOB_YEAR = 5;
const DOB_DAY_DIFFERS = 2;
const DOB_NEAR_YEAR = -5;
const DOB_MISMATCH = -25;
const NATIONALITY_MATCH = 3;
const NATIONALITY_MISMATCH = -5;
const KIND_MISMATCH = -25;

interface TrigramPostings {
  /** Vocabulary ids holding the trigram, shortest tokens first. */
  readonly ids: Int32Array;
  /** Where tokens of each length start in `ids`. */
  readonly starts: Uint32Array;
}

interface IndexData {
  readonly entries: readonly SanctionsEntry[];
  readonly nameEntry: Int32Array;
  readonly nameText: readonly string[];
  readonly nameWeak: Uint8Array;
  readonly namePrimary: Uint8Array;
  readonly nameTokens: readonly Int32Array[];
  /** Per name, one pair per token: token k joined with token k + 1, the last with the first (-1: none). */
  readonly namePairs: readonly Int32Array[];
  /** Per name, the first letter of each token as written. */
  readonly nameInitials: readonly string[];
  readonly vocab: ReadonlyMap<string, number>;
  readonly vocabText: readonly string[];
  readonly weight: Float64Array;
  readonly tokenPostings: readonly Int32Array[];
  readonly pairPostings: readonly Int32Array[];
  readonly trigrams: ReadonlyMap<number, TrigramPostings>;
  readonly loose: ReadonlyMap<string, Int32Array>;
  readonly unknownWeight: number;
  readonly vocabLoose: readonly string[];
  /** 1 for a single letter (an initial). */
  readonly vocabInitial: Uint8Array;
  // Scratch space for one check at a time (checks are synchronous), and the lookup cache.
  readonly gramCounts: Uint16Array;
  readonly similarCache: Map<string, ReadonlyMap<number, number>>;
  readonly nameScore: Float64Array;
  readonly nameCovered: Float64Array;
  readonly nameBest: Float64Array;
  readonly nameStamp: Int32Array;
}

const INDEXES = new WeakMap<ScreeningIndex, IndexData>();

function legalFormModeOfEntry(kind: SanctionsEntryKind): LegalFormMode {
  return kind === 'individual' ? 'keep' : 'strip';
}

function legalFormModeOfQuery(kind: ScreeningQuery['kind']): LegalFormMode {
  if (kind === 'individual') return 'keep';
  if (kind === 'entity') return 'strip';
  return 'trailing';
}

/**
 * Trigrams of the token padded with two marks on each side, as numbers (exact for ASCII; a rare collision between
 * other scripts' trigrams only adds a candidate, which is then verified).
 */
function paddedTrigrams(text: string): number[] {
  const padded = `\u0001\u0001${text}\u0002\u0002`;
  const grams: number[] = [];
  for (let k = 0; k + 2 < padded.length; k++) {
    grams.push(
      ((padded.charCodeAt(k) & 0xff) << 16) |
        ((padded.charCodeAt(k + 1) & 0xff) << 8) |
        (padded.charCodeAt(k + 2) & 0xff),
    );
  }
  return grams;
}

function toInt32Arrays(lists: readonly number[][]): Int32Array[] {
  return lists.map((list) => Int32Array.from(list));
}

/** Builds the index over the entries of one or more lists. Entries are kept by reference, not copied. */
export function buildScreeningIndex(entries: readonly SanctionsEntry[]): ScreeningIndex {
  const started = performance.now();
  const vocab = new Map<string, number>();
  const vocabText: string[] = [];
  const tokenPostingLists: number[][] = [];
  const pairPostingLists: number[][] = [];
  const entryFrequency: number[] = [];
  const lastEntrySeen: number[] = [];
  const vocabId = (text: string): number => {
    let id = vocab.get(text);
    if (id === undefined) {
      id = vocabText.length;
      vocab.set(text, id);
      vocabText.push(text);
      tokenPostingLists.push([]);
      pairPostingLists.push([]);
      entryFrequency.push(0);
      lastEntrySeen.push(-1);
    }
    return id;
  };

  const nameEntry: number[] = [];
  const nameText: string[] = [];
  const nameWeak: number[] = [];
  const namePrimary: number[] = [];
  const nameTokens: Int32Array[] = [];
  const namePairs: Int32Array[] = [];
  const nameInitials: string[] = [];

  entries.forEach((entry, entryIndex) => {
    const seen = new Set<string>();
    // Strong names first, so a name listed both ways counts as strong.
    const names = [...entry.names].sort(
      (a, b) =>
        Number(a.quality === 'weak') - Number(b.quality === 'weak') ||
        Number(a.role !== 'primary') - Number(b.role !== 'primary'),
    );
    for (const name of names) {
      // A few published aliases hold several names separated by semicolons: each is a name of its own.
      for (const part of name.name.split(';')) {
        // An individual's parenthesised text is a note ("(Oman passport no. …)"), not a name.
        const text = entry.kind === 'individual' ? part.replace(/\([^)]*\)?/g, ' ') : part;
        const normalized = normalizeNameWithInitials(text, { legalForms: legalFormModeOfEntry(entry.kind) });
        const tokens = normalized.tokens.slice(0, MAX_TOKENS);
        if (tokens.length === 0) continue;
        const key = tokens.join(' ');
        if (seen.has(key)) continue;
        seen.add(key);
        const nameId = nameText.length;
        const ids = tokens.map(vocabId);
        for (const id of new Set(ids)) {
          tokenPostingLists[id]?.push(nameId);
          if (lastEntrySeen[id] !== entryIndex) {
            lastEntrySeen[id] = entryIndex;
            entryFrequency[id] = (entryFrequency[id] ?? 0) + 1;
          }
        }
        // Adjacent tokens joined, and the last with the first (a list's "SURNAME, Given" written "Given Surname").
        const pairs: number[] = [];
        const count = tokens.length;
        for (let k = 0; count >= 2 && k < count; k++) {
          const first = tokens[k] ?? '';
          const second = tokens[(k + 1) % count] ?? '';
          if (first.length === 1 || second.length === 1) {
            pairs.push(-1);
            continue;
          }
          const pair = vocabId(joinTokens(first, second));
          pairs.push(pair);
          pairPostingLists[pair]?.push(nameId);
        }
        nameEntry.push(entryIndex);
        nameText.push(part.trim());
        nameWeak.push(name.quality === 'weak' ? 1 : 0);
        namePrimary.push(name.role === 'primary' ? 1 : 0);
        nameTokens.push(Int32Array.from(ids));
        namePairs.push(Int32Array.from(pairs));
        nameInitials.push(normalized.initials.slice(0, MAX_TOKENS).join(''));
      }
    }
  });

  const entryCount = Math.max(1, entries.length);
  const unknownWeight = Math.log(1 + entryCount);
  const weight = new Float64Array(vocabText.length);
  vocabText.forEach((text, id) => {
    const df = entryFrequency[id] ?? 0;
    let w = df > 0 ? Math.log(1 + entryCount / df) : unknownWeight;
    // Two-letter syllables ("ho", "un", "ka") are common name parts; two consonants are an acronym ("GM", "RB").
    if (isCommonNamePart(text) || (text.length <= 2 && /[aeiouy]/.test(text)))
      w = Math.min(w, COMMON_WEIGHT_CAP);
    weight[id] = w;
  });

  const gramLists = new Map<number, number[]>();
  const looseLists = new Map<string, number[]>();
  // Vocabulary in order of length, so each trigram's posting list is too (and a range of lengths is a slice).
  const byLength = vocabText
    .map((_, id) => id)
    .sort((a, b) => (vocabText[a] ?? '').length - (vocabText[b] ?? '').length);
  for (const id of byLength) {
    const text = vocabText[id] ?? '';
    if (text.length >= 3 && text.length <= MAX_FUZZY_LENGTH) {
      for (const gram of new Set(paddedTrigrams(text))) {
        let list = gramLists.get(gram);
        if (list === undefined) {
          list = [];
          gramLists.set(gram, list);
        }
        list.push(id);
      }
    }
    if (text.length >= 3) {
      const key = looseKey(text);
      let list = looseLists.get(key);
      if (list === undefined) {
        list = [];
        looseLists.set(key, list);
      }
      list.push(id);
    }
  }
  const trigrams = new Map<number, TrigramPostings>();
  for (const [gram, list] of gramLists) {
    // starts[n]: where tokens of length n begin in the list (lengths 0 to MAX_FUZZY_LENGTH + 1).
    const starts = new Uint32Array(MAX_FUZZY_LENGTH + 2);
    let at = 0;
    for (let length = 0; length <= MAX_FUZZY_LENGTH + 1; length++) {
      while (at < list.length && (vocabText[list[at] ?? 0] ?? '').length < length) at++;
      starts[length] = at;
    }
    trigrams.set(gram, { ids: Int32Array.from(list), starts });
  }
  const loose = new Map<string, Int32Array>();
  for (const [key, list] of looseLists) loose.set(key, Int32Array.from(list));

  const data: IndexData = {
    entries,
    nameEntry: Int32Array.from(nameEntry),
    nameText,
    nameWeak: Uint8Array.from(nameWeak),
    namePrimary: Uint8Array.from(namePrimary),
    nameTokens,
    namePairs,
    nameInitials,
    vocab,
    vocabText,
    weight,
    tokenPostings: toInt32Arrays(tokenPostingLists),
    pairPostings: toInt32Arrays(pairPostingLists),
    trigrams,
    loose,
    unknownWeight,
    vocabLoose: vocabText.map((text) => looseKey(text)),
    vocabInitial: Uint8Array.from(vocabText, (text) => (/^\p{L}$/u.test(text) ? 1 : 0)),
    gramCounts: new Uint16Array(vocabText.length),
    similarCache: new Map(),
    nameScore: new Float64Array(nameText.length),
    nameCovered: new Float64Array(nameText.length),
    nameBest: new Float64Array(nameText.length),
    nameStamp: new Int32Array(nameText.length).fill(-1),
  };
  // A few checks of listed names, so the first real ones meet compiled code and a warm cache of common parts.
  const step = Math.max(1, Math.floor(nameText.length / WARM_UP_CHECKS));
  for (let nameId = 0; nameId < nameText.length; nameId += step)
    screenData(data, { name: nameText[nameId] ?? '' });
  const index: ScreeningIndex = {
    stats: {
      entries: entries.length,
      names: nameText.length,
      vocabulary: vocabText.length,
      buildMs: Math.round((performance.now() - started) * 10) / 10,
    },
  };
  INDEXES.set(index, data);
  return index;
}

// ---------------------------------------------------------------------------------------------------------------
// Token similarity

let jaroFlagsA = new Uint8Array(64);
let jaroFlagsB = new Uint8Array(64);

/** Jaro–Winkler similarity (prefix scale 0.1, prefix up to 4). */
export function jaroWinkler(a: string, b: string): number {
  if (a === b) return 1;
  const la = a.length;
  const lb = b.length;
  if (la === 0 || lb === 0) return 0;
  if (jaroFlagsA.length < la) jaroFlagsA = new Uint8Array(la * 2);
  if (jaroFlagsB.length < lb) jaroFlagsB = new Uint8Array(lb * 2);
  const flagsA = jaroFlagsA;
  const flagsB = jaroFlagsB;
  flagsA.fill(0, 0, la);
  flagsB.fill(0, 0, lb);
  const range = Math.max(0, Math.floor(Math.max(la, lb) / 2) - 1);
  let matches = 0;
  for (let i = 0; i < la; i++) {
    const from = Math.max(0, i - range);
    const to = Math.min(lb - 1, i + range);
    const code = a.charCodeAt(i);
    for (let j = from; j <= to; j++) {
      if (flagsB[j] === 0 && b.charCodeAt(j) === code) {
        flagsA[i] = 1;
        flagsB[j] = 1;
        matches++;
        break;
      }
    }
  }
  if (matches === 0) return 0;
  let transpositions = 0;
  let j = 0;
  for (let i = 0; i < la; i++) {
    if (flagsA[i] === 0) continue;
    while (flagsB[j] === 0) j++;
    if (a.charCodeAt(i) !== b.charCodeAt(j)) transpositions++;
    j++;
  }
  const jaro = (matches / la + matches / lb + (matches - transpositions / 2) / matches) / 3;
  let prefix = 0;
  const maxPrefix = Math.min(4, la, lb);
  while (prefix < maxPrefix && a.charCodeAt(prefix) === b.charCodeAt(prefix)) prefix++;
  return jaro + prefix * 0.1 * (1 - jaro);
}

let distanceRows = [new Int32Array(64), new Int32Array(64), new Int32Array(64)];

/** Optimal-string-alignment (restricted Damerau–Levenshtein) distance, stopping early beyond `max`. */
export function editDistance(a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  const la = a.length;
  const lb = b.length;
  if (Math.abs(la - lb) > max) return max + 1;
  if ((distanceRows[0]?.length ?? 0) <= lb) {
    distanceRows = [new Int32Array(lb * 2 + 1), new Int32Array(lb * 2 + 1), new Int32Array(lb * 2 + 1)];
  }
  let [previous2, previous, current] = distanceRows as [Int32Array, Int32Array, Int32Array];
  for (let j = 0; j <= lb; j++) previous[j] = j;
  for (let i = 1; i <= la; i++) {
    current[0] = i;
    let rowMin = i;
    const codeA = a.charCodeAt(i - 1);
    for (let j = 1; j <= lb; j++) {
      const cost = codeA === b.charCodeAt(j - 1) ? 0 : 1;
      let value = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && codeA === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) {
        value = Math.min(value, (previous2[j - 2] ?? 0) + 1);
      }
      current[j] = value;
      if (value < rowMin) rowMin = value;
    }
    if (rowMin > max) return max + 1;
    [previous2, previous, current] = [previous, current, previous2];
  }
  return previous[lb] ?? 0;
}

function startsWithArticle(token: string): boolean {
  return token.length >= 6 && (token.startsWith('al') || token.startsWith('el'));
}

const VOWELS = 'aeiouy';

/** One vowel written for another and nothing else ("Osama" / "Usama", "Laden" / "Ladin", "Ahmed" / "Ahmad"). */
function oneVowelApart(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let differences = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a.charAt(k);
    const y = b.charAt(k);
    if (x === y) continue;
    if (++differences > 1 || !VOWELS.includes(x) || !VOWELS.includes(y)) return false;
  }
  return differences === 1;
}

/** Similarity before the article rule; `looseA`/`looseB` are the tokens' `looseKey`s. */
function plainSimilarity(a: string, looseA: string, b: string, looseB: string): number {
  if (a === b) return 1;
  if (sameKoreanName(a, b)) return 0.9;
  const shorter = Math.min(a.length, b.length);
  const longer = Math.max(a.length, b.length);
  // Jaro–Winkler favours a short token that begins a long one ("khan" / "khanfurah"): only near lengths count.
  const near = longer - shorter <= Math.max(1, Math.floor(longer / 4));
  let similarity = shorter >= 2 && near ? jaroWinkler(a, b) : 0;
  if (similarity < 0.6) return similarity;
  if (shorter <= 3) {
    // Short tokens: a Jaro–Winkler figure says little ("ali" / "alu", "fan" / "fang"); only a Korean variant, an
    // r-initial North Korean spelling or a near-identical token of the same length counts.
    similarity = similarity >= 0.9 && a.length === b.length ? similarity : 0;
  } else if (near && similarity >= 0.75) {
    // Jaro–Winkler rewards a shared beginning or ending generously ("Novikov" / "Novichkov" 0.96, "Nikolaevich" /
    // "Igorevich" 0.8): the edit distance bounds it. One edit is a typo (at least 0.82–0.92 by length), two cap it
    // at 0.87 (0.92 from eight letters), three or more at 0.82.
    const distance = editDistance(a, b, 3);
    if (distance === 1) similarity = Math.max(similarity, shorter >= 6 ? 0.92 : shorter === 5 ? 0.86 : 0.82);
    else if (distance === 2)
      similarity = shorter >= 8 ? Math.max(Math.min(similarity, 0.92), 0.85) : Math.min(similarity, 0.87);
    else similarity = Math.min(similarity * 0.95, 0.82);
    if (shorter >= 5 && longer - shorter <= 2 && looseA === looseB) similarity = Math.max(similarity, 0.88);
    // The commonest romanisation difference of all, and rarely one between two different names.
    if (distance === 1 && oneVowelApart(a, b)) similarity = Math.max(similarity, 0.94);
  }
  if (longer <= 6 && (a === `r${b}` || b === `r${a}`) && (a.startsWith('ry') || b.startsWith('ry'))) {
    similarity = Math.max(similarity, 0.88);
  }
  return similarity;
}

function similarityOfKeyed(a: string, looseA: string, b: string, looseB: string): number {
  let similarity = plainSimilarity(a, looseA, b, looseB);
  const articleA = startsWithArticle(a);
  if (similarity < 1 && articleA !== startsWithArticle(b)) {
    // "Alzawahiri" / "Zawahiri": an article written into the word.
    const stripped = articleA
      ? plainSimilarity(a.slice(2), looseKey(a.slice(2)), b, looseB)
      : plainSimilarity(a, looseA, b.slice(2), looseKey(b.slice(2)));
    similarity = Math.max(similarity, 0.95 * stripped);
  }
  return similarity >= MIN_TOKEN_SIMILARITY ? similarity : 0;
}

/** Similarity of two canonical tokens in [0, 1]; 0 below MIN_TOKEN_SIMILARITY. */
export function tokenSimilarity(a: string, b: string): number {
  return similarityOfKeyed(a, looseKey(a), b, looseKey(b));
}

/**
 * Vocabulary entries similar to `text`: vocabulary id → similarity, from a cache of recent lookups. Without
 * `trigramSearch`, only the exact, Korean, article and vowel-blind ways are tried (joined pairs).
 */
function similarVocabulary(data: IndexData, text: string, trigramSearch = true): ReadonlyMap<number, number> {
  const key = trigramSearch ? text : `\u0000${text}`;
  const cached = data.similarCache.get(key);
  if (cached !== undefined) {
    // Most recently used last: the oldest is dropped first.
    data.similarCache.delete(key);
    data.similarCache.set(key, cached);
    return cached;
  }
  const hits = findSimilarVocabulary(data, text, trigramSearch);
  data.similarCache.set(key, hits);
  if (data.similarCache.size > SIMILAR_CACHE_SIZE) {
    const oldest = data.similarCache.keys().next();
    if (oldest.done !== true) data.similarCache.delete(oldest.value);
  }
  return hits;
}

/**
 * The lookup itself. Trigram candidates are read from the posting lists of the query's trigrams, only for tokens of
 * near length (a slice of each list, which is ordered by length), counted, and verified when they share enough.
 */
function findSimilarVocabulary(data: IndexData, text: string, trigramSearch: boolean): Map<number, number> {
  const hits = new Map<number, number>();
  const exact = data.vocab.get(text);
  if (exact !== undefined) hits.set(exact, 1);
  if (text.length > MAX_FUZZY_LENGTH || text.length < 2) return hits;
  const loose = looseKey(text);
  const consider = (id: number, similarity?: number): void => {
    if (hits.has(id)) return;
    const value =
      similarity ?? similarityOfKeyed(text, loose, data.vocabText[id] ?? '', data.vocabLoose[id] ?? '');
    if (value > 0) hits.set(id, value);
  };
  for (const variant of koreanVariants(text)) {
    const id = data.vocab.get(variant);
    if (id !== undefined) consider(id, 0.9);
  }
  if (startsWithArticle(text)) {
    const id = data.vocab.get(text.slice(2));
    if (id !== undefined) consider(id);
  }
  if (text.length <= 6 && /^[a-z]+$/.test(text)) {
    const id = data.vocab.get(text.startsWith('r') ? text.slice(1) : `r${text}`);
    if (id !== undefined) consider(id);
  }
  if (text.length < 4) return hits;
  const looseIds = data.loose.get(loose);
  if (looseIds !== undefined)
    for (let k = 0; k < looseIds.length && k < 2000; k++) consider(looseIds[k] ?? 0);
  if (!trigramSearch) return hits;

  const grams = [...new Set(paddedTrigrams(text))];
  const length = text.length;
  const lowest = Math.max(3, length - Math.max(1, Math.floor(length / 4)));
  const highest = Math.min(MAX_FUZZY_LENGTH, length + Math.max(1, Math.floor(length / 3)));
  const counts = data.gramCounts;
  const touched: number[] = [];
  for (const gram of grams) {
    const postings = data.trigrams.get(gram);
    if (postings === undefined) continue;
    const ids = postings.ids;
    const end = postings.starts[highest + 1] ?? ids.length;
    for (let k = postings.starts[lowest] ?? 0; k < end; k++) {
      const id = ids[k] ?? 0;
      const count = counts[id] ?? 0;
      if (count === 0) touched.push(id);
      counts[id] = count + 1;
    }
  }
  // An edit changes at most four padded trigrams (a transposition four, a substitution three): a token within one
  // edit shares all but 4 of the query's trigrams, within two (from 6 letters, where two can still score 0.8) all
  // but 5 or, from 8 letters, 8.
  const needed = Math.max(2, grams.length - (length <= 5 ? 4 : length <= 7 ? 5 : 8));
  // Verified most shared first, at most MAX_VERIFIED: a common beginning ("abd…", "muham…") can bring thousands of
  // tokens sharing two or three trigrams, of which the best are the only ones that can score.
  const byShared: number[][] = [];
  for (const id of touched) {
    const shared = counts[id] ?? 0;
    counts[id] = 0;
    if (shared < needed) continue;
    let bucket = byShared[shared];
    if (bucket === undefined) {
      bucket = [];
      byShared[shared] = bucket;
    }
    bucket.push(id);
  }
  let verified = 0;
  for (let shared = byShared.length - 1; shared >= needed && verified < MAX_VERIFIED; shared--) {
    for (const id of byShared[shared] ?? []) {
      if (verified++ >= MAX_VERIFIED) break;
      consider(id);
    }
  }
  return hits;
}

// ---------------------------------------------------------------------------------------------------------------
// The check

interface QueryUnit {
  readonly tokens: readonly string[];
  /** Per token, its first letter as written. */
  readonly initials: readonly string[];
  /** Per token, whether it is a single letter (an initial). */
  readonly initial: readonly boolean[];
  readonly weights: readonly number[];
  /** Per query token: similar vocabulary. */
  readonly hits: readonly ReadonlyMap<number, number>[];
  /** Per pair of adjacent query tokens written as one. */
  readonly pairHits: readonly ReadonlyMap<number, number>[];
}

interface Edge {
  readonly queryMask: number;
  readonly nameMask: number;
  readonly similarity: number;
  readonly weight: number;
  readonly initial: boolean;
  readonly joined: boolean;
  readonly queryIndex: number;
  readonly nameIndex: number;
}

interface NameScore {
  readonly score: number;
  readonly reasons: string[];
}

function queryWeight(data: IndexData, token: string, hits: ReadonlyMap<number, number>): number {
  const exact = data.vocab.get(token);
  if (exact !== undefined) return data.weight[exact] ?? data.unknownWeight;
  if (token.length === 1) return 1;
  // A token the lists do not have: its best near spelling's weight (a typo of a listed word), else the most.
  let best = -1;
  let bestWeight = isCommonNamePart(token) ? COMMON_WEIGHT_CAP : data.unknownWeight;
  for (const [id, similarity] of hits) {
    if (similarity > best) {
      best = similarity;
      bestWeight = data.weight[id] ?? bestWeight;
    }
  }
  return bestWeight;
}

function scoreName(data: IndexData, query: QueryUnit, nameId: number): NameScore {
  const tokens = data.nameTokens[nameId] ?? new Int32Array();
  const pairs = data.namePairs[nameId] ?? new Int32Array();
  const nameInitials = data.nameInitials[nameId] ?? '';
  const count = tokens.length;
  const edges: Edge[] = [];
  const queryCount = query.tokens.length;
  const nameWeight = (j: number): number => data.weight[tokens[j] ?? 0] ?? 0;
  const add = (
    queryMask: number,
    nameMask: number,
    similarity: number,
    weight: number,
    kind: 'token' | 'initial' | 'joined',
    queryIndex: number,
    nameIndex: number,
  ): void => {
    // A joined spelling that is also misspelt is weaker evidence than either alone ("Ali Khan" / "Alikhani").
    const adjusted = kind === 'joined' && similarity < 1 ? similarity - JOINED_FUZZY_PENALTY : similarity;
    if (adjusted < MIN_TOKEN_SIMILARITY && kind !== 'initial') return;
    edges.push({
      queryMask,
      nameMask,
      similarity: adjusted,
      weight,
      initial: kind === 'initial',
      joined: kind === 'joined',
      queryIndex,
      nameIndex,
    });
  };
  for (let i = 0; i < queryCount; i++) {
    const hits = query.hits[i];
    const queryIsInitial = query.initial[i] === true;
    const queryInitial = query.initials[i] ?? '';
    const queryWeight = query.weights[i] ?? 0;
    for (let j = 0; j < count; j++) {
      const id = tokens[j] ?? 0;
      const similarity = hits?.get(id);
      if (similarity !== undefined) {
        add(1 << i, 1 << j, similarity, Math.min(queryWeight, nameWeight(j)), 'token', i, j);
        continue;
      }
      const nameIsInitial = data.vocabInitial[id] === 1;
      if (!queryIsInitial && !nameIsInitial) continue;
      // An initial meets a name that starts with its letter as written, and the same initial.
      if (queryInitial !== nameInitials.charAt(j) || /\p{N}/u.test(queryInitial)) continue;
      add(
        1 << i,
        1 << j,
        queryIsInitial && nameIsInitial ? 1 : INITIAL_SIMILARITY,
        nameWeight(j),
        'initial',
        i,
        j,
      );
    }
    for (let j = 0; j < pairs.length; j++) {
      const similarity = hits?.get(pairs[j] ?? -1);
      if (similarity === undefined) continue;
      const next = (j + 1) % count;
      const weight = Math.min(queryWeight, nameWeight(j) + nameWeight(next));
      add(1 << i, (1 << j) | (1 << next), similarity, weight, 'joined', i, j);
    }
  }
  for (let i = 0; i + 1 < queryCount; i++) {
    const hits = query.pairHits[i];
    if (hits === undefined || hits.size === 0) continue;
    const pairWeight = (query.weights[i] ?? 0) + (query.weights[i + 1] ?? 0);
    for (let j = 0; j < count; j++) {
      const similarity = hits.get(tokens[j] ?? -1);
      if (similarity === undefined) continue;
      add(3 << i, 1 << j, similarity, Math.min(pairWeight, nameWeight(j)), 'joined', i, j);
    }
  }
  edges.sort((a, b) => b.similarity - a.similarity || b.weight - a.weight);

  let queryUsed = 0;
  let nameUsed = 0;
  let matched = 0;
  let lost = 0;
  let evidence = 0;
  let initials = false;
  let joined = false;
  let variant = false;
  const chosen: Edge[] = [];
  for (const edge of edges) {
    if ((queryUsed & edge.queryMask) !== 0 || (nameUsed & edge.nameMask) !== 0) continue;
    queryUsed |= edge.queryMask;
    nameUsed |= edge.nameMask;
    const credit = edge.similarity ** SIMILARITY_POWER;
    matched += credit * edge.weight;
    lost += (1 - credit) * edge.weight;
    if (edge.initial) initials = true;
    else evidence += credit * edge.weight;
    if (edge.joined) joined = true;
    if (edge.similarity < 1 && !edge.initial) variant = true;
    chosen.push(edge);
  }
  if (chosen.length === 0) return { score: 0, reasons: [] };
  let unmatchedQuery = 0;
  for (let i = 0; i < queryCount; i++)
    if ((queryUsed & (1 << i)) === 0) unmatchedQuery += query.weights[i] ?? 0;
  let unmatchedName = 0;
  for (let j = 0; j < tokens.length; j++) {
    if ((nameUsed & (1 << j)) === 0) unmatchedName += data.weight[tokens[j] ?? 0] ?? 0;
  }
  // An entity's name parts are its identity; an individual's missing middle names are ordinary.
  const entity = data.entries[data.nameEntry[nameId] ?? 0]?.kind !== 'individual';
  const missing = entity
    ? Math.min(UNMATCHED_ENTITY_NAME_FACTOR * unmatchedName, UNMATCHED_ENTITY_NAME_CAP * matched)
    : Math.min(UNMATCHED_NAME_FACTOR * unmatchedName, UNMATCHED_NAME_CAP * matched);
  const fit = matched / (matched + lost + unmatchedQuery + missing);
  // A name matched whole and exactly, both ways, needs less evidence than a part of one: "RB Holding" is that
  // entity's name.
  const weak = data.nameWeak[nameId] === 1;
  // Not for a weak alias: those are too loose to be a name on their own ("Abu Fatima").
  const whole =
    !weak &&
    unmatchedQuery === 0 &&
    unmatchedName === 0 &&
    chosen.length >= 2 &&
    chosen.every((edge) => edge.similarity === 1 && !edge.initial);
  const gate = Math.min(1, evidence / (whole ? EVIDENCE_WHOLE_NAME : EVIDENCE_FULL)) ** EVIDENCE_POWER;
  const score = 100 * fit * gate * (weak ? WEAK_ALIAS_FACTOR : 1);

  const reasons: string[] = [];
  if (!initials && !joined && !variant && unmatchedQuery === 0 && unmatchedName === 0)
    reasons.push('exact_name');
  if (data.namePrimary[nameId] !== 1) reasons.push(weak ? 'weak_alias' : 'alias');
  const inOrder = [...chosen].sort((a, b) => a.queryIndex - b.queryIndex);
  for (let k = 1; k < inOrder.length; k++) {
    if ((inOrder[k]?.nameIndex ?? 0) < (inOrder[k - 1]?.nameIndex ?? 0)) {
      reasons.push('token_order');
      break;
    }
  }
  if (initials) reasons.push('initials');
  if (joined) reasons.push('joined_tokens');
  if (variant) reasons.push('spelling_variant');
  if (unmatchedName > 0) reasons.push('missing_name_parts');
  if (unmatchedQuery > 0) reasons.push('extra_query_parts');
  return { score, reasons };
}

interface QueryDate {
  readonly year: number;
  readonly month?: number;
  readonly day?: number;
}

function parseQueryDate(text: string | undefined): QueryDate | undefined {
  if (typeof text !== 'string') return undefined;
  const full = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (full !== null) {
    const year = Number(full[1]);
    const month = Number(full[2]);
    const day = Number(full[3]);
    if (month < 1 || month > 12 || day < 1 || day > 31) return undefined;
    return { year, month, day };
  }
  const yearOnly = /^(\d{4})$/.exec(text.trim());
  return yearOnly === null ? undefined : { year: Number(yearOnly[1]) };
}

function birthDateAdjustment(
  entry: SanctionsEntry,
  date: QueryDate | undefined,
): { points: number; reason?: string } {
  if (date === undefined || entry.birthDates.length === 0) return { points: 0 };
  let best: { points: number; reason: string } | undefined;
  for (const listed of entry.birthDates) {
    let candidate: { points: number; reason: string };
    if (date.year >= listed.fromYear && date.year <= listed.toYear) {
      if (listed.month !== undefined && listed.day !== undefined && date.month !== undefined) {
        candidate =
          listed.month === date.month && listed.day === date.day
            ? { points: DOB_EXACT, reason: 'dob_exact' }
            : { points: DOB_DAY_DIFFERS, reason: 'dob_year' };
      } else {
        candidate = { points: DOB_YEAR, reason: 'dob_year' };
      }
    } else {
      const distance = date.year < listed.fromYear ? listed.fromYear - date.year : date.year - listed.toYear;
      candidate =
        distance <= 1
          ? { points: DOB_NEAR_YEAR, reason: 'dob_near_year' }
          : { points: DOB_MISMATCH, reason: 'dob_mismatch' };
    }
    if (best === undefined || candidate.points > best.points) best = candidate;
  }
  return best ?? { points: 0 };
}

function nationalityAdjustment(
  entry: SanctionsEntry,
  country: string | undefined,
): { points: number; reason?: string } {
  if (
    typeof country !== 'string' ||
    !/^[A-Za-z]{2}$/.test(country.trim()) ||
    entry.nationalities.length === 0
  ) {
    return { points: 0 };
  }
  const code = country.trim().toUpperCase();
  return entry.nationalities.includes(code)
    ? { points: NATIONALITY_MATCH, reason: 'nationality_match' }
    : { points: NATIONALITY_MISMATCH, reason: 'nationality_mismatch' };
}

function kindAdjustment(
  entry: SanctionsEntry,
  kind: ScreeningQuery['kind'],
): { points: number; reason?: string } {
  if (kind === undefined) return { points: 0 };
  const matches = kind === 'individual' ? entry.kind === 'individual' : entry.kind !== 'individual';
  return matches ? { points: 0 } : { points: KIND_MISMATCH, reason: 'kind_mismatch' };
}

const NO_HITS: ReadonlyMap<number, number> = new Map();

function prepareQuery(data: IndexData, name: string, kind: ScreeningQuery['kind']): QueryUnit {
  const normalized = normalizeNameWithInitials(name, { legalForms: legalFormModeOfQuery(kind) });
  const tokens = normalized.tokens.slice(0, MAX_TOKENS);
  const initials = normalized.initials.slice(0, MAX_TOKENS);
  // A single letter is an initial, compared in scoring; a single digit is a token like any other.
  const hits = tokens.map((token) => (/^\p{L}$/u.test(token) ? NO_HITS : similarVocabulary(data, token)));
  const pairHits: ReadonlyMap<number, number>[] = [];
  for (let i = 0; i + 1 < tokens.length; i++) {
    const first = tokens[i] ?? '';
    const second = tokens[i + 1] ?? '';
    // An initial is not half of a joined word ("M. Ali" is not "Mali").
    // Joined pairs are looked up exactly and by their vowel-blind key, not through trigrams: pairs of common name
    // parts ("Muhammad Khan") would otherwise bring in thousands of near joined spellings for little.
    pairHits.push(
      first.length > 1 && second.length > 1
        ? similarVocabulary(data, joinTokens(first, second), false)
        : NO_HITS,
    );
  }
  const weights = tokens.map((token, i) =>
    normalized.identityless[i] === true ? IDENTITYLESS_WEIGHT : queryWeight(data, token, hits[i] ?? NO_HITS),
  );
  const initial = tokens.map((token) => /^\p{L}$/u.test(token));
  return { tokens, initials, initial, weights, hits, pairHits };
}

/**
 * Names worth scoring in full. Each query token (and pair of adjacent tokens) credits the names holding a similar
 * token with similarity × weight (once per name), and records the query weight it could cover. A name's score is
 * at most 100 × credit / (credit + the query weight it cannot cover), which bounds what `scoreName` can give it
 * (credit is at least its matched weight M, and what no token of it met is at least unmatched): names whose bound,
 * with the most date of birth and nationality can add, stays under the threshold are not scored. Of the rest, the
 * PRESELECT_MAX with the most credit are.
 */
function preselect(data: IndexData, query: QueryUnit): number[] {
  const scores = data.nameScore;
  const covered = data.nameCovered;
  const stamps = data.nameStamp;
  const touched: number[] = [];
  const best = data.nameBest;
  const credit = (nameId: number, amount: number, weight: number, unit: number): void => {
    // A name's credit from a query unit is its best similar token's (-1 marks a name not yet touched).
    const stamp = stamps[nameId] ?? -1;
    if (stamp === -1) {
      touched.push(nameId);
      scores[nameId] = 0;
      covered[nameId] = 0;
    } else if (stamp === unit) {
      const previous = best[nameId] ?? 0;
      if (amount > previous) {
        scores[nameId] = (scores[nameId] ?? 0) + amount - previous;
        best[nameId] = amount;
      }
      return;
    }
    stamps[nameId] = unit;
    best[nameId] = amount;
    scores[nameId] = (scores[nameId] ?? 0) + amount;
    covered[nameId] = (covered[nameId] ?? 0) + weight;
  };
  const visit = (hits: ReadonlyMap<number, number>, weight: number, unit: number): void => {
    for (const [id, similarity] of hits) {
      const amount = similarity * Math.min(weight, data.weight[id] ?? weight);
      const tokenNames = data.tokenPostings[id];
      if (tokenNames !== undefined) {
        for (let k = 0; k < tokenNames.length; k++) credit(tokenNames[k] ?? 0, amount, weight, unit);
      }
      const pairNames = data.pairPostings[id];
      if (pairNames !== undefined) {
        for (let k = 0; k < pairNames.length; k++)
          credit(pairNames[k] ?? 0, similarity * weight, weight, unit);
      }
    }
  };
  const count = query.tokens.length;
  for (let i = 0; i < count; i++) visit(query.hits[i] ?? NO_HITS, query.weights[i] ?? 0, i);
  for (let i = 0; i < query.pairHits.length; i++) {
    visit(query.pairHits[i] ?? NO_HITS, (query.weights[i] ?? 0) + (query.weights[i + 1] ?? 0), count + i);
  }
  // Initials find no names of their own (and may still be matched): they count on neither side of the bound.
  let findable = 0;
  for (let i = 0; i < count; i++) if (!query.initial[i]) findable += query.weights[i] ?? 0;
  const reachable = POTENTIAL_MATCH_THRESHOLD - DOB_EXACT - NATIONALITY_MATCH;
  let selected: number[] = [];
  for (const nameId of touched) {
    const amount = scores[nameId] ?? 0;
    const uncovered = Math.max(0, findable - (covered[nameId] ?? 0));
    if ((100 * amount) / (amount + uncovered) >= reachable) selected.push(nameId);
    stamps[nameId] = -1;
  }
  if (selected.length > PRESELECT_MAX) {
    selected.sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0));
    selected = selected.slice(0, PRESELECT_MAX);
  }
  return selected;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** An entry's candidate from its best name's score: date of birth, nationality and kind applied. */
function entryCandidate(
  data: IndexData,
  entryIndex: number,
  nameId: number,
  scored: NameScore,
  query: ScreeningQuery,
  date: QueryDate | undefined,
): ScreeningCandidate | undefined {
  const entry = data.entries[entryIndex];
  if (entry === undefined) return undefined;
  const reasons = [...scored.reasons];
  let score = scored.score;
  for (const adjustment of [
    birthDateAdjustment(entry, date),
    nationalityAdjustment(entry, query.country),
    kindAdjustment(entry, query.kind),
  ]) {
    score += adjustment.points;
    if (adjustment.reason !== undefined) reasons.push(adjustment.reason);
  }
  return {
    list: entry.list,
    reference: entry.reference,
    kind: entry.kind,
    matched_name: data.nameText[nameId] ?? '',
    score: round1(Math.max(0, Math.min(100, score))),
    reasons,
  };
}

/**
 * How one listed entry scores against a query, whatever the score (a check reports only entries at or over the
 * threshold): for a reviewer asking why an entry was not a candidate. Undefined when the index has no such entry or
 * none of its names shares anything with the query.
 */
export function explainEntry(
  index: ScreeningIndex,
  query: ScreeningQuery,
  list: SanctionsListId,
  reference: string,
): ScreeningCandidate | undefined {
  const data = INDEXES.get(index);
  if (data === undefined) throw new Error('explainEntry: not an index built by buildScreeningIndex');
  const entryIndex = data.entries.findIndex((entry) => entry.list === list && entry.reference === reference);
  if (entryIndex < 0) return undefined;
  const prepared = prepareQuery(data, typeof query.name === 'string' ? query.name : '', query.kind);
  let best: { nameId: number; name: NameScore } | undefined;
  for (let nameId = 0; nameId < data.nameText.length; nameId++) {
    if (data.nameEntry[nameId] !== entryIndex) continue;
    const scored = scoreName(data, prepared, nameId);
    if (best === undefined || scored.score > best.name.score) best = { nameId, name: scored };
  }
  if (best === undefined || best.name.score <= 0) return undefined;
  return entryCandidate(data, entryIndex, best.nameId, best.name, query, parseQueryDate(query.dateOfBirth));
}

/** Screens one name. Never throws on any query text; an index not built by `buildScreeningIndex` is an error. */
export function screen(index: ScreeningIndex, query: ScreeningQuery): ScreeningResult {
  const data = INDEXES.get(index);
  if (data === undefined) throw new Error('screen: not an index built by buildScreeningIndex');
  return screenData(data, query);
}

function screenData(data: IndexData, query: ScreeningQuery): ScreeningResult {
  const name = typeof query.name === 'string' ? query.name : '';
  const prepared = prepareQuery(data, name, query.kind);
  if (prepared.tokens.length === 0) return { decision: 'clear', candidates: [] };

  const best = new Map<number, { nameId: number; name: NameScore }>();
  for (const nameId of preselect(data, prepared)) {
    const scored = scoreName(data, prepared, nameId);
    if (scored.score <= 0) continue;
    const entryIndex = data.nameEntry[nameId] ?? 0;
    const kept = best.get(entryIndex);
    if (kept === undefined || scored.score > kept.name.score) best.set(entryIndex, { nameId, name: scored });
  }

  const date = parseQueryDate(query.dateOfBirth);
  const candidates: ScreeningCandidate[] = [];
  for (const [entryIndex, { nameId, name: scored }] of best) {
    // Adjustments can only move a near name into the band; a name far below it stays out whatever they say.
    if (scored.score + DOB_EXACT + NATIONALITY_MATCH < POTENTIAL_MATCH_THRESHOLD) continue;
    const candidate = entryCandidate(data, entryIndex, nameId, scored, query, date);
    if (candidate !== undefined && candidate.score >= POTENTIAL_MATCH_THRESHOLD) candidates.push(candidate);
  }
  candidates.sort(
    (a, b) => b.score - a.score || a.list.localeCompare(b.list) || a.reference.localeCompare(b.reference),
  );
  const kept = candidates.slice(0, MAX_CANDIDATES);
  return { decision: kept.length > 0 ? 'potential_match' : 'clear', candidates: kept };
}

// ---------------------------------------------------------------------------------------------------------------
// The labelled set (labelled-screening.json) and its measure

export interface LabelledScreeningQuery {
  readonly id: string;
  readonly query: ScreeningQuery;
  readonly expected:
    | { readonly decision: 'potential_match'; readonly list: SanctionsListId; readonly reference: string }
    | { readonly decision: 'clear' };
  /** For a positive, the listed name it was made from. */
  readonly listed_name?: string;
  /** How the query was made: the alterations applied to a listed name, or the kind of ordinary name. */
  readonly alterations: readonly string[];
}

export interface LabelledScreeningSet {
  readonly description: string;
  readonly sources: readonly string[];
  readonly seed: number;
  readonly queries: readonly LabelledScreeningQuery[];
}

export interface LabelledEvaluation {
  readonly positives: number;
  readonly negatives: number;
  /** Share of positives answered potential_match with the expected entry among the candidates. */
  readonly recall: number;
  /** Share of negatives not answered clear. */
  readonly falsePositiveRate: number;
  /** Ids of the positives missed and of the negatives not clear. */
  readonly missed: readonly string[];
  readonly falsePositives: readonly string[];
  /** Wall-clock milliseconds of each check, in the set's order. */
  readonly latenciesMs: readonly number[];
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function percentile(sorted: readonly number[], share: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] ?? 0;
}

/** Screens every query of the set once and measures recall, false-positive rate and latency. */
export function evaluateLabelledSet(index: ScreeningIndex, set: LabelledScreeningSet): LabelledEvaluation {
  let positives = 0;
  let found = 0;
  let negatives = 0;
  let flagged = 0;
  const missed: string[] = [];
  const falsePositives: string[] = [];
  const latenciesMs: number[] = [];
  for (const labelled of set.queries) {
    const started = performance.now();
    const result = screen(index, labelled.query);
    latenciesMs.push(performance.now() - started);
    const expected = labelled.expected;
    if (expected.decision === 'potential_match') {
      positives += 1;
      const hit =
        result.decision === 'potential_match' &&
        result.candidates.some((c) => c.list === expected.list && c.reference === expected.reference);
      if (hit) found += 1;
      else missed.push(labelled.id);
    } else {
      negatives += 1;
      if (result.decision !== 'clear') {
        flagged += 1;
        falsePositives.push(labelled.id);
      }
    }
  }
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    positives,
    negatives,
    recall: positives === 0 ? 1 : found / positives,
    falsePositiveRate: negatives === 0 ? 0 : flagged / negatives,
    missed,
    falsePositives,
    latenciesMs,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}
