/**
 * `npm run bench -- aml`: the AML scenarios (src/compliance/aml/scenarios.ts) with the default settings over a benign
 * synthetic population, for the alert rate a programme should expect from ordinary cardholders and the time the
 * pure evaluation takes. Nothing here is fraud or laundering, so every alert is a false positive: the figures say
 * what the defaults cost an analyst, not what they catch (the scenario tests say that).
 *
 * The population is the risk model's generator (src/risk/training/generator.ts) with fraud turned off: 6,000
 * cardholders over 67 days, their approved authorizations as spending (declined ones stay declined). Made into
 * what monitoring sees of a prepaid programme in Hong Kong (home country HK, HKD):
 *  - each cardholder's cards created just before the first day, one HKD wallet, one device of their own (its key on
 *    loads and online payments);
 *  - a KYC tier by spending: those who spend more than the unverified tier's yearly loads allow (HKD 25,000) are
 *    verified, and a fifth of the rest too; an unverified cardholder's payment above HKD 3,000 is declined;
 *  - loads a prepaid wallet needs: a first top-up, another when the balance runs low (within hours) or just before a
 *    payment it cannot cover, each a round amount about two weeks of the cardholder's spending, within the tier;
 *  - each approved authorization captured 2 to 72 hours later, restaurants (5812) often with a tip of up to 20%.
 *
 * Evaluation runs as the consumer would at a modest cadence: once per day per cardholder with activity that day,
 * `now` at that day's last activity, over the activity read back `activityLookback` (all that was simulated).
 * Shared devices are evaluated per device key the same way.
 *
 * Per scenario it prints: cardholders evaluated; activities, those of the kinds the scenario reads; hits, as returned
 * by all evaluations (an unchanged pattern is returned again each day); alerts, the distinct hits (scenario, reason
 * and activity ids: what the consumer raises once); alerts per 1,000 cardholders per month (30.44 days) and the share
 * of cardholders alerted at least once; and the time of one scenario's evaluation of one cardholder (mean and p99,
 * µs, each reading the activity afresh; for shared_device, of one device key), the activity already in memory: the
 * database's reads are not in it. Alerts by reason follow. Then the totals, and the time of `evaluateScenarios`
 * (every scenario but shared devices, the activity read once: what the consumer calls per cardholder). A last line
 * evaluates shared devices keyed by the generator's own online addresses instead: the cardholder's devices, one-off
 * IP addresses and mobile carriers' shared addresses (NAT), the last two as IP addresses: what the scenario makes of
 * payments that came with only an IP address.
 */
import { createHash } from 'node:crypto';
import type { Activity, CardholderActivity, TierCaps } from '../src/compliance/aml/activity.js';
import { DEFAULT_SCENARIO_SETTINGS, SCENARIOS, type ScenarioName } from '../src/compliance/aml/parameters.js';
import {
  activityLookback,
  compareActivities,
  evaluateScenario,
  evaluateScenarios,
  evaluateSharedDevice,
  type ScenarioHit,
} from '../src/compliance/aml/scenarios.js';
import { DEFAULT_KYC_TIERS } from '../src/compliance/kyc/tiers.js';
import { generateAuthorizations, type GeneratedAuthorization } from '../src/risk/training/generator.js';
import { Random } from '../src/risk/training/random.js';

const PROGRAM = 'prog_bench';
const HOME_COUNTRY = 'HK';
const CARDHOLDERS = 6_000;
const DAYS = 67;
const SEED = 20_250_101;
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MONTH_DAYS = 30.44;
const HONG_KONG_OFFSET_MS = 8 * HOUR_MS;
/** Top-ups people choose, HKD minor units. */
const ROUND_AMOUNTS = [
  100, 200, 300, 500, 800, 1_000, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000, 6_000, 8_000, 10_000, 12_000,
  15_000, 20_000, 30_000, 50_000,
].map((major) => major * 100);
const UNVERIFIED = DEFAULT_KYC_TIERS.unverified.HKD ?? missing('unverified');
const VERIFIED = DEFAULT_KYC_TIERS.verified.HKD ?? missing('verified');

function missing(tier: string): never {
  throw new Error(`DEFAULT_KYC_TIERS has no HKD limits for the ${tier} tier`);
}

