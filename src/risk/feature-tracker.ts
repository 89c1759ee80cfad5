import {
  ENTRY_MODE_CODES,
  FEATURE_MEASURES,
  NEW_CARD_WINDOWS,
  WINDOWS,
  WINDOW_MS,
  mccRiskClass,
  windowedFeatureName,
  type FeatureMeasure,
  type FeatureScope,
  type FeatureWindow,
  type RiskFeatures,
} from './features.js';
import { isImpossibleTravel } from './travel.js';

/**
 * The reference computation of the feature catalogue (features.ts) over a stream of authorizations in time order,
 * in memory. The model is trained on what this computes, and the production engine is tested against it, so it is
 * written for clarity first. Its definitions, where the catalogue leaves a choice:
 *
 * - Windows. An earlier authorization counts in a window of length W of an authorization at time t when its time
 *   s satisfies t - W < s <= t and it came earlier in the stream: it never counts itself, and of two at the same
 *   millisecond the first counts for the second.
 * - Every scope (card, cardholder, merchant, device) has `*_count_*`, `*_amount_*` and `*_declines_*` over every
 *   window (1m, 1h, 24h, 7d). `*_count_*` counts approved and declined; `*_amount_*` sums the amounts asked of
 *   approved ones only; `*_declines_*` counts declined ones.
 * - `amount_ratio`: the amount over the cardholder's average approved amount in the last 7 days (all of their
 *   cards); 1 when they had no approved authorization in that window.
 * - `merchant_new_cards_1h` and `merchant_new_cards_24h`: authorizations at the merchant in the window that were
 *   their card's first at that merchant (whose own `first_time_merchant` was true).
 * - `first_time_merchant`, `country_changed` and `impossible_travel` look at the card's whole history, approved or
 *   declined: a declined attempt still says where the card (or its copy) was.
 * - `minutes_since_last`: fractional minutes since the card's previous authorization, at most 10,080; 10,080 when
 *   it has none.
 * - `impossible_travel`: card present (contactless, chip or magstripe; not e-commerce or keyed) in a country other
 *   than that of the card's previous card-present authorization, sooner than the minimum travel time between the
 *   two (travel.ts). False when the card has no earlier card-present authorization.
 * - Every `device_*` feature is left out (missing, which the model handles) when the authorization carries no
 *   device or IP address, as card-present ones do not: no device is not the same as a device never seen.
 * - `local_hour`: the hour in Asia/Hong_Kong (UTC+8, no daylight saving).
 */

export type EntryMode = (typeof ENTRY_MODE_CODES)[number];

export interface AuthorizationEvent {
  /** Epoch milliseconds, UTC. */
  readonly time: number;
  readonly cardId: string;
  readonly cardholderId: string;
  /** ISO 3166-1 alpha-2. */
  readonly cardholderCountry: string;
  /** The acceptor (merchant) id. */
  readonly merchantId: string;
  readonly mcc: string;
  readonly merchantCountry: string;
  readonly entryMode: EntryMode;
  /** Device fingerprint or IP address, when the channel carries one. */
  readonly deviceId: string | null;
  /** Card currency minor units. */
  readonly amount: number;
  readonly approved: boolean;
}

const CARD_PRESENT_MODES: ReadonlySet<EntryMode> = new Set(['contactless', 'chip', 'magstripe']);
export const MINUTES_SINCE_LAST_CAP = 10_080;
const HONG_KONG_OFFSET_MS = 8 * 3_600_000;
const WINDOW_COUNT = WINDOWS.length;
const WINDOW_INDEX: Readonly<Record<FeatureWindow, number>> = { '1m': 0, '1h': 1, '24h': 2, '7d': 3 };
const LONGEST_WINDOW_MS = Math.max(...WINDOWS.map((window) => WINDOW_MS[window]));

export function isCardPresent(entryMode: EntryMode): boolean {
  return CARD_PRESENT_MODES.has(entryMode);
}

export function hongKongHour(time: number): number {
  return Math.floor(((((time + HONG_KONG_OFFSET_MS) % 86_400_000) + 86_400_000) % 86_400_000) / 3_600_000);
}

/**
 * One key's (card's, cardholder's, merchant's, device's) authorizations over every window at once: running sums
 * per window, each with the index of the oldest authorization still inside it. The stream is in time order, so
 * each authorization enters and leaves each window once.
 */
class WindowedHistory {
  private times: number[] = [];
  private approvedAmounts: number[] = [];
  private declined: number[] = [];
  private newCard: number[] = [];
  private readonly heads = new Array<number>(WINDOW_COUNT).fill(0);
  private readonly counts = new Array<number>(WINDOW_COUNT).fill(0);
  private readonly approvedCounts = new Array<number>(WINDOW_COUNT).fill(0);
  private readonly amounts = new Array<number>(WINDOW_COUNT).fill(0);
  private readonly declines = new Array<number>(WINDOW_COUNT).fill(0);
  private readonly newCards = new Array<number>(WINDOW_COUNT).fill(0);

