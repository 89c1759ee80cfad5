import type { Queryable, Transaction } from '../platform/db/database.js';
import { json } from '../platform/db/database.js';
import { invalidRequest, notFound } from '../platform/errors.js';
import { appendAudit } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import { bindToRow, type EncryptedColumn } from '../vault/encrypted-columns.js';
import type { Keyring } from '../vault/keyring.js';
import {
  BLIND_INDEX_DOMAINS,
  PERSONAL_FIELDS,
  blindIndexValues,
  normalizeEmail,
  normalizePersonalData,
  parsePersonalData,
  serializePersonalData,
  type PersonalData,
  type PersonalDataInput,
} from './personal-data.js';
import type { KycStatus } from '../compliance/kyc/status.js';
import type { Actor, IssuingContext } from './programs.js';
import {
  screenCardholder,
  screenedFieldsChanged,
  type ScreeningOutcome,
  type ScreeningStatus,
} from './cardholder-screening.js';
import { normalizeSpendingControls, type SpendingControls } from './spending-controls.js';

export const CARDHOLDER_ID_PREFIX = 'chd';
export const CARDHOLDER_STATUSES = ['active', 'inactive'] as const;
export type CardholderStatus = (typeof CARDHOLDER_STATUSES)[number];
/** Moved only by KYC verifications (compliance/kyc, issuing/kyc.ts); read-only through the cardholder API. */
export { KYC_STATUSES, type KycStatus } from '../compliance/kyc/status.js';

/** The AAD of a cardholder's personal-data ciphertext: its own row, so it cannot be moved to another and open. */
export const cardholderPiiAad = bindToRow('cardholders', 'pii_encrypted');

/** Registered with the vault (edges/cli/vault.ts) so key rotation re-encrypts it and retirement checks it. */
export const CARDHOLDER_PII_COLUMN: EncryptedColumn = {
  table: 'cardholders',
  idColumn: 'id',
  column: 'pii_encrypted',
  purpose: 'pii',
  aad: cardholderPiiAad,
};

/** A cardholder as the API shows it: the personal fields decrypted, everything else from clear columns. */
export interface Cardholder extends PersonalData {
  readonly id: string;
  readonly object: 'cardholder';
  readonly program_id: string;
  readonly kyc_status: KycStatus;
  /** Moved only by sanctions screening (issuing/cardholder-screening.ts) and the decisions on its alerts. */
  readonly screening_status: ScreeningStatus;
  readonly status: CardholderStatus;
  readonly spending_controls: SpendingControls;
  readonly metadata: Readonly<Record<string, string>>;
  readonly created: string;
  readonly updated: string;
}

type PersonalField = (typeof PERSONAL_FIELDS)[number];

/**
 * What `cardholder.*` events carry: the cardholder without its personal fields. The outbox is a table like any
 * other, and personal data is never stored in the clear (the PDPO, and the test that scans every table); a
 * consumer that needs the person reads the cardholder through the API, as with Stripe's thin events. The webhook
 * sender may fill the fields in when it signs a delivery, decrypting at send time.
 */
export type CardholderSummary = Omit<Cardholder, PersonalField>;

export interface NewCardholder extends PersonalDataInput {
  readonly spending_controls?: SpendingControls;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly status?: CardholderStatus;
}

/** Given fields replace the stored ones (`address` as a whole); null clears an optional personal field. */
export interface CardholderChanges extends Partial<PersonalDataInput> {
  readonly spending_controls?: SpendingControls;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly status?: CardholderStatus;
}

export interface CardholderRow {
  id: string;
  program_id: string;
  status: CardholderStatus;
  kyc_status: KycStatus;
  screening_status: ScreeningStatus;
  pii_encrypted: Uint8Array;
  spending_controls: SpendingControls;
  metadata: Record<string, string>;
  created_at: Date;
  updated_at: Date;
}

export const CARDHOLDER_COLUMNS =
  'id, program_id, status, kyc_status, screening_status, pii_encrypted, spending_controls, metadata, created_at, updated_at';

