import { describe, expect, it } from 'vitest';
import { LantauError } from '../../platform/errors.js';
import { formatMoney } from '../../platform/money.js';
import { sandboxProvider } from './providers.js';
import {
  KYC_STATUSES,
  KYC_TRANSITIONS,
  VERIFICATION_STATUSES,
  kycMoveAllowed,
  outcomeMove,
  startRefusal,
  tierOf,
} from './status.js';
import {
  DEFAULT_KYC_TIERS,
  limitsFor,
  loadRefusal,
  loadYearStart,
  mergeTierChanges,
  perTransactionLimit,
} from './tiers.js';

describe('the KYC status machine', () => {
  it('holds everyone but the verified to the unverified tier', () => {
    expect(KYC_STATUSES.map((status) => [status, tierOf(status)])).toEqual([
      ['unverified', 'unverified'],
      ['pending', 'unverified'],
      ['verified', 'verified'],
      ['rejected', 'unverified'],
      ['documents_required', 'unverified'],
    ]);
  });

  it('starts a verification only with none open and not verified', () => {
    expect(startRefusal('unverified')).toBeUndefined();
    expect(startRefusal('rejected')).toBeUndefined();
    expect(startRefusal('pending', 'kyc_1')?.code).toBe('verification_open');
    expect(startRefusal('documents_required')?.code).toBe('verification_open');
    expect(startRefusal('verified')?.code).toBe('cardholder_already_verified');
  });

  it('moves an open verification anywhere, a closed one nowhere, and the same answer twice is no move', () => {
    for (const from of VERIFICATION_STATUSES) {
      for (const to of VERIFICATION_STATUSES) {
        const move = outcomeMove(from, to);
        if (from === to) expect(move).toBe('unchanged');
        else if (from === 'pending' || from === 'documents_required') expect(move).toBe('move');
        else expect(move instanceof LantauError && move.code).toBe('verification_closed');
      }
    }
  });

  it('allows the cardholder every move that starts or answers a verification, and only those', () => {
    // Whatever a verification may move to from an open status, the cardholder in that status may follow.
    for (const from of ['pending', 'documents_required'] as const) {
      for (const to of VERIFICATION_STATUSES) {
        if (outcomeMove(from, to) !== 'move') continue;
        expect(kycMoveAllowed(from, to), `${from} -> ${to}`).toBe(true);
      }
    }
    // Whoever may start one may take any first answer.
    for (const from of KYC_STATUSES.filter((status) => startRefusal(status) === undefined)) {
      for (const to of VERIFICATION_STATUSES) expect(kycMoveAllowed(from, to), `${from} -> ${to}`).toBe(true);
    }
    expect(KYC_TRANSITIONS.verified).toEqual([]);
    expect(kycMoveAllowed('verified', 'rejected')).toBe(false);
    expect(kycMoveAllowed('pending', 'unverified')).toBe(false);
  });

  it('gives the sandbox’s documented test values', async () => {
    const subject = {
      cardholderId: 'chd_1',
      programId: 'prog_1',
      name: 'Test',
      email: null,
      phoneNumber: null,
      dateOfBirth: null,
      nationality: null,
      address: null,
    };
    expect(await sandboxProvider.start(subject, {})).toMatchObject({ outcome: 'verified', reasons: [] });
    for (const outcome of VERIFICATION_STATUSES) {
      const answer = await sandboxProvider.start(subject, { testOutcome: outcome });
      expect(answer.outcome).toBe(outcome);
      expect(answer.reference).toMatch(/^sandbox_[0-9a-f]{24}$/);
    }
  });
});

