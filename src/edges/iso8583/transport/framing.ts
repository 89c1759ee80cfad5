/**
 * Length-prefixed framing for ISO 8583 over TCP. Each message travels as a length header followed by that many
 * bytes: by default a 2-byte big-endian binary length, or optionally 4 ASCII decimal digits ('0123'). The framing
 * knows nothing about what a message contains: a frame is an opaque, non-empty byte string.
 *
 * A header that cannot be trusted (a length over the limit, a zero length, non-digit ASCII) poisons the stream:
 * nothing after it can be located, so the decoder refuses every later call and the connection must be closed.
 */

/** `binary2`: 2-byte big-endian unsigned length. `ascii4`: 4 ASCII decimal digits, left-padded with '0'. */
export type LengthHeader = 'binary2' | 'ascii4';

export interface FramingOptions {
  /** Default `binary2`. */
  readonly header?: LengthHeader;
  /** The largest message body accepted or sent, in bytes. Default 8 KiB; at most what the header can carry. */
  readonly frameBytesMax?: number;
}

export const FRAME_BYTES_MAX_DEFAULT = 8 * 1024;
export const LENGTH_HEADER_DEFAULT: LengthHeader = 'binary2';

const HEADER_BYTES: Record<LengthHeader, number> = { binary2: 2, ascii4: 4 };
/** The largest length each header can express. */
const HEADER_LENGTH_MAX: Record<LengthHeader, number> = { binary2: 0xffff, ascii4: 9_999 };

const ASCII_ZERO = 0x30;
const ASCII_NINE = 0x39;

export type FramingErrorCode = 'frame_too_large' | 'frame_empty' | 'header_not_digits';

/** Carries sizes only, never frame contents (a frame may hold a card number). */
export class FramingError extends Error {
  constructor(
    readonly code: FramingErrorCode,
    message: string,
    /** The length the header announced, when it could be read. */
    readonly frameBytes?: number,
  ) {
    super(message);
    this.name = 'FramingError';
  }
}

export interface ResolvedFraming {
  readonly header: LengthHeader;
  readonly headerBytes: number;
  readonly frameBytesMax: number;
}

export function resolveFraming(options: FramingOptions = {}): ResolvedFraming {
  const header = options.header ?? LENGTH_HEADER_DEFAULT;
  const frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT;
  if (!(header in HEADER_BYTES)) throw new RangeError(`unknown length header ${JSON.stringify(header)}`);
  if (
    !Number.isSafeInteger(frameBytesMax) ||
    frameBytesMax < 1 ||
    frameBytesMax > HEADER_LENGTH_MAX[header]
  ) {
    throw new RangeError(
      `frameBytesMax must be an integer from 1 to ${HEADER_LENGTH_MAX[header]} for a ${header} header, got ${frameBytesMax}`,
    );
  }
  return { header, headerBytes: HEADER_BYTES[header], frameBytesMax };
}

/** The header and the body in one buffer, ready for a single socket write. */
export function encodeFrame(frame: Uint8Array, options: FramingOptions | ResolvedFraming = {}): Buffer {
  const framing = 'headerBytes' in options ? options : resolveFraming(options);
  const length = frame.byteLength;
  if (length === 0) throw new FramingError('frame_empty', 'cannot send an empty frame', 0);
  if (length > framing.frameBytesMax) {
    throw new FramingError(
      'frame_too_large',
      `frame of ${length} bytes exceeds the limit of ${framing.frameBytesMax} bytes`,
      length,
    );
  }
  const out = Buffer.allocUnsafe(framing.headerBytes + length);
  if (framing.header === 'binary2') {
    out.writeUInt16BE(length, 0);
  } else {
    out.write(length.toString().padStart(4, '0'), 0, 4, 'latin1');
  }
  out.set(frame, framing.headerBytes);
  return out;
}

/**
 * A streaming decoder: `push` bytes as they arrive (chunks of any size), then call `next` until it returns
 * `undefined`. Pulling one frame at a time lets a server stop taking frames when it is busy without queueing
 * decoded frames anywhere: undecoded bytes wait here, bounded by what the socket delivered before it was paused.
 *
 * `next` throws a `FramingError` as soon as a bad header is complete (before its body arrives), and keeps throwing
 * it afterwards.
 */
