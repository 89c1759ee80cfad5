/**
 * Byte-level tables the codec shares: character classes per content type, EBCDIC (cp037) for the printable ASCII
 * range, and BCD digit pairs. Everything here is computed once at module load so packing and unpacking only index
 * typed arrays (no per-field allocation, no regular expressions).
 */

/** ISO 8583 content types: `n` digits, `a` letters, `an` letters and digits, `ans` printable, `b` bytes, `z` track 2,
 * `xn` a credit/debit sign `C` or `D` followed by digits (the 1987 "x+n" amounts, fields 28–31 and 97). */
export type ContentType = 'n' | 'a' | 'an' | 'ans' | 'b' | 'z' | 'xn';
export const CONTENT_TYPES: readonly ContentType[] = ['n', 'a', 'an', 'ans', 'b', 'z', 'xn'];

/**
 * Characters allowed in each text content type, as a 128-entry table of 0/1 indexed by character code.
 * `a` and `an` include the space because fixed alphanumeric fields are right-padded with spaces (ISO 8583 counts the
 * blank as alphabetic). `z` allows `=` and, in ASCII or EBCDIC, `D` as the track-2 separator. `xn` is checked by
 * position (sign first, then digits) in the codec, so its table is the union.
 */
function charset(allowed: (code: number) => boolean): Uint8Array {
  const table = new Uint8Array(128);
  for (let code = 0; code < 128; code += 1) table[code] = allowed(code) ? 1 : 0;
  return table;
}
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isLetter = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

export const CHARSETS: Readonly<Record<Exclude<ContentType, 'b'>, Uint8Array>> = {
  n: charset(isDigit),
  a: charset((c) => isLetter(c) || c === 0x20),
  an: charset((c) => isLetter(c) || isDigit(c) || c === 0x20),
  ans: charset((c) => c >= 0x20 && c <= 0x7e),
  z: charset((c) => isDigit(c) || c === 0x3d || c === 0x44),
  xn: charset((c) => isDigit(c) || c === 0x43 || c === 0x44),
};

/** Track 2 packed as BCD has only digits and the separator nibble D, which reads back as `=`. */
export const BCD_TRACK2_CHARSET: Uint8Array = charset((c) => isDigit(c) || c === 0x3d);

/** cp037 bytes for ASCII 0x20..0x7E, in order (generated from Python's cp037 codec). */
const CP037_PRINTABLE =
  '405A7F7B5B6C507D4D5D5C4E6B604B61F0F1F2F3F4F5F6F7F8F97A5E4C7E6E6F7CC1C2C3C4C5C6C7C8C9D1D2D3D4D5D6D7D8D9E2E3E4' +
  'E5E6E7E8E9BAE0BBB06D79818283848586878889919293949596979899A2A3A4A5A6A7A8A9C04FD0A1';

/** ASCII code → EBCDIC byte (0 where the character has no place in any content type). */
export const ASCII_TO_EBCDIC = new Uint8Array(128);
/** EBCDIC byte → ASCII code, or 0 when the byte is not a printable ASCII character in cp037. */
export const EBCDIC_TO_ASCII = new Uint8Array(256);
for (let index = 0; index < 0x7f - 0x20; index += 1) {
  const ebcdic = Number.parseInt(CP037_PRINTABLE.slice(index * 2, index * 2 + 2), 16);
  ASCII_TO_EBCDIC[0x20 + index] = ebcdic;
  EBCDIC_TO_ASCII[ebcdic] = 0x20 + index;
}

/** A BCD byte → its two digits, or '' when either nibble is not 0–9. */
export const BCD_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, byte) =>
  byte >> 4 <= 9 && (byte & 0x0f) <= 9 ? String(byte >> 4) + String(byte & 0x0f) : '',
);
/** Like BCD_PAIRS for track 2: nibble D reads as `=`. */
export const BCD_TRACK2_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, byte) => {
  const high = byte >> 4;
  const low = byte & 0x0f;
  const digit = (nibble: number): string => (nibble <= 9 ? String(nibble) : nibble === 0x0d ? '=' : '');
  const a = digit(high);
  const b = digit(low);
  return a !== '' && b !== '' ? a + b : '';
});

/** Hex digits for ASCII-hex bitmaps: value → uppercase character code, and character code → value (or -1). */
export const HEX_UPPER = new Uint8Array(
  Array.from({ length: 16 }, (_, value) => '0123456789ABCDEF'.charCodeAt(value)),
);
export const HEX_VALUE = new Int8Array(128).fill(-1);
for (let value = 0; value < 16; value += 1) HEX_VALUE[HEX_UPPER[value] ?? 0] = value;
