/**
 * `lantau network simulate`: plays a card network against a running ISO 8583 interface. It sets up cardholders,
 * funded wallets and cards of its own through the HTTP API (revealing each card's PAN, CVV2 and expiry, which it
 * keeps in memory and never prints), then drives the interface with a realistic mix of messages:
 *
 * - 0100 purchases, most e-commerce with a CVV2, some contactless; a few with a wrong CVV2 or an amount beyond what
 *   the wallet holds; some allowing a partial approval;
 * - 0101 repeats of a recent 0100, identical to it (the same keys and fields), whose answer must be the original's;
 * - 0400 reversals of recent approvals (some partial, through field 95) and a few 0420 reversal advices;
 * - 0120 advices of the network's stand-in decisions, and 0800 echo tests.
 *
 * Open loop (`rate` messages a second on a fixed schedule, latency counted from each scheduled send, so a stall
 * counts against every message it delays) or closed loop (`concurrency` messages in flight, each sent when one is
 * answered: as fast as the interface goes), until a duration passes or a number of messages is sent. The engine,
 * `runNetworkSimulation`, is what the command, the bench (bench/iso8583.ts) and the test share.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import {
  ISO8583_1987_ASCII,
  pack,
  ProfileError,
  unpack,
  type Iso8583Profile,
  type IsoMessage,
} from '../iso8583/codec/index.js';
import {
  answerKey,
  asRepeat,
  authorizationAdvice,
  authorizationRequest,
  networkManagement,
  requestKey,
  reversal,
  transmissionTimeOf,
  type CardPresentment,
} from '../iso8583/network/messages.js';
import { profileNamed } from '../iso8583/network/start.js';
import {
  connectIso8583Client,
  ConnectionClosedError,
  TransportTimeoutError,
  type Iso8583Client,
} from '../iso8583/transport/client.js';
import type { LengthHeader } from '../iso8583/transport/framing.js';
import { seededRandom } from '../../platform/seeded-random.js';

// ---- Options and report ----

/** A card the simulator presents. Held in memory only: never printed, logged or put in a report. */
export interface SimulatedCard {
  readonly pan: string;
  readonly cvv2: string;
  readonly expMonth: number;
  readonly expYear: number;
  /** The wallet's currency (ISO 4217 alphabetic); purchases are made in it. */
  readonly currency: string;
  /** What the wallet holds when the run starts, minor units. */
  readonly balance: number;
  /** The wallet's id, when known (for checking `SimulationReport.available` against it). */
  readonly accountId?: string;
}

/** Relative weights of the kinds of message sent (they need not add up to anything). */
export interface MessageMix {
  /** 0100 within what the wallet holds, with the right CVV2 (or contactless, without one). */
  readonly purchase: number;
  /** 0100 with a wrong CVV2: N7. */
  readonly wrongCvv2: number;
  /** 0100 for more than the wallet holds: 51, or 10 when a partial approval is allowed. */
  readonly overBalance: number;
  /** 0101: a recent 0100 again, identical. */
  readonly repeat: number;
  /** 0400 of a recent approval; some partial. */
  readonly reversal: number;
  /** 0420 of a recent approval. */
  readonly reversalAdvice: number;
  /** 0120: the network approved (or declined) in stand-in. */
  readonly advice: number;
  /** 0800 echo test. */
  readonly echo: number;
}

export const DEFAULT_MIX: MessageMix = {
  purchase: 70,
  wrongCvv2: 3,
  overBalance: 4,
  repeat: 6,
  reversal: 8,
  reversalAdvice: 2,
  advice: 3,
  echo: 4,
};

export type SimulationLoad =
  /** `rate` messages a second on a fixed schedule, whatever the answers do. */
  | { readonly kind: 'open'; readonly rate: number }
  /** `concurrency` messages in flight at all times, each sent when another is answered. */
  | { readonly kind: 'closed'; readonly concurrency: number };

export interface SimulationOptions {
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default ISO8583_1987_ASCII: must be the interface's. */
  readonly profile?: Iso8583Profile;
  /** Default binary2: must be the interface's. */
  readonly lengthHeader?: LengthHeader;
  readonly cards: readonly SimulatedCard[];
  /** TCP connections, messages spread across them in turn. Default 4. */
  readonly connections?: number;
  readonly load: SimulationLoad;
  /** Stop sending after this long. At least one of `durationSeconds` and `messages` is needed. */
  readonly durationSeconds?: number;
  /** Stop sending after this many messages. */
  readonly messages?: number;
  /** Default DEFAULT_MIX; the kinds given replace the defaults'. */
  readonly mix?: Partial<MessageMix>;
  /** Share of purchases sent contactless (no CVV2). Default 0.25. */
  readonly contactlessShare?: number;
  /** Share of purchases (and over-balance ones) that allow a partial approval. Default 0.2. */
  readonly partialShare?: number;
  /** Share of 0400s that are partial (field 95). Default 0.3. */
  readonly partialReversalShare?: number;
  /** How long to wait for an answer. Default 5,000 ms. */
  readonly timeoutMs?: number;
  /** An open loop stops sending (and counts the message as not sent) past this many in flight. Default 10,000. */
  readonly inFlightMax?: number;
  /** Acquiring institution id (field 32). Default 400001. */
  readonly acquirerId?: string;
  /** For a reproducible sequence of choices. Default: random. */
  readonly seed?: number;
}

export interface LatencySummary {
  /** Milliseconds; undefined when nothing was answered. */
  readonly p50: number | undefined;
  readonly p90: number | undefined;
  readonly p99: number | undefined;
  readonly max: number | undefined;
}

export interface MtiFigures {
  readonly sent: number;
  readonly answered: number;
  readonly timeouts: number;
  /** Lost with their connection, or refused by the client. */
  readonly failed: number;
  readonly latency: LatencySummary;
  /** Response codes (39) of the answers. */
  readonly codes: Readonly<Record<string, number>>;
}

