/**
 * The AML scenarios: pure functions of one cardholder's activity (across all of their cards and wallets: spreading
 * a pattern over several cards must not hide it, DESIGN.md's "What Lantau will not do"), the programme's settings
 * (parameters.ts) and the moment of evaluation. No I/O, no clock: the same input gives the same hits.
 *
 * How a window is judged. Each rule picks the activities it watches (loads just under a threshold, foreign
 * payments, …) and slides a window of its length over them, judging it at each watched activity (the window ending
 * there). A pattern begins at the first activity whose window holds it, and goes on while each next watched
 * activity's window holds it too. The hit is where the latest pattern began, if it went on into the last window
 * before `now`: its `window` is the window ending at that first activity, and `activityIds` are exactly the
 * watched activities in it. So a hit stays the same as time passes and as further watched activities extend the
 * pattern (the consumer raises each distinct hit once, and an analyst gets one alert for one pattern, not one a
 * day); a pattern that stops and starts again is a new hit, and one that goes on past a pattern period (30 days,
 * counted from the epoch) is raised again for the new period, as a reminder that it continues.
 *
 * So a rule reads its activity up to a pattern period and twice its window before `now` (the yearly tier rule a
 * year of loads more; rapid movement its movement window twice more): `activityLookbackMs` says how far, for the
 * settings given. Activity after `now` is not yet seen; activity of another cardholder in the input is ignored; an
 * activity given twice (same kind and id: events are delivered at least once) counts once.
 *
 * Shared devices need several cardholders' activity, so they have their own function (`evaluateSharedDevice`).
 */
import { formatMoney } from '../../platform/money.js';
import type { Activity, ActivityKind, CardholderActivity, TierCaps } from './activity.js';
import { SCENARIOS, type ScenarioName, type ScenarioSettings } from './parameters.js';

export interface ScenarioHit {
  readonly scenario: ScenarioName;
  readonly programId: string;
  readonly cardholderId: string;
  /** A stable snake_case code for what the scenario saw (`loads_just_under_threshold`). */
  readonly reason: string;
  /** What it saw, in figures: never personal data. */
  readonly summary: string;
  /** Epoch ms: the window the pattern was found in. */
  readonly window: { readonly from: number; readonly to: number };
  /** Exactly the activities that make the pattern, oldest first, each once. */
  readonly activityIds: readonly string[];
}

const HOUR_MS = 3_600_000;
const DAY_HOURS = 24;
/** Enough for a year counted back from any moment (a leap year's). */
const YEAR_MS = 366 * DAY_HOURS * HOUR_MS;

/** Flags the processor sets on clearings (processing's clearing). */
export const FLAG_CLEARED_WITHOUT_OPEN_HOLD = 'cleared_without_open_hold';
export const FLAG_OVER_CAPTURE_BEYOND_TOLERANCE = 'over_capture_beyond_tolerance';

// ---- Reading the activity ----

/** Time order, then kind and id: the order the consumer reads activity in (`ORDER BY at, kind, id`). */
export const compareActivities = (a: Activity, b: Activity): number =>
  a.at - b.at || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * What the scenarios read: activity up to `now` that `keep` accepts, each (kind, id) once, in `compareActivities`
 * order whatever order it was given in (sorted only when it was not already).
 */
function readable(
  activities: readonly Activity[],
  now: number,
  keep: (activity: Activity) => boolean,
): Activity[] {
  const seen = new Map<ActivityKind, Set<string>>();
  const kept: Activity[] = [];
  let ordered = true;
  for (const activity of activities) {
    if (!Number.isFinite(activity.at) || activity.at > now || !keep(activity)) continue;
    let ids = seen.get(activity.kind);
    if (ids === undefined) {
      ids = new Set();
      seen.set(activity.kind, ids);
    }
    if (ids.has(activity.id)) continue;
    ids.add(activity.id);
    const previous = kept[kept.length - 1];
    if (previous !== undefined && compareActivities(previous, activity) > 0) ordered = false;
    kept.push(activity);
  }
  return ordered ? kept : kept.sort(compareActivities);
}

const isApprovedPayment = (activity: Activity): boolean =>
  activity.kind === 'authorization' && activity.approved === true;

/**
 * Money that left the cardholder's wallets to a merchant: approved authorizations and force posts (a clearing with
 * no authorization behind it). A capture is the money of an authorization already counted, so it is not added.
 */
const isSpend = (activity: Activity): boolean =>
  isApprovedPayment(activity) || activity.kind === 'force_post';

const isClearing = (activity: Activity): boolean =>
  activity.kind === 'capture' || activity.kind === 'force_post';

// ---- Windows ----

interface Timed {
  readonly at: number;
}

/** What a window holds, kept up to date as the window slides. */
interface Tally<T> {
  add(item: T): void;
  remove(item: T): void;
  holds(): boolean;
}

interface Found<T> {
  readonly from: number;
  readonly to: number;
  readonly items: readonly T[];
}

/** A pattern that goes on is one hit per period of this length (periods counted from the epoch, so fixed). */
export const PATTERN_PERIOD_MS = 30 * DAY_HOURS * HOUR_MS;

