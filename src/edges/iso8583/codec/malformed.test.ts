/**
 * Malformed input: each failure is an Iso8583Error naming the field and the byte offset, and neither its message nor
 * its raw bytes hold the test PAN or CVV2. Then fuzzing: random bytes and mutated valid messages never raise anything
 * else, and whatever unpacks packs back to the same bytes.
 */
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
  type Iso8583Profile,
  type IsoMessage,
} from './index.js';

const PAN = '4000123456789010';
const CVV2 = '987';

/** A full authorization carrying the PAN in 2 and 35 and CVV2 in 48, with numeric, text and binary fields around. */
const MESSAGE: IsoMessage = {
  mti: '0100',
  fields: new Map<number, string | Uint8Array>([
    [2, PAN],
    [3, '000000'],
    [4, '000000012345'],
    [11, '000001'],
    [14, '2812'],
    [32, '123456'],
    [35, `${PAN}=28121010000`],
    [41, 'TERM0001'],
    [43, 'LANTAU CAFE                    HONG KONG'],
    [48, CVV2],
    [49, 'HKD'],
    [52, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])],
    [90, '0'.repeat(42)],
  ]),
};

function catchError(run: () => unknown): Iso8583Error {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(Iso8583Error);
    return error as Iso8583Error;
  }
  throw new Error('expected an Iso8583Error');
}

function expectNoCardData(error: Iso8583Error): void {
  const raw = Buffer.from(error.raw);
  for (const text of [error.message, error.reason, raw.toString('latin1'), raw.toString('hex')]) {
    expect(text).not.toContain(PAN);
    expect(text).not.toContain(PAN.slice(6, 12)); // the middle digits, hidden under a first-6/last-4 mask
  }
  expect(error.message).not.toContain(CVV2);
  expect(raw.toString('latin1')).not.toContain(CVV2);
}

/** Offsets of each field in the ASCII packing of MESSAGE, computed from the layout: MTI 4, bitmaps 16. */
const ASCII = pack(ISO8583_1987_ASCII, MESSAGE);
const BCD = pack(ISO8583_1987_BCD, MESSAGE);
const at = (bytes: Uint8Array, text: string): number => Buffer.from(bytes).indexOf(text, 0, 'latin1');

