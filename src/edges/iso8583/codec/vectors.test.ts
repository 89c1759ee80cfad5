/**
 * Byte-exact vectors, built by hand: each expected message is written piece by piece (ASCII text as its hex, bitmaps
 * worked out bit by bit in the comments), so a change in the codec's output shows up here, not only in round trips.
 * Bitmap bytes: byte k covers fields 8k+1..8k+8, the high bit being the lowest field.
 */
import { describe, expect, it } from 'vitest';
import {
  ISO8583_1987_ASCII,
  ISO8583_1987_BCD,
  pack,
  unpack,
  type Iso8583Profile,
  type IsoMessage,
} from './index.js';

/** ASCII text as hex. */
function a(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}

function hex(...parts: string[]): Uint8Array {
  return new Uint8Array(Buffer.from(parts.join(''), 'hex'));
}

const PAN = '4000123456789010';
const PIN_BLOCK = '0102030405060708';

interface Vector {
  readonly name: string;
  readonly profile: Iso8583Profile;
  readonly message: IsoMessage;
  readonly expected: Uint8Array;
}

function message(mti: string, fields: Record<number, string | Uint8Array>): IsoMessage {
  return { mti, fields: new Map(Object.entries(fields).map(([key, value]) => [Number(key), value])) };
}

const VECTORS: Vector[] = [
  {
    name: '0100 authorization request',
    profile: ISO8583_1987_ASCII,
    message: message('0100', {
      2: PAN,
      3: '000000',
      4: '12345', // padded to 000000012345
      7: '0101123045',
      11: '000001',
      12: '123045',
      13: '0101',
      14: '2812',
      18: '5999',
      22: '012',
      32: '123456',
      37: '000000000001',
      41: 'TERM0001',
      42: 'MERCHANT0000001',
      43: 'LANTAU CAFE', // padded with 29 spaces to 40
      48: '987',
      49: 'HKD',
    }),
    expected: hex(
      a('0100'),
      // 1-8: 2,3,4,7 = 40+20+10+02 = 72 | 9-16: 11,12,13,14 = 20+10+08+04 = 3C | 17-24: 18,22 = 40+04 = 44
      // 25-32: 32 = 01 | 33-40: 37 = 08 | 41-48: 41,42,43,48 = 80+40+20+01 = E1 | 49-56: 49 = 80 | 57-64: 00
      '723C440108E18000',
      a('16') + a(PAN),
      a('000000'),
      a('000000012345'),
      a('0101123045'),
      a('000001'),
      a('123045'),
      a('0101'),
      a('2812'),
      a('5999'),
      a('012'),
      a('06') + a('123456'),
      a('000000000001'),
      a('TERM0001'),
      a('MERCHANT0000001'),
      a('LANTAU CAFE') + '20'.repeat(29),
      a('003') + a('987'),
      a('HKD'),
    ),
  },
  {
    name: '0110 authorization response',
    profile: ISO8583_1987_ASCII,
    message: message('0110', {
      2: PAN,
      3: '000000',
      4: '000000012345',
      7: '0101123045',
      11: '000001',
      37: '000000000001',
      38: 'A1B2C3',
      39: '00',
      41: 'TERM0001',
      49: 'HKD',
    }),
    expected: hex(
      a('0110'),
      // 72 (2,3,4,7) | 20 (11) | 00 | 00 | 0E (37,38,39 = 08+04+02) | 80 (41) | 80 (49) | 00
      '722000000E808000',
      a('16') + a(PAN),
      a('000000'),
      a('000000012345'),
      a('0101123045'),
      a('000001'),
      a('000000000001'),
      a('A1B2C3'),
      a('00'),
      a('TERM0001'),
      a('HKD'),
    ),
  },
  {
    name: '0120 authorization advice',
    profile: ISO8583_1987_ASCII,
    message: message('0120', {
      2: PAN,
      3: '000000',
      4: '000000012345',
      7: '0101123045',
      11: '000002',
      12: '123045',
      13: '0101',
      14: '2812',
      18: '5999',
      22: '012',
      32: '123456',
      37: '000000000002',
      38: 'A1B2C3',
      39: '00',
      41: 'TERM0001',
      42: 'MERCHANT0000001',
      43: 'LANTAU CAFE                    HONG KONG',
      49: 'HKD',
    }),
    expected: hex(
      a('0120'),
      // 72 | 3C (11-14) | 44 (18,22) | 01 (32) | 0E (37,38,39) | E0 (41,42,43) | 80 (49) | 00
      '723C44010EE08000',
      a('16') + a(PAN),
      a('000000'),
      a('000000012345'),
      a('0101123045'),
      a('000002'),
      a('123045'),
      a('0101'),
      a('2812'),
      a('5999'),
      a('012'),
      a('06123456'),
      a('000000000002'),
      a('A1B2C3'),
      a('00'),
      a('TERM0001'),
      a('MERCHANT0000001'),
      a('LANTAU CAFE                    HONG KONG'),
      a('HKD'),
    ),
  },
  {
    name: '0130 authorization advice response',
    profile: ISO8583_1987_ASCII,
    message: message('0130', {
      2: PAN,
      3: '000000',
      4: '000000012345',
      7: '0101123046',
      11: '000002',
      37: '000000000002',
      39: '00',
      41: 'TERM0001',
      49: 'HKD',
    }),
    expected: hex(
      a('0130'),
      // 72 | 20 (11) | 00 | 00 | 0A (37,39 = 08+02) | 80 (41) | 80 (49) | 00
      '722000000A808000',
      a('16') + a(PAN),
      a('000000000000012345'),
      a('0101123046'),
      a('000002'),
      a('000000000002'),
      a('00'),
      a('TERM0001'),
      a('HKD'),
    ),
  },
  {
    name: '0400 reversal request with a secondary bitmap (field 90)',
    profile: ISO8583_1987_ASCII,
    message: message('0400', {
      2: PAN,
      3: '000000',
      4: '000000012345',
      7: '0101123100',
      11: '000003',
      12: '123100',
      13: '0101',
      32: '123456',
      37: '000000000001',
      41: 'TERM0001',
      42: 'MERCHANT0000001',
      49: 'HKD',
      // original MTI 0100, STAN 000001, transmission 0101123045, acquirer 00000123456, forwarder 00000000000
      90: '0100' + '000001' + '0101123045' + '00000123456' + '00000000000',
    }),
    expected: hex(
      a('0400'),
      // primary: F2 (1 = secondary present, 2,3,4,7) | 38 (11,12,13) | 00 | 01 (32) | 08 (37) | C0 (41,42)
      // | 80 (49) | 00
      'F238000108C08000',
      // secondary: 65-72 00 | 73-80 00 | 81-88 00 | 89-96: 90 = 40 | 00 00 00 00
      '0000004000000000',
      a('16') + a(PAN),
      a('000000'),
      a('000000012345'),
      a('0101123100'),
      a('000003'),
      a('123100'),
      a('0101'),
      a('06123456'),
      a('000000000001'),
      a('TERM0001'),
      a('MERCHANT0000001'),
      a('HKD'),
      a('010000000101011230450000012345600000000000'),
    ),
  },
  {
    name: '0410 reversal response',
    profile: ISO8583_1987_ASCII,
    message: message('0410', {
      2: PAN,
      3: '000000',
      4: '000000012345',
      7: '0101123101',
      11: '000003',
      37: '000000000001',
      39: '00',
      41: 'TERM0001',
      49: 'HKD',
      90: '010000000101011230450000012345600000000000',
    }),
    expected: hex(
      a('0410'),
      // F2 (secondary, 2,3,4,7) | 20 (11) | 00 | 00 | 0A (37,39) | 80 (41) | 80 (49) | 00
      'F22000000A808000',
      '0000004000000000', // 90
      a('16') + a(PAN),
      a('000000'),
      a('000000012345'),
      a('0101123101'),
      a('000003'),
      a('000000000001'),
      a('00'),
      a('TERM0001'),
      a('HKD'),
      a('010000000101011230450000012345600000000000'),
    ),
  },
  {
    name: '0420 reversal advice',
    profile: ISO8583_1987_ASCII,
    message: message('0420', {
      2: PAN,
      3: '000000',
      4: '000000012345',
      7: '0101123200',
      11: '000004',
      32: '123456',
      37: '000000000001',
      39: '17',
      41: 'TERM0001',
      49: 'HKD',
    }),
    expected: hex(
      a('0420'),
      // 72 | 20 (11) | 00 | 01 (32) | 0A (37,39) | 80 (41) | 80 (49) | 00
      '722000010A808000',
      a('16') + a(PAN),
      a('000000'),
      a('000000012345'),
      a('0101123200'),
      a('000004'),
      a('06123456'),
      a('000000000001'),
      a('17'),
      a('TERM0001'),
      a('HKD'),
    ),
  },
  {
    name: '0430 reversal advice response',
    profile: ISO8583_1987_ASCII,
    message: message('0430', {
      2: PAN,
      3: '000000',
      4: '000000012345',
      7: '0101123201',
      11: '000004',
      37: '000000000001',
      39: '00',
      41: 'TERM0001',
    }),
    expected: hex(
      a('0430'),
      // 72 | 20 (11) | 00 | 00 | 0A (37,39) | 80 (41) | 00 | 00
      '722000000A800000',
      a('16') + a(PAN),
      a('000000'),
      a('000000012345'),
      a('0101123201'),
      a('000004'),
      a('000000000001'),
      a('00'),
      a('TERM0001'),
    ),
  },
  {
    name: '0800 network management (echo test)',
    profile: ISO8583_1987_ASCII,
    message: message('0800', { 7: '0101000000', 11: '000005', 70: '301' }),
    expected: hex(
      a('0800'),
      // primary: 82 (1 = secondary, 7) | 20 (11) | 00 ... ; secondary: 65-72: 70 = 04
      '8220000000000000',
      '0400000000000000',
      a('0101000000'),
      a('000005'),
      a('301'),
    ),
  },
  {
    name: '0810 network management response',
    profile: ISO8583_1987_ASCII,
    message: message('0810', { 7: '0101000000', 11: '000005', 39: '00', 70: '301' }),
    expected: hex(
      a('0810'),
      // 82 | 20 (11) | 00 | 00 | 02 (39) | 00 | 00 | 00 ; secondary 04 (70)
      '8220000002000000',
      '0400000000000000',
      a('0101000000'),
      a('000005'),
      a('00'),
      a('301'),
    ),
  },
  {
    name: '0100 in the BCD profile',
    profile: ISO8583_1987_BCD,
    message: message('0100', {
      2: PAN,
      3: '000000',
      4: '000000001000',
      11: '000123',
      14: '2812',
      22: '051',
      32: '12345',
      35: `${PAN}=28121010000`,
      41: 'TERM0001',
      48: '987',
      49: 'HKD',
      52: new Uint8Array(Buffer.from(PIN_BLOCK, 'hex')),
    }),
    expected: hex(
      '0100', // MTI as BCD
      // 70 (2,3,4) | 24 (11,14 = 20+04) | 04 (22) | 01 (32) | 20 (35) | 81 (41,48) | 90 (49,52 = 80+10) | 00
      '7024040120819000',
      '16' + PAN, // LL as one BCD byte, 16 digits in 8 bytes
      '000000',
      '000000001000',
      '000123',
      '2812',
      '0051', // n3: odd, so a leading 0 nibble
      '05' + '012345', // LL 5, odd digits with a leading 0 nibble
      '28' + PAN + 'D2812101' + '0000', // LL 28 digits; = is nibble D
      a('TERM0001'),
      '0003' + a('987'), // LLL as two BCD bytes (0ddd), ASCII text
      a('HKD'),
      PIN_BLOCK,
    ),
  },
];

describe('byte-exact vectors', () => {
  it.each(VECTORS.map((vector) => [vector.name, vector] as const))('%s', (_name, vector) => {
    const packed = pack(vector.profile, vector.message);
    expect(Buffer.from(packed).toString('hex').toUpperCase()).toBe(
      Buffer.from(vector.expected).toString('hex').toUpperCase(),
    );
    const unpacked = unpack(vector.profile, vector.expected);
    expect(unpacked.mti).toBe(vector.message.mti);
    expect([...unpacked.fields.keys()].sort((x, y) => x - y)).toEqual(
      [...vector.message.fields.keys()].sort((x, y) => x - y),
    );
    expect(pack(vector.profile, unpacked)).toEqual(vector.expected);
  });

  it('unpacks padded fields at their full width', () => {
    const fields = unpack(ISO8583_1987_ASCII, VECTORS[0]?.expected ?? new Uint8Array()).fields;
    expect(fields.get(4)).toBe('000000012345');
    expect(fields.get(43)).toBe('LANTAU CAFE'.padEnd(40));
    expect(fields.get(2)).toBe(PAN);
  });
});
