import { XmlDocument } from 'libxml2-wasm';
import { describe, expect, it } from 'vitest';
import { LantauError } from '../../platform/errors.js';
import {
  STR_XML_NAMESPACE,
  buildStrPackage,
  decimalAmount,
  validateStrJson,
  validateStrXml,
  type StrInput,
  type StrPackageJson,
  type StrTransaction,
} from './report.js';

// ---- A realistic case -----------------------------------------------------------------------------------------------
//
// Structuring across cards: a verified cardholder loads HKD 7,900 four times in three days (just under an HKD 8,000
// threshold), spends it abroad on three cards, one of them closed since, and unloads the rest. Two alerts led to the
// case; the analyst decided to report and paused the cards.

const SUBJECT_NAME = '陳大文 (Chan Tai Man)';
const SUBJECT_EMAIL = 'chan.taiman@example.hk';
const SUBJECT_PHONE = '+85291234567';
const SUBJECT_OCCUPATION = 'Clerk, trading company';
const KYC_REJECTED = 'kyc_01jq8t5a1b2c3d4e5f6g7h8j9k';
const KYC_VERIFIED = 'kyc_01jq8t9a1b2c3d4e5f6g7h8j9k';

const CARD_A = 'card_01jq8v2k3m4n5p6q7r8s9t0v1w';
const CARD_B = 'card_01jq8v2k3m4n5p6q7r8s9t0v1x';
const CARD_C = 'card_01jq9a1b2c3d4e5f6g7h8j9k0m';
const WALLET_HKD = 'acct_01jq8v0a1b2c3d4e5f6g7h8j9k';
const WALLET_USD = 'acct_01jq8v0a1b2c3d4e5f6g7h8j9m';

function transactions(): StrTransaction[] {
  const load = (day: string, n: number): StrTransaction => ({
    id: `load_01jqa${String(n)}b2c3d4e5f6g7h8j9k0m1`,
    kind: 'load',
    at: `2026-02-${day}T02:1${String(n)}:00Z`,
    amount: 7_900_00,
    currency: 'HKD',
    accountId: WALLET_HKD,
  });
  return [
    load('10', 1),
    load('10', 2),
    load('11', 3),
    load('12', 4),
    {
      id: 'auth_01jqb1c2d3e4f5g6h7j8k9m0n1',
      kind: 'authorization',
      at: '2026-02-12T18:40:05.250+08:00',
      amount: 12_000_00,
      currency: 'HKD',
      approved: true,
      cardId: CARD_A,
      accountId: WALLET_HKD,
      merchant: { name: 'Golden Sands Jewellery & Watches', country: 'MO', mcc: '5944' },
    },
    {
      id: 'txn_01jqb1c2d3e4f5g6h7j8k9m0n2',
      kind: 'capture',
      at: '2026-02-13T01:00:00Z',
      amount: 12_000_00,
      currency: 'HKD',
      cardId: CARD_A,
      accountId: WALLET_HKD,
      merchant: { name: 'Golden Sands Jewellery & Watches', country: 'MO', mcc: '5944' },
    },
    {
      id: 'auth_01jqb1c2d3e4f5g6h7j8k9m0n3',
      kind: 'authorization',
      at: '2026-02-13T03:00:00Z',
      amount: 9_500_00,
      currency: 'HKD',
      approved: false,
      cardId: CARD_B,
      accountId: WALLET_HKD,
      merchant: { name: 'Casino Lisboa Cashier', country: 'MO', mcc: '7995' },
    },
    {
      id: 'txn_01jqb1c2d3e4f5g6h7j8k9m0n4',
      kind: 'force_post',
      at: '2026-02-14T09:00:00+08:00',
      amount: 4_800_00,
      currency: 'HKD',
      cardId: CARD_C,
      accountId: WALLET_HKD,
      merchant: { name: null, country: 'SG', mcc: '6051' },
    },
    {
      id: 'unld_01jqc1c2d3e4f5g6h7j8k9m0n5',
      kind: 'unload',
      at: '2026-02-15T00:00:00Z',
      amount: 4_500_00,
      currency: 'HKD',
      accountId: WALLET_HKD,
    },
    {
      id: 'txn_01jqc1c2d3e4f5g6h7j8k9m0n6',
      kind: 'refund',
      at: '2026-02-15T06:30:00Z',
      amount: 19_99,
      currency: 'USD',
      cardId: CARD_B,
      accountId: WALLET_USD,
      merchant: { name: 'Example Store Inc.', country: 'US', mcc: '5311' },
    },
  ];
}

