import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENTRY_MODE_CODES, FEATURE_MEASURES, FEATURE_NAMES as CATALOGUE, WINDOWS } from './features.js';
import { FeatureTracker, MINUTES_SINCE_LAST_CAP, type EntryMode } from './feature-tracker.js';
import {
  HOLDER_STATE_VERSION,
  MAX_CARD_MERCHANTS,
  MAX_HOLDER_CARDS,
  MAX_HOLDER_EVENTS,
  decodeHolderState,
  emptyHolderState,
  encodeHolderState,
  fnv1a32,
  holderFeatures,
  recordHolderAuthorization,
  type HolderAuthorization,
  type HolderFeatures,
  type HolderRiskState,
} from './holder-state.js';

const T0 = Date.UTC(2025, 0, 6, 2);
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const WEEK = 7 * DAY;

/** Every feature the state gives: the card and cardholder grid, then the rest. */
const FEATURE_NAMES = [
  'amount_ratio',
  ...(['card', 'cardholder'] as const).flatMap((scope) =>
    FEATURE_MEASURES.flatMap((measure) => WINDOWS.map((window) => `${scope}_${measure}_${window}` as const)),
  ),
  'minutes_since_last',
  'first_time_merchant',
  'country_changed',
  'impossible_travel',
] satisfies readonly (keyof HolderFeatures)[];

function auth(overrides: Partial<HolderAuthorization> & { readonly at: number }): HolderAuthorization {
  const { at, ...rest } = overrides;
  return {
    time: T0 + at,
    cardId: 'card_01JXA0000000000000000000AA',
    merchantId: 'acq_1',
    merchantCountry: 'HK',
    entryMode: 'contactless',
    amount: 10_000,
    approved: true,
    ...rest,
  };
}

/** Records each in turn, through the bytes each time as production does, and returns the state. */
function replay(authorizations: readonly HolderAuthorization[], start = emptyHolderState()): HolderRiskState {
  let state = start;
  for (const one of authorizations) {
    state = decodeHolderState(encodeHolderState(state));
    recordHolderAuthorization(state, one);
  }
  return state;
}

function roundTrip(state: HolderRiskState): HolderRiskState {
  return decodeHolderState(encodeHolderState(state));
}

