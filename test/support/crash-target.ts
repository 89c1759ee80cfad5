import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Database } from '../../src/platform/db/database.js';
import { migrate } from '../../src/platform/db/migrate.js';
import { PGliteDatabase } from '../../src/platform/db/pglite.js';
import { openTestDatabase } from './database.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

export const crashOnServer = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '';

/** Where a crash test's child writes, and how the test reads it back after the kill. */
export interface CrashTarget {
  /** A PostgreSQL URL, or `pglite:<data dir>` for the child to open. */
  readonly target: string;
  /** The database as it is after the child died: on PGlite, reopened from its data directory. */
  reopen(): Promise<Database>;
  cleanup(): Promise<void>;
}

/**
 * A migrated database for a child process to write to and be killed over. On PostgreSQL the server outlives its
 * client; on PGlite the database lives inside the killed process and is reopened from its data directory (a crash
 * of the database itself: the process, not the machine, as PGlite never fsyncs).
 */
export async function openCrashTarget(name: string): Promise<CrashTarget> {
  if (crashOnServer) {
    const db = await openTestDatabase();
    if (db.url === undefined) throw new Error('the server backend gives each test database a URL');
    return { target: db.url, reopen: async () => db, cleanup: () => db.close() };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), `lantau-${name}-`));
  const dataDir = path.join(dir, 'pgdata');
  const created = await PGliteDatabase.open({ dataDir });
  await migrate(created);
  await created.close();
  let reopened: Database | undefined;
  return {
    target: `pglite:${dataDir}`,
    reopen: async () => (reopened = await PGliteDatabase.open({ dataDir })),
    cleanup: async () => {
      await reopened?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CrashChild {
  /** What the child prints, line by line. */
  readonly lines: AsyncIterable<string>;
  /** How it ended: the signal, or its exit code. */
  readonly exit: Promise<NodeJS.Signals | number | null>;
  kill(): void;
  stderr(): string;
}

/** Starts a crash test's child (a TypeScript file under the repository) on `target`. */
export function startCrashChild(child: string, target: string): CrashChild {
  const started = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, child), target], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  started.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    lines: createInterface({ input: started.stdout }),
    exit: new Promise((resolve) => started.once('exit', (code, signal) => resolve(signal ?? code))),
    kill: () => started.kill('SIGKILL'),
    stderr: () => stderr,
  };
}
