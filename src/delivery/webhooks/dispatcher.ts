import { Counter } from 'prom-client';
import type { Clock } from '../../platform/clock.js';
import type { Database } from '../../platform/db/database.js';
import type { Metrics } from '../../platform/metrics.js';
import { eventFromRow, type LantauEvent } from '../../records/outbox.js';
import type { Keyring } from '../../vault/keyring.js';
import { signMessage } from '../signing.js';
import { retryDelayMs } from './backoff.js';
import { endpointSecretAad, previousEndpointSecretAad } from './endpoints.js';

export const DISPATCH_TIMEOUT_MS_DEFAULT = 10_000;
export const DISPATCH_LIMIT_DEFAULT = 100;
const DISPATCH_LIMIT_MAX = 1_000;
/**
 * How long a claim holds beyond the request's own timeout. A sender that crashes mid-attempt leaves its claim to
 * lapse, and the delivery is tried again: at least once, never lost.
 */
const LEASE_MARGIN_MS = 60_000;
const USER_AGENT = 'Lantau-Webhooks/1.0 (+https://www.standardwebhooks.com)';
const ERROR_LENGTH_MAX = 200;

export type DeliveryOutcome = 'succeeded' | 'retrying' | 'failed';

export interface WebhookMetrics {
  readonly deliveries: Counter<'outcome'>;
}

/** Counters of delivery attempts by outcome, in the process's registry; create once per registry. */
export function createWebhookMetrics(metrics: Pick<Metrics, 'registry'>): WebhookMetrics {
  return {
    deliveries: new Counter({
      name: 'lantau_webhook_delivery_attempts_total',
      help: 'Webhook delivery attempts by outcome: succeeded, retrying (failed, tried again later) or failed (given up)',
      labelNames: ['outcome'],
      registers: [metrics.registry],
    }),
  };
}

export interface DispatchContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly vault: Keyring;
  /** Per attempt, from connecting to the response's status line (default 10 s). */
  readonly timeoutMs?: number;
  readonly metrics?: WebhookMetrics;
}

export interface DispatchResult {
  /** Deliveries attempted this round. */
  readonly attempted: number;
  readonly succeeded: number;
  /** Failed attempts that will be tried again. */
  readonly retrying: number;
  /** Deliveries given up after their last attempt. */
  readonly failed: number;
  /** Deliveries failed unsent because their endpoint was disabled or deleted after they were made. */
  readonly closed: number;
}

interface CandidateRow {
  id: string;
  endpoint_status: string;
  endpoint_deleted: boolean;
}

interface ClaimedRow {
  id: string;
  attempts: number;
  manual: boolean;
  url: string;
  secret_encrypted: Uint8Array | null;
  previous_secret_encrypted: Uint8Array | null;
  previous_secret_expires_at: Date | null;
  endpoint_id: string;
  event_id: string;
  type: string;
  program_id: string | null;
  created: Date;
  data: { object: unknown };
}

interface AttemptResult {
  readonly delivery: ClaimedRow;
  readonly sentAt: Date;
  readonly ok: boolean;
  readonly statusCode: number | null;
  readonly error: string | null;
}

/**
 * Sends what is due, in three steps so that no transaction or row lock is held while a receiver is slow: a short
 * transaction claims due deliveries (pushing their next attempt past a lease), the requests go out with none
 * open, and a second short transaction records each outcome. A delivery waits while an older automatic delivery
 * about the same object to the same endpoint is still pending, so each object's events arrive in order.
 */