function realisticInput(): StrInput {
  return {
    reportId: 'str_01jqd0a1b2c3d4e5f6g7h8j9k0',
    caseId: 'case_01jqc9a1b2c3d4e5f6g7h8j9k0',
    decidedAt: '2026-02-20T07:45:00Z',
    institution: {
      programId: 'prog_01jp0a1b2c3d4e5f6g7h8j9k0m',
      programName: 'Harbour Pay',
      licenceNumber: 'SVF0099',
      name: 'Harbour Pay Limited',
      address: 'Unit 1201, 12/F, Harbour Centre\n25 Harbour Road, Wan Chai, Hong Kong',
      contactName: 'Lee Ka Wai (MLRO)',
      contactPhone: '+85221234567',
      contactEmail: 'compliance@harbourpay.example',
      platform: { name: 'Lantau', version: '0.1.0' },
    },
    subject: {
      id: 'chd_01jq8t0a1b2c3d4e5f6g7h8j9k',
      name: SUBJECT_NAME,
      dateOfBirth: '1988-07-16',
      nationality: 'HK',
      occupation: SUBJECT_OCCUPATION,
      address: {
        line1: 'Flat 12B, Tower 3, Harbour View Gardens',
        line2: '8 Tai Kok Tsui Road',
        city: 'Kowloon',
        state: null,
        postalCode: null,
        country: 'HK',
      },
      email: SUBJECT_EMAIL,
      phoneNumber: SUBJECT_PHONE,
      kycStatus: 'verified',
      // Listed newest first, as issuing reads them; the package lists them by id.
      identityVerifications: [
        {
          id: KYC_VERIFIED,
          provider: 'manual',
          status: 'verified',
          reference: 'review-2026-0117',
          startedAt: new Date('2026-01-16T02:00:00Z'),
          decidedAt: new Date('2026-01-17T03:30:00Z'),
        },
        {
          id: KYC_REJECTED,
          provider: 'onfido',
          status: 'rejected',
          reference: 'chk_8f2a1c',
          startedAt: '2026-01-10T09:00:00+08:00',
          decidedAt: '2026-01-10T09:05:00+08:00',
        },
      ],
    },
    accounts: [
      { id: WALLET_USD, currency: 'USD', balance: 19_99, status: 'active' },
      { id: WALLET_HKD, currency: 'HKD', balance: 3_200_50, status: 'active' },
    ],
    cards: [
      { id: CARD_C, last4: '0042', status: 'closed' },
      { id: CARD_A, last4: '4242', status: 'paused' },
      { id: CARD_B, last4: '1881', status: 'paused' },
    ],
    transactions: transactions(),
    alerts: [
      {
        id: 'amla_01jqc2a1b2c3d4e5f6g7h8j9k0',
        scenario: 'structuring',
        reason: 'loads_below_threshold',
        summary: '4 loads of HKD 7,900.00 within 72 hours, each under HKD 8,000.00',
        window: { from: '2026-02-10T00:00:00Z', to: '2026-02-13T00:00:00Z' },
        activityIds: [
          'load_01jqa1b2c3d4e5f6g7h8j9k0m1',
          'load_01jqa2b2c3d4e5f6g7h8j9k0m1',
          'load_01jqa3b2c3d4e5f6g7h8j9k0m1',
          'load_01jqa4b2c3d4e5f6g7h8j9k0m1',
        ],
      },
      {
        id: 'amla_01jqc1a1b2c3d4e5f6g7h8j9k0',
        scenario: 'rapid_load_and_spend',
        reason: 'spent_within_hours',
        summary: 'HKD 31,600.00 loaded and HKD 16,800.00 spent abroad within 4 days, on 3 cards',
        window: { from: new Date('2026-02-10T00:00:00Z'), to: new Date('2026-02-14T00:00:00Z') },
        activityIds: ['auth_01jqb1c2d3e4f5g6h7j8k9m0n1', 'txn_01jqb1c2d3e4f5g6h7j8k9m0n4', CARD_C],
      },
    ],
    grounds:
      'The cardholder loaded HKD 31,600 in four loads of HKD 7,900 over three days, each just under the HKD 8,000 ' +
      'threshold, then spent it at a jeweller and a casino cashier in Macao and a money transfer merchant in ' +
      'Singapore, across three cards, one opened and closed within the window.\n\nThe cardholder’s stated ' +
      'occupation (clerk) does not explain the amounts. No reply to our request for the source of funds.',
    analyst: {
      userId: 'user_01jn0a1b2c3d4e5f6g7h8j9k0m',
      name: 'Wong Siu Ming',
      email: 'mlro@harbourpay.example',
    },
    actionTaken: 'All of the cardholder’s cards paused on 2026-02-20; the relationship is under review.',
  };
}

/** The input with some of its fields replaced; `undefined` in `changes` deletes the field. */
function withChanges(changes: Record<string, unknown>, base: StrInput = realisticInput()): StrInput {
  const input: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) Reflect.deleteProperty(input, key);
    else input[key] = value;
  }
  return input as unknown as StrInput;
}

function withVerification(index: number, changes: Record<string, unknown>): StrInput {
  const base = realisticInput();
  const list = (base.subject.identityVerifications ?? []).map((verification, at) =>
    at === index ? { ...verification, ...changes } : verification,
  );
  return withChanges({ subject: { ...base.subject, identityVerifications: list } }, base);
}

function withTransaction(index: number, changes: Record<string, unknown>): StrInput {
  const list = transactions().map((transaction, at) =>
    at === index ? { ...transaction, ...changes } : transaction,
  );
  return withChanges({ transactions: list });
}

function refusal(input: StrInput): LantauError {
  try {
    buildStrPackage(input);
  } catch (error) {
    if (error instanceof LantauError) return error;
    throw error;
  }
  throw new Error('buildStrPackage accepted the input');
}

// ---- Reading the XML back ----------------------------------------------------------------------------------------

const NS = { s: STR_XML_NAMESPACE };

function withXml<T>(xml: string, read: (document: XmlDocument) => T): T {
  const document = XmlDocument.fromString(xml);
  try {
    return read(document);
  } finally {
    document.dispose();
  }
}

function xmlTexts(xml: string, xpath: string): string[] {
  return withXml(xml, (document) => document.find(xpath, NS).map((node) => node.content));
}

/** A decimal back to minor units by its digits alone, given it has exactly `exponent` of them after the point. */
function minorUnits(decimal: string, exponent: number): number {
  const [whole = '', fraction = ''] = decimal.split('.');
  expect(fraction.length).toBe(exponent);
  return Number(`${whole}${fraction}`);
}

const EXPONENTS: Readonly<Record<string, number>> = { HKD: 2, USD: 2, JPY: 0, BHD: 3 };

function copy(json: StrPackageJson): Record<string, unknown> {
  return JSON.parse(JSON.stringify(json)) as Record<string, unknown>;
}

// ---- Tests --------------------------------------------------------------------------------------------------------

