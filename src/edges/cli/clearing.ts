import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { systemClock } from '../../platform/clock.js';
import { migrationStatus } from '../../platform/db/migrate.js';
import { openDatabase } from '../../platform/db/open.js';
import { createIdGenerator, isId } from '../../platform/ids.js';
import { maskCardNumbers } from '../../platform/redact.js';
import { appendAudit } from '../../records/audit.js';
import {
  CLEARING_FILE_FORMATS,
  ClearingFileError,
  applyClearingRecords,
  clearingFileFormat,
  readClearingRecords,
  type ClearingFileFormat,
  type ClearingProblem,
  type ClearingReport,
} from '../../processing/clearing-file.js';
import { convertForCard } from '../../processing/fx.js';
import type { Settings } from './settings.js';
import { openVault } from './vault.js';

const CLI_ACTOR = { type: 'cli' as const, id: 'lantau clearing ingest' };

/** Exit codes (README, "Clearing files"). */
const EXIT_APPLIED = 0;
const EXIT_PROBLEMS = 1;
const EXIT_UNREADABLE = 2;
const EXIT_STOPPED = 3;

interface IngestOptions {
  readonly format?: string;
  readonly program?: string;
  readonly json?: boolean;
}

/** Hashes the bytes as they stream past, so the audit entry names exactly the file that was read. */
async function* hashed(handle: FileHandle, hash: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
  for await (const chunk of handle.createReadStream()) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    yield bytes;
  }
}

function where(problem: { readonly line?: number; readonly index?: number }): string {
  if (problem.index !== undefined) return `element ${problem.index} (line ${problem.line ?? '?'})`;
  return problem.line === undefined ? 'before the first record' : `line ${problem.line}`;
}

function problemLine(problem: ClearingProblem): string {
  const record = problem.record_id === undefined ? '' : ` [${problem.record_id}]`;
  return `  ${where(problem)}${record}: ${problem.outcome} (${problem.code}): ${problem.message}`;
}

function printReport(file: string, format: ClearingFileFormat, report: ClearingReport): void {
  const byType = Object.entries(report.applied_by_type)
    .filter(([, count]) => count > 0)
    .map(([type, count]) => `${count} ${type}`)
    .join(', ');
  console.log(`clearing file ${file} (${format}): ${report.records} record(s)`);
  console.log(`  applied    ${report.applied}${byType === '' ? '' : ` (${byType})`}`);
  console.log(`  repeated   ${report.repeated} (applied before: nothing done)`);
  console.log(`  unmatched  ${report.unmatched}`);
  console.log(`  refused    ${report.refused}`);
  console.log(`  malformed  ${report.malformed}`);
  const flagged = Object.entries(report.flagged).map(([flag, count]) => `${flag} ${count}`);
  if (flagged.length > 0) console.log(`  flagged for review: ${flagged.join(', ')}`);
  if (report.problems.length > 0) {
    console.log('problems (nothing from these lines was applied):');
    for (const problem of report.problems) console.log(problemLine(problem));
    if (report.problems_omitted > 0) console.log(`  … and ${report.problems_omitted} more not listed`);
  }
  if (report.stopped !== null) {
    console.log(
      `STOPPED${report.stopped.line === undefined ? '' : ` at ${where(report.stopped)}`}: ${report.stopped.message}. ` +
        'What was applied before it stays applied; ' +
        'fix the cause and run the same file again (records already applied are repeats).',
    );
  }
}

function exitCodeOf(report: ClearingReport): number {
  if (report.stopped !== null) return EXIT_STOPPED;
  return report.malformed + report.unmatched + report.refused > 0 ? EXIT_PROBLEMS : EXIT_APPLIED;
}

class Unreadable extends Error {}

/** Opens the file before anything else, so a missing or unreadable one is refused with nothing touched. */
async function openFile(file: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new Unreadable(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw new Unreadable(`cannot read ${file}: not a file`);
  }
  return handle;
}

