import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import type { Queryable } from '../platform/db/database.js';
import { runTogether } from '../platform/db/statements.js';
import { createIdGenerator } from '../platform/ids.js';
import { getAccount } from './accounts.js';
import { Ledger } from './ledger.js';
import { flattenResults } from './apply.js';
import { LedgerWork, lockAccounts } from './submit.js';
import type { Account } from './types.js';
import { verifyLedger } from './verify.js';

/**
 * LedgerWork, the group commit's ledger: holds applied one at a time with immediate results, a unit taken back with
 * mark/undoTo, and an increment-only account (a programme's settlement account) whose row is written by addition
 * at the end, alongside writers that lock it and write absolute balances.
 */
let db: TestDatabase;
let clock: ManualClock;
let ledger: Ledger;

beforeAll(async () => {
  db = await openTestDatabase();
  clock = new ManualClock('2026-03-01T00:00:00.000Z');
  ledger = new Ledger({ db, clock, ids: createIdGenerator(clock) });
  await ledger.createAccounts([
    { id: 'w_funding', programId: 'prog_w', currency: 'HKD', kind: 'funding' },
    {
      id: 'w_wallet',
      programId: 'prog_w',
      currency: 'HKD',
      kind: 'wallet',
      ownerId: 'ch_1',
      flags: { debitsMustNotExceedCredits: true },
    },
    { id: 'w_settlement', programId: 'prog_w', currency: 'HKD', kind: 'card_settlement', ownerId: 'prog_w' },
  ]);
  await ledger.transfer({
    id: 'w_load',
    kind: 'posted',
    debitAccountId: 'w_funding',
    creditAccountId: 'w_wallet',
    amount: 10_000,
    currency: 'HKD',
  });
});
afterAll(async () => db.close());

async function account(id: string, on: Queryable = db): Promise<Account> {
  const found = await getAccount(on, id);
  if (found === undefined) throw new Error(`no account ${id}`);
  return found;
}

function hold(id: string, amount: number) {
  return {
    id,
    kind: 'pending' as const,
    debitAccountId: 'w_wallet',
    creditAccountId: 'w_settlement',
    amount,
    currency: 'HKD',
    timeoutSeconds: 60,
  };
}

/** One unit of ledger work: holds on the wallet, written with the settlement account incremented. */
async function holdInGroup(ids: readonly [string, number][], undoLast = false): Promise<string[]> {
  return db.transaction(async (tx) => {
    const work = new LedgerWork(clock.now(), await lockAccounts(tx, ['w_wallet']));
    work.incrementOnly(await account('w_settlement', tx));
    const statuses: string[] = [];
    for (const [index, [id, amount]] of ids.entries()) {
      const mark = work.mark();
      const [result] = flattenResults([work.apply(hold(id, amount))]);
      statuses.push(result?.status ?? 'none');
      if (undoLast && index === ids.length - 1) work.undoTo(mark);
    }
    const writes = work.writes();
    writes.check((await runTogether(tx, [...writes.statements, writes.last])).at(-1) ?? []);
    return statuses;
  });
}

describe('LedgerWork', () => {
  it('applies holds in order against what the ones before took, and writes each once', async () => {
    const statuses = await holdInGroup([
      ['w_h1', 6_000],
      ['w_h2', 5_000],
      ['w_h3', 4_000],
    ]);
    // The second would take the wallet past what it holds; the third fits in what is left.
    expect(statuses).toEqual(['created', 'failed', 'created']);
    expect(await account('w_wallet')).toMatchObject({ debitsPending: 10_000, creditsPosted: 10_000 });
    expect(await account('w_settlement')).toMatchObject({ creditsPending: 10_000 });
    expect((await verifyLedger(db)).problems).toEqual([]);
  });

  it('takes back a unit with undoTo: nothing of it is written', async () => {
    await ledger.submit([{ kind: 'void_pending', id: 'w_v1', pendingId: 'w_h1' }]);
    await holdInGroup(
      [
        ['w_h4', 1_000],
        ['w_h5', 2_000],
      ],
      true,
    );
    const written = await db.query<{ id: string }>(
      `SELECT id FROM ledger_transfers WHERE id IN ('w_h4', 'w_h5')`,
    );
    expect(written.rows.map((row) => row.id)).toEqual(['w_h4']);
    expect(await account('w_settlement')).toMatchObject({ creditsPending: 5_000 });
    expect((await verifyLedger(db)).problems).toEqual([]);
  });

  it('adds to an incremented account without losing what a locking writer wrote meanwhile', async () => {
    const before = await account('w_settlement');
    await Promise.all([
      holdInGroup([['w_h6', 100]]),
      // A writer that locks the settlement account and writes absolute balances (a void resolves a hold to it).
      ledger.submit([{ kind: 'void_pending', id: 'w_v4', pendingId: 'w_h4' }]),
      holdInGroup([['w_h7', 200]]),
    ]);
    expect(await account('w_settlement')).toMatchObject({
      creditsPending: before.creditsPending + 100 + 200 - 1_000,
    });
    expect((await verifyLedger(db)).problems).toEqual([]);
  });

  it('refuses an increment beyond 2^53 - 1 and rolls the whole unit back', async () => {
    await db.query(
      `UPDATE ledger_accounts SET credits_posted = 9007199254740000, debits_posted = 0 WHERE id = 'w_settlement'`,
    );
    const work = db.transaction(async (tx) => {
      const unit = new LedgerWork(clock.now(), await lockAccounts(tx, ['w_funding']));
      unit.incrementOnly(await account('w_settlement', tx));
      unit.apply({
        id: 'w_big',
        kind: 'posted',
        debitAccountId: 'w_funding',
        creditAccountId: 'w_settlement',
        amount: 10_000,
        currency: 'HKD',
      });
      const writes = unit.writes();
      writes.check((await runTogether(tx, [...writes.statements, writes.last])).at(-1) ?? []);
    });
    await expect(work).rejects.toThrow(/beyond 2\^53/);
    const written = await db.query(`SELECT 1 FROM ledger_transfers WHERE id = 'w_big'`);
    expect(written.rows).toHaveLength(0);
  });

  it('refuses to increment an account with a balance limit', async () => {
    const unit = new LedgerWork(clock.now());
    const wallet = await account('w_wallet');
    expect(() => unit.incrementOnly(wallet)).toThrow(/balance limit/);
  });
});