describe('malformed input', () => {
  it('keeps no card data of the fields after a failing one: CVV2, PIN block, track 3 and ICC data', () => {
    const pinBlock = new Uint8Array([0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x17, 0x28]);
    const icc = Buffer.concat([Buffer.from([0x5a, 0x08]), Buffer.from(PAN, 'hex')]);
    const carrying: IsoMessage = {
      mti: '0100',
      fields: new Map<number, string | Uint8Array>([
        [2, PAN],
        [3, '000000'],
        [4, '000000012345'],
        [11, '000001'],
        [36, `${PAN}0000111122`],
        [47, 'NOTES'],
        [48, CVV2],
        [52, pinBlock],
        [55, icc],
      ]),
    };
    for (const profile of [ISO8583_1987_ASCII, ISO8583_1987_BCD]) {
      const bytes = Buffer.from(pack(profile, carrying));
      // A character field 47 may not hold, as a stray byte from an acquirer would be.
      bytes[bytes.indexOf('NOTES', 0, 'latin1')] = 0x7f;
      const error = catchError(() => unpack(profile, bytes));
      expect(error.field).toBe(47);
      expectNoCardData(error);
      const raw = Buffer.from(error.raw);
      expect(raw.indexOf(Buffer.from(pinBlock))).toBe(-1);
      expect(raw.indexOf(Buffer.from(PAN, 'hex'))).toBe(-1);
      expect(raw.toString('latin1')).not.toContain('0000111122');
    }
  });

  it('starts from valid messages', () => {
    expect(unpack(ISO8583_1987_ASCII, ASCII).fields.size).toBe(13);
    expect(unpack(ISO8583_1987_BCD, BCD).fields.size).toBe(13);
  });

  const field35 = at(ASCII, `28${PAN}=`);
  const field32 = at(ASCII, '06123456');
  const field2 = 20;
  const cases: [
    string,
    Iso8583Profile,
    () => Uint8Array,
    number | 'mti' | 'bitmap' | 'length',
    number,
    RegExp,
  ][] = [
    ['empty input', ISO8583_1987_ASCII, () => new Uint8Array(), 'mti', 0, /truncated/],
    [
      'an MTI that is not digits',
      ISO8583_1987_ASCII,
      () => withBytes(ASCII, 1, 'X'),
      'mti',
      0,
      /not 4 digits/,
    ],
    ['a BCD MTI with a bad nibble', ISO8583_1987_BCD, () => withHex(BCD, 0, 'A1'), 'mti', 0, /not BCD/],
    ['a truncated primary bitmap', ISO8583_1987_ASCII, () => ASCII.slice(0, 10), 'bitmap', 4, /truncated/],
    ['a truncated secondary bitmap', ISO8583_1987_ASCII, () => ASCII.slice(0, 15), 'bitmap', 12, /truncated/],
    [
      'an empty secondary bitmap',
      ISO8583_1987_ASCII,
      () => withHex(ASCII, 12, '0000000000000000'),
      'bitmap',
      12,
      /flagged but empty/,
    ],
    [
      'truncated inside the PAN',
      ISO8583_1987_ASCII,
      () => ASCII.slice(0, field2 + 8),
      2,
      field2,
      /truncated/,
    ],
    [
      'truncated inside track 2',
      ISO8583_1987_ASCII,
      () => ASCII.slice(0, field35 + 20),
      35,
      field35,
      /truncated/,
    ],
    [
      'truncated in a length prefix',
      ISO8583_1987_ASCII,
      () => ASCII.slice(0, field32 + 1),
      32,
      field32,
      /prefix/,
    ],
    [
      'a length prefix that is not digits',
      ISO8583_1987_ASCII,
      () => withBytes(ASCII, field32, 'A6'),
      32,
      field32,
      /not digits/,
    ],
    [
      'a PAN length over 19',
      ISO8583_1987_ASCII,
      () => withBytes(ASCII, field2, '20'),
      2,
      field2,
      /says 20; the maximum is 19/,
    ],
    [
      'a track 2 length over 37',
      ISO8583_1987_ASCII,
      () => withBytes(ASCII, field35, '38'),
      35,
      field35,
      /maximum is 37/,
    ],
    [
      'a letter in a numeric field',
      ISO8583_1987_ASCII,
      () => withBytes(ASCII, field2 + 18 + 2, 'A'),
      3,
      field2 + 18,
      /not allowed in a n field/,
    ],
    [
      'trailing bytes',
      ISO8583_1987_ASCII,
      () => concat(ASCII, Buffer.from(PAN)),
      'length',
      ASCII.length,
      /16 bytes after the last field/,
    ],
    ['a bad BCD nibble in the PAN', ISO8583_1987_BCD, () => withHex(BCD, 19, '4F'), 2, 18, /bad BCD/],
    ['a bad BCD nibble in field 3', ISO8583_1987_BCD, () => withHex(BCD, 27, 'AB'), 3, 27, /bad BCD/],
    ['a BCD length prefix that is not BCD', ISO8583_1987_BCD, () => withHex(BCD, 18, '1A'), 2, 18, /not BCD/],
    [
      'a BCD odd-length pad nibble that is not 0',
      ISO8583_1987_BCD,
      () => withHex(BCD, 41, '05'), // 32's six digits read as five: pad nibble 1
      32,
      41,
      /pad nibble/,
    ],
  ];

  it.each(cases)('%s', (_label, profile, input, field, offset, reason) => {
    const error = catchError(() => unpack(profile, input()));
    expect(error.field).toBe(field);
    expect(error.offset).toBe(offset);
    expect(error.reason).toMatch(reason);
    expect(error.message).toContain(`at byte ${offset}`);
    expectNoCardData(error);
  });

  it('a field in the bitmap that the profile has no spec for', () => {
    const fields = { ...ISO8583_1987_ASCII.definition.fields };
    delete fields['43'];
    const narrow = defineProfile({ ...ISO8583_1987_ASCII.definition, name: 'NARROW', fields });
    const error = catchError(() => unpack(narrow, ASCII));
    expect(error.field).toBe(43);
    expect(error.offset).toBe(at(ASCII, 'LANTAU'));
    expect(error.reason).toMatch(/no spec/);
    expectNoCardData(error);
  });

  it('keeps the bytes read before the failure, with the PAN masked to first 6 and last 4', () => {
    const error = catchError(() => unpack(ISO8583_1987_ASCII, concat(ASCII, new Uint8Array([0x31]))));
    const raw = Buffer.from(error.raw).toString('latin1');
    expect(raw.startsWith('0100')).toBe(true);
    expect(raw).toContain(`16${PAN.slice(0, 6)}******${PAN.slice(-4)}`);
    expect(raw).toContain('TERM0001');
    expect(raw).toContain('003***'); // CVV2 field fully masked
    expect(error.raw.length).toBe(ASCII.length + 1);
  });

  it('masks a PAN that a wrong bitmap shifted into another field', () => {
    // Clear bit 2: the PAN's digits are then read as fields 3, 4 and on.
    const shifted = withHex(ASCII, 4, 'B2');
    const error = catchError(() => unpack(ISO8583_1987_ASCII, shifted));
    expectNoCardData(error);
  });
});

