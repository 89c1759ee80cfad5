import { updateKycTiers, type TierLimits } from '../../src/compliance/kyc/tiers.js';
import { createApiKey } from '../../src/issuing/api-keys.js';
import { fundProgram } from '../../src/issuing/funding.js';
import { createProgram, type NewProgram, type Program } from '../../src/issuing/programs.js';
import { updateRiskProtections } from '../../src/processing/risk-rules.js';
import type { TestApi } from './app.js';

export interface TestProgram {
  readonly program: Program;
  /** A key with every scope, as the sandbox's. */
  readonly secret: string;
  readonly headers: { readonly authorization: string };
}

let counter = 0;
/** Deposited in every currency of a test programme, so tests load wallets freely. */
export const TEST_FUNDING = 1_000_000_000_000;

/** KYC tier limits no test reaches: see `createTestProgram`. */
export const UNLIMITED_KYC_LIMITS: TierLimits = {
  max_balance: Number.MAX_SAFE_INTEGER,
  max_loads_per_year: Number.MAX_SAFE_INTEGER,
  max_per_transaction: Number.MAX_SAFE_INTEGER,
};

/**
 * A programme with a `*` key, made through the issuing part directly (the HTTP routes have tests of their own).
 *
 * Its KYC tiers are unlimited in every currency it holds (`kyc: 'unlimited'`, the default): most tests load wallets
 * of unverified cardholders with far more than the HKD 3,000 an unverified tier allows, or hold currencies without
 * default limits, and are about something else. Tests of KYC itself take `kyc: 'defaults'`, the limits a real
 * programme starts with.
 */
export async function createTestProgram(
  api: Pick<TestApi, 'db' | 'issuing'>,
  input: Partial<NewProgram> = {},
  options: { readonly kyc?: 'unlimited' | 'defaults' } = {},
): Promise<TestProgram> {
  counter += 1;
  return api.db.transaction(async (tx) => {
    const program = await createProgram(
      tx,
      api.issuing,
      {
        name: `Test programme ${counter}`,
        bin: '424242',
        currencies: ['HKD', 'USD'],
        region: 'hk',
        mode: 'sandbox',
        ...input,
      },
      { actor: { type: 'system', id: 'test' } },
    );
    for (const currency of program.currencies) {
      await fundProgram(
        tx,
        api.issuing,
        program.id,
        { amount: TEST_FUNDING, currency },
        { actor: { type: 'system', id: 'test' } },
      );
    }
    if ((options.kyc ?? 'unlimited') === 'unlimited') {
      const unlimited = Object.fromEntries(
        program.currencies.map((currency) => [currency, UNLIMITED_KYC_LIMITS]),
      );
      await updateKycTiers(
        tx,
        api.issuing,
        program.id,
        { unverified: unlimited, verified: unlimited },
        { actor: { type: 'system', id: 'test' } },
      );
    }
    const { secret } = await createApiKey(
      tx,
      api.issuing,
      { programId: program.id, scopes: ['*'] },
      { actor: { type: 'system', id: 'test' } },
    );
    return { program, secret, headers: { authorization: `Bearer ${secret}` } };
  });
}

/**
 * Turns a programme's built-in fraud protections off, for tests that fire many authorizations at one card at one
 * instant on purpose (concurrency, limits, ledger exactness), which the burst protection would otherwise decline.
 */
export async function withoutProtections(
  api: Pick<TestApi, 'db' | 'issuing'>,
  test: TestProgram,
): Promise<TestProgram> {
  await api.db.transaction((tx) =>
    updateRiskProtections(
      tx,
      api.issuing,
      test.program.id,
      { card_testing: { enabled: false }, burst: { enabled: false } },
      { actor: { type: 'system', id: 'test' } },
    ),
  );
  return test;
}
