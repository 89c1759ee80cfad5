/**
 * Message layouts as data (after moov-io/iso8583): a profile says how the MTI and bitmaps are encoded and, per field
 * 2–128, its content type, its length (fixed, or LL/LLL with a maximum), how its content and its length prefix are
 * encoded, which field carries CVV2 and which fields hold card data to mask. A profile is plain JSON-shaped data
 * (`ProfileDefinition`); `defineProfile` checks it and precompiles it into the `Iso8583Profile` the codec runs on.
 *
 * Units: `length` counts characters for text and digits for `n`/`z` (BCD or not), and bytes for `b`. An LL/LLL prefix
 * carries the same unit: digits for a BCD numeric, bytes for binary content.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { BCD_TRACK2_CHARSET, CHARSETS, CONTENT_TYPES, type ContentType } from './encodings.js';

export type { ContentType } from './encodings.js';

/** How a field's content is encoded. `bcd` is for `n` and `z` only; `binary` is for `b` and `b` is always binary. */
export type ContentEncoding = 'ascii' | 'ebcdic' | 'bcd' | 'binary';
/** How an LL/LLL length prefix is encoded: decimal digits in ASCII or EBCDIC, BCD (LL one byte, LLL two bytes with a
 * leading 0 nibble), or an unsigned big-endian binary count (LL one byte, LLL two bytes). */
export type PrefixEncoding = 'ascii' | 'ebcdic' | 'bcd' | 'binary';
export type LengthKind = 'fixed' | 'LL' | 'LLL';

export interface FieldDefinition {
  readonly type: ContentType;
  /** The fixed length, or the maximum for LL/LLL (characters, digits, or bytes for `b`). */
  readonly length: number;
  readonly prefix: LengthKind;
  readonly encoding: ContentEncoding;
  /** Required for LL/LLL, absent for fixed fields. */
  readonly prefixEncoding?: PrefixEncoding;
  readonly description?: string;
}

/**
 * Where CVV2 travels. Without `tag` the whole value of `field` is the CVV2. With `tag`, the field's value is read as a
 * run of tag-length-value elements: the tag (as many characters as `tag` has), a two-digit decimal length, the value
 * (Mastercard's DE 48 subelement 92 style, without the leading transaction category code). See `readCvv2`.
 */
export interface Cvv2Location {
  readonly field: number;
  readonly tag?: string;
}

export interface ProfileDefinition {
  readonly name: string;
  /** `ascii`: four digit characters; `bcd`: two bytes; `ebcdic`: four EBCDIC digits. */
  readonly mti: 'ascii' | 'bcd' | 'ebcdic';
  /** `binary`: 8 bytes per bitmap; `hex`: 16 uppercase ASCII hex characters per bitmap. */
  readonly bitmap: 'binary' | 'hex';
  /** Keys are field numbers 2–128 written without leading zeros. */
  readonly fields: Readonly<Record<string, FieldDefinition>>;
  readonly cvv2: Cvv2Location;
  /** Card data to mask in errors: `pan` keeps the first 6 and last 4 digits, `full` hides everything. */
  readonly mask: { readonly pan: readonly number[]; readonly full: readonly number[] };
}

export const ENCODING = { ascii: 0, ebcdic: 1, bcd: 2, binary: 3 } as const;
export const MASK_NONE = 0;
export const MASK_PAN = 1;
export const MASK_FULL = 2;

/** One field, precompiled: numbers instead of strings, its charset table, its padding. */
export interface CompiledField {
  readonly field: number;
  readonly type: ContentType;
  /** 0 fixed, 2 LL, 3 LLL (the number of prefix digits). */
  readonly prefixDigits: 0 | 2 | 3;
  readonly length: number;
  readonly encoding: 0 | 1 | 2 | 3;
  readonly prefixEncoding: 0 | 1 | 2 | 3;
  /** Bytes the prefix takes: ASCII/EBCDIC 2 or 3, BCD 1 or 2, binary 1 (LL) or 2 (LLL). */
  readonly prefixBytes: number;
  /** 128-entry 0/1 table of allowed character codes (unused for `b`). */
  readonly charset: Uint8Array;
  /** Fixed numerics pad on the left with '0'; other fixed text on the right with ' '. */
  readonly padLeft: boolean;
  readonly padChar: string;
  readonly mask: 0 | 1 | 2;
}

