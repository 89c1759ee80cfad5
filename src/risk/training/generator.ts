import { mccRiskClass } from '../features.js';
import type { AuthorizationEvent, EntryMode } from '../feature-tracker.js';
import { Random, WeightedPicker } from './random.js';
import { minimumTravelMs } from '../travel.js';

/**
 * A deterministic generator of labelled authorizations for training and testing the fraud model: cardholders with
 * their own habits (how often, where, how much, at what hours, online or in person, trips abroad) and four fraud
 * patterns injected among them. Same options, same output. Amounts are HKD minor units (cents).
 */

export const FRAUD_PATTERNS = [
  'card_testing',
  'account_takeover',
  'impossible_travel',
  'high_risk_burst',
] as const;
export type FraudPattern = (typeof FRAUD_PATTERNS)[number];

export interface GeneratedAuthorization extends AuthorizationEvent {
  /** Position in the stream, from 0. */
  readonly sequence: number;
  readonly fraud: FraudPattern | null;
}

export interface Merchant {
  /** The acceptor id. */
  readonly id: string;
  readonly mcc: string;
  readonly country: string;
  readonly online: boolean;
  readonly popularity: number;
  /** Minor units. */
  readonly medianAmount: number;
}

export interface GeneratorOptions {
  readonly seed: number;
  readonly cardholders: number;
  readonly days: number;
  /** Epoch ms of the first instant simulated. */
  readonly start: number;
  /** Multiplies how often each fraud pattern is injected (1: about 0.6% of authorizations are fraud). */
  readonly fraudRate: number;
}

export interface GeneratedData {
  readonly authorizations: readonly GeneratedAuthorization[];
  readonly merchants: readonly Merchant[];
  readonly cards: number;
}

export const DEFAULT_GENERATOR_OPTIONS: GeneratorOptions = {
  seed: 20_250_101,
  cardholders: 6000,
  days: 67,
  start: Date.UTC(2024, 11, 31, 16), // 2025-01-01T00:00 in Hong Kong
  fraudRate: 1,
};

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const HONG_KONG_OFFSET = 8 * HOUR;

interface MccProfile {
  readonly mcc: string;
  /** Relative share of everyday spending. */
  readonly weight: number;
  /** Typical amount, HKD. */
  readonly medianHkd: number;
  /** Share of merchants in the category that sell online. */
  readonly online: number;
}

const MCC_PROFILES: readonly MccProfile[] = [
  { mcc: '5411', weight: 18, medianHkd: 180, online: 0.1 }, // groceries
  { mcc: '5812', weight: 14, medianHkd: 220, online: 0.05 }, // restaurants
  { mcc: '5814', weight: 12, medianHkd: 55, online: 0.05 }, // fast food
  { mcc: '4111', weight: 8, medianHkd: 20, online: 0 }, // local transit
  { mcc: '5499', weight: 8, medianHkd: 45, online: 0 }, // convenience stores
  { mcc: '4121', weight: 4, medianHkd: 90, online: 0.4 }, // taxis and ride hailing
  { mcc: '5999', weight: 6, medianHkd: 250, online: 0.6 }, // miscellaneous retail
  { mcc: '5311', weight: 4, medianHkd: 450, online: 0.3 }, // department stores
  { mcc: '5691', weight: 4, medianHkd: 500, online: 0.5 }, // clothing
  { mcc: '5912', weight: 4, medianHkd: 150, online: 0.2 }, // pharmacies
  { mcc: '4899', weight: 2, medianHkd: 120, online: 1 }, // streaming and subscriptions
  { mcc: '5942', weight: 1, medianHkd: 160, online: 0.5 }, // books
  { mcc: '7832', weight: 1, medianHkd: 160, online: 0.5 }, // cinemas
  { mcc: '5732', weight: 2, medianHkd: 1500, online: 0.5 }, // electronics (medium risk)
  { mcc: '5944', weight: 0.5, medianHkd: 3000, online: 0.3 }, // jewellery (medium)
  { mcc: '4511', weight: 0.8, medianHkd: 3500, online: 1 }, // airlines (medium)
  { mcc: '7011', weight: 0.8, medianHkd: 1500, online: 0.7 }, // hotels (medium)
  { mcc: '4722', weight: 0.4, medianHkd: 2500, online: 1 }, // travel agencies (medium)
  { mcc: '5734', weight: 1, medianHkd: 200, online: 1 }, // software (medium)
  { mcc: '5815', weight: 1.5, medianHkd: 60, online: 1 }, // digital media (high)
  { mcc: '5816', weight: 1, medianHkd: 80, online: 1 }, // games (high)
  { mcc: '5817', weight: 0.5, medianHkd: 90, online: 1 }, // apps (high)
  { mcc: '5818', weight: 0.5, medianHkd: 100, online: 1 }, // digital goods (high)
  { mcc: '7995', weight: 0.3, medianHkd: 400, online: 1 }, // gambling (high)
  { mcc: '6051', weight: 0.2, medianHkd: 1000, online: 1 }, // quasi-cash, crypto (high)
  { mcc: '4829', weight: 0.3, medianHkd: 1500, online: 1 }, // money transfer (high)
  { mcc: '5967', weight: 0.1, medianHkd: 200, online: 1 }, // direct marketing (high)
  { mcc: '7273', weight: 0.1, medianHkd: 150, online: 1 }, // dating (high)
];

