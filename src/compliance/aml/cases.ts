import type { Queryable, SqlParam, Transaction } from '../../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../../platform/errors.js';
import { appendAudit, requirePerson, writtenGrounds, type AuditActor } from '../../records/audit.js';
import { emitEvent, type RecordsContext } from '../../records/outbox.js';

/**
 * Cases: a cardholder's AML alerts under one investigation by the operator's analysts. New alerts join the
 * cardholder's open case or open one; analysts assign, comment, attach, and decide with written grounds. Every
 * action is an audit entry under the analyst's name (a person: an operator user, never a bare key). What analysts
 * write may speak of the cardholder, so it is sealed (by the caller's CaseSealer: issuing's, under the vault's `pii`
 * key), bound to its row; events carry none of it, and AML events are platform-wide (no programme), so a programme's
 * webhooks never tip a cardholder off.
 */

export const CASE_PREFIX = 'case';
export const NOTE_PREFIX = 'note';
export const CASE_STATUSES = ['open', 'escalated', 'false_positive', 'reported'] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];
export const CASE_DECISIONS = ['false_positive', 'escalated', 'reported'] as const;
export type CaseDecision = (typeof CASE_DECISIONS)[number];
export const OPEN_CASE_STATUSES: readonly CaseStatus[] = ['open', 'escalated'];
export const GROUNDS_LENGTH_MAX = 8000;
export const COMMENT_LENGTH_MAX = 8000;
export const ATTACHMENT_BYTES_MAX = 1_048_576;

/** Where a sealed value is kept: one of compliance's bytea columns. Each value is bound to its row's `id` too. */
export interface SealedColumn {
  readonly table: string;
  readonly column: string;
}

export const CASE_GROUNDS: SealedColumn = { table: 'aml_cases', column: 'grounds_encrypted' };
export const CASE_REPORT: SealedColumn = { table: 'aml_cases', column: 'report_encrypted' };
export const NOTE_CONTENT: SealedColumn = { table: 'aml_case_notes', column: 'content_encrypted' };
/** Every column compliance seals, for whoever rotates the key to re-encrypt (issuing/aml-cases.ts registers them). */
export const CASE_SEALED_COLUMNS: readonly SealedColumn[] = [CASE_GROUNDS, CASE_REPORT, NOTE_CONTENT];

/**
 * Encrypts what analysts write, and opens it again. Compliance does not depend on the vault (DESIGN.md): the part
 * that does (issuing) supplies this, and chooses the key. A sealed value opens only in the column and row it was
 * sealed for, so it cannot be copied into another case and read there.
 */
export interface CaseSealer {
  seal(where: SealedColumn, rowId: string, plaintext: string): Uint8Array;
  open(where: SealedColumn, rowId: string, sealed: Uint8Array): Promise<string>;
}

/** What the case actions that write sealed text need. */
export interface CaseContext extends RecordsContext {
  readonly sealer: CaseSealer;
}

/** By whom: an operator user's id (or the system, for cases it opens). */
export interface CaseActor {
  readonly actor: AuditActor;
  readonly requestId?: string;
}

export interface CaseRow {
  id: string;
  program_id: string;
  cardholder_id: string;
  status: CaseStatus;
  assignee_id: string | null;
  paused_card_ids: string[];
  version: number;
  created_at: Date;
  updated_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  grounds_encrypted: Uint8Array | null;
  report_encrypted: Uint8Array | null;
}

export const CASE_COLUMNS = `id, program_id, cardholder_id, status, assignee_id, paused_card_ids, version, created_at,
  updated_at, decided_at, decided_by, grounds_encrypted, report_encrypted`;

export interface AmlCase {
  readonly id: string;
  readonly object: 'aml_case';
  readonly program_id: string;
  readonly cardholder_id: string;
  readonly status: CaseStatus;
  readonly assignee: string | null;
  readonly paused_cards: readonly string[];
  /** Moves on with every change: a decision names the version its analyst reviewed. */
  readonly version: number;
  readonly created: string;
  readonly updated: string;
  readonly decided: string | null;
  readonly decided_by: string | null;
  /** Shown through the API to operators; never in events. */
  readonly grounds: string | null;
  /** Decided `reported`: its report package was made (and is kept until the retention purge). */
  readonly reported: boolean;
}

