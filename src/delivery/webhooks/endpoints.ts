import { BlockList, isIP } from 'node:net';
import type { Clock } from '../../platform/clock.js';
import type { Database, Queryable, Transaction } from '../../platform/db/database.js';
import { json } from '../../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../../platform/errors.js';
import type { IdGenerator } from '../../platform/ids.js';
import { appendAudit, type AuditActor } from '../../records/audit.js';
import { emitEvent } from '../../records/outbox.js';
import { bindToRow, type EncryptedColumn } from '../../vault/encrypted-columns.js';
import type { Keyring } from '../../vault/keyring.js';
import { generateSigningSecret } from '../signing.js';

export interface WebhookContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly vault: Keyring;
}

/** Who did it and under which request, for the audit log (the same shape as issuing's Actor). */
export interface WebhookActor {
  readonly actor: AuditActor;
  readonly requestId?: string;
}

/** A live programme's endpoints must be reachable over https; the sandbox may use http for local development. */
export type WebhookProgramMode = 'sandbox' | 'live';

export const WEBHOOK_ENDPOINT_STATUSES = ['enabled', 'disabled'] as const;
export type WebhookEndpointStatus = (typeof WEBHOOK_ENDPOINT_STATUSES)[number];

export const URL_LENGTH_MAX = 2048;
export const DESCRIPTION_LENGTH_MAX = 500;
export const ENABLED_EVENTS_MAX = 100;
/** Stripe allows 16 endpoints per account: enough for every real use, and a bound on each event's fan-out. */
export const ENDPOINTS_PER_PROGRAM_MAX = 16;
/** A rotated-out secret may keep signing for at most a day, long enough to deploy the new one everywhere. */
export const PREVIOUS_SECRET_GRACE_MAX_S = 24 * 60 * 60;
export const EVENT_TYPE_PATTERN_SOURCE = '^(\\*|[a-z][a-z_]*(\\.[a-z][a-z_]*)+)$';
const EVENT_TYPE_OR_ALL = new RegExp(EVENT_TYPE_PATTERN_SOURCE);
const EVENT_TYPE_LENGTH_MAX = 100;

/** An endpoint as the API shows it: never its signing secret, which only create and rotate answers carry. */
export interface WebhookEndpoint {
  readonly id: string;
  readonly object: 'webhook_endpoint';
  readonly program_id: string;
  readonly url: string;
  readonly description: string | null;
  readonly enabled_events: readonly string[];
  readonly status: WebhookEndpointStatus;
  readonly metadata: Readonly<Record<string, string>>;
  readonly created: string;
  readonly updated: string;
}

