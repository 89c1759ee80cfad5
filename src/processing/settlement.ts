import { stringify } from 'csv-stringify/sync';
import type { Clock } from '../platform/clock.js';
import {
  json,
  rerunOnUniqueViolation,
  sqlState,
  type Database,
  type Queryable,
  type Transaction,
} from '../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../platform/errors.js';
import type { IdGenerator } from '../platform/ids.js';
import { isCurrencyCode } from '../platform/money.js';
import { flattenResults, submitTransfers } from '../ledger/index.js';
import { findProgram, programAccountId, type Actor } from '../issuing/programs.js';
import { appendAudit } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import {
  TRANSACTION_COLUMNS,
  transactionFromRow,
  type CardTransaction,
  type TransactionRow,
  type TransactionType,
} from './transactions.js';

/**
 * The daily settlement (DESIGN.md, "The card lifecycle on the ledger"): per programme and card currency, what the
 * network presented during one local day of the programme (captures, refunds, force posts), reconciled to the
 * cent against the ledger's own movements on the card-settlement account, and the net moved from that account to
 * the programme's bank account (what the programme pays the network).
 *
 * Settlements form an unbroken chain per programme and currency: each day's window starts where the previous
 * one ended, so no moment is settled twice or never, even across a change of the programme's time zone, and days
 * settle in order, empty days included (a settlement of zeros), so the report series has no gaps.
 */

/** Settlement needs no keys and no FX: the database, the time and ids. */
export interface SettlementContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
}

export interface SettlementInput {
  readonly programId: string;
  readonly currency: string;
  /** The programme's local day, YYYY-MM-DD. */
  readonly date: string;
}

/** What the ledger says moved on the card-settlement account for one kind of clearing. */
export interface LedgerFigures {
  /** Distinct transactions (transfer references): a capture with a shortfall is two transfers, one transaction. */
  readonly count: number;
  readonly amount: number;
  /** The part the programme's cardholder-receivable account carried because the wallet could not. */
  readonly shortfall_amount: number;
}

export interface Reconciliation {
  readonly source: 'ledger';
  readonly account_id: string;
  readonly capture: LedgerFigures;
  readonly refund: LedgerFigures;
  readonly force_post: LedgerFigures;
  readonly net_amount: number;
  readonly matched: true;
}

export interface Settlement {
  readonly id: string;
  readonly object: 'settlement';
  readonly program_id: string;
  readonly currency: string;
  readonly settlement_date: string;
  readonly time_zone: string;
  readonly window_start: string;
  readonly window_end: string;
  readonly transaction_count: number;
  readonly capture_count: number;
  readonly capture_amount: number;
  readonly refund_count: number;
  readonly refund_amount: number;
  readonly force_post_count: number;
  readonly force_post_amount: number;
  readonly shortfall_amount: number;
  /** Captures + force posts − refunds: what the programme owes the network (negative: what it is owed). */
  readonly net_amount: number;
  /** The ledger transfer that moved the net between card settlement and the programme's bank; null when zero. */
  readonly transfer_id: string | null;
  readonly reconciliation: Reconciliation;
  readonly created: string;
}

export interface SettlementReport {
  readonly object: 'settlement_report';
  readonly settlement: Settlement;
  readonly transactions: CardTransaction[];
}

interface SettlementRow {
  id: string;
  program_id: string;
  currency: string;
  settlement_date: string;
  time_zone: string;
  window_start: Date;
  window_end: Date;
  capture_count: number;
  capture_amount: number;
  refund_count: number;
  refund_amount: number;
  force_post_count: number;
  force_post_amount: number;
  shortfall_amount: number;
  net_amount: number;
  transfer_id: string | null;
  reconciliation: Reconciliation;
  created_at: Date;
}

// The date as text in one fixed format, whatever the server's DateStyle, and never as a Date at some midnight.
export const SETTLEMENT_COLUMNS = `id, program_id, currency, to_char(settlement_date, 'YYYY-MM-DD') AS settlement_date,
  time_zone, window_start, window_end, capture_count, capture_amount, refund_count, refund_amount, force_post_count,
  force_post_amount, shortfall_amount, net_amount, transfer_id, reconciliation, created_at`;