const periodOf = (at: number): number => Math.floor(at / PATTERN_PERIOD_MS);

/**
 * Where the latest pattern in `items` (oldest first) began: the window of `windowMs` ending at the first anchor of
 * the latest run of anchors (items `isAnchor` accepts) whose windows make `tally` hold, when that run's last anchor
 * is no earlier than `windowMs` before `now`. A run ends at an anchor whose window does not hold, and at the end of
 * a pattern period. One pass: the window slides from the oldest item to the newest.
 */
function patternStart<T extends Timed>(
  items: readonly T[],
  windowMs: number,
  now: number,
  tally: Tally<T>,
  isAnchor: (item: T) => boolean = () => true,
): Found<T> | undefined {
  let start = 0;
  let run: { start: number; end: number; last: number } | undefined;
  let holding = false;
  for (let end = 0; end < items.length; end += 1) {
    const anchor = items[end] as T;
    tally.add(anchor);
    for (let first = items[start] as T; first.at < anchor.at - windowMs; first = items[start] as T) {
      tally.remove(first);
      start += 1;
    }
    if (!isAnchor(anchor)) continue;
    const holds = tally.holds();
    if (holds && (!holding || run === undefined || periodOf(run.last) !== periodOf(anchor.at))) {
      run = { start, end, last: anchor.at };
    } else if (holds && run !== undefined) {
      run.last = anchor.at;
    }
    holding = holds;
  }
  if (run === undefined || run.last < now - windowMs) return undefined;
  const to = (items[run.end] as T).at;
  return { from: to - windowMs, to, items: items.slice(run.start, run.end + 1) };
}

function countAtLeast<T>(countMin: number): Tally<T> {
  let count = 0;
  return {
    add: () => (count += 1),
    remove: () => (count -= 1),
    holds: () => count >= countMin,
  };
}

function countAndSumAtLeast(countMin: number, sumMin: number): Tally<Activity> {
  let count = 0;
  let sum = 0;
  return {
    add: (item) => {
      count += 1;
      sum += item.amount;
    },
    remove: (item) => {
      count -= 1;
      sum -= item.amount;
    },
    holds: () => count >= countMin && sum >= sumMin,
  };
}

/** At least `countMin` items with at least `distinctMin` distinct keys among them. */
function distinctAtLeast<T>(key: (item: T) => string, distinctMin: number, countMin = 0): Tally<T> {
  const counts = new Map<string, number>();
  let count = 0;
  return {
    add: (item) => {
      count += 1;
      counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
    },
    remove: (item) => {
      count -= 1;
      const left = (counts.get(key(item)) ?? 1) - 1;
      if (left === 0) counts.delete(key(item));
      else counts.set(key(item), left);
    },
    holds: () => count >= countMin && counts.size >= distinctMin,
  };
}

// ---- Figures for summaries ----

