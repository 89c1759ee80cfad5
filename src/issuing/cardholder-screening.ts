import type { Transaction } from '../platform/db/database.js';
import { json } from '../platform/db/database.js';
import type { ScreeningCandidate } from '../compliance/sanctions/matching.js';
import { screenerFor, type ListUsed, type TransactionScreener } from '../compliance/sanctions/screening.js';
import { appendAudit } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import { CARD_COLUMNS, cardFromRow, type Card, type CardRow } from './cards.js';
import type { PersonalData } from './personal-data.js';
import type { Actor, IssuingContext } from './programs.js';

/**
 * Sanctions screening of cardholders (DESIGN.md, "Compliance"): when created, when their name, date of birth or
 * nationality change, and whenever a list version loads (`rescreen.ts`). A potential match opens an alert, which
 * blocks card issuance and wallet movements until a person clears or confirms it; found on an existing cardholder,
 * it also pauses their active cards. The cardholder's personal data never leaves their encrypted document: the
 * alert keeps the list entries matched (the publisher's data) and a blind index of what was screened.
 */

export const SCREENING_STATUSES = ['not_screened', 'clear', 'potential_match', 'confirmed_match'] as const;
export type ScreeningStatus = (typeof SCREENING_STATUSES)[number];
export const SCREENING_TRIGGERS = ['cardholder_created', 'cardholder_updated', 'lists_updated'] as const;
export type ScreeningTrigger = (typeof SCREENING_TRIGGERS)[number];
export const ALERT_STATUSES = ['open', 'cleared', 'confirmed'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];
export const SCREENING_ALERT_PREFIX = 'scra';
/** The personal fields screening reads: a change to any other does not screen again. */
export const SCREENED_FIELDS = ['name', 'date_of_birth', 'nationality'] as const;
const SUBJECT_INDEX_DOMAIN = 'screening_subject';

export interface ScreeningAlert {
  readonly id: string;
  readonly object: 'screening_alert';
  readonly program_id: string;
  readonly cardholder_id: string;
  readonly status: AlertStatus;
  readonly trigger: ScreeningTrigger;
  readonly candidates: readonly ScreeningCandidate[];
  readonly lists: readonly ListUsed[];
  /** The cards this alert paused: resumed if it is cleared, closed if it is confirmed. */
  readonly paused_cards: readonly string[];
  readonly created: string;
  readonly updated: string;
  readonly decided: string | null;
  readonly decided_by: string | null;
  readonly grounds: string | null;
}

export interface ScreeningAlertRow {
  id: string;
  program_id: string;
  cardholder_id: string;
  status: AlertStatus;
  trigger: ScreeningTrigger;
  candidates: ScreeningCandidate[];
  lists: ListUsed[];
  subject_index: Uint8Array;
  paused_card_ids: string[];
  created_at: Date;
  updated_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  grounds: string | null;
}

export const ALERT_COLUMNS = `id, program_id, cardholder_id, status, trigger, candidates, lists, subject_index,
  paused_card_ids, created_at, updated_at, decided_at, decided_by, grounds`;

export function alertFromRow(row: ScreeningAlertRow): ScreeningAlert {
  return {
    id: row.id,
    object: 'screening_alert',
    program_id: row.program_id,
    cardholder_id: row.cardholder_id,
    status: row.status,
    trigger: row.trigger,
    candidates: row.candidates,
    lists: row.lists,
    paused_cards: row.paused_card_ids,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
    decided: row.decided_at?.toISOString() ?? null,
    decided_by: row.decided_by,
    grounds: row.grounds,
  };
}

/** Whom screening looks at: the cardholder's id, programme, current status, and the screened fields. */
export interface ScreeningSubject extends Pick<PersonalData, (typeof SCREENED_FIELDS)[number]> {
  readonly id: string;
  readonly program_id: string;
  readonly screening_status: ScreeningStatus;
}

export interface ScreeningOutcome {
  readonly status: ScreeningStatus;
  /** The alert opened or updated by this screening, if it found a potential match. */
  readonly alert?: ScreeningAlert;
  readonly alertCreated: boolean;
  readonly pausedCards: readonly Card[];
}

/** Whether a change to these fields calls for screening again. */
export function screenedFieldsChanged(before: ScreeningSubject, after: ScreeningSubject): boolean {
  return SCREENED_FIELDS.some((field) => before[field] !== after[field]);
}

function subjectIndex(context: IssuingContext, subject: ScreeningSubject): Buffer {
  // Unit separators keep one field's end from passing for the next one's start.
  const screened = SCREENED_FIELDS.map((field) => subject[field] ?? '').join('\u001f');
  return context.vault.blindIndex(screened, SUBJECT_INDEX_DOMAIN);
}

/**
 * The candidates a person has already cleared for this same subject are not raised again, unless the entry now
 * scores higher (the list added an alias or a date of birth that fits better).
 */
async function uncleared(
  tx: Transaction,
  cardholderId: string,
  index: Buffer,
  candidates: readonly ScreeningCandidate[],
): Promise<ScreeningCandidate[]> {
  if (candidates.length === 0) return [];
  const cleared = await tx.query<{ candidates: ScreeningCandidate[] }>(
    `SELECT candidates FROM screening_alerts
     WHERE cardholder_id = $1 AND status = 'cleared' AND subject_index = $2`,
    [cardholderId, index],
  );
  const clearedScores = new Map<string, number>();
  for (const row of cleared.rows) {
    for (const candidate of row.candidates) {
      const key = `${candidate.list}:${candidate.reference}`;
      clearedScores.set(key, Math.max(clearedScores.get(key) ?? 0, candidate.score));
    }
  }
  return candidates.filter((candidate) => {
    const clearedAt = clearedScores.get(`${candidate.list}:${candidate.reference}`);
    return clearedAt === undefined || candidate.score > clearedAt;
  });
}

