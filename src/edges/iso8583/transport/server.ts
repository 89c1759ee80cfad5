/**
 * The TCP side of the ISO 8583 edge: card networks hold long-lived connections and send length-prefixed messages
 * over them. This module moves frames between sockets and a handler and knows nothing about ISO 8583 itself:
 * a frame in, a frame (or nothing) out.
 *
 * Every connection handles many messages at once: each frame goes to the handler as it arrives and each answer is
 * written as soon as it is ready, so answers may leave in a different order than their requests (the network
 * matches them by their keys: STAN, RRN and so on). Every queue has a limit:
 * - frames in flight per connection: at the limit the socket stops being read, so the kernel's receive window
 *   pushes back on the network; undecoded bytes wait in the decoder, at most what one read delivered;
 * - bytes waiting to be written: when `socket.write` returns false, reading stops until 'drain';
 * - connections: one more than the limit is closed at once and counted;
 * - frame size: a header announcing more closes the connection (the stream can no longer be trusted);
 * - idle time: a connection with no frame for `idleTimeoutMs` is closed (networks send 0800 echoes to keep a link);
 * - shutdown: in-flight answers are waited for up to `closeDeadlineMs`, then what is left is destroyed.
 *
 * Frames carry card numbers: nothing here logs or reports frame contents, only sizes and connection ids.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FrameDecoder, FramingError, encodeFrame, resolveFraming, type FramingOptions } from './framing.js';

export interface ConnectionInfo {
  /** Unique within the server, e.g. `conn_12`: what logs and metrics name a connection by. */
  readonly id: string;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly openedAt: Date;
}

/**
 * What a handler may return for a frame that cannot be answered at all (its message type unreadable): the stream is
 * no longer trusted, and the connection is closed after the answers already in flight are written.
 */
export const CLOSE_CONNECTION: unique symbol = Symbol('close connection');

/**
 * Returns the answer to send back, `undefined` to send nothing, or `CLOSE_CONNECTION`. A rejection sends nothing for
 * that frame.
 */
export type FrameHandler = (
  frame: Uint8Array,
  connection: ConnectionInfo,
) => Promise<Uint8Array | undefined | typeof CLOSE_CONNECTION>;

export type ConnectionCloseReason =
  | 'idle_timeout'
  | 'framing_error'
  | 'unreadable_message'
  | 'peer_closed'
  | 'socket_error'
  | 'server_closing'
  | 'close_deadline';

export type ConnectionRefusedReason = 'connections_max' | 'server_closing' | 'peer_not_allowed';

/** What happened, for metrics and tests. Sizes and ids only, never frame contents. */
export type TransportEvent =
  | { readonly type: 'connection_opened'; readonly connection: ConnectionInfo }
  | {
      readonly type: 'connection_refused';
      readonly reason: ConnectionRefusedReason;
      readonly remoteAddress: string | undefined;
    }
  | {
      readonly type: 'connection_closed';
      readonly connection: ConnectionInfo;
      readonly reason: ConnectionCloseReason;
    }
  | { readonly type: 'frame_in'; readonly connection: ConnectionInfo; readonly frameBytes: number }
  | {
      readonly type: 'frame_out';
      readonly connection: ConnectionInfo;
      readonly frameBytes: number;
      readonly handlerMs: number;
    }
  | {
      readonly type: 'framing_error';
      readonly connection: ConnectionInfo;
      readonly code: FramingError['code'];
    }
  | { readonly type: 'handler_error'; readonly connection: ConnectionInfo }
  | {
      readonly type: 'answer_dropped';
      readonly connection: ConnectionInfo;
      readonly reason: 'connection_closed' | 'frame_too_large';
    };

/** The minimum of a pino logger this module uses. */
export interface TransportLogger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface Iso8583TransportMetrics {
  readonly connectionsOpen: Gauge;
  readonly connectionsAccepted: Counter;
  readonly connectionsRefused: Counter<'reason'>;
  readonly connectionsClosed: Counter<'reason'>;
  readonly framesIn: Counter;
  readonly framesOut: Counter;
  readonly framingErrors: Counter<'code'>;
  readonly handlerErrors: Counter;
  readonly answersDropped: Counter<'reason'>;
  readonly inFlight: Gauge;
  readonly handlerDuration: Histogram;
}

