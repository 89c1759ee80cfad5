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
import { riskMemoryFor } from '../../processing/risk-in-decision.js';
import { loadSanctionsAtStart } from '../../compliance/sanctions/load.js';
import { rescreenDue } from '../../issuing/sanctions-rescreen.js';
import { purgeDue } from '../../issuing/retention.js';
import { monitorDue } from '../../compliance/aml/monitor.js';
import { amlDevices } from '../../processing/aml-devices.js';
import { amlRates } from '../../processing/aml-rates.js';
import { SETTLEMENT_GRACE_MS, settleDue } from '../../processing/settlement.js';
import { createWebhookMetrics } from '../../delivery/webhooks/dispatcher.js';
import { runWebhookRound } from '../../delivery/webhooks/worker.js';
import { createIdGenerator } from '../../platform/ids.js';
import { createLogger } from '../../platform/logger.js';
import { createMetrics } from '../../platform/metrics.js';
import type { Settings } from './settings.js';
import { openVault } from './vault.js';
import type { NatsConfig } from '../../platform/config.js';
import { StreamPublisher, startStreamPublishing } from '../../delivery/stream.js';
import { httpProgramDecisions } from '../../delivery/authorization-endpoint.js';
import { startNetworkInterface } from '../iso8583/network/start.js';
import type { Iso8583Server } from '../iso8583/transport/server.js';

const PURGE_INTERVAL_MS = 60 * 60 * 1000;
/** Holds are released within seconds of their timeout; a backlog is worked off in bounded rounds. */
const EXPIRY_INTERVAL_MS = 5_000;
const EXPIRY_BATCH = 500;
const EXPIRY_ROUNDS_MAX = 20;
/** Each programme's day is settled within a minute of its local midnight. */
const SETTLEMENT_INTERVAL_MS = 60_000;
/** Webhooks go out within about a second of their event; each round is bounded (src/delivery/webhooks/worker.ts). */
const WEBHOOK_INTERVAL_MS = 1_000;
/** How far behind another process's merchant and device counts may be. */
const RISK_COUNTER_SYNC_MS = 1_000;
const RESCREEN_INTERVAL_MS = 5_000;
/** Retention counts in years: an hour late is nothing, and the run walks every cardholder. */
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
const AML_MONITOR_INTERVAL_MS = 1_000;

