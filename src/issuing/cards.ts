import type { Queryable, SqlParam, Transaction } from '../platform/db/database.js';
import { UNIQUE_VIOLATION, json, sqlState } from '../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../platform/errors.js';
import { appendAudit } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import { bindToRow, type EncryptedColumn } from '../vault/encrypted-columns.js';
import { caseHold, screeningHold, type ScreeningStatus } from './screening-holds.js';
import { expiryFrom, generatePan } from './pan.js';
import { getProgram, type Actor, type IssuingContext } from './programs.js';
import { normalizeSpendingControls, type SpendingControls } from './spending-controls.js';

export const CARD_TYPES = ['multi_use', 'single_use', 'merchant_locked'] as const;
export type CardType = (typeof CARD_TYPES)[number];
export const CARD_STATUSES = ['active', 'paused', 'closed'] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];
/** Why a card was paused or closed: Stripe's cancellation reasons plus the ones Lantau sets itself. */
export const CARD_STATUS_REASONS = [
  'requested',
  'lost',
  'stolen',
  'damaged',
  'fraud',
  'expired',
  'renewed',
  'single_use_used',
  'compliance',
] as const;
export type CardStatusReason = (typeof CARD_STATUS_REASONS)[number];
/** What a programme may give as a reason; `expired`, `renewed`, `single_use_used` and `compliance` are Lantau's own. */
export const CLIENT_STATUS_REASONS = ['requested', 'lost', 'stolen', 'damaged', 'fraud'] as const;

/** A card as the API shows it: never the PAN (PCI DSS 3.4.1 allows the last four for display). */
export interface Card {
  readonly id: string;
  readonly object: 'card';
  readonly cardholder_id: string;
  readonly account_id: string;
  readonly type: CardType;
  readonly status: CardStatus;
  readonly status_reason: string | null;
  readonly currency: string;
  readonly last4: string;
  readonly exp_month: number;
  readonly exp_year: number;
  readonly spending_controls: SpendingControls;
  readonly memo: string | null;
  readonly metadata: Readonly<Record<string, string>>;
  readonly replaces: string | null;
  readonly replaced_by: string | null;
  readonly created: string;
  readonly updated: string;
}

