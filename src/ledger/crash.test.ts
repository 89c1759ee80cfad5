import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { verifyLedger } from './verify.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHILD = path.join(ROOT, 'test/support/ledger-crash-child.ts');
const ACKS_BEFORE_KILL = 3_000;
const onServer = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => db.close());

/**
 * What the writer was told is committed survives its sudden death. PGlite runs inside the process it would kill
 * and never fsyncs, so this is a test of the server backend: on PGlite it is skipped.
 */
describe('ledger crash (postgres)', () => {
  it.skipIf(!onServer)(
    'keeps every acknowledged transfer when the writer is killed with SIGKILL mid-stream',
    async () => {
      const url = db.url;
      if (url === undefined) throw new Error('the server backend gives each test database a URL');
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, url], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const acked: string[] = [];
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exit = new Promise<NodeJS.Signals | number | null>((resolve) =>
        child.once('exit', (code, signal) => resolve(signal ?? code)),
      );
      const lines = createInterface({ input: child.stdout });
      for await (const line of lines) {
        if (line.startsWith('ack ')) acked.push(line.slice(4));
        if (acked.length >= ACKS_BEFORE_KILL) {
          child.kill('SIGKILL');
          break;
        }
      }
      expect(await exit, stderr).toBe('SIGKILL');
      expect(acked.length).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);

      const found = await db.query<{ id: string }>(
        'SELECT id FROM ledger_transfers WHERE id = ANY($1::text[])',
        [acked],
      );
      const missing = acked.filter((id) => !found.rows.some((row) => row.id === id));
      expect(missing).toEqual([]);
      const report = await verifyLedger(db);
      expect(report.problems).toEqual([]);
      expect(report.transfers).toBeGreaterThanOrEqual(acked.length);
    },
    60_000,
  );
});
