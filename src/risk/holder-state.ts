import { WINDOW_MS, type FeatureMeasure, type FeatureWindow } from './features.js';
import { MINUTES_SINCE_LAST_CAP, isCardPresent, type EntryMode } from './feature-tracker.js';
import { isImpossibleTravel } from './travel.js';

/**
 * One cardholder's risk memory: a compact state of their recent authorizations (all of their cards), from which
 * the card- and cardholder-scoped features (`HolderFeatures`: every `card_*` and `cardholder_*` count, amount and
 * declines over 1m, 1h, 24h and 7d, `amount_ratio` and the card's history) are computed as the reference tracker
 * (feature-tracker.ts) computes them, within the caps below, in one pass over the events. Production keeps it as one `bytea` per cardholder, read under the cardholder's
 * lock and rewritten in the decision's transaction: decode, `holderFeatures`, `recordHolderAuthorization`, encode.
 *
 * Definitions are the tracker's (read its header): a window of length W at time t holds the recorded
 * authorizations at times s with t - W < s (an authorization is recorded after its features are taken, so it never
 * counts itself, and of two in the same millisecond the first counts for the second); amounts sum the asked
 * amounts of approved authorizations; declines count declined ones; `amount_ratio` is over the cardholder's
 * average approved amount in 7 days (1 when none); `first_time_merchant`, `country_changed` and
 * `impossible_travel` use the card's history, approved or declined; `minutes_since_last` is capped at a week.
 *
 * Time order. Unlike the tracker, times here come from the clocks of several processes and can arrive slightly
 * out of order; nothing throws on that. The order authorizations are recorded in (the order of the decisions under
 * the cardholder's lock) is the order of the history: "the card's previous authorization" is the card's last one
 * recorded. A recorded time later than the authorization being decided counts as if at that authorization's time:
 * it is in every window. `minutes_since_last` is never negative (0 then), and the elapsed time `impossible_travel`
 * is judged on is at least 0 (which does not change the answer: any other country takes longer than that).
 * Times are whole milliseconds; a fraction is dropped when recorded.
 *
 * Caps, which bound the row a decision rewrites:
 * - Events: each record drops the events at or before `auth.time` - 7 days (in time order `auth.time` is the
 *   newest recorded time, and nothing that old can count in a window of a later authorization), and the events more
 *   than 7 days after `auth.time`, which only a broken clock writes (kept, such an event would count in every window
 *   for as long as it stayed ahead). So the kept times span less than 14 days, which their u32 offsets need. A time
 *   far ahead cannot be told from a long quiet spell: recording it drops everything before it, and the next record
 *   at a sane time drops it in turn. At most 512 events are kept, the most recently recorded: beyond, the earliest
 *   recorded go first, and the counts of a cardholder that busy are short of what the tracker gives.
 * - Cards: the memory of at most 16 cards (id, last time and country, last card-present time and country,
 *   merchants seen). A 17th card makes the least recently used one (the earliest last recorded time, then the
 *   lowest slot) be forgotten: its events stay and count for the cardholder, marked as of an unknown card, and if it
 *   comes back it starts afresh (no card counts, a week since last, every merchant new, no previous country).
 * - Merchants: per card, the 64 most recently used merchants, as 32-bit FNV-1a hashes of the merchant id's UTF-8
 *   bytes (`fnv1a32`). A merchant beyond those looks new again. A new merchant whose hash equals one of the card's
 *   (at most 64 in 2^32, 1.5e-8 per authorization) looks seen: a missed `first_time_merchant`, nothing worse.
 * - Strings: a card id is at most 65,535 UTF-8 bytes, a country at most 255; recording longer throws.
 *
 * Layout, version 1, little-endian (the first byte is the version; any other version, or bytes that do not parse
 * exactly, decode to an empty state marked `discarded`):
 *   u8 version = 1 | f64 base time (epoch ms; the earliest event's, 0 with none) | u16 event count | u8 card count
 *   per card, in slot order: u16 id length | id UTF-8 | f64 last time | u8 country length | country UTF-8 |
 *     u8 flags (bit 0: has a card-present authorization) | when set: f64 last card-present time | u8 length |
 *     country UTF-8 | u8 merchant count | u32 merchant hash per merchant, most recently used first
 *   per event, in the order recorded: u32 ms after the base | f64 amount asked | u8 flags (bit 0: declined) |
 *     u8 card slot (255: a forgotten card)
 * 12 bytes of header, 14 per event, and per card 57 + 4 per merchant (a 31-character card id like `card_` and a
 * ULID, two-letter countries). At the caps with such ids, 12 + 16 x 313 + 512 x 14 = 12,188 bytes; one card with 30
 * events and 10 merchants, 529.
 */

