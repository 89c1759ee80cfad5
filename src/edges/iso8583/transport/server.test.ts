import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionClosedError,
  TransportTimeoutError,
  connectIso8583Client,
  type Iso8583Client,
  type Iso8583ClientOptions,
} from './client.js';
import { FrameDecoder, encodeFrame } from './framing.js';
import {
  startIso8583Server,
  type Iso8583Server,
  type Iso8583ServerOptions,
  type TransportEvent,
  type TransportLogger,
} from './server.js';

/** Test frames are `key:body` in ASCII; the key pairs an answer with its request. */
const frameOf = (text: string): Uint8Array => Buffer.from(text, 'latin1');
const textOf = (frame: Uint8Array): string => Buffer.from(frame).toString('latin1');
const keyOf = (frame: Uint8Array): string | undefined => textOf(frame).split(':')[0];
const echo = async (frame: Uint8Array): Promise<Uint8Array> => frameOf(`${textOf(frame)}:ok`);

/** A promise with its resolver outside, to block handlers until a test lets them go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Resolves once `predicate` holds, checked on every transport event (no polling). */
function eventWaiter(): {
  onEvent: (event: TransportEvent) => void;
  until: (predicate: (event: TransportEvent) => boolean) => Promise<TransportEvent>;
  events: TransportEvent[];
} {
  const events: TransportEvent[] = [];
  const waiters: {
    predicate: (event: TransportEvent) => boolean;
    resolve: (event: TransportEvent) => void;
  }[] = [];
  return {
    events,
    onEvent(event) {
      events.push(event);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(event)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(event);
        }
      }
    },
    until(predicate) {
      const seen = events.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
  };
}

const servers: Iso8583Server[] = [];
const clients: Iso8583Client[] = [];
const sockets: net.Socket[] = [];

async function serve(options: Partial<Iso8583ServerOptions> = {}): Promise<Iso8583Server> {
  const server = await startIso8583Server({ handler: echo, ...options });
  servers.push(server);
  return server;
}

async function connect(
  server: Iso8583Server,
  options: Partial<Iso8583ClientOptions> = {},
): Promise<Iso8583Client> {
  const client = await connectIso8583Client({ port: server.port, keyOf, timeoutMs: 5_000, ...options });
  clients.push(client);
  return client;
}

/** A bare socket, for reading the server's bytes on our own terms. */
async function rawSocket(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

function collectLogs(): { logger: TransportLogger; lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (object: object, message: string) =>
    lines.push(
      JSON.stringify({ level, message, ...object }, (_key, value: unknown) =>
        value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value,
      ),
    );
  return {
    lines,
    logger: { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') },
  };
}

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const client of clients.splice(0)) client.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close({ deadlineMs: 100 })));
});

