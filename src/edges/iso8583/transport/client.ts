/**
 * A client for the length-prefixed transport: what tests and the network simulator use to play a card network.
 * It sends frames, receives frames, and matches answers to requests by a key the caller knows how to read (for
 * ISO 8583, say, the MTI class with STAN and RRN): `request(frame, key)` resolves with the first frame whose key
 * is `key`. Frames that answer no pending request go to `onFrame` listeners, or wait (a bounded queue) for
 * `nextFrame()` and the async iterator; when that queue is full the client stops reading the socket.
 */
import net from 'node:net';
import { FrameDecoder, FramingError, encodeFrame, resolveFraming, type FramingOptions } from './framing.js';

export interface Iso8583ClientOptions {
  readonly port: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Must match the server's: length header and frame size limit. */
  readonly framing?: FramingOptions;
  /** Reads the key that pairs an answer with its request; `undefined` for a frame that answers nothing. */
  readonly keyOf?: (frame: Uint8Array) => string | undefined;
  /** Default 5 s, for `request` and `nextFrame`. */
  readonly timeoutMs?: number;
  /** Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Default 1,024: requests awaiting an answer at once. */
  readonly pendingRequestsMax?: number;
  /** Default 1,024: unmatched frames held for `nextFrame` before the client stops reading. */
  readonly queuedFramesMax?: number;
}

export class TransportTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportTimeoutError';
  }
}

export class ConnectionClosedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionClosedError';
  }
}

export interface Iso8583Client {
  readonly localPort: number;
  /** Writes one frame; resolves once the socket has taken it (waiting for 'drain' when its buffer is full). */
  send(frame: Uint8Array): Promise<void>;
  /** Writes raw bytes with no framing: for tests and simulators that need a broken or split stream. */
  sendRaw(bytes: Uint8Array): Promise<void>;
  /**
   * Registers `key`, sends `frame`, and resolves with the first frame whose key (by `keyOf`) equals `key`.
   * Rejects on timeout, when the connection closes, or when `key` is already awaited.
   */
  request(frame: Uint8Array, key: string, options?: { readonly timeoutMs?: number }): Promise<Uint8Array>;
  /** The next frame no request claimed. */
  nextFrame(options?: { readonly timeoutMs?: number }): Promise<Uint8Array>;
  /** Unmatched frames as they arrive, until the connection closes. */
  frames(): AsyncIterableIterator<Uint8Array>;
  /** Unmatched frames go to listeners instead of the queue while any is registered. Returns an unsubscribe. */
  onFrame(listener: (frame: Uint8Array) => void): () => void;
  /** Resolves when the socket has closed, for whatever reason. */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  /** Ends the connection gracefully (FIN after what is queued). */
  close(): Promise<void>;
  /** Closes at once. */
  destroy(): void;
}

interface Waiter {
  resolve(frame: Uint8Array): void;
  reject(error: Error): void;
}

