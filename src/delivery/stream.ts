import {
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Clock } from '../platform/clock.js';
import {
  NATS_DUPLICATE_WINDOW_MS_DEFAULT,
  NATS_STREAM_DEFAULT,
  NATS_SUBJECT_PREFIX_PATTERN,
  NATS_SUBJECT_PREFIX_DEFAULT,
  type NatsConfig,
} from '../platform/config.js';
import type { Database } from '../platform/db/database.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { consumeEvents, type LantauEvent } from '../records/outbox.js';

/** The outbox cursor this publisher moves (a row of outbox_consumers); reset it to 0 to replay everything. */
export const STREAM_CONSUMER = 'nats';
/**
 * Events per outbox transaction. The cursor row stays locked while a batch's acks come back, so a batch is kept
 * to what NATS acknowledges in a few milliseconds; 256 in flight was as fast as any larger number here.
 */
const BATCH_SIZE_DEFAULT = 256;
const ACK_TIMEOUT_MS_DEFAULT = 5_000;
const CONNECT_TIMEOUT_MS_DEFAULT = 5_000;
/** A programme id becomes one subject token: ids are `prog_<ulid>`, so this refuses only a corrupted value. */
const PROGRAM_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
/** `card.created` becomes the tokens `card` and `created`; emitEvents enforces a stricter form on the way in. */
const EVENT_TYPE_TOKENS = /^[a-z0-9_]{1,64}(\.[a-z0-9_]{1,64}){0,7}$/;
/** Events of no programme (platform-wide ones) go under this token, which no programme id can equal. */
const PLATFORM_TOKEN = 'platform';

export interface StreamPublisherOptions {
  /** `host:port` of each server of the cluster. */
  readonly servers: readonly string[];
  readonly tls?: boolean;
  readonly auth?: NatsConfig['auth'];
  /** The JetStream stream, created when missing (default `LANTAU`). */
  readonly stream?: string;
  /** Subjects are `<prefix>.<program_id>.<event type>` (default `lantau`). */
  readonly subjectPrefix?: string;
  /** How long JetStream remembers message ids (default an hour): a replay within it adds nothing. */
  readonly duplicateWindowMs?: number;
  readonly batchSize?: number;
  readonly ackTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly consumer?: string;
  readonly metrics?: Pick<Metrics, 'streamEvents'>;
  readonly logger?: Logger;
}

export interface PublishSummary {
  /** Stored by JetStream for the first time. */
  published: number;
  /** Already in the stream (a replay after a failure or a crash), dropped by JetStream on its message id. */
  duplicates: number;
  /** Not publishable: a program id or event type that would not make a valid subject (logged, never retried). */
  skipped: number;
}

type Outcome = 'published' | 'duplicate' | 'skipped';

/**
 * The subject of an event, or undefined when its program id or type would break the subject (a `.`, `*`, `>` or
 * space would split or widen it). Such an event is skipped rather than retried: retrying could never succeed and
 * would stop every event behind it, while the outbox and /v1/events still hold it.
 */
export function subjectFor(
  prefix: string,
  event: Pick<LantauEvent, 'program_id' | 'type'>,
): string | undefined {
  const program = event.program_id ?? PLATFORM_TOKEN;
  if (event.program_id !== null && (!PROGRAM_TOKEN.test(program) || program === PLATFORM_TOKEN))
    return undefined;
  if (!EVENT_TYPE_TOKENS.test(event.type)) return undefined;
  return `${prefix}.${program}.${event.type}`;
}

/** The envelope /v1/events shows, field for field, so a stream consumer and an API client read the same thing. */
export function encodeEvent(event: LantauEvent): Uint8Array {
  const envelope: LantauEvent = {
    id: event.id,
    type: event.type,
    created: event.created,
    program_id: event.program_id,
    data: event.data,
  };
  return new TextEncoder().encode(JSON.stringify(envelope));
}

interface Connected {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  /** Maintained from the connection's status stream: while the client reconnects, rounds are skipped. */
  up: boolean;
  streamChecked: boolean;
}

/**
 * Publishes the outbox to NATS JetStream, at least once and in outbox order. The outbox cursor moves only in the
 * transaction that saw every event of the batch acknowledged, so a failure or a crash replays the batch; the
 * event id is the message id, so JetStream drops what it already holds and consumers see each event once (within
 * the duplicate window). After a partial failure the re-sent remainder lands after the events that did get in.
 */
