import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json.js';
import type { Clock } from '../clock.js';
import type { Database, Transaction } from '../db/database.js';
import { LantauError } from '../errors.js';
import { errorPayload } from './errors.js';

/** Stored answers are kept at least this long (Stripe keeps them 24 hours). */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export interface MutationRequest {
  readonly principalId: string;
  readonly idempotencyKey: string | undefined;
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly requestId: string;
}

export interface MutationResult {
  readonly status: number;
  readonly body: unknown;
  readonly replayed: boolean;
}

interface StoredAnswer {
  request_hash: Uint8Array;
  response_status: number;
  response_body: unknown;
}

/** Thrown inside the claiming transaction to roll it back when the key is already taken. */
class KeyTaken extends Error {}

function fingerprint(request: MutationRequest): Buffer {
  return createHash('sha256')
    .update(`${request.method} ${request.path}\n`)
    .update(canonicalJson(request.body ?? null))
    .digest();
}

/**
 * Runs a state change under an `Idempotency-Key`. The key row is inserted in the same transaction as the change
 * and its stored answer, so the answer exists exactly when the change committed; a concurrent request with the
 * same key waits on the key's unique index and then replays. A refusal the change raised (a 4xx) is stored too
 * and replayed, as Stripe does; a failure on our side (5xx) is not, so the client can retry.
 */
export async function runMutation(
  db: Database,
  clock: Clock,
  request: MutationRequest,
  status: number,
  work: (tx: Transaction) => Promise<unknown>,
  /**
   * Work that must happen outside the transaction, before it (asking a programme's real-time endpoint): skipped
   * when the key already has an answer, so a retried request does not ask again.
   */
  prepare?: () => Promise<void>,
): Promise<MutationResult> {
  if (request.idempotencyKey === undefined) {
    await prepare?.();
    return { status, body: await db.transaction(work), replayed: false };
  }
  const key = request.idempotencyKey;
  if (!KEY_PATTERN.test(key)) {
    throw new LantauError(
      'idempotency_key_invalid',
      'Idempotency-Key must be 1 to 255 printable ASCII characters',
      {
        type: 'idempotency_error',
      },
    );
  }
  const hash = fingerprint(request);
  const claim = (tx: Transaction, answerStatus: number, answerBody: unknown) =>
    tx.query(
      `INSERT INTO idempotency_keys
         (principal_id, key, request_method, request_path, request_hash, response_status, response_body, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
       ON CONFLICT (principal_id, key) DO NOTHING`,
      [
        request.principalId,
        key,
        request.method,
        request.path,
        hash,
        answerStatus,
        JSON.stringify(answerBody),
        clock.now(),
      ],
    );

  if (prepare !== undefined) return runPrepared(db, request, hash, status, work, prepare, claim);

  try {
    const body = await db.transaction(async (tx) => {
      // Claim first with a placeholder, so a concurrent twin blocks here rather than doing the work as well.
      const claimed = await claim(tx, status, null);
      if (claimed.rowCount === 0) throw new KeyTaken();
      const answer = await work(tx);
      await tx.query(
        `UPDATE idempotency_keys SET response_body = $3::jsonb WHERE principal_id = $1 AND key = $2`,
        [request.principalId, key, JSON.stringify(answer)],
      );
      return answer;
    });
    return { status, body, replayed: false };
  } catch (error) {
    if (error instanceof KeyTaken) return replay(db, request, hash);
    if (error instanceof LantauError && error.status < 500) {
      const refusal = errorPayload(error, request.requestId);
      const stored = await db.transaction((tx) => claim(tx, error.status, refusal));
      if (stored.rowCount === 0) return replay(db, request, hash);
    }
    throw error;
  }
}

/**
 * A mutation with work outside its transaction (asking a programme's endpoint, for up to 2 s): the key is claimed
 * and committed first, so a twin arriving meanwhile is told the request is in progress rather than repeating that
 * work; the answer fills the claim when the work commits. A failure on our side releases the key for a retry.
 */
async function runPrepared(
  db: Database,
  request: MutationRequest,
  hash: Buffer,
  status: number,
  work: (tx: Transaction) => Promise<unknown>,
  prepare: () => Promise<void>,
  claim: (tx: Transaction, answerStatus: number, answerBody: unknown) => Promise<{ rowCount: number }>,
): Promise<MutationResult> {
  const claimed = await db.transaction((tx) => claim(tx, status, null));
  if (claimed.rowCount === 0) return replay(db, request, hash);
  const answerWith = (tx: Pick<Transaction, 'query'>, answerStatus: number, body: unknown) =>
    tx.query(
      `UPDATE idempotency_keys SET response_status = $3, response_body = $4::jsonb
       WHERE principal_id = $1 AND key = $2`,
      [request.principalId, request.idempotencyKey ?? '', answerStatus, JSON.stringify(body)],
    );
  try {
    await prepare();
    const body = await db.transaction(async (tx) => {
      const answer = await work(tx);
      await answerWith(tx, status, answer);
      return answer;
    });
    return { status, body, replayed: false };
  } catch (error) {
    // The original error is what the caller sees; a failure to record or release the claim (the database is down)
    // leaves a claim that the retention purge removes.
    const settle =
      error instanceof LantauError && error.status < 500
        ? answerWith(db, error.status, errorPayload(error, request.requestId))
        : db.query('DELETE FROM idempotency_keys WHERE principal_id = $1 AND key = $2', [
            request.principalId,
            request.idempotencyKey ?? '',
          ]);
    await settle.catch(() => undefined);
    throw error;
  }
}

async function replay(db: Database, request: MutationRequest, hash: Buffer): Promise<MutationResult> {
  const found = await db.query<StoredAnswer>(
    `SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE principal_id = $1 AND key = $2`,
    [request.principalId, request.idempotencyKey ?? ''],
  );
  const stored = found.rows[0];
  if (stored === undefined) {
    // Purged between our claim attempt and this read: vanishingly rare, and safe to ask for a retry.
    throw new LantauError(
      'idempotency_key_in_use',
      'Retry the request: its Idempotency-Key was being released',
      {
        type: 'idempotency_error',
        status: 409,
      },
    );
  }
  if (!hash.equals(Buffer.from(stored.request_hash))) {
    throw new LantauError(
      'idempotency_key_reused',
      'This Idempotency-Key was already used with a different request; use a new key for a new request',
      { type: 'idempotency_error', status: 409 },
    );
  }
  if (stored.response_body === null) {
    // Claimed by a request whose work outside the transaction is still running (runPrepared).
    throw new LantauError(
      'idempotency_key_in_use',
      'A request with this Idempotency-Key is still in progress: retry in a moment',
      { type: 'idempotency_error', status: 409 },
    );
  }
  return { status: stored.response_status, body: stored.response_body, replayed: true };
}

export async function purgeIdempotencyKeys(db: Database, clock: Clock): Promise<number> {
  const cutoff = new Date(clock.now().getTime() - IDEMPOTENCY_RETENTION_MS);
  const result = await db.query('DELETE FROM idempotency_keys WHERE created_at < $1', [cutoff]);
  return result.rowCount;
}
