/** What every benchmark group shares: a fixed-concurrency driver and a rate printer. */

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