export function cardholderFromRow(row: CardholderRow, personal: PersonalData): Cardholder {
  return {
    id: row.id,
    object: 'cardholder',
    program_id: row.program_id,
    name: personal.name,
    email: personal.email,
    phone_number: personal.phone_number,
    date_of_birth: personal.date_of_birth,
    nationality: personal.nationality,
    occupation: personal.occupation,
    address: personal.address,
    ip_address: personal.ip_address,
    device_id: personal.device_id,
    kyc_status: row.kyc_status,
    screening_status: row.screening_status,
    status: row.status,
    spending_controls: row.spending_controls,
    metadata: row.metadata,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

/** The columns a summary is made of: everything but the encrypted document. */
export const CARDHOLDER_SUMMARY_COLUMNS =
  'id, program_id, status, kyc_status, screening_status, spending_controls, metadata, created_at, updated_at';

/** A summary straight from the row's clear columns, with nothing decrypted (the same object `cardholderSummary` makes). */
export function cardholderSummaryFromRow(row: Omit<CardholderRow, 'pii_encrypted'>): CardholderSummary {
  return {
    id: row.id,
    object: 'cardholder',
    program_id: row.program_id,
    kyc_status: row.kyc_status,
    screening_status: row.screening_status,
    status: row.status,
    spending_controls: row.spending_controls,
    metadata: row.metadata,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

export function cardholderSummary(cardholder: Cardholder): CardholderSummary {
  const summary: Record<string, unknown> = { ...cardholder };
  for (const field of PERSONAL_FIELDS) Reflect.deleteProperty(summary, field);
  return summary as CardholderSummary;
}

/**
 * Decrypts a row with keys already in memory: no query, so it is safe inside a transaction (PGlite's one
 * connection would otherwise wait on the very transaction asking).
 */
export function cardholderFromRowLoaded(vault: Keyring, row: CardholderRow): Cardholder {
  return cardholderFromRow(
    row,
    parsePersonalData(vault.decryptLoaded(row.pii_encrypted, cardholderPiiAad(row.id))),
  );
}

/** Decrypts a row outside a transaction, reloading the keyring first if another process rotated the pii key. */
export async function presentCardholder(vault: Keyring, row: CardholderRow): Promise<Cardholder> {
  return cardholderFromRow(
    row,
    parsePersonalData(await vault.decrypt(row.pii_encrypted, cardholderPiiAad(row.id))),
  );
}

/** The sealed document and its blind indexes, as the row stores them. */
function sealPersonalData(
  vault: Keyring,
  id: string,
  data: PersonalData,
): { ciphertext: Buffer; indexes: (Buffer | null)[] } {
  const values = blindIndexValues(data);
  return {
    ciphertext: vault.encrypt('pii', serializePersonalData(data), cardholderPiiAad(id)),
    indexes: (Object.keys(BLIND_INDEX_DOMAINS) as (keyof typeof BLIND_INDEX_DOMAINS)[]).map((field) => {
      const value = values[field];
      return value === null ? null : vault.blindIndex(value, BLIND_INDEX_DOMAINS[field]);
    }),
  };
}

/** The keyed blind index an email filter compares with `cardholders.email_index`. */
export function emailBlindIndex(vault: Keyring, email: string): Buffer {
  return vault.blindIndex(normalizeEmail(email), BLIND_INDEX_DOMAINS.email);
}

/**
 * Creates a cardholder in the programme, with its event and audit entry, in the caller's transaction. Personal
 * data goes only into the encrypted document and the blind indexes.
 */
export async function createCardholder(
  tx: Transaction,
  context: IssuingContext,
  programId: string,
  input: NewCardholder,
  by: Actor,
): Promise<Cardholder> {
  const now = context.clock.now();
  const personal = normalizePersonalData(input, now);
  const spendingControls = normalizeSpendingControls(input.spending_controls);
  const id = context.ids(CARDHOLDER_ID_PREFIX);
  const sealed = sealPersonalData(context.vault, id, personal);
  const status = input.status ?? 'active';
  const inserted = await tx.query<CardholderRow>(
    `INSERT INTO cardholders (id, program_id, status, kyc_status, pii_encrypted, email_index, phone_index,
       device_index, ip_index, spending_controls, metadata, created_at, updated_at, relationship_ended_at)
     VALUES ($1, $2, $3, 'unverified', $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $11, $12)
     RETURNING ${CARDHOLDER_COLUMNS}`,
    [
      id,
      programId,
      status,
      sealed.ciphertext,
      ...sealed.indexes,
      json(spendingControls),
      json(input.metadata ?? {}),
      now,
      // Created inactive, the relationship has ended as far as retention counts (issuing/retention.ts).
      status === 'inactive' ? now : null,
    ],
  );
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const screened = await screenCardholder(
    tx,
    context,
    {
      ...personal,
      id,
      program_id: programId,
      kyc_status: row.kyc_status,
      screening_status: row.screening_status,
    },
    'cardholder_created',
    by,
  );
  const cardholder = withScreening(cardholderFromRow(row, personal), screened);
  await emitEvent(tx, context, {
    type: 'cardholder.created',
    programId,
    object: cardholderSummary(cardholder),
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'cardholder.created',
    programId,
    target: { type: 'cardholder', id },
    details: { status: cardholder.status, screening_status: cardholder.screening_status },
  });
  return cardholder;
}

function withScreening(cardholder: Cardholder, screened: ScreeningOutcome): Cardholder {
  return { ...cardholder, screening_status: screened.status };
}

/** The row, if it exists and the caller may see it (`programScope` undefined: the operator, who sees all). */
async function findCardholderRow(
  db: Queryable,
  id: string,
  programScope: string | undefined,
  lock = '',
): Promise<(CardholderRow & { purged_at: Date | null }) | undefined> {
  const found = await db.query<CardholderRow & { purged_at: Date | null }>(
    `SELECT ${CARDHOLDER_COLUMNS}, purged_at FROM cardholders
     WHERE id = $1 AND ($2::text IS NULL OR program_id = $2) ${lock}`,
    [id, programScope ?? null],
  );
  return found.rows[0];
}

export async function getCardholder(
  db: Queryable,
  vault: Keyring,
  id: string,
  programScope: string | undefined,
): Promise<Cardholder> {
  const row = await findCardholderRow(db, id, programScope);
  // Another programme's cardholder is answered exactly as a missing one: its existence is not ours to reveal.
  if (row === undefined) throw notFound('cardholder', id);
  return presentCardholder(vault, row);
}

/** What other parts need to attach a wallet or a card to a cardholder, without decrypting anyone. */
export interface CardholderReference {
  readonly id: string;
  readonly program_id: string;
  readonly status: CardholderStatus;
}

/**
 * The cardholder's id, programme and status, its row locked FOR SHARE so it cannot change status while the
 * caller's transaction attaches something to it. Not found (or another programme's): a 404 naming `param`.
 */
export async function lockCardholderReference(
  tx: Transaction,
  id: string,
  programScope: string | undefined,
  param = 'cardholder_id',
): Promise<CardholderReference> {
  const found = await tx.query<CardholderReference>(
    `SELECT id, program_id, status FROM cardholders
     WHERE id = $1 AND ($2::text IS NULL OR program_id = $2) FOR SHARE`,
    [id, programScope ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('cardholder', id, param);
  return row;
}

/**
 * A purged cardholder's personal data is gone (issuing/retention.ts): it is not written again, and they are not
 * made active again, since nobody they could be is known any more. A returning person onboards anew. Their
 * metadata, spending controls and an `inactive` that changes nothing still go through.
 */
function refusePurgedChange(changes: CardholderChanges, personalChanged: boolean): void {
  if (personalChanged || changes.status === 'active') {
    throw invalidRequest(
      'cardholder_purged',
      'This cardholder’s personal data was purged after the retention period: create a new cardholder instead',
      personalChanged ? (PERSONAL_FIELDS.find((field) => changes[field] !== undefined) ?? 'id') : 'status',
    );
  }
}

function mergePersonal(current: PersonalData, changes: CardholderChanges): PersonalDataInput {
  const merged: Record<string, unknown> = { ...current };
  for (const field of PERSONAL_FIELDS) {
    if (changes[field] !== undefined) merged[field] = changes[field];
  }
  return merged as unknown as PersonalDataInput;
}

/**
 * Changes personal fields, spending controls, metadata or status. The row is locked, its document decrypted,
 * merged, checked as a whole and sealed again (with fresh blind indexes) in one transaction with its event.
 */
export async function updateCardholder(
  tx: Transaction,
  context: IssuingContext,
  id: string,
  programScope: string | undefined,
  changes: CardholderChanges,
  by: Actor,
): Promise<Cardholder> {
  const row = await findCardholderRow(tx, id, programScope, 'FOR UPDATE');
  if (row === undefined) throw notFound('cardholder', id);
  const personalChanged = PERSONAL_FIELDS.some((field) => changes[field] !== undefined);
  if (row.purged_at !== null) refusePurgedChange(changes, personalChanged);
  const current = cardholderFromRowLoaded(context.vault, row);
  const now = context.clock.now();
  const personal = personalChanged ? normalizePersonalData(mergePersonal(current, changes), now) : current;
  const spendingControls =
    changes.spending_controls === undefined
      ? current.spending_controls
      : normalizeSpendingControls(changes.spending_controls);
  // Sealed again only when it changed: an unchanged document keeps its ciphertext (and its key version).
  const sealed = personalChanged ? sealPersonalData(context.vault, id, personal) : undefined;
  const updated = await tx.query<CardholderRow>(
    `UPDATE cardholders SET status = $2, spending_controls = $3::jsonb, metadata = $4::jsonb, updated_at = $5,
       -- The retention clock (issuing/retention.ts): starts when the cardholder becomes inactive, stops if they
       -- come back. A row made inactive before the column existed takes its last update, no earlier than the truth.
       relationship_ended_at = CASE WHEN $2::text = 'active' THEN NULL
                                    WHEN status = 'active' THEN $5
                                    ELSE coalesce(relationship_ended_at, updated_at) END,
       pii_encrypted = coalesce($6, pii_encrypted),
       email_index = CASE WHEN $6::bytea IS NULL THEN email_index ELSE $7 END,
       phone_index = CASE WHEN $6::bytea IS NULL THEN phone_index ELSE $8 END,
       device_index = CASE WHEN $6::bytea IS NULL THEN device_index ELSE $9 END,
       ip_index = CASE WHEN $6::bytea IS NULL THEN ip_index ELSE $10 END
     WHERE id = $1
     RETURNING ${CARDHOLDER_COLUMNS}`,
    [
      id,
      changes.status ?? current.status,
      json(spendingControls),
      json(changes.metadata ?? current.metadata),
      now,
      sealed?.ciphertext ?? null,
      ...(sealed?.indexes ?? [null, null, null, null]),
    ],
  );
  const next = updated.rows[0];
  if (next === undefined) throw new Error('UPDATE … RETURNING returned no row');
  let cardholder = cardholderFromRow(next, personal);
  if (personalChanged && screenedFieldsChanged(current, cardholder)) {
    cardholder = withScreening(
      cardholder,
      await screenCardholder(tx, context, cardholder, 'cardholder_updated', by),
    );
  }
  await emitEvent(tx, context, {
    type: 'cardholder.updated',
    programId: cardholder.program_id,
    object: cardholderSummary(cardholder),
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'cardholder.updated',
    programId: cardholder.program_id,
    target: { type: 'cardholder', id },
    // Names of the fields changed, never their values.
    details: { fields: Object.keys(changes).sort().join(','), status: cardholder.status },
  });
  return cardholder;
}
