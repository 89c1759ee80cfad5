import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly operatorKey: string | undefined;
  readonly output: string[];
}

/** Starts `lantau serve` as `npm start` does and waits for its banner (no sleeping: it reads the output). */
function start(env: NodeJS.ProcessEnv): Promise<Started> {
  const child = spawn(process.execPath, ['bin/lantau.js', 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    let url: string | undefined;
    let operatorKey: string | undefined;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      output.push(line);
      operatorKey ??= /Operator key \(shown once[^:]*\): (\S+)/.exec(line)?.[1];
      url ??= /API:\s+(\S+)\/v1/.exec(line)?.[1];
      if (/Health:/.test(line) && url !== undefined) {
        // The operator key line follows the health line.
        lines.once('line', (next) => {
          output.push(next);
          operatorKey ??= /Operator key \(shown once[^:]*\): (\S+)/.exec(next)?.[1];
          resolve({ child, url: url ?? '', operatorKey, output });
        });
      }
    });
    createInterface({ input: child.stderr }).on('line', (line) => output.push(line));
    child.once('exit', (code) =>
      reject(new Error(`lantau exited with ${String(code)} before it was ready:\n${output.join('\n')}`)),
    );
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

describe('lantau serve', () => {
  let env: NodeJS.ProcessEnv;
  let dataDir: string | undefined;
  let db: TestDatabase | undefined;

  beforeAll(async () => {
    const base: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: '0',
      LANTAU_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    };
    delete base.LANTAU_OPERATOR_KEY;
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
    } finally {
      expect(await stop(second.child)).toBe(0);
    }
  });

  it('refuses bad configuration with one line per bad value and no stack trace', async () => {
    const child = spawn(process.execPath, ['bin/lantau.js', 'serve'], {
      cwd: ROOT,
      env: { ...env, PORT: 'eighty', LOG_LEVEL: 'loud' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('PORT: must be a whole number');
    expect(stderr).toContain('LOG_LEVEL: must be one of');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