const plural = (n: number, one: string, many = `${one}s`): string =>
  `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** `7 days` for whole days, else `36 hours`. */
const hoursText = (hours: number): string =>
  hours % DAY_HOURS === 0 ? plural(hours / DAY_HOURS, 'day') : plural(hours, 'hour');

/** An elapsed time as people say it: `40 minutes`, `3 hours` (rounded up). */
const elapsedText = (ms: number): string =>
  ms < HOUR_MS
    ? plural(Math.max(1, Math.ceil(ms / 60_000)), 'minute')
    : plural(Math.ceil(ms / HOUR_MS), 'hour');

const sumOf = (items: readonly Activity[]): number => items.reduce((sum, item) => sum + item.amount, 0);

/** `on 3 cards and 2 wallets`: how far a pattern was spread. */
function spread(items: readonly Activity[]): string {
  const cards = new Set(items.flatMap((item) => (item.cardId === null ? [] : [item.cardId]))).size;
  const wallets = new Set(items.flatMap((item) => (item.walletId === null ? [] : [item.walletId]))).size;
  const parts = [cards > 0 ? plural(cards, 'card') : '', wallets > 0 ? plural(wallets, 'wallet') : ''];
  const named = parts.filter((part) => part !== '');
  return named.length === 0 ? '' : ` on ${named.join(' and ')}`;
}

/**
 * The sign of `part` − `percent` % of `whole`, exactly: minor units times a percentage may pass 2^53, where a
 * float would round at the boundary.
 */
function comparePercent(part: number, whole: number, percent: number): number {
  const left = part * 100;
  const right = whole * percent;
  if ((Number.isSafeInteger(left) && Number.isSafeInteger(right)) || !Number.isSafeInteger(part)) {
    return Math.sign(left - right);
  }
  if (!Number.isSafeInteger(whole) || !Number.isInteger(percent)) return Math.sign(left - right);
  const difference = BigInt(part) * 100n - BigInt(whole) * BigInt(percent);
  return difference > 0n ? 1 : difference < 0n ? -1 : 0;
}

const atLeastPercent = (part: number, whole: number, percent: number): boolean =>
  comparePercent(part, whole, percent) >= 0;

const idsOf = (items: readonly Activity[]): string[] => [...new Set(items.map((item) => item.id))];

interface Subject {
  readonly programId: string;
  readonly cardholderId: string;
}

function hit(
  scenario: ScenarioName,
  subject: Subject,
  reason: string,
  summary: string,
  window: { readonly from: number; readonly to: number },
  items: readonly Activity[],
): ScenarioHit {
  return {
    scenario,
    programId: subject.programId,
    cardholderId: subject.cardholderId,
    reason,
    summary,
    window: { from: window.from, to: window.to },
    activityIds: idsOf([...items].sort(compareActivities)),
  };
}

/** Currencies of a per-currency parameter, in a fixed order. */
const currenciesOf = (byCurrency: Readonly<Record<string, unknown>>): string[] =>
  Object.keys(byCurrency).sort();

/**
 * What a rule whose amounts name the currencies `named` watches in `currency`, each with its amount in it: the
 * activities in that currency, and those in a currency the rule does not name converted into it when it is the
 * reporting currency they were converted to (parameters.ts). So amounts in all of a cardholder's wallets add up.
 */
function watchedIn(
  activities: readonly Activity[],
  currency: string,
  named: ReadonlySet<string>,
): Activity[] {
  return activities.flatMap((activity) => {
    if (activity.currency === currency) return [activity];
    const converted = activity.converted;
    if (converted === null || converted.currency !== currency || named.has(activity.currency)) return [];
    return [{ ...activity, amount: converted.amount, currency }];
  });
}

// ---- Structuring ----

type Flow = 'loads' | 'payments';

const FLOWS: readonly { readonly flow: Flow; readonly is: (activity: Activity) => boolean }[] = [
  { flow: 'loads', is: (activity) => activity.kind === 'load' },
  { flow: 'payments', is: isApprovedPayment },
];

/**
 * Amounts just under a reporting threshold, or linked amounts under it that together reach it, per currency,
 * threshold and flow (loads and payments are watched apart: each is a way to stay under the threshold).
 */
function structuring(
  subject: Subject,
  activities: readonly Activity[],
  settings: ScenarioSettings['structuring'],
  now: number,
): ScenarioHit[] {
  const hits: ScenarioHit[] = [];
  const windowMs = settings.window_hours * HOUR_MS;
  const linkedMs = settings.linked_window_hours * HOUR_MS;
  const named = new Set(currenciesOf(settings.thresholds));
  for (const currency of named) {
    const money = (amount: number) => formatMoney(amount, currency);
    const inCurrency = watchedIn(activities, currency, named);
    for (const threshold of settings.thresholds[currency] ?? []) {
      const low = Math.ceil((threshold * (100 - settings.margin_percent)) / 100);
      const partMin = Math.ceil((threshold * settings.linked_part_percent_min) / 100);
      for (const { flow, is } of FLOWS) {
        const watched = inCurrency.filter((activity) => is(activity) && activity.amount < threshold);
        const justUnder = patternStart(
          watched.filter((activity) => activity.amount >= low),
          windowMs,
          now,
          countAtLeast(settings.count_min),
        );
        if (justUnder !== undefined) {
          const items = justUnder.items;
          hits.push(
            hit(
              'structuring',
              subject,
              `${flow}_just_under_threshold`,
              `${plural(items.length, flow.slice(0, -1), flow)} of ${money(low)} to ${money(threshold - 1)}, just under ` +
                `the ${money(threshold)} threshold, within ${hoursText(settings.window_hours)}${spread(items)}: ` +
                `${money(sumOf(items))} in all`,
              justUnder,
              items,
            ),
          );
        }
        const linked = patternStart(
          watched.filter((activity) => activity.amount >= partMin),
          linkedMs,
          now,
          countAndSumAtLeast(settings.linked_count_min, threshold),
        );
        const seen = new Set(justUnder?.items.map((item) => item.id));
        if (linked !== undefined && !linked.items.every((item) => seen.has(item.id))) {
          const items = linked.items;
          hits.push(
            hit(
              'structuring',
              subject,
              `linked_${flow}_reach_threshold`,
              `${plural(items.length, flow.slice(0, -1), flow)}, each under the ${money(threshold)} threshold, ` +
                `${money(sumOf(items))} together within ${hoursText(settings.linked_window_hours)}${spread(items)}`,
              linked,
              items,
            ),
          );
        }
      }
    }
  }
  return hits;
}

// ---- Tier-limit probing ----

/** Where the year that a load's yearly limit counts ends at `at` began: the same moment a year earlier (UTC). */
function yearStart(at: number): number {
  const start = new Date(at);
  start.setUTCFullYear(start.getUTCFullYear() - 1);
  return start.getTime();
}

/** Each load with what the cardholder had loaded in its currency over the year up to and including it. */
function withYearTotals(
  loads: readonly Activity[],
): { readonly load: Activity; readonly yearTotal: number }[] {
  const result: { load: Activity; yearTotal: number }[] = [];
  let first = 0;
  let total = 0;
  for (const load of loads) {
    total += load.amount;
    const since = yearStart(load.at);
    // The limit's year is (since, at]: as compliance/kyc/tiers.ts counts it.
    while (first < loads.length && (loads[first] as Activity).at <= since) {
      total -= (loads[first] as Activity).amount;
      first += 1;
    }
    result.push({ load, yearTotal: total });
  }
  return result;
}

/**
 * Repeated loads that bring a wallet near its balance cap, or the cardholder's year near its load cap, or that the
 * tier refused for passing a cap.
 */
function tierLimitProbing(
  subject: Subject,
  activities: readonly Activity[],
  caps: Readonly<Record<string, TierCaps>>,
  settings: ScenarioSettings['tier_limit_probing'],
  now: number,
): ScenarioHit[] {
  const hits: ScenarioHit[] = [];
  const windowMs = settings.window_hours * HOUR_MS;
  for (const currency of currenciesOf(caps)) {
    const cap = caps[currency];
    if (cap === undefined) continue;
    const money = (amount: number) => formatMoney(amount, currency);
    const loads = activities.filter((activity) => activity.kind === 'load' && activity.currency === currency);
    if (cap.maxBalance > 0) {
      const near = loads.filter(
        (load) =>
          load.balanceAfter !== null &&
          atLeastPercent(load.balanceAfter, cap.maxBalance, settings.balance_percent_min),
      );
      const found = patternStart(near, windowMs, now, countAtLeast(settings.balance_count_min));
      if (found !== undefined) {
        const highest = Math.max(...found.items.map((load) => load.balanceAfter ?? 0));
        hits.push(
          hit(
            'tier_limit_probing',
            subject,
            'loads_near_balance_cap',
            `${plural(found.items.length, 'load')} within ${hoursText(settings.window_hours)} brought a wallet to ` +
              `${String(settings.balance_percent_min)}% or more of the ${money(cap.maxBalance)} balance cap ` +
              `(highest ${money(highest)})${spread(found.items)}`,
            found,
            found.items,
          ),
        );
      }
    }
    if (cap.maxLoadsPerYear > 0) {
      const near = withYearTotals(loads).filter(({ yearTotal }) =>
        atLeastPercent(yearTotal, cap.maxLoadsPerYear, settings.yearly_percent_min),
      );
      const found = patternStart(
        near.map(({ load, yearTotal }) => ({ at: load.at, load, yearTotal })),
        windowMs,
        now,
        countAtLeast(settings.yearly_count_min),
      );
      if (found !== undefined) {
        const items = found.items.map(({ load }) => load);
        const highest = Math.max(...found.items.map(({ yearTotal }) => yearTotal));
        hits.push(
          hit(
            'tier_limit_probing',
            subject,
            'loads_near_yearly_cap',
            `${plural(items.length, 'load')} within ${hoursText(settings.window_hours)} brought the year's loads to ` +
              `${String(settings.yearly_percent_min)}% or more of the ${money(cap.maxLoadsPerYear)} yearly cap ` +
              `(highest ${money(highest)})${spread(items)}`,
            found,
            items,
          ),
        );
      }
    }
  }
  const refused = activities.filter((activity) => activity.kind === 'load_declined');
  for (const currency of [...new Set(refused.map((activity) => activity.currency))].sort()) {
    const inCurrency = refused.filter((activity) => activity.currency === currency);
    const found = patternStart(inCurrency, windowMs, now, countAtLeast(settings.refused_count_min));
    if (found === undefined) continue;
    hits.push(
      hit(
        'tier_limit_probing',
        subject,
        'loads_refused_at_cap',
        `${plural(found.items.length, 'load')} refused at the KYC tier's caps within ` +
          `${hoursText(settings.window_hours)} (${formatMoney(sumOf(found.items), currency)} in all)${spread(found.items)}`,
        found,
        found.items,
      ),
    );
  }
  return hits;
}