/** Physical merchants per country, for a pool of 6,000 cardholders; where residents live and travellers go. */
const PHYSICAL_MERCHANTS: readonly (readonly [string, number])[] = [
  ['HK', 2500],
  ['CN', 500],
  ['MO', 150],
  ['TW', 200],
  ['JP', 300],
  ['KR', 150],
  ['SG', 200],
  ['TH', 200],
  ['MY', 100],
  ['PH', 150],
  ['AU', 120],
  ['GB', 150],
  ['FR', 100],
  ['US', 200],
  ['CA', 80],
];
const ONLINE_MERCHANTS = 1200;
const ONLINE_COUNTRIES: readonly (readonly [string, number])[] = [
  ['HK', 40],
  ['US', 25],
  ['CN', 10],
  ['GB', 8],
  ['SG', 6],
  ['JP', 5],
  ['IE', 3],
  ['NL', 3],
];
const RESIDENCES: readonly (readonly [string, number])[] = [
  ['HK', 90],
  ['CN', 3],
  ['PH', 2],
  ['SG', 1],
  ['GB', 1],
  ['US', 1],
  ['AU', 1],
  ['JP', 1],
];
const TRIP_DESTINATIONS: readonly (readonly [string, number])[] = [
  ['CN', 30],
  ['MO', 15],
  ['JP', 15],
  ['TW', 8],
  ['KR', 6],
  ['TH', 7],
  ['SG', 5],
  ['MY', 3],
  ['GB', 3],
  ['US', 3],
  ['AU', 2],
  ['FR', 2],
  ['HK', 10],
];
/** Fraudsters cash out cloned cards far from the victim. */
const CLONE_COUNTRIES: readonly (readonly [string, number])[] = [
  ['US', 25],
  ['GB', 15],
  ['TH', 15],
  ['MY', 10],
  ['FR', 10],
  ['CA', 8],
  ['PH', 8],
  ['KR', 5],
  ['AU', 4],
];

/** Relative activity by hour of the day, Hong Kong time, in person. */
const HOURLY_IN_PERSON = [
  0.3, 0.15, 0.08, 0.05, 0.05, 0.1, 0.3, 0.9, 1.5, 1.2, 1.0, 1.3, 2.1, 1.7, 1.1, 1.0, 1.1, 1.4, 2.0, 2.0, 1.7,
  1.3, 0.9, 0.6,
];
/** Online shopping leans to the evening and night. */
const HOURLY_ONLINE = [
  0.9, 0.6, 0.35, 0.2, 0.15, 0.15, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.2, 1.1, 1.0, 1.0, 1.0, 1.1, 1.2, 1.4, 1.6,
  1.8, 1.7, 1.3,
];

interface Cardholder {
  readonly id: string;
  readonly country: string;
  readonly cards: readonly string[];
  readonly dailyRate: number;
  readonly spendScale: number;
  readonly onlineShare: number;
  readonly hourShift: number;
  readonly favouritesInPerson: readonly Merchant[];
  readonly favouritesOnline: readonly Merchant[];
  readonly devices: readonly string[];
  readonly contactlessShare: number;
  /** Share of online purchases made from a mobile carrier's shared address (NAT), which many cardholders share. */
  readonly sharedAddressShare: number;
  /** For players of online games: the game stores they top up at in bursts (high-risk categories, genuinely). */
  readonly gameStores: readonly Merchant[];
}