export async function dispatchDue(
  context: DispatchContext,
  options: { readonly limit?: number } = {},
): Promise<DispatchResult> {
  const limit = options.limit ?? DISPATCH_LIMIT_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > DISPATCH_LIMIT_MAX) {
    throw new RangeError(`limit must be from 1 to ${DISPATCH_LIMIT_MAX}`);
  }
  const timeoutMs = context.timeoutMs ?? DISPATCH_TIMEOUT_MS_DEFAULT;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 120_000) {
    throw new RangeError('timeoutMs must be from 1 to 120,000');
  }
  const { claimed, closed } = await claimDue(context, limit, timeoutMs);
  if (closed > 0) context.metrics?.deliveries.inc({ outcome: 'failed' }, closed);
  if (claimed.length === 0) return { attempted: 0, succeeded: 0, retrying: 0, failed: 0, closed };
  const results = await Promise.all(claimed.map((delivery) => attempt(context, delivery, timeoutMs)));
  const outcomes = await recordResults(context, results);
  const count = (outcome: DeliveryOutcome) => outcomes.filter((each) => each === outcome).length;
  for (const outcome of ['succeeded', 'retrying', 'failed'] as const) {
    const n = count(outcome);
    if (n > 0) context.metrics?.deliveries.inc({ outcome }, n);
  }
  return {
    attempted: claimed.length,
    succeeded: count('succeeded'),
    retrying: count('retrying'),
    failed: count('failed'),
    closed,
  };
}

async function claimDue(
  context: DispatchContext,
  limit: number,
  timeoutMs: number,
): Promise<{ claimed: ClaimedRow[]; closed: number }> {
  return context.db.transaction(async (tx) => {
    const now = context.clock.now();
    const due = await tx.query<CandidateRow>(
      `SELECT d.id, w.status AS endpoint_status, (w.deleted_at IS NOT NULL) AS endpoint_deleted
       FROM webhook_deliveries d
       JOIN webhook_endpoints w ON w.id = d.endpoint_id
       WHERE d.status = 'pending' AND d.next_attempt_at <= $1
         AND (d.manual OR d.object_id IS NULL OR NOT EXISTS (
               SELECT 1 FROM webhook_deliveries o
               WHERE o.endpoint_id = d.endpoint_id AND o.object_id = d.object_id
                 AND o.status = 'pending' AND NOT o.manual AND o.event_seq < d.event_seq))
       ORDER BY d.next_attempt_at, d.id
       LIMIT $2
       FOR UPDATE OF d SKIP LOCKED`,
      [now, limit],
    );
    // An endpoint disabled or deleted after its deliveries were made: they fail here rather than being sent.
    const closed = due.rows.filter((row) => row.endpoint_deleted || row.endpoint_status !== 'enabled');
    if (closed.length > 0) {
      await tx.query(
        `UPDATE webhook_deliveries d
         SET status = 'failed', next_attempt_at = NULL, updated_at = $2,
             last_error = CASE WHEN w.deleted_at IS NULL THEN 'endpoint disabled' ELSE 'endpoint deleted' END
         FROM webhook_endpoints w
         WHERE d.id = ANY ($1::text[]) AND w.id = d.endpoint_id`,
        [closed.map((row) => row.id), now],
      );
    }
    const open = due.rows.filter((row) => !closed.includes(row)).map((row) => row.id);
    if (open.length === 0) return { claimed: [], closed: closed.length };
    const claimed = await tx.query<ClaimedRow>(
      `UPDATE webhook_deliveries d
       SET attempts = d.attempts + 1, next_attempt_at = $2, updated_at = $3
       FROM webhook_endpoints w, events e
       WHERE d.id = ANY ($1::text[]) AND w.id = d.endpoint_id AND e.id = d.event_id
       RETURNING d.id, d.attempts, d.manual, w.url, w.secret_encrypted, w.previous_secret_encrypted,
                 w.previous_secret_expires_at, d.endpoint_id, e.id AS event_id, e.type, e.program_id, e.created,
                 e.data`,
      [open, new Date(now.getTime() + timeoutMs + LEASE_MARGIN_MS), now],
    );
    return { claimed: claimed.rows.sort((a, b) => (a.id < b.id ? -1 : 1)), closed: closed.length };
  });
}

/** The envelope exactly as GET /v1/events shows it. */
function envelope(row: ClaimedRow): LantauEvent {
  return eventFromRow({
    id: row.event_id,
    type: row.type,
    program_id: row.program_id,
    created: row.created,
    data: row.data,
  });
}

