import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/edges/http/api.js';
import { apiKeyAuthenticator } from '../../src/issuing/authenticator.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { ManualClock } from '../../src/platform/clock.js';
import { createIdGenerator } from '../../src/platform/ids.js';
import { createLogger } from '../../src/platform/logger.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { openFileKek } from '../../src/vault/kek-file.js';
import { Keyring } from '../../src/vault/keyring.js';
import { openCliDatabase, type CliDatabase } from '../support/cli.js';
import type { TestDatabase } from '../support/database.js';
import { createTestProgram } from '../support/programs.js';

/**
 * `lantau clearing ingest` as an operator runs it: another process, the same database and key file, a real file
 * on disk. Exit codes: 0 all applied or repeated, 1 some records not applied, 2 nothing read, 3 stopped part-way.
 */

/** Each run starts a process (and on PGlite reopens the data directory): several seconds apiece. */
const CLI_TEST_MS = 180_000;
const execFileAsync = promisify(execFile);

interface Json {
  [key: string]: unknown;
}

const OPERATOR_KEY = 'lantau_op_test_clearing_0123456789abcdefghijklmnopqrstuv';
const SHOP = { name: 'Eslite', mcc: '5942', country: 'HK', acceptor_id: 'ESL000000000001' };

describe('lantau clearing ingest', () => {
  let cli: CliDatabase;
  let card: string;
  let pan: string;
  let authorization: string;

  beforeAll(async () => {
    cli = await openCliDatabase();
    // Cards are made here on the CLI's own key file, so the command finds a card number by the same blind index.
    const clock = new ManualClock(new Date().toISOString());
    const ids = createIdGenerator(clock);
    const kek = openFileKek(cli.dataDir);
    const db = cli.db();
    const vault = await Keyring.open({ db, kek, clock, ids, refreshIntervalMs: 0 });
    const issuing = { db, clock, ids, vault, regions: ['hk'] };
    const app = await buildApi(
      {
        db,
        clock,
        ids,
        logger: createLogger({ level: 'silent' }),
        metrics: createMetrics({ collectDefaults: false }),
        authenticator: apiKeyAuthenticator(db, OPERATOR_KEY),
      },
      issuing,
    );
    try {
      // createTestProgram only runs transactions on it: the URL a TestDatabase also carries is not needed.
      const program = await createTestProgram({ db: db as TestDatabase, issuing });
      const post = async (url: string, payload?: Json): Promise<Json> => {
        const response = await app.inject({
          method: 'POST',
          url,
          headers: program.headers,
          ...(payload === undefined ? {} : { payload }),
        });
        expect(response.statusCode, response.body).toBeLessThan(300);
        return response.json<Json>();
      };
      const holder = await post('/v1/cardholders', { name: 'Lam Kwok Wai' });
      const account = await post('/v1/accounts', { cardholder_id: holder.id, currency: 'HKD' });
      await post(`/v1/accounts/${String(account.id)}/loads`, { amount: 10_000, currency: 'HKD' });
      const made = await post('/v1/cards', {
        cardholder_id: holder.id,
        account_id: account.id,
        type: 'multi_use',
      });
      card = String(made.id);
      pan = String((await post(`/v1/cards/${card}/reveal`)).pan);
      const authorized = await post('/v1/simulate/authorizations', {
        card_id: card,
        amount: 3_000,
        currency: 'HKD',
        merchant: SHOP,
      });
      expect(authorized.approved).toBe(true);
      authorization = String(authorized.id);
    } finally {
      await app.close();
      vault.close();
      await kek.close();
    }
  });
  afterAll(async () => cli.close());

  function file(name: string, lines: readonly string[]): string {
    const where = path.join(cli.dataDir, name);
    writeFileSync(where, `${lines.join('\n')}\n`);
    return where;
  }

  async function transactions(): Promise<{ type: string; amount: number; source: string }[]> {
    const found = await cli
      .db()
      .query<{ type: string; amount: number; source: string }>(
        'SELECT type, amount, source FROM transactions WHERE card_id = $1 ORDER BY id',
        [card],
      );
    return found.rows;
  }

  it(
    'applies the good lines, names the bad one by line, exits 1, and applies nothing the second time',
    async () => {
      const csv = file('clearing-1.csv', [
        'record_id,type,authorization_id,pan,amount,currency,final,merchant_name,mcc,acceptor_id',
        `E2E-1,capture,${authorization},${pan},1000,HKD,false,,,`,
        `E2E-2,capture,${authorization},,2000,HKD,,,,`,
        `E2E-3,refund,,${pan},12.5,HKD,,Eslite,5942,ESL000000000001`,
        `E2E-4,refund,,${pan},250,HKD,,"Eslite, Causeway Bay",5942,ESL000000000001`,
        `E2E-5,capture,auth_${'0'.repeat(26)},,100,HKD,,,,`,
      ]);
      const first = await cli.run(['clearing', 'ingest', csv]);
      expect(first.code, first.stderr).toBe(1);
      expect(first.stdout).toMatch(/5 record\(s\)/);
      expect(first.stdout).toMatch(/applied\s+3 \(2 capture, 1 refund\)/);
      expect(first.stdout).toMatch(/unmatched\s+1/);
      expect(first.stdout).toMatch(/malformed\s+1/);
      expect(first.stdout).toContain('line 4 [E2E-3]: malformed (amount_invalid)');
      expect(first.stdout).toContain('line 6 [E2E-5]: unmatched (resource_missing)');
      expect(`${first.stdout}${first.stderr}`).not.toContain(pan);
      expect(await transactions()).toEqual([
        { type: 'capture', amount: 1_000, source: 'file' },
        { type: 'capture', amount: 2_000, source: 'file' },
        { type: 'refund', amount: 250, source: 'file' },
      ]);
      expect((await verifyLedger(cli.db())).problems).toEqual([]);

      const second = await cli.run(['clearing', 'ingest', csv, '--json']);
      expect(second.code, second.stderr).toBe(1);
      const report = JSON.parse(second.stdout) as Json;
      expect(report).toMatchObject({
        format: 'csv',
        records: 5,
        applied: 0,
        repeated: 3,
        unmatched: 1,
        malformed: 1,
        stopped: null,
        problems: [
          { line: 4, record_id: 'E2E-3', outcome: 'malformed', code: 'amount_invalid', field: 'amount' },
          {
            line: 6,
            record_id: 'E2E-5',
            outcome: 'unmatched',
            code: 'resource_missing',
            field: 'authorization_id',
          },
        ],
      });
      expect(report.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(second.stdout).not.toContain(pan);
      expect(await transactions()).toHaveLength(3);

      const audit = await cli
        .db()
        .query<{ details: Json }>(
          `SELECT details FROM audit_log WHERE action = 'clearing.file_ingested' ORDER BY seq`,
        );
      expect(audit.rows.map((row) => row.details)).toEqual([
        expect.objectContaining({
          file: 'clearing-1.csv',
          applied: 3,
          repeated: 0,
          malformed: 1,
          unmatched: 1,
        }),
        expect.objectContaining({
          file: 'clearing-1.csv',
          applied: 0,
          repeated: 3,
          malformed: 1,
          unmatched: 1,
        }),
      ]);
    },
    CLI_TEST_MS,
  );

  it(
    'exits 0 when every record is applied, reading JSON Lines by its name',
    async () => {
      const jsonl = file('clearing-2.jsonl', [
        JSON.stringify({
          record_id: 'E2E-6',
          type: 'force_post',
          card_id: card,
          amount: 700,
          currency: 'HKD',
          merchant_name: 'Yung Kee',
          mcc: '5812',
          acceptor_id: 'YKR000000000001',
        }),
      ]);
      const run = await cli.run(['clearing', 'ingest', jsonl]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toMatch(/applied\s+1 \(1 force_post\)/);
      expect((await transactions()).at(-1)).toEqual({ type: 'force_post', amount: 700, source: 'file' });
    },
    CLI_TEST_MS,
  );

  it(
    'exits 2 and applies nothing when the file cannot be read',
    async () => {
      const before = await transactions();
      const missing = await cli.run(['clearing', 'ingest', path.join(cli.dataDir, 'absent.csv')]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('cannot read');
      const header = file('clearing-3.csv', ['record_id,type,amount', `E2E-7,capture,100`]);
      const bad = await cli.run(['clearing', 'ingest', header]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('no currency column');
      expect(bad.stderr).toContain('nothing was applied');
      const unknown = await cli.run(['clearing', 'ingest', file('clearing.txt', ['x'])]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('--format');
      const notArray = await cli.run([
        'clearing',
        'ingest',
        file('clearing-4.json', ['{"record_id": "E2E-8"}']),
      ]);
      expect(notArray.code).toBe(2);
      expect(notArray.stderr).toContain('one JSON array');
      expect(await transactions()).toEqual(before);
    },
    CLI_TEST_MS,
  );

  it(
    'exits 3 when the database cannot be reached, saying a re-run is safe',
    async () => {
      const csv = file('clearing-5.csv', [
        'record_id,type,authorization_id,amount,currency',
        `E2E-9,capture,${authorization},1,HKD`,
      ]);
      const result = await execFileAsync(process.execPath, ['bin/lantau.js', 'clearing', 'ingest', csv], {
        cwd: path.resolve(import.meta.dirname, '../..'),
        env: { ...cli.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' },
      }).then(
        () => ({ code: 0, stderr: '' }),
        (error: unknown) => error as { code: number; stderr: string },
      );
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('clearing ingest stopped');
      expect(result.stderr).toContain('run the same file again');
    },
    CLI_TEST_MS,
  );
});