export function settlementFromRow(row: SettlementRow): Settlement {
  return {
    id: row.id,
    object: 'settlement',
    program_id: row.program_id,
    currency: row.currency,
    settlement_date: row.settlement_date,
    time_zone: row.time_zone,
    window_start: row.window_start.toISOString(),
    window_end: row.window_end.toISOString(),
    transaction_count: row.capture_count + row.refund_count + row.force_post_count,
    capture_count: row.capture_count,
    capture_amount: row.capture_amount,
    refund_count: row.refund_count,
    refund_amount: row.refund_amount,
    force_post_count: row.force_post_count,
    force_post_amount: row.force_post_amount,
    shortfall_amount: row.shortfall_amount,
    net_amount: row.net_amount,
    transfer_id: row.transfer_id,
    reconciliation: row.reconciliation,
    created: row.created_at.toISOString(),
  };
}

/** The transfer codes clearing posts (src/processing/clearing.ts), by the transaction type each belongs to. */
const CLEARING_CODES: Readonly<Record<TransactionType, string>> = {
  capture: 'clearing_capture',
  refund: 'clearing_refund',
  force_post: 'clearing_force_post',
};

const SYSTEM: Actor = { actor: { type: 'system', id: 'settlement' } };
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
/** PostgreSQL's "invalid_parameter_value", which an unknown time zone name raises. */
const INVALID_PARAMETER_VALUE = '22023';
/** Days one programme and currency catch up on in one `settleDue` call, and settlements in all. */
export const SETTLE_DUE_DAYS_MAX = 31;
export const SETTLE_DUE_SETTLEMENTS_MAX = 500;
/** The most lines one report holds in memory; a larger day is read page by page from /v1/transactions. */
export const REPORT_LINES_MAX = 200_000;

/** A real calendar day from 2000 to 9999, or a 400 naming `param`. */
export function checkSettlementDate(value: string, param = 'date'): string {
  const match = DATE_PATTERN.exec(value);
  const [year, month, day] = (match?.slice(1) ?? []).map(Number);
  if (year !== undefined && month !== undefined && day !== undefined && year >= 2000) {
    const parsed = new Date(Date.UTC(year, month - 1, day));
    if (parsed.toISOString().slice(0, 10) === value) return value;
  }
  throw invalidRequest('date_invalid', `${param} must be a calendar date YYYY-MM-DD from 2000`, param);
}

function nextDate(date: string): string {
  const parsed = new Date(`${date}T00:00:00.000Z`);
  parsed.setUTCDate(parsed.getUTCDate() + 1);
  return parsed.toISOString().slice(0, 10);
}

async function findSettlementFor(db: Queryable, input: SettlementInput): Promise<Settlement | undefined> {
  const found = await db.query<SettlementRow>(
    `SELECT ${SETTLEMENT_COLUMNS} FROM settlements
     WHERE program_id = $1 AND currency = $2 AND settlement_date = $3::date`,
    [input.programId, input.currency, input.date],
  );
  const row = found.rows[0];
  return row === undefined ? undefined : settlementFromRow(row);
}

interface DayBounds {
  readonly dayStart: Date;
  readonly dayEnd: Date;
  /** The local day the programme first held this currency: its card-settlement account's creation. */
  readonly firstDate: string;
}

/**
 * The local day's bounds in UTC, computed by the database's time zone rules (PostgreSQL and PGlite both carry
 * the IANA database), so a day is 23 or 25 hours across a daylight-saving change and consecutive days meet.
 */
async function dayBounds(
  tx: Transaction,
  timeZone: string,
  date: string,
  accountId: string,
): Promise<DayBounds> {
  const found = await tx
    .query<{ day_start: Date; day_end: Date; first_date: string }>(
      `SELECT ($1::date)::timestamp AT TIME ZONE $2 AS day_start,
         (($1::date) + 1)::timestamp AT TIME ZONE $2 AS day_end,
         to_char((created_at AT TIME ZONE $2)::date, 'YYYY-MM-DD') AS first_date
       FROM ledger_accounts WHERE id = $3`,
      [date, timeZone, accountId],
    )
    .catch((error: unknown) => {
      if (sqlState(error) === INVALID_PARAMETER_VALUE) {
        throw new LantauError(
          'time_zone_unknown',
          `The database does not know the programme's time zone ${timeZone}: set another with PATCH /v1/programs/{id}`,
          { status: 409, cause: error },
        );
      }
      throw error;
    });
  const row = found.rows[0];
  if (row === undefined) throw new Error(`ledger account ${accountId} is missing`);
  return { dayStart: row.day_start, dayEnd: row.day_end, firstDate: row.first_date };
}