interface Trip {
  readonly destination: string;
  readonly leave: number;
  readonly arrive: number;
  readonly leaveBack: number;
  readonly home: number;
}

/** An authorization before it has its place in the stream (its sequence is set once all are sorted). */
type Draft = { -readonly [K in keyof GeneratedAuthorization]: GeneratedAuthorization[K] };

function weightedTable(random: Random, table: readonly (readonly [string, number])[]): string {
  const total = table.reduce((sum, [, weight]) => sum + weight, 0);
  let target = random.next() * total;
  for (const [value, weight] of table) {
    target -= weight;
    if (target < 0) return value;
  }
  return table[table.length - 1]?.[0] ?? 'HK';
}

/** Every authorization is built here, so all have one shape (the sort and the tracker stay fast). */
function draft(
  time: number,
  cardId: string,
  holder: Cardholder,
  merchant: Merchant,
  entryMode: EntryMode,
  deviceId: string | null,
  amount: number,
  approved: boolean,
  fraud: FraudPattern | null,
): GeneratedAuthorization {
  return {
    sequence: -1,
    time,
    cardId,
    cardholderId: holder.id,
    cardholderCountry: holder.country,
    merchantId: merchant.id,
    mcc: merchant.mcc,
    merchantCountry: merchant.country,
    entryMode,
    deviceId,
    amount,
    approved,
    fraud,
  };
}

function toMinorUnits(hkd: number): number {
  return Math.max(50, Math.round(hkd * 100));
}

export function generateAuthorizations(options: Partial<GeneratorOptions> = {}): GeneratedData {
  const settings: GeneratorOptions = { ...DEFAULT_GENERATOR_OPTIONS, ...options };
  if (!Number.isInteger(settings.cardholders) || settings.cardholders < 1)
    throw new RangeError('cardholders >= 1');
  if (!Number.isInteger(settings.days) || settings.days < 1) throw new RangeError('days >= 1');
  const random = new Random(settings.seed);
  const end = settings.start + settings.days * DAY;
  const scale = settings.cardholders / 6000;

  const merchants = makeMerchants(random, Math.max(0.05, scale));
  const inPersonByCountry = new Map<string, WeightedPicker<Merchant>>();
  for (const [country] of PHYSICAL_MERCHANTS) {
    const pool = merchants.filter((merchant) => !merchant.online && merchant.country === country);
    inPersonByCountry.set(country, new WeightedPicker(pool, (merchant) => merchant.popularity));
  }
  const onlineMerchants = merchants.filter((merchant) => merchant.online);
  const online = new WeightedPicker(onlineMerchants, (merchant) => merchant.popularity);
  const inPerson = (country: string): WeightedPicker<Merchant> => {
    const picker = inPersonByCountry.get(country) ?? inPersonByCountry.get('HK');
    if (picker === undefined) throw new Error('no merchants in Hong Kong');
    return picker;
  };

  const gameStores = onlineMerchants.filter((merchant) => ['5815', '5816', '5817'].includes(merchant.mcc));
  const drafts: Draft[] = [];
  const cardholders: Cardholder[] = [];
  let cardCount = 0;
  for (let index = 0; index < settings.cardholders; index += 1) {
    const holder = makeCardholder(random, index, inPerson, online, gameStores, cardCount);
    cardCount += holder.cards.length;
    cardholders.push(holder);
    simulateCardholder(random, holder, settings.start, end, inPerson, online, drafts);
  }

  const fraud = new FraudInjector(random, settings, cardholders, drafts, inPerson, online, onlineMerchants);
  fraud.inject();

  drafts.sort((a, b) => a.time - b.time);
  drafts.forEach((entry, sequence) => {
    entry.sequence = sequence;
  });
  return { authorizations: drafts, merchants, cards: cardCount };
}