// ---- Rapid movement ----

interface Movement {
  /** When the load had been moved on: the outflow that took it past the share. */
  readonly at: number;
  readonly load: Activity;
  readonly outflows: readonly Activity[];
  readonly moved: number;
}

const isOutflow = (activity: Activity): boolean => isSpend(activity) || activity.kind === 'unload';

/**
 * Loads moved on: each load (oldest first) takes, from the outflows within the movement window after it, what they
 * have not yet given to an earlier load, up to its amount; when that reaches the share, the load was moved on and
 * the outflows keep what it took. So one outflow never moves two loads' worth of money, and a load that was not
 * moved on leaves its outflows to the next one.
 */
function movements(
  loads: readonly Activity[],
  outflows: readonly Activity[],
  movementMs: number,
  movedPercentMin: number,
): Movement[] {
  const left = outflows.map((outflow) => outflow.amount);
  const result: Movement[] = [];
  let first = 0;
  for (const load of loads) {
    while (first < outflows.length && (outflows[first] as Activity).at < load.at) first += 1;
    const taken: { index: number; amount: number }[] = [];
    let moved = 0;
    let completedAt = load.at;
    for (let index = first; index < outflows.length && moved < load.amount; index += 1) {
      const outflow = outflows[index] as Activity;
      if (outflow.at > load.at + movementMs) break;
      const take = Math.min(left[index] ?? 0, load.amount - moved);
      if (take <= 0) continue;
      taken.push({ index, amount: take });
      moved += take;
      completedAt = outflow.at;
      if (atLeastPercent(moved, load.amount, movedPercentMin)) break;
    }
    if (load.amount <= 0 || !atLeastPercent(moved, load.amount, movedPercentMin)) continue;
    for (const { index, amount } of taken) left[index] = (left[index] ?? 0) - amount;
    result.push({
      at: completedAt,
      load,
      outflows: taken.map(({ index }) => outflows[index] as Activity),
      moved,
    });
  }
  return result;
}