interface Figures {
  count: number;
  amount: number;
  shortfall_amount: number;
}

const zero = (): Figures => ({ count: 0, amount: 0, shortfall_amount: 0 });

type FiguresByType = Record<TransactionType, Figures>;

/** Marks the window's unsettled transactions as settled (locking them) and totals them by type. */
async function settleTransactions(
  tx: Transaction,
  settlementId: string,
  input: SettlementInput,
  window: { readonly start: Date; readonly end: Date },
): Promise<FiguresByType> {
  const totals = await tx.query<{ type: TransactionType } & Figures>(
    `WITH settled AS (
       UPDATE transactions SET settlement_id = $1
       WHERE program_id = $2 AND currency = $3 AND created_at >= $4 AND created_at < $5 AND settlement_id IS NULL
       RETURNING type, amount, shortfall_amount)
     SELECT type, count(*)::bigint AS count, COALESCE(sum(amount), 0)::bigint AS amount,
       COALESCE(sum(shortfall_amount), 0)::bigint AS shortfall_amount
     FROM settled GROUP BY type`,
    [settlementId, input.programId, input.currency, window.start, window.end],
  );
  const byType: FiguresByType = { capture: zero(), refund: zero(), force_post: zero() };
  for (const row of totals.rows) {
    byType[row.type] = { count: row.count, amount: row.amount, shortfall_amount: row.shortfall_amount };
  }
  return byType;
}

/**
 * The same totals from the ledger alone: posted clearing transfers on the card-settlement account within the
 * window. Independent of the transactions table, so a transaction row that disagrees with what was posted, or a
 * posting with no row, is found here and not in the programme's bank statement.
 */
async function ledgerTotals(
  tx: Transaction,
  input: SettlementInput,
  window: { readonly start: Date; readonly end: Date },
): Promise<FiguresByType> {
  const settlementAccount = programAccountId(input.programId, 'card_settlement', input.currency);
  const receivable = programAccountId(input.programId, 'cardholder_receivable', input.currency);
  const found = await tx.query<{
    code: string;
    count: number;
    credited: number;
    debited: number;
    shortfall: number;
  }>(
    `SELECT code, count(DISTINCT reference)::bigint AS count,
       COALESCE(sum(amount) FILTER (WHERE credit_account_id = $1), 0)::bigint AS credited,
       COALESCE(sum(amount) FILTER (WHERE debit_account_id = $1), 0)::bigint AS debited,
       COALESCE(sum(amount) FILTER (WHERE debit_account_id = $2), 0)::bigint AS shortfall
     FROM ledger_transfers
     WHERE (credit_account_id = $1 OR debit_account_id = $1) AND kind IN ('posted', 'post_pending')
       AND code = ANY($3::text[]) AND created_at >= $4 AND created_at < $5
     GROUP BY code`,
    [settlementAccount, receivable, Object.values(CLEARING_CODES), window.start, window.end],
  );
  const byType: FiguresByType = { capture: zero(), refund: zero(), force_post: zero() };
  for (const type of Object.keys(CLEARING_CODES) as TransactionType[]) {
    const row = found.rows.find((candidate) => candidate.code === CLEARING_CODES[type]);
    if (row === undefined) continue;
    // Money into card settlement is what captures and force posts bring; a refund takes money out of it.
    const amount = type === 'refund' ? row.debited - row.credited : row.credited - row.debited;
    byType[type] = { count: row.count, amount, shortfall_amount: row.shortfall };
  }
  return byType;
}

const sameFigures = (a: Figures, b: Figures): boolean =>
  a.count === b.count && a.amount === b.amount && a.shortfall_amount === b.shortfall_amount;

