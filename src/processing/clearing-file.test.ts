import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../test/support/programs.js';
import type { Database, SqlParam, Transaction, TransactionOptions } from '../platform/db/database.js';
import { verifyLedger } from '../ledger/verify.js';
import type { ProcessingContext } from './authorize.js';
import {
  ClearingFileError,
  RECORD_BYTES_MAX,
  applyClearingRecords,
  clearingFileFormat,
  readClearingRecords,
  type ClearingFileFormat,
  type ClearingFileSource,
  type ClearingReport,
  type ParsedRecord,
} from './clearing-file.js';
import { convertForCard, createFxRate } from './fx.js';

/**
 * Clearing files end to end in-process: parsing every format (in any chunking), validating each record, and
 * applying a file in which some records are malformed, unmatched or refused while the rest are applied, with
 * wallets and the ledger's invariants checked (DESIGN.md, "The card lifecycle on the ledger"; "Card data").
 */

interface Json {
  [key: string]: unknown;
}

interface Balance {
  readonly available: number;
  readonly pending: number;
  readonly posted: number;
}

const SHOP = { name: 'Eslite', mcc: '5942', country: 'HK', acceptor_id: 'ESL000000000001' };
const DINER = { name: 'Yung Kee', mcc: '5812', country: 'HK', acceptor_id: 'YKR000000000001' };
/** Luhn-valid, and not a number any test programme issues (their BIN is 424242). */
const FOREIGN_PAN = '4000056655665556';
/** Fails Luhn. */
const BAD_PAN = '4242424242424241';
const NO_SUCH_AUTHORIZATION = `auth_${'0'.repeat(26)}`;
const BY_TEST = { actor: { type: 'system', id: 'test' } } as const;

const HEADER = [
  'record_id',
  'type',
  'authorization_id',
  'card_id',
  'pan',
  'amount',
  'currency',
  'final',
  'merchant_name',
  'mcc',
  'merchant_country',
  'merchant_city',
  'acceptor_id',
];

/** A CSV line in HEADER's order; values are written as given, so a test can quote or break them on purpose. */
function csvLine(fields: Partial<Record<(typeof HEADER)[number], string | number | boolean>>): string {
  return HEADER.map((name) => (fields[name] === undefined ? '' : String(fields[name]))).join(',');
}

async function readAll(source: ClearingFileSource, format: ClearingFileFormat): Promise<ParsedRecord[]> {
  const records: ParsedRecord[] = [];
  for await (const record of readClearingRecords(source, format)) records.push(record);
  return records;
}

