import type { SqlParam, Transaction } from './database.js';

/** One SQL statement with its parameters, numbered from $1 as if it ran alone. */
export interface Statement {
  readonly sql: string;
  readonly params: readonly SqlParam[];
}

const PARAMETER = /\$(\d+)/g;
const RETURNING = /\bRETURNING\b/i;

/**
 * Runs data-modifying statements (INSERT, UPDATE, DELETE, each optionally with RETURNING) in one round trip, as
 * the data-modifying CTEs of one statement: on a machine where every round trip wakes two processes, a group
 * commit's writes cost one wake-up instead of one per table. They run on one snapshot and cannot see each other's
 * rows, so they must touch different rows (different tables, as a group's writes do). They run one after another
 * in the order given: the outer query reads each to its end in turn (PostgreSQL would otherwise run the ones it
 * does not read at the end, last first), so a statement that takes a hot row's lock can be put last and hold it
 * only until the commit. That order is PostgreSQL's executor at work (an Append reads its children one by one,
 * and a CTE runs when read), not a documented promise; `statements.test.ts` checks it. Each statement must be a
 * single INSERT, UPDATE or DELETE with no trailing semicolon or comment, since one without RETURNING gets
 * `RETURNING 1` appended. Returns each statement's RETURNING rows, as JSON objects (bigint as number), in the
 * order given; [] for a statement without RETURNING.
 */
export async function runTogether(
  tx: Transaction,
  statements: readonly (Statement | undefined)[],
): Promise<Record<string, unknown>[][]> {
  const present = statements.flatMap((statement, index) =>
    statement === undefined ? [] : [{ statement, index }],
  );
  const results: Record<string, unknown>[][] = statements.map(() => []);
  if (present.length === 0) return results;
  const params: SqlParam[] = [];
  const parts = present.map(({ statement, index }) => {
    const offset = params.length;
    params.push(...statement.params);
    const renumbered = statement.sql.replace(PARAMETER, (_, number: string) => `$${Number(number) + offset}`);
    const returns = RETURNING.test(statement.sql);
    // A statement is read, and so run in its turn, only if it returns rows: one without gets a token list.
    return { sql: returns ? renumbered : `${renumbered}\n RETURNING 1`, index, returns };
  });
  const rows = await tx.query<{ statement: number; row: Record<string, unknown> | null }>(
    `WITH ${parts.map((part) => `s${part.index} AS (${part.sql})`).join(',\n')}
     ${parts
       .map((part) =>
         part.returns
           ? `SELECT ${part.index} AS statement, to_jsonb(s${part.index}.*) AS row FROM s${part.index}`
           : `SELECT ${part.index} AS statement, NULL::jsonb AS row FROM (SELECT count(*) FROM s${part.index}) AS n${part.index}`,
       )
       .join(' UNION ALL ')}`,
    params,
  );
  for (const { statement, row } of rows.rows) if (row !== null) results[statement]?.push(row);
  return results;
}
