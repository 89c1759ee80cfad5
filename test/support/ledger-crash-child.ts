/**
 * The crash test's writer: applies transfers to the ledger as fast as it can, from several concurrent callers, and prints `ack <id>` for each transfer only after its transaction committed. The parent
 * kills it with SIGKILL mid-stream and checks that every acknowledged transfer survived.
 */
import { systemClock } from '../../src/platform/clock.js';
import type { Database } from '../../src/platform/db/database.js';
import { PGliteDatabase } from '../../src/platform/db/pglite.js';
import { PostgresDatabase } from '../../src/platform/db/postgres.js';
import { createIdGenerator } from '../../src/platform/ids.js';
import { flattenResults } from '../../src/ledger/apply.js';
import { Ledger } from '../../src/ledger/ledger.js';
import type { TransferCommand } from '../../src/ledger/types.js';

const target = process.argv[2];
if (target === undefined) throw new Error('usage: ledger-crash-child <postgres url | pglite:<data dir>>');
const CALLERS = 8;
const BATCH = 8;
const ROUNDS_MAX = 100_000;

// PGlite runs inside this process: killing it is a real crash of the database, not only of its client.
const db: Database = target.startsWith('pglite:')
  ? await PGliteDatabase.open({ dataDir: target.slice('pglite:'.length) })
  : new PostgresDatabase({ connectionString: target, maxConnections: CALLERS });
const ledger = new Ledger({ db, clock: systemClock, ids: createIdGenerator(systemClock) });
await ledger.createAccounts([
  { id: 'crash_funding', programId: 'prog_crash', currency: 'HKD', kind: 'funding' },
  {
    id: 'crash_wallet',
    programId: 'prog_crash',
    currency: 'HKD',
    kind: 'wallet',
    flags: { debitsMustNotExceedCredits: true },
  },
  { id: 'crash_settlement', programId: 'prog_crash', currency: 'HKD', kind: 'card_settlement' },
]);
process.stdout.write('ready\n');

let written = 0;
await Promise.all(
  Array.from({ length: CALLERS }, async (_, caller) => {
    for (let round = 0; round < ROUNDS_MAX; round += 1) {
      const base = `crash_${caller}_${round}`;
      const batch: (TransferCommand | TransferCommand[])[] = [];
      for (let index = 0; index < BATCH; index += 1) {
        batch.push({
          id: `${base}_load_${index}`,
          kind: 'posted',
          debitAccountId: 'crash_funding',
          creditAccountId: 'crash_wallet',
          amount: 1_000,
          currency: 'HKD',
        });
      }
      // A hold and its partial post in one linked chain, so two-phase rows are in flight at the kill too.
      batch.push([
        {
          id: `${base}_hold`,
          kind: 'pending',
          debitAccountId: 'crash_wallet',
          creditAccountId: 'crash_settlement',
          amount: 700,
          currency: 'HKD',
          timeoutSeconds: 3_600,
        },
        { id: `${base}_post`, kind: 'post_pending', pendingId: `${base}_hold`, amount: 500 },
      ]);
      const results = await ledger.submit(batch);
      const lines = flattenResults(results).map((result) =>
        result.status === 'created' ? `ack ${result.transfer.id}\n` : '',
      );
      written += lines.length;
      process.stdout.write(lines.join(''));
    }
  }),
);
process.stdout.write(`finished ${written}\n`);
await db.close();