export const HOLDER_STATE_VERSION = 1;
export const MAX_HOLDER_EVENTS = 512;
export const MAX_HOLDER_CARDS = 16;
export const MAX_CARD_MERCHANTS = 64;
const MAX_CARD_ID_BYTES = 0xffff;
const MAX_COUNTRY_BYTES = 0xff;
/** The card slot of an event whose card was forgotten. */
const UNKNOWN_CARD = 0xff;
const EVENT_DECLINED = 1;
const CARD_HAS_PRESENT = 1;
const HEADER_BYTES = 12;
const EVENT_BYTES = 14;

const MINUTE_MS = WINDOW_MS['1m'];
const HOUR_MS = WINDOW_MS['1h'];
const DAY_MS = WINDOW_MS['24h'];
const WEEK_MS = WINDOW_MS['7d'];

export interface HolderAuthorization {
  /** Epoch milliseconds, UTC. */
  readonly time: number;
  readonly cardId: string;
  /** The merchant key: the acceptor id, or name|country. */
  readonly merchantId: string;
  /** ISO 3166-1 alpha-2, '' when unknown. */
  readonly merchantCountry: string;
  readonly entryMode: EntryMode;
  /** Card currency minor units: what was asked. */
  readonly amount: number;
  readonly approved: boolean;
}

/** The scopes a cardholder's state answers for: the card's own and the cardholder's (all of their cards). */
export type HolderScope = 'card' | 'cardholder';

/** The grid features (features.ts) of the card and cardholder scopes: count, amount and declines over every window. */
export type HolderWindowedFeatureName = `${HolderScope}_${FeatureMeasure}_${FeatureWindow}`;

/** The card- and cardholder-scoped features, named and valued as the catalogue (features.ts) and tracker give them. */
export interface HolderFeatures extends Readonly<Record<HolderWindowedFeatureName, number>> {
  readonly amount_ratio: number;
  readonly minutes_since_last: number;
  readonly first_time_merchant: boolean;
  readonly country_changed: boolean;
  readonly impossible_travel: boolean;
}

/** Why stored bytes were thrown away: a version this code does not know, or bytes that do not parse. */
export type HolderStateDiscard = 'unknown_version' | 'malformed';

/** 32-bit FNV-1a of a string's UTF-8 bytes (lone surrogates as U+FFFD, as UTF-8 encoders write them). */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  const length = text.length;
  for (let i = 0; i < length; i += 1) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, 0x01000193);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i += 1;
      } else {
        code = 0xfffd;
      }
    }
    if (code < 0x800) {
      hash = Math.imul(hash ^ (0xc0 | (code >> 6)), 0x01000193);
    } else if (code < 0x10000) {
      hash = Math.imul(hash ^ (0xe0 | (code >> 12)), 0x01000193);
      hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), 0x01000193);
    } else {
      hash = Math.imul(hash ^ (0xf0 | (code >> 18)), 0x01000193);
      hash = Math.imul(hash ^ (0x80 | ((code >> 12) & 0x3f)), 0x01000193);
      hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), 0x01000193);
    }
    hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), 0x01000193);
  }
  return hash >>> 0;
}

// The features and the record of one decision hash the same merchant id: remember the last one.
let lastHashedMerchant: string | undefined;
let lastMerchantHash = 0;

function merchantHash(merchantId: string): number {
  if (merchantId !== lastHashedMerchant) {
    lastMerchantHash = fnv1a32(merchantId);
    lastHashedMerchant = merchantId;
  }
  return lastMerchantHash;
}

/** How many UTF-8 bytes a string takes. */
function utf8Length(text: string): number {
  const length = text.length;
  for (let i = 0; i < length; i += 1) {
    if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text, 'utf8');
  }
  return length;
}

