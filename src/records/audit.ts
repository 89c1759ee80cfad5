import { createHash } from 'node:crypto';
import { canonicalJson } from '../platform/canonical-json.js';
import type { Queryable, Transaction } from '../platform/db/database.js';
import { LantauError } from '../platform/errors.js';
import type { RecordsContext } from './outbox.js';

/**
 * The one audit log: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE) and hash-chained, so an edit
 * made around the trigger by someone with the power to disable it is still found by `lantau audit verify`.
 * Entries hold references (ids, codes, counts), never personal data, so erasing a person leaves the chain whole.
 */
export type AuditDetailValue = string | number | boolean | null;

export interface AuditActor {
  readonly type: 'operator' | 'api_key' | 'user' | 'system' | 'cli';
  readonly id: string;
}

/**
 * Refuses an action that must be a person's (deciding a screening alert, working an AML case) when the actor is a
 * key rather than an operator user: the audit entry must carry a name. `doing` ends "A person …".
 */
export function requirePerson(actor: AuditActor, doing: string): void {
  if (actor.type !== 'user') {
    throw new LantauError(
      'operator_user_required',
      `A person ${doing}: use an operator user’s key, so the audit log carries their name`,
      { type: 'permission_error', status: 403 },
    );
  }
}

/**
 * The written grounds of a person's decision, trimmed: refused when empty or longer than `lengthMax`, as no
 * decision about a person is recorded without its reasons in words.
 */
export function writtenGrounds(grounds: string, lengthMax: number): string {
  const written = grounds.trim();
  if (written.length === 0 || written.length > lengthMax) {
    throw new LantauError(
      'grounds_required',
      `Give the grounds for the decision in words (1 to ${String(lengthMax)} characters)`,
      { param: 'grounds' },
    );
  }
  return written;
}

export interface AuditInput {
  readonly actor: AuditActor;
  /** `resource.verb`, such as `program.created` or `pan.revealed`. */
  readonly action: string;
  readonly programId?: string | null;
  readonly target?: { readonly type: string; readonly id: string };
  readonly requestId?: string;
  readonly details?: Readonly<Record<string, AuditDetailValue>>;
}

export interface AuditEntry {
  readonly seq: number;
  readonly id: string;
  readonly occurred_at: string;
  readonly actor_type: string;
  readonly actor_id: string;
  readonly action: string;
  readonly program_id: string | null;
  readonly target_type: string | null;
  readonly target_id: string | null;
  readonly request_id: string | null;
  readonly details: Readonly<Record<string, AuditDetailValue>>;
  readonly prev_hash: string;
  readonly hash: string;
}

const GENESIS_HASH = Buffer.alloc(32);
/** Serialises appenders: the chain needs each entry to see the one before it. */
const AUDIT_LOCK_KEY = 0x415544495400; // "AUDIT"
const ACTION = /^[a-z][a-z_]*(\.[a-z][a-z_]*)+$/;

type HashedFields = Omit<AuditEntry, 'prev_hash' | 'hash'>;

function entryHash(prevHash: Uint8Array, fields: HashedFields): Buffer {
  return createHash('sha256').update(prevHash).update(canonicalJson(fields)).digest();
}

function checkDetails(details: Readonly<Record<string, AuditDetailValue>>): void {
  for (const [key, value] of Object.entries(details)) {
    const ok =
      value === null ||
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value));
    if (!ok) throw new TypeError(`audit detail ${key} must be a string, finite number, boolean or null`);
  }
}