/** What a scenario reads, for the activity column. */
const KINDS_READ: Readonly<Record<ScenarioName, readonly Activity['kind'][]>> = {
  structuring: ['load', 'authorization'],
  tier_limit_probing: ['load', 'load_declined'],
  rapid_movement: ['load', 'authorization', 'force_post', 'unload'],
  card_rotation: ['card_created', 'card_closed', 'authorization', 'capture', 'force_post'],
  shared_device: [],
  capture_abuse: ['capture', 'force_post'],
  cross_border: ['authorization', 'force_post'],
};

interface Holder {
  readonly id: string;
  readonly caps: TierCaps;
  readonly verified: boolean;
  readonly activities: readonly Activity[];
}

/** The smallest round amount of at least `amount`, or the largest there is. */
function roundUp(amount: number): number {
  return (
    ROUND_AMOUNTS.find((round) => round >= amount) ?? (ROUND_AMOUNTS[ROUND_AMOUNTS.length - 1] as number)
  );
}

/** The largest round amount of at most `amount` (0 when none fits). */
function roundDown(amount: number): number {
  return [...ROUND_AMOUNTS].reverse().find((round) => round <= amount) ?? 0;
}

const NO_FLAGS: readonly string[] = [];

type Details = Partial<
  Pick<
    Activity,
    | 'cardId'
    | 'walletId'
    | 'approved'
    | 'merchantCountry'
    | 'authorizedAmount'
    | 'balanceAfter'
    | 'deviceKey'
    | 'deviceKind'
  >
>;

/** An HKD activity, its fields in the order the consumer's rows give them (one object shape for all). */
function activityOf(
  kind: Activity['kind'],
  id: string,
  cardholderId: string,
  at: number,
  amount: number,
  details: Details,
): Activity {
  return {
    id,
    kind,
    programId: PROGRAM,
    cardholderId,
    at,
    amount,
    currency: 'HKD',
    cardId: details.cardId ?? null,
    walletId: details.walletId ?? null,
    approved: details.approved ?? null,
    merchantCountry: details.merchantCountry ?? null,
    authorizedAmount: details.authorizedAmount ?? null,
    flags: NO_FLAGS,
    balanceAfter: details.balanceAfter ?? null,
    deviceKey: details.deviceKey ?? null,
    deviceKind: details.deviceKey === undefined ? null : (details.deviceKind ?? 'device'),
    converted: null,
  };
}

const deviceKeyOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);

/** One cardholder's generated authorizations (time order) as monitoring's activity. */
function holderActivity(
  random: Random,
  cardholderId: string,
  authorizations: readonly GeneratedAuthorization[],
  start: number,
  next: () => number,
): Holder {
  const months = DAYS / MONTH_DAYS;
  const spent = authorizations.reduce((sum, auth) => sum + (auth.approved ? auth.amount : 0), 0);
  const yearly = (spent / months) * 12;
  const verified = yearly > UNVERIFIED.max_loads_per_year * 0.9 || random.chance(0.2);
  const tier = verified ? VERIFIED : UNVERIFIED;
  const caps: TierCaps = { maxBalance: tier.max_balance, maxLoadsPerYear: tier.max_loads_per_year };
  const walletId = `wal_${cardholderId}`;
  const deviceKey = deviceKeyOf(`device of ${cardholderId}`);
  const activities: Activity[] = [];
  const cards = [...new Set(authorizations.map((auth) => auth.cardId))];
  for (const cardId of cards) {
    const at = start - random.uniform(1, 48) * HOUR_MS;
    activities.push(activityOf('card_created', cardId, cardholderId, at, 0, { cardId, walletId, deviceKey }));
  }
  // About two weeks of spending, in a round amount; never more than the tier lets the wallet hold.
  const size = Math.min(
    roundUp((spent / (DAYS / 14)) * random.logNormal(1, 0.3)),
    roundDown(tier.max_balance),
  );
  let balance = 0;
  let loaded = 0;
  const topUp = (at: number, wanted: number): void => {
    const room = Math.min(tier.max_balance - balance, tier.max_loads_per_year - loaded);
    const amount = Math.min(roundUp(wanted), roundDown(room));
    if (amount <= 0) return;
    balance += amount;
    loaded += amount;
    const id = `load_${String(next())}`;
    activities.push(
      activityOf('load', id, cardholderId, at, amount, { walletId, deviceKey, balanceAfter: balance }),
    );
  };
  topUp(start - random.uniform(0, 24) * HOUR_MS, size);
  let dueAt: number | null = null;
  for (const auth of authorizations) {
    if (dueAt !== null && dueAt < auth.time) {
      topUp(dueAt, size);
      dueAt = null;
    }
    const capturedExtra =
      auth.mcc === '5812' && random.chance(0.4) ? Math.round(auth.amount * random.uniform(0, 0.2)) : 0;
    const cost = auth.amount + capturedExtra;
    let approved = auth.approved && auth.amount <= tier.max_per_transaction;
    if (approved && cost > balance) {
      // Topped up in the app a few minutes before paying: enough for it and the next weeks where the tier allows.
      topUp(auth.time - random.uniform(2, 15) * MINUTE_MS, Math.max(size, cost - balance));
      dueAt = null;
      approved = cost <= balance;
    }
    const online = auth.entryMode === 'ecommerce';
    const id = `auth_${String(next())}`;
    activities.push(
      activityOf('authorization', id, cardholderId, auth.time, auth.amount, {
        cardId: auth.cardId,
        walletId,
        approved,
        merchantCountry: auth.merchantCountry,
        deviceKey: online ? deviceKey : null,
      }),
    );
    if (!approved) continue;
    balance -= cost;
    const capturedAt = auth.time + Math.floor(random.uniform(2, 72) * HOUR_MS);
    activities.push(
      activityOf('capture', `txn_${String(next())}`, cardholderId, capturedAt, cost, {
        cardId: auth.cardId,
        walletId,
        merchantCountry: auth.merchantCountry,
        authorizedAmount: auth.amount,
      }),
    );
    if (dueAt === null && balance < size / 4) dueAt = auth.time + random.uniform(0.5, 18) * HOUR_MS;
  }
  activities.sort(compareActivities);
  return { id: cardholderId, caps, verified, activities };
}

