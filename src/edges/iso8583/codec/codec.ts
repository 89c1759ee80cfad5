/**
 * ISO 8583 pack and unpack over a precompiled profile (profile.ts). Hand-written for speed: one reused output buffer
 * that grows, bitmaps in a scratch array, character checks by table lookup, strings decoded with Buffer's latin1
 * slice. Every failure is an Iso8583Error naming the field and the byte offset; every loop is bounded by the 128
 * fields and by the input's length, so no input makes it hang.
 *
 * Values: strings for n, a, an, ans, z and xn; Uint8Array for b. Fixed-length numerics shorter than the field are
 * left-padded with '0' on pack, fixed a/an/ans right-padded with spaces; fixed b, z and xn values must be exact. Unpack
 * returns a fixed field's full content, padding included, so unpack → pack gives back the same bytes. BCD numerics of
 * odd length carry a leading 0 nibble, which unpack requires to be 0.
 */
import {
  ASCII_TO_EBCDIC,
  BCD_PAIRS,
  BCD_TRACK2_PAIRS,
  EBCDIC_TO_ASCII,
  HEX_UPPER,
  HEX_VALUE,
} from './encodings.js';
import { Iso8583Error, maskRaw } from './errors.js';
import { ENCODING, type CompiledField, type Iso8583Profile } from './profile.js';

export interface IsoMessage {
  readonly mti: string;
  /** Data elements 2–128. Bitmaps are computed on pack and never appear here. */
  readonly fields: ReadonlyMap<number, string | Uint8Array>;
}

const ASCII_ZERO = 0x30;
const ASCII_SPACE = 0x20;
const EBCDIC_ZERO = 0xf0;
const SIGN_C = 0x43;
const SIGN_D = 0x44;
const EQUALS = 0x3d;

/** Buffer's latin1 decoder without `toString`'s argument checks (present on every Node Buffer, but untyped). */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

// ---------------------------------------------------------------------------------------------------------------
// pack

/** The output buffer, reused across calls and doubled when a message needs more; pack copies the result out. */
let output: Buffer = Buffer.allocUnsafe(1024);
let position = 0;
const packBitmap = new Uint8Array(16);

function ensure(bytes: number): void {
  if (position + bytes <= output.length) return;
  let size = output.length * 2;
  while (size < position + bytes) size *= 2;
  const grown = Buffer.allocUnsafe(size);
  output.copy(grown, 0, 0, position);
  output = grown;
}

function writeDigitChars(value: number, count: number, zero: number): void {
  ensure(count);
  for (let index = count - 1; index >= 0; index -= 1) {
    output[position + index] = zero + (value % 10);
    value = Math.floor(value / 10);
  }
  position += count;
}

function writePrefix(spec: CompiledField, count: number): void {
  switch (spec.prefixEncoding) {
    case ENCODING.ascii:
      writeDigitChars(count, spec.prefixDigits, ASCII_ZERO);
      return;
    case ENCODING.ebcdic:
      writeDigitChars(count, spec.prefixDigits, EBCDIC_ZERO);
      return;
    case ENCODING.bcd:
      ensure(2);
      if (spec.prefixDigits === 3) output[position++] = Math.floor(count / 100);
      output[position++] = ((Math.floor(count / 10) % 10) << 4) | (count % 10);
      return;
    case ENCODING.binary:
      ensure(2);
      if (spec.prefixDigits === 3) output[position++] = count >> 8;
      output[position++] = count & 0xff;
      return;
  }
}

function packFailure(field: number, reason: string): Iso8583Error {
  return new Iso8583Error(field, position, reason);
}

function nibbleOf(code: number): number {
  return code === EQUALS ? 0x0d : code - ASCII_ZERO;
}

