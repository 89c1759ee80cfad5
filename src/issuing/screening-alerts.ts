import type { Queryable, Transaction } from '../platform/db/database.js';
import { LantauError, notFound } from '../platform/errors.js';
import { appendAudit, requirePerson, writtenGrounds } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import {
  ALERT_COLUMNS,
  alertFromRow,
  alertGroundsAad,
  presentAlert,
  type ScreeningAlert,
  type ScreeningAlertRow,
  type ScreeningStatus,
} from './cardholder-screening.js';
import { CARDHOLDER_SUMMARY_COLUMNS, cardholderSummaryFromRow, type CardholderRow } from './cardholders.js';
import { moveCardsForCompliance } from './cards.js';
import type { Actor, IssuingContext } from './programs.js';
import { getWallet } from './wallets.js';
import type { Keyring } from '../vault/keyring.js';

/**
 * A person's decision on a screening alert. Cleared: the match was someone else; the cardholder is clear again and
 * the cards the alert paused resume. Confirmed: the cardholder is the listed person; every card of theirs closes
 * and every wallet freezes, so nothing is loaded, paid out or spent (the funds stay, frozen, as sanctions require).
 * Only an operator user decides (their name is in the audit log), with written grounds kept on the alert.
 */
export const ALERT_DECISIONS = ['clear', 'confirm'] as const;
export type AlertDecision = (typeof ALERT_DECISIONS)[number];
export const GROUNDS_LENGTH_MAX = 4000;