/** The first transactions whose ledger postings disagree with their rows, to name in the error. */
async function differingTransactions(
  tx: Transaction,
  settlementId: string,
  input: SettlementInput,
  window: { readonly start: Date; readonly end: Date },
): Promise<string[]> {
  const found = await tx.query<{ id: string; recorded: number | null; ledger: number | null }>(
    `WITH ledger AS (
       SELECT reference COLLATE "C" AS id,
         sum(CASE WHEN credit_account_id = $2 THEN amount ELSE -amount END)::bigint AS amount
       FROM ledger_transfers
       WHERE (credit_account_id = $2 OR debit_account_id = $2) AND kind IN ('posted', 'post_pending')
         AND code = ANY($3::text[]) AND created_at >= $4 AND created_at < $5
       GROUP BY reference),
     recorded AS (
       SELECT id, CASE WHEN type = 'refund' THEN -amount ELSE amount END AS amount
       FROM transactions WHERE settlement_id = $1)
     SELECT COALESCE(r.id, l.id) AS id, r.amount AS recorded, l.amount AS ledger
     FROM recorded r FULL JOIN ledger l ON l.id = r.id
     WHERE r.amount IS DISTINCT FROM l.amount
     ORDER BY 1 LIMIT 10`,
    [
      settlementId,
      programAccountId(input.programId, 'card_settlement', input.currency),
      Object.values(CLEARING_CODES),
      window.start,
      window.end,
    ],
  );
  return found.rows.map(
    (row) =>
      `${row.id} (transactions ${String(row.recorded ?? 'none')}, ledger ${String(row.ledger ?? 'none')})`,
  );
}

const describeFigures = (figures: FiguresByType): string =>
  (Object.keys(figures) as TransactionType[])
    .map((type) => `${type} ${figures[type].count}/${figures[type].amount}/${figures[type].shortfall_amount}`)
    .join(', ');

/**
 * Where the day's window starts and ends, or a 4xx saying why this day cannot be settled now: it has not ended,
 * it lies before the programme held the currency, or an earlier day is still unsettled.
 */
async function settlementWindow(
  tx: Transaction,
  context: SettlementContext,
  input: SettlementInput,
  timeZone: string,
): Promise<{ readonly start: Date; readonly end: Date }> {
  const accountId = programAccountId(input.programId, 'card_settlement', input.currency);
  const bounds = await dayBounds(tx, timeZone, input.date, accountId);
  if (input.date < bounds.firstDate) {
    throw invalidRequest(
      'settlement_date_before_program',
      `The programme has held ${input.currency} since ${bounds.firstDate} (${timeZone}): there is nothing to settle on ${input.date}`,
      'date',
    );
  }
  // Read under the card-settlement account's lock: every clearing takes that lock before it reads the clock, so
  // any clearing of this window has committed by now, and any later one is stamped after the window's end.
  const now = context.clock.now();
  if (bounds.dayEnd.getTime() > now.getTime()) {
    throw invalidRequest(
      'settlement_day_not_ended',
      `${input.date} in ${timeZone} ends at ${bounds.dayEnd.toISOString()}: a day is settled once it has ended`,
      'date',
    );
  }
  const previous = await tx.query<{ settlement_date: string; window_end: Date }>(
    `SELECT to_char(settlement_date, 'YYYY-MM-DD') AS settlement_date, window_end FROM settlements
     WHERE program_id = $1 AND currency = $2 ORDER BY settlement_date DESC LIMIT 1`,
    [input.programId, input.currency],
  );
  const last = previous.rows[0];
  const due = last === undefined ? bounds.firstDate : nextDate(last.settlement_date);
  if (input.date !== due) {
    throw new LantauError(
      'settlement_out_of_order',
      `Days settle in order, with no gaps: the next ${input.currency} day to settle is ${due}`,
      { status: 409, param: 'date' },
    );
  }
  const start = last?.window_end ?? bounds.dayStart;
  // A move a day or more eastwards (UTC-11 to UTC+14) can end this day before the last settled one did. It then
  // gets a window of one millisecond, so it still settles and the next day starts where it ended.
  const end = bounds.dayEnd.getTime() > start.getTime() ? bounds.dayEnd : new Date(start.getTime() + 1);
  return { start, end };
}

/**
 * Settles one programme's day in one currency, in the caller's transaction: the day's transactions are marked
 * settled, their totals checked against the ledger (a difference is a bug: nothing is written and the error names
 * the transactions), the net posted from card settlement to the programme's bank (or back, when refunds exceed
 * spending), and the settlement recorded with its event and audit entry. A day already settled is returned as it
 * was, unchanged.
 */
