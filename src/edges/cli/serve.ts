import { buildApi } from '../http/api.js';
import { apiKeyAuthenticator } from '../../issuing/authenticator.js';
import { ensureOperatorKey } from '../../issuing/operator-key.js';
import { ensureSandbox, type SandboxState } from '../../issuing/sandbox.js';
import { systemClock } from '../../platform/clock.js';
import { migrate } from '../../platform/db/migrate.js';
import { openDatabase } from '../../platform/db/open.js';
import { purgeIdempotencyKeys } from '../../platform/http/idempotency.js';
import { convertForCard } from '../../processing/fx.js';
import { expireAuthorizations } from '../../processing/lifecycle.js';
import { createIdGenerator } from '../../platform/ids.js';
import { createLogger } from '../../platform/logger.js';
import { createMetrics } from '../../platform/metrics.js';
import type { Settings } from './settings.js';
import { openVault } from './vault.js';

const PURGE_INTERVAL_MS = 60 * 60 * 1000;
/** Holds are released within seconds of their timeout; a backlog is worked off in bounded rounds. */
const EXPIRY_INTERVAL_MS = 5_000;
const EXPIRY_BATCH = 500;
const EXPIRY_ROUNDS_MAX = 20;

export interface RunningServer {
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), closes the database. */
  stop(): Promise<void>;
}

export async function serve(
  settings: Settings,
  banner: (lines: readonly string[]) => void,
): Promise<RunningServer> {
  const { config } = settings;
  const logger = createLogger({ level: config.logLevel });
  const metrics = createMetrics();
  const clock = systemClock;
  const ids = createIdGenerator(clock);
  const db = await openDatabase(config, (state) => metrics.dbTransactionRetries.inc({ code: state }));
  if (db.backend === 'pglite') {
    logger.warn(
      { dataDir: config.dataDir },
      'using the embedded PGlite database: fine for development and the sandbox, not for production money (set DATABASE_URL)',
    );
  }
  const applied = await migrate(db);
  if (applied.length > 0)
    logger.info({ migrations: applied.map((m) => `${m.version}_${m.name}`) }, 'migrations applied');

  const { generated } = await ensureOperatorKey(db, { clock, ids }, config.operatorKey);
  const vault = await openVault(
    settings.kek,
    { db, clock, ids },
    { type: 'system', id: 'startup' },
    { onRefreshError: (error) => logger.error({ err: error }, 'data keys could not be reloaded') },
  );
  if (vault.kek.warning !== undefined) logger.warn({ kek: vault.kek.describe() }, vault.kek.warning);
  const issuing = { db, clock, ids, vault: vault.keyring, regions: config.regions };
  const sandbox: SandboxState | undefined =
    settings.sandbox === undefined ? undefined : await ensureSandbox(issuing, settings.sandbox);
  const app = await buildApi(
    { db, clock, ids, logger, metrics, authenticator: apiKeyAuthenticator(db, config.operatorKey) },
    issuing,
    config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl },
  );
  const address = await app.listen({ port: config.port, host: config.host });
  const url = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');

  // The ledger's own timeout, applied by one job: expired holds release their money and their authorizations close.
  const processing = { ...issuing, convert: convertForCard };
  let expiring = false;
  const expiry = setInterval(() => {
    if (expiring) return;
    expiring = true;
    void (async () => {
      try {
        for (let round = 0; round < EXPIRY_ROUNDS_MAX; round += 1) {
          const released = await expireAuthorizations(processing, EXPIRY_BATCH);
          if (released > 0) logger.info({ holds: released }, 'expired holds released');
          if (released < EXPIRY_BATCH) break;
        }
      } catch (error) {
        logger.error({ err: error }, 'authorization expiry failed');
      } finally {
        expiring = false;
      }
    })();
  }, EXPIRY_INTERVAL_MS);
  expiry.unref();

  const purge = setInterval(() => {
    purgeIdempotencyKeys(db, clock).then(
      (count) => count > 0 && logger.info({ count }, 'expired idempotency keys purged'),
      (error: unknown) => logger.error({ err: error }, 'idempotency key purge failed'),
    );
  }, PURGE_INTERVAL_MS);
  purge.unref();

  banner([
    `Lantau is running on ${db.backend === 'pglite' ? `the embedded database in ${config.dataDir}` : 'PostgreSQL'}.`,
    `  API:      ${url}/v1   (OpenAPI: ${url}/v1/openapi.json)`,
    `  Health:   ${url}/healthz  ${url}/readyz  ${url}/metrics`,
    generated === undefined
      ? '  Operator key: as set in LANTAU_OPERATOR_KEY, or as printed on first start.'
      : `  Operator key (shown once, keep it safe): ${generated}`,
    ...sandboxBanner(sandbox),
    'Ready.',
  ]);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(purge);
      clearInterval(expiry);
      const timeout = new Promise<'timeout'>((resolve) =>
        setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs).unref(),
      );
      const closed = await Promise.race([app.close().then(() => 'closed' as const), timeout]);
      if (closed === 'timeout') logger.warn('in-flight requests did not finish before the shutdown timeout');
      await vault.close();
      await db.close();
      logger.info('stopped');
    })();
    return stopping;
  };
  return { url, stop };
}

function sandboxBanner(sandbox: SandboxState | undefined): string[] {
  if (sandbox === undefined) return [];
  return [
    `  Sandbox programme: ${sandbox.program.id} (${sandbox.program.currencies.join(', ')}, BIN ${sandbox.program.bin})`,
    sandbox.generatedKey === undefined
      ? '  Sandbox key: as set in LANTAU_SANDBOX_SECRET_KEY, or as printed on first start.'
      : `  Sandbox key (shown once; set LANTAU_SANDBOX_SECRET_KEY to fix it): ${sandbox.generatedKey}`,
  ];
}