export function caseFromRow(row: CaseRow, grounds: string | null = null): AmlCase {
  return {
    id: row.id,
    object: 'aml_case',
    program_id: row.program_id,
    cardholder_id: row.cardholder_id,
    status: row.status,
    assignee: row.assignee_id,
    paused_cards: row.paused_card_ids,
    version: row.version,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
    decided: row.decided_at?.toISOString() ?? null,
    decided_by: row.decided_by,
    grounds,
    reported: row.status === 'reported',
  };
}

export async function presentCase(sealer: CaseSealer, row: CaseRow): Promise<AmlCase> {
  if (row.grounds_encrypted === null) return caseFromRow(row);
  return caseFromRow(row, await sealer.open(CASE_GROUNDS, row.id, row.grounds_encrypted));
}

/** The cardholder's open case, or a new one (with its event): where a new alert goes. */
export async function caseForAlert(
  tx: Transaction,
  context: RecordsContext,
  programId: string,
  cardholderId: string,
): Promise<string> {
  // Locked, and only while still open: a decision committing meanwhile must not take the new alert with it.
  const open = await tx.query<{ id: string }>(
    `SELECT id FROM aml_cases WHERE cardholder_id = $1 AND status IN ('open', 'escalated') FOR UPDATE`,
    [cardholderId],
  );
  const existing = open.rows[0];
  if (existing !== undefined) {
    const joined = await tx.query<{ id: string }>(
      `UPDATE aml_cases SET updated_at = $2, version = version + 1
       WHERE id = $1 AND status IN ('open', 'escalated') RETURNING id`,
      [existing.id, context.clock.now()],
    );
    if (joined.rows[0] !== undefined) return existing.id;
  }
  const now = context.clock.now();
  const created = await tx.query<CaseRow>(
    `INSERT INTO aml_cases (id, program_id, cardholder_id, status, created_at, updated_at)
     VALUES ($1, $2, $3, 'open', $4, $4) RETURNING ${CASE_COLUMNS}`,
    [context.ids(CASE_PREFIX), programId, cardholderId, now],
  );
  const row = created.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  await emitEvent(tx, context, { type: 'aml_case.created', programId: null, object: caseFromRow(row) });
  return row.id;
}

export async function findCase(db: Queryable, id: string, lock = ''): Promise<CaseRow> {
  const found = await db.query<CaseRow>(`SELECT ${CASE_COLUMNS} FROM aml_cases WHERE id = $1 ${lock}`, [id]);
  const row = found.rows[0];
  if (row === undefined) throw notFound('aml_case', id);
  return row;
}

/** A case action is a person's: an operator user, whose name the audit entry carries. */
export function assertPerson(by: CaseActor): void {
  requirePerson(by.actor, 'works a case');
}

function assertOpen(row: CaseRow): void {
  if (!OPEN_CASE_STATUSES.includes(row.status)) {
    throw new LantauError('aml_case_decided', `This case was decided: ${row.status}`, {
      status: 409,
      param: 'id',
    });
  }
}

/** Locks an open case for a person's action. */
export async function lockOpenCase(tx: Transaction, id: string, by: CaseActor): Promise<CaseRow> {
  assertPerson(by);
  const row = await findCase(tx, id, 'FOR UPDATE');
  assertOpen(row);
  return row;
}

async function touch(
  tx: Transaction,
  context: RecordsContext,
  id: string,
  set = '',
  values: SqlParam[] = [],
): Promise<CaseRow> {
  const updated = await tx.query<CaseRow>(
    `UPDATE aml_cases SET updated_at = $2, version = version + 1${set} WHERE id = $1 RETURNING ${CASE_COLUMNS}`,
    [id, context.clock.now(), ...values],
  );
  const row = updated.rows[0];
  if (row === undefined) throw new Error('UPDATE … RETURNING returned no row');
  return row;
}

async function audit(
  tx: Transaction,
  context: RecordsContext,
  row: CaseRow,
  action: string,
  by: CaseActor,
  details: Readonly<Record<string, string | number | boolean | null>> = {},
): Promise<void> {
  await appendAudit(tx, context, {
    ...by,
    action,
    programId: row.program_id,
    target: { type: 'aml_case', id: row.id },
    details: { cardholder: row.cardholder_id, ...details },
  });
  await emitEvent(tx, context, { type: action, programId: null, object: caseFromRow(row) });
}

