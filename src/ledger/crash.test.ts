import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  crashOnServer,
  openCrashTarget,
  startCrashChild,
  type CrashTarget,
} from '../../test/support/crash-target.js';
import { verifyLedger } from './verify.js';

const ACKS_BEFORE_KILL = 3_000;

/**
 * A writer that acknowledges each transfer after its commit is killed with SIGKILL mid-stream; after restart every
 * acknowledged transfer is there and the ledger verifies. On PostgreSQL the server outlives its client, so this
 * proves acknowledgements follow commits. On PGlite the database lives inside the killed process and is reopened
 * from its data directory afterwards: a crash of the database itself (the process, not the machine: PGlite never
 * fsyncs, which is why it is not for production money).
 */
describe(`ledger crash (${crashOnServer ? 'postgres' : 'pglite'})`, () => {
  let crash: CrashTarget;
  beforeAll(async () => {
    crash = await openCrashTarget('crash');
  });
  afterAll(async () => crash.cleanup());

  it('keeps every acknowledged transfer when the writer is killed with SIGKILL mid-stream', async () => {
    const child = startCrashChild('test/support/ledger-crash-child.ts', crash.target);
    const acked: string[] = [];
    for await (const line of child.lines) {
      if (line.startsWith('ack ')) acked.push(line.slice(4));
      if (acked.length >= ACKS_BEFORE_KILL) {
        child.kill();
        break;
      }
    }
    expect(await child.exit, child.stderr()).toBe('SIGKILL');
    expect(acked.length).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);

    const db = await crash.reopen();
    const found = await db.query<{ id: string }>(
      'SELECT id FROM ledger_transfers WHERE id = ANY($1::text[])',
      [acked],
    );
    const present = new Set(found.rows.map((row) => row.id));
    expect(acked.filter((id) => !present.has(id))).toEqual([]);
    const report = await verifyLedger(db);
    expect(report.problems).toEqual([]);
  }, 60_000);
});