function makeMerchants(random: Random, scale: number): Merchant[] {
  const merchants: Merchant[] = [];
  const inPersonProfiles = new WeightedPicker(
    MCC_PROFILES,
    (profile) => profile.weight * (1 - profile.online),
  );
  const onlineProfiles = new WeightedPicker(MCC_PROFILES, (profile) => profile.weight * profile.online);
  const make = (profile: MccProfile, country: string, isOnline: boolean): Merchant => ({
    id: `acq_${String(merchants.length).padStart(6, '0')}`,
    mcc: profile.mcc,
    country,
    online: isOnline,
    popularity: random.logNormal(1, 1.2),
    medianAmount: profile.medianHkd * random.logNormal(1, 0.35),
  });
  for (const [country, count] of PHYSICAL_MERCHANTS) {
    const total = Math.max(20, Math.round(count * scale));
    for (let i = 0; i < total; i += 1) merchants.push(make(inPersonProfiles.pick(random), country, false));
  }
  const onlineTotal = Math.max(60, Math.round(ONLINE_MERCHANTS * scale));
  for (let i = 0; i < onlineTotal; i += 1) {
    merchants.push(make(onlineProfiles.pick(random), weightedTable(random, ONLINE_COUNTRIES), true));
  }
  return merchants;
}

function makeCardholder(
  random: Random,
  index: number,
  inPerson: (country: string) => WeightedPicker<Merchant>,
  online: WeightedPicker<Merchant>,
  gameStores: readonly Merchant[],
  firstCard: number,
): Cardholder {
  const country = weightedTable(random, RESIDENCES);
  const cardTotal = random.chance(0.75) ? 1 : random.chance(0.8) ? 2 : 3;
  const cards = Array.from({ length: cardTotal }, (_, i) => `card_${String(firstCard + i).padStart(6, '0')}`);
  const favourites = (picker: WeightedPicker<Merchant>, count: number): Merchant[] => {
    const chosen = new Map<string, Merchant>();
    for (let i = 0; i < count * 3 && chosen.size < count; i += 1) {
      const merchant = picker.pick(random);
      chosen.set(merchant.id, merchant);
    }
    return [...chosen.values()];
  };
  const id = `ch_${String(index).padStart(6, '0')}`;
  return {
    id,
    country,
    cards,
    dailyRate: Math.min(8, random.logNormal(0.9, 0.7)),
    spendScale: random.logNormal(1, 0.5),
    onlineShare: Math.min(0.85, Math.max(0.03, random.logNormal(0.25, 0.6))),
    hourShift: random.int(-2, 2),
    favouritesInPerson: favourites(inPerson(country), random.int(6, 30)),
    favouritesOnline: favourites(online, random.int(3, 12)),
    devices: Array.from({ length: random.int(1, 3) }, (_, i) => `dev_${id}_${i}`),
    contactlessShare: random.uniform(0.5, 0.9),
    sharedAddressShare: random.chance(0.3) ? random.uniform(0.2, 1) : 0,
    gameStores: random.chance(0.05) ? random.sample(gameStores, random.int(1, 3)) : [],
  };
}

function sampleHour(random: Random, weights: readonly number[], shift: number): number {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  let target = random.next() * total;
  for (let hour = 0; hour < 24; hour += 1) {
    target -= weights[hour] ?? 0;
    if (target < 0) return (hour + shift + 24) % 24;
  }
  return 12;
}

function planTrips(random: Random, holder: Cardholder, start: number, end: number): Trip[] {
  const trips: Trip[] = [];
  const tripCount = random.chance(0.35) ? (random.chance(0.7) ? 1 : 2) : 0;
  for (let i = 0; i < tripCount; i += 1) {
    let destination = weightedTable(random, TRIP_DESTINATIONS);
    if (destination === holder.country) destination = holder.country === 'HK' ? 'JP' : 'HK';
    const near = minimumTravelMs(holder.country, destination) < 2 * HOUR;
    const leave = start + random.uniform(0, (end - start) * 0.95);
    // A real journey takes longer than the least time travel allows: queues, the airport, the ferry's timetable.
    const journey =
      minimumTravelMs(holder.country, destination) * random.uniform(1.15, 1.8) + random.uniform(0, HOUR);
    const stay = near ? random.uniform(0.2, 3) * DAY : random.uniform(2, 10) * DAY;
    const arrive = leave + journey;
    const leaveBack = arrive + stay;
    const trip = { destination, leave, arrive, leaveBack, home: leaveBack + journey };
    if (trips.every((other) => trip.home < other.leave || trip.leave > other.home)) trips.push(trip);
  }
  return trips;
}

