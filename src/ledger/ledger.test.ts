import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { LedgerError } from './errors.js';
import { Ledger } from './ledger.js';
import type { Account, BatchResult, TransferCommand, TransferResult } from './types.js';
import { verifyLedger } from './verify.js';

const backend = process.env.DATABASE_URL ? 'postgres' : 'pglite';
let db: TestDatabase;
let clock: ManualClock;
let ledger: Ledger;

beforeAll(async () => {
  db = await openTestDatabase();
  clock = new ManualClock('2026-03-01T00:00:00.000Z');
  ledger = new Ledger({ db, clock, ids: createIdGenerator(clock) });
});
afterAll(async () => db.close());

let run = 0;
/** Ids unique to each test, so tests share one database without seeing each other's transfers. */
let prefix = '';
beforeEach(() => {
  run += 1;
  prefix = `t${run}`;
});

interface Book {
  readonly funding: Account;
  readonly wallet: Account;
  readonly settlement: Account;
}

async function openBook(currency = 'HKD', programId = 'prog_a'): Promise<Book> {
  const [funding, wallet, settlement] = await ledger.createAccounts([
    { id: `${prefix}_${programId}_funding_${currency}`, programId, currency, kind: 'funding' },
    {
      id: `${prefix}_${programId}_wallet_${currency}`,
      programId,
      currency,
      kind: 'wallet',
      ownerId: 'ch_1',
      flags: { debitsMustNotExceedCredits: true },
    },
    { id: `${prefix}_${programId}_settlement_${currency}`, programId, currency, kind: 'card_settlement' },
  ]);
  if (funding === undefined || wallet === undefined || settlement === undefined)
    throw new Error('no accounts');
  return { funding, wallet, settlement };
}

async function load(book: Book, amount: number, id = `${prefix}_load_${amount}`): Promise<void> {
  await ledger.transfer({
    id,
    kind: 'posted',
    debitAccountId: book.funding.id,
    creditAccountId: book.wallet.id,
    amount,
    currency: book.wallet.currency,
    code: 'load',
  });
}

async function balances(id: string) {
  const account = await ledger.getAccount(id);
  if (account === undefined) throw new Error(`no account ${id}`);
  const { debitsPending, debitsPosted, creditsPending, creditsPosted } = account;
  return { debitsPending, debitsPosted, creditsPending, creditsPosted };
}

/** Available to spend from a wallet: posted credits less everything debited or held. */
async function available(id: string): Promise<number> {
  const b = await balances(id);
  return b.creditsPosted - b.debitsPosted - b.debitsPending;
}

function single(result: BatchResult | undefined): TransferResult {
  if (result === undefined || Array.isArray(result)) throw new Error('expected a single result');
  return result as TransferResult;
}

async function expectRefused(command: TransferCommand, code: string): Promise<void> {
  const before = await verifyLedger(db);
  await expect(ledger.transfer(command)).rejects.toSatisfy(
    (error) => error instanceof LedgerError && error.code === code,
  );
  const after = await verifyLedger(db);
  expect(after.transfers).toBe(before.transfers);
  expect(after.currencies).toEqual(before.currencies);
}