/** Assigns the case to an operator user (checked by the caller to exist), or to nobody. */
export async function assignCase(
  tx: Transaction,
  context: RecordsContext,
  id: string,
  assignee: string | null,
  by: CaseActor,
): Promise<CaseRow> {
  await lockOpenCase(tx, id, by);
  const row = await touch(tx, context, id, ', assignee_id = $3', [assignee]);
  await audit(tx, context, row, 'aml_case.assigned', by, { assignee });
  return row;
}

export interface NewNote {
  readonly kind: 'comment' | 'attachment';
  /** The comment's text, or the attachment's bytes. */
  readonly content: Buffer;
  readonly filename?: string;
  readonly contentType?: string;
}

export interface CaseNote {
  readonly id: string;
  readonly object: 'aml_case_note';
  readonly case_id: string;
  readonly kind: 'comment' | 'attachment';
  readonly author: string;
  readonly created: string;
  readonly size_bytes: number;
  readonly content_type: string | null;
  /** A comment's text; an attachment's file name. */
  readonly text: string;
  /** An attachment's content, base64. */
  readonly content_base64: string | null;
}

interface NoteRow {
  id: string;
  case_id: string;
  kind: 'comment' | 'attachment';
  author_id: string;
  content_type: string | null;
  size_bytes: number;
  content_encrypted: Uint8Array;
  created_at: Date;
}

interface SealedNote {
  readonly text: string;
  readonly content_base64: string | null;
}

/** Adds a comment or an attachment, encrypted, under the analyst's name. */
export async function addNote(
  tx: Transaction,
  context: CaseContext,
  id: string,
  note: NewNote,
  by: CaseActor,
): Promise<CaseNote> {
  await lockOpenCase(tx, id, by);
  if (note.kind === 'comment') {
    const text = note.content.toString('utf8').trim();
    if (text.length === 0 || text.length > COMMENT_LENGTH_MAX) {
      throw invalidRequest(
        'comment_invalid',
        `A comment is 1 to ${String(COMMENT_LENGTH_MAX)} characters`,
        'body',
      );
    }
  } else if (note.content.length === 0 || note.content.length > ATTACHMENT_BYTES_MAX) {
    throw invalidRequest(
      'attachment_invalid',
      `An attachment is 1 byte to ${String(ATTACHMENT_BYTES_MAX)} bytes`,
      'content_base64',
    );
  }
  const created = await insertNote(tx, context, id, note, by);
  const updated = await touch(tx, context, id);
  await audit(
    tx,
    context,
    updated,
    note.kind === 'comment' ? 'aml_case.commented' : 'aml_case.attached',
    by,
    {
      note: created.id,
      size_bytes: note.content.length,
    },
  );
  return created;
}

