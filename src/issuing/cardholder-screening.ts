import type { Transaction } from '../platform/db/database.js';
import { json } from '../platform/db/database.js';
import type { ScreeningCandidate } from '../compliance/sanctions/matching.js';
import { screenerFor, type ListUsed, type TransactionScreener } from '../compliance/sanctions/screening.js';
import { appendAudit, type AuditInput } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import { moveCardsForCompliance, type Card } from './cards.js';
import type { KycStatus } from '../compliance/kyc/status.js';
import { bindToRow, type EncryptedColumn } from '../vault/encrypted-columns.js';
import type { Keyring } from '../vault/keyring.js';
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
  /** Moves on with every change: a decision names the version its person reviewed. */
  readonly version: number;
  readonly created: string;
  readonly updated: string;
  readonly decided: string | null;
  readonly decided_by: string | null;
  /** Shown to the operator only, through the API; never in events (it may speak of the cardholder). */
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
  /** Null once the alert is purged (issuing/retention.ts), which only a decided one is. */
  subject_index: Uint8Array | null;
  paused_card_ids: string[];
  version: number;
  created_at: Date;
  updated_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  grounds_encrypted: Uint8Array | null;
}

export const ALERT_COLUMNS = `id, program_id, cardholder_id, status, trigger, candidates, lists, subject_index,
  paused_card_ids, version, created_at, updated_at, decided_at, decided_by, grounds_encrypted`;

/** The AAD of an alert's grounds: its own row. */
export const alertGroundsAad = bindToRow('screening_alerts', 'grounds_encrypted');

/** Registered with the vault (edges/cli/vault.ts) so key rotation re-encrypts it and retirement checks it. */
export const ALERT_GROUNDS_COLUMN: EncryptedColumn = {
  table: 'screening_alerts',
  idColumn: 'id',
  column: 'grounds_encrypted',
  purpose: 'pii',
  aad: alertGroundsAad,
};

/** The alert without its grounds, as events carry it; `presentAlert` adds them for the operator. */
export function alertFromRow(row: ScreeningAlertRow, grounds: string | null = null): ScreeningAlert {
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
    version: row.version,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
    decided: row.decided_at?.toISOString() ?? null,
    decided_by: row.decided_by,
    grounds,
  };
}

/** The alert as the API shows it: the grounds decrypted for an operator, left out (null) for a programme. */
export async function presentAlert(
  vault: Keyring,
  row: ScreeningAlertRow,
  withGrounds: boolean,
): Promise<ScreeningAlert> {
  if (!withGrounds || row.grounds_encrypted === null) return alertFromRow(row);
  const grounds = await vault.decrypt(row.grounds_encrypted, alertGroundsAad(row.id));
  return alertFromRow(row, grounds.toString('utf8'));
}

