import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../issuing/programs.js';
import { LantauError } from '../../platform/errors.js';

/** The audit log's actor for a request: the person behind an operator user's key, or the key itself. */
export function actorOf(request: FastifyRequest): Actor {
  const principal = request.principal;
  if (principal === undefined) {
    throw new LantauError('api_key_missing', 'This request must be authenticated', {
      type: 'authentication_error',
      status: 401,
    });
  }
  const actor =
    principal.kind === 'program'
      ? { type: 'api_key' as const, id: principal.keyId }
      : principal.userId === null
        ? { type: 'operator' as const, id: principal.keyId }
        : { type: 'user' as const, id: principal.userId };
  return { actor, requestId: request.id };
}

/** The programme a programme key is confined to; undefined for an operator, who sees every programme. */
export function programScopeOf(request: FastifyRequest): string | undefined {
  return request.principal?.kind === 'program' ? request.principal.programId : undefined;
}

/**
 * The programme key a route declared with `auth: 'program'` was called with. Authentication has already refused
 * every other principal with a 403; this only narrows the type (and guards a route that forgot to declare it).
 */
export function programKeyOf(
  request: FastifyRequest,
): Extract<NonNullable<FastifyRequest['principal']>, { kind: 'program' }> {
  const principal = request.principal;
  if (principal?.kind !== 'program') {
    throw new LantauError('program_key_required', 'This request needs the programme’s own API key', {
      type: 'permission_error',
      status: 403,
    });
  }
  return principal;
}
