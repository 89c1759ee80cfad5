/**
 * The authorization crash test's process: decides authorizations through the group commit as fast as it can, from
 * many concurrent callers, printing `group` when a group's transaction begins and `ack <id> <amount>` for each
 * answer only after it is returned (so after its group committed). The parent kills it with SIGKILL right after a
 * `group` line, while that group is being written, and checks that every acknowledged decision survived whole.
 */
import { randomBytes } from 'node:crypto';
import { updateKycTiers } from '../../src/compliance/kyc/tiers.js';
import { createCard } from '../../src/issuing/cards.js';
import { createCardholder } from '../../src/issuing/cardholders.js';
import { fundProgram } from '../../src/issuing/funding.js';
import { createProgram, type Actor, type IssuingContext } from '../../src/issuing/programs.js';
import { createWallet, loadWallet } from '../../src/issuing/wallets.js';
import { systemClock } from '../../src/platform/clock.js';
import type { Database } from '../../src/platform/db/database.js';
import { PGliteDatabase } from '../../src/platform/db/pglite.js';
import { PostgresDatabase } from '../../src/platform/db/postgres.js';
import { createIdGenerator } from '../../src/platform/ids.js';
import { authorize } from '../../src/processing/authorize.js';
import { convertForCard } from '../../src/processing/fx.js';
import { envKek } from '../../src/vault/kek-env.js';
import { Keyring } from '../../src/vault/keyring.js';
import { Secret } from '../../src/vault/secret.js';

const target = process.argv[2];
if (target === undefined)
  throw new Error('usage: authorization-crash-child <postgres url | pglite:<data dir>>');
const CARDS = 16;
const CALLERS = 48;
const ROUNDS_MAX = 100_000;
const BY: Actor = { actor: { type: 'system', id: 'crash-test' } };

const opened: Database = target.startsWith('pglite:')
  ? await PGliteDatabase.open({ dataDir: target.slice('pglite:'.length) })
  : new PostgresDatabase({ connectionString: target });
// Says when a group's transaction begins, so the parent can kill the process in the middle of one.
const db: Database = {
  backend: opened.backend,
  query: (sql, params) => opened.query(sql, params),
  exec: (sql) => opened.exec(sql),
  close: () => opened.close(),
  transaction: (work, options) =>
    opened.transaction(async (tx) => {
      process.stdout.write('group\n');
      return work(tx);
    }, options),
};
const clock = systemClock;
const ids = createIdGenerator(clock);
const vault = await Keyring.open({
  db: opened,
  kek: envKek(new Secret(randomBytes(32))),
  clock,
  ids,
  refreshIntervalMs: 0,
});
const issuing: IssuingContext = { db: opened, clock, ids, vault, regions: ['hk'] };
const program = await opened.transaction(async (tx) => {
  const created = await createProgram(
    tx,
    issuing,
    { name: 'Crash test', bin: '45000000', currencies: ['HKD'], region: 'hk', mode: 'sandbox' },
    BY,
  );
  await fundProgram(tx, issuing, created.id, { amount: 1_000_000_000, currency: 'HKD' }, BY);
  // Wallets hold HKD 20,000, beyond the unverified tier's HKD 3,000: KYC limits are not what this test is about.
  const unlimited = {
    HKD: {
      max_balance: Number.MAX_SAFE_INTEGER,
      max_loads_per_year: Number.MAX_SAFE_INTEGER,
      max_per_transaction: Number.MAX_SAFE_INTEGER,
    },
  };
  await updateKycTiers(tx, issuing, created.id, { unverified: unlimited, verified: unlimited }, BY);
  return created;
});
const cards: string[] = [];
for (let index = 0; index < CARDS; index += 1) {
  cards.push(
    await opened.transaction(async (tx) => {
      const holder = await createCardholder(tx, issuing, program.id, { name: `Crash Holder ${index}` }, BY);
      const wallet = await createWallet(
        tx,
        issuing,
        program.id,
        { cardholder_id: holder.id, currency: 'HKD' },
        BY,
      );
      // Enough for some callers to run a wallet dry: declines for insufficient funds are in the stream too.
      await loadWallet(tx, issuing, wallet.id, program.id, { amount: 2_000_000, currency: 'HKD' }, BY);
      const card = await createCard(
        tx,
        issuing,
        program.id,
        { cardholder_id: holder.id, account_id: wallet.id, type: 'multi_use' },
        BY,
      );
      return card.id;
    }),
  );
}
process.stdout.write(`ready ${program.id}\n`);

const context = { ...issuing, db, convert: convertForCard };
await Promise.all(
  Array.from({ length: CALLERS }, async (_, caller) => {
    for (let round = 0; round < ROUNDS_MAX; round += 1) {
      const decided = await authorize(context, {
        card: { id: cards[(caller + round) % CARDS] ?? '' },
        amount: 100 + ((caller * 7 + round * 13) % 900),
        currency: 'HKD',
        merchant: {
          name: 'Crash Shop',
          mcc: '5411',
          country: 'HK',
          city: 'Hong Kong',
          acceptor_id: 'CRASH0000000001',
          acquirer_id: '40000000001',
        },
        entryMode: 'chip',
        partialAllowed: false,
      });
      process.stdout.write(`ack ${decided.id} ${decided.amount}\n`);
    }
  }),
);