export class StreamPublisher {
  readonly stream: string;
  readonly subjectPrefix: string;
  private readonly duplicateWindowMs: number;
  private readonly batchSize: number;
  private readonly ackTimeoutMs: number;
  private readonly consumer: string;
  private connection: Connected | undefined;
  private connecting: Promise<Connected> | undefined;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly context: { readonly clock: Clock },
    private readonly options: StreamPublisherOptions,
  ) {
    this.stream = options.stream ?? NATS_STREAM_DEFAULT;
    this.subjectPrefix = options.subjectPrefix ?? NATS_SUBJECT_PREFIX_DEFAULT;
    this.duplicateWindowMs = options.duplicateWindowMs ?? NATS_DUPLICATE_WINDOW_MS_DEFAULT;
    this.batchSize = options.batchSize ?? BATCH_SIZE_DEFAULT;
    this.ackTimeoutMs = options.ackTimeoutMs ?? ACK_TIMEOUT_MS_DEFAULT;
    this.consumer = options.consumer ?? STREAM_CONSUMER;
    if (options.servers.length === 0) throw new RangeError('a stream publisher needs at least one server');
    if (!NATS_SUBJECT_PREFIX_PATTERN.test(this.subjectPrefix)) {
      throw new RangeError(`bad subject prefix ${JSON.stringify(this.subjectPrefix)}`);
    }
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > 10_000) {
      throw new RangeError('batchSize must be from 1 to 10,000');
    }
  }

  /**
   * Publishes up to `limit` outbox events in batches and returns once every one is acknowledged (or was skipped).
   * Throws when NATS cannot be reached or refuses a message: the cursor then stays before the failed batch.
   */
  async publishPending(limit = 10_000): Promise<PublishSummary> {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive whole number');
    const summary: PublishSummary = { published: 0, duplicates: 0, skipped: 0 };
    const connection = await this.ready();
    try {
      let remaining = limit;
      while (remaining > 0) {
        const batchSize = Math.min(this.batchSize, remaining);
        // Counted only once the cursor committed: a transaction re-run after a deadlock publishes again.
        let outcomes: Outcome[] = [];
        const handed = await consumeEvents(
          this.db,
          this.context,
          this.consumer,
          batchSize,
          async (events) => {
            outcomes = await this.publishBatch(connection, events);
          },
        );
        for (const outcome of outcomes) {
          if (outcome === 'published') summary.published += 1;
          else if (outcome === 'duplicate') summary.duplicates += 1;
          else summary.skipped += 1;
          this.options.metrics?.streamEvents.inc({ outcome });
        }
        remaining -= handed;
        if (handed < batchSize) break;
      }
    } catch (error) {
      // The stream may have been deleted or changed under us: look again before the next round.
      connection.streamChecked = false;
      throw error;
    }
    return summary;
  }

  /** Connects (if not connected) and makes sure the stream exists; publishPending does this by itself. */
  async connect(): Promise<void> {
    await this.ready();
  }

  private async ready(): Promise<Connected> {
    if (this.closed) throw new Error('the stream publisher is closed');
    if (this.connection?.nc.isClosed() === true) this.connection = undefined;
    this.connection ??= await (this.connecting ??= this.open().finally(() => (this.connecting = undefined)));
    const connection = this.connection;
    if (!connection.up) throw new Error('NATS is disconnected; the client is reconnecting');
    if (!connection.streamChecked) {
      await this.ensureStream(await jetstreamManager(connection.nc));
      connection.streamChecked = true;
    }
    return connection;
  }

  /** Drains the connection: acknowledgements still on the way are awaited, nothing new is sent. */
  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection ?? (await this.connecting?.catch(() => undefined));
    this.connection = undefined;
    if (connection !== undefined && !connection.nc.isClosed()) await connection.nc.drain();
  }

  private async open(): Promise<Connected> {
    const { auth, tls } = this.options;
    const nc = await connect({
      servers: [...this.options.servers],
      name: 'lantau',
      timeout: this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT,
      // Once connected, the client itself reconnects for ever; the publisher only checks that it is up.
      maxReconnectAttempts: -1,
      ...(tls === true ? { tls: {} } : {}),
      ...(auth === undefined
        ? {}
        : 'token' in auth
          ? { token: auth.token }
          : { user: auth.user, pass: auth.pass }),
    });
    const connection: Connected = { nc, js: jetstream(nc), up: true, streamChecked: false };
    this.watch(connection).catch((error: unknown) =>
      this.options.logger?.warn({ err: error }, 'NATS connection status could not be followed'),
    );
    if (this.closed) {
      await nc.close();
      throw new Error('the stream publisher is closed');
    }
    return connection;
  }

  private async watch(connection: Connected): Promise<void> {
    const logger = this.options.logger;
    for await (const status of connection.nc.status()) {
      if (status.type === 'disconnect') {
        connection.up = false;
        logger?.warn({ server: status.server }, 'NATS connection lost; reconnecting');
      } else if (status.type === 'reconnect') {
        connection.up = true;
        connection.streamChecked = false;
        logger?.info({ server: status.server }, 'NATS connection back');
      }
    }
  }

  /**
   * Creates the stream when it is missing. An existing stream is the operator's: it is changed only to lengthen a
   * duplicate window shorter than ours (a shorter one would let a replay through), and one that does not capture
   * our subjects is refused, as events would otherwise go to another stream or nowhere.
   */
  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    const subjects = `${this.subjectPrefix}.>`;
    const window = nanos(this.duplicateWindowMs);
    let config: StreamConfig;
    try {
      config = (await jsm.streams.info(this.stream)).config;
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== JetStreamApiCodes.StreamNotFound)
        throw error;
      await jsm.streams.add({
        name: this.stream,
        subjects: [subjects],
        duplicate_window: window,
        description: 'Lantau events: the transactional outbox, one message per event (message id = event id)',
      });
      this.options.logger?.info({ stream: this.stream, subjects }, 'NATS JetStream stream created');
      return;
    }
    if (!config.subjects.includes(subjects) && !config.subjects.includes('>')) {
      throw new Error(`the JetStream stream ${this.stream} exists but does not capture ${subjects}`);
    }
    if (config.duplicate_window < window) {
      await jsm.streams.update(this.stream, { duplicate_window: window });
    }
  }

  /** Every message of the batch goes out before any ack is awaited: one at a time is several times slower. */
  private async publishBatch(connection: Connected, events: readonly LantauEvent[]): Promise<Outcome[]> {
    const settled = await Promise.allSettled(events.map((event) => this.publishOne(connection, event)));
    const failures = settled.filter((result) => result.status === 'rejected');
    const first = failures[0];
    if (first !== undefined) {
      throw new Error(`NATS did not acknowledge ${failures.length} of ${events.length} events`, {
        cause: first.reason,
      });
    }
    return settled.map((result) => (result.status === 'fulfilled' ? result.value : 'skipped'));
  }

  private async publishOne(connection: Connected, event: LantauEvent): Promise<Outcome> {
    const subject = subjectFor(this.subjectPrefix, event);
    if (subject === undefined) {
      this.options.logger?.error(
        { event: event.id, program_id: event.program_id, type: event.type },
        'event not streamed: its program id or type cannot be a NATS subject token',
      );
      return 'skipped';
    }
    const ack = await connection.js.publish(subject, encodeEvent(event), {
      msgID: event.id,
      timeout: this.ackTimeoutMs,
      // The server refuses the message if another stream captures the subject, instead of storing it there.
      expect: { streamName: this.stream },
    });
    return ack.duplicate ? 'duplicate' : 'published';
  }
}

