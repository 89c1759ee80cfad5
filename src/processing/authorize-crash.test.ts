import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { verifyLedger } from '../ledger/verify.js';
import type { Database } from '../platform/db/database.js';
import { migrate } from '../platform/db/migrate.js';
import { PGliteDatabase } from '../platform/db/pglite.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHILD = path.join(ROOT, 'test/support/authorization-crash-child.ts');
const ACKS_BEFORE_KILL = 1_500;
const onServer = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '';

/**
 * Group commit must not trade correctness: a process deciding authorizations many to a transaction is killed with
 * SIGKILL just after one of its groups began writing. Every answer it gave survives with its hold, nothing half
 * written does, the ledger verifies, and every wallet holds exactly what its open approvals add up to. (On PGlite
 * the database dies with the process and is reopened from its data directory, as in the ledger's crash test.)
 */
describe(`authorization crash in the middle of a group (${onServer ? 'postgres' : 'pglite'})`, () => {
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
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lantau-auth-crash-'));
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

  it('keeps every acknowledged authorization and its hold, and nothing of the group it killed', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, target], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked = new Map<string, number>();
    let stderr = '';
    let programId = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exit = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.once('exit', (code, signal) => resolve(signal ?? code)),
    );
    for await (const line of createInterface({ input: child.stdout })) {
      const [word, id, amount] = line.split(' ');
      if (word === 'ready') programId = id ?? '';
      if (word === 'ack' && id !== undefined) acked.set(id, Number(amount));
      if (word === 'group' && acked.size >= ACKS_BEFORE_KILL) {
        child.kill('SIGKILL');
        break;
      }
    }
    expect(await exit, stderr).toBe('SIGKILL');
    expect(acked.size).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);

    const db = await reopen();
    const found = await db.query<{ id: string; amount: number }>(
      'SELECT id, amount FROM authorizations WHERE id = ANY($1::text[])',
      [[...acked.keys()]],
    );
    const stored = new Map(found.rows.map((row) => [row.id, row.amount]));
    expect([...acked].filter(([id, amount]) => stored.get(id) !== amount)).toEqual([]);
    // What committed is whole: each approval's hold is there, each authorization has its event.
    const orphans = await db.query<{ id: string }>(
      `SELECT a.id FROM authorizations a
       WHERE a.program_id = $1 AND (
         (a.approved AND a.amount > 0 AND NOT EXISTS (
           SELECT 1 FROM ledger_transfers t WHERE t.id = a.hold_ids[1] AND t.amount = a.amount AND t.reference = a.id))
         OR NOT EXISTS (SELECT 1 FROM events e WHERE e.type = 'authorization.created' AND e.data->'object'->>'id' = a.id))`,
      [programId],
    );
    expect(orphans.rows).toEqual([]);
    const holds = await db.query<{ id: string; held: number; approved: number }>(
      `SELECT w.ledger_account_id AS id, la.debits_pending AS held,
         coalesce((SELECT sum(a.amount) FROM authorizations a
                   WHERE a.account_id = w.id AND a.approved AND a.status = 'pending'), 0)::bigint AS approved
       FROM wallets w JOIN ledger_accounts la ON la.id = w.ledger_account_id WHERE w.program_id = $1`,
      [programId],
    );
    expect(holds.rows.length).toBeGreaterThan(0);
    expect(holds.rows.filter((row) => row.held !== row.approved)).toEqual([]);
    const report = await verifyLedger(db);
    expect(report.problems).toEqual([]);
  }, 90_000);
});