async function ingest(file: string, options: IngestOptions, settings: () => Settings): Promise<number> {
  const named = options.format ?? clearingFileFormat(file);
  const format = CLEARING_FILE_FORMATS.find((known) => known === named);
  if (format === undefined) {
    throw new Unreadable(
      options.format === undefined
        ? `cannot tell the format of ${file} from its name: use .csv, .json, .jsonl or .ndjson, or --format`
        : `--format must be one of ${CLEARING_FILE_FORMATS.join(', ')}`,
    );
  }
  if (options.program !== undefined && !isId(options.program, 'prog')) {
    throw new Unreadable('--program must be a programme id (prog_…)');
  }
  const { config, kek } = settings();
  const handle = await openFile(file);
  try {
    const clock = systemClock;
    const ids = createIdGenerator(clock);
    const db = await openDatabase(config);
    try {
      if ((await migrationStatus(db)).pending.length > 0) {
        throw new Unreadable('the database has pending migrations: run `lantau migrate` first');
      }
      if (options.program !== undefined) {
        const found = await db.query('SELECT 1 FROM programs WHERE id = $1', [options.program]);
        if (found.rows.length === 0) throw new Unreadable(`no such programme: ${options.program}`);
      }
      const context = { db, clock, ids };
      // No refresh loop: a command runs once and exits.
      const vault = await openVault(kek, context, CLI_ACTOR, { refreshIntervalMs: 0 });
      const hash = createHash('sha256');
      let report: ClearingReport;
      try {
        report = await applyClearingRecords(
          { ...context, vault: vault.keyring, convert: convertForCard },
          readClearingRecords(hashed(handle, hash), format),
          options.program === undefined ? {} : { programId: options.program },
        );
      } catch (error) {
        if (error instanceof ClearingFileError) throw new Unreadable(`${file}: ${error.message}`);
        throw error;
      } finally {
        await vault.close();
      }
      const sha256 = report.stopped === null ? hash.digest('hex') : null;
      try {
        await db.transaction((tx) =>
          appendAudit(tx, context, {
            actor: CLI_ACTOR,
            action: 'clearing.file_ingested',
            programId: options.program ?? null,
            details: {
              file: path.basename(file),
              format,
              sha256,
              records: report.records,
              applied: report.applied,
              repeated: report.repeated,
              unmatched: report.unmatched,
              refused: report.refused,
              malformed: report.malformed,
              stopped: report.stopped !== null,
            },
          }),
        );
      } catch (error) {
        // The money moved and the report says so: a missing audit entry must not hide that.
        report.stopped ??= {
          message: `every record was handled, but the audit entry could not be written: ${maskCardNumbers(String(error))}`,
        };
      }
      if (options.json === true) {
        console.log(JSON.stringify({ file, format, sha256, ...report }, null, 2));
      } else {
        printReport(file, format, report);
      }
      return exitCodeOf(report);
    } finally {
      await db.close();
    }
  } finally {
    // Already closed when the file was read to its end; closing again is harmless.
    await handle.close();
  }
}

/** `lantau clearing ingest FILE`: applies a network clearing file (src/processing/clearing-file.ts). */
export function registerClearingCommands(program: Command, settings: () => Settings): void {
  const clearing = program.command('clearing').description('clearing presented by the network in files');
  clearing
    .command('ingest')
    .description(
      'apply a clearing file (CSV, JSON array or JSON Lines) record by record; repeats are harmless. Exits 0 when ' +
        'every record was applied or repeated, 1 when any was malformed, unmatched or refused (the rest are ' +
        'applied), 2 when the file cannot be read (nothing applied), 3 when the run stopped part-way',
    )
    .argument('<file>', 'the clearing file')
    .option('--format <format>', `${CLEARING_FILE_FORMATS.join(', ')} (default: from the file name)`)
    .option('--program <id>', 'match only this programme’s authorizations and cards')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, options: IngestOptions) => {
      try {
        process.exitCode = await ingest(file, options, settings);
      } catch (error) {
        if (error instanceof Unreadable) {
          console.error(`lantau: ${maskCardNumbers(error.message)}; nothing was applied`);
          process.exitCode = EXIT_UNREADABLE;
          return;
        }
        // The database unreachable, a bug: whatever was applied before it stays applied, and a re-run is safe.
        console.error(
          `lantau: clearing ingest stopped: ${maskCardNumbers(error instanceof Error ? error.message : String(error))}; ` +
            'run the same file again once the cause is fixed (records already applied are repeats)',
        );
        process.exitCode = EXIT_STOPPED;
      }
    });
}