export interface SimulationReport {
  readonly load: SimulationLoad;
  readonly connections: number;
  readonly cards: number;
  readonly sent: number;
  readonly answered: number;
  readonly timeouts: number;
  readonly failed: number;
  /** Open loop: messages due while `inFlightMax` were in flight, not sent. */
  readonly notSent: number;
  /** From the first send to the last answer (or timeout). */
  readonly elapsedMs: number;
  /** Messages sent a second over the sending period. */
  readonly sentRate: number;
  /** Answers a second over the whole run. */
  readonly answeredRate: number;
  readonly latency: LatencySummary;
  /** By request MTI (0100, 0101, 0120, 0400, 0420, 0800). */
  readonly byMti: Readonly<Record<string, MtiFigures>>;
  /** 0101s answered, and how many of them got an answer other than their original's (39 and 38 compared). */
  readonly repeats: { readonly checked: number; readonly mismatched: number };
  /**
   * Answers whose code was predictable (a card no other message was using at the time): how many, and those that
   * differed, as `kind: expected -> got` with counts (a risk decline, 59, is the usual one).
   */
  readonly expectations: {
    readonly checked: number;
    readonly met: number;
    readonly unmet: Readonly<Record<string, number>>;
  };
  /** The first transport failure's message, if any (never card data). */
  readonly firstFailure: string | undefined;
  /**
   * What the simulator reckons each wallet has available at the end, in the order of `cards`: its balance less what
   * was approved (0100, 0120), plus what reversals gave back. Exact when every message was answered and no card had
   * two messages that move its balance in flight at once (a closed loop with fewer in flight than cards nearly always);
   * otherwise close (answers may come in another order than the engine decided them).
   */
  readonly available: readonly number[];
}

export class SimulationOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulationOptionError';
  }
}

// ---- Small helpers ----

function summarize(values: number[]): LatencySummary {
  if (values.length === 0) return { p50: undefined, p90: undefined, p99: undefined, max: undefined };
  const sorted = Float64Array.from(values).sort();
  const at = (fraction: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * fraction) - 1)];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1] };
}

function text(message: IsoMessage, field: number): string | undefined {
  const value = message.fields.get(field);
  return typeof value === 'string' ? value : undefined;
}

interface Merchant {
  readonly name: string;
  readonly mcc: string;
  readonly city: string;
  readonly acceptorId: string;
  readonly terminalId: string;
  /** Typical purchase, in the card currency's minor units (before capping to the balance). */
  readonly smallest: number;
  readonly largest: number;
  readonly ecommerce: boolean;
}

const MERCHANTS: readonly [Merchant, ...Merchant[]] = [
  {
    name: 'Wellcome',
    mcc: '5411',
    city: 'Hong Kong',
    acceptorId: 'WEL000000000001',
    terminalId: 'WEL00001',
    smallest: 2_000,
    largest: 40_000,
    ecommerce: false,
  },
  {
    name: 'Tai Cheong Bakery',
    mcc: '5812',
    city: 'Hong Kong',
    acceptorId: 'TCB000000000001',
    terminalId: 'TCB00001',
    smallest: 1_500,
    largest: 12_000,
    ecommerce: false,
  },
  {
    name: 'Urban Taxi',
    mcc: '4121',
    city: 'Kowloon',
    acceptorId: 'TAX000000000001',
    terminalId: 'TAX00001',
    smallest: 3_000,
    largest: 25_000,
    ecommerce: false,
  },
  {
    name: 'Harbour Books Online',
    mcc: '5942',
    city: 'Hong Kong',
    acceptorId: 'HBO000000000001',
    terminalId: 'HBOWEB01',
    smallest: 5_000,
    largest: 60_000,
    ecommerce: true,
  },
  {
    name: 'Peak Electronics Online',
    mcc: '5732',
    city: 'Hong Kong',
    acceptorId: 'PEO000000000001',
    terminalId: 'PEOWEB01',
    smallest: 10_000,
    largest: 90_000,
    ecommerce: true,
  },
  {
    name: 'Lantau Streaming',
    mcc: '4899',
    city: 'Hong Kong',
    acceptorId: 'LST000000000001',
    terminalId: 'LSTWEB01',
    smallest: 3_000,
    largest: 15_000,
    ecommerce: true,
  },
];

// ---- The engine ----

type Kind = keyof MessageMix;
const KINDS: readonly Kind[] = [
  'purchase',
  'wrongCvv2',
  'overBalance',
  'repeat',
  'reversal',
  'reversalAdvice',
  'advice',
  'echo',
];

interface CardState {
  readonly card: SimulatedCard;
  /** What the simulator reckons the wallet has available from the answers so far (approvals taken off, reversals
   * given back). */
  settled: number;
  /** Set aside for messages in flight that are expected to be approved in full. */
  reserved: number;
  /** Messages in flight that move this card's balance. */
  inFlight: number;
}

/** What a new message on the card can count on. */
const availableOf = (card: CardState): number => card.settled - card.reserved;

/** An answered 0100 that was approved: what reversals and repeats are made of. */
interface Sent0100 {
  readonly card: CardState;
  readonly presentment: CardPresentment;
  readonly message: IsoMessage;
  readonly code: string;
  readonly approvalCode: string | undefined;
  /** In the transaction's currency (the card's here). */
  readonly approvedAmount: number;
  reversed: boolean;
  repeating: boolean;
}

/** A message ready to send, with what to do with its answer. */
interface Planned {
  readonly message: IsoMessage;
  readonly kind: Kind;
  /** The code expected, when it can be known. */
  readonly expected: string | undefined;
  /** Called with the answer (undefined: none came). */
  readonly settle: (answer: IsoMessage | undefined) => void;
}

const RECENT_MAX = 512;

class Figures {
  sent = 0;
  answered = 0;
  timeouts = 0;
  failed = 0;
  readonly latencies: number[] = [];
  readonly codes = new Map<string, number>();

  toReport(): MtiFigures {
    return {
      sent: this.sent,
      answered: this.answered,
      timeouts: this.timeouts,
      failed: this.failed,
      latency: summarize(this.latencies),
      codes: Object.fromEntries([...this.codes].sort(([a], [b]) => a.localeCompare(b))),
    };
  }
}

function positiveInteger(name: string, value: number | undefined, max: number): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new SimulationOptionError(
      `${name} must be a whole number from 1 to ${max.toLocaleString('en-US')} (got ${String(value)})`,
    );
  }
}

