import type { Clock } from '../../platform/clock.js';
import type { Database, Transaction } from '../../platform/db/database.js';
import { invalidRequest, notFound } from '../../platform/errors.js';
import type { IdGenerator } from '../../platform/ids.js';
import { appendAudit } from '../../records/audit.js';
import { consumeEventHeaders, type LantauEvent } from '../../records/outbox.js';
import {
  EVENT_OBJECT_ID_SQL,
  eventObjectId,
  insertDeliveries,
  objectIdOrNull,
  webhookDeliveryFromRow,
  type DeliveryTarget,
  type WebhookDelivery,
} from './deliveries.js';
import type { WebhookActor } from './endpoints.js';

/** The outbox consumer whose cursor says which events have been fanned out to endpoints. */
export const WEBHOOK_CONSUMER = 'webhooks';
export const FAN_OUT_BATCH_DEFAULT = 500;

export interface FanOutContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
}

interface MatchRow {
  event_id: string;
  event_seq: number;
  program_id: string;
  endpoint_id: string;
  object_id: string | null;
}

/**
 * Turns one batch of outbox events into pending deliveries, one per event and enabled endpoint of the event's
 * programme that subscribes to its type (or to `*`) and existed when the event happened. "Existed" compares the
 * ids' time-sortable parts rather than timestamps, which tie within a millisecond: so an endpoint sees its own
 * `webhook_endpoint.created`, and reading the outbox again never finds an endpoint made after the first reading
 * "older" than an event it missed. An event with no programme goes nowhere. The deliveries and the consumer's cursor commit together, so a crash re-reads the batch
 * and the unique (endpoint, event) index keeps the replay from adding anything twice. Returns the events read.
 */
export async function fanOutEvents(
  context: FanOutContext,
  options: { readonly batchSize?: number } = {},
): Promise<number> {
  // Headers only: the object's id, all a delivery records of the data, is taken in the statement that matches.
  return consumeEventHeaders(
    context.db,
    context,
    WEBHOOK_CONSUMER,
    options.batchSize ?? FAN_OUT_BATCH_DEFAULT,
    async (events, tx) => {
      const withProgram = events.filter((event) => event.program_id !== null);
      if (withProgram.length === 0) return;
      const matches = await tx.query<MatchRow>(
        `SELECT e.id AS event_id, e.seq AS event_seq, e.program_id, w.id AS endpoint_id,
           ${EVENT_OBJECT_ID_SQL} AS object_id
         FROM events e
         JOIN webhook_endpoints w
           ON w.program_id = e.program_id
          AND w.status = 'enabled' AND w.deleted_at IS NULL
          AND right(w.id, 26) < right(e.id, 26)
          AND (e.type = ANY (w.enabled_events) OR '*' = ANY (w.enabled_events))
         WHERE e.id = ANY ($1::text[])
         ORDER BY e.txid, e.seq, w.id`,
        [withProgram.map((event) => event.id)],
      );
      await insertDeliveries(tx, context, matches.rows.map(target), false);
    },
  );
}

function target(match: MatchRow): DeliveryTarget {
  return {
    programId: match.program_id,
    endpointId: match.endpoint_id,
    eventId: match.event_id,
    eventSeq: match.event_seq,
    objectId: objectIdOrNull(match.object_id),
  };
}

/**
 * Sends an event again (POST /v1/events/{id}/redeliver): a manual delivery to every enabled endpoint of its
 * programme that subscribes to its type, or to the one endpoint named. The event must be the caller's
 * programme's (`programScope`); another programme's is answered as if it did not exist.
 */
export async function redeliverEvent(
  tx: Transaction,
  context: FanOutContext,
  eventId: string,
  programScope: string | undefined,
  endpointId: string | undefined,
  by: WebhookActor,
): Promise<WebhookDelivery[]> {
  const found = await tx.query<{
    id: string;
    type: string;
    program_id: string | null;
    seq: number;
    data: LantauEvent['data'];
  }>(
    `SELECT id, type, program_id, seq, data FROM events
     WHERE id = $1 AND ($2::text IS NULL OR program_id = $2)`,
    [eventId, programScope ?? null],
  );
  const event = found.rows[0];
  if (event === undefined) throw notFound('event', eventId);
  if (event.program_id === null) {
    throw invalidRequest(
      'event_not_deliverable',
      'This event belongs to no programme, so no webhook endpoint receives it',
      'id',
    );
  }
  const programId = event.program_id;
  if (endpointId !== undefined) {
    const named = await tx.query<{ status: string; enabled_events: string[] }>(
      `SELECT status, enabled_events FROM webhook_endpoints
       WHERE id = $1 AND program_id = $2 AND deleted_at IS NULL`,
      [endpointId, programId],
    );
    const endpoint = named.rows[0];
    if (endpoint === undefined) throw notFound('webhook_endpoint', endpointId, 'webhook_endpoint_id');
    if (endpoint.status !== 'enabled') {
      throw invalidRequest(
        'webhook_endpoint_disabled',
        'The webhook endpoint is disabled: enable it before redelivering to it',
        'webhook_endpoint_id',
      );
    }
    if (!endpoint.enabled_events.includes('*') && !endpoint.enabled_events.includes(event.type)) {
      throw invalidRequest(
        'event_type_not_enabled',
        `The webhook endpoint does not subscribe to ${event.type} events`,
        'webhook_endpoint_id',
      );
    }
  }
  const endpoints = await tx.query<{ id: string }>(
    `SELECT id FROM webhook_endpoints
     WHERE program_id = $1 AND status = 'enabled' AND deleted_at IS NULL
       AND ($2::text = ANY (enabled_events) OR '*' = ANY (enabled_events))
       AND ($3::text IS NULL OR id = $3)
     ORDER BY id`,
    [programId, event.type, endpointId ?? null],
  );
  const objectId = eventObjectId(event);
  const rows = await insertDeliveries(
    tx,
    context,
    endpoints.rows.map((endpoint) => ({
      programId,
      endpointId: endpoint.id,
      eventId: event.id,
      eventSeq: event.seq,
      objectId,
    })),
    true,
  );
  await appendAudit(tx, context, {
    ...by,
    action: 'event.redelivery_requested',
    programId,
    target: { type: 'event', id: event.id },
    details: { deliveries: rows.length, webhook_endpoint_id: endpointId ?? null },
  });
  return rows.map(webhookDeliveryFromRow);
}
