import type { Clock } from '../platform/clock.js';
import type { Database, Queryable, Transaction } from '../platform/db/database.js';
import type { IdGenerator } from '../platform/ids.js';
import type { Statement } from '../platform/db/statements.js';

/** DESIGN.md's envelope: what webhooks, streams and the API's /v1/events all carry. */
export interface LantauEvent<T = unknown> extends EventHeader {
  readonly data: { readonly object: T };
}

/** An event without its data: for a consumer that routes events and reads the data only where it goes. */
export interface EventHeader {
  readonly id: string;
  readonly type: string;
  readonly created: string;
  readonly program_id: string | null;
}

export interface EventInput {
  /** `resource.happening`, such as `card.created` or `authorization.request.approved`. */
  readonly type: string;
  readonly programId: string | null;
  readonly object: unknown;
}

export interface RecordsContext {
  readonly clock: Clock;
  readonly ids: IdGenerator;
}

const EVENT_TYPE = /^[a-z][a-z_]*(\.[a-z][a-z_]*)+$/;

interface EventRow {
  id: string;
  type: string;
  program_id: string | null;
  created: Date;
  data: { object: unknown };
}

function headerFromRow(row: Omit<EventRow, 'data'>): EventHeader {
  return { id: row.id, type: row.type, created: row.created.toISOString(), program_id: row.program_id };
}

export function eventFromRow(row: EventRow): LantauEvent {
  return { ...headerFromRow(row), data: row.data };
}

/**
 * Writes events in the caller's transaction, so an event exists exactly when the change it describes committed.
 * Many events go in one statement: the batched write paths of later parts emit one per decision.
 */
export async function emitEvents(
  tx: Transaction,
  context: RecordsContext,
  inputs: readonly EventInput[],
): Promise<LantauEvent[]> {
  const { events, statement } = eventsInsert(context, inputs);
  if (statement !== undefined) await tx.query(statement.sql, statement.params);
  return events;
}

/**
 * `emitEvents` as a statement for the caller to run in its transaction, alone or with others (`runTogether`): a
 * group commit writes its events in the same round trip as its other rows.
 */
export function eventsInsert(
  context: RecordsContext,
  inputs: readonly EventInput[],
): { readonly events: LantauEvent[]; readonly statement: Statement | undefined } {
  if (inputs.length === 0) return { events: [], statement: undefined };
  const created = context.clock.now();
  const events = inputs.map((input): LantauEvent => {
    if (!EVENT_TYPE.test(input.type)) throw new RangeError(`bad event type ${JSON.stringify(input.type)}`);
    return {
      id: context.ids('evt'),
      type: input.type,
      created: created.toISOString(),
      program_id: input.programId,
      data: { object: input.object },
    };
  });
  // One JSON document for all rows: the driver sends it as it is (an array of JSON texts would be escaped
  // element by element). As `json` the server only checks the document, then builds each event's data into jsonb
  // once; as `jsonb` it would build the whole document first, a quarter slower.
  const statement: Statement = {
    sql: `INSERT INTO events (id, type, program_id, created, data)
     SELECT id, type, program_id, $2::timestamptz, data
     FROM json_to_recordset($1::json) AS e(id text, type text, program_id text, data jsonb)
     ORDER BY id`,
    params: [
      JSON.stringify(events.map(({ id, type, program_id, data }) => ({ id, type, program_id, data }))),
      created,
    ],
  };
  return { events, statement };
}

export async function emitEvent(
  tx: Transaction,
  context: RecordsContext,
  input: EventInput,
): Promise<LantauEvent> {
  const [event] = await emitEvents(tx, context, [input]);
  if (event === undefined) throw new Error('emitEvents returned nothing for one input');
  return event;
}

