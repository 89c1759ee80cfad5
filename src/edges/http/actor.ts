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
