import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Clock } from './clock.js';

/**
 * Ids are `<prefix>_<ulid>` in lower case: time-sortable (the first 10 characters are the millisecond), unique
 * without coordination between processes, and readable in logs. Lower-casing Crockford base32 keeps the order,
 * and id columns use the "C" collation so the database sorts them the same way.
 */
export type IdGenerator = (prefix: string) => string;

const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}$/;
export const ID_PATTERN = /^[a-z][a-z0-9]{0,15}_[0-9a-hjkmnp-tv-z]{26}$/;

/** Draws for the random part, 1,024 at a time: ulid's own source asks the operating system once per character. */
function pooledRandom(): () => number {
  const pool = new Uint32Array(1_024);
  let used = pool.length;
  return () => {
    if (used === pool.length) {
      randomFillSync(pool);
      used = 0;
    }
    const draw = pool[used] ?? 0;
    used += 1;
    return draw / 2 ** 32;
  };
}

export function createIdGenerator(clock: Clock): IdGenerator {
  const next = monotonicFactory(pooledRandom());
  return (prefix) => {
    if (!PREFIX_PATTERN.test(prefix)) throw new RangeError(`bad id prefix ${JSON.stringify(prefix)}`);
    return `${prefix}_${next(clock.now().getTime()).toLowerCase()}`;
  };
}

export function isId(value: string, prefix?: string): boolean {
  return ID_PATTERN.test(value) && (prefix === undefined || value.startsWith(`${prefix}_`));
}
