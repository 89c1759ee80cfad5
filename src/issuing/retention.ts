import { CASE_COLUMNS, caseFromRow, type CaseRow } from '../compliance/aml/cases.js';
import { forgetCardholderDevices } from '../compliance/aml/monitor.js';
import type { Transaction } from '../platform/db/database.js';
import { appendAudit, type AuditInput } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import { ALERT_COLUMNS, alertFromRow, type ScreeningAlertRow } from './cardholder-screening.js';
import {
  CARDHOLDER_SUMMARY_COLUMNS,
  cardholderPiiAad,
  cardholderSummaryFromRow,
  type CardholderRow,
} from './cardholders.js';
import { serializePersonalData, type PersonalData } from './personal-data.js';
import type { Actor, IssuingContext } from './programs.js';

/**
 * Retention (issue 11): AMLO (Cap. 615) keeps a customer's records at least five years after the business
 * relationship ends, and the PDPO (Cap. 486) keeps personal data no longer than its purpose needs. So once a
 * cardholder's relationship ended (`relationship_ended_at`, set when they became inactive) five calendar years ago,
 * their personal data is purged, unless something still holds it:
 * - an AML case about them that is open or escalated, or was decided less than five years ago (its own five years);
 * - a screening alert about them that is open, or was decided less than five years ago;
 * - a wallet of theirs that still holds money (posted or pending): it is theirs, and paying it out or handing it on
 *   as unclaimed needs to know whom it belongs to. Such cardholders are reported by each run, not purged.
 *
 * The purge replaces their personal-data document by a placeholder (the API still shows the cardholder, named
 * `[purged]`), clears their blind indexes, and purges the personal content of their decided cases and alerts
 * (grounds, report packages, analysts' notes, the screened subject's blind index). Ids, amounts, times and statuses
 * stay: those are the records. The audit log never held personal data and is never rewritten, so its chain still
 * verifies.
 */

export const RETENTION_YEARS = 5;
/**
 * Cardholders per transaction. Their rows stay locked until it commits; these are cardholders inactive for five
 * years, so nothing waits on them, and the batch's audit entries are appended at its end.
 */
export const RETENTION_BATCH = 100;
const RETENTION_ACTOR: Actor = { actor: { type: 'system', id: 'retention' } };

/** What a purged cardholder's document holds: a name the API can show, and nothing else. */
export const PURGED_PERSONAL_DATA: PersonalData = {
  name: '[purged]',
  email: null,
  phone_number: null,
  date_of_birth: null,
  nationality: null,
  occupation: null,
  address: null,
  ip_address: null,
  device_id: null,
};

/**
 * The moment `years` calendar years before `now`, in UTC. A 29 February with no match that year becomes the 28th
 * (not 1 March), so nothing is purged a day before its full five years.
 */
export function retentionCutoff(now: Date, years = RETENTION_YEARS): Date {
  const year = now.getUTCFullYear() - years;
  const month = now.getUTCMonth();
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const cutoff = new Date(now.getTime());
  cutoff.setUTCFullYear(year, month, Math.min(now.getUTCDate(), lastDay));
  return cutoff;
}

export interface PurgeProgress {
  /** Cardholders this run purged. */
  readonly purged: number;
  /** Due cardholders a case or an alert still holds (taken again by later runs). */
  readonly held: number;
  /** Due cardholders whose wallets still hold money: theirs to pay out before the purge can go on. */
  readonly heldByBalance: readonly string[];
  /** Decided AML cases and screening alerts whose personal content this run purged. */
  readonly cases: number;
  readonly alerts: number;
  /** Whether it went through every due cardholder (false: stopped by the signal; the next run goes on). */
  readonly completed: boolean;
}

type DueRow = Omit<CardholderRow, 'pii_encrypted'> & { ended_at: Date };
type Hold = 'aml_case' | 'screening_alert' | 'balance';

/**
 * Cardholders whose relationship ended on or before the cutoff and who are not purged. A row made inactive before
 * `relationship_ended_at` existed counts from its last update, which is no earlier than the end.
 */