/** Whom screening looks at: the cardholder's id, programme, statuses, and the screened fields. */
export interface ScreeningSubject extends Pick<PersonalData, (typeof SCREENED_FIELDS)[number]> {
  readonly id: string;
  readonly program_id: string;
  readonly kyc_status: KycStatus;
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

const candidateKey = (candidate: ScreeningCandidate): string => `${candidate.list}:${candidate.reference}`;

/** One candidate per entry, the higher score kept, best first (as the matcher orders them). */
function mergeCandidates(...sets: (readonly ScreeningCandidate[])[]): ScreeningCandidate[] {
  const best = new Map<string, ScreeningCandidate>();
  for (const set of sets) {
    for (const candidate of set) {
      const key = candidateKey(candidate);
      const kept = best.get(key);
      if (kept === undefined || candidate.score > kept.score) best.set(key, candidate);
    }
  }
  return [...best.values()].sort(
    (a, b) => b.score - a.score || candidateKey(a).localeCompare(candidateKey(b)),
  );
}

/**
 * The candidates for the subject. A date of birth or a nationality the programme declared, until KYC has verified
 * them, may raise a score but not lower one: the name alone is screened too and the better of the two kept, so a
 * listed person cannot declare their way past the threshold. Once verified, a date of birth that differs settles a
 * namesake (the matcher's rules; DESIGN.md, "Compliance").
 */
function screenSubject(lists: TransactionScreener, subject: ScreeningSubject): ScreeningCandidate[] {
  const declared = lists.screen({
    name: subject.name,
    ...(subject.date_of_birth === null ? {} : { dateOfBirth: subject.date_of_birth }),
    ...(subject.nationality === null ? {} : { country: subject.nationality }),
    kind: 'individual',
  }).candidates;
  if (subject.kyc_status === 'verified' || (subject.date_of_birth === null && subject.nationality === null)) {
    return [...declared];
  }
  return mergeCandidates(declared, lists.screen({ name: subject.name, kind: 'individual' }).candidates);
}

/**
 * Scores move a little with the lists' make-up (a name part's rarity): a cleared entry is raised again only when it
 * scores clearly higher than when it was cleared.
 */
const RAISE_AGAIN_MARGIN = 5;

/**
 * The candidates a person has already cleared for this same subject are not raised again, unless the entry now
 * scores clearly higher (the list added an alias or a date of birth that fits better).
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
      const key = candidateKey(candidate);
      clearedScores.set(key, Math.max(clearedScores.get(key) ?? 0, candidate.score));
    }
  }
  return candidates.filter((candidate) => {
    const clearedAt = clearedScores.get(candidateKey(candidate));
    return clearedAt === undefined || candidate.score >= clearedAt + RAISE_AGAIN_MARGIN;
  });
}

/** Pauses the cardholder's active cards for compliance, with an event for each. */
function pauseCards(tx: Transaction, context: IssuingContext, subject: ScreeningSubject): Promise<Card[]> {
  return moveCardsForCompliance(
    tx,
    context,
    subject.program_id,
    'paused',
    `cardholder_id = $3 AND status = 'active'`,
    [subject.id],
  );
}

export interface ScreeningOptions {
  /** A screener already holding the list lock (a re-screen's batch); else one is taken. */
  readonly screener?: TransactionScreener;
  /**
   * Where to put the audit entries instead of appending them at once: a re-screen appends its batch's at the end,
   * so the audit chain's lock (one for the platform) is held only for the batch's last moment.
   */
  readonly audits?: AuditInput[];
}

/**
 * Screens the cardholder, whose row the caller has locked, against the lists the screener sees, and records the
 * result on the row: their screening status and the list versions used. A potential match opens an alert with its
 * event and audit entry; on a cardholder who already exists, their active cards are paused. While an alert is
 * open, every screening updates it to the subject now screened (a rename does not leave a cleared alert speaking
 * for an old name) and adds what it found, and the cardholder stays `potential_match` whatever it finds: a person
 * decides. A confirmed match stays confirmed.
 */
export async function screenCardholder(
  tx: Transaction,
  context: IssuingContext,
  subject: ScreeningSubject,
  trigger: ScreeningTrigger,
  by: Actor,
  options: ScreeningOptions = {},
): Promise<ScreeningOutcome> {
  const lists = options.screener ?? (await screenerFor(tx, context.db));
  const now = context.clock.now();
  let status: ScreeningStatus = subject.screening_status;
  let alert: ScreeningAlert | undefined;
  let alertCreated = false;
  let pausedCards: Card[] = [];
  if (lists.loaded && subject.screening_status !== 'confirmed_match') {
    const index = subjectIndex(context, subject);
    const found = await uncleared(tx, subject.id, index, screenSubject(lists, subject));
    const open = await tx.query<ScreeningAlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM screening_alerts WHERE cardholder_id = $1 AND status = 'open' FOR UPDATE`,
      [subject.id],
    );
    const openRow = open.rows[0];
    const subjectMoved =
      openRow !== undefined &&
      (openRow.subject_index === null || !Buffer.from(openRow.subject_index).equals(index));
    if (found.length > 0 || subjectMoved) {
      pausedCards =
        trigger === 'cardholder_created' || found.length === 0 ? [] : await pauseCards(tx, context, subject);
      const pausedIds = pausedCards.map((card) => card.id);
      const candidates = mergeCandidates(openRow?.candidates ?? [], found);
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
                json(lists.used),
                index,
                pausedIds,
                now,
              ],
            )
          : await tx.query<ScreeningAlertRow>(
              `UPDATE screening_alerts SET candidates = $2::jsonb, lists = $3::jsonb, subject_index = $4,
                 paused_card_ids = paused_card_ids || $5::text[], updated_at = $6, version = version + 1
               WHERE id = $1
               RETURNING ${ALERT_COLUMNS}`,
              [openRow.id, json(candidates), json(lists.used), index, pausedIds, now],
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
      const audit: AuditInput = {
        ...by,
        action: alertCreated ? 'screening_alert.created' : 'screening_alert.updated',
        programId: subject.program_id,
        target: { type: 'screening_alert', id: alert.id },
        details: {
          cardholder: subject.id,
          trigger,
          found: found.length,
          best_score: found[0]?.score ?? null,
          subject_changed: subjectMoved,
          paused_cards: pausedIds.length,
        },
      };
      if (options.audits === undefined) await appendAudit(tx, context, audit);
      else options.audits.push(audit);
    }
    status = openRow === undefined && found.length === 0 ? 'clear' : 'potential_match';
  }
  // Nothing to screen against (no list loaded): the re-screen after the first load screens everyone.
  await tx.query(
    `UPDATE cardholders SET screening_status = $2, screened_lists = $3, screened_at = $4,
       updated_at = CASE WHEN screening_status = $2 THEN updated_at ELSE $4 END
     WHERE id = $1`,
    [subject.id, status, lists.key, now],
  );
  return { status, ...(alert === undefined ? {} : { alert }), alertCreated, pausedCards };
}
