import { Command } from 'commander';
import { ConfigError, loadConfig, type Config } from '../../platform/config.js';
import type { Database } from '../../platform/db/database.js';
import { migrate, migrationStatus } from '../../platform/db/migrate.js';
import { openDatabase } from '../../platform/db/open.js';
import { verifyLedger } from '../../ledger/index.js';
import { systemClock } from '../../platform/clock.js';
import { createIdGenerator } from '../../platform/ids.js';
import {
  runSettlement,
  settleDue,
  type Settlement,
  type SettlementContext,
} from '../../processing/settlement.js';
import { getProgram } from '../../issuing/programs.js';
import { verifyAuditChain } from '../../records/audit.js';
import { serve } from './serve.js';
import { loadSettings } from './settings.js';
import { registerKeyCommands } from './keys.js';
import { registerClearingCommands } from './clearing.js';
import { registerSanctionsCommands } from './sanctions.js';
import { registerNetworkCommands } from './network.js';

function orExit<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}

const configOrExit = (): Config => orExit(() => loadConfig());

async function withDatabase<T>(work: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(configOrExit());
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

const program = new Command('lantau')
  .description('Lantau issuer processor: operator commands')
  .showHelpAfterError();

program
  .command('serve', { isDefault: true })
  .description('run the HTTP API (migrates the database first)')
  .action(async () => {
    const server = await serve(
      orExit(() => loadSettings()),
      (lines) => console.log(lines.join('\n')),
    );
    const shutdown = (signal: string) => {
      console.error(`${signal} received: finishing in-flight requests`);
      server.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error('shutdown failed', error);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });

program
  .command('migrate')
  .description('apply pending database migrations, or with --status only list them')
  .option('--status', 'list applied and pending migrations without applying any')
  .action(async (options: { status?: boolean }) => {
    await withDatabase(async (db) => {
      if (options.status === true) {
        const status = await migrationStatus(db);
        console.log(`applied: ${status.applied.join(', ') || 'none'}`);
        console.log(`pending: ${status.pending.map((m) => `${m.version}_${m.name}`).join(', ') || 'none'}`);
        if (status.changed.length > 0) {
          console.log(`changed after being applied: ${status.changed.join(', ')}`);
          process.exitCode = 1;
        }
        return;
      }
      const applied = await migrate(db);
      console.log(
        applied.length === 0
          ? 'database is up to date'
          : `applied ${applied.map((m) => `${String(m.version).padStart(4, '0')}_${m.name}`).join(', ')}`,
      );
    });
  });

const audit = program.command('audit').description('the hash-chained audit log');
audit
  .command('verify')
  .description('check every entry of the audit chain; names the first broken entry and exits 1 if any')
  .action(async () => {
    await withDatabase(async (db) => {
      const result = await verifyAuditChain(db);
      if (result.ok) {
        console.log(`audit log intact: ${result.entries} entries`);
        if (result.head !== null) console.log(`head: entry ${result.head.seq}, hash ${result.head.hash}`);
      } else {
        console.log(`audit log BROKEN after ${result.entries} good entries`);
        console.log(
          `first broken entry: ${result.broken.seq} (${result.broken.id}): ${result.broken.reason}`,
        );
        console.log(result.broken.message);
        process.exitCode = 1;
      }
    });
  });

registerKeyCommands(program, () => orExit(() => loadSettings()));
registerClearingCommands(program, () => orExit(() => loadSettings()));
registerSanctionsCommands(program, withDatabase, () => orExit(() => loadSettings()));
registerNetworkCommands(program);

const ledger = program.command('ledger').description('the double-entry ledger');
ledger
  .command('verify')
  .description(
    'recompute every account from its transfers and check that debits equal credits; exits 1 and names what disagrees',
  )
  .action(async () => {
    await withDatabase(async (db) => {
      const report = await verifyLedger(db);
      for (const totals of report.currencies) {
        console.log(
          `${totals.currency}: ${totals.accounts} accounts, posted ${totals.debitsPosted} debits / ${totals.creditsPosted} credits, pending ${totals.debitsPending} / ${totals.creditsPending}${totals.balanced ? '' : '  UNBALANCED'}`,
        );
      }
      if (report.ok) {
        console.log(`ledger verified: ${report.accounts} accounts, ${report.transfers} transfers`);
        return;
      }
      console.log(`ledger has ${report.problems.length} problem(s):`);
      for (const problem of report.problems) console.log(`  ${problem.subject}: ${problem.problem}`);
      process.exitCode = 1;
    });
  });

const SETTLEMENT_ACTOR = { actor: { type: 'cli' as const, id: 'lantau settlement' } };

function describeSettlement(settlement: Settlement): string {
  return `${settlement.id} ${settlement.program_id} ${settlement.currency} ${settlement.settlement_date}: captures ${settlement.capture_count}/${settlement.capture_amount}, refunds ${settlement.refund_count}/${settlement.refund_amount}, force posts ${settlement.force_post_count}/${settlement.force_post_amount}, shortfall ${settlement.shortfall_amount}, net ${settlement.net_amount} (reconciled with the ledger)`;
}

const settlement = program.command('settlement').description('daily settlement per programme and currency');
settlement
  .command('run')
  .description(
    'settle every ended local day not yet settled (what the server does each minute); with --date, that day only. Exits 1 if any day fails',
  )
  .option('--program <id>', 'only this programme')
  .option('--currency <code>', 'only this currency')
  .option('--date <YYYY-MM-DD>', 'settle this local day (needs --program)')
  .action(async (options: { program?: string; currency?: string; date?: string }) => {
    if (options.date !== undefined && options.program === undefined) {
      console.error('--date needs --program: days are local to a programme’s time zone');
      process.exitCode = 2;
      return;
    }
    await withDatabase(async (db) => {
      const context: SettlementContext = { db, clock: systemClock, ids: createIdGenerator(systemClock) };
      if (options.program !== undefined && options.date !== undefined) {
        const programId = options.program;
        const date = options.date;
        const currencies =
          options.currency === undefined ? (await getProgram(db, programId)).currencies : [options.currency];
        for (const currency of currencies) {
          console.log(
            describeSettlement(await runSettlement(context, { programId, currency, date }, SETTLEMENT_ACTOR)),
          );
        }
        return;
      }
      const result = await settleDue(
        context,
        {
          ...(options.program === undefined ? {} : { programId: options.program }),
          ...(options.currency === undefined ? {} : { currency: options.currency }),
        },
        SETTLEMENT_ACTOR,
      );
      for (const made of result.settled) console.log(describeSettlement(made));
      for (const failure of result.failed) {
        console.log(
          `FAILED ${failure.programId} ${failure.currency} ${failure.date}: ${failure.code}: ${failure.message}`,
        );
      }
      if (result.settled.length === 0 && result.failed.length === 0) console.log('nothing to settle');
      if (result.more) console.log('more days are due: run again');
      if (result.failed.length > 0) process.exitCode = 1;
    });
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(error instanceof Error ? `lantau: ${error.message}` : error);
  process.exit(1);
});
