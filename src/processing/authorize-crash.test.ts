import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  crashOnServer,
  openCrashTarget,
  startCrashChild,
  type CrashTarget,
} from '../../test/support/crash-target.js';
import { verifyLedger } from '../ledger/verify.js';

const ACKS_BEFORE_KILL = 1_500;

/**
 * Group commit must not trade correctness: a process deciding authorizations many to a transaction is killed with
 * SIGKILL just after one of its groups began writing. Every answer it gave survives with its hold, nothing half
 * written does, the ledger verifies, and every wallet holds exactly what its open approvals add up to. (On PGlite
 * the database dies with the process and is reopened from its data directory, as in the ledger's crash test.)
 */
describe(`authorization crash in the middle of a group (${crashOnServer ? 'postgres' : 'pglite'})`, () => {
  let crash: CrashTarget;
  beforeAll(async () => {
    crash = await openCrashTarget('auth-crash');
  });
  afterAll(async () => crash.cleanup());

  it('keeps every acknowledged authorization and its hold, and nothing of the group it killed', async () => {
    const child = startCrashChild('test/support/authorization-crash-child.ts', crash.target);
    const acked = new Map<string, number>();
    let programId = '';
    for await (const line of child.lines) {
      const [word, id, amount] = line.split(' ');
      if (word === 'ready') programId = id ?? '';
      if (word === 'ack' && id !== undefined) acked.set(id, Number(amount));
      if (word === 'group' && acked.size >= ACKS_BEFORE_KILL) {
        child.kill();
        break;
      }
    }
    expect(await child.exit, child.stderr()).toBe('SIGKILL');
    expect(acked.size).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);

    const db = await crash.reopen();
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