function writeField(spec: CompiledField, value: string | Uint8Array | undefined): void {
  const field = spec.field;
  const fixed = spec.prefixDigits === 0;
  if (spec.type === 'b') {
    if (!(value instanceof Uint8Array)) throw packFailure(field, 'binary field needs a Uint8Array');
    const count = value.length;
    if (fixed ? count !== spec.length : count > spec.length) {
      throw packFailure(
        field,
        `is ${count} bytes; the field takes ${fixed ? 'exactly' : 'at most'} ${spec.length}`,
      );
    }
    if (!fixed) writePrefix(spec, count);
    ensure(count);
    output.set(value, position);
    position += count;
    return;
  }
  if (typeof value !== 'string') throw packFailure(field, `${spec.type} field needs a string`);
  const count = value.length;
  const exact = spec.type === 'z' || spec.type === 'xn';
  if (fixed ? count > spec.length || (exact && count !== spec.length) : count > spec.length) {
    throw packFailure(
      field,
      `is ${count} characters; the field takes ${fixed && exact ? 'exactly' : 'at most'} ${spec.length}`,
    );
  }
  const charset = spec.charset;
  const signed = spec.type === 'xn';
  for (let index = 0; index < count; index += 1) {
    const code = value.charCodeAt(index);
    const allowed = signed
      ? index === 0
        ? code === SIGN_C || code === SIGN_D
        : code >= ASCII_ZERO && code <= ASCII_ZERO + 9
      : code < 128 && charset[code] === 1;
    if (!allowed) throw packFailure(field, `character ${index + 1} is not allowed in a ${spec.type} field`);
  }
  const total = fixed ? spec.length : count;
  const pad = total - count;
  if (!fixed) writePrefix(spec, count);
  if (spec.encoding === ENCODING.bcd) {
    // Nibble k of the padded digit string; an odd total gets one leading 0 nibble.
    const odd = total & 1;
    const bytes = (total + odd) >> 1;
    ensure(bytes);
    for (let byte = 0; byte < bytes; byte += 1) {
      const high = 2 * byte - odd;
      const low = high + 1;
      const highNibble = high < pad ? 0 : nibbleOf(value.charCodeAt(high - pad));
      const lowNibble = low < pad ? 0 : nibbleOf(value.charCodeAt(low - pad));
      output[position + byte] = (highNibble << 4) | lowNibble;
    }
    position += bytes;
    return;
  }
  ensure(total);
  const ebcdic = spec.encoding === ENCODING.ebcdic;
  let at = position;
  if (spec.padLeft) {
    const padByte = ebcdic ? EBCDIC_ZERO : ASCII_ZERO;
    for (let index = 0; index < pad; index += 1) output[at++] = padByte;
  }
  if (ebcdic) {
    for (let index = 0; index < count; index += 1)
      output[at++] = ASCII_TO_EBCDIC[value.charCodeAt(index)] ?? 0;
  } else {
    for (let index = 0; index < count; index += 1) output[at++] = value.charCodeAt(index);
  }
  if (!spec.padLeft) {
    const padByte = ebcdic ? (ASCII_TO_EBCDIC[ASCII_SPACE] ?? 0) : ASCII_SPACE;
    for (let index = 0; index < pad; index += 1) output[at++] = padByte;
  }
  position = at;
}

function writeBitmap(profile: Iso8583Profile, from: number): void {
  if (profile.hexBitmap) {
    ensure(16);
    for (let index = from; index < from + 8; index += 1) {
      const byte = packBitmap[index] ?? 0;
      output[position++] = HEX_UPPER[byte >> 4] ?? 0;
      output[position++] = HEX_UPPER[byte & 0x0f] ?? 0;
    }
  } else {
    ensure(8);
    for (let index = from; index < from + 8; index += 1) output[position++] = packBitmap[index] ?? 0;
  }
}