/** One card's own memory. */
class CardMemory {
  lastTime: number;
  lastCountry: string;
  hasPresent = false;
  lastPresentTime = 0;
  lastPresentCountry = '';
  /** Hashes of the merchants seen, most recently used first. */
  readonly merchants: number[] = [];

  constructor(
    readonly id: string,
    readonly idBytes: number,
    lastTime: number,
    lastCountry: string,
  ) {
    this.lastTime = lastTime;
    this.lastCountry = lastCountry;
  }

  hasMerchant(hash: number): boolean {
    const merchants = this.merchants;
    for (let i = 0; i < merchants.length; i += 1) if (merchants[i] === hash) return true;
    return false;
  }

  /** Puts the merchant first, forgetting the least recently used one when full. */
  useMerchant(hash: number): void {
    const merchants = this.merchants;
    let at = 0;
    while (at < merchants.length && merchants[at] !== hash) at += 1;
    if (at === merchants.length && merchants.length === MAX_CARD_MERCHANTS) at -= 1;
    for (; at > 0; at -= 1) merchants[at] = merchants[at - 1] ?? 0;
    merchants[0] = hash;
  }
}

/**
 * One cardholder's risk memory (see the module comment). Use it through the functions below, or its methods; it is
 * not safe to share between concurrent decisions, which the cardholder's lock already forbids.
 */
export class HolderRiskState {
  /** Why stored bytes were discarded when this state was decoded from them (this state is then empty), or null. */
  readonly discardReason: HolderStateDiscard | null;
  /**
   * Event columns, in the order recorded. Plain arrays, not typed ones: V8 allocates a typed array over 64 bytes
   * outside its heap, which costs more than a whole small decision.
   */
  private readonly times: number[] = [];
  private readonly amounts: number[] = [];
  private readonly flags: number[] = [];
  private readonly cardSlots: number[] = [];
  private readonly cards: CardMemory[] = [];

  private constructor(discardReason: HolderStateDiscard | null) {
    this.discardReason = discardReason;
  }

  static empty(discardReason: HolderStateDiscard | null = null): HolderRiskState {
    return new HolderRiskState(discardReason);
  }

  /** Whether the stored bytes were thrown away (an unknown version or malformed): worth a log line and a count. */
  get discarded(): boolean {
    return this.discardReason !== null;
  }

  get eventCount(): number {
    return this.times.length;
  }

  get cardCount(): number {
    return this.cards.length;
  }

