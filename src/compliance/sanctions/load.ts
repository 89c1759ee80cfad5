/**
 * Loading a publisher's sanctions file (`lantau sanctions load FILE`, and the snapshots at first start): the
 * format is recognised from the bytes, the whole file parsed, and only a file that parses whole is stored, as a new
 * version with its event and audit entry. A refused file names the line and element or record that is wrong, and
 * the version in use stays the one before.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Database } from '../../platform/db/database.js';
import { LantauError } from '../../platform/errors.js';
import { appendAudit, type AuditActor } from '../../records/audit.js';
import { emitEvent, type RecordsContext } from '../../records/outbox.js';
import { describeWarning, detectListFormat, ListFormatError, type ParsedList } from './list-format.js';
import { fileDigest, latestVersions, storeListVersion, type ListVersion } from './list-store.js';
import { parseOfacSdn } from './ofac-list.js';
import { lockListsExclusive } from './screening.js';
import { parseUnList } from './un-list.js';

export interface LoadedList {
  readonly version: ListVersion;
  /** False when these exact bytes were loaded before: nothing changed. */
  readonly created: boolean;
  readonly warnings: readonly string[];
}

/** Parses a file of either list; a `ListFormatError` when it is not one, or is one with something wrong. */
export function parseListFile(bytes: Buffer): ParsedList | ListFormatError {
  const format = detectListFormat(bytes);
  if (format instanceof ListFormatError) return format;
  return format === 'un' ? parseUnList(bytes) : parseOfacSdn(bytes);
}

export async function loadSanctionsFile(
  context: RecordsContext & { readonly db: Database },
  bytes: Buffer,
  by: AuditActor,
): Promise<LoadedList> {
  const parsed = parseListFile(bytes);
  if (parsed instanceof ListFormatError) {
    throw new LantauError('sanctions_list_invalid', parsed.message, { status: 400 });
  }
  const digest = fileDigest(bytes);
  return context.db.transaction(async (tx) => {
    // Screenings in flight finish against the versions before this one (screening.ts, the list lock).
    await lockListsExclusive(tx);
    const { version, created } = await storeListVersion(tx, {
      id: context.ids('sanl'),
      list: parsed.list,
      publishedAt: parsed.publishedAt,
      digest,
      entries: parsed.entries,
      at: context.clock.now(),
      by: by.id,
    });
    if (created) {
      await emitEvent(tx, context, { type: 'sanctions_list.loaded', programId: null, object: version });
      await appendAudit(tx, context, {
        actor: by,
        action: 'sanctions_list.loaded',
        target: { type: 'sanctions_list_version', id: version.id },
        details: { list: version.list, entries: version.entry_count, sha256: version.sha256 },
      });
    }
    return { version, created, warnings: parsed.warnings.map(describeWarning) };
  });
}

/**
 * At start, when no list has ever been loaded: every list file in `dir` (the snapshots beside the repository, or
 * LANTAU_SANCTIONS_DIR), so a new platform screens from its first cardholder. Once any version is loaded, lists
 * change only by `lantau sanctions load`. A file there that does not parse is refused as it would be by the CLI.
 */
export async function loadSanctionsAtStart(
  db: Database,
  context: RecordsContext,
  dir: string,
): Promise<{ loaded: string[]; missing: boolean }> {
  if ((await latestVersions(db)).length > 0) return { loaded: [], missing: false };
  let files: string[];
  try {
    files = (await readdir(dir)).filter((file) => /\.(xml|csv)$/i.test(file)).sort();
  } catch {
    return { loaded: [], missing: true };
  }
  const loaded: string[] = [];
  for (const file of files) {
    const result = await loadSanctionsFile({ ...context, db }, await readFile(path.join(dir, file)), {
      type: 'system',
      id: 'startup',
    });
    loaded.push(`${file}: ${result.version.list}, ${String(result.version.entry_count)} entries`);
  }
  return { loaded, missing: loaded.length === 0 };
}