/** Encodes a message. Throws Iso8583Error (with an empty `raw`) when a value does not fit its field's spec. */
export function pack(profile: Iso8583Profile, message: IsoMessage): Uint8Array {
  position = 0;
  const mti = message.mti;
  if (typeof mti !== 'string' || mti.length !== 4) throw new Iso8583Error('mti', 0, 'must be 4 digits');
  for (let index = 0; index < 4; index += 1) {
    const code = mti.charCodeAt(index);
    if (code < ASCII_ZERO || code > ASCII_ZERO + 9) throw new Iso8583Error('mti', 0, 'must be 4 digits');
  }
  ensure(4);
  if (profile.mtiEncoding === ENCODING.bcd) {
    output[position++] = ((mti.charCodeAt(0) - ASCII_ZERO) << 4) | (mti.charCodeAt(1) - ASCII_ZERO);
    output[position++] = ((mti.charCodeAt(2) - ASCII_ZERO) << 4) | (mti.charCodeAt(3) - ASCII_ZERO);
  } else {
    const zero = profile.mtiEncoding === ENCODING.ebcdic ? EBCDIC_ZERO : ASCII_ZERO;
    for (let index = 0; index < 4; index += 1) output[position++] = mti.charCodeAt(index) - ASCII_ZERO + zero;
  }
  packBitmap.fill(0);
  const specs = profile.specs;
  for (const field of message.fields.keys()) {
    if (!Number.isInteger(field) || field < 1 || field > 128) {
      throw new Iso8583Error('bitmap', position, 'field numbers are integers from 2 to 128');
    }
    if (field === 1) throw packFailure(1, 'the secondary bitmap is computed, not given');
    if (specs[field] === undefined) throw packFailure(field, `has no spec in profile ${profile.name}`);
    const bit = field - 1;
    packBitmap[bit >> 3] = (packBitmap[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  }
  let secondary = false;
  for (let index = 8; index < 16; index += 1) if (packBitmap[index] !== 0) secondary = true;
  if (secondary) packBitmap[0] = (packBitmap[0] ?? 0) | 0x80;
  writeBitmap(profile, 0);
  if (secondary) writeBitmap(profile, 8);
  const lastByte = secondary ? 16 : 8;
  for (let index = 0; index < lastByte; index += 1) {
    const byte = packBitmap[index] ?? 0;
    if (byte === 0) continue;
    for (let bit = 0; bit < 8; bit += 1) {
      if ((byte & (0x80 >> bit)) === 0) continue;
      const field = index * 8 + bit + 1;
      if (field === 1) continue;
      const spec = specs[field];
      if (spec !== undefined) writeField(spec, message.fields.get(field));
    }
  }
  const result = new Uint8Array(position);
  output.copy(result, 0, 0, position);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// unpack

/** Regions read so far (field, start, end, content count), kept for masking the input when an error is raised. */
const regions = new Int32Array(4 * 130);
let regionCount = 0;
/**
 * Where the field being read ends, as far as its length prefix has told: an error keeps the failing field's bytes up
 * to here and no further, since what follows may be a PIN block or CVV2 in a field not yet read.
 */
let failingEnd = 0;
const unpackBitmap = new Uint8Array(16);
/** Scratch for EBCDIC text, translated to latin1 before slicing (text fields hold at most 9999 characters). */
const ebcdicScratch = Buffer.alloc(10_000);
const DIGIT_STRINGS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '', '', '', '=', '', ''];

function record(field: number, start: number, end: number, count: number): void {
  const at = regionCount * 4;
  regions[at] = field;
  regions[at + 1] = start;
  regions[at + 2] = end;
  regions[at + 3] = count;
  regionCount += 1;
}

function unpackFailure(
  profile: Iso8583Profile,
  input: Uint8Array,
  field: number | 'mti' | 'bitmap' | 'length',
  offset: number,
  reason: string,
): Iso8583Error {
  return new Iso8583Error(
    field,
    offset,
    reason,
    maskRaw(profile, input, { data: regions, count: regionCount }, field, offset, failingEnd),
  );
}

/** The fields a format-error answer echoes: the keys a network matches answers by, never card data. */
const ECHOED_ON_FAILURE = [3, 7, 11, 32, 37, 41, 42, 49, 70] as const;

function withKeys(
  error: Iso8583Error,
  mti: string | undefined,
  fields: ReadonlyMap<number, string | Uint8Array>,
): Iso8583Error {
  error.mti = mti;
  const keys = new Map<number, string>();
  for (const field of ECHOED_ON_FAILURE) {
    const value = fields.get(field);
    if (typeof value === 'string') keys.set(field, value);
  }
  error.keys = keys;
  return error;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes a message. Throws Iso8583Error for truncated input, malformed length prefixes, lengths over the maximum,
 * characters or BCD nibbles the field's type does not allow, bitmap bits with no spec, and trailing bytes.
 */
export function unpack(profile: Iso8583Profile, bytes: Uint8Array): IsoMessage {
  regionCount = 0;
  failingEnd = 0;
  if (!(bytes instanceof Uint8Array)) {
    throw new Iso8583Error('length', 0, 'input must be a Uint8Array');
  }
  const input = asBuffer(bytes);
  const slicer = input as unknown as Latin1Slicer;
  const length = input.length;
  const fields = new Map<number, string | Uint8Array>();
  let mti: string | undefined;
  const fail = (field: number | 'mti' | 'bitmap' | 'length', offset: number, reason: string): Iso8583Error =>
    withKeys(unpackFailure(profile, input, field, offset, reason), mti, fields);
  let at = 0;

  // MTI
  if (profile.mtiEncoding === ENCODING.bcd) {
    if (length < 2) throw fail('mti', 0, 'truncated: the MTI needs 2 bytes');
    const high = BCD_PAIRS[input[0] ?? 0] ?? '';
    const low = BCD_PAIRS[input[1] ?? 0] ?? '';
    if (high === '' || low === '') throw fail('mti', 0, 'not BCD digits');
    mti = high + low;
    at = 2;
  } else {
    if (length < 4) throw fail('mti', 0, 'truncated: the MTI needs 4 bytes');
    const zero = profile.mtiEncoding === ENCODING.ebcdic ? EBCDIC_ZERO : ASCII_ZERO;
    for (let index = 0; index < 4; index += 1) {
      const byte = input[index] ?? 0;
      if (byte < zero || byte > zero + 9) throw fail('mti', 0, 'not 4 digits');
    }
    mti =
      zero === ASCII_ZERO
        ? slicer.latin1Slice(0, 4)
        : String.fromCharCode(
            (input[0] ?? 0) - zero + ASCII_ZERO,
            (input[1] ?? 0) - zero + ASCII_ZERO,
            (input[2] ?? 0) - zero + ASCII_ZERO,
            (input[3] ?? 0) - zero + ASCII_ZERO,
          );
    at = 4;
  }
  record(0, 0, at, 0);

  // Bitmaps
  const bitmapStart = at;
  const readBitmap = (into: number): void => {
    const start = at;
    if (profile.hexBitmap) {
      if (at + 16 > length) throw fail('bitmap', start, 'truncated: a bitmap needs 16 hex characters');
      for (let index = 0; index < 8; index += 1) {
        const high = HEX_VALUE[input[at] ?? 0xff] ?? -1;
        const low = HEX_VALUE[input[at + 1] ?? 0xff] ?? -1;
        if (high < 0 || low < 0) throw fail('bitmap', start, 'not uppercase hex');
        unpackBitmap[into + index] = (high << 4) | low;
        at += 2;
      }
    } else {
      if (at + 8 > length) throw fail('bitmap', start, 'truncated: a bitmap needs 8 bytes');
      for (let index = 0; index < 8; index += 1) unpackBitmap[into + index] = input[at++] ?? 0;
    }
  };
  readBitmap(0);
  const secondary = ((unpackBitmap[0] ?? 0) & 0x80) !== 0;
  if (secondary) {
    const start = at;
    readBitmap(8);
    let any = 0;
    for (let index = 8; index < 16; index += 1) any |= unpackBitmap[index] ?? 0;
    // Rejected so that unpack → pack is exact: pack never writes an empty secondary bitmap.
    if (any === 0) throw fail('bitmap', start, 'the secondary bitmap is flagged but empty');
  }
  record(1, bitmapStart, at, 0);

  // Fields
  const specs = profile.specs;
  const lastByte = secondary ? 16 : 8;
  for (let index = 0; index < lastByte; index += 1) {
    const byte = unpackBitmap[index] ?? 0;
    if (byte === 0) continue;
    for (let bit = 0; bit < 8; bit += 1) {
      if ((byte & (0x80 >> bit)) === 0) continue;
      const field = index * 8 + bit + 1;
      if (field === 1) continue;
      const spec = specs[field];
      if (spec === undefined)
        throw fail(field, at, `present in the bitmap but profile ${profile.name} has no spec for it`);
      const start = at;
      failingEnd = start + spec.prefixBytes;
      let count = spec.length;
      if (spec.prefixDigits !== 0) {
        if (at + spec.prefixBytes > length) throw fail(field, start, 'truncated in the length prefix');
        count = 0;
        switch (spec.prefixEncoding) {
          case ENCODING.ascii:
          case ENCODING.ebcdic: {
            const zero = spec.prefixEncoding === ENCODING.ascii ? ASCII_ZERO : EBCDIC_ZERO;
            for (let digit = 0; digit < spec.prefixDigits; digit += 1) {
              const value = (input[at + digit] ?? 0) - zero;
              if (value < 0 || value > 9) throw fail(field, start, 'the length prefix is not digits');
              count = count * 10 + value;
            }
            break;
          }
          case ENCODING.bcd:
            for (let digit = 0; digit < spec.prefixBytes; digit += 1) {
              const value = input[at + digit] ?? 0;
              // LLL's first byte holds one digit: its high nibble must be 0.
              if (BCD_PAIRS[value] === '' || (spec.prefixDigits === 3 && digit === 0 && value > 9)) {
                throw fail(field, start, 'the length prefix is not BCD digits');
              }
              count = count * 100 + (value >> 4) * 10 + (value & 0x0f);
            }
            break;
          case ENCODING.binary:
            for (let digit = 0; digit < spec.prefixBytes; digit += 1)
              count = count * 256 + (input[at + digit] ?? 0);
            break;
        }
        if (count > spec.length) {
          throw fail(field, start, `the length prefix says ${count}; the maximum is ${spec.length}`);
        }
        at += spec.prefixBytes;
      }
      const bcd = spec.encoding === ENCODING.bcd;
      const contentBytes = bcd ? (count + 1) >> 1 : count;
      failingEnd = Math.min(length, at + contentBytes);
      if (at + contentBytes > length) {
        throw fail(field, start, `truncated: the content needs ${contentBytes} bytes, ${length - at} remain`);
      }
      const end = at + contentBytes;
      let value: string | Uint8Array;
      if (spec.encoding === ENCODING.binary) {
        const copy = new Uint8Array(contentBytes);
        input.copy(copy, 0, at, end);
        value = copy;
      } else if (bcd) {
        const pairs = spec.type === 'z' ? BCD_TRACK2_PAIRS : BCD_PAIRS;
        let text = '';
        let from = at;
        if ((count & 1) === 1) {
          const first = input[at] ?? 0;
          const digit = DIGIT_STRINGS[first] ?? '';
          if (first > 0x0f || digit === '' || (spec.type === 'n' && first === 0x0d)) {
            throw fail(field, start, 'bad BCD: the pad nibble must be 0 and the digit 0-9');
          }
          text = digit;
          from += 1;
        }
        for (let byte = from; byte < end; byte += 1) {
          const pair = pairs[input[byte] ?? 0] ?? '';
          if (pair === '') throw fail(field, start, 'bad BCD nibble');
          text += pair;
        }
        value = text;
      } else {
        const charset = spec.charset;
        const signed = spec.type === 'xn';
        const ebcdic = spec.encoding === ENCODING.ebcdic;
        for (let byte = at; byte < end; byte += 1) {
          let code = input[byte] ?? 0;
          if (ebcdic) {
            code = EBCDIC_TO_ASCII[code] ?? 0;
            ebcdicScratch[byte - at] = code;
          }
          const allowed = signed
            ? byte === at
              ? code === SIGN_C || code === SIGN_D
              : code >= ASCII_ZERO && code <= ASCII_ZERO + 9
            : code < 128 && charset[code] === 1;
          if (!allowed) {
            throw fail(
              field,
              start,
              `byte ${byte - at + 1} of the content is not allowed in a ${spec.type} field`,
            );
          }
        }
        value = ebcdic
          ? (ebcdicScratch as unknown as Latin1Slicer).latin1Slice(0, contentBytes)
          : slicer.latin1Slice(at, end);
      }
      fields.set(field, value);
      at = end;
      record(field, start, end, count);
    }
  }
  if (at !== length) throw fail('length', at, `${length - at} bytes after the last field`);
  return { mti, fields };
}
