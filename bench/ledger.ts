/**
 * Ledger write throughput: transfers applied per second, one per transaction and batched, with money moving
 * between many accounts or all of it through one hot account (a programme's funding account), and two-phase
 * holds that are posted. Each figure is committed transfers per second.
 */
import { Ledger } from '../src/ledger/ledger.js';
import type { BatchItem, CreateTransfer } from '../src/ledger/types.js';
import { systemClock } from '../src/platform/clock.js';
import type { Database } from '../src/platform/db/database.js';
import { createIdGenerator } from '../src/platform/ids.js';
import { drive, rate } from './support.js';

const WALLETS = 1_000;
const FUNDED = 1_000_000_000;

export async function benchLedger(backend: { name: string; db: Database }, seconds: number): Promise<void> {
  const clock = systemClock;
  const ledger = new Ledger({ db: backend.db, clock, ids: createIdGenerator(clock) });
  const wallet = (index: number) => `bench_wallet_${index}`;
  await ledger.createAccounts([
    { id: 'bench_funding', programId: 'prog_bench', currency: 'HKD', kind: 'funding' },
    { id: 'bench_settlement', programId: 'prog_bench', currency: 'HKD', kind: 'card_settlement' },
    ...Array.from({ length: WALLETS }, (_, index) => ({
      id: wallet(index),
      programId: 'prog_bench',
      currency: 'HKD',
      kind: 'wallet',
      flags: { debitsMustNotExceedCredits: true },
    })),
  ]);
  for (let start = 0; start < WALLETS; start += 500) {
    await ledger.submit(
      Array.from({ length: Math.min(500, WALLETS - start) }, (_, offset) => ({
        id: `bench_fund_${start + offset}`,
        kind: 'posted' as const,
        debitAccountId: 'bench_funding',
        creditAccountId: wallet(start + offset),
        amount: FUNDED,
        currency: 'HKD',
      })),
    );
  }

  let sequence = 0;
  const nextId = (label: string) => `b_${label}_${(sequence += 1)}`;
  const randomWallet = () => wallet(Math.floor(Math.random() * WALLETS));
  /** Wallet to wallet: two ordinary accounts per transfer, rarely the same ones twice at once. */
  const spread = (): CreateTransfer => {
    const debit = randomWallet();
    let credit = randomWallet();
    while (credit === debit) credit = randomWallet();
    return {
      id: nextId('s'),
      kind: 'posted',
      debitAccountId: debit,
      creditAccountId: credit,
      amount: 1,
      currency: 'HKD',
    };
  };
  /** Every transfer pays the programme's settlement account: the hot-account case. */
  const hot = (): CreateTransfer => ({
    id: nextId('h'),
    kind: 'posted',
    debitAccountId: randomWallet(),
    creditAccountId: 'bench_settlement',
    amount: 1,
    currency: 'HKD',
  });

  const figures: [label: string, concurrency: number, perTransaction: number, make: () => BatchItem][] = [
    ['1 per transaction, wallet to wallet', 1, 1, spread],
    ['1 per transaction, wallet to wallet', 16, 1, spread],
    ['1 per transaction, all into one hot account', 16, 1, hot],
    ['64 per transaction, wallet to wallet', 16, 64, spread],
    ['64 per transaction, all into one hot account', 16, 64, hot],
  ];
  for (const [label, concurrency, perTransaction, make] of figures) {
    const result = await drive(seconds, concurrency, async () => {
      await ledger.submit(Array.from({ length: perTransaction }, make));
      return perTransaction;
    });
    console.log(
      `ledger   ${backend.name.padEnd(8)} transfers, ${label}, ${concurrency} callers: ${rate(result.operations, result.ms)}/s`,
    );
  }

  const twoPhase = await drive(seconds, 16, async () => {
    const hold = hot();
    await ledger.submit([{ ...hold, kind: 'pending', timeoutSeconds: 7 * 24 * 3600 }]);
    await ledger.submit([{ id: nextId('p'), kind: 'post_pending', pendingId: hold.id }]);
    return 1;
  });
  console.log(
    `ledger   ${backend.name.padEnd(8)} holds then posted (two transactions each), 16 callers: ${rate(twoPhase.operations, twoPhase.ms)}/s`,
  );
}
