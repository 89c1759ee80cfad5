import type { Queryable } from '../platform/db/database.js';

export interface CurrencyTotals {
  readonly currency: string;
  readonly accounts: number;
  /** Sums across accounts, as decimal strings: a sum of many safe integers need not be one. */
  readonly debitsPending: string;
  readonly creditsPending: string;
  readonly debitsPosted: string;
  readonly creditsPosted: string;
  /** Debits equal credits, pending and posted alike. */
  readonly balanced: boolean;
}

export interface LedgerProblem {
  /** The account or transfer at fault. */
  readonly subject: string;
  readonly problem: string;
}

export interface LedgerReport {
  readonly ok: boolean;
  readonly accounts: number;
  readonly transfers: number;
  readonly currencies: readonly CurrencyTotals[];
  /** At most `MISMATCHES_REPORTED_MAX` problems, first by account id. */
  readonly problems: readonly LedgerProblem[];
}

const MISMATCHES_REPORTED_MAX = 100;

/**
 * Checks the ledger from first principles: every account's stored balances equal the sums of its transfers, debits
 * equal credits per currency, no account breaches its limit flag, every resolved hold names the one transfer that
 * resolved it and that transfer matches it (accounts, currency, no more than was held), and every transfer's
 * currency and programme are its accounts'. A read-only audit an operator can run at any time (`lantau ledger verify`); the property tests run
 * it after every step.
 */