export interface NewWebhookEndpoint {
  readonly url: string;
  readonly enabled_events: readonly string[];
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface WebhookEndpointChanges {
  readonly url?: string;
  readonly enabled_events?: readonly string[];
  readonly description?: string | null;
  readonly status?: WebhookEndpointStatus;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface WebhookEndpointRow {
  id: string;
  program_id: string;
  url: string;
  description: string | null;
  enabled_events: string[];
  status: WebhookEndpointStatus;
  metadata: Record<string, string>;
  created_at: Date;
  updated_at: Date;
}

export const WEBHOOK_ENDPOINT_COLUMNS =
  'id, program_id, url, description, enabled_events, status, metadata, created_at, updated_at';

/** The secrets are bound to their row and column: copied onto another endpoint, they do not decrypt. */
export const endpointSecretAad = bindToRow('webhook_endpoints', 'secret_encrypted');
export const previousEndpointSecretAad = bindToRow('webhook_endpoints', 'previous_secret_encrypted');

/** Registered with the vault so that rotating the `credential` key re-encrypts signing secrets too. */
export const WEBHOOK_SECRET_COLUMN: EncryptedColumn = {
  table: 'webhook_endpoints',
  idColumn: 'id',
  column: 'secret_encrypted',
  purpose: 'credential',
  aad: endpointSecretAad,
};
export const WEBHOOK_PREVIOUS_SECRET_COLUMN: EncryptedColumn = {
  table: 'webhook_endpoints',
  idColumn: 'id',
  column: 'previous_secret_encrypted',
  purpose: 'credential',
  aad: previousEndpointSecretAad,
};

export function webhookEndpointFromRow(row: WebhookEndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    object: 'webhook_endpoint',
    program_id: row.program_id,
    url: row.url,
    description: row.description,
    enabled_events: row.enabled_events,
    status: row.status,
    metadata: row.metadata,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

// Literal addresses a live endpoint may not name: loopback, private, link-local (cloud metadata), CGNAT and
// unspecified. A name that resolves to one is not caught here; that needs egress rules where Lantau runs.
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 127],
  ['::ffff:0:0', 96],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

function isNonPublicHost(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  if (family === 0) return false;
  return NON_PUBLIC.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

// The URL parser would quietly strip or encode these; a stored URL is exactly what is requested.
function hasSpaceOrControl(text: string): boolean {
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code <= 0x20 || code === 0x7f || /\s/.test(char)) return true;
  }
  return false;
}

/** An absolute http(s) URL with no credentials in it; https and a public address in a live programme. */
export function checkEndpointUrl(url: string, mode: WebhookProgramMode): string {
  const bad = (code: string, message: string) => invalidRequest(code, message, 'url');
  if (url.length === 0 || url.length > URL_LENGTH_MAX || hasSpaceOrControl(url)) {
    throw bad(
      'url_invalid',
      `url must be an absolute http or https URL of at most ${URL_LENGTH_MAX} characters`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('url_invalid', 'url must be an absolute http or https URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw bad('url_invalid', 'url must be an absolute http or https URL');
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw bad(
      'url_has_credentials',
      'url may not carry a user name or password: receivers authenticate webhooks by their signature',
    );
  }
  if (mode === 'live' && parsed.protocol !== 'https:') {
    throw bad('url_not_https', 'A live programme’s webhook endpoint must use https');
  }
  if (mode === 'live' && isNonPublicHost(parsed.hostname)) {
    throw bad('url_not_public', 'A live programme’s webhook endpoint must be on a public address');
  }
  return url;
}

/** One or more event types (`card.created`) or `*`, de-duplicated; `*` alone stands for every type. */
export function checkEnabledEvents(types: readonly string[]): string[] {
  if (types.length === 0) {
    throw invalidRequest(
      'enabled_events_empty',
      'enabled_events needs at least one event type, or ["*"] for all',
      'enabled_events',
    );
  }
  if (types.length > ENABLED_EVENTS_MAX) {
    throw invalidRequest(
      'enabled_events_too_many',
      `enabled_events may list at most ${ENABLED_EVENTS_MAX} types`,
      'enabled_events',
    );
  }
  types.forEach((type, index) => {
    if (type.length > EVENT_TYPE_LENGTH_MAX || !EVENT_TYPE_OR_ALL.test(type)) {
      throw invalidRequest(
        'event_type_invalid',
        `${JSON.stringify(type.slice(0, EVENT_TYPE_LENGTH_MAX))} is not an event type such as card.created, nor *`,
        `enabled_events[${index}]`,
      );
    }
  });
  return types.includes('*') ? ['*'] : [...new Set(types)];
}

function checkDescription(description: string | null | undefined): void {
  if (typeof description === 'string' && description.length > DESCRIPTION_LENGTH_MAX) {
    throw invalidRequest(
      'description_too_long',
      `description may have at most ${DESCRIPTION_LENGTH_MAX} characters`,
      'description',
    );
  }
}

function onlyRow<T>(rows: readonly T[]): T {
  const row = rows[0];
  if (row === undefined) throw new Error('INSERT or UPDATE … RETURNING returned no row');
  return row;
}

function sealSecret(context: WebhookContext, id: string, secret: string): Buffer {
  return context.vault.encrypt('credential', Buffer.from(secret, 'utf8'), endpointSecretAad(id));
}

/** Serialises creations per programme, so two at once cannot both pass the limit. */
async function lockProgramEndpoints(tx: Transaction, programId: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext('webhook_endpoints:' || $1))`, [programId]);
}

/**
 * Registers an endpoint for a programme (whose existence and mode the caller has established). The signing
 * secret is returned this once; it is stored only encrypted.
 */
export async function createWebhookEndpoint(
  tx: Transaction,
  context: WebhookContext,
  program: { readonly id: string; readonly mode: WebhookProgramMode },
  input: NewWebhookEndpoint,
  by: WebhookActor,
): Promise<{ readonly endpoint: WebhookEndpoint; readonly secret: string }> {
  const url = checkEndpointUrl(input.url, program.mode);
  const enabledEvents = checkEnabledEvents(input.enabled_events);
  checkDescription(input.description);
  await lockProgramEndpoints(tx, program.id);
  const count = await tx.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM webhook_endpoints WHERE program_id = $1 AND deleted_at IS NULL',
    [program.id],
  );
  if ((count.rows[0]?.n ?? 0) >= ENDPOINTS_PER_PROGRAM_MAX) {
    throw new LantauError(
      'webhook_endpoints_limit',
      `A programme may have at most ${ENDPOINTS_PER_PROGRAM_MAX} webhook endpoints; delete one first`,
    );
  }
  const id = context.ids('we');
  const secret = generateSigningSecret();
  const now = context.clock.now();
  const inserted = await tx.query<WebhookEndpointRow>(
    `INSERT INTO webhook_endpoints (id, program_id, url, description, enabled_events, status, secret_encrypted,
                                    metadata, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5::text[], 'enabled', $6, $7::jsonb, $8, $8)
     RETURNING ${WEBHOOK_ENDPOINT_COLUMNS}`,
    [
      id,
      program.id,
      url,
      input.description ?? null,
      enabledEvents,
      sealSecret(context, id, secret),
      json(input.metadata ?? {}),
      now,
    ],
  );
  const endpoint = webhookEndpointFromRow(onlyRow(inserted.rows));
  await emitEvent(tx, context, { type: 'webhook_endpoint.created', programId: program.id, object: endpoint });
  await appendAudit(tx, context, {
    ...by,
    action: 'webhook_endpoint.created',
    programId: program.id,
    target: { type: 'webhook_endpoint', id },
    details: { enabled_events: enabledEvents.length, all_events: enabledEvents.includes('*') },
  });
  return { endpoint, secret };
}

/** An endpoint that exists, is not deleted and, for a programme key, is its programme's own. */
export async function getWebhookEndpoint(
  db: Queryable,
  id: string,
  programScope: string | undefined,
  options: { readonly lock?: boolean } = {},
): Promise<WebhookEndpoint> {
  const found = await db.query<WebhookEndpointRow>(
    `SELECT ${WEBHOOK_ENDPOINT_COLUMNS} FROM webhook_endpoints
     WHERE id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR program_id = $2)
     ${options.lock === true ? 'FOR UPDATE' : ''}`,
    [id, programScope ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('webhook_endpoint', id);
  return webhookEndpointFromRow(row);
}

/**
 * Fails the endpoint's pending deliveries: a disabled or deleted endpoint is sent nothing more, and what it missed
 * stays visible as failed (and can be redelivered once it is enabled again).
 */
async function failPendingDeliveries(
  tx: Transaction,
  context: WebhookContext,
  endpointId: string,
  reason: string,
): Promise<number> {
  const failed = await tx.query(
    `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $2, updated_at = $3
     WHERE endpoint_id = $1 AND status = 'pending'`,
    [endpointId, reason, context.clock.now()],
  );
  return failed.rowCount;
}

export async function updateWebhookEndpoint(
  tx: Transaction,
  context: WebhookContext,
  id: string,
  programScope: string | undefined,
  programMode: (programId: string) => Promise<WebhookProgramMode>,
  changes: WebhookEndpointChanges,
  by: WebhookActor,
): Promise<WebhookEndpoint> {
  const current = await getWebhookEndpoint(tx, id, programScope, { lock: true });
  const url =
    changes.url === undefined
      ? current.url
      : checkEndpointUrl(changes.url, await programMode(current.program_id));
  const enabledEvents =
    changes.enabled_events === undefined
      ? current.enabled_events
      : checkEnabledEvents(changes.enabled_events);
  checkDescription(changes.description);
  const status = changes.status ?? current.status;
  const updated = await tx.query<WebhookEndpointRow>(
    `UPDATE webhook_endpoints
     SET url = $2, enabled_events = $3::text[], description = $4, status = $5, metadata = $6::jsonb, updated_at = $7
     WHERE id = $1
     RETURNING ${WEBHOOK_ENDPOINT_COLUMNS}`,
    [
      id,
      url,
      [...enabledEvents],
      changes.description === undefined ? current.description : changes.description,
      status,
      json(changes.metadata ?? current.metadata),
      context.clock.now(),
    ],
  );
  const endpoint = webhookEndpointFromRow(onlyRow(updated.rows));
  const failed =
    status === 'disabled' && current.status !== 'disabled'
      ? await failPendingDeliveries(tx, context, id, 'endpoint disabled')
      : 0;
  await emitEvent(tx, context, {
    type: 'webhook_endpoint.updated',
    programId: endpoint.program_id,
    object: endpoint,
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'webhook_endpoint.updated',
    programId: endpoint.program_id,
    target: { type: 'webhook_endpoint', id },
    details: { fields: Object.keys(changes).sort().join(','), status, pending_failed: failed },
  });
  return endpoint;
}

/**
 * Deletes an endpoint as the API sees it. The row stays, without its secrets, so its deliveries keep their
 * history; its pending deliveries fail.
 */
export async function deleteWebhookEndpoint(
  tx: Transaction,
  context: WebhookContext,
  id: string,
  programScope: string | undefined,
  by: WebhookActor,
): Promise<{ readonly id: string; readonly object: 'webhook_endpoint'; readonly deleted: true }> {
  const current = await getWebhookEndpoint(tx, id, programScope, { lock: true });
  const now = context.clock.now();
  await tx.query(
    `UPDATE webhook_endpoints
     SET deleted_at = $2, updated_at = $2, status = 'disabled', secret_encrypted = NULL,
         previous_secret_encrypted = NULL, previous_secret_expires_at = NULL
     WHERE id = $1`,
    [id, now],
  );
  const failed = await failPendingDeliveries(tx, context, id, 'endpoint deleted');
  await emitEvent(tx, context, {
    type: 'webhook_endpoint.deleted',
    programId: current.program_id,
    object: { ...current, status: 'disabled', updated: now.toISOString() },
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'webhook_endpoint.deleted',
    programId: current.program_id,
    target: { type: 'webhook_endpoint', id },
    details: { pending_failed: failed },
  });
  return { id, object: 'webhook_endpoint', deleted: true };
}

/**
 * Replaces the signing secret. With a grace period the previous secret keeps signing too (Standard Webhooks sends
 * several signatures in one header), so receivers can switch over without dropping a message.
 */
export async function rotateWebhookEndpointSecret(
  tx: Transaction,
  context: WebhookContext,
  id: string,
  programScope: string | undefined,
  options: { readonly previousSecretGraceSeconds?: number },
  by: WebhookActor,
): Promise<{ readonly endpoint: WebhookEndpoint; readonly secret: string }> {
  const grace = options.previousSecretGraceSeconds ?? 0;
  if (!Number.isInteger(grace) || grace < 0 || grace > PREVIOUS_SECRET_GRACE_MAX_S) {
    throw invalidRequest(
      'grace_invalid',
      `expire_previous_secret_in must be from 0 to ${PREVIOUS_SECRET_GRACE_MAX_S} seconds`,
      'expire_previous_secret_in',
    );
  }
  await getWebhookEndpoint(tx, id, programScope, { lock: true });
  const now = context.clock.now();
  const secret = generateSigningSecret();
  const previous = await tx.query<{ secret_encrypted: Uint8Array }>(
    'SELECT secret_encrypted FROM webhook_endpoints WHERE id = $1',
    [id],
  );
  const current = onlyRow(previous.rows).secret_encrypted;
  // The old secret moves to the other column, whose associated data differs: it is re-sealed, with keys in memory
  // (a reload inside a transaction would wait on PGlite's one connection).
  const keepPrevious = grace > 0;
  const previousSealed = keepPrevious
    ? context.vault.encrypt(
        'credential',
        context.vault.decryptLoaded(current, endpointSecretAad(id)),
        previousEndpointSecretAad(id),
      )
    : null;
  const updated = await tx.query<WebhookEndpointRow>(
    `UPDATE webhook_endpoints
     SET secret_encrypted = $2, previous_secret_encrypted = $3, previous_secret_expires_at = $4, updated_at = $5
     WHERE id = $1
     RETURNING ${WEBHOOK_ENDPOINT_COLUMNS}`,
    [
      id,
      sealSecret(context, id, secret),
      previousSealed,
      keepPrevious ? new Date(now.getTime() + grace * 1000) : null,
      now,
    ],
  );
  const endpoint = webhookEndpointFromRow(onlyRow(updated.rows));
  await emitEvent(tx, context, {
    type: 'webhook_endpoint.updated',
    programId: endpoint.program_id,
    object: endpoint,
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'webhook_endpoint.secret_rotated',
    programId: endpoint.program_id,
    target: { type: 'webhook_endpoint', id },
    details: { previous_secret_grace_s: grace },
  });
  return { endpoint, secret };
}

/**
 * The endpoint's current signing secret, for the answer to a replayed create or rotate (an Idempotency-Key
 * replay): the stored answer never holds the secret, and a client retrying because it lost the first answer
 * still needs it. Undefined for a deleted endpoint.
 */
export async function currentEndpointSecret(
  context: Pick<WebhookContext, 'db' | 'vault'>,
  id: string,
  programScope: string | undefined,
): Promise<string | undefined> {
  const found = await context.db.query<{ secret_encrypted: Uint8Array | null }>(
    `SELECT secret_encrypted FROM webhook_endpoints
     WHERE id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR program_id = $2)`,
    [id, programScope ?? null],
  );
  const sealed = found.rows[0]?.secret_encrypted;
  if (sealed === undefined || sealed === null) return undefined;
  return (await context.vault.decrypt(sealed, endpointSecretAad(id))).toString('utf8');
}
