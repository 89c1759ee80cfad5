import { Command } from 'commander';
import { ConfigError, loadConfig, type Config } from '../../platform/config.js';
import type { Database } from '../../platform/db/database.js';
import { migrate, migrationStatus } from '../../platform/db/migrate.js';
import { openDatabase } from '../../platform/db/open.js';
import { verifyLedger } from '../../ledger/index.js';
import { verifyAuditChain } from '../../records/audit.js';
import { serve } from './serve.js';
import { loadSettings } from './settings.js';
import { registerKeyCommands } from './keys.js';

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

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(error instanceof Error ? `lantau: ${error.message}` : error);
  process.exit(1);
});