export interface StreamPublishing {
  /** Lets the running round finish, then drains the NATS connection. */
  stop(): Promise<void>;
}

const BACKOFF_MS_MAX = 30_000;

/**
 * Runs publishPending every `intervalMs`, never two rounds at once; a full round is followed at once by another
 * so a backlog is worked off. Failures (NATS down, stream refused) are logged and retried with back-off; the
 * process keeps serving, and the outbox keeps every event until it is published.
 */
export function startStreamPublishing(
  publisher: StreamPublisher,
  options: {
    readonly logger: Logger;
    readonly intervalMs?: number;
    readonly roundLimit?: number;
    /** Told of each round's result, so a test can wait for a round instead of sleeping. */
    readonly onRound?: (result: PublishSummary | Error) => void;
  },
): StreamPublishing {
  const { logger } = options;
  const intervalMs = options.intervalMs ?? 250;
  const roundLimit = options.roundLimit ?? 10_000;
  let failures = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round();
    }, delayMs);
    timer.unref();
  };
  const round = async (): Promise<void> => {
    let result: PublishSummary | Error;
    try {
      result = await publisher.publishPending(roundLimit);
    } catch (error) {
      result = error instanceof Error ? error : new Error(String(error));
    }
    if (result instanceof Error) {
      failures += 1;
      const delayMs = Math.min(BACKOFF_MS_MAX, intervalMs * 2 ** Math.min(failures, 16));
      logger.error(
        { err: result, stream: publisher.stream, retry_in_ms: delayMs },
        'publishing events to NATS failed',
      );
      schedule(delayMs);
    } else {
      if (failures > 0) logger.info({ stream: publisher.stream }, 'publishing events to NATS again');
      failures = 0;
      if (result.duplicates > 0) {
        logger.info({ duplicates: result.duplicates }, 'events re-sent to NATS were dropped as duplicates');
      }
      const handed = result.published + result.duplicates + result.skipped;
      schedule(handed >= roundLimit ? 0 : intervalMs);
    }
    options.onRound?.(result);
  };
  schedule(0);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
      await publisher.close();
    },
  };
}
