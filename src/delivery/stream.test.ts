import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { createMetrics } from '../platform/metrics.js';
import { emitEvents, type EventInput, type LantauEvent } from '../records/outbox.js';
import { createLogger } from '../platform/logger.js';
import {
  STREAM_CONSUMER,
  StreamPublisher,
  startStreamPublishing,
  subjectFor,
  type PublishSummary,
  type StreamPublisherOptions,
} from './stream.js';

// The local NATS server of .ci/run. Each test has a stream and subject prefix of its own, deleted afterwards,
// so test files and runs side by side never see each other's messages.
const NATS_SERVER = process.env.TEST_NATS_SERVER ?? '127.0.0.1:4222';

const clock = new ManualClock('2026-05-01T00:00:00.000Z');
const context = { clock, ids: createIdGenerator(clock) };

let nc: NatsConnection;
let jsm: JetStreamManager;
let db: TestDatabase;
let stream: string;
let prefix: string;
const publishers: StreamPublisher[] = [];

beforeAll(async () => {
  nc = await connect({ servers: NATS_SERVER });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => nc.drain());

function publisher(options: Partial<StreamPublisherOptions> = {}): StreamPublisher {
  const created = new StreamPublisher(
    db,
    { clock },
    { servers: [NATS_SERVER], stream, subjectPrefix: prefix, ...options },
  );
  publishers.push(created);
  return created;
}

async function emit(inputs: readonly EventInput[]): Promise<LantauEvent[]> {
  const events = await db.transaction((tx) => emitEvents(tx, context, inputs));
  await untilConsumable();
  return events;
}

/**
 * The outbox hands a consumer only events older than every transaction still running on the server, and on a
 * shared PostgreSQL server other test files' transactions count too: wait (briefly, polling the database) until
 * every event written here is consumable, so each publishing round below sees exactly what the test wrote.
 */
async function untilConsumable(): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { rows } = await db.query<{ waiting: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM events WHERE txid >= pg_snapshot_xmin(pg_current_snapshot())) AS waiting`,
    );
    if (rows[0]?.waiting !== true) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('events did not become consumable within 20 s');
}

function cardEvents(programId: string | null, count: number): EventInput[] {
  return Array.from({ length: count }, (_, n) => ({
    type: n % 2 === 0 ? 'card.created' : 'card.updated',
    programId,
    object: { id: `card_${n}`, object: 'card', last4: String(1000 + n), nested: { n, note: 'ü ✓' } },
  }));
}

interface StreamedMessage {
  subject: string;
  msgId: string | undefined;
  body: unknown;
}

/** Everything the stream holds, in stream order, read back by sequence. */
async function streamed(): Promise<StreamedMessage[]> {
  const info = await jsm.streams.info(stream);
  const messages: StreamedMessage[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
    const message = await jsm.streams.getMessage(stream, { seq });
    if (message === null) throw new Error(`stream message ${seq} is missing`);
    messages.push({
      subject: message.subject,
      msgId: message.header.get('Nats-Msg-Id'),
      body: message.json(),
    });
  }
  expect(messages).toHaveLength(info.state.messages);
  return messages;
}

/** The whole outbox in commit order, through a consumer of the test's own. */
async function outbox(): Promise<LantauEvent[]> {
  const rows = await db.query<{
    id: string;
    type: string;
    program_id: string | null;
    created: Date;
    data: unknown;
  }>('SELECT id, type, program_id, created, data FROM events ORDER BY txid, seq');
  return rows.rows.map((row) => ({
    id: row.id,
    type: row.type,
    program_id: row.program_id,
    created: row.created.toISOString(),
    data: row.data as { object: unknown },
  }));
}

function expected(events: readonly LantauEvent[]): StreamedMessage[] {
  return events.map((event) => ({
    subject: `${prefix}.${event.program_id ?? 'platform'}.${event.type}`,
    msgId: event.id,
    body: {
      id: event.id,
      type: event.type,
      created: event.created,
      program_id: event.program_id,
      data: event.data,
    },
  }));
}

async function cursor(): Promise<{ last_txid: string; last_seq: number } | undefined> {
  const result = await db.query<{ last_txid: string; last_seq: number }>(
    'SELECT last_txid::text AS last_txid, last_seq FROM outbox_consumers WHERE name = $1',
    [STREAM_CONSUMER],
  );
  return result.rows[0];
}

describe('event stream to NATS JetStream', () => {
  beforeEach(async () => {
    const tag = randomBytes(6).toString('hex');
    stream = `LANTAU_TEST_${tag}`;
    prefix = `lantau_test_${tag}`;
    db = await openTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(publishers.splice(0).map((publisher) => publisher.close()));
    await jsm.streams.delete(stream).catch(() => undefined);
    await db.close();
  });

  it('publishes the outbox one for one: same ids, order, bodies and subjects, nothing extra', async () => {
    await emit(cardEvents('prog_01hstreamaaaaaaaaaaaaaaaaa', 3));
    await emit([{ type: 'program.updated', programId: null, object: { id: 'platform-wide' } }]);
    await emit(cardEvents('prog_01hstreamaaaaaaaaaaaaaaaaa', 600)); // more than one batch of 256
    const metrics = createMetrics({ collectDefaults: false });
    const summary = await publisher({ metrics }).publishPending();

    const events = await outbox();
    expect(events).toHaveLength(604);
    expect(summary).toEqual({ published: 604, duplicates: 0, skipped: 0 });
    expect(await streamed()).toEqual(expected(events));
    const counted = (await metrics.streamEvents.get()).values;
    expect(counted.map(({ labels, value }) => [labels.outcome, value])).toEqual([['published', 604]]);

    // Nothing new: nothing more is sent.
    expect(await publishers[0]?.publishPending()).toEqual({ published: 0, duplicates: 0, skipped: 0 });
    expect((await jsm.streams.info(stream)).state.messages).toBe(604);
  });

  it('creates its stream with the duplicate window, and publishes only up to the limit it is given', async () => {
    await emit(cardEvents('prog_1', 10));
    const first = publisher({ duplicateWindowMs: 2 * 60 * 60 * 1000, batchSize: 3 });
    expect(await first.publishPending(4)).toEqual({ published: 4, duplicates: 0, skipped: 0 });
    const info = await jsm.streams.info(stream);
    expect(info.config.subjects).toEqual([`${prefix}.>`]);
    expect(info.config.duplicate_window).toBe(2 * 60 * 60 * 1e9);
    expect(await first.publishPending()).toEqual({ published: 6, duplicates: 0, skipped: 0 });
    expect(await streamed()).toEqual(expected(await outbox()));
  });

  it('adds nothing when the outbox is replayed: every re-sent event is a duplicate', async () => {
    await emit(cardEvents('prog_1', 40));
    expect((await publisher().publishPending()).published).toBe(40);
    const before = await streamed();

    await db.query(`UPDATE outbox_consumers SET last_txid = '0', last_seq = 0 WHERE name = $1`, [
      STREAM_CONSUMER,
    ]);
    await emit(cardEvents('prog_1', 2));
    const replay = await publisher().publishPending(); // a new process, as after a crash
    expect(replay).toEqual({ published: 2, duplicates: 40, skipped: 0 });
    const after = await streamed();
    expect(after.slice(0, 40)).toEqual(before);
    expect(after).toEqual(expected(await outbox()));
  });

  it('puts the events of two programmes on subjects of their own', async () => {
    await emit([
      ...cardEvents('prog_01haaaaaaaaaaaaaaaaaaaaaaa', 3),
      ...cardEvents('prog_01hbbbbbbbbbbbbbbbbbbbbbbb', 2),
    ]);
    await publisher().publishPending();
    const messages = await streamed();
    expect(messages).toEqual(expected(await outbox()));
    const subjectsOf = (programId: string): string[] =>
      messages
        .filter((message) => message.subject.startsWith(`${prefix}.${programId}.`))
        .map((m) => m.subject);
    expect(subjectsOf('prog_01haaaaaaaaaaaaaaaaaaaaaaa')).toEqual([
      `${prefix}.prog_01haaaaaaaaaaaaaaaaaaaaaaa.card.created`,
      `${prefix}.prog_01haaaaaaaaaaaaaaaaaaaaaaa.card.updated`,
      `${prefix}.prog_01haaaaaaaaaaaaaaaaaaaaaaa.card.created`,
    ]);
    expect(subjectsOf('prog_01hbbbbbbbbbbbbbbbbbbbbbbb')).toHaveLength(2);
    // A consumer of one programme's subjects sees that programme's events only.
    const one = await jsm.streams.getMessage(stream, {
      last_by_subj: `${prefix}.prog_01hbbbbbbbbbbbbbbbbbbbbbbb.>`,
    });
    expect(one?.json<LantauEvent>().program_id).toBe('prog_01hbbbbbbbbbbbbbbbbbbbbbbb');
  });

  it('leaves the cursor where it was when NATS cannot be reached, and publishes everything once it can', async () => {
    await emit(cardEvents('prog_1', 5));
    const closedPort = await unusedPort();
    const down = publisher({ servers: [`127.0.0.1:${closedPort}`], connectTimeoutMs: 1_000 });
    await expect(down.publishPending()).rejects.toThrow();
    expect(await cursor()).toBeUndefined(); // not even a round was started

    expect(await publisher().publishPending()).toEqual({ published: 5, duplicates: 0, skipped: 0 });
    expect(await streamed()).toEqual(expected(await outbox()));
  });

  it('leaves the cursor where it was when the stream refuses the batch, and recreates the stream next round', async () => {
    const running = publisher();
    await emit(cardEvents('prog_1', 3));
    await running.publishPending();
    const position = await cursor();

    await jsm.streams.delete(stream);
    const pending = await emit(cardEvents('prog_1', 4));
    await expect(running.publishPending()).rejects.toThrow(/did not acknowledge 4 of 4 events/);
    expect(await cursor()).toEqual(position);

    expect(await running.publishPending()).toEqual({ published: 4, duplicates: 0, skipped: 0 });
    expect(await streamed()).toEqual(expected(pending));
  });

  it('skips, never retries, an event whose program id cannot be a subject token', async () => {
    await emit(cardEvents('prog_1', 1));
    await emit([{ type: 'card.created', programId: 'prog.with.dots', object: {} }]);
    await emit([{ type: 'card.created', programId: 'platform', object: {} }]);
    await emit(cardEvents('prog_2', 1));
    expect(await publisher().publishPending()).toEqual({ published: 2, duplicates: 0, skipped: 2 });
    const events = await outbox();
    expect(await streamed()).toEqual(expected([events[0], events[3]].filter((event) => event !== undefined)));
  });

  it('refuses to publish into a stream that does not capture its subjects', async () => {
    await jsm.streams.add({ name: stream, subjects: [`${prefix}_other.>`] });
    await emit(cardEvents('prog_1', 1));
    await expect(publisher().publishPending()).rejects.toThrow(/does not capture/);
    expect(await cursor()).toBeUndefined();
  });

  describe('publishing in the background', () => {
    it('publishes what is pending in its first round, and drains the connection when stopped', async () => {
      await emit(cardEvents('prog_1', 7));
      const running = publisher();
      const { onRound, results } = rounds(1);
      const streaming = startStreamPublishing(running, {
        logger: createLogger({ level: 'silent' }),
        intervalMs: 60_000,
        onRound,
      });
      expect(await results).toEqual([{ published: 7, duplicates: 0, skipped: 0 }]);
      await streaming.stop();
      expect(await streamed()).toEqual(expected(await outbox()));
      await expect(running.publishPending()).rejects.toThrow(/closed/);
    });

    it('logs a failed round and retries with back-off, the API process carrying on', async () => {
      await emit(cardEvents('prog_1', 1));
      const lines: { msg?: string; retry_in_ms?: number }[] = [];
      const logger = createLogger({
        level: 'info',
        destination: { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) },
      });
      const down = publisher({ servers: [`127.0.0.1:${await unusedPort()}`] });
      const { onRound, results } = rounds(3);
      const streaming = startStreamPublishing(down, { logger, intervalMs: 1, onRound });
      expect((await results).every((result) => result instanceof Error)).toBe(true);
      await streaming.stop();
      const failures = lines.filter((line) => line.msg === 'publishing events to NATS failed');
      expect(failures.slice(0, 3).map((line) => line.retry_in_ms)).toEqual([2, 4, 8]);
      expect(await cursor()).toBeUndefined();
    });
  });
});

/** Collects the first `count` rounds' results, so a test waits on rounds rather than on time. */
function rounds(count: number): {
  onRound: (result: PublishSummary | Error) => void;
  results: Promise<(PublishSummary | Error)[]>;
} {
  const seen: (PublishSummary | Error)[] = [];
  let done: (value: (PublishSummary | Error)[]) => void = () => undefined;
  const results = new Promise<(PublishSummary | Error)[]>((resolve) => (done = resolve));
  return {
    onRound: (result) => {
      if (seen.length < count) seen.push(result);
      if (seen.length === count) done(seen);
    },
    results,
  };
}

describe('subjects', () => {
  it('are <prefix>.<program id or platform>.<event type>', () => {
    expect(subjectFor('lantau', { program_id: 'prog_01h', type: 'card.created' })).toBe(
      'lantau.prog_01h.card.created',
    );
    expect(subjectFor('lantau', { program_id: null, type: 'program.created' })).toBe(
      'lantau.platform.program.created',
    );
    expect(subjectFor('a.b', { program_id: 'prog_1', type: 'authorization.request.approved' })).toBe(
      'a.b.prog_1.authorization.request.approved',
    );
  });

  it.each([
    ['prog*', 'card.created'],
    ['prog>', 'card.created'],
    ['prog 1', 'card.created'],
    ['prog.1', 'card.created'],
    ['', 'card.created'],
    ['platform', 'card.created'],
    ['prog_1', 'card..created'],
    ['prog_1', 'card.*'],
    ['prog_1', 'card.>'],
    ['prog_1', 'card created'],
    ['prog_1', '.card'],
  ])('refuses program id %j with type %j', (programId, type) => {
    expect(subjectFor('lantau', { program_id: programId, type })).toBeUndefined();
  });
});

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