async function insertNote(
  tx: Transaction,
  context: CaseContext,
  id: string,
  note: NewNote,
  by: CaseActor,
): Promise<CaseNote> {
  const noteId = context.ids(NOTE_PREFIX);
  const sealed: SealedNote =
    note.kind === 'comment'
      ? { text: note.content.toString('utf8').trim(), content_base64: null }
      : { text: note.filename ?? 'attachment', content_base64: note.content.toString('base64') };
  const inserted = await tx.query<NoteRow>(
    `INSERT INTO aml_case_notes (id, case_id, kind, author_id, content_type, size_bytes, content_encrypted, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [
      noteId,
      id,
      note.kind,
      by.actor.id,
      note.contentType ?? null,
      note.content.length,
      context.sealer.seal(NOTE_CONTENT, noteId, JSON.stringify(sealed)),
      context.clock.now(),
    ],
  );
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  return noteFromRow(row, sealed);
}

function noteFromRow(row: NoteRow, sealed: SealedNote): CaseNote {
  return {
    id: row.id,
    object: 'aml_case_note',
    case_id: row.case_id,
    kind: row.kind,
    author: row.author_id,
    created: row.created_at.toISOString(),
    size_bytes: row.size_bytes,
    content_type: row.content_type,
    text: sealed.text,
    content_base64: sealed.content_base64,
  };
}

async function openNote(sealer: CaseSealer, row: NoteRow): Promise<CaseNote> {
  const plain = await sealer.open(NOTE_CONTENT, row.id, row.content_encrypted);
  return noteFromRow(row, JSON.parse(plain) as SealedNote);
}

export async function caseNotes(db: Queryable, sealer: CaseSealer, caseId: string): Promise<CaseNote[]> {
  const found = await db.query<NoteRow>('SELECT * FROM aml_case_notes WHERE case_id = $1 ORDER BY id', [
    caseId,
  ]);
  return Promise.all(found.rows.map((row) => openNote(sealer, row)));
}

export async function caseNote(db: Queryable, sealer: CaseSealer, id: string): Promise<CaseNote> {
  const found = await db.query<NoteRow>('SELECT * FROM aml_case_notes WHERE id = $1', [id]);
  const row = found.rows[0];
  if (row === undefined) throw notFound('aml_case_note', id);
  return openNote(sealer, row);
}

/** Records cards an analyst paused from the case (the pausing itself is issuing's), for the audit and a resume. */
export async function recordPausedCards(
  tx: Transaction,
  context: RecordsContext,
  id: string,
  cardIds: readonly string[],
  by: CaseActor,
): Promise<CaseRow> {
  await lockOpenCase(tx, id, by);
  const row = await touch(tx, context, id, ', paused_card_ids = paused_card_ids || $3::text[]', [
    [...cardIds],
  ]);
  await audit(tx, context, row, 'aml_case.cards_paused', by, { cards: cardIds.length });
  return row;
}

export interface CaseDecisionInput {
  readonly decision: CaseDecision;
  readonly grounds: string;
  /** The case's version the analyst reviewed: a decision on a case that changed since is refused. */
  readonly version: number;
  /** For `reported`: the report package as filed (JSON and XML), to keep encrypted with the case. */
  readonly report?: { readonly json: unknown; readonly xml: string };
}

/** Checks a decision before anything is built for it: grounds, the version, the case open. */
export function checkDecision(row: CaseRow, input: Omit<CaseDecisionInput, 'report'>): string {
  const grounds = writtenGrounds(input.grounds, GROUNDS_LENGTH_MAX);
  assertOpen(row);
  if (row.version !== input.version) {
    throw new LantauError(
      'aml_case_changed',
      `The case changed since version ${String(input.version)} was reviewed (it is at version ${String(row.version)}): review it again`,
      { status: 409, param: 'version' },
    );
  }
  if (input.decision === 'escalated' && row.status === 'escalated') {
    throw invalidRequest('aml_case_escalated', 'This case is escalated already', 'decision');
  }
  return grounds;
}

/**
 * Decides the case: `escalated` keeps it open for a senior decision; `false_positive` and `reported` close it,
 * `reported` with its report package. The grounds are kept encrypted; the audit entry names the analyst.
 */
export async function decideCase(
  tx: Transaction,
  context: CaseContext,
  id: string,
  input: CaseDecisionInput,
  by: CaseActor,
): Promise<CaseRow> {
  const locked = await lockOpenCase(tx, id, by);
  const grounds = checkDecision(locked, input);
  if ((input.decision === 'reported') !== (input.report !== undefined)) {
    throw new Error('a reported decision, and only one, carries its report package');
  }
  const closes = input.decision !== 'escalated';
  if (!closes) {
    // An escalation's grounds stay on the case as a note under the analyst's name: the final decision's grounds,
    // which are the case's, do not overwrite them.
    await insertNote(tx, context, id, { kind: 'comment', content: Buffer.from(`Escalated: ${grounds}`) }, by);
    const row = await touch(tx, context, id, `, status = 'escalated'`);
    await audit(tx, context, row, 'aml_case.escalated', by, { version: input.version });
    return row;
  }
  const now = context.clock.now();
  const row = await touch(
    tx,
    context,
    id,
    `, status = $3, grounds_encrypted = $4, decided_at = $5, decided_by = $6, report_encrypted = $7`,
    [
      input.decision,
      context.sealer.seal(CASE_GROUNDS, id, grounds),
      now,
      by.actor.id,
      input.report === undefined ? null : context.sealer.seal(CASE_REPORT, id, JSON.stringify(input.report)),
    ],
  );
  await audit(tx, context, row, `aml_case.${input.decision}`, by, { version: input.version });
  return row;
}

/** The report package kept with a reported case. */
export async function caseReport(
  sealer: CaseSealer,
  row: CaseRow,
): Promise<{ readonly json: unknown; readonly xml: string } | undefined> {
  if (row.report_encrypted === null) return undefined;
  const plain = await sealer.open(CASE_REPORT, row.id, row.report_encrypted);
  return JSON.parse(plain) as { json: unknown; xml: string };
}