/** The same text in chunks of `size` bytes, so splits land inside lines, quotes and multi-byte characters. */
function* chunked(text: string, size: number): Generator<Uint8Array> {
  const bytes = Buffer.from(text, 'utf8');
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

function isValid(record: ParsedRecord | undefined): boolean {
  if (record === undefined) throw new Error('no such record');
  return 'record' in record;
}

function issuesOf(record: ParsedRecord | undefined): string[] {
  if (record === undefined) throw new Error('no such record');
  return 'issues' in record ? record.issues.map((issue) => issue.code) : [];
}

describe('reading clearing files', () => {
  const auth = `auth_${'1'.repeat(26)}`;
  const card = `card_${'2'.repeat(26)}`;

  it('picks the format from the file name', () => {
    expect(clearingFileFormat('2026-03-01.CSV')).toBe('csv');
    expect(clearingFileFormat('base2.json')).toBe('json');
    expect(clearingFileFormat('ipm.jsonl')).toBe('jsonl');
    expect(clearingFileFormat('ipm.ndjson')).toBe('jsonl');
    expect(clearingFileFormat('ipm.txt')).toBeUndefined();
  });

  it('reads CSV with RFC 4180 quoting, CRLF, a BOM, zero-padded amounts and empty cells as absent', async () => {
    const text =
      '\uFEFF' +
      [
        HEADER.join(','),
        csvLine({
          record_id: 'r1',
          type: 'capture',
          authorization_id: auth,
          amount: '000000001200',
          currency: 'HKD',
          final: 'false',
        }),
        '',
        csvLine({
          record_id: 'r2',
          type: 'force_post',
          card_id: card,
          amount: 5,
          currency: 'HKD',
          merchant_name: '"Yung Kee ""Roast Goose"", Central"',
          mcc: '5812',
          merchant_city: '香港   ',
          acceptor_id: 'YKR1',
        }),
      ].join('\r\n') +
      '\r\n';
    for (const source of [text, chunked(text, 1), chunked(text, 7)]) {
      const records = await readAll(source, 'csv');
      expect(records).toEqual([
        {
          position: { line: 2 },
          record: expect.objectContaining({
            recordId: 'r1',
            type: 'capture',
            authorizationId: auth,
            amount: 1200,
            currency: 'HKD',
            final: false,
            card: undefined,
            merchant: undefined,
          }) as unknown,
        },
        {
          position: { line: 4 },
          record: expect.objectContaining({
            recordId: 'r2',
            type: 'force_post',
            card: { id: card },
            amount: 5,
            merchant: {
              name: 'Yung Kee "Roast Goose", Central',
              mcc: '5812',
              country: null,
              city: '香港',
              acceptor_id: 'YKR1',
              acquirer_id: null,
            },
          }) as unknown,
        },
      ]);
    }
  });

  it('reports each kind of malformed line by its line number and reads on', async () => {
    const good = { record_id: 'ok', type: 'capture', authorization_id: auth, amount: 100, currency: 'HKD' };
    const forced = {
      record_id: 'fp',
      type: 'force_post',
      card_id: card,
      amount: 100,
      currency: 'HKD',
      merchant_name: 'X',
      mcc: '5812',
      acceptor_id: 'A1',
    };
    const lines: [string, string[]][] = [
      [csvLine({ ...good, amount: '12.50' }), ['amount_invalid']],
      [csvLine({ ...good, amount: '-5' }), ['amount_invalid']],
      [csvLine({ ...good, amount: '0' }), ['amount_invalid']],
      [csvLine({ ...good, amount: '9007199254740992' }), ['amount_invalid']],
      [csvLine({ ...good, amount: '1e3' }), ['amount_invalid']],
      [csvLine({ ...good, amount: '' }), ['field_missing']],
      [csvLine({ ...good, currency: 'XYZ' }), ['currency_invalid']],
      [csvLine({ ...good, currency: 'hkd' }), ['currency_invalid']],
      [csvLine({ ...good, type: 'sale' }), ['type_invalid']],
      [csvLine({ ...good, authorization_id: '' }), ['field_missing']],
      [csvLine({ ...good, authorization_id: 'auth_short' }), ['field_invalid']],
      [csvLine({ ...good, final: 'yes' }), ['field_invalid']],
      [csvLine({ ...forced, final: 'true' }), ['field_not_allowed']],
      [csvLine({ ...forced, authorization_id: auth }), ['field_not_allowed']],
      [csvLine({ ...forced, pan: FOREIGN_PAN }), ['card_reference_invalid']],
      [csvLine({ ...forced, card_id: '', pan: BAD_PAN }), ['pan_invalid']],
      [csvLine({ ...forced, card_id: '' }), ['field_missing']],
      [csvLine({ ...forced, acceptor_id: '' }), ['field_missing']],
      [csvLine({ ...forced, mcc: '58' }), ['field_invalid']],
      [csvLine({ ...forced, merchant_country: 'XX' }), ['field_invalid']],
      [csvLine({ ...forced, merchant_name: 'Tab\there' }), ['field_invalid']],
      [csvLine({ ...forced, merchant_name: '   ' }), ['field_invalid']],
      [csvLine({ ...good, record_id: ' ok' }), ['field_invalid']],
      [csvLine({ ...forced, merchant_name: 'Nul\u0000here' }), ['nul_byte']],
      [csvLine({ ...good, record_id: 'has space' }), ['field_invalid']],
      [csvLine({ ...good, record_id: '' }), ['field_missing']],
      [`${csvLine(good)},extra`, ['field_count_invalid']],
      ['ok,capture', ['field_count_invalid']],
      [csvLine({ ...forced, merchant_name: '"Unclosed' }), ['csv_invalid']],
      [csvLine({ ...forced, merchant_name: 'In"side' }), ['csv_invalid']],
      [csvLine({ ...forced, merchant_name: '"Closed"then' }), ['csv_invalid']],
      ['x'.repeat(RECORD_BYTES_MAX + 10), ['record_too_long']],
    ];
    const text = [HEADER.join(','), csvLine(good), ...lines.map(([line]) => line), csvLine(forced)].join(
      '\n',
    );
    const withBadUtf8 = Buffer.concat([
      Buffer.from(`${text}\n`),
      Buffer.from([0x6f, 0x6b, 0xc3, 0x28, 0x0a]),
      Buffer.from(csvLine(good)),
    ]);
    const records = await readAll(withBadUtf8, 'csv');
    expect(records.map((record) => record.position.line)).toEqual(
      Array.from({ length: lines.length + 4 }, (_, at) => at + 2),
    );
    expect(isValid(records[0])).toBe(true);
    lines.forEach(([line, codes], at) => {
      expect(issuesOf(records[at + 1]), line.slice(0, 200)).toEqual(codes);
    });
    expect(isValid(records[lines.length + 1])).toBe(true);
    expect(issuesOf(records[lines.length + 2])).toEqual(['encoding_invalid']);
    expect(isValid(records[lines.length + 3])).toBe(true);
    // No message quotes a card number, valid or not.
    const reported = JSON.stringify(records.filter((record) => 'issues' in record));
    expect(reported).not.toContain(FOREIGN_PAN);
    expect(reported).not.toContain(BAD_PAN);
  });

  it('refuses a CSV file whose header it cannot use, before reading any record', async () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['\n\n', /empty/],
      ['record_id,type,amount\n', /no currency column/],
      ['record_id,type,amount,currency,amout\n', /unknown column "amout"/],
      ['record_id,type,amount,currency,amount\n', /amount appears twice/],
      ['record_id,"type,amount,currency\n', /not closed/],
    ];
    for (const [text, message] of cases) {
      await expect(readAll(text, 'csv')).rejects.toThrow(ClearingFileError);
      await expect(readAll(text, 'csv')).rejects.toThrow(message);
    }
    await expect(readAll(`record_id,type,amount,currency,${FOREIGN_PAN}\n`, 'csv')).rejects.not.toThrow(
      FOREIGN_PAN,
    );
  });

  it('reads a JSON array element by element: a bad element is one problem, by index and line', async () => {
    const good = { record_id: 'a', type: 'capture', authorization_id: auth, amount: 100, currency: 'HKD' };
    const text = [
      '[',
      `  ${JSON.stringify(good)},`,
      `  ${JSON.stringify({ ...good, record_id: 'b', amount: 1.5, surcharge: 3 })},`,
      `  {"record_id": "c", "type": "capture", "amount": 1 "currency": "HKD"},`,
      `  {"record_id": "d", "merchant_name": "unclosed},`,
      `  ${JSON.stringify({ ...good, record_id: 'e', final: 'false' })},`,
      `  "not an object",`,
      `  ${JSON.stringify({ ...good, record_id: 'f', nested: { a: [1, 2, { b: '],}' }] } })},`,
      `  ${JSON.stringify({ ...good, record_id: 'g' })}`,
      ']',
      '',
    ].join('\n');
    for (const source of [text, chunked(text, 1), chunked(text, 5)]) {
      const records = await readAll(source, 'json');
      expect(records.map((record) => record.position)).toEqual([
        { line: 2, index: 0 },
        { line: 3, index: 1 },
        { line: 4, index: 2 },
        { line: 5, index: 3 },
        { line: 6, index: 4 },
        { line: 7, index: 5 },
        { line: 8, index: 6 },
        { line: 9, index: 7 },
      ]);
      expect(records.map(issuesOf)).toEqual([
        [],
        ['field_unknown', 'amount_invalid'],
        ['json_invalid'],
        ['json_invalid'],
        ['field_invalid'],
        ['json_invalid'],
        ['field_unknown'],
        [],
      ]);
    }
  });

  it('says when a JSON array is not one, is cut short, or has text after it', async () => {
    await expect(readAll('{"record_id": "a"}\n', 'json')).rejects.toThrow(/one JSON array/);
    await expect(readAll('  \n', 'json')).rejects.toThrow(/empty/);
    expect(await readAll('[]', 'json')).toEqual([]);
    const good = JSON.stringify({
      record_id: 'a',
      type: 'capture',
      authorization_id: auth,
      amount: 1,
      currency: 'HKD',
    });
    const cut = await readAll(`[\n${good},\n${good.slice(0, 20)}`, 'json');
    expect(cut.map(issuesOf)).toEqual([[], ['json_invalid'], ['file_truncated']]);
    const trailing = await readAll(`[${good},]\nextra`, 'json');
    expect(trailing.map(issuesOf)).toEqual([[], ['json_invalid'], ['json_invalid']]);
  });

  it('reads JSON Lines by line, skipping blank lines', async () => {
    const good = { record_id: 'a', type: 'capture', authorization_id: auth, amount: 100, currency: 'HKD' };
    const text = [
      JSON.stringify(good),
      '',
      `{"record_id": "b", "pan": "${FOREIGN_PAN}", oops}`,
      JSON.stringify({ ...good, record_id: 'c', final: null, amount: '100' }),
      '[1]',
      JSON.stringify({ ...good, record_id: 'd' }),
    ].join('\n');
    const records = await readAll(chunked(text, 3), 'jsonl');
    expect(records.map((record) => record.position.line)).toEqual([1, 3, 4, 5, 6]);
    expect(records.map(issuesOf)).toEqual([[], ['json_invalid'], ['amount_invalid'], ['json_invalid'], []]);
    expect(JSON.stringify(records)).not.toContain(FOREIGN_PAN);
  });

  it('holds a card number so that it cannot be printed', async () => {
    const line = JSON.stringify({
      record_id: 'p',
      type: 'force_post',
      pan: FOREIGN_PAN,
      amount: 1,
      currency: 'HKD',
      merchant_name: 'X',
      mcc: '5812',
      acceptor_id: 'A',
    });
    const [parsed] = await readAll(line, 'jsonl');
    if (parsed === undefined || !('record' in parsed)) throw new Error('the record did not parse');
    expect(JSON.stringify(parsed)).not.toContain(FOREIGN_PAN);
    const card = parsed.record.card;
    if (card === undefined || !('pan' in card)) throw new Error('no card number');
    expect(String(card.pan)).toBe('[REDACTED]');
    expect(card.pan.expose()).toBe(FOREIGN_PAN);
  });
});

