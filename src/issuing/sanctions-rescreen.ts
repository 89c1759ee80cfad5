import { latestVersions } from '../compliance/sanctions/list-store.js';
import { listKeyOf, screenerFor, warmScreening } from '../compliance/sanctions/screening.js';
import { appendAudit, type AuditInput } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import { screenCardholder } from './cardholder-screening.js';
import {
  CARDHOLDER_COLUMNS,
  cardholderFromRowLoaded,
  cardholderSummaryFromRow,
  type Cardholder,
  type CardholderRow,
} from './cardholders.js';
import type { Actor, IssuingContext } from './programs.js';

/**
 * Everyone is screened again when a list version loads. Each cardholder row says which versions it was last
 * screened against (`screened_lists`); a re-screen takes the rows whose versions differ from the latest, in batches
 * each in one transaction under the rows' locks, until none is left. Any number of processes may run it at once
 * (a row locked by another is skipped, and taken by a later run); it resumes after a crash where it stopped. A
 * screening that raced the load committed first (the list lock in compliance/sanctions/screening.ts), so once no
 * row is left on older versions, none can come back: the re-screen is recorded complete.
 */

export interface RescreenProgress {
  /** The list versions screened against (`listKeyOf`). */
  readonly lists: string;
  /** Cardholders this run screened. */
  readonly screened: number;
  /** Alerts this run opened. */
  readonly alerts: number;
  /** Cardholders whose document could not be read (logged by the caller; taken again by the next run). */
  readonly failed: readonly string[];
  /** Whether no cardholder is left on older versions (recorded, with `sanctions_rescreen.completed`). */
  readonly completed: boolean;
  /** Whether a newer list version loaded meanwhile, whose own re-screen goes on from here. */
  readonly superseded: boolean;
}

const RESCREEN_ACTOR: Actor = { actor: { type: 'system', id: 'sanctions_rescreen' } };
/**
 * Cardholders per transaction. Their rows stay locked until it commits (their authorizations wait), so small; the
 * audit entries are appended at the batch's end, so the platform's audit lock is held only for its last moment.
 */
export const RESCREEN_BATCH = 50;

interface RescreenRow {
  list_key: string;
  started_at: Date;
  completed_at: Date | null;
  screened: number;
  alerts: number;
}

/**
 * Re-screens the cardholders due for it, if the latest list versions have not been fully screened yet; undefined
 * when there is nothing to do (no list loaded, or the re-screen for these versions completed before).
 */
export async function rescreenDue(
  context: IssuingContext,
  options: { readonly batchSize?: number; readonly by?: Actor; readonly signal?: AbortSignal } = {},
): Promise<RescreenProgress | undefined> {
  const { db } = context;
  const versions = await latestVersions(db);
  if (versions.length === 0) return undefined;
  const key = listKeyOf(versions);
  const done = await db.query<{ completed_at: Date | null }>(
    'SELECT completed_at FROM sanctions_rescreens WHERE list_key = $1',
    [key],
  );
  if (done.rows[0]?.completed_at != null) return undefined;
  await db.query(
    `INSERT INTO sanctions_rescreens (list_key, started_at) VALUES ($1, $2) ON CONFLICT (list_key) DO NOTHING`,
    [key, context.clock.now()],
  );
  // The index and the keys are made ready outside the batches' transactions, which must not wait on either.
  await warmScreening(db);
  await context.vault.refresh();
  const by = options.by ?? RESCREEN_ACTOR;
  const batchSize = options.batchSize ?? RESCREEN_BATCH;
  let after = '';
  let screened = 0;
  let alerts = 0;
  const failed: string[] = [];
  const progress = (completed: boolean, superseded = false): RescreenProgress => ({
    lists: key,
    screened,
    alerts,
    failed,
    completed,
    superseded,
  });
  for (;;) {
    if (options.signal?.aborted === true) return progress(false);
    const batch = await db.transaction(async (tx) => {
      const screener = await screenerFor(tx, db);
      // A newer version loaded meanwhile: its own re-screen covers everyone.
      if (screener.key !== key) return undefined;
      // A purged cardholder (issuing/retention.ts) has no name left to screen.
      const due = await tx.query<CardholderRow>(
        `SELECT ${CARDHOLDER_COLUMNS} FROM cardholders
         WHERE id > $1 AND screened_lists IS DISTINCT FROM $2 AND purged_at IS NULL
         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`,
        [after, key, batchSize],
      );
      let opened = 0;
      let done = 0;
      const audits: AuditInput[] = [];
      for (const row of due.rows) {
        let cardholder: Cardholder;
        try {
          cardholder = cardholderFromRowLoaded(context.vault, row);
        } catch {
          // One unreadable document must not hold up everyone after it; it stays due, and is reported.
          failed.push(row.id);
          continue;
        }
        done += 1;
        const outcome = await screenCardholder(tx, context, cardholder, 'lists_updated', by, {
          screener,
          audits,
        });
        if (outcome.alertCreated) opened += 1;
        if (outcome.status !== row.screening_status) {
          await emitEvent(tx, context, {
            type: 'cardholder.screening_updated',
            programId: row.program_id,
            object: cardholderSummaryFromRow({
              ...row,
              screening_status: outcome.status,
              updated_at: context.clock.now(),
            }),
          });
        }
      }
      if (done > 0) {
        await tx.query(
          'UPDATE sanctions_rescreens SET screened = screened + $2, alerts = alerts + $3 WHERE list_key = $1',
          [key, done, opened],
        );
      }
      for (const audit of audits) await appendAudit(tx, context, audit);
      return { count: done, last: due.rows.at(-1)?.id, opened };
    });
    if (batch === undefined) return progress(false, true);
    screened += batch.count;
    alerts += batch.opened;
    if (batch.last === undefined) break;
    after = batch.last;
  }
  const left = await db.query<{ left: number }>(
    'SELECT count(*)::int AS left FROM cardholders WHERE screened_lists IS DISTINCT FROM $1 AND purged_at IS NULL',
    [key],
  );
  if ((left.rows[0]?.left ?? 0) > 0) return progress(false);
  await db.transaction(async (tx) => {
    const completed = await tx.query<RescreenRow>(
      `UPDATE sanctions_rescreens SET completed_at = $2 WHERE list_key = $1 AND completed_at IS NULL
       RETURNING list_key, started_at, completed_at, screened, alerts`,
      [key, context.clock.now()],
    );
    const row = completed.rows[0];
    // Another process completed it first.
    if (row === undefined) return;
    const object = {
      object: 'sanctions_rescreen',
      lists: versions.map((version) => ({ list: version.list, version: version.id })),
      started: row.started_at.toISOString(),
      completed: row.completed_at?.toISOString() ?? null,
      screened: row.screened,
      alerts: row.alerts,
    };
    await emitEvent(tx, context, { type: 'sanctions_rescreen.completed', programId: null, object });
    await appendAudit(tx, context, {
      ...by,
      action: 'sanctions_rescreen.completed',
      target: { type: 'sanctions_rescreen', id: key },
      details: { screened: row.screened, alerts: row.alerts },
    });
  });
  return progress(true);
}