function withBytes(bytes: Uint8Array, offset: number, text: string): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy.set(Buffer.from(text, 'latin1'), offset);
  return copy;
}

function withHex(bytes: Uint8Array, offset: number, hexText: string): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy.set(Buffer.from(hexText, 'hex'), offset);
  return copy;
}

function concat(first: Uint8Array, second: Uint8Array): Uint8Array {
  const out = new Uint8Array(first.length + second.length);
  out.set(first);
  out.set(second, first.length);
  return out;
}

/** Unpack must either succeed, and then pack back to the same bytes, or throw an Iso8583Error. */
function unpackOrIsoError(profile: Iso8583Profile, bytes: Uint8Array): void {
  let message: IsoMessage;
  try {
    message = unpack(profile, bytes);
  } catch (error) {
    if (!(error instanceof Iso8583Error)) throw error;
    expect(error.raw.length).toBe(bytes.length);
    return;
  }
  expect(pack(profile, message)).toEqual(bytes);
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(bytes: Uint8Array, change: Mutation): Uint8Array {
  const at = bytes.length === 0 ? 0 : change.at % (bytes.length + 1);
  switch (change.kind) {
    case 'set': {
      const copy = Uint8Array.from(bytes);
      if (at < copy.length) copy[at] = change.byte;
      return copy;
    }
    case 'truncate':
      return bytes.slice(0, at);
    case 'insert':
      return concat(concat(bytes.slice(0, at), change.bytes), bytes.slice(at));
    case 'delete':
      return concat(bytes.slice(0, at), bytes.slice(at + change.count));
  }
}

describe.each([ISO8583_1987_ASCII, ISO8583_1987_BCD].map((profile) => [profile.name, profile] as const))(
  'fuzzing %s',
  (_name, profile) => {
    it('random bytes raise only Iso8583Error', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => unpackOrIsoError(profile, bytes)),
        { numRuns: 2000 },
      );
    });

    it('a valid MTI and random bitmaps and content raise only Iso8583Error', () => {
      const mti = profile.mtiEncoding === 0 ? Buffer.from('0100') : Buffer.from('0100', 'hex');
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), (tail) =>
          unpackOrIsoError(profile, concat(mti, tail)),
        ),
        { numRuns: 2000 },
      );
    });

    it('mutated valid messages raise only Iso8583Error', () => {
      fc.assert(
        fc.property(
          messageArbitrary(profile),
          fc.array(mutation, { minLength: 1, maxLength: 4 }),
          (message, changes) => {
            let bytes = pack(profile, message);
            for (const change of changes) bytes = mutate(bytes, change);
            unpackOrIsoError(profile, bytes);
          },
        ),
        { numRuns: 1000 },
      );
    });
  },
);
