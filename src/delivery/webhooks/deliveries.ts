import type { Transaction } from '../../platform/db/database.js';
import type { IdGenerator } from '../../platform/ids.js';
import type { Clock } from '../../platform/clock.js';
import type { LantauEvent } from '../../records/outbox.js';

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** One event's delivery to one endpoint, with the outcome of its latest attempt. */
export interface WebhookDelivery {
  readonly id: string;
  readonly object: 'webhook_delivery';
  readonly program_id: string;
  readonly webhook_endpoint_id: string;
  readonly event_id: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  /** When it is tried next; null once it succeeded or failed. */
  readonly next_attempt: string | null;
  readonly last_attempt: string | null;
  readonly last_status_code: number | null;
  readonly last_error: string | null;
  /** A redelivery someone asked for, rather than the automatic one. */
  readonly manual: boolean;
  readonly created: string;
  readonly updated: string;
}

export interface WebhookDeliveryRow {
  id: string;
  program_id: string;
  endpoint_id: string;
  event_id: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  manual: boolean;
  created_at: Date;
  updated_at: Date;
}

export const WEBHOOK_DELIVERY_COLUMNS = `id, program_id, endpoint_id, event_id, status, attempts, next_attempt_at,
  last_attempt_at, last_status_code, last_error, manual, created_at, updated_at`;

export function webhookDeliveryFromRow(row: WebhookDeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    object: 'webhook_delivery',
    program_id: row.program_id,
    webhook_endpoint_id: row.endpoint_id,
    event_id: row.event_id,
    status: row.status,
    attempts: row.attempts,
    next_attempt: row.next_attempt_at?.toISOString() ?? null,
    last_attempt: row.last_attempt_at?.toISOString() ?? null,
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    manual: row.manual,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

export const OBJECT_ID_LENGTH_MAX = 255;

/** The id of what the event is about (`data.object.id`), which orders deliveries about one object. */
export function eventObjectId(event: Pick<LantauEvent, 'data'>): string | null {
  const object: unknown = event.data.object;
  if (typeof object !== 'object' || object === null || !('id' in object)) return null;
  return objectIdOrNull(object.id);
}

/** An event object's `id` as deliveries record it: a string of a sensible length, or nothing. */
export function objectIdOrNull(id: unknown): string | null {
  return typeof id === 'string' && id.length > 0 && id.length <= OBJECT_ID_LENGTH_MAX ? id : null;
}

/** `eventObjectId` in SQL, for the events aliased `e`: the id only where it is a JSON string. */
export const EVENT_OBJECT_ID_SQL = `CASE WHEN jsonb_typeof(e.data->'object'->'id') = 'string'
  THEN e.data->'object'->>'id' END`;

export interface DeliveryTarget {
  readonly programId: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly eventSeq: number;
  readonly objectId: string | null;
}

/**
 * Inserts pending deliveries, due now, in the order given. Automatic ones are unique per endpoint and event, so
 * fanning the same events out again adds nothing; manual ones always add a row. Returns the rows inserted.
 */
export async function insertDeliveries(
  tx: Transaction,
  context: { readonly clock: Clock; readonly ids: IdGenerator },
  targets: readonly DeliveryTarget[],
  manual: boolean,
): Promise<WebhookDeliveryRow[]> {
  if (targets.length === 0) return [];
  const now = context.clock.now();
  const inserted = await tx.query<WebhookDeliveryRow>(
    `INSERT INTO webhook_deliveries (id, program_id, endpoint_id, event_id, event_seq, object_id, status, attempts,
                                     next_attempt_at, manual, created_at, updated_at)
     SELECT t.id, t.program_id, t.endpoint_id, t.event_id, t.event_seq, t.object_id, 'pending', 0, $7, $8, $7, $7
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])
       AS t(id, program_id, endpoint_id, event_id, event_seq, object_id)
     ORDER BY t.id
     ON CONFLICT (endpoint_id, event_id) WHERE NOT manual DO NOTHING
     RETURNING ${WEBHOOK_DELIVERY_COLUMNS}`,
    [
      targets.map(() => context.ids('whd')),
      targets.map((target) => target.programId),
      targets.map((target) => target.endpointId),
      targets.map((target) => target.eventId),
      targets.map((target) => target.eventSeq),
      targets.map((target) => target.objectId),
      now,
      manual,
    ],
  );
  return inserted.rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
