import { ENCODING, MASK_NONE, MASK_PAN, type CompiledField, type Iso8583Profile } from './profile.js';

/** What failed: a data element's number, or the MTI, the bitmaps, or the message's overall length. */
export type Iso8583ErrorField = number | 'mti' | 'bitmap' | 'length';

const EMPTY = new Uint8Array(0);

/**
 * Every failure to pack or unpack. `offset` is the byte offset in the message where the failing element (its length
 * prefix, its content, or the trailing bytes) starts; on pack it is the offset the element would have had. `raw` is
 * the input with card data masked (see `maskRaw`); it is empty for pack errors. The message names the field and the
 * reason, never a value.
 */
export class Iso8583Error extends Error {
  /**
   * On unpack: the MTI when it was read, and the message's keys read before the failure (fields 3, 7, 11, 32, 37,
   * 41, 42, 49 and 70 only, never card data), so a format-error answer can name the request it answers.
   */
  mti: string | undefined;
  keys: ReadonlyMap<number, string> = new Map();

  constructor(
    readonly field: Iso8583ErrorField,
    readonly offset: number,
    readonly reason: string,
    readonly raw: Uint8Array = EMPTY,
  ) {
    super(`ISO 8583 ${typeof field === 'number' ? `field ${field}` : field} at byte ${offset}: ${reason}`);
    this.name = 'Iso8583Error';
  }
}

/** A region of the input the unpacker has read: field number (0 MTI, 1 bitmaps), start, end, content digits. */
export interface ParsedRegions {
  readonly data: Int32Array;
  readonly count: number;
}

const ASTERISK_ASCII = 0x2a;
const ASTERISK_EBCDIC = 0x5c;

/** The bytes a field may take at most: prefix plus maximum content. */
export function maxFieldBytes(spec: CompiledField): number {
  const content = spec.encoding === ENCODING.bcd ? (spec.length + 1) >> 1 : spec.length;
  return spec.prefixBytes + content;
}

function maskContent(out: Uint8Array, spec: CompiledField, start: number, end: number, digits: number): void {
  const contentStart = Math.min(start + spec.prefixBytes, end);
  const text = spec.encoding === ENCODING.ascii || spec.encoding === ENCODING.ebcdic;
  const fill =
    spec.encoding === ENCODING.ascii
      ? ASTERISK_ASCII
      : spec.encoding === ENCODING.ebcdic
        ? ASTERISK_EBCDIC
        : 0;
  if (spec.mask === MASK_PAN && text && end - contentStart > 10) {
    out.fill(fill, contentStart + 6, end - 4);
    return;
  }
  if (
    spec.mask === MASK_PAN &&
    spec.encoding === ENCODING.bcd &&
    digits > 10 &&
    end - contentStart === (digits + 1) >> 1
  ) {
    // Digit i sits in byte (i + pad) >> 1; bytes shared by a kept and a masked digit are masked too.
    const pad = digits & 1;
    out.fill(0, contentStart + ((6 + pad) >> 1), contentStart + ((digits - 5 + pad) >> 1) + 1);
    return;
  }
  out.fill(fill, contentStart, end);
}

/** Masks the middle of digit runs long enough to be a PAN (a wrong bitmap can shift a PAN into any field). */
function scrubDigitRuns(out: Uint8Array, ascii: boolean, ebcdic: boolean, bcd: boolean): void {
  const scan = (
    isDigit: (byte: number) => boolean,
    minRun: number,
    keepHead: number,
    keepTail: number,
    fill: number,
  ): void => {
    let runStart = 0;
    for (let index = 0; index <= out.length; index += 1) {
      if (index < out.length && isDigit(out[index] ?? 0)) continue;
      if (index - runStart >= minRun) out.fill(fill, runStart + keepHead, index - keepTail);
      runStart = index + 1;
    }
  };
  if (ascii) scan((b) => b >= 0x30 && b <= 0x39, 13, 6, 4, ASTERISK_ASCII);
  if (ebcdic) scan((b) => b >= 0xf0 && b <= 0xf9, 13, 6, 4, ASTERISK_EBCDIC);
  if (bcd) scan((b) => b >> 4 <= 9 && (b & 0x0f) <= 9, 7, 3, 2, 0);
}

/**
 * The input as an error may carry it: the MTI, bitmaps and the fields read so far are kept, card-data fields among
 * them masked by the profile's rule (PAN: first 6 and last 4 kept; others: all hidden; `*` in text, zero bytes in BCD
 * and binary); the failing field's bytes (up to where its prefix says it ends) are kept unless it holds card data; everything after
 * is zeroed (trailing bytes included), since it is unparsed and may hold track data or CVV2. Finally any digit run long enough to be a PAN is
 * masked wherever it is.
 */
export function maskRaw(
  profile: Iso8583Profile,
  input: Uint8Array,
  regions: ParsedRegions,
  failingField: Iso8583ErrorField,
  failingStart: number,
  /** Where the failing field ends as far as its prefix told (its start when nothing was read of it). */
  failingEnd: number = failingStart,
): Uint8Array {
  const out = new Uint8Array(input);
  let keptEnd = 0;
  for (let index = 0; index < regions.count; index += 1) {
    const field = regions.data[index * 4] ?? 0;
    const start = regions.data[index * 4 + 1] ?? 0;
    const end = regions.data[index * 4 + 2] ?? 0;
    const digits = regions.data[index * 4 + 3] ?? 0;
    const spec = field >= 2 ? profile.specs[field] : undefined;
    if (spec !== undefined && spec.mask !== MASK_NONE) maskContent(out, spec, start, end, digits);
    keptEnd = Math.max(keptEnd, end);
  }
  if (typeof failingField === 'number') {
    const spec = profile.specs[failingField];
    if (spec !== undefined && spec.mask === MASK_NONE) {
      keptEnd = Math.max(keptEnd, Math.min(out.length, failingEnd, failingStart + maxFieldBytes(spec)));
    }
  } else if (failingField === 'bitmap') {
    keptEnd = Math.min(out.length, Math.max(keptEnd, failingStart + (profile.hexBitmap ? 16 : 8)));
  }
  if (keptEnd < out.length) out.fill(0, keptEnd);
  let ascii = profile.mtiEncoding === ENCODING.ascii;
  let ebcdic = profile.mtiEncoding === ENCODING.ebcdic;
  let bcd = profile.mtiEncoding === ENCODING.bcd;
  for (const spec of profile.specs) {
    if (spec === undefined) continue;
    ascii ||= spec.encoding === ENCODING.ascii;
    ebcdic ||= spec.encoding === ENCODING.ebcdic;
    bcd ||= spec.encoding === ENCODING.bcd;
  }
  scrubDigitRuns(out, ascii, ebcdic, bcd);
  return out;
}
