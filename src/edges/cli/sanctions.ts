import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadSanctionsFile } from '../../compliance/sanctions/load.js';
import { listVersions } from '../../compliance/sanctions/list-store.js';
import { systemClock } from '../../platform/clock.js';
import type { Database } from '../../platform/db/database.js';
import { LantauError } from '../../platform/errors.js';
import { createIdGenerator } from '../../platform/ids.js';

const EXIT_REFUSED = 1;
const EXIT_UNREADABLE = 2;

/** `lantau sanctions load FILE` and `lantau sanctions list`: the sanctions lists screening uses. */
export function registerSanctionsCommands(
  program: Command,
  withDatabase: <T>(work: (db: Database) => Promise<T>) => Promise<T>,
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
    .action(async (file: string) => {
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
        }
      });
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
