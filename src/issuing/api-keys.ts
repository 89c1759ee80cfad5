import { randomBytes } from 'node:crypto';
import type { Queryable, Transaction } from '../platform/db/database.js';
import { invalidRequest, notFound } from '../platform/errors.js';
import { hashSecret } from '../platform/http/auth.js';
import { SCOPE_PATTERN, grants, type Scope } from '../platform/http/scopes.js';
import { appendAudit } from '../records/audit.js';
import type { Actor, IssuingContext, ProgramMode } from './programs.js';
import { getProgram } from './programs.js';

/** The resources a programme key's scopes can name. `cards:reveal` is the one action beyond read and write. */
export const SCOPE_RESOURCES = [
  'programs',
  'api_keys',
  'cardholders',
  'accounts',
  'cards',
  'authorizations',
  'transactions',
  'events',
  'webhook_endpoints',
  'risk',
  'kyc',
  'sanctions',
  'cases',
  'settlements',
  'fx_rates',
] as const;

export function checkScopes(scopes: readonly string[]): void {
  scopes.forEach((scope, index) => {
    const [resource, action] = scope.split(':');
    const known =
      SCOPE_PATTERN.test(scope) &&
      (scope === '*' ||
        scope === '*:read' ||
        (action === 'reveal'
          ? scope === 'cards:reveal'
          : (SCOPE_RESOURCES as readonly string[]).includes(resource ?? '')));
    if (!known) {
      throw invalidRequest(
        'scope_invalid',
        `${scope} is not a scope: use resource:read or resource:write (${SCOPE_RESOURCES.join(', ')}), cards:reveal, *:read or *`,
        `scopes[${index}]`,
      );
    }
  });
}

export interface ApiKey {
  readonly id: string;
  readonly object: 'api_key';
  readonly program_id: string;
  readonly name: string | null;
  readonly scopes: readonly Scope[];
  readonly mode: ProgramMode;
  /** The last four characters of the secret, to tell keys apart. */
  readonly last4: string;
  readonly created: string;
  readonly revoked: string | null;
}

interface ApiKeyRow {
  id: string;
  program_id: string;
  name: string | null;
  scopes: string[];
  mode: ProgramMode;
  last4: string;
  created_at: Date;
  revoked_at: Date | null;
}

export const API_KEY_COLUMNS = 'id, program_id, name, scopes, mode, last4, created_at, revoked_at';

export function apiKeyFromRow(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    object: 'api_key',
    program_id: row.program_id,
    name: row.name,
    scopes: row.scopes,
    mode: row.mode,
    last4: row.last4,
    created: row.created_at.toISOString(),
    revoked: row.revoked_at?.toISOString() ?? null,
  };
}

/** Stripe's shape: the mode is in the key, so a test key can never be mistaken for a live one. */
export function generateProgramSecret(mode: ProgramMode): string {
  return `sk_${mode === 'live' ? 'live' : 'test'}_${randomBytes(32).toString('base64url')}`;
}

/** A key may only hand on what it holds: a programme key with `api_keys:write` cannot mint a broader key. */
export function assertCanGrant(granter: ReadonlySet<Scope>, wanted: readonly Scope[]): void {
  for (const scope of wanted) {
    const covered =
      scope === '*'
        ? granter.has('*')
        : scope === '*:read'
          ? granter.has('*') || granter.has('*:read')
          : grants(granter, scope);
    if (!covered) {
      throw invalidRequest(
        'scope_not_grantable',
        `Your key cannot grant ${scope}, which it does not hold`,
        'scopes',
      );
    }
  }
}

/**
 * Creates a programme API key. The secret is returned this once and stored only as its SHA-256; `given` lets the
 * sandbox use a fixed LANTAU_SANDBOX_SECRET_KEY.
 */
export async function createApiKey(
  tx: Transaction,
  context: Pick<IssuingContext, 'clock' | 'ids'>,
  input: { readonly programId: string; readonly name?: string | null; readonly scopes: readonly Scope[] },
  by: Actor,
  given?: string,
): Promise<{ readonly key: ApiKey; readonly secret: string }> {
  checkScopes(input.scopes);
  if (input.scopes.length === 0)
    throw invalidRequest('scopes_empty', 'A key needs at least one scope', 'scopes');
  const program = await getProgram(tx, input.programId);
  const secret = given ?? generateProgramSecret(program.mode);
  const id = context.ids('key');
  const inserted = await tx.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, kind, program_id, key_hash, last4, created_at, name, scopes, mode, created_by)
     VALUES ($1, 'program', $2, $3, $4, $5, $6, $7::text[], $8, $9)
     RETURNING ${API_KEY_COLUMNS}`,
    [
      id,
      program.id,
      hashSecret(secret),
      secret.slice(-4),
      context.clock.now(),
      input.name ?? null,
      [...new Set(input.scopes)],
      program.mode,
      by.actor.id,
    ],
  );
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  await appendAudit(tx, context, {
    ...by,
    action: 'api_key.created',
    programId: program.id,
    target: { type: 'api_key', id },
    details: { scopes: row.scopes.join(' '), mode: program.mode },
  });
  return { key: apiKeyFromRow(row), secret };
}

/** Revokes a key at once; revoking a revoked key changes nothing and returns it as it is. */
export async function revokeApiKey(
  tx: Transaction,
  context: Pick<IssuingContext, 'clock' | 'ids'>,
  programId: string,
  keyId: string,
  by: Actor,
): Promise<ApiKey> {
  const revoked = await tx.query<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = $3
     WHERE id = $1 AND program_id = $2 AND kind = 'program' AND revoked_at IS NULL
     RETURNING ${API_KEY_COLUMNS}`,
    [keyId, programId, context.clock.now()],
  );
  const row = revoked.rows[0];
  if (row === undefined) return getApiKey(tx, programId, keyId);
  await appendAudit(tx, context, {
    ...by,
    action: 'api_key.revoked',
    programId,
    target: { type: 'api_key', id: keyId },
  });
  return apiKeyFromRow(row);
}

export async function getApiKey(db: Queryable, programId: string, keyId: string): Promise<ApiKey> {
  const found = await db.query<ApiKeyRow>(
    `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE id = $1 AND program_id = $2 AND kind = 'program'`,
    [keyId, programId],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('api_key', keyId);
  return apiKeyFromRow(row);
}
