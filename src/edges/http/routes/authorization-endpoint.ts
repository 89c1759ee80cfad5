import { Type } from 'typebox';
import {
  STAND_INS,
  TIMEOUT_MS_MAX,
  TIMEOUT_MS_MIN,
  authorizationEndpointSecret,
  deleteAuthorizationEndpoint,
  getAuthorizationEndpoint,
  putAuthorizationEndpoint,
  type AuthorizationEndpointContext,
} from '../../../delivery/authorization-endpoint.js';
import { StringEnum, errorResponses } from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { actorOf, programKeyOf } from '../actor.js';

const EndpointFields = {
  object: Type.Literal('authorization_endpoint'),
  program_id: Type.String(),
  url: Type.String(),
  timeout_ms: Type.Integer(),
  stand_in: StringEnum(STAND_INS),
  created: Type.String({ format: 'date-time' }),
  updated: Type.String({ format: 'date-time' }),
};

export const AuthorizationEndpointSchema = Type.Object(EndpointFields, {
  $id: 'AuthorizationEndpoint',
  title: 'AuthorizationEndpoint',
});

/** The programme's real-time decision endpoint: one per programme, set as a whole with PUT. */
export function registerAuthorizationEndpointRoutes(
  app: LantauApp,
  context: AuthorizationEndpointContext,
): void {
  app.put(
    '/v1/authorization_endpoint',
    {
      config: { auth: 'program', scope: 'webhook_endpoints:write' },
      schema: {
        summary:
          'Set the programme’s real-time authorization endpoint; the answer carries its signing secret',
        tags: ['authorization endpoint'],
        body: Type.Object(
          {
            url: Type.String({ minLength: 1, maxLength: 2048 }),
            timeout_ms: Type.Optional(
              Type.Integer({
                minimum: TIMEOUT_MS_MIN,
                maximum: TIMEOUT_MS_MAX,
                description: 'How long Lantau waits for the answer (default 1,500)',
              }),
            ),
            stand_in: Type.Optional(
              StringEnum(STAND_INS, {
                description: 'The answer when the endpoint is late or unusable (default decline)',
              }),
            ),
            rotate_secret: Type.Optional(Type.Boolean({ description: 'Issue a new signing secret' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            ...EndpointFields,
            secret: Type.String({ description: 'whsec_…: verify every request with it (Standard Webhooks)' }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const key = programKeyOf(request);
      const body = request.body;
      // The secret is added to the answer after the mutation, so the idempotency store never keeps it in the clear;
      // a replay shows the current one.
      let secret: string | undefined;
      const answer = await reply.mutate(200, async (tx) => {
        const { secret: issued, ...endpoint } = await putAuthorizationEndpoint(
          tx,
          context,
          { id: key.programId, mode: key.mode },
          {
            url: body.url,
            timeoutMs: body.timeout_ms ?? 1_500,
            standIn: body.stand_in ?? 'decline',
            ...(body.rotate_secret === undefined ? {} : { rotateSecret: body.rotate_secret }),
          },
          actorOf(request),
        );
        secret = issued;
        return endpoint;
      });
      if ('error' in answer) return answer;
      return { ...answer, secret: secret ?? (await authorizationEndpointSecret(context, key.programId)) };
    },
  );

  app.get(
    '/v1/authorization_endpoint',
    {
      config: { auth: 'program', scope: 'webhook_endpoints:read' },
      schema: {
        summary: 'Retrieve the programme’s real-time authorization endpoint',
        tags: ['authorization endpoint'],
        response: { 200: Type.Ref('AuthorizationEndpoint'), ...errorResponses },
      },
    },
    async (request) => getAuthorizationEndpoint(context.db, programKeyOf(request).programId),
  );

  app.delete(
    '/v1/authorization_endpoint',
    {
      config: { auth: 'program', scope: 'webhook_endpoints:write' },
      schema: {
        summary: 'Remove the endpoint: Lantau decides alone again',
        tags: ['authorization endpoint'],
        response: {
          200: Type.Object({
            object: Type.Literal('authorization_endpoint'),
            program_id: Type.String(),
            deleted: Type.Literal(true),
          }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const key = programKeyOf(request);
      return reply.mutate(200, (tx) =>
        deleteAuthorizationEndpoint(tx, context, key.programId, actorOf(request)),
      );
    },
  );
}