describe('holder risk state', () => {
  it('gives every card and cardholder feature of the catalogue', () => {
    const scoped = CATALOGUE.filter((name) => name.startsWith('card_') || name.startsWith('cardholder_'));
    expect(scoped).toHaveLength(24);
    expect(FEATURE_NAMES).toEqual(expect.arrayContaining(scoped));
    expect(Object.keys(holderFeatures(emptyHolderState(), auth({ at: 0 }))).sort()).toEqual(
      [...FEATURE_NAMES].sort(),
    );
  });

  it('computes the same features as the reference tracker over random streams', () => {
    const cards = ['card_01JXA0000000000000000000AA', 'card_01JXB0000000000000000000BB', 'card_é', 'c'];
    const merchants = ['acq_1', 'acq_2', 'acq_3', 'Café Wing|HK', 'Shop|JP', 'acq_6'];
    const countries = ['HK', 'MO', 'CN', 'JP', 'GB', '', 'ZZ'];
    const gap = fc.oneof(
      fc.constant(0),
      fc.constantFrom(MINUTE, HOUR, DAY, WEEK, MINUTE - 1, HOUR + 1, WEEK - 1, WEEK + 1),
      fc.integer({ min: 0, max: 2 * MINUTE }),
      fc.integer({ min: 0, max: 3 * HOUR }),
      fc.integer({ min: 0, max: 4 * DAY }),
    );
    const step = fc.record({
      gap,
      card: fc.integer({ min: 0, max: cards.length - 1 }),
      merchant: fc.integer({ min: 0, max: merchants.length - 1 }),
      country: fc.integer({ min: 0, max: countries.length - 1 }),
      entryMode: fc.constantFrom<EntryMode>(...ENTRY_MODE_CODES),
      amount: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5_000_000 })),
      approved: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const tracker = new FeatureTracker();
        let state = emptyHolderState();
        let time = T0;
        for (const s of steps) {
          time += s.gap;
          const one: HolderAuthorization = {
            time,
            cardId: cards[s.card] ?? '',
            merchantId: merchants[s.merchant] ?? '',
            merchantCountry: countries[s.country] ?? '',
            entryMode: s.entryMode,
            amount: s.amount,
            approved: s.approved,
          };
          const event = {
            ...one,
            cardholderId: 'ch_1',
            cardholderCountry: 'HK',
            mcc: '5411',
            deviceId: null,
          };
          state = roundTrip(state);
          expect(state.discarded).toBe(false);
          const ours = holderFeatures(state, one);
          const theirs = tracker.features(event);
          const expected = Object.fromEntries(FEATURE_NAMES.map((name) => [name, theirs[name]]));
          expect(ours).toStrictEqual(expected);
          tracker.record(event);
          recordHolderAuthorization(state, one);
        }
      }),
      { seed: 20_250_106, numRuns: 150 },
    );
  });

  it('counts windows as t - W < s, never the authorization itself, with amounts of approved ones only', () => {
    const state = replay([
      auth({ at: 0, amount: 1_000 }),
      auth({ at: 10 * MINUTE, amount: 2_000, approved: false }),
      auth({ at: HOUR, amount: 3_000 }),
    ]);
    const features = holderFeatures(state, auth({ at: HOUR + 10 * MINUTE, amount: 4_000 }));
    expect(features).toMatchObject({
      card_count_1m: 0,
      card_count_1h: 1, // t - 1h is 10 minutes: the one at 10 minutes is on the edge, out
      card_count_24h: 3,
      card_amount_1h: 3_000,
      card_amount_24h: 4_000,
      card_declines_1h: 0,
      card_declines_24h: 1,
      card_declines_7d: 1,
      cardholder_count_1m: 0,
      cardholder_count_7d: 3,
      cardholder_amount_1h: 3_000,
      cardholder_amount_7d: 4_000,
      cardholder_declines_1h: 0,
      cardholder_declines_7d: 1,
      amount_ratio: 4_000 / 2_000,
    });
    // Same millisecond: the first counts for the second.
    expect(holderFeatures(state, auth({ at: HOUR }))).toMatchObject({
      card_count_1m: 1,
      card_amount_1m: 3_000,
      cardholder_count_1m: 1,
      cardholder_amount_1m: 3_000,
    });
    // An empty state.
    expect(holderFeatures(emptyHolderState(), auth({ at: 0 }))).toMatchObject({
      amount_ratio: 1,
      card_count_7d: 0,
      minutes_since_last: MINUTES_SINCE_LAST_CAP,
      first_time_merchant: true,
      country_changed: false,
      impossible_travel: false,
    });
  });

  it('lets a declined authorization move country_changed, first_time_merchant and impossible_travel', () => {
    const state = replay([
      auth({ at: 0, merchantCountry: 'HK', merchantId: 'acq_1' }),
      auth({
        at: MINUTE,
        merchantCountry: 'GB',
        merchantId: 'acq_london',
        approved: false,
        entryMode: 'chip',
      }),
    ]);
    expect(
      holderFeatures(state, auth({ at: 2 * MINUTE, merchantCountry: 'GB', merchantId: 'acq_london' })),
    ).toMatchObject({
      country_changed: false,
      first_time_merchant: false,
    });
    expect(
      holderFeatures(state, auth({ at: 2 * MINUTE, merchantCountry: 'HK', entryMode: 'chip' })),
    ).toMatchObject({
      country_changed: true,
      first_time_merchant: false,
      impossible_travel: true,
    });
  });

  it('forgets events that left the 7-day window, but not the card', () => {
    const state = replay([auth({ at: 0, amount: 5_000, merchantCountry: 'JP' })]);
    expect(holderFeatures(state, auth({ at: WEEK - 1 })).cardholder_count_7d).toBe(1);
    expect(holderFeatures(state, auth({ at: WEEK })).cardholder_count_7d).toBe(0);
    recordHolderAuthorization(state, auth({ at: WEEK, amount: 1_000 }));
    expect(state.eventCount).toBe(1);
    expect(holderFeatures(state, auth({ at: WEEK + MINUTE }))).toMatchObject({
      cardholder_count_7d: 1,
      card_amount_7d: 1_000,
      first_time_merchant: false,
      country_changed: false,
      minutes_since_last: 1,
    });
    recordHolderAuthorization(state, auth({ at: 30 * DAY, merchantCountry: 'HK' }));
    expect(state.eventCount).toBe(1);
    expect(holderFeatures(state, auth({ at: 30 * DAY + HOUR, merchantCountry: 'MO' })).country_changed).toBe(
      true,
    );
  });

  it('keeps the newest 512 events, dropping the earliest recorded', () => {
    const stream = Array.from({ length: MAX_HOLDER_EVENTS + 10 }, (_, i) =>
      auth({ at: i * 1_000, amount: i < 10 ? 1_000_000 : 1 }),
    );
    const state = replay(stream);
    expect(state.eventCount).toBe(MAX_HOLDER_EVENTS);
    const features = holderFeatures(state, auth({ at: stream.length * 1_000 }));
    expect(features.cardholder_count_24h).toBe(MAX_HOLDER_EVENTS);
    expect(features.cardholder_amount_24h).toBe(MAX_HOLDER_EVENTS); // the ten of 1,000,000 were the ones dropped
  });

  it('bounds the row: 12,188 bytes at every cap with ULID card ids', () => {
    const state = emptyHolderState();
    for (let i = 0; i < MAX_HOLDER_CARDS * MAX_CARD_MERCHANTS; i += 1) {
      const cardId = `card_01JX${String(i % MAX_HOLDER_CARDS).padStart(22, '0')}`;
      recordHolderAuthorization(
        state,
        auth({ at: i * MINUTE, cardId, merchantId: `acq_${i}`, entryMode: 'chip' }),
      );
    }
    expect(state).toMatchObject({ eventCount: MAX_HOLDER_EVENTS, cardCount: MAX_HOLDER_CARDS });
    expect(encodeHolderState(state)).toHaveLength(
      12 + MAX_HOLDER_CARDS * (57 + 4 * MAX_CARD_MERCHANTS) + 512 * 14,
    );
    expect(encodeHolderState(state)).toHaveLength(12_188);
  });

  it('forgets the least recently used of 16 cards, keeping its events for the cardholder', () => {
    const card = (n: number): string => `card_${String(n).padStart(26, '0')}`;
    const stream = Array.from({ length: MAX_HOLDER_CARDS }, (_, n) =>
      auth({ at: n * MINUTE, cardId: card(n), merchantCountry: 'JP', amount: 100 }),
    );
    // Card 0 is used again, so card 1 is now the least recently used.
    stream.push(auth({ at: 20 * MINUTE, cardId: card(0), merchantCountry: 'JP', amount: 100 }));
    let state = replay(stream);
    expect(state.cardCount).toBe(MAX_HOLDER_CARDS);
    recordHolderAuthorization(state, auth({ at: 21 * MINUTE, cardId: card(99), amount: 100 }));
    state = roundTrip(state);
    expect(state.cardCount).toBe(MAX_HOLDER_CARDS);

    const forgotten = holderFeatures(
      state,
      auth({ at: 22 * MINUTE, cardId: card(1), merchantCountry: 'HK' }),
    );
    expect(forgotten).toMatchObject({
      card_count_1h: 0,
      cardholder_count_1h: MAX_HOLDER_CARDS + 2,
      cardholder_amount_24h: (MAX_HOLDER_CARDS + 2) * 100,
      minutes_since_last: MINUTES_SINCE_LAST_CAP,
      first_time_merchant: true,
      country_changed: false,
    });
    const kept = holderFeatures(state, auth({ at: 22 * MINUTE, cardId: card(0), merchantCountry: 'HK' }));
    expect(kept).toMatchObject({
      card_count_1h: 2,
      minutes_since_last: 2,
      first_time_merchant: false,
      country_changed: true,
    });
    expect(holderFeatures(state, auth({ at: 22 * MINUTE, cardId: card(99) })).card_count_1h).toBe(1);
    // Another unknown card does not get the forgotten card's events either.
    expect(holderFeatures(state, auth({ at: 22 * MINUTE, cardId: 'card_new' })).card_count_1h).toBe(0);
  });

  it('remembers the 64 most recently used merchants of a card', () => {
    const merchant = (n: number): string => `acq_${n}`;
    const stream = Array.from({ length: MAX_CARD_MERCHANTS }, (_, n) =>
      auth({ at: n * MINUTE, merchantId: merchant(n) }),
    );
    stream.push(auth({ at: 100 * MINUTE, merchantId: merchant(0) })); // merchant 0 used again: 1 is the oldest
    stream.push(auth({ at: 101 * MINUTE, merchantId: merchant(64) }));
    const state = replay(stream);
    const firstTime = (n: number): boolean =>
      holderFeatures(state, auth({ at: 102 * MINUTE, merchantId: merchant(n) })).first_time_merchant;
    expect(firstTime(0)).toBe(false);
    expect(firstTime(1)).toBe(true);
    expect(firstTime(2)).toBe(false);
    expect(firstTime(63)).toBe(false);
    expect(firstTime(64)).toBe(false);
    expect(firstTime(65)).toBe(true);
  });

  it('takes times out of order without throwing, a later recorded time counting as now', () => {
    const state = replay([auth({ at: 10 * DAY, amount: 700, merchantCountry: 'JP', entryMode: 'chip' })]);
    const early = auth({ at: 10 * DAY - 5_000, amount: 700, merchantCountry: 'HK', entryMode: 'chip' });
    expect(holderFeatures(state, early)).toMatchObject({
      card_count_1m: 1,
      card_count_7d: 1,
      card_amount_1h: 700,
      cardholder_count_1h: 1,
      minutes_since_last: 0,
      amount_ratio: 1,
      country_changed: true,
      impossible_travel: true,
    });
    expect(() => recordHolderAuthorization(state, early)).not.toThrow();
    // The previous authorization is the one recorded last, even if its clock said earlier.
    const next = holderFeatures(state, auth({ at: 10 * DAY + 1_000, merchantCountry: 'HK' }));
    expect(next).toMatchObject({ card_count_1m: 2, country_changed: false });
    expect(next.minutes_since_last).toBeCloseTo(6_000 / MINUTE, 12);
    // A time a month ahead (a broken clock) cannot be told from a month of quiet: what came before is a month old.
    // But the next sane record drops it, rather than keep it in every window.
    recordHolderAuthorization(state, auth({ at: 40 * DAY }));
    expect(state.eventCount).toBe(1);
    recordHolderAuthorization(state, auth({ at: 10 * DAY + 2_000 }));
    expect(state.eventCount).toBe(1);
    expect(holderFeatures(state, auth({ at: 10 * DAY + 3_000 }))).toMatchObject({
      cardholder_count_7d: 1,
      minutes_since_last: 1_000 / MINUTE,
    });
    expect(encodeHolderState(roundTrip(state))).toEqual(encodeHolderState(state));
  });

  it('decodes nothing to an empty state, and unknown versions or malformed bytes to an empty discarded one', () => {
    expect(decodeHolderState(null)).toMatchObject({ discarded: false, eventCount: 0, cardCount: 0 });
    expect(decodeHolderState(undefined).discarded).toBe(false);

    const good = encodeHolderState(
      replay([
        auth({ at: 0, merchantCountry: 'JP', entryMode: 'chip' }),
        auth({ at: MINUTE, approved: false }),
      ]),
    );
    expect(decodeHolderState(good)).toMatchObject({ discarded: false, discardReason: null, eventCount: 2 });

    const version = (v: number): Uint8Array => Uint8Array.from([v, ...good.subarray(1)]);
    expect(decodeHolderState(version(0))).toMatchObject({
      discarded: true,
      discardReason: 'unknown_version',
    });
    expect(decodeHolderState(version(HOLDER_STATE_VERSION + 1)).discardReason).toBe('unknown_version');

    const malformed = (bytes: Uint8Array): void => {
      const state = decodeHolderState(bytes);
      expect(state).toMatchObject({
        discarded: true,
        discardReason: 'malformed',
        eventCount: 0,
        cardCount: 0,
      });
    };
    malformed(new Uint8Array(0));
    malformed(Uint8Array.of(HOLDER_STATE_VERSION));
    malformed(good.subarray(0, good.length - 1)); // truncated
    malformed(Buffer.concat([good, Buffer.of(0)])); // trailing
    const corrupt = (offset: number, value: number): Buffer => {
      const copy = Buffer.from(good);
      copy[offset] = value;
      return copy;
    };
    malformed(corrupt(11, MAX_HOLDER_CARDS + 1)); // card count
    malformed(corrupt(9, 0xff)); // event count
    malformed(corrupt(good.length - 1, 7)); // an event's card slot
    malformed(corrupt(good.length - 2, 0x80)); // an event's flags
    malformed(corrupt(14, 0xff)); // a byte of the card id: not UTF-8
    for (let i = 0; i < 200; i += 1) {
      const random = Buffer.from(Array.from({ length: (i * 7) % 90 }, (_, j) => (i * 31 + j * 17) % 256));
      random[0] = HOLDER_STATE_VERSION;
      expect(() => decodeHolderState(random)).not.toThrow();
    }
  });

  it('round-trips byte for byte, non-ASCII strings included', () => {
    const state = replay([
      auth({ at: 0, cardId: 'card_ü', merchantCountry: '', entryMode: 'ecommerce', amount: 12.5 }),
      auth({
        at: 5,
        cardId: 'card_01JXA0000000000000000000AA',
        merchantId: 'Café|HK',
        entryMode: 'magstripe',
      }),
      auth({ at: 5, cardId: 'card_ü', merchantCountry: 'Ωmega', approved: false }),
    ]);
    const bytes = encodeHolderState(state);
    const again = decodeHolderState(bytes);
    expect(again.discarded).toBe(false);
    expect(encodeHolderState(again)).toEqual(bytes);
    // A plain Uint8Array, and one that is a view into a larger buffer, read the same.
    expect(encodeHolderState(decodeHolderState(new Uint8Array(bytes)))).toEqual(bytes);
    const larger = new Uint8Array(bytes.length + 7);
    larger.set(bytes, 3);
    expect(encodeHolderState(decodeHolderState(larger.subarray(3, 3 + bytes.length)))).toEqual(bytes);
    const probe = auth({ at: 6, cardId: 'card_ü', merchantCountry: 'Ωmega', merchantId: 'acq_1' });
    expect(holderFeatures(again, probe)).toStrictEqual(holderFeatures(state, probe));
    expect(holderFeatures(again, probe)).toMatchObject({ card_count_1m: 2, country_changed: false });
    expect(encodeHolderState(emptyHolderState())).toHaveLength(12);
  });

  it('refuses a time or amount that is not finite, or a string too long to store, and changes nothing', () => {
    const state = replay([auth({ at: 0 })]);
    const before = encodeHolderState(state);
    expect(() => recordHolderAuthorization(state, auth({ at: 0, time: NaN }))).toThrow(RangeError);
    expect(() => recordHolderAuthorization(state, auth({ at: WEEK, amount: Infinity }))).toThrow(RangeError);
    expect(() => recordHolderAuthorization(state, auth({ at: WEEK, cardId: 'c'.repeat(70_000) }))).toThrow(
      RangeError,
    );
    expect(() =>
      recordHolderAuthorization(state, auth({ at: WEEK, merchantCountry: 'é'.repeat(200) })),
    ).toThrow(RangeError);
    expect(encodeHolderState(state)).toEqual(before);
  });

  it('hashes merchants with 32-bit FNV-1a over UTF-8', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    const bytesHash = (text: string): number => {
      let hash = 0x811c9dc5;
      for (const byte of Buffer.from(text, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193);
      return hash >>> 0;
    };
    for (const text of ['Café Wing|HK', '茶餐廳|HK', 'emoji 😀|HK', 'lone \ud800 surrogate', 'end \udc00'])
      expect(fnv1a32(text)).toBe(bytesHash(text));
  });
});