const movementItems = (found: readonly Movement[]): Activity[] =>
  found.flatMap((movement) => [movement.load, ...movement.outflows]);

/** Loads spent or unloaded soon after, repeatedly, or once for a large load. */
function rapidMovement(
  subject: Subject,
  activities: readonly Activity[],
  settings: ScenarioSettings['rapid_movement'],
  now: number,
): ScenarioHit[] {
  const hits: ScenarioHit[] = [];
  const windowMs = settings.window_hours * HOUR_MS;
  const movementMs = settings.movement_window_hours * HOUR_MS;
  const named = new Set([
    ...currenciesOf(settings.load_amount_min),
    ...currenciesOf(settings.load_amount_large),
  ]);
  for (const currency of [...named].sort()) {
    const money = (amount: number) => formatMoney(amount, currency);
    const amountMin = settings.load_amount_min[currency] ?? Infinity;
    const large = settings.load_amount_large[currency] ?? Infinity;
    const inCurrency = watchedIn(activities, currency, named);
    const loads = inCurrency.filter(
      (activity) => activity.kind === 'load' && activity.amount >= Math.min(amountMin, large),
    );
    if (loads.length === 0) continue;
    const outflows = inCurrency.filter(isOutflow);
    const moved = movements(loads, outflows, movementMs, settings.moved_percent_min);
    const repeated = patternStart(
      moved.filter((movement) => movement.load.amount >= amountMin),
      windowMs,
      now,
      countAtLeast(settings.count_min),
    );
    if (repeated !== undefined) {
      const loads = repeated.items.map((movement) => movement.load);
      const loaded = sumOf(loads);
      const items = movementItems(repeated.items);
      // The window counts movements by when they were complete; it shows the loads too.
      const window = { from: Math.min(repeated.from, ...loads.map((load) => load.at)), to: repeated.to };
      hits.push(
        hit(
          'rapid_movement',
          subject,
          'repeated_rapid_movement',
          `${plural(repeated.items.length, 'load')} of ${money(amountMin)} or more (${money(loaded)} in all) each ` +
            `${String(settings.moved_percent_min)}% or more spent or unloaded within ` +
            `${hoursText(settings.movement_window_hours)}, within ${hoursText(settings.window_hours)}${spread(items)}`,
          window,
          items,
        ),
      );
    }
    for (const movement of moved) {
      if (movement.load.amount < large || movement.at < now - windowMs) continue;
      const items = movementItems([movement]);
      const unloaded = movement.outflows.some((outflow) => outflow.kind === 'unload');
      hits.push(
        hit(
          'rapid_movement',
          subject,
          'large_rapid_movement',
          `A load of ${money(movement.load.amount)}, ${money(large)} or more: ${money(movement.moved)} of it ` +
            `${unloaded ? 'spent or unloaded' : 'spent'} within ${elapsedText(movement.at - movement.load.at)}` +
            spread(items),
          { from: movement.load.at, to: movement.at },
          items,
        ),
      );
    }
  }
  return hits;
}

// ---- Card rotation ----

/** The first of each card's activities, in order. */
function firstPerCard(items: readonly Activity[]): Activity[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    if (item.cardId === null || seen.has(item.cardId)) return false;
    seen.add(item.cardId);
    return true;
  });
}

const isCardUse = (activity: Activity): boolean =>
  activity.cardId !== null && (isApprovedPayment(activity) || isClearing(activity));

/** Many cards created, closed or used in a short time. */
function cardRotation(
  subject: Subject,
  activities: readonly Activity[],
  settings: ScenarioSettings['card_rotation'],
  now: number,
): ScenarioHit[] {
  const hits: ScenarioHit[] = [];
  const windowMs = settings.window_hours * HOUR_MS;
  const within = hoursText(settings.window_hours);
  for (const [kind, countMin, reason, verb] of [
    ['card_created', settings.created_count_min, 'many_cards_created', 'created'],
    ['card_closed', settings.closed_count_min, 'many_cards_closed', 'closed'],
  ] as const) {
    const events = activities.filter((activity) => activity.kind === kind);
    const found = patternStart(events, windowMs, now, countAtLeast(countMin));
    if (found === undefined) continue;
    const cards = new Set(found.items.map((item) => item.cardId ?? item.id)).size;
    hits.push(
      hit(
        'card_rotation',
        subject,
        reason,
        `${plural(cards, 'card')} ${verb} within ${within}`,
        found,
        found.items,
      ),
    );
  }
  const uses = activities.filter(isCardUse);
  const found = patternStart(
    uses,
    windowMs,
    now,
    distinctAtLeast((use: Activity) => use.cardId ?? '', settings.used_cards_min),
  );
  if (found !== undefined) {
    // Each card's first use in the window: what shows the cards, without every later payment on them.
    const firsts = firstPerCard(found.items);
    hits.push(
      hit(
        'card_rotation',
        subject,
        'many_cards_used',
        `${plural(firsts.length, 'card')} used within ${within} (${plural(found.items.length, 'payment or clearing', 'payments and clearings')}, ` +
          `${plural(new Set(found.items.map((item) => item.currency)).size, 'currency', 'currencies')})`,
        found,
        firsts,
      ),
    );
  }
  return hits;
}

