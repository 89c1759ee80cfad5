import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeCvv, CVV2_SERVICE_CODE, cvkCheckValue, generateCvkPair, parseCvkPair } from './cvv.js';
import { Secret } from './secret.js';

const CVK_A = Buffer.from('0123456789ABCDEF', 'hex');
const CVK_B = Buffer.from('FEDCBA9876543210', 'hex');
const PAN = '4123456789012345';

function oddParity(byte: number): boolean {
  let ones = 0;
  for (let bit = 0; bit < 8; bit += 1) ones += (byte >> bit) & 1;
  return ones % 2 === 1;
}

describe('computeCvv (Visa CVV method)', () => {
  it('matches the published test vector', () => {
    expect(computeCvv({ pan: PAN, expiryYYMM: '8701', serviceCode: '101', cvkA: CVK_A, cvkB: CVK_B })).toBe(
      '561',
    );
  });

  it('computes CVV2 with service code 000, from secrets as well as buffers', () => {
    // Checked independently with the openssl command line (des-ede-ecb): block 1 under A||A gives
    // B76ADDCE71CCC6BE; XOR 8701000000000000; under A||B gives 6C3E6395546C275A; decimalised 636.
    const cvv2 = computeCvv({
      pan: new Secret(PAN),
      expiryYYMM: '8701',
      serviceCode: CVV2_SERVICE_CODE,
      cvkA: new Secret(CVK_A),
      cvkB: new Secret(CVK_B),
    });
    expect(cvv2).toBe('636');
  });

  it('always gives three digits, the same for the same inputs', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^\d{12,19}$/),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 1, max: 12 }),
        fc.stringMatching(/^\d{3}$/),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (pan, year, month, serviceCode, keys) => {
          const input = {
            pan,
            expiryYYMM: `${String(year).padStart(2, '0')}${String(month).padStart(2, '0')}`,
            serviceCode,
            cvkA: Buffer.from(keys.subarray(0, 8)),
            cvkB: Buffer.from(keys.subarray(8)),
          };
          const cvv = computeCvv(input);
          expect(cvv).toMatch(/^\d{3}$/);
          expect(computeCvv(input)).toBe(cvv);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses malformed input without repeating it', () => {
    const base = { pan: PAN, expiryYYMM: '8701', serviceCode: '000', cvkA: CVK_A, cvkB: CVK_B };
    const attempts = [
      { ...base, pan: '41234567890123456789' },
      { ...base, pan: '4123-4567-8901-2345' },
      { ...base, expiryYYMM: '0187' }, // MMYY by mistake: month 87
      { ...base, serviceCode: '10' },
      { ...base, cvkA: CVK_A.subarray(0, 7) },
    ];
    for (const attempt of attempts) {
      let message = '';
      try {
        computeCvv(attempt);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).not.toBe('');
      expect(message).not.toContain('4123');
      expect(message).not.toContain('0187');
    }
  });
});

describe('CVK pairs', () => {
  it('parses 32 hex digits into A and B', () => {
    const pair = parseCvkPair('0123456789ABCDEFFEDCBA9876543210');
    expect(pair.cvkA.expose().equals(CVK_A)).toBe(true);
    expect(pair.cvkB.expose().equals(CVK_B)).toBe(true);
    expect(computeCvv({ pan: PAN, expiryYYMM: '8701', serviceCode: '101', ...pair })).toBe('561');
  });

  it('refuses a wrong length, non-hex digits and equal halves, never echoing the value', () => {
    const bad = [
      '0123456789ABCDEFFEDCBA987654321',
      '0123456789ABCDEFFEDCBA98765432100',
      '0123456789ABCDEFFEDCBA987654321G',
      '0123456789ABCDEF0123456789ABCDEF',
    ];
    for (const value of bad) {
      let message = '';
      try {
        parseCvkPair(value);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/CVK pair|halves/);
      expect(message).not.toContain(value.slice(0, 8));
      expect(message).not.toContain(value.slice(16, 24));
    }
  });

  it('generates pairs with odd parity and different halves', () => {
    for (let round = 0; round < 50; round += 1) {
      const pair = generateCvkPair();
      const bytes = Buffer.concat([pair.cvkA.expose(), pair.cvkB.expose()]);
      expect(bytes.length).toBe(16);
      expect([...bytes].every(oddParity)).toBe(true);
      expect(pair.cvkA.expose().equals(pair.cvkB.expose())).toBe(false);
    }
  });

  it('computes the conventional key check value', () => {
    // The KCV of a 2-key 3DES key is the first 3 bytes of a zero block encrypted under it.
    // openssl enc -des-ede-ecb -K 0123456789ABCDEFFEDCBA9876543210 -nopad over 8 zero bytes: 08D7B4FB629D0885.
    expect(cvkCheckValue(parseCvkPair('0123456789ABCDEFFEDCBA9876543210'))).toBe('08D7B4');
    expect(cvkCheckValue(parseCvkPair('0123456789ABCDEFFEDCBA9876543210'))).toBe(
      cvkCheckValue(parseCvkPair('0123456789abcdeffedcba9876543210')),
    );
  });
});