export async function settleDayIn(
  tx: Transaction,
  context: SettlementContext,
  input: SettlementInput,
  by: Actor = SYSTEM,
): Promise<Settlement> {
  checkSettlementDate(input.date);
  if (!isCurrencyCode(input.currency)) {
    throw invalidRequest(
      'currency_invalid',
      `${input.currency} is not an ISO 4217 currency code`,
      'currency',
    );
  }
  const program = await findProgram(tx, input.programId);
  if (program === undefined) throw notFound('program', input.programId, 'program_id');
  if (!program.currencies.includes(input.currency)) {
    throw invalidRequest('currency_unsupported', `The programme does not hold ${input.currency}`, 'currency');
  }
  const existing = await findSettlementFor(tx, input);
  if (existing !== undefined) return existing;

  const settlementAccount = programAccountId(input.programId, 'card_settlement', input.currency);
  // Settlement posts to this account anyway; taking its lock first orders this run after every clearing in
  // flight and after a concurrent run of the same day, whose row the next statement then sees.
  await tx.query('SELECT id FROM ledger_accounts WHERE id = $1 FOR UPDATE', [settlementAccount]);
  const concurrent = await findSettlementFor(tx, input);
  if (concurrent !== undefined) return concurrent;

  const window = await settlementWindow(tx, context, input, program.time_zone);
  const id = context.ids('stl');
  const rows = await settleTransactions(tx, id, input, window);
  const ledger = await ledgerTotals(tx, input, window);
  if (!(Object.keys(rows) as TransactionType[]).every((type) => sameFigures(rows[type], ledger[type]))) {
    const differing = await differingTransactions(tx, id, input, window);
    throw new LantauError(
      'settlement_unreconciled',
      `${input.programId} ${input.currency} ${input.date} does not reconcile with the ledger (count/amount/shortfall): transactions ${describeFigures(rows)}; ledger ${describeFigures(ledger)}; first differing: ${differing.join(', ') || 'none by transaction'}. Nothing was settled.`,
      { type: 'api_error', status: 500 },
    );
  }

  const net = rows.capture.amount + rows.force_post.amount - rows.refund.amount;
  let transferId: string | null = null;
  if (net !== 0) {
    transferId = context.ids('xfer');
    const bank = programAccountId(input.programId, 'program_bank', input.currency);
    const [result] = flattenResults(
      await submitTransfers(tx, context.clock, [
        {
          id: transferId,
          kind: 'posted',
          debitAccountId: net > 0 ? settlementAccount : bank,
          creditAccountId: net > 0 ? bank : settlementAccount,
          amount: Math.abs(net),
          currency: input.currency,
          code: 'settlement',
          reference: id,
        },
      ]),
    );
    // Neither account has a balance limit: only a balance beyond a safe integer could refuse it.
    if (result?.status !== 'created') {
      throw new Error(
        `the ledger refused a settlement transfer: ${result?.status === 'failed' ? result.error : 'no result'}`,
      );
    }
  }

  const reconciliation: Reconciliation = {
    source: 'ledger',
    account_id: settlementAccount,
    capture: ledger.capture,
    refund: ledger.refund,
    force_post: ledger.force_post,
    net_amount: ledger.capture.amount + ledger.force_post.amount - ledger.refund.amount,
    matched: true,
  };
  const inserted = await tx
    .query<SettlementRow>(
      `INSERT INTO settlements (id, program_id, currency, settlement_date, time_zone, window_start, window_end,
         capture_count, capture_amount, refund_count, refund_amount, force_post_count, force_post_amount,
         shortfall_amount, net_amount, transfer_id, reconciliation, created_at)
       VALUES ($1, $2, $3, $4::date, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb, $18)
       RETURNING ${SETTLEMENT_COLUMNS}`,
      [
        id,
        input.programId,
        input.currency,
        input.date,
        program.time_zone,
        window.start,
        window.end,
        rows.capture.count,
        rows.capture.amount,
        rows.refund.count,
        rows.refund.amount,
        rows.force_post.count,
        rows.force_post.amount,
        rows.capture.shortfall_amount + rows.force_post.shortfall_amount,
        net,
        transferId,
        json(reconciliation),
        context.clock.now(),
      ],
    )
    // A concurrent run of the same day inserted first: the re-run returns its row.
    .catch(rerunOnUniqueViolation('the same day was settled concurrently'));
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const settlement = settlementFromRow(row);
  await emitEvent(tx, context, {
    type: 'settlement.created',
    programId: input.programId,
    object: settlement,
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'settlement.created',
    programId: input.programId,
    target: { type: 'settlement', id },
    details: {
      currency: input.currency,
      settlement_date: input.date,
      net_amount: net,
      transactions: settlement.transaction_count,
    },
  });
  return settlement;
}

