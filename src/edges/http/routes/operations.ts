import { Type } from 'typebox';
import type { Database } from '../../../platform/db/database.js';
import { migrationStatus } from '../../../platform/db/migrate.js';
import type { LantauApp } from '../../../platform/http/server.js';
import type { Metrics } from '../../../platform/metrics.js';

const Health = Type.Object({ status: Type.Literal('ok') });
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  database: Type.Union([Type.Literal('ok'), Type.Literal('unreachable')]),
  migrations: Type.Union([
    Type.Literal('current'),
    Type.Literal('pending'),
    Type.Literal('changed'),
    Type.Literal('unknown'),
  ]),
});

/** Liveness, readiness, metrics and the OpenAPI document: unauthenticated, for load balancers and scrapers. */
export function registerOperationsRoutes(app: LantauApp, deps: { db: Database; metrics: Metrics }): void {
  app.get(
    '/healthz',
    { config: { auth: 'none' }, schema: { hide: true, response: { 200: Health } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    { config: { auth: 'none' }, schema: { hide: true, response: { 200: Readiness, 503: Readiness } } },
    async (request, reply) => {
      let status: Awaited<ReturnType<typeof migrationStatus>>;
      try {
        status = await migrationStatus(deps.db);
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check could not reach the database');
        return reply.code(503).send({ status: 'not_ready', database: 'unreachable', migrations: 'unknown' });
      }
      const migrations =
        status.changed.length > 0 ? 'changed' : status.pending.length > 0 ? 'pending' : 'current';
      const ready = migrations === 'current';
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not_ready', database: 'ok', migrations });
    },
  );

  app.get('/metrics', { config: { auth: 'none' }, schema: { hide: true } }, async (_request, reply) => {
    void reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/v1/openapi.json', { config: { auth: 'none' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
}
