import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyBatch, flattenResults, type AppliedBatch, type LedgerRows } from './apply.js';
import type { Account, AccountFlags, BatchItem, Transfer, TransferCommand, TransferResult } from './types.js';

/**
 * The state machine without a database. Its defining property: a batch gives exactly the results and the state
 * that applying its items one at a time would, and a linked chain that fails leaves nothing behind.
 */
const now = new Date('2026-03-01T00:00:00.000Z');
const seed = Number(process.env.LANTAU_FC_SEED ?? 7);

function account(id: string, flags: Partial<AccountFlags>, credits = 0, debits = 0): Account {
  return {
    id,
    programId: 'prog_pure',
    currency: 'HKD',
    kind: 'test',
    ownerId: null,
    flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false, ...flags },
    debitsPending: 0,
    debitsPosted: debits,
    creditsPending: 0,
    creditsPosted: credits,
    createdAt: now,
  };
}

const ACCOUNT_IDS = ['funding', 'wallet', 'settlement', 'receivable'] as const;
const startRows: LedgerRows = {
  accounts: new Map([
    ['funding', account('funding', {}, 0, 1_000)],
    ['wallet', account('wallet', { debitsMustNotExceedCredits: true }, 1_000)],
    ['settlement', account('settlement', {})],
    ['receivable', account('receivable', { creditsMustNotExceedDebits: true })],
  ]),
  transfers: new Map(),
};

const accountIndex = fc.nat({ max: ACCOUNT_IDS.length - 1 }).map((index) => ACCOUNT_IDS[index] ?? 'funding');
const transferId = fc.nat({ max: 8 }).map((n) => `t${n}`);

const commandArbitrary: fc.Arbitrary<TransferCommand> = fc.oneof(
  fc
    .record({
      kind: fc.constantFrom('posted' as const, 'pending' as const),
      id: transferId,
      debit: accountIndex,
      credit: accountIndex,
      amount: fc.integer({ min: 1, max: 800 }),
      timeout: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
    })
    .map((r): TransferCommand => ({
      id: r.id,
      kind: r.kind,
      debitAccountId: r.debit,
      creditAccountId: r.credit,
      amount: r.amount,
      currency: 'HKD',
      ...(r.kind === 'pending' && r.timeout !== undefined ? { timeoutSeconds: r.timeout } : {}),
    })),
  fc
    .record({
      id: transferId,
      pending: transferId,
      amount: fc.option(fc.integer({ min: 1, max: 800 }), { nil: undefined }),
    })
    .map((r): TransferCommand => ({
      id: r.id,
      kind: 'post_pending',
      pendingId: r.pending,
      ...(r.amount === undefined ? {} : { amount: r.amount }),
    })),
  fc
    .record({ id: transferId, pending: transferId })
    .map((r): TransferCommand => ({ id: r.id, kind: 'void_pending', pendingId: r.pending })),
);

const itemArbitrary: fc.Arbitrary<BatchItem> = fc.oneof(
  { weight: 2, arbitrary: commandArbitrary },
  { weight: 1, arbitrary: fc.array(commandArbitrary, { minLength: 1, maxLength: 4 }) },
);

function merge(rows: LedgerRows, applied: AppliedBatch): LedgerRows {
  const accounts = new Map(rows.accounts);
  const transfers = new Map(rows.transfers);
  for (const changed of applied.changedAccounts) accounts.set(changed.id, changed);
  for (const transfer of [...applied.created, ...applied.resolved]) transfers.set(transfer.id, transfer);
  return { accounts, transfers };
}

const outcome = (result: TransferResult) =>
  result.status === 'failed' ? result.error : `${result.status}:${result.transfer.id}`;