  /** The features of `auth` from what has been recorded, without recording it. */
  features(auth: HolderAuthorization): HolderFeatures {
    const t = auth.time;
    const slot = this.slotOf(auth.cardId);
    // Events of forgotten cards carry UNKNOWN_CARD: they must not count as the card's when it is unknown too.
    const cardSlot = slot === UNKNOWN_CARD ? -1 : slot;
    // One pass over the events. Each in the last week adds to the one age bucket it falls in (under a minute, then
    // under an hour, a day, a week), the cardholder's and, when it is the card's, the card's; the running totals
    // after the loop turn each bucket into its window (the bucket and every younger one). Plain locals: this runs in
    // every authorization.
    let holderCount1m = 0,
      holderAmount1m = 0,
      holderDeclines1m = 0,
      holderCount1h = 0,
      holderAmount1h = 0,
      holderDeclines1h = 0,
      holderCount24h = 0,
      holderAmount24h = 0,
      holderDeclines24h = 0,
      holderCount7d = 0,
      holderAmount7d = 0,
      holderDeclines7d = 0,
      cardCount1m = 0,
      cardAmount1m = 0,
      cardDeclines1m = 0,
      cardCount1h = 0,
      cardAmount1h = 0,
      cardDeclines1h = 0,
      cardCount24h = 0,
      cardAmount24h = 0,
      cardDeclines24h = 0,
      cardCount7d = 0,
      cardAmount7d = 0,
      cardDeclines7d = 0;
    const { times, amounts, flags, cardSlots } = this;
    const events = times.length;
    for (let i = 0; i < events; i += 1) {
      // A negative age (recorded at a later time than t) counts as at t: inside every window.
      const age = t - (times[i] ?? 0);
      if (age >= WEEK_MS) continue;
      const declined = ((flags[i] ?? 0) & EVENT_DECLINED) !== 0;
      const amount = declined ? 0 : (amounts[i] ?? 0);
      const decline = declined ? 1 : 0;
      const own = cardSlots[i] === cardSlot;
      if (age < MINUTE_MS) {
        holderCount1m += 1;
        holderAmount1m += amount;
        holderDeclines1m += decline;
        if (own) {
          cardCount1m += 1;
          cardAmount1m += amount;
          cardDeclines1m += decline;
        }
      } else if (age < HOUR_MS) {
        holderCount1h += 1;
        holderAmount1h += amount;
        holderDeclines1h += decline;
        if (own) {
          cardCount1h += 1;
          cardAmount1h += amount;
          cardDeclines1h += decline;
        }
      } else if (age < DAY_MS) {
        holderCount24h += 1;
        holderAmount24h += amount;
        holderDeclines24h += decline;
        if (own) {
          cardCount24h += 1;
          cardAmount24h += amount;
          cardDeclines24h += decline;
        }
      } else {
        holderCount7d += 1;
        holderAmount7d += amount;
        holderDeclines7d += decline;
        if (own) {
          cardCount7d += 1;
          cardAmount7d += amount;
          cardDeclines7d += decline;
        }
      }
    }
    holderCount1h += holderCount1m;
    holderCount24h += holderCount1h;
    holderCount7d += holderCount24h;
    holderAmount1h += holderAmount1m;
    holderAmount24h += holderAmount1h;
    holderAmount7d += holderAmount24h;
    holderDeclines1h += holderDeclines1m;
    holderDeclines24h += holderDeclines1h;
    holderDeclines7d += holderDeclines24h;
    cardCount1h += cardCount1m;
    cardCount24h += cardCount1h;
    cardCount7d += cardCount24h;
    cardAmount1h += cardAmount1m;
    cardAmount24h += cardAmount1h;
    cardAmount7d += cardAmount24h;
    cardDeclines1h += cardDeclines1m;
    cardDeclines24h += cardDeclines1h;
    cardDeclines7d += cardDeclines24h;
    const holderApproved7d = holderCount7d - holderDeclines7d;
    const averageAmount = holderApproved7d > 0 ? holderAmount7d / holderApproved7d : 0;
    const card = slot === UNKNOWN_CARD ? undefined : this.cards[slot];
    return {
      amount_ratio: averageAmount > 0 ? auth.amount / averageAmount : 1,
      card_count_1m: cardCount1m,
      card_count_1h: cardCount1h,
      card_count_24h: cardCount24h,
      card_count_7d: cardCount7d,
      card_amount_1m: cardAmount1m,
      card_amount_1h: cardAmount1h,
      card_amount_24h: cardAmount24h,
      card_amount_7d: cardAmount7d,
      card_declines_1m: cardDeclines1m,
      card_declines_1h: cardDeclines1h,
      card_declines_24h: cardDeclines24h,
      card_declines_7d: cardDeclines7d,
      cardholder_count_1m: holderCount1m,
      cardholder_count_1h: holderCount1h,
      cardholder_count_24h: holderCount24h,
      cardholder_count_7d: holderCount7d,
      cardholder_amount_1m: holderAmount1m,
      cardholder_amount_1h: holderAmount1h,
      cardholder_amount_24h: holderAmount24h,
      cardholder_amount_7d: holderAmount7d,
      cardholder_declines_1m: holderDeclines1m,
      cardholder_declines_1h: holderDeclines1h,
      cardholder_declines_24h: holderDeclines24h,
      cardholder_declines_7d: holderDeclines7d,
      minutes_since_last:
        card === undefined
          ? MINUTES_SINCE_LAST_CAP
          : Math.min(MINUTES_SINCE_LAST_CAP, Math.max(0, t - card.lastTime) / 60_000),
      first_time_merchant: card === undefined || !card.hasMerchant(merchantHash(auth.merchantId)),
      country_changed: card !== undefined && card.lastCountry !== auth.merchantCountry,
      impossible_travel:
        card !== undefined &&
        card.hasPresent &&
        isCardPresent(auth.entryMode) &&
        isImpossibleTravel(
          card.lastPresentCountry,
          auth.merchantCountry,
          Math.max(0, t - card.lastPresentTime),
        ),
    };
  }

