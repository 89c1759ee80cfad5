import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ACTIVITY_KINDS, type Activity, type CardholderActivity, type TierCaps } from './activity.js';
import { DEFAULT_SCENARIO_SETTINGS, parseScenarioSettings, type ScenarioSettings } from './parameters.js';
import {
  activityLookback,
  evaluateScenario,
  evaluateScenarios,
  evaluateSharedDevice,
  type ScenarioHit,
} from './scenarios.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Monday 2025-03-03, 10:00 in Hong Kong: the moment of evaluation in most tests. */
const NOW = Date.UTC(2025, 2, 3, 2);
const PROGRAM = 'prog_1';
const HOLDER = 'chd_a';
const HKD = (major: number): number => Math.round(major * 100);

const UNVERIFIED: TierCaps = { maxBalance: HKD(3_000), maxLoadsPerYear: HKD(25_000) };
const VERIFIED: TierCaps = { maxBalance: HKD(200_000), maxLoadsPerYear: HKD(1_200_000) };

const PREFIX: Readonly<Record<Activity['kind'], string>> = {
  load: 'load',
  load_declined: 'load',
  unload: 'unld',
  authorization: 'auth',
  capture: 'txn',
  force_post: 'txn',
  refund: 'txn',
  card_created: 'card',
  card_closed: 'card',
  onboarding: 'chd',
};

let sequence = 0;

type Draft = Partial<Activity> & Pick<Activity, 'kind' | 'at'>;

function activity(draft: Draft): Activity {
  sequence += 1;
  return {
    id: `${PREFIX[draft.kind]}_${String(sequence).padStart(5, '0')}`,
    programId: PROGRAM,
    cardholderId: HOLDER,
    amount: 0,
    currency: 'HKD',
    cardId: null,
    walletId: null,
    approved: draft.kind === 'authorization' ? true : null,
    merchantCountry: null,
    authorizedAmount: null,
    flags: [],
    balanceAfter: null,
    deviceKey: null,
    deviceKind: null,
    converted: null,
    ...draft,
  };
}

const load = (at: number, amount: number, walletId: string, extra: Partial<Activity> = {}): Activity =>
  activity({ kind: 'load', at, amount, walletId, balanceAfter: amount, ...extra });

const payment = (at: number, amount: number, cardId: string, extra: Partial<Activity> = {}): Activity =>
  activity({
    kind: 'authorization',
    at,
    amount,
    cardId,
    walletId: `w_${cardId}`,
    merchantCountry: 'HK',
    ...extra,
  });

function holder(
  activities: readonly Activity[],
  extra: Partial<CardholderActivity> = {},
): CardholderActivity {
  return {
    cardholderId: HOLDER,
    programId: PROGRAM,
    homeCountry: 'HK',
    caps: { HKD: VERIFIED },
    activities: [...activities].sort((a, b) => a.at - b.at),
    ...extra,
  };
}

const evaluate = (activities: readonly Activity[], extra: Partial<CardholderActivity> = {}, now = NOW) =>
  evaluateScenarios(holder(activities, extra), DEFAULT_SCENARIO_SETTINGS, now);

const brief = (hits: readonly ScenarioHit[]) =>
  hits.map((each) => ({ scenario: each.scenario, reason: each.reason, activityIds: each.activityIds }));

const idsOf = (activities: readonly Activity[]): string[] =>
  [...activities].sort((a, b) => a.at - b.at || a.id.localeCompare(b.id)).map((each) => each.id);

/**
 * The same activity as if each piece belonged to a cardholder of its own, each evaluated on their own: none of them
 * shows a pattern, which is the point of aggregating per cardholder.
 */
function spreadOverCardholders(activities: readonly Activity[], extra: Partial<CardholderActivity> = {}) {
  return activities.flatMap((each, index) => {
    const cardholderId = `chd_other_${String(index)}`;
    return evaluateScenarios(
      holder([{ ...each, cardholderId }], { cardholderId, ...extra }),
      DEFAULT_SCENARIO_SETTINGS,
      NOW,
    );
  });
}

/** A month of an ordinary cardholder: weekly top-ups, everyday payments at home on two cards, captured, a trip. */
function ordinaryMonth(): Activity[] {
  const activities: Activity[] = [
    activity({ kind: 'card_created', at: NOW - 40 * DAY, id: 'card_main', cardId: 'card_main' }),
    activity({ kind: 'card_created', at: NOW - 40 * DAY, id: 'card_online', cardId: 'card_online' }),
  ];
  let balance = 0;
  for (let day = 30; day >= 1; day -= 1) {
    const morning = NOW - day * DAY;
    if (day % 7 === 0) {
      balance += HKD(1_000);
      activities.push(load(morning, HKD(1_000), 'w_main', { balanceAfter: balance }));
    }
    const spent = HKD(60 + ((day * 37) % 140));
    balance -= spent;
    const card = day % 3 === 0 ? 'card_online' : 'card_main';
    const country = day % 10 === 0 ? 'US' : 'HK';
    const auth = payment(morning + 3 * HOUR, spent, card, { walletId: 'w_main', merchantCountry: country });
    const captured = day % 5 === 0 ? Math.round(spent * 1.1) : spent;
    activities.push(
      auth,
      activity({
        kind: 'capture',
        at: morning + 27 * HOUR,
        amount: captured,
        authorizedAmount: spent,
        cardId: card,
        walletId: 'w_main',
        merchantCountry: country,
      }),
    );
  }
  return activities;
}

describe('ordinary behaviour', () => {
  it('raises nothing for a month of everyday use', () => {
    expect(evaluate(ordinaryMonth())).toEqual([]);
    expect(evaluate(ordinaryMonth(), { caps: { HKD: UNVERIFIED } })).toEqual([]);
  });
});