describe('ISO 8583 TCP transport', () => {
  it('answers many frames in flight on one connection, out of order, each matched to its request', async () => {
    const count = 40;
    const allArrived = gate();
    let arrived = 0;
    const server = await serve({
      inFlightPerConnectionMax: 64,
      handler: async (frame) => {
        arrived += 1;
        if (arrived === count) allArrived.open();
        const index = Number(keyOf(frame));
        // Even requests wait until every request has arrived, so odd ones overtake them.
        if (index % 2 === 0) await allArrived.promise;
        return frameOf(`${keyOf(frame) ?? ''}:answer-${index}`);
      },
    });
    const client = await connect(server);
    const answeredInOrder: number[] = [];
    const answers = await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const answer = await client.request(frameOf(`${index}:request`), String(index));
        answeredInOrder.push(index);
        return textOf(answer);
      }),
    );
    expect(answers).toEqual(Array.from({ length: count }, (_, index) => `${index}:answer-${index}`));
    expect(answeredInOrder).not.toEqual([...answeredInOrder].sort((a, b) => a - b));
    // Every odd request but the last (whose arrival releases the even ones) is answered before any even one.
    expect(answeredInOrder.slice(0, count / 2 - 1).every((index) => index % 2 === 1)).toBe(true);
    expect(server.stats()).toMatchObject({ framesIn: count, framesOut: count, inFlight: 0 });
  });

  it('serves many connections at once', async () => {
    const server = await serve();
    const many = await Promise.all(Array.from({ length: 8 }, () => connect(server)));
    const answers = await Promise.all(
      many.flatMap((client, c) =>
        Array.from({ length: 5 }, (_, m) => client.request(frameOf(`${c}.${m}:x`), `${c}.${m}`)),
      ),
    );
    expect(answers).toHaveLength(40);
    expect(server.stats()).toMatchObject({ connectionsOpen: 8, connectionsAccepted: 8, framesOut: 40 });
  });

  it('reassembles a frame split across TCP writes and separates many frames sent in one write', async () => {
    const server = await serve();
    const client = await connect(server);
    const whole = encodeFrame(frameOf('split:abcdefghij'));
    await client.sendRaw(whole.subarray(0, 1));
    await sleep(5);
    await client.sendRaw(whole.subarray(1, 6));
    await sleep(5);
    await client.sendRaw(whole.subarray(6));
    expect(textOf(await client.nextFrame())).toBe('split:abcdefghij:ok');

    const batch = Buffer.concat(
      Array.from({ length: 25 }, (_, index) => encodeFrame(frameOf(`b${index}:x`))),
    );
    await client.sendRaw(batch);
    const echoed = await Promise.all(Array.from({ length: 25 }, () => client.nextFrame()));
    expect(echoed.map(textOf).sort()).toEqual(
      Array.from({ length: 25 }, (_, index) => `b${index}:x:ok`).sort(),
    );
  });

  it('closes a connection whose header announces more than the frame limit; others are unaffected', async () => {
    const waiter = eventWaiter();
    const server = await serve({ framing: { frameBytesMax: 64 }, onEvent: waiter.onEvent });
    const good = await connect(server, { framing: { frameBytesMax: 64 } });
    const bad = await connect(server, { framing: { frameBytesMax: 64 } });
    expect(textOf(await bad.request(frameOf('first:fine'), 'first'))).toBe('first:fine:ok');

    const header = Buffer.alloc(2);
    header.writeUInt16BE(65);
    await bad.sendRaw(Buffer.concat([header, Buffer.alloc(65, 0x41)]));
    await bad.closed;
    await waiter.until((event) => event.type === 'connection_closed' && event.reason === 'framing_error');
    expect(server.stats()).toMatchObject({ framingErrors: 1, framesIn: 1, connectionsOpen: 1 });
    expect(textOf(await good.request(frameOf('still:here'), 'still'))).toBe('still:here:ok');
  });

  it('closes a connection whose ASCII length header is not digits; others are unaffected', async () => {
    const framing = { header: 'ascii4' } as const;
    const waiter = eventWaiter();
    const server = await serve({ framing, onEvent: waiter.onEvent });
    const good = await connect(server, { framing });
    const bad = await connect(server, { framing });
    expect(textOf(await bad.request(frameOf('a:1'), 'a'))).toBe('a:1:ok');
    await bad.sendRaw(Buffer.from('00x5hello', 'latin1'));
    await bad.closed;
    const event = await waiter.until((candidate) => candidate.type === 'framing_error');
    expect(event).toMatchObject({ type: 'framing_error', code: 'header_not_digits' });
    expect(textOf(await good.request(frameOf('b:2'), 'b'))).toBe('b:2:ok');
  });

  it('answers in-flight frames of a connection closed for a framing error before closing it', async () => {
    const release = gate();
    const waiter = eventWaiter();
    const server = await serve({
      onEvent: waiter.onEvent,
      handler: async (frame) => {
        await release.promise;
        return echo(frame);
      },
    });
    const client = await connect(server);
    const answer = client.request(frameOf('held:1'), 'held');
    await waiter.until((event) => event.type === 'frame_in');
    await client.sendRaw(Uint8Array.from([0x00, 0x00]));
    await waiter.until((event) => event.type === 'framing_error');
    expect(client.isClosed).toBe(false);
    release.open();
    expect(textOf(await answer)).toBe('held:1:ok');
    await client.closed;
  });

  it('refuses the connection over the limit at once, and counts it', async () => {
    const registry = new Registry();
    const waiter = eventWaiter();
    const server = await serve({ connectionsMax: 2, registry, onEvent: waiter.onEvent });
    const first = await connect(server);
    const second = await connect(server);
    await first.request(frameOf('1:x'), '1');
    await second.request(frameOf('2:x'), '2');

    const third = await connect(server);
    await third.closed;
    await waiter.until((event) => event.type === 'connection_refused');
    expect(server.stats()).toMatchObject({
      connectionsRefused: 1,
      connectionsOpen: 2,
      connectionsAccepted: 2,
    });
    const refused = await registry.getSingleMetric('lantau_iso8583_connections_refused_total')?.get();
    expect(refused?.values).toEqual([{ value: 1, labels: { reason: 'connections_max' } }]);
    const open = await registry.getSingleMetric('lantau_iso8583_connections_open')?.get();
    expect(open?.values[0]?.value).toBe(2);

    // The two admitted connections carry on; once one leaves, a newcomer is admitted.
    expect(textOf(await first.request(frameOf('3:x'), '3'))).toBe('3:x:ok');
    await second.close();
    await waiter.until((event) => event.type === 'connection_closed');
    const fourth = await connect(server);
    expect(textOf(await fourth.request(frameOf('4:x'), '4'))).toBe('4:x:ok');
  });

  it('closes a connection that sends no frame within the idle timeout', async () => {
    const waiter = eventWaiter();
    const server = await serve({ idleTimeoutMs: 50, onEvent: waiter.onEvent });
    const client = await connect(server);
    await client.closed;
    const closedEvent = await waiter.until((event) => event.type === 'connection_closed');
    expect(closedEvent).toMatchObject({ reason: 'idle_timeout' });
  });

  it('keeps a connection that sends frames more often than the idle timeout', async () => {
    const server = await serve({ idleTimeoutMs: 400 });
    const client = await connect(server);
    // 6 echoes 120 ms apart span nearly twice the idle timeout; each one restarts it (with room for a slow machine).
    for (let index = 0; index < 6; index += 1) {
      expect(textOf(await client.request(frameOf(`echo${index}:0800`), `echo${index}`))).toBe(
        `echo${index}:0800:ok`,
      );
      await sleep(120);
    }
    expect(client.isClosed).toBe(false);
  });

  it('runs no more handlers at once than the in-flight limit, and the rest after release', async () => {
    let running = 0;
    let runningMax = 0;
    let calls = 0;
    let release = gate();
    const twoRunning = gate();
    const server = await serve({
      inFlightPerConnectionMax: 2,
      handler: async (frame) => {
        calls += 1;
        running += 1;
        runningMax = Math.max(runningMax, running);
        if (running === 2) twoRunning.open();
        await release.promise;
        running -= 1;
        return echo(frame);
      },
    });
    const client = await connect(server);
    const keys = Array.from({ length: 6 }, (_, index) => `k${index}`);
    await client.sendRaw(Buffer.concat(keys.map((key) => encodeFrame(frameOf(`${key}:x`)))));
    await twoRunning.promise;
    await sleep(30); // room for a (wrong) third call to start
    expect(calls).toBe(2);
    expect(server.stats().inFlight).toBe(2);

    const firstBatch = release;
    release = gate();
    firstBatch.open();
    const firstTwo = await Promise.all([client.nextFrame(), client.nextFrame()]);
    expect(firstTwo.map(textOf).sort()).toEqual(['k0:x:ok', 'k1:x:ok']);
    release.open();
    const rest = await Promise.all(Array.from({ length: 4 }, () => client.nextFrame()));
    expect(rest.map(textOf).sort()).toEqual(['k2:x:ok', 'k3:x:ok', 'k4:x:ok', 'k5:x:ok']);
    expect(calls).toBe(6);
    expect(runningMax).toBe(2);
  });

  it('stops handling frames while the peer does not read its answers, and carries on when it does', async () => {
    const count = 1_500;
    let calls = 0;
    const answer = Buffer.alloc(8_000, 0x5a);
    const server = await serve({
      inFlightPerConnectionMax: 64,
      handler: async () => {
        calls += 1;
        return answer;
      },
    });
    const socket = await rawSocket(server.port);
    socket.pause(); // read nothing: about 12 MB of answers cannot all fit in the socket buffers
    const requests = Buffer.concat(Array.from({ length: count }, () => encodeFrame(frameOf('r:x'))));
    socket.write(requests);
    // Wait until the server has stopped calling the handler: its count holds still for 100 ms.
    let seen = -1;
    for (let round = 0; round < 100 && (calls === 0 || seen !== calls); round += 1) {
      seen = calls;
      await sleep(100);
    }
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(count);

    const decoder = new FrameDecoder();
    let received = 0;
    const allReceived = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        received += decoder.decode(chunk).length;
        if (received === count) resolve();
      });
    });
    socket.resume();
    await allReceived;
    expect(calls).toBe(count);
  });

  it('survives a handler that throws or rejects: nothing is sent for that frame and later frames are answered', async () => {
    const failures: string[] = [];
    const { logger, lines } = collectLogs();
    const server = await serve({
      logger,
      handler: async (frame) => {
        const key = keyOf(frame);
        if (key === 'sync') throw new Error('handler blew up');
        if (key === 'async') return Promise.reject(new Error('handler rejected'));
        return echo(frame);
      },
      onHandlerError: (error, connection) => {
        failures.push(`${connection.id}:${error instanceof Error ? error.message : 'unknown'}`);
      },
    });
    const client = await connect(server);
    await client.send(frameOf('sync:4111111111111111'));
    await client.send(frameOf('async:4111111111111111'));
    expect(textOf(await client.request(frameOf('after:4111111111111111'), 'after'))).toBe(
      'after:4111111111111111:ok',
    );
    expect(failures.sort()).toEqual(['conn_1:handler blew up', 'conn_1:handler rejected']);
    await expect(client.nextFrame({ timeoutMs: 30 })).rejects.toBeInstanceOf(TransportTimeoutError);
    expect(client.isClosed).toBe(false);
    expect(server.stats()).toMatchObject({ handlerErrors: 2, framesIn: 3, framesOut: 1 });
    // Frames carry card numbers: logs name sizes and connection ids, never contents.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain('4111111111111111');
  });

  it('logs a failing handler by default, without the frame', async () => {
    const { logger, lines } = collectLogs();
    const server = await serve({
      logger,
      handler: async () => {
        throw new Error('no database');
      },
    });
    const client = await connect(server);
    await client.send(frameOf('x:4111111111111111'));
    await client.sendRaw(Uint8Array.from([0xff, 0xff]));
    await client.closed;
    const text = lines.join('\n');
    expect(text).toContain('no database');
    expect(text).toContain('framing error');
    expect(text).not.toContain('4111111111111111');
  });

  it('drops an answer over the frame limit instead of sending it', async () => {
    const waiter = eventWaiter();
    const server = await serve({
      framing: { frameBytesMax: 16 },
      onEvent: waiter.onEvent,
      handler: async (frame) => (keyOf(frame) === 'big' ? new Uint8Array(17) : echo(frame)),
    });
    const client = await connect(server, { framing: { frameBytesMax: 16 } });
    await client.send(frameOf('big:x'));
    await waiter.until((event) => event.type === 'answer_dropped');
    expect(textOf(await client.request(frameOf('s:x'), 's'))).toBe('s:x:ok');
    expect(server.stats().answersDropped).toBe(1);
  });

  it('closes gracefully: waits for an in-flight answer to reach the client, then refuses connections', async () => {
    const release = gate();
    const waiter = eventWaiter();
    const server = await serve({
      onEvent: waiter.onEvent,
      handler: async (frame) => {
        if (keyOf(frame) === 'slow') await release.promise;
        return echo(frame);
      },
    });
    const client = await connect(server);
    const answer = client.request(frameOf('slow:1'), 'slow');
    await waiter.until((event) => event.type === 'frame_in');

    let closeDone = false;
    const closing = server.close().then(() => {
      closeDone = true;
    });
    await expect(connectIso8583Client({ port: server.port })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(closeDone).toBe(false);
    expect(client.isClosed).toBe(false);

    release.open();
    expect(textOf(await answer)).toBe('slow:1:ok');
    await closing;
    await client.closed;
    expect(closeDone).toBe(true);
    expect(server.stats()).toMatchObject({ connectionsOpen: 0, framesOut: 1, inFlight: 0 });
    await expect(connectIso8583Client({ port: server.port })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('destroys connections whose handlers outlive the close deadline', async () => {
    const never = gate();
    const waiter = eventWaiter();
    const server = await serve({
      onEvent: waiter.onEvent,
      handler: async (frame) => {
        await never.promise;
        return echo(frame);
      },
    });
    const client = await connect(server);
    const answer = client.request(frameOf('stuck:1'), 'stuck');
    await waiter.until((event) => event.type === 'frame_in');
    const refused = expect(answer).rejects.toBeInstanceOf(ConnectionClosedError);
    await server.close({ deadlineMs: 30 });
    await refused;
    expect(await waiter.until((event) => event.type === 'connection_closed')).toMatchObject({
      reason: 'close_deadline',
    });
    never.open();
    await waiter.until((event) => event.type === 'answer_dropped');
    await new Promise(setImmediate); // the handler's bookkeeping settles just after its answer is dropped
    expect(server.stats()).toMatchObject({ inFlight: 0, answersDropped: 1 });
  });

  it('times out a request that gets no answer', async () => {
    const server = await serve({ handler: async () => undefined });
    const client = await connect(server);
    await expect(client.request(frameOf('q:1'), 'q', { timeoutMs: 30 })).rejects.toBeInstanceOf(
      TransportTimeoutError,
    );
    // The key is free again once its request has timed out.
    await expect(client.request(frameOf('q:2'), 'q', { timeoutMs: 30 })).rejects.toBeInstanceOf(
      TransportTimeoutError,
    );
  });

  it('iterates unmatched frames until the connection closes', async () => {
    const server = await serve({ idleTimeoutMs: 500 });
    const client = await connect(server);
    await client.send(frameOf('u1:x'));
    await client.send(frameOf('u2:x'));
    const seen: string[] = [];
    for await (const frame of client.frames()) seen.push(textOf(frame));
    expect(seen).toEqual(['u1:x:ok', 'u2:x:ok']);
  });
});