export interface Iso8583Profile {
  readonly definition: ProfileDefinition;
  readonly name: string;
  readonly mtiEncoding: 0 | 1 | 2;
  readonly hexBitmap: boolean;
  /** Indexed by field number 0–128; undefined where the profile has no spec. */
  readonly specs: readonly (CompiledField | undefined)[];
  readonly cvv2: Cvv2Location;
}

/** A profile definition that fails its checks; `path` names the place (e.g. `fields.48.length`). */
export class ProfileError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`ISO 8583 profile: ${path === '' ? 'profile' : path}: ${reason}`);
    this.name = 'ProfileError';
  }
}

const FieldSchema = Type.Object(
  {
    type: Type.Enum(CONTENT_TYPES),
    length: Type.Integer({ minimum: 1, maximum: 9999 }),
    prefix: Type.Enum(['fixed', 'LL', 'LLL']),
    encoding: Type.Enum(['ascii', 'ebcdic', 'bcd', 'binary']),
    prefixEncoding: Type.Optional(Type.Enum(['ascii', 'ebcdic', 'bcd', 'binary'])),
    description: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const ProfileSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    mti: Type.Enum(['ascii', 'bcd', 'ebcdic']),
    bitmap: Type.Enum(['binary', 'hex']),
    fields: Type.Record(Type.String(), FieldSchema),
    cvv2: Type.Object(
      { field: Type.Integer(), tag: Type.Optional(Type.String({ minLength: 1, maxLength: 8 })) },
      { additionalProperties: false },
    ),
    mask: Type.Object(
      {
        pan: Type.Array(Type.Integer(), { maxItems: 128 }),
        full: Type.Array(Type.Integer(), { maxItems: 128 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
// The schema and the interface must describe the same shape.
type _SchemaMatches = Static<typeof ProfileSchema> extends ProfileDefinition ? true : never;
const _schemaMatches: _SchemaMatches = true;

function fieldKey(field: number): string {
  return `fields.${field}`;
}

/** Checks a definition and precompiles it. Throws ProfileError naming the field and what is wrong. */
export function defineProfile(definition: ProfileDefinition): Iso8583Profile {
  const errors = [...Value.Errors(ProfileSchema, definition)];
  const first = errors.find((error) => error.keyword !== 'boolean') ?? errors[0];
  if (first !== undefined) {
    const path = first.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const allowed = (first.params as { allowedValues?: unknown }).allowedValues;
    const extra = (first.params as { additionalProperties?: unknown }).additionalProperties;
    const detail = Array.isArray(allowed)
      ? ` (one of ${allowed.map(String).join(', ')})`
      : Array.isArray(extra)
        ? ` (${extra.map(String).join(', ')})`
        : '';
    throw new ProfileError(path, `${first.message}${detail}`);
  }
  const specs: (CompiledField | undefined)[] = new Array<CompiledField | undefined>(129).fill(undefined);
  const maskOf = new Map<number, 0 | 1 | 2>();
  for (const [which, list] of [
    ['pan', definition.mask.pan],
    ['full', definition.mask.full],
  ] as const) {
    list.forEach((field, index) => {
      if (definition.fields[String(field)] === undefined) {
        throw new ProfileError(`mask.${which}.${index}`, `field ${field} is not defined in the profile`);
      }
      if (maskOf.has(field))
        throw new ProfileError(`mask.${which}.${index}`, `field ${field} is listed twice`);
      maskOf.set(field, which === 'pan' ? MASK_PAN : MASK_FULL);
    });
  }
  for (const [key, spec] of Object.entries(definition.fields)) {
    const field = Number(key);
    if (!/^[1-9][0-9]{0,2}$/.test(key) || field < 2 || field > 128) {
      throw new ProfileError(`fields.${key}`, 'field numbers are 2 to 128, without leading zeros');
    }
    const where = fieldKey(field);
    if ((spec.type === 'b') !== (spec.encoding === 'binary')) {
      throw new ProfileError(
        `${where}.encoding`,
        'binary content (type b) must use encoding binary, and only it',
      );
    }
    if (spec.encoding === 'bcd' && spec.type !== 'n' && spec.type !== 'z') {
      throw new ProfileError(`${where}.encoding`, `bcd encodes only types n and z, not ${spec.type}`);
    }
    if (spec.prefix === 'fixed') {
      if (spec.prefixEncoding !== undefined) {
        throw new ProfileError(`${where}.prefixEncoding`, 'a fixed-length field has no length prefix');
      }
      if (spec.type === 'xn' && spec.length < 2) {
        throw new ProfileError(`${where}.length`, 'an xn field holds a sign and at least one digit');
      }
    } else {
      if (spec.prefixEncoding === undefined) {
        throw new ProfileError(`${where}.prefixEncoding`, `an ${spec.prefix} field needs a prefixEncoding`);
      }
      const limit =
        spec.prefixEncoding === 'binary'
          ? spec.prefix === 'LL'
            ? 255
            : 65535
          : spec.prefix === 'LL'
            ? 99
            : 999;
      if (spec.length > limit) {
        throw new ProfileError(
          `${where}.length`,
          `${spec.length} exceeds what a ${spec.prefixEncoding} ${spec.prefix} prefix holds (${limit})`,
        );
      }
    }
    const mask = maskOf.get(field) ?? MASK_NONE;
    if (mask === MASK_PAN && spec.type !== 'n') {
      throw new ProfileError(`${where}.type`, 'a field masked as a PAN must have type n');
    }
    const prefixDigits = spec.prefix === 'fixed' ? 0 : spec.prefix === 'LL' ? 2 : 3;
    const prefixEncoding = ENCODING[spec.prefixEncoding ?? 'ascii'];
    const prefixBytes =
      prefixDigits === 0
        ? 0
        : prefixEncoding === ENCODING.bcd || prefixEncoding === ENCODING.binary
          ? prefixDigits - 1
          : prefixDigits;
    specs[field] = {
      field,
      type: spec.type,
      prefixDigits,
      length: spec.length,
      encoding: ENCODING[spec.encoding],
      prefixEncoding,
      prefixBytes,
      charset:
        spec.type === 'b'
          ? new Uint8Array(128)
          : spec.type === 'z' && spec.encoding === 'bcd'
            ? BCD_TRACK2_CHARSET
            : CHARSETS[spec.type],
      padLeft: spec.type === 'n',
      padChar: spec.type === 'n' ? '0' : ' ',
      mask,
    };
  }
  const cvv2Spec = specs[definition.cvv2.field];
  if (cvv2Spec === undefined) {
    throw new ProfileError('cvv2.field', `field ${definition.cvv2.field} is not defined in the profile`);
  }
  if (cvv2Spec.type === 'b') throw new ProfileError('cvv2.field', 'CVV2 cannot travel in a binary field');
  if (cvv2Spec.mask !== MASK_FULL) {
    throw new ProfileError(
      'cvv2.field',
      `field ${definition.cvv2.field} carries CVV2 so must be listed in mask.full`,
    );
  }
  if (definition.cvv2.tag !== undefined && !/^[\x20-\x7e]+$/.test(definition.cvv2.tag)) {
    throw new ProfileError('cvv2.tag', 'must be printable ASCII');
  }
  return {
    definition,
    name: definition.name,
    mtiEncoding: definition.mti === 'ascii' ? 0 : definition.mti === 'ebcdic' ? 1 : 2,
    hexBitmap: definition.bitmap === 'hex',
    specs,
    cvv2: definition.cvv2,
  };
}

/** Parses a profile from JSON text. Throws ProfileError (path '' for JSON syntax errors). */
export function parseProfile(json: string): Iso8583Profile {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new ProfileError('', `not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return defineProfile(value as ProfileDefinition);
}

/** Reads and parses a profile file. */
export function loadProfile(path: string): Iso8583Profile {
  return parseProfile(readFileSync(path, 'utf8'));
}

/**
 * Reads CVV2 from a message as the profile places it; undefined when the field (or the tag) is absent. Never log
 * the result.
 */
export function readCvv2(
  profile: Iso8583Profile,
  fields: ReadonlyMap<number, string | Uint8Array>,
): string | undefined {
  const value = fields.get(profile.cvv2.field);
  if (typeof value !== 'string') return undefined;
  const tag = profile.cvv2.tag;
  if (tag === undefined) return value;
  // Bounded: each element advances at least tag.length + 2 characters.
  let position = 0;
  while (position + tag.length + 2 <= value.length) {
    const length = Number(value.slice(position + tag.length, position + tag.length + 2));
    if (!Number.isInteger(length) || length < 0) return undefined;
    const start = position + tag.length + 2;
    if (start + length > value.length) return undefined;
    if (value.startsWith(tag, position)) return value.slice(start, start + length);
    position = start + length;
  }
  return undefined;
}

/** The value to put in the CVV2 field for `cvv2`, the inverse of `readCvv2` for a field that carries nothing else. */
export function cvv2FieldValue(profile: Iso8583Profile, cvv2: string): string {
  const tag = profile.cvv2.tag;
  return tag === undefined ? cvv2 : `${tag}${String(cvv2.length).padStart(2, '0')}${cvv2}`;
}

type Row = readonly [ContentType, LengthKind, number, string];

/**
 * ISO 8583:1987 data elements 2–128 (type, length kind, length or maximum, name). Departures from the standard:
 * - 55: the standard reserves it (ans..999 LLL); we carry EMV ICC data there as b..255 LLL, as networks did later.
 * - 65: the standard has `b 1`, a bit announcing a tertiary bitmap; tertiary bitmaps are not supported, so 65 is
 *   carried as 8 opaque bytes (the size such a bitmap has).
 * - 34 (ns) and 45 (an, but track 1 carries `^` and `/`) are `ans` here.
 * - 49–51 are `an` 3: the standard's `a or n`, so both the numeric codes networks send ('344') and alphabetic ones
 *   ('HKD') are read.
 */
const TABLE_1987: Readonly<Record<number, Row>> = {
  2: ['n', 'LL', 19, 'Primary account number'],
  3: ['n', 'fixed', 6, 'Processing code'],
  4: ['n', 'fixed', 12, 'Amount, transaction'],
  5: ['n', 'fixed', 12, 'Amount, settlement'],
  6: ['n', 'fixed', 12, 'Amount, cardholder billing'],
  7: ['n', 'fixed', 10, 'Transmission date and time'],
  8: ['n', 'fixed', 8, 'Amount, cardholder billing fee'],
  9: ['n', 'fixed', 8, 'Conversion rate, settlement'],
  10: ['n', 'fixed', 8, 'Conversion rate, cardholder billing'],
  11: ['n', 'fixed', 6, 'System trace audit number'],
  12: ['n', 'fixed', 6, 'Time, local transaction (hhmmss)'],
  13: ['n', 'fixed', 4, 'Date, local transaction (MMDD)'],
  14: ['n', 'fixed', 4, 'Date, expiration (YYMM)'],
  15: ['n', 'fixed', 4, 'Date, settlement'],
  16: ['n', 'fixed', 4, 'Date, conversion'],
  17: ['n', 'fixed', 4, 'Date, capture'],
  18: ['n', 'fixed', 4, 'Merchant type'],
  19: ['n', 'fixed', 3, 'Acquiring institution country code'],
  20: ['n', 'fixed', 3, 'PAN extended, country code'],
  21: ['n', 'fixed', 3, 'Forwarding institution country code'],
  22: ['n', 'fixed', 3, 'Point of service entry mode'],
  23: ['n', 'fixed', 3, 'Card sequence number'],
  24: ['n', 'fixed', 3, 'Network international identifier'],
  25: ['n', 'fixed', 2, 'Point of service condition code'],
  26: ['n', 'fixed', 2, 'Point of service capture code'],
  27: ['n', 'fixed', 1, 'Authorizing identification response length'],
  28: ['xn', 'fixed', 9, 'Amount, transaction fee'],
  29: ['xn', 'fixed', 9, 'Amount, settlement fee'],
  30: ['xn', 'fixed', 9, 'Amount, transaction processing fee'],
  31: ['xn', 'fixed', 9, 'Amount, settlement processing fee'],
  32: ['n', 'LL', 11, 'Acquiring institution identification code'],
  33: ['n', 'LL', 11, 'Forwarding institution identification code'],
  34: ['ans', 'LL', 28, 'Primary account number, extended'],
  35: ['z', 'LL', 37, 'Track 2 data'],
  36: ['n', 'LLL', 104, 'Track 3 data'],
  37: ['an', 'fixed', 12, 'Retrieval reference number'],
  38: ['an', 'fixed', 6, 'Authorization identification response'],
  39: ['an', 'fixed', 2, 'Response code'],
  40: ['an', 'fixed', 3, 'Service restriction code'],
  41: ['ans', 'fixed', 8, 'Card acceptor terminal identification'],
  42: ['ans', 'fixed', 15, 'Card acceptor identification code'],
  43: ['ans', 'fixed', 40, 'Card acceptor name/location'],
  44: ['an', 'LL', 25, 'Additional response data'],
  45: ['ans', 'LL', 76, 'Track 1 data'],
  46: ['an', 'LLL', 999, 'Additional data, ISO'],
  47: ['an', 'LLL', 999, 'Additional data, national'],
  48: ['ans', 'LLL', 999, 'Additional data, private'],
  49: ['an', 'fixed', 3, 'Currency code, transaction'],
  50: ['an', 'fixed', 3, 'Currency code, settlement'],
  51: ['an', 'fixed', 3, 'Currency code, cardholder billing'],
  52: ['b', 'fixed', 8, 'Personal identification number data'],
  53: ['n', 'fixed', 16, 'Security related control information'],
  54: ['an', 'LLL', 120, 'Additional amounts'],
  55: ['b', 'LLL', 255, 'ICC data (reserved ISO in 1987)'],
  56: ['ans', 'LLL', 999, 'Reserved ISO'],
  57: ['ans', 'LLL', 999, 'Reserved national'],
  58: ['ans', 'LLL', 999, 'Reserved national'],
  59: ['ans', 'LLL', 999, 'Reserved national'],
  60: ['ans', 'LLL', 999, 'Reserved national'],
  61: ['ans', 'LLL', 999, 'Reserved private'],
  62: ['ans', 'LLL', 999, 'Reserved private'],
  63: ['ans', 'LLL', 999, 'Reserved private'],
  64: ['b', 'fixed', 8, 'Message authentication code'],
  65: ['b', 'fixed', 8, 'Extended bitmap indicator (opaque)'],
  66: ['n', 'fixed', 1, 'Settlement code'],
  67: ['n', 'fixed', 2, 'Extended payment code'],
  68: ['n', 'fixed', 3, 'Receiving institution country code'],
  69: ['n', 'fixed', 3, 'Settlement institution country code'],
  70: ['n', 'fixed', 3, 'Network management information code'],
  71: ['n', 'fixed', 4, 'Message number'],
  72: ['n', 'fixed', 4, 'Message number, last'],
  73: ['n', 'fixed', 6, 'Date, action (YYMMDD)'],
  74: ['n', 'fixed', 10, 'Credits, number'],
  75: ['n', 'fixed', 10, 'Credits, reversal number'],
  76: ['n', 'fixed', 10, 'Debits, number'],
  77: ['n', 'fixed', 10, 'Debits, reversal number'],
  78: ['n', 'fixed', 10, 'Transfer, number'],
  79: ['n', 'fixed', 10, 'Transfer, reversal number'],
  80: ['n', 'fixed', 10, 'Inquiries, number'],
  81: ['n', 'fixed', 10, 'Authorizations, number'],
  82: ['n', 'fixed', 12, 'Credits, processing fee amount'],
  83: ['n', 'fixed', 12, 'Credits, transaction fee amount'],
  84: ['n', 'fixed', 12, 'Debits, processing fee amount'],
  85: ['n', 'fixed', 12, 'Debits, transaction fee amount'],
  86: ['n', 'fixed', 16, 'Credits, amount'],
  87: ['n', 'fixed', 16, 'Credits, reversal amount'],
  88: ['n', 'fixed', 16, 'Debits, amount'],
  89: ['n', 'fixed', 16, 'Debits, reversal amount'],
  90: ['n', 'fixed', 42, 'Original data elements'],
  91: ['an', 'fixed', 1, 'File update code'],
  92: ['an', 'fixed', 2, 'File security code'],
  93: ['an', 'fixed', 5, 'Response indicator'],
  94: ['an', 'fixed', 7, 'Service indicator'],
  95: ['an', 'fixed', 42, 'Replacement amounts'],
  96: ['b', 'fixed', 8, 'Message security code'],
  97: ['xn', 'fixed', 17, 'Amount, net settlement'],
  98: ['ans', 'fixed', 25, 'Payee'],
  99: ['n', 'LL', 11, 'Settlement institution identification code'],
  100: ['n', 'LL', 11, 'Receiving institution identification code'],
  101: ['ans', 'LL', 17, 'File name'],
  102: ['ans', 'LL', 28, 'Account identification 1'],
  103: ['ans', 'LL', 28, 'Account identification 2'],
  104: ['ans', 'LLL', 100, 'Transaction description'],
  128: ['b', 'fixed', 8, 'Message authentication code'],
};
for (let field = 105; field <= 127; field += 1) {
  const kind = field <= 111 ? 'ISO' : field <= 119 ? 'national' : 'private';
  (TABLE_1987 as Record<number, Row>)[field] = ['ans', 'LLL', 999, `Reserved ${kind}`];
}

/** Card data the built-in profiles mask: PAN (2), expiry (14), track 2 (35), track 1 (45), PIN block (52), CVV2 (48). */
const MASK_1987 = { pan: [2], full: [14, 34, 35, 36, 45, 48, 52, 55] } as const;

function table1987(
  encode: (type: ContentType) => { encoding: ContentEncoding; prefixEncoding: PrefixEncoding },
): Record<string, FieldDefinition> {
  const fields: Record<string, FieldDefinition> = {};
  for (const [key, [type, prefix, length, description]] of Object.entries(TABLE_1987)) {
    const { encoding, prefixEncoding } = encode(type);
    fields[key] =
      prefix === 'fixed'
        ? { type, length, prefix, encoding, description }
        : { type, length, prefix, encoding, prefixEncoding, description };
  }
  return fields;
}

/** ISO 8583:1987, ASCII MTI, binary bitmaps, ASCII content and ASCII length prefixes; CVV2 is the whole of field 48. */
export const ISO8583_1987_ASCII: Iso8583Profile = defineProfile({
  name: 'ISO8583_1987_ASCII',
  mti: 'ascii',
  bitmap: 'binary',
  fields: table1987((type) => ({ encoding: type === 'b' ? 'binary' : 'ascii', prefixEncoding: 'ascii' })),
  cvv2: { field: 48 },
  mask: MASK_1987,
});

/** ISO 8583:1987 with a BCD MTI, binary bitmaps, BCD numerics (n, z) and BCD length prefixes, ASCII text. */
export const ISO8583_1987_BCD: Iso8583Profile = defineProfile({
  name: 'ISO8583_1987_BCD',
  mti: 'bcd',
  bitmap: 'binary',
  fields: table1987((type) => ({
    encoding: type === 'b' ? 'binary' : type === 'n' || type === 'z' ? 'bcd' : 'ascii',
    prefixEncoding: 'bcd',
  })),
  cvv2: { field: 48 },
  mask: MASK_1987,
});
