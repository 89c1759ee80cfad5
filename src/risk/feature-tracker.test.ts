import { describe, expect, it } from 'vitest';
import { FEATURE_NAMES, featureVector, windowedFeatureName, WINDOWS } from './features.js';
import {
  FeatureTracker,
  MINUTES_SINCE_LAST_CAP,
  hongKongHour,
  type AuthorizationEvent,
} from './feature-tracker.js';
import { isImpossibleTravel, minimumTravelMs } from './travel.js';

const T0 = Date.UTC(2025, 0, 6, 2); // 10:00 in Hong Kong
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DEVICE_FEATURES = FEATURE_NAMES.filter((name) => name.startsWith('device_'));

function auth(overrides: Partial<AuthorizationEvent> & { readonly at: number }): AuthorizationEvent {
  const { at, ...rest } = overrides;
  return {
    time: T0 + at,
    cardId: 'card_a',
    cardholderId: 'ch_a',
    cardholderCountry: 'HK',
    merchantId: 'acq_1',
    mcc: '5411',
    merchantCountry: 'HK',
    entryMode: 'contactless',
    deviceId: null,
    amount: 10_000,
    approved: true,
    ...rest,
  };
}

/** Runs a stream through a fresh tracker and returns every authorization's features. */
function run(stream: readonly AuthorizationEvent[]): Readonly<Record<string, number | boolean | string>>[] {
  const tracker = new FeatureTracker();
  return stream.map((event) => tracker.next(event));
}

function last<T>(items: readonly T[]): T {
  const item = items.at(-1);
  if (item === undefined) throw new Error('empty');
  return item;
}