function population(): { holders: Holder[]; start: number } {
  const generated = generateAuthorizations({
    seed: SEED,
    cardholders: CARDHOLDERS,
    days: DAYS,
    fraudRate: 0,
  });
  const byHolder = new Map<string, GeneratedAuthorization[]>();
  for (const auth of generated.authorizations) {
    if (auth.fraud !== null) continue;
    const list = byHolder.get(auth.cardholderId);
    if (list === undefined) byHolder.set(auth.cardholderId, [auth]);
    else list.push(auth);
  }
  const start = generated.authorizations[0]?.time ?? 0;
  const random = new Random(SEED);
  let sequence = 0;
  const next = (): number => (sequence += 1);
  const holders = [...byHolder.keys()]
    .sort()
    .map((id) => holderActivity(random, id, byHolder.get(id) ?? [], start, next));
  return { holders, start };
}

/** The day (Hong Kong) an activity falls on. */
const dayOf = (at: number): number => Math.floor((at + HONG_KONG_OFFSET_MS) / DAY_MS);

/** Each day's last activity time, for the evaluations of one cardholder or device: times in order. */
function evaluationTimes(activities: readonly Activity[]): number[] {
  const times: number[] = [];
  activities.forEach((activity, index) => {
    const following = activities[index + 1];
    if (following === undefined || dayOf(following.at) !== dayOf(activity.at)) times.push(activity.at);
  });
  return times;
}

/** The activities in (now − lookback, now]: those of `sorted` up to `now`, from the first inside the lookback. */
function upTo(sorted: readonly Activity[], now: number, lookbackMs: number): readonly Activity[] {
  let end = 0;
  while (end < sorted.length && (sorted[end] as Activity).at <= now) end += 1;
  let begin = 0;
  while (begin < end && (sorted[begin] as Activity).at <= now - lookbackMs) begin += 1;
  return sorted.slice(begin, end);
}

class Tally {
  hits = 0;
  evaluations = 0;
  readonly alerts = new Set<string>();
  readonly alerted = new Set<string>();
  readonly reasons = new Map<string, number>();
  timings: number[] = [];

  record(found: readonly ScenarioHit[], elapsedMs: number): void {
    this.evaluations += 1;
    this.timings.push(elapsedMs);
    for (const hit of found) {
      this.hits += 1;
      // The consumer's fingerprint: the same hit is raised once.
      const key = `${hit.cardholderId}\u001f${hit.reason}\u001f${[...hit.activityIds].sort().join(',')}`;
      if (this.alerts.has(key)) continue;
      this.alerts.add(key);
      this.alerted.add(hit.cardholderId);
      this.reasons.set(hit.reason, (this.reasons.get(hit.reason) ?? 0) + 1);
    }
  }
}