// ---- Capture abuse ----

/** Whether a capture is more than `percentMin` % above what its authorization approved, or flagged beyond tolerance. */
function capturedFarAbove(activity: Activity, percentMin: number): boolean {
  if (activity.kind !== 'capture') return false;
  if (activity.flags.includes(FLAG_OVER_CAPTURE_BEYOND_TOLERANCE)) return true;
  const authorized = activity.authorizedAmount;
  if (authorized === null || authorized < 0 || activity.amount <= authorized) return false;
  return comparePercent(activity.amount - authorized, authorized, percentMin) > 0;
}

/** Clearings after the hold expired, captures far above their authorization, repeated force posts. */
function captureAbuse(
  subject: Subject,
  activities: readonly Activity[],
  settings: ScenarioSettings['capture_abuse'],
  now: number,
): ScenarioHit[] {
  const hits: ScenarioHit[] = [];
  const windowMs = settings.window_hours * HOUR_MS;
  const within = hoursText(settings.window_hours);
  const rules: readonly {
    readonly reason: string;
    readonly countMin: number;
    readonly is: (activity: Activity) => boolean;
    readonly what: string;
  }[] = [
    {
      reason: 'cleared_after_hold_expired',
      countMin: settings.late_clearing_count_min,
      is: (activity) => isClearing(activity) && activity.flags.includes(FLAG_CLEARED_WITHOUT_OPEN_HOLD),
      what: 'clearings after their hold had expired',
    },
    {
      reason: 'cleared_far_above_authorization',
      countMin: settings.over_capture_count_min,
      is: (activity) => capturedFarAbove(activity, settings.over_capture_percent_min),
      what: `captures more than ${String(settings.over_capture_percent_min)}% above their authorization (or beyond the category's tolerance)`,
    },
    {
      reason: 'repeated_force_posts',
      countMin: settings.force_post_count_min,
      is: (activity) => activity.kind === 'force_post',
      what: 'force posts (clearings with no authorization)',
    },
  ];
  for (const rule of rules) {
    const found = patternStart(activities.filter(rule.is), windowMs, now, countAtLeast(rule.countMin));
    if (found === undefined) continue;
    const amounts = [...new Set(found.items.map((item) => item.currency))]
      .sort()
      .map((currency) =>
        formatMoney(sumOf(found.items.filter((item) => item.currency === currency)), currency),
      );
    hits.push(
      hit(
        'capture_abuse',
        subject,
        rule.reason,
        `${String(found.items.length)} ${rule.what} within ${within}${spread(found.items)}: ${amounts.join(', ')}`,
        found,
        found.items,
      ),
    );
  }
  return hits;
}

// ---- Cross-border ----

/** Payments abroad in many countries, or nearly all spending abroad and a good deal of it. */
function crossBorder(
  subject: Subject,
  activities: readonly Activity[],
  homeCountry: string | null,
  settings: ScenarioSettings['cross_border'],
  now: number,
): ScenarioHit[] {
  if (homeCountry === null) return [];
  const home = homeCountry.toUpperCase();
  const isForeign = (activity: Activity): boolean =>
    activity.merchantCountry !== null && activity.merchantCountry.toUpperCase() !== home;
  const hits: ScenarioHit[] = [];
  const windowMs = settings.window_hours * HOUR_MS;
  const within = hoursText(settings.window_hours);
  const spend = activities.filter(isSpend);
  const foreign = spend.filter(isForeign);
  const countryOf = (activity: Activity): string => (activity.merchantCountry ?? '').toUpperCase();
  const many = patternStart(
    foreign,
    windowMs,
    now,
    distinctAtLeast(countryOf, settings.countries_min, settings.foreign_count_min),
  );
  if (many !== undefined) {
    const countries = [...new Set(many.items.map(countryOf))].sort();
    hits.push(
      hit(
        'cross_border',
        subject,
        'many_foreign_countries',
        `${plural(many.items.length, 'payment')} outside ${home} within ${within}, in ${plural(countries.length, 'country', 'countries')} ` +
          `(${countries.join(', ')})${spread(many.items)}`,
        many,
        many.items,
      ),
    );
  }
  const named = new Set(currenciesOf(settings.foreign_amount_min));
  for (const currency of named) {
    const amountMin = settings.foreign_amount_min[currency] ?? Infinity;
    let foreignSum = 0;
    let total = 0;
    const tally: Tally<Activity> = {
      add: (item) => {
        total += item.amount;
        if (isForeign(item)) foreignSum += item.amount;
      },
      remove: (item) => {
        total -= item.amount;
        if (isForeign(item)) foreignSum -= item.amount;
      },
      holds: () =>
        foreignSum >= amountMin && atLeastPercent(foreignSum, total, settings.foreign_share_percent_min),
    };
    const inCurrency = watchedIn(spend, currency, named);
    const found = patternStart(inCurrency, windowMs, now, tally, isForeign);
    if (found === undefined) continue;
    const abroad = found.items.filter(isForeign);
    const abroadSum = sumOf(abroad);
    const share = Math.floor((abroadSum * 100) / Math.max(1, sumOf(found.items)));
    hits.push(
      hit(
        'cross_border',
        subject,
        'foreign_spend_share',
        `${formatMoney(abroadSum, currency)} spent outside ${home} within ${within}, ${String(share)}% of all ` +
          `spending (${plural(abroad.length, 'payment')})${spread(abroad)}`,
        found,
        abroad,
      ),
    );
  }
  return hits;
}