describe(`ledger (${backend})`, () => {
  describe('accounts', () => {
    it('creates accounts with zero balances, and creating one again with the same fields is a no-op', async () => {
      const book = await openBook();
      expect(book.wallet).toMatchObject({
        programId: 'prog_a',
        currency: 'HKD',
        kind: 'wallet',
        ownerId: 'ch_1',
        flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false },
        debitsPending: 0,
        debitsPosted: 0,
        creditsPending: 0,
        creditsPosted: 0,
      });
      const again = await ledger.createAccount({
        id: book.wallet.id,
        programId: 'prog_a',
        currency: 'HKD',
        kind: 'wallet',
        ownerId: 'ch_1',
        flags: { debitsMustNotExceedCredits: true },
      });
      expect(again).toEqual(book.wallet);
    });

    it('refuses an account that exists with other fields, an unknown currency and both limit flags', async () => {
      const book = await openBook();
      await expect(
        ledger.createAccount({ id: book.wallet.id, programId: 'prog_a', currency: 'USD', kind: 'wallet' }),
      ).rejects.toMatchObject({ code: 'account_exists_with_different_fields', status: 409 });
      await expect(
        ledger.createAccount({ programId: 'prog_a', currency: 'ZZZ', kind: 'wallet' }),
      ).rejects.toMatchObject({ code: 'currency_invalid' });
      await expect(
        ledger.createAccount({
          programId: 'prog_a',
          currency: 'HKD',
          kind: 'wallet',
          flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: true },
        }),
      ).rejects.toMatchObject({ code: 'flags_exclusive' });
      await expect(
        ledger.createAccount({ programId: 'prog_a', currency: 'HKD', kind: 'Not A Kind' }),
      ).rejects.toMatchObject({ code: 'kind_invalid' });
    });

    it('generates time-sortable ids when none is given', async () => {
      const account = await ledger.createAccount({ programId: 'prog_a', currency: 'JPY', kind: 'funding' });
      expect(account.id).toMatch(/^lacc_[0-9a-z]{26}$/);
    });
  });

  describe('single-phase transfers', () => {
    it('moves money and keeps debits equal to credits', async () => {
      const book = await openBook();
      await load(book, 10_000);
      expect(await balances(book.wallet.id)).toEqual({
        debitsPending: 0,
        debitsPosted: 0,
        creditsPending: 0,
        creditsPosted: 10_000,
      });
      expect(await balances(book.funding.id)).toMatchObject({ debitsPosted: 10_000 });
      expect((await verifyLedger(db)).ok).toBe(true);
    });

    it('replays a transfer id with the same fields and refuses it with other fields', async () => {
      const book = await openBook();
      const command: TransferCommand = {
        id: `${prefix}_once`,
        kind: 'posted',
        debitAccountId: book.funding.id,
        creditAccountId: book.wallet.id,
        amount: 500,
        currency: 'HKD',
      };
      const [first] = await ledger.submit([command]);
      const [second] = await ledger.submit([command]);
      expect(single(first).status).toBe('created');
      expect(single(second)).toEqual({
        status: 'exists',
        transfer: (single(first) as { transfer: unknown }).transfer,
      });
      expect(await balances(book.wallet.id)).toMatchObject({ creditsPosted: 500 });
      await expectRefused({ ...command, amount: 501 }, 'exists_with_different_fields');
    });

    it('treats a replay with any field changed as a conflict, never as the same transfer', async () => {
      const book = await openBook();
      const usd = await openBook('USD');
      await load(book, 5_000);
      const hold: TransferCommand = {
        id: `${prefix}_hold`,
        kind: 'pending',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount: 500,
        currency: 'HKD',
        timeoutSeconds: 600,
        code: 'authorization_hold',
        reference: 'auth_1',
      };
      await ledger.transfer(hold);
      const variants: TransferCommand[] = [
        { ...hold, kind: 'posted', timeoutSeconds: null },
        { ...hold, debitAccountId: book.funding.id },
        { ...hold, creditAccountId: book.funding.id },
        { ...hold, amount: 499 },
        { ...hold, currency: 'USD', debitAccountId: usd.wallet.id, creditAccountId: usd.settlement.id },
        { ...hold, timeoutSeconds: 601 },
        { ...hold, timeoutSeconds: null },
        { ...hold, code: 'other_code' },
        { ...hold, reference: 'auth_2' },
        { ...hold, reference: null },
      ];
      for (const variant of variants) await expectRefused(variant, 'exists_with_different_fields');
      const post: TransferCommand = {
        id: `${prefix}_post`,
        kind: 'post_pending',
        pendingId: hold.id,
        amount: 300,
      };
      await ledger.transfer(post);
      for (const variant of [
        { ...post, amount: 301 },
        { id: post.id, kind: 'post_pending' as const, pendingId: hold.id },
        { id: post.id, kind: 'void_pending' as const, pendingId: hold.id },
        { ...post, code: 'clearing' },
      ]) {
        await expectRefused(variant, 'exists_with_different_fields');
      }
      expect(await ledger.transfer(post)).toMatchObject({ amount: 300 });
    });

    it('refuses a wallet paying out more than it holds, and changes nothing', async () => {
      const book = await openBook();
      await load(book, 1_000);
      await expectRefused(
        {
          id: `${prefix}_overspend`,
          kind: 'posted',
          debitAccountId: book.wallet.id,
          creditAccountId: book.settlement.id,
          amount: 1_001,
          currency: 'HKD',
        },
        'exceeds_credits',
      );
      expect(await available(book.wallet.id)).toBe(1_000);
    });

    it('refuses bad input with a typed error and leaves the ledger unchanged', async () => {
      const book = await openBook();
      const usd = await openBook('USD');
      await load(book, 1_000);
      const base = {
        kind: 'posted' as const,
        debitAccountId: book.funding.id,
        creditAccountId: book.wallet.id,
        currency: 'HKD',
      };
      const cases: [TransferCommand, string][] = [
        [{ ...base, id: `${prefix}_zero`, amount: 0 }, 'amount_invalid'],
        [{ ...base, id: `${prefix}_negative`, amount: -5 }, 'amount_invalid'],
        [{ ...base, id: `${prefix}_fraction`, amount: 10.5 }, 'amount_invalid'],
        [{ ...base, id: `${prefix}_unsafe`, amount: 2 ** 53 }, 'amount_invalid'],
        [{ ...base, id: `${prefix}_nan`, amount: Number.NaN }, 'amount_invalid'],
        [{ ...base, id: `${prefix}_unknown`, amount: 5, debitAccountId: 'nope' }, 'debit_account_not_found'],
        [
          { ...base, id: `${prefix}_unknown2`, amount: 5, creditAccountId: 'nope' },
          'credit_account_not_found',
        ],
        [
          { ...base, id: `${prefix}_mismatch`, amount: 5, creditAccountId: usd.wallet.id },
          'currency_mismatch',
        ],
        [{ ...base, id: `${prefix}_cur`, amount: 5, currency: 'USD' }, 'currency_mismatch'],
        [{ ...base, id: `${prefix}_badcur`, amount: 5, currency: 'usd' }, 'currency_invalid'],
        [
          { ...base, id: `${prefix}_self`, amount: 5, creditAccountId: book.funding.id },
          'accounts_must_be_different',
        ],
        [{ ...base, id: 'has spaces', amount: 5 }, 'id_invalid'],
        [{ ...base, id: `${prefix}_timeout`, amount: 5, timeoutSeconds: 60 }, 'timeout_reserved_for_pending'],
        [{ ...base, id: `${prefix}_code`, amount: 5, code: 'Not Snake' }, 'code_invalid'],
        [{ ...base, id: `${prefix}_nul`, amount: 5, reference: 'a\u0000b' }, 'reference_invalid'],
        [{ id: `${prefix}_badpending`, kind: 'post_pending', pendingId: 'not valid' }, 'pending_id_invalid'],
      ];
      for (const [command, code] of cases) await expectRefused(command, code);
      expect(await balances(book.wallet.id)).toMatchObject({ creditsPosted: 1_000 });
    });

    it('refuses a transfer between programmes', async () => {
      const a = await openBook('HKD', 'prog_a');
      const b = await openBook('HKD', 'prog_b');
      await expectRefused(
        {
          id: `${prefix}_cross`,
          kind: 'posted',
          debitAccountId: a.funding.id,
          creditAccountId: b.wallet.id,
          amount: 5,
          currency: 'HKD',
        },
        'program_mismatch',
      );
    });
  });

  describe('two-phase transfers', () => {
    it('holds funds, then posts part of the hold and releases the rest', async () => {
      const book = await openBook();
      await load(book, 10_000);
      const hold = await ledger.transfer({
        id: `${prefix}_hold`,
        kind: 'pending',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount: 6_000,
        currency: 'HKD',
        timeoutSeconds: 7 * 24 * 3600,
        code: 'authorization_hold',
        reference: 'auth_1',
      });
      expect(hold).toMatchObject({ state: 'pending', expiresAt: new Date('2026-03-08T00:00:00.000Z') });
      expect(await available(book.wallet.id)).toBe(4_000);
      expect(await balances(book.wallet.id)).toMatchObject({ debitsPending: 6_000 });

      const post = await ledger.transfer({
        id: `${prefix}_post`,
        kind: 'post_pending',
        pendingId: hold.id,
        amount: 4_500,
      });
      expect(post).toMatchObject({ kind: 'post_pending', amount: 4_500, pendingId: hold.id });
      expect(await balances(book.wallet.id)).toEqual({
        debitsPending: 0,
        debitsPosted: 4_500,
        creditsPending: 0,
        creditsPosted: 10_000,
      });
      expect(await balances(book.settlement.id)).toMatchObject({ creditsPending: 0, creditsPosted: 4_500 });
      expect(await ledger.getTransfer(hold.id)).toMatchObject({ state: 'posted', resolvedBy: post.id });
      expect((await verifyLedger(db)).ok).toBe(true);
    });

    it('posts at most once, never more than held, and never a voided hold', async () => {
      const book = await openBook();
      await load(book, 10_000);
      const hold = await ledger.transfer({
        id: `${prefix}_hold`,
        kind: 'pending',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount: 1_000,
        currency: 'HKD',
      });
      await expectRefused(
        { id: `${prefix}_post_big`, kind: 'post_pending', pendingId: hold.id, amount: 1_001 },
        'exceeds_pending_transfer_amount',
      );
      await ledger.transfer({ id: `${prefix}_post`, kind: 'post_pending', pendingId: hold.id });
      await expectRefused(
        { id: `${prefix}_post_again`, kind: 'post_pending', pendingId: hold.id },
        'pending_transfer_already_posted',
      );
      await expectRefused(
        { id: `${prefix}_void_posted`, kind: 'void_pending', pendingId: hold.id },
        'pending_transfer_already_posted',
      );
      // The same post again (same id, same fields) is a replay, not a second post.
      const replay = await ledger.transfer({
        id: `${prefix}_post`,
        kind: 'post_pending',
        pendingId: hold.id,
      });
      expect(replay.amount).toBe(1_000);
      expect(await balances(book.wallet.id)).toMatchObject({ debitsPosted: 1_000, debitsPending: 0 });

      const second = await ledger.transfer({
        id: `${prefix}_hold2`,
        kind: 'pending',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount: 2_000,
        currency: 'HKD',
      });
      await ledger.transfer({ id: `${prefix}_void`, kind: 'void_pending', pendingId: second.id });
      await expectRefused(
        { id: `${prefix}_post_voided`, kind: 'post_pending', pendingId: second.id },
        'pending_transfer_already_voided',
      );
      await expectRefused(
        { id: `${prefix}_post_missing`, kind: 'post_pending', pendingId: `${prefix}_nothing` },
        'pending_transfer_not_found',
      );
      await expectRefused(
        { id: `${prefix}_post_posted`, kind: 'post_pending', pendingId: `${prefix}_load_10000` },
        'pending_transfer_not_pending',
      );
      expect(await available(book.wallet.id)).toBe(9_000);
    });

    it('expires holds past their timeout with the ledger’s own job, and refuses to post them after', async () => {
      const book = await openBook();
      await load(book, 10_000);
      const short = await ledger.transfer({
        id: `${prefix}_short`,
        kind: 'pending',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount: 3_000,
        currency: 'HKD',
        timeoutSeconds: 60,
      });
      const long = await ledger.transfer({
        id: `${prefix}_long`,
        kind: 'pending',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount: 2_000,
        currency: 'HKD',
        timeoutSeconds: 3_600,
      });
      expect(await ledger.expire()).toEqual([]);
      clock.advance(60_000);
      // Due but not yet swept: refused all the same.
      await expectRefused(
        { id: `${prefix}_late_post`, kind: 'post_pending', pendingId: short.id },
        'pending_transfer_expired',
      );
      const expired = await ledger.expire();
      expect(expired.map((transfer) => transfer.id)).toEqual([short.id]);
      expect(expired[0]).toMatchObject({ state: 'expired', resolvedAt: clock.now(), resolvedBy: null });
      expect(await available(book.wallet.id)).toBe(8_000);
      expect(await ledger.expire()).toEqual([]);
      await expectRefused(
        { id: `${prefix}_late_post2`, kind: 'post_pending', pendingId: short.id },
        'pending_transfer_expired',
      );
      expect(await ledger.getTransfer(long.id)).toMatchObject({ state: 'pending' });
      clock.advance(3_600_000);
      expect((await ledger.expire()).map((transfer) => transfer.id)).toEqual([long.id]);
      expect(await available(book.wallet.id)).toBe(10_000);
      expect((await verifyLedger(db)).ok).toBe(true);
    });

    it('expires in bounded runs', async () => {
      const book = await openBook();
      await load(book, 10_000);
      await ledger.submit(
        Array.from({ length: 5 }, (_, index) => ({
          id: `${prefix}_h${index}`,
          kind: 'pending' as const,
          debitAccountId: book.wallet.id,
          creditAccountId: book.settlement.id,
          amount: 100,
          currency: 'HKD',
          timeoutSeconds: 1,
        })),
      );
      clock.advance(1_000);
      expect(await ledger.expire(2)).toHaveLength(2);
      expect(await ledger.expire(2)).toHaveLength(2);
      expect(await ledger.expire(2)).toHaveLength(1);
      expect(await available(book.wallet.id)).toBe(10_000);
    });
  });

  describe('batches and linked chains', () => {
    it('applies each plain item on its own: one refusal does not stop the others', async () => {
      const book = await openBook();
      await load(book, 1_000);
      const spend = (id: string, amount: number): TransferCommand => ({
        id: `${prefix}_${id}`,
        kind: 'posted',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount,
        currency: 'HKD',
      });
      const results = await ledger.submit([spend('a', 600), spend('b', 600), spend('c', 400)]);
      expect(results.map((result) => single(result).status)).toEqual(['created', 'failed', 'created']);
      expect(single(results[1])).toMatchObject({ error: 'exceeds_credits' });
      expect(await available(book.wallet.id)).toBe(0);
    });

    it('applies a linked chain whole: void + post + re-pend (a partial clearing)', async () => {
      const book = await openBook();
      await load(book, 10_000);
      const hold = await ledger.transfer({
        id: `${prefix}_hold`,
        kind: 'pending',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount: 5_000,
        currency: 'HKD',
        timeoutSeconds: 600,
      });
      const [chain] = await ledger.submit([
        [
          { id: `${prefix}_void`, kind: 'void_pending', pendingId: hold.id },
          {
            id: `${prefix}_clear`,
            kind: 'posted',
            debitAccountId: book.wallet.id,
            creditAccountId: book.settlement.id,
            amount: 2_000,
            currency: 'HKD',
          },
          {
            id: `${prefix}_rest`,
            kind: 'pending',
            debitAccountId: book.wallet.id,
            creditAccountId: book.settlement.id,
            amount: 3_000,
            currency: 'HKD',
            timeoutSeconds: 600,
          },
        ],
      ]);
      expect((chain as TransferResult[]).map((result) => result.status)).toEqual([
        'created',
        'created',
        'created',
      ]);
      expect(await balances(book.wallet.id)).toMatchObject({ debitsPending: 3_000, debitsPosted: 2_000 });
      expect((await verifyLedger(db)).ok).toBe(true);
    });

    it('rolls a linked chain back whole when one member fails', async () => {
      const book = await openBook();
      await load(book, 1_000);
      const hold = await ledger.transfer({
        id: `${prefix}_hold`,
        kind: 'pending',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount: 500,
        currency: 'HKD',
      });
      const before = await balances(book.wallet.id);
      const [chain] = await ledger.submit([
        [
          { id: `${prefix}_void`, kind: 'void_pending', pendingId: hold.id },
          {
            id: `${prefix}_clear`,
            kind: 'posted',
            debitAccountId: book.wallet.id,
            creditAccountId: book.settlement.id,
            amount: 400,
            currency: 'HKD',
          },
          {
            id: `${prefix}_rest`,
            kind: 'pending',
            debitAccountId: book.wallet.id,
            creditAccountId: book.settlement.id,
            amount: 700,
            currency: 'HKD',
          },
        ],
      ]);
      expect(
        (chain as TransferResult[]).map((result) => (result.status === 'failed' ? result.error : 'ok')),
      ).toEqual(['linked_event_failed', 'linked_event_failed', 'exceeds_credits']);
      expect(await balances(book.wallet.id)).toEqual(before);
      expect(await ledger.getTransfer(hold.id)).toMatchObject({ state: 'pending' });
      expect(await ledger.getTransfer(`${prefix}_void`)).toBeUndefined();
      expect((await verifyLedger(db)).ok).toBe(true);
    });

    it('lets a later item post a hold created earlier in the same batch', async () => {
      const book = await openBook();
      await load(book, 1_000);
      const results = await ledger.submit([
        {
          id: `${prefix}_hold`,
          kind: 'pending',
          debitAccountId: book.wallet.id,
          creditAccountId: book.settlement.id,
          amount: 800,
          currency: 'HKD',
        },
        { id: `${prefix}_post`, kind: 'post_pending', pendingId: `${prefix}_hold`, amount: 300 },
      ]);
      expect(single(results[0])).toMatchObject({ status: 'created', transfer: { state: 'posted' } });
      expect(await balances(book.wallet.id)).toMatchObject({ debitsPending: 0, debitsPosted: 300 });
      expect((await verifyLedger(db)).ok).toBe(true);
    });
  });

  describe('concurrency', () => {
    it('never overspends a wallet under many concurrent holds', async () => {
      const book = await openBook();
      await load(book, 10_000);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, index) =>
          ledger.submit([
            {
              id: `${prefix}_c${index}`,
              kind: 'pending',
              debitAccountId: book.wallet.id,
              creditAccountId: book.settlement.id,
              amount: 300,
              currency: 'HKD',
            },
          ]),
        ),
      );
      const created = results.filter(([result]) => single(result).status === 'created').length;
      expect(created).toBe(33);
      expect(await available(book.wallet.id)).toBe(100);
      expect((await verifyLedger(db)).ok).toBe(true);
    });

    it('applies a transfer sent twice at once exactly once', async () => {
      const book = await openBook();
      const command: TransferCommand = {
        id: `${prefix}_twin`,
        kind: 'posted',
        debitAccountId: book.funding.id,
        creditAccountId: book.wallet.id,
        amount: 250,
        currency: 'HKD',
      };
      const results = await Promise.all(Array.from({ length: 8 }, () => ledger.submit([command])));
      const statuses = results.map(([result]) => single(result).status).sort();
      expect(statuses.filter((status) => status === 'created')).toHaveLength(1);
      expect(statuses.filter((status) => status === 'exists')).toHaveLength(7);
      expect(await balances(book.wallet.id)).toMatchObject({ creditsPosted: 250 });
    });
    it('answers a post or void sent twice at once with one created and the rest exists', async () => {
      const book = await openBook();
      await load(book, 10_000);
      for (const kind of ['post_pending', 'void_pending'] as const) {
        const hold = await ledger.transfer({
          id: `${prefix}_${kind}_hold`,
          kind: 'pending',
          debitAccountId: book.wallet.id,
          creditAccountId: book.settlement.id,
          amount: 1_000,
          currency: 'HKD',
        });
        const command: TransferCommand = { id: `${prefix}_${kind}_twin`, kind, pendingId: hold.id };
        const results = await Promise.all(Array.from({ length: 6 }, () => ledger.submit([command])));
        const statuses = results.map(([result]) => single(result).status).sort();
        expect(statuses).toEqual(['created', 'exists', 'exists', 'exists', 'exists', 'exists']);
      }
      expect(await balances(book.wallet.id)).toMatchObject({ debitsPending: 0, debitsPosted: 1_000 });
      expect((await verifyLedger(db)).ok).toBe(true);
    });
  });

  describe('queries', () => {
    it('pages an account’s transfers newest first, in both directions', async () => {
      const book = await openBook();
      for (let index = 0; index < 7; index += 1) await load(book, 100 + index, `${prefix}_p${index}`);
      const all = await ledger.listTransfers(book.wallet.id, { limit: 100 });
      expect(all.data.map((transfer) => transfer.id)).toEqual(
        Array.from({ length: 7 }, (_, index) => `${prefix}_p${6 - index}`),
      );
      const first = await ledger.listTransfers(book.wallet.id, { limit: 3 });
      expect(first.hasMore).toBe(true);
      expect(first.data.map((transfer) => transfer.id)).toEqual([
        `${prefix}_p6`,
        `${prefix}_p5`,
        `${prefix}_p4`,
      ]);
      const second = await ledger.listTransfers(book.wallet.id, { limit: 3, startingAfter: `${prefix}_p4` });
      expect(second.data.map((transfer) => transfer.id)).toEqual([
        `${prefix}_p3`,
        `${prefix}_p2`,
        `${prefix}_p1`,
      ]);
      const last = await ledger.listTransfers(book.wallet.id, { limit: 3, startingAfter: `${prefix}_p1` });
      expect(last).toMatchObject({ hasMore: false });
      expect(last.data.map((transfer) => transfer.id)).toEqual([`${prefix}_p0`]);
      const back = await ledger.listTransfers(book.wallet.id, { limit: 3, endingBefore: `${prefix}_p1` });
      expect(back.data.map((transfer) => transfer.id)).toEqual([
        `${prefix}_p4`,
        `${prefix}_p3`,
        `${prefix}_p2`,
      ]);
      expect(back.hasMore).toBe(true);
      await expect(
        ledger.listTransfers(book.wallet.id, { startingAfter: 'no_such_transfer' }),
      ).rejects.toMatchObject({ code: 'cursor_invalid' });
    });

    it('tells an account’s balances at a past time', async () => {
      const book = await openBook();
      const t0 = clock.now();
      clock.advance(1_000);
      await load(book, 5_000);
      const t1 = clock.now();
      clock.advance(1_000);
      const hold = await ledger.transfer({
        id: `${prefix}_hold`,
        kind: 'pending',
        debitAccountId: book.wallet.id,
        creditAccountId: book.settlement.id,
        amount: 2_000,
        currency: 'HKD',
      });
      const t2 = clock.now();
      clock.advance(1_000);
      await ledger.transfer({
        id: `${prefix}_post`,
        kind: 'post_pending',
        pendingId: hold.id,
        amount: 1_500,
      });
      const t3 = clock.now();
      const zero = { debitsPending: 0, debitsPosted: 0, creditsPending: 0, creditsPosted: 0 };
      expect(await ledger.balancesAt(book.wallet.id, t0)).toEqual(zero);
      expect(await ledger.balancesAt(book.wallet.id, t1)).toEqual({ ...zero, creditsPosted: 5_000 });
      expect(await ledger.balancesAt(book.wallet.id, t2)).toEqual({
        ...zero,
        creditsPosted: 5_000,
        debitsPending: 2_000,
      });
      expect(await ledger.balancesAt(book.wallet.id, t3)).toEqual({
        ...zero,
        creditsPosted: 5_000,
        debitsPosted: 1_500,
      });
      expect(await ledger.balancesAt(book.wallet.id, t3)).toEqual(await balances(book.wallet.id));
    });
  });

  it('verifies the whole ledger and names an account whose balances were tampered with', async () => {
    const book = await openBook();
    await load(book, 700);
    expect((await verifyLedger(db)).ok).toBe(true);
    await db.query('UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE id = $1', [
      book.wallet.id,
    ]);
    const report = await verifyLedger(db);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual({
      subject: book.wallet.id,
      problem: 'credits_posted 701, transfers say 700',
    });
    await db.query('UPDATE ledger_accounts SET credits_posted = credits_posted - 1 WHERE id = $1', [
      book.wallet.id,
    ]);
    expect((await verifyLedger(db)).ok).toBe(true);
  });

  it('names a post that took more than its hold, even when the balances were doctored to match', async () => {
    const book = await openBook();
    await load(book, 1_000);
    const hold = await ledger.transfer({
      id: `${prefix}_hold`,
      kind: 'pending',
      debitAccountId: book.wallet.id,
      creditAccountId: book.settlement.id,
      amount: 100,
      currency: 'HKD',
    });
    await ledger.transfer({ id: `${prefix}_post`, kind: 'post_pending', pendingId: hold.id });
    await db.query(`UPDATE ledger_transfers SET amount = 500 WHERE id = $1`, [`${prefix}_post`]);
    await db.query(`UPDATE ledger_accounts SET debits_posted = debits_posted + 400 WHERE id = $1`, [
      book.wallet.id,
    ]);
    await db.query(`UPDATE ledger_accounts SET credits_posted = credits_posted + 400 WHERE id = $1`, [
      book.settlement.id,
    ]);
    const report = await verifyLedger(db);
    expect(report.problems).toContainEqual({ subject: `${prefix}_post`, problem: 'posts 500 of a 100 hold' });
    await expect(
      db.query(
        `INSERT INTO ledger_transfers (id, program_id, kind, debit_account_id, credit_account_id, amount, currency,
           pending_id, created_at) VALUES ($1, 'prog_a', 'post_pending', $2, $3, 1, 'HKD', $4, now())`,
        [`${prefix}_second_post`, book.wallet.id, book.settlement.id, hold.id],
      ),
    ).rejects.toThrow(/unique|duplicate/i);
    await db.query(`UPDATE ledger_transfers SET amount = 100 WHERE id = $1`, [`${prefix}_post`]);
    await db.query(`UPDATE ledger_accounts SET debits_posted = debits_posted - 400 WHERE id = $1`, [
      book.wallet.id,
    ]);
    await db.query(`UPDATE ledger_accounts SET credits_posted = credits_posted - 400 WHERE id = $1`, [
      book.settlement.id,
    ]);
    expect((await verifyLedger(db)).ok).toBe(true);
  });

  it('is refused by the database itself if a wallet’s limit would be broken', async () => {
    const book = await openBook();
    await load(book, 100);
    await expect(
      db.query('UPDATE ledger_accounts SET debits_posted = 101 WHERE id = $1', [book.wallet.id]),
    ).rejects.toThrow(/check constraint/);
  });
});
