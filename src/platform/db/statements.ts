import type { SqlParam, Transaction } from './database.js';

/** One SQL statement with its parameters, numbered from $1 as if it ran alone. */
export interface Statement {
  readonly sql: string;
  readonly params: readonly SqlParam[];
}

const PARAMETER = /\$(\d+)/g;

/**
 * Runs data-modifying statements (INSERT, UPDATE, DELETE, each optionally with RETURNING) in one round trip, as
 * the data-modifying CTEs of one statement: on a machine where every round trip wakes two processes, a group
 * commit's writes cost one wake-up instead of one per table. They run on one snapshot and cannot see each other's
 * rows, so they must touch different rows (different tables, as a group's writes do). Returns each statement's
 * RETURNING rows, as JSON objects (bigint as number), in the order given; [] for a statement without RETURNING.
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
    const sql = statement.sql.replace(PARAMETER, (_, number: string) => `$${Number(number) + offset}`);
    return { sql, index, returns: /\bRETURNING\b/i.test(statement.sql) };
  });
  const returning = parts.filter((part) => part.returns);
  const rows = await tx.query<{ statement: number; row: Record<string, unknown> }>(
    `WITH ${parts.map((part) => `s${part.index} AS (${part.sql})`).join(',\n')}
     ${
       returning.length === 0
         ? 'SELECT NULL::integer AS statement, NULL::jsonb AS row WHERE false'
         : returning
             .map(
               (part) =>
                 `SELECT ${part.index} AS statement, to_jsonb(s${part.index}.*) AS row FROM s${part.index}`,
             )
             .join(' UNION ALL ')
     }`,
    params,
  );
  for (const { statement, row } of rows.rows) results[statement]?.push(row);
  return results;
}