const count = (n: number): string => n.toLocaleString('en-US');

function percentile(sorted: Float64Array, share: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))] ?? NaN;
}

function evaluateDevices(byKey: ReadonlyMap<string, Activity[]>, lookbackMs: number, tally: Tally): void {
  for (const key of [...byKey.keys()].sort()) {
    const activities = byKey.get(key) ?? [];
    activities.sort(compareActivities);
    for (const now of evaluationTimes(activities)) {
      const window = upTo(activities, now, lookbackMs);
      const started = performance.now();
      const found = evaluateSharedDevice(window, DEFAULT_SCENARIO_SETTINGS, now);
      tally.record(found, performance.now() - started);
    }
  }
}

export function benchAml(): void {
  const built = performance.now();
  const { holders } = population();
  const buildMs = performance.now() - built;
  const settings = DEFAULT_SCENARIO_SETTINGS;
  const lookback = activityLookback(settings);
  // The cardholder's activity as the consumer reads it: loads a year back, everything else less (all that was
  // simulated, either way).
  const lookbackMs = lookback.loads;
  const tallies = new Map(SCENARIOS.map((scenario) => [scenario, new Tally()]));
  const kinds = new Map<string, number>();
  const byDevice = new Map<string, Activity[]>();
  let evaluations = 0;
  const together: number[] = [];
  for (const holder of holders) {
    for (const activity of holder.activities) {
      kinds.set(activity.kind, (kinds.get(activity.kind) ?? 0) + 1);
      if (activity.deviceKey === null) continue;
      const list = byDevice.get(activity.deviceKey);
      if (list === undefined) byDevice.set(activity.deviceKey, [activity]);
      else list.push(activity);
    }
    for (const now of evaluationTimes(holder.activities)) {
      evaluations += 1;
      const view: CardholderActivity = {
        cardholderId: holder.id,
        programId: PROGRAM,
        homeCountry: HOME_COUNTRY,
        caps: { HKD: holder.caps },
        activities: upTo(holder.activities, now, lookbackMs),
      };
      for (const scenario of SCENARIOS) {
        if (scenario === 'shared_device') continue;
        const started = performance.now();
        const found = evaluateScenario(scenario, view, settings, now);
        tallies.get(scenario)?.record(found, performance.now() - started);
      }
      // What the consumer calls: every scenario but shared devices at once, the activity read once.
      const started = performance.now();
      evaluateScenarios(view, settings, now);
      together.push(performance.now() - started);
    }
  }
  const deviceTally = tallies.get('shared_device') ?? new Tally();
  evaluateDevices(byDevice, lookback.devices, deviceTally);

  const verified = holders.filter((holder) => holder.verified).length;
  const cardholders = holders.length;
  const months = DAYS / MONTH_DAYS;
  const kindList = ['load', 'authorization', 'capture', 'card_created']
    .map((kind) => `${count(kinds.get(kind) ?? 0)} ${kind === 'card_created' ? 'cards created' : `${kind}s`}`)
    .join(', ');
  console.log(
    `aml      benign population (the risk generator, fraud off): ${count(cardholders)} cardholders over ${String(DAYS)} days, ` +
      `${count(verified)} verified and ${count(cardholders - verified)} unverified; ${kindList}; built in ${count(Math.round(buildMs))} ms`,
  );
  console.log(
    `         evaluated once per day per cardholder with activity (${count(evaluations)} evaluations of cardholders, ` +
      `${count(deviceTally.evaluations)} of devices), default settings, lookback ${String(lookbackMs / DAY_MS)} days`,
  );
  console.log(
    `         ${'scenario'.padEnd(19)}${'cardholders'.padStart(12)}${'activities'.padStart(12)}${'hits'.padStart(9)}` +
      `${'alerts'.padStart(8)}${'per 1k/month'.padStart(14)}${'alerted'.padStart(9)}${'µs mean'.padStart(10)}${'µs p99'.padStart(9)}`,
  );
  for (const scenario of SCENARIOS) {
    const tally = tallies.get(scenario) ?? new Tally();
    const read =
      scenario === 'shared_device'
        ? [...byDevice.values()].reduce((sum, list) => sum + list.length, 0)
        : KINDS_READ[scenario].reduce((sum, kind) => sum + (kinds.get(kind) ?? 0), 0);
    const sorted = Float64Array.from(tally.timings).sort();
    const mean = sorted.reduce((sum, each) => sum + each, 0) / Math.max(1, sorted.length);
    const perThousand = ((tally.alerts.size / cardholders) * 1000) / months;
    console.log(
      `         ${scenario.padEnd(19)}${count(cardholders).padStart(12)}${count(read).padStart(12)}${count(tally.hits).padStart(9)}` +
        `${count(tally.alerts.size).padStart(8)}${perThousand.toFixed(2).padStart(14)}` +
        `${((tally.alerted.size / cardholders) * 100).toFixed(2)}%`.padStart(9) +
        `${(mean * 1000).toFixed(1).padStart(10)}${(percentile(sorted, 0.99) * 1000).toFixed(1).padStart(9)}`,
    );
    if (tally.reasons.size > 0) {
      const reasons = [...tally.reasons].sort(([a], [b]) => a.localeCompare(b));
      console.log(`           ${reasons.map(([reason, n]) => `${reason} ${count(n)}`).join(', ')}`);
    }
  }
  const all = [...tallies.values()].reduce((sum, tally) => sum + tally.alerts.size, 0);
  const togetherSorted = Float64Array.from(together).sort();
  const togetherMean =
    togetherSorted.reduce((sum, each) => sum + each, 0) / Math.max(1, togetherSorted.length);
  const alertedAny = new Set([...tallies.values()].flatMap((tally) => [...tally.alerted])).size;
  console.log(
    `         all scenarios: ${count(all)} alerts, ${(((all / cardholders) * 1000) / months).toFixed(2)} per 1,000 cardholders a month; ` +
      `${((alertedAny / cardholders) * 100).toFixed(2)}% of cardholders alerted at least once in ${String(DAYS)} days`,
  );
  console.log(
    `         evaluateScenarios (all but shared_device, as the consumer calls it) per cardholder evaluation: mean ` +
      `${(togetherMean * 1000).toFixed(1)} µs, p99 ${(percentile(togetherSorted, 0.99) * 1000).toFixed(1)} µs, ` +
      `max ${((togetherSorted[togetherSorted.length - 1] ?? NaN) * 1000).toFixed(0)} µs`,
  );

  // The same population keyed by the generator's online addresses: carrier NAT addresses are shared by many.
  const byAddress = new Map<string, Activity[]>();
  const generated = generateAuthorizations({
    seed: SEED,
    cardholders: CARDHOLDERS,
    days: DAYS,
    fraudRate: 0,
  });
  generated.authorizations.forEach((auth, index) => {
    if (auth.deviceId === null || !auth.approved) return;
    const activity = activityOf(
      'authorization',
      `auth_addr_${String(index)}`,
      auth.cardholderId,
      auth.time,
      auth.amount,
      {
        cardId: auth.cardId,
        approved: true,
        merchantCountry: auth.merchantCountry,
        deviceKey: deviceKeyOf(auth.deviceId),
        // The generator's addresses: a carrier's NAT or a one-off address, else one of the cardholder's devices.
        deviceKind: auth.deviceId.startsWith('ip_') ? 'ip' : 'device',
      },
    );
    const list = byAddress.get(activity.deviceKey ?? '');
    if (list === undefined) byAddress.set(activity.deviceKey ?? '', [activity]);
    else list.push(activity);
  });
  const addressTally = new Tally();
  evaluateDevices(byAddress, lookback.devices, addressTally);
  const sorted = Float64Array.from(addressTally.timings).sort();
  console.log(
    `         shared_device keyed by the generator's online addresses instead (${count(byAddress.size)} keys, mobile ` +
      `carriers' shared addresses among them, as IP addresses): ${count(addressTally.alerts.size)} alerts, ` +
      `${((addressTally.alerted.size / cardholders) * 100).toFixed(2)}% of cardholders alerted; ` +
      `p99 ${(percentile(sorted, 0.99) * 1000).toFixed(1)} µs, max ${((sorted[sorted.length - 1] ?? NaN) * 1000).toFixed(0)} µs per evaluation`,
  );
}