describe('FeatureTracker', () => {
  it('gives a first authorization empty history and every catalogue feature but the device ones', () => {
    const [first] = run([auth({ at: 0 })]);
    expect(first).toMatchObject({
      amount: 10_000,
      amount_ratio: 1,
      card_count_1m: 0,
      card_count_7d: 0,
      card_amount_7d: 0,
      merchant_count_1h: 0,
      merchant_new_cards_1h: 0,
      minutes_since_last: MINUTES_SINCE_LAST_CAP,
      first_time_merchant: true,
      mcc_risk_class: 'low',
      foreign_merchant: false,
      country_changed: false,
      impossible_travel: false,
      entry_mode: 'contactless',
      local_hour: 10,
    });
    expect(DEVICE_FEATURES).toHaveLength(12);
    expect(Object.keys(first ?? {}).sort()).toEqual(
      FEATURE_NAMES.filter((name) => !DEVICE_FEATURES.includes(name)).sort(),
    );
    const vector = featureVector(first ?? {});
    expect(FEATURE_NAMES.filter((_, i) => Number.isNaN(vector[i] ?? NaN))).toEqual(DEVICE_FEATURES);
    // With a device, every feature of the catalogue.
    const [online] = run([auth({ at: 0, entryMode: 'ecommerce', deviceId: 'ip_1' })]);
    expect(Object.keys(online ?? {})).toEqual(FEATURE_NAMES);
  });

  it('counts only what came before, inside windows that end at the authorization (t - W < s)', () => {
    const features = run([
      auth({ at: 0 }),
      auth({ at: 30_000 }),
      auth({ at: MINUTE }), // the first is exactly 1 minute old: out of the 1m window
      auth({ at: HOUR + 30_000 }), // the first two are 1 hour old or more
    ]);
    expect(features.map((f) => f.card_count_1m)).toEqual([0, 1, 1, 0]);
    expect(features.map((f) => f.card_count_1h)).toEqual([0, 1, 2, 1]);
    expect(features.map((f) => f.card_count_24h)).toEqual([0, 1, 2, 3]);
    expect(features.map((f) => f.merchant_count_1m)).toEqual([0, 1, 1, 0]);
  });

  it('counts an earlier authorization at the same millisecond, never the authorization itself', () => {
    const features = run([auth({ at: 0 }), auth({ at: 0 })]);
    expect(features.map((f) => f.card_count_1m)).toEqual([0, 1]);
  });

  it('sums approved amounts only and counts declines apart', () => {
    const features = run([
      auth({ at: 0, amount: 5_000 }),
      auth({ at: MINUTE, amount: 90_000, approved: false }),
      auth({ at: 2 * MINUTE, amount: 1_000 }),
      auth({ at: 25 * HOUR, amount: 2_000 }),
    ]);
    const third = features[2];
    expect(third).toMatchObject({
      card_count_1h: 2,
      card_amount_1h: 5_000,
      card_declines_1h: 1,
      card_declines_24h: 1,
    });
    expect(third).toMatchObject({
      cardholder_amount_24h: 5_000,
      cardholder_declines_24h: 1,
      merchant_declines_1h: 1,
    });
    expect(last(features)).toMatchObject({
      card_count_24h: 0,
      card_declines_24h: 0,
      card_count_7d: 3,
      card_amount_7d: 6_000,
    });
  });

  it('counts, sums and counts declines over every window for every scope', () => {
    const other = { cardId: 'card_b', cardholderId: 'ch_b' };
    const features = run([
      auth({ at: 0, amount: 1_000, deviceId: 'ip_1' }),
      auth({ at: 3 * DAY, amount: 2_000, approved: false, deviceId: 'ip_1' }),
      auth({ at: 3 * DAY, amount: 4_000, cardId: 'card_a2', deviceId: 'ip_1' }), // the cardholder's other card
      auth({ at: 7 * DAY - 2 * HOUR, amount: 8_000, ...other, deviceId: 'ip_1' }), // another cardholder
      auth({ at: 7 * DAY - 30 * MINUTE, amount: 16_000, approved: false, ...other, merchantId: 'acq_2' }),
      auth({ at: 7 * DAY - 30_000, amount: 32_000, deviceId: 'ip_1' }),
      auth({ at: 7 * DAY - 1, amount: 64_000, deviceId: 'ip_1' }),
    ]);
    const byWindow = (
      f: Readonly<Record<string, unknown>>,
      scope: 'card' | 'cardholder' | 'merchant' | 'device',
    ) =>
      Object.fromEntries(
        (['count', 'amount', 'declines'] as const).map((measure) => [
          measure,
          WINDOWS.map((window) => f[windowedFeatureName(scope, measure, window)]),
        ]),
      );
    // The last: at 7 days - 1 ms; the first (at 0) is just inside 7 days.
    const lastFeatures = last(features);
    expect(byWindow(lastFeatures, 'card')).toEqual({
      count: [1, 1, 1, 3],
      amount: [32_000, 32_000, 32_000, 33_000],
      declines: [0, 0, 0, 1],
    });
    expect(byWindow(lastFeatures, 'cardholder')).toEqual({
      count: [1, 1, 1, 4],
      amount: [32_000, 32_000, 32_000, 37_000],
      declines: [0, 0, 0, 1],
    });
    expect(byWindow(lastFeatures, 'merchant')).toEqual({
      count: [1, 1, 2, 5],
      amount: [32_000, 32_000, 40_000, 45_000],
      declines: [0, 0, 0, 1],
    });
    expect(byWindow(lastFeatures, 'device')).toEqual({
      count: [1, 1, 2, 5],
      amount: [32_000, 32_000, 40_000, 45_000],
      declines: [0, 0, 0, 1],
    });
    expect(lastFeatures).toMatchObject({ merchant_new_cards_1h: 0, merchant_new_cards_24h: 1 });
    // Card b's decline at another merchant, without a device: its merchant's and no device features.
    expect(byWindow(features[4] ?? {}, 'merchant')).toEqual({
      count: [0, 0, 0, 0],
      amount: [0, 0, 0, 0],
      declines: [0, 0, 0, 0],
    });
    expect(byWindow(features[4] ?? {}, 'cardholder')).toEqual({
      count: [0, 0, 1, 1],
      amount: [0, 0, 8_000, 8_000],
      declines: [0, 0, 0, 0],
    });
    expect(byWindow(last(features), 'cardholder').declines).toEqual([0, 0, 0, 1]);
  });

  it("compares the amount with the cardholder's average approved amount over 7 days, across their cards", () => {
    const features = run([
      auth({ at: 0, amount: 10_000 }),
      auth({ at: MINUTE, cardId: 'card_b', amount: 30_000 }),
      auth({ at: 2 * MINUTE, amount: 99_999, approved: false }),
      auth({ at: 3 * MINUTE, amount: 40_000 }),
      auth({ at: 8 * 24 * HOUR, amount: 40_000 }),
    ]);
    expect(features[3]?.amount_ratio).toBe(2); // 40,000 against (10,000 + 30,000) / 2
    expect(features[3]?.cardholder_count_1h).toBe(3);
    expect(features[3]?.card_count_1h).toBe(2); // card_b's is the cardholder's, not this card's
    expect(last(features).amount_ratio).toBe(1); // nothing in the last 7 days
  });

  it('marks the first authorization of a card at a merchant and counts those per merchant', () => {
    const features = run([
      auth({ at: 0, cardId: 'card_a' }),
      auth({ at: MINUTE, cardId: 'card_a', approved: false }),
      auth({ at: 2 * MINUTE, cardId: 'card_b', cardholderId: 'ch_b' }),
      auth({ at: 3 * MINUTE, cardId: 'card_c', cardholderId: 'ch_c' }),
      auth({ at: 4 * MINUTE, cardId: 'card_a', merchantId: 'acq_2' }),
      auth({ at: 2 * HOUR, cardId: 'card_a' }),
    ]);
    expect(features.map((f) => f.first_time_merchant)).toEqual([true, false, true, true, true, false]);
    expect(features.map((f) => f.merchant_new_cards_1h)).toEqual([0, 1, 1, 2, 0, 0]);
    expect(features[3]?.merchant_count_1h).toBe(3);
  });

  it('measures minutes since the card was last used, capped at a week', () => {
    const features = run([
      auth({ at: 0 }),
      auth({ at: 90_000 }),
      auth({ at: 90_000 + 8 * 24 * HOUR }),
      auth({ at: 90_000 + 8 * 24 * HOUR + 1, cardId: 'card_other' }),
    ]);
    expect(features.map((f) => f.minutes_since_last)).toEqual([
      MINUTES_SINCE_LAST_CAP,
      1.5,
      MINUTES_SINCE_LAST_CAP,
      MINUTES_SINCE_LAST_CAP,
    ]);
  });

  it('counts a device across cards, and leaves its features out when there is no device', () => {
    const features = run([
      auth({ at: 0, entryMode: 'ecommerce', deviceId: 'ip_1' }),
      auth({ at: MINUTE, cardId: 'card_b', cardholderId: 'ch_b', entryMode: 'ecommerce', deviceId: 'ip_1' }),
      auth({
        at: 2 * MINUTE,
        cardId: 'card_c',
        cardholderId: 'ch_c',
        entryMode: 'ecommerce',
        deviceId: 'ip_1',
      }),
      auth({ at: 3 * MINUTE, entryMode: 'chip' }),
    ]);
    expect(features.slice(0, 3).map((f) => f.device_count_1h)).toEqual([0, 1, 2]);
    expect(features[2]).toMatchObject({
      device_count_1m: 0,
      device_count_24h: 2,
      device_amount_1h: 20_000,
      device_declines_7d: 0,
    });
    expect(DEVICE_FEATURES.filter((name) => name in (features[3] ?? {}))).toEqual([]);
  });

  it('flags card-present use in another country sooner than travel allows', () => {
    const london = minimumTravelMs('HK', 'GB');
    const features = run([
      auth({ at: 0, entryMode: 'chip' }),
      auth({ at: 5 * MINUTE, entryMode: 'ecommerce', merchantCountry: 'US', deviceId: 'd' }), // not card present
      auth({ at: 2 * HOUR, entryMode: 'magstripe', merchantCountry: 'GB', merchantId: 'acq_gb' }),
      auth({ at: 2 * HOUR + MINUTE, entryMode: 'chip', merchantCountry: 'GB', merchantId: 'acq_gb2' }),
      auth({ at: 2 * HOUR + 2 * MINUTE, entryMode: 'contactless', merchantCountry: 'HK' }),
      auth({ at: 2 * HOUR + 2 * MINUTE + london, entryMode: 'contactless', merchantCountry: 'GB' }),
    ]);
    expect(features.map((f) => f.impossible_travel)).toEqual([false, false, true, false, true, false]);
    expect(features.map((f) => f.country_changed)).toEqual([false, true, true, false, true, true]);
    expect(features.map((f) => f.foreign_merchant)).toEqual([false, true, true, true, false, true]);
  });

  it('gives the Hong Kong hour, the risk class and the entry mode', () => {
    expect(hongKongHour(Date.UTC(2025, 0, 1, 16))).toBe(0);
    expect(hongKongHour(Date.UTC(2025, 0, 1, 15, 59))).toBe(23);
    const [features] = run([auth({ at: 15 * HOUR, mcc: '7995', entryMode: 'keyed' })]);
    expect(features).toMatchObject({ local_hour: 1, mcc_risk_class: 'high', entry_mode: 'keyed' });
  });

  it('refuses authorizations out of time order', () => {
    const tracker = new FeatureTracker();
    tracker.next(auth({ at: MINUTE }));
    expect(() => tracker.next(auth({ at: 0 }))).toThrow(/time order/);
  });

  it('forgets what left the longest window but keeps counting right over long streams', () => {
    const tracker = new FeatureTracker();
    let features: Readonly<Record<string, number | boolean | string>> = {};
    // One authorization a minute for 9 days: 12,960, well past compaction.
    for (let i = 0; i < 12_960; i += 1) features = tracker.next(auth({ at: i * MINUTE, amount: 100 }));
    expect(features).toMatchObject({ card_count_1h: 59, card_count_24h: 1_439, card_count_7d: 10_079 });
    expect(features.card_amount_7d).toBe(1_007_900);
  });
});

describe('travel rule', () => {
  it('needs about an hour to Macau and half a day to London', () => {
    expect(minimumTravelMs('HK', 'HK')).toBe(0);
    expect(minimumTravelMs('HK', 'MO') / HOUR).toBeCloseTo(1.1, 1);
    expect(minimumTravelMs('HK', 'GB') / HOUR).toBeGreaterThan(12);
    expect(minimumTravelMs('HK', 'ZZ')).toBe(3 * HOUR);
    expect(isImpossibleTravel('HK', 'JP', 3 * HOUR)).toBe(true);
    expect(isImpossibleTravel('HK', 'JP', 5 * HOUR)).toBe(false);
  });
});