function simulateCardholder(
  random: Random,
  holder: Cardholder,
  start: number,
  end: number,
  inPerson: (country: string) => WeightedPicker<Merchant>,
  online: WeightedPicker<Merchant>,
  out: Draft[],
): void {
  const trips = planTrips(random, holder, start, end);
  const whereAt = (time: number): string | null => {
    for (const trip of trips) {
      if (time >= trip.leave && time < trip.arrive) return null;
      if (time >= trip.arrive && time < trip.leaveBack) return trip.destination;
      if (time >= trip.leaveBack && time < trip.home) return null;
    }
    return holder.country;
  };
  const days = Math.round((end - start) / DAY);
  for (let day = 0; day < days; day += 1) {
    const dayStart = start + day * DAY;
    const weekday = new Date(dayStart + HONG_KONG_OFFSET + 12 * HOUR).getUTCDay();
    const weekend = weekday === 0 || weekday === 6;
    const count = random.poisson(holder.dailyRate * (weekend ? 1.2 : 0.92));
    if (holder.gameStores.length > 0 && random.chance(0.12)) gameSession(random, holder, dayStart, end, out);
    for (let i = 0; i < count; i += 1) {
      const isOnline = random.chance(holder.onlineShare);
      const hour = sampleHour(random, isOnline ? HOURLY_ONLINE : HOURLY_IN_PERSON, holder.hourShift);
      const time = Math.floor(dayStart + hour * HOUR + random.next() * HOUR);
      if (time >= end) continue;
      const location = whereAt(time);
      if (!isOnline && location === null) continue; // in the air: nothing in person
      let merchant: Merchant;
      if (isOnline) {
        merchant = random.chance(0.75) ? random.pick(holder.favouritesOnline) : online.pick(random);
      } else if (location === holder.country) {
        merchant = random.chance(0.7)
          ? random.pick(holder.favouritesInPerson)
          : inPerson(holder.country).pick(random);
      } else {
        merchant = inPerson(location ?? holder.country).pick(random);
      }
      emitGenuine(random, holder, merchant, time, end, isOnline, out);
    }
  }
}

/** Mobile carriers put many subscribers behind a few addresses: a device count is not always one person. */
const SHARED_ADDRESSES = 6;

function onlineAddress(random: Random, holder: Cardholder): string {
  if (random.chance(holder.sharedAddressShare)) return `ip_carrier_${random.int(1, SHARED_ADDRESSES)}`;
  if (random.chance(0.06)) return `ip_${random.uint32().toString(16)}`;
  return random.pick(holder.devices);
}

/** A player buying game credit: a few small purchases at a high-risk category within minutes, all genuine. */
function gameSession(random: Random, holder: Cardholder, dayStart: number, end: number, out: Draft[]): void {
  const store = random.pick(holder.gameStores);
  const card = holder.cards[0] ?? '';
  const device = random.pick(holder.devices);
  const hour = sampleHour(random, HOURLY_ONLINE, holder.hourShift);
  let time = Math.floor(dayStart + hour * HOUR + random.next() * HOUR);
  const purchases = random.int(2, 6);
  for (let i = 0; i < purchases && time < end; i += 1) {
    const amount = toMinorUnits(store.medianAmount * random.logNormal(1, 0.5));
    const approved = !random.chance(0.04);
    out.push(draft(time, card, holder, store, 'ecommerce', device, amount, approved, null));
    time += Math.floor(random.uniform(1, 15) * MINUTE);
  }
}

function emitGenuine(
  random: Random,
  holder: Cardholder,
  merchant: Merchant,
  time: number,
  end: number,
  isOnline: boolean,
  out: Draft[],
): void {
  const card =
    holder.cards.length > 1 && random.chance(0.25) ? random.pick(holder.cards) : (holder.cards[0] ?? '');
  const entryMode: EntryMode = isOnline
    ? 'ecommerce'
    : random.chance(holder.contactlessShare)
      ? 'contactless'
      : random.chance(0.93)
        ? 'chip'
        : random.chance(0.6)
          ? 'magstripe'
          : 'keyed';
  const deviceId = isOnline ? onlineAddress(random, holder) : null;
  const amount = toMinorUnits(merchant.medianAmount * holder.spendScale * random.logNormal(1, 0.7));
  const relative = amount / (merchant.medianAmount * 100);
  // Prepaid balances run out: declines come mostly on larger amounts.
  const declined = random.chance(0.012 + (relative > 3 ? 0.06 : 0));
  out.push(draft(time, card, holder, merchant, entryMode, deviceId, amount, !declined, null));
  if (declined && random.chance(0.5)) {
    // The cardholder tries again for less, a few minutes later.
    const retry = time + Math.floor(random.uniform(1, 10) * MINUTE);
    const smaller = toMinorUnits(amount / 200);
    if (retry < end) out.push(draft(retry, card, holder, merchant, entryMode, deviceId, smaller, true, null));
  }
}