describe('structuring', () => {
  it('raises one hit for loads just under HKD 8,000 spread over three wallets within a week', () => {
    const pattern = [
      load(NOW - 4 * DAY, HKD(7_500), 'w_1'),
      load(NOW - 2.5 * DAY, HKD(7_800), 'w_2'),
      load(NOW - 1 * DAY, HKD(7_950), 'w_3'),
    ];
    const noise = [load(NOW - 3 * DAY, HKD(2_000), 'w_1'), payment(NOW - 2 * DAY, HKD(300), 'card_1')];
    const hits = evaluate([...pattern, ...noise]);
    expect(brief(hits)).toEqual([
      { scenario: 'structuring', reason: 'loads_just_under_threshold', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.cardholderId).toBe(HOLDER);
    expect(hits[0]?.programId).toBe(PROGRAM);
    expect(hits[0]?.window).toEqual({ from: NOW - 1 * DAY - 7 * DAY, to: NOW - 1 * DAY });
    expect(hits[0]?.summary).toBe(
      '3 loads of HKD 7,200.00 to HKD 7,999.99, just under the HKD 8,000.00 threshold, within 7 days on 3 ' +
        'wallets: HKD 23,250.00 in all',
    );
    expect(spreadOverCardholders(pattern)).toEqual([]);
  });

  it('raises one hit for approved payments just under the threshold on several cards, declined ones aside', () => {
    const pattern = [
      payment(NOW - 5 * DAY, HKD(7_990), 'card_1'),
      payment(NOW - 3 * DAY, HKD(7_600), 'card_2'),
      payment(NOW - 1 * DAY, HKD(7_250), 'card_3'),
    ];
    const declined = payment(NOW - 2 * DAY, HKD(7_900), 'card_2', { approved: false });
    expect(brief(evaluate([...pattern, declined]))).toEqual([
      { scenario: 'structuring', reason: 'payments_just_under_threshold', activityIds: idsOf(pattern) },
    ]);
    expect(spreadOverCardholders(pattern)).toEqual([]);
  });

  it('counts the band exactly: from the threshold less the margin, up to but not including the threshold', () => {
    const atBounds = [
      load(NOW - 5 * DAY, HKD(7_200), 'w_1'),
      load(NOW - 3 * DAY, HKD(7_999.99), 'w_2'),
      load(NOW - 1 * DAY, HKD(8_000), 'w_3'),
      load(NOW - 0.5 * DAY, HKD(7_199.99), 'w_3'),
    ];
    expect(evaluate(atBounds)).toEqual([]);
    const inBand = [...atBounds, load(NOW - 2 * DAY, HKD(7_201), 'w_1')];
    expect(brief(evaluate(inBand))).toEqual([
      {
        scenario: 'structuring',
        reason: 'loads_just_under_threshold',
        activityIds: idsOf([inBand[0], inBand[1], inBand[4]] as Activity[]),
      },
    ]);
  });

  it('counts linked loads together: HKD 8,000 split in three over three wallets within a day', () => {
    const pattern = [
      load(NOW - 20 * HOUR, HKD(3_300), 'w_1'),
      load(NOW - 10 * HOUR, HKD(3_500), 'w_2'),
      load(NOW - 4 * HOUR, HKD(3_400), 'w_3'),
    ];
    const hits = evaluate([...pattern, load(NOW - 3 * DAY, HKD(4_000), 'w_1')]);
    expect(brief(hits)).toEqual([
      { scenario: 'structuring', reason: 'linked_loads_reach_threshold', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.summary).toBe(
      '3 loads, each under the HKD 8,000.00 threshold, HKD 10,200.00 together within 1 day on 3 wallets',
    );
    expect(spreadOverCardholders(pattern)).toEqual([]);
    // Parts under 40% of the threshold are not linked amounts, and three parts short of it are not enough.
    const small = [
      load(NOW - 20 * HOUR, HKD(3_100), 'w_1'),
      load(NOW - 10 * HOUR, HKD(3_300), 'w_2'),
      load(NOW - 4 * HOUR, HKD(4_000), 'w_3'),
    ];
    expect(evaluate(small)).toEqual([]);
    // A split in two is linked for a programme that asks for two parts.
    const halves = [load(NOW - 10 * HOUR, HKD(4_000), 'w_1'), load(NOW - 4 * HOUR, HKD(4_000), 'w_2')];
    expect(evaluate(halves)).toEqual([]);
    const twoParts = parseScenarioSettings({ structuring: { linked_count_min: 2 } });
    expect(brief(evaluateScenarios(holder(halves), twoParts, NOW))).toEqual([
      { scenario: 'structuring', reason: 'linked_loads_reach_threshold', activityIds: idsOf(halves) },
    ]);
  });

  it("watches the HKD 120,000 threshold, and a programme's own thresholds in another currency", () => {
    const large = [
      load(NOW - 5 * DAY, HKD(110_000), 'w_1'),
      load(NOW - 3 * DAY, HKD(115_000), 'w_2'),
      load(NOW - 1 * DAY, HKD(119_000), 'w_1'),
    ];
    expect(brief(evaluate(large))).toEqual([
      { scenario: 'structuring', reason: 'loads_just_under_threshold', activityIds: idsOf(large) },
    ]);
    const settings = parseScenarioSettings({ structuring: { thresholds: { USD: [10_000_00] } } });
    const dollars = [
      load(NOW - 5 * DAY, 9_500_00, 'w_usd', { currency: 'USD' }),
      load(NOW - 3 * DAY, 9_100_00, 'w_usd', { currency: 'USD' }),
      load(NOW - 1 * DAY, 9_900_00, 'w_usd', { currency: 'USD' }),
    ];
    const hits = evaluateScenarios(holder(dollars, { caps: {} }), settings, NOW);
    expect(brief(hits)).toEqual([
      { scenario: 'structuring', reason: 'loads_just_under_threshold', activityIds: idsOf(dollars) },
    ]);
    expect(hits[0]?.summary).toContain('just under the USD 10,000.00 threshold');
    // With the defaults, USD has no thresholds: nothing is watched in it.
    expect(evaluate(dollars, { caps: {} })).toEqual([]);
  });
});

describe('tier-limit probing', () => {
  it('raises one hit for repeated loads that bring wallets near the balance cap', () => {
    const pattern = [
      load(NOW - 20 * DAY, HKD(2_500), 'w_1', { balanceAfter: HKD(2_900) }),
      load(NOW - 12 * DAY, HKD(2_000), 'w_2', { balanceAfter: HKD(3_000) }),
      load(NOW - 2 * DAY, HKD(2_850), 'w_1', { balanceAfter: HKD(2_850) }),
    ];
    const lower = load(NOW - 6 * DAY, HKD(2_000), 'w_2', { balanceAfter: HKD(2_500) });
    const hits = evaluate([...pattern, lower], { caps: { HKD: UNVERIFIED } });
    expect(brief(hits)).toEqual([
      { scenario: 'tier_limit_probing', reason: 'loads_near_balance_cap', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.summary).toContain('95% or more of the HKD 3,000.00 balance cap');
    expect(spreadOverCardholders(pattern, { caps: { HKD: UNVERIFIED } })).toEqual([]);
    // The verified tier's cap is far above: the same loads are ordinary there.
    expect(evaluate([...pattern, lower], { caps: { HKD: VERIFIED } })).toEqual([]);
  });

  it("raises one hit for loads that repeatedly bring the year's loads near the yearly cap", () => {
    const earlier = Array.from({ length: 11 }, (_, month) =>
      load(NOW - (340 - month * 30) * DAY, HKD(2_000), month % 2 === 0 ? 'w_1' : 'w_2', {
        balanceAfter: HKD(2_000),
      }),
    );
    // 22,000 loaded by now − 40 days; each of these takes the year past 90% of HKD 25,000 (22,500).
    const pattern = [
      load(NOW - 20 * DAY, HKD(800), 'w_1', { balanceAfter: HKD(1_500) }),
      load(NOW - 10 * DAY, HKD(700), 'w_2', { balanceAfter: HKD(1_400) }),
      load(NOW - 1 * DAY, HKD(900), 'w_1', { balanceAfter: HKD(1_600) }),
    ];
    const hits = evaluate([...earlier, ...pattern], { caps: { HKD: UNVERIFIED } });
    expect(brief(hits)).toEqual([
      { scenario: 'tier_limit_probing', reason: 'loads_near_yearly_cap', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.summary).toContain('(highest HKD 24,400.00)');
    expect(spreadOverCardholders([...earlier, ...pattern], { caps: { HKD: UNVERIFIED } })).toEqual([]);
  });
});

describe('rapid movement', () => {
  it('raises one hit for loads spent on other cards within hours, three times in a month', () => {
    const pattern = [
      load(NOW - 25 * DAY, HKD(6_000), 'w_1'),
      payment(NOW - 25 * DAY + 2 * HOUR, HKD(5_800), 'card_1'),
      load(NOW - 14 * DAY, HKD(8_000), 'w_2'),
      payment(NOW - 14 * DAY + 1 * HOUR, HKD(4_000), 'card_2'),
      activity({ kind: 'unload', at: NOW - 14 * DAY + 5 * HOUR, amount: HKD(3_500), walletId: 'w_2' }),
      load(NOW - 3 * DAY, HKD(5_000), 'w_1'),
      activity({
        kind: 'force_post',
        at: NOW - 3 * DAY + 20 * HOUR,
        amount: HKD(4_600),
        cardId: 'card_3',
        walletId: 'w_1',
      }),
    ];
    const noise = [
      payment(NOW - 20 * DAY, HKD(120), 'card_1'),
      load(NOW - 18 * DAY, HKD(1_000), 'w_1'),
      payment(NOW - 25 * DAY + 1 * HOUR, HKD(900), 'card_1', { approved: false }),
    ];
    expect(brief(evaluate([...pattern, ...noise]))).toEqual([
      { scenario: 'rapid_movement', reason: 'repeated_rapid_movement', activityIds: idsOf(pattern) },
    ]);
    expect(spreadOverCardholders(pattern)).toEqual([]);
  });

  it('raises one hit for a single large load unloaded within hours', () => {
    const pattern = [
      load(NOW - 3 * HOUR, HKD(60_000), 'w_1'),
      activity({ kind: 'unload', at: NOW - 1 * HOUR, amount: HKD(58_000), walletId: 'w_1' }),
    ];
    const hits = evaluate([...pattern, payment(NOW - 5 * DAY, HKD(200), 'card_1')]);
    expect(brief(hits)).toEqual([
      { scenario: 'rapid_movement', reason: 'large_rapid_movement', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.window).toEqual({ from: NOW - 3 * HOUR, to: NOW - 1 * HOUR });
  });

  it('does not let one payment move several loads, nor count a load spent after the window', () => {
    const oneSpend = [
      load(NOW - 30 * HOUR, HKD(6_000), 'w_1'),
      load(NOW - 29 * HOUR, HKD(6_000), 'w_2'),
      load(NOW - 28 * HOUR, HKD(6_000), 'w_3'),
      payment(NOW - 27 * HOUR, HKD(6_000), 'card_1'),
    ];
    expect(evaluate(oneSpend)).toEqual([]);
    const late = [0, 8, 16].flatMap((day) => [
      load(NOW - (day + 3) * DAY, HKD(6_000), 'w_1'),
      payment(NOW - (day + 3) * DAY + 25 * HOUR, HKD(6_000), 'card_1'),
    ]);
    expect(evaluate(late)).toEqual([]);
  });
});

describe('card rotation', () => {
  it('raises one hit for five cards created within a week', () => {
    const pattern = [0, 1, 2, 3, 4].map((index) =>
      activity({
        kind: 'card_created',
        at: NOW - (6 - index) * DAY,
        id: `card_new_${String(index)}`,
        cardId: `card_new_${String(index)}`,
      }),
    );
    expect(brief(evaluate(pattern))).toEqual([
      { scenario: 'card_rotation', reason: 'many_cards_created', activityIds: idsOf(pattern) },
    ]);
    expect(spreadOverCardholders(pattern)).toEqual([]);
  });

  it('raises one hit for five cards closed within a week', () => {
    const pattern = [0, 1, 2, 3, 4].map((index) =>
      activity({
        kind: 'card_closed',
        at: NOW - index * DAY,
        id: `card_${String(index)}`,
        cardId: `card_${String(index)}`,
      }),
    );
    expect(brief(evaluate(pattern))).toEqual([
      { scenario: 'card_rotation', reason: 'many_cards_closed', activityIds: idsOf(pattern) },
    ]);
  });

  it("raises one hit for five cards used within a week, listing each card's first use", () => {
    const firsts = [0, 1, 2, 3, 4].map((index) =>
      payment(NOW - (6 - index) * DAY, HKD(100), `card_${String(index)}`),
    );
    const later = [payment(NOW - 1 * DAY, HKD(80), 'card_0'), payment(NOW - 0.5 * DAY, HKD(90), 'card_2')];
    const hits = evaluate([...firsts, ...later]);
    expect(brief(hits)).toEqual([
      { scenario: 'card_rotation', reason: 'many_cards_used', activityIds: idsOf(firsts) },
    ]);
    // The window where the pattern began: the fifth card's first use. Later payments do not change the hit.
    expect(hits[0]?.summary).toBe('5 cards used within 7 days (5 payments and clearings, 1 currency)');
    expect(hits[0]?.window).toEqual({ from: NOW - 9 * DAY, to: NOW - 2 * DAY });
    expect(spreadOverCardholders(firsts)).toEqual([]);
    // Four cards is ordinary.
    expect(evaluate([...firsts.slice(0, 4), ...later])).toEqual([]);
  });
});

describe('capture abuse', () => {
  it('raises one hit for clearings after their hold expired, on two cards', () => {
    const pattern = [
      activity({
        kind: 'capture',
        at: NOW - 20 * DAY,
        amount: HKD(900),
        authorizedAmount: HKD(900),
        cardId: 'card_1',
        flags: ['cleared_without_open_hold'],
      }),
      activity({
        kind: 'force_post',
        at: NOW - 2 * DAY,
        amount: HKD(1_500),
        cardId: 'card_2',
        flags: ['cleared_without_open_hold'],
      }),
    ];
    expect(brief(evaluate(pattern))).toEqual([
      { scenario: 'capture_abuse', reason: 'cleared_after_hold_expired', activityIds: idsOf(pattern) },
    ]);
    expect(spreadOverCardholders(pattern)).toEqual([]);
  });

  it('raises one hit for captures far above their authorization; a tip within tolerance is not one', () => {
    const pattern = [
      activity({
        kind: 'capture',
        at: NOW - 9 * DAY,
        amount: HKD(1_600),
        authorizedAmount: HKD(1_000),
        cardId: 'card_1',
      }),
      activity({
        kind: 'capture',
        at: NOW - 3 * DAY,
        amount: HKD(1_300),
        authorizedAmount: HKD(1_000),
        cardId: 'card_2',
        flags: ['over_capture_beyond_tolerance'],
      }),
    ];
    const tips = [
      activity({
        kind: 'capture',
        at: NOW - 5 * DAY,
        amount: HKD(1_150),
        authorizedAmount: HKD(1_000),
        cardId: 'card_1',
      }),
      // Exactly 50% above is not more than 50% above.
      activity({
        kind: 'capture',
        at: NOW - 4 * DAY,
        amount: HKD(1_500),
        authorizedAmount: HKD(1_000),
        cardId: 'card_1',
      }),
    ];
    expect(brief(evaluate([...pattern, ...tips]))).toEqual([
      { scenario: 'capture_abuse', reason: 'cleared_far_above_authorization', activityIds: idsOf(pattern) },
    ]);
    expect(spreadOverCardholders(pattern)).toEqual([]);
  });

  it('raises one hit for three force posts within a month', () => {
    const pattern = [25, 12, 1].map((days, index) =>
      activity({
        kind: 'force_post',
        at: NOW - days * DAY,
        amount: HKD(400),
        cardId: `card_${String(index)}`,
      }),
    );
    const hits = evaluate(pattern);
    expect(brief(hits)).toEqual([
      { scenario: 'capture_abuse', reason: 'repeated_force_posts', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.summary).toBe(
      '3 force posts (clearings with no authorization) within 30 days on 3 cards: HKD 1,200.00',
    );
    expect(spreadOverCardholders(pattern)).toEqual([]);
  });
});

describe('cross-border', () => {
  it('raises one hit for twenty payments in seven foreign countries within a week, on two cards', () => {
    const countries = ['JP', 'US', 'GB', 'FR', 'SG', 'TH', 'AU'];
    const pattern = Array.from({ length: 20 }, (_, index) =>
      payment(NOW - 6 * DAY + index * 6 * HOUR, HKD(300), index % 2 === 0 ? 'card_1' : 'card_2', {
        merchantCountry: countries[index % countries.length] ?? 'JP',
      }),
    );
    const home = [payment(NOW - 2 * DAY, HKD(500), 'card_1'), payment(NOW - 1 * DAY, HKD(500), 'card_2')];
    // A declined payment spent nothing abroad.
    const declined = payment(NOW - 1 * HOUR, HKD(300), 'card_1', { merchantCountry: 'DE', approved: false });
    const hits = evaluate([...pattern, ...home, declined]);
    expect(brief(hits)).toEqual([
      { scenario: 'cross_border', reason: 'many_foreign_countries', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.summary).toBe(
      '20 payments outside HK within 7 days, in 7 countries (AU, FR, GB, JP, SG, TH, US) on 2 cards and 2 wallets',
    );
    expect(spreadOverCardholders(pattern)).toEqual([]);
    expect(evaluate([...pattern, ...home], { homeCountry: null })).toEqual([]);
    // Six countries is ordinary online shopping.
    expect(evaluate(pattern.filter((each) => each.merchantCountry !== 'AU'))).toEqual([]);
  });

  it('raises one hit when nearly all of a large spend is abroad, listing the foreign payments', () => {
    const pattern = [
      payment(NOW - 5 * DAY, HKD(18_000), 'card_1', { merchantCountry: 'MO' }),
      payment(NOW - 3 * DAY, HKD(16_000), 'card_2', { merchantCountry: 'MO' }),
      payment(NOW - 1 * DAY, HKD(16_000), 'card_1', { merchantCountry: 'MO' }),
    ];
    const home = [payment(NOW - 4 * DAY, HKD(2_000), 'card_1')];
    const hits = evaluate([...pattern, ...home]);
    expect(brief(hits)).toEqual([
      { scenario: 'cross_border', reason: 'foreign_spend_share', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.summary).toBe(
      'HKD 50,000.00 spent outside HK within 7 days, 96% of all spending (3 payments) on 2 cards and 2 wallets',
    );
    expect(spreadOverCardholders(pattern)).toEqual([]);
    // With more spent at home, the share falls under 90%.
    expect(evaluate([...pattern, ...home, payment(NOW - 2 * DAY, HKD(4_000), 'card_2')])).toEqual([]);
  });
});

describe('shared device', () => {
  const DEVICE = 'ab12';
  /** Two activities of each cardholder on the device, on two cards of theirs. */
  const onDevice = (cardholders: readonly string[], deviceKey = DEVICE, programId = PROGRAM): Activity[] =>
    cardholders.flatMap((cardholderId, index) => [
      payment(NOW - (5 - index) * DAY, HKD(200), `card_${cardholderId}_1`, {
        cardholderId,
        deviceKey,
        programId,
      }),
      load(NOW - (5 - index) * DAY + HOUR, HKD(500), `w_${cardholderId}`, {
        cardholderId,
        deviceKey,
        programId,
      }),
    ]);

  it('raises one hit per cardholder when four cardholders used one device within a week, each listing all', () => {
    const cardholders = ['chd_a', 'chd_b', 'chd_c', 'chd_d'];
    const pattern = onDevice(cardholders);
    const hits = evaluateSharedDevice(pattern, DEFAULT_SCENARIO_SETTINGS, NOW);
    expect(hits.map((each) => each.cardholderId)).toEqual(cardholders);
    // The window where the fourth cardholder first appeared: their later load does not change the hits.
    for (const each of hits) {
      expect(each).toMatchObject({
        scenario: 'shared_device',
        reason: 'many_cardholders_on_device',
        programId: PROGRAM,
        activityIds: idsOf(pattern.slice(0, -1)),
      });
    }
    expect(hits[0]?.summary).toBe('4 cardholders used one device within 7 days (7 activities)');
    // Never from the per-cardholder evaluation.
    expect(evaluate(pattern.filter((each) => each.cardholderId === HOLDER))).toEqual([]);
  });

  it('gives a cardholder who joins the device later a hit of their own; the others keep theirs', () => {
    const pattern = onDevice(['chd_a', 'chd_b', 'chd_c', 'chd_d']);
    const before = evaluateSharedDevice(pattern, DEFAULT_SCENARIO_SETTINGS, NOW);
    const joining = payment(NOW - 1 * HOUR, HKD(200), 'card_chd_e_1', {
      cardholderId: 'chd_e',
      deviceKey: DEVICE,
    });
    const after = evaluateSharedDevice([...pattern, joining], DEFAULT_SCENARIO_SETTINGS, NOW);
    expect(after.slice(0, 4)).toEqual(before);
    expect(after).toHaveLength(5);
    expect(after[4]).toMatchObject({
      cardholderId: 'chd_e',
      activityIds: idsOf([...pattern, joining]),
      summary: '5 cardholders used one device within 7 days (9 activities)',
    });
  });

  it('raises nothing for three cardholders, for the same cardholders on devices of their own, or across programmes', () => {
    expect(
      evaluateSharedDevice(onDevice(['chd_a', 'chd_b', 'chd_c']), DEFAULT_SCENARIO_SETTINGS, NOW),
    ).toEqual([]);
    const ownDevices = ['chd_a', 'chd_b', 'chd_c', 'chd_d'].flatMap((cardholderId) =>
      onDevice([cardholderId], `dev_${cardholderId}`),
    );
    expect(evaluateSharedDevice(ownDevices, DEFAULT_SCENARIO_SETTINGS, NOW)).toEqual([]);
    const twoProgrammes = [
      ...onDevice(['chd_a', 'chd_b']),
      ...onDevice(['chd_c', 'chd_d'], DEVICE, 'prog_2'),
    ];
    expect(evaluateSharedDevice(twoProgrammes, DEFAULT_SCENARIO_SETTINGS, NOW)).toEqual([]);
  });
});

describe('stable hits', () => {
  const pattern = [
    load(NOW - 4 * DAY, HKD(7_500), 'w_1'),
    load(NOW - 2.5 * DAY, HKD(7_800), 'w_2'),
    load(NOW - 1 * DAY, HKD(7_950), 'w_3'),
  ];
  const all = [...pattern, ...ordinaryMonth()];

  it('gives the same hits again, whatever order the activity comes in and however often an event was delivered', () => {
    const first = evaluate(all);
    expect(first).toHaveLength(1);
    expect(evaluate(all)).toEqual(first);
    expect(evaluate([...all].reverse())).toEqual(first);
    expect(evaluate([...all, ...all])).toEqual(first);
  });

  it('keeps a hit the same as time passes without new activity, until it leaves its window', () => {
    const first = evaluate(all);
    expect(evaluate(all, {}, NOW + 3 * DAY)).toEqual(first);
    // The newest load is then more than a window old: the pattern was raised when it was current.
    expect(evaluate(all, {}, NOW + 6.5 * DAY)).toEqual([]);
  });

  it('keeps one hit while further loads extend the pattern, and ignores activity after now', () => {
    const first = evaluate(all);
    const fourth = load(NOW - 2 * HOUR, HKD(7_700), 'w_1');
    expect(evaluate([...all, fourth])).toEqual(first);
    expect(evaluate([...all, fourth], {}, NOW + 5 * DAY)).toEqual(first);
    expect(evaluate([...all, load(NOW + HOUR, HKD(7_700), 'w_1')])).toEqual(first);
  });

  it('makes a new hit when the pattern stops and starts again, or goes on into a new pattern period', () => {
    // A lone load just under the threshold a fortnight later: the pattern stopped there.
    const lone = load(NOW + 14 * DAY, HKD(7_600), 'w_2');
    const again = [load(NOW + 16 * DAY, HKD(7_400), 'w_1'), load(NOW + 17 * DAY, HKD(7_900), 'w_3')];
    expect(brief(evaluate([...all, lone, ...again], {}, NOW + 18 * DAY))).toEqual([
      { scenario: 'structuring', reason: 'loads_just_under_threshold', activityIds: idsOf([lone, ...again]) },
    ]);
    // Loads every two days for two months, never stopping: once per 30-day pattern period.
    const steady = Array.from({ length: 30 }, (_, index) => load(NOW + index * 2 * DAY, HKD(7_500), 'w_1'));
    const hitsSeen = new Set<string>();
    for (let day = 0; day <= 60; day += 1) {
      for (const each of evaluate(steady, {}, NOW + day * DAY)) hitsSeen.add(each.activityIds.join());
    }
    expect(hitsSeen.size).toBeGreaterThanOrEqual(2);
    expect(hitsSeen.size).toBeLessThanOrEqual(3);
  });

  it("ignores another cardholder's activity given by mistake", () => {
    const others = pattern.map((each) => ({ ...each, id: `${each.id}_x`, cardholderId: 'chd_x' }));
    expect(evaluate([...ordinaryMonth(), ...others])).toEqual([]);
  });

  it('evaluates one scenario alone as it does among the others, and nothing when disabled', () => {
    const settings = parseScenarioSettings({ structuring: { enabled: false } });
    expect(evaluateScenario('structuring', holder(all), DEFAULT_SCENARIO_SETTINGS, NOW)).toEqual(
      evaluate(all),
    );
    expect(evaluateScenarios(holder(all), settings, NOW)).toEqual([]);
    expect(evaluateScenario('shared_device', holder(all), DEFAULT_SCENARIO_SETTINGS, NOW)).toEqual([]);
  });

  it('says how far back to read: a pattern period and twice the longest window, a year more of loads for the yearly rule', () => {
    expect(activityLookback(DEFAULT_SCENARIO_SETTINGS)).toEqual({
      loads: 30 * DAY + 2 * 30 * DAY + 366 * DAY,
      // Rapid movement: its 30-day window twice, and its one-day movement window twice.
      others: 30 * DAY + 2 * 30 * DAY + 2 * DAY,
      devices: 30 * DAY + 2 * 7 * DAY,
    });
    const noYear = parseScenarioSettings({
      tier_limit_probing: { enabled: false },
      shared_device: { enabled: false },
    });
    expect(activityLookback(noYear)).toEqual({
      loads: 30 * DAY + 2 * 30 * DAY + 2 * DAY,
      others: 30 * DAY + 2 * 30 * DAY + 2 * DAY,
      devices: 0,
    });
  });
});

describe('any activity', () => {
  /** Settings that raise hits easily, so the property meets many of them. */
  const SENSITIVE: ScenarioSettings = parseScenarioSettings({
    structuring: { count_min: 2, linked_count_min: 2, thresholds: { HKD: [1_000], USD: [500] } },
    tier_limit_probing: {
      balance_percent_min: 50,
      balance_count_min: 1,
      yearly_percent_min: 10,
      yearly_count_min: 1,
    },
    rapid_movement: { load_amount_min: { HKD: 1, USD: 1 }, count_min: 1, load_amount_large: { HKD: 500 } },
    card_rotation: { created_count_min: 2, closed_count_min: 2, used_cards_min: 2 },
    shared_device: { cardholders_min: 2 },
    capture_abuse: { late_clearing_count_min: 1, over_capture_count_min: 1, force_post_count_min: 1 },
    cross_border: {
      foreign_count_min: 1,
      countries_min: 1,
      foreign_share_percent_min: 10,
      foreign_amount_min: { HKD: 1 },
    },
  });

  const arbitraryActivity: fc.Arbitrary<Activity> = fc.record({
    id: fc
      .constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')
      .chain((prefix) => fc.nat({ max: 40 }).map((n) => `${prefix}_${String(n)}`)),
    kind: fc.constantFrom(...ACTIVITY_KINDS),
    programId: fc.constantFrom(PROGRAM, 'prog_2'),
    cardholderId: fc.constantFrom(HOLDER, HOLDER, HOLDER, 'chd_b', 'chd_c'),
    at: fc.oneof(
      fc.integer({ min: NOW - 400 * DAY, max: NOW + DAY }),
      fc.constantFrom(NOW, NOW - 7 * DAY, Number.NaN, -Infinity),
    ),
    amount: fc.oneof(
      fc.integer({ min: 0, max: 2_000 }),
      fc.constantFrom(0, 800_000, 799_999, 720_000, 12_000_000, Number.MAX_SAFE_INTEGER, -5),
    ),
    currency: fc.constantFrom('HKD', 'USD', 'JPY', ''),
    cardId: fc.option(fc.constantFrom('card_1', 'card_2', 'card_3', 'card_4'), { nil: null }),
    walletId: fc.option(fc.constantFrom('w_1', 'w_2'), { nil: null }),
    approved: fc.option(fc.boolean(), { nil: null }),
    merchantCountry: fc.option(fc.constantFrom('HK', 'hk', 'US', 'JP', 'GB', ''), { nil: null }),
    authorizedAmount: fc.option(
      fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
      {
        nil: null,
      },
    ),
    flags: fc.subarray(['cleared_without_open_hold', 'over_capture_beyond_tolerance', 'other']),
    balanceAfter: fc.option(fc.integer({ min: -100, max: 400_000 }), { nil: null }),
    deviceKey: fc.option(fc.constantFrom('d1', 'd2'), { nil: null }),
    deviceKind: fc.option(fc.constantFrom('device' as const, 'ip' as const), { nil: null }),
    converted: fc.option(
      fc.record({ amount: fc.integer({ min: 0, max: 900_000 }), currency: fc.constantFrom('HKD', 'USD') }),
      { nil: null },
    ),
  });

  const arbitraryCaps = fc.dictionary(
    fc.constantFrom('HKD', 'USD', 'JPY'),
    fc.record({
      maxBalance: fc.integer({ min: 0, max: 400_000 }),
      maxLoadsPerYear: fc.integer({ min: 0, max: 2_000_000 }),
    }),
  );

  it('never throws, and every hit lists ids of its input only, each once, in its own window', () => {
    fc.assert(
      fc.property(
        fc.array(arbitraryActivity, { maxLength: 60 }),
        arbitraryCaps,
        fc.option(fc.constantFrom('HK', 'US'), { nil: null }),
        fc.constantFrom(DEFAULT_SCENARIO_SETTINGS, SENSITIVE),
        (activities, caps, homeCountry, settings) => {
          const input = holder(activities, { caps, homeCountry, activities });
          const own = new Set(
            activities.filter((each) => each.cardholderId === HOLDER).map((each) => each.id),
          );
          const hits = evaluateScenarios(input, settings, NOW);
          for (const each of hits) {
            expect(each.cardholderId).toBe(HOLDER);
            expect(each.activityIds.length).toBeGreaterThan(0);
            expect(new Set(each.activityIds).size).toBe(each.activityIds.length);
            for (const id of each.activityIds) expect(own.has(id)).toBe(true);
            expect(each.window.from).toBeLessThanOrEqual(each.window.to);
            expect(each.window.to).toBeLessThanOrEqual(NOW);
          }
          expect(
            evaluateScenarios({ ...input, activities: [...activities].reverse() }, settings, NOW),
          ).toEqual(hits);
          const everyone = new Set(activities.map((each) => each.id));
          for (const each of evaluateSharedDevice(activities, settings, NOW)) {
            for (const id of each.activityIds) expect(everyone.has(id)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('across currencies', () => {
  /** A USD load with its HKD equivalent, as the monitor converts it at the rate of its time (7.8). */
  const usdLoad = (at: number, dollars: number, walletId: string): Activity =>
    load(at, dollars * 100, walletId, {
      currency: 'USD',
      converted: { amount: Math.round(dollars * 7.8 * 100), currency: 'HKD' },
    });

  it("adds a cardholder's USD loads to their HKD ones in HKD, the defaults' only currency", () => {
    const pattern = [
      load(NOW - 5 * DAY, HKD(7_600), 'w_hkd'),
      usdLoad(NOW - 3 * DAY, 990, 'w_usd'), // HKD 7,722
      load(NOW - 1 * DAY, HKD(7_900), 'w_hkd'),
    ];
    const hits = evaluate(pattern, { caps: {} });
    expect(brief(hits)).toEqual([
      { scenario: 'structuring', reason: 'loads_just_under_threshold', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.summary).toContain('HKD 23,222.00 in all');
    // Without an equivalent (no rate), the USD load is not added: two just under the threshold are not a pattern.
    const unconverted = pattern.map((each) =>
      each.currency === 'USD' ? { ...each, converted: null } : each,
    );
    expect(evaluate(unconverted, { caps: {} })).toEqual([]);
    expect(spreadOverCardholders(pattern, { caps: {} })).toEqual([]);
  });

  it('watches a currency the programme names in that currency, not converted into the reporting currency', () => {
    const settings = parseScenarioSettings({ structuring: { thresholds: { USD: [10_000_00] } } });
    const pattern = [
      load(NOW - 5 * DAY, HKD(7_600), 'w_hkd'),
      usdLoad(NOW - 3 * DAY, 990, 'w_usd'),
      load(NOW - 1 * DAY, HKD(7_900), 'w_hkd'),
    ];
    expect(evaluateScenarios(holder(pattern, { caps: {} }), settings, NOW)).toEqual([]);
  });

  it('sees an HKD load spent in USD as moved on', () => {
    const settings = parseScenarioSettings({ rapid_movement: { count_min: 1 } });
    const loaded = load(NOW - 2 * DAY, HKD(20_000), 'w_hkd');
    const spent = payment(NOW - 2 * DAY + 2 * HOUR, 2_500_00, 'card_usd', {
      currency: 'USD',
      walletId: 'w_usd',
      converted: { amount: HKD(19_500), currency: 'HKD' },
    });
    expect(brief(evaluateScenarios(holder([loaded, spent], { caps: {} }), settings, NOW))).toEqual([
      { scenario: 'rapid_movement', reason: 'repeated_rapid_movement', activityIds: idsOf([loaded, spent]) },
    ]);
  });
});

describe('loads refused at a KYC cap', () => {
  const refusedLoad = (at: number, amount: number, walletId: string): Activity =>
    activity({ kind: 'load_declined', at, amount, walletId });

  it('raises one hit for three refusals within a month over two wallets, and none spread over cardholders', () => {
    const pattern = [
      refusedLoad(NOW - 20 * DAY, HKD(3_000), 'w_1'),
      refusedLoad(NOW - 12 * DAY, HKD(2_800), 'w_2'),
      refusedLoad(NOW - 2 * DAY, HKD(2_900), 'w_1'),
    ];
    const hits = evaluate(pattern, { caps: { HKD: UNVERIFIED } });
    expect(brief(hits)).toEqual([
      { scenario: 'tier_limit_probing', reason: 'loads_refused_at_cap', activityIds: idsOf(pattern) },
    ]);
    expect(hits[0]?.summary).toBe(
      "3 loads refused at the KYC tier's caps within 30 days (HKD 8,700.00 in all) on 2 wallets",
    );
    expect(evaluate(pattern.slice(1), { caps: { HKD: UNVERIFIED } })).toEqual([]);
    expect(spreadOverCardholders(pattern, { caps: { HKD: UNVERIFIED } })).toEqual([]);
  });
});

describe('shared IP address', () => {
  const ADDRESS = 'cd34';
  const onAddress = (cardholders: readonly string[], deviceKind: 'ip' | 'device'): Activity[] =>
    cardholders.map((cardholderId, index) =>
      payment(NOW - 3 * DAY + index * HOUR, HKD(100), `card_${cardholderId}`, {
        cardholderId,
        deviceKey: ADDRESS,
        deviceKind,
      }),
    );
  const people = (n: number): string[] =>
    Array.from({ length: n }, (_, i) => `chd_${String(i).padStart(2, '0')}`);

  it('counts an IP address apart from devices, with a higher bar', () => {
    const { cardholders_min, ip_cardholders_min } = DEFAULT_SCENARIO_SETTINGS.shared_device;
    expect(ip_cardholders_min).toBeGreaterThan(cardholders_min);
    const below = onAddress(people(ip_cardholders_min - 1), 'ip');
    expect(evaluateSharedDevice(below, DEFAULT_SCENARIO_SETTINGS, NOW)).toEqual([]);
    // The same key as a device's: the device's bar.
    expect(
      evaluateSharedDevice(onAddress(people(cardholders_min), 'device'), DEFAULT_SCENARIO_SETTINGS, NOW),
    ).toHaveLength(cardholders_min);
    const at = onAddress(people(ip_cardholders_min), 'ip');
    const hits = evaluateSharedDevice(at, DEFAULT_SCENARIO_SETTINGS, NOW);
    expect(hits).toHaveLength(ip_cardholders_min);
    expect(hits[0]?.reason).toBe('many_cardholders_on_ip_address');
    expect(hits[0]?.summary).toContain('used one IP address');
    // A crowd past the gateway bar within the lookback (a carrier's NAT) raises nothing, for anyone on it.
    const gateway = onAddress(people(ip_cardholders_min), 'ip').concat(
      people(DEFAULT_SCENARIO_SETTINGS.shared_device.ip_cardholders_max + 1)
        .slice(ip_cardholders_min)
        .map((cardholderId, index) =>
          payment(NOW - 20 * DAY + index * HOUR, HKD(50), `card_${cardholderId}`, {
            cardholderId,
            deviceKey: ADDRESS,
            deviceKind: 'ip',
          }),
        ),
    );
    expect(evaluateSharedDevice(gateway, DEFAULT_SCENARIO_SETTINGS, NOW)).toEqual([]);
  });

  it('counts cardholders onboarded from one device before any of them pays', () => {
    const onboarded = ['chd_a', 'chd_b', 'chd_c', 'chd_d'].map((cardholderId, index) =>
      activity({
        kind: 'onboarding',
        id: `${cardholderId}:device`,
        at: NOW - DAY + index * HOUR,
        cardholderId,
        deviceKey: 'ee99',
        deviceKind: 'device',
      }),
    );
    const hits = evaluateSharedDevice(onboarded, DEFAULT_SCENARIO_SETTINGS, NOW);
    expect(hits.map((each) => each.cardholderId)).toEqual(['chd_a', 'chd_b', 'chd_c', 'chd_d']);
    expect(hits[0]?.reason).toBe('many_cardholders_on_device');
  });
});