  /** Moves every window to end at `time`. */
  advanceTo(time: number): void {
    WINDOWS.forEach((window, w) => {
      const start = time - WINDOW_MS[window];
      let head = this.heads[w] ?? 0;
      while (head < this.times.length && (this.times[head] ?? 0) <= start) {
        this.counts[w] = (this.counts[w] ?? 0) - 1;
        const amount = this.approvedAmounts[head] ?? 0;
        this.amounts[w] = (this.amounts[w] ?? 0) - amount;
        if ((this.declined[head] ?? 0) === 0) this.approvedCounts[w] = (this.approvedCounts[w] ?? 0) - 1;
        this.declines[w] = (this.declines[w] ?? 0) - (this.declined[head] ?? 0);
        this.newCards[w] = (this.newCards[w] ?? 0) - (this.newCard[head] ?? 0);
        head += 1;
      }
      this.heads[w] = head;
    });
    this.compact();
  }

  add(time: number, approvedAmount: number, declined: boolean, newCard: boolean): void {
    this.times.push(time);
    this.approvedAmounts.push(approvedAmount);
    this.declined.push(declined ? 1 : 0);
    this.newCard.push(newCard ? 1 : 0);
    for (let w = 0; w < WINDOW_COUNT; w += 1) {
      this.counts[w] = (this.counts[w] ?? 0) + 1;
      this.amounts[w] = (this.amounts[w] ?? 0) + approvedAmount;
      if (!declined) this.approvedCounts[w] = (this.approvedCounts[w] ?? 0) + 1;
      this.declines[w] = (this.declines[w] ?? 0) + (declined ? 1 : 0);
      this.newCards[w] = (this.newCards[w] ?? 0) + (newCard ? 1 : 0);
    }
  }

  /** A grid feature's value: `count`, `amount` or `declines` over the window. */
  measure(measure: FeatureMeasure, window: FeatureWindow): number {
    switch (measure) {
      case 'count':
        return this.count(window);
      case 'amount':
        return this.amount(window);
      case 'declines':
        return this.declineCount(window);
    }
  }

  count(window: FeatureWindow): number {
    return this.counts[WINDOW_INDEX[window]] ?? 0;
  }

  approvedCount(window: FeatureWindow): number {
    return this.approvedCounts[WINDOW_INDEX[window]] ?? 0;
  }

  amount(window: FeatureWindow): number {
    return this.amounts[WINDOW_INDEX[window]] ?? 0;
  }

  declineCount(window: FeatureWindow): number {
    return this.declines[WINDOW_INDEX[window]] ?? 0;
  }

  newCardCount(window: FeatureWindow): number {
    return this.newCards[WINDOW_INDEX[window]] ?? 0;
  }

  /** Drops what has left the longest window, so memory follows the last week, not the whole stream. */
  private compact(): void {
    const drop = Math.min(...this.heads);
    if (drop < 1024 || drop * 2 < this.times.length) return;
    this.times = this.times.slice(drop);
    this.approvedAmounts = this.approvedAmounts.slice(drop);
    this.declined = this.declined.slice(drop);
    this.newCard = this.newCard.slice(drop);
    for (let w = 0; w < WINDOW_COUNT; w += 1) this.heads[w] = (this.heads[w] ?? 0) - drop;
  }
}

interface WindowedFeature {
  readonly name: string;
  readonly measure: FeatureMeasure;
  readonly window: FeatureWindow;
}

/** A scope's grid features in catalogue order (by measure, then window), named once rather than per authorization. */
function windowedFeaturesOf(scope: FeatureScope): readonly WindowedFeature[] {
  return FEATURE_MEASURES.flatMap((measure) =>
    WINDOWS.map((window) => ({ name: windowedFeatureName(scope, measure, window), measure, window })),
  );
}

const WINDOWED_FEATURES: Readonly<Record<FeatureScope, readonly WindowedFeature[]>> = {
  card: windowedFeaturesOf('card'),
  cardholder: windowedFeaturesOf('cardholder'),
  merchant: windowedFeaturesOf('merchant'),
  device: windowedFeaturesOf('device'),
};

/** A scope's counts, approved amounts and declines over every window, into `features`. */
function addWindowed(
  features: Record<string, number | boolean | string>,
  scope: FeatureScope,
  history: WindowedHistory,
): void {
  for (const { name, measure, window } of WINDOWED_FEATURES[scope])
    features[name] = history.measure(measure, window);
}

interface CardState {
  readonly history: WindowedHistory;
  readonly merchants: Set<string>;
  lastTime: number | undefined;
  lastCountry: string | undefined;
  lastPresentTime: number | undefined;
  lastPresentCountry: string | undefined;
}