/** The fraud patterns, each at a rate scaled to the population and the simulated days. */
class FraudInjector {
  private readonly cardOwners: { readonly card: string; readonly holder: Cardholder }[] = [];
  private readonly compromised: { readonly card: string; readonly holder: Cardholder }[] = [];
  /** Genuine in-person authorizations at home, per card: where a clone's use is measured from. */
  private readonly presentAtHome = new Map<string, Draft[]>();
  private readonly perDay: number;
  private readonly highRiskOnline: readonly Merchant[];
  private readonly riskyOnline: WeightedPicker<Merchant>;
  private fraudsterDevices = 0;

  constructor(
    private readonly random: Random,
    private readonly settings: GeneratorOptions,
    cardholders: readonly Cardholder[],
    private readonly out: Draft[],
    private readonly inPerson: (country: string) => WeightedPicker<Merchant>,
    private readonly online: WeightedPicker<Merchant>,
    onlineMerchants: readonly Merchant[],
  ) {
    for (const holder of cardholders) for (const card of holder.cards) this.cardOwners.push({ card, holder });
    for (const entry of out) {
      if (entry.entryMode === 'ecommerce' || entry.entryMode === 'keyed') continue;
      if (entry.merchantCountry !== entry.cardholderCountry) continue;
      const list = this.presentAtHome.get(entry.cardId) ?? [];
      list.push(entry);
      this.presentAtHome.set(entry.cardId, list);
    }
    this.perDay = (settings.cardholders / 6000) * settings.fraudRate;
    this.highRiskOnline = onlineMerchants.filter((merchant) => mccRiskClass(merchant.mcc) === 'high');
    this.riskyOnline = new WeightedPicker(onlineMerchants, (merchant) =>
      mccRiskClass(merchant.mcc) === 'low' ? 1 : 6,
    );
  }

  inject(): void {
    const days = this.settings.days;
    // Counts per pattern: sizes keep fraud near 0.6% of authorizations, card testing about half of it.
    const testing = this.count(0.55 * days);
    const takeovers = this.count(2.2 * days);
    const travel = this.count(2.2 * days);
    const bursts = this.count(1.5 * days);
    for (let i = 0; i < testing; i += 1) this.cardTesting();
    for (let i = 0; i < takeovers; i += 1) this.accountTakeover(this.randomTime(), this.victim());
    for (let i = 0; i < travel; i += 1) this.impossibleTravel();
    for (let i = 0; i < bursts; i += 1) this.highRiskBurst();
  }

  private count(meanPerPopulation: number): number {
    return this.random.poisson(meanPerPopulation * this.perDay);
  }

  private randomTime(): number {
    return this.settings.start + this.random.next() * this.settings.days * DAY;
  }

  private end(): number {
    return this.settings.start + this.settings.days * DAY;
  }

  private victim(): { readonly card: string; readonly holder: Cardholder } {
    // Cards that passed a card-testing run are sold on and used; others come from breaches elsewhere.
    if (this.compromised.length > 0 && this.random.chance(0.3)) return this.random.pick(this.compromised);
    return this.random.pick(this.cardOwners);
  }

  private fraudsterDevice(): string {
    this.fraudsterDevices += 1;
    return `ip_fraud_${this.fraudsterDevices}`;
  }

  private push(
    pattern: FraudPattern,
    owner: { readonly card: string; readonly holder: Cardholder },
    merchant: Merchant,
    time: number,
    amount: number,
    entryMode: EntryMode,
    deviceId: string | null,
    approved: boolean,
  ): void {
    if (time >= this.end()) return;
    this.out.push(
      draft(
        Math.floor(time),
        owner.card,
        owner.holder,
        merchant,
        entryMode,
        deviceId,
        amount,
        approved,
        pattern,
      ),
    );
  }

