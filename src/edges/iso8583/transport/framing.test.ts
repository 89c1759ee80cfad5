import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FramingError, encodeFrame, resolveFraming, type LengthHeader } from './framing.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const ascii = (text: string): Uint8Array => Buffer.from(text, 'latin1');

function framingErrorOf(action: () => unknown): FramingError {
  try {
    action();
  } catch (error) {
    if (error instanceof FramingError) return error;
    throw error;
  }
  throw new Error('expected a FramingError');
}

/** Cuts `data` at the given offsets (any order, duplicates allowed), keeping empty pieces. */
function splitAt(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...cuts.map((cut) => cut % (data.byteLength + 1))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(data.subarray(start, point));
    start = point;
  }
  pieces.push(data.subarray(start));
  return pieces;
}

describe('ISO 8583 length-prefixed framing', () => {
  it('encodes a 2-byte big-endian header by default and a 4-digit ASCII header on request', () => {
    expect([...encodeFrame(bytes(0xaa, 0xbb, 0xcc))]).toEqual([0x00, 0x03, 0xaa, 0xbb, 0xcc]);
    expect([...encodeFrame(new Uint8Array(300).fill(1))].slice(0, 2)).toEqual([0x01, 0x2c]);
    expect(encodeFrame(ascii('0800'), { header: 'ascii4' }).toString('latin1')).toBe('00040800');
    expect(encodeFrame(new Uint8Array(1234), { header: 'ascii4' }).subarray(0, 4).toString('latin1')).toBe(
      '1234',
    );
  });

  it('refuses to encode an empty frame or one over the limit', () => {
    expect(framingErrorOf(() => encodeFrame(new Uint8Array(0))).code).toBe('frame_empty');
    const tooLarge = framingErrorOf(() => encodeFrame(new Uint8Array(11), { frameBytesMax: 10 }));
    expect(tooLarge.code).toBe('frame_too_large');
    expect(tooLarge.frameBytes).toBe(11);
    expect(encodeFrame(new Uint8Array(10), { frameBytesMax: 10 }).byteLength).toBe(12);
  });

  it('checks the limit against what the header can carry', () => {
    expect(resolveFraming()).toEqual({ header: 'binary2', headerBytes: 2, frameBytesMax: 8192 });
    expect(() => resolveFraming({ header: 'ascii4', frameBytesMax: 10_000 })).toThrow(RangeError);
    expect(() => resolveFraming({ header: 'binary2', frameBytesMax: 65_536 })).toThrow(RangeError);
    expect(() => resolveFraming({ frameBytesMax: 0 })).toThrow(RangeError);
    expect(() => resolveFraming({ frameBytesMax: 1.5 })).toThrow(RangeError);
    expect(resolveFraming({ header: 'ascii4', frameBytesMax: 9_999 }).headerBytes).toBe(4);
  });

  it('decodes a header split across chunks and many frames in one chunk', () => {
    const decoder = new FrameDecoder();
    expect(decoder.decode(bytes(0x00))).toEqual([]);
    expect(decoder.decode(bytes(0x02, 0x41))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(3);
    expect(
      decoder.decode(bytes(0x42, 0x00, 0x01, 0x43, 0x00, 0x01)).map((f) => f.toString('latin1')),
    ).toEqual(['AB', 'C']);
    expect(decoder.bufferedBytes).toBe(2);
    expect(decoder.decode(bytes(0x44)).map((f) => f.toString('latin1'))).toEqual(['D']);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('hands out frames one at a time with next()', () => {
    const decoder = new FrameDecoder({ header: 'ascii4' });
    decoder.push(ascii('0002hi0003you00'));
    expect(decoder.next()?.toString('latin1')).toBe('hi');
    expect(decoder.next()?.toString('latin1')).toBe('you');
    expect(decoder.next()).toBeUndefined();
    decoder.push(ascii('01!'));
    expect(decoder.next()?.toString('latin1')).toBe('!');
  });

  it('keeps frames intact when the caller reuses its chunk buffer', () => {
    const decoder = new FrameDecoder();
    const chunk = Uint8Array.from([0x00, 0x02, 0x01, 0x02]);
    const [frame] = decoder.decode(chunk);
    chunk.fill(0xff);
    expect([...(frame ?? [])]).toEqual([0x01, 0x02]);
  });

  it('rejects a header over the limit as soon as the header is complete, and stays poisoned', () => {
    const decoder = new FrameDecoder({ frameBytesMax: 100 });
    const error = framingErrorOf(() => decoder.decode(bytes(0x00, 0x65)));
    expect(error.code).toBe('frame_too_large');
    expect(error.frameBytes).toBe(101);
    expect(decoder.error).toBe(error);
    expect(() => decoder.push(bytes(0x00, 0x01, 0x41))).toThrow(error);
    expect(() => decoder.next()).toThrow(error);
  });

  it('rejects a zero length and a non-digit ASCII header', () => {
    expect(framingErrorOf(() => new FrameDecoder().decode(bytes(0x00, 0x00))).code).toBe('frame_empty');
    expect(framingErrorOf(() => new FrameDecoder({ header: 'ascii4' }).decode(ascii('0000'))).code).toBe(
      'frame_empty',
    );
    expect(framingErrorOf(() => new FrameDecoder({ header: 'ascii4' }).decode(ascii('00a1x'))).code).toBe(
      'header_not_digits',
    );
    expect(framingErrorOf(() => new FrameDecoder({ header: 'ascii4' }).decode(ascii(' 012x'))).code).toBe(
      'header_not_digits',
    );
    // A frame that follows a good one is checked the same way.
    const decoder = new FrameDecoder({ header: 'ascii4' });
    expect(() => decoder.decode(ascii('0001A-001'))).toThrow(FramingError);
  });

  it('never puts frame contents in a framing error', () => {
    const decoder = new FrameDecoder({ header: 'ascii4', frameBytesMax: 100 });
    const error = framingErrorOf(() => decoder.decode(ascii('02004111111111111111')));
    expect(error.code).toBe('frame_too_large');
    expect(error.message).not.toContain('4111');
  });

  for (const header of ['binary2', 'ascii4'] as const satisfies readonly LengthHeader[]) {
    it(`decodes any sequence of frames, split at arbitrary points, to the same frames (${header})`, () => {
      const frameBytesMax = 300;
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ minLength: 1, maxLength: frameBytesMax }), { maxLength: 20 }),
          fc.array(fc.nat(), { maxLength: 30 }),
          (frames, cuts) => {
            const framing = { header, frameBytesMax };
            const stream = Buffer.concat(frames.map((frame) => encodeFrame(frame, framing)));
            const decoder = new FrameDecoder(framing);
            const decoded: Uint8Array[] = [];
            for (const piece of splitAt(stream, cuts)) decoded.push(...decoder.decode(piece));
            expect(decoded.map((frame) => [...frame])).toEqual(frames.map((frame) => [...frame]));
            expect(decoder.bufferedBytes).toBe(0);
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  it('fails on any header over the limit however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 101, max: 0xffff }),
        fc.array(fc.nat(), { maxLength: 4 }),
        (length, cuts) => {
          const stream = Buffer.alloc(2 + 5);
          stream.writeUInt16BE(length, 0);
          const decoder = new FrameDecoder({ frameBytesMax: 100 });
          const error = framingErrorOf(() => {
            for (const piece of splitAt(stream, cuts)) decoder.decode(piece);
          });
          expect(error.code).toBe('frame_too_large');
        },
      ),
    );
  });
});