// ---- Evaluation ----

type CardholderScenario = Exclude<ScenarioName, 'shared_device'>;

function evaluateOne(
  scenario: CardholderScenario,
  activity: CardholderActivity,
  activities: readonly Activity[],
  settings: ScenarioSettings,
  now: number,
): ScenarioHit[] {
  const subject: Subject = { programId: activity.programId, cardholderId: activity.cardholderId };
  switch (scenario) {
    case 'structuring':
      return structuring(subject, activities, settings.structuring, now);
    case 'tier_limit_probing':
      return tierLimitProbing(subject, activities, activity.caps, settings.tier_limit_probing, now);
    case 'rapid_movement':
      return rapidMovement(subject, activities, settings.rapid_movement, now);
    case 'card_rotation':
      return cardRotation(subject, activities, settings.card_rotation, now);
    case 'capture_abuse':
      return captureAbuse(subject, activities, settings.capture_abuse, now);
    case 'cross_border':
      return crossBorder(subject, activities, activity.homeCountry, settings.cross_border, now);
  }
}

const ownActivity = (activity: CardholderActivity, now: number): Activity[] =>
  readable(activity.activities, now, (each) => each.cardholderId === activity.cardholderId);

/**
 * One scenario for one cardholder (`shared_device` gives nothing here: see `evaluateSharedDevice`). Nothing when
 * the scenario is disabled.
 */
export function evaluateScenario(
  scenario: ScenarioName,
  activity: CardholderActivity,
  settings: ScenarioSettings,
  now: number,
): ScenarioHit[] {
  if (scenario === 'shared_device' || !settings[scenario].enabled) return [];
  return evaluateOne(scenario, activity, ownActivity(activity, now), settings, now);
}

/** Every enabled scenario but `shared_device` for one cardholder, in `SCENARIOS` order. */
export function evaluateScenarios(
  activity: CardholderActivity,
  settings: ScenarioSettings,
  now: number,
): ScenarioHit[] {
  const activities = ownActivity(activity, now);
  const hits: ScenarioHit[] = [];
  for (const scenario of SCENARIOS) {
    if (scenario === 'shared_device' || !settings[scenario].enabled) continue;
    hits.push(...evaluateOne(scenario, activity, activities, settings, now));
  }
  return hits;
}

interface DeviceRun {
  /** Each cardholder's first window in the run: the items from `start` to `end`. */
  readonly firsts: Map<string, { readonly start: number; readonly end: number }>;
  last: number;
}

/**
 * The latest run of windows over one key's activity (oldest first) holding at least `cardholdersMin` cardholders,
 * as `patternStart` finds runs, with each cardholder's first window in it: one who joins the key while the pattern
 * goes on gets a hit of their own, the others keep theirs.
 */
function deviceRun(
  items: readonly Activity[],
  windowMs: number,
  cardholdersMin: number,
): DeviceRun | undefined {
  const counts = new Map<string, number>();
  let start = 0;
  let run: DeviceRun | undefined;
  let holding = false;
  for (let end = 0; end < items.length; end += 1) {
    const anchor = items[end] as Activity;
    counts.set(anchor.cardholderId, (counts.get(anchor.cardholderId) ?? 0) + 1);
    for (
      let first = items[start] as Activity;
      first.at < anchor.at - windowMs;
      first = items[start] as Activity
    ) {
      const left = (counts.get(first.cardholderId) ?? 1) - 1;
      if (left === 0) counts.delete(first.cardholderId);
      else counts.set(first.cardholderId, left);
      start += 1;
    }
    const holds = counts.size >= cardholdersMin;
    if (holds && (!holding || run === undefined || periodOf(run.last) !== periodOf(anchor.at))) {
      run = {
        firsts: new Map([...counts.keys()].map((cardholderId) => [cardholderId, { start, end }])),
        last: anchor.at,
      };
    } else if (holds && run !== undefined) {
      run.last = anchor.at;
      if (!run.firsts.has(anchor.cardholderId)) run.firsts.set(anchor.cardholderId, { start, end });
    }
    holding = holds;
  }
  return run;
}