export interface RunningServer {
  readonly url: string;
  /** Where the ISO 8583 interface listens, when ISO8583_PORT is set. */
  readonly iso8583?: { readonly host: string; readonly port: number };
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
  const sanctions = await loadSanctionsAtStart(db, { clock, ids }, config.sanctionsDir);
  for (const line of sanctions.loaded) logger.info({ list: line }, 'sanctions list loaded at start');
  if (sanctions.missing) {
    logger.warn(
      { dir: config.sanctionsDir },
      'no sanctions list is loaded and none was found to load: screening answers 503 until `lantau sanctions load FILE`',
    );
  }
  const app = await buildApi(
    { db, clock, ids, logger, metrics, authenticator: apiKeyAuthenticator(db, config.operatorKey) },
    issuing,
    config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl },
  );
  const address = await app.listen({ port: config.port, host: config.host });
  const url = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');

  const processing = { ...issuing, convert: convertForCard };

  // ISO8583_PORT: card networks' TCP connections, decided by the same engine (and programme endpoints) as the API.
  // Opened before any job starts, so a port that cannot be had stops the start cleanly.
  const iso8583Config = config.iso8583;
  let iso8583: Iso8583Server | undefined;
  if (iso8583Config !== undefined) {
    try {
      iso8583 = await startNetworkInterface({
        context: { ...processing, programDecisions: httpProgramDecisions(issuing) },
        port: iso8583Config.port,
        host: iso8583Config.host,
        ...(settings.iso8583Profile === undefined ? {} : { profile: settings.iso8583Profile }),
        lengthHeader: iso8583Config.lengthHeader,
        connectionsMax: iso8583Config.connectionsMax,
        ...(iso8583Config.allowedPeers === undefined ? {} : { allowedPeers: iso8583Config.allowedPeers }),
        idleTimeoutMs: iso8583Config.idleTimeoutMs,
        registry: metrics.registry,
        logger,
      });
    } catch (error) {
      await app.close();
      await vault.close();
      await db.close();
      throw new Error(
        `the ISO 8583 interface cannot listen on ${iso8583Config.host}:${iso8583Config.port}: ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
  }

  // The ledger's own timeout, applied by one job: expired holds release their money and their authorizations close.
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

  // Daily settlement: every ended local day of every programme and currency, in order; one failing day is logged
  // and retried next round while the others go on.
  let settling = false;
  const settlement = setInterval(() => {
    if (settling) return;
    settling = true;
    settleDue(processing, { graceMs: SETTLEMENT_GRACE_MS })
      .then(
        (result) => {
          for (const made of result.settled) {
            logger.info(
              {
                settlement: made.id,
                program: made.program_id,
                currency: made.currency,
                date: made.settlement_date,
              },
              'day settled',
            );
          }
          for (const failure of result.failed) logger.error({ failure }, 'settlement failed');
        },
        (error: unknown) => logger.error({ err: error }, 'settlement run failed'),
      )
      .finally(() => {
        settling = false;
      });
  }, SETTLEMENT_INTERVAL_MS);
  settlement.unref();

  // Webhooks: fan new outbox events out to endpoints, then send what is due, every second and never two rounds at
  // once. Stopping ends the round after its current batch, so shutdown waits at most one request timeout.
  const webhookContext = { db, clock, ids, vault: vault.keyring, metrics: createWebhookMetrics(metrics) };
  const webhookStop = new AbortController();
  let webhookRound: Promise<void> | undefined;
  const webhooks = setInterval(() => {
    if (webhookRound !== undefined) return;
    webhookRound = runWebhookRound(webhookContext, { signal: webhookStop.signal })
      .then(
        (round) => {
          if (round.attempted > 0) logger.debug(round, 'webhooks sent');
        },
        (error: unknown) => logger.error({ err: error }, 'webhook delivery failed'),
      )
      .finally(() => {
        webhookRound = undefined;
      });
  }, WEBHOOK_INTERVAL_MS);
  webhooks.unref();
  const stopWebhooks = async () => {
    clearInterval(webhooks);
    webhookStop.abort();
    await webhookRound;
  };

  const purge = setInterval(() => {
    purgeIdempotencyKeys(db, clock).then(
      (count) => count > 0 && logger.info({ count }, 'expired idempotency keys purged'),
      (error: unknown) => logger.error({ err: error }, 'idempotency key purge failed'),
    );
  }, PURGE_INTERVAL_MS);
  purge.unref();

  // Risk's merchant and device counters: this process's counts go to the database, and other processes' come
  // back, every second, off the authorization path (processing/risk-in-decision.ts).
  const riskCounters = riskMemoryFor(db).counters;
  const syncRiskCounters = () =>
    riskCounters
      .sync(db, clock.now())
      .catch((error: unknown) => logger.error({ err: error }, 'risk counters could not be synced'));
  const riskSync = setInterval(() => void syncRiskCounters(), RISK_COUNTER_SYNC_MS);
  riskSync.unref();

  // Sanctions re-screening: whenever the latest list versions have not been screened against by everyone yet
  // (after a load by `lantau sanctions load` here or in another process, and after an upgrade that added
  // screening), the cardholders due are screened again, in batches, off the request path (issuing/sanctions-rescreen.ts).
  const rescreenStop = new AbortController();
  let rescreening: Promise<void> | undefined;
  const rescreen = () => {
    if (rescreening !== undefined) return;
    rescreening = rescreenDue(issuing, { signal: rescreenStop.signal })
      .then(
        (progress) => {
          if (progress === undefined) return;
          if (progress.screened > 0) logger.info(progress, 'cardholders re-screened');
          if (progress.failed.length > 0) {
            logger.error({ cardholders: progress.failed }, 'cardholders could not be read for re-screening');
          }
        },
        (error: unknown) => logger.error({ err: error }, 'sanctions re-screen failed'),
      )
      .finally(() => {
        rescreening = undefined;
      });
  };
  rescreen();
  const rescreens = setInterval(rescreen, RESCREEN_INTERVAL_MS);
  rescreens.unref();

  // Retention: personal data purged five years after a cardholder's relationship ended, unless a case, an alert or
  // money in their accounts holds it (issuing/retention.ts). At start and hourly; batches under SKIP LOCKED, so
  // processes share the work, and a stop ends the run after its current batch.
  const retentionStop = new AbortController();
  let retentionRun: Promise<void> | undefined;
  const retain = () => {
    if (retentionRun !== undefined) return;
    retentionRun = purgeDue(issuing, { signal: retentionStop.signal })
      .then(
        (progress) => {
          if (progress.purged > 0) logger.info(progress, 'personal data purged after the retention period');
          if (progress.heldByBalance.length > 0) {
            logger.warn(
              { cardholders: progress.heldByBalance },
              'cardholders due for purge still hold money in their accounts: pay it out, then they are purged',
            );
          }
        },
        (error: unknown) => logger.error({ err: error }, 'retention purge failed'),
      )
      .finally(() => {
        retentionRun = undefined;
      });
  };
  retain();
  const retention = setInterval(retain, RETENTION_INTERVAL_MS);
  retention.unref();

  // AML monitoring: the outbox read in order, every second, and the cardholders it touched evaluated
  // (compliance/aml/monitor.ts). Off the authorization path; a failing batch is retried from the same place.
  let monitoring: Promise<void> | undefined;
  const monitor = setInterval(() => {
    if (monitoring !== undefined) return;
    monitoring = monitorDue({ db, clock, ids, devices: amlDevices, rates: amlRates })
      .then(
        (done) => {
          if (done.alerts > 0) logger.info(done, 'AML alerts raised');
          // A subject with more activity in its lookback than one evaluation reads: patterns older than what was
          // read are not raised (monitor.ts readCapped).
          if (done.capped > 0) logger.warn(done, 'AML evaluations cut short by the activity read cap');
        },
        (error: unknown) => logger.error({ err: error }, 'AML monitoring failed'),
      )
      .finally(() => {
        monitoring = undefined;
      });
  }, AML_MONITOR_INTERVAL_MS);
  monitor.unref();

  // NATS_URL: every outbox event is also published to NATS JetStream. A NATS that is down is retried in the
  // background; the API serves regardless, and the outbox keeps every event until it is published.
  const nats = config.nats;
  const streaming =
    nats === undefined
      ? undefined
      : startStreamPublishing(new StreamPublisher(db, { clock }, { ...nats, metrics, logger }), { logger });

  banner([
    `Lantau is running on ${db.backend === 'pglite' ? `the embedded database in ${config.dataDir}` : 'PostgreSQL'}.`,
    `  API:      ${url}/v1   (OpenAPI: ${url}/v1/openapi.json)`,
    `  Health:   ${url}/healthz  ${url}/readyz  ${url}/metrics`,
    generated === undefined
      ? '  Operator key: as set in LANTAU_OPERATOR_KEY, or as printed on first start.'
      : `  Operator key (shown once, keep it safe): ${generated}`,
    ...sandboxBanner(sandbox),
    ...streamBanner(config.nats),
    ...(iso8583 === undefined
      ? []
      : [
          `  ISO 8583: tcp://${iso8583.host}:${iso8583.port} (${iso8583Config?.profile ?? ''}, ${iso8583Config?.lengthHeader ?? ''} length header)`,
        ]),
    'Ready.',
  ]);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(purge);
      clearInterval(expiry);
      clearInterval(settlement);
      clearInterval(rescreens);
      clearInterval(monitor);
      await monitoring;
      // A re-screen stops after its current batch; the next start goes on from there.
      rescreenStop.abort();
      await rescreening;
      clearInterval(retention);
      retentionStop.abort();
      await retentionRun;
      await stopWebhooks();
      const timeout = new Promise<'timeout'>((resolve) =>
        setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs).unref(),
      );
      // Networks' connections close first: their in-flight answers are written (up to the close deadline).
      await iso8583?.close();
      const closed = await Promise.race([app.close().then(() => 'closed' as const), timeout]);
      if (closed === 'timeout') logger.warn('in-flight requests did not finish before the shutdown timeout');
      await streaming?.stop();
      clearInterval(riskSync);
      await syncRiskCounters();
      await vault.close();
      await db.close();
      logger.info('stopped');
    })();
    return stopping;
  };
  return {
    url,
    stop,
    ...(iso8583 === undefined ? {} : { iso8583: { host: iso8583.host, port: iso8583.port } }),
  };
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

function streamBanner(nats: NatsConfig | undefined): string[] {
  if (nats === undefined) return [];
  return [`  Events:   also published to NATS JetStream ${nats.servers.join(',')} (stream ${nats.stream})`];
}
