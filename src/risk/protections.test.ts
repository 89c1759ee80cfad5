import { describe, expect, it } from 'vitest';
import { DEFAULT_PROTECTIONS, trippedProtection, type ProtectionSettings } from './protections.js';
import { FeatureTracker, type AuthorizationEvent } from './feature-tracker.js';

const start = Date.parse('2026-03-02T02:00:00.000Z');

function purchase(
  overrides: Partial<AuthorizationEvent> & Pick<AuthorizationEvent, 'time'>,
): AuthorizationEvent {
  return {
    cardId: 'card_a',
    cardholderId: 'chd_a',
    cardholderCountry: 'HK',
    merchantId: 'M-grocer',
    mcc: '5411',
    merchantCountry: 'HK',
    entryMode: 'contactless',
    deviceId: null,
    amount: 8_500,
    approved: true,
    ...overrides,
  };
}

describe('built-in protections', () => {
  it('declines a card-testing run at one merchant once the pattern is clear, while ordinary shopping elsewhere passes', () => {
    const tracker = new FeatureTracker();
    const tripped: number[] = [];
    const ordinaryTripped: string[] = [];
    // Two hundred ordinary purchases by a hundred people at twenty merchants over the hour, interleaved with a run
    // of sixty small e-commerce tries at one merchant, each with a different stolen card, two seconds apart.
    const stream: { event: AuthorizationEvent; testing: number | undefined }[] = [];
    for (let n = 0; n < 200; n += 1) {
      stream.push({
        event: purchase({
          time: start + n * 18_000,
          cardId: `card_person_${String(n % 100)}`,
          cardholderId: `chd_person_${String(n % 100)}`,
          merchantId: `M-shop-${String(n % 20)}`,
          amount: 2_000 + ((n * 7_919) % 30_000),
        }),
        testing: undefined,
      });
    }
    for (let n = 0; n < 60; n += 1) {
      stream.push({
        event: purchase({
          time: start + 600_000 + n * 2_000 + 1,
          cardId: `card_stolen_${String(n)}`,
          cardholderId: `chd_stolen_${String(n)}`,
          merchantId: 'M-tester',
          mcc: '5816',
          entryMode: 'ecommerce',
          amount: 100 + (n % 5) * 50,
          approved: n % 3 !== 0,
        }),
        testing: n,
      });
    }
    stream.sort((a, b) => a.event.time - b.event.time);
    for (const { event, testing } of stream) {
      const hit = trippedProtection(DEFAULT_PROTECTIONS, tracker.next(event));
      if (testing !== undefined && hit?.protection === 'card_testing') tripped.push(testing);
      if (testing === undefined && hit !== undefined) ordinaryTripped.push(`${event.cardId}: ${hit.signal}`);
    }
    expect(ordinaryTripped).toEqual([]);
    // Ten cards new to the merchant before it: from the eleventh try on, every one is declined.
    expect(tripped).toEqual(Array.from({ length: 50 }, (_, index) => index + 10));
  });

  it('leaves an app store alone that sees new cards all day, and still catches a spike there', () => {
    const tracker = new FeatureTracker();
    const hits: number[] = [];
    // Twenty cards an hour new to the store, each buying something small online, every three minutes for two days.
    for (let n = 0; n < 960; n += 1) {
      const features = tracker.next(
        purchase({
          time: start + n * 180_000,
          cardId: `card_gamer_${String(n)}`,
          cardholderId: `chd_gamer_${String(n)}`,
          merchantId: 'M-apps',
          mcc: '5817',
          entryMode: 'ecommerce',
          amount: 800,
        }),
      );
      if (trippedProtection(DEFAULT_PROTECTIONS, features) !== undefined) hits.push(n);
    }
    // Its first hours have too little usual to compare with, and look like a spike, as a tester's would; once it
    // has a day's history, its ordinary hours never do.
    expect(hits.filter((n) => n >= 480)).toEqual([]);
    // Then sixty new cards in ten minutes: three times its usual hour and more.
    const spike: number[] = [];
    for (let n = 0; n < 60; n += 1) {
      const features = tracker.next(
        purchase({
          time: start + 960 * 180_000 + n * 10_000,
          cardId: `card_tested_${String(n)}`,
          cardholderId: `chd_tested_${String(n)}`,
          merchantId: 'M-apps',
          mcc: '5817',
          entryMode: 'ecommerce',
          amount: 100,
        }),
      );
      if (trippedProtection(DEFAULT_PROTECTIONS, features)?.protection === 'card_testing') spike.push(n);
    }
    expect(spike.length).toBeGreaterThan(0);
    expect(spike[spike.length - 1]).toBe(59);
  });

  it('leaves a transit gate alone: many cards new to it, each tapping a small fare', () => {
    const tracker = new FeatureTracker();
    const hits: string[] = [];
    for (let n = 0; n < 200; n += 1) {
      const features = tracker.next(
        purchase({
          time: start + n * 3_000,
          cardId: `card_rider_${String(n)}`,
          cardholderId: `chd_rider_${String(n)}`,
          merchantId: 'M-gate',
          mcc: '4111',
          entryMode: 'contactless',
          amount: 520,
        }),
      );
      const hit = trippedProtection(DEFAULT_PROTECTIONS, features);
      if (hit !== undefined) hits.push(hit.signal);
    }
    expect(hits).toEqual([]);
  });

  it('declines one card’s burst and one card’s run of declines, and nothing when turned off', () => {
    const tracker = new FeatureTracker();
    const signals: (string | undefined)[] = [];
    for (let n = 0; n < 8; n += 1) {
      signals.push(
        trippedProtection(
          DEFAULT_PROTECTIONS,
          tracker.next(purchase({ time: start + n * 5_000, merchantId: `M-${String(n)}` })),
        )?.signal,
      );
    }
    expect(signals.slice(0, 5)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(signals.slice(5)).toEqual(Array(3).fill('many authorizations on this card within a minute'));

    const declines = new FeatureTracker();
    let last;
    for (let n = 0; n < 6; n += 1) {
      last = declines.next(
        purchase({ time: start + n * 120_000, cardId: 'card_b', approved: false, merchantId: 'M-online' }),
      );
    }
    expect(last === undefined ? undefined : trippedProtection(DEFAULT_PROTECTIONS, last)).toEqual({
      protection: 'card_testing',
      signal: 'many declines on this card',
    });
    const off: ProtectionSettings = {
      card_testing: { ...DEFAULT_PROTECTIONS.card_testing, enabled: false },
      burst: { ...DEFAULT_PROTECTIONS.burst, enabled: false },
    };
    expect(last === undefined ? 'none' : trippedProtection(off, last)).toBeUndefined();
  });
});
