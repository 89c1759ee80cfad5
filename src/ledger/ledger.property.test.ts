import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { flattenResults } from './apply.js';
import { Ledger } from './ledger.js';
import type { BatchItem, TransferCommand } from './types.js';
import { verifyLedger } from './verify.js';

/**
 * Random sequences of concurrent batches (transfers, holds, posts, voids, linked chains, expiries, replays) on the
 * backend under test; after every step the ledger must verify from first principles, and replaying what was
 * accepted must change nothing. Seeded, so a run is repeatable; LANTAU_FC_SEED explores another sequence.
 */
const backend = process.env.DATABASE_URL ? 'postgres' : 'pglite';
const seed = Number(process.env.LANTAU_FC_SEED ?? 20_261_125);

let db: TestDatabase;
let clock: ManualClock;
let ledger: Ledger;

beforeAll(async () => {
  db = await openTestDatabase();
  clock = new ManualClock('2026-03-01T00:00:00.000Z');
  ledger = new Ledger({ db, clock, ids: createIdGenerator(clock) });
});
afterAll(async () => db.close());

const ACCOUNT_NAMES = ['funding', 'wallet_a', 'wallet_b', 'settlement', 'receivable'] as const;
const CURRENCIES = ['HKD', 'JPY'] as const;
const TRANSFER_SLOTS = 12;

/** A command in terms of small indices, turned into ids once the run's prefix is known. */
type Op =
  | {
      readonly op: 'create';
      readonly slot: number;
      readonly kind: 'posted' | 'pending';
      readonly debit: number;
      readonly credit: number;
      readonly currency: number;
      readonly amount: number;
      readonly timeoutSeconds: number | null;
    }
  | { readonly op: 'post'; readonly slot: number; readonly pending: number; readonly amount: number | null }
  | { readonly op: 'void'; readonly slot: number; readonly pending: number };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('create' as const),
      slot: fc.nat({ max: TRANSFER_SLOTS - 1 }),
      kind: fc.constantFrom('posted' as const, 'pending' as const),
      debit: fc.nat({ max: ACCOUNT_NAMES.length - 1 }),
      credit: fc.nat({ max: ACCOUNT_NAMES.length - 1 }),
      currency: fc.nat({ max: 5 }).map((n) => (n === 0 ? 1 : 0)),
      amount: fc.oneof(
        { weight: 12, arbitrary: fc.integer({ min: 1, max: 5_000 }) },
        { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 2 ** 53) },
      ),
      timeoutSeconds: fc.option(fc.integer({ min: 1, max: 120 }), { nil: null }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('post' as const),
      slot: fc.nat({ max: TRANSFER_SLOTS - 1 }),
      pending: fc.nat({ max: TRANSFER_SLOTS - 1 }),
      amount: fc.option(fc.integer({ min: 1, max: 5_000 }), { nil: null }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('void' as const),
      slot: fc.nat({ max: TRANSFER_SLOTS - 1 }),
      pending: fc.nat({ max: TRANSFER_SLOTS - 1 }),
    }),
  },
);

/** A batch item: one op, or a linked chain of two or three. */
const itemArbitrary = fc
  .oneof(
    { weight: 4, arbitrary: opArbitrary.map((op) => [op]) },
    { weight: 1, arbitrary: fc.array(opArbitrary, { minLength: 2, maxLength: 3 }).map((ops) => ops) },
  )
  .map((ops) => ({ chained: ops.length > 1, ops }));

type Step =
  | { readonly step: 'batches'; readonly batches: { chained: boolean; ops: Op[] }[][] }
  | { readonly step: 'expire'; readonly advanceSeconds: number };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      step: fc.constant('batches' as const),
      // Several batches submitted at once: on PostgreSQL they run concurrently on separate connections.
      batches: fc.array(fc.array(itemArbitrary, { minLength: 1, maxLength: 5 }), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      step: fc.constant('expire' as const),
      advanceSeconds: fc.integer({ min: 0, max: 150 }),
    }),
  },
);

let runNumber = 0;

