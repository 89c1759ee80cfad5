/**
 * A fuzzer for the ISO 8583 interface: feeds random and mutated frames to a running server over TCP and checks every
 * outcome against what the handler's rules (handler.ts) say it must be, predicted by unpacking the frame here with the
 * same profile:
 *
 * - the frame unpacks and its MTI is a request (function digit, the third, 0 or 2): an answer with the response MTI
 *   (0100/0101 → 0110, 0120/0121 → 0130, 0400/0401 → 0410, 0420/0421 → 0430, 0800/0801 → 0810; otherwise the function
 *   digit plus one, with 39 = 12); it echoes the STAN (11);
 * - the frame does not unpack but its MTI reads and is a request: the response MTI with 39 = 30, echoing the STAN when
 *   it was read before the fault;
 * - the MTI does not read, or is not a request, or the length header cannot be trusted: the server closes the
 *   connection without answering. The fuzzer then reconnects and goes on.
 *
 * Every frame is a pure function of (seed, index): a finding is reproduced by running again from its index. Several
 * connections each keep one frame in flight, so an answer always belongs to the frame just sent. An answer that does
 * not unpack, has the wrong MTI or response code, a frame the server closes on when it should answer (or the reverse),
 * an answer of 96 (the engine failed), and no outcome within the per-frame timeout (a hang) are findings. Findings name
 * the frame by index, generator and mutation, its length and its MTI: never its bytes, which may hold a card number.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  cvv2FieldValue,
  ISO8583_1987_ASCII,
  Iso8583Error,
  pack,
  unpack,
  type IsoMessage,
  type Iso8583Profile,
} from '../codec/index.js';
import { ENCODING, type CompiledField } from '../codec/profile.js';
import {
  encodeFrame,
  FrameDecoder,
  resolveFraming,
  type LengthHeader,
  type ResolvedFraming,
} from '../transport/framing.js';
import { mulberry32 } from '../../../platform/seeded-random.js';
import {
  authorizationAdvice,
  authorizationRequest,
  asRepeat,
  networkManagement,
  responseMti,
  reversal,
  transmissionTimeOf,
  type CardPresentment,
} from './messages.js';
import { ANSWERED_MTIS } from './handler.js';

// ---------------------------------------------------------------------------------------------------------------
// The oracle: what the server must do with a frame

export type FuzzExpectation =
  | { readonly kind: 'close'; readonly why: 'mti_unreadable' | 'not_a_request' | 'framing' }
  | {
      readonly kind: 'answer';
      /** The request's MTI (4 digits: safe to print). */
      readonly requestMti: string;
      readonly mti: string;
      /** The response code the answer must carry, when the rules fix it. */
      readonly code?: string;
      /** The STAN the answer must echo, when the request's was read. */
      readonly stan?: string;
      /** The frame unpacked: it reaches the handler's mapping (and perhaps the engine). */
      readonly parsed: boolean;
    };

