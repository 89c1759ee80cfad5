/**
 * When a failed webhook is tried again: Standard Webhooks' suggested schedule (immediately, 5 s, 5 min, 30 min,
 * 2 h, 5 h, 10 h, 10 h) stretched with two longer waits so that, as with Stripe, an endpoint has about three days
 * (71 h 35 min 5 s from the first attempt to the last) to come back before a delivery is marked failed. Fixed
 * rather than jittered: a receiver's operator can read from `next_attempt` exactly when the next try comes, and
 * deliveries that failed together were already spread over the time their events happened.
 */
export const RETRY_DELAYS_MS: readonly number[] = [
  5 * 1000,
  5 * 60 * 1000,
  30 * 60 * 1000,
  2 * 60 * 60 * 1000,
  5 * 60 * 60 * 1000,
  10 * 60 * 60 * 1000,
  10 * 60 * 60 * 1000,
  14 * 60 * 60 * 1000,
  30 * 60 * 60 * 1000,
];

/** The first attempt plus one per retry delay. */
export const ATTEMPTS_MAX = RETRY_DELAYS_MS.length + 1;

/** A redelivery someone asked for is tried once: they asked to see what happens now, not for three more days. */
export const MANUAL_ATTEMPTS_MAX = 1;

/**
 * The wait after the `attempts`-th failed attempt, or undefined when the delivery has had all its attempts and is
 * failed. `attempts` counts every attempt made so far, the failed one included.
 */
export function retryDelayMs(attempts: number, manual = false): number | undefined {
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError('attempts counts from 1');
  if (attempts >= (manual ? MANUAL_ATTEMPTS_MAX : ATTEMPTS_MAX)) return undefined;
  return RETRY_DELAYS_MS[attempts - 1];
}