  /**
   * Adds `auth`: drops the events more than 7 days before (or, from a broken clock, after) its time, makes room
   * under the caps, and updates its card's memory. Throws a RangeError only for a time or amount that is not finite,
   * or a card id or country too long to store.
   */
  record(auth: HolderAuthorization): void {
    if (!Number.isFinite(auth.time)) throw new RangeError('an authorization needs a finite time');
    if (!Number.isFinite(auth.amount)) throw new RangeError('an authorization needs a finite amount');
    const country = auth.merchantCountry;
    if (country.length > MAX_COUNTRY_BYTES / 3 && utf8Length(country) > MAX_COUNTRY_BYTES) {
      throw new RangeError(`a merchant country of more than ${MAX_COUNTRY_BYTES} UTF-8 bytes`);
    }
    const known = this.slotOf(auth.cardId);
    const idBytes = known === UNKNOWN_CARD ? utf8Length(auth.cardId) : 0;
    if (idBytes > MAX_CARD_ID_BYTES) {
      throw new RangeError(`a card id of more than ${MAX_CARD_ID_BYTES} UTF-8 bytes`);
    }
    // Nothing has changed until here: a throw leaves the state as it was.
    const t = Math.floor(auth.time);
    this.prune(t);
    if (this.times.length === MAX_HOLDER_EVENTS) this.dropEarliest();
    const slot = known !== UNKNOWN_CARD ? known : this.addCard(auth.cardId, idBytes, t, country);
    const card = this.cards[slot];
    if (card === undefined) throw new Error('unreachable: a card slot without a card');

    this.times.push(t);
    this.amounts.push(auth.amount);
    this.flags.push(auth.approved ? 0 : EVENT_DECLINED);
    this.cardSlots.push(slot);

    card.useMerchant(merchantHash(auth.merchantId));
    card.lastTime = t;
    card.lastCountry = country;
    if (isCardPresent(auth.entryMode)) {
      card.hasPresent = true;
      card.lastPresentTime = t;
      card.lastPresentCountry = country;
    }
  }

  /** The bytes to store: version 1 of the layout in the module comment. */
  encode(): Buffer {
    const { times, amounts, flags, cardSlots, cards } = this;
    const events = times.length;
    let size = HEADER_BYTES + events * EVENT_BYTES;
    for (const card of cards) {
      size += 2 + card.idBytes + 8 + 1 + utf8Length(card.lastCountry) + 1 + 1 + card.merchants.length * 4;
      if (card.hasPresent) size += 8 + 1 + utf8Length(card.lastPresentCountry);
    }
    const out = Buffer.allocUnsafe(size);
    const view = new DataView(out.buffer, out.byteOffset, size);
    let base = Infinity;
    for (let i = 0; i < events; i += 1) base = Math.min(base, times[i] ?? 0);
    if (events === 0) base = 0;

    view.setUint8(0, HOLDER_STATE_VERSION);
    view.setFloat64(1, base, true);
    view.setUint16(9, events, true);
    view.setUint8(11, cards.length);
    let at = HEADER_BYTES;
    for (const card of cards) {
      at = writeString(out, view, at, card.id, card.idBytes, 2);
      view.setFloat64(at, card.lastTime, true);
      at = writeString(out, view, at + 8, card.lastCountry, utf8Length(card.lastCountry), 1);
      view.setUint8(at, card.hasPresent ? CARD_HAS_PRESENT : 0);
      at += 1;
      if (card.hasPresent) {
        view.setFloat64(at, card.lastPresentTime, true);
        at = writeString(out, view, at + 8, card.lastPresentCountry, utf8Length(card.lastPresentCountry), 1);
      }
      const merchants = card.merchants;
      view.setUint8(at, merchants.length);
      at += 1;
      for (let m = 0; m < merchants.length; m += 1) {
        view.setUint32(at, merchants[m] ?? 0, true);
        at += 4;
      }
    }
    for (let i = 0; i < events; i += 1) {
      view.setUint32(at, (times[i] ?? 0) - base, true);
      view.setFloat64(at + 4, amounts[i] ?? 0, true);
      view.setUint8(at + 12, flags[i] ?? 0);
      view.setUint8(at + 13, cardSlots[i] ?? 0);
      at += EVENT_BYTES;
    }
    return out;
  }