function checkOptions(options: SimulationOptions): void {
  if (options.cards.length === 0) throw new SimulationOptionError('the simulation needs at least one card');
  positiveInteger('connections', options.connections, 1_000);
  positiveInteger('messages', options.messages, 100_000_000);
  if (options.load.kind === 'open') {
    if (!Number.isFinite(options.load.rate) || options.load.rate <= 0 || options.load.rate > 1_000_000) {
      throw new SimulationOptionError(
        `rate must be more than 0 and at most 1,000,000 messages a second (got ${String(options.load.rate)})`,
      );
    }
  } else {
    positiveInteger('concurrency', options.load.concurrency, 100_000);
  }
  const duration = options.durationSeconds;
  if (duration !== undefined && (!Number.isFinite(duration) || duration <= 0 || duration > 86_400)) {
    throw new SimulationOptionError(
      `duration must be more than 0 and at most 86,400 seconds (got ${String(duration)})`,
    );
  }
  if (duration === undefined && options.messages === undefined) {
    throw new SimulationOptionError('give a duration, a number of messages, or both');
  }
  for (const [name, value] of Object.entries(options.mix ?? {})) {
    if (!KINDS.includes(name as Kind)) throw new SimulationOptionError(`mix: unknown kind ${name}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new SimulationOptionError(`mix.${name} must be a weight of 0 or more`);
    }
  }
  for (const [name, value] of [
    ['contactlessShare', options.contactlessShare],
    ['partialShare', options.partialShare],
    ['partialReversalShare', options.partialReversalShare],
  ] as const) {
    if (value !== undefined && !(value >= 0 && value <= 1)) {
      throw new SimulationOptionError(`${name} must be from 0 to 1`);
    }
  }
}

/**
 * Runs one simulation against the interface at `host:port` and reports what came back. Throws
 * SimulationOptionError for options that make no sense, and whatever connecting throws when the interface cannot be
 * reached; after that, nothing the interface does makes it throw: timeouts and lost connections are counted.
 */
export async function runNetworkSimulation(options: SimulationOptions): Promise<SimulationReport> {
  checkOptions(options);
  const profile = options.profile ?? ISO8583_1987_ASCII;
  const connectionCount = options.connections ?? 4;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const inFlightMax = options.inFlightMax ?? 10_000;
  const acquirerId = options.acquirerId ?? '400001';
  const random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const mix: MessageMix = { ...DEFAULT_MIX, ...options.mix };
  const weightTotal = KINDS.reduce((sum, kind) => sum + mix[kind], 0);
  if (weightTotal <= 0) throw new SimulationOptionError('mix: at least one kind needs a weight above 0');
  const contactlessShare = options.contactlessShare ?? 0.25;
  const partialShare = options.partialShare ?? 0.2;
  const partialReversalShare = options.partialReversalShare ?? 0.3;

  // Each answer is unpacked once, by the client's keyOf; the message is found again by its frame.
  const decoded = new WeakMap<Uint8Array, IsoMessage>();
  const keyOf = (frame: Uint8Array): string | undefined => {
    try {
      const message = unpack(profile, frame);
      decoded.set(frame, message);
      return answerKey(message);
    } catch {
      return undefined;
    }
  };
  const clients: Iso8583Client[] = [];
  try {
    for (let index = 0; index < connectionCount; index += 1) {
      clients.push(
        await connectIso8583Client({
          port: options.port,
          host: options.host ?? '127.0.0.1',
          framing: { header: options.lengthHeader ?? 'binary2' },
          keyOf,
          timeoutMs,
          pendingRequestsMax: Math.max(1_024, inFlightMax),
        }),
      );
    }
  } catch (error) {
    for (const client of clients) client.destroy();
    throw error;
  }

  const cards: CardState[] = options.cards.map((card) => ({
    card,
    settled: card.balance,
    reserved: 0,
    inFlight: 0,
  }));
  const firstCard = cards[0];
  if (firstCard === undefined) throw new SimulationOptionError('the simulation needs at least one card');
  const approvals: Sent0100[] = [];
  const answered0100: Sent0100[] = [];
  const byMti = new Map<string, Figures>();
  const figuresOf = (mti: string): Figures => {
    let figures = byMti.get(mti);
    if (figures === undefined) {
      figures = new Figures();
      byMti.set(mti, figures);
    }
    return figures;
  };
  const repeats = { checked: 0, mismatched: 0 };
  const expectations = { checked: 0, met: 0, unmet: new Map<string, number>() };
  let firstFailure: string | undefined;
  let notSent = 0;

  // Unique keys for the run: STANs count up from a random start; RRNs carry a random run prefix.
  let stanCounter = Math.floor(random() * 900_000);
  const rrnPrefix = String(Math.floor(random() * 10_000)).padStart(4, '0');
  let rrnCounter = 0;
  const nextKeys = () => {
    stanCounter = (stanCounter + 1) % 1_000_000;
    rrnCounter += 1;
    return {
      stan: String(stanCounter).padStart(6, '0'),
      rrn: rrnPrefix + String(rrnCounter % 100_000_000).padStart(8, '0'),
      transmissionTime: transmissionTimeOf(new Date()),
      acquirerId,
    };
  };

  const pick = <T>(items: readonly T[]): T | undefined =>
    items.length === 0 ? undefined : items[Math.floor(random() * items.length)];
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));

  /** A card no message is using, when one turns up in a few tries; else any card (its answer is not predicted). */
  const chooseCard = (usable: (card: CardState) => boolean): { card: CardState; exclusive: boolean } => {
    for (let attempt = 0; attempt < 8; attempt += 1) {
      const card = pick(cards);
      if (card !== undefined && card.inFlight === 0 && usable(card)) return { card, exclusive: true };
    }
    for (const card of cards) if (card.inFlight === 0 && usable(card)) return { card, exclusive: true };
    const card = pick(cards) ?? firstCard;
    return { card, exclusive: false };
  };

  const remember = (list: Sent0100[], entry: Sent0100) => {
    list.push(entry);
    if (list.length > RECENT_MAX) list.splice(0, list.length - RECENT_MAX);
  };

  const presentmentFor = (state: CardState, merchant: Merchant, amount: number, contactless: boolean) => {
    const { card } = state;
    const presentment: CardPresentment = {
      ...nextKeys(),
      pan: card.pan,
      expiry: String(card.expYear % 100).padStart(2, '0') + String(card.expMonth).padStart(2, '0'),
      amount,
      currency: card.currency,
      mcc: merchant.mcc,
      merchantName: merchant.name,
      city: merchant.city,
      country: 'HK',
      terminalId: merchant.terminalId,
      acceptorId: merchant.acceptorId,
      entryMode: merchant.ecommerce ? 'ecommerce' : contactless ? 'contactless' : 'chip',
    };
    return presentment;
  };

  const wrongCvv2Of = (cvv2: string): string =>
    cvv2
      .split('')
      .map((digit, index) => (index === 0 ? String((Number(digit) + 1) % 10) : digit))
      .join('');

  /** A 0100 of one of the purchase kinds. */
  const planPurchase = (kind: 'purchase' | 'wrongCvv2' | 'overBalance'): Planned => {
    const merchant = pick(MERCHANTS) ?? MERCHANTS[0];
    const minimum = 100;
    const { card: state, exclusive } = chooseCard(
      (card) => kind !== 'purchase' || availableOf(card) >= minimum,
    );
    const available = availableOf(state);
    const partialAllowed = random() < partialShare;
    // E-commerce merchants take the CVV2; at a shop, a share of purchases are contactless taps and the rest chip.
    const contactless = !merchant.ecommerce && random() < contactlessShare / 0.5;
    let amount: number;
    let expected: string | undefined;
    if (kind === 'overBalance') {
      amount = Math.max(available, 0) + between(merchant.smallest, merchant.largest);
      expected = partialAllowed && available > 0 ? '10' : '51';
    } else {
      const typical = between(merchant.smallest, merchant.largest);
      amount = Math.max(minimum, Math.min(typical, Math.floor(available / 2)));
      if (kind === 'wrongCvv2') expected = 'N7';
      else expected = amount <= available ? '00' : partialAllowed && available > 0 ? '10' : '51';
    }
    const cvv2 =
      kind === 'wrongCvv2'
        ? wrongCvv2Of(state.card.cvv2)
        : merchant.ecommerce || !contactless
          ? state.card.cvv2
          : undefined;
    const presentment: CardPresentment = {
      ...presentmentFor(state, merchant, amount, contactless),
      // A wrong CVV2 is keyed in on a website: e-commerce, whatever the merchant.
      ...(kind === 'wrongCvv2' ? { entryMode: 'ecommerce' as const } : {}),
      ...(cvv2 === undefined ? {} : { cvv2 }),
      ...(partialAllowed ? { partialAllowed: true } : {}),
    };
    const message = authorizationRequest(presentment, profile);
    // The amount is set aside while the request is in flight, so that a message on the same card meanwhile does
    // not count on it.
    const reserved = expected === '00' ? amount : 0;
    state.reserved += reserved;
    state.inFlight += 1;
    return {
      message,
      kind,
      expected: exclusive ? expected : undefined,
      settle: (answer) => {
        state.inFlight -= 1;
        state.reserved -= reserved;
        if (answer === undefined) return;
        const code = text(answer, 39) ?? '';
        const approvedAmount =
          code === '00' ? amount : code === '10' ? Number(text(answer, 4) ?? '0') : code === '85' ? 0 : 0;
        // Never below 0: a partial approval takes all the wallet holds, which may be less than reckoned when other
        // messages on the card were in flight.
        state.settled = Math.max(0, state.settled - approvedAmount);
        const entry: Sent0100 = {
          card: state,
          presentment,
          message,
          code,
          approvalCode: text(answer, 38),
          approvedAmount,
          reversed: false,
          repeating: false,
        };
        remember(answered0100, entry);
        if (approvedAmount > 0) remember(approvals, entry);
      },
    };
  };

  const planRepeat = (): Planned | undefined => {
    const original = pick(answered0100.filter((entry) => !entry.repeating));
    if (original === undefined) return undefined;
    original.repeating = true;
    return {
      message: asRepeat(original.message),
      kind: 'repeat',
      expected: undefined,
      settle: (answer) => {
        original.repeating = false;
        if (answer === undefined) return;
        repeats.checked += 1;
        if (text(answer, 39) !== original.code || text(answer, 38) !== original.approvalCode) {
          repeats.mismatched += 1;
        }
      },
    };
  };

  const planReversal = (advice: boolean): Planned | undefined => {
    const candidates = approvals.filter((entry) => !entry.reversed);
    const original = pick(candidates);
    if (original === undefined) return undefined;
    original.reversed = true;
    // Only a full approval is reversed in part: a partial approval's field 4 is what was asked, not what was held.
    const partial =
      !advice && original.code === '00' && original.approvedAmount >= 2 && random() < partialReversalShare;
    const completedAmount = partial ? between(1, original.approvedAmount - 1) : undefined;
    // Its own STAN and time; the builder gives it the original's RRN (37), by which the interface finds the original.
    const { stan, transmissionTime } = nextKeys();
    const message = reversal(
      {
        stan,
        transmissionTime,
        acquirerId,
        original: original.presentment,
        ...(advice ? { advice: true } : {}),
        ...(completedAmount === undefined ? {} : { completedAmount }),
      },
      profile,
    );
    const state = original.card;
    const exclusive = state.inFlight === 0;
    state.inFlight += 1;
    return {
      message,
      kind: advice ? 'reversalAdvice' : 'reversal',
      expected: exclusive ? '00' : undefined,
      settle: (answer) => {
        state.inFlight -= 1;
        if (answer !== undefined && text(answer, 39) === '00') {
          state.settled += original.approvedAmount - (completedAmount ?? 0);
        }
      },
    };
  };

  const planAdvice = (): Planned => {
    const merchant = pick(MERCHANTS.filter((candidate) => !candidate.ecommerce)) ?? MERCHANTS[0];
    const { card: state, exclusive } = chooseCard((card) => availableOf(card) >= 200);
    const available = availableOf(state);
    const approved = random() < 0.8 && available >= 200;
    const amount = approved
      ? Math.max(100, Math.min(between(merchant.smallest, merchant.largest), Math.floor(available / 2)))
      : between(merchant.smallest, merchant.largest);
    const presentment = presentmentFor(state, merchant, amount, false);
    const message = authorizationAdvice(presentment, approved ? '00' : '05', profile);
    const reserved = approved ? amount : 0;
    state.reserved += reserved;
    state.inFlight += 1;
    return {
      message,
      kind: 'advice',
      expected: exclusive ? '00' : undefined,
      settle: (answer) => {
        state.inFlight -= 1;
        state.reserved -= reserved;
        // The network's stand-in approval stands: the wallet gives what it has, up to the amount (the engine records
        // the rest as not held).
        if (answer !== undefined) state.settled = Math.max(0, state.settled - reserved);
      },
    };
  };

  const planEcho = (): Planned => {
    const { stan, transmissionTime } = nextKeys();
    return {
      message: networkManagement('echo', { stan, transmissionTime }),
      kind: 'echo',
      expected: '00',
      settle: () => undefined,
    };
  };

  const plan = (): Planned => {
    let roll = random() * weightTotal;
    let kind: Kind = 'purchase';
    for (const candidate of KINDS) {
      roll -= mix[candidate];
      if (roll < 0) {
        kind = candidate;
        break;
      }
    }
    switch (kind) {
      case 'purchase':
      case 'wrongCvv2':
      case 'overBalance':
        return planPurchase(kind);
      case 'repeat':
        return planRepeat() ?? planPurchase('purchase');
      case 'reversal':
        return planReversal(false) ?? planPurchase('purchase');
      case 'reversalAdvice':
        return planReversal(true) ?? planPurchase('purchase');
      case 'advice':
        return planAdvice();
      case 'echo':
        return planEcho();
    }
  };

  const overall: number[] = [];
  let inFlight = 0;
  let nextClient = 0;
  let lastSettled = 0;
  const clientFor = (): Iso8583Client | undefined => {
    for (let attempt = 0; attempt < clients.length; attempt += 1) {
      const client = clients[nextClient % clients.length];
      nextClient += 1;
      if (client !== undefined && !client.isClosed) return client;
    }
    return undefined;
  };

  /** Sends one message; resolves (never rejects) when it is answered, timed out or failed. */
  const send = async (planned: Planned, startedAt: number): Promise<void> => {
    const { message } = planned;
    const figures = figuresOf(message.mti);
    figures.sent += 1;
    inFlight += 1;
    let answer: IsoMessage | undefined;
    try {
      const client = clientFor();
      if (client === undefined) throw new ConnectionClosedError('every connection has closed');
      const frame = await client.request(pack(profile, message), requestKey(message));
      answer = decoded.get(frame) ?? unpack(profile, frame);
      const latency = performance.now() - startedAt;
      figures.answered += 1;
      figures.latencies.push(latency);
      overall.push(latency);
      const code = text(answer, 39) ?? 'none';
      figures.codes.set(code, (figures.codes.get(code) ?? 0) + 1);
      if (planned.expected !== undefined) {
        expectations.checked += 1;
        if (code === planned.expected) expectations.met += 1;
        else {
          const label = `${planned.kind}: ${planned.expected} -> ${code}`;
          expectations.unmet.set(label, (expectations.unmet.get(label) ?? 0) + 1);
        }
      }
    } catch (error) {
      if (error instanceof TransportTimeoutError) figures.timeouts += 1;
      else figures.failed += 1;
      firstFailure ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      answer = undefined;
    } finally {
      inFlight -= 1;
      lastSettled = performance.now();
    }
    planned.settle(answer);
  };

  const started = performance.now();
  const deadline =
    options.durationSeconds === undefined ? Infinity : started + options.durationSeconds * 1_000;
  const messagesMax = options.messages ?? Infinity;
  let dispatched = 0;
  let sendingEnded = started;
  const running = new Set<Promise<void>>();
  const track = (promise: Promise<void>) => {
    running.add(promise);
    void promise.finally(() => running.delete(promise));
  };

  if (options.load.kind === 'closed') {
    const workers = Array.from({ length: options.load.concurrency }, async () => {
      while (dispatched < messagesMax && performance.now() < deadline) {
        dispatched += 1;
        await send(plan(), performance.now());
      }
    });
    await Promise.all(workers);
    sendingEnded = performance.now();
  } else {
    const intervalMs = 1_000 / options.load.rate;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        // Every message whose scheduled time has come, timed from that time.
        while (dispatched < messagesMax) {
          const due = started + dispatched * intervalMs;
          if (due > now || due >= deadline) break;
          dispatched += 1;
          if (inFlight >= inFlightMax) {
            notSent += 1;
            continue;
          }
          track(send(plan(), due));
        }
        const nextDue = started + dispatched * intervalMs;
        if (dispatched >= messagesMax || nextDue >= deadline) {
          sendingEnded = Math.min(performance.now(), deadline);
          resolve();
          return;
        }
        setTimeout(tick, Math.max(0, Math.min(nextDue - performance.now(), 50)));
      };
      tick();
    });
    await Promise.all(running);
  }

  for (const client of clients) await client.close().catch(() => undefined);
  const ended = Math.max(lastSettled, sendingEnded);
  const totals = { sent: 0, answered: 0, timeouts: 0, failed: 0 };
  for (const figures of byMti.values()) {
    totals.sent += figures.sent;
    totals.answered += figures.answered;
    totals.timeouts += figures.timeouts;
    totals.failed += figures.failed;
  }
  const sendingMs = Math.max(1, sendingEnded - started);
  const elapsedMs = Math.max(1, ended - started);
  return {
    load: options.load,
    connections: connectionCount,
    cards: cards.length,
    ...totals,
    notSent,
    elapsedMs,
    sentRate: (totals.sent / sendingMs) * 1_000,
    answeredRate: (totals.answered / elapsedMs) * 1_000,
    latency: summarize(overall),
    byMti: Object.fromEntries(
      [...byMti].sort(([a], [b]) => a.localeCompare(b)).map(([mti, figures]) => [mti, figures.toReport()]),
    ),
    repeats,
    expectations: {
      checked: expectations.checked,
      met: expectations.met,
      unmet: Object.fromEntries([...expectations.unmet].sort(([, a], [, b]) => b - a)),
    },
    firstFailure,
    available: cards.map((card) => card.settled),
  };
}

// ---- The report in words ----

const whole = (value: number) => Math.round(value).toLocaleString('en-US');
const millis = (value: number | undefined) =>
  value === undefined
    ? '-'
    : value >= 100
      ? value.toFixed(0)
      : value >= 10
        ? value.toFixed(1)
        : value.toFixed(2);
const latencyLine = (latency: LatencySummary) =>
  `p50 ${millis(latency.p50)} ms, p90 ${millis(latency.p90)} ms, p99 ${millis(latency.p99)} ms, max ${millis(latency.max)} ms`;
const codesLine = (codes: Readonly<Record<string, number>>) =>
  Object.entries(codes)
    .sort(([, a], [, b]) => b - a)
    .map(([code, count]) => `${code} ×${whole(count)}`)
    .join(', ');

const MTI_NAMES: Readonly<Record<string, string>> = {
  '0100': 'authorization',
  '0101': 'authorization repeat',
  '0120': 'advice',
  '0400': 'reversal',
  '0420': 'reversal advice',
  '0800': 'echo',
};

/** The report as lines for a terminal: counts, rates, latencies, and response codes per message type. */
export function formatSimulationReport(report: SimulationReport): string[] {
  const unanswered = report.timeouts + report.failed;
  const lines = [
    `${whole(report.sent)} messages sent, ${whole(report.answered)} answered` +
      (unanswered === 0 ? '' : `, ${whole(report.timeouts)} timed out, ${whole(report.failed)} failed`) +
      (report.notSent === 0 ? '' : `, ${whole(report.notSent)} not sent (too many in flight)`),
    (report.load.kind === 'open'
      ? `offered ${whole(report.load.rate)}/s, sent ${whole(report.sentRate)}/s`
      : `closed loop, ${whole(report.load.concurrency)} in flight, sent ${whole(report.sentRate)}/s`) +
      `, answered ${whole(report.answeredRate)}/s over ${(report.elapsedMs / 1_000).toFixed(1)} s ` +
      `(${whole(report.connections)} connections, ${whole(report.cards)} cards)`,
    `latency: ${latencyLine(report.latency)}`,
  ];
  for (const [mti, figures] of Object.entries(report.byMti)) {
    const lost = figures.timeouts + figures.failed;
    lines.push(
      `  ${mti} ${(MTI_NAMES[mti] ?? '').padEnd(20)} ${whole(figures.sent).padStart(8)} sent` +
        (lost === 0 ? '' : `, ${whole(figures.timeouts)} timed out, ${whole(figures.failed)} failed`) +
        `; ${latencyLine(figures.latency)}`,
      `       codes: ${codesLine(figures.codes) || 'none'}`,
    );
  }
  lines.push(
    `repeats: ${whole(report.repeats.checked)} answered, ${whole(report.repeats.mismatched)} differing from their original`,
  );
  const unmet = Object.entries(report.expectations.unmet);
  lines.push(
    `predictable answers: ${whole(report.expectations.met)} of ${whole(report.expectations.checked)} as expected` +
      (unmet.length === 0
        ? ''
        : `; otherwise ${unmet.map(([what, count]) => `${what} ×${whole(count)}`).join(', ')}`),
  );
  if (report.firstFailure !== undefined) lines.push(`first failure: ${report.firstFailure}`);
  return lines;
}

// ---- Cards through the HTTP API ----

export interface HttpCardSetup {
  /** The API's base URL, e.g. http://localhost:8080. */
  readonly api: string;
  /** A programme key with the cardholders, accounts, cards and cards:reveal scopes (the sandbox key has them). */
  readonly key: string;
  readonly cards: number;
  readonly currency: string;
  /** Loaded into each wallet, minor units. */
  readonly load: number;
  /** Requests at once. Default 8. */
  readonly concurrency?: number;
}

/** An HTTP API refusal or an unreachable API; carries the API's error code and message, never card data. */
export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SetupError';
  }
}

type JsonObject = Readonly<Record<string, unknown>>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type ApiAccess = Pick<HttpCardSetup, 'api' | 'key'>;

const postJson = (setup: ApiAccess, path: string, body: JsonObject): Promise<JsonObject> =>
  requestJson(setup, 'POST', path, body);

/** One call on the HTTP API with the programme's key: its JSON object, or a SetupError naming the route. */
async function requestJson(
  setup: ApiAccess,
  method: 'GET' | 'POST',
  path: string,
  body?: JsonObject,
): Promise<JsonObject> {
  let response: Response;
  try {
    response = await fetch(new URL(path, setup.api), {
      method,
      headers: {
        authorization: `Bearer ${setup.key}`,
        ...(body === undefined
          ? {}
          : { 'content-type': 'application/json', 'idempotency-key': randomUUID() }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new SetupError(`cannot reach the API at ${setup.api}${cause}`);
  }
  const parsed: unknown = await response.json().catch(() => undefined);
  // The route, never the id in it: ids are not secret, but the message stays short.
  const route = path.replace(/\/[a-z]+_[0-9A-Za-z]+/g, '/{id}');
  if (!response.ok) {
    const error = isJsonObject(parsed) && isJsonObject(parsed.error) ? parsed.error : undefined;
    const detail =
      error === undefined
        ? ''
        : `: ${typeof error.code === 'string' ? error.code : ''} ${typeof error.message === 'string' ? error.message : ''}`;
    throw new SetupError(`${method} ${route} answered ${String(response.status)}${detail.trimEnd()}`);
  }
  if (!isJsonObject(parsed))
    throw new SetupError(`${method} ${route} answered something other than a JSON object`);
  return parsed;
}

function stringOf(body: JsonObject, field: string, what: string): string {
  const value = body[field];
  if (typeof value !== 'string') throw new SetupError(`${what}: the answer has no ${field}`);
  return value;
}

function numberOf(body: JsonObject, field: string, what: string): number {
  const value = body[field];
  if (typeof value !== 'number') throw new SetupError(`${what}: the answer has no ${field}`);
  return value;
}

/** One cardholder, one wallet loaded with `load`, one multi-use card, revealed. */
async function setUpOneCard(setup: HttpCardSetup, index: number, runId: string): Promise<SimulatedCard> {
  const cardholder = await postJson(setup, '/v1/cardholders', {
    name: `Network Simulator ${runId} ${index}`,
  });
  const cardholderId = stringOf(cardholder, 'id', 'creating a cardholder');
  const account = await postJson(setup, '/v1/accounts', {
    cardholder_id: cardholderId,
    currency: setup.currency,
  });
  const accountId = stringOf(account, 'id', 'opening a wallet');
  if (setup.load > 0) {
    await postJson(setup, `/v1/accounts/${accountId}/loads`, {
      amount: setup.load,
      currency: setup.currency,
    });
  }
  const card = await postJson(setup, '/v1/cards', {
    cardholder_id: cardholderId,
    account_id: accountId,
    type: 'multi_use',
  });
  const cardId = stringOf(card, 'id', 'issuing a card');
  const details = await postJson(setup, `/v1/cards/${cardId}/reveal`, {});
  return {
    accountId,
    pan: stringOf(details, 'pan', 'revealing a card'),
    cvv2: stringOf(details, 'cvv2', 'revealing a card'),
    expMonth: numberOf(details, 'exp_month', 'revealing a card'),
    expYear: numberOf(details, 'exp_year', 'revealing a card'),
    currency: setup.currency,
    balance: setup.load,
  };
}

/** Cards of the simulator's own, made through the HTTP API: a cardholder, a funded wallet and a card each. */
export async function setUpCardsOverHttp(setup: HttpCardSetup): Promise<SimulatedCard[]> {
  await assertSandbox(setup);
  const runId = randomUUID().slice(0, 8);
  const cards: SimulatedCard[] = [];
  let next = 0;
  const workers = Array.from({ length: Math.min(setup.concurrency ?? 8, setup.cards) }, async () => {
    while (next < setup.cards) {
      next += 1;
      cards.push(await setUpOneCard(setup, next, runId));
    }
  });
  await Promise.all(workers);
  return cards;
}

/**
 * The simulator makes cardholders and cards of its own and may turn fraud protections off: it plays only against
 * sandbox programmes, never a live one's real cardholders and controls.
 */
async function assertSandbox(setup: ApiAccess): Promise<void> {
  const body = await requestJson(setup, 'GET', '/v1/programs');
  const programs = Array.isArray(body.data) ? (body.data as unknown[]) : undefined;
  if (programs === undefined) throw new SetupError('GET /v1/programs answered no list');
  const live = programs.some((program) => !isJsonObject(program) || program.mode !== 'sandbox');
  if (programs.length === 0 || live) {
    throw new SetupError(
      'the key is not a sandbox programme’s: the simulator creates cardholders and cards, so it runs only in a sandbox',
    );
  }
}

/**
 * Turns the programme's built-in protections (card testing, bursts) off for a run, and returns what puts them back:
 * a simulator sends far more authorizations per card than a person makes, which the burst protection declines.
 */
async function relaxProtections(setup: ApiAccess): Promise<() => Promise<void>> {
  const current = await requestJson(setup, 'GET', '/v1/risk/protections');
  const enabledOf = (name: string): boolean => {
    const settings = current[name];
    return !isJsonObject(settings) || settings.enabled !== false;
  };
  const before = { card_testing: enabledOf('card_testing'), burst: enabledOf('burst') };
  await postJson(setup, '/v1/risk/protections', {
    card_testing: { enabled: false },
    burst: { enabled: false },
  });
  return async () => {
    await postJson(setup, '/v1/risk/protections', {
      card_testing: { enabled: before.card_testing },
      burst: { enabled: before.burst },
    });
  };
}

// ---- The command ----

interface CommandOptions {
  readonly host: string;
  readonly port?: string;
  readonly rate: string;
  readonly duration: string;
  readonly messages?: string;
  readonly concurrency?: string;
  readonly api: string;
  readonly key?: string;
  readonly cards: string;
  readonly connections: string;
  readonly currency: string;
  readonly load: string;
  readonly lengthHeader: string;
  readonly profile: string;
  readonly timeout: string;
  readonly relaxProtections?: boolean;
  readonly seed?: string;
}

const EXIT_UNANSWERED = 1;
const EXIT_BAD_OPTIONS = 2;

function wholeOption(name: string, value: string, min: number, max: number): number {
  const number = Number(value.replace(/_/g, ''));
  if (!/^[0-9][0-9_]*$/.test(value) || !Number.isSafeInteger(number) || number < min || number > max) {
    throw new SimulationOptionError(
      `--${name} must be a whole number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')} (got ${JSON.stringify(value)})`,
    );
  }
  return number;
}