  /** One fraudster, one merchant, many cards, small amounts, minutes; many fail the CVV or expiry checks. */
  private cardTesting(): void {
    const random = this.random;
    const keyed = random.chance(0.15);
    const merchant = keyed ? this.inPerson('HK').pick(random) : this.online.pick(random);
    const devices = Array.from({ length: random.int(1, 3) }, () => this.fraudsterDevice());
    const victims = random.sample(this.cardOwners, random.int(12, 60));
    const start = this.randomTime();
    const span = random.uniform(3, 40) * MINUTE;
    const staleList = random.uniform(0.3, 0.8);
    for (const victim of victims) {
      const valid = !random.chance(staleList);
      const attempts = random.chance(0.7) ? 1 : random.int(2, 3);
      let time = start + random.next() * span;
      for (let attempt = 0; attempt < attempts; attempt += 1) {
        const amount = random.chance(0.4) ? random.pick([100, 200, 500, 1000]) : random.int(50, 1200);
        const approved = valid && random.chance(0.92);
        this.push(
          'card_testing',
          victim,
          merchant,
          time,
          amount,
          keyed ? 'keyed' : 'ecommerce',
          random.pick(devices),
          approved,
        );
        time += random.uniform(5_000, 60_000);
      }
      if (valid) this.compromised.push(victim);
    }
  }

  /** A compromised card buys several larger things online at merchants new to it, within an hour or two. */
  private accountTakeover(
    start: number,
    victim: { readonly card: string; readonly holder: Cardholder },
  ): void {
    const random = this.random;
    const device = this.fraudsterDevice();
    let balance = random.logNormal(300_000, 0.8); // what is left on the prepaid card, cents
    let time = start;
    const purchases = random.int(3, 8);
    for (let i = 0; i < purchases; i += 1) {
      const merchant = random.chance(0.65) ? this.riskyOnline.pick(random) : this.online.pick(random);
      const amount = toMinorUnits(random.logNormal(1500, 0.7));
      const approved = amount <= balance && random.chance(0.95);
      if (approved) balance -= amount;
      this.push('account_takeover', victim, merchant, time, amount, 'ecommerce', device, approved);
      time += random.uniform(2, 25) * MINUTE;
    }
  }

  /** A cloned card used in person far away, soon after the real card was used in person at home. */
  private impossibleTravel(): void {
    const random = this.random;
    for (let tries = 0; tries < 20; tries += 1) {
      const victim = random.pick(this.cardOwners);
      const anchors = this.presentAtHome.get(victim.card);
      if (anchors === undefined) continue;
      const anchor = random.pick(anchors);
      let country = weightedTable(random, CLONE_COUNTRIES);
      if (country === victim.holder.country) country = 'US';
      const limit = minimumTravelMs(anchor.merchantCountry, country);
      let time = anchor.time + random.uniform(0.05, 0.8) * limit;
      const uses = random.int(1, 4);
      const pool = this.inPerson(country);
      for (let i = 0; i < uses; i += 1) {
        const merchant = pool.pick(random);
        const entryMode: EntryMode = random.chance(0.5)
          ? 'magstripe'
          : random.chance(0.5)
            ? 'chip'
            : 'contactless';
        const amount = toMinorUnits(random.logNormal(1800, 0.8));
        this.push('impossible_travel', victim, merchant, time, amount, entryMode, null, random.chance(0.85));
        time += random.uniform(5, 45) * MINUTE;
      }
      return;
    }
  }

  /** Several authorizations at high-risk categories (gambling, quasi-cash, transfers, digital goods) in minutes. */
  private highRiskBurst(): void {
    const random = this.random;
    const victim = this.victim();
    const device = this.fraudsterDevice();
    const favourites = random.sample(this.highRiskOnline, random.int(1, 2));
    let balance = random.logNormal(250_000, 0.8);
    let time = this.randomTime();
    const count = random.int(3, 8);
    for (let i = 0; i < count; i += 1) {
      const merchant = random.chance(0.8) ? random.pick(favourites) : random.pick(this.highRiskOnline);
      const amount = toMinorUnits(random.logNormal(600, 0.8));
      const approved = amount <= balance && random.chance(0.9);
      if (approved) balance -= amount;
      this.push('high_risk_burst', victim, merchant, time, amount, 'ecommerce', device, approved);
      time += random.uniform(1, 12) * MINUTE;
    }
  }
}
