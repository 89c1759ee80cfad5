import type { IssuingContext } from '../../issuing/programs.js';
import { createHttpServer, type HttpDependencies, type LantauApp } from '../../platform/http/server.js';
import { EventSchema, registerEventRoutes } from './routes/events.js';
import { registerOperationsRoutes } from './routes/operations.js';
import { OperatorUserSchema, registerOperatorUserRoutes } from './routes/operator-users.js';
import { ApiKeySchema, ProgramSchema, registerProgramRoutes } from './routes/programs.js';

/** The whole HTTP API: the platform's conventions plus every part's routes. */
export async function buildApi(deps: HttpDependencies, issuing: IssuingContext): Promise<LantauApp> {
  const app = await createHttpServer(deps);
  for (const schema of [EventSchema, ProgramSchema, ApiKeySchema, OperatorUserSchema]) app.addSchema(schema);
  registerOperationsRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerProgramRoutes(app, issuing);
  registerOperatorUserRoutes(app, issuing);
  return app;
}
