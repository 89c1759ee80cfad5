import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { messageArbitrary } from './arbitraries.js';
import {
  defineProfile,
  ISO8583_1987_ASCII,
  ISO8583_1987_BCD,
  Iso8583Error,
  pack,
  unpack,
  type FieldDefinition,
  type Iso8583Profile,
  type IsoMessage,
} from './index.js';

/** A variant that exercises the other encodings: EBCDIC MTI, text and prefixes, hex bitmaps, binary prefixes. */
const EBCDIC_HEX: Iso8583Profile = defineProfile({
  ...ISO8583_1987_ASCII.definition,
  name: 'EBCDIC_HEX_TEST',
  mti: 'ebcdic',
  bitmap: 'hex',
  fields: Object.fromEntries(
    Object.entries(ISO8583_1987_ASCII.definition.fields).map(([key, spec]): [string, FieldDefinition] => {
      const encoding = spec.type === 'b' ? 'binary' : 'ebcdic';
      if (spec.prefix === 'fixed') return [key, { ...spec, encoding }];
      // Binary content gets binary prefixes here, text EBCDIC ones.
      return [key, { ...spec, encoding, prefixEncoding: spec.type === 'b' ? 'binary' : 'ebcdic' }];
    }),
  ),
});

const PROFILES: readonly Iso8583Profile[] = [ISO8583_1987_ASCII, ISO8583_1987_BCD, EBCDIC_HEX];

describe.each(PROFILES.map((profile) => [profile.name, profile] as const))(
  'round trip in %s',
  (_name, profile) => {
    it('pack then unpack gives back the message', () => {
      fc.assert(
        fc.property(messageArbitrary(profile), (message) => {
          const unpacked = unpack(profile, pack(profile, message));
          expect(unpacked.mti).toBe(message.mti);
          expect(unpacked.fields).toEqual(message.fields);
        }),
        { numRuns: 300 },
      );
    });

    it('unpack then pack gives back the bytes', () => {
      fc.assert(
        fc.property(messageArbitrary(profile), (message) => {
          const bytes = pack(profile, message);
          expect(pack(profile, unpack(profile, bytes))).toEqual(bytes);
        }),
        { numRuns: 300 },
      );
    });
  },
);

describe('pack', () => {
  const base = (fields: [number, string | Uint8Array][]): IsoMessage => ({
    mti: '0100',
    fields: new Map(fields),
  });

  it('pads fixed numerics with leading zeros and fixed text with trailing spaces', () => {
    const message = base([
      [4, '12345'],
      [43, 'LANTAU CAFE'],
    ]);
    const fields = unpack(ISO8583_1987_ASCII, pack(ISO8583_1987_ASCII, message)).fields;
    expect(fields.get(4)).toBe('000000012345');
    expect(fields.get(43)).toBe('LANTAU CAFE'.padEnd(40, ' '));
    expect(unpack(ISO8583_1987_BCD, pack(ISO8583_1987_BCD, message)).fields.get(4)).toBe('000000012345');
  });

  it('returns a fresh array each time (the output buffer is reused inside)', () => {
    const first = pack(ISO8583_1987_ASCII, base([[11, '000001']]));
    const copy = Uint8Array.from(first);
    pack(ISO8583_1987_ASCII, base([[11, '999999']]));
    expect(first).toEqual(copy);
  });

  it('grows its buffer for large messages', () => {
    const fields: [number, string][] = [];
    for (let field = 105; field <= 127; field += 1) fields.push([field, 'x'.repeat(999)]);
    const bytes = pack(ISO8583_1987_ASCII, base(fields));
    expect(bytes.length).toBe(4 + 16 + 23 * (3 + 999));
    expect(unpack(ISO8583_1987_ASCII, bytes).fields.get(127)).toBe('x'.repeat(999));
  });

  const cases: [string, IsoMessage, number | 'mti' | 'bitmap', RegExp][] = [
    ['an MTI that is not 4 digits', { mti: '01A0', fields: new Map() }, 'mti', /4 digits/],
    ['a field number out of range', base([[129, '1']]), 'bitmap', /2 to 128/],
    ['field 1 given', base([[1, new Uint8Array(8)]]), 1, /computed/],
    ['a numeric with a letter', base([[3, '00A000']]), 3, /character 3 is not allowed in a n field/],
    ['a numeric too long', base([[3, '0000000']]), 3, /7 characters; the field takes at most 6/],
    [
      'a variable field over its maximum',
      base([[2, '4'.repeat(20)]]),
      2,
      /20 characters; the field takes at most 19/,
    ],
    ['a string for a binary field', base([[52, '00000000']]), 52, /Uint8Array/],
    ['bytes for a text field', base([[41, new Uint8Array(8)]]), 41, /needs a string/],
    ['a binary field of the wrong size', base([[52, new Uint8Array(7)]]), 52, /exactly 8/],
    ['alphanumeric with a symbol', base([[49, 'HK$']]), 49, /not allowed in a an field/],
    ['ans with a non-ASCII character', base([[43, 'CAFÉ']]), 43, /character 4/],
    ['xn without its sign', base([[28, '000000100']]), 28, /character 1/],
    ['xn shorter than its fixed length', base([[28, 'C100']]), 28, /exactly 9/],
  ];
  it.each(cases)('rejects %s, naming the field', (_label, message, field, reason) => {
    let caught: unknown;
    try {
      pack(ISO8583_1987_ASCII, message);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Iso8583Error);
    const error = caught as Iso8583Error;
    expect(error.field).toBe(field);
    expect(error.reason).toMatch(reason);
    expect(error.raw.length).toBe(0);
  });

  it('never puts the value in the error message', () => {
    const pan = '4000123456789010X';
    expect(() => pack(ISO8583_1987_ASCII, base([[2, pan]]))).toThrow(Iso8583Error);
    try {
      pack(ISO8583_1987_ASCII, base([[2, pan]]));
    } catch (error) {
      expect((error as Error).message).not.toContain('4000123456789010');
    }
  });

  it('rejects a BCD track 2 with a D separator (BCD has only =)', () => {
    expect(() => pack(ISO8583_1987_BCD, base([[35, '4000123456789010D2812']]))).toThrow(
      /not allowed in a z field/,
    );
    expect(
      unpack(ISO8583_1987_ASCII, pack(ISO8583_1987_ASCII, base([[35, '4000123456789010D2812']]))).fields.get(
        35,
      ),
    ).toBe('4000123456789010D2812');
  });
});
