import type { IssuingContext } from '../../issuing/programs.js';
import { createHttpServer, type HttpDependencies, type LantauApp } from '../../platform/http/server.js';
import { cardSchemas, registerCardRoutes } from './routes/cards.js';
import { AccountMovementSchema, AccountSchema, registerAccountRoutes } from './routes/accounts.js';
import { CardholderSchema, registerCardholderRoutes } from './routes/cardholders.js';
import { registerAmlRoutes } from './routes/aml.js';
import { registerKycRoutes } from './routes/kyc.js';
import { convertForCard } from '../../processing/fx.js';
import { AuthorizationSchema, registerAuthorizationRoutes } from './routes/authorizations.js';
import { TransactionSchema, registerTransactionRoutes } from './routes/transactions.js';
import {
  AuthorizationEndpointSchema,
  registerAuthorizationEndpointRoutes,
} from './routes/authorization-endpoint.js';
import { httpProgramDecisions } from '../../delivery/authorization-endpoint.js';
import { EventSchema, registerEventRoutes } from './routes/events.js';
import { FxRateSchema, registerFxRateRoutes } from './routes/fx-rates.js';
import { registerOperationsRoutes } from './routes/operations.js';
import { OperatorUserSchema, registerOperatorUserRoutes } from './routes/operator-users.js';
import { ApiKeySchema, ProgramSchema, registerProgramRoutes } from './routes/programs.js';
import { registerRevealPage } from './routes/reveal-page.js';
import { SettlementSchema, registerSettlementRoutes } from './routes/settlements.js';
import { registerRiskRuleRoutes } from './routes/risk-rules.js';
import { registerScreeningRoutes } from './routes/screening.js';
import { registerWebhookEndpointRoutes } from './routes/webhook-endpoints.js';

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
    TransactionSchema,
    SettlementSchema,
    AuthorizationEndpointSchema,
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
  registerKycRoutes(app, issuing);
  registerAccountRoutes(app, issuing);
  registerCardRoutes(app, issuing, options);
  registerRevealPage(app, issuing);
  registerFxRateRoutes(app, issuing);
  const processing = { ...issuing, convert: convertForCard, programDecisions: httpProgramDecisions(issuing) };
  registerAuthorizationRoutes(app, processing);
  registerTransactionRoutes(app, processing);
  registerSettlementRoutes(app, processing);
  registerAuthorizationEndpointRoutes(app, issuing);
  registerWebhookEndpointRoutes(app, issuing);
  registerRiskRuleRoutes(app, issuing);
  registerScreeningRoutes(app, issuing);
  registerAmlRoutes(app, issuing);
  return app;
}