function toCommand(prefix: string, op: Op, created: number): TransferCommand {
  const account = (index: number, currency: number) =>
    `${prefix}_${ACCOUNT_NAMES[index] ?? 'none'}_${CURRENCIES[currency] ?? 'HKD'}`;
  // Slots are reused across steps on purpose: a reused id is either a replay or a conflict.
  const id = `${prefix}_x${op.slot}_${op.op === 'create' ? op.kind : op.op}_${created % 3}`;
  const pendingId = (slot: number) => `${prefix}_x${slot}_pending_${created % 3}`;
  switch (op.op) {
    case 'create':
      return {
        id,
        kind: op.kind,
        debitAccountId: account(op.debit, op.currency),
        creditAccountId: account(op.credit, op.currency),
        amount: op.amount,
        currency: CURRENCIES[op.currency] ?? 'HKD',
        ...(op.kind === 'pending' && op.timeoutSeconds !== null ? { timeoutSeconds: op.timeoutSeconds } : {}),
      };
    case 'post':
      return {
        id,
        kind: 'post_pending',
        pendingId: pendingId(op.pending),
        ...(op.amount === null ? {} : { amount: op.amount }),
      };
    case 'void':
      return { id, kind: 'void_pending', pendingId: pendingId(op.pending) };
  }
}

async function accountSnapshot(prefix: string): Promise<unknown[]> {
  const { rows } = await db.query(
    `SELECT id, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_accounts
     WHERE id LIKE $1 ORDER BY id`,
    [`${prefix}\\_%`],
  );
  return rows;
}

async function checkInvariants(): Promise<void> {
  const report = await verifyLedger(db);
  expect(report.problems).toEqual([]);
  for (const totals of report.currencies) {
    expect(totals.debitsPending).toBe(totals.creditsPending);
    expect(totals.debitsPosted).toBe(totals.creditsPosted);
  }
  const ids = await db.query<{ total: number; distinct_ids: number }>(
    'SELECT count(*)::bigint AS total, count(DISTINCT id)::bigint AS distinct_ids FROM ledger_transfers',
  );
  expect(ids.rows[0]?.total).toBe(ids.rows[0]?.distinct_ids);
}

describe(`ledger properties (${backend})`, () => {
  it('balances, respects limits and replays idempotently under random concurrent batches', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 8 }), async (steps) => {
        runNumber += 1;
        const prefix = `r${runNumber}`;
        await ledger.createAccounts(
          CURRENCIES.flatMap((currency) =>
            ACCOUNT_NAMES.map((name) => ({
              id: `${prefix}_${name}_${currency}`,
              programId: 'prog_prop',
              currency,
              kind: name,
              flags: {
                debitsMustNotExceedCredits: name.startsWith('wallet'),
                creditsMustNotExceedDebits: name === 'receivable',
              },
            })),
          ),
        );
        // Wallets start with money, so spending and holds are often accepted, and sometimes refused.
        await ledger.submit(
          CURRENCIES.flatMap((currency) =>
            ['wallet_a', 'wallet_b'].map((wallet) => ({
              id: `${prefix}_seed_${wallet}_${currency}`,
              kind: 'posted' as const,
              debitAccountId: `${prefix}_funding_${currency}`,
              creditAccountId: `${prefix}_${wallet}_${currency}`,
              amount: 10_000,
              currency,
            })),
          ),
        );
        let stepNumber = 0;
        for (const step of steps) {
          stepNumber += 1;
          if (step.step === 'expire') {
            clock.advance(step.advanceSeconds * 1_000);
            await ledger.expire();
            await checkInvariants();
            continue;
          }
          const batches: BatchItem[][] = step.batches.map((batch) =>
            batch.map((item) => {
              const commands = item.ops.map((op) => toCommand(prefix, op, stepNumber));
              return item.chained ? commands : (commands[0] as TransferCommand);
            }),
          );
          const results = await Promise.all(batches.map((batch) => ledger.submit(batch)));
          await checkInvariants();

          const accepted = batches.flatMap((batch, index) => {
            const commands = batch.flatMap((item) =>
              Array.isArray(item) ? [...(item as TransferCommand[])] : [item as TransferCommand],
            );
            const outcomes = flattenResults(results[index] ?? []);
            return commands.filter((_, position) => outcomes[position]?.status !== 'failed');
          });
          const before = await accountSnapshot(prefix);
          const transfersBefore = (await verifyLedger(db)).transfers;
          const replayed = flattenResults(await ledger.submit(accepted));
          for (const outcome of replayed) expect(outcome.status).toBe('exists');
          // The same ids with one field changed are conflicts, never mistaken for the transfers they collide with.
          const altered = accepted.map((command): TransferCommand => ({ ...command, reference: 'altered' }));
          const conflicts = flattenResults(await ledger.submit(altered));
          for (const outcome of conflicts) {
            expect(outcome).toMatchObject({ status: 'failed', error: 'exists_with_different_fields' });
          }
          expect(await accountSnapshot(prefix)).toEqual(before);
          expect((await verifyLedger(db)).transfers).toBe(transfersBefore);
        }
      }),
      { numRuns: backend === 'postgres' ? 40 : 25, seed },
    );
  });
});