/**
 * Many cardholders on one device or IP address: `activities` are those with one `deviceKey` within the lookback,
 * of any cardholder (their payments, and their onboarding). When at least `cardholders_min` cardholders of one
 * programme used a device (`ip_cardholders_min` an IP address) within a window,
 * each of them gets a hit listing the key's activities of all the cardholders in the window where they were first
 * among them. Programmes are counted apart: a hit never lists another programme's activity (programmes are
 * tenants). Activities of several keys in the input are judged key by key; those of none are ignored.
 *
 * An IP address more than `ip_cardholders_max` cardholders used within the whole input (the lookback) is a public
 * gateway, such as a mobile carrier's NAT, where a crowd means nothing: it raises no hit. While a new gateway's crowd
 * is still growing past the bar it can; an analyst who clears those sees the summary name an IP address.
 */
export function evaluateSharedDevice(
  activities: readonly Activity[],
  settings: ScenarioSettings,
  now: number,
): ScenarioHit[] {
  const shared = settings.shared_device;
  if (!shared.enabled) return [];
  const windowMs = shared.window_hours * HOUR_MS;
  const groups = new Map<string, Activity[]>();
  for (const activity of readable(activities, now, (each) => typeof each.deviceKey === 'string')) {
    const key = `${activity.programId}\u0000${activity.deviceKey ?? ''}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [activity]);
    else group.push(activity);
  }
  const hits: ScenarioHit[] = [];
  for (const key of [...groups.keys()].sort()) {
    const group = groups.get(key) ?? [];
    // A key is one kind (device and IP indexes are keyed apart); rows stored before kinds were say none.
    const isIp = group.some((item) => item.deviceKind === 'ip');
    if (isIp && new Set(group.map((item) => item.cardholderId)).size > shared.ip_cardholders_max) continue;
    const run = deviceRun(group, windowMs, isIp ? shared.ip_cardholders_min : shared.cardholders_min);
    if (run === undefined || run.last < now - windowMs) continue;
    for (const cardholderId of [...run.firsts.keys()].sort()) {
      const first = run.firsts.get(cardholderId);
      if (first === undefined) continue;
      const items = group.slice(first.start, first.end + 1);
      const to = (group[first.end] as Activity).at;
      const cardholders = new Set(items.map((item) => item.cardholderId)).size;
      hits.push(
        hit(
          'shared_device',
          { programId: (group[0] as Activity).programId, cardholderId },
          isIp ? 'many_cardholders_on_ip_address' : 'many_cardholders_on_device',
          `${plural(cardholders, 'cardholder')} used one ${isIp ? 'IP address' : 'device'} within ` +
            `${hoursText(shared.window_hours)} (${plural(items.length, 'activity', 'activities')})`,
          { from: to - windowMs, to },
          items,
        ),
      );
    }
  }
  return hits;
}

/** How far before `now` evaluation reads activity (ms): loads, everything else, and a device's activity. */
export interface ActivityLookback {
  readonly loads: number;
  readonly others: number;
  readonly devices: number;
}

/**
 * How far before `now` evaluation reads activity for these settings. A rule judges windows ending within its
 * window before `now`, back to where their pattern began (at most a pattern period earlier), each reaching one
 * window further back; rapid movement also reads the loads a movement window before the outflows that moved them,
 * and the loads before those that may have taken the outflows first; the yearly tier rule counts a year of loads
 * before each load it judges, so only loads are read that far. The consumer reads at least this much, or a hit may
 * come out other than it was and be raised again.
 */
export function activityLookback(settings: ScenarioSettings): ActivityLookback {
  const judged = (windowHours: number, extraHours = 0): number =>
    PATTERN_PERIOD_MS + (2 * windowHours + extraHours) * HOUR_MS;
  const spans: number[] = [0];
  const { structuring, tier_limit_probing, rapid_movement, card_rotation, shared_device } = settings;
  if (structuring.enabled)
    spans.push(judged(Math.max(structuring.window_hours, structuring.linked_window_hours)));
  if (tier_limit_probing.enabled) spans.push(judged(tier_limit_probing.window_hours));
  if (rapid_movement.enabled)
    spans.push(judged(rapid_movement.window_hours, 2 * rapid_movement.movement_window_hours));
  if (card_rotation.enabled) spans.push(judged(card_rotation.window_hours));
  if (settings.capture_abuse.enabled) spans.push(judged(settings.capture_abuse.window_hours));
  if (settings.cross_border.enabled) spans.push(judged(settings.cross_border.window_hours));
  const others = Math.max(...spans);
  return {
    loads: tier_limit_probing.enabled
      ? Math.max(others, judged(tier_limit_probing.window_hours) + YEAR_MS)
      : others,
    others,
    devices: shared_device.enabled ? judged(shared_device.window_hours) : 0,
  };
}