describe('a suspicious-transaction report package', () => {
  it('builds a realistic case that validates as JSON and as XML', () => {
    const { json, xml } = buildStrPackage(realisticInput());
    expect(validateStrJson(json)).toEqual([]);
    expect(validateStrJson(JSON.parse(JSON.stringify(json)))).toEqual([]);
    expect(validateStrXml(xml)).toEqual([]);
    expect(
      xml.startsWith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<str_package xmlns="urn:lantau:str-package:1">',
      ),
    ).toBe(true);

    expect(json.report).toEqual({
      id: 'str_01jqd0a1b2c3d4e5f6g7h8j9k0',
      kind: 'suspicious_transaction_report',
      recipient: 'HK-JFIU',
      case_id: 'case_01jqc9a1b2c3d4e5f6g7h8j9k0',
      decided_at: '2026-02-20T15:45:00+08:00',
      period: { from: '2026-02-10T10:11:00+08:00', to: '2026-02-15T14:30:00+08:00' },
    });
    expect(json.reporting_entity).toEqual({
      program_id: 'prog_01jp0a1b2c3d4e5f6g7h8j9k0m',
      program_name: 'Harbour Pay',
      licence_number: 'SVF0099',
      name: 'Harbour Pay Limited',
      address: 'Unit 1201, 12/F, Harbour Centre\n25 Harbour Road, Wan Chai, Hong Kong',
      contact_name: 'Lee Ka Wai (MLRO)',
      contact_phone: '+85221234567',
      contact_email: 'compliance@harbourpay.example',
      platform: { name: 'Lantau', version: '0.1.0' },
    });
    expect(json.reporting_officer).toEqual({
      user_id: 'user_01jn0a1b2c3d4e5f6g7h8j9k0m',
      name: 'Wong Siu Ming',
      email: 'mlro@harbourpay.example',
    });
    expect(json.subject).toMatchObject({ name: SUBJECT_NAME, nationality: 'HK', kyc_status: 'verified' });
    expect(json.subject.address).toMatchObject({ city: 'Kowloon', state: null, postal_code: null });
    expect(json.subject.occupation).toBe(SUBJECT_OCCUPATION);
    // The identification evidence: the provider's verifications, by id, in Hong Kong Time.
    expect(json.subject.identity_verifications).toEqual([
      {
        id: KYC_REJECTED,
        provider: 'onfido',
        status: 'rejected',
        reference: 'chk_8f2a1c',
        started_at: '2026-01-10T09:00:00+08:00',
        decided_at: '2026-01-10T09:05:00+08:00',
      },
      {
        id: KYC_VERIFIED,
        provider: 'manual',
        status: 'verified',
        reference: 'review-2026-0117',
        started_at: '2026-01-16T10:00:00+08:00',
        decided_at: '2026-01-17T11:30:00+08:00',
      },
    ]);
    // Lists in a stable order: accounts and cards by id, transactions by time, alerts by id.
    expect(json.accounts.map((account) => account.id)).toEqual([WALLET_HKD, WALLET_USD]);
    expect(json.cards.map((card) => card.id)).toEqual([CARD_A, CARD_B, CARD_C]);
    expect(json.transactions.map((transaction) => transaction.kind)).toEqual([
      'load',
      'load',
      'load',
      'load',
      'authorization',
      'capture',
      'authorization',
      'force_post',
      'unload',
      'refund',
    ]);
    expect(json.transactions[4]).toEqual({
      id: 'auth_01jqb1c2d3e4f5g6h7j8k9m0n1',
      kind: 'authorization',
      direction: 'debit',
      at: '2026-02-12T18:40:05.250+08:00',
      amount: 1_200_000,
      currency: 'HKD',
      approved: true,
      card_id: CARD_A,
      account_id: WALLET_HKD,
      merchant: { name: 'Golden Sands Jewellery & Watches', country: 'MO', mcc: '5944' },
    });
    expect(json.transactions.map((transaction) => transaction.direction)).toEqual([
      'credit',
      'credit',
      'credit',
      'credit',
      'debit',
      'debit',
      'debit',
      'debit',
      'debit',
      'credit',
    ]);
    expect(json.totals).toEqual([
      { currency: 'HKD', kind: 'load', count: 4, amount: 3_160_000 },
      { currency: 'HKD', kind: 'unload', count: 1, amount: 450_000 },
      { currency: 'HKD', kind: 'authorization', count: 2, amount: 2_150_000 },
      { currency: 'HKD', kind: 'capture', count: 1, amount: 1_200_000 },
      { currency: 'HKD', kind: 'force_post', count: 1, amount: 480_000 },
      { currency: 'USD', kind: 'refund', count: 1, amount: 1_999 },
    ]);
    expect(json.alerts.map((alert) => alert.scenario)).toEqual(['rapid_load_and_spend', 'structuring']);
    expect(json.alerts[0]?.window).toEqual({
      from: '2026-02-10T08:00:00+08:00',
      to: '2026-02-14T08:00:00+08:00',
    });
    expect(json.reason_for_suspicion).toContain('\n\nThe cardholder’s stated occupation');
    expect(json.action_taken).toMatch(/^All of the cardholder’s cards paused/);
  });

  it('carries the same figures in the XML as in the JSON', () => {
    const { json, xml } = buildStrPackage(realisticInput());
    const exponent = (currency: string) => EXPONENTS[currency] ?? Number.NaN;

    const transactionIds = xmlTexts(xml, '//s:transaction/s:id');
    const amounts = xmlTexts(xml, '//s:transaction/s:amount');
    const currencies = xmlTexts(xml, '//s:transaction/s:currency');
    const times = xmlTexts(xml, '//s:transaction/s:at');
    expect(transactionIds).toEqual(json.transactions.map((transaction) => transaction.id));
    expect(currencies).toEqual(json.transactions.map((transaction) => transaction.currency));
    expect(times).toEqual(json.transactions.map((transaction) => transaction.at));
    expect(amounts.map((amount, index) => minorUnits(amount, exponent(currencies[index] ?? '')))).toEqual(
      json.transactions.map((transaction) => transaction.amount),
    );
    expect(amounts.slice(0, 1)).toEqual(['7900.00']);

    const balances = xmlTexts(xml, '//s:account/s:balance');
    const balanceCurrencies = xmlTexts(xml, '//s:account/s:currency');
    expect(balances).toEqual(['3200.50', '19.99']);
    expect(
      balances.map((balance, index) => minorUnits(balance, exponent(balanceCurrencies[index] ?? ''))),
    ).toEqual(json.accounts.map((account) => account.balance));

    const totals = withXml(xml, (document) =>
      document.find('//s:total', NS).map((total) => {
        const text = (name: string) => total.get(`s:${name}`, NS)?.content ?? '';
        return {
          currency: text('currency'),
          kind: text('kind'),
          count: Number(text('count')),
          amount: minorUnits(text('amount'), exponent(text('currency'))),
        };
      }),
    );
    expect(totals).toEqual(json.totals);

    expect(xmlTexts(xml, '//s:transaction/s:approved')).toEqual(['true', 'false']);
    expect(xmlTexts(xml, '//s:subject/s:name')).toEqual([json.subject.name]);
    expect(xmlTexts(xml, '/s:str_package/s:reason_for_suspicion')).toEqual([json.reason_for_suspicion]);
    expect(xmlTexts(xml, '//s:report/s:decided_at')).toEqual([json.report.decided_at]);
    expect(xmlTexts(xml, '//s:reporting_entity/*[not(*)]')).toEqual([
      json.reporting_entity.program_id,
      json.reporting_entity.program_name,
      'SVF0099',
      'Harbour Pay Limited',
      json.reporting_entity.address,
      'Lee Ka Wai (MLRO)',
      '+85221234567',
      'compliance@harbourpay.example',
    ]);
    expect(xmlTexts(xml, '//s:subject/s:occupation')).toEqual([SUBJECT_OCCUPATION]);
    const verificationFields = ['id', 'provider', 'status', 'reference', 'started_at', 'decided_at'] as const;
    expect(
      withXml(xml, (document) =>
        document
          .find('//s:subject/s:identity_verifications/s:identity_verification', NS)
          .map((node) => verificationFields.map((name) => node.get(`s:${name}`, NS)?.content ?? null)),
      ),
    ).toEqual(
      json.subject.identity_verifications.map((verification) =>
        verificationFields.map((name) => verification[name]),
      ),
    );
    // JSON nulls are absent elements.
    expect(xmlTexts(xml, '//s:subject/s:address/s:state')).toEqual([]);
    expect(xmlTexts(xml, '//s:transaction[s:kind="force_post"]/s:merchant/*')).toEqual(['SG', '6051']);
  });

  it('writes amounts with the currency’s exponent, by digits alone', () => {
    expect(decimalAmount(1250, 'HKD')).toBe('12.50');
    expect(decimalAmount(5, 'HKD')).toBe('0.05');
    expect(decimalAmount(0, 'HKD')).toBe('0.00');
    expect(decimalAmount(1250, 'JPY')).toBe('1250');
    expect(decimalAmount(1, 'BHD')).toBe('0.001');
    expect(decimalAmount(9_007_199_254_740_991, 'HKD')).toBe('90071992547409.91');
    expect(() => decimalAmount(12.5, 'HKD')).toThrow(RangeError);
    expect(() => decimalAmount(1, 'XAU')).toThrow(RangeError);

    const input = withChanges({
      accounts: [{ id: WALLET_HKD, currency: 'HKD', balance: 0, status: 'active' }],
      cards: [],
      transactions: [
        { id: 'load_1', kind: 'load', at: '2026-02-10T00:00:00Z', amount: 5, currency: 'HKD' },
        { id: 'auth_2', kind: 'authorization', at: '2026-02-10T00:00:01Z', amount: 1250, currency: 'JPY' },
        { id: 'auth_3', kind: 'authorization', at: '2026-02-10T00:00:02Z', amount: 1, currency: 'BHD' },
        { id: 'auth_4', kind: 'authorization', at: '2026-02-10T00:00:03Z', amount: 0, currency: 'HKD' },
      ],
    });
    const { xml } = buildStrPackage(input);
    expect(validateStrXml(xml)).toEqual([]);
    expect(xmlTexts(xml, '//s:transaction/s:amount')).toEqual(['0.05', '1250', '0.001', '0.00']);
    expect(xmlTexts(xml, '//s:account/s:balance')).toEqual(['0.00']);
  });

  it('writes every time in Hong Kong Time, whatever offset it came with', () => {
    const at = (value: unknown) =>
      buildStrPackage(withTransaction(0, { at: value })).json.transactions.find((transaction) =>
        transaction.id.startsWith('load_01jqa1'),
      )?.at;
    expect(at('2026-02-10T02:11:00Z')).toBe('2026-02-10T10:11:00+08:00');
    expect(at('2026-02-09T21:11:00-05:00')).toBe('2026-02-10T10:11:00+08:00');
    expect(at('2026-02-10T10:11:00.5+08:00')).toBe('2026-02-10T10:11:00.500+08:00');
    expect(at(new Date(Date.UTC(2026, 1, 10, 2, 11)))).toBe('2026-02-10T10:11:00+08:00');
    for (const bad of [
      '2026-02-30T00:00:00Z',
      '2026-02-10T02:11:00',
      '2026-02-10',
      'yesterday',
      1_770_000_000_000,
    ]) {
      const error = refusal(withTransaction(0, { at: bad }));
      expect(error.code).toBe('parameter_invalid');
      expect(error.param).toBe('transactions[0].at');
    }
  });

  it('reports a cardholder who gave only a name: particulars never given are null in JSON, absent in XML', () => {
    const base = realisticInput();
    const input = withChanges({
      subject: {
        id: base.subject.id,
        name: 'Anonymous Buyer',
        kycStatus: 'unverified',
        dateOfBirth: null,
        email: '',
        phoneNumber: '   ',
      },
      alerts: [],
      actionTaken: undefined,
    });
    const { json, xml } = buildStrPackage(input);
    expect(json.subject).toEqual({
      cardholder_id: base.subject.id,
      name: 'Anonymous Buyer',
      date_of_birth: null,
      nationality: null,
      occupation: null,
      address: null,
      email: null,
      phone_number: null,
      kyc_status: 'unverified',
      identity_verifications: [],
    });
    expect([json.alerts, json.action_taken]).toEqual([[], null]);
    expect(validateStrJson(json)).toEqual([]);
    expect(validateStrXml(xml)).toEqual([]);
    expect(xmlTexts(xml, '//s:subject/*')).toEqual([base.subject.id, 'Anonymous Buyer', 'unverified', '']);
    // No verification held is said, not left to be inferred.
    expect(xml).toContain('    <identity_verifications/>\n');
    expect(xml).toContain('  <alerts/>\n');
    expect(xml).not.toContain('action_taken');
  });

  it('reports an institution that configured none of its particulars: null in JSON, absent in XML, never guessed', () => {
    const base = realisticInput();
    for (const institution of [
      {
        programId: base.institution.programId,
        programName: base.institution.programName,
        licenceNumber: base.institution.licenceNumber,
        platform: base.institution.platform,
      },
      {
        ...base.institution,
        name: null,
        address: ' ',
        contactName: '',
        contactPhone: null,
        contactEmail: null,
      },
    ]) {
      const { json, xml } = buildStrPackage(withChanges({ institution }));
      expect(json.reporting_entity).toEqual({
        program_id: base.institution.programId,
        program_name: 'Harbour Pay',
        licence_number: 'SVF0099',
        name: null,
        address: null,
        contact_name: null,
        contact_phone: null,
        contact_email: null,
        platform: { name: 'Lantau', version: '0.1.0' },
      });
      expect(validateStrJson(json)).toEqual([]);
      expect(validateStrXml(xml)).toEqual([]);
      expect(xmlTexts(xml, '//s:reporting_entity/*[not(*)]')).toEqual([
        base.institution.programId,
        'Harbour Pay',
        'SVF0099',
      ]);
    }
  });

  it('still validates a package filed before the institution’s particulars, occupation and verifications', () => {
    const { json, xml } = buildStrPackage(realisticInput());
    const earlier = copy(json);
    const entity = earlier.reporting_entity as Record<string, unknown>;
    for (const field of ['name', 'address', 'contact_name', 'contact_phone', 'contact_email']) {
      Reflect.deleteProperty(entity, field);
    }
    Reflect.deleteProperty(earlier.subject as Record<string, unknown>, 'occupation');
    Reflect.deleteProperty(earlier.subject as Record<string, unknown>, 'identity_verifications');
    expect(validateStrJson(earlier)).toEqual([]);
    const earlierXml = xml
      .replace(
        / *<(name|address|contact_name|contact_phone|contact_email)>[^<]*<\/\1>\n(?=[\s\S]*<platform>)/g,
        '',
      )
      .replace(/ *<occupation>[^<]*<\/occupation>\n/, '')
      .replace(/ *<identity_verifications>[\s\S]*<\/identity_verifications>\n/, '');
    expect(earlierXml).not.toContain('Harbour Pay Limited');
    expect(earlierXml).not.toContain('<contact_name>');
    expect(earlierXml).not.toContain('<identity_verification');
    expect(earlierXml).not.toContain('<occupation>');
    expect(validateStrXml(earlierXml)).toEqual([]);
  });

  it('escapes hostile names and keeps them exact, and the XML still validates', () => {
    const hostile = [
      `O'Brien & Sons <script>alert("x")</script>`,
      'Ends with ]]> and &amp; already',
      '李小龍 محمد 😀 Zoë',
      'Line one\r\nline two',
      '"quoted" \'single\'',
    ];
    for (const name of hostile) {
      const base = realisticInput();
      const input = withChanges({
        subject: { ...base.subject, name, address: { line1: name, city: '<City>', country: 'HK' } },
        analyst: { ...base.analyst, name },
        institution: { ...base.institution, programName: name },
        transactions: transactions().map((transaction) =>
          transaction.merchant
            ? { ...transaction, merchant: { ...transaction.merchant, name } }
            : transaction,
        ),
        grounds: `${name}\n${name}`,
      });
      const { json, xml } = buildStrPackage(input);
      expect(validateStrJson(json), name).toEqual([]);
      expect(validateStrXml(xml), name).toEqual([]);
      expect(xml).not.toContain('<script>');
      expect(xmlTexts(xml, '//s:subject/s:name')).toEqual([name]);
      expect(xmlTexts(xml, '//s:subject/s:address/s:line1')).toEqual([name]);
      expect(xmlTexts(xml, '//s:subject/s:address/s:city')).toEqual(['<City>']);
      expect(xmlTexts(xml, '//s:reporting_officer/s:name')).toEqual([name]);
      expect(xmlTexts(xml, '//s:reporting_entity/s:program_name')).toEqual([name]);
      expect(new Set(xmlTexts(xml, '//s:merchant/s:name'))).toEqual(new Set([name]));
      expect(xmlTexts(xml, '/s:str_package/s:reason_for_suspicion')).toEqual([`${name}\n${name}`]);
      expect(json.subject.name).toBe(name);
    }
  });

  it('refuses text XML cannot carry, without repeating it', () => {
    for (const name of ['Chan\u0000Tai Man', 'Chan\u001bTai Man', 'Chan\uD800Tai Man', 'Chan\uFFFETai Man']) {
      const base = realisticInput();
      const error = refusal(withChanges({ subject: { ...base.subject, name } }));
      expect(error.code).toBe('parameter_invalid');
      expect(error.param).toBe('subject.name');
      expect(error.message).not.toContain('Chan');
    }
  });

  it('gives the same bytes for the same input, whatever order its lists came in', () => {
    const first = buildStrPackage(realisticInput());
    const second = buildStrPackage(realisticInput());
    expect(second.xml).toBe(first.xml);
    expect(JSON.stringify(second.json)).toBe(JSON.stringify(first.json));

    const base = realisticInput();
    const shuffled = withChanges({
      accounts: [...base.accounts].reverse(),
      cards: [...base.cards].reverse(),
      transactions: [...base.transactions].reverse(),
      alerts: [...base.alerts].reverse(),
      decidedAt: new Date('2026-02-20T15:45:00+08:00'),
    });
    const third = buildStrPackage(shuffled);
    expect(third.xml).toBe(first.xml);
    expect(JSON.stringify(third.json)).toBe(JSON.stringify(first.json));
  });
});

