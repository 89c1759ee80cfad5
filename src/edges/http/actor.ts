import type { FastifyRequest } from 'fastify';
import { assertSameProgram, type Actor } from '../../issuing/programs.js';
import { LantauError, invalidRequest } from '../../platform/errors.js';

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
 * The programme a write is for: a programme key's own (naming another is answered as if it did not exist), or the
 * one an operator names in `program_id`, which the operator must give. `operatorDoes` ends the sentence "The
 * operator …: give program_id".
 */
export function programOfWrite(
  request: FastifyRequest,
  given: string | undefined,
  operatorDoes: string,
): string {
  const scope = programScopeOf(request);
  if (scope !== undefined && given !== undefined) assertSameProgram(scope, given);
  const programId = scope ?? given;
  if (programId === undefined) {
    throw invalidRequest(
      'program_id_required',
      `The operator ${operatorDoes}: give program_id`,
      'program_id',
    );
  }
  return programId;
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