/** What the handler must do with `frame`, decided by unpacking it with the same profile. */
export function expectationOf(profile: Iso8583Profile, frame: Uint8Array): FuzzExpectation {
  let message: IsoMessage;
  try {
    message = unpack(profile, frame);
  } catch (error) {
    if (!(error instanceof Iso8583Error)) throw error;
    if (error.mti === undefined) return { kind: 'close', why: 'mti_unreadable' };
    const mti = responseMti(error.mti);
    if (mti === undefined) return { kind: 'close', why: 'not_a_request' };
    const stan = error.keys.get(11);
    return {
      kind: 'answer',
      requestMti: error.mti,
      mti,
      code: '30',
      ...(stan === undefined ? {} : { stan }),
      parsed: false,
    };
  }
  const mti = responseMti(message.mti);
  if (mti === undefined) return { kind: 'close', why: 'not_a_request' };
  const stan = message.fields.get(11);
  return {
    kind: 'answer',
    requestMti: message.mti,
    mti,
    ...(ANSWERED_MTIS.has(message.mti) ? {} : { code: '12' }),
    ...(typeof stan === 'string' ? { stan } : {}),
    parsed: true,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A seeded PRNG: one stream per frame, from (seed, index)

function mix32(value: number): number {
  let x = value | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** mulberry32, seeded per frame so that frame `index` is the same whatever ran before it. */
export class FuzzRandom {
  /** A uniform 32-bit unsigned integer. */
  readonly next: () => number;

  constructor(seed: number, index: number) {
    this.next = mulberry32(
      mix32(mix32(seed) ^ mix32(index + 0x9e3779b9) ^ Math.floor(index / 0x1_0000_0000)),
    );
  }

  /** An integer in [0, bound). */
  below(bound: number): number {
    return bound <= 1 ? 0 : Math.floor((this.next() / 0x1_0000_0000) * bound);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  chance(probability: number): boolean {
    return this.next() / 0x1_0000_0000 < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }

  bytes(count: number): Uint8Array {
    const out = new Uint8Array(count);
    for (let index = 0; index < count; index += 1) out[index] = this.next() & 0xff;
    return out;
  }

  text(alphabet: string, count: number): string {
    let out = '';
    for (let index = 0; index < count; index += 1) out += alphabet.charAt(this.below(alphabet.length));
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Valid messages to start from

/** A card the server knows, as the network would present it. */
export interface FuzzCard {
  readonly pan: string;
  /** YYMM. */
  readonly expiry: string;
  readonly cvv2: string;
}

const DIGITS = '0123456789';

function keysAt(
  index: number,
  at: Date,
): Pick<CardPresentment, 'stan' | 'rrn' | 'transmissionTime' | 'acquirerId'> {
  return {
    stan: String(100_000 + index).slice(-6),
    rrn: `FZ${String(index).padStart(10, '0')}`,
    transmissionTime: transmissionTimeOf(at),
    acquirerId: '40000000001',
  };
}

/**
 * Valid requests of every type Lantau answers, for `runFuzz`'s `validSamples`: for each card, authorizations (in the
 * card's currency and others, with and without CVV2 and expiry, partial allowed), advices, reversals and reversal
 * advices of them (full and partial, through field 90 and through their own keys), repeats; for a card number the
 * server does not know, the same; and sign-on, sign-off and echo.
 */
export function sampleMessages(
  cards: readonly FuzzCard[],
  profile: Iso8583Profile = ISO8583_1987_ASCII,
  unknownPan = '4000000000000002',
): IsoMessage[] {
  const at = new Date(Date.UTC(2026, 2, 1, 12, 0, 0));
  const samples: IsoMessage[] = [];
  let index = 0;
  const presentments = (card: Pick<FuzzCard, 'pan'> & Partial<FuzzCard>): CardPresentment[] => {
    const base = {
      pan: card.pan,
      ...(card.expiry === undefined ? {} : { expiry: card.expiry }),
      ...(card.cvv2 === undefined ? {} : { cvv2: card.cvv2 }),
    };
    return [
      {
        ...base,
        ...keysAt((index += 1), at),
        amount: 1_234,
        currency: 'HKD',
        mcc: '5812',
        merchantName: 'Tai Cheong Bakery',
        city: 'Hong Kong',
        country: 'HK',
      },
      {
        ...base,
        ...keysAt((index += 1), at),
        amount: 500,
        currency: 'USD',
        mcc: '5541',
        merchantName: 'Shell Central',
        city: 'Hong Kong',
        country: 'HK',
        entryMode: 'contactless',
        partialAllowed: true,
      },
      {
        pan: card.pan,
        ...keysAt((index += 1), at),
        amount: 2_000_00,
        currency: 'JPY',
        mcc: '5411',
        merchantName: 'Lawson',
        country: 'JP',
        entryMode: 'chip',
      },
      {
        ...base,
        ...keysAt((index += 1), at),
        amount: 0,
        currency: 'HKD',
        mcc: '4829',
        merchantName: 'Verification',
      },
    ];
  };
  for (const card of [...cards, { pan: unknownPan, expiry: '3012', cvv2: '123' }]) {
    for (const presentment of presentments(card)) {
      const request = authorizationRequest(presentment, profile);
      samples.push(request, asRepeat(request));
      samples.push(authorizationAdvice({ ...presentment, ...keysAt((index += 1), at) }, '00', profile));
      const keys = keysAt((index += 1), at);
      samples.push(reversal({ ...keys, original: presentment }, profile));
      samples.push(reversal({ ...keys, original: presentment, advice: true }, profile));
      if (presentment.amount > 1) {
        samples.push(
          reversal(
            { ...keysAt((index += 1), at), original: presentment, completedAmount: presentment.amount - 1 },
            profile,
          ),
        );
      }
      samples.push(reversal({ ...presentment, original: presentment, withOriginalData: false }, profile));
    }
  }
  for (const code of ['sign_on', 'sign_off', 'echo'] as const) {
    samples.push(
      networkManagement(code, { stan: keysAt((index += 1), at).stan, transmissionTime: '0301120000' }),
    );
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------------------------
// Frame generators

export const FUZZ_GENERATORS = ['random', 'mti_random', 'mutation', 'valid', 'framing'] as const;
export type FuzzGeneratorName = (typeof FUZZ_GENERATORS)[number];

export const FUZZ_MUTATIONS = [
  'bit_flip',
  'byte_set',
  'text_byte',
  'truncate',
  'extend',
  'insert',
  'delete',
  'length_prefix',
  'bitmap_bit',
  'mti_swap',
  'field_content',
  'field_value',
  'field_drop',
  'field_add',
  'splice',
] as const;
export type FuzzMutation = (typeof FUZZ_MUTATIONS)[number];

/**
 * Relative weights. Mutations reach furthest into the handler; about a third of them still unpack and, with the valid
 * frames, reach the engine (some 15% of all frames): the database is what limits the rate, so valid frames are few.
 */
export const FUZZ_WEIGHTS_DEFAULT: Readonly<Record<FuzzGeneratorName, number>> = {
  random: 20,
  mti_random: 30,
  mutation: 45,
  valid: 2,
  framing: 3,
};

/** MTIs swapped in: requests answered, requests refused with 12, responses and oddities that close. */
const SWAP_MTIS = [
  '0100',
  '0101',
  '0120',
  '0121',
  '0400',
  '0401',
  '0420',
  '0421',
  '0800',
  '0801',
  '0200',
  '0220',
  '0102',
  '0900',
  '1100',
  '0110',
  '0130',
  '0410',
  '0430',
  '0810',
  '0210',
  '0140',
  '0190',
  '0000',
  '9999',
];

/** Values the mapping reads with care, by field: where semantic checks and the engine's refusals live. */
const INTERESTING: Readonly<Partial<Record<number, readonly string[]>>> = {
  2: ['0', '1234567890', '4000000000000002', '4242424242424242', '9'.repeat(19), '0'.repeat(19)],
  3: ['000000', '200000', '010000', '003000', '999999', '00000A'],
  4: ['000000000000', '000000000001', '999999999999', '000000100000', '00000000000A', '-00000000001'],
  7: ['0000000000', '1399999999', '0229235959', '1231235960'],
  11: ['000000', '999999', '      '],
  14: ['0000', '9912', '2613', '2600', '0001', '2603', 'ABCD'],
  18: ['0000', '5812', '7011', '6011', '9999', '4829', '7995'],
  22: ['000', '010', '021', '051', '071', '100', '812', '901', '999'],
  32: ['0', '00000000000', '40000000001', '1'],
  37: ['000000000000', '            ', 'FZ0000000001'],
  // Not 96: an advice's code is recorded and answered again to any request with its network identity (a repeat),
  // and a 96 the fuzzer put there could not be told from a fault.
  39: ['00', '05', '10', '51', '91', 'ZZ', '  '],
  43: ['', ' '.repeat(40), `${'X'.repeat(38)}ZZ`, `${'A'.repeat(38)}HK`],
  48: ['', '1', '12', '123', '1234', '12345', 'abc'],
  49: ['344', '840', '392', '978', '000', '999', '048', '952'],
  60: ['0000000001', '000000000', '1111111111', ''],
  70: ['001', '002', '301', '000', '999'],
  90: ['0'.repeat(42), '1'.repeat(42), `0100${'0'.repeat(38)}`],
  95: ['0'.repeat(42), `${'9'.repeat(12)}${'0'.repeat(30)}`, `${'0'.repeat(11)}1${'0'.repeat(30)}`],
};

/** Longest variable value a mutation writes, to keep frames short and the run quick. */
const VARIABLE_VALUE_MAX = 48;

const alphabets = new Map<CompiledField, string>();
function alphabetOf(spec: CompiledField): string {
  let alphabet = alphabets.get(spec);
  if (alphabet === undefined) {
    alphabet = '';
    for (let code = 0; code < 128; code += 1)
      if (spec.charset[code] === 1) alphabet += String.fromCharCode(code);
    if (alphabet === '') alphabet = DIGITS;
    alphabets.set(spec, alphabet);
  }
  return alphabet;
}

/** A value of the field's type (and, one time in four, of a length it does not allow, to see pack refuse it). */
function randomValue(random: FuzzRandom, spec: CompiledField): string | Uint8Array {
  const fixed = spec.prefixDigits === 0;
  const length = fixed ? spec.length : random.between(0, Math.min(spec.length, VARIABLE_VALUE_MAX));
  if (spec.type === 'b') return random.bytes(length);
  if (spec.type === 'xn') return random.pick(['C', 'D']) + random.text(DIGITS, Math.max(length - 1, 1));
  return random.text(alphabetOf(spec), length);
}

/** Where each field of a packed message lies: start of its prefix, bytes of prefix, end of its content. */
interface FieldRegion {
  readonly field: number;
  readonly start: number;
  readonly prefixBytes: number;
  readonly end: number;
}

interface Layout {
  readonly mtiBytes: number;
  /** Bitmap bytes (8 or 16 binary; twice that in hex). */
  readonly bitmapBytes: number;
  readonly fields: readonly FieldRegion[];
}

function layoutOf(profile: Iso8583Profile, message: IsoMessage): Layout {
  const mtiBytes = profile.mtiEncoding === ENCODING.bcd ? 2 : 4;
  const numbers = [...message.fields.keys()].sort((a, b) => a - b);
  const secondary = numbers.some((field) => field > 64);
  const bitmapBytes = (secondary ? 16 : 8) * (profile.hexBitmap ? 2 : 1);
  let at = mtiBytes + bitmapBytes;
  const fields: FieldRegion[] = [];
  for (const field of numbers) {
    const spec = profile.specs[field];
    const value = message.fields.get(field);
    if (spec === undefined || value === undefined) continue;
    const prefixBytes = spec.prefixDigits === 0 ? 0 : spec.prefixBytes;
    const count = spec.prefixDigits === 0 ? spec.length : value.length;
    const contentBytes = spec.encoding === ENCODING.bcd ? (count + 1) >> 1 : count;
    fields.push({ field, start: at, prefixBytes, end: at + prefixBytes + contentBytes });
    at += prefixBytes + contentBytes;
  }
  return { mtiBytes, bitmapBytes, fields };
}

function encodeMti(profile: Iso8583Profile, mti: string): Uint8Array {
  if (profile.mtiEncoding === ENCODING.bcd) {
    return Uint8Array.of(
      ((mti.charCodeAt(0) - 0x30) << 4) | (mti.charCodeAt(1) - 0x30),
      ((mti.charCodeAt(2) - 0x30) << 4) | (mti.charCodeAt(3) - 0x30),
    );
  }
  const zero = profile.mtiEncoding === ENCODING.ebcdic ? 0xf0 : 0x30;
  return Uint8Array.from([0, 1, 2, 3], (index) => mti.charCodeAt(index) - 0x30 + zero);
}

function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A frame to send: the message bytes (framed on send) or, for the framing generator, raw bytes for the socket. */
export interface FuzzFrame {
  readonly index: number;
  readonly generator: FuzzGeneratorName;
  readonly mutations: readonly FuzzMutation[];
  /** The message bytes; for `framing`, what is written as is (a bad length header). */
  readonly bytes: Uint8Array;
  readonly raw: boolean;
}

interface Template {
  readonly message: IsoMessage;
  readonly layout: Layout;
}

/** Builds frame `index` of a run: a pure function of the seed, the index and the samples. */
export class FuzzFrames {
  readonly #templates: readonly Template[];
  readonly #generators: readonly FuzzGeneratorName[];
  readonly #cumulative: readonly number[];
  readonly #total: number;

  constructor(
    readonly profile: Iso8583Profile,
    readonly seed: number,
    samples: readonly IsoMessage[],
    readonly framing: ResolvedFraming,
    weights: Readonly<Partial<Record<FuzzGeneratorName, number>>> = {},
  ) {
    if (samples.length === 0) throw new RangeError('the fuzzer needs at least one valid sample message');
    this.#templates = samples.map((message) => {
      const packed = pack(profile, message);
      const layout = layoutOf(profile, message);
      const last = layout.fields.at(-1);
      if ((last?.end ?? layout.mtiBytes + layout.bitmapBytes) !== packed.length) {
        throw new Error(`the fuzzer cannot lay out a ${message.mti} sample in profile ${profile.name}`);
      }
      return { message, layout };
    });
    const generators: FuzzGeneratorName[] = [];
    const cumulative: number[] = [];
    let total = 0;
    for (const generator of FUZZ_GENERATORS) {
      const weight = weights[generator] ?? FUZZ_WEIGHTS_DEFAULT[generator];
      if (!(weight >= 0) || !Number.isFinite(weight)) throw new RangeError(`bad weight for ${generator}`);
      if (weight === 0) continue;
      total += weight;
      generators.push(generator);
      cumulative.push(total);
    }
    if (total === 0) throw new RangeError('every generator has weight 0');
    this.#generators = generators;
    this.#cumulative = cumulative;
    this.#total = total;
  }

  frame(index: number): FuzzFrame {
    const random = new FuzzRandom(this.seed, index);
    const roll = (random.next() / 0x1_0000_0000) * this.#total;
    let choice = 0;
    while (choice < this.#cumulative.length - 1 && roll >= (this.#cumulative[choice] ?? 0)) choice += 1;
    const generator = this.#generators[choice] ?? 'random';
    switch (generator) {
      case 'random':
        return { index, generator, mutations: [], bytes: this.#random(random), raw: false };
      case 'mti_random':
        return { index, generator, mutations: [], bytes: this.#mtiRandom(random), raw: false };
      case 'valid':
        return {
          index,
          generator,
          mutations: [],
          bytes: pack(this.profile, this.#fresh(random).message),
          raw: false,
        };
      case 'framing':
        return { index, generator, mutations: [], bytes: this.#badHeader(random), raw: true };
      case 'mutation': {
        const mutations: FuzzMutation[] = [];
        return { index, generator, mutations, bytes: this.#mutate(random, mutations), raw: false };
      }
    }
  }

  /** Random bytes of a random length: mostly short, sometimes up to 600, rarely up to the frame limit. */
  #random(random: FuzzRandom): Uint8Array {
    const length = random.chance(0.5)
      ? random.between(1, 64)
      : random.chance(0.98)
        ? random.between(1, 600)
        : random.between(1, this.framing.frameBytesMax);
    if (random.chance(0.2)) {
      // Printable text, which reads as digits more often: the MTI and length prefixes get a chance.
      return new TextEncoder().encode(random.text(`${DIGITS}${DIGITS}ABCDEF `, length));
    }
    return random.bytes(length);
  }

  /** A readable MTI (mostly a request), a plausible bitmap or random bytes, then random content. */
  #mtiRandom(random: FuzzRandom): Uint8Array {
    const mti = random.chance(0.8) ? random.pick(SWAP_MTIS) : random.text(DIGITS, 4);
    const parts: Uint8Array[] = [encodeMti(this.profile, mti)];
    if (random.chance(0.6)) {
      // A sparse bitmap, so that the fields it names have a chance to be read.
      const bitmap = new Uint8Array(random.chance(0.3) ? 16 : 8);
      if (bitmap.length === 16) bitmap[0] = 0x80;
      const bits = random.between(1, 12);
      for (let bit = 0; bit < bits; bit += 1) {
        const position = random.below(bitmap.length * 8);
        bitmap[position >> 3] = (bitmap[position >> 3] ?? 0) | (0x80 >> (position & 7));
      }
      parts.push(
        this.profile.hexBitmap
          ? new TextEncoder().encode(Buffer.from(bitmap).toString('hex').toUpperCase())
          : bitmap,
      );
    }
    const length = random.between(0, random.chance(0.7) ? 80 : 600);
    parts.push(
      random.chance(0.5)
        ? random.bytes(length)
        : new TextEncoder().encode(random.text(`${DIGITS} AZaz=`, length)),
    );
    return concat(...parts);
  }

  /** A length header the server cannot trust: it must close the connection. */
  #badHeader(random: FuzzRandom): Uint8Array {
    const { header, frameBytesMax } = this.framing;
    const tail = random.chance(0.5) ? random.bytes(random.between(1, 32)) : new Uint8Array(0);
    if (header === 'binary2') {
      const length = random.chance(0.4) ? 0 : random.between(frameBytesMax + 1, 0xffff);
      return concat(Uint8Array.of(length >> 8, length & 0xff), tail);
    }
    const text = random.chance(0.3)
      ? '0000'
      : random.chance(0.5) && frameBytesMax < 9_999
        ? String(random.between(frameBytesMax + 1, 9_999))
        : `${random.text('ABC -+', 1)}${random.text(DIGITS, 3)}`;
    return concat(new TextEncoder().encode(text), tail);
  }

  /** A sample with, half the time, fresh keys (7, 11, 37): a new transaction rather than a repeat of the sample. */
  #fresh(random: FuzzRandom): Template {
    const template = random.pick(this.#templates);
    if (random.chance(0.5)) return template;
    const fields = new Map(template.message.fields);
    const two = (max: number, min = 0): string => String(random.between(min, max)).padStart(2, '0');
    if (fields.has(7)) fields.set(7, `${two(12, 1)}${two(28, 1)}${two(23)}${two(59)}${two(59)}`);
    if (fields.has(11)) fields.set(11, random.text(DIGITS, 6));
    if (fields.has(37)) fields.set(37, random.text(DIGITS, 12));
    // Same lengths: the template's layout still holds.
    return { message: { mti: template.message.mti, fields }, layout: template.layout };
  }

  #mutate(random: FuzzRandom, applied: FuzzMutation[]): Uint8Array {
    let { message, layout } = this.#fresh(random);
    const count = random.chance(0.7) ? 1 : random.between(2, 3);
    // Mutations of the message come first (the layout is recomputed), then mutations of its bytes.
    const planned: FuzzMutation[] = [];
    for (let index = 0; index < count; index += 1) planned.push(random.pick(FUZZ_MUTATIONS));
    planned.sort((a, b) => Number(isMessageMutation(b)) - Number(isMessageMutation(a)));
    let bytes: Uint8Array | undefined;
    for (const mutation of planned) {
      if (isMessageMutation(mutation)) {
        const changed = this.#mutateMessage(random, mutation, message);
        if (changed === undefined) continue;
        message = changed;
        layout = layoutOf(this.profile, message);
        applied.push(mutation);
        continue;
      }
      if (bytes === undefined) {
        try {
          bytes = pack(this.profile, message);
        } catch {
          // A value the profile refuses (a field_value of the wrong length): mutate the sample's bytes instead.
          applied.length = 0;
          message = this.#fresh(random).message;
          layout = layoutOf(this.profile, message);
          bytes = pack(this.profile, message);
        }
      }
      bytes = this.#mutateBytes(random, mutation, bytes, layout);
      applied.push(mutation);
    }
    if (bytes === undefined) {
      try {
        bytes = pack(this.profile, message);
      } catch {
        applied.length = 0;
        bytes = pack(this.profile, this.#fresh(random).message);
      }
    }
    if (bytes.length === 0) bytes = encodeMti(this.profile, '0100');
    return bytes.length > this.framing.frameBytesMax ? bytes.subarray(0, this.framing.frameBytesMax) : bytes;
  }

  #mutateMessage(random: FuzzRandom, mutation: FuzzMutation, message: IsoMessage): IsoMessage | undefined {
    const fields = new Map(message.fields);
    const present = [...fields.keys()];
    switch (mutation) {
      case 'field_drop': {
        if (present.length === 0) return undefined;
        fields.delete(random.pick(present));
        break;
      }
      case 'field_add': {
        const field = random.chance(0.5) ? random.between(2, 64) : random.between(65, 128);
        const spec = this.profile.specs[field];
        if (spec === undefined) return undefined;
        fields.set(field, randomValue(random, spec));
        break;
      }
      case 'field_value': {
        const candidates = random.chance(0.7) ? present : Object.keys(INTERESTING).map(Number);
        const field = random.pick(candidates.length === 0 ? [2] : candidates);
        const spec = this.profile.specs[field];
        if (spec === undefined) return undefined;
        const interesting = INTERESTING[field];
        let value: string | Uint8Array =
          interesting !== undefined && random.chance(0.6)
            ? random.pick(interesting)
            : randomValue(random, spec);
        if (field === this.profile.cvv2.field && typeof value === 'string' && random.chance(0.5)) {
          try {
            value = cvv2FieldValue(this.profile, value);
          } catch {
            // Not a CVV2 the profile can carry: sent as it is.
          }
        }
        fields.set(field, value);
        break;
      }
      default:
        return undefined;
    }
    return { mti: message.mti, fields: new Map([...fields].sort(([a], [b]) => a - b)) };
  }

  #mutateBytes(random: FuzzRandom, mutation: FuzzMutation, input: Uint8Array, layout: Layout): Uint8Array {
    const bytes = new Uint8Array(input);
    const position = (): number => random.below(Math.max(bytes.length, 1));
    const field = (): FieldRegion | undefined =>
      layout.fields.length === 0 ? undefined : random.pick(layout.fields);
    switch (mutation) {
      case 'bit_flip': {
        const at = position();
        bytes[at] = (bytes[at] ?? 0) ^ (1 << random.below(8));
        return bytes;
      }
      case 'byte_set':
        bytes[position()] = random.below(256);
        return bytes;
      case 'text_byte':
        bytes[position()] = random.pick([0x30, 0x31, 0x35, 0x39, 0x20, 0x41, 0x3d, 0x44, 0x7f, 0x00]);
        return bytes;
      case 'truncate':
        return bytes.subarray(0, random.below(bytes.length));
      case 'extend':
        return concat(
          bytes,
          random.chance(0.5)
            ? random.bytes(random.between(1, 64))
            : new TextEncoder().encode(random.text(DIGITS, random.between(1, 64))),
        );
      case 'insert': {
        const at = position();
        return concat(bytes.subarray(0, at), random.bytes(random.between(1, 8)), bytes.subarray(at));
      }
      case 'delete': {
        const at = position();
        return concat(
          bytes.subarray(0, at),
          bytes.subarray(Math.min(bytes.length, at + random.between(1, 8))),
        );
      }
      case 'length_prefix': {
        const variable = layout.fields.filter((region) => region.prefixBytes > 0);
        const region = variable.length === 0 ? undefined : random.pick(variable);
        if (region === undefined) return this.#mutateBytes(random, 'byte_set', input, layout);
        const spec = this.profile.specs[region.field];
        const digits = spec?.prefixDigits ?? 2;
        const current = region.end - region.start - region.prefixBytes;
        const choice = random.below(4);
        const count =
          choice === 0
            ? current + random.pick([-2, -1, 1, 2])
            : choice === 1
              ? 0
              : choice === 2
                ? (spec?.length ?? 99) + random.between(0, 3)
                : random.below(10 ** digits);
        const target = Math.max(0, Math.min(count, 10 ** digits - 1));
        const encoding = spec?.prefixEncoding ?? ENCODING.ascii;
        if (encoding === ENCODING.ascii || encoding === ENCODING.ebcdic) {
          const zero = encoding === ENCODING.ascii ? 0x30 : 0xf0;
          const text = String(target).padStart(digits, '0');
          for (let index = 0; index < region.prefixBytes; index += 1) {
            bytes[region.start + index] = random.chance(0.1)
              ? random.below(256)
              : text.charCodeAt(index) - 0x30 + zero;
          }
        } else if (encoding === ENCODING.bcd) {
          const text = String(target).padStart(region.prefixBytes * 2, '0');
          for (let index = 0; index < region.prefixBytes; index += 1) {
            bytes[region.start + index] = random.chance(0.1)
              ? random.below(256)
              : ((text.charCodeAt(index * 2) - 0x30) << 4) | (text.charCodeAt(index * 2 + 1) - 0x30);
          }
        } else {
          if (region.prefixBytes === 2) bytes[region.start] = (target >> 8) & 0xff;
          bytes[region.start + region.prefixBytes - 1] = target & 0xff;
        }
        return bytes;
      }
      case 'bitmap_bit': {
        const bit = random.below(layout.bitmapBytes * (this.profile.hexBitmap ? 4 : 8));
        if (this.profile.hexBitmap) {
          const at = layout.mtiBytes + (bit >> 2);
          const value = Number.parseInt(String.fromCharCode(bytes[at] ?? 0x30), 16) ^ (8 >> (bit & 3));
          bytes[at] = (Number.isNaN(value) ? 0 : value).toString(16).toUpperCase().charCodeAt(0);
        } else {
          const at = layout.mtiBytes + (bit >> 3);
          bytes[at] = (bytes[at] ?? 0) ^ (0x80 >> (bit & 7));
        }
        return bytes;
      }
      case 'mti_swap':
        bytes.set(encodeMti(this.profile, random.pick(SWAP_MTIS)).subarray(0, bytes.length), 0);
        return bytes;
      case 'field_content': {
        const region = field();
        if (region === undefined) return this.#mutateBytes(random, 'byte_set', input, layout);
        const spec = this.profile.specs[region.field];
        const from = region.start + region.prefixBytes;
        const alphabet = spec === undefined || spec.type === 'b' ? undefined : alphabetOf(spec);
        for (let at = from; at < region.end; at += 1) {
          if (!random.chance(0.5)) continue;
          bytes[at] =
            alphabet === undefined || spec?.encoding === ENCODING.bcd || random.chance(0.05)
              ? random.below(256)
              : alphabet.charCodeAt(random.below(alphabet.length));
        }
        return bytes;
      }
      case 'splice': {
        const other = pack(this.profile, random.pick(this.#templates).message);
        const cut = position();
        return concat(bytes.subarray(0, cut), other.subarray(random.below(other.length)));
      }
      default:
        return bytes;
    }
  }
}

function isMessageMutation(mutation: FuzzMutation): boolean {
  return mutation === 'field_drop' || mutation === 'field_add' || mutation === 'field_value';
}

// ---------------------------------------------------------------------------------------------------------------
// The run

export interface FuzzOptions {
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** How many frames to send. */
  readonly frames: number;
  /** Default 1. The same seed, index and samples give the same frames. */
  readonly seed?: number;
  /** The index of the first frame: to reproduce a finding, run one frame from its index. Default 0. */
  readonly first?: number;
  /** Connections, each with one frame in flight. Default 8. */
  readonly connections?: number;
  /** Must be the server's. Default ISO8583_1987_ASCII. */
  readonly profile?: Iso8583Profile;
  /** Must be the server's. Default `binary2`, 8 KiB. */
  readonly lengthHeader?: LengthHeader;
  readonly frameBytesMax?: number;
  /** Valid requests to send as they are and to mutate (see `sampleMessages`). */
  readonly validSamples: readonly IsoMessage[];
  readonly weights?: Readonly<Partial<Record<FuzzGeneratorName, number>>>;
  /** How long a frame may wait for its answer or the connection's close before it counts as a hang. Default 5 s. */
  readonly timeoutMs?: number;
  /** Findings kept in the report (all are counted). Default 20. */
  readonly findingsKept?: number;
  /** Called about every `progressEveryMs` (default 5 s). */
  readonly onProgress?: (progress: FuzzProgress) => void;
  readonly progressEveryMs?: number;
}

export interface FuzzProgress {
  readonly sent: number;
  readonly frames: number;
  readonly seconds: number;
  readonly findings: number;
}

export interface FuzzFinding {
  readonly kind:
    | 'mismatch'
    | 'hang'
    | 'system_error'
    | 'unsolicited_frame'
    | 'unprovoked_close'
    | 'codec_threw'
    | 'connect_failed';
  /** The frame's index (run again with `first` = index, 1 frame, to reproduce it). */
  readonly index: number;
  readonly generator: FuzzGeneratorName | undefined;
  readonly mutations: readonly FuzzMutation[];
  readonly frameBytes: number;
  /** The request MTI when it reads (4 digits), never other bytes of the frame. */
  readonly mti: string | undefined;
  readonly expected: string;
  readonly got: string;
}

export interface FuzzReport {
  readonly seed: number;
  readonly first: number;
  readonly profile: string;
  readonly connections: number;
  readonly frames: number;
  readonly seconds: number;
  readonly framesPerSecond: number;
  readonly byGenerator: Readonly<Record<string, number>>;
  readonly byMutation: Readonly<Record<string, number>>;
  /** What the oracle expected: answers (of which parsed, reaching the mapping, and format errors) and closes. */
  readonly expected: {
    readonly answers: number;
    readonly parsed: number;
    readonly formatErrors: number;
    readonly closes: number;
  };
  readonly answers: number;
  readonly answersByCode: Readonly<Record<string, number>>;
  readonly answersByMti: Readonly<Record<string, number>>;
  readonly closes: number;
  readonly connectionsOpened: number;
  readonly mismatches: number;
  readonly hangs: number;
  readonly systemErrors: number;
  readonly otherFindings: number;
  readonly findings: readonly FuzzFinding[];
  readonly latencyMs: { readonly mean: number; readonly max: number };
  /** The 0800 echo sent after the run: `ok`, or what went wrong. */
  readonly echo: string;
  readonly ok: boolean;
}

type Outcome =
  | { readonly kind: 'answer'; readonly frame: Uint8Array }
  | { readonly kind: 'closed' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'connect_failed'; readonly reason: string };

/** One connection with at most one frame in flight. */
class Lane {
  socket: net.Socket | undefined;
  decoder: FrameDecoder;
  waiter: ((outcome: Outcome) => void) | undefined;
  deadline = 0;
  /** The connection ended on its own while nothing was in flight. */
  unprovoked = 0;
  unsolicited = 0;
  opened = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly framing: ResolvedFraming,
  ) {
    this.decoder = new FrameDecoder(framing);
  }

  async #connect(): Promise<net.Socket> {
    let lastError = '';
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
      } catch (error) {
        socket.destroy();
        lastError =
          error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 10 * 2 ** attempt)));
        continue;
      }
      this.opened += 1;
      this.decoder = new FrameDecoder(this.framing);
      const decoder = this.decoder;
      socket.on('data', (chunk: Buffer) => {
        if (this.socket !== socket) return;
        let frame: Buffer | undefined;
        try {
          decoder.push(chunk);
          frame = decoder.next();
        } catch {
          // The server's answer framing is broken: that is a mismatch of the frame in flight.
          this.#settle({ kind: 'answer', frame: new Uint8Array(0) });
          this.#drop();
          return;
        }
        while (frame !== undefined) {
          if (this.waiter === undefined) this.unsolicited += 1;
          else this.#settle({ kind: 'answer', frame });
          try {
            frame = decoder.next();
          } catch {
            this.#drop();
            return;
          }
        }
      });
      const ended = (): void => {
        if (this.socket !== socket) return;
        this.socket = undefined;
        socket.destroy();
        if (this.waiter === undefined) this.unprovoked += 1;
        else this.#settle({ kind: 'closed' });
      };
      socket.on('end', ended);
      socket.on('close', ended);
      socket.on('error', () => undefined);
      this.socket = socket;
      return socket;
    }
    throw new Error(lastError);
  }

  #settle(outcome: Outcome): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(outcome);
  }

  #drop(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
  }

  /** Sends one frame and waits for its answer, the connection's close, or the timeout. */
  async exchange(bytes: Uint8Array, timeoutMs: number): Promise<Outcome> {
    let socket = this.socket;
    if (socket === undefined) {
      try {
        socket = await this.#connect();
      } catch (error) {
        return { kind: 'connect_failed', reason: error instanceof Error ? error.message : String(error) };
      }
    }
    const answered = new Promise<Outcome>((resolve) => {
      this.waiter = resolve;
    });
    this.deadline = performance.now() + timeoutMs;
    socket.write(bytes);
    return answered;
  }

  /** Called by the sweep: a frame past its deadline is a hang; the connection is dropped. */
  expire(now: number): void {
    if (this.waiter === undefined || now < this.deadline) return;
    this.#settle({ kind: 'timeout' });
    this.#drop();
  }

  close(): void {
    this.#drop();
  }
}