  /** The state stored in `bytes`; empty for none, and empty and `discarded` for bytes it cannot read. Never throws. */
  static decode(bytes: Uint8Array | null | undefined): HolderRiskState {
    if (bytes === null || bytes === undefined) return HolderRiskState.empty();
    if (bytes.length === 0) return HolderRiskState.empty('malformed');
    if (bytes[0] !== HOLDER_STATE_VERSION) return HolderRiskState.empty('unknown_version');
    try {
      return HolderRiskState.decodeVersion1(bytes) ?? HolderRiskState.empty('malformed');
    } catch {
      // A RangeError from reading past the end, or a TypeError from invalid UTF-8: either is malformed.
      return HolderRiskState.empty('malformed');
    }
  }

  private static decodeVersion1(input: Uint8Array): HolderRiskState | undefined {
    const bytes = Buffer.isBuffer(input)
      ? input
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const size = bytes.length;
    if (size < HEADER_BYTES) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, size);
    const base = view.getFloat64(1, true);
    const events = view.getUint16(9, true);
    const cardCount = view.getUint8(11);
    if (!Number.isFinite(base) || events > MAX_HOLDER_EVENTS || cardCount > MAX_HOLDER_CARDS)
      return undefined;
    const state = new HolderRiskState(null);
    let at = HEADER_BYTES;
    for (let c = 0; c < cardCount; c += 1) {
      const idBytes = view.getUint16(at, true);
      const id = readString(bytes, at + 2, idBytes);
      at += 2 + idBytes;
      const lastTime = view.getFloat64(at, true);
      const countryBytes = view.getUint8(at + 8);
      const country = readString(bytes, at + 9, countryBytes);
      at += 9 + countryBytes;
      if (!Number.isFinite(lastTime) || state.slotOf(id) !== UNKNOWN_CARD) return undefined;
      const card = new CardMemory(id, idBytes, lastTime, country);
      const cardFlags = view.getUint8(at);
      at += 1;
      if ((cardFlags & ~CARD_HAS_PRESENT) !== 0) return undefined;
      if (cardFlags === CARD_HAS_PRESENT) {
        card.hasPresent = true;
        card.lastPresentTime = view.getFloat64(at, true);
        const presentBytes = view.getUint8(at + 8);
        card.lastPresentCountry = readString(bytes, at + 9, presentBytes);
        at += 9 + presentBytes;
        if (!Number.isFinite(card.lastPresentTime)) return undefined;
      }
      const merchantCount = view.getUint8(at);
      at += 1;
      if (merchantCount > MAX_CARD_MERCHANTS) return undefined;
      for (let m = 0; m < merchantCount; m += 1) {
        card.merchants.push(view.getUint32(at, true));
        at += 4;
      }
      state.cards.push(card);
    }
    if (size - at !== events * EVENT_BYTES) return undefined;
    const { times, amounts, flags, cardSlots } = state;
    for (let i = 0; i < events; i += 1) {
      const amount = view.getFloat64(at + 4, true);
      const eventFlags = view.getUint8(at + 12);
      const slot = view.getUint8(at + 13);
      if (!Number.isFinite(amount) || (eventFlags & ~EVENT_DECLINED) !== 0) return undefined;
      if (slot >= cardCount && slot !== UNKNOWN_CARD) return undefined;
      times.push(base + view.getUint32(at, true));
      amounts.push(amount);
      flags.push(eventFlags);
      cardSlots.push(slot);
      at += EVENT_BYTES;
    }
    return state;
  }

  /** The slot of a card with memory here, or UNKNOWN_CARD. */
  private slotOf(cardId: string): number {
    const cards = this.cards;
    for (let slot = 0; slot < cards.length; slot += 1) if (cards[slot]?.id === cardId) return slot;
    return UNKNOWN_CARD;
  }

  /** Makes a slot for a new card, forgetting the least recently used card when all are taken. */
  private addCard(cardId: string, idBytes: number, time: number, country: string): number {
    const card = new CardMemory(cardId, idBytes, time, country);
    const cards = this.cards;
    if (cards.length < MAX_HOLDER_CARDS) {
      cards.push(card);
      return cards.length - 1;
    }
    let oldest = 0;
    for (let slot = 1; slot < cards.length; slot += 1) {
      if ((cards[slot]?.lastTime ?? Infinity) < (cards[oldest]?.lastTime ?? Infinity)) oldest = slot;
    }
    const cardSlots = this.cardSlots;
    for (let i = 0; i < cardSlots.length; i += 1) if (cardSlots[i] === oldest) cardSlots[i] = UNKNOWN_CARD;
    cards[oldest] = card;
    return oldest;
  }

  /** Keeps the events in (t - 7 days, t + 7 days], in their order. */
  private prune(t: number): void {
    const { times, amounts, flags, cardSlots } = this;
    const events = times.length;
    let kept = 0;
    for (let i = 0; i < events; i += 1) {
      const time = times[i] ?? 0;
      if (time <= t - WEEK_MS || time > t + WEEK_MS) continue;
      if (kept !== i) {
        times[kept] = time;
        amounts[kept] = amounts[i] ?? 0;
        flags[kept] = flags[i] ?? 0;
        cardSlots[kept] = cardSlots[i] ?? 0;
      }
      kept += 1;
    }
    if (kept === events) return;
    times.length = kept;
    amounts.length = kept;
    flags.length = kept;
    cardSlots.length = kept;
  }

  private dropEarliest(): void {
    this.times.shift();
    this.amounts.shift();
    this.flags.shift();
    this.cardSlots.shift();
  }
}

