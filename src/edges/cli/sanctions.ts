import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadSanctionsFile } from '../../compliance/sanctions/load.js';
import { listVersions } from '../../compliance/sanctions/list-store.js';
import { rescreenDue } from '../../issuing/sanctions-rescreen.js';
import { systemClock } from '../../platform/clock.js';
import type { Database } from '../../platform/db/database.js';
import { LantauError } from '../../platform/errors.js';
import { createIdGenerator } from '../../platform/ids.js';
import type { Settings } from './settings.js';
import { openVault } from './vault.js';

const EXIT_REFUSED = 1;
const EXIT_UNREADABLE = 2;

const RESCREEN_ACTOR = { type: 'cli' as const, id: 'lantau sanctions rescreen' };

/**
 * Screens every cardholder due against the latest versions, to the end, printing the figures. Servers do the same
 * within seconds of a load; this is for a load with no server running, and for the operator who wants to see it
 * finish. Processes share the work.
 */
async function rescreenNow(db: Database, settings: Settings): Promise<void> {
  const clock = systemClock;
  const ids = createIdGenerator(clock);
  const vault = await openVault(settings.kek, { db, clock, ids }, RESCREEN_ACTOR, { refreshIntervalMs: 0 });
  try {
    const context = { db, clock, ids, vault: vault.keyring, regions: settings.config.regions };
    const progress = await rescreenDue(context, { by: { actor: RESCREEN_ACTOR } });
    if (progress === undefined) {
      console.log('re-screen: every cardholder is screened against the latest lists already');
      return;
    }
    console.log(
      `re-screen: ${progress.screened.toLocaleString('en-US')} cardholders screened, ${String(progress.alerts)} new ` +
        `alerts` +
        (progress.completed
          ? '; complete'
          : progress.superseded
            ? '; a newer list version loaded meanwhile, and its re-screen goes on from here'
            : '; some were busy and are left for the next run (servers retry every few seconds)'),
    );
    if (progress.failed.length > 0) {
      console.error(
        `lantau: ${String(progress.failed.length)} cardholders could not be read and were not screened: ${progress.failed.join(', ')}`,
      );
      process.exitCode = 1;
    }
  } finally {
    await vault.close();
  }
}

/** `lantau sanctions load FILE`, `list` and `rescreen`: the sanctions lists screening uses. */
export function registerSanctionsCommands(
  program: Command,
  withDatabase: <T>(work: (db: Database) => Promise<T>) => Promise<T>,
  settings: () => Settings,
): void {
  const sanctions = program
    .command('sanctions')
    .description('the sanctions lists screening uses (UN, OFAC SDN)');
  sanctions
    .command('load')
    .description(
      'load a publisher’s file (the UN consolidated list as XML, OFAC’s sdn.csv) as a new version; a file with ' +
        'anything wrong is refused whole, naming the line and element or record, and the version in use stays. ' +
        'Exits 0 when loaded (or already loaded), 1 when refused, 2 when the file cannot be read',
    )
    .argument('<file>', 'the list file')
    .option('--no-rescreen', 'leave re-screening the cardholders to the running servers')
    .action(async (file: string, options: { readonly rescreen: boolean }) => {
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (error) {
        console.error(
          `lantau: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
        );
        process.exitCode = EXIT_UNREADABLE;
        return;
      }
      await withDatabase(async (db) => {
        try {
          const loaded = await loadSanctionsFile(
            { db, clock: systemClock, ids: createIdGenerator(systemClock) },
            bytes,
            { type: 'cli', id: 'sanctions-load' },
          );
          const { version } = loaded;
          console.log(
            `${loaded.created ? 'loaded' : 'already loaded'}: ${version.list} list, ${version.entry_count.toLocaleString('en-US')} entries, version ${version.id}` +
              (version.published_at === null ? '' : `, published ${version.published_at}`),
          );
          for (const warning of loaded.warnings) console.log(`warning: ${warning}`);
        } catch (error) {
          if (!(error instanceof LantauError)) throw error;
          console.error(`lantau: ${file} refused: ${error.message}; the list in use is unchanged`);
          process.exitCode = EXIT_REFUSED;
          return;
        }
        if (options.rescreen) await rescreenNow(db, settings());
      });
    });
  sanctions
    .command('rescreen')
    .description(
      'screen every cardholder not yet screened against the latest list versions (servers do this within seconds of a load)',
    )
    .action(async () => {
      await withDatabase((db) => rescreenNow(db, settings()));
    });
  sanctions
    .command('list')
    .description('the versions loaded, newest first')
    .action(async () => {
      await withDatabase(async (db) => {
        for (const version of await listVersions(db)) {
          console.log(
            `${version.id}  ${version.list.padEnd(4)}  ${String(version.entry_count).padStart(6)} entries  loaded ${version.loaded_at}`,
          );
        }
      });
    });
}
