import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENTRY_MODES } from '../../../processing/authorizations.js';
import { ISO8583_1987_ASCII, ISO8583_1987_BCD, pack, unpack, type IsoMessage } from '../codec/index.js';
import {
  authorizationRequestOf,
  FieldProblem,
  identityOf,
  originalIdentityOf,
  completedAmountOf,
} from './fields.js';
import { approvalCode, conversionRateField } from './handler.js';
import { asRepeat, authorizationRequest, reversal, type CardPresentment } from './messages.js';

const presentment: CardPresentment = {
  pan: '4242420000000018',
  expiry: '2811',
  cvv2: '123',
  amount: 12_345,
  currency: 'HKD',
  mcc: '5411',
  merchantName: 'Wellcome',
  city: 'Hong Kong',
  country: 'HK',
  acceptorId: 'WEL000000000001',
  terminalId: 'WEL00001',
  entryMode: 'contactless',
  stan: '000042',
  rrn: '633500000042',
  transmissionTime: '1126093000',
  acquirerId: '00400001',
};

function without(message: IsoMessage, field: number): IsoMessage {
  const fields = new Map(message.fields);
  fields.delete(field);
  return { mti: message.mti, fields };
}

function withField(message: IsoMessage, field: number, value: string): IsoMessage {
  return { mti: message.mti, fields: new Map(message.fields).set(field, value) };
}

function problemOf(read: () => unknown): FieldProblem {
  try {
    read();
  } catch (error) {
    if (error instanceof FieldProblem) return error;
    throw error;
  }
  throw new Error('expected a FieldProblem');
}

describe('reading an 0100 into the engine’s request', () => {
  it('reads every field a builder writes, over both profiles and a packed round trip', () => {
    const arbitrary = fc.record({
      amount: fc.integer({ min: 0, max: 999_999_999_999 }),
      currency: fc.constantFrom('HKD', 'USD', 'JPY', 'EUR', 'SGD'),
      entryMode: fc.constantFrom(...ENTRY_MODES),
      partialAllowed: fc.boolean(),
      name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 &.-]{0,30}$/),
      city: fc.stringMatching(/^[A-Za-z][A-Za-z ]{0,12}$/),
      mcc: fc.stringMatching(/^[0-9]{4}$/),
      cvv2: fc.option(fc.stringMatching(/^[0-9]{3}$/), { nil: undefined }),
    });
    fc.assert(
      fc.property(arbitrary, fc.constantFrom(ISO8583_1987_ASCII, ISO8583_1987_BCD), (input, profile) => {
        const sent: CardPresentment = {
          ...presentment,
          amount: input.amount,
          currency: input.currency,
          entryMode: input.entryMode,
          partialAllowed: input.partialAllowed,
          merchantName: input.name,
          city: input.city,
          mcc: input.mcc,
          ...(input.cvv2 === undefined ? { cvv2: undefined } : { cvv2: input.cvv2 }),
        };
        const message = unpack(profile, pack(profile, authorizationRequest(sent, profile)));
        const request = authorizationRequestOf(profile, message);
        expect(request).toEqual({
          card: {
            pan: sent.pan,
            expYear: 2028,
            expMonth: 11,
            ...(input.cvv2 === undefined ? {} : { cvv2: input.cvv2 }),
          },
          amount: input.amount,
          currency: input.currency,
          merchant: {
            name: input.name.slice(0, 25).trim(),
            mcc: input.mcc,
            country: 'HK',
            city: input.city.trim(),
            acceptor_id: 'WEL000000000001',
            acquirer_id: '00400001',
          },
          entryMode: input.entryMode,
          partialAllowed: input.partialAllowed,
          network: {
            acquirerId: '400001',
            stan: '000042',
            rrn: '633500000042',
            transmissionTime: '1126093000',
          },
        });
      }),
      { numRuns: 200 },
    );
  });

  it('names the field that is missing or malformed', () => {
    const message = authorizationRequest(presentment);
    const read = (candidate: IsoMessage) =>
      problemOf(() => authorizationRequestOf(ISO8583_1987_ASCII, candidate));
    expect(read(without(message, 2)).field).toBe(2);
    expect(read(without(message, 4)).field).toBe(4);
    expect(read(without(message, 22)).field).toBe(22);
    expect(read(withField(message, 22, '999')).field).toBe(22);
    expect(read(withField(message, 14, '2813')).field).toBe(14);
    expect(read(withField(message, 49, '999')).field).toBe(49);
    expect(read(withField(message, 49, 'HKD')).field).toBe(49);
    expect(read(withField(message, 18, '54A1')).field).toBe(18);
    expect(read(withField(message, 48, '12')).field).toBe(48);
    expect(read(without(message, 11)).field).toBe(11);
    expect(read(without(message, 32)).field).toBe(32);
    // The problem names the field, never a value.
    expect(read(withField(message, 2, '42424200000000189999')).message).not.toContain('4242');
  });

  it('leaves a country it does not know unknown, and names a merchant without 43 by its acceptor id', () => {
    const unknownCountry = withField(
      authorizationRequest(presentment),
      43,
      'Wellcome'.padEnd(25) + 'Hong Kong'.padEnd(13) + 'ZZ',
    );
    expect(authorizationRequestOf(ISO8583_1987_ASCII, unknownCountry).merchant.country).toBeNull();
    const nameless = without(authorizationRequest(presentment), 43);
    expect(authorizationRequestOf(ISO8583_1987_ASCII, nameless).merchant).toMatchObject({
      name: 'WEL000000000001',
      city: null,
      country: null,
    });
  });
});

