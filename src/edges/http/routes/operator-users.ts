import { Type } from 'typebox';
import {
  OPERATOR_USER_COLUMNS,
  createOperatorUser,
  disableOperatorUser,
  getOperatorUser,
  operatorUserFromRow,
  rollOperatorUserKey,
} from '../../../issuing/operator-users.js';
import type { IssuingContext } from '../../../issuing/programs.js';
import { OPERATOR_ROLES } from '../../../issuing/roles.js';
import { listPage } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { actorOf } from '../actor.js';

export const OperatorUserSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('operator_user'),
    name: Type.String(),
    email: Type.String(),
    role: StringEnum(OPERATOR_ROLES),
    created: Type.String({ format: 'date-time' }),
    disabled: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    secret: Type.Optional(Type.String({ description: 'Only in the answer that issued it' })),
  },
  { $id: 'OperatorUser', title: 'OperatorUser' },
);

const CreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    email: Type.String({ format: 'email', maxLength: 254 }),
    role: StringEnum(OPERATOR_ROLES),
  },
  { additionalProperties: false },
);
const UserParams = Type.Object({ id: IdString('opu') });

/** The platform's named operators: only the operator side sees them, and only an admin changes them. */
export function registerOperatorUserRoutes(app: LantauApp, context: IssuingContext): void {
  app.post(
    '/v1/operator_users',
    {
      config: { auth: 'operator', scope: 'operator_users:write' },
      schema: {
        summary: 'Create an operator user; the secret is shown in this answer only',
        tags: ['operator_users'],
        body: CreateBody,
        response: { 201: Type.Ref('OperatorUser'), ...errorResponses },
      },
    },
    async (request, reply) => {
      // As for API keys: the secret is in this answer only, never in the answer stored for a replay.
      const issued: { secret?: string } = {};
      const user = await reply.mutate(201, async (tx) => {
        const created = await createOperatorUser(tx, context, request.body, actorOf(request));
        issued.secret = created.secret;
        return created.user;
      });
      return issued.secret === undefined ? user : { ...user, secret: issued.secret };
    },
  );

  app.get(
    '/v1/operator_users',
    {
      config: { auth: 'operator', scope: 'operator_users:read' },
      schema: {
        summary: 'List operator users',
        tags: ['operator_users'],
        querystring: PaginationQuery,
        response: { 200: ListOf(Type.Ref('OperatorUser')), ...errorResponses },
      },
    },
    async (request) =>
      listPage(
        context.db,
        { select: `SELECT ${OPERATOR_USER_COLUMNS} FROM operator_users` },
        request.query,
        '/v1/operator_users',
        operatorUserFromRow,
      ),
  );

  app.get(
    '/v1/operator_users/:id',
    {
      config: { auth: 'operator', scope: 'operator_users:read' },
      schema: {
        summary: 'Retrieve an operator user',
        tags: ['operator_users'],
        params: UserParams,
        response: { 200: Type.Ref('OperatorUser'), ...errorResponses },
      },
    },
    async (request) => getOperatorUser(context.db, request.params.id),
  );

  app.post(
    '/v1/operator_users/:id/roll_key',
    {
      config: { auth: 'operator', scope: 'operator_users:write' },
      schema: {
        summary: 'Issue a new secret; the old one stops working at once',
        tags: ['operator_users'],
        params: UserParams,
        response: { 200: Type.Ref('OperatorUser'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const issued: { secret?: string } = {};
      const user = await reply.mutate(200, async (tx) => {
        const rolled = await rollOperatorUserKey(tx, context, request.params.id, actorOf(request));
        issued.secret = rolled.secret;
        return rolled.user;
      });
      return issued.secret === undefined ? user : { ...user, secret: issued.secret };
    },
  );

  app.post(
    '/v1/operator_users/:id/disable',
    {
      config: { auth: 'operator', scope: 'operator_users:write' },
      schema: {
        summary: 'Disable an operator user and revoke their keys',
        tags: ['operator_users'],
        params: UserParams,
        response: { 200: Type.Ref('OperatorUser'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.mutate(200, (tx) => disableOperatorUser(tx, context, request.params.id, actorOf(request))),
  );
}