export async function getEvent(
  db: Queryable,
  id: string,
  programId?: string | null,
): Promise<LantauEvent | undefined> {
  const result =
    programId === undefined
      ? await db.query<EventRow>('SELECT id, type, program_id, created, data FROM events WHERE id = $1', [id])
      : await db.query<EventRow>(
          'SELECT id, type, program_id, created, data FROM events WHERE id = $1 AND program_id IS NOT DISTINCT FROM $2',
          [id, programId],
        );
  const row = result.rows[0];
  return row === undefined ? undefined : eventFromRow(row);
}

export interface ConsumedBatch {
  readonly events: readonly LantauEvent[];
}

/**
 * Reads the outbox in commit order for one named consumer (webhook delivery, stream publishing, AML
 * monitoring). The consumer's cursor row is locked while its handler runs, so two processes never hand the
 * same event to the same consumer at once, and the cursor moves in the handler's own transaction: what the
 * handler writes and the cursor commit together. A handler that throws leaves the cursor where it was.
 */
export async function consumeEvents(
  db: Database,
  context: Pick<RecordsContext, 'clock'>,
  consumer: string,
  batchSizeMax: number,
  handler: (events: readonly LantauEvent[], tx: Transaction) => Promise<void>,
): Promise<number> {
  return consumeRows(db, context, consumer, batchSizeMax, true, (rows, tx) =>
    handler(rows.map(eventFromRow), tx),
  );
}

/**
 * `consumeEvents` for a consumer that needs only the events' headers: the data, the bulk of every event, is
 * neither read nor sent nor parsed.
 */
export async function consumeEventHeaders(
  db: Database,
  context: Pick<RecordsContext, 'clock'>,
  consumer: string,
  batchSizeMax: number,
  handler: (headers: readonly EventHeader[], tx: Transaction) => Promise<void>,
): Promise<number> {
  return consumeRows(db, context, consumer, batchSizeMax, false, (rows, tx) =>
    handler(rows.map(headerFromRow), tx),
  );
}

async function consumeRows<WithData extends boolean>(
  db: Database,
  context: Pick<RecordsContext, 'clock'>,
  consumer: string,
  batchSizeMax: number,
  withData: WithData,
  handler: (
    rows: readonly (WithData extends true ? EventRow : Omit<EventRow, 'data'>)[],
    tx: Transaction,
  ) => Promise<void>,
): Promise<number> {
  if (!Number.isInteger(batchSizeMax) || batchSizeMax < 1 || batchSizeMax > 10_000) {
    throw new RangeError('batchSizeMax must be from 1 to 10,000');
  }
  return db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO outbox_consumers (name, updated_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
      [consumer, context.clock.now()],
    );
    const cursor = await tx.query<{ last_txid: string; last_seq: number }>(
      `SELECT last_txid::text AS last_txid, last_seq FROM outbox_consumers WHERE name = $1 FOR UPDATE SKIP LOCKED`,
      [consumer],
    );
    const position = cursor.rows[0];
    if (position === undefined) return 0; // another process holds this consumer
    // Ordered by the columns, not by the output's `txid`, which is text: as text, transaction 10 sorts before 9,
    // and the cursor would pass over the events in between. The index on (txid, seq) then serves the order.
    const rows = await tx.query<
      (WithData extends true ? EventRow : Omit<EventRow, 'data'>) & { txid: string; seq: number }
    >(
      `SELECT id, type, program_id, created, ${withData ? 'data, ' : ''}txid::text AS txid, seq
       FROM events
       WHERE (txid, seq) > ($1::xid8, $2::bigint)
         AND txid < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY events.txid, events.seq
       LIMIT $3`,
      [position.last_txid, position.last_seq, batchSizeMax],
    );
    const last = rows.rows.at(-1);
    if (last === undefined) return 0;
    await handler(rows.rows, tx);
    await tx.query(
      `UPDATE outbox_consumers SET last_txid = $2::xid8, last_seq = $3, updated_at = $4 WHERE name = $1`,
      [consumer, last.txid, last.seq, context.clock.now()],
    );
    return rows.rows.length;
  });
}