describe('refusing a package that cannot be a report', () => {
  it('refuses one without grounds', () => {
    for (const grounds of [undefined, null, '', '   \n\t']) {
      const error = refusal(withChanges({ grounds }));
      expect(error.code).toBe('str_grounds_missing');
      expect(error.param).toBe('grounds');
      expect(error.status).toBe(400);
    }
  });

  it('refuses one without the analyst, or with an analyst missing a particular', () => {
    for (const analyst of [undefined, null, 'Wong Siu Ming']) {
      const error = refusal(withChanges({ analyst }));
      expect(error.code).toBe('str_analyst_missing');
      expect(error.param).toBe('analyst');
    }
    const base = realisticInput();
    for (const [field, value] of [
      ['email', undefined],
      ['email', 'not-an-address'],
      ['name', '  '],
      ['userId', 'user id with spaces'],
    ] as const) {
      const error = refusal(withChanges({ analyst: { ...base.analyst, [field]: value } }));
      expect(error.code).toBe('str_analyst_missing');
      expect(error.param).toBe(`analyst.${field}`);
    }
  });

  it('refuses a malformed amount or currency, naming the field', () => {
    for (const amount of [12.5, -1, '1250', Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, null, undefined]) {
      const error = refusal(withTransaction(2, { amount }));
      expect(error.code, String(amount)).toBe('amount_invalid');
      expect(error.param).toBe('transactions[2].amount');
      expect(error.message).toMatch(/^transactions\[2\]\.amount must be a whole number/);
    }
    const base = realisticInput();
    const balance = refusal(
      withChanges({ accounts: [{ ...base.accounts[0], balance: 19.99 }, base.accounts[1]] }),
    );
    expect([balance.code, balance.param]).toEqual(['amount_invalid', 'accounts[0].balance']);
    for (const currency of ['XAU', 'HKX', 'hkd', '']) {
      const error = refusal(withTransaction(1, { currency }));
      expect([error.code, error.param]).toEqual(['currency_invalid', 'transactions[1].currency']);
    }
  });

  it('refuses missing parts, loose references, repeats and misplaced fields', () => {
    const base = realisticInput();
    const cases: [StrInput, string, string][] = [
      [withChanges({ transactions: [] }), 'parameter_invalid', 'transactions'],
      [withChanges({ subject: undefined }), 'parameter_missing', 'subject'],
      [withChanges({ subject: { ...base.subject, name: ' ' } }), 'parameter_missing', 'subject.name'],
      [
        withChanges({ subject: { ...base.subject, kycStatus: 'approved' } }),
        'parameter_invalid',
        'subject.kycStatus',
      ],
      [
        withChanges({ institution: { ...base.institution, licenceNumber: '' } }),
        'parameter_missing',
        'institution.licenceNumber',
      ],
      [withChanges({ reportId: undefined }), 'parameter_missing', 'reportId'],
      [withChanges({ decidedAt: 'soon' }), 'parameter_invalid', 'decidedAt'],
      [
        withChanges({ institution: { ...base.institution, contactPhone: '2123 4567' } }),
        'parameter_invalid',
        'institution.contactPhone',
      ],
      [
        withChanges({ institution: { ...base.institution, contactEmail: 'compliance at harbourpay' } }),
        'parameter_invalid',
        'institution.contactEmail',
      ],
      [
        withChanges({ institution: { ...base.institution, address: 'x'.repeat(501) } }),
        'parameter_invalid',
        'institution.address',
      ],
      [
        withChanges({ subject: { ...base.subject, occupation: 'x'.repeat(201) } }),
        'parameter_invalid',
        'subject.occupation',
      ],
      [
        withVerification(0, { status: 'approved' }),
        'parameter_invalid',
        'subject.identityVerifications[0].status',
      ],
      [
        withVerification(0, { provider: 'Onfido Ltd' }),
        'parameter_invalid',
        'subject.identityVerifications[0].provider',
      ],
      [
        withVerification(0, { startedAt: undefined }),
        'parameter_missing',
        'subject.identityVerifications[0].startedAt',
      ],
      [
        withVerification(0, { decidedAt: '2026-01-01T00:00:00Z' }),
        'parameter_invalid',
        'subject.identityVerifications[0].decidedAt',
      ],
      [withVerification(1, { id: KYC_VERIFIED }), 'parameter_invalid', 'subject.identityVerifications[1].id'],
      [withTransaction(4, { cardId: 'card_unknown' }), 'parameter_invalid', 'transactions[4].cardId'],
      [withTransaction(0, { accountId: 'acct_unknown' }), 'parameter_invalid', 'transactions[0].accountId'],
      [
        withTransaction(1, { id: 'load_01jqa1b2c3d4e5f6g7h8j9k0m1' }),
        'parameter_invalid',
        'transactions[1].id',
      ],
      [withTransaction(0, { approved: true }), 'parameter_invalid', 'transactions[0].approved'],
      [withTransaction(0, { kind: 'wire' }), 'parameter_invalid', 'transactions[0].kind'],
      [withTransaction(4, { merchant: { mcc: '59' } }), 'parameter_invalid', 'transactions[4].merchant.mcc'],
      [
        withChanges({ cards: [{ id: CARD_A, last4: '42', status: 'active' }] }),
        'parameter_invalid',
        'cards[0].last4',
      ],
      [
        withChanges({
          alerts: [
            { ...base.alerts[0], window: { from: '2026-02-13T00:00:00Z', to: '2026-02-10T00:00:00Z' } },
          ],
        }),
        'parameter_invalid',
        'alerts[0].window.to',
      ],
      [
        withChanges({ transactions: Array.from({ length: 10_001 }, () => base.transactions[0]) }),
        'parameter_invalid',
        'transactions',
      ],
    ];
    for (const [input, code, param] of cases) {
      const error = refusal(input);
      expect([error.code, error.param], param).toEqual([code, param]);
    }
  });

  it('never repeats the subject’s personal data in an error', () => {
    const base = realisticInput();
    const personal = [
      '1990-02-30',
      'chan.taiman@@example',
      '+852 9123 4567',
      'Chan\u0007Tai Man',
      'Hong Kong Island',
      'Croupier\u0000Macao',
    ];
    const inputs = [
      withChanges({ subject: { ...base.subject, dateOfBirth: personal[0] } }),
      withChanges({ subject: { ...base.subject, email: personal[1] } }),
      withChanges({ subject: { ...base.subject, phoneNumber: personal[2] } }),
      withChanges({ subject: { ...base.subject, name: personal[3] } }),
      withChanges({ subject: { ...base.subject, nationality: personal[4] } }),
      withChanges({ subject: { ...base.subject, occupation: personal[5] } }),
      withChanges({
        subject: { ...base.subject, address: { line1: personal[4], city: 'x'.repeat(201), country: 'HK' } },
      }),
    ];
    for (const input of inputs) {
      const error = refusal(input);
      const said = `${error.message} ${error.param ?? ''}`;
      for (const value of [
        ...personal,
        'Croupier',
        SUBJECT_NAME,
        SUBJECT_EMAIL,
        SUBJECT_PHONE,
        SUBJECT_OCCUPATION,
        'xxxxxxxx',
      ]) {
        expect(said).not.toContain(value);
      }
    }
  });
});