export async function connectIso8583Client(options: Iso8583ClientOptions): Promise<Iso8583Client> {
  const host = options.host ?? '127.0.0.1';
  const framing = resolveFraming(options.framing);
  const timeoutMsDefault = options.timeoutMs ?? 5_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const pendingRequestsMax = options.pendingRequestsMax ?? 1_024;
  const queuedFramesMax = options.queuedFramesMax ?? 1_024;
  const keyOf = options.keyOf;

  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const candidate = net.connect({ port: options.port, host, noDelay: true });
    const timer = setTimeout(() => {
      candidate.destroy();
      reject(
        new TransportTimeoutError(`no connection to ${host}:${options.port} within ${connectTimeoutMs} ms`),
      );
    }, connectTimeoutMs);
    candidate.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    candidate.once('connect', () => {
      clearTimeout(timer);
      candidate.removeAllListeners('error');
      resolve(candidate);
    });
  });

  const decoder = new FrameDecoder(framing);
  const pending = new Map<string, Waiter>();
  const queue: Uint8Array[] = [];
  const frameWaiters: Waiter[] = [];
  const listeners = new Set<(frame: Uint8Array) => void>();
  let closeError: Error | undefined;
  let isClosed = false;
  let readingPaused = false;

  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      isClosed = true;
      const error = closeError ?? new ConnectionClosedError('connection closed');
      for (const waiter of pending.values()) waiter.reject(error);
      pending.clear();
      for (const waiter of frameWaiters.splice(0)) waiter.reject(error);
      resolve();
    });
  });
  socket.on('error', (error) => {
    closeError ??= new ConnectionClosedError(`connection failed: ${error.message}`, { cause: error });
  });

  function updateReading(): void {
    const read = queue.length < queuedFramesMax;
    if (read && readingPaused) {
      readingPaused = false;
      socket.resume();
    } else if (!read && !readingPaused) {
      readingPaused = true;
      socket.pause();
    }
  }

  function deliver(frame: Uint8Array): void {
    const key = keyOf?.(frame);
    if (key !== undefined) {
      const waiter = pending.get(key);
      if (waiter !== undefined) {
        pending.delete(key);
        waiter.resolve(frame);
        return;
      }
    }
    if (listeners.size > 0) {
      for (const listener of listeners) listener(frame);
      return;
    }
    const waiter = frameWaiters.shift();
    if (waiter !== undefined) waiter.resolve(frame);
    else queue.push(frame);
  }

  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.push(chunk);
      // Bounded: every frame consumes at least one header and one byte of what was pushed.
      const iterationsMax = Math.floor(decoder.bufferedBytes / (framing.headerBytes + 1)) + 1;
      for (let iteration = 0; iteration < iterationsMax; iteration += 1) {
        const frame = decoder.next();
        if (frame === undefined) break;
        deliver(frame);
      }
    } catch (error) {
      // A framing error, or the caller's keyOf or a listener throwing: the client closes with it, never throwing
      // out of a socket event (which would take the process down).
      closeError =
        error instanceof FramingError
          ? new ConnectionClosedError(`framing error from the server: ${error.code}`, { cause: error })
          : new ConnectionClosedError('a frame could not be delivered', { cause: error });
      socket.destroy();
      return;
    }
    updateReading();
  });

  function write(bytes: Uint8Array): Promise<void> {
    if (isClosed || socket.writableEnded) {
      return Promise.reject(closeError ?? new ConnectionClosedError('connection closed'));
    }
    return new Promise((resolve, reject) => {
      const flushed = socket.write(bytes, (error) => {
        if (error !== undefined && error !== null) reject(error);
        else if (flushed) resolve();
      });
      if (!flushed) socket.once('drain', () => resolve());
    });
  }

  function withTimeout<T>(
    timeoutMs: number,
    what: string,
    register: (waiter: Waiter) => void,
    unregister: (waiter: Waiter) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        unregister(waiter);
        reject(new TransportTimeoutError(`${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      register(waiter);
    });
  }

  const client: Iso8583Client = {
    localPort: socket.localPort ?? 0,
    closed,
    get isClosed() {
      return isClosed;
    },
    send: (frame) => write(encodeFrame(frame, framing)),
    sendRaw: (bytes) => write(bytes),
    async request(frame, key, requestOptions = {}) {
      if (keyOf === undefined) throw new Error('request needs a keyOf option to match answers');
      if (pending.has(key)) throw new Error('a request with this key is already awaiting its answer');
      if (pending.size >= pendingRequestsMax) {
        throw new Error(`too many requests awaiting answers (limit ${pendingRequestsMax})`);
      }
      if (isClosed) throw closeError ?? new ConnectionClosedError('connection closed');
      const answer = withTimeout<Uint8Array>(
        requestOptions.timeoutMs ?? timeoutMsDefault,
        'no answer',
        (waiter) => pending.set(key, waiter),
        (waiter) => {
          if (pending.get(key) === waiter) pending.delete(key);
        },
      );
      try {
        await write(encodeFrame(frame, framing));
      } catch (error) {
        pending.get(key)?.reject(error instanceof Error ? error : new Error(String(error)));
        pending.delete(key);
      }
      return answer;
    },
    nextFrame(frameOptions = {}) {
      const queued = queue.shift();
      if (queued !== undefined) {
        updateReading();
        return Promise.resolve(queued);
      }
      if (isClosed) return Promise.reject(closeError ?? new ConnectionClosedError('connection closed'));
      return withTimeout<Uint8Array>(
        frameOptions.timeoutMs ?? timeoutMsDefault,
        'no frame',
        (waiter) => frameWaiters.push(waiter),
        (waiter) => {
          const index = frameWaiters.indexOf(waiter);
          if (index >= 0) frameWaiters.splice(index, 1);
        },
      );
    },
    async *frames() {
      // Bounded by the connection's life: each iteration waits for a frame or ends when the socket closes.
      for (;;) {
        if (isClosed && queue.length === 0) return;
        try {
          yield await client.nextFrame({ timeoutMs: 2 ** 31 - 1 });
        } catch (error) {
          if (error instanceof ConnectionClosedError) return;
          throw error;
        }
      }
    },
    onFrame(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      if (!isClosed) socket.end();
      await closed;
    },
    destroy() {
      socket.destroy();
    },
  };
  return client;
}