describe('KYC tier limits', () => {
  const effect = { status: 'unverified' as const, currency: 'HKD', amount: 0, balance: 0, loadedInYear: 0 };

  it('applies the HKD defaults, and no limits to another currency until set', () => {
    expect(limitsFor(null, 'unverified', 'HKD')).toEqual({
      max_balance: 300_000,
      max_loads_per_year: 2_500_000,
      max_per_transaction: 300_000,
    });
    expect(limitsFor(null, 'verified', 'HKD')?.max_loads_per_year).toBe(120_000_000);
    expect(limitsFor(null, 'unverified', 'USD')).toBeUndefined();
    expect(loadRefusal(null, { ...effect, currency: 'USD', amount: 1 })?.code).toBe('kyc_limits_unset');
  });

  it('refuses a load past the balance cap or the year’s loads, to the minor unit', () => {
    expect(loadRefusal(null, { ...effect, amount: 100_000, balance: 200_000 })).toBeUndefined();
    expect(loadRefusal(null, { ...effect, amount: 100_001, balance: 200_000 })?.code).toBe(
      'kyc_balance_limit_exceeded',
    );
    expect(loadRefusal(null, { ...effect, amount: 100_000, loadedInYear: 2_400_000 })).toBeUndefined();
    expect(loadRefusal(null, { ...effect, amount: 100_001, loadedInYear: 2_400_000 })?.code).toBe(
      'kyc_annual_load_limit_exceeded',
    );
    expect(
      loadRefusal(null, { ...effect, status: 'verified', amount: 100_001, balance: 200_000 }),
    ).toBeUndefined();
  });

  it('counts the year from the same moment a year earlier', () => {
    expect(loadYearStart(new Date('2026-03-01T12:00:00.000Z')).toISOString()).toBe(
      '2025-03-01T12:00:00.000Z',
    );
    expect(loadYearStart(new Date('2028-02-29T00:00:00.000Z')).toISOString()).toBe(
      '2027-03-01T00:00:00.000Z',
    );
  });

  it('checks the per-transaction maximum of the tier, and skips a currency without limits', () => {
    expect(perTransactionLimit(null, 'pending', 'HKD', 300_000)).toEqual({ within: true });
    const over = perTransactionLimit(null, 'pending', 'HKD', 300_001);
    expect(over.within).toBe(false);
    expect(over.detail).toBe(
      'HKD 3,000.01 is above the unverified tier’s per-transaction maximum of HKD 3,000.00 (the cardholder is pending)',
    );
    expect(perTransactionLimit(null, 'verified', 'HKD', 300_001)).toEqual({ within: true });
    expect(perTransactionLimit(null, 'verified', 'JPY', 1).within).toBeUndefined();
  });

  it('merges a change over what is stored, keeping the limits it does not name', () => {
    const merged = mergeTierChanges({ unverified: { HKD: { max_per_transaction: 100_000 } } }, null, ['HKD']);
    expect(merged).toEqual({
      unverified: { HKD: { ...DEFAULT_KYC_TIERS.unverified.HKD, max_per_transaction: 100_000 } },
      verified: {},
    });
    const again = mergeTierChanges({ unverified: { HKD: { max_balance: 200_000 } } }, merged, ['HKD']);
    expect(again).toMatchObject({
      unverified: {
        HKD: { max_balance: 200_000, max_loads_per_year: 2_500_000, max_per_transaction: 100_000 },
      },
    });
  });

  it('refuses a malformed stored value loudly rather than reading it as no limit', () => {
    expect(() => limitsFor({ unverified: { HKD: { max_balance: 1 } } }, 'unverified', 'HKD')).toThrow(
      /malformed/,
    );
  });
});

describe('formatMoney', () => {
  it('writes minor units in the currency’s major unit, by digits', () => {
    expect(formatMoney(300_000, 'HKD')).toBe('HKD 3,000.00');
    expect(formatMoney(5, 'HKD')).toBe('HKD 0.05');
    expect(formatMoney(1_234_567, 'JPY')).toBe('JPY 1,234,567');
    expect(formatMoney(1_234, 'BHD')).toBe('BHD 1.234');
    expect(formatMoney(Number.MAX_SAFE_INTEGER, 'HKD')).toBe('HKD 90,071,992,547,409.91');
  });
});