function decimalOption(name: string, value: string, max: number): number {
  const number = Number(value);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || !(number > 0) || number > max) {
    throw new SimulationOptionError(
      `--${name} must be a number above 0 and at most ${max.toLocaleString('en-US')} (got ${JSON.stringify(value)})`,
    );
  }
  return number;
}

interface Plan {
  readonly simulation: Omit<SimulationOptions, 'cards'>;
  readonly setup: HttpCardSetup;
  readonly relax: boolean;
}

/** The command's options checked and turned into the engine's; SimulationOptionError names the option at fault. */
export function planFromOptions(options: CommandOptions, env: NodeJS.ProcessEnv = process.env): Plan {
  if (options.port === undefined) throw new SimulationOptionError('--port is required: the ISO 8583 port');
  const port = wholeOption('port', options.port, 1, 65_535);
  const key = options.key ?? env.LANTAU_SANDBOX_SECRET_KEY;
  if (key === undefined || key.trim() === '') {
    throw new SimulationOptionError(
      '--key is required (or LANTAU_SANDBOX_SECRET_KEY): a programme key that may create and reveal cards',
    );
  }
  let api: URL;
  try {
    api = new URL(options.api);
  } catch {
    throw new SimulationOptionError(
      `--api must be a URL such as http://localhost:8080 (got ${JSON.stringify(options.api)})`,
    );
  }
  if (api.protocol !== 'http:' && api.protocol !== 'https:') {
    throw new SimulationOptionError(
      `--api must be an http or https URL (got ${JSON.stringify(options.api)})`,
    );
  }
  if (options.lengthHeader !== 'binary2' && options.lengthHeader !== 'ascii4') {
    throw new SimulationOptionError(
      `--length-header must be binary2 or ascii4 (got ${JSON.stringify(options.lengthHeader)})`,
    );
  }
  let profile: Iso8583Profile;
  try {
    profile = profileNamed(options.profile);
  } catch (error) {
    const reason = error instanceof ProfileError || error instanceof Error ? error.message : String(error);
    throw new SimulationOptionError(
      `--profile must be iso8583-1987-ascii, iso8583-1987-bcd or a JSON profile file (${options.profile}: ${reason})`,
    );
  }
  if (!/^[A-Z]{3}$/.test(options.currency)) {
    throw new SimulationOptionError(
      `--currency must be an ISO 4217 code such as HKD (got ${JSON.stringify(options.currency)})`,
    );
  }
  const load =
    options.concurrency === undefined
      ? ({ kind: 'open', rate: decimalOption('rate', options.rate, 1_000_000) } as const)
      : ({
          kind: 'closed',
          concurrency: wholeOption('concurrency', options.concurrency, 1, 100_000),
        } as const);
  return {
    simulation: {
      port,
      host: options.host,
      profile,
      lengthHeader: options.lengthHeader,
      connections: wholeOption('connections', options.connections, 1, 1_000),
      load,
      durationSeconds: decimalOption('duration', options.duration, 86_400),
      ...(options.messages === undefined
        ? {}
        : { messages: wholeOption('messages', options.messages, 1, 100_000_000) }),
      timeoutMs: wholeOption('timeout', options.timeout, 1, 600_000),
      ...(options.seed === undefined ? {} : { seed: wholeOption('seed', options.seed, 0, 2 ** 32 - 1) }),
    },
    setup: {
      api: api.toString(),
      key,
      cards: wholeOption('cards', options.cards, 1, 100_000),
      currency: options.currency,
      load: wholeOption('load', options.load, 0, Number.MAX_SAFE_INTEGER),
    },
    relax: options.relaxProtections === true,
  };
}

