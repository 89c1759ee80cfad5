import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyReply, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.js';
import type { Database, Transaction } from '../db/database.js';
import { LantauError } from '../errors.js';
import type { IdGenerator } from '../ids.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { authenticateRequest, type Authenticator, type Principal, type RouteAccess } from './auth.js';
import { handleError, paramName, type ErrorPayload } from './errors.js';
import type { Scope } from './scopes.js';
import { runMutation } from './idempotency.js';
import { ErrorBody } from './schemas.js';
import { validatorCompiler } from './validation.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by authentication on every route that is not `auth: 'none'`. */
    principal: Principal | undefined;
  }
  interface FastifyReply {
    /**
     * Runs a state change in one transaction under the request's `Idempotency-Key` (DESIGN.md), sets the status,
     * and returns the body to send: the first answer again when the key was seen with the same request.
     */
    mutate<T>(
      status: number,
      work: (tx: Transaction) => Promise<T>,
      /** Runs first, outside any transaction, unless the key already has an answer (see runMutation). */
      prepare?: () => Promise<void>,
    ): Promise<T | ErrorPayload>;
  }
  interface FastifyContextConfig {
    auth?: RouteAccess;
    /** The permission the route needs (`cards:write`); checked after authentication. */
    scope?: Scope;
  }
}

export type LantauApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  Logger,
  TypeBoxTypeProvider
>;

export interface HttpDependencies {
  readonly db: Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly authenticator: Authenticator;
  readonly version?: string;
}

const INCOMING_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The principal's scope for idempotency keys: a programme's keys share one space, as a Stripe account's do. */
export function idempotencyScope(principal: Principal | undefined): string {
  if (principal === undefined) return 'anonymous';
  if (principal.kind === 'program') return principal.programId;
  return principal.userId === null ? 'operator' : `operator:${principal.userId}`;
}

/**
 * A Fastify instance with every HTTP convention of DESIGN.md in place: strict validation, the error shape,
 * request ids, bearer authentication (closed by default), idempotent mutations, metrics and the OpenAPI document.
 * Parts register their routes on it; none of them re-implements a convention.
 */
export async function createHttpServer(deps: HttpDependencies): Promise<LantauApp> {
  const app = Fastify({
    loggerInstance: deps.logger,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && INCOMING_REQUEST_ID.test(incoming) ? incoming : deps.ids('req');
    },
    bodyLimit: 1_048_576,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // JSON only: Fastify would otherwise accept text/plain bodies as strings.
  app.removeContentTypeParser('text/plain');
  // An empty body sent as application/json (curl -X POST -H 'content-type: application/json') means "no fields",
  // as it does for Stripe; anything else goes through Fastify's own parser and its prototype-poisoning guards.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    void parseJson(request, text, done);
  });
  app.setErrorHandler((error, request, reply) => handleError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    handleError(
      new LantauError(
        'route_not_found',
        `Unrecognized request URL (${request.method} ${request.url.split('?')[0] ?? ''})`,
        {
          status: 404,
        },
      ),
      request,
      reply,
    ),
  );
  app.addSchema(ErrorBody);

  app.decorateRequest('principal', undefined);
  app.decorateReply('mutate', async function <
    T,
  >(this: FastifyReply, status: number, work: (tx: Transaction) => Promise<T>, prepare?: () => Promise<void>) {
    const key = this.request.headers['idempotency-key'];
    const result = await runMutation(
      deps.db,
      deps.clock,
      {
        principalId: idempotencyScope(this.request.principal),
        idempotencyKey: Array.isArray(key) ? key.join(',') : key,
        method: this.request.method,
        path: this.request.url.split('?')[0] ?? this.request.url,
        body: this.request.body,
        requestId: this.request.id,
      },
      status,
      work,
      prepare,
    );
    if (result.replayed) void this.header('idempotent-replayed', 'true');
    void this.code(result.status);
    return result.body;
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('request-id', request.id);
    const access = request.routeOptions.config.auth ?? (request.url.startsWith('/v1/') ? 'operator' : 'none');
    request.principal = await authenticateRequest(
      request,
      access,
      deps.authenticator,
      request.routeOptions.config.scope,
    );
  });

  // A POST that needs no fields may come with no body at all (as with Stripe): validate it as an empty object.
  app.addHook('preValidation', async (request) => {
    if (request.method === 'POST' && request.body === undefined) request.body = {};
    // PostgreSQL text cannot hold NUL: refuse it here as bad input rather than fail in the database.
    for (const part of [request.body, request.query, request.params]) {
      const at = nulCharacterAt(part, []);
      if (at !== undefined) {
        throw new LantauError('invalid_character', 'Text may not contain the NUL character (U+0000)', {
          param: paramName(`/${at.join('/')}`),
        });
      }
    }
  });

  // Answers carry personal and card data: no shared cache may keep one.
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/v1/') && !reply.hasHeader('cache-control'))
      void reply.header('cache-control', 'no-store');
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    deps.metrics.httpRequestDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Lantau API',
        version: deps.version ?? '0.1.0',
        description:
          'Issuer processing for virtual prepaid cards. JSON under /v1, amounts in minor units, cursor pagination, Idempotency-Key on every POST.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Operator or programme secret key' },
        },
      },
      security: [{ bearer: [] }],
    },
    refResolver: {
      buildLocalReference: (schema, _baseUri, _fragment, index) =>
        typeof schema.$id === 'string' ? schema.$id : `def-${index}`,
    },
  });

  return app;
}

const NESTING_MAX = 32;

/** The path to the first string (or key) holding U+0000, if any; bounded in depth like every walk over input. */
function nulCharacterAt(value: unknown, path: string[]): string[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (value === null || typeof value !== 'object' || path.length > NESTING_MAX) return undefined;
  for (const [key, child] of Object.entries(value)) {
    if (key.includes('\u0000')) return [...path, key.split('\u0000').join('')];
    const found = nulCharacterAt(child, [...path, key]);
    if (found !== undefined) return found;
  }
  return undefined;
}