describe('applying clearing files', () => {
  let api: TestApi;
  let program: TestProgram;
  let context: ProcessingContext;

  beforeAll(async () => {
    api = await openTestApi();
    program = await createTestProgram(api);
    context = { ...api.issuing, convert: convertForCard };
  });
  afterAll(async () => api.close());

  async function call(method: 'GET' | 'POST', url: string, payload?: unknown, headers = program.headers) {
    return api.app.inject({
      method,
      url,
      headers: { ...headers },
      ...(payload === undefined ? {} : { payload: payload as Json }),
    });
  }

  async function post(url: string, payload?: unknown, headers = program.headers): Promise<Json> {
    const response = await call('POST', url, payload, headers);
    expect(response.statusCode, response.body).toBeLessThan(300);
    return response.json<Json>();
  }

  let people = 0;
  async function walletWithCard(
    load: number,
    headers = program.headers,
  ): Promise<{ account: string; card: string; pan: string }> {
    people += 1;
    const holder = await post('/v1/cardholders', { name: `Wong Tai Sin ${people}` }, headers);
    const account = await post('/v1/accounts', { cardholder_id: holder.id, currency: 'HKD' }, headers);
    if (load > 0)
      await post(`/v1/accounts/${String(account.id)}/loads`, { amount: load, currency: 'HKD' }, headers);
    const card = await post(
      '/v1/cards',
      { cardholder_id: holder.id, account_id: account.id, type: 'multi_use' },
      headers,
    );
    const details = await post(`/v1/cards/${String(card.id)}/reveal`, undefined, headers);
    return { account: String(account.id), card: String(card.id), pan: String(details.pan) };
  }

  async function authorize(card: string, amount: number, merchant = SHOP): Promise<string> {
    const authorization = await post('/v1/simulate/authorizations', {
      card_id: card,
      amount,
      currency: 'HKD',
      merchant,
    });
    expect(authorization.approved).toBe(true);
    return String(authorization.id);
  }

  async function expectWallet(account: string, balance: Balance): Promise<void> {
    const response = await call('GET', `/v1/accounts/${account}`);
    expect(response.json<{ balance: Balance }>().balance).toEqual(balance);
    expect((await verifyLedger(api.db)).problems).toEqual([]);
  }

  async function ingest(
    text: string,
    format: ClearingFileFormat = 'csv',
    options: { programId?: string; context?: ProcessingContext } = {},
  ): Promise<ClearingReport> {
    return applyClearingRecords(
      options.context ?? context,
      readClearingRecords(chunked(text, 64), format),
      options.programId === undefined ? {} : { programId: options.programId },
    );
  }

  async function transactionsOf(card: string): Promise<Json[]> {
    return (await call('GET', `/v1/transactions?card_id=${card}`)).json<{ data: Json[] }>().data;
  }

  let batch = 0;
  /** Record ids unique to one test, as a presenter's are across its files. */
  const ids = () => {
    batch += 1;
    return (n: number) => `T${batch}-${String(n).padStart(4, '0')}`;
  };

  it('applies every good line of a file with malformed and unmatched lines among them, and a repeat applies nothing', async () => {
    const id = ids();
    const shopper = await walletWithCard(10_000);
    const diner = await walletWithCard(1_000);
    const partial = await authorize(shopper.card, 4_000);
    const dinner = await authorize(shopper.card, 2_500, DINER);
    await expectWallet(shopper.account, { available: 3_500, pending: 6_500, posted: 10_000 });
    const merchant = {
      merchant_name: '"Eslite, Causeway Bay"',
      mcc: '5942',
      merchant_country: 'HK',
      merchant_city: 'Hong Kong',
      acceptor_id: 'ESL000000000001',
    };
    const lines = [
      HEADER.join(','),
      /* 2 */ csvLine({
        record_id: id(1),
        type: 'capture',
        authorization_id: partial,
        amount: 1_000,
        currency: 'HKD',
        final: false,
      }),
      /* 3 */ csvLine({
        record_id: id(2),
        type: 'capture',
        authorization_id: partial,
        amount: 2_000,
        currency: 'HKD',
      }),
      /* 4 */ csvLine({
        record_id: id(3),
        type: 'capture',
        authorization_id: dinner,
        amount: '25.00',
        currency: 'HKD',
      }),
      /* 5 */ csvLine({
        record_id: id(4),
        type: 'capture',
        authorization_id: dinner,
        pan: shopper.pan,
        amount: 2_500,
        currency: 'HKD',
        final: true,
      }),
      /* 6 */ csvLine({
        record_id: id(5),
        type: 'refund',
        authorization_id: dinner,
        amount: 500,
        currency: 'HKD',
      }),
      /* 7 */ csvLine({
        record_id: id(6),
        type: 'refund',
        pan: diner.pan,
        amount: 1_234,
        currency: 'HKD',
        ...merchant,
      }),
      /* 8 */ csvLine({
        record_id: id(7),
        type: 'force_post',
        card_id: diner.card,
        amount: 3_000,
        currency: 'HKD',
        ...merchant,
        merchant_name: '"Yung Kee ""Roast Goose"""',
        mcc: '5812',
      }),
      /* 9 */ csvLine({
        record_id: id(8),
        type: 'capture',
        authorization_id: NO_SUCH_AUTHORIZATION,
        amount: 100,
        currency: 'HKD',
      }),
      /* 10 */ csvLine({
        record_id: id(9),
        type: 'force_post',
        pan: FOREIGN_PAN,
        amount: 100,
        currency: 'HKD',
        ...merchant,
      }),
      /* 11 */ csvLine({
        record_id: id(10),
        type: 'force_post',
        card_id: diner.card,
        pan: diner.pan,
        amount: 100,
        currency: 'HKD',
        ...merchant,
      }),
      /* 12 */ csvLine({
        record_id: id(11),
        type: 'refund',
        card_id: diner.card,
        amount: 100,
        currency: 'HKD',
        ...merchant,
        merchant_name: 'Nul\u0000',
      }),
      /* 13 */ csvLine({
        record_id: id(12),
        type: 'force_post',
        pan: BAD_PAN,
        amount: 100,
        currency: 'HKD',
        ...merchant,
      }),
      /* 14 */ csvLine({
        record_id: id(13),
        type: 'force_post',
        card_id: diner.card,
        amount: 100,
        currency: 'HKD',
        ...merchant,
        merchant_name: '"Unclosed',
      }),
      '',
    ];
    const file = lines.join('\n');
    const report = await ingest(file);
    expect(report).toMatchObject({
      records: 13,
      applied: 6,
      applied_by_type: { capture: 3, refund: 2, force_post: 1 },
      flagged: { shortfall: 1 },
      repeated: 0,
      unmatched: 2,
      refused: 0,
      malformed: 5,
      problems_omitted: 0,
      stopped: null,
    });
    expect(report.problems.map((problem) => [problem.line, problem.outcome, problem.code])).toEqual([
      [4, 'malformed', 'amount_invalid'],
      [9, 'unmatched', 'resource_missing'],
      [10, 'unmatched', 'card_not_found'],
      [11, 'malformed', 'card_reference_invalid'],
      [12, 'malformed', 'nul_byte'],
      [13, 'malformed', 'pan_invalid'],
      [14, 'malformed', 'csv_invalid'],
    ]);
    expect(report.problems[0]).toMatchObject({ record_id: id(3), field: 'amount' });
    // 4,000 held, 1,000 then 2,000 captured (the rest released); 2,500 captured and 500 refunded.
    await expectWallet(shopper.account, { available: 5_000, pending: 0, posted: 5_000 });
    // 1,000 + 1,234 refunded; the 3,000 force post takes it all and 766 goes to the receivable account.
    await expectWallet(diner.account, { available: 0, pending: 0, posted: 0 });
    const dinnerTransactions = (await transactionsOf(shopper.card)).filter(
      (txn) => txn.authorization_id === dinner,
    );
    expect(dinnerTransactions.map((txn) => [txn.type, txn.amount])).toEqual([
      ['refund', 500],
      ['capture', 2_500],
    ]);
    const all = [...(await transactionsOf(shopper.card)), ...(await transactionsOf(diner.card))];
    expect(all).toHaveLength(6);
    expect(all.every((txn) => txn.source === 'file')).toBe(true);
    const forced = all.find((txn) => txn.type === 'force_post');
    expect(forced).toMatchObject({
      amount: 3_000,
      wallet_amount: 2_234,
      shortfall_amount: 766,
      merchant: { name: 'Yung Kee "Roast Goose"', mcc: '5812', acceptor_id: 'ESL000000000001' },
    });
    const reported = JSON.stringify(report);
    for (const pan of [shopper.pan, diner.pan, FOREIGN_PAN, BAD_PAN]) expect(reported).not.toContain(pan);

    const again = await ingest(file);
    expect(again).toMatchObject({
      records: 13,
      applied: 0,
      repeated: 6,
      unmatched: 2,
      malformed: 5,
      refused: 0,
      stopped: null,
    });
    await expectWallet(shopper.account, { available: 5_000, pending: 0, posted: 5_000 });
    await expectWallet(diner.account, { available: 0, pending: 0, posted: 0 });
    expect([...(await transactionsOf(shopper.card)), ...(await transactionsOf(diner.card))]).toHaveLength(6);
  });

  it('refuses a reused record id, a card that is not the authorization’s and a currency that cannot clear', async () => {
    const id = ids();
    const first = await walletWithCard(5_000);
    const other = await walletWithCard(0);
    const auth = await authorize(first.card, 1_000);
    const lines = [
      'record_id,type,authorization_id,card_id,pan,amount,currency',
      `${id(1)},capture,${auth},,,400,HKD`,
      `${id(1)},capture,${auth},,,400,HKD`,
      `${id(1)},capture,${auth},,,500,HKD`,
      `${id(2)},capture,${auth},,${other.pan},100,HKD`,
      `${id(3)},capture,${auth},${other.card},,100,HKD`,
      `${id(4)},capture,${auth},,,100,EUR`,
      `${id(5)},refund,${auth},${first.card},,100,HKD`,
    ];
    const report = await ingest(lines.join('\n'));
    expect(report).toMatchObject({
      records: 7,
      applied: 2,
      repeated: 1,
      refused: 4,
      unmatched: 0,
      malformed: 0,
    });
    expect(report.problems.map((problem) => [problem.line, problem.code, problem.field])).toEqual([
      [4, 'clearing_key_reused', 'record_id'],
      [5, 'card_mismatch', 'pan'],
      [6, 'card_mismatch', 'card_id'],
      [7, 'currency_mismatch', 'currency'],
    ]);
    expect(JSON.stringify(report)).not.toContain(other.pan);
    await expectWallet(first.account, { available: 4_700, pending: 0, posted: 4_700 });
  });

  it('applies JSON arrays and JSON Lines the same way, reporting elements by index', async () => {
    const id = ids();
    const { account, card, pan } = await walletWithCard(10_000);
    const merchant = {
      merchant_name: 'Eslite',
      mcc: '5942',
      merchant_country: 'HK',
      acceptor_id: 'ESL000000000001',
    };
    const records: unknown[] = [
      {
        record_id: id(1),
        type: 'force_post',
        card_id: card,
        amount: 1_000,
        currency: 'HKD',
        network_date: '2026-02-28',
        ...merchant,
      },
      { record_id: id(2), type: 'force_post', card_id: card, amount: 1_000.5, currency: 'HKD', ...merchant },
      { record_id: id(3), type: 'refund', pan, amount: 300, currency: 'HKD', ...merchant },
      {
        record_id: id(4),
        type: 'force_post',
        card_id: card,
        amount: 200,
        currency: 'HKD',
        ...merchant,
        network_date: '2026-02-30',
      },
    ];
    const text = JSON.stringify(records, null, 2);
    // Each element's opening brace is the line before its record_id.
    const lineOf = (recordId: string) => text.split('\n').findIndex((line) => line.includes(`"${recordId}"`));
    const array = await ingest(text, 'json');
    expect(array).toMatchObject({ records: 4, applied: 2, malformed: 2 });
    expect(
      array.problems.map((problem) => [problem.index, problem.line, problem.code, problem.field]),
    ).toEqual([
      [1, lineOf(id(2)), 'amount_invalid', 'amount'],
      [3, lineOf(id(4)), 'field_invalid', 'network_date'],
    ]);
    await expectWallet(account, { available: 9_300, pending: 0, posted: 9_300 });

    const lines = [
      ...records.slice(0, 3).map((record) => JSON.stringify(record)),
      JSON.stringify({
        record_id: id(5),
        type: 'force_post',
        card_id: card,
        amount: 200,
        currency: 'HKD',
        ...merchant,
      }),
    ].join('\n');
    const jsonl = await ingest(lines, 'jsonl');
    expect(jsonl).toMatchObject({ records: 4, applied: 1, repeated: 2, malformed: 1 });
    expect(jsonl.problems.map((problem) => [problem.line, problem.code, problem.index])).toEqual([
      [2, 'amount_invalid', undefined],
    ]);
    await expectWallet(account, { available: 9_100, pending: 0, posted: 9_100 });
    expect(JSON.stringify([array, jsonl])).not.toContain(pan);
  });

  it('converts an unlinked record in another currency at today’s rate, and refuses one with no rate', async () => {
    const id = ids();
    const { account, card } = await walletWithCard(10_000);
    const header = 'record_id,type,card_id,amount,currency,merchant_name,mcc,acceptor_id';
    const unrated = await ingest([header, `${id(1)},force_post,${card},100,EUR,Fnac,5942,FNAC1`].join('\n'));
    expect(unrated.problems).toEqual([
      expect.objectContaining({ line: 2, outcome: 'refused', code: 'fx_rate_unavailable' }),
    ]);
    await api.db.transaction((tx) =>
      createFxRate(tx, api.issuing, { base: 'USD', quote: 'HKD', rate: '7.8', source: 'test' }, BY_TEST),
    );
    const report = await ingest([header, `${id(2)},force_post,${card},100,USD,Amazon,5942,AMZ1`].join('\n'));
    expect(report).toMatchObject({ applied: 1, problems: [] });
    const [txn] = await transactionsOf(card);
    expect(txn).toMatchObject({
      merchant_amount: 100,
      merchant_currency: 'USD',
      fx_rate: '7.8',
      source: 'file',
    });
    await expectWallet(account, {
      available: 10_000 - Number(txn?.amount),
      pending: 0,
      posted: 10_000 - Number(txn?.amount),
    });
  });

  it('matches only the given programme’s cards and authorizations', async () => {
    const id = ids();
    const { account, card } = await walletWithCard(1_000);
    const other = await createTestProgram(api);
    const file = [
      'record_id,type,card_id,amount,currency,merchant_name,mcc,acceptor_id',
      `${id(1)},force_post,${card},100,HKD,Eslite,5942,E1`,
    ].join('\n');
    const scoped = await ingest(file, 'csv', { programId: other.program.id });
    expect(scoped).toMatchObject({ applied: 0, unmatched: 1 });
    await expectWallet(account, { available: 1_000, pending: 0, posted: 1_000 });
    const own = await ingest(file, 'csv', { programId: program.program.id });
    expect(own).toMatchObject({ applied: 1, unmatched: 0 });
    await expectWallet(account, { available: 900, pending: 0, posted: 900 });
  });

  it('stops at a database failure, says where, and a second run applies the rest', async () => {
    const id = ids();
    const { account, card } = await walletWithCard(1_000);
    const file = [
      'record_id,type,card_id,amount,currency,merchant_name,mcc,acceptor_id',
      ...[1, 2, 3, 4].map((n) => `${id(n)},force_post,${card},100,HKD,Eslite,5942,E1`),
    ].join('\n');
    let transactions = 0;
    const failing: Database = {
      backend: api.db.backend,
      query: <Row>(sql: string, params?: readonly SqlParam[]) => api.db.query<Row>(sql, params),
      exec: (sql) => api.db.exec(sql),
      transaction: <T>(work: (tx: Transaction) => Promise<T>, options?: TransactionOptions) => {
        transactions += 1;
        if (transactions === 3) return Promise.reject(new Error('Connection terminated unexpectedly'));
        return api.db.transaction(work, options);
      },
      close: async () => undefined,
    };
    const stopped = await ingest(file, 'csv', { context: { ...context, db: failing } });
    expect(stopped).toMatchObject({ records: 3, applied: 2, stopped: { line: 4 } });
    expect(stopped.stopped?.message).toContain('Connection terminated unexpectedly');
    await expectWallet(account, { available: 800, pending: 0, posted: 800 });

    const rerun = await ingest(file);
    expect(rerun).toMatchObject({ records: 4, applied: 2, repeated: 2, stopped: null });
    await expectWallet(account, { available: 600, pending: 0, posted: 600 });
  });

  it('stops when the file cannot be read past a point, and refuses one it cannot read at all', async () => {
    const id = ids();
    const { account, card } = await walletWithCard(1_000);
    async function* breaksAfterOneLine(): AsyncGenerator<string> {
      yield `record_id,type,card_id,amount,currency,merchant_name,mcc,acceptor_id\n${id(1)},force_post,${card},100,HKD,Eslite,5942,E1\n`;
      throw new Error('EIO: i/o error, read');
    }
    const report = await applyClearingRecords(context, readClearingRecords(breaksAfterOneLine(), 'csv'));
    expect(report).toMatchObject({ records: 1, applied: 1, stopped: { line: 2 } });
    expect(report.stopped?.message).toContain('EIO');
    await expectWallet(account, { available: 900, pending: 0, posted: 900 });

    async function* unreadable(): AsyncGenerator<string> {
      yield* [];
      throw new Error('EISDIR: illegal operation on a directory, read');
    }
    await expect(applyClearingRecords(context, readClearingRecords(unreadable(), 'csv'))).rejects.toThrow(
      ClearingFileError,
    );
    await expect(applyClearingRecords(context, readClearingRecords('amount\n1\n', 'csv'))).rejects.toThrow(
      /no record_id column/,
    );
  });

  it('lists a bounded number of problems and counts the rest', async () => {
    const lines = [
      'record_id,type,amount,currency',
      ...Array.from({ length: 30 }, (_, n) => `x${n},capture,0,HKD`),
    ];
    const report = await applyClearingRecords(context, readClearingRecords(lines.join('\n'), 'csv'), {
      problemsMax: 10,
    });
    expect(report).toMatchObject({ records: 30, malformed: 30, problems_omitted: 20 });
    expect(report.problems).toHaveLength(10);
  });
});