function increment(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1;
}

/** The request MTI, when the frame's first bytes read as one (digits only: safe to print). */
function mtiOf(profile: Iso8583Profile, bytes: Uint8Array): string | undefined {
  if (profile.mtiEncoding === ENCODING.bcd) {
    if (bytes.length < 2) return undefined;
    const text = Buffer.from(bytes.subarray(0, 2)).toString('hex');
    return /^[0-9]{4}$/.test(text) ? text : undefined;
  }
  if (bytes.length < 4) return undefined;
  const zero = profile.mtiEncoding === ENCODING.ebcdic ? 0xf0 : 0x30;
  let text = '';
  for (let index = 0; index < 4; index += 1) {
    const digit = (bytes[index] ?? 0) - zero;
    if (digit < 0 || digit > 9) return undefined;
    text += String(digit);
  }
  return text;
}

function describeExpectation(expected: FuzzExpectation): string {
  if (expected.kind === 'close') return `close (${expected.why})`;
  return `${expected.mti}${expected.code === undefined ? '' : ` 39=${expected.code}`}`;
}

/** Runs the fuzzer against a server and reports. Resolves (never rejects on a finding): read `report.ok`. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const host = options.host ?? '127.0.0.1';
  const profile = options.profile ?? ISO8583_1987_ASCII;
  const seed = (options.seed ?? 1) >>> 0;
  const first = options.first ?? 0;
  const total = options.frames;
  const connections = options.connections ?? 8;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const findingsKept = options.findingsKept ?? 20;
  if (!Number.isSafeInteger(total) || total < 0)
    throw new RangeError('frames must be a non-negative integer');
  if (!Number.isSafeInteger(connections) || connections < 1)
    throw new RangeError('connections must be positive');
  const framing = resolveFraming({
    ...(options.lengthHeader === undefined ? {} : { header: options.lengthHeader }),
    ...(options.frameBytesMax === undefined ? {} : { frameBytesMax: options.frameBytesMax }),
  });
  const frames = new FuzzFrames(profile, seed, options.validSamples, framing, options.weights);

  const byGenerator: Record<string, number> = {};
  const byMutation: Record<string, number> = {};
  const answersByCode: Record<string, number> = {};
  const answersByMti: Record<string, number> = {};
  const expectedCounts = { answers: 0, parsed: 0, formatErrors: 0, closes: 0 };
  const findings: FuzzFinding[] = [];
  const counts = { mismatches: 0, hangs: 0, systemErrors: 0, other: 0, answers: 0, closes: 0 };
  let latencySum = 0;
  let latencyMax = 0;
  let sent = 0;

  const find = (
    kind: FuzzFinding['kind'],
    frame: FuzzFrame | undefined,
    expected: string,
    got: string,
  ): void => {
    if (kind === 'mismatch') counts.mismatches += 1;
    else if (kind === 'hang') counts.hangs += 1;
    else if (kind === 'system_error') counts.systemErrors += 1;
    else counts.other += 1;
    if (findings.length >= findingsKept) return;
    findings.push({
      kind,
      index: frame?.index ?? -1,
      generator: frame?.generator,
      mutations: frame?.mutations ?? [],
      frameBytes: frame?.bytes.length ?? 0,
      mti: frame === undefined || frame.raw ? undefined : mtiOf(profile, frame.bytes),
      expected,
      got,
    });
  };

  const judge = (frame: FuzzFrame, expected: FuzzExpectation, outcome: Outcome): void => {
    const want = describeExpectation(expected);
    switch (outcome.kind) {
      case 'timeout':
        find('hang', frame, want, `nothing within ${timeoutMs} ms`);
        return;
      case 'connect_failed':
        find('connect_failed', frame, want, `cannot connect: ${outcome.reason}`);
        return;
      case 'closed':
        counts.closes += 1;
        if (expected.kind !== 'close') find('mismatch', frame, want, 'the connection closed');
        return;
      case 'answer':
        break;
    }
    counts.answers += 1;
    let answer: IsoMessage;
    try {
      answer = unpack(profile, outcome.frame);
    } catch (error) {
      find(
        'mismatch',
        frame,
        want,
        `an answer that does not unpack (${error instanceof Error ? error.message : 'error'})`,
      );
      return;
    }
    const code = answer.fields.get(39);
    const codeText = typeof code === 'string' ? code : 'none';
    increment(answersByCode, codeText);
    increment(answersByMti, answer.mti);
    const got = `${answer.mti} 39=${codeText}`;
    if (expected.kind === 'close') {
      find('mismatch', frame, want, got);
      return;
    }
    if (answer.mti !== expected.mti || typeof code !== 'string' || !/^[0-9A-Z]{2}$/.test(code)) {
      find('mismatch', frame, want, got);
      return;
    }
    if (expected.code !== undefined && code !== expected.code) {
      find('mismatch', frame, want, got);
      return;
    }
    if (frame.generator === 'valid' && code === '30') {
      find('mismatch', frame, `${want}, not 30 (a valid request)`, got);
      return;
    }
    if (code === '96') {
      find('system_error', frame, `${want}, not 96`, got);
      return;
    }
    const stan = answer.fields.get(11);
    if (expected.stan !== undefined && stan !== expected.stan) {
      find(
        'mismatch',
        frame,
        `${want} echoing field 11`,
        `${got}, field 11 ${stan === undefined ? 'absent' : 'different'}`,
      );
    }
  };

  const lanes = Array.from({ length: connections }, () => new Lane(host, options.port, framing));
  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const lane of lanes) lane.expire(now);
    },
    Math.max(10, Math.min(250, timeoutMs / 4)),
  );
  const progressEveryMs = options.progressEveryMs ?? 5_000;
  const started = performance.now();
  const progress =
    options.onProgress === undefined
      ? undefined
      : setInterval(() => {
          options.onProgress?.({
            sent,
            frames: total,
            seconds: (performance.now() - started) / 1_000,
            findings: counts.mismatches + counts.hangs + counts.systemErrors + counts.other,
          });
        }, progressEveryMs);

  let next = first;
  const end = first + total;
  const drive = async (lane: Lane): Promise<void> => {
    while (next < end) {
      const index = next;
      next += 1;
      const frame = frames.frame(index);
      increment(byGenerator, frame.generator);
      for (const mutation of frame.mutations) increment(byMutation, mutation);
      let expected: FuzzExpectation;
      if (frame.raw) {
        expected = { kind: 'close', why: 'framing' };
      } else {
        try {
          expected = expectationOf(profile, frame.bytes);
        } catch (error) {
          find(
            'codec_threw',
            frame,
            'an Iso8583Error or a message',
            error instanceof Error ? error.name : 'a throw',
          );
          continue;
        }
      }
      if (expected.kind === 'close') expectedCounts.closes += 1;
      else {
        expectedCounts.answers += 1;
        if (expected.parsed) expectedCounts.parsed += 1;
        if (expected.code === '30') expectedCounts.formatErrors += 1;
      }
      const wire = frame.raw ? frame.bytes : encodeFrame(frame.bytes, framing);
      const sentAt = performance.now();
      const outcome = await lane.exchange(wire, timeoutMs);
      const latency = performance.now() - sentAt;
      latencySum += latency;
      if (latency > latencyMax) latencyMax = latency;
      sent += 1;
      judge(frame, expected, outcome);
    }
  };
  try {
    await Promise.all(lanes.map((lane) => drive(lane)));
  } finally {
    clearInterval(sweep);
    if (progress !== undefined) clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1_000;
  let opened = 0;
  for (const lane of lanes) {
    opened += lane.opened;
    for (let index = 0; index < lane.unsolicited; index += 1) {
      find('unsolicited_frame', undefined, 'one answer per frame', 'an answer with no frame in flight');
    }
    for (let index = 0; index < lane.unprovoked; index += 1) {
      find('unprovoked_close', undefined, 'the connection kept open', 'closed with no frame in flight');
    }
    lane.close();
  }

  const echo = await echoCheck(host, options.port, profile, framing, timeoutMs);
  const ok =
    counts.mismatches === 0 &&
    counts.hangs === 0 &&
    counts.systemErrors === 0 &&
    counts.other === 0 &&
    echo === 'ok';
  return {
    seed,
    first,
    profile: profile.name,
    connections,
    frames: sent,
    seconds,
    framesPerSecond: seconds > 0 ? sent / seconds : 0,
    byGenerator,
    byMutation,
    expected: expectedCounts,
    answers: counts.answers,
    answersByCode,
    answersByMti,
    closes: counts.closes,
    connectionsOpened: opened,
    mismatches: counts.mismatches,
    hangs: counts.hangs,
    systemErrors: counts.systemErrors,
    otherFindings: counts.other,
    findings,
    latencyMs: { mean: sent === 0 ? 0 : latencySum / sent, max: latencyMax },
    echo,
    ok,
  };
}

/** After the run, on a new connection: an 0800 echo must be answered 0810 with 39 = 00 and its STAN. */
async function echoCheck(
  host: string,
  port: number,
  profile: Iso8583Profile,
  framing: ResolvedFraming,
  timeoutMs: number,
): Promise<string> {
  const lane = new Lane(host, port, framing);
  const sweep = setInterval(() => lane.expire(performance.now()), 50);
  try {
    const stan = '424242';
    const request = networkManagement('echo', { stan, transmissionTime: transmissionTimeOf(new Date()) });
    const outcome = await lane.exchange(encodeFrame(pack(profile, request), framing), timeoutMs);
    if (outcome.kind === 'connect_failed') return `cannot connect: ${outcome.reason}`;
    if (outcome.kind === 'timeout') return `no answer within ${timeoutMs} ms`;
    if (outcome.kind === 'closed') return 'the server closed the connection';
    const answer = unpack(profile, outcome.frame);
    if (answer.mti !== '0810' || answer.fields.get(39) !== '00' || answer.fields.get(11) !== stan) {
      return `answered ${answer.mti} 39=${String(answer.fields.get(39))}`;
    }
    return 'ok';
  } catch (error) {
    return `failed: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    clearInterval(sweep);
    lane.close();
  }
}

const number = (value: number): string => Math.round(value).toLocaleString('en-US');

/** `key count, …` in key order; past `most` entries, the largest ones and the rest summed. */
function tally(record: Readonly<Record<string, number>>, most = 40): string {
  let entries = Object.entries(record);
  let rest = 0;
  if (entries.length > most) {
    entries.sort(([, a], [, b]) => b - a);
    for (const [, value] of entries.slice(most)) rest += value;
    entries = entries.slice(0, most);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : 1));
  const text = entries.map(([key, value]) => `${key} ${number(value)}`).join(', ');
  return rest === 0 ? text : `${text}, others ${number(rest)}`;
}

/** The report as lines for a terminal: counts and findings, never a frame's bytes. */
export function formatFuzzReport(report: FuzzReport): string {
  const lines = [
    `iso8583 fuzz: ${report.ok ? 'OK' : 'FAILED'} — ${number(report.frames)} frames in ${report.seconds.toFixed(1)} s (${number(report.framesPerSecond)} frames/s), seed ${report.seed}, first ${report.first}, ${report.connections} connections, ${report.profile}`,
    `  by generator: ${tally(report.byGenerator)}`,
    `  mutations:    ${tally(report.byMutation)}`,
    `  expected:     ${number(report.expected.answers)} answers (${number(report.expected.parsed)} parsed, ${number(report.expected.formatErrors)} format errors), ${number(report.expected.closes)} closes`,
    `  answers:      ${number(report.answers)}; by response code: ${tally(report.answersByCode)}`,
    `  answer MTIs:  ${tally(report.answersByMti, 12)}`,
    `  closes:       ${number(report.closes)}; connections opened ${number(report.connectionsOpened)}`,
    `  latency:      mean ${report.latencyMs.mean.toFixed(2)} ms, max ${report.latencyMs.max.toFixed(1)} ms`,
    `  findings:     ${number(report.mismatches)} mismatches, ${number(report.hangs)} hangs, ${number(report.systemErrors)} system errors (96), ${number(report.otherFindings)} other`,
    `  echo after:   ${report.echo}`,
  ];
  for (const finding of report.findings) {
    lines.push(
      `  - ${finding.kind} at frame ${finding.index} (${finding.generator ?? '-'}${finding.mutations.length === 0 ? '' : `: ${finding.mutations.join('+')}`}, ${finding.frameBytes} bytes, MTI ${finding.mti ?? 'unreadable'}): expected ${finding.expected}, got ${finding.got}`,
    );
  }
  return lines.join('\n');
}
