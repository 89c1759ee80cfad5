/**
 * Screening against the lists in use: one index per process over the latest version of each list, built when a
 * newer version is first seen (a cheap read of the versions' ids on each check says whether one is), so every
 * process screens against the same versions within one check of a load.
 */
import type { Queryable, Transaction } from '../../platform/db/database.js';
import { buildScreeningIndex, screen, type ScreeningIndex, type ScreeningResult } from './matching.js';
import { latestVersions, versionEntries, type ListVersion } from './list-store.js';

export interface ScreeningQuery {
  readonly name: string;
  /** YYYY-MM-DD. */
  readonly dateOfBirth?: string;
  /** ISO 3166-1 alpha-2 nationality. */
  readonly country?: string;
  readonly kind?: 'individual' | 'entity';
}

export interface ListUsed {
  readonly list: string;
  readonly version: string;
  readonly entry_count: number;
}

export interface ScreeningCheck extends ScreeningResult {
  readonly object: 'screening_check';
  /** The list versions checked against: what a later review needs to reproduce the answer. */
  readonly lists: readonly ListUsed[];
}

/** The lists a screening used, as one value: a cardholder screened with another key is due a re-screen. */
export function listKeyOf(versions: readonly ListVersion[]): string {
  return versions.map((version) => version.id).join(',');
}

/**
 * Taken shared by every transaction that screens and stores the result, and exclusively by a list load: a
 * screening against the versions before a load commits before the load does, so the re-screen that follows the
 * load sees it. Take it before the audit chain's lock (any audited write), as loads do, or the two can deadlock.
 */
const SCREENING_LOCK_KEY = 0x5343524545; // "SCREE"

export async function lockListsShared(tx: Transaction): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock_shared($1)', [SCREENING_LOCK_KEY]);
}

export async function lockListsExclusive(tx: Transaction): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [SCREENING_LOCK_KEY]);
}

interface BuiltIndex {
  readonly key: string;
  readonly versions: readonly ListVersion[];
  readonly index: ScreeningIndex;
}

const indexes = new WeakMap<Queryable, { built?: BuiltIndex; building?: Promise<BuiltIndex> }>();

function keptFor(db: Queryable): { built?: BuiltIndex; building?: Promise<BuiltIndex> } {
  let kept = indexes.get(db);
  if (kept === undefined) {
    kept = {};
    indexes.set(db, kept);
  }
  return kept;
}

async function build(reader: Queryable, versions: readonly ListVersion[]): Promise<BuiltIndex> {
  const entries = (await Promise.all(versions.map((version) => versionEntries(reader, version.id)))).flat();
  return { key: listKeyOf(versions), versions, index: buildScreeningIndex(entries) };
}

/** The index over the latest versions, built (once, shared by concurrent callers) if those are new here. */
async function indexFor(db: Queryable): Promise<BuiltIndex> {
  const kept = keptFor(db);
  const versions = await latestVersions(db);
  const key = listKeyOf(versions);
  if (kept.built?.key === key) return kept.built;
  kept.building ??= build(db, versions).finally(() => {
    kept.building = undefined;
  });
  const built = await kept.building;
  kept.built = built;
  return built;
}

/**
 * Builds this process's index for the latest versions now, outside any transaction: at start, after a load, and
 * before a write that will screen, so the transaction does not build it while holding its locks.
 */
export async function warmScreening(db: Queryable): Promise<void> {
  await indexFor(db);
}

function usedOf(versions: readonly ListVersion[]): ListUsed[] {
  return versions.map((version) => ({
    list: version.list,
    version: version.id,
    entry_count: version.entry_count,
  }));
}

function checkWith(built: BuiltIndex, query: ScreeningQuery): ScreeningCheck {
  return { object: 'screening_check', ...screen(built.index, query), lists: usedOf(built.versions) };
}

export async function screenName(db: Queryable, query: ScreeningQuery): Promise<ScreeningCheck> {
  return checkWith(await indexFor(db), query);
}

/** Screening inside a transaction that stores its result: the versions it sees, under the shared list lock. */
export interface TransactionScreener {
  /** The list versions' key (`listKeyOf`); empty when no list is loaded. */
  readonly key: string;
  readonly loaded: boolean;
  /** The versions, as a check reports them. */
  readonly used: readonly ListUsed[];
  screen(query: ScreeningQuery): ScreeningCheck;
}

/**
 * Takes the shared list lock and answers with the versions this transaction sees. The process's index (for `db`)
 * is used when it is for those versions, as it is unless a load committed a moment ago; else one is built from
 * the transaction and kept (the versions it read are committed, and no load can commit while the lock is held,
 * so they are the latest).
 */
export async function screenerFor(tx: Transaction, db: Queryable): Promise<TransactionScreener> {
  await lockListsShared(tx);
  const versions = await latestVersions(tx);
  const key = listKeyOf(versions);
  const kept = keptFor(db);
  let built = kept.built;
  if (built?.key !== key) {
    built = await build(tx, versions);
    kept.built = built;
  }
  const screening = built;
  return {
    key,
    loaded: versions.length > 0,
    used: usedOf(versions),
    screen: (query) => checkWith(screening, query),
  };
}