describe('matching a reversal to its original', () => {
  it('finds the original through 90 (acquirer ids compared without leading zeros), or through its own keys', () => {
    const original = identityOf(authorizationRequest(presentment));
    const withData = reversal({
      original: presentment,
      stan: '000043',
      transmissionTime: '1126093500',
      acquirerId: '400001',
    });
    expect(originalIdentityOf(withData)).toEqual(original);
    expect(identityOf(withData)).not.toEqual(original);
    const withoutData = reversal({ ...presentment, original: presentment, withOriginalData: false });
    expect(originalIdentityOf(withoutData)).toEqual(original);
    expect(asRepeat(withData).mti).toBe('0401');
    expect(problemOf(() => originalIdentityOf(withField(withData, 90, '0100'.padEnd(42, 'X')))).field).toBe(
      90,
    );
  });

  it('reads a full reversal, or what 95 says the transaction came to', () => {
    const keys = { stan: '000043', transmissionTime: '1126093500', acquirerId: '400001' };
    expect(completedAmountOf(reversal({ ...keys, original: presentment }))).toBeUndefined();
    expect(completedAmountOf(reversal({ ...keys, original: presentment, completedAmount: 2_345 }))).toBe(
      2_345,
    );
    expect(
      completedAmountOf(reversal({ ...keys, original: presentment, completedAmount: 0 })),
    ).toBeUndefined();
    expect(
      problemOf(() =>
        completedAmountOf(reversal({ ...keys, original: presentment, completedAmount: 12_345 })),
      ).field,
    ).toBe(95);
  });
});

describe('answer fields', () => {
  it('writes a conversion rate as field 10: a digit of decimals, then seven digits, rounded half up', () => {
    expect(conversionRateField('1', 0)).toBe('61000000');
    expect(conversionRateField('7.8', 0)).toBe('67800000');
    expect(conversionRateField('7.8', 200)).toBe('67956000');
    expect(conversionRateField('0.128205128205', 0)).toBe('71282051');
    expect(conversionRateField('0.00000001', 0)).toBe('70000000');
    expect(conversionRateField('1234567', 0)).toBe('01234567');
    expect(conversionRateField('149.99999995', 0)).toBe('41500000');
    expect(conversionRateField('12345678', 0)).toBeUndefined();
  });

  it('derives a six-character approval code that is the same for the same authorization', () => {
    const code = approvalCode('auth_01JDX4');
    expect(code).toMatch(/^[0-9A-Z]{6}$/);
    expect(approvalCode('auth_01JDX4')).toBe(code);
    expect(approvalCode('auth_01JDX5')).not.toBe(code);
  });
});
