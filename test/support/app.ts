import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { IssuingContext } from '../../src/issuing/programs.js';
import { envKek } from '../../src/vault/kek-env.js';
import { Keyring } from '../../src/vault/keyring.js';
import { Secret } from '../../src/vault/secret.js';
import { buildApi } from '../../src/edges/http/api.js';
import { apiKeyAuthenticator } from '../../src/issuing/authenticator.js';
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
  readonly vault: Keyring;
  readonly issuing: IssuingContext;
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
  const vault = await Keyring.open({
    db,
    kek: envKek(new Secret(randomBytes(32))),
    clock,
    ids,
    refreshIntervalMs: 0,
  });
  const issuing: IssuingContext = { db, clock, ids, vault, regions: ['hk', 'sg'] };
  const app = await buildApi(
    {
      db,
      clock,
      ids,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ collectDefaults: false }),
      authenticator: apiKeyAuthenticator(db, TEST_OPERATOR_KEY),
    },
    issuing,
  );
  const api = {
    app,
    db,
    clock,
    ids,
    vault,
    issuing,
    operatorHeaders: { authorization: `Bearer ${TEST_OPERATOR_KEY}` },
  };
  options.register?.(api);
  await app.ready();
  return {
    ...api,
    close: async () => {
      await app.close();
      vault.close();
      await db.close();
    },
  };
}

type Json = Record<string, unknown>;

/** One request through the app (no socket): its status and its JSON body. */
export async function callJson(
  app: LantauApp,
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  headers: Readonly<Record<string, string>>,
  body?: Json,
): Promise<{ status: number; body: Json }> {
  const response = await app.inject({
    method,
    url,
    headers,
    ...(body === undefined ? {} : { payload: body }),
  });
  return { status: response.statusCode, body: response.json<Json>() };
}

/** The body of an answer that must have `status`; the assertion shows the body when it has not. */
export async function expectStatus(
  response: Promise<{ status: number; body: Json }>,
  status: number,
): Promise<Json> {
  const answer = await response;
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  return answer.body;
}
