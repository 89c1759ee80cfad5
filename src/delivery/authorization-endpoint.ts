import { performance } from 'node:perf_hooks';
import type { Clock } from '../platform/clock.js';
import type { Database, Queryable, Transaction } from '../platform/db/database.js';
import { invalidRequest, notFound } from '../platform/errors.js';
import type { IdGenerator } from '../platform/ids.js';
import { appendAudit, type AuditActor } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import { bindToRow, type EncryptedColumn } from '../vault/encrypted-columns.js';
import type { Keyring } from '../vault/keyring.js';
import type {
  AuthorizationRequestPayload,
  ProgramAnswer,
  ProgramDecisions,
  ProgramEndpoint,
} from '../processing/program-decision.js';
import { generateSigningSecret, signMessage } from './signing.js';
import { checkEndpointUrl, type WebhookProgramMode } from './webhooks/endpoints.js';

/**
 * The programme's real-time decision endpoint (Lithic's ASA, Stripe's `issuing_authorization.request`): one per
 * programme, with a deadline of at most 2 s (Stripe's and Adyen's) and a stand-in answer for when it is missed.
 */
export const TIMEOUT_MS_MIN = 100;
export const TIMEOUT_MS_MAX = 2_000;
export const STAND_INS = ['approve', 'decline'] as const;
export type StandIn = (typeof STAND_INS)[number];
/** A reply is a small JSON object; anything longer is not one, and is not read further. */
const REPLY_BYTES_MAX = 16 * 1024;
export const REQUEST_EVENT_TYPE = 'authorization.request';

export interface AuthorizationEndpointContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly vault: Keyring;
}

export interface AuthorizationEndpoint {
  readonly object: 'authorization_endpoint';
  readonly program_id: string;
  readonly url: string;
  readonly timeout_ms: number;
  readonly stand_in: StandIn;
  readonly created: string;
  readonly updated: string;
}

interface EndpointRow {
  program_id: string;
  url: string;
  timeout_ms: number;
  stand_in: StandIn;
  secret_encrypted: Uint8Array;
  created_at: Date;
  updated_at: Date;
}

const aad = bindToRow('authorization_endpoints', 'secret_encrypted');

export const AUTHORIZATION_ENDPOINT_SECRET_COLUMN: EncryptedColumn = {
  table: 'authorization_endpoints',
  idColumn: 'program_id',
  column: 'secret_encrypted',
  purpose: 'credential',
  aad,
};

