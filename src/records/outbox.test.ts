import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { PostgresDatabase } from '../platform/db/postgres.js';
import { createIdGenerator } from '../platform/ids.js';
import { consumeEvents, emitEvent, emitEvents, getEvent, type LantauEvent } from './outbox.js';

let db: TestDatabase;
const clock = new ManualClock('2026-04-01T00:00:00.000Z');
const context = { clock, ids: createIdGenerator(clock) };

beforeAll(async () => {
  db = await openTestDatabase();
  await db.exec(`CREATE TABLE t_things (id text PRIMARY KEY, program_id text)`);
});
afterAll(async () => db.close());

async function thingCreated(id: string, fail: boolean): Promise<LantauEvent | undefined> {
  let emitted: LantauEvent | undefined;
  await db
    .transaction(async (tx) => {
      await tx.query('INSERT INTO t_things (id, program_id) VALUES ($1, $2)', [id, 'prog_1']);
      emitted = await emitEvent(tx, context, { type: 'thing.created', programId: 'prog_1', object: { id } });
      if (fail) throw new Error('the change failed after the event was written');
    })
    .catch(() => undefined);
  return emitted;
}

async function drain(consumer: string): Promise<LantauEvent[]> {
  const seen: LantauEvent[] = [];
  while ((await consumeEvents(db, context, consumer, 3, async (events) => void seen.push(...events))) > 0) {
    /* keep reading */
  }
  return seen;
}

describe('transactional outbox', () => {
  it('holds an event exactly when the change it describes committed', async () => {
    const committed = await thingCreated('thing_ok', false);
    const rolledBack = await thingCreated('thing_fail', true);
    expect(committed).toBeDefined();
    expect(rolledBack).toBeDefined();
    expect(await getEvent(db, committed?.id ?? '')).toEqual(committed);
    expect(await getEvent(db, rolledBack?.id ?? '')).toBeUndefined();
    const things = await db.query<{ id: string }>('SELECT id FROM t_things ORDER BY id');
    expect(things.rows.map((row) => row.id)).toEqual(['thing_ok']);
  });

  it('reads in transaction order when the transaction ids gain a digit', async () => {
    // Transaction ids 9 and 10 sort the other way round as text. Both are older than any transaction here.
    await db.exec(`INSERT INTO events (id, type, program_id, created, data, txid) VALUES
      ('evt_00000000000000000000000009', 'thing.created', 'prog_1', now(), '{}', '9'::xid8),
      ('evt_00000000000000000000000010', 'thing.created', 'prog_1', now(), '{}', '10'::xid8)`);
    const seen: string[] = [];
    while (
      (await consumeEvents(
        db,
        context,
        'digits',
        1,
        async (events) => void seen.push(...events.map((e) => e.id)),
      )) > 0
    ) {
      /* keep reading */
    }
    expect(seen.slice(0, 2)).toEqual(['evt_00000000000000000000000009', 'evt_00000000000000000000000010']);
  });

  it('writes the envelope DESIGN.md describes', async () => {
    const event = await thingCreated('thing_shape', false);
    expect(event).toMatchObject({
      id: expect.stringMatching(/^evt_[0-9a-z]{26}$/) as unknown,
      type: 'thing.created',
      created: '2026-04-01T00:00:00.000Z',
      program_id: 'prog_1',
      data: { object: { id: 'thing_shape' } },
    });
  });

  it('refuses a malformed event type and writes nothing', async () => {
    await expect(
      db.transaction((tx) => emitEvent(tx, context, { type: 'Thing Created', programId: null, object: {} })),
    ).rejects.toThrow(/bad event type/);
  });

  it('hands every committed event to each consumer once, in commit order', async () => {
    const before = await drain('test-consumer');
    await db.transaction((tx) =>
      emitEvents(tx, context, [
        { type: 'thing.updated', programId: 'prog_1', object: { n: 1 } },
        { type: 'thing.updated', programId: 'prog_1', object: { n: 2 } },
      ]),
    );
    await thingCreated('thing_later', false);
    const after = await drain('test-consumer');
    expect(before.length).toBeGreaterThan(0);
    expect(after.map((event) => event.type)).toEqual(['thing.updated', 'thing.updated', 'thing.created']);
    expect(await drain('test-consumer')).toEqual([]);
    // Another consumer has its own cursor and sees everything.
    const other = await drain('other-consumer');
    expect(other.map((event) => event.id)).toEqual([...before, ...after].map((event) => event.id));
  });

  it('keeps the cursor where it was when the handler fails', async () => {
    await drain('failing-consumer');
    await thingCreated('thing_retry', false);
    await expect(
      consumeEvents(db, context, 'failing-consumer', 10, async () => {
        throw new Error('webhook endpoint down');
      }),
    ).rejects.toThrow('webhook endpoint down');
    const retried = await drain('failing-consumer');
    expect(retried.map((event) => (event.data.object as { id: string }).id)).toEqual(['thing_retry']);
  });

  it('never skips an event whose transaction commits after a later one', async (test) => {
    if (db.url === undefined) return test.skip('needs two connections: PostgreSQL only');
    await drain('ordering-consumer');
    const slow = new PostgresDatabase({ connectionString: db.url, maxConnections: 1 });
    try {
      let releaseSlow: () => void = () => undefined;
      const slowMayCommit = new Promise<void>((resolve) => (releaseSlow = resolve));
      let slowWrote: () => void = () => undefined;
      const slowHasWritten = new Promise<void>((resolve) => (slowWrote = resolve));
      const slowTx = slow.transaction(async (tx) => {
        await emitEvent(tx, context, { type: 'thing.slow', programId: null, object: {} });
        slowWrote();
        await slowMayCommit;
      });
      await slowHasWritten;
      await db.transaction((tx) =>
        emitEvent(tx, context, { type: 'thing.fast', programId: null, object: {} }),
      );
      // The fast event committed, but an older transaction is still open: nothing may be handed out past it.
      expect(await drain('ordering-consumer')).toEqual([]);
      releaseSlow();
      await slowTx;
      expect((await drain('ordering-consumer')).map((event) => event.type)).toEqual([
        'thing.slow',
        'thing.fast',
      ]);
    } finally {
      await slow.close();
    }
  });
});
