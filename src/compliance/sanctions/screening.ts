/**
 * Screening against the lists in use: one index per process over the latest version of each list, built when a
 * newer version is first seen (a cheap read of the versions' ids on each check says whether one is), so every
 * process screens against the same versions within one check of a load.
 */
import type { Queryable } from '../../platform/db/database.js';
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

export interface ScreeningCheck extends ScreeningResult {
  readonly object: 'screening_check';
  /** The list versions checked against: what a later review needs to reproduce the answer. */
  readonly lists: readonly {
    readonly list: string;
    readonly version: string;
    readonly entry_count: number;
  }[];
}

interface BuiltIndex {
  readonly key: string;
  readonly versions: readonly ListVersion[];
  readonly index: ScreeningIndex;
}

const indexes = new WeakMap<Queryable, { built?: BuiltIndex; building?: Promise<BuiltIndex> }>();

async function indexFor(db: Queryable): Promise<BuiltIndex> {
  let kept = indexes.get(db);
  if (kept === undefined) {
    kept = {};
    indexes.set(db, kept);
  }
  const versions = await latestVersions(db);
  const key = versions.map((version) => version.id).join(',');
  if (kept.built?.key === key) return kept.built;
  const holder = kept;
  // Concurrent checks that see the same new versions share one build.
  holder.building ??= (async () => {
    const entries = (await Promise.all(versions.map((version) => versionEntries(db, version.id)))).flat();
    return { key, versions, index: buildScreeningIndex(entries) };
  })().finally(() => {
    holder.building = undefined;
  });
  const built = await holder.building;
  holder.built = built;
  return built;
}

export async function screenName(db: Queryable, query: ScreeningQuery): Promise<ScreeningCheck> {
  const { index, versions } = await indexFor(db);
  const result = screen(index, query);
  return {
    object: 'screening_check',
    ...result,
    lists: versions.map((version) => ({
      list: version.list,
      version: version.id,
      entry_count: version.entry_count,
    })),
  };
}