/** Pauses the cardholder's active cards for compliance, with an event for each. */
async function pauseCards(
  tx: Transaction,
  context: IssuingContext,
  subject: ScreeningSubject,
  now: Date,
): Promise<Card[]> {
  const paused = await tx.query<CardRow>(
    `UPDATE cards SET status = 'paused', status_reason = 'compliance', updated_at = $2
     WHERE cardholder_id = $1 AND status = 'active'
     RETURNING ${CARD_COLUMNS}`,
    [subject.id, now],
  );
  const cards = paused.rows.map(cardFromRow).sort((a, b) => a.id.localeCompare(b.id));
  for (const card of cards) {
    await emitEvent(tx, context, { type: 'card.updated', programId: subject.program_id, object: card });
  }
  return cards;
}

/**
 * Screens the cardholder, whose row the caller has locked, against the lists `screener` sees, and records the
 * result on the row: their screening status and the list versions used. A potential match opens an alert (or
 * updates the one open) with its event and audit entry; on a cardholder who already exists (`pauseCards`), their
 * active cards are paused. A cardholder with an open alert stays `potential_match` whatever a later screening
 * finds: a person decides it. A confirmed match stays confirmed.
 */
export async function screenCardholder(
  tx: Transaction,
  context: IssuingContext,
  subject: ScreeningSubject,
  trigger: ScreeningTrigger,
  by: Actor,
  screener?: TransactionScreener,
): Promise<ScreeningOutcome> {
  const lists = screener ?? (await screenerFor(tx, context.db));
  const now = context.clock.now();
  let status: ScreeningStatus = subject.screening_status;
  let alert: ScreeningAlert | undefined;
  let alertCreated = false;
  let pausedCards: Card[] = [];
  if (!lists.loaded) {
    // Nothing to screen against: the re-screen after the first load screens everyone.
  } else if (subject.screening_status !== 'confirmed_match') {
    const check = lists.screen({
      name: subject.name,
      ...(subject.date_of_birth === null ? {} : { dateOfBirth: subject.date_of_birth }),
      ...(subject.nationality === null ? {} : { country: subject.nationality }),
      kind: 'individual',
    });
    const index = subjectIndex(context, subject);
    const candidates = await uncleared(tx, subject.id, index, check.candidates);
    const open = await tx.query<ScreeningAlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM screening_alerts WHERE cardholder_id = $1 AND status = 'open' FOR UPDATE`,
      [subject.id],
    );
    const openRow = open.rows[0];
    if (candidates.length > 0) {
      pausedCards = trigger === 'cardholder_created' ? [] : await pauseCards(tx, context, subject, now);
      const pausedIds = pausedCards.map((card) => card.id);
      const saved =
        openRow === undefined
          ? await tx.query<ScreeningAlertRow>(
              `INSERT INTO screening_alerts (id, program_id, cardholder_id, status, trigger, candidates, lists,
                 subject_index, paused_card_ids, created_at, updated_at)
               VALUES ($1, $2, $3, 'open', $4, $5::jsonb, $6::jsonb, $7, $8, $9, $9)
               RETURNING ${ALERT_COLUMNS}`,
              [
                context.ids(SCREENING_ALERT_PREFIX),
                subject.program_id,
                subject.id,
                trigger,
                json(candidates),
                json(check.lists),
                index,
                pausedIds,
                now,
              ],
            )
          : await tx.query<ScreeningAlertRow>(
              `UPDATE screening_alerts SET candidates = $2::jsonb, lists = $3::jsonb, subject_index = $4,
                 paused_card_ids = paused_card_ids || $5::text[], updated_at = $6
               WHERE id = $1
               RETURNING ${ALERT_COLUMNS}`,
              [openRow.id, json(candidates), json(check.lists), index, pausedIds, now],
            );
      const row = saved.rows[0];
      if (row === undefined) throw new Error('the screening alert was not saved');
      alert = alertFromRow(row);
      alertCreated = openRow === undefined;
      await emitEvent(tx, context, {
        type: alertCreated ? 'screening_alert.created' : 'screening_alert.updated',
        programId: subject.program_id,
        object: alert,
      });
      await appendAudit(tx, context, {
        ...by,
        action: alertCreated ? 'screening_alert.created' : 'screening_alert.updated',
        programId: subject.program_id,
        target: { type: 'screening_alert', id: alert.id },
        details: {
          cardholder: subject.id,
          trigger,
          candidates: candidates.length,
          best_score: candidates[0]?.score ?? null,
          paused_cards: pausedIds.length,
        },
      });
      status = 'potential_match';
    } else {
      status = openRow === undefined ? 'clear' : 'potential_match';
    }
  }
  await tx.query(
    `UPDATE cardholders SET screening_status = $2, screened_lists = $3, screened_at = $4,
       updated_at = CASE WHEN screening_status = $2 THEN updated_at ELSE $4 END
     WHERE id = $1`,
    [subject.id, status, lists.key, now],
  );
  return { status, ...(alert === undefined ? {} : { alert }), alertCreated, pausedCards };
}
