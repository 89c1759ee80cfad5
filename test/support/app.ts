import { buildApi } from '../../src/edges/http/api.js';
import { operatorAuthenticator } from '../../src/issuing/operator-key.js';
import { ManualClock } from '../../src/platform/clock.js';
import { createIdGenerator, type IdGenerator } from '../../src/platform/ids.js';
import type { LantauApp } from '../../src/platform/http/server.js';
import { createLogger } from '../../src/platform/logger.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { openTestDatabase, type TestDatabase } from './database.js';

export const TEST_OPERATOR_KEY = 'lantau_op_test_0123456789abcdefghijklmnopqrstuvwxyz';

export interface TestApi {
  readonly app: LantauApp;
  readonly db: TestDatabase;
  readonly clock: ManualClock;
  readonly ids: IdGenerator;
  readonly operatorHeaders: { readonly authorization: string };
  /** Lets a test add routes before the app is ready. */
  close(): Promise<void>;
}

export async function openTestApi(
  options: { register?: (api: Omit<TestApi, 'close'>) => void } = {},
): Promise<TestApi> {
  const db = await openTestDatabase();
  const clock = new ManualClock('2026-03-01T00:00:00.000Z');
  const ids = createIdGenerator(clock);
  const app = await buildApi({
    db,
    clock,
    ids,
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics({ collectDefaults: false }),
    authenticator: operatorAuthenticator(db, TEST_OPERATOR_KEY),
  });
  const api = { app, db, clock, ids, operatorHeaders: { authorization: `Bearer ${TEST_OPERATOR_KEY}` } };
  options.register?.(api);
  await app.ready();
  return {
    ...api,
    close: async () => {
      await app.close();
      await db.close();
    },
  };
}
