import { dispatchDue, type DispatchContext } from './dispatcher.js';
import { FAN_OUT_BATCH_DEFAULT, fanOutEvents, type FanOutContext } from './fan-out.js';

/** Bounds on one round, so a backlog is worked off over several rounds rather than in one that never ends. */
const FAN_OUT_ROUNDS_MAX = 20;
const DISPATCH_ROUNDS_MAX = 10;
const DISPATCH_LIMIT = 100;

export interface WebhookRound {
  readonly events: number;
  readonly attempted: number;
  readonly succeeded: number;
  readonly failed: number;
}

/**
 * One round of the background job: fan new outbox events out to endpoints, then send what is due. `lantau serve`
 * runs it every second, never two at once in a process; several processes may run it together, since the outbox
 * consumer and the claims both skip what another holds. An aborted `signal` ends the round after the step in
 * progress, so shutdown waits for at most one batch of requests.
 */
export async function runWebhookRound(
  context: FanOutContext & DispatchContext,
  options: { readonly signal?: AbortSignal } = {},
): Promise<WebhookRound> {
  const stopped = () => options.signal?.aborted === true;
  let events = 0;
  for (let round = 0; round < FAN_OUT_ROUNDS_MAX && !stopped(); round += 1) {
    const read = await fanOutEvents(context, { batchSize: FAN_OUT_BATCH_DEFAULT });
    events += read;
    if (read < FAN_OUT_BATCH_DEFAULT) break;
  }
  let attempted = 0;
  let succeeded = 0;
  let failed = 0;
  for (let round = 0; round < DISPATCH_ROUNDS_MAX && !stopped(); round += 1) {
    const result = await dispatchDue(context, { limit: DISPATCH_LIMIT });
    attempted += result.attempted;
    succeeded += result.succeeded;
    failed += result.failed + result.closed;
    if (result.attempted + result.closed < DISPATCH_LIMIT) break;
  }
  return { events, attempted, succeeded, failed };
}
