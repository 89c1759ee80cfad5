import type { Static } from 'typebox';
import type { Queryable, SqlParam } from '../db/database.js';
import { LantauError } from '../errors.js';
import type { PaginationQuery } from './schemas.js';

export const PAGE_SIZE_DEFAULT = 10;

export interface ListPage<T> {
  readonly object: 'list';
  readonly url: string;
  readonly has_more: boolean;
  readonly data: T[];
}

export interface ListSource {
  /** `SELECT … FROM …` with no WHERE; written by us, never built from input. */
  readonly select: string;
  /** Conditions ANDed together, with `$n` placeholders numbered from 1 over `params`. */
  readonly where?: readonly string[];
  readonly params?: readonly SqlParam[];
  /** A time-sortable id column: newest first, as Stripe lists. */
  readonly idColumn?: string;
}

/**
 * The conditions of a list's query, numbered as they are added: each names its value `$?` (`created_at >= $?`),
 * and a value that is undefined (a filter the caller did not give) adds nothing. Pass `where` and `params` to
 * `listPage`.
 */
export class ListFilters {
  readonly where: string[] = [];
  readonly params: SqlParam[] = [];

  add(condition: string, value: SqlParam | undefined): this {
    if (value === undefined) return this;
    this.params.push(value);
    this.where.push(condition.replace('$?', `$${this.params.length}`));
    return this;
  }
}

/**
 * Cursor pagination over a time-sortable id: `starting_after` pages towards older objects, `ending_before`
 * towards newer ones; `has_more` says whether more lie in the direction being paged. Keyset conditions, not
 * OFFSET, so a page costs the same on the millionth row as on the first.
 */
// Row is the shape `source.select` returns: the caller's word, as with any SQL, checked by its tests.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export async function listPage<Row, T>(
  db: Queryable,
  source: ListSource,
  query: Static<typeof PaginationQuery>,
  url: string,
  present: (row: Row) => T,
): Promise<ListPage<T>> {
  if (query.starting_after !== undefined && query.ending_before !== undefined) {
    throw new LantauError('parameters_exclusive', 'Give starting_after or ending_before, not both', {
      param: 'ending_before',
    });
  }
  const limit = query.limit ?? PAGE_SIZE_DEFAULT;
  const idColumn = source.idColumn ?? 'id';
  const where = [...(source.where ?? [])];
  const params: SqlParam[] = [...(source.params ?? [])];
  let ascending = false;
  if (query.starting_after !== undefined) {
    params.push(query.starting_after);
    where.push(`${idColumn} < $${params.length}`);
  } else if (query.ending_before !== undefined) {
    params.push(query.ending_before);
    where.push(`${idColumn} > $${params.length}`);
    ascending = true;
  }
  params.push(limit + 1);
  const sql = `${source.select} WHERE ${where.length === 0 ? 'TRUE' : where.join(' AND ')}
    ORDER BY ${idColumn} ${ascending ? 'ASC' : 'DESC'} LIMIT $${params.length}`;
  const result = await db.query<Row>(sql, params);
  const rows = result.rows.slice(0, limit);
  if (ascending) rows.reverse();
  return { object: 'list', url, has_more: result.rows.length > limit, data: rows.map(present) };
}

/**
 * A `created[gte]`-style time filter. RFC 3339 lets through times a database cannot hold (a leap second, year 0,
 * year 10000 after an offset): those are bad input.
 */
export function timeQuery(value: string | undefined, param: string): Date | undefined {
  if (value === undefined) return undefined;
  const time = new Date(value);
  const year = time.getUTCFullYear();
  if (!Number.isFinite(time.getTime()) || year < 1970 || year > 9999) {
    throw new LantauError('time_invalid', `${param} must be a time from 1970 to 9999`, { param });
  }
  return time;
}
