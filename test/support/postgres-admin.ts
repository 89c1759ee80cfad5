import pg from 'pg';

/** Every database a test run creates starts with this, followed by the run's process id. */
export const TEST_DATABASE_PREFIX = 'lantau_test_';

/** The server's maintenance database, from which others are created and dropped. */
export function adminUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  return url.toString();
}

export async function dropDatabase(databaseUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl(databaseUrl) });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Drops test databases left by runs that were killed before their teardown (their process is gone), and with
 * `ownPid` the ones this run made that a test file failed to drop.
 */
export async function sweepAbandonedDatabases(databaseUrl: string, ownPid?: number): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl(databaseUrl) });
  await admin.connect();
  try {
    const found = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname`,
      [`${TEST_DATABASE_PREFIX}%`],
    );
    for (const { datname } of found.rows) {
      const pid = Number(/^lantau_test_(\d+)_/.exec(datname)?.[1]);
      const abandoned =
        Number.isInteger(pid) && (pid === ownPid ? !datname.endsWith('_tmpl') : !processAlive(pid));
      if (abandoned) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}