async function signingSecrets(context: DispatchContext, row: ClaimedRow, at: Date): Promise<string[]> {
  if (row.secret_encrypted === null) throw new Error('a claimed delivery’s endpoint has no secret');
  const secrets = [
    (await context.vault.decrypt(row.secret_encrypted, endpointSecretAad(row.endpoint_id))).toString('utf8'),
  ];
  if (
    row.previous_secret_encrypted !== null &&
    row.previous_secret_expires_at !== null &&
    row.previous_secret_expires_at > at
  ) {
    const previous = await context.vault.decrypt(
      row.previous_secret_encrypted,
      previousEndpointSecretAad(row.endpoint_id),
    );
    secrets.push(previous.toString('utf8'));
  }
  return secrets;
}

/**
 * One POST, outside any transaction. The webhook-id is the event's id on every attempt and every redelivery, so
 * a receiver de-duplicates on it. The response body is never read: only its status says anything.
 */
async function attempt(
  context: DispatchContext,
  delivery: ClaimedRow,
  timeoutMs: number,
): Promise<AttemptResult> {
  const sentAt = context.clock.now();
  const failed = (statusCode: number | null, error: string): AttemptResult => ({
    delivery,
    sentAt,
    ok: false,
    statusCode,
    error: error.slice(0, ERROR_LENGTH_MAX),
  });
  let secrets: string[];
  try {
    secrets = await signingSecrets(context, delivery, sentAt);
  } catch {
    return failed(null, 'signing secret unavailable');
  }
  const body = JSON.stringify(envelope(delivery));
  const signatures = secrets.map((secret) => signMessage(secret, delivery.event_id, sentAt, body));
  const [first] = signatures;
  if (first === undefined) return failed(null, 'signing secret unavailable');
  try {
    const response = await fetch(delivery.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'webhook-id': first['webhook-id'],
        'webhook-timestamp': first['webhook-timestamp'],
        'webhook-signature': signatures.map((signed) => signed['webhook-signature']).join(' '),
      },
      body,
      // A redirect is an answer other than 2xx: following it would send the signed event somewhere unregistered.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) {
      return { delivery, sentAt, ok: true, statusCode: response.status, error: null };
    }
    return failed(response.status, `HTTP ${response.status}`);
  } catch (error) {
    return failed(null, describeFailure(error, timeoutMs));
  }
}

/** A short, fixed description of why a request got no answer: a code, never a message that may quote the peer. */
function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `timeout after ${timeoutMs} ms`;
  }
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') {
    return /^[A-Z0-9_]{1,40}$/.test(cause.code) ? cause.code : 'connection failed';
  }
  return 'connection failed';
}

async function recordResults(
  context: DispatchContext,
  results: readonly AttemptResult[],
): Promise<DeliveryOutcome[]> {
  return context.db.transaction(async (tx) => {
    const now = context.clock.now();
    const outcomes: DeliveryOutcome[] = [];
    for (const result of results) {
      const { delivery } = result;
      const delay = result.ok ? undefined : retryDelayMs(delivery.attempts, delivery.manual);
      const outcome: DeliveryOutcome = result.ok ? 'succeeded' : delay === undefined ? 'failed' : 'retrying';
      // Only the claim that made this attempt may record it: if the lease lapsed and another sender claimed the
      // delivery again, its attempt count moved on and that sender records instead. A success is recorded even
      // if the endpoint was disabled meanwhile, since the receiver did get the event.
      const updated = await tx.query(
        `UPDATE webhook_deliveries
         SET status = $2, next_attempt_at = $3, last_attempt_at = $4, last_status_code = $5, last_error = $6,
             updated_at = $7
         WHERE id = $1 AND attempts = $8 AND (status = 'pending' OR $2 = 'succeeded')`,
        [
          delivery.id,
          outcome === 'retrying' ? 'pending' : outcome,
          delay === undefined ? null : new Date(now.getTime() + delay),
          result.sentAt,
          result.statusCode,
          result.error,
          now,
          delivery.attempts,
        ],
      );
      if (updated.rowCount > 0) outcomes.push(outcome);
    }
    return outcomes;
  });
}