/** `settleDayIn` in a transaction of its own. */
export async function runSettlement(
  context: SettlementContext,
  input: SettlementInput,
  by: Actor = SYSTEM,
): Promise<Settlement> {
  return context.db.transaction((tx) => settleDayIn(tx, context, input, by));
}

export interface SettleDueFailure {
  readonly programId: string;
  readonly currency: string;
  readonly date: string;
  readonly code: string;
  readonly message: string;
}

export interface SettleDueResult {
  readonly settled: readonly Settlement[];
  readonly failed: readonly SettleDueFailure[];
  /** True when the bound stopped the run with days still due: call again. */
  readonly more: boolean;
}

interface DueRow {
  program_id: string;
  currency: string;
  next_date: string | null;
  last_ended: string | null;
  time_zone_known: boolean;
}

/**
 * Settles every ended day not yet settled, for every programme (suspended ones too: clearing is never declined,
 * so their money still moves) and each of its currencies, from the day it first held the currency or the day
 * after its last settlement. Bounded per call; a day that fails is reported and its programme and currency wait
 * for the next call, while the others go on.
 */
/**
 * How long after a local midnight the scheduled run waits before settling the day that ended: a clearing stamped
 * just before midnight by a process whose clock runs a little behind has committed by then.
 */
export const SETTLEMENT_GRACE_MS = 5 * 60 * 1000;

export async function settleDue(
  context: SettlementContext,
  filter: { readonly programId?: string; readonly currency?: string; readonly graceMs?: number } = {},
  by: Actor = SYSTEM,
): Promise<SettleDueResult> {
  // Only days over for at least `graceMs` (the scheduled run passes SETTLEMENT_GRACE_MS).
  const now = new Date(context.clock.now().getTime() - (filter.graceMs ?? 0));
  // Computed by the database, as `settleDayIn` computes them; a zone it does not know is reported, not fatal.
  const due = await context.db.query<DueRow>(
    `WITH zones AS MATERIALIZED (SELECT name FROM pg_timezone_names),
     pairs AS (
       SELECT p.id AS program_id, c.currency, p.time_zone,
         EXISTS (SELECT 1 FROM zones z WHERE z.name = p.time_zone) AS time_zone_known,
         (SELECT max(s.settlement_date) FROM settlements s WHERE s.program_id = p.id AND s.currency = c.currency)
           AS last_settled,
         a.created_at AS opened_at
       FROM programs p
       CROSS JOIN LATERAL unnest(p.currencies) AS c(currency)
       -- programAccountId's shape, spelled in SQL
       JOIN ledger_accounts a ON a.id = p.id || ':card_settlement:' || c.currency
       WHERE ($2::text IS NULL OR p.id = $2) AND ($3::text IS NULL OR c.currency = $3))
     SELECT program_id, currency, time_zone_known,
       CASE WHEN time_zone_known THEN to_char(COALESCE(last_settled + 1,
         (opened_at AT TIME ZONE time_zone)::date), 'YYYY-MM-DD') END AS next_date,
       CASE WHEN time_zone_known THEN to_char(($1::timestamptz AT TIME ZONE time_zone)::date - 1, 'YYYY-MM-DD')
         END AS last_ended
     FROM pairs ORDER BY program_id, currency`,
    [now, filter.programId ?? null, filter.currency ?? null],
  );
  const settled: Settlement[] = [];
  const failed: SettleDueFailure[] = [];
  let more = false;
  for (const pair of due.rows) {
    if (!pair.time_zone_known || pair.next_date === null || pair.last_ended === null) {
      failed.push({
        programId: pair.program_id,
        currency: pair.currency,
        date: '',
        code: 'time_zone_unknown',
        message: 'the database does not know the programme’s time zone',
      });
      continue;
    }
    let date = pair.next_date;
    for (let day = 0; date <= pair.last_ended; day += 1) {
      if (day >= SETTLE_DUE_DAYS_MAX || settled.length >= SETTLE_DUE_SETTLEMENTS_MAX) {
        more = true;
        break;
      }
      try {
        settled.push(
          await runSettlement(context, { programId: pair.program_id, currency: pair.currency, date }, by),
        );
      } catch (error) {
        failed.push({
          programId: pair.program_id,
          currency: pair.currency,
          date,
          code: error instanceof LantauError ? error.code : 'error',
          message: error instanceof Error ? error.message : String(error),
        });
        break;
      }
      date = nextDate(date);
    }
  }
  return { settled, failed, more };
}

