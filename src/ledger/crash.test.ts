import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import type { Database } from '../platform/db/database.js';
import { migrate } from '../platform/db/migrate.js';
import { PGliteDatabase } from '../platform/db/pglite.js';
import { verifyLedger } from './verify.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHILD = path.join(ROOT, 'test/support/ledger-crash-child.ts');
const ACKS_BEFORE_KILL = 3_000;
const onServer = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '';

/**
 * A writer that acknowledges each transfer after its commit is killed with SIGKILL mid-stream; after restart every
 * acknowledged transfer is there and the ledger verifies. On PostgreSQL the server outlives its client, so this
 * proves acknowledgements follow commits. On PGlite the database lives inside the killed process and is reopened
 * from its data directory afterwards: a crash of the database itself (the process, not the machine: PGlite never
 * fsyncs, which is why it is not for production money).
 */
describe(`ledger crash (${onServer ? 'postgres' : 'pglite'})`, () => {
  let target: string;
  let reopen: () => Promise<Database>;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    if (onServer) {
      const db: TestDatabase = await openTestDatabase();
      if (db.url === undefined) throw new Error('the server backend gives each test database a URL');
      target = db.url;
      reopen = async () => db;
      cleanup = () => db.close();
      return;
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lantau-crash-'));
    const dataDir = path.join(dir, 'pgdata');
    const created = await PGliteDatabase.open({ dataDir });
    await migrate(created);
    await created.close();
    target = `pglite:${dataDir}`;
    let reopened: Database | undefined;
    reopen = async () => (reopened = await PGliteDatabase.open({ dataDir }));
    cleanup = async () => {
      await reopened?.close();
      rmSync(dir, { recursive: true, force: true });
    };
  });
  afterAll(async () => cleanup());

  it('keeps every acknowledged transfer when the writer is killed with SIGKILL mid-stream', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, target], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: string[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exit = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.once('exit', (code, signal) => resolve(signal ?? code)),
    );
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.startsWith('ack ')) acked.push(line.slice(4));
      if (acked.length >= ACKS_BEFORE_KILL) {
        child.kill('SIGKILL');
        break;
      }
    }
    expect(await exit, stderr).toBe('SIGKILL');
    expect(acked.length).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);

    const db = await reopen();
    const found = await db.query<{ id: string }>(
      'SELECT id FROM ledger_transfers WHERE id = ANY($1::text[])',
      [acked],
    );
    const present = new Set(found.rows.map((row) => row.id));
    expect(acked.filter((id) => !present.has(id))).toEqual([]);
    const report = await verifyLedger(db);
    expect(report.problems).toEqual([]);
  }, 60_000);
});
