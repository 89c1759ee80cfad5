/**
 * fast-check arbitraries for the codec's tests (imported only by *.test.ts): random valid messages for any profile.
 * Fixed-length text is generated at its full length, so pack → unpack gives back exactly what went in.
 */
import fc from 'fast-check';
import type { IsoMessage } from './codec.js';
import type { CompiledField, Iso8583Profile } from './profile.js';

/** Longest variable value generated, to keep runs quick while still crossing LL/LLL boundaries. */
const VARIABLE_LENGTH_MAX = 120;

const DIGITS = '0123456789';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, index) => String.fromCharCode(0x20 + index)).join(
  '',
);

function textFrom(alphabet: string, minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc
    .array(fc.integer({ min: 0, max: alphabet.length - 1 }), { minLength, maxLength })
    .map((indexes) => indexes.map((index) => alphabet.charAt(index)).join(''));
}

export function valueArbitrary(spec: CompiledField): fc.Arbitrary<string | Uint8Array> {
  const fixed = spec.prefixDigits === 0;
  const min = fixed ? spec.length : 0;
  const max = fixed ? spec.length : Math.min(spec.length, VARIABLE_LENGTH_MAX);
  switch (spec.type) {
    case 'b':
      return fc.uint8Array({ minLength: min, maxLength: max });
    case 'n':
      return textFrom(DIGITS, min, max);
    case 'a':
      return textFrom(`${LETTERS} `, min, max);
    case 'an':
      return textFrom(`${LETTERS}${DIGITS} `, min, max);
    case 'ans':
      return textFrom(PRINTABLE, min, max);
    case 'z':
      return textFrom(spec.charset[0x44] === 1 ? `${DIGITS}=D` : `${DIGITS}=`, min, max);
    case 'xn':
      return fc
        .tuple(fc.constantFrom('C', 'D'), textFrom(DIGITS, Math.max(min - 1, 1), Math.max(max - 1, 1)))
        .map(([sign, digits]) => sign + digits);
  }
}

export function messageArbitrary(profile: Iso8583Profile): fc.Arbitrary<IsoMessage> {
  const entries: [number, fc.Arbitrary<string | Uint8Array>][] = [];
  for (const spec of profile.specs) if (spec !== undefined) entries.push([spec.field, valueArbitrary(spec)]);
  return fc
    .tuple(
      textFrom(DIGITS, 4, 4),
      fc
        .subarray(entries, { minLength: 0 })
        .chain((chosen) =>
          fc.tuple(...chosen.map(([field, value]) => value.map((v) => [field, v] as const))),
        ),
    )
    .map(([mti, pairs]) => ({ mti, fields: new Map<number, string | Uint8Array>(pairs) }));
}