function endpointFromRow(row: EndpointRow): AuthorizationEndpoint {
  return {
    object: 'authorization_endpoint',
    program_id: row.program_id,
    url: row.url,
    timeout_ms: row.timeout_ms,
    stand_in: row.stand_in,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

export interface EndpointSettings {
  readonly url: string;
  readonly timeoutMs: number;
  readonly standIn: StandIn;
  /** A new signing secret; the first PUT always makes one. */
  readonly rotateSecret?: boolean;
}

/**
 * Sets the programme's endpoint (PUT: the whole setting each time). The answer carries the signing secret, kept
 * across updates unless rotated, so a programme can always configure its verifier from the latest answer.
 */
export async function putAuthorizationEndpoint(
  tx: Transaction,
  context: AuthorizationEndpointContext,
  program: { readonly id: string; readonly mode: WebhookProgramMode },
  settings: EndpointSettings,
  by: { readonly actor: AuditActor; readonly requestId?: string },
): Promise<AuthorizationEndpoint & { readonly secret: string }> {
  const url = checkEndpointUrl(settings.url, program.mode);
  if (
    !Number.isInteger(settings.timeoutMs) ||
    settings.timeoutMs < TIMEOUT_MS_MIN ||
    settings.timeoutMs > TIMEOUT_MS_MAX
  ) {
    throw invalidRequest(
      'timeout_invalid',
      `timeout_ms is from ${TIMEOUT_MS_MIN} to ${TIMEOUT_MS_MAX} milliseconds`,
      'timeout_ms',
    );
  }
  const now = context.clock.now();
  const existing = await tx.query<EndpointRow>(
    'SELECT * FROM authorization_endpoints WHERE program_id = $1 FOR UPDATE',
    [program.id],
  );
  const before = existing.rows[0];
  const rotated = before === undefined || settings.rotateSecret === true;
  const secret = rotated
    ? generateSigningSecret()
    : (await context.vault.decrypt(before.secret_encrypted, aad(program.id))).toString('utf8');
  const sealed = rotated
    ? context.vault.encrypt('credential', Buffer.from(secret, 'utf8'), aad(program.id))
    : null;
  const saved = await tx.query<EndpointRow>(
    `INSERT INTO authorization_endpoints (program_id, url, timeout_ms, stand_in, secret_encrypted, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6)
     ON CONFLICT (program_id) DO UPDATE SET url = $2, timeout_ms = $3, stand_in = $4,
       secret_encrypted = COALESCE($7, authorization_endpoints.secret_encrypted), updated_at = $6
     RETURNING *`,
    [program.id, url, settings.timeoutMs, settings.standIn, sealed ?? Buffer.alloc(0), now, sealed],
  );
  const row = saved.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const endpoint = endpointFromRow(row);
  await appendAudit(tx, context, {
    actor: by.actor,
    action: before === undefined ? 'authorization_endpoint.created' : 'authorization_endpoint.updated',
    programId: program.id,
    target: { type: 'authorization_endpoint', id: program.id },
    details: { timeout_ms: endpoint.timeout_ms, stand_in: endpoint.stand_in, secret_rotated: rotated },
    ...(by.requestId === undefined ? {} : { requestId: by.requestId }),
  });
  await emitEvent(tx, context, {
    type: 'authorization_endpoint.updated',
    programId: program.id,
    object: endpoint,
  });
  return { ...endpoint, secret };
}

export async function getAuthorizationEndpoint(
  db: Queryable,
  programId: string,
): Promise<AuthorizationEndpoint> {
  const found = await db.query<EndpointRow>('SELECT * FROM authorization_endpoints WHERE program_id = $1', [
    programId,
  ]);
  const row = found.rows[0];
  if (row === undefined) throw notFound('authorization endpoint', programId);
  return endpointFromRow(row);
}

/** The current signing secret, for an idempotent replay of the PUT that set it. */
export async function authorizationEndpointSecret(
  context: Pick<AuthorizationEndpointContext, 'db' | 'vault'>,
  programId: string,
): Promise<string> {
  const found = await context.db.query<Pick<EndpointRow, 'secret_encrypted'>>(
    'SELECT secret_encrypted FROM authorization_endpoints WHERE program_id = $1',
    [programId],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('authorization endpoint', programId);
  return (await context.vault.decrypt(row.secret_encrypted, aad(programId))).toString('utf8');
}

export async function deleteAuthorizationEndpoint(
  tx: Transaction,
  context: AuthorizationEndpointContext,
  programId: string,
  by: { readonly actor: AuditActor; readonly requestId?: string },
): Promise<{
  readonly object: 'authorization_endpoint';
  readonly program_id: string;
  readonly deleted: true;
}> {
  const removed = await tx.query('DELETE FROM authorization_endpoints WHERE program_id = $1', [programId]);
  if (removed.rowCount === 0) throw notFound('authorization endpoint', programId);
  await appendAudit(tx, context, {
    actor: by.actor,
    action: 'authorization_endpoint.deleted',
    programId,
    target: { type: 'authorization_endpoint', id: programId },
    details: {},
    ...(by.requestId === undefined ? {} : { requestId: by.requestId }),
  });
  const gone = { object: 'authorization_endpoint', program_id: programId, deleted: true } as const;
  await emitEvent(tx, context, { type: 'authorization_endpoint.deleted', programId, object: gone });
  return gone;
}

interface HttpEndpoint extends ProgramEndpoint {
  readonly url: string;
  readonly timeoutMs: number;
  readonly secret: string;
}

function isHttpEndpoint(endpoint: ProgramEndpoint): endpoint is HttpEndpoint {
  return 'url' in endpoint && 'secret' in endpoint && 'timeoutMs' in endpoint;
}

/** Reads at most `max` bytes of a body; undefined when it is longer. */
async function boundedText(response: Response, max: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    // Leaving the loop cancels the stream, so the rest is never read.
    if (size > max) return undefined;
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `{ "approved": bool, "amount"?: int }` and nothing else that matters; anything other is an unusable reply. */
function parseReply(text: string): { approved: boolean; amount?: number } | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'the reply is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return 'the reply is not an object';
  const reply = parsed as Record<string, unknown>;
  if (typeof reply.approved !== 'boolean') return 'the reply has no boolean "approved"';
  if (reply.amount === undefined || reply.amount === null) return { approved: reply.approved };
  if (typeof reply.amount !== 'number') return '"amount" is not a number';
  return { approved: reply.approved, amount: reply.amount };
}

/**
 * The real-time decision over HTTP: the request is a signed event (Standard Webhooks) whose object is the
 * authorization as Lantau would approve it; the deadline is the endpoint's own `timeout_ms`, counted from the
 * moment the request leaves. Lithic re-sends and so may the network: the programme's endpoint must be idempotent on
 * the authorization id.
 */
/** Programmes whose endpoints are kept decrypted; past this the kept set starts again (a bound, not a tuning). */
const KEPT_ENDPOINTS_MAX = 10_000;

export function httpProgramDecisions(context: AuthorizationEndpointContext): ProgramDecisions {
  // Each programme's endpoint with its secret decrypted, by the row's version (xmin: every change writes a new
  // row version), so the hot path neither queries nor decrypts while nothing changed.
  const kept = new Map<string, { readonly version: string; readonly endpoint: HttpEndpoint }>();
  return {
    async endpointFor(programId, version) {
      const known = kept.get(programId);
      if (version !== undefined && known?.version === version) return known.endpoint;
      const found = await context.db.query<EndpointRow & { version: string }>(
        'SELECT *, xmin::text AS version FROM authorization_endpoints WHERE program_id = $1',
        [programId],
      );
      const row = found.rows[0];
      if (row === undefined) {
        kept.delete(programId);
        return undefined;
      }
      const secret = (await context.vault.decrypt(row.secret_encrypted, aad(programId))).toString('utf8');
      const endpoint: HttpEndpoint = {
        programId,
        standIn: row.stand_in,
        url: row.url,
        timeoutMs: row.timeout_ms,
        secret,
      };
      if (kept.size >= KEPT_ENDPOINTS_MAX) kept.clear();
      kept.set(programId, { version: row.version, endpoint });
      return endpoint;
    },

    async ask(endpoint, request: AuthorizationRequestPayload): Promise<ProgramAnswer> {
      if (!isHttpEndpoint(endpoint)) throw new TypeError('not an endpoint this port found');
      const eventId = context.ids('evt');
      const body = JSON.stringify({
        id: eventId,
        type: REQUEST_EVENT_TYPE,
        created: context.clock.now().toISOString(),
        program_id: endpoint.programId,
        data: { object: request },
      });
      const started = performance.now();
      const elapsed = () => performance.now() - started;
      try {
        const response = await fetch(endpoint.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Lantau-Authorization/1',
            ...signMessage(endpoint.secret, eventId, context.clock.now(), body),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(endpoint.timeoutMs),
        });
        if (response.status < 200 || response.status > 299) {
          await response.body?.cancel();
          return { kind: 'error', error: `HTTP ${String(response.status)}`, latencyMs: elapsed() };
        }
        const text = await boundedText(response, REPLY_BYTES_MAX);
        if (text === undefined)
          return { kind: 'error', error: 'the reply is too long', latencyMs: elapsed() };
        const reply = parseReply(text);
        if (typeof reply === 'string') return { kind: 'error', error: reply, latencyMs: elapsed() };
        return { kind: 'answered', ...reply, latencyMs: elapsed() };
      } catch (error) {
        const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
        return timedOut
          ? {
              kind: 'timeout',
              error: `no answer within ${String(endpoint.timeoutMs)} ms`,
              latencyMs: elapsed(),
            }
          : { kind: 'error', error: 'the endpoint could not be reached', latencyMs: elapsed() };
      }
    },
  };
}
