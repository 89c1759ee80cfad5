/**
 * ISO 8583 codec figures for `npm run bench` (bench/index.ts registers `benchIso8583`): pack and unpack rates of a
 * typical 0100 (18 fields: PAN, amounts, dates, track 2, merchant data, PIN block) through Lantau's codec in both
 * built-in profiles, and the same message through the npm `iso_8583` package measured in the same run for
 * comparison. One core, synchronous loops; nothing here fails on a number.
 */
import { createRequire } from 'node:module';
import {
  ISO8583_1987_ASCII,
  ISO8583_1987_BCD,
  pack,
  unpack,
  type Iso8583Profile,
  type IsoMessage,
} from '../src/edges/iso8583/codec/index.js';

/** Synchronous loops look at the time once per this many operations, so reading the clock costs little. */
const CHECK_EVERY = 256;

const PAN = '4000123456789010';

const LANTAU_MESSAGE: IsoMessage = {
  mti: '0100',
  fields: new Map<number, string | Uint8Array>([
    [2, PAN],
    [3, '000000'],
    [4, '000000012345'],
    [7, '0101123045'],
    [11, '000001'],
    [12, '123045'],
    [13, '0101'],
    [14, '2812'],
    [18, '5999'],
    [22, '051'],
    [32, '123456'],
    [35, `${PAN}=28121010000`],
    [37, '000000000001'],
    [41, 'TERM0001'],
    [42, 'MERCHANT0000001'],
    [43, 'LANTAU CAFE                    HONG KONG'],
    [49, '344'],
    [52, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])],
  ]),
};

/** The same message in iso_8583's shape (field number → string; 49 numeric, its default; 52 as hex). */
const LIBRARY_MESSAGE: Record<number, string> = {
  0: '0100',
  2: PAN,
  3: '000000',
  4: '000000012345',
  7: '0101123045',
  11: '000001',
  12: '123045',
  13: '0101',
  14: '2812',
  18: '5999',
  22: '051',
  32: '123456',
  35: `${PAN}=28121010000`,
  37: '000000000001',
  41: 'TERM0001',
  42: 'MERCHANT0000001',
  43: 'LANTAU CAFE                    HONG KONG',
  49: '344',
  52: '0102030405060708',
};

/** The slice of iso_8583's (untyped, CommonJS) API used here. */
interface Iso8583Library {
  new (data?: Record<number, string>): {
    getRawMessage(): Buffer | { error: string };
    getIsoJSON(buffer: Buffer, config: { lenHeader: boolean }): Record<string, string> | { error: string };
  };
}

function rate(count: number, ms: number): string {
  return Math.round((count / ms) * 1000).toLocaleString('en-US');
}

function loop(seconds: number, step: () => unknown): { operations: number; ms: number } {
  // Warm up so the JIT has compiled the path being measured.
  for (let index = 0; index < 10 * CHECK_EVERY; index += 1) step();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let operations = 0;
  while (performance.now() < deadline) {
    for (let index = 0; index < CHECK_EVERY; index += 1) step();
    operations += CHECK_EVERY;
  }
  return { operations, ms: performance.now() - started };
}

function report(label: string, result: { operations: number; ms: number }): number {
  const perSecond = (result.operations / result.ms) * 1000;
  console.log(`iso8583  ${label}: ${rate(result.operations, result.ms)} messages/s`);
  return perSecond;
}

export function benchIso8583(seconds = 2): void {
  const figures: Record<string, number> = {};
  for (const profile of [ISO8583_1987_ASCII, ISO8583_1987_BCD] as Iso8583Profile[]) {
    const bytes = pack(profile, LANTAU_MESSAGE);
    figures[`pack ${profile.name}`] = report(
      `lantau pack   ${profile.name} (${bytes.length} bytes)`,
      loop(seconds, () => pack(profile, LANTAU_MESSAGE)),
    );
    figures[`unpack ${profile.name}`] = report(
      `lantau unpack ${profile.name}`,
      loop(seconds, () => unpack(profile, bytes)),
    );
  }

  const require = createRequire(import.meta.url);
  const Library = require('iso_8583') as Iso8583Library;
  const raw = new Library(LIBRARY_MESSAGE).getRawMessage();
  if (!Buffer.isBuffer(raw)) {
    console.log(`iso8583  iso_8583 could not pack the message: ${raw.error}`);
    return;
  }
  const decoded = new Library().getIsoJSON(raw, { lenHeader: false });
  if ('error' in decoded) {
    console.log(`iso8583  iso_8583 could not unpack its own message: ${decoded.error}`);
    return;
  }
  const libraryPack = report(
    `iso_8583 pack   (${raw.length} bytes)`,
    loop(seconds, () => new Library(LIBRARY_MESSAGE).getRawMessage()),
  );
  const libraryUnpack = report(
    'iso_8583 unpack',
    loop(seconds, () => new Library().getIsoJSON(raw, { lenHeader: false })),
  );
  const asciiPack = figures[`pack ${ISO8583_1987_ASCII.name}`] ?? 0;
  const asciiUnpack = figures[`unpack ${ISO8583_1987_ASCII.name}`] ?? 0;
  console.log(
    `iso8583  ${ISO8583_1987_ASCII.name} against iso_8583: pack ${(asciiPack / libraryPack).toFixed(1)}x, ` +
      `unpack ${(asciiUnpack / libraryUnpack).toFixed(1)}x`,
  );
}
