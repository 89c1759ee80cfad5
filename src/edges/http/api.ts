import { createHttpServer, type HttpDependencies, type LantauApp } from '../../platform/http/server.js';
import { EventSchema, registerEventRoutes } from './routes/events.js';
import { registerOperationsRoutes } from './routes/operations.js';

/** The whole HTTP API: the platform's conventions plus every part's routes. */
export async function buildApi(deps: HttpDependencies): Promise<LantauApp> {
  const app = await createHttpServer(deps);
  app.addSchema(EventSchema);
  registerOperationsRoutes(app, deps);
  registerEventRoutes(app, deps);
  return app;
}