export async function getSettlement(
  db: Queryable,
  programId: string | undefined,
  id: string,
): Promise<Settlement> {
  const found = await db.query<SettlementRow>(
    `SELECT ${SETTLEMENT_COLUMNS} FROM settlements WHERE id = $1 AND ($2::text IS NULL OR program_id = $2)`,
    [id, programId ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('settlement', id);
  return settlementFromRow(row);
}

/** The settlement's transactions in the order they cleared. */
export async function settlementTransactions(
  db: Queryable,
  settlement: Settlement,
): Promise<CardTransaction[]> {
  if (settlement.transaction_count > REPORT_LINES_MAX) {
    throw new LantauError(
      'report_too_large',
      `The day has ${settlement.transaction_count} transactions, more than a report holds (${REPORT_LINES_MAX}): page through GET /v1/transactions?settlement_id=${settlement.id}`,
      { status: 409 },
    );
  }
  const found = await db.query<TransactionRow>(
    `SELECT ${TRANSACTION_COLUMNS} FROM transactions WHERE settlement_id = $1 ORDER BY created_at, id`,
    [settlement.id],
  );
  return found.rows.map(transactionFromRow);
}

/** The report as JSON: the settlement (its totals and the ledger's figures) and one line per transaction. */
export function settlementReport(
  settlement: Settlement,
  transactions: readonly CardTransaction[],
): SettlementReport {
  if (transactions.length !== settlement.transaction_count) {
    throw new Error(
      `settlement ${settlement.id} counts ${settlement.transaction_count} transactions, ${transactions.length} carry its id`,
    );
  }
  return { object: 'settlement_report', settlement, transactions: [...transactions] };
}

export const REPORT_CSV_COLUMNS = [
  'id',
  'type',
  'card_id',
  'authorization_id',
  'amount',
  'currency',
  'merchant_amount',
  'merchant_currency',
  'merchant_name',
  'mcc',
  'created',
  'count',
] as const;

/**
 * The report as CSV (RFC 4180, CRLF): a header, one line per transaction (amounts in minor units, positive, the
 * type saying which way the money went), then total lines whose `id` is `total` and whose `type` names the total:
 * `capture`, `refund`, `force_post`, `shortfall` and `net` (captures + force posts − refunds), each with its
 * count. Merchant names come from the network: a name that a spreadsheet would run as a formula is prefixed with
 * an apostrophe.
 */
export function settlementReportCsv(
  settlement: Settlement,
  transactions: readonly CardTransaction[],
): string {
  const report = settlementReport(settlement, transactions);
  const total = (type: string, amount: number, count: number | null) => [
    'total',
    type,
    null,
    null,
    amount,
    settlement.currency,
    null,
    null,
    null,
    null,
    null,
    count,
  ];
  const records = [
    [...REPORT_CSV_COLUMNS],
    ...report.transactions.map((line) => [
      line.id,
      line.type,
      line.card_id,
      line.authorization_id,
      line.amount,
      line.currency,
      line.merchant_amount,
      line.merchant_currency,
      line.merchant.name,
      line.merchant.mcc,
      line.created,
      null,
    ]),
    total('capture', settlement.capture_amount, settlement.capture_count),
    total('refund', settlement.refund_amount, settlement.refund_count),
    total('force_post', settlement.force_post_amount, settlement.force_post_count),
    total('shortfall', settlement.shortfall_amount, null),
    total('net', settlement.net_amount, settlement.transaction_count),
  ];
  return stringify(records, { escape_formulas: true, record_delimiter: '\r\n' });
}