/** The alert as the caller may see it: an operator (no `programScope`) sees the grounds, a programme does not. */
export async function getScreeningAlert(
  db: Queryable,
  vault: Keyring,
  id: string,
  programScope: string | undefined,
): Promise<ScreeningAlert> {
  const found = await db.query<ScreeningAlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM screening_alerts WHERE id = $1 AND ($2::text IS NULL OR program_id = $2)`,
    [id, programScope ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('screening_alert', id);
  return presentAlert(vault, row, programScope === undefined);
}

export interface AlertDecisionInput {
  readonly decision: AlertDecision;
  /** Why, in words. */
  readonly grounds: string;
  /** The alert's `version` the person reviewed: a decision on an alert that changed since is refused. */
  readonly version: number;
}

type HolderRow = Omit<CardholderRow, 'pii_encrypted'>;

async function setScreeningStatus(
  tx: Transaction,
  context: IssuingContext,
  cardholderId: string,
  status: ScreeningStatus,
): Promise<void> {
  const updated = await tx.query<HolderRow>(
    `UPDATE cardholders SET screening_status = $2, updated_at = $3 WHERE id = $1
     RETURNING ${CARDHOLDER_SUMMARY_COLUMNS}`,
    [cardholderId, status, context.clock.now()],
  );
  const row = updated.rows[0];
  if (row === undefined) throw new Error('the cardholder of a screening alert is missing');
  await emitEvent(tx, context, {
    type: 'cardholder.screening_updated',
    programId: row.program_id,
    object: cardholderSummaryFromRow(row),
  });
}

/** Resumes the cards this alert paused that are still paused for compliance (not since closed or paused again). */
async function resumeCards(
  tx: Transaction,
  context: IssuingContext,
  alert: ScreeningAlertRow,
): Promise<number> {
  const resumed = await moveCardsForCompliance(
    tx,
    context,
    alert.program_id,
    'active',
    `id = ANY($3::text[]) AND cardholder_id = $4 AND status = 'paused' AND status_reason = 'compliance'
       -- Not while an open AML case holds the cardholder's cards: that case's decision resumes them.
       AND NOT EXISTS (SELECT 1 FROM aml_cases c WHERE c.cardholder_id = $4
                       AND c.status IN ('open', 'escalated') AND cardinality(c.paused_card_ids) > 0)`,
    [alert.paused_card_ids, alert.cardholder_id],
  );
  return resumed.length;
}

async function closeCardsAndFreeze(
  tx: Transaction,
  context: IssuingContext,
  alert: ScreeningAlertRow,
): Promise<{ cards: number; wallets: number }> {
  const now = context.clock.now();
  const closed = await moveCardsForCompliance(
    tx,
    context,
    alert.program_id,
    'closed',
    `cardholder_id = $3 AND status <> 'closed'`,
    [alert.cardholder_id],
  );
  const frozen = await tx.query<{ id: string }>(
    `UPDATE wallets SET status = 'frozen', updated_at = $2 WHERE cardholder_id = $1 AND status <> 'frozen'
     RETURNING id`,
    [alert.cardholder_id, now],
  );
  for (const { id } of frozen.rows) {
    const wallet = await getWallet(tx, id, alert.program_id);
    await emitEvent(tx, context, { type: 'account.updated', programId: alert.program_id, object: wallet });
  }
  return { cards: closed.length, wallets: frozen.rows.length };
}

export async function decideScreeningAlert(
  tx: Transaction,
  context: IssuingContext,
  id: string,
  { decision, grounds, version }: AlertDecisionInput,
  by: Actor,
): Promise<ScreeningAlert> {
  requirePerson(by.actor, 'decides a screening alert');
  const written = writtenGrounds(grounds, GROUNDS_LENGTH_MAX);
  // The cardholder first, as every writer on the cardholder locks: screening, loads and authorizations.
  const owner = await tx.query<{ cardholder_id: string }>(
    'SELECT cardholder_id FROM screening_alerts WHERE id = $1',
    [id],
  );
  const cardholderId = owner.rows[0]?.cardholder_id;
  if (cardholderId === undefined) throw notFound('screening_alert', id);
  await tx.query('SELECT 1 FROM cardholders WHERE id = $1 FOR UPDATE', [cardholderId]);
  const locked = await tx.query<ScreeningAlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM screening_alerts WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = locked.rows[0];
  if (row === undefined) throw notFound('screening_alert', id);
  if (row.status !== 'open') {
    throw new LantauError('screening_alert_decided', `This alert was already ${row.status}`, {
      status: 409,
      param: 'id',
    });
  }
  if (row.version !== version) {
    // A re-screen or a change of the cardholder's name added candidates or moved the subject since it was read.
    throw new LantauError(
      'screening_alert_changed',
      `The alert changed since version ${String(version)} was reviewed (it is at version ${String(row.version)}): ` +
        'review it again',
      { status: 409, param: 'version' },
    );
  }
  const now = context.clock.now();
  const status = decision === 'clear' ? 'cleared' : 'confirmed';
  const updated = await tx.query<ScreeningAlertRow>(
    `UPDATE screening_alerts SET status = $2, decided_at = $3, decided_by = $4, grounds_encrypted = $5,
       updated_at = $3, version = version + 1
     WHERE id = $1 RETURNING ${ALERT_COLUMNS}`,
    [id, status, now, by.actor.id, context.vault.encrypt('pii', Buffer.from(written), alertGroundsAad(id))],
  );
  const decided = updated.rows[0];
  if (decided === undefined) throw new Error('UPDATE … RETURNING returned no row');
  let effects: Record<string, number>;
  if (decision === 'clear') {
    effects = { cards_resumed: await resumeCards(tx, context, row) };
    await setScreeningStatus(tx, context, row.cardholder_id, 'clear');
  } else {
    const { cards, wallets } = await closeCardsAndFreeze(tx, context, row);
    effects = { cards_closed: cards, accounts_frozen: wallets };
    await setScreeningStatus(tx, context, row.cardholder_id, 'confirmed_match');
  }
  // The event goes to programmes' webhooks and streams: without the grounds, which the answer carries.
  await emitEvent(tx, context, {
    type: `screening_alert.${status}`,
    programId: row.program_id,
    object: alertFromRow(decided),
  });
  await appendAudit(tx, context, {
    ...by,
    action: `screening_alert.${status}`,
    programId: row.program_id,
    target: { type: 'screening_alert', id },
    // The grounds stay on the alert: words about a person are not copied into the log.
    details: { cardholder: row.cardholder_id, version, ...effects },
  });
  // Without the grounds: the answer is kept in the idempotency store, a table like any other.
  return alertFromRow(decided);
}
