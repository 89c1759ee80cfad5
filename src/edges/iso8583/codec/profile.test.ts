import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  cvv2FieldValue,
  defineProfile,
  ISO8583_1987_ASCII,
  ISO8583_1987_BCD,
  loadProfile,
  pack,
  parseProfile,
  ProfileError,
  readCvv2,
  unpack,
  type ProfileDefinition,
} from './index.js';

const SAMPLE = fileURLToPath(new URL('./profiles/iso8583-1987-bcd.json', import.meta.url));

function variant(change: (definition: Record<string, unknown>) => void): string {
  const definition = structuredClone(ISO8583_1987_ASCII.definition) as unknown as Record<string, unknown>;
  change(definition);
  return JSON.stringify(definition);
}

function fields(definition: Record<string, unknown>): Record<string, Record<string, unknown>> {
  return definition['fields'] as Record<string, Record<string, unknown>>;
}

describe('profiles', () => {
  it('loads the sample file as the BCD profile', () => {
    const loaded = loadProfile(SAMPLE);
    expect(loaded.definition).toEqual(ISO8583_1987_BCD.definition);
    expect(loaded.specs).toEqual(ISO8583_1987_BCD.specs);
  });

  it('defines fields 2 to 128 in the built-in profiles', () => {
    for (const profile of [ISO8583_1987_ASCII, ISO8583_1987_BCD]) {
      for (let field = 2; field <= 128; field += 1) expect(profile.specs[field]).toBeDefined();
    }
    expect(ISO8583_1987_ASCII.specs[2]).toMatchObject({ type: 'n', length: 19, prefixDigits: 2 });
    expect(ISO8583_1987_ASCII.specs[35]).toMatchObject({ type: 'z', length: 37, prefixDigits: 2 });
    expect(ISO8583_1987_ASCII.specs[52]).toMatchObject({ type: 'b', length: 8, prefixDigits: 0 });
    expect(ISO8583_1987_ASCII.specs[90]).toMatchObject({ type: 'n', length: 42, prefixDigits: 0 });
  });

  const bad: [string, string, string, RegExp][] = [
    ['not JSON', '{', '', /not JSON/],
    ['an unknown property', variant((d) => (d['extra'] = 1)), '', /additional properties \(extra\)/],
    ['a bad MTI encoding', variant((d) => (d['mti'] = 'utf8')), 'mti', /ascii, bcd, ebcdic/],
    [
      'a bad content type',
      variant((d) => (fields(d)['3'] = { ...fields(d)['3'], type: 'q' })),
      'fields.3.type',
      /.+/,
    ],
    [
      'a length of 0',
      variant((d) => (fields(d)['3'] = { ...fields(d)['3'], length: 0 })),
      'fields.3.length',
      /.+/,
    ],
    ['field 1', variant((d) => (fields(d)['1'] = { ...fields(d)['3'] })), 'fields.1', /2 to 128/],
    ['field 003', variant((d) => (fields(d)['003'] = { ...fields(d)['3'] })), 'fields.003', /leading zeros/],
    [
      'BCD text',
      variant((d) => (fields(d)['41'] = { ...fields(d)['41'], encoding: 'bcd' })),
      'fields.41.encoding',
      /bcd encodes only/,
    ],
    [
      'binary content as ASCII',
      variant((d) => (fields(d)['52'] = { ...fields(d)['52'], encoding: 'ascii' })),
      'fields.52.encoding',
      /type b/,
    ],
    [
      'a variable field without a prefix encoding',
      variant((d) => {
        const { prefixEncoding: _dropped, ...rest } = fields(d)['2'] ?? {};
        fields(d)['2'] = rest;
      }),
      'fields.2.prefixEncoding',
      /needs a prefixEncoding/,
    ],
    [
      'an LL maximum over 99',
      variant((d) => (fields(d)['2'] = { ...fields(d)['2'], length: 100 })),
      'fields.2.length',
      /exceeds what a ascii LL prefix holds \(99\)/,
    ],
    ['CVV2 in an undefined field', variant((d) => (d['cvv2'] = { field: 129 })), 'cvv2.field', /not defined/],
    [
      'CVV2 in a field that is not masked',
      variant((d) => (d['cvv2'] = { field: 47 })),
      'cvv2.field',
      /must be listed in mask.full/,
    ],
    [
      'a PAN mask on a text field',
      variant((d) => (d['mask'] = { pan: [2, 43], full: [48] })),
      'fields.43.type',
      /type n/,
    ],
  ];
  it.each(bad)('rejects %s, naming where', (_label, json, path, reason) => {
    let caught: unknown;
    try {
      parseProfile(json);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ProfileError);
    expect((caught as ProfileError).path).toBe(path);
    expect((caught as ProfileError).reason).toMatch(reason);
  });
});

describe('CVV2', () => {
  it('is the whole of field 48 in the built-in profiles', () => {
    const message = { mti: '0100', fields: new Map([[48, cvv2FieldValue(ISO8583_1987_ASCII, '987')]]) };
    expect(
      readCvv2(ISO8583_1987_ASCII, unpack(ISO8583_1987_ASCII, pack(ISO8583_1987_ASCII, message)).fields),
    ).toBe('987');
    expect(readCvv2(ISO8583_1987_ASCII, new Map())).toBeUndefined();
  });

  it('is found by tag when the profile names one', () => {
    const definition: ProfileDefinition = {
      ...ISO8583_1987_ASCII.definition,
      cvv2: { field: 48, tag: '92' },
    };
    const profile = defineProfile(definition);
    expect(cvv2FieldValue(profile, '987')).toBe('9203987');
    expect(readCvv2(profile, new Map([[48, '1005ABCDE9203987']]))).toBe('987');
    expect(readCvv2(profile, new Map([[48, '1005ABCDE']]))).toBeUndefined();
    expect(readCvv2(profile, new Map([[48, '92XX987']]))).toBeUndefined();
    expect(readCvv2(profile, new Map([[48, '9209987']]))).toBeUndefined();
  });
});