export async function appendAudit(
  tx: Transaction,
  context: RecordsContext,
  input: AuditInput,
): Promise<AuditEntry> {
  if (!ACTION.test(input.action)) throw new RangeError(`bad audit action ${JSON.stringify(input.action)}`);
  const details = input.details ?? {};
  checkDetails(details);
  await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
  const head = await tx.query<{ seq: number; hash: Uint8Array }>(
    'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
  );
  const previous = head.rows[0];
  const prevHash = previous === undefined ? GENESIS_HASH : Buffer.from(previous.hash);
  const fields: HashedFields = {
    seq: (previous?.seq ?? 0) + 1,
    id: context.ids('audit'),
    occurred_at: context.clock.now().toISOString(),
    actor_type: input.actor.type,
    actor_id: input.actor.id,
    action: input.action,
    program_id: input.programId ?? null,
    target_type: input.target?.type ?? null,
    target_id: input.target?.id ?? null,
    request_id: input.requestId ?? null,
    details,
  };
  const hash = entryHash(prevHash, fields);
  await tx.query(
    `INSERT INTO audit_log (seq, id, occurred_at, actor_type, actor_id, action, program_id, target_type, target_id,
                            request_id, details, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13)`,
    [
      fields.seq,
      fields.id,
      fields.occurred_at,
      fields.actor_type,
      fields.actor_id,
      fields.action,
      fields.program_id,
      fields.target_type,
      fields.target_id,
      fields.request_id,
      JSON.stringify(details),
      prevHash,
      hash,
    ],
  );
  return { ...fields, prev_hash: prevHash.toString('hex'), hash: hash.toString('hex') };
}

interface AuditRow extends Omit<AuditEntry, 'occurred_at' | 'prev_hash' | 'hash'> {
  occurred_at: Date;
  prev_hash: Uint8Array;
  hash: Uint8Array;
}

export function auditEntryFromRow(row: AuditRow): AuditEntry {
  return {
    ...row,
    occurred_at: row.occurred_at.toISOString(),
    prev_hash: Buffer.from(row.prev_hash).toString('hex'),
    hash: Buffer.from(row.hash).toString('hex'),
  };
}

export type AuditBreak = 'hash_mismatch' | 'prev_hash_mismatch' | 'sequence_gap';

export type AuditVerification =
  | { readonly ok: true; readonly entries: number; readonly head: { seq: number; hash: string } | null }
  | {
      readonly ok: false;
      readonly entries: number;
      readonly broken: {
        readonly seq: number;
        readonly id: string;
        readonly reason: AuditBreak;
        readonly message: string;
      };
    };

/**
 * Walks the chain from the first entry in pages. The first entry that does not follow from the one before is
 * named: its content changed (`hash_mismatch`), the entry before it changed or vanished (`prev_hash_mismatch`),
 * or entries are missing (`sequence_gap`). The head hash is returned so it can be anchored elsewhere; that is what
 * catches a truncated tail.
 */
export async function verifyAuditChain(db: Queryable, pageSize = 1_000): Promise<AuditVerification> {
  let prevHash: Buffer = GENESIS_HASH;
  let expectedSeq = 1;
  let entries = 0;
  let head: { seq: number; hash: string } | null = null;
  for (;;) {
    const page = await db.query<AuditRow>(
      `SELECT seq, id, occurred_at, actor_type, actor_id, action, program_id, target_type, target_id, request_id,
              details, prev_hash, hash
       FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2`,
      [expectedSeq, pageSize],
    );
    for (const row of page.rows) {
      const broken = (reason: AuditBreak, message: string): AuditVerification => ({
        ok: false,
        entries,
        broken: { seq: row.seq, id: row.id, reason, message },
      });
      if (row.seq !== expectedSeq) {
        return broken('sequence_gap', `entry ${row.seq} follows ${expectedSeq - 1}: entries are missing`);
      }
      if (!prevHash.equals(Buffer.from(row.prev_hash))) {
        return broken(
          'prev_hash_mismatch',
          `entry ${row.seq} does not follow from entry ${row.seq - 1}: the earlier entry was altered or replaced`,
        );
      }
      const { prev_hash: _prev, hash: _hash, ...fields } = row;
      const expected = entryHash(prevHash, { ...fields, occurred_at: row.occurred_at.toISOString() });
      if (!expected.equals(Buffer.from(row.hash))) {
        return broken('hash_mismatch', `entry ${row.seq} was altered after it was written`);
      }
      prevHash = expected;
      expectedSeq += 1;
      entries += 1;
      head = { seq: row.seq, hash: expected.toString('hex') };
    }
    if (page.rows.length < pageSize) return { ok: true, entries, head };
  }
}
