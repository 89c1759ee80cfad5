import type { IssuingContext } from '../../issuing/programs.js';
import { createHttpServer, type HttpDependencies, type LantauApp } from '../../platform/http/server.js';
import { cardSchemas, registerCardRoutes } from './routes/cards.js';
import { AccountMovementSchema, AccountSchema, registerAccountRoutes } from './routes/accounts.js';
import { CardholderSchema, registerCardholderRoutes } from './routes/cardholders.js';
import { convertForCard } from '../../processing/fx.js';
import { AuthorizationSchema, registerAuthorizationRoutes } from './routes/authorizations.js';
import { EventSchema, registerEventRoutes } from './routes/events.js';
import { FxRateSchema, registerFxRateRoutes } from './routes/fx-rates.js';
import { registerOperationsRoutes } from './routes/operations.js';
import { OperatorUserSchema, registerOperatorUserRoutes } from './routes/operator-users.js';
import { ApiKeySchema, ProgramSchema, registerProgramRoutes } from './routes/programs.js';
import { registerRevealPage } from './routes/reveal-page.js';

export interface ApiOptions {
  /** Where this API is reached from outside (LANTAU_PUBLIC_URL), for links such as card reveal pages. */
  readonly publicUrl?: string;
}

/** The whole HTTP API: the platform's conventions plus every part's routes. */
export async function buildApi(
  deps: HttpDependencies,
  issuing: IssuingContext,
  options: ApiOptions = {},
): Promise<LantauApp> {
  const app = await createHttpServer(deps);
  for (const schema of [
    EventSchema,
    ProgramSchema,
    ApiKeySchema,
    OperatorUserSchema,
    FxRateSchema,
    AuthorizationSchema,
    ...cardSchemas,
  ]) {
    app.addSchema(schema);
  }
  for (const schema of [CardholderSchema, AccountSchema, AccountMovementSchema]) app.addSchema(schema);
  registerOperationsRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerProgramRoutes(app, issuing);
  registerOperatorUserRoutes(app, issuing);
  registerCardholderRoutes(app, issuing);
  registerAccountRoutes(app, issuing);
  registerCardRoutes(app, issuing, options);
  registerRevealPage(app, issuing);
  registerFxRateRoutes(app, issuing);
  registerAuthorizationRoutes(app, { ...issuing, convert: convertForCard });
  return app;
}
