import { createHash } from 'node:crypto';
import { envKek } from '../src/vault/kek-env.js';
import type { KeyEncryptionKey } from '../src/vault/kek.js';
import { Secret } from '../src/vault/secret.js';

/** What every benchmark group shares: a fixed-concurrency driver, a rate printer and one KEK. */

export function rate(count: number, ms: number): string {
  return Math.round((count / ms) * 1000).toLocaleString('en-US');
}

/**
 * Runs `step` from `concurrency` callers until `seconds` pass; each step returns how many operations it completed.
 * Returns the operations completed and the elapsed milliseconds.
 */
export async function drive(
  seconds: number,
  concurrency: number,
  step: (caller: number) => Promise<number>,
): Promise<{ operations: number; ms: number }> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let operations = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, caller) => {
      while (performance.now() < deadline) {
        // Not `operations += await step()`: that reads `operations` before the await and loses the other callers' counts.
        const done = await step(caller);
        operations += done;
      }
    }),
  );
  return { operations, ms: performance.now() - started };
}

/**
 * A fixed KEK for benchmarks: the data keys a database holds are wrapped by whichever KEK first opened it, so every
 * bench that opens a keyring on the same database must use this one (never for anything but benchmarks).
 */
export function benchKek(): KeyEncryptionKey {
  return envKek(new Secret(createHash('sha256').update('lantau bench kek, not a secret').digest()));
}