/**
 * The transport's metrics on the given registry. Create them once per registry (prom-client refuses a name twice)
 * and pass them to every server sharing it. Per message type and response code metrics belong to the ISO 8583
 * mapping layer, registered beside these under the same `lantau_iso8583_` prefix.
 */
export function createIso8583TransportMetrics(registry: Registry): Iso8583TransportMetrics {
  const registers = [registry];
  return {
    connectionsOpen: new Gauge({
      name: 'lantau_iso8583_connections_open',
      help: 'ISO 8583 TCP connections currently open',
      registers,
    }),
    connectionsAccepted: new Counter({
      name: 'lantau_iso8583_connections_accepted_total',
      help: 'ISO 8583 TCP connections accepted',
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'lantau_iso8583_connections_refused_total',
      help: 'ISO 8583 TCP connections closed on arrival (over the connection limit, or the server closing)',
      labelNames: ['reason'],
      registers,
    }),
    connectionsClosed: new Counter({
      name: 'lantau_iso8583_connections_closed_total',
      help: 'ISO 8583 TCP connections closed, by reason',
      labelNames: ['reason'],
      registers,
    }),
    framesIn: new Counter({
      name: 'lantau_iso8583_frames_in_total',
      help: 'ISO 8583 frames received and handed to the handler',
      registers,
    }),
    framesOut: new Counter({
      name: 'lantau_iso8583_frames_out_total',
      help: 'ISO 8583 frames written back',
      registers,
    }),
    framingErrors: new Counter({
      name: 'lantau_iso8583_framing_errors_total',
      help: 'ISO 8583 connections closed for a bad length header, by code',
      labelNames: ['code'],
      registers,
    }),
    handlerErrors: new Counter({
      name: 'lantau_iso8583_handler_errors_total',
      help: 'ISO 8583 frames whose handler threw (nothing was sent back for them)',
      registers,
    }),
    answersDropped: new Counter({
      name: 'lantau_iso8583_answers_dropped_total',
      help: 'ISO 8583 answers not written: the connection had closed, or the answer was over the frame limit',
      labelNames: ['reason'],
      registers,
    }),
    inFlight: new Gauge({
      name: 'lantau_iso8583_in_flight',
      help: 'ISO 8583 frames being handled, across connections',
      registers,
    }),
    handlerDuration: new Histogram({
      name: 'lantau_iso8583_handler_duration_seconds',
      help: 'Time from a frame received to its answer written (or the handler finished)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
  };
}

export const CONNECTIONS_MAX_DEFAULT = 64;
export const IN_FLIGHT_PER_CONNECTION_MAX_DEFAULT = 32;
export const IDLE_TIMEOUT_MS_DEFAULT = 5 * 60_000;
export const CLOSE_DEADLINE_MS_DEFAULT = 5_000;
const KEEP_ALIVE_INITIAL_DELAY_MS = 60_000;

export interface Iso8583ServerOptions {
  /** Default 0: an ephemeral port, read back from `server.port`. */
  readonly port?: number;
  /** Default `127.0.0.1`; pass `0.0.0.0` (or the configured host) to accept networks from outside. */
  readonly host?: string;
  readonly handler: FrameHandler;
  /** Length header (default 2-byte binary) and frame size limit (default 8 KiB), for both directions. */
  readonly framing?: FramingOptions;
  /** Default 64. Connections beyond it are closed on arrival and counted. */
  readonly connectionsMax?: number;
  /** Default 32. At the limit the connection stops being read until a handler finishes. */
  readonly inFlightPerConnectionMax?: number;
  /** Default 5 minutes. A connection with no frame for this long (and nothing in flight) is closed. */
  readonly idleTimeoutMs?: number;
  /** Default 5 s. How long a closing connection may take to finish its in-flight frames before it is destroyed. */
  readonly closeDeadlineMs?: number;
  /** Called when the handler throws or rejects; by default the error is logged. Nothing is sent for that frame. */
  readonly onHandlerError?: (error: unknown, connection: ConnectionInfo) => void;
  /** A hook for metrics and tests, called synchronously; it must not throw (a throw is logged and ignored). */
  readonly onEvent?: (event: TransportEvent) => void;
  /**
   * The peers' IP addresses allowed to connect (the network's gateways); others are closed on arrival and counted.
   * Undefined: any peer that can reach the port.
   */
  readonly allowedPeers?: readonly string[];
  /** prom-client metrics from `createIso8583TransportMetrics`; or give `registry` to have them created. */
  readonly metrics?: Iso8583TransportMetrics;
  readonly registry?: Registry;
  readonly logger?: TransportLogger;
}

/** Counts since the server started (`connectionsOpen` and `inFlight` are current values). */
export interface TransportStats {
  readonly connectionsOpen: number;
  readonly connectionsAccepted: number;
  readonly connectionsRefused: number;
  readonly framesIn: number;
  readonly framesOut: number;
  readonly framingErrors: number;
  readonly handlerErrors: number;
  readonly answersDropped: number;
  readonly inFlight: number;
}

export interface Iso8583Server {
  readonly host: string;
  readonly port: number;
  stats(): TransportStats;
  /**
   * Stops accepting, stops reading every connection, waits for in-flight handlers and the writing of their answers
   * (up to `deadlineMs`, default the server's `closeDeadlineMs`), then destroys what is left. Handlers still
   * running after the deadline are not cancelled; their answers are dropped. Calling it again returns the same
   * promise.
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
}

const silentLogger: TransportLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

interface MutableStats {
  connectionsAccepted: number;
  connectionsRefused: number;
  framesIn: number;
  framesOut: number;
  framingErrors: number;
  handlerErrors: number;
  answersDropped: number;
  inFlight: number;
}

/** What every connection of one server shares. */
interface ServerContext {
  readonly handler: FrameHandler;
  readonly framing: FramingOptions;
  readonly inFlightPerConnectionMax: number;
  readonly idleTimeoutMs: number;
  readonly closeDeadlineMs: number;
  readonly logger: TransportLogger;
  readonly metrics: Iso8583TransportMetrics | undefined;
  readonly stats: MutableStats;
  readonly connections: Set<Connection>;
  emit(event: TransportEvent): void;
  handlerFailed(error: unknown, connection: ConnectionInfo): void;
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
}

/** An IPv4 peer reached over an IPv6 socket reads `::ffff:10.0.0.1`: compared as `10.0.0.1`. */
function peerAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

export async function startIso8583Server(options: Iso8583ServerOptions): Promise<Iso8583Server> {
  const allowedPeers =
    options.allowedPeers === undefined ? undefined : new Set(options.allowedPeers.map(peerAddress));
  const host = options.host ?? '127.0.0.1';
  const connectionsMax = options.connectionsMax ?? CONNECTIONS_MAX_DEFAULT;
  const inFlightPerConnectionMax = options.inFlightPerConnectionMax ?? IN_FLIGHT_PER_CONNECTION_MAX_DEFAULT;
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS_DEFAULT;
  const closeDeadlineMs = options.closeDeadlineMs ?? CLOSE_DEADLINE_MS_DEFAULT;
  assertPositiveInteger('connectionsMax', connectionsMax);
  assertPositiveInteger('inFlightPerConnectionMax', inFlightPerConnectionMax);
  assertPositiveInteger('idleTimeoutMs', idleTimeoutMs);
  assertPositiveInteger('closeDeadlineMs', closeDeadlineMs);
  const framing = resolveFraming(options.framing);
  const logger = options.logger ?? silentLogger;
  const metrics =
    options.metrics ??
    (options.registry === undefined ? undefined : createIso8583TransportMetrics(options.registry));
  const onEvent = options.onEvent;
  const onHandlerError = options.onHandlerError;

  const stats: MutableStats = {
    connectionsAccepted: 0,
    connectionsRefused: 0,
    framesIn: 0,
    framesOut: 0,
    framingErrors: 0,
    handlerErrors: 0,
    answersDropped: 0,
    inFlight: 0,
  };
  const connections = new Set<Connection>();
  let connectionSequence = 0;
  let closing: Promise<void> | undefined;

  const context: ServerContext = {
    handler: options.handler,
    framing,
    inFlightPerConnectionMax,
    idleTimeoutMs,
    closeDeadlineMs,
    logger,
    metrics,
    stats,
    connections,
    emit(event) {
      if (onEvent === undefined) return;
      try {
        onEvent(event);
      } catch (error) {
        logger.error({ err: error, event_type: event.type }, 'iso8583 onEvent hook threw');
      }
    },
    handlerFailed(error, connection) {
      if (onHandlerError === undefined) {
        logger.error({ err: error, connection_id: connection.id }, 'iso8583 handler failed; no answer sent');
        return;
      }
      try {
        onHandlerError(error, connection);
      } catch (hookError) {
        logger.error({ err: hookError, connection_id: connection.id }, 'iso8583 onHandlerError hook threw');
      }
    },
  };

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const refusal: ConnectionRefusedReason | undefined =
      closing !== undefined
        ? 'server_closing'
        : allowedPeers !== undefined && !allowedPeers.has(peerAddress(socket.remoteAddress))
          ? 'peer_not_allowed'
          : connections.size >= connectionsMax
            ? 'connections_max'
            : undefined;
    if (refusal !== undefined) {
      stats.connectionsRefused += 1;
      metrics?.connectionsRefused.inc({ reason: refusal });
      logger.warn(
        { remote_address: socket.remoteAddress, reason: refusal, connections_max: connectionsMax },
        'iso8583 connection refused',
      );
      context.emit({ type: 'connection_refused', reason: refusal, remoteAddress: socket.remoteAddress });
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    connectionSequence += 1;
    const info: ConnectionInfo = {
      id: `conn_${connectionSequence}`,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      openedAt: new Date(),
    };
    connections.add(new Connection(context, socket, info));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port ?? 0, host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After listening, errors (such as running out of file descriptors on accept) must not crash the process.
  server.on('error', (error) => logger.error({ err: error }, 'iso8583 server error'));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('iso8583 server has no TCP address');
  logger.info({ host: address.address, port: address.port }, 'iso8583 server listening');

  return {
    host: address.address,
    port: address.port,
    stats: () => ({ ...stats, connectionsOpen: connections.size }),
    close(closeOptions = {}) {
      const deadlineMs = closeOptions.deadlineMs ?? closeDeadlineMs;
      try {
        // Checked before anything starts: a bad deadline must not leave the server unable to close.
        assertPositiveInteger('deadlineMs', deadlineMs);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      closing ??= (async () => {
        const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        const open = [...connections];
        logger.info({ connections_open: open.length, deadline_ms: deadlineMs }, 'iso8583 server closing');
        await Promise.all(open.map((connection) => connection.close('server_closing', deadlineMs)));
        await listenerClosed;
        logger.info({}, 'iso8583 server closed');
      })();
      return closing;
    },
  };
}

/**
 * One socket: `open` (reading, handling), `draining` (no new frames; waiting for in-flight answers, then FIN),
 * `closed` (the socket has closed; late answers are dropped).
 */
class Connection {
  #state: 'open' | 'draining' | 'closed' = 'open';
  #inFlight = 0;
  #writeBlocked = false;
  #readingPaused = false;
  #closeReason: ConnectionCloseReason | undefined;
  readonly #decoder: FrameDecoder;
  readonly #idleTimer: NodeJS.Timeout;
  #deadlineTimer: NodeJS.Timeout | undefined;
  readonly #closed: Promise<void>;
  #resolveClosed: () => void = () => undefined;

  constructor(
    private readonly context: ServerContext,
    private readonly socket: net.Socket,
    readonly info: ConnectionInfo,
  ) {
    this.#decoder = new FrameDecoder(context.framing);
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    context.stats.connectionsAccepted += 1;
    context.metrics?.connectionsAccepted.inc();
    context.metrics?.connectionsOpen.inc();
    context.logger.info(
      { connection_id: info.id, remote_address: info.remoteAddress, remote_port: info.remotePort },
      'iso8583 connection opened',
    );
    context.emit({ type: 'connection_opened', connection: info });

    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEP_ALIVE_INITIAL_DELAY_MS);
    this.#idleTimer = setTimeout(() => this.#onIdle(), context.idleTimeoutMs);
    this.#idleTimer.unref();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => void this.close('peer_closed', context.closeDeadlineMs));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      context.logger.debug({ connection_id: info.id, code: error.code }, 'iso8583 socket error');
    });
    socket.on('close', (hadError) => this.#onClosed(hadError));
  }

  /** Stops taking frames, lets in-flight answers be written, then ends the socket; destroys it at the deadline. */
  close(reason: ConnectionCloseReason, deadlineMs: number): Promise<void> {
    if (this.#state !== 'open') return this.#closed;
    this.#state = 'draining';
    this.#closeReason = reason;
    clearTimeout(this.#idleTimer);
    this.#deadlineTimer = setTimeout(() => {
      this.context.logger.warn(
        { connection_id: this.info.id, in_flight: this.#inFlight, deadline_ms: deadlineMs },
        'iso8583 connection destroyed at its close deadline',
      );
      this.#closeReason = 'close_deadline';
      this.socket.destroy();
    }, deadlineMs);
    this.#deadlineTimer.unref();
    // Read on and discard: unread bytes in the kernel's receive queue would make the final close send a reset,
    // which can cost the peer the answers it has not read yet.
    this.#updateReading();
    if (this.#inFlight === 0) this.#finish();
    return this.#closed;
  }

  #onData(chunk: Buffer): void {
    if (this.#state !== 'open') return;
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      this.#onFramingError(error);
      return;
    }
    this.#pump();
  }

  /** Starts handlers for decoded frames while there is room, then decides whether to keep reading. */
  #pump(): void {
    const { inFlightPerConnectionMax } = this.context;
    // Bounded: each iteration starts a handler, and at most inFlightPerConnectionMax run at once.
    for (let started = 0; started < inFlightPerConnectionMax; started += 1) {
      if (this.#state !== 'open' || this.#writeBlocked || this.#inFlight >= inFlightPerConnectionMax) break;
      let frame: Buffer | undefined;
      try {
        frame = this.#decoder.next();
      } catch (error) {
        this.#onFramingError(error);
        return;
      }
      if (frame === undefined) break;
      this.#start(frame);
    }
    this.#updateReading();
  }

  #updateReading(): void {
    if (this.#state === 'closed') return;
    const read =
      this.#state === 'draining' ||
      (!this.#writeBlocked && this.#inFlight < this.context.inFlightPerConnectionMax);
    if (read && this.#readingPaused) {
      this.#readingPaused = false;
      this.socket.resume();
    } else if (!read && !this.#readingPaused) {
      this.#readingPaused = true;
      this.socket.pause();
    }
  }

  #start(frame: Buffer): void {
    const { context, info } = this;
    this.#inFlight += 1;
    context.stats.inFlight += 1;
    context.stats.framesIn += 1;
    context.metrics?.inFlight.inc();
    context.metrics?.framesIn.inc();
    this.#idleTimer.refresh();
    context.emit({ type: 'frame_in', connection: info, frameBytes: frame.byteLength });
    const startedAt = performance.now();
    // `new Promise` so that a handler throwing synchronously is caught like one that rejects.
    new Promise<Uint8Array | undefined | typeof CLOSE_CONNECTION>((resolve) =>
      resolve(context.handler(frame, info)),
    )
      .then(
        (answer) => this.#answer(answer, startedAt),
        (error: unknown) => {
          context.stats.handlerErrors += 1;
          context.metrics?.handlerErrors.inc();
          context.emit({ type: 'handler_error', connection: info });
          context.handlerFailed(error, info);
        },
      )
      .finally(() => this.#settle(startedAt))
      .catch((error: unknown) => context.logger.error({ err: error }, 'iso8583 frame bookkeeping failed'));
  }

  #answer(answer: Uint8Array | undefined | typeof CLOSE_CONNECTION, startedAt: number): void {
    if (answer === undefined) return;
    const { context, info, socket } = this;
    if (answer === CLOSE_CONNECTION) {
      context.logger.info({ connection_id: info.id }, 'iso8583 message unreadable; closing the connection');
      void this.close('unreadable_message', context.closeDeadlineMs);
      return;
    }
    if (this.#state === 'closed' || !socket.writable) {
      this.#drop('connection_closed');
      return;
    }
    let bytes: Buffer;
    try {
      bytes = encodeFrame(answer, context.framing);
    } catch (error) {
      if (!(error instanceof FramingError)) throw error;
      context.logger.error(
        { connection_id: info.id, code: error.code, frame_bytes: error.frameBytes },
        'iso8583 answer cannot be framed; not sent',
      );
      this.#drop('frame_too_large');
      return;
    }
    context.stats.framesOut += 1;
    context.metrics?.framesOut.inc();
    context.emit({
      type: 'frame_out',
      connection: info,
      frameBytes: answer.byteLength,
      handlerMs: performance.now() - startedAt,
    });
    if (!socket.write(bytes) && !this.#writeBlocked) {
      this.#writeBlocked = true;
      socket.once('drain', () => {
        this.#writeBlocked = false;
        this.#pump();
      });
    }
  }

  #drop(reason: 'connection_closed' | 'frame_too_large'): void {
    this.context.stats.answersDropped += 1;
    this.context.metrics?.answersDropped.inc({ reason });
    this.context.emit({ type: 'answer_dropped', connection: this.info, reason });
  }

  #settle(startedAt: number): void {
    const { context } = this;
    this.#inFlight -= 1;
    context.stats.inFlight -= 1;
    context.metrics?.inFlight.dec();
    context.metrics?.handlerDuration.observe((performance.now() - startedAt) / 1_000);
    if (this.#state === 'open') this.#pump();
    else if (this.#state === 'draining' && this.#inFlight === 0) this.#finish();
  }

  /**
   * Sends FIN after whatever is queued, and closes once it is flushed: a peer that keeps its side open is not waited
   * for (the deadline is for answers still being written).
   */
  #finish(): void {
    if (this.socket.writableEnded) return;
    this.socket.end(() => this.socket.destroy());
  }

  #onIdle(): void {
    if (this.#state !== 'open') return;
    if (this.#inFlight > 0) {
      this.#idleTimer.refresh();
      return;
    }
    this.context.logger.info(
      { connection_id: this.info.id, idle_timeout_ms: this.context.idleTimeoutMs },
      'iso8583 connection idle; closing',
    );
    void this.close('idle_timeout', this.context.closeDeadlineMs);
  }

  #onFramingError(error: unknown): void {
    if (!(error instanceof FramingError)) throw error;
    const { context, info } = this;
    context.stats.framingErrors += 1;
    context.metrics?.framingErrors.inc({ code: error.code });
    context.logger.warn(
      {
        connection_id: info.id,
        code: error.code,
        frame_bytes: error.frameBytes,
        frame_bytes_max: this.#decoder.framing.frameBytesMax,
      },
      'iso8583 framing error; closing the connection',
    );
    context.emit({ type: 'framing_error', connection: info, code: error.code });
    void this.close('framing_error', context.closeDeadlineMs);
  }

  #onClosed(hadError: boolean): void {
    const { context, info } = this;
    const reason = this.#closeReason ?? (hadError ? 'socket_error' : 'peer_closed');
    this.#state = 'closed';
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#deadlineTimer);
    context.connections.delete(this);
    context.metrics?.connectionsOpen.dec();
    context.metrics?.connectionsClosed.inc({ reason });
    context.logger.info(
      { connection_id: info.id, reason, in_flight: this.#inFlight },
      'iso8583 connection closed',
    );
    context.emit({ type: 'connection_closed', connection: info, reason });
    this.#resolveClosed();
  }
}
