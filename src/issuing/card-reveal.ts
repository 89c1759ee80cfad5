import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../platform/db/database.js';
import { invalidRequest, notFound } from '../platform/errors.js';
import { appendAudit, type AuditActor } from '../records/audit.js';
import { loadCvkPair } from '../vault/cvk-pairs.js';
import { CVV2_SERVICE_CODE, computeCvv } from '../vault/cvv.js';
import { Secret } from '../vault/secret.js';
import { panAad } from './cards.js';
import { expiryYYMM } from './pan.js';
import type { Actor, IssuingContext } from './programs.js';

/** What a reveal shows. It is returned to the caller and never stored, logged or put in an event. */
export interface CardDetails {
  readonly object: 'card_details';
  readonly card_id: string;
  readonly pan: string;
  readonly cvv2: string;
  readonly exp_month: number;
  readonly exp_year: number;
}

export interface RevealSession {
  readonly id: string;
  readonly object: 'card_reveal_session';
  readonly card_id: string;
  /** Open it once, within REVEAL_SESSION_TTL_MS: the page shows the card and the link stops working. */
  readonly url: string;
  readonly expires_at: string;
}

export const REVEAL_SESSION_TTL_MS = 60_000;

interface PanRow {
  id: string;
  program_id: string;
  status: string;
  pan_encrypted: Uint8Array;
  exp_month: number;
  exp_year: number;
}

/** Decrypts the PAN and computes CVV2 from the programme's CVK (DESIGN.md's Visa method, service code 000). */
async function cardDetails(context: IssuingContext, row: PanRow): Promise<CardDetails> {
  const pan = new Secret((await context.vault.decrypt(row.pan_encrypted, panAad(row.id))).toString('ascii'));
  const cvk = await loadCvkPair(context.db, context.vault, row.program_id);
  if (cvk === undefined) throw new Error(`programme ${row.program_id} has no CVK pair`);
  const cvv2 = computeCvv({
    pan: pan.expose(),
    expiryYYMM: expiryYYMM({ month: row.exp_month, year: row.exp_year }),
    serviceCode: CVV2_SERVICE_CODE,
    cvkA: cvk.cvkA,
    cvkB: cvk.cvkB,
  });
  return {
    object: 'card_details',
    card_id: row.id,
    pan: pan.expose(),
    cvv2,
    exp_month: row.exp_month,
    exp_year: row.exp_year,
  };
}

async function panRow(db: Queryable, programId: string, cardId: string): Promise<PanRow> {
  const found = await db.query<PanRow>(
    'SELECT id, program_id, status, pan_encrypted, exp_month, exp_year FROM cards WHERE id = $1 AND program_id = $2',
    [cardId, programId],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('card', cardId);
  if (row.status === 'closed') throw invalidRequest('card_closed', 'A closed card is not revealed', 'id');
  return row;
}

/**
 * Shows a card's number, CVV2 and expiry to a caller holding `cards:reveal` (a separate permission, PCI DSS 7.2),
 * and records that it did. The audit entry commits before the details are returned: no reveal goes unrecorded.
 */
export async function revealCard(
  context: IssuingContext,
  programId: string,
  cardId: string,
  by: Actor,
): Promise<CardDetails> {
  const row = await panRow(context.db, programId, cardId);
  await context.db.transaction((tx) =>
    appendAudit(tx, context, {
      ...by,
      action: 'card.revealed',
      programId,
      target: { type: 'card', id: cardId },
      details: { via: 'api' },
    }),
  );
  return cardDetails(context, row);
}

const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * A single-use link to a page that shows the card, valid for 60 seconds, so a cardholder-facing app can show a card
 * without its servers ever handling the PAN (Lithic's embed and Stripe's Issuing Elements work this way). The
 * programme decides who may see the card (its own step-up); the token is returned once and stored as a hash.
 */
export async function createRevealSession(
  context: IssuingContext,
  programId: string,
  cardId: string,
  options: { readonly baseUrl: string; readonly allowedOrigin?: string },
  by: Actor,
): Promise<RevealSession> {
  await panRow(context.db, programId, cardId);
  const token = randomBytes(32).toString('base64url');
  const id = context.ids('crs');
  const now = context.clock.now();
  const expiresAt = new Date(now.getTime() + REVEAL_SESSION_TTL_MS);
  await context.db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO card_reveal_sessions (id, program_id, card_id, token_hash, allowed_origin, created_by_type,
         created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        id,
        programId,
        cardId,
        hashToken(token),
        options.allowedOrigin ?? null,
        by.actor.type,
        by.actor.id,
        now,
        expiresAt,
      ],
    );
    await appendAudit(tx, context, {
      ...by,
      action: 'card.reveal_session_created',
      programId,
      target: { type: 'card', id: cardId },
      details: { session: id },
    });
  });
  return {
    id,
    object: 'card_reveal_session',
    card_id: cardId,
    url: `${options.baseUrl.replace(/\/$/, '')}/reveal/${token}`,
    expires_at: expiresAt.toISOString(),
  };
}

/**
 * Opens a reveal link: at most once, and only before it expires. Using it and auditing it commit together, before
 * anything is shown. Undefined when the link is unknown, used or expired (the page does not say which).
 */
export async function openRevealSession(
  context: IssuingContext,
  token: string,
): Promise<{ readonly details: CardDetails; readonly allowedOrigin: string | null } | undefined> {
  const now = context.clock.now();
  const opened = await context.db.transaction(async (tx) => {
    const used = await tx.query<{
      id: string;
      program_id: string;
      card_id: string;
      allowed_origin: string | null;
      created_by_type: AuditActor['type'];
      created_by: string;
    }>(
      `UPDATE card_reveal_sessions s SET used_at = $2
       WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
         AND EXISTS (SELECT 1 FROM programs p WHERE p.id = s.program_id AND p.status = 'active')
       RETURNING id, program_id, card_id, allowed_origin, created_by_type, created_by`,
      [hashToken(token), now],
    );
    const session = used.rows[0];
    if (session === undefined) return undefined;
    await appendAudit(tx, context, {
      actor: { type: session.created_by_type, id: session.created_by },
      action: 'card.revealed',
      programId: session.program_id,
      target: { type: 'card', id: session.card_id },
      details: { via: 'reveal_session', session: session.id },
    });
    return session;
  });
  if (opened === undefined) return undefined;
  const row = await context.db.query<PanRow>(
    `SELECT id, program_id, status, pan_encrypted, exp_month, exp_year FROM cards WHERE id = $1 AND status <> 'closed'`,
    [opened.card_id],
  );
  const card = row.rows[0];
  if (card === undefined) return undefined;
  return { details: await cardDetails(context, card), allowedOrigin: opened.allowed_origin };
}