describe('validating a hand-broken package', () => {
  function brokenJson(edit: (json: Record<string, unknown>) => void): unknown {
    const json = copy(buildStrPackage(realisticInput()).json);
    edit(json);
    return json;
  }

  function part(json: Record<string, unknown>, ...path: (string | number)[]): Record<string, unknown> {
    let at: unknown = json;
    for (const key of path) at = (at as Record<string | number, unknown>)[key];
    return at as Record<string, unknown>;
  }

  it('finds what is wrong with the JSON', () => {
    const cases: [string, (json: Record<string, unknown>) => void, RegExp][] = [
      [
        'no grounds',
        (json) => delete json.reason_for_suspicion,
        /^\/: must have required property 'reason_for_suspicion'/,
      ],
      ['blank grounds', (json) => (json.reason_for_suspicion = ' '), /^\/reason_for_suspicion: must/],
      ['no analyst', (json) => delete json.reporting_officer, /required property 'reporting_officer'/],
      [
        'analyst without email',
        (json) => delete part(json, 'reporting_officer').email,
        /^\/reporting_officer: must have required property 'email'/,
      ],
      [
        'fractional amount',
        (json) => (part(json, 'transactions', 2).amount = 12.5),
        /^\/transactions\/2\/amount: must be integer/,
      ],
      [
        'amount as text',
        (json) => (part(json, 'transactions', 2).amount = '790000'),
        /^\/transactions\/2\/amount: must be integer/,
      ],
      [
        'negative amount',
        (json) => (part(json, 'transactions', 2).amount = -1),
        /^\/transactions\/2\/amount: must be >= 0/,
      ],
      [
        'unsafe amount',
        (json) => (part(json, 'accounts', 0).balance = 2 ** 53),
        /^\/accounts\/0\/balance: must be <= 9007199254740991/,
      ],
      [
        'time without offset',
        (json) => (part(json, 'transactions', 0).at = '2026-02-10T10:11:00'),
        /^\/transactions\/0\/at: must match/,
      ],
      [
        'unknown field',
        (json) => (part(json, 'subject').passport = 'K1234567'),
        /^\/subject: must NOT have additional properties \(passport\)/,
      ],
      [
        'unknown verification status',
        (json) => (part(json, 'subject', 'identity_verifications', 0).status = 'approved'),
        /^\/subject\/identity_verifications\/0\/status: must be equal to one of the allowed values/,
      ],
      [
        'contact phone not E.164',
        (json) => (part(json, 'reporting_entity').contact_phone = '2123 4567'),
        /^\/reporting_entity\/contact_phone: must match its pattern: E.164/,
      ],
      [
        'unknown currency',
        (json) => (part(json, 'transactions', 9).currency = 'ZZZ'),
        /^\/transactions\/9\/currency: must be an ISO 4217/,
      ],
      [
        'loose card',
        (json) => (part(json, 'transactions', 4).card_id = 'card_other'),
        /^\/transactions\/4\/card_id: names no card/,
      ],
      [
        'wrong direction',
        (json) => (part(json, 'transactions', 0).direction = 'debit'),
        /^\/transactions\/0\/direction: a load is a credit/,
      ],
      [
        'totals off',
        (json) => (part(json, 'totals', 0).amount = 1),
        /^\/totals: must be the transactions added up/,
      ],
      [
        'repeated id',
        (json) => (part(json, 'transactions', 1).id = part(json, 'transactions', 0).id),
        /^\/transactions\/1\/id: repeats/,
      ],
      [
        'period off',
        (json) => (part(json, 'report', 'period').from = '2026-02-11T00:00:00+08:00'),
        /^\/report\/period: must run from the first transaction to the last/,
      ],
    ];
    for (const [name, edit, expected] of cases) {
      const problems = validateStrJson(brokenJson(edit));
      expect(problems.length, name).toBeGreaterThan(0);
      expect(
        problems.some((problem) => expected.test(problem)),
        `${name}: ${problems.join(' | ')}`,
      ).toBe(true);
    }
    expect(validateStrJson(null)).toEqual(['/: must be object']);
  });

  it('finds what is wrong with the XML', () => {
    const { xml } = buildStrPackage(realisticInput());
    const cases: [string, string, RegExp][] = [
      [
        'no grounds',
        xml.replace(/ *<reason_for_suspicion>[\s\S]*<\/reason_for_suspicion>\n/, ''),
        /Element 'action_taken': This element is not expected. Expected is \( reason_for_suspicion \)/,
      ],
      [
        'no analyst',
        xml.replace(/ *<reporting_officer>[\s\S]*<\/reporting_officer>\n/, ''),
        /Element 'subject': This element is not expected/,
      ],
      [
        'HKD with one decimal',
        xml.replace('<amount>7900.00</amount>', '<amount>7900.0</amount>'),
        /an amount in HKD has exactly 2 decimal places/,
      ],
      [
        'JPY-like HKD',
        xml.replace('<balance>3200.50</balance>', '<balance>320050</balance>'),
        /an amount in HKD has exactly 2 decimal places/,
      ],
      [
        'amount as words',
        xml.replace('<amount>7900.00</amount>', '<amount>seven thousand</amount>'),
        /Element 'amount': the value is not a valid value of the atomic type/,
      ],
      [
        'negative amount',
        xml.replace('<amount>7900.00</amount>', '<amount>-7900.00</amount>'),
        /Element 'amount'/,
      ],
      [
        'verification without its start',
        xml.replace(/ *<started_at>[^<]*<\/started_at>\n/, ''),
        /Element 'decided_at': This element is not expected. Expected is \( started_at \)/,
      ],
      [
        'occupation after the address',
        xml
          .replace(/ *<occupation>[^<]*<\/occupation>\n/, '')
          .replace('<kyc_status>', `<occupation>${SUBJECT_OCCUPATION}</occupation>\n    <kyc_status>`),
        /Element 'occupation': This element is not expected/,
      ],
      [
        'unknown currency',
        xml.replace('<currency>USD</currency>', '<currency>ZZZ</currency>'),
        /currency must be an ISO 4217/,
      ],
      [
        'unescaped ampersand',
        xml.replace('Golden Sands Jewellery &amp; Watches', 'Golden Sands Jewellery & Watches'),
        /xmlParseEntityRef: no name|EntityRef/,
      ],
      [
        'loose card',
        xml.replace(`<card_id>${CARD_A}</card_id>`, '<card_id>card_other</card_id>'),
        /No match found for key-sequence/,
      ],
      [
        'repeated transaction',
        xml.replace('<id>load_01jqa2b2c3d4e5f6g7h8j9k0m1</id>', '<id>load_01jqa1b2c3d4e5f6g7h8j9k0m1</id>'),
        /Duplicate key-sequence/,
      ],
      [
        'no declaration',
        xml.replace('<?xml version="1.0" encoding="UTF-8"?>\n', ''),
        /must begin with <\?xml/,
      ],
      [
        'a document type',
        xml.replace('?>\n', '?>\n<!DOCTYPE str_package [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'),
        /must not declare a document type/,
      ],
      [
        'other namespace',
        xml.replace('urn:lantau:str-package:1', 'urn:other'),
        /No matching global declaration/,
      ],
    ];
    for (const [name, broken, expected] of cases) {
      expect(broken, name).not.toBe(xml);
      const problems = validateStrXml(broken);
      expect(problems.length, name).toBeGreaterThan(0);
      expect(
        problems.some((problem) => expected.test(problem)),
        `${name}: ${problems.join(' | ')}`,
      ).toBe(true);
    }
    expect(validateStrXml(42)).toEqual(['the package is not text']);
  });

  it('never repeats a value from the document in a problem', () => {
    const { xml } = buildStrPackage(realisticInput());
    const secret = 'Chan Tai Man Secret';
    const broken = [
      xml.replace(`<email>${SUBJECT_EMAIL}</email>`, `<email>${secret}</email>`),
      xml.replace('<date_of_birth>1988-07-16</date_of_birth>', `<date_of_birth>${secret}</date_of_birth>`),
      xml.replace('<nationality>HK</nationality>', `<nationality>${secret}</nationality>`),
      xml.replace('<kyc_status>verified</kyc_status>', `<kyc_status>${secret}</kyc_status>`),
      xml.replace(`<name>${SUBJECT_NAME}</name>`, `<name>${secret.repeat(20)}</name>`),
      xml.replace(
        `<occupation>${SUBJECT_OCCUPATION}</occupation>`,
        `<occupation>${secret.repeat(20)}</occupation>`,
      ),
      xml.replace(
        `<phone_number>${SUBJECT_PHONE}</phone_number>`,
        `<phone_number>'${secret}' is not a valid value of x</phone_number>`,
      ),
    ];
    for (const document of broken) {
      const problems = validateStrXml(document);
      expect(problems.length).toBeGreaterThan(0);
      expect(problems.join('\n')).not.toContain(secret);
    }
    const json = copy(buildStrPackage(realisticInput()).json);
    (json.subject as Record<string, unknown>).email = secret;
    (json.subject as Record<string, unknown>).phone_number = secret;
    const problems = validateStrJson(json);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).not.toContain(secret);
  });
});