/** Writes a string with its length first (`lengthBytes` 1 or 2), returning the offset after it. */
function writeString(
  out: Buffer,
  view: DataView,
  at: number,
  text: string,
  byteLength: number,
  lengthBytes: 1 | 2,
): number {
  if (lengthBytes === 1) view.setUint8(at, byteLength);
  else view.setUint16(at, byteLength, true);
  const start = at + lengthBytes;
  if (byteLength === text.length) {
    for (let i = 0; i < byteLength; i += 1) out[start + i] = text.charCodeAt(i);
  } else {
    out.write(text, start, byteLength, 'utf8');
  }
  return start + byteLength;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
/** Below this length V8 concatenates into a flat string; from it on, into a rope that compares slowly. */
const SHORT_STRING = 12;

/** Reads `length` bytes of UTF-8 at `at`; throws past the end (RangeError) or on invalid UTF-8 (TypeError). */
function readString(bytes: Buffer, at: number, length: number): string {
  const end = at + length;
  if (end > bytes.length) throw new RangeError('a string past the end');
  for (let i = at; i < end; i += 1) {
    if ((bytes[i] ?? 0) >= 0x80) return strictUtf8.decode(bytes.subarray(at, end));
  }
  if (length > SHORT_STRING) return bytes.toString('latin1', at, end);
  let text = '';
  for (let i = at; i < end; i += 1) text += String.fromCharCode(bytes[i] ?? 0);
  return text;
}

export function emptyHolderState(): HolderRiskState {
  return HolderRiskState.empty();
}

/**
 * The state stored in `bytes` (null or undefined: a cardholder with none yet, an empty state). Bytes of an unknown
 * version or that do not parse give an empty state with `discarded` true and `discardReason` saying which: it is
 * only risk memory, so the decision goes on without it. Never throws.
 */
export function decodeHolderState(bytes: Uint8Array | null | undefined): HolderRiskState {
  return HolderRiskState.decode(bytes);
}

export function encodeHolderState(state: HolderRiskState): Buffer {
  return state.encode();
}

/** The features of `auth` given the state; does not change the state. */
export function holderFeatures(state: HolderRiskState, auth: HolderAuthorization): HolderFeatures {
  return state.features(auth);
}

/** Records `auth` in the state, after its features were taken (see `HolderRiskState.record`). */
export function recordHolderAuthorization(state: HolderRiskState, auth: HolderAuthorization): void {
  state.record(auth);
}