async function lockDue(tx: Transaction, after: string, cutoff: Date, limit: number): Promise<DueRow[]> {
  const due = await tx.query<DueRow>(
    `SELECT ${CARDHOLDER_SUMMARY_COLUMNS}, coalesce(relationship_ended_at, updated_at) AS ended_at
     FROM cardholders
     WHERE id > $1 AND status = 'inactive' AND purged_at IS NULL
       AND coalesce(relationship_ended_at, updated_at) <= $2
     ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [after, cutoff, limit],
  );
  return due.rows;
}

/**
 * What holds each of these cardholders. Read after their rows are locked, in a statement of its own, so it sees
 * every money movement committed before the lock (they all lock the cardholder first). One scan per table for the
 * whole batch, not one per cardholder.
 */
async function holdsOf(
  tx: Transaction,
  ids: readonly string[],
  cutoff: Date,
): Promise<Map<string, Set<Hold>>> {
  if (ids.length === 0) return new Map();
  const found = await tx.query<{ id: string; hold: Hold }>(
    `SELECT cardholder_id AS id, 'aml_case' AS hold FROM aml_cases
     WHERE cardholder_id = ANY($1::text[]) AND (status IN ('open', 'escalated') OR decided_at > $2)
     UNION ALL
     SELECT cardholder_id, 'screening_alert' FROM screening_alerts
     WHERE cardholder_id = ANY($1::text[]) AND (status = 'open' OR decided_at > $2)
     UNION ALL
     SELECT w.cardholder_id, 'balance' FROM wallets w JOIN ledger_accounts a ON a.id = w.ledger_account_id
     WHERE w.cardholder_id = ANY($1::text[])
       AND (a.credits_posted <> a.debits_posted OR a.debits_pending <> 0 OR a.credits_pending <> 0)`,
    [[...ids], cutoff],
  );
  const holds = new Map<string, Set<Hold>>();
  for (const { id, hold } of found.rows) {
    const set = holds.get(id) ?? new Set<Hold>();
    set.add(hold);
    holds.set(id, set);
  }
  return holds;
}

/** Purges the personal content of the cardholder's cases decided on or before the cutoff, each with its event. */
async function purgeCases(
  tx: Transaction,
  context: IssuingContext,
  cardholderId: string,
  cutoff: Date,
): Promise<{ cases: number; notes: number }> {
  const now = context.clock.now();
  // An analyst's comments and attachments are nothing but content: they go. The audit log still says who added
  // one, when, and how large it was.
  const notes = await tx.query(
    `DELETE FROM aml_case_notes
     WHERE case_id IN (SELECT id FROM aml_cases WHERE cardholder_id = $1 AND decided_at <= $2)`,
    [cardholderId, cutoff],
  );
  const cases = await tx.query<CaseRow>(
    `UPDATE aml_cases SET grounds_encrypted = NULL, report_encrypted = NULL, purged_at = $3, updated_at = $3,
       version = version + 1
     WHERE cardholder_id = $1 AND decided_at <= $2 AND purged_at IS NULL
     RETURNING ${CASE_COLUMNS}`,
    [cardholderId, cutoff, now],
  );
  for (const row of cases.rows) {
    // Platform-wide, as every AML event: a programme's webhooks never learn of a case.
    await emitEvent(tx, context, { type: 'aml_case.purged', programId: null, object: caseFromRow(row) });
  }
  return { cases: cases.rows.length, notes: notes.rowCount };
}

/**
 * Purges the grounds and the screened subject's blind index of the cardholder's alerts decided on or before the
 * cutoff, each with its event.
 */
async function purgeAlerts(
  tx: Transaction,
  context: IssuingContext,
  cardholderId: string,
  cutoff: Date,
): Promise<number> {
  const alerts = await tx.query<ScreeningAlertRow>(
    `UPDATE screening_alerts SET grounds_encrypted = NULL, subject_index = NULL, purged_at = $3, updated_at = $3,
       version = version + 1
     WHERE cardholder_id = $1 AND status <> 'open' AND decided_at <= $2 AND purged_at IS NULL
     RETURNING ${ALERT_COLUMNS}`,
    [cardholderId, cutoff, context.clock.now()],
  );
  for (const row of alerts.rows) {
    await emitEvent(tx, context, {
      type: 'screening_alert.purged',
      programId: row.program_id,
      object: alertFromRow(row),
    });
  }
  return alerts.rows.length;
}

/** Purges one due cardholder whose row the caller locked; returns its audit entry, for the batch's end. */
async function purgeCardholder(
  tx: Transaction,
  context: IssuingContext,
  row: DueRow,
  cutoff: Date,
  by: Actor,
): Promise<{ audit: AuditInput; cases: number; alerts: number }> {
  const now = context.clock.now();
  const updated = await tx.query<Omit<CardholderRow, 'pii_encrypted'>>(
    `UPDATE cardholders SET pii_encrypted = $2, email_index = NULL, phone_index = NULL, device_index = NULL,
       ip_index = NULL, relationship_ended_at = $3, purged_at = $4, updated_at = $4
     WHERE id = $1
     RETURNING ${CARDHOLDER_SUMMARY_COLUMNS}`,
    [
      row.id,
      context.vault.encrypt('pii', serializePersonalData(PURGED_PERSONAL_DATA), cardholderPiiAad(row.id)),
      row.ended_at,
      now,
    ],
  );
  const purged = updated.rows[0];
  if (purged === undefined) throw new Error('UPDATE … RETURNING returned no row');
  await forgetCardholderDevices(tx, row.id);
  const { cases, notes } = await purgeCases(tx, context, row.id, cutoff);
  const alerts = await purgeAlerts(tx, context, row.id, cutoff);
  // The summary, as every cardholder.* event: no personal data, and nothing of cases or alerts.
  await emitEvent(tx, context, {
    type: 'cardholder.purged',
    programId: row.program_id,
    object: cardholderSummaryFromRow(purged),
  });
  return {
    audit: {
      ...by,
      action: 'cardholder.purged',
      programId: row.program_id,
      target: { type: 'cardholder', id: row.id },
      details: {
        relationship_ended: row.ended_at.toISOString(),
        aml_cases: cases,
        case_notes: notes,
        screening_alerts: alerts,
      },
    },
    cases,
    alerts,
  };
}

/**
 * Purges every cardholder due, in batches: each one transaction, its rows locked `FOR UPDATE SKIP LOCKED` (a row
 * another transaction holds is left to the next run, and processes may run this at once). Running it again purges
 * nothing more until time or a decision makes another cardholder due.
 */
export async function purgeDue(
  context: IssuingContext,
  options: { readonly batchSize?: number; readonly by?: Actor; readonly signal?: AbortSignal } = {},
): Promise<PurgeProgress> {
  const batchSize = options.batchSize ?? RETENTION_BATCH;
  const by = options.by ?? RETENTION_ACTOR;
  const cutoff = retentionCutoff(context.clock.now());
  // Encrypting the placeholder needs the current pii key: another process may have rotated it.
  await context.vault.refresh();
  let after = '';
  let purged = 0;
  let held = 0;
  let cases = 0;
  let alerts = 0;
  const heldByBalance: string[] = [];
  const progress = (completed: boolean): PurgeProgress => ({
    purged,
    held,
    heldByBalance,
    cases,
    alerts,
    completed,
  });
  for (;;) {
    if (options.signal?.aborted === true) return progress(false);
    const batch = await context.db.transaction(async (tx) => {
      const due = await lockDue(tx, after, cutoff, batchSize);
      const holds = await holdsOf(
        tx,
        due.map((row) => row.id),
        cutoff,
      );
      const done = { purged: 0, held: 0, heldByBalance: [] as string[], cases: 0, alerts: 0 };
      const audits: AuditInput[] = [];
      for (const row of due) {
        const hold = holds.get(row.id);
        if (hold !== undefined) {
          if (hold.has('aml_case') || hold.has('screening_alert')) done.held += 1;
          if (hold.has('balance')) done.heldByBalance.push(row.id);
          continue;
        }
        const result = await purgeCardholder(tx, context, row, cutoff, by);
        audits.push(result.audit);
        done.purged += 1;
        done.cases += result.cases;
        done.alerts += result.alerts;
      }
      for (const audit of audits) await appendAudit(tx, context, audit);
      return { ...done, count: due.length, last: due.at(-1)?.id };
    });
    purged += batch.purged;
    held += batch.held;
    heldByBalance.push(...batch.heldByBalance);
    cases += batch.cases;
    alerts += batch.alerts;
    if (batch.last === undefined || batch.count < batchSize) return progress(true);
    after = batch.last;
  }
}