export async function verifyLedger(db: Queryable): Promise<LedgerReport> {
  const totals = await db.query<{
    currency: string;
    accounts: number;
    debits_pending: string;
    credits_pending: string;
    debits_posted: string;
    credits_posted: string;
  }>(
    `SELECT currency, count(*)::bigint AS accounts,
       coalesce(sum(debits_pending), 0)::text AS debits_pending, coalesce(sum(credits_pending), 0)::text AS credits_pending,
       coalesce(sum(debits_posted), 0)::text AS debits_posted, coalesce(sum(credits_posted), 0)::text AS credits_posted
     FROM ledger_accounts GROUP BY currency ORDER BY currency`,
  );
  const currencies = totals.rows.map((row): CurrencyTotals => ({
    currency: row.currency,
    accounts: row.accounts,
    debitsPending: row.debits_pending,
    creditsPending: row.credits_pending,
    debitsPosted: row.debits_posted,
    creditsPosted: row.credits_posted,
    balanced:
      BigInt(row.debits_pending) === BigInt(row.credits_pending) &&
      BigInt(row.debits_posted) === BigInt(row.credits_posted),
  }));

  const mismatches = await db.query<{ id: string; problem: string }>(
    `WITH legs AS (
       SELECT debit_account_id AS account_id,
              CASE WHEN state = 'pending' THEN amount ELSE 0 END AS debits_pending,
              CASE WHEN kind IN ('posted', 'post_pending') THEN amount ELSE 0 END AS debits_posted,
              0::bigint AS credits_pending, 0::bigint AS credits_posted
       FROM ledger_transfers
       UNION ALL
       SELECT credit_account_id, 0, 0,
              CASE WHEN state = 'pending' THEN amount ELSE 0 END,
              CASE WHEN kind IN ('posted', 'post_pending') THEN amount ELSE 0 END
       FROM ledger_transfers
     ), sums AS (
       SELECT account_id, sum(debits_pending) AS dp, sum(debits_posted) AS dpo,
              sum(credits_pending) AS cp, sum(credits_posted) AS cpo
       FROM legs GROUP BY account_id
     )
     SELECT a.id, concat_ws('; ',
         CASE WHEN a.debits_pending <> coalesce(s.dp, 0) THEN format('debits_pending %s, transfers say %s', a.debits_pending, coalesce(s.dp, 0)) END,
         CASE WHEN a.debits_posted <> coalesce(s.dpo, 0) THEN format('debits_posted %s, transfers say %s', a.debits_posted, coalesce(s.dpo, 0)) END,
         CASE WHEN a.credits_pending <> coalesce(s.cp, 0) THEN format('credits_pending %s, transfers say %s', a.credits_pending, coalesce(s.cp, 0)) END,
         CASE WHEN a.credits_posted <> coalesce(s.cpo, 0) THEN format('credits_posted %s, transfers say %s', a.credits_posted, coalesce(s.cpo, 0)) END,
         CASE WHEN a.debits_must_not_exceed_credits AND a.debits_pending + a.debits_posted > a.credits_posted
              THEN 'debits exceed credits' END,
         CASE WHEN a.credits_must_not_exceed_debits AND a.credits_pending + a.credits_posted > a.debits_posted
              THEN 'credits exceed debits' END) AS problem
     FROM ledger_accounts a LEFT JOIN sums s ON s.account_id = a.id
     WHERE a.debits_pending <> coalesce(s.dp, 0) OR a.debits_posted <> coalesce(s.dpo, 0)
        OR a.credits_pending <> coalesce(s.cp, 0) OR a.credits_posted <> coalesce(s.cpo, 0)
        OR (a.debits_must_not_exceed_credits AND a.debits_pending + a.debits_posted > a.credits_posted)
        OR (a.credits_must_not_exceed_debits AND a.credits_pending + a.credits_posted > a.debits_posted)
     ORDER BY a.id
     LIMIT ${MISMATCHES_REPORTED_MAX}`,
  );

  const resolutions = await db.query<{ id: string; problem: string }>(
    `SELECT p.id, CASE
         WHEN p.state IN ('posted', 'voided') AND r.id IS NULL THEN format('hold %s names no resolving transfer', p.state)
         WHEN p.state IN ('posted', 'voided') AND r.kind <> CASE p.state WHEN 'posted' THEN 'post_pending' ELSE 'void_pending' END
           THEN format('hold %s but resolved by a %s', p.state, r.kind)
         ELSE format('hold is %s but transfer %s resolves it', p.state, o.id) END AS problem
     FROM ledger_transfers p
     LEFT JOIN ledger_transfers r ON r.id = p.resolved_by AND r.pending_id = p.id
     LEFT JOIN ledger_transfers o ON o.pending_id = p.id
     WHERE p.kind = 'pending' AND (
       (p.state IN ('posted', 'voided') AND (r.id IS NULL
         OR r.kind <> CASE p.state WHEN 'posted' THEN 'post_pending' ELSE 'void_pending' END))
       OR (p.state IN ('pending', 'expired') AND o.id IS NOT NULL))
     ORDER BY p.id
     LIMIT ${MISMATCHES_REPORTED_MAX}`,
  );

  const resolvers = await db.query<{ id: string; problem: string }>(
    `SELECT r.id, concat_ws('; ',
         CASE WHEN r.kind = 'post_pending' AND r.amount > p.amount THEN format('posts %s of a %s hold', r.amount, p.amount) END,
         CASE WHEN r.kind = 'void_pending' AND r.amount <> p.amount THEN format('voids %s of a %s hold', r.amount, p.amount) END,
         CASE WHEN r.debit_account_id <> p.debit_account_id OR r.credit_account_id <> p.credit_account_id
              OR r.currency <> p.currency THEN 'accounts or currency differ from its hold' END,
         CASE WHEN p.kind <> 'pending' THEN 'resolves a transfer that is not a hold' END,
         CASE WHEN p.resolved_by IS DISTINCT FROM r.id THEN format('its hold names %s as its resolver', coalesce(p.resolved_by, 'nothing')) END
       ) AS problem
     FROM ledger_transfers r JOIN ledger_transfers p ON p.id = r.pending_id
     WHERE (r.kind = 'post_pending' AND r.amount > p.amount) OR (r.kind = 'void_pending' AND r.amount <> p.amount)
        OR r.debit_account_id <> p.debit_account_id OR r.credit_account_id <> p.credit_account_id
        OR r.currency <> p.currency OR p.kind <> 'pending' OR p.resolved_by IS DISTINCT FROM r.id
     UNION ALL
     SELECT t.id, 'currency or programme differs from its accounts'
     FROM ledger_transfers t
     JOIN ledger_accounts d ON d.id = t.debit_account_id
     JOIN ledger_accounts c ON c.id = t.credit_account_id
     WHERE t.currency <> d.currency OR t.currency <> c.currency OR t.program_id <> d.program_id
        OR t.program_id <> c.program_id
     UNION ALL
     -- No foreign keys on this table (migration 0013: the writer checks under its locks); this checks it did.
     SELECT t.id, 'names an account that does not exist' FROM ledger_transfers t
     WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = t.debit_account_id)
        OR NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = t.credit_account_id)
     UNION ALL
     SELECT t.id, 'resolves a hold that does not exist' FROM ledger_transfers t
     WHERE t.pending_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_transfers p WHERE p.id = t.pending_id)
     UNION ALL
     SELECT id, 'expired hold names a resolving transfer' FROM ledger_transfers
     WHERE state = 'expired' AND resolved_by IS NOT NULL
     ORDER BY 1
     LIMIT ${MISMATCHES_REPORTED_MAX}`,
  );

  const counts = await db.query<{ accounts: number; transfers: number }>(
    `SELECT (SELECT count(*) FROM ledger_accounts)::bigint AS accounts,
            (SELECT count(*) FROM ledger_transfers)::bigint AS transfers`,
  );
  const problems: LedgerProblem[] = [
    ...mismatches.rows.map((row) => ({ subject: row.id, problem: row.problem })),
    ...resolutions.rows.map((row) => ({ subject: row.id, problem: row.problem })),
    ...resolvers.rows.map((row) => ({ subject: row.id, problem: row.problem })),
    ...currencies
      .filter((totals) => !totals.balanced)
      .map((totals) => ({
        subject: `(all ${totals.currency} accounts)`,
        problem: 'debits do not equal credits',
      })),
  ];
  return {
    ok: problems.length === 0,
    accounts: counts.rows[0]?.accounts ?? 0,
    transfers: counts.rows[0]?.transfers ?? 0,
    currencies,
    problems,
  };
}
