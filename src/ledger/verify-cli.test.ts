import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCliDatabase, type CliDatabase } from '../../test/support/cli.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { Ledger } from './ledger.js';

describe('`lantau ledger verify`', () => {
  let cli: CliDatabase;
  beforeAll(async () => {
    cli = await openCliDatabase();
    const clock = new ManualClock('2026-04-01T00:00:00.000Z');
    const ledger = new Ledger({ db: cli.db(), clock, ids: createIdGenerator(clock) });
    await ledger.createAccounts([
      { id: 'cli_funding', programId: 'prog_cli', currency: 'HKD', kind: 'funding' },
      { id: 'cli_wallet', programId: 'prog_cli', currency: 'HKD', kind: 'wallet' },
    ]);
    await ledger.transfer({
      id: 'cli_load',
      kind: 'posted',
      debitAccountId: 'cli_funding',
      creditAccountId: 'cli_wallet',
      amount: 12_345,
      currency: 'HKD',
    });
  });
  afterAll(async () => cli.close());

  it('passes a consistent ledger, then fails and names the account edited behind its back', async () => {
    const clean = await cli.run(['ledger', 'verify']);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('HKD: 2 accounts, posted 12345 debits / 12345 credits');
    expect(clean.stdout).toContain('ledger verified: 2 accounts, 1 transfers');

    await cli.db().query(`UPDATE ledger_accounts SET credits_posted = 99999 WHERE id = 'cli_wallet'`);
    const broken = await cli.run(['ledger', 'verify']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('cli_wallet: credits_posted 99999, transfers say 12345');
    expect(broken.stdout).toContain('UNBALANCED');
  });
});