function historyOf(map: Map<string, WindowedHistory>, key: string): WindowedHistory {
  let history = map.get(key);
  if (history === undefined) {
    history = new WindowedHistory();
    map.set(key, history);
  }
  return history;
}

export class FeatureTracker {
  private readonly cards = new Map<string, CardState>();
  private readonly cardholders = new Map<string, WindowedHistory>();
  private readonly merchants = new Map<string, WindowedHistory>();
  private readonly devices = new Map<string, WindowedHistory>();
  private lastTime = -Infinity;

  /** The features of `auth`, then records it: call in stream order. */
  next(auth: AuthorizationEvent): RiskFeatures {
    const features = this.features(auth);
    this.record(auth);
    return features;
  }

  /** The features of `auth` given what has been recorded, without recording it. */
  features(auth: AuthorizationEvent): RiskFeatures {
    this.checkOrder(auth.time);
    const card = this.cardState(auth.cardId);
    card.history.advanceTo(auth.time);
    const cardholder = historyOf(this.cardholders, auth.cardholderId);
    cardholder.advanceTo(auth.time);
    const merchant = historyOf(this.merchants, auth.merchantId);
    merchant.advanceTo(auth.time);

    const approved7d = cardholder.approvedCount('7d');
    const averageAmount = approved7d > 0 ? cardholder.amount('7d') / approved7d : 0;
    const cardPresent = isCardPresent(auth.entryMode);

    const features: Record<string, number | boolean | string> = {
      amount: auth.amount,
      amount_ratio: averageAmount > 0 ? auth.amount / averageAmount : 1,
    };
    addWindowed(features, 'card', card.history);
    addWindowed(features, 'cardholder', cardholder);
    addWindowed(features, 'merchant', merchant);
    if (auth.deviceId !== null) {
      const device = historyOf(this.devices, auth.deviceId);
      device.advanceTo(auth.time);
      addWindowed(features, 'device', device);
    }
    for (const window of NEW_CARD_WINDOWS)
      features[`merchant_new_cards_${window}`] = merchant.newCardCount(window);
    features.minutes_since_last =
      card.lastTime === undefined
        ? MINUTES_SINCE_LAST_CAP
        : Math.min(MINUTES_SINCE_LAST_CAP, (auth.time - card.lastTime) / 60_000);
    features.first_time_merchant = !card.merchants.has(auth.merchantId);
    features.mcc_risk_class = mccRiskClass(auth.mcc);
    features.foreign_merchant = auth.merchantCountry !== auth.cardholderCountry;
    features.country_changed = card.lastCountry !== undefined && card.lastCountry !== auth.merchantCountry;
    features.impossible_travel =
      cardPresent &&
      card.lastPresentTime !== undefined &&
      card.lastPresentCountry !== undefined &&
      isImpossibleTravel(card.lastPresentCountry, auth.merchantCountry, auth.time - card.lastPresentTime);
    features.entry_mode = auth.entryMode;
    features.local_hour = hongKongHour(auth.time);
    return features;
  }

  /** Adds `auth` to every history it belongs to. */
  record(auth: AuthorizationEvent): void {
    this.checkOrder(auth.time);
    this.lastTime = auth.time;
    const card = this.cardState(auth.cardId);
    const newCard = !card.merchants.has(auth.merchantId);
    const approvedAmount = auth.approved ? auth.amount : 0;
    const declined = !auth.approved;
    card.history.add(auth.time, approvedAmount, declined, false);
    historyOf(this.cardholders, auth.cardholderId).add(auth.time, approvedAmount, declined, false);
    historyOf(this.merchants, auth.merchantId).add(auth.time, approvedAmount, declined, newCard);
    if (auth.deviceId !== null)
      historyOf(this.devices, auth.deviceId).add(auth.time, approvedAmount, declined, false);
    card.merchants.add(auth.merchantId);
    card.lastTime = auth.time;
    card.lastCountry = auth.merchantCountry;
    if (isCardPresent(auth.entryMode)) {
      card.lastPresentTime = auth.time;
      card.lastPresentCountry = auth.merchantCountry;
    }
  }

  private checkOrder(time: number): void {
    if (!Number.isFinite(time)) throw new RangeError('an authorization needs a finite time');
    if (time < this.lastTime) {
      throw new RangeError(`authorizations must come in time order (${time} after ${this.lastTime})`);
    }
  }

  private cardState(cardId: string): CardState {
    let card = this.cards.get(cardId);
    if (card === undefined) {
      card = {
        history: new WindowedHistory(),
        merchants: new Set(),
        lastTime: undefined,
        lastCountry: undefined,
        lastPresentTime: undefined,
        lastPresentCountry: undefined,
      };
      this.cards.set(cardId, card);
    }
    return card;
  }
}

/** Only the longest window matters for how much history a caller must replay before features are complete. */
export const FEATURE_HISTORY_MS = LONGEST_WINDOW_MS;