export interface NewCard {
  readonly cardholder_id: string;
  readonly account_id: string;
  readonly type: CardType;
  readonly currency?: string;
  readonly spending_controls?: SpendingControls;
  readonly memo?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface CardChanges {
  readonly status?: CardStatus;
  readonly status_reason?: CardStatusReason;
  readonly spending_controls?: SpendingControls;
  readonly memo?: string | null;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface CardRow {
  id: string;
  program_id: string;
  cardholder_id: string;
  account_id: string;
  type: CardType;
  status: CardStatus;
  status_reason: string | null;
  currency: string;
  last4: string;
  exp_month: number;
  exp_year: number;
  spending_controls: SpendingControls;
  memo: string | null;
  metadata: Record<string, string>;
  replaces_card_id: string | null;
  replaced_by_card_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export const CARD_COLUMNS = `id, program_id, cardholder_id, account_id, type, status, status_reason, currency, last4,
  exp_month, exp_year, spending_controls, memo, metadata, replaces_card_id, replaced_by_card_id, created_at, updated_at`;

/** The PAN ciphertext is bound to its card: copied onto another row, it does not decrypt. */
export const panAad = bindToRow('cards', 'pan_encrypted');

/** Registered with the vault so that rotating the `pan` key re-encrypts every card and retiring it waits for that. */
export const CARD_PAN_COLUMN: EncryptedColumn = {
  table: 'cards',
  idColumn: 'id',
  column: 'pan_encrypted',
  purpose: 'pan',
  aad: panAad,
};
/** A 1-in-10^9 collision per attempt on a 16-digit PAN: a few attempts are certainty. */
const PAN_ATTEMPTS_MAX = 8;

export function cardFromRow(row: CardRow): Card {
  return {
    id: row.id,
    object: 'card',
    cardholder_id: row.cardholder_id,
    account_id: row.account_id,
    type: row.type,
    status: row.status,
    status_reason: row.status_reason,
    currency: row.currency,
    last4: row.last4,
    exp_month: row.exp_month,
    exp_year: row.exp_year,
    spending_controls: row.spending_controls,
    memo: row.memo,
    metadata: row.metadata,
    replaces: row.replaces_card_id,
    replaced_by: row.replaced_by_card_id,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

interface Owner {
  readonly cardholderId: string;
  readonly accountId: string;
  readonly currency: string;
}

/** The cardholder and wallet a new card draws on: both the programme's, the wallet the cardholder's. */
async function checkOwner(tx: Transaction, programId: string, input: NewCard): Promise<Owner> {
  const holder = await tx.query<{ status: string; screening_status: ScreeningStatus; mode: string }>(
    `SELECT h.status, h.screening_status, p.mode FROM cardholders h JOIN programs p ON p.id = h.program_id
     WHERE h.id = $1 AND h.program_id = $2 FOR SHARE OF h`,
    [input.cardholder_id, programId],
  );
  const holderRow = holder.rows[0];
  if (holderRow === undefined) {
    throw invalidRequest(
      'cardholder_not_found',
      `No such cardholder: '${input.cardholder_id}'`,
      'cardholder_id',
    );
  }
  if (holderRow.status !== 'active') {
    throw invalidRequest(
      'cardholder_inactive',
      'Cards are issued to active cardholders only',
      'cardholder_id',
    );
  }
  const hold =
    screeningHold(holderRow.screening_status, holderRow.mode === 'live', 'Cards are not issued') ??
    (await caseHold(tx, input.cardholder_id, 'Cards are not issued'));
  if (hold !== undefined) throw hold;
  const wallet = await tx.query<{ cardholder_id: string; currency: string; status: string }>(
    'SELECT cardholder_id, currency, status FROM wallets WHERE id = $1 AND program_id = $2 FOR SHARE',
    [input.account_id, programId],
  );
  const walletRow = wallet.rows[0];
  if (walletRow === undefined) {
    throw invalidRequest('account_not_found', `No such account: '${input.account_id}'`, 'account_id');
  }
  if (walletRow.cardholder_id !== input.cardholder_id) {
    throw invalidRequest(
      'account_not_cardholders',
      'The account belongs to another cardholder',
      'account_id',
    );
  }
  if (walletRow.status !== 'active') {
    throw invalidRequest('account_inactive', 'Cards draw on active accounts only', 'account_id');
  }
  if (input.currency !== undefined && input.currency !== walletRow.currency) {
    throw invalidRequest(
      'currency_mismatch',
      `The account holds ${walletRow.currency}; a card on it is in ${walletRow.currency}`,
      'currency',
    );
  }
  return { cardholderId: input.cardholder_id, accountId: input.account_id, currency: walletRow.currency };
}

interface IssueDetails {
  readonly programId: string;
  readonly owner: Owner;
  readonly type: CardType;
  readonly spendingControls: SpendingControls;
  readonly memo: string | null;
  readonly metadata: Readonly<Record<string, string>>;
  readonly replaces: string | null;
}

/** Writes a new card with a fresh PAN and expiry; a PAN already issued (its blind index taken) is drawn again. */
async function issue(tx: Transaction, context: IssuingContext, details: IssueDetails): Promise<Card> {
  const program = await getProgram(tx, details.programId);
  const now = context.clock.now();
  const expiry = expiryFrom(now, program.card_validity_months);
  for (let attempt = 1; attempt <= PAN_ATTEMPTS_MAX; attempt += 1) {
    const id = context.ids('card');
    const pan = generatePan(program.bin, program.pan_length);
    const panBytes = Buffer.from(pan, 'ascii');
    let encrypted: Buffer;
    let index: Buffer;
    try {
      encrypted = context.vault.encrypt('pan', panBytes, panAad(id));
      index = context.vault.blindIndex(pan, 'pan');
    } finally {
      panBytes.fill(0);
    }
    // A savepoint keeps the caller's transaction usable when the unique index refuses a repeated PAN.
    await tx.query('SAVEPOINT issue_card');
    try {
      const inserted = await tx.query<CardRow>(
        `INSERT INTO cards (id, program_id, cardholder_id, account_id, type, status, currency, pan_encrypted, pan_index,
           last4, exp_month, exp_year, spending_controls, memo, metadata, replaces_card_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14::jsonb, $15, $16, $16)
         RETURNING ${CARD_COLUMNS}`,
        [
          id,
          details.programId,
          details.owner.cardholderId,
          details.owner.accountId,
          details.type,
          details.owner.currency,
          encrypted,
          index,
          pan.slice(-4),
          expiry.month,
          expiry.year,
          json(details.spendingControls),
          details.memo,
          json(details.metadata),
          details.replaces,
          now,
        ],
      );
      await tx.query('RELEASE SAVEPOINT issue_card');
      const row = inserted.rows[0];
      if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
      return cardFromRow(row);
    } catch (error) {
      if (sqlState(error) !== UNIQUE_VIOLATION) throw error;
      await tx.query('ROLLBACK TO SAVEPOINT issue_card');
    }
  }
  throw new LantauError(
    'pan_space_exhausted',
    'Could not draw an unused card number; the BIN range may be full',
    {
      status: 503,
      type: 'api_error',
    },
  );
}

/** Issues a virtual card on a cardholder's wallet, with its event and audit entry, in the caller's transaction. */
export async function createCard(
  tx: Transaction,
  context: IssuingContext,
  programId: string,
  input: NewCard,
  by: Actor,
): Promise<Card> {
  const owner = await checkOwner(tx, programId, input);
  const card = await issue(tx, context, {
    programId,
    owner,
    type: input.type,
    spendingControls: normalizeSpendingControls(input.spending_controls),
    memo: input.memo ?? null,
    metadata: input.metadata ?? {},
    replaces: null,
  });
  await emitEvent(tx, context, { type: 'card.created', programId, object: card });
  await appendAudit(tx, context, {
    ...by,
    action: 'card.created',
    programId,
    target: { type: 'card', id: card.id },
    details: { cardholder_id: card.cardholder_id, account_id: card.account_id, type: card.type },
  });
  return card;
}

async function lockCard(tx: Transaction, programId: string, id: string): Promise<CardRow> {
  const found = await tx.query<CardRow>(
    `SELECT ${CARD_COLUMNS} FROM cards WHERE id = $1 AND program_id = $2 FOR UPDATE`,
    [id, programId],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('card', id);
  return row;
}

/**
 * Moves the cards `where` selects (a condition on `cards`, its parameters from $3) for compliance: paused or closed
 * with `status_reason: compliance`, or active again. Sanctions screening and AML cases both pause, resume and
 * close a cardholder's cards this way. Each card changed gets its `card.updated`, in id order.
 */
export async function moveCardsForCompliance(
  tx: Transaction,
  context: IssuingContext,
  programId: string,
  to: 'paused' | 'active' | 'closed',
  where: string,
  params: readonly SqlParam[],
): Promise<Card[]> {
  const moved = await tx.query<CardRow>(
    `UPDATE cards SET status = $1, status_reason = CASE WHEN $1 = 'active' THEN NULL ELSE 'compliance' END,
       closed_at = CASE WHEN $1 = 'closed' THEN $2 ELSE closed_at END, updated_at = $2
     WHERE ${where}
     RETURNING ${CARD_COLUMNS}`,
    [to, context.clock.now(), ...params],
  );
  const cards = moved.rows.map(cardFromRow).sort((a, b) => a.id.localeCompare(b.id));
  for (const card of cards) await emitEvent(tx, context, { type: 'card.updated', programId, object: card });
  return cards;
}

export async function getCard(db: Queryable, programId: string | undefined, id: string): Promise<Card> {
  const found = await db.query<CardRow>(
    `SELECT ${CARD_COLUMNS} FROM cards WHERE id = $1 AND ($2::text IS NULL OR program_id = $2)`,
    [id, programId ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('card', id);
  return cardFromRow(row);
}

/**
 * Pauses, resumes or closes a card and changes its controls, memo and metadata. `active` ⇄ `paused` → `closed`:
 * a closed card is final, and only its metadata and memo may still change.
 */
export async function updateCard(
  tx: Transaction,
  context: IssuingContext,
  programId: string,
  id: string,
  changes: CardChanges,
  by: Actor,
): Promise<Card> {
  const current = await lockCard(tx, programId, id);
  const status = changes.status ?? current.status;
  if (
    current.status === 'closed' &&
    (changes.status !== undefined || changes.spending_controls !== undefined)
  ) {
    throw invalidRequest(
      'card_closed',
      'A closed card is final: it cannot be reopened or have its controls changed; issue a new card',
      changes.status !== undefined ? 'status' : 'spending_controls',
    );
  }
  if (
    current.status === 'paused' &&
    current.status_reason === 'compliance' &&
    changes.status !== undefined &&
    changes.status !== 'closed'
  ) {
    // Nor re-paused with a reason of the programme's, which it could then lift.
    throw invalidRequest(
      'card_compliance_hold',
      'This card was paused for compliance: it resumes when the review is settled, or may be closed',
      'status',
    );
  }
  if (changes.status_reason !== undefined && changes.status === undefined) {
    throw invalidRequest(
      'status_reason_without_status',
      'Give status_reason with a status change',
      'status_reason',
    );
  }
  const statusChanged = status !== current.status;
  const reason =
    status === 'active'
      ? null
      : statusChanged
        ? (changes.status_reason ?? 'requested')
        : (changes.status_reason ?? current.status_reason);
  const now = context.clock.now();
  const updated = await tx.query<CardRow>(
    `UPDATE cards SET status = $3, status_reason = $4, spending_controls = $5::jsonb, memo = $6, metadata = $7::jsonb,
       updated_at = $8, closed_at = CASE WHEN $3 = 'closed' THEN coalesce(closed_at, $8) ELSE NULL END
     WHERE id = $1 AND program_id = $2
     RETURNING ${CARD_COLUMNS}`,
    [
      id,
      programId,
      status,
      reason,
      json(
        changes.spending_controls === undefined
          ? current.spending_controls
          : normalizeSpendingControls(changes.spending_controls),
      ),
      changes.memo === undefined ? current.memo : changes.memo,
      json(changes.metadata ?? current.metadata),
      now,
    ],
  );
  const row = updated.rows[0];
  if (row === undefined) throw new Error('UPDATE … RETURNING returned no row');
  const card = cardFromRow(row);
  await emitEvent(tx, context, { type: 'card.updated', programId, object: card });
  await appendAudit(tx, context, {
    ...by,
    action: statusChanged ? 'card.status_changed' : 'card.updated',
    programId,
    target: { type: 'card', id },
    details: statusChanged
      ? { from: current.status, to: status, reason }
      : { fields: Object.keys(changes).sort().join(',') },
  });
  return card;
}

export const RENEWAL_REASONS = ['expiring', 'lost', 'stolen', 'damaged'] as const;
export type RenewalReason = (typeof RENEWAL_REASONS)[number];

/**
 * Issues a replacement with a new PAN and expiry on the same cardholder, account, type and controls, linked both
 * ways. A card lost, stolen or damaged closes at once; one renewed ahead of its expiry keeps working until the
 * cardholder switches (it expires on its own).
 */
export async function renewCard(
  tx: Transaction,
  context: IssuingContext,
  programId: string,
  id: string,
  reason: RenewalReason,
  by: Actor,
): Promise<Card> {
  // The cardholder before the card, the order screening and the decision lock them in.
  await tx.query(
    `SELECT 1 FROM cardholders WHERE id = (SELECT cardholder_id FROM cards WHERE id = $1 AND program_id = $2)
     FOR SHARE`,
    [id, programId],
  );
  const old = await lockCard(tx, programId, id);
  if (old.status === 'closed') {
    throw invalidRequest('card_closed', 'A closed card cannot be renewed; issue a new card', 'id');
  }
  if (old.replaced_by_card_id !== null) {
    throw invalidRequest(
      'card_already_renewed',
      `This card was already replaced by ${old.replaced_by_card_id}`,
      'id',
    );
  }
  // A replacement is a new card: the cardholder and account must still be able to hold one.
  await checkOwner(tx, programId, {
    cardholder_id: old.cardholder_id,
    account_id: old.account_id,
    type: old.type,
  });
  const replacement = await issue(tx, context, {
    programId,
    owner: { cardholderId: old.cardholder_id, accountId: old.account_id, currency: old.currency },
    type: old.type,
    spendingControls: old.spending_controls,
    memo: old.memo,
    metadata: old.metadata,
    replaces: old.id,
  });
  const closes = reason !== 'expiring';
  const now = context.clock.now();
  let issued = replacement;
  if (old.status === 'paused') {
    // A card paused (for fraud, say) must not come back active by being renewed.
    const paused = await tx.query<CardRow>(
      `UPDATE cards SET status = 'paused', status_reason = $2 WHERE id = $1 RETURNING ${CARD_COLUMNS}`,
      [replacement.id, old.status_reason],
    );
    const row = paused.rows[0];
    if (row !== undefined) issued = cardFromRow(row);
  }
  const updatedOld = await tx.query<CardRow>(
    `UPDATE cards SET replaced_by_card_id = $3, updated_at = $4,
       status = CASE WHEN $5 THEN 'closed' ELSE status END,
       status_reason = CASE WHEN $5 THEN $6 ELSE status_reason END,
       closed_at = CASE WHEN $5 THEN $4 ELSE closed_at END
     WHERE id = $1 AND program_id = $2
     RETURNING ${CARD_COLUMNS}`,
    [old.id, programId, replacement.id, now, closes, reason === 'expiring' ? 'renewed' : reason],
  );
  const oldCard = updatedOld.rows[0];
  if (oldCard === undefined) throw new Error('UPDATE … RETURNING returned no row');
  await emitEvent(tx, context, { type: 'card.created', programId, object: issued });
  await emitEvent(tx, context, { type: 'card.updated', programId, object: cardFromRow(oldCard) });
  await appendAudit(tx, context, {
    ...by,
    action: 'card.renewed',
    programId,
    target: { type: 'card', id: old.id },
    details: { replacement: replacement.id, reason, closed: closes },
  });
  return issued;
}
