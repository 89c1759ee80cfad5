import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { environmentWithoutLantau } from '../support/cli.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { startLantau } from '../support/serve.js';
import { pack, unpack, ISO8583_1987_ASCII } from '../../src/edges/iso8583/codec/index.js';
import { answerKey, networkManagement, requestKey } from '../../src/edges/iso8583/network/messages.js';
import { connectIso8583Client } from '../../src/edges/iso8583/transport/client.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

const start = startLantau;
const stop = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });

describe('lantau serve', () => {
  let env: NodeJS.ProcessEnv;
  let dataDir: string | undefined;
  let db: TestDatabase | undefined;

  beforeAll(async () => {
    const base: NodeJS.ProcessEnv = {
      ...environmentWithoutLantau(),
      PORT: '0',
      LANTAU_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      // A server database gets no sandbox unless asked; the embedded default seeds one.
      LANTAU_SANDBOX: 'true',
    };
    if (process.env.DATABASE_URL) {
      db = await openTestDatabase();
      env = { ...base, DATABASE_URL: db.url };
    } else {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'lantau-serve-'));
      env = { ...base, LANTAU_DATA_DIR: dataDir };
      delete env.DATABASE_URL;
    }
  });
  afterAll(async () => {
    await db?.close();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the operations endpoints, stops cleanly on SIGTERM, and keeps its data across a restart', async () => {
    const first = await start(env);
    try {
      expect(first.operatorKey).toMatch(/^lantau_op_[A-Za-z0-9_-]{43}$/);
      expect(await (await fetch(`${first.url}/healthz`)).json()).toEqual({ status: 'ok' });
      expect(await (await fetch(`${first.url}/readyz`)).json()).toMatchObject({ status: 'ready' });
      expect(await (await fetch(`${first.url}/metrics`)).text()).toContain('process_cpu_user_seconds_total');
      expect(await (await fetch(`${first.url}/v1/openapi.json`)).json()).toMatchObject({ openapi: '3.1.0' });
      const events = await fetch(`${first.url}/v1/events`, {
        headers: { authorization: `Bearer ${first.operatorKey ?? ''}` },
      });
      expect(events.status).toBe(200);
      // The sandbox programme is seeded, and its key (printed once) sees it and only it.
      expect(first.sandboxProgram).toMatch(/^prog_/);
      expect(first.sandboxKey).toMatch(/^sk_test_[A-Za-z0-9_-]{43}$/);
      const programs = await fetch(`${first.url}/v1/programs`, {
        headers: { authorization: `Bearer ${first.sandboxKey ?? ''}` },
      });
      expect(await programs.json()).toMatchObject({
        data: [{ id: first.sandboxProgram, mode: 'sandbox', currencies: ['HKD'], bin: '424242' }],
      });
    } finally {
      expect(await stop(first.child)).toBe(0);
    }
    expect(first.output.join('\n')).toContain('SIGTERM received: finishing in-flight requests');

    const second = await start(env);
    try {
      // The key was printed once: the restart shows none, and the first one still opens the API.
      expect(second.operatorKey).toBeUndefined();
      const events = await fetch(`${second.url}/v1/events`, {
        headers: { authorization: `Bearer ${first.operatorKey ?? ''}` },
      });
      expect(events.status).toBe(200);
      // One sandbox, seeded once: the same programme, its key not printed again and still valid.
      expect(second.sandboxProgram).toBe(first.sandboxProgram);
      expect(second.sandboxKey).toBeUndefined();
      const program = await fetch(`${second.url}/v1/programs/${first.sandboxProgram ?? ''}`, {
        headers: { authorization: `Bearer ${first.sandboxKey ?? ''}` },
      });
      expect(program.status).toBe(200);
    } finally {
      expect(await stop(second.child)).toBe(0);
    }
  });

  it('opens the ISO 8583 interface when ISO8583_PORT is set, and closes it on SIGTERM', async () => {
    const running = await start({ ...env, ISO8583_PORT: '0' });
    try {
      const line = running.output.find((candidate) => candidate.includes('ISO 8583: tcp://'));
      const port = Number(/tcp:\/\/127\.0\.0\.1:(\d+)/.exec(line ?? '')?.[1]);
      expect(port).toBeGreaterThan(0);
      const client = await connectIso8583Client({
        port,
        keyOf: (frame) => answerKey(unpack(ISO8583_1987_ASCII, frame)),
      });
      const echo = networkManagement('echo', { stan: '000001', transmissionTime: '1126093000' });
      const answer = unpack(
        ISO8583_1987_ASCII,
        await client.request(pack(ISO8583_1987_ASCII, echo), requestKey(echo)),
      );
      expect(answer.mti).toBe('0810');
      expect(answer.fields.get(39)).toBe('00');
      const stopped = stop(running.child);
      await client.closed;
      expect(await stopped).toBe(0);
    } finally {
      await running.stop();
    }
  });

  it('stops cleanly, with one line, when the ISO 8583 port is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const child = spawn(process.execPath, ['bin/lantau.js', 'serve'], {
        cwd: ROOT,
        env: { ...env, ISO8583_PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(1);
      expect(stderr).toContain(`lantau: the ISO 8583 interface cannot listen on 127.0.0.1:${port}`);
      expect(stderr).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('refuses bad configuration with one line per bad value and no stack trace', async () => {
    const child = spawn(process.execPath, ['bin/lantau.js', 'serve'], {
      cwd: ROOT,
      env: {
        ...env,
        PORT: 'eighty',
        LOG_LEVEL: 'loud',
        LANTAU_SANDBOX_CVK: '0123456789abcdef0123456789abcdeZ',
        LANTAU_SANDBOX_SECRET_KEY: 'not-a-key',
        LANTAU_KEK_PROVIDER: 'env',
        ISO8583_PORT: '8583',
        ISO8583_LENGTH_HEADER: 'three',
        ISO8583_PROFILE: '/nowhere/profile.json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('PORT: must be a whole number');
    expect(stderr).toContain('LOG_LEVEL: must be one of');
    expect(stderr).toContain('LANTAU_SANDBOX_CVK: a CVK pair is 32 hex digits');
    expect(stderr).toContain('LANTAU_SANDBOX_SECRET_KEY: must be sk_test_');
    expect(stderr).toContain('LANTAU_KEK: must be set when LANTAU_KEK_PROVIDER is env');
    expect(stderr).toContain('ISO8583_LENGTH_HEADER: must be binary2 or ascii4');
    // Secrets are named, never repeated.
    expect(stderr).not.toContain('0123456789abcdef0123456789abcdeZ');
    expect(stderr).not.toContain('not-a-key');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
