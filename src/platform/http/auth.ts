import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { LantauError } from '../errors.js';
import { grants, type Scope } from './scopes.js';

/** Who is calling: the platform's operator (the root key or a named operator user) or a programme's API key. */
export type Principal =
  | {
      readonly kind: 'operator';
      readonly keyId: string;
      /** The operator user the key belongs to; null for the root operator key. */
      readonly userId: string | null;
      readonly scopes: ReadonlySet<Scope>;
    }
  | {
      readonly kind: 'program';
      readonly keyId: string;
      readonly programId: string;
      readonly mode: 'sandbox' | 'live';
      readonly scopes: ReadonlySet<Scope>;
    };

/** What a route lets in. Routes under /v1 default to `operator`, so a route that forgets to say is closed. */
export type RouteAccess = 'none' | 'operator' | 'program' | 'any';

export interface Authenticator {
  /** The principal a secret belongs to, or undefined when it belongs to nobody (or was revoked). */
  authenticate(secret: string): Promise<Principal | undefined>;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Tries each authenticator in turn: the operator's, then (later) the programmes'. */
export function chainAuthenticators(...authenticators: readonly Authenticator[]): Authenticator {
  return {
    async authenticate(secret) {
      for (const authenticator of authenticators) {
        const principal = await authenticator.authenticate(secret);
        if (principal !== undefined) return principal;
      }
      return undefined;
    },
  };
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

export async function authenticateRequest(
  request: FastifyRequest,
  access: RouteAccess,
  authenticator: Authenticator,
  scope?: Scope,
): Promise<Principal | undefined> {
  if (access === 'none') return undefined;
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    throw new LantauError('api_key_missing', 'Send your API key as "Authorization: Bearer <key>"', {
      type: 'authentication_error',
      status: 401,
    });
  }
  const match = BEARER.exec(header);
  const principal = match?.[1] === undefined ? undefined : await authenticator.authenticate(match[1]);
  if (principal === undefined) {
    throw new LantauError('api_key_invalid', 'The API key is not valid', {
      type: 'authentication_error',
      status: 401,
    });
  }
  if (access !== 'any' && principal.kind !== access) {
    throw new LantauError(
      'forbidden',
      access === 'operator'
        ? 'This request needs the platform operator key'
        : 'This request needs a programme key',
      { type: 'permission_error', status: 403 },
    );
  }
  if (scope !== undefined && !grants(principal.scopes, scope)) {
    throw new LantauError('scope_missing', `This key does not have the ${scope} permission`, {
      type: 'permission_error',
      status: 403,
    });
  }
  return principal;
}