export class FrameDecoder {
  readonly framing: ResolvedFraming;
  /** Contiguous bytes frames are cut from, read up to `#offset`. */
  #head: Buffer = Buffer.alloc(0);
  #offset = 0;
  /**
   * Chunks received after `#head`, joined to it only when a header or a whole frame is there to read: a frame sent a
   * byte at a time is copied once, not once per byte (which would be quadratic in its size).
   */
  #chunks: Buffer[] = [];
  #chunkBytes = 0;
  #error: FramingError | undefined;

  constructor(options: FramingOptions = {}) {
    this.framing = resolveFraming(options);
  }

  /** Bytes received and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.#head.byteLength - this.#offset + this.#chunkBytes;
  }

  /** The error that poisoned this stream, if any. */
  get error(): FramingError | undefined {
    return this.#error;
  }

  push(chunk: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error;
    if (chunk.byteLength === 0) return;
    // Copy: the caller may reuse its buffer, and frames handed out must not change under the handler.
    this.#chunks.push(Buffer.from(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    this.#chunkBytes += chunk.byteLength;
  }

  /** The next complete frame, or `undefined` when more bytes are needed. */
  next(): Buffer | undefined {
    if (this.#error !== undefined) throw this.#error;
    const { headerBytes } = this.framing;
    if (this.bufferedBytes < headerBytes) return undefined;
    this.#contiguous(headerBytes);
    const length = this.#readLength();
    if (this.bufferedBytes < headerBytes + length) return undefined;
    this.#contiguous(headerBytes + length);
    const start = this.#offset + headerBytes;
    // `subarray` of a buffer never written into again: the frame is stable without a second copy.
    const frame = this.#head.subarray(start, start + length);
    this.#offset = start + length;
    if (this.#offset === this.#head.byteLength) {
      this.#head = Buffer.alloc(0);
      this.#offset = 0;
    }
    return frame;
  }

  /** Makes at least `bytes` (all of which have arrived) readable from `#head` at `#offset`. */
  #contiguous(bytes: number): void {
    if (this.#head.byteLength - this.#offset >= bytes) return;
    this.#head = Buffer.concat([this.#head.subarray(this.#offset), ...this.#chunks]);
    this.#offset = 0;
    this.#chunks = [];
    this.#chunkBytes = 0;
  }

  /** Pushes a chunk and returns every frame now complete. For tests and simple callers. */
  decode(chunk: Uint8Array): Buffer[] {
    this.push(chunk);
    const frames: Buffer[] = [];
    // Bounded: every frame consumes at least headerBytes + 1 bytes of what is buffered.
    const iterationsMax = Math.floor(this.bufferedBytes / (this.framing.headerBytes + 1)) + 1;
    for (let iteration = 0; iteration < iterationsMax; iteration += 1) {
      const frame = this.next();
      if (frame === undefined) return frames;
      frames.push(frame);
    }
    throw new Error('frame decoder loop bound exceeded');
  }

  #readLength(): number {
    const { header, frameBytesMax } = this.framing;
    let length: number;
    if (header === 'binary2') {
      length = this.#head.readUInt16BE(this.#offset);
    } else {
      length = 0;
      for (let index = 0; index < 4; index += 1) {
        const byte = this.#head[this.#offset + index] ?? 0;
        if (byte < ASCII_ZERO || byte > ASCII_NINE) {
          return this.#fail(new FramingError('header_not_digits', 'length header is not 4 ASCII digits'));
        }
        length = length * 10 + (byte - ASCII_ZERO);
      }
    }
    if (length === 0)
      return this.#fail(new FramingError('frame_empty', 'length header announces 0 bytes', 0));
    if (length > frameBytesMax) {
      return this.#fail(
        new FramingError(
          'frame_too_large',
          `length header announces ${length} bytes, over the limit of ${frameBytesMax}`,
          length,
        ),
      );
    }
    return length;
  }

  #fail(error: FramingError): never {
    this.#error = error;
    this.#head = Buffer.alloc(0);
    this.#offset = 0;
    this.#chunks = [];
    this.#chunkBytes = 0;
    throw error;
  }
}
