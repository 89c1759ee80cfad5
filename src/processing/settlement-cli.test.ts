import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCliDatabase, type CliDatabase } from '../../test/support/cli.js';
import { createProgram, type Program } from '../issuing/programs.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { envKek } from '../vault/kek-env.js';
import { Keyring } from '../vault/keyring.js';
import { Secret } from '../vault/secret.js';

const DAY_MS = 86_400_000;

/** A day in Hong Kong as YYYY-MM-DD. */
function hongKongDate(time: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Hong_Kong' }).format(time);
}

describe('`lantau settlement run`', () => {
  let cli: CliDatabase;
  let program: Program;
  // The CLI runs on the real clock: the programme opened three days ago has days to settle.
  const opened = new Date(Date.now() - 3 * DAY_MS);
  const firstDate = hongKongDate(opened);

  beforeAll(async () => {
    cli = await openCliDatabase();
    const clock = new ManualClock(opened);
    const ids = createIdGenerator(clock);
    const vault = await Keyring.open({
      db: cli.db(),
      kek: envKek(new Secret(randomBytes(32))),
      clock,
      ids,
      refreshIntervalMs: 0,
    });
    try {
      program = await cli.db().transaction((tx) =>
        createProgram(
          tx,
          { db: cli.db(), clock, ids, vault, regions: ['hk'] },
          {
            name: 'CLI settlement',
            bin: '424242',
            currencies: ['HKD', 'USD'],
            region: 'hk',
            mode: 'sandbox',
          },
          { actor: { type: 'system', id: 'test' } },
        ),
      );
    } finally {
      vault.close();
    }
  });
  afterAll(async () => cli.close());

  // Each run starts a process (and on PGlite reopens the data directory): seconds apiece.
  const CLI_TIMEOUT_MS = 120_000;

  it('refuses what cannot be settled', { timeout: CLI_TIMEOUT_MS }, async () => {
    const noProgram = await cli.run(['settlement', 'run', '--date', firstDate]);
    expect(noProgram.code).toBe(2);
    expect(noProgram.stderr).toContain('--date needs --program');

    const future = await cli.run([
      'settlement',
      'run',
      '--program',
      program.id,
      '--currency',
      'HKD',
      '--date',
      hongKongDate(new Date(Date.now() + DAY_MS)),
    ]);
    expect(future.code).toBe(1);
    expect(future.stderr).toContain('a day is settled once it has ended');
  });

  it(
    'settles one day with --date, then every ended day, then nothing',
    { timeout: CLI_TIMEOUT_MS },
    async () => {
      const one = await cli.run([
        'settlement',
        'run',
        '--program',
        program.id,
        '--currency',
        'HKD',
        '--date',
        firstDate,
      ]);
      expect(one.code, one.stderr).toBe(0);
      expect(one.stdout).toMatch(
        new RegExp(
          `^stl_\\w+ ${program.id} HKD ${firstDate}: captures 0/0, .* net 0 \\(reconciled with the ledger\\)\\n$`,
        ),
      );

      const due = await cli.run(['settlement', 'run']);
      expect(due.code, due.stderr).toBe(0);
      const stored = await cli.db().query<{ currency: string; day: string }>(
        `SELECT currency, to_char(settlement_date, 'YYYY-MM-DD') AS day FROM settlements
         WHERE program_id = $1 ORDER BY currency, settlement_date`,
        [program.id],
      );
      const yesterday = hongKongDate(new Date(Date.now() - DAY_MS));
      for (const currency of ['HKD', 'USD']) {
        const days = stored.rows.filter((row) => row.currency === currency).map((row) => row.day);
        // Every day from the first to yesterday in Hong Kong, each once.
        expect(days[0]).toBe(firstDate);
        expect(days.at(-1)).toBe(yesterday);
        expect(new Set(days).size).toBe(days.length);
        expect(days.length).toBeGreaterThanOrEqual(3);
      }
      // The day settled with --date is not settled again.
      expect(due.stdout.split('\n').filter((line) => line.startsWith('stl_'))).toHaveLength(
        stored.rows.length - 1,
      );
      const audited = await cli.db().query<{ n: number }>(
        `SELECT count(*)::bigint AS n FROM audit_log
         WHERE action = 'settlement.created' AND actor_type = 'cli' AND program_id = $1`,
        [program.id],
      );
      expect(audited.rows[0]?.n).toBe(stored.rows.length);

      const again = await cli.run(['settlement', 'run']);
      expect(again.code).toBe(0);
      expect(again.stdout.trim()).toBe('nothing to settle');
    },
  );
});