async function simulate(options: CommandOptions): Promise<void> {
  let plan: Plan;
  try {
    plan = planFromOptions(options);
  } catch (error) {
    if (!(error instanceof SimulationOptionError)) throw error;
    console.error(`lantau: ${error.message}`);
    process.exitCode = EXIT_BAD_OPTIONS;
    return;
  }
  const { simulation, setup } = plan;
  const where = `${simulation.host ?? '127.0.0.1'}:${String(simulation.port)}`;
  // Fail before making cards when nothing listens.
  try {
    const probe = await connectIso8583Client({
      port: simulation.port,
      host: simulation.host ?? '127.0.0.1',
      connectTimeoutMs: 5_000,
    });
    await probe.close();
  } catch (error) {
    throw new SetupError(
      `no ISO 8583 interface at ${where}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  console.log(
    `setting up ${whole(setup.cards)} cards through ${setup.api} (${setup.currency} ${whole(setup.load)} minor units each)`,
  );
  const cards = await setUpCardsOverHttp(setup);
  const restore = plan.relax ? await relaxProtections(setup) : undefined;
  try {
    const what =
      simulation.load.kind === 'open'
        ? `${whole(simulation.load.rate)} messages/s`
        : `closed loop with ${whole(simulation.load.concurrency)} in flight`;
    const until = [
      simulation.durationSeconds === undefined ? undefined : `${String(simulation.durationSeconds)} s`,
      simulation.messages === undefined ? undefined : `${whole(simulation.messages)} messages`,
    ]
      .filter((part) => part !== undefined)
      .join(' or ');
    console.log(
      `driving ${where} at ${what} for ${until} over ${whole(simulation.connections ?? 4)} connections`,
    );
    const report = await runNetworkSimulation({ ...simulation, cards });
    for (const line of formatSimulationReport(report)) console.log(line);
    const suspected = Object.values(report.byMti).reduce(
      (sum, figures) => sum + (figures.codes['59'] ?? 0),
      0,
    );
    if (!plan.relax && suspected > report.answered / 10) {
      console.log(
        'note: many 59 (suspected fraud): a simulator makes far more authorizations per card than a person, which ' +
          'the burst protection declines; give more --cards or --relax-protections',
      );
    }
    if (report.timeouts + report.failed > 0) process.exitCode = EXIT_UNANSWERED;
  } finally {
    await restore?.();
  }
}

/** `lantau network simulate`: see the top of this file. */
export function registerNetworkCommands(program: Command): void {
  const network = program.command('network').description('the ISO 8583 network interface');
  network
    .command('simulate')
    .description(
      'play a card network against a running ISO 8583 interface: sets up its own funded cards through the HTTP ' +
        'API, then sends a realistic mix (0100 purchases, 0101 repeats, 0400/0420 reversals, 0120 advices, 0800 ' +
        'echoes) and prints rates, latencies and response codes per message type. Exits 0 when every message was ' +
        'answered, 1 when some were not, 2 for bad options',
    )
    .option('--host <host>', 'the ISO 8583 interface’s host', '127.0.0.1')
    .option('--port <port>', 'the ISO 8583 interface’s port (ISO8583_PORT of `lantau serve`)')
    .option('--rate <n>', 'messages a second, open loop', '50')
    .option('--duration <seconds>', 'how long to send', '10')
    .option('--messages <n>', 'stop after this many messages (whichever of this and --duration comes first)')
    .option(
      '--concurrency <n>',
      'closed loop instead: this many in flight, as fast as answers come (no --rate)',
    )
    .option('--api <url>', 'the HTTP API, for setting up cards', 'http://localhost:8080')
    .option('--key <key>', 'a programme key (default: LANTAU_SANDBOX_SECRET_KEY)')
    .option('--cards <n>', 'cards to set up', '20')
    .option('--connections <n>', 'TCP connections', '4')
    .option('--currency <code>', 'the wallets’ currency', 'HKD')
    .option(
      '--load <minor units>',
      'loaded into each wallet; below the KYC tier’s largest transaction (HKD 3,000 unverified), so that an amount beyond the wallet is declined 51 rather than 61',
      '200000',
    )
    .option('--length-header <kind>', 'binary2 or ascii4 (ISO8583_LENGTH_HEADER)', 'binary2')
    .option(
      '--profile <name>',
      'iso8583-1987-ascii, iso8583-1987-bcd or a JSON profile file',
      'iso8583-1987-ascii',
    )
    .option('--timeout <ms>', 'how long to wait for each answer', '5000')
    .option('--relax-protections', 'turn the programme’s burst and card-testing protections off for the run')
    .option('--seed <n>', 'seed the choice of messages, for a repeatable sequence')
    .exitOverride((error) => {
      // Commander has printed what is wrong; bad options exit 2, help 0.
      process.exit(error.exitCode === 0 ? 0 : EXIT_BAD_OPTIONS);
    })
    .action(async (options: CommandOptions) => {
      try {
        await simulate(options);
      } catch (error) {
        if (!(error instanceof SetupError) && !(error instanceof SimulationOptionError)) throw error;
        console.error(`lantau: ${error.message}`);
        process.exitCode = error instanceof SimulationOptionError ? EXIT_BAD_OPTIONS : 1;
      }
    });
}
