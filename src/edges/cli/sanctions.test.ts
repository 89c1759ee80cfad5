import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCliDatabase, type CliDatabase } from '../../../test/support/cli.js';
import { UNRELATED_LISTED, unListXml } from '../../../test/support/sanctions.js';
import { createCardholder } from '../../issuing/cardholders.js';
import { createCard } from '../../issuing/cards.js';
import { createProgram, type IssuingContext } from '../../issuing/programs.js';
import { createWallet } from '../../issuing/wallets.js';
import { ManualClock } from '../../platform/clock.js';
import { createIdGenerator } from '../../platform/ids.js';
import { envKek } from '../../vault/kek-env.js';
import { Keyring } from '../../vault/keyring.js';
import { Secret } from '../../vault/secret.js';

/**
 * `lantau sanctions load` as an operator runs it, in its own process: a malformed file is refused naming where,
 * and changes nothing; a newer list that names an existing cardholder is loaded and everyone re-screened, which
 * pauses that cardholder's card.
 */
describe('`lantau sanctions load`', () => {
  let cli: CliDatabase;
  let listedCard: string;
  let otherCard: string;
  const BY = { actor: { type: 'system' as const, id: 'test' } };
  // Each run starts a process (and on PGlite reopens the data directory): seconds apiece.
  const CLI_TIMEOUT_MS = 120_000;

  beforeAll(async () => {
    cli = await openCliDatabase();
    // The CLI decrypts cardholders to screen them: the same KEK as the keyring the test writes with.
    const kek = randomBytes(32);
    cli.env.LANTAU_KEK_PROVIDER = 'env';
    cli.env.LANTAU_KEK = kek.toString('hex');
    const clock = new ManualClock(new Date());
    const ids = createIdGenerator(clock);
    const db = cli.db();
    const vault = await Keyring.open({ db, kek: envKek(new Secret(kek)), clock, ids, refreshIntervalMs: 0 });
    try {
      const context: IssuingContext = { db, clock, ids, vault, regions: ['hk'] };
      const cards = await db.transaction(async (tx) => {
        const program = await createProgram(
          tx,
          context,
          { name: 'CLI screening', bin: '424242', currencies: ['HKD'], region: 'hk', mode: 'sandbox' },
          BY,
        );
        const issued: string[] = [];
        for (const person of [
          { name: 'Ri Song Chol', date_of_birth: '1968-02-03', nationality: 'KP' },
          { name: 'Tsang Mei Kuen', date_of_birth: '1979-11-20' },
        ]) {
          const holder = await createCardholder(tx, context, program.id, person, BY);
          const wallet = await createWallet(
            tx,
            context,
            program.id,
            { cardholder_id: holder.id, currency: 'HKD' },
            BY,
          );
          const card = await createCard(
            tx,
            context,
            program.id,
            { cardholder_id: holder.id, account_id: wallet.id, type: 'multi_use' },
            BY,
          );
          issued.push(card.id);
        }
        return issued;
      });
      [listedCard = '', otherCard = ''] = cards;
    } finally {
      vault.close();
    }
  });
  afterAll(async () => cli.close());

  async function cardStatus(id: string): Promise<{ status: string; status_reason: string | null }> {
    const found = await cli
      .db()
      .query<{ status: string; status_reason: string | null }>(
        'SELECT status, status_reason FROM cards WHERE id = $1',
        [id],
      );
    const row = found.rows[0];
    if (row === undefined) throw new Error(`no card ${id}`);
    return row;
  }

  it(
    'refuses a malformed file, naming the line and element, and loads nothing',
    { timeout: CLI_TIMEOUT_MS },
    async () => {
      const file = path.join(cli.dataDir, 'broken.xml');
      const good = unListXml(UNRELATED_LISTED, '2026-01-01T00:00:00Z').toString('utf8');
      // Well-formed XML, but an individual without its reference number.
      writeFileSync(
        file,
        good.replace('<REFERENCE_NUMBER>QDi.901</REFERENCE_NUMBER>', '<REFERENCE_NUMBER/>'),
      );
      const run = await cli.run(['sanctions', 'load', file]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/line \d+/);
      expect(run.stderr).toContain('INDIVIDUAL');
      expect(run.stderr).toContain('the list in use is unchanged');
      const versions = await cli.db().query('SELECT id FROM sanctions_list_versions');
      expect(versions.rows).toEqual([]);
    },
  );

  it(
    'loads a list naming an existing cardholder and re-screens everyone: their card is paused',
    { timeout: CLI_TIMEOUT_MS },
    async () => {
      expect(await cardStatus(listedCard)).toEqual({ status: 'active', status_reason: null });
      const file = path.join(cli.dataDir, 'un.xml');
      writeFileSync(
        file,
        unListXml(
          [
            ...UNRELATED_LISTED,
            {
              reference: 'KPi.951',
              names: ['RI', 'SONG', 'CHOL'],
              dateOfBirth: '1968-02-03',
              nationality: "Democratic People's Republic of Korea",
            },
          ],
          '2026-02-01T00:00:00Z',
        ),
      );
      const run = await cli.run(['sanctions', 'load', file]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('loaded: un list, 3 entries');
      expect(run.stdout).toContain('re-screen: 2 cardholders screened, 1 new alerts; complete');

      expect(await cardStatus(listedCard)).toEqual({ status: 'paused', status_reason: 'compliance' });
      expect(await cardStatus(otherCard)).toEqual({ status: 'active', status_reason: null });
      const alerts = await cli
        .db()
        .query<{ candidates: { reference: string }[] }>(
          `SELECT candidates FROM screening_alerts WHERE status = 'open'`,
        );
      expect(alerts.rows.map((row) => row.candidates[0]?.reference)).toEqual(['KPi.951']);

      const again = await cli.run(['sanctions', 'rescreen']);
      expect(again.stdout).toContain('every cardholder is screened against the latest lists already');
    },
  );
});