function sorted<T>(map: ReadonlyMap<string, T>): [string, T][] {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('applyBatch', () => {
  it('gives the same results and state as applying the items one at a time; failed chains leave nothing', () => {
    fc.assert(
      fc.property(
        fc.array(itemArbitrary, { minLength: 1, maxLength: 8 }),
        fc.array(itemArbitrary, { maxLength: 5 }),
        (before, items) => {
          const rows = merge(startRows, applyBatch(startRows, before, now));
          const whole = applyBatch(rows, items, now);

          let stepwise = rows;
          const stepwiseResults: TransferResult[] = [];
          for (const item of items) {
            const one = applyBatch(stepwise, [item], now);
            const results = flattenResults(one.results);
            if (Array.isArray(item) && results.some((result) => result.status === 'failed')) {
              expect(one.created).toEqual([]);
              expect(one.resolved).toEqual([]);
              expect(one.changedAccounts).toEqual([]);
            }
            stepwiseResults.push(...results);
            stepwise = merge(stepwise, one);
          }
          expect(flattenResults(whole.results).map(outcome)).toEqual(stepwiseResults.map(outcome));
          const final = merge(rows, whole);
          expect(sorted(final.accounts)).toEqual(sorted(stepwise.accounts));
          expect(sorted(final.transfers)).toEqual(sorted(stepwise.transfers));

          let debits = 0;
          let credits = 0;
          for (const balances of final.accounts.values()) {
            debits += balances.debitsPending + balances.debitsPosted;
            credits += balances.creditsPending + balances.creditsPosted;
            if (balances.flags.debitsMustNotExceedCredits) {
              expect(balances.debitsPending + balances.debitsPosted).toBeLessThanOrEqual(
                balances.creditsPosted,
              );
            }
            if (balances.flags.creditsMustNotExceedDebits) {
              expect(balances.creditsPending + balances.creditsPosted).toBeLessThanOrEqual(
                balances.debitsPosted,
              );
            }
          }
          expect(debits).toBe(credits);
          const createdIds = whole.created.map((transfer) => transfer.id);
          expect(new Set(createdIds).size).toBe(createdIds.length);
          for (const id of createdIds) expect(rows.transfers.has(id)).toBe(false);
          for (const resolved of whole.resolved)
            expect(rows.transfers.get(resolved.id)?.state).toBe('pending');
        },
      ),
      { numRuns: 3_000, seed },
    );
  });

  it('accepts every well-formed transfer that breaks no rule (the rules do not refuse too much)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: 10_000 }), (spend, load) => {
        const applied = applyBatch(
          startRows,
          [
            {
              id: 'load',
              kind: 'posted',
              debitAccountId: 'funding',
              creditAccountId: 'wallet',
              amount: load,
              currency: 'HKD',
            },
            {
              id: 'hold',
              kind: 'pending',
              debitAccountId: 'wallet',
              creditAccountId: 'settlement',
              amount: spend,
              currency: 'HKD',
            },
            { id: 'post', kind: 'post_pending', pendingId: 'hold', amount: Math.max(1, spend - 1) },
          ],
          now,
        );
        expect(flattenResults(applied.results).map((result) => result.status)).toEqual([
          'created',
          'created',
          'created',
        ]);
        const wallet = applied.changedAccounts.find((changed) => changed.id === 'wallet');
        expect(wallet).toMatchObject({
          debitsPending: 0,
          debitsPosted: Math.max(1, spend - 1),
          creditsPosted: 1_000 + load,
        });
      }),
      { numRuns: 200, seed },
    );
  });

  it('refuses a hold past its timeout even before the expiry job has run', () => {
    const hold: Transfer = {
      id: 'old_hold',
      programId: 'prog_pure',
      kind: 'pending',
      debitAccountId: 'wallet',
      creditAccountId: 'settlement',
      amount: 100,
      currency: 'HKD',
      pendingId: null,
      timeoutSeconds: 60,
      expiresAt: new Date(now.getTime() - 1),
      code: null,
      reference: null,
      createdAt: new Date(now.getTime() - 60_001),
      state: 'pending',
      resolvedAt: null,
      resolvedBy: null,
    };
    const rows: LedgerRows = { accounts: startRows.accounts, transfers: new Map([[hold.id, hold]]) };
    const [result] = applyBatch(
      rows,
      [{ id: 'late', kind: 'post_pending', pendingId: hold.id }],
      now,
    ).results;
    expect(result).toMatchObject({ status: 'failed', error: 'pending_transfer_expired' });
  });
});
